//! Closed-loop WebSocket echo: every connection sends one message, waits
//! for it to come back, checks it byte for byte, and sends the next.
//! Throughput is what the server and the generator manage together; the
//! latency of a closed loop understates stalls (a stalled connection sends
//! nothing), which is why the open loop exists too.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

use benches::report_line::Report;
use benches::stats::latency_percentiles_ms;
use clap::Args;

use crate::client::{tls_connector, Ws};
use crate::{CpuMeter, Target};

/// How long connections get to finish their last round trip after the run.
const GRACE: Duration = Duration::from_secs(5);

#[derive(Args, Debug)]
pub struct EchoArgs {
    #[command(flatten)]
    target: Target,
    /// The WebSocket path.
    #[arg(long, default_value = "/echo")]
    path: String,
    /// Connections, each with one message in flight.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Message size in bytes (at least 16: a sequence number and a time).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// How long to run.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// A CA certificate (PEM) to trust: connect with TLS (wss://).
    #[arg(long)]
    ca: Option<String>,
}

/// One connection's counts, shared with the driver of the run so that a
/// connection that never finishes still has its counts read.
#[derive(Default)]
struct Tally {
    sent: u64,
    received: u64,
    mismatched: u64,
    latencies_ns: Vec<u64>,
}

pub async fn run(args: &EchoArgs) -> Report {
    let addr = args.target.addr();
    let tls = args
        .ca
        .as_deref()
        .map(|ca| tls_connector(ca).expect("a usable CA certificate"));
    let mut connections = Vec::new();
    let mut failed = 0u64;
    let mut negotiated = BTreeSet::new();
    for i in 0..args.connections {
        match Ws::connect(addr, None, &args.path, tls.as_ref()).await {
            Ok(ws) => {
                negotiated.extend(ws.tls.clone());
                connections.push(ws);
            }
            Err(e) => {
                eprintln!("loadgen: connection {i} failed: {e}");
                failed += 1;
            }
        }
    }
    let epoch = Instant::now();
    let stop = Rc::new(std::cell::Cell::new(false));
    let tallies: Vec<Rc<RefCell<Tally>>> = connections
        .iter()
        .map(|_| Rc::new(RefCell::new(Tally::default())))
        .collect();
    let meter = CpuMeter::start(&args.target);
    let started = Instant::now();
    let tasks: Vec<_> = connections
        .into_iter()
        .zip(&tallies)
        .enumerate()
        .map(|(c, (ws, tally))| {
            tokio::task::spawn_local(echo_loop(
                c as u64,
                ws,
                args.size.max(16),
                epoch,
                stop.clone(),
                tally.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await;
    stop.set(true);
    let elapsed = started.elapsed().as_secs_f64();
    // A round trip in flight at the stop still counts; one that never
    // comes back is lost.
    let deadline = tokio::time::Instant::now() + GRACE;
    for task in tasks {
        let abort = task.abort_handle();
        if tokio::time::timeout_at(deadline, task).await.is_err() {
            abort.abort();
        }
    }
    let mut total = Tally::default();
    for tally in &tallies {
        let tally = tally.borrow();
        total.sent += tally.sent;
        total.received += tally.received;
        total.mismatched += tally.mismatched;
        total.latencies_ns.extend(&tally.latencies_ns);
    }
    let [p50, p99, p999] = latency_percentiles_ms(&mut total.latencies_ns);
    let lost = total.sent - total.received;
    let mut report = Report::default();
    report
        .number("msgs_per_sec", total.received as f64 / elapsed)
        .number("p50_ms", p50)
        .number("p99_ms", p99)
        .number("p999_ms", p999)
        .number("sent", total.sent as f64)
        .number("lost", lost as f64)
        .number("mismatched", total.mismatched as f64)
        .number("failed_connections", failed as f64)
        .number("errors", (lost + total.mismatched + failed) as f64)
        .number(
            "cpu_us_per_msg",
            meter.server_us_per(&args.target, total.received),
        )
        .number("loadgen_cpu", meter.own_share());
    if !negotiated.is_empty() {
        let all: Vec<String> = negotiated.into_iter().collect();
        report.text("tls", &all.join("+"));
    }
    report
}

/// One connection's closed loop: send, wait for the echo, check it.
async fn echo_loop(
    connection: u64,
    mut ws: Ws,
    size: usize,
    epoch: Instant,
    stop: Rc<std::cell::Cell<bool>>,
    tally: Rc<RefCell<Tally>>,
) {
    let mut payload = vec![b'x'; size];
    let mut seq = 0u64;
    while !stop.get() {
        let sent_at = epoch.elapsed().as_nanos() as u64;
        payload[..8].copy_from_slice(&(connection << 40 | seq).to_le_bytes());
        payload[8..16].copy_from_slice(&sent_at.to_le_bytes());
        seq += 1;
        if ws.send(0x2, &payload).await.is_err() {
            break;
        }
        tally.borrow_mut().sent += 1;
        let Ok(frame) = ws.recv().await else { break };
        let now = epoch.elapsed().as_nanos() as u64;
        let mut tally = tally.borrow_mut();
        tally.received += 1;
        if frame.opcode != 0x2 || frame.payload != payload.as_slice() {
            tally.mismatched += 1;
        }
        tally.latencies_ns.push(now - sent_at);
    }
}
