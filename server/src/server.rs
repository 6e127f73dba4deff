//! `WsgiServer`: binds, accepts, runs one greenlet per connection, stops
//! gracefully.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use green::net::TcpListener;
use green::{Greenlet, Pool};
use parking_lot::Mutex;

use crate::handler::{App, Handler, HttpHandler};
use crate::{conn, sys, Error, Limits, Result, WebSocket};

/// The stack of a TLS connection's greenlet. rustls's handshake needs
/// more than the default; pages only become resident as they are touched.
const TLS_STACK_SIZE: usize = 256 * 1024;

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
    listener: StdListener,
    local_addr: SocketAddr,
    handler: Arc<dyn Handler>,
    max_connections: Option<usize>,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl WsgiServer {
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
                Ok(listener) => {
                    let local_addr = listener.local_addr()?;
                    return Ok(WsgiServer {
                        listener,
                        local_addr,
                        handler: Arc::new(HttpHandler),
                        max_connections: None,
                        limits: Limits::default(),
                        tls: None,
                    });
                }
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

    /// The bound address, with the real port when port 0 was asked for.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Sets the handler class (default [`HttpHandler`]).
    pub fn handler_class(mut self, handler: impl Handler) -> Self {
        self.handler = Arc::new(handler);
        self
    }

    /// Serves at most `max` connections at once; accepting pauses while
    /// that many are open (pywsgi's `spawn=Pool(max)`). Default: no bound
    /// but the process's limits.
    pub fn spawn(mut self, max: usize) -> Self {
        self.max_connections = Some(max.max(1));
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
        let config = crate::tls::config_from_pem(cert_pem.as_ref(), key_pem.as_ref())?;
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
    pub fn start(self, app: impl App) -> Result<ServerHandle> {
        sys::log_capacity();
        presize_descriptor_table(&self.listener);
        green::Config::current(); // settings are fixed from here on
        let listener = green::net::listener_from_std(self.listener)?;
        let shared = Arc::new(Shared {
            app: Box::new(app),
            handler: self.handler,
            limits: self.limits,
            scheme: if self.tls.is_some() { "https" } else { "http" },
            tls: self.tls,
            stopping: AtomicBool::new(false),
            registry: Registry::default(),
            pool: Pool::new(self.max_connections.unwrap_or(usize::MAX >> 1)),
            local_addr: self.local_addr,
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
        log::info!("serving on {}://{}", shared.scheme, self.local_addr);
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

/// What every connection of one server shares.
pub(crate) struct Shared {
    pub(crate) app: Box<dyn App>,
    pub(crate) handler: Arc<dyn Handler>,
    pub(crate) limits: Limits,
    pub(crate) scheme: &'static str,
    /// The TLS configuration, when serving HTTPS.
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    stopping: AtomicBool,
    pub(crate) registry: Registry,
    pool: Pool,
    local_addr: SocketAddr,
    /// The accepting greenlet, until a stop takes it.
    acceptor: Mutex<Option<Greenlet<()>>>,
    stopped: green::Event,
    /// Whether the stop finished in time (valid once `stopped` is set).
    graceful: AtomicBool,
}

impl Shared {
    /// True once a stop began: connections finish their request and close.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// The open connections, so that a stop can wake those that wait idle.
#[derive(Default)]
pub(crate) struct Registry {
    conns: Mutex<HashMap<u64, Arc<ConnEntry>>>,
    next_id: AtomicU64,
}

/// One open connection as the registry sees it.
pub(crate) struct ConnEntry {
    fd: RawFd,
    idle: AtomicBool,
    /// The WebSocket that took the connection over, if one did.
    websocket: Mutex<Option<WebSocket>>,
}

impl ConnEntry {
    /// Marks the connection as waiting for a request (true) or busy with
    /// one (false).
    pub(crate) fn set_idle(&self, idle: bool) {
        self.idle.store(idle, Ordering::SeqCst);
    }

    pub(crate) fn set_websocket(&self, ws: Option<WebSocket>) {
        *self.websocket.lock() = ws;
    }

    pub(crate) fn websocket(&self) -> Option<WebSocket> {
        self.websocket.lock().clone()
    }
}

/// Keeps a connection registered; dropping it unregisters. Must be dropped
/// before the socket closes, so a stop never touches a reused descriptor.
pub(crate) struct Registration<'a> {
    registry: &'a Registry,
    id: u64,
    pub(crate) entry: Arc<ConnEntry>,
}

impl Registry {
    pub(crate) fn register(&self, fd: RawFd) -> Registration<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(ConnEntry {
            fd,
            idle: AtomicBool::new(true),
            websocket: Mutex::new(None),
        });
        self.conns.lock().insert(id, entry.clone());
        Registration {
            registry: self,
            id,
            entry,
        }
    }

    /// Shuts the read side of every idle connection, which ends its wait,
    /// and closes every WebSocket with 1001 (going away).
    fn wake_idle(&self) {
        for entry in self.conns.lock().values() {
            if let Some(ws) = entry.websocket() {
                green::spawn(move || {
                    let _ = ws.close(1001, "server shutting down");
                });
            } else if entry.idle.load(Ordering::SeqCst) {
                // Safety: registered descriptors stay open until unregistered,
                // and unregistering takes this lock.
                unsafe { libc::shutdown(entry.fd, libc::SHUT_RD) };
            }
        }
    }

    fn len(&self) -> usize {
        self.conns.lock().len()
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.registry.conns.lock().remove(&self.id);
        self.entry.set_websocket(None);
    }
}

/// A running server: its address, and the way to stop it.
pub struct ServerHandle {
    shared: Arc<Shared>,
}

impl ServerHandle {
    /// The address the server listens on, with the real port.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The number of open connections.
    pub fn connections(&self) -> usize {
        self.shared.registry.len()
    }

    /// Stops gracefully: stops accepting (the port is released), lets
    /// requests in flight finish, closes idle connections and WebSockets
    /// (1001), then, after `timeout`, kills what is still running. True if
    /// everything finished within the timeout.
    pub fn stop(self, timeout: Duration) -> bool {
        self.shared.stop(timeout)
    }

    /// Blocks until the server is stopped (by a [`Stopper`], from another
    /// greenlet or thread).
    pub fn wait(&self) {
        self.shared.stopped.wait();
    }

    /// A cloneable handle that can stop the server from anywhere (a signal
    /// handler, another greenlet) while this one waits.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shared.stop(Duration::from_secs(5));
    }
}

impl Shared {
    /// The graceful stop behind [`ServerHandle::stop`] and [`Stopper`]; a
    /// second call waits for the first one's result.
    fn stop(&self, timeout: Duration) -> bool {
        let Some(acceptor) = self.acceptor.lock().take() else {
            self.stopped.wait();
            return self.graceful.load(Ordering::SeqCst);
        };
        let deadline = Instant::now() + timeout;
        self.stopping.store(true, Ordering::SeqCst);
        acceptor.kill();
        let _ = acceptor.join();
        self.registry.wake_idle();
        let left = deadline.saturating_duration_since(Instant::now());
        let graceful = self.pool.join(Some(left));
        if !graceful {
            log::warn!(
                "stop: {} connection(s) still busy after {timeout:?}; killing them",
                self.registry.len()
            );
            self.pool.kill();
            self.pool.join(Some(Duration::from_secs(5)));
        }
        self.graceful.store(graceful, Ordering::SeqCst);
        self.stopped.set();
        log::info!("stopped serving on {}://{}", self.scheme, self.local_addr);
        graceful
    }
}

/// Stops a server from anywhere; see [`ServerHandle::stopper`].
#[derive(Clone)]
pub struct Stopper {
    shared: Arc<Shared>,
}

impl Stopper {
    /// Starts a graceful stop (see [`ServerHandle::stop`]) without waiting
    /// for it; the handle's [`wait`](ServerHandle::wait) returns once it is
    /// done.
    pub fn stop(&self, timeout: Duration) {
        let shared = self.shared.clone();
        green::spawn(move || shared.stop(timeout));
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut reserve = reserve_descriptor();
    let mut fd_errors = RateLimitedLog::default();
    loop {
        // Accepting pauses while the pool is full.
        let Some(slot) = shared.pool.wait_slot(None) else {
            continue;
        };
        if shared.stopping() {
            return;
        }
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if is_out_of_descriptors(&e) => {
                // Close one waiting connection rather than leave it hanging:
                // free the reserve descriptor, take the connection (without
                // waiting for one), close it, re-reserve.
                drop(reserve.take());
                let victim = listener.inner().accept().ok();
                if let Some((_, peer)) = &victim {
                    fd_errors.log(|n| {
                        format!("out of file descriptors ({e}): closed {n} new connection(s), the last from {peer}")
                    });
                }
                let shed = victim.is_some();
                drop(victim);
                reserve = reserve_descriptor();
                if !shed {
                    // Nothing was waiting; accept fails at once while the
                    // process has no descriptor, so do not spin.
                    green::sleep(Duration::from_millis(10));
                }
                continue;
            }
            Err(e) => {
                fd_errors.log(|n| format!("accept failed ({n} time(s)): {e}"));
                green::sleep(Duration::from_millis(1));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let conn_shared = shared.clone();
        let builder = match shared.tls {
            // rustls's handshake (certificate signing included) goes deeper
            // than the default stack allows.
            Some(_) => green::Builder::new().stack_size(TLS_STACK_SIZE),
            None => green::Builder::new(),
        };
        let spawned = shared.pool.spawn_in(slot, builder, move || {
            conn::serve(stream, peer, conn_shared)
        });
        if let Err(e) = spawned {
            // The stream was moved into the closure and dropped with it:
            // the connection is closed.
            log::error!("closed a connection from {peer}: cannot create its coroutine: {e}");
        }
    }
}

/// Descriptor-table slots made ready at start, at most.
const DESCRIPTOR_TABLE: u64 = 16 * 1024;

/// Grows the process's descriptor table now, to the open-file limit (at
/// most [`DESCRIPTOR_TABLE`]). The kernel grows it by doubling as
/// descriptors are taken, and each growth waits for an RCU grace period
/// (milliseconds on a busy machine) inside `accept`: a burst of
/// connections on a fresh server would wait for several of them while its
/// accept queue fills.
fn presize_descriptor_table(listener: &StdListener) {
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

fn is_out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// A spare descriptor, given up when the process runs out so that one
/// pending connection can still be accepted and closed cleanly.
fn reserve_descriptor() -> Option<OwnedFd> {
    // Safety: open has no memory effects beyond returning a descriptor.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    // Safety: a fresh descriptor owned from here on.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Logs a repeated error at most once a second, with a count.
#[derive(Default)]
struct RateLimitedLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    fn log(&mut self, message: impl FnOnce(u64) -> String) {
        self.suppressed += 1;
        if self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            log::error!("{}", message(self.suppressed));
            self.last = Some(Instant::now());
            self.suppressed = 0;
        }
    }
}
