//! Open-loop latency: requests leave on a fixed schedule whatever the
//! replies do, and each latency is measured from the time the request was
//! *due*, so a stall is charged to every request that had to wait behind it
//! (no coordinated omission).
//!
//! One thread does everything, in an epoll loop whose timeout (nanosecond
//! precision, `epoll_pwait2`) is the next send's due time: request `i` of
//! [`OpenLoopSchedule`] goes out on connection `i % connections`, and
//! replies are read as they come. (A second thread for the pacing would
//! have to wait for the scheduler to preempt the reading thread on a
//! shared CPU, which costs milliseconds.) WebSocket echo is fully open: a
//! message goes out when due, replies or not. HTTP/1.1 follows wrk2's
//! model: a connection carries one request at a time, a request due while
//! its connection waits for a response goes out right after that response,
//! and its latency still counts from its due time.
//!
//! Several rates run one after the other on the same connections; a rate
//! whose replies do not all arrive within the drain time ends the run (the
//! later rates are reported as not run). A rate at which the generator
//! itself sent late by half the p99 or more counts as an error: its
//! percentiles would describe the generator.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use benches::report_line::Report;
use benches::schedule::OpenLoopSchedule;
use benches::stats::{latency_percentiles_ms, percentile};
use clap::{Args, ValueEnum};

use crate::client::{encode_frame, handshake, parse_frame, tcp};
use crate::{CpuMeter, Target};

#[derive(Args, Debug)]
pub struct OpenArgs {
    #[command(flatten)]
    target: Target,
    /// What to send.
    #[arg(long, value_enum)]
    protocol: Protocol,
    /// The path (default: /echo for ws, /test for http).
    #[arg(long)]
    path: Option<String>,
    /// Connections the schedule spreads over.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// WebSocket message size in bytes (at least 8).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Offered rates in requests per second, run in this order.
    #[arg(long, value_delimiter = ',', required = true)]
    rates: Vec<f64>,
    /// How long each rate runs.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// How long to wait for the last replies of a rate.
    #[arg(long, default_value_t = 2.0)]
    drain_seconds: f64,
    /// The loop wakes to send at most once per this many microseconds and
    /// sends everything due by then (each send still timed from its own
    /// due time); 0 wakes for every send.
    #[arg(long, default_value_t = 0)]
    tick_us: u64,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq)]
enum Protocol {
    /// WebSocket echo of binary messages.
    Ws,
    /// HTTP/1.1 GET, keep-alive.
    Http,
}

/// How requests look on the wire and how replies are recognised.
enum Wire {
    Ws { size: usize },
    Http { request: Vec<u8> },
}

/// A reply read off a connection.
struct Reply {
    /// Bytes it took.
    len: usize,
    /// The sequence number it carries (WebSocket echo), to check it against
    /// the request it answers.
    seq: Option<u64>,
    /// Whether it is a good reply (a whole echo, a 2xx status).
    ok: bool,
}

impl Wire {
    fn max_in_flight(&self) -> usize {
        match self {
            Wire::Ws { .. } => usize::MAX,
            Wire::Http { .. } => 1,
        }
    }

    fn encode(&self, seq: u64, out: &mut Vec<u8>) {
        out.clear();
        match self {
            Wire::Ws { size } => {
                let mut payload = vec![b'x'; *size];
                payload[..8].copy_from_slice(&seq.to_le_bytes());
                encode_frame(0x2, &payload, (seq as u32).to_le_bytes(), out);
            }
            Wire::Http { request } => out.extend_from_slice(request),
        }
    }

    fn parse(&self, buf: &[u8]) -> io::Result<Option<Reply>> {
        match self {
            Wire::Ws { size } => Ok(parse_frame(buf)?.map(|(opcode, from, to)| {
                let payload = &buf[from..to];
                Reply {
                    len: to,
                    seq: payload
                        .get(..8)
                        .map(|s| u64::from_le_bytes(s.try_into().expect("8 bytes"))),
                    ok: opcode == 0x2 && payload.len() == *size,
                }
            })),
            Wire::Http { .. } => parse_http_response(buf),
        }
    }
}

