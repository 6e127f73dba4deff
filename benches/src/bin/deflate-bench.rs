//! permessage-deflate: bytes on the wire, server CPU per message and idle
//! memory per connection, for greenws (`examples/echo`) against Node's `ws`
//! (`benches/node/ws-echo-server.cjs`, `perMessageDeflate: true`), each
//! with compression agreed (the client makes Chromium's offer) and without
//! (the client offers nothing), on the same data.
//!
//! ```text
//! bash benches/deflate.sh [wire|idle|all] [--rounds 5] [--seconds 5] [--connections 64] [--idle 10000]
//! ```
//!
//! `wire`: closed-loop echo over `--connections` connections for
//! `--seconds`, per workload: 4 KiB market-data JSON whose values change
//! from message to message, and the plot demo's lines (`0 i r`). The
//! client sends each message as Chromium does (compressed with its own
//! context when compression is agreed, every message); the server sends it
//! back as it chooses. Reported per message: bytes on the wire each way
//! (frames, as counted on the client's sockets), the server's CPU time
//! (all its threads, from `/proc/PID/task/*/schedstat`), and messages per
//! second. Contenders alternate within each round; the figures are the
//! median over rounds with the range, plus greenws's CPU per message as a
//! share of Node's, per round.
//!
//! `idle`: `--idle` connections, each echoing `--idle-echoes` (10) market
//! messages (so that any history a server keeps is filled), then held; the
//! server's resident memory growth per connection, a fresh server process
//! per measurement.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Chromium's offer (and that of Node's `ws` and Python's `websockets` as
/// clients, give or take a parameter).
const CHROMIUM_OFFER: &str = "permessage-deflate; client_max_window_bits";
/// Firefox's offer: a client window that cannot be limited.
const FIREFOX_OFFER: &str = "permessage-deflate";
/// The end of a sync flush, removed on the wire (RFC 7692 section 7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// Distinct messages of a wire run (precompressed, with the client's
/// context running through them); each connection sends them in a loop.
const SEQUENCE: usize = 2000;

struct Options {
    what: String,
    rounds: usize,
    seconds: f64,
    connections: usize,
    idle: usize,
    /// Market messages each idle connection echoes before it is held.
    idle_echoes: usize,
    greenws: String,
    node_script: String,
}

fn options() -> Options {
    let mut args = std::env::args().skip(1).peekable();
    let mut o = Options {
        what: "all".into(),
        rounds: 5,
        seconds: 5.0,
        connections: 64,
        idle: 10_000,
        idle_echoes: 10,
        greenws: "target/release/examples/echo".into(),
        node_script: "benches/node/ws-echo-server.cjs".into(),
    };
    if let Some(what) = args.next_if(|a| !a.starts_with("--")) {
        o.what = what;
    }
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let number =
            |v: &str| -> f64 { v.parse().unwrap_or_else(|_| usage(&format!("{flag} {v}"))) };
        match flag.as_str() {
            "--rounds" => o.rounds = number(&value) as usize,
            "--seconds" => o.seconds = number(&value),
            "--connections" => o.connections = number(&value) as usize,
            "--idle" => o.idle = number(&value) as usize,
            "--idle-echoes" => o.idle_echoes = number(&value) as usize,
            "--greenws" => o.greenws = value,
            "--node-script" => o.node_script = value,
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    if !matches!(o.what.as_str(), "wire" | "idle" | "all") {
        usage(&format!("unknown mode {}", o.what));
    }
    if o.rounds == 0 || o.connections == 0 {
        usage("--rounds and --connections must be at least 1");
    }
    o
}

fn usage(why: &str) -> ! {
    eprintln!(
        "deflate-bench: {why}\nusage: deflate-bench [wire|idle|all] [--rounds N] [--seconds S] \
         [--connections C] [--idle N] [--idle-echoes N] [--greenws PATH] [--node-script PATH]"
    );
    std::process::exit(2)
}

fn main() {
    let o = options();
    raise_open_file_limit();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average before: {}", load.trim());
    let mut errors = 0;
    let mut connections_not_held = 0;
    if o.what != "idle" {
        errors = runtime.block_on(wire(&o));
    }
    if o.what != "wire" {
        connections_not_held = runtime.block_on(idle(&o));
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average after: {}", load.trim());
    // For benches/run.sh, which marks the section invalid when either is
    // above 0.
    println!("RESULT errors={errors} connections_not_held={connections_not_held}");
}

// ---- servers ----

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Program {
    Greenws,
    Node,
}

impl Program {
    fn name(self) -> &'static str {
        match self {
            Program::Greenws => "greenws",
            Program::Node => "node ws",
        }
    }
}

/// A server process; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(program: Program, o: &Options) -> Server {
        let mut command = match program {
            Program::Greenws => {
                let mut c = Command::new(&o.greenws);
                c.args(["--port", "0"]);
                c
            }
            Program::Node => {
                let mut c = Command::new("node");
                c.args([o.node_script.as_str(), "--port", "0"]);
                c
            }
        };
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.name()));
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let addr = first
            .trim()
            .rsplit("://")
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "{}: unexpected first line {first:?} (Node needs NODE_PATH to find ws: run benches/deflate.sh)",
                    program.name()
                )
            });
        Server { child, addr }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time of all the process's threads, in nanoseconds.
