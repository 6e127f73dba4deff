//! `UnixListener`: a listening Unix domain stream socket whose `accept`
//! suspends only the calling greenlet. Its connections are
//! [`DuplexStream`]s (reads and writes with deadlines, interrupted by a
//! kill or a timeout, sends with `MSG_NOSIGNAL`).

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;

use super::DuplexStream;

/// A listening Unix domain stream socket, like
/// `std::os::unix::net::UnixListener`: `accept` suspends only the calling
/// greenlet (in a plain thread it blocks the thread), and a kill or a
/// timeout interrupts it.
///
/// ```
/// use green::net::{DuplexStream, UnixListener};
/// let dir = std::env::temp_dir().join(format!("green-unix-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("listener.sock");
/// # let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path).unwrap();
/// let server = green::spawn(move || {
///     let (conn, _) = listener.accept().unwrap();
///     conn.write_all(b"hi", None).unwrap();
/// });
/// let client = DuplexStream::connect_unix(&path).unwrap();
/// let mut got = [0u8; 2];
/// assert_eq!(client.read(&mut got, None).unwrap(), 2);
/// assert_eq!(&got, b"hi");
/// server.join().unwrap();
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub struct UnixListener {
    inner: may::os::unix::net::UnixListener,
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("fd", &self.as_raw_fd())
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

impl UnixListener {
    /// Binds `path` and listens. The path must not exist (the kernel
    /// refuses with `AddrInUse`, even for a socket file nobody listens on);
    /// the file stays after the listener is dropped.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        crate::config::ensure_started();
        may::os::unix::net::UnixListener::bind(path).map(|inner| UnixListener { inner })
    }

    /// Makes a coroutine-aware listener of a bound std listener (which is
    /// switched to non-blocking mode).
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        crate::config::ensure_started();
        // Safety: the descriptor comes from an owned listener, given up here.
        let inner =
            unsafe { may::os::unix::net::UnixListener::from_raw_fd(listener.into_raw_fd()) };
        Ok(UnixListener { inner })
    }

    /// Waits for a connection and gives it with the peer's address (a
    /// client's socket is usually unnamed).
    pub fn accept(&self) -> io::Result<(DuplexStream, SocketAddr)> {
        let (stream, peer) = self.inner.accept()?;
        Ok((DuplexStream::from_may_unix(stream), peer))
    }

    /// The bound address (its path).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}
