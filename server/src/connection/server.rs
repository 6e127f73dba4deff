//! `WsgiServer`: the builder that binds a listener, takes the settings
//! (handler class, connection bound, limits, TLS) and starts serving.

use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use green::Pool;
use parking_lot::Mutex;

use super::accept::accept_loop;
use super::listen_fds;
use super::listener::{self, ListenAddr, Listener, SocketFile};
use super::registry::Registry;
use super::running::{ServerHandle, Shared};
use crate::handler::{App, Handler, HttpHandler};
use crate::proto::forwarded::{TrustedProxies, UNIX_PEER};
use crate::{sys, Error, Limits, Result};

/// Listen backlog: connections the kernel queues before `accept`. The
/// kernel caps it at `net.core.somaxconn` (4096 by default since Linux
/// 5.4); Go's net package listens with that maximum too. A burst of
/// connections on a fresh server, whose first accepts are slow (its memory
/// still growing), waits in the queue instead of losing a SYN and a second
/// to its retransmission.
const BACKLOG: i32 = 65_535;

/// A pywsgi-style HTTP server: bind it, choose a handler class and a
/// connection bound, then serve an app.
///
/// Safe defaults for a public server:
///
/// - **A bound on connections.** Without [`spawn`](Self::spawn), the
///   server serves at most as many connections at once as the process can
///   hold: the open-file limit (raised to its hard limit at start) less a
///   tenth of it (at least 64) kept for the listener, the runtime, logs and
///   the app's own files, and at most half of `vm.max_map_count` less 1000
///   (each connection's coroutine stack takes two memory maps). With a
///   20 000-file limit that is 18 000. While that many are open, accepting
///   pauses and new clients wait in the listen backlog, so the process does
///   not run out of descriptors because of its connections. The bound in
///   effect is logged at start and given by
///   [`ServerHandle::max_connections`].
/// - **TCP keepalive** on every accepted connection: after
///   [`DEFAULT_TCP_KEEPALIVE`](Self::DEFAULT_TCP_KEEPALIVE) (60 s) without traffic the kernel probes the
///   peer every 10 s, and a peer that misses 5 probes (gone without a word:
///   unplugged, crashed, behind a NAT that forgot it) fails the connection
///   within about 110 s, ending whatever waits on it. Change it with
///   [`tcp_keepalive`](Self::tcp_keepalive).
///
/// ```no_run
/// use greenws::{Request, Response, WsgiServer};
///
/// fn app(req: &mut Request) -> Response {
///     match req.path() {
///         "/test" => Response::text("Yes this is a test!"),
///         _ => Response::html("<h1>Hello</h1>"),
///     }
/// }
///
/// fn main() -> greenws::Result<()> {
///     WsgiServer::bind("127.0.0.1:8000")?.spawn(10_000).serve_forever(app)
/// }
/// ```
pub struct WsgiServer {
    listener: Listener,
    listen_addr: ListenAddr,
    /// The socket file [`bind_unix`](Self::bind_unix) made (removed when
    /// the server stops, or is dropped unstarted).
    socket_file: Option<SocketFile>,
    handler: Arc<dyn Handler>,
    max_connections: Option<usize>,
    tcp_keepalive: Option<Duration>,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
    trusted_proxies: TrustedProxies,
    proxy_protocol: bool,
}

impl WsgiServer {
    /// TCP keepalive on accepted connections by default: the first probe
    /// after this long without traffic (see [`tcp_keepalive`](Self::tcp_keepalive)).
    pub const DEFAULT_TCP_KEEPALIVE: Duration = Duration::from_secs(60);