fn cpu_nanos(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
            stat.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum()
}

fn rss_bytes(pid: u32) -> u64 {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    pages * page
}

/// Idle runs hold thousands of connections: this process and the servers
/// it starts may open up to the hard limit.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit with a valid rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

// ---- workloads ----

/// The message generators of greenws's own deflate tests and measurements
/// (`deflate::measure`), shared so both measure the same data.
#[allow(dead_code)] // the chat messages and random bytes are the tests'
#[path = "../../../server/src/websocket/deflate/samples.rs"]
mod samples;
use samples::{market_json, plot_line, Rng};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Workload {
    Market,
    Plot,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Market => "4 KiB market JSON",
            Workload::Plot => "plot lines",
        }
    }

    fn messages(self, count: usize) -> Vec<Vec<u8>> {
        let mut rng = Rng::new(0x2545_F491_4F6C_DD1D);
        (0..count as u64)
            .map(|seq| match self {
                Workload::Market => market_json(seq, &mut rng),
                Workload::Plot => plot_line(seq, &mut rng),
            })
            .collect()
    }
}

/// How the client compresses, as the server's answer says.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct ClientSide {
    window_bits: u8,
    keeps_context: bool,
}

impl ClientSide {
    /// From the `Sec-WebSocket-Extensions` of the 101 (`None`: the client
    /// does not compress).
    fn from_answer(answer: Option<&str>) -> Option<ClientSide> {
        let answer = answer?;
        let mut side = ClientSide {
            window_bits: 15,
            keeps_context: true,
        };
        for param in answer.split(';').skip(1).map(str::trim) {
            match param.split_once('=') {
                Some(("client_max_window_bits", bits)) => {
                    side.window_bits = bits.trim_matches('"').parse().expect("a window size")
                }
                None if param == "client_no_context_takeover" => side.keeps_context = false,
                _ => {}
            }
        }
        Some(side)
    }
}

/// What the client sends: each message's plaintext and its whole masked
/// frame, compressed as Chromium would (every message, zlib level 6, its
/// context kept unless the server said no), or not at all.
struct Sequence {
    plain: Vec<Vec<u8>>,
    frames: Vec<Vec<u8>>,
}

