//! `DuplexStream`: one socket that a reader and writers use at the same time.

use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Instant;

use may::io::{AsIoData, IoData, WaitIo};
use parking_lot::Mutex;

use super::TcpStream;
use crate::interrupt::land_interrupt_after_io_wait;

/// Poller events after which a read returns at once (data or end of stream).
const READ_EVENTS: usize =
    (libc::EPOLLIN | libc::EPOLLPRI | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as usize;
/// Poller events after which a write returns at once (room, or an error).
const WRITE_EVENTS: usize = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as usize;
/// Poller events that mean the read side is over for good.
const CLOSED_EVENTS: usize = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as usize;

/// What a waiter waits for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Interest {
    Read,
    Write,
}

struct State {
    /// A greenlet is parked in may's poller wait for this socket. may keeps
    /// one waiting coroutine per socket, so at most one waits there; others
    /// park on their own token until the poller passes the news on.
    poller_active: bool,
    /// A read-type event arrived since the reader last tried to read.
    read_ready: bool,
    /// A write-type event arrived since a writer last tried to write.
    write_ready: bool,
    /// The peer closed (or the socket failed): reads return at once, always.
    closed: bool,
    /// The last read filled its buffer, so more may be waiting.
    maybe_readable: bool,
    /// Greenlets parked until the poller wakes (threads use `poll(2)`).
    waiters: Vec<(u64, may::coroutine::Coroutine)>,
    next_waiter: u64,
}

impl State {
    fn absorb(&mut self, events: usize) {
        if events & READ_EVENTS != 0 {
            self.read_ready = true;
        }
        if events & WRITE_EVENTS != 0 {
            self.write_ready = true;
        }
        if events & CLOSED_EVENTS != 0 {
            self.closed = true;
        }
    }

    /// Consumes a readiness for `interest`, if there is one.
    fn take_ready(&mut self, interest: Interest) -> bool {
        match interest {
            Interest::Read => self.closed || std::mem::take(&mut self.read_ready),
            Interest::Write => std::mem::take(&mut self.write_ready),
        }
    }

    fn wake_waiters(&mut self) {
        for (_, waiter) in self.waiters.drain(..) {
            waiter.unpark();
        }
    }
}

/// A TCP or Unix domain stream that one greenlet can read while others write, each
/// blocking only itself.
///
/// may lets one coroutine at a time wait for a socket's readiness. Here the
/// first greenlet that has to wait becomes the socket's poller; the others
/// park, and the poller wakes them with the events it saw. Reads and writes
/// are non-blocking system calls between waits, so a writer is never held up
/// by a reader that waits for data, nor the reader by a slow writer.
///
/// It also skips the read that would only report "nothing yet": after a read
/// that did not fill its buffer, the next read waits for readiness first.
///
/// One reader at a time (callers serialise reads), any number of writers
/// (callers serialise writes that must not interleave). Usable from plain
/// threads too, which wait with `poll(2)`.
///
/// ```
/// use std::io::{Read, Write};
/// use std::sync::Arc;
/// use std::time::{Duration, Instant};
/// use green::net::{DuplexStream, TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let mut peer = TcpStream::connect(addr).unwrap();
/// let duplex = Arc::new(DuplexStream::new(listener.accept().unwrap().0));
/// let deadline = Some(Instant::now() + Duration::from_secs(5));
///
/// // A reader waits for data while another greenlet writes.
/// let reader = {
///     let duplex = duplex.clone();
///     green::spawn(move || {
///         let mut buf = [0u8; 16];
///         let n = duplex.read(&mut buf, deadline).unwrap();
///         buf[..n].to_vec()
///     })
/// };
/// duplex.write_all(b"hello", deadline).unwrap();
/// let mut got = [0u8; 5];
/// peer.read_exact(&mut got).unwrap();
/// peer.write_all(b"world").unwrap();
/// assert_eq!(reader.join().unwrap(), b"world");
/// ```
pub struct DuplexStream {
    stream: Socket,
    state: Mutex<State>,
}

/// The connected socket underneath: TCP or a Unix domain stream socket.
/// Everything else (readiness, waiting, interrupts) is the same for both.
enum Socket {
    Tcp(may::net::TcpStream),
    Unix(may::os::unix::net::UnixStream),
}

