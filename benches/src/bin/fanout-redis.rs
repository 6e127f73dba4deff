//! Fan-out across instances: one publisher, N subscribers split over two
//! greenws instances whose hubs share rooms through Redis pub/sub, beside
//! one instance alone with all N (the in-process hub). For each rate it
//! reports whether every message reached every subscriber, the publish to
//! receive latency (p50, p99, and p99 per instance), and the CPU each
//! instance (and Redis) spent per delivered message, and how long each
//! instance waited for a CPU.
//!
//! ```text
//! fanout-redis [--subscribers 1000] [--rates 100,200,400] [--seconds 5] [--rounds 3]
//!              [--placement pinned|shared|both]
//! fanout-redis serve PORT WORKERS [REDIS_URL]   # one instance (what the above runs)
//! ```
//!
//! Placement: with `pinned` (the default on two CPUs or more) this
//! program, which is the load (the publisher and every subscriber, on one
//! thread), runs on the first CPU it may use and the server side (the one
//! instance, or both instances and Redis) on the second: both setups get the same one CPU, so the
//! difference is what the route through Redis costs. With `shared` every
//! process may run anywhere: on a machine with fewer CPUs than processes
//! (two here: the load, two instances and Redis), the instances then wait
//! for a CPU during each burst of deliveries, which the `cpu_wait` column
//! shows (it is the kernel's run delay, `/proc/PID/schedstat`).
//!
//! Needs `redis-server` on PATH; starts its own on a free port. The
//! configurations alternate within each round (alone, then through Redis).
//! Each run prints a line `RESULT round=.. rate=.. placement=pinned|shared
//! instances=1|2 delivered=.. disorder=.. p50_ms=.. p99_ms=..
//! p99_ms_per_instance=a,b cpu_us_per_delivery=a,b cpu_wait_ms_per_s=a,b
//! redis_cpu_us_per_msg=..`; then a table gives the median of the rounds
//! with its spread.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use greenws::{
    HandshakeRequest, Hub, Message, Resource, WebSocket, WebSocketApplication, WebSocketHandler,
};
use tokio_tungstenite::tungstenite;

struct Options {
    subscribers: usize,
    rates: Vec<f64>,
    seconds: f64,
    rounds: usize,
    placements: Vec<Placement>,
    /// The CPUs this program may use, as it was started (`taskset`, a
    /// cpuset): pinned runs use the first two, shared runs all of them.
    cpus: Vec<usize>,
}

/// Where the processes of a run may run (see the module comment).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Placement {
    /// The load on CPU 0, the server side on CPU 1.
    Pinned,
    /// Anywhere.
    Shared,
}

impl Placement {
    fn name(self) -> &'static str {
        match self {
            Placement::Pinned => "pinned",
            Placement::Shared => "shared",
        }
    }

    /// The CPU the server side runs on, if pinned: the second of `cpus`
    /// (the load runs on the first).
    fn server_cpu(self, cpus: &[usize]) -> Option<usize> {
        (self == Placement::Pinned).then_some(cpus[1])
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        return serve(&args[1..]);
    }
    let mut options = Options {
        subscribers: 1000,
        rates: vec![100.0, 200.0, 400.0],
        seconds: 5.0,
        rounds: 3,
        placements: Vec::new(),
        cpus: benches::affinity::allowed_cpus(std::process::id())
            .expect("the CPUs this process may use"),
    };
    options.placements = vec![if options.cpus.len() >= 2 {
        Placement::Pinned
    } else {
        Placement::Shared
    }];
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--subscribers" => options.subscribers = parse(&value),
            "--rates" => options.rates = value.split(',').map(parse).collect(),
            "--seconds" => options.seconds = parse(&value),
            "--rounds" => options.rounds = parse(&value),
            "--placement" => {
                options.placements = match value.as_str() {
                    "pinned" => vec![Placement::Pinned],
                    "shared" => vec![Placement::Shared],
                    "both" => vec![Placement::Pinned, Placement::Shared],
                    _ => usage(),
                };
                if options.placements.contains(&Placement::Pinned) && options.cpus.len() < 2 {
                    eprintln!("fanout-redis: --placement pinned needs two CPUs");
                    std::process::exit(2);
                }
            }
            _ => usage(),
        }
    }
    run(&options);
}

fn parse<T: std::str::FromStr>(value: &str) -> T {
    value.parse().unwrap_or_else(|_| usage())
}