impl Sequence {
    fn new(plain: Vec<Vec<u8>>, side: Option<ClientSide>) -> Sequence {
        let mut compress = side.map(|s| new_compressor(s.window_bits));
        let frames = plain
            .iter()
            .enumerate()
            .map(|(i, message)| {
                let mask = (i as u32).wrapping_mul(2_654_435_761).to_be_bytes();
                match (&mut compress, side) {
                    (Some(compress), Some(side)) => {
                        if !side.keeps_context {
                            *compress = new_compressor(side.window_bits);
                        }
                        frame(0xC1, &deflate(compress, message), mask)
                    }
                    _ => frame(0x81, message, mask),
                }
            })
            .collect();
        Sequence { plain, frames }
    }
}

fn new_compressor(window_bits: u8) -> Compress {
    // zlib cannot compress raw DEFLATE with a window of 8; 9 never refers
    // further back than 256 bytes (what Chromium does too).
    Compress::new_with_window_bits(Compression::new(6), false, window_bits.max(9))
}

fn deflate(compress: &mut Compress, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    let start = compress.total_in();
    loop {
        let consumed = (compress.total_in() - start) as usize;
        compress
            .compress_vec(&message[consumed..], &mut out, FlushCompress::Sync)
            .unwrap();
        if (compress.total_in() - start) as usize == message.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity());
    }
    out.truncate(out.len() - TAIL.len());
    out
}

/// A client's frame: masked, final.
fn frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(first);
    match payload.len() {
        len @ 0..=125 => out.push(0x80 | len as u8),
        len @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

// ---- the client ----

/// Counters shared by a run's connections.
#[derive(Default)]
struct Counters {
    messages: AtomicU64,
    /// Plaintext bytes of the messages echoed.
    plain: AtomicU64,
    written: AtomicU64,
    read: AtomicU64,
    errors: AtomicU64,
}

struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
    /// Decodes the server's compressed messages; kept across messages (it
    /// decodes a server that keeps no context as well). Made at the first.
    inflate: Option<Decompress>,
    agreed: Option<String>,
}

impl Connection {
    async fn open(addr: SocketAddr, offer: Option<&str>) -> std::io::Result<Connection> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut request = format!(
            "GET /echo HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        );
        if let Some(offer) = offer {
            request.push_str(&format!("Sec-WebSocket-Extensions: {offer}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut buffer = Vec::with_capacity(8192);
        let end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 1024];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buffer.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
        if !head.starts_with("HTTP/1.1 101") {
            return Err(std::io::Error::other(format!("not a 101: {head}")));
        }
        let agreed = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-extensions")
                .then(|| value.trim().to_owned())
        });
        buffer.drain(..end);
        Ok(Connection {
            stream,
            buffer,
            inflate: None,
            agreed,
        })
    }

    /// Sends `frame` and checks that `plain` comes back; counts the bytes.
    async fn echo(&mut self, frame: &[u8], plain: &[u8], counters: &Counters) -> bool {
        if self.stream.write_all(frame).await.is_err() {
            return false;
        }
        counters
            .written
            .fetch_add(frame.len() as u64, Ordering::Relaxed);
        while let Some((first, header_len, payload_len)) = self.next_frame().await {
            counters
                .read
                .fetch_add((header_len + payload_len) as u64, Ordering::Relaxed);
            let payload = &self.buffer[header_len..header_len + payload_len];
            let intact = match first & 0x0f {
                0x1 | 0x2 if first & 0x40 != 0 => {
                    let mut input = payload.to_vec();
                    input.extend_from_slice(&TAIL);
                    let mut out = Vec::with_capacity(plain.len() + 64);
                    self.inflate
                        .get_or_insert_with(|| Decompress::new(false))
                        .decompress_vec(&input, &mut out, FlushDecompress::Sync)
                        .is_ok()
                        && out == plain
                }
                0x1 | 0x2 => payload == plain,
                _ => {
                    // A ping or pong, not the echo.
                    self.buffer.drain(..header_len + payload_len);
                    continue;
                }
            };
            self.buffer.drain(..header_len + payload_len);
            return intact;
        }
        false
    }

