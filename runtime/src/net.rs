//! Coroutine-aware sockets (may's): blocking calls on them suspend only the
//! calling greenlet, and [`with_timeout`](crate::with_timeout) and
//! [`Greenlet::kill`](crate::Greenlet::kill) interrupt them.
//!
//! ```
//! use std::io::{Read, Write};
//! let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
//! let addr = listener.local_addr().unwrap();
//! let server = green::spawn(move || {
//!     let (mut conn, _) = listener.accept().unwrap();
//!     let mut buf = [0u8; 5];
//!     conn.read_exact(&mut buf).unwrap();
//!     conn.write_all(&buf).unwrap();
//! });
//! let mut client = green::net::TcpStream::connect(addr).unwrap();
//! client.write_all(b"hello").unwrap();
//! let mut back = [0u8; 5];
//! client.read_exact(&mut back).unwrap();
//! assert_eq!(&back, b"hello");
//! server.join().unwrap();
//! ```
//!
//! Note: may's `TcpListener::bind` sets `SO_REUSEPORT`, so binding a port
//! that another process already listens on succeeds and the two share its
//! connections. To get a clear "address in use" error, bind a
//! `std::net::TcpListener` and convert it with [`listener_from_std`].

use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::time::Instant;

use may::io::WaitIo;
pub use may::net::{TcpListener, TcpStream, UdpSocket};

use crate::interrupt::rearm_after_io_wait;

/// Makes a coroutine-aware listener of a bound std listener (which is
/// switched to non-blocking mode).
pub fn listener_from_std(listener: std::net::TcpListener) -> std::io::Result<TcpListener> {
    listener.set_nonblocking(true)?;
    crate::config::ensure_started();
    // Safety: the descriptor comes from an owned listener, given up here.
    Ok(unsafe { TcpListener::from_raw_fd(listener.into_raw_fd()) })
}

/// Reads a socket without the wasted system call of "nothing yet".
///
/// A plain read on a non-blocking socket first tries the read and, when
/// nothing is there, waits for the poller. A reader that just drained the
/// socket (its last read came back short) almost always finds nothing, so
/// that try costs a system call per message for nothing. `ReadyReader`
/// remembers whether the socket may hold more, waits for readiness first
/// when it most likely does not, and keeps an end-of-stream the poller
/// already reported from being overlooked.
///
/// Only for a socket that this reader alone reads.
///
/// ```
/// use std::io::Write;
/// use std::time::{Duration, Instant};
/// let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let server = green::spawn(move || {
///     let (conn, _) = listener.accept().unwrap();
///     let mut reader = green::net::ReadyReader::new();
///     let mut buf = [0u8; 64];
///     let deadline = Some(Instant::now() + Duration::from_secs(5));
///     let n = reader.read(&conn, &mut buf, deadline).unwrap();
///     buf[..n].to_vec()
/// });
/// let mut client = green::net::TcpStream::connect(addr).unwrap();
/// client.write_all(b"ping").unwrap();
/// assert_eq!(server.join().unwrap(), b"ping");
/// ```
#[derive(Debug)]
pub struct ReadyReader {
    maybe_readable: bool,
}

impl Default for ReadyReader {
    fn default() -> Self {
        Self::new()
    }
}

/// Poller events that mean "the read side is over": a read returns at once.
const CLOSED_EVENTS: usize = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as usize;

impl ReadyReader {
    /// A reader that assumes data may be waiting.
    pub fn new() -> Self {
        ReadyReader {
            maybe_readable: true,
        }
    }

    /// Reads once into `out`, waiting until `deadline` at most (`None`: no
    /// limit). `Ok(0)` is the end of the stream; the deadline passing is an
    /// error of kind `TimedOut`. A kill or a timeout interrupts the wait.
    pub fn read(
        &mut self,
        stream: &TcpStream,
        out: &mut [u8],
        deadline: Option<Instant>,
    ) -> std::io::Result<usize> {
        use std::io::{ErrorKind, Read};
        let mut events = 0;
        if !self.maybe_readable {
            events = wait_events(stream, deadline)?;
        }
        loop {
            #[allow(deprecated)] // may's name for "take the pending events"
            let pending = stream.reset_io();
            events |= pending;
            match (&mut stream.inner()).read(out) {
                Ok(n) => {
                    self.maybe_readable = n == out.len() || events & CLOSED_EVENTS != 0;
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    events = wait_events(stream, deadline)?;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Suspends the caller until `stream` reports an event or `deadline`
/// passes; gives the events.
fn wait_events(stream: &TcpStream, deadline: Option<Instant>) -> std::io::Result<usize> {
    let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, "read timed out");
    if deadline.is_some_and(|at| Instant::now() >= at) {
        return Err(timed_out());
    }
    if !may::coroutine::is_coroutine() {
        return if poll_readable(stream, deadline) {
            Ok(libc::EPOLLIN as usize)
        } else {
            Err(timed_out())
        };
    }
    let timer = deadline.map(|at| {
        let waker = stream.waker();
        crate::timer::schedule(at, move || waker.wakeup())
    });
    let events = stream.wait_io();
    // may only wakes a coroutine that is cancelled while waiting here.
    rearm_after_io_wait();
    if let Some(timer) = timer {
        timer.cancel();
    }
    if deadline.is_some_and(|at| Instant::now() >= at) {
        return Err(timed_out());
    }
    Ok(events)
}

fn poll_readable(stream: &TcpStream, deadline: Option<Instant>) -> bool {
    let timeout_ms = match deadline {
        None => -1,
        Some(at) => at
            .saturating_duration_since(Instant::now())
            .as_millis()
            .min(i32::MAX as u128) as i32,
    };
    let mut fds = libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // Safety: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut fds, 1, timeout_ms) > 0 }
}
