//! Idle WebSockets: opens many connections that then say nothing, reads
//! the server's resident memory before and after, and checks that the
//! server still answers one busy connection promptly while holding them.
//! Every connection that fails to open is counted (`failed_connections`).

use std::io::Write;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use benches::process_stats::rss_bytes;
use benches::report_line::Report;
use benches::stats::latency_percentiles_ms;
use clap::Args;

use crate::client::Ws;
use crate::Target;

#[derive(Args, Debug)]
pub struct IdleArgs {
    #[command(flatten)]
    target: Target,
    /// The WebSocket path (an echo).
    #[arg(long, default_value = "/echo")]
    path: String,
    /// Idle connections to open.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// How long to keep them open after measuring. Before this wait the
    /// generator prints `HELD n` on stdout, for whoever wants to look at
    /// the server meanwhile.
    #[arg(long, default_value_t = 0.0)]
    hold_seconds: f64,
}

pub async fn run(args: &IdleArgs) -> Report {
    let mut report = Report::default();
    let Some(pid) = args.target.pid else {
        report.number("errors", 1.0).text("why", "idle needs --pid");
        return report;
    };
    let addr = args.target.addr();
    // Spread the client ends over source addresses: one address has only
    // about 28 000 ephemeral ports.
    let sources: Vec<Ipv4Addr> = (2..=9).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect();
    let mut probe = match Ws::connect(addr, None, &args.path, None).await {
        Ok(probe) => probe,
        Err(e) => {
            eprintln!("loadgen: the probe connection failed: {e}");
            report
                .number("errors", 1.0)
                .text("why", "probe connection failed");
            return report;
        }
    };
    let mut probe_errors = 0u64;
    // Warm up the server's paths (and its coroutine pool) before measuring.
    for _ in 0..100 {
        if round_trip(&mut probe, b"warm up").await.is_err() {
            probe_errors += 1;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_bytes(pid).unwrap_or(0);
    let mut held = Vec::with_capacity(args.connections);
    let mut failed = 0u64;
    let started = Instant::now();
    for i in 0..args.connections {
        let source = sources[i % sources.len()];
        match Ws::connect(addr, Some(source), &args.path, None).await {
            Ok(ws) => held.push(ws),
            Err(e) => {
                if failed < 5 {
                    eprintln!("loadgen: idle connection {i} failed: {e}");
                }
                failed += 1;
            }
        }
    }
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_bytes(pid).unwrap_or(0);
    // Is the server still prompt with all of them held?
    let mut latencies = Vec::new();
    for _ in 0..2000 {
        let t = Instant::now();
        match round_trip(&mut probe, b"still there?").await {
            Ok(()) => latencies.push(t.elapsed().as_nanos() as u64),
            Err(_) => probe_errors += 1,
        }
    }
    let [p50, p99, _] = latency_percentiles_ms(&mut latencies);
    if args.hold_seconds > 0.0 {
        println!("HELD {}", held.len());
        let _ = std::io::stdout().flush();
        tokio::time::sleep(Duration::from_secs_f64(args.hold_seconds)).await;
    }
    report
        .number("connections", held.len() as f64)
        .number("failed_connections", failed as f64)
        .number("errors", (failed + probe_errors) as f64)
        .number("probe_errors", probe_errors as f64)
        .number(
            "rss_per_conn_kib",
            (after as f64 - before as f64) / held.len().max(1) as f64 / 1024.0,
        )
        .number("rss_before_mib", before as f64 / 1048576.0)
        .number("rss_after_mib", after as f64 / 1048576.0)
        .number("connect_secs", connect_secs)
        .number("echo_p50_ms", p50)
        .number("echo_p99_ms", p99);
    report
}

/// Sends `message` and waits (at most 5 s) for its echo.
async fn round_trip(probe: &mut Ws, message: &[u8]) -> std::io::Result<()> {
    probe.send(0x2, message).await?;
    let frame = tokio::time::timeout(Duration::from_secs(5), probe.recv())
        .await
        .map_err(|_| std::io::Error::other("no echo within 5 s"))??;
    if frame.payload != message {
        return Err(std::io::Error::other("a wrong echo"));
    }
    Ok(())
}