    /// Reads until a whole frame is buffered: its first byte, header and
    /// payload lengths.
    async fn next_frame(&mut self) -> Option<(u8, usize, usize)> {
        loop {
            if self.buffer.len() >= 2 {
                let header = match self.buffer[1] & 0x7f {
                    126 if self.buffer.len() >= 4 => Some((
                        4,
                        u16::from_be_bytes([self.buffer[2], self.buffer[3]]) as usize,
                    )),
                    127 if self.buffer.len() >= 10 => Some((
                        10,
                        u64::from_be_bytes(self.buffer[2..10].try_into().unwrap()) as usize,
                    )),
                    126 | 127 => None,
                    short => Some((2, short as usize)),
                };
                if let Some((header_len, payload_len)) = header {
                    if self.buffer.len() >= header_len + payload_len {
                        return Some((self.buffer[0], header_len, payload_len));
                    }
                }
            }
            let len = self.buffer.len();
            self.buffer.resize(len + 64 * 1024, 0);
            let n = self.stream.read(&mut self.buffer[len..]).await.ok()?;
            self.buffer.truncate(len + n);
            if n == 0 {
                return None;
            }
        }
    }
}

// ---- wire ----

/// One measured run, per message.
#[derive(Clone, Copy, Debug)]
struct WireRun {
    up_bytes: f64,
    down_bytes: f64,
    plain_bytes: f64,
    cpu_us: f64,
    rate: f64,
    errors: u64,
}

type WireResults = BTreeMap<(Workload, Program, bool), Vec<WireRun>>;

/// Runs and reports the wire benchmark; gives the echo errors of all runs.
async fn wire(o: &Options) -> u64 {
    let node = Server::start(Program::Node, o);
    let greenws = Server::start(Program::Greenws, o);
    let servers = [(Program::Greenws, &greenws), (Program::Node, &node)];
    let mut results = WireResults::new();
    // Sequences by workload and client side, made once.
    let mut sequences: Vec<(Workload, Option<ClientSide>, Rc<Sequence>)> = Vec::new();
    println!(
        "wire: {} connections, {} s per run, {} rounds, contenders alternating",
        o.connections, o.seconds, o.rounds
    );
    for round in 0..o.rounds {
        for workload in [Workload::Market, Workload::Plot] {
            let mut order: Vec<(Program, bool)> = servers
                .iter()
                .flat_map(|(p, _)| [(*p, true), (*p, false)])
                .collect();
            let len = order.len();
            order.rotate_left(round % len);
            for (program, compressed) in order {
                let server = servers.iter().find(|(p, _)| *p == program).unwrap().1;
                let offer = compressed.then_some(CHROMIUM_OFFER);
                let probe = Connection::open(server.addr, offer).await.unwrap();
                let side = ClientSide::from_answer(probe.agreed.as_deref());
                assert_eq!(
                    side.is_some(),
                    compressed,
                    "{}: {:?}",
                    program.name(),
                    probe.agreed
                );
                if round == 0 && workload == Workload::Market {
                    println!("  {}: agreed {:?}", program.name(), probe.agreed);
                }
                drop(probe);
                let sequence = match sequences
                    .iter()
                    .find(|(w, s, _)| *w == workload && *s == side)
                {
                    Some((_, _, sequence)) => sequence.clone(),
                    None => {
                        let sequence = Rc::new(Sequence::new(workload.messages(SEQUENCE), side));
                        sequences.push((workload, side, sequence.clone()));
                        sequence
                    }
                };
                let run = wire_run(server, offer, &sequence, o).await;
                results
                    .entry((workload, program, compressed))
                    .or_default()
                    .push(run);
            }
        }
    }
    report_wire(&results, o);
    results.values().flatten().map(|run| run.errors).sum()
}

