//! A load generator written as plain blocking code on the greenws client:
//! one greenlet per connection, each a loop of `send` and `receive`.
//!
//! ```text
//! cargo run --release --example echo -- --port 9001 &
//! # N connections echoing in a closed loop for S seconds (as benches' loadgen echo):
//! cargo run --release --example client_loadgen -- echo --url ws://127.0.0.1:9001/echo \
//!     --connections 64 --size 64 --seconds 5 [--pid SERVER_PID]
//! # N connections at once, each sending and checking M messages, then held
//! # open while the process's resident memory is measured:
//! cargo run --release --example client_loadgen -- connections --url ws://127.0.0.1:9001/echo \
//!     --connections 10000 --messages 10
//! ```
//!
//! Each mode prints one line `RESULT key=value ...`, and exits non-zero if
//! a message was lost or wrong or a connection failed.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use greenws::{ClientBuilder, CloseCode, Message, WebSocket};

#[derive(Parser)]
#[command(about = "Load generator on the greenws client: a greenlet per connection")]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Connections echoing binary messages in a closed loop (send, wait
    /// for the echo, check it) for a while: messages per second, latency,
    /// CPU per message.
    Echo {
        /// The echo server's URL.
        #[arg(long)]
        url: String,
        /// Connections (one greenlet each).
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Bytes per message (at least 16).
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// How long to run.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// The server's process id, to report its CPU time per message.
        #[arg(long)]
        pid: Option<u32>,
    },
    /// Many connections at once: each greenlet connects, sends and checks
    /// its messages, then waits in `receive` (an idle client) until all
    /// have; the process's resident memory is then read, and every
    /// connection closed.
    Connections {
        /// The echo server's URL.
        #[arg(long)]
        url: String,
        /// Connections (one greenlet each).
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// Messages each connection sends and checks.
        #[arg(long, default_value_t = 10)]
        messages: usize,
        /// Connection attempts in progress at once.
        #[arg(long, default_value_t = 500)]
        concurrent_connects: usize,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _logging = greenws::logging::init("warn").expect("the first logger of the process");
    // Each connection is a socket: allow as many as the system lets us.
    raise_open_file_limit();
    let passed = match args.mode {
        Mode::Echo {
            url,
            connections,
            size,
            seconds,
            pid,
        } => echo(&url, connections, size.max(16), seconds, pid),
        Mode::Connections {
            url,
            connections,
            messages,
            concurrent_connects,
        } => many_connections(&url, connections, messages, concurrent_connects.max(1)),
    };
    match passed {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    }
}

/// What one connection's loop counted.
#[derive(Default)]
struct Tally {
    sent: u64,
    received: u64,
    wrong: u64,
    latencies_us: Vec<u64>,
    error: Option<String>,
}

