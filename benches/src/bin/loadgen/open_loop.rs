//! Open-loop latency: requests leave on a fixed schedule whatever the
//! replies do, and each latency is measured from the time the request was
//! *due*, so a stall is charged to every request that had to wait behind it
//! (no coordinated omission).
//!
//! A pacing thread (timer slack 1 µs) sends on the schedule of
//! [`OpenLoopSchedule`], request `i` on connection `i % connections`; the
//! tokio thread reads the replies. WebSocket echo is fully open: a message
//! goes out when due, replies or not. HTTP/1.1 follows wrk2's model: a
//! connection carries one request at a time, a request due while its
//! connection waits for a response goes out right after that response, and
//! its latency still counts from its due time.
//!
//! Several rates run one after the other on the same connections; a rate
//! whose replies do not all arrive within the drain time ends the run (the
//! later rates are reported as not run). A rate at which the pacing thread
//! itself ran late by half the p99 or more counts as an error: its
//! percentiles would describe the generator.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use benches::report_line::Report;
use benches::schedule::OpenLoopSchedule;
use benches::stats::{latency_percentiles_ms, percentile};
use clap::{Args, ValueEnum};
use tokio::io::AsyncReadExt;

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
    /// The pacing thread wakes at most once per this many microseconds and
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

/// Requests sent on a connection and not answered yet, and those waiting
/// for the connection (HTTP), each with its due time.
#[derive(Default)]
struct Queues {
    sent: VecDeque<(u64, Instant)>,
    waiting: VecDeque<(u64, Instant)>,
    out: Vec<u8>,
}

/// A connection as both threads see it.
struct Connection {
    /// A clone of the socket, for writes from either thread (non-blocking,
    /// as tokio set it); writes happen under `queues`' lock.
    writer: std::net::TcpStream,
    queues: Mutex<Queues>,
}

/// What the pacing thread and the readers share.
struct Shared {
    wire: Wire,
    connections: Vec<Connection>,
    /// Requests scheduled and not answered yet.
    outstanding: AtomicU64,
    write_errors: AtomicU64,
}

impl Shared {
    /// Sends request `seq` on `connection` now, or queues it behind the one
    /// in flight (HTTP).
    fn dispatch(&self, connection: &Connection, seq: u64, due: Instant) {
        let mut queues = connection.queues.lock().expect("no panics while locked");
        if queues.sent.len() >= self.wire.max_in_flight() {
            queues.waiting.push_back((seq, due));
        } else {
            self.transmit(connection, &mut queues, seq, due);
        }
    }

    fn transmit(&self, connection: &Connection, queues: &mut Queues, seq: u64, due: Instant) {
        let mut out = std::mem::take(&mut queues.out);
        self.wire.encode(seq, &mut out);
        match write_all_nonblocking(&connection.writer, &out) {
            Ok(()) => queues.sent.push_back((seq, due)),
            Err(_) => {
                self.write_errors.fetch_add(1, Ordering::Relaxed);
                self.outstanding.fetch_sub(1, Ordering::AcqRel);
            }
        }
        queues.out = out;
    }
}

