//! `TcpStream` and `TcpListener`: std's API, blocking only the calling
//! greenlet, and stopped by a kill or a timeout wherever they wait.

use std::fmt;
use std::io::{self, ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::DuplexStream;

/// A TCP connection, like `std::net::TcpStream`: reads and writes suspend
/// only the calling greenlet (in a plain thread they block the thread), and
/// [`Greenlet::kill`](crate::Greenlet::kill) or
/// [`with_timeout`](crate::with_timeout) interrupt them, including a write
/// waiting for room in a full send buffer.
///
/// `&TcpStream` reads and writes too, so one greenlet can read while
/// another writes (see [`DuplexStream`], which this wraps). Read and write
/// timeouts ([`set_read_timeout`](Self::set_read_timeout)) end a call that
/// waits longer with an error of kind `TimedOut`.
///
/// ```
/// use std::io::{Read, Write};
/// use green::net::{TcpListener, TcpStream};
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let server = green::spawn(move || {
///     let (mut conn, _) = listener.accept().unwrap();
///     conn.write_all(b"hi").unwrap();
/// });
/// let mut client = TcpStream::connect(addr).unwrap();
/// let mut got = [0u8; 2];
/// client.read_exact(&mut got).unwrap();
/// assert_eq!(&got, b"hi");
/// server.join().unwrap();
/// ```
pub struct TcpStream {
    pub(super) io: DuplexStream,
    read_timeout: Mutex<Option<Duration>>,
    write_timeout: Mutex<Option<Duration>>,
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("fd", &self.as_raw_fd())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

/// The deadline of a call that may wait `timeout` at most (`None`: no
/// limit, as for a timeout too large to represent).
fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// std refuses a zero timeout; so do we.
fn check_timeout(timeout: Option<Duration>) -> io::Result<()> {
    if timeout == Some(Duration::ZERO) {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        ));
    }
    Ok(())
}

impl TcpStream {
    pub(super) fn from_may(stream: may::net::TcpStream) -> Self {
        TcpStream {
            io: DuplexStream::from_may(stream),
            read_timeout: Mutex::new(None),
            write_timeout: Mutex::new(None),
        }
    }

    /// Connects to `addr` (each address it resolves to, in turn, until one
    /// answers).
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        crate::config::ensure_started();
        may::net::TcpStream::connect(addr).map(Self::from_may)
    }

    /// Connects to `addr`, giving up after `timeout`.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        check_timeout(Some(timeout))?;
        crate::config::ensure_started();
        may::net::TcpStream::connect_timeout(addr, timeout).map(Self::from_may)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner().local_addr()
    }

    /// Shuts down one or both directions.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.shutdown(how)
    }

    /// Sets `TCP_NODELAY` (no Nagle delay for small writes).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner().set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner().nodelay()
    }

    /// Limits how long a read waits for data (`None`: no limit); a read
    /// that waits longer fails with `TimedOut`. Zero is refused, as in std.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout(timeout)?;
        *self.read_timeout.lock() = timeout;
        Ok(())
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(*self.read_timeout.lock())
    }

    /// Limits how long a write waits for room in the send buffer (`None`:
    /// no limit); a write that waits longer fails with `TimedOut`.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout(timeout)?;
        *self.write_timeout.lock() = timeout;
        Ok(())
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(*self.write_timeout.lock())
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner().take_error()
    }

    /// The std socket underneath, for socket options. It is in
    /// non-blocking mode: do not read or write through it.
    pub fn inner(&self) -> &std::net::TcpStream {
        self.io
            .as_tcp()
            .expect("a TcpStream wraps a TCP socket by construction")
    }

    fn read_deadline(&self) -> Option<Instant> {
        deadline_after(*self.read_timeout.lock())
    }

    fn write_deadline(&self) -> Option<Instant> {
        deadline_after(*self.write_timeout.lock())
    }

    /// One write that waits for room: `try` until something fits.
    fn write_with(&self, mut attempt: impl FnMut() -> io::Result<usize>) -> io::Result<usize> {
        let deadline = self.write_deadline();
        loop {
            match attempt() {
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.io.wait_writable(deadline)?,
                result => return result,
            }
        }
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read(buf, self.read_deadline())
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let buf = bufs
            .iter_mut()
            .find(|b| !b.is_empty())
            .map_or(&mut [][..], |b| &mut **b);
        self.read(buf)
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_with(|| self.io.try_write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.write_with(|| self.io.try_write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

/// A listening TCP socket, like `std::net::TcpListener`: `accept` suspends
/// only the calling greenlet, and a kill or a timeout interrupts it.
///
/// [`bind`](Self::bind) sets `SO_REUSEPORT` (see the [module
/// docs](super)); bind a std listener and convert it with
/// [`listener_from_std`](super::listener_from_std) to get an error for a
/// port in use.
pub struct TcpListener {
    inner: may::net::TcpListener,
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("fd", &self.as_raw_fd())
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

impl TcpListener {
    pub(super) fn from_may(inner: may::net::TcpListener) -> Self {
        TcpListener { inner }
    }

    /// Binds and listens (with `SO_REUSEPORT`; see the type's docs).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        crate::config::ensure_started();
        may::net::TcpListener::bind(addr).map(Self::from_may)
    }

    /// Waits for a connection and gives it with the peer's address.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = self.inner.accept()?;
        Ok((TcpStream::from_may(stream), peer))
    }

    /// The bound address, with the real port when port 0 was asked for.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }

    /// The std listener underneath, in non-blocking mode (an `accept` on it
    /// returns `WouldBlock` at once when nobody is waiting).
    pub fn inner(&self) -> &std::net::TcpListener {
        self.inner.inner()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}