/// One HTTP/1.1 response with a Content-Length body at the start of `buf`.
fn parse_http_response(buf: &[u8]) -> io::Result<Option<Reply>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(buf) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) if buf.len() > 16 * 1024 => {
            return Err(io::Error::other("a response head over 16 KiB"))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(io::Error::other(format!("a malformed response: {e}"))),
    };
    let status = response.code.unwrap_or(0);
    let length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        });
    let length = match length {
        Some(length) => length,
        None if status == 204 || status == 304 => 0,
        None => return Err(io::Error::other("a response without Content-Length")),
    };
    Ok((buf.len() >= head + length).then_some(Reply {
        len: head + length,
        seq: None,
        ok: (200..300).contains(&status),
    }))
}

/// One connection of the open loop.
struct Connection {
    /// Non-blocking.
    stream: std::net::TcpStream,
    /// Bytes read and not parsed yet: `input[start..end]`.
    input: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes a full socket did not take yet.
    pending: Vec<u8>,
    /// Requests sent and not answered, oldest first: (sequence, due).
    sent: VecDeque<(u64, Instant)>,
    /// Requests due while the connection was busy (HTTP): (sequence, due).
    waiting: VecDeque<(u64, Instant)>,
    closed: bool,
}

/// What one rate saw.
#[derive(Default)]
struct Tally {
    latencies_ns: Vec<u64>,
    /// How late each send left, against its due time.
    lags_ns: Vec<u64>,
    bad_replies: u64,
    unexpected: u64,
    closed: u64,
    write_errors: u64,
}

/// The event loop over all connections.
struct Loop {
    epoll: OwnedFd,
    connections: Vec<Connection>,
    wire: Wire,
    scratch: Vec<u8>,
}

/// A request could not be written.
struct WriteFailed;

impl Loop {
    fn new(streams: Vec<std::net::TcpStream>, wire: Wire) -> io::Result<Loop> {
        // Safety: plain syscall; the fd is owned from here on.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut connections = Vec::new();
        for stream in streams {
            stream.set_nonblocking(true)?;
            connections.push(Connection {
                stream,
                input: vec![0; 64 * 1024],
                start: 0,
                end: 0,
                pending: Vec::new(),
                sent: VecDeque::new(),
                waiting: VecDeque::new(),
                closed: false,
            });
        }
        let this = Loop {
            epoll,
            connections,
            wire,
            scratch: Vec::new(),
        };
        for index in 0..this.connections.len() {
            this.watch(libc::EPOLL_CTL_ADD, index, false)?;
        }
        Ok(this)
    }