async fn wire_run(
    server: &Server,
    offer: Option<&str>,
    sequence: &Rc<Sequence>,
    o: &Options,
) -> WireRun {
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let local = tokio::task::LocalSet::new();
    let mut tasks = Vec::new();
    for _ in 0..o.connections {
        let (counters, stop, sequence) = (counters.clone(), stop.clone(), sequence.clone());
        let addr = server.addr;
        let offer = offer.map(str::to_owned);
        tasks.push(local.spawn_local(async move {
            let Ok(mut connection) = Connection::open(addr, offer.as_deref()).await else {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                return;
            };
            // Round and round: the first message refers to nothing before
            // it, and once it was sent again, what the next ones refer to
            // is where it was the first time.
            for (frame, plain) in sequence.frames.iter().zip(&sequence.plain).cycle() {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if !connection.echo(frame, plain, &counters).await {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                counters.messages.fetch_add(1, Ordering::Relaxed);
                counters
                    .plain
                    .fetch_add(plain.len() as u64, Ordering::Relaxed);
            }
        }));
    }
    let pid = server.pid();
    let seconds = o.seconds;
    local
        .run_until(async {
            // Warm up, then measure a window of steady load.
            tokio::time::sleep(Duration::from_secs_f64(0.5_f64.min(seconds / 4.0))).await;
            let snapshot = |c: &Counters| {
                (
                    c.messages.load(Ordering::Relaxed),
                    c.written.load(Ordering::Relaxed),
                    c.read.load(Ordering::Relaxed),
                    c.plain.load(Ordering::Relaxed),
                    cpu_nanos(pid),
                    Instant::now(),
                )
            };
            let before = snapshot(&counters);
            tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
            let after = snapshot(&counters);
            stop.store(true, Ordering::Relaxed);
            for task in tasks {
                let _ = task.await;
            }
            let messages = (after.0 - before.0).max(1);
            let per = |a: u64, b: u64| (b - a) as f64 / messages as f64;
            WireRun {
                up_bytes: per(before.1, after.1),
                down_bytes: per(before.2, after.2),
                plain_bytes: per(before.3, after.3),
                cpu_us: per(before.4, after.4) / 1000.0,
                rate: messages as f64 / (after.5 - before.5).as_secs_f64(),
                errors: counters.errors.load(Ordering::Relaxed),
            }
        })
        .await
}

fn median_and_range(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    (median, values[0], values[n - 1])
}

/// "median (lowest-highest)".
fn cell(values: Vec<f64>, digits: usize) -> String {
    let (median, low, high) = median_and_range(values);
    format!("{median:.digits$} ({low:.digits$}-{high:.digits$})")
}

fn report_wire(results: &WireResults, o: &Options) {
    println!();
    println!(
        "| workload | server | compression | bytes/message client to server | bytes/message server to client | server to client, of the plain message | server CPU/message (us) | messages/s | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for ((workload, program, compressed), runs) in results {
        let of = |f: fn(&WireRun) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
        println!(
            "| {} | {} | {} | {} | {} | {}% | {} | {} | {} |",
            workload.name(),
            program.name(),
            if *compressed { "agreed" } else { "off" },
            cell(of(|r| r.up_bytes), 0),
            cell(of(|r| r.down_bytes), 0),
            cell(of(|r| r.down_bytes / r.plain_bytes.max(1.0) * 100.0), 1),
            cell(of(|r| r.cpu_us), 1),
            cell(of(|r| r.rate), 0),
            runs.iter().map(|r| r.errors).sum::<u64>(),
        );
    }
    println!();
    for workload in [Workload::Market, Workload::Plot] {
        for compressed in [true, false] {
            let ours = &results[&(workload, Program::Greenws, compressed)];
            let theirs = &results[&(workload, Program::Node, compressed)];
            let ratios: Vec<f64> = ours
                .iter()
                .zip(theirs)
                .map(|(a, b)| a.cpu_us / b.cpu_us)
                .collect();
            println!(
                "greenws CPU per message / node ws's, {}, compression {}: {} (per round; median and range of {} rounds)",
                workload.name(),
                if compressed { "agreed" } else { "off" },
                cell(ratios, 2),
                o.rounds
            );
        }
    }
}

// ---- idle ----

/// Runs and reports the idle benchmark; gives how many connections of all
/// runs failed to open or to echo.
async fn idle(o: &Options) -> u64 {
    let echoes = o.idle_echoes;
    let rounds = o.rounds.min(3);
    println!();
    println!(
        "idle: {} connections, each echoing {echoes} market messages first; a fresh server per \
         measurement, {rounds} rounds",
        o.idle
    );
    let plain = Workload::Market.messages(echoes.max(1));
    let mut results: BTreeMap<(Program, &str), Vec<f64>> = BTreeMap::new();
    let mut not_held = 0;
    for round in 0..rounds {
        let mut order = vec![
            (Program::Greenws, Some(CHROMIUM_OFFER)),
            (Program::Greenws, Some(FIREFOX_OFFER)),
            (Program::Greenws, None),
            (Program::Node, Some(CHROMIUM_OFFER)),
            (Program::Node, None),
        ];
        let len = order.len();
        order.rotate_left(round % len);
        for (program, offer) in order {
            let server = Server::start(program, o);
            // Warm the server's paths before the baseline.
            let mut warm = Connection::open(server.addr, offer).await.unwrap();
            let side = ClientSide::from_answer(warm.agreed.as_deref());
            assert_eq!(side.is_some(), offer.is_some());
            let sequence = Rc::new(Sequence::new(plain.clone(), side));
            let counters = Counters::default();
            for (frame, message) in sequence.frames.iter().zip(&sequence.plain) {
                assert!(warm.echo(frame, message, &counters).await);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            let before = rss_bytes(server.pid());
            let held = hold_connections(&server, offer, &sequence, echoes, o.idle).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let after = rss_bytes(server.pid());
            if held.len() < o.idle {
                println!("  {}: only {} connections held", program.name(), held.len());
                not_held += (o.idle - held.len()) as u64;
            }
            let per = (after as f64 - before as f64) / held.len().max(1) as f64 / 1024.0;
            let label = match offer {
                Some(CHROMIUM_OFFER) => "Chromium's offer",
                Some(_) => "Firefox's offer",
                None => "off (no offer)",
            };
            results.entry((program, label)).or_default().push(per);
        }
    }
    println!();
    println!("| server | compression | resident KiB per idle connection |");
    println!("|---|---|---|");
    for ((program, label), values) in results {
        println!("| {} | {label} | {} |", program.name(), cell(values, 2));
    }
    not_held
}

/// Opens `count` connections (200 at a time), each echoing the first
/// `echoes` messages of the sequence; gives those that did.
async fn hold_connections(
    server: &Server,
    offer: Option<&str>,
    sequence: &Rc<Sequence>,
    echoes: usize,
    count: usize,
) -> Vec<Connection> {
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let mut held = Vec::with_capacity(count);
            let mut started = 0;
            while started < count {
                let batch: Vec<_> = (started..count.min(started + 200))
                    .map(|_| {
                        let sequence = sequence.clone();
                        let addr = server.addr;
                        let offer = offer.map(str::to_owned);
                        tokio::task::spawn_local(async move {
                            let counters = Counters::default();
                            let mut connection =
                                Connection::open(addr, offer.as_deref()).await.ok()?;
                            for (frame, plain) in
                                sequence.frames.iter().zip(&sequence.plain).take(echoes)
                            {
                                if !connection.echo(frame, plain, &counters).await {
                                    return None;
                                }
                            }
                            // Held idle: the client keeps no buffers.
                            connection.buffer = Vec::new();
                            connection.inflate = None;
                            Some(connection)
                        })
                    })
                    .collect();
                started += batch.len();
                for task in batch {
                    if let Ok(Some(connection)) = task.await {
                        held.push(connection);
                    }
                }
            }
            held
        })
        .await
}
