//! `WsgiServer`: binds, accepts, runs one greenlet per connection, stops
//! gracefully.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use green::net::{DuplexStream, TcpListener};
use green::{Greenlet, Pool};
use parking_lot::Mutex;

use crate::handler::{App, Handler, HttpHandler};
use crate::{conn, sys, Error, Limits, Result};

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

/// TCP keepalive probes on accepted connections: one every this long after
/// the first, and the connection fails after this many unanswered ones.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_PROBES: u32 = 5;

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
    listener: StdListener,
    local_addr: SocketAddr,
    handler: Arc<dyn Handler>,
    max_connections: Option<usize>,
    tcp_keepalive: Option<Duration>,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
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
                Ok(listener) => {
                    let local_addr = listener.local_addr()?;
                    return Ok(WsgiServer {
                        listener,
                        local_addr,
                        handler: Arc::new(HttpHandler),
                        max_connections: None,
                        tcp_keepalive: Some(Self::DEFAULT_TCP_KEEPALIVE),
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
    /// that many are open (pywsgi's `spawn=Pool(max)`). Default: what the
    /// process's open-file limit and memory maps allow (see the type's
    /// docs).
    pub fn spawn(mut self, max: usize) -> Self {
        self.max_connections = Some(max.max(1));
        self
    }

    /// Sets TCP keepalive on accepted connections: the first probe after
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
        let max_connections = self.max_connections.unwrap_or_else(sys::capacity);
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
            pool: Pool::new(max_connections),
            max_connections,
            tcp_keepalive: self.tcp_keepalive,
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
    max_connections: usize,
    tcp_keepalive: Option<Duration>,
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

/// What a stop does for a connection another protocol took over.
pub(crate) type StopHook = Arc<dyn Fn() + Send + Sync>;

/// One open connection as the registry sees it.
pub(crate) struct ConnEntry {
    /// The connection's socket, without keeping it open: a stop that finds
    /// it still alive holds it while shutting it down, so it never acts on
    /// a descriptor number that was closed and given to another socket.
    socket: Weak<DuplexStream>,
    idle: AtomicBool,
    /// What a stop does for a connection handed over after a 101 (see
    /// [`Upgraded::on_stop`](crate::upgrade::Upgraded::on_stop)).
    stop_hook: Mutex<Option<StopHook>>,
}

impl ConnEntry {
    /// Marks the connection as waiting for a request (true) or busy with
    /// one (false).
    pub(crate) fn set_idle(&self, idle: bool) {
        self.idle.store(idle, Ordering::SeqCst);
    }

    pub(crate) fn set_stop_hook(&self, hook: Option<StopHook>) {
        *self.stop_hook.lock() = hook;
    }

    fn stop_hook(&self) -> Option<StopHook> {
        self.stop_hook.lock().clone()
    }
}

/// Keeps a connection registered; dropping it unregisters.
pub(crate) struct Registration<'a> {
    registry: &'a Registry,
    id: u64,
    pub(crate) entry: Arc<ConnEntry>,
}

impl Registry {
    pub(crate) fn register(&self, socket: &Arc<DuplexStream>) -> Registration<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(ConnEntry {
            socket: Arc::downgrade(socket),
            idle: AtomicBool::new(true),
            stop_hook: Mutex::new(None),
        });
        self.conns.lock().insert(id, entry.clone());
        Registration {
            registry: self,
            id,
            entry,
        }
    }

    /// Shuts the read side of every idle connection, which ends its wait,
    /// and runs the stop hook of every connection handed over after a 101
    /// (the WebSocket layer's closes with 1001).
    fn wake_idle(&self) {
        for entry in self.conns.lock().values() {
            if let Some(hook) = entry.stop_hook() {
                hook();
            } else if entry.idle.load(Ordering::SeqCst) {
                if let Some(socket) = entry.socket.upgrade() {
                    let _ = socket.shutdown(std::net::Shutdown::Read);
                }
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
        self.entry.set_stop_hook(None);
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

    /// The most connections served at once: [`WsgiServer::spawn`]'s bound,
    /// or the default the process's limits gave (see [`WsgiServer`]).
    pub fn max_connections(&self) -> usize {
        self.shared.max_connections
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
        let deadline = crate::deadline::after(timeout);
        self.stopping.store(true, Ordering::SeqCst);
        acceptor.kill();
        let _ = acceptor.join();
        self.registry.wake_idle();
        let graceful = self.pool.join(crate::deadline::time_left(deadline));
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
    let mut spare = Spare::reserve();
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
                // Close one waiting connection rather than leave it hanging.
                match spare.shed_one(&listener) {
                    Some(peer) => fd_errors.log(|n| {
                        format!("out of file descriptors ({e}): closed {n} new connection(s), the last from {peer}")
                    }),
                    // Nothing was waiting, or no descriptor could be had;
                    // accept fails at once while the process has none
                    // left, so do not spin.
                    None => green::sleep(Duration::from_millis(10)),
                }
                continue;
            }
            Err(e) => {
                fd_errors.log(|n| format!("accept failed ({n} time(s)): {e}"));
                green::sleep(Duration::from_millis(1));
                continue;
            }
        };
        configure(&stream, shared.tcp_keepalive);
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

/// Socket options of an accepted connection: no Nagle delay, keepalive.
fn configure(stream: &green::net::TcpStream, keepalive: Option<Duration>) {
    let _ = stream.set_nodelay(true);
    if let Some(idle) = keepalive {
        let keepalive = socket2::TcpKeepalive::new()
            .with_time(idle)
            .with_interval(KEEPALIVE_INTERVAL)
            .with_retries(KEEPALIVE_PROBES);
        let _ = socket2::SockRef::from(stream.inner()).set_tcp_keepalive(&keepalive);
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

/// A spare descriptor, so that a process out of descriptors can still
/// accept one waiting connection, to close it, rather than leave every new
/// client hanging unanswered.
struct Spare(Option<OwnedFd>);

impl Spare {
    /// Takes a descriptor (of /dev/null) to keep in reserve.
    fn reserve() -> Spare {
        // Safety: open has no memory effects beyond returning a descriptor.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        // Safety: a fresh descriptor owned from here on.
        Spare((fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Accepts one waiting connection in the spare's place and closes it,
    /// keeping the place: the spare is closed, the connection accepted
    /// (into the number just freed), and its socket then replaced, in one
    /// `dup3`, by a copy of the listener's descriptor, which is the new
    /// spare. The number is never given back between the close of the
    /// connection and a new spare. It is free only between the spare's
    /// close and the accept, two system calls in a row; if another thread
    /// takes it there, a new spare is opened once a descriptor is free.
    /// Gives the closed connection's peer, or `None` if none was waiting
    /// (or no descriptor could be had).
    fn shed_one(&mut self, listener: &TcpListener) -> Option<SocketAddr> {
        if self.0.take().is_none() {
            *self = Spare::reserve();
            return None;
        }
        let Ok((victim, peer)) = listener.inner().accept() else {
            *self = Spare::reserve();
            return None;
        };
        let fd = victim.into_raw_fd();
        // Safety: `fd` is ours (the accepted socket, given up above) and the
        // listener's descriptor is open; dup3 closes the socket and makes
        // `fd` a copy of the listener's descriptor, atomically.
        let duplicated = unsafe { libc::dup3(listener.as_raw_fd(), fd, libc::O_CLOEXEC) };
        if duplicated == fd {
            // Safety: `fd` now refers to the listener's socket, owned here.
            self.0 = Some(unsafe { OwnedFd::from_raw_fd(fd) });
        } else {
            // Safety: dup3 failed, `fd` is still the accepted socket.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
            *self = Spare::reserve();
        }
        Some(peer)
    }
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