    /// Watches connection `index` for input, and for room to write if
    /// `writable`.
    fn watch(&self, op: libc::c_int, index: usize, writable: bool) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | if writable { libc::EPOLLOUT } else { 0 }) as u32,
            u64: index as u64,
        };
        let fd = self.connections[index].stream.as_raw_fd();
        // Safety: a valid epoll fd, socket fd and event.
        if unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Requests sent or waiting, not answered yet.
    fn outstanding(&self) -> u64 {
        self.connections
            .iter()
            .map(|c| (c.sent.len() + c.waiting.len()) as u64)
            .sum()
    }

    /// Sends request `seq` on connection `index` now, or queues it behind
    /// the one in flight (HTTP).
    fn dispatch(&mut self, index: usize, seq: u64, due: Instant, tally: &mut Tally) {
        let connection = &mut self.connections[index];
        if connection.closed {
            tally.write_errors += 1;
        } else if connection.sent.len() >= self.wire.max_in_flight() {
            connection.waiting.push_back((seq, due));
        } else if self.transmit(index, seq, due).is_err() {
            tally.write_errors += 1;
        }
    }

    fn transmit(&mut self, index: usize, seq: u64, due: Instant) -> Result<(), WriteFailed> {
        self.wire.encode(seq, &mut self.scratch);
        let connection = &mut self.connections[index];
        connection.sent.push_back((seq, due));
        if !connection.pending.is_empty() {
            connection.pending.extend_from_slice(&self.scratch);
            return Ok(());
        }
        let mut written = 0;
        while written < self.scratch.len() {
            match connection.stream.write(&self.scratch[written..]) {
                Ok(0) => return self.fail(index),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    connection
                        .pending
                        .extend_from_slice(&self.scratch[written..]);
                    let _ = self.watch(libc::EPOLL_CTL_MOD, index, true);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.fail(index),
            }
        }
        Ok(())
    }

    /// Marks connection `index` closed; what it had in flight stays
    /// unanswered (lost).
    fn fail(&mut self, index: usize) -> Result<(), WriteFailed> {
        let connection = &mut self.connections[index];
        connection.closed = true;
        let _ = self.watch(libc::EPOLL_CTL_DEL, index, false);
        Err(WriteFailed)
    }

    /// Writes what a full socket did not take before.
    fn on_writable(&mut self, index: usize) {
        let connection = &mut self.connections[index];
        while !connection.pending.is_empty() {
            match connection.stream.write(&connection.pending) {
                Ok(0) => {
                    let _ = self.fail(index);
                    return;
                }
                Ok(n) => {
                    connection.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    let _ = self.fail(index);
                    return;
                }
            }
        }
        let _ = self.watch(libc::EPOLL_CTL_MOD, index, false);
    }

    /// Reads what connection `index` has, matches each reply with the
    /// oldest request in flight, records its latency from its due time,
    /// and sends the request waiting for the connection, if any.
    fn on_readable(&mut self, index: usize, tally: &mut Tally) {
        loop {
            let connection = &mut self.connections[index];
            if connection.closed {
                return;
            }
            if connection.end == connection.input.len() {
                let (start, end) = (connection.start, connection.end);
                connection.input.copy_within(start..end, 0);
                (connection.start, connection.end) = (0, end - start);
                if connection.end == connection.input.len() {
                    let doubled = connection.input.len() * 2;
                    connection.input.resize(doubled, 0);
                }
            }
            let end = connection.end;
            match connection.stream.read(&mut connection.input[end..]) {
                Ok(0) => {
                    tally.closed += 1;
                    let _ = self.fail(index);
                    return;
                }
                Ok(n) => connection.end += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    tally.closed += 1;
                    let _ = self.fail(index);
                    return;
                }
            }
            let now = Instant::now();
            loop {
                let connection = &mut self.connections[index];
                let reply = match self
                    .wire
                    .parse(&connection.input[connection.start..connection.end])
                {
                    Ok(Some(reply)) => reply,
                    Ok(None) => break,
                    Err(e) => {
                        eprintln!("loadgen: connection {index}: {e}");
                        tally.closed += 1;
                        let _ = self.fail(index);
                        return;
                    }
                };
                connection.start += reply.len;
                if connection.start == connection.end {
                    (connection.start, connection.end) = (0, 0);
                }
                match connection.sent.pop_front() {
                    None => tally.unexpected += 1,
                    Some((seq, due)) => {
                        if !reply.ok || reply.seq.is_some_and(|s| s != seq) {
                            tally.bad_replies += 1;
                        }
                        tally.latencies_ns.push((now - due).as_nanos() as u64);
                    }
                }
                if let Some((seq, due)) = connection.waiting.pop_front() {
                    if self.transmit(index, seq, due).is_err() {
                        tally.write_errors += 1;
                    }
                }
            }
        }
    }

    /// Waits for events until `deadline` at the latest, and handles them.
    fn poll(&mut self, deadline: Instant, tally: &mut Tally) {
        let timeout = deadline.saturating_duration_since(Instant::now());
        let timeout = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
        // Safety: a valid epoll fd and a buffer of 64 events.
        let n = unsafe {
            libc::epoll_pwait2(
                self.epoll.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as libc::c_int,
                &timeout,
                std::ptr::null(),
            )
        };
        for event in &events[..n.max(0) as usize] {
            let index = event.u64 as usize;
            let flags = event.events;
            if flags & libc::EPOLLOUT as u32 != 0 {
                self.on_writable(index);
            }
            if flags & (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0 {
                self.on_readable(index, tally);
            }
        }
    }

    /// Runs one rate: sends on `schedule` (sequence numbers from `first`),
    /// then waits up to `drain` for the last replies.
    fn run_rate(
        &mut self,
        schedule: OpenLoopSchedule,
        first: u64,
        tick: Duration,
        drain: Duration,
    ) -> Tally {
        let mut tally = Tally {
            lags_ns: Vec::with_capacity(schedule.len() as usize),
            ..Tally::default()
        };
        let start = Instant::now() + Duration::from_millis(5);
        let connections = self.connections.len();
        let mut next = 0u64;
        let mut last_send = start;
        let mut drain_until = None;
        loop {
            let now = Instant::now();
            let mut sent_any = false;
            while next < schedule.len() {
                let due = start + schedule.offset(next);
                if due > now {
                    break;
                }
                tally.lags_ns.push((now - due).as_nanos() as u64);
                let index = OpenLoopSchedule::connection(next, connections);
                self.dispatch(index, first + next, due, &mut tally);
                next += 1;
                sent_any = true;
            }
            if sent_any {
                last_send = now;
            }
            let wake = if next < schedule.len() {
                (start + schedule.offset(next)).max(last_send + tick)
            } else {
                let until = *drain_until.get_or_insert(now + drain);
                if self.outstanding() == 0 || now >= until {
                    break;
                }
                until
            };
            self.poll(wake, &mut tally);
        }
        tally.lags_ns.sort_unstable();
        tally
    }
}