/// Writes all of `bytes` to a non-blocking socket, waiting for room with
/// `poll` when it is full.
fn write_all_nonblocking(mut stream: &std::net::TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut fd = libc::pollfd {
                    fd: stream.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // Safety: one valid pollfd.
                if unsafe { libc::poll(&mut fd, 1, 1000) } < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// What the readers saw during one rate.
#[derive(Default)]
struct Tally {
    latencies_ns: Vec<u64>,
    bad_replies: u64,
    unexpected: u64,
    closed: u64,
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
    let mut readers = Vec::new();
    let mut connections = Vec::new();
    let mut failed = 0u64;
    for i in 0..args.connections {
        match open(addr, &path, args.protocol).await {
            Ok((reader, writer)) => {
                readers.push(reader);
                connections.push(Connection {
                    writer,
                    queues: Mutex::default(),
                });
            }
            Err(e) => {
                eprintln!("loadgen: connection {i} failed: {e}");
                failed += 1;
            }
        }
    }
    let mut report = Report::default();
    report.number("failed_connections", failed as f64);
    if connections.is_empty() {
        report.number("errors", failed.max(1) as f64);
        return report;
    }
    let shared = Arc::new(Shared {
        wire,
        connections,
        outstanding: AtomicU64::new(0),
        write_errors: AtomicU64::new(0),
    });
    let tally = Rc::new(RefCell::new(Tally::default()));
    for (index, reader) in readers.into_iter().enumerate() {
        tokio::task::spawn_local(read_replies(index, reader, shared.clone(), tally.clone()));
    }
    let mut errors = failed;
    // Set when a rate left replies unaccounted for: they could arrive
    // during the next rate and be taken for its replies.
    let mut unsettled = false;
    let mut next_seq = 0u64;
    for (k, &rate) in args.rates.iter().enumerate() {
        let key = |name: &str| format!("r{k}.{name}");
        report.number(key("offered"), rate);
        if unsettled {
            report
                .number(key("errors"), 1.0)
                .text(key("why"), "not run: replies of the previous rate missing");
            errors += 1;
            continue;
        }
        *tally.borrow_mut() = Tally::default();
        let write_errors_before = shared.write_errors.load(Ordering::Relaxed);
        let schedule = OpenLoopSchedule::new(rate, Duration::from_secs_f64(args.seconds));
        let meter = CpuMeter::start(&args.target);
        let pacer = {
            let shared = shared.clone();
            let first = next_seq;
            let tick = Duration::from_micros(args.tick_us);
            std::thread::spawn(move || pace(&shared, schedule, first, tick))
        };
        next_seq += schedule.len();
        while !pacer.is_finished() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let lags_ns = pacer.join().expect("the pacer does not panic");
        let drain_until = Instant::now() + Duration::from_secs_f64(args.drain_seconds);
        while shared.outstanding.load(Ordering::Acquire) > 0 && Instant::now() < drain_until {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let lost = shared.outstanding.load(Ordering::Acquire);
        let mut tally = tally.borrow_mut();
        unsettled = lost > 0 || tally.closed > 0;
        let received = tally.latencies_ns.len() as u64;
        let [p50, p99, p999] = latency_percentiles_ms(&mut tally.latencies_ns);
        let write_errors = shared.write_errors.load(Ordering::Relaxed) - write_errors_before;
        let lag_p99 = percentile(&lags_ns, 0.99).map_or(f64::NAN, |ns| ns as f64 / 1e6);
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
            + write_errors
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
            "loadgen: {rate:.0}/s: {received} replies, p50 {p50:.3} ms, p99 {p99:.3} ms, p999 {p999:.3} ms, {rate_errors} errors"
        );
    }
    report.number("errors", errors as f64);
    report
}

/// Opens a connection for the open loop: the tokio side for reading, a
/// clone of the socket for writing.
async fn open(
    addr: std::net::SocketAddr,
    path: &str,
    protocol: Protocol,
) -> io::Result<(tokio::net::TcpStream, std::net::TcpStream)> {
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
    let std = stream.into_std()?;
    let writer = std.try_clone()?;
    Ok((tokio::net::TcpStream::from_std(std)?, writer))
}

/// The pacing thread: sends each request of `schedule` when it is due
/// (sequence numbers from `first`); gives how late each send was.
fn pace(shared: &Shared, schedule: OpenLoopSchedule, first: u64, tick: Duration) -> Vec<u64> {
    // Sleep to the microsecond, not to the default 50 µs of timer slack.
    // Safety: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong, 0, 0, 0) };
    let start = Instant::now() + Duration::from_millis(5);
    let connections = shared.connections.len();
    let mut lags = Vec::with_capacity(schedule.len() as usize);
    let mut woke = start;
    for i in 0..schedule.len() {
        let due = start + schedule.offset(i);
        let mut now = Instant::now();
        if now < due {
            let wake = due.max(woke + tick);
            while now < wake {
                std::thread::sleep(wake - now);
                now = Instant::now();
            }
            woke = now;
        }
        lags.push((now - due).as_nanos() as u64);
        shared.outstanding.fetch_add(1, Ordering::AcqRel);
        let connection = &shared.connections[OpenLoopSchedule::connection(i, connections)];
        shared.dispatch(connection, first + i, due);
    }
    lags.sort_unstable();
    lags
}

/// Reads one connection's replies, matches each with the oldest request in
/// flight, records its latency from its due time, and sends the request
/// waiting for the connection, if any.
async fn read_replies(
    index: usize,
    mut stream: tokio::net::TcpStream,
    shared: Arc<Shared>,
    tally: Rc<RefCell<Tally>>,
) {
    let connection = &shared.connections[index];
    let mut buf = vec![0u8; 64 * 1024];
    let (mut start, mut end) = (0, 0);
    loop {
        match stream.read(&mut buf[end..]).await {
            Ok(0) | Err(_) => {
                tally.borrow_mut().closed += 1;
                return;
            }
            Ok(n) => end += n,
        }
        loop {
            let reply = match shared.wire.parse(&buf[start..end]) {
                Ok(Some(reply)) => reply,
                Ok(None) => break,
                Err(e) => {
                    eprintln!("loadgen: connection {index}: {e}");
                    tally.borrow_mut().closed += 1;
                    return;
                }
            };
            start += reply.len;
            let now = Instant::now();
            let mut queues = connection.queues.lock().expect("no panics while locked");
            let mut tally = tally.borrow_mut();
            match queues.sent.pop_front() {
                None => tally.unexpected += 1,
                Some((seq, due)) => {
                    if !reply.ok || reply.seq.is_some_and(|s| s != seq) {
                        tally.bad_replies += 1;
                    }
                    tally.latencies_ns.push((now - due).as_nanos() as u64);
                    shared.outstanding.fetch_sub(1, Ordering::AcqRel);
                }
            }
            if let Some((seq, due)) = queues.waiting.pop_front() {
                shared.transmit(connection, &mut queues, seq, due);
            }
        }
        if start == end {
            (start, end) = (0, 0);
        } else if end == buf.len() {
            buf.copy_within(start..end, 0);
            (start, end) = (0, end - start);
            if end == buf.len() {
                buf.resize(buf.len() * 2, 0);
            }
        }
    }
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