fn echo(url: &str, connections: usize, size: usize, seconds: f64, pid: Option<u32>) -> bool {
    let client = ClientBuilder::new(url);
    let sockets: Vec<WebSocket> = match (0..connections).map(|_| client.connect()).collect() {
        Ok(sockets) => sockets,
        Err(e) => {
            eprintln!("client_loadgen: {e}");
            return false;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let epoch = Instant::now();
    let (server_before, own_before) = (pid.and_then(cpu_nanos), cpu_nanos(std::process::id()));
    let started = Instant::now();
    let loops: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(c, ws)| {
            let stop = stop.clone();
            green::spawn(move || echo_loop(c as u64, &ws, size, epoch, &stop))
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    let tallies: Vec<Tally> = loops
        .into_iter()
        .map(|l| l.join().expect("an echo loop"))
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    let (server_after, own_after) = (pid.and_then(cpu_nanos), cpu_nanos(std::process::id()));

    let mut all = Tally::default();
    for tally in tallies {
        all.sent += tally.sent;
        all.received += tally.received;
        all.wrong += tally.wrong;
        all.latencies_us.extend(tally.latencies_us);
        if let Some(e) = tally.error {
            all.error.get_or_insert(e);
        }
    }
    all.latencies_us.sort_unstable();
    let per_message = |before: Option<u64>, after: Option<u64>| match (before, after) {
        (Some(b), Some(a)) if all.received > 0 => (a - b) as f64 / 1000.0 / all.received as f64,
        _ => f64::NAN,
    };
    println!(
        "RESULT msgs_per_sec={:.0} p50_ms={:.3} p99_ms={:.3} lost={} mismatched={} \
         server_cpu_us_per_msg={:.2} client_cpu_us_per_msg={:.2}",
        all.received as f64 / elapsed,
        percentile(&all.latencies_us, 0.50) / 1000.0,
        percentile(&all.latencies_us, 0.99) / 1000.0,
        all.sent - all.received,
        all.wrong,
        per_message(server_before, server_after),
        per_message(own_before, own_after),
    );
    if let Some(e) = &all.error {
        eprintln!("client_loadgen: {e}");
    }
    all.sent == all.received && all.wrong == 0 && all.error.is_none()
}

/// One connection's closed loop: send, wait for the echo, check it.
fn echo_loop(c: u64, ws: &WebSocket, size: usize, epoch: Instant, stop: &AtomicBool) -> Tally {
    let mut tally = Tally::default();
    let mut payload = vec![b'x'; size];
    while !stop.load(Ordering::Relaxed) {
        payload[..8].copy_from_slice(&(c << 40 | tally.sent).to_le_bytes());
        payload[8..16].copy_from_slice(&(epoch.elapsed().as_nanos() as u64).to_le_bytes());
        if let Err(e) = ws.send(&payload[..]) {
            tally.error = Some(e.to_string());
            break;
        }
        tally.sent += 1;
        match ws.receive() {
            Ok(Some(Message::Binary(back))) => {
                tally.received += 1;
                if back != payload {
                    tally.wrong += 1;
                }
                let sent_at = u64::from_le_bytes(back[8..16].try_into().unwrap_or([0; 8]));
                let now = epoch.elapsed().as_nanos() as u64;
                tally.latencies_us.push(now.saturating_sub(sent_at) / 1000);
            }
            Ok(other) => {
                tally.wrong += 1;
                tally.error = Some(format!("expected the echo, got {other:?}"));
                break;
            }
            Err(e) => {
                tally.error = Some(e.to_string());
                break;
            }
        }
    }
    let _ = ws.close(CloseCode::NORMAL, "");
    tally
}

fn many_connections(url: &str, connections: usize, messages: usize, concurrent: usize) -> bool {
    let client = ClientBuilder::new(url).connect_timeout(Duration::from_secs(60));
    // The runtime's own memory first (its worker threads and pollers).
    green::spawn(|| ()).join().expect("the runtime starts");
    let rss_before = resident_kib();
    let connecting = green::Semaphore::new(concurrent);
    let open = green::Queue::unbounded();
    let all_checked = Arc::new(green::Event::new());
    let checked = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let greenlets: Vec<_> = (0..connections)
        .map(|c| {
            let (client, connecting, open) = (client.clone(), connecting.clone(), open.clone());
            let (all_checked, checked) = (all_checked.clone(), checked.clone());
            green::spawn(move || -> Result<(), String> {
                let outcome = connect_and_check(&client, &connecting, c, messages);
                if let Ok(ws) = &outcome {
                    open.put(ws.clone());
                }
                if checked.fetch_add(1, Ordering::SeqCst) + 1 == connections {
                    all_checked.set();
                }
                // Then idle, as a client waiting for news: until the close.
                match outcome?.receive() {
                    Ok(None) => Ok(()),
                    other => Err(format!("connection {c}: expected the close, got {other:?}")),
                }
            })
        })
        .collect();
    all_checked.wait();
    let checked_in = started.elapsed();
    // Let every greenlet reach its wait in `receive`.
    std::thread::sleep(Duration::from_secs(1));
    let rss_open = resident_kib();
    while let Some(ws) = open.try_get() {
        let _ = ws.close(CloseCode::NORMAL, "");
    }
    let failures: Vec<String> = greenlets
        .into_iter()
        .filter_map(|g| match g.join() {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(e) => Some(format!("a greenlet failed: {e}")),
        })
        .collect();
    let per_connection = rss_open.saturating_sub(rss_before) as f64 / connections as f64;
    println!(
        "RESULT connections={connections} messages_each={messages} failed={} \
         seconds_to_check_all={:.2} rss_before_kib={rss_before} rss_open_kib={rss_open} \
         rss_per_connection_kib={per_connection:.1}",
        failures.len(),
        checked_in.as_secs_f64(),
    );
    for failure in failures.iter().take(5) {
        eprintln!("client_loadgen: {failure}");
    }
    failures.is_empty()
}

/// Connects (with at most `connecting`'s permits in progress at once),
/// then sends and checks `messages` messages.
fn connect_and_check(
    client: &ClientBuilder,
    connecting: &green::Semaphore,
    c: usize,
    messages: usize,
) -> Result<WebSocket, String> {
    let ws = {
        let _permit = connecting.acquire();
        client
            .connect()
            .map_err(|e| format!("connection {c}: {e}"))?
    };
    for m in 0..messages {
        let message = Message::from(format!("connection {c} message {m}"));
        ws.send(&message)
            .map_err(|e| format!("connection {c}: send: {e}"))?;
        match ws.receive() {
            Ok(Some(back)) if back == message => {}
            other => {
                return Err(format!(
                    "connection {c}: expected {message:?}, got {other:?}"
                ))
            }
        }
    }
    Ok(ws)
}

/// The value at fraction `p` of sorted values (0 when there are none).
fn percentile(sorted: &[u64], p: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n => sorted[((n - 1) as f64 * p).round() as usize] as f64,
    }
}

/// User plus system CPU time of process `pid`, in nanoseconds.
fn cpu_nanos(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Safety: sysconf only reads a system setting.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(ticks * 1_000_000_000 / per_second)
}

/// This process's resident memory (VmRSS), in KiB.
fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Raises the soft limit on open files to the hard limit.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // Safety: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
