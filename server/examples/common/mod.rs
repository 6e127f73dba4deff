//! What every runnable of the project shares: `--host`/`--port` (or
//! `--unix`) flags, `--workers`, logging, the first line on stdout, and the graceful
//! stop on SIGINT and SIGTERM.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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
    /// Listen on a Unix domain socket at this path instead of --host/--port
    /// (a stale socket file is replaced, any other file is an error; the
    /// file is removed at exit; its mode follows the umask). Try it with
    /// `curl --unix-socket PATH http://localhost/`.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["host", "port"])]
    pub unix: Option<std::path::PathBuf>,
}

impl Listen {
    /// Binds the listening socket (--unix, or --host and --port), with TLS
    /// when --cert and --key are given.
    pub fn bind(&self) -> greenws::Result<greenws::WsgiServer> {
        let server = match &self.unix {
            Some(path) => greenws::WsgiServer::bind_unix(path)?,
            None => greenws::WsgiServer::bind((self.host.as_str(), self.port))?,
        };
        self.with_tls(server)
    }

    /// Adds TLS to `server` when --cert and --key are given.
    pub fn with_tls(&self, server: greenws::WsgiServer) -> greenws::Result<greenws::WsgiServer> {
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

/// The runtime's settings on the command line.
#[derive(clap::Args, Debug, Clone)]
pub struct Runtime {
    /// Worker threads that run the greenlets, 1 to 1024 [default: one per
    /// CPU]. On a
    /// small machine whose CPUs other busy processes share, one worker can
    /// give a shorter tail (benches/RESULTS.md, "Where greenws loses").
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: Option<u16>,
}

impl Runtime {
    /// Applies the settings given; call it at the start of `main` (after
    /// [`init_logging`], which starts no greenlet), before anything starts
    /// the runtime.
    pub fn apply(&self) -> greenws::Result<()> {
        if let Some(workers) = self.workers {
            green::Config::new().workers(usize::from(workers)).apply()?;
        }
        Ok(())
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
/// stdout; on a Unix socket `Serving on unix:PATH`, then how to reach it
/// with curl.
pub fn announce(scheme: &str, addr: &greenws::ListenAddr) {
    let mut stdout = std::io::stdout().lock();
    let _ = match addr {
        greenws::ListenAddr::Tcp(addr) => writeln!(stdout, "Serving on {scheme}://{addr}"),
        greenws::ListenAddr::Unix(path) => writeln!(
            stdout,
            "Serving on unix:{}\nTry: curl --unix-socket {} {scheme}://localhost/",
            path.display(),
            path.display()
        ),
    };
    let _ = stdout.flush();
}

/// How long a signalled stop lets requests in flight finish before it
/// kills them.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The exit status after a second SIGINT or SIGTERM (128 + SIGINT, as a
/// shell reports an interrupted program).
pub const SECOND_SIGNAL_EXIT: i32 = 130;

/// Stops `handle`'s server gracefully on the first SIGINT or SIGTERM (what
/// Ctrl-C, `docker stop`, systemd and Kubernetes send): accepting ends,
/// WebSockets are closed with 1001 and requests in flight get
/// [`STOP_TIMEOUT`] to finish, after which `handle.wait()` returns. A
/// second signal exits at once with [`SECOND_SIGNAL_EXIT`].
pub fn stop_on_signals(handle: &greenws::ServerHandle) {
    let stopper = handle.stopper();
    let signalled = AtomicBool::new(false);
    let installed = ctrlc::set_handler(move || {
        if signalled.swap(true, Ordering::SeqCst) {
            // The logger may be the one thing that holds the stop up.
            let _ = writeln!(std::io::stderr(), "second signal: exiting at once");
            std::process::exit(SECOND_SIGNAL_EXIT);
        }
        log::warn!("stopping gracefully (a second SIGINT or SIGTERM exits at once)");
        stopper.stop(STOP_TIMEOUT);
    });
    if let Err(e) = installed {
        log::warn!("SIGINT and SIGTERM will not stop the server gracefully: {e}");
    }
}

/// Starts serving `app` until SIGINT or SIGTERM (see [`stop_on_signals`]),
/// and prints the first line (see [`announce`]) once the signals are
/// handled. `wait()` on the handle returns after the graceful stop.
pub fn start_until_signal(
    server: greenws::WsgiServer,
    scheme: &str,
    app: impl greenws::App,
) -> greenws::Result<greenws::ServerHandle> {
    let handle = server.start(app)?;
    stop_on_signals(&handle);
    announce(scheme, handle.listen_addr());
    Ok(handle)
}
