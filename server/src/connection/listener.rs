//! What the server listens on: a TCP port or a Unix domain socket
//! ([`Listener`], [`ListenAddr`]), binding a socket path safely, and the
//! accept step that turns either kind into a [`DuplexStream`].

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener as StdUnixListener, UnixStream as StdUnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use green::net::{DuplexStream, TcpListener, UnixListener};

use crate::proto::forwarded::{TrustedProxies, UNIX_PEER};

/// A bound, listening std socket for [`WsgiServer::from_listener`](crate::WsgiServer::from_listener):
/// TCP or a Unix domain stream socket. Both std listeners convert into it.
#[derive(Debug)]
pub enum Listener {
    /// A TCP listener.
    Tcp(std::net::TcpListener),
    /// A Unix domain stream listener.
    Unix(StdUnixListener),
}

impl From<std::net::TcpListener> for Listener {
    fn from(listener: std::net::TcpListener) -> Self {
        Listener::Tcp(listener)
    }
}

impl From<StdUnixListener> for Listener {
    fn from(listener: StdUnixListener) -> Self {
        Listener::Unix(listener)
    }
}

impl Listener {
    /// Where it listens.
    pub(crate) fn listen_addr(&self) -> io::Result<ListenAddr> {
        match self {
            Listener::Tcp(listener) => listener.local_addr().map(ListenAddr::Tcp),
            Listener::Unix(listener) => {
                let addr = listener.local_addr()?;
                // An unnamed or abstract socket has no path: shown empty.
                Ok(ListenAddr::Unix(
                    addr.as_pathname()
                        .map(Path::to_path_buf)
                        .unwrap_or_default(),
                ))
            }
        }
    }

    pub(crate) fn as_raw_fd(&self) -> RawFd {
        match self {
            Listener::Tcp(listener) => listener.as_raw_fd(),
            Listener::Unix(listener) => listener.as_raw_fd(),
        }
    }

    /// The coroutine-aware listener (switched to non-blocking mode).
    pub(crate) fn into_green(self) -> io::Result<Listening> {
        Ok(match self {
            Listener::Tcp(listener) => Listening::Tcp(green::net::listener_from_std(listener)?),
            Listener::Unix(listener) => Listening::Unix(UnixListener::from_std(listener)?),
        })
    }
}

/// Where a server listens: `127.0.0.1:8000` or `unix:/run/app.sock` (its
/// `Display`).
///
/// ```
/// use greenws::ListenAddr;
/// let tcp = ListenAddr::Tcp("127.0.0.1:8000".parse()?);
/// assert_eq!(tcp.to_string(), "127.0.0.1:8000");
/// assert_eq!(tcp.tcp().map(|a| a.port()), Some(8000));
/// let unix = ListenAddr::Unix("/run/plot-demo.sock".into());
/// assert_eq!(unix.to_string(), "unix:/run/plot-demo.sock");
/// assert_eq!(unix.tcp(), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddr {
    /// A TCP address, with the real port when port 0 was asked for.
    Tcp(SocketAddr),
    /// The path of a Unix domain socket.
    Unix(PathBuf),
}

impl ListenAddr {
    /// The TCP address; `None` for a Unix socket.
    pub fn tcp(&self) -> Option<SocketAddr> {
        match self {
            ListenAddr::Tcp(addr) => Some(*addr),
            ListenAddr::Unix(_) => None,
        }
    }

    /// The socket's path; `None` for TCP.
    pub fn unix(&self) -> Option<&Path> {
        match self {
            ListenAddr::Tcp(_) => None,
            ListenAddr::Unix(path) => Some(path),
        }
    }
}