    /// Binds a listening socket. Port 0 picks a free port (see
    /// [`local_addr`](Self::local_addr)). An address already in use is an
    /// error: the socket is bound without `SO_REUSEPORT`.
    pub fn bind(addr: impl ToSocketAddrs) -> Result<Self> {
        let mut last_error = None;
        let addrs = addr.to_socket_addrs().map_err(|source| Error::Bind {
            addr: "(unresolved)".into(),
            source,
        })?;
        for addr in addrs {
            match bind_listener(addr) {
                Ok(listener) => return Self::from_listener(listener),
                Err(source) => {
                    last_error = Some(Error::Bind {
                        addr: addr.to_string(),
                        source,
                    })
                }
            }
        }
        Err(last_error.unwrap_or_else(|| Error::Bind {
            addr: "(none)".into(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to bind"),
        }))
    }

    /// Listens on a Unix domain socket at `path` (behind a proxy on the
    /// same machine: nginx's `proxy_pass http://unix:/run/app.sock;`).
    /// Clients have no address: [`Request::peer_addr`](crate::Request::peer_addr)
    /// is [`UNIX_PEER`] (`0.0.0.0:0`), the access log says `unix`, and
    /// [`trusted_proxies`](Self::trusted_proxies) trusts them with the
    /// keyword `unix`. TCP settings (keepalive, no-delay) do not apply.
    ///
    /// A socket file left at `path` by a process that died (a connect to
    /// it is refused) is replaced; a live server's socket is "address in
    /// use", and any other file (a regular file, a directory) is an error,
    /// never removed. The file is removed when the server stops (or is
    /// dropped without starting), if it is still the one bound here.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("greenws-doc-{}.sock", std::process::id()));
    /// let server = greenws::WsgiServer::bind_unix(&path)?;
    /// assert_eq!(server.listen_addr().to_string(), format!("unix:{}", path.display()));
    /// drop(server);
    /// assert!(!path.exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bind_unix(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let (listener, file) =
            listener::bind_unix(path, BACKLOG).map_err(|source| Error::Bind {
                addr: format!("unix:{}", path.display()),
                source,
            })?;
        let mut server = Self::from_listener(listener)?;
        server.socket_file = Some(file);
        Ok(server)
    }