fn usage() -> ! {
    eprintln!(
        "usage: fanout-redis [--subscribers N] [--rates R1,R2,...] [--seconds S] [--rounds N]\n       \
                            [--placement pinned|shared|both]\n       \
         fanout-redis serve PORT WORKERS [REDIS_URL]"
    );
    std::process::exit(2);
}

// ---- one instance ----

/// Every member of `/chat` gets every message any member sends.
struct Chat {
    hub: Hub,
}

impl WebSocketApplication for Chat {
    type Session = ();

    fn on_open(&self, ws: &WebSocket, _request: &HandshakeRequest) {
        self.hub.join(ws);
    }

    fn on_message(&self, _session: &mut (), _ws: &WebSocket, message: Message) {
        self.hub.broadcast(message);
    }
}

/// `serve PORT WORKERS [REDIS_URL]`: a greenws instance whose hub uses
/// Redis when given one.
fn serve(args: &[String]) {
    let port: u16 = args.first().map_or(0, |p| parse(p));
    let workers: usize = args.get(1).map_or(1, |w| parse(w));
    green::Config::new()
        .workers(workers)
        .apply()
        .expect("settings apply at start");
    let mut hub = Hub::builder().capacity(4096).prefix("bench:");
    if let Some(url) = args.get(2) {
        hub = hub.redis(url);
    }
    let resource = Resource::new().websocket(
        "/chat",
        Chat {
            hub: hub.build().expect("a hub"),
        },
    );
    let server = greenws::WsgiServer::bind(("127.0.0.1", port))
        .expect("bind")
        .handler_class(WebSocketHandler::new());
    println!("Serving on http://{}", server.local_addr());
    server.serve_forever(resource).expect("serve");
}

// ---- processes ----

/// A child process, killed when dropped.
struct Process {
    child: Child,
}

impl Process {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a process of `command` on `cpu` (if given), checking that it
/// runs there; `what` names it if it cannot start.
fn spawn_on(command: &mut Command, cpu: Option<usize>, what: &str) -> Child {
    if let Some(cpu) = cpu {
        benches::affinity::pin_to_cpu(command, cpu);
    }
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{what} does not start: {e}"));
    if let Some(cpu) = cpu {
        let allowed = benches::affinity::allowed_cpus(child.id()).expect("its CPUs");
        assert_eq!(allowed, [cpu], "pinned to CPU {cpu}");
    }
    child
}

/// Starts an instance of this program (one worker); gives it and its port.
fn instance(redis_url: Option<&str>, cpu: Option<usize>) -> (Process, u16) {
    let mut command = Command::new(std::env::current_exe().expect("own path"));
    command.args(["serve", "0", "1"]);
    command.args(redis_url);
    let mut child = spawn_on(
        command.stdout(Stdio::piped()).stderr(Stdio::inherit()),
        cpu,
        "an instance",
    );
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("the instance prints its address");
    let port = first
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {first:?}"));
    (Process { child }, port)
}

/// Starts `redis-server` on a free port, nothing saved, on `cpu` (if
/// given); gives it and its URL.
fn redis(cpu: Option<usize>) -> (Process, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
        .stdout(Stdio::null());
    let child = spawn_on(
        &mut command,
        cpu,
        "redis-server (apt-get install redis-server)",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Process { child }, format!("redis://127.0.0.1:{port}/"))
}

/// What the kernel counted for a process so far, over all its threads
/// (`/proc/PID/task/*/schedstat`), in nanoseconds.
#[derive(Clone, Copy, Default)]
struct SchedTimes {
    /// On a CPU.
    on_cpu: u64,
    /// Runnable, waiting for a CPU (the run delay).
    waiting: u64,
}

impl SchedTimes {
    fn of(pid: u32) -> SchedTimes {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return SchedTimes::default();
        };
        let mut times = SchedTimes::default();
        for text in tasks
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        {
            let mut fields = text
                .split_whitespace()
                .map(|f| f.parse::<u64>().unwrap_or(0));
            times.on_cpu += fields.next().unwrap_or(0);
            times.waiting += fields.next().unwrap_or(0);
        }
        times
    }

    fn since(self, before: SchedTimes) -> SchedTimes {
        SchedTimes {
            on_cpu: self.on_cpu.saturating_sub(before.on_cpu),
            waiting: self.waiting.saturating_sub(before.waiting),
        }
    }
}

// ---- the load ----