pub async fn run(args: &OpenArgs) -> Report {
    let addr = args.target.addr();
    let (wire, path) = match args.protocol {
        Protocol::Ws => (
            Wire::Ws {
                size: args.size.max(8),
            },
            args.path.clone().unwrap_or_else(|| "/echo".into()),
        ),
        Protocol::Http => {
            let path = args.path.clone().unwrap_or_else(|| "/test".into());
            let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes();
            (Wire::Http { request }, path)
        }
    };
    let mut streams = Vec::new();
    let mut failed = 0u64;
    for i in 0..args.connections {
        match open(addr, &path, args.protocol).await {
            Ok(stream) => streams.push(stream),
            Err(e) => {
                eprintln!("loadgen: connection {i} failed: {e}");
                failed += 1;
            }
        }
    }
    let mut report = Report::default();
    report.number("failed_connections", failed as f64);
    if streams.is_empty() {
        report.number("errors", failed.max(1) as f64);
        return report;
    }
    let mut event_loop = match Loop::new(streams, wire) {
        Ok(event_loop) => event_loop,
        Err(e) => {
            report
                .number("errors", 1.0)
                .text("why", &format!("no event loop: {e}"));
            return report;
        }
    };
    let mut errors = failed;
    let mut next_seq = 0u64;
    for (k, &rate) in args.rates.iter().enumerate() {
        let key = |name: &str| format!("r{k}.{name}");
        report.number(key("offered"), rate);
        // Replies missing from an earlier rate could arrive now and be
        // taken for this rate's.
        if event_loop.outstanding() > 0 || event_loop.connections.iter().any(|c| c.closed) {
            report
                .number(key("errors"), 1.0)
                .text(key("why"), "not run: replies of the previous rate missing");
            errors += 1;
            continue;
        }
        let schedule = OpenLoopSchedule::new(rate, Duration::from_secs_f64(args.seconds));
        let meter = CpuMeter::start(&args.target);
        let mut tally = event_loop.run_rate(
            schedule,
            next_seq,
            Duration::from_micros(args.tick_us),
            Duration::from_secs_f64(args.drain_seconds),
        );
        next_seq += schedule.len();
        let lost = event_loop.outstanding();
        let received = tally.latencies_ns.len() as u64;
        let [p50, p99, p999] = latency_percentiles_ms(&mut tally.latencies_ns);
        let lag_p99 = percentile(&tally.lags_ns, 0.99).map_or(f64::NAN, |ns| ns as f64 / 1e6);
        // When the generator's own lateness makes up half the p99, the
        // p99 describes the generator, not the server.
        let behind = lag_p99 > 0.2 && lag_p99 >= p99 / 2.0;
        if behind {
            report.text(
                key("why"),
                &format!("generator behind its schedule (lag p99 {lag_p99:.2} ms)"),
            );
        }
        let rate_errors = lost
            + tally.bad_replies
            + tally.unexpected
            + tally.closed
            + tally.write_errors
            + u64::from(behind);
        errors += rate_errors;
        report
            .number(key("achieved"), received as f64 / args.seconds)
            .number(key("p50_ms"), p50)
            .number(key("p99_ms"), p99)
            .number(key("p999_ms"), p999)
            .number(key("pacer_lag_p99_ms"), lag_p99)
            .number(key("lost"), lost as f64)
            .number(key("bad_replies"), tally.bad_replies as f64)
            .number(key("errors"), rate_errors as f64)
            .number(
                key("cpu_us_per_msg"),
                meter.server_us_per(&args.target, received),
            )
            .number(key("loadgen_cpu"), meter.own_share());
        eprintln!(
            "loadgen: {rate:.0}/s: {received} replies, p50 {p50:.3} ms, p99 {p99:.3} ms, p999 {p999:.3} ms, send lag p99 {lag_p99:.3} ms, {rate_errors} errors"
        );
    }
    report.number("errors", errors as f64);
    report
}

