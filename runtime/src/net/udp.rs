//! `UdpSocket`: std's API, blocking only the calling greenlet, and stopped
//! by a kill or a timeout wherever it waits.

use std::fmt;
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// How long a send that found the socket buffer full waits before it
/// tries again.
const SEND_RETRY: Duration = Duration::from_millis(1);

/// A UDP socket, like `std::net::UdpSocket`: receiving suspends only the
/// calling greenlet (in a plain thread it blocks the thread), and a kill or
/// a timeout interrupts it.
///
/// A send only waits when the socket's send buffer is full, which is rare
/// for UDP; it then tries again every millisecond (a sleep, which a kill or
/// a timeout interrupts) rather than wait on the socket's readiness, where
/// a greenlet blocked in a receive on the same socket already waits.
///
/// ```
/// use green::net::UdpSocket;
/// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
/// let b = UdpSocket::bind("127.0.0.1:0").unwrap();
/// b.send_to(b"ping", a.local_addr().unwrap()).unwrap();
/// let mut buf = [0u8; 16];
/// let (n, from) = a.recv_from(&mut buf).unwrap();
/// assert_eq!((&buf[..n], from), (&b"ping"[..], b.local_addr().unwrap()));
/// ```
pub struct UdpSocket {
    inner: may::net::UdpSocket,
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("fd", &self.as_raw_fd())
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

impl UdpSocket {
    /// Binds a socket to `addr`.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        crate::config::ensure_started();
        Ok(UdpSocket {
            inner: may::net::UdpSocket::bind(addr)?,
        })
    }

    /// Sets the default peer of [`send`](Self::send) and the only one
    /// [`recv`](Self::recv) accepts datagrams from.
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        self.inner.connect(addr)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.inner().peer_addr()
    }

    /// Sends a datagram to `addr`.
    pub fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let addr = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(ErrorKind::InvalidInput, "no address to send to"))?;
        send_retrying(|| self.inner.inner().send_to(buf, addr))
    }

    /// Sends a datagram to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        send_retrying(|| self.inner.inner().send(buf))
    }

    /// Waits for a datagram and gives its size and sender.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.recv_from(buf)
    }

    /// Waits for a datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.recv(buf)
    }

    /// Limits how long a receive waits (`None`: no limit); one that waits
    /// longer fails with `TimedOut`.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(timeout)
    }

    /// The receive timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.read_timeout()
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }

    /// The std socket underneath, for socket options. It is in
    /// non-blocking mode: do not send or receive through it.
    pub fn inner(&self) -> &std::net::UdpSocket {
        self.inner.inner()
    }
}

/// Sends without blocking, sleeping between attempts while the buffer is
/// full (in a plain thread too: `sleep` then sleeps the thread).
fn send_retrying(mut send: impl FnMut() -> io::Result<usize>) -> io::Result<usize> {
    loop {
        match send() {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                crate::sleep(SEND_RETRY)
            }
            result => return result,
        }
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}