impl Socket {
    fn read(&self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(stream) => (&mut stream.inner()).read(out),
            Socket::Unix(stream) => (&mut stream.inner()).read(out),
        }
    }

    fn write(&self, data: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(stream) => (&mut stream.inner()).write(data),
            Socket::Unix(stream) => (&mut stream.inner()).write(data),
        }
    }
}

impl AsIoData for Socket {
    fn as_io_data(&self) -> &IoData {
        match self {
            Socket::Tcp(stream) => stream.as_io_data(),
            Socket::Unix(stream) => stream.as_io_data(),
        }
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Socket::Tcp(stream) => stream.as_raw_fd(),
            Socket::Unix(stream) => stream.as_raw_fd(),
        }
    }
}

impl std::fmt::Debug for DuplexStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DuplexStream")
            .field("fd", &self.stream.as_raw_fd())
            .finish()
    }
}

impl DuplexStream {
    /// Wraps a connected stream.
    pub fn new(stream: TcpStream) -> Self {
        stream.io
    }

    /// Connects to the Unix domain socket at `path` (the connect waits
    /// like any other call of this type: a kill or a timeout stops it).
    ///
    /// ```
    /// use green::net::{DuplexStream, UnixListener};
    /// let dir = std::env::temp_dir().join(format!("green-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("duplex.sock");
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path).unwrap();
    /// let client = DuplexStream::connect_unix(&path).unwrap();
    /// let (server, _) = listener.accept().unwrap();
    /// client.write_all(b"hi", None).unwrap();
    /// let mut got = [0u8; 2];
    /// assert_eq!(server.read(&mut got, None).unwrap(), 2);
    /// assert_eq!(&got, b"hi");
    /// assert!(server.as_tcp().is_none());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn connect_unix(path: impl AsRef<std::path::Path>) -> io::Result<Self> {
        crate::config::ensure_started();
        may::os::unix::net::UnixStream::connect(path).map(Self::from_may_unix)
    }

    pub(super) fn from_may(stream: may::net::TcpStream) -> Self {
        Self::with_socket(Socket::Tcp(stream))
    }

    pub(super) fn from_may_unix(stream: may::os::unix::net::UnixStream) -> Self {
        Self::with_socket(Socket::Unix(stream))
    }

    fn with_socket(stream: Socket) -> Self {
        DuplexStream {
            stream,
            state: Mutex::new(State {
                poller_active: false,
                read_ready: false,
                write_ready: false,
                closed: false,
                maybe_readable: true,
                waiters: Vec::new(),
                next_waiter: 0,
            }),
        }
    }

    /// The std TCP socket underneath, for addresses and socket options;
    /// `None` for a Unix domain socket. It is in non-blocking mode: do not
    /// read or write through it.
    pub fn as_tcp(&self) -> Option<&std::net::TcpStream> {
        match &self.stream {
            Socket::Tcp(stream) => Some(stream.inner()),
            Socket::Unix(_) => None,
        }
    }

    /// The std Unix socket underneath, for addresses and credentials;
    /// `None` for TCP. It is in non-blocking mode: do not read or write
    /// through it.
    pub fn as_unix(&self) -> Option<&std::os::unix::net::UnixStream> {
        match &self.stream {
            Socket::Tcp(_) => None,
            Socket::Unix(stream) => Some(stream.inner()),
        }
    }

    /// The peer's address; an error of kind `Unsupported` for a Unix
    /// domain socket (see [`as_unix`](Self::as_unix)).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match &self.stream {
            Socket::Tcp(stream) => stream.peer_addr(),
            Socket::Unix(_) => Err(io::Error::new(
                ErrorKind::Unsupported,
                "a Unix domain socket has no IP peer address",
            )),
        }
    }

    /// Shuts down one or both directions; a blocked reader then sees the end
    /// of the stream.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match &self.stream {
            Socket::Tcp(stream) => stream.shutdown(how),
            Socket::Unix(stream) => stream.shutdown(how),
        }
    }

    /// Reads once into `out`, waiting until `deadline` at most (`None`: no
    /// limit). `Ok(0)` is the end of the stream; a deadline that passes is
    /// an error of kind `TimedOut`. For the one reader of the stream.
    pub fn read(&self, out: &mut [u8], deadline: Option<Instant>) -> io::Result<usize> {
        loop {
            self.wait_readable(deadline)?;
            match self.try_read(out) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                result => return result,
            }
        }
    }

    /// Waits until a read is likely to find something: at once after a
    /// read that filled its buffer, else for the poller to report data (or
    /// the end). Then [`try_read`](Self::try_read) usually succeeds; when it
    /// says `WouldBlock` after all, wait again.
    pub fn wait_readable(&self, deadline: Option<Instant>) -> io::Result<()> {
        if self.state.lock().maybe_readable {
            return Ok(());
        }
        self.wait(Interest::Read, deadline)
    }

    /// Reads once without waiting: `WouldBlock` when nothing is there.
    pub fn try_read(&self, out: &mut [u8]) -> io::Result<usize> {
        self.before_io(Interest::Read);
        loop {
            let result = self.stream.read(out);
            let mut state = self.state.lock();
            match &result {
                Ok(n) => state.maybe_readable = *n == out.len() || state.closed,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => state.maybe_readable = false,
            }
            return result;
        }
    }

    /// True when a read is likely to find something without waiting: the
    /// poller reported data (or the end) since the last read, or the last
    /// read filled its buffer. A cheap check, no system call.
    pub fn readable_hint(&self) -> bool {
        let mut state = self.state.lock();
        if !state.poller_active {
            #[allow(deprecated)] // may's name for "take the pending events"
            let events = self.stream.reset_io();
            state.absorb(events);
        }
        state.maybe_readable || state.read_ready || state.closed
    }

    /// Writes all of `data`, waiting for room as needed until `deadline`.
    pub fn write_all(&self, mut data: &[u8], deadline: Option<Instant>) -> io::Result<()> {
        while !data.is_empty() {
            match self.try_write(data) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.wait(Interest::Write, deadline)?
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Waits until a write is likely to make progress (after a `WouldBlock`
    /// from [`try_write`](Self::try_write)), or `deadline` passes.
    pub fn wait_writable(&self, deadline: Option<Instant>) -> io::Result<()> {
        self.wait(Interest::Write, deadline)
    }

    /// Writes what fits now without waiting: `WouldBlock` when nothing does.
    pub fn try_write(&self, data: &[u8]) -> io::Result<usize> {
        self.before_io(Interest::Write);
        loop {
            match self.stream.write(data) {
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                result => return result,
            }
        }
    }

    /// Writes `head` then `body` completely, both in one system call when
    /// the socket has room, waiting as needed until `deadline`. Saves
    /// copying a header and its payload together, or a second call.
    pub fn write_all_parts(
        &self,
        head: &[u8],
        body: &[u8],
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        if body.is_empty() {
            return self.write_all(head, deadline);
        }
        let first = match self.try_write_parts(head, body) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
            result => result?,
        };
        if first < head.len() {
            self.write_all(&head[first..], deadline)?;
            self.write_all(body, deadline)
        } else {
            self.write_all(&body[first - head.len()..], deadline)
        }
    }

    /// Writes what fits now of `head` then `body`, in one system call and
    /// without waiting: the bytes written (from the start of `head`), or
    /// `WouldBlock` when nothing fits. After a `WouldBlock` (or a short
    /// write), [`wait_writable`](Self::wait_writable) waits for room.
    pub fn try_write_parts(&self, head: &[u8], body: &[u8]) -> io::Result<usize> {
        self.try_write_vectored(&[IoSlice::new(head), IoSlice::new(body)])
    }

    /// Writes what fits now of `parts`, in order, without waiting:
    /// `WouldBlock` when nothing does. One `sendmsg` with `MSG_NOSIGNAL`: a
    /// peer that reset the connection gives an error, never a `SIGPIPE`
    /// (which would end a process that does not ignore it).
    pub fn try_write_vectored(&self, parts: &[IoSlice<'_>]) -> io::Result<usize> {
        self.before_io(Interest::Write);
        // Safety: a zeroed msghdr is valid (no address, no control data).
        let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
        // IoSlice is ABI-compatible with iovec on Unix.
        message.msg_iov = parts.as_ptr() as *mut libc::iovec;
        message.msg_iovlen = parts.len().min(libc::c_int::MAX as usize) as _;
        loop {
            // Safety: `message` points at `parts`, which outlive the call.
            let sent =
                unsafe { libc::sendmsg(self.stream.as_raw_fd(), &message, libc::MSG_NOSIGNAL) };
            if sent >= 0 {
                return Ok(sent as usize);
            }
            let error = io::Error::last_os_error();
            if error.kind() != ErrorKind::Interrupted {
                return Err(error);
            }
        }
    }

    /// Forgets an earlier readiness for `interest` before a system call
    /// that answers the question anyway. Events that arrive afterwards are
    /// kept, so a wait after a `WouldBlock` cannot miss them.
    fn before_io(&self, interest: Interest) {
        let mut state = self.state.lock();
        if !state.poller_active {
            #[allow(deprecated)] // may's name for "take the pending events"
            let events = self.stream.reset_io();
            state.absorb(events);
        }
        match interest {
            Interest::Read => state.read_ready = false,
            Interest::Write => state.write_ready = false,
        }
    }

    /// Blocks until an event for `interest` arrives or `deadline` passes.
    fn wait(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
        let timed_out = || io::Error::new(ErrorKind::TimedOut, "socket wait timed out");
        if !may::coroutine::is_coroutine() {
            return if self.poll(interest, deadline) {
                Ok(())
            } else {
                Err(timed_out())
            };
        }
        loop {
            let mut state = self.state.lock();
            if state.take_ready(interest) {
                return Ok(());
            }
            let left = match deadline {
                None => None,
                Some(at) => match at.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Err(timed_out()),
                },
            };
            if !state.poller_active {
                state.poller_active = true;
                drop(state);
                let poller = PollerRole { duplex: self };
                let events = self.wait_io(deadline);
                let mut state = self.state.lock();
                state.absorb(events);
                state.poller_active = false;
                state.wake_waiters();
                drop(state);
                std::mem::forget(poller);
                // Only now, with the events kept and the role passed on:
                // a kill or a timeout that woke the wait unwinds here.
                land_interrupt_after_io_wait()?;
            } else {
                let id = state.next_waiter;
                state.next_waiter += 1;
                state.waiters.push((id, may::coroutine::current()));
                drop(state);
                let waiting = Waiting { duplex: self, id };
                match left {
                    Some(left) => crate::wait::park_coroutine_timeout(left),
                    None => may::coroutine::park(),
                }
                drop(waiting);
            }
        }
    }

    /// Parks in may's poller wait until an event, the deadline's timer, or
    /// an interruption (which may's wait swallows: see
    /// `land_interrupt_after_io_wait`).
    fn wait_io(&self, deadline: Option<Instant>) -> usize {
        let timer = deadline.map(|at| {
            let waker = self.stream.waker();
            crate::timer::schedule(at, move || waker.wakeup())
        });
        let events = self.stream.wait_io();
        if let Some(timer) = timer {
            timer.cancel();
        }
        events
    }

    /// The plain-thread wait: `poll(2)` for the interest.
    fn poll(&self, interest: Interest, deadline: Option<Instant>) -> bool {
        let timeout_ms = match deadline {
            None => -1,
            Some(at) => at
                .saturating_duration_since(Instant::now())
                .as_millis()
                .min(i32::MAX as u128) as i32,
        };
        let events = match interest {
            Interest::Read => libc::POLLIN,
            Interest::Write => libc::POLLOUT,
        };
        let mut fds = libc::pollfd {
            fd: self.stream.as_raw_fd(),
            events,
            revents: 0,
        };
        // Safety: one valid pollfd for the duration of the call.
        unsafe { libc::poll(&mut fds, 1, timeout_ms) > 0 }
    }
}

impl AsRawFd for DuplexStream {
    fn as_raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }
}

impl AsFd for DuplexStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // Safety: the descriptor stays open as long as `self` lives.
        unsafe { BorrowedFd::borrow_raw(self.stream.as_raw_fd()) }
    }
}

/// Gives up the poller role if the poller is unwound (killed) while waiting.
struct PollerRole<'a> {
    duplex: &'a DuplexStream,
}

impl Drop for PollerRole<'_> {
    fn drop(&mut self) {
        let mut state = self.duplex.state.lock();
        state.poller_active = false;
        state.wake_waiters();
    }
}

/// Removes a parked waiter when it wakes (normally or by an unwind).
struct Waiting<'a> {
    duplex: &'a DuplexStream,
    id: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut state = self.duplex.state.lock();
        state.waiters.retain(|(id, _)| *id != self.id);
    }
}