/// Opens a connection for the open loop (the WebSocket handshake done).
async fn open(
    addr: std::net::SocketAddr,
    path: &str,
    protocol: Protocol,
) -> io::Result<std::net::TcpStream> {
    let mut stream = tcp(addr, None).await?;
    if protocol == Protocol::Ws
        && !handshake(&mut stream, &addr.to_string(), path)
            .await?
            .is_empty()
    {
        return Err(io::Error::other(
            "the server sent a frame before any request",
        ));
    }
    stream.into_std()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_responses_are_framed_by_content_length() {
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
        let first = parse_http_response(two).unwrap().unwrap();
        assert_eq!((first.len, first.ok), (41, true));
        let second = parse_http_response(&two[41..]).unwrap().unwrap();
        assert!(!second.ok, "a 404 is not a good reply");
        assert!(parse_http_response(&two[..40]).unwrap().is_none());
    }

    #[test]
    fn http_responses_without_a_length_are_errors() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        assert!(parse_http_response(chunked).is_err());
        let empty = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert!(parse_http_response(empty).unwrap().unwrap().ok);
    }

    #[test]
    fn ws_replies_carry_the_sequence_number() {
        let wire = Wire::Ws { size: 16 };
        let mut payload = vec![b'x'; 16];
        payload[..8].copy_from_slice(&42u64.to_le_bytes());
        let frame = [&[0x82u8, 16][..], &payload].concat();
        let reply = wire.parse(&frame).unwrap().unwrap();
        assert_eq!((reply.len, reply.seq, reply.ok), (18, Some(42), true));
        let short = [&[0x82u8, 8][..], &payload[..8]].concat();
        assert!(!wire.parse(&short).unwrap().unwrap().ok, "a truncated echo");
    }
}
