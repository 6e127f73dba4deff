//! What every runnable of the project shares: `--host`/`--port` flags,
//! logging, and the first line on stdout.

use std::io::Write;
use std::net::SocketAddr;

/// Where to listen, and the TLS files for https:// and wss://.
#[derive(clap::Args, Debug, Clone)]
pub struct Listen {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Certificate chain (PEM) to serve HTTPS and wss:// (needs --key).
    #[arg(long, requires = "key")]
    pub cert: Option<std::path::PathBuf>,
    /// Private key (PEM) of the certificate (needs --cert).
    #[arg(long, requires = "cert")]
    pub key: Option<std::path::PathBuf>,
}

impl Listen {
    /// Binds the listening socket, with TLS when --cert and --key are given.
    pub fn bind(&self) -> greenws::Result<greenws::WsgiServer> {
        let server = greenws::WsgiServer::bind((self.host.as_str(), self.port))?;
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => server.tls(cert, key),
            _ => Ok(server),
        }
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.cert.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// Logs to stderr without ever blocking a worker (see
/// [`greenws::logging`]): greenws at `info` (the access log), the rest at
/// `warn`, unless `RUST_LOG` says otherwise. Keep the guard until `main`
/// ends.
pub fn init_logging() -> greenws::logging::LogGuard {
    greenws::logging::init("warn,greenws=info").expect("the only logger of this program")
}

/// Prints `Serving on http://HOST:PORT` (or https) as the first line on
/// stdout.
pub fn announce(scheme: &str, addr: SocketAddr) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "Serving on {scheme}://{addr}");
    let _ = stdout.flush();
}
