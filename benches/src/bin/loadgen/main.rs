//! The load generator: WebSocket echo (closed and open loop), HTTP open
//! loop, fan-out and idle connections, on one tokio thread (plus a pacing
//! thread for the open loop), with a minimal client of its own so that
//! every byte that comes back is checked.
//!
//! ```text
//! loadgen echo   --port P [--connections 64] [--size 64] [--seconds 5] [--pid PID] [--ca CERT.pem]
//! loadgen open   --port P --protocol ws|http --rates R1,R2,... [--connections 64] [--seconds 5] [--pid PID]
//! loadgen fanout --port P [--subscribers 1000] [--start-rate 100] [--factor 1.5] [--step-seconds 2] [--pid PID]
//! loadgen idle   --port P --pid PID [--connections 10000] [--hold-seconds 0]
//! ```
//!
//! Each mode ends with one line `RESULT key=value ...` on stdout for the
//! driver (see `benches::report_line`); progress goes to stderr. Every run
//! reports `errors`: failed connections, lost, mismatched or unexpected
//! replies. `--pid` names the server process, whose CPU time or memory is
//! read from /proc.

mod client;
mod echo;
mod fanout;
mod idle;
mod open_loop;

use std::net::SocketAddr;
use std::time::Instant;

use benches::report_line::Report;
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Load generator for the greenws benchmarks (see benches/run.sh)")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Closed-loop WebSocket echo: each connection sends a message, waits
    /// for it to come back, checks it, sends the next.
    Echo(echo::EchoArgs),
    /// Open-loop latency: sends on a fixed schedule at each rate in turn,
    /// latency measured from the scheduled send time.
    Open(open_loop::OpenArgs),
    /// Fan-out: one publisher, many subscribers on `/chat`; steps the
    /// publish rate up to the highest one fully delivered in time.
    Fanout(fanout::FanoutArgs),
    /// Idle WebSockets: opens many, reads the server's memory, checks the
    /// server still answers promptly.
    Idle(idle::IdleArgs),
}

/// The server under load.
#[derive(Args, Debug, Clone)]
pub struct Target {
    /// The server's port on 127.0.0.1.
    #[arg(long)]
    port: u16,
    /// The server's process id, to read its CPU time or memory.
    #[arg(long)]
    pid: Option<u32>,
}

impl Target {
    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The server's CPU time so far, if its pid was given.
    pub fn cpu_nanos(&self) -> Option<u64> {
        benches::process_stats::cpu_nanos(self.pid?).ok()
    }
}

/// Measures the server's and the generator's own CPU time over a span.
pub struct CpuMeter {
    server: Option<u64>,
    own: u64,
    started: Instant,
}

impl CpuMeter {
    /// Starts measuring.
    pub fn start(target: &Target) -> CpuMeter {
        CpuMeter {
            server: target.cpu_nanos(),
            own: own_cpu_nanos(),
            started: Instant::now(),
        }
    }

    /// Server CPU microseconds per unit of work done since the start (NaN
    /// without a pid or without work).
    pub fn server_us_per(&self, target: &Target, units: u64) -> f64 {
        match (self.server, target.cpu_nanos()) {
            (Some(a), Some(b)) if units > 0 => (b.saturating_sub(a)) as f64 / 1000.0 / units as f64,
            _ => f64::NAN,
        }
    }

    /// The share of one CPU the generator used since the start.
    pub fn own_share(&self) -> f64 {
        let wall = self.started.elapsed().as_nanos().max(1) as f64;
        own_cpu_nanos().saturating_sub(self.own) as f64 / wall
    }
}

/// CPU time of this process, threads that already ended included.
fn own_cpu_nanos() -> u64 {
    // Safety: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let nanos = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    nanos(usage.ru_utime) + nanos(usage.ru_stime)
}

fn main() {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let local = tokio::task::LocalSet::new();
    let report: Report = local.block_on(&rt, async {
        match cli.mode {
            Mode::Echo(args) => echo::run(&args).await,
            Mode::Open(args) => open_loop::run(&args).await,
            Mode::Fanout(args) => fanout::run(&args).await,
            Mode::Idle(args) => idle::run(&args).await,
        }
    });
    println!("{report}");
}
