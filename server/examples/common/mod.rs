//! What every runnable of the project shares: `--host`/`--port` flags,
//! logging, and the first line on stdout.

use std::io::Write;
use std::net::SocketAddr;

/// Where to listen.
#[derive(clap::Args, Debug, Clone)]
pub struct Listen {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
}

/// Logs to stderr: greenws at `info` (the access log), the rest at `warn`,
/// unless `RUST_LOG` says otherwise.
pub fn init_logging() {
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("warn,greenws=info"),
    )
    .init();
}

/// Prints `Serving on http://HOST:PORT` as the first line on stdout.
pub fn announce(addr: SocketAddr) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "Serving on http://{addr}");
    let _ = stdout.flush();
}
