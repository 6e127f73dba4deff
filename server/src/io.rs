//! A connection's socket with its read buffer and deadlines.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::server::ConnEntry;
use crate::transport::Transport;
use crate::WebSocket;

/// Buffer size for reading request heads and bodies.
const READ_CHUNK: usize = 4096;
/// An idle connection's buffer is shrunk back when it grew past this.
const KEEP_CAPACITY: usize = 16 * 1024;

/// A connection's socket and the bytes read from it but not used yet.
pub(crate) struct ConnIo {
    stream: Arc<Transport>,
    /// `buf[start..end]` holds the unread bytes; `buf` is fully initialised.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    write_timeout: Duration,
    /// The socket was handed over (to a WebSocket): nothing more to do here.
    taken: bool,
    /// The connection's registry entry, told about a WebSocket taking over.
    entry: Arc<ConnEntry>,
}

impl ConnIo {
    /// Wraps an accepted socket; a write that makes no progress for
    /// `write_timeout` fails. Reads take their own deadlines.
    pub(crate) fn new(stream: Transport, write_timeout: Duration, entry: Arc<ConnEntry>) -> Self {
        ConnIo {
            stream: Arc::new(stream),
            buf: Vec::new(),
            start: 0,
            end: 0,
            write_timeout,
            taken: false,
            entry,
        }
    }

    /// The bytes read but not consumed yet.
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Marks `n` buffered bytes as used.
    pub(crate) fn consume(&mut self, n: usize) {
        self.start += n;
        debug_assert!(self.start <= self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Releases a large buffer while the connection waits between requests.
    pub(crate) fn shrink_when_empty(&mut self) {
        if self.start == self.end && self.buf.len() > KEEP_CAPACITY {
            self.buf = Vec::new();
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads more bytes into the buffer, waiting until `deadline` at most.
    /// `Ok(0)` means the peer closed its side.
    pub(crate) fn fill(&mut self, deadline: Instant) -> io::Result<usize> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                let grown = (self.buf.len() * 2).max(READ_CHUNK);
                self.buf.resize(grown, 0);
            }
        }
        let n = self
            .stream
            .read(&mut self.buf[self.end..], Some(deadline))?;
        self.end += n;
        Ok(n)
    }

    /// Takes into the buffer what the socket holds right now (up to 1 KiB),
    /// without waiting: one system call, whatever readiness was seen.
    /// `Ok(0)` when nothing is there, or at the end of the stream.
    pub(crate) fn fill_now(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 1024];
        let n = match self.stream.try_read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(e),
        };
        self.buf.truncate(self.end);
        self.buf.extend_from_slice(&chunk[..n]);
        self.end += n;
        Ok(n)
    }

    /// Reads into `out`: buffered bytes first, else straight from the socket.
    pub(crate) fn read_into(&mut self, out: &mut [u8], deadline: Instant) -> io::Result<usize> {
        let buffered = self.buffered();
        if !buffered.is_empty() {
            let n = buffered.len().min(out.len());
            out[..n].copy_from_slice(&buffered[..n]);
            self.consume(n);
            return Ok(n);
        }
        self.stream.read(out, Some(deadline))
    }

    /// Writes all of `data`.
    pub(crate) fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.write_parts(data, &[])
    }

    /// Writes all of `head` and then `body`, in one system call if they fit.
    pub(crate) fn write_parts(&mut self, head: &[u8], body: &[u8]) -> io::Result<()> {
        self.stream
            .write_parts(head, body, Some(Instant::now() + self.write_timeout))
    }

    /// The connection's stream.
    pub(crate) fn stream(&self) -> &Transport {
        &self.stream
    }

    /// Hands the socket and the bytes read past the request over (for a
    /// WebSocket); the connection loop then lets go of the connection.
    pub(crate) fn take(&mut self) -> (Arc<Transport>, Vec<u8>) {
        self.taken = true;
        let leftover = self.buffered().to_vec();
        self.consume(leftover.len());
        self.buf = Vec::new();
        (self.stream.clone(), leftover)
    }

    /// True once [`take`](Self::take) handed the socket over.
    pub(crate) fn is_taken(&self) -> bool {
        self.taken
    }

    /// Records the WebSocket that took the socket (for a server stop).
    pub(crate) fn set_upgraded(&mut self, ws: WebSocket) {
        self.entry.set_websocket(Some(ws));
    }

    /// The WebSocket that took the socket, if any.
    pub(crate) fn upgraded(&self) -> Option<WebSocket> {
        self.entry.websocket()
    }
}

/// True for the error a socket timeout produces.
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}