    /// Serves on a listening socket bound elsewhere: by a parent process,
    /// a supervisor, or `from_raw_fd` on an inherited descriptor; a
    /// `std::net::TcpListener` or a `std::os::unix::net::UnixListener`
    /// (whose socket file is left alone).
    ///
    /// ```
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let server = greenws::WsgiServer::from_listener(listener)?;
    /// assert_ne!(server.local_addr().port(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_listener(listener: impl Into<Listener>) -> Result<Self> {
        let listener = listener.into();
        let listen_addr = listener.listen_addr()?;
        Ok(WsgiServer {
            listener,
            listen_addr,
            socket_file: None,
            handler: Arc::new(HttpHandler),
            max_connections: None,
            tcp_keepalive: Some(Self::DEFAULT_TCP_KEEPALIVE),
            limits: Limits::default(),
            tls: None,
            trusted_proxies: TrustedProxies::none(),
            proxy_protocol: false,
        })
    }

    /// Serves on the listening socket systemd's socket activation (or
    /// `systemd-socket-activate`, or any supervisor speaking its protocol)
    /// passed to this process: descriptor 3, announced by `LISTEN_FDS=1`
    /// and `LISTEN_PID` set to this process's id. `Ok(None)` when the
    /// environment passes this process none; an error when it passes
    /// several, or when descriptor 3 is not a listening TCP or Unix stream
    /// socket (systemd's `ListenStream=` with an address or a path). Take
    /// it once: the descriptor belongs to the server from then on.
    ///
    /// ```no_run
    /// # fn app(_: &mut greenws::Request) -> greenws::Response { greenws::Response::text("hi") }
    /// let server = match greenws::WsgiServer::from_listen_fds()? {
    ///     Some(inherited) => inherited,
    ///     None => greenws::WsgiServer::bind("127.0.0.1:8000")?,
    /// };
    /// server.serve_forever(app)
    /// # ; Ok::<(), greenws::Error>(())
    /// ```
    pub fn from_listen_fds() -> Result<Option<Self>> {
        let bind_error = |source| Error::Bind {
            addr: format!("inherited descriptor {}", listen_fds::LISTEN_FDS_START),
            source,
        };
        let Some(socket) = listen_fds::take_listener().map_err(bind_error)? else {
            return Ok(None);
        };
        let family = socket.local_addr().map_err(bind_error)?.domain();
        let listener = if family == socket2::Domain::IPV4 || family == socket2::Domain::IPV6 {
            Listener::Tcp(socket.into())
        } else if family == socket2::Domain::UNIX {
            Listener::Unix(std::os::unix::net::UnixListener::from(
                std::os::fd::OwnedFd::from(socket),
            ))
        } else {
            return Err(bind_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("the inherited socket is neither TCP nor Unix ({family:?})"),
            )));
        };
        Self::from_listener(listener).map(Some)
    }

    /// Believes the forwarding headers (`Forwarded`, `X-Forwarded-For`,
    /// `X-Forwarded-Proto`) of requests from these reverse proxies: they
    /// give [`Request::peer_addr`](crate::Request::peer_addr),
    /// [`Request::scheme`](crate::Request::scheme) and the access log's
    /// address (see [`forwarded`](crate::proto::forwarded) for the rules).
    /// Nobody by default: a client could otherwise claim any address.
    ///
    /// ```
    /// let server = greenws::WsgiServer::bind("127.0.0.1:0")?
    ///     .trusted_proxies("127.0.0.1, 10.0.0.0/8".parse()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// Expects every connection to start with a PROXY protocol header
    /// (version 1 or 2, see [`proxy`](crate::proto::proxy)), as TCP load
    /// balancers (HAProxy, AWS NLB) send: its source address becomes the
    /// client's ([`Request::peer_addr`](crate::Request::peer_addr), the
    /// access log). When [`trusted_proxies`](Self::trusted_proxies) are
    /// given, only they may connect. A connection whose header is missing,
    /// malformed, or not complete within the header timeout
    /// ([`Limits::header_timeout`]) is closed without an answer (logged
    /// at debug level); a header is at most 2 KiB. Off by default.
    pub fn proxy_protocol(mut self, enabled: bool) -> Self {
        self.proxy_protocol = enabled;
        self
    }

    /// The bound TCP address, with the real port when port 0 was asked
    /// for; [`UNIX_PEER`] (`0.0.0.0:0`) on a Unix socket (see
    /// [`listen_addr`](Self::listen_addr)).
    pub fn local_addr(&self) -> SocketAddr {
        self.listen_addr.tcp().unwrap_or(UNIX_PEER)
    }

    /// Where the server listens: a TCP address or a Unix socket's path.
    pub fn listen_addr(&self) -> &ListenAddr {
        &self.listen_addr
    }

    /// Sets the handler class (default [`HttpHandler`]).
    pub fn handler_class(mut self, handler: impl Handler) -> Self {
        self.handler = Arc::new(handler);
        self
    }

    /// Serves at most `max` connections at once; accepting pauses while
    /// that many are open (pywsgi's `spawn=Pool(max)`). Default: what the
    /// process's open-file limit and memory maps allow (see the type's
    /// docs).
    pub fn spawn(mut self, max: usize) -> Self {
        self.max_connections = Some(max.max(1));
        self
    }

    /// Sets TCP keepalive on accepted TCP connections: the first probe after
    /// `idle` without traffic (then every 10 s; 5 unanswered probes fail the
    /// connection), or `None` for no keepalive. Default
    /// [`DEFAULT_TCP_KEEPALIVE`](Self::DEFAULT_TCP_KEEPALIVE) (60 s).
    pub fn tcp_keepalive(mut self, idle: Option<Duration>) -> Self {
        self.tcp_keepalive = idle;
        self
    }

    /// Serves HTTPS and `wss://` with a certificate chain and a private key
    /// from PEM files (pywsgi's `certfile` and `keyfile`), offering ALPN
    /// `http/1.1`. A missing, unreadable or mismatched file is an error
    /// here, not at the first connection.
    ///
    /// ```no_run
    /// let server = greenws::WsgiServer::bind("0.0.0.0:8443")?.tls("cert.pem", "key.pem")?;
    /// # Ok::<(), greenws::Error>(())
    /// ```
    pub fn tls(self, cert_pem: impl AsRef<Path>, key_pem: impl AsRef<Path>) -> Result<Self> {
        let config = super::tls::config_from_pem(cert_pem.as_ref(), key_pem.as_ref())?;
        Ok(self.tls_config(Arc::new(config)))
    }

    /// Serves TLS with a rustls configuration of your own (its ALPN list is
    /// used as given).
    pub fn tls_config(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Sets the limits and timeouts (see [`Limits`] for the defaults).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Serves `app` until the process ends (or the server is stopped
    /// through a [`ServerHandle`], see [`start`](Self::start)).
    pub fn serve_forever(self, app: impl App) -> Result<()> {
        self.start(app)?.wait();
        Ok(())
    }

    /// Starts serving `app` in the background and returns a handle to stop
    /// the server.
    pub fn start(mut self, app: impl App) -> Result<ServerHandle> {
        let max_connections = self.max_connections.unwrap_or_else(sys::capacity);
        presize_descriptor_table(&self.listener);
        green::Config::current(); // settings are fixed from here on
        let socket_file = self.socket_file.take();
        let listener = self.listener.into_green()?;
        let shared = Arc::new(Shared {
            app: Box::new(app),
            handler: self.handler,
            limits: self.limits,
            scheme: if self.tls.is_some() { "https" } else { "http" },
            trusted_proxies: self.trusted_proxies,
            proxy_protocol: self.proxy_protocol,
            tls: self.tls,
            stopping: AtomicBool::new(false),
            registry: Registry::default(),
            pool: Pool::new(max_connections),
            max_connections,
            tcp_keepalive: self.tcp_keepalive,
            listen_addr: self.listen_addr,
            socket_file: Mutex::new(socket_file),
            acceptor: Mutex::new(None),
            stopped: green::Event::new(),
            graceful: AtomicBool::new(false),
        });
        let acceptor = {
            let shared = shared.clone();
            green::Builder::new()
                .name("greenws-acceptor")
                .spawn(move || accept_loop(listener, shared))?
        };
        *shared.acceptor.lock() = Some(acceptor);
        log::info!(
            "serving on {}",
            shared.listen_addr.with_scheme(shared.scheme)
        );
        Ok(ServerHandle { shared })
    }
}

fn bind_listener(addr: SocketAddr) -> std::io::Result<StdListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // SO_REUSEADDR lets a restarted server bind while old connections sit in
    // TIME_WAIT; without SO_REUSEPORT a live listener still makes bind fail.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Descriptor-table slots made ready at start, at most.
const DESCRIPTOR_TABLE: u64 = 16 * 1024;

/// Grows the process's descriptor table now, to the open-file limit (at
/// most [`DESCRIPTOR_TABLE`]). The kernel grows it by doubling as
/// descriptors are taken, and each growth waits for an RCU grace period
/// (milliseconds on a busy machine) inside `accept`: a burst of
/// connections on a fresh server would wait for several of them while its
/// accept queue fills.
fn presize_descriptor_table(listener: &Listener) {
    let slots = sys::raise_open_file_limit()
        .unwrap_or(1024)
        .min(DESCRIPTOR_TABLE);
    let Ok(highest) = libc::c_int::try_from(slots.saturating_sub(1)) else {
        return;
    };
    // Safety: F_DUPFD_CLOEXEC takes the lowest free descriptor at or above
    // `highest` (nothing open is touched); it is closed at once.
    unsafe {
        let fd = libc::fcntl(listener.as_raw_fd(), libc::F_DUPFD_CLOEXEC, highest);
        if fd >= 0 {
            libc::close(fd);
        }
    }
}