/// What one run at one rate gave.
#[derive(Clone)]
struct Run {
    /// Deliveries over those expected (1.0: every message to every subscriber).
    delivered: f64,
    /// Messages that arrived out of order or twice, over all subscribers.
    disorder: u64,
    p50_ms: f64,
    p99_ms: f64,
    /// p99 of the subscribers of each instance (the publisher's first).
    p99_ms_per_instance: Vec<f64>,
    /// CPU per delivered message, each instance (µs).
    cpu_us_per_delivery: Vec<f64>,
    /// Time each instance was runnable but waited for a CPU, per second of
    /// the run (ms/s).
    cpu_wait_ms_per_s: Vec<f64>,
    /// Redis's CPU per published message (µs), through Redis only.
    redis_cpu_us_per_message: Option<f64>,
}

impl Run {
    /// `RESULT key=value ...`, one line per run, for a driver.
    fn result_line(&self, round: usize, rate: f64, placement: Placement, setup: &str) -> String {
        let list = |values: &[f64]| {
            values
                .iter()
                .map(|v| format!("{v:.3}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        format!(
            "RESULT round={round} rate={rate} placement={} instances={} delivered={:.4} \
             disorder={} p50_ms={:.3} p99_ms={:.3} p99_ms_per_instance={} \
             cpu_us_per_delivery={} cpu_wait_ms_per_s={} redis_cpu_us_per_msg={}",
            placement.name(),
            if setup == ALONE { 1 } else { 2 },
            self.delivered,
            self.disorder,
            self.p50_ms,
            self.p99_ms,
            list(&self.p99_ms_per_instance),
            list(&self.cpu_us_per_delivery),
            list(&self.cpu_wait_ms_per_s),
            self.redis_cpu_us_per_message
                .map_or("-".into(), |v| format!("{v:.3}")),
        )
    }
}

type Publisher =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn publisher(port: u16) -> Publisher {
    let (client, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/chat"))
        .await
        .expect("the publisher connects");
    client
}

/// A subscriber that only reads: the handshake by hand, then the server's
/// (unmasked) frames parsed in place, so that the generator spends as
/// little as it can per delivery (it reads 1 000 sockets on one thread).
struct Subscriber {
    stream: tokio::net::TcpStream,
    buffer: Vec<u8>,
    start: usize,
}

impl Subscriber {
    async fn connect(port: u16) -> Subscriber {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("a subscriber connects");
        stream
            .write_all(
                b"GET /chat HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                  Sec-WebSocket-Version: 13\r\n\r\n",
            )
            .await
            .expect("handshake sent");
        let mut buffer = Vec::with_capacity(64 * 1024);
        let head_end = loop {
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 1024];
            let n = stream.read(&mut chunk).await.expect("handshake answer");
            assert!(n > 0, "the server closed during the handshake");
            buffer.extend_from_slice(&chunk[..n]);
        };
        assert!(buffer.starts_with(b"HTTP/1.1 101"), "no 101");
        Subscriber {
            stream,
            buffer,
            start: head_end,
        }
    }

    /// The next text message's payload, `None` at the end of the stream.
    async fn next_text(&mut self) -> Option<String> {
        use tokio::io::AsyncReadExt;
        loop {
            if let Some((opcode, payload, used)) = frame(&self.buffer[self.start..]) {
                self.start += used;
                if opcode == 0x1 {
                    return Some(String::from_utf8_lossy(payload).into_owned());
                }
                continue;
            }
            self.buffer.drain(..self.start);
            self.start = 0;
            let len = self.buffer.len();
            self.buffer.resize(len.max(32 * 1024) + 32 * 1024, 0);
            let n = self.stream.read(&mut self.buffer[len..]).await.ok()?;
            self.buffer.truncate(len + n);
            if n == 0 {
                return None;
            }
        }
    }
}

/// One whole unmasked frame at the start of `bytes`: opcode, payload, size.
fn frame(bytes: &[u8]) -> Option<(u8, &[u8], usize)> {
    let (&first, rest) = bytes.split_first()?;
    let (&second, rest) = rest.split_first()?;
    let (len, head) = match second & 0x7f {
        126 => (
            u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(rest.get(..8)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let payload = bytes.get(head..head + len)?;
    Some((first & 0x0f, payload, head + len))
}

/// What a subscriber saw.
#[derive(Default)]
struct Seen {
    received: u64,
    disorder: u64,
    latencies_us: Vec<u64>,
}

/// Publishes `rate` messages a second for `seconds` to `ports[0]`, with
/// the subscribers spread evenly over `ports`; `pids` are the instances
/// (same order) and `redis_pid` the Redis in between, if any.
async fn measure(
    ports: &[u16],
    pids: &[u32],
    redis_pid: Option<u32>,
    subscribers: usize,
    rate: f64,
    seconds: f64,
) -> Run {
    let epoch = Instant::now();
    let seen: Vec<Arc<Mutex<Seen>>> = (0..subscribers).map(|_| Arc::default()).collect();
    let warmed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (i, seen) in seen.iter().enumerate() {
        let mut subscriber = Subscriber::connect(ports[i % ports.len()]).await;
        let (seen, warmed) = (seen.clone(), warmed.clone());
        tasks.push(tokio::task::spawn_local(async move {
            let mut warm = false;
            let mut last = None;
            while let Some(text) = subscriber.next_text().await {
                // "warm" until every subscriber had one, then "pub SEQ SENT_NANOS",
                // then "end".
                let mut fields = text.split(' ');
                match fields.next() {
                    Some("warm") if !warm => {
                        warm = true;
                        warmed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Some("pub") => {
                        let seq: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                        let sent: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                        let latency = (epoch.elapsed().as_nanos() as u64).saturating_sub(sent);
                        let mut seen = seen.lock().unwrap();
                        if last.is_some_and(|last| seq != last + 1) {
                            seen.disorder += 1;
                        }
                        last = Some(seq);
                        seen.received += 1;
                        seen.latencies_us.push(latency / 1000);
                    }
                    Some("end") => break,
                    _ => {}
                }
            }
        }));
    }
    let mut publisher = publisher(ports[0]).await;
    // Until every subscriber is reached (on both instances: the hubs have
    // subscribed in Redis).
    let deadline = Instant::now() + Duration::from_secs(30);
    while warmed.load(std::sync::atomic::Ordering::Relaxed) < subscribers {
        assert!(
            Instant::now() < deadline,
            "the subscribers were not reached"
        );
        publisher
            .send(tungstenite::Message::text("warm"))
            .await
            .expect("publish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let sched_before: Vec<SchedTimes> = pids.iter().map(|&pid| SchedTimes::of(pid)).collect();
    let redis_before = redis_pid.map(SchedTimes::of);
    let total = (rate * seconds).round() as u64;
    let started = Instant::now();
    for seq in 0..total {
        let due = started + Duration::from_secs_f64(seq as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let text = format!("pub {seq} {}", epoch.elapsed().as_nanos());
        publisher
            .send(tungstenite::Message::text(text))
            .await
            .expect("publish");
    }
    // Until everything arrived, or a second of silence.
    let expected = total * subscribers as u64;
    let received = || seen.iter().map(|s| s.lock().unwrap().received).sum::<u64>();
    let mut last_count = 0;
    let mut quiet_since = Instant::now();
    while received() < expected && quiet_since.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if received() != last_count {
            last_count = received();
            quiet_since = Instant::now();
        }
    }
    let sched: Vec<SchedTimes> = pids
        .iter()
        .zip(&sched_before)
        .map(|(&pid, &before)| SchedTimes::of(pid).since(before))
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    let redis_cpu = redis_pid
        .zip(redis_before)
        .map(|(pid, before)| SchedTimes::of(pid).since(before).on_cpu);
    publisher
        .send(tungstenite::Message::text("end"))
        .await
        .expect("publish");
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }

    let mut all = Vec::new();
    let mut per_instance = vec![Vec::new(); ports.len()];
    let mut deliveries = vec![0u64; ports.len()];
    let mut disorder = 0;
    for (i, seen) in seen.iter().enumerate() {
        let seen = seen.lock().unwrap();
        all.extend_from_slice(&seen.latencies_us);
        per_instance[i % ports.len()].extend_from_slice(&seen.latencies_us);
        deliveries[i % ports.len()] += seen.received;
        disorder += seen.disorder;
    }
    all.sort_unstable();
    per_instance.iter_mut().for_each(|l| l.sort_unstable());
    Run {
        delivered: all.len() as f64 / expected as f64,
        disorder,
        p50_ms: percentile(&all, 0.50) / 1000.0,
        p99_ms: percentile(&all, 0.99) / 1000.0,
        p99_ms_per_instance: per_instance
            .iter()
            .map(|l| percentile(l, 0.99) / 1000.0)
            .collect(),
        cpu_us_per_delivery: sched
            .iter()
            .zip(&deliveries)
            .map(|(times, &n)| times.on_cpu as f64 / 1000.0 / n.max(1) as f64)
            .collect(),
        cpu_wait_ms_per_s: sched
            .iter()
            .map(|times| times.waiting as f64 / 1e6 / elapsed)
            .collect(),
        redis_cpu_us_per_message: redis_cpu.map(|nanos| nanos as f64 / 1000.0 / total as f64),
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64
}

// ---- the driver ----

const ALONE: &str = "one instance";
const THROUGH_REDIS: &str = "two instances + Redis";

fn run(options: &Options) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let local = tokio::task::LocalSet::new();
    let mut results: BTreeMap<(Placement, u64, &str), Vec<Run>> = BTreeMap::new();
    for round in 1..=options.rounds {
        for &placement in &options.placements {
            run_load_on(placement, &options.cpus);
            for &rate in &options.rates {
                for setup in [ALONE, THROUGH_REDIS] {
                    let run = local.block_on(&runtime, one_setup(setup, placement, options, rate));
                    println!("{}", run.result_line(round, rate, placement, setup));
                    results
                        .entry((placement, rate as u64, setup))
                        .or_default()
                        .push(run);
                }
            }
        }
    }
    println!(
        "\n{} subscribers, {} s per run, {} rounds; median [min-max]",
        options.subscribers, options.seconds, options.rounds
    );
    println!(
        "| placement | rate/s | setup | delivered | p50 ms | p99 ms | p99 ms per instance | \
         CPU µs/delivery per instance | waited for a CPU, ms/s per instance | Redis CPU µs/msg |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for ((placement, rate, setup), runs) in &results {
        let spread = |values: Vec<f64>| median_spread(values, 3);
        let per_instance = |pick: &dyn Fn(&Run) -> &Vec<f64>| {
            (0..pick(&runs[0]).len())
                .map(|i| spread(runs.iter().map(|r| pick(r)[i]).collect()))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        let disorder: u64 = runs.iter().map(|r| r.disorder).sum();
        println!(
            "| {} | {rate} | {setup} | {}{} | {} | {} | {} | {} | {} | {} |",
            placement.name(),
            spread(runs.iter().map(|r| r.delivered).collect()),
            if disorder > 0 {
                format!(" ({disorder} out of order)")
            } else {
                String::new()
            },
            spread(runs.iter().map(|r| r.p50_ms).collect()),
            spread(runs.iter().map(|r| r.p99_ms).collect()),
            per_instance(&|r| &r.p99_ms_per_instance),
            per_instance(&|r| &r.cpu_us_per_delivery),
            per_instance(&|r| &r.cpu_wait_ms_per_s),
            runs[0]
                .redis_cpu_us_per_message
                .map_or("-".into(), |_| spread(
                    runs.iter()
                        .filter_map(|r| r.redis_cpu_us_per_message)
                        .collect()
                )),
        );
    }
}

/// Moves this process (the load, on its one thread) to the first of
/// `cpus` when pinned, or back to all of them.
fn run_load_on(placement: Placement, cpus: &[usize]) {
    let allowed: &[usize] = match placement {
        Placement::Pinned => &cpus[..1],
        Placement::Shared => cpus,
    };
    // SAFETY: a cpu_set_t built on the stack, for the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for &cpu in allowed {
            libc::CPU_SET(cpu, &mut set);
        }
        assert_eq!(
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set),
            0,
            "sched_setaffinity: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Starts the processes of one setup, measures one rate, stops them.
async fn one_setup(setup: &str, placement: Placement, options: &Options, rate: f64) -> Run {
    let cpu = placement.server_cpu(&options.cpus);
    if setup == ALONE {
        let (server, port) = instance(None, cpu);
        return measure(
            &[port],
            &[server.pid()],
            None,
            options.subscribers,
            rate,
            options.seconds,
        )
        .await;
    }
    let (redis, url) = redis(cpu);
    let (a, port_a) = instance(Some(&url), cpu);
    let (b, port_b) = instance(Some(&url), cpu);
    measure(
        &[port_a, port_b],
        &[a.pid(), b.pid()],
        Some(redis.pid()),
        options.subscribers,
        rate,
        options.seconds,
    )
    .await
}

/// `median [min-max]` with `digits` decimals.
fn median_spread(mut values: Vec<f64>, digits: usize) -> String {
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    if values.len() == 1 {
        return format!("{median:.digits$}");
    }
    format!(
        "{median:.digits$} [{:.digits$}-{:.digits$}]",
        values[0],
        values[values.len() - 1]
    )
}