impl ListenAddr {
    /// For log lines: `http://127.0.0.1:8000` or `http on unix:/run/app.sock`.
    pub(crate) fn with_scheme(&self, scheme: &str) -> String {
        match self {
            ListenAddr::Tcp(addr) => format!("{scheme}://{addr}"),
            ListenAddr::Unix(_) => format!("{scheme} on {self}"),
        }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => addr.fmt(f),
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// TCP keepalive probes on accepted connections: one every this long after
/// the first, and the connection fails after this many unanswered ones.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_PROBES: u32 = 5;

/// The listening socket, coroutine-aware.
pub(crate) enum Listening {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// An accepted connection's peer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer {
    /// The TCP peer, or [`UNIX_PEER`].
    pub(crate) addr: SocketAddr,
    /// Came in over a Unix domain socket.
    pub(crate) unix: bool,
}

impl Peer {
    /// True if `trusted` names this peer (a Unix peer: `unix` is trusted).
    pub(crate) fn is_trusted_by(&self, trusted: &TrustedProxies) -> bool {
        if self.unix {
            trusted.trusts_unix()
        } else {
            trusted.contains(self.addr.ip())
        }
    }
}

impl Listening {
    /// Waits for a connection. TCP connections get `TCP_NODELAY` and
    /// keepalive (`keepalive`: the idle time before the first probe); Unix
    /// ones have neither.
    pub(crate) fn accept(&self, keepalive: Option<Duration>) -> io::Result<(DuplexStream, Peer)> {
        match self {
            Listening::Tcp(listener) => {
                let (stream, addr) = listener.accept()?;
                configure_tcp(&stream, keepalive);
                Ok((DuplexStream::new(stream), Peer { addr, unix: false }))
            }
            Listening::Unix(listener) => {
                let (stream, _) = listener.accept()?;
                let peer = Peer {
                    addr: UNIX_PEER,
                    unix: true,
                };
                Ok((stream, peer))
            }
        }
    }

    /// Accepts one waiting connection without waiting (`WouldBlock` when
    /// none waits), as a bare descriptor, with its peer for a log line.
    pub(crate) fn accept_now(&self) -> io::Result<(OwnedFd, String)> {
        match self {
            Listening::Tcp(listener) => {
                let (stream, peer) = listener.inner().accept()?;
                Ok((stream.into(), peer.to_string()))
            }
            Listening::Unix(listener) => {
                // Safety: accept4 with no address buffers only returns a
                // new descriptor (or -1).
                let fd = unsafe {
                    libc::accept4(
                        listener.as_raw_fd(),
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                        libc::SOCK_CLOEXEC,
                    )
                };
                if fd < 0 {
                    return Err(io::Error::last_os_error());
                }
                // Safety: a fresh descriptor, owned from here on.
                Ok((unsafe { OwnedFd::from_raw_fd(fd) }, "unix".into()))
            }
        }
    }
}

impl AsRawFd for Listening {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Listening::Tcp(listener) => listener.as_raw_fd(),
            Listening::Unix(listener) => listener.as_raw_fd(),
        }
    }
}

/// Socket options of an accepted TCP connection: no Nagle delay, keepalive.
fn configure_tcp(stream: &green::net::TcpStream, keepalive: Option<Duration>) {
    let _ = stream.set_nodelay(true);
    if let Some(idle) = keepalive {
        let keepalive = socket2::TcpKeepalive::new()
            .with_time(idle)
            .with_interval(KEEPALIVE_INTERVAL)
            .with_retries(KEEPALIVE_PROBES);
        let _ = socket2::SockRef::from(stream.inner()).set_tcp_keepalive(&keepalive);
    }
}

/// The socket file a server bound, removed when the server is done with
/// it, and only if it is still the same file (another server may have
/// replaced it since).
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    device: u64,
    inode: u64,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path) {
            if meta.dev() == self.device && meta.ino() == self.inode {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// Binds a Unix domain socket at `path` and listens with `backlog`.
///
/// A file already at `path` is replaced only when it is a socket that
/// nobody listens on (a connect to it is refused: left by a process that
/// died); a live socket is "address in use", anything else (a regular
/// file, a directory) an error that says so.
pub(crate) fn bind_unix(path: &Path, backlog: i32) -> io::Result<(StdUnixListener, SocketFile)> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket; refusing to replace it",
                    path.display()
                ),
            ))
        }
        Ok(_) => match StdUnixStream::connect(path) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("a server is listening on {} already", path.display()),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                log::info!("removing the stale socket file {}", path.display());
                std::fs::remove_file(path)?;
            }
            Err(e) => return Err(e),
        },
    }
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    socket.bind(&socket2::SockAddr::unix(path)?)?;
    let meta = std::fs::symlink_metadata(path)?;
    let file = SocketFile {
        path: path.to_path_buf(),
        device: meta.dev(),
        inode: meta.ino(),
    };
    socket.listen(backlog)?;
    // Safety: the descriptor of an owned socket, given up here.
    let listener = unsafe { StdUnixListener::from_raw_fd(socket.into_raw_fd()) };
    Ok((listener, file))
}
