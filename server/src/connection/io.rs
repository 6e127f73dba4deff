//! A connection's socket with its read buffer and deadlines.

use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::registry::ConnEntry;
use super::transport::Transport;
use super::upgrade::Upgraded;
use crate::deadline::Pace;
use crate::{Limits, MinRate};

/// Buffer size for reading request heads and bodies.
pub(crate) const READ_CHUNK: usize = 4096;
/// The most of a response written under one wait deadline: a client that
/// does not take in this much within `write_timeout` is cut off.
const WRITE_SLICE: usize = 64 * 1024;
/// An idle connection's buffers are shrunk back when they grew past this.
pub(crate) const KEEP_CAPACITY: usize = 16 * 1024;

/// Bytes read from a socket and not used yet, in a buffer that grows as
/// needed up to a fixed limit and never past it.
struct ReadBuf {
    /// `buf[start..end]` holds the unread bytes; `buf` is fully initialised.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The most the buffer may hold.
    limit: usize,
}

impl ReadBuf {
    fn new(limit: usize) -> Self {
        ReadBuf {
            buf: Vec::new(),
            start: 0,
            end: 0,
            limit,
        }
    }

    fn unread(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        debug_assert!(self.start <= self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Room to read into behind the unread bytes: moves them to the front
    /// or grows the buffer (doubling, up to the limit) when it is full. An
    /// error once the unread bytes fill the whole limit.
    fn spare(&mut self) -> io::Result<&mut [u8]> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                if self.buf.len() >= self.limit {
                    return Err(io::Error::new(
                        io::ErrorKind::OutOfMemory,
                        format!("read buffer limit of {} bytes reached", self.limit),
                    ));
                }
                let grown = (self.buf.len() * 2).clamp(READ_CHUNK.min(self.limit), self.limit);
                self.buf.resize(grown, 0);
            }
        }
        Ok(&mut self.buf[self.end..])
    }

    /// Records `n` bytes read into [`spare`](Self::spare).
    fn filled(&mut self, n: usize) {
        self.end += n;
        debug_assert!(self.end <= self.buf.len());
    }

    /// Releases a large buffer once nothing is left unread in it.
    fn shrink_when_empty(&mut self) {
        if self.start == self.end && self.buf.len() > KEEP_CAPACITY {
            *self = ReadBuf::new(self.limit);
        }
    }
}

/// A connection's socket and the bytes read from it but not used yet.
pub(crate) struct ConnIo {
    stream: Arc<Transport>,
    buf: ReadBuf,
    write_timeout: Duration,
    min_response_rate: Option<MinRate>,
    /// The response being written, against `write_timeout` and the rate.
    write_pace: Pace,
    /// The connection was handed over after a 101: nothing more to do here.
    taken: bool,
    /// The connection's registry entry, handed over with the connection.
    entry: Arc<ConnEntry>,
}

impl ConnIo {
    /// Wraps an accepted socket; writes follow the limits' write timeout,
    /// reads take their own deadlines. The read buffer never holds more
    /// than [`Limits::max_buffered`] plus one read.
    pub(crate) fn new(stream: Transport, limits: &Limits, entry: Arc<ConnEntry>) -> Self {
        ConnIo {
            stream: Arc::new(stream),
            buf: ReadBuf::new(limits.max_buffered().saturating_add(READ_CHUNK)),
            write_timeout: limits.write_timeout,
            min_response_rate: limits.min_response_rate,
            write_pace: Pace::new(limits.min_response_rate),
            taken: false,
            entry,
        }
    }

    /// The bytes read but not consumed yet.
    pub(crate) fn buffered(&self) -> &[u8] {
        self.buf.unread()
    }

    /// Marks `n` buffered bytes as used.
    pub(crate) fn consume(&mut self, n: usize) {
        self.buf.consume(n);
    }

    /// Releases a large buffer while the connection waits between requests.
    pub(crate) fn shrink_when_empty(&mut self) {
        self.buf.shrink_when_empty();
    }

    /// Reads more bytes into the buffer, waiting until `deadline` at most.
    /// `Ok(0)` means the peer closed its side; an error of kind
    /// `OutOfMemory` that the buffer is full (callers refuse what they
    /// buffer long before that).
    pub(crate) fn fill(&mut self, deadline: Option<Instant>) -> io::Result<usize> {
        let spare = self.buf.spare()?;
        let n = self.stream.read(spare, deadline)?;
        self.buf.filled(n);
        Ok(n)
    }

    /// Takes into the buffer what the socket holds right now, without
    /// waiting: one system call, whatever readiness was seen. `Ok(0)` when
    /// nothing is there, or at the end of the stream.
    pub(crate) fn fill_now(&mut self) -> io::Result<usize> {
        let spare = self.buf.spare()?;
        let n = match self.stream.try_read(spare) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(e),
        };
        self.buf.filled(n);
        Ok(n)
    }

    /// Reads into `out`: buffered bytes first, else straight from the socket.
    pub(crate) fn read_into(
        &mut self,
        out: &mut [u8],
        deadline: Option<Instant>,
    ) -> io::Result<usize> {
        let buffered = self.buffered();
        if !buffered.is_empty() {
            let n = buffered.len().min(out.len());
            out[..n].copy_from_slice(&buffered[..n]);
            self.consume(n);
            return Ok(n);
        }
        self.stream.read(out, deadline)
    }

    /// Writes all of `data`.
    pub(crate) fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.write_parts(data, &[])
    }

    /// Starts the clock of a new response (an interim `100 Continue` too):
    /// its writes are held to `min_response_rate` from here.
    pub(crate) fn begin_response(&mut self) {
        self.write_pace = Pace::new(self.min_response_rate);
    }

    /// Writes all of `head` and then `body`, in one system call if they fit.
    ///
    /// They go out in slices of at most [`WRITE_SLICE`] bytes, each with its
    /// own deadline: `write_timeout` from its start, or earlier if the
    /// response would fall behind `min_response_rate`. So a client that
    /// keeps reading, however large the response, is never cut off, and one
    /// that stops (or trickles) is.
    pub(crate) fn write_parts(&mut self, head: &[u8], body: &[u8]) -> io::Result<()> {
        let total = head.len() + body.len();
        let mut written = 0;
        while written < total {
            let end = total.min(written + WRITE_SLICE);
            let (head_part, body_part) = split_parts(head, body, written..end);
            let deadline = self.write_pace.deadline(self.write_timeout, end - written);
            let started = Instant::now();
            self.stream.write_parts(head_part, body_part, deadline)?;
            self.write_pace.record(started.elapsed(), end - written);
            written = end;
        }
        Ok(())
    }

    /// The connection's stream.
    pub(crate) fn stream(&self) -> &Transport {
        &self.stream
    }

    /// Hands the connection over after a 101 (see [`Upgraded`]); the
    /// connection loop then lets go of it. Nothing may be buffered: the
    /// caller checked that no byte arrived behind the request.
    pub(crate) fn hand_over(&mut self) -> Upgraded {
        debug_assert!(self.buffered().is_empty(), "checked before the 101");
        self.taken = true;
        self.buf = ReadBuf::new(self.buf.limit);
        Upgraded::new(self.stream.clone(), self.entry.clone())
    }

    /// True once [`hand_over`](Self::hand_over) gave the connection away.
    pub(crate) fn is_taken(&self) -> bool {
        self.taken
    }
}

/// The bytes of `range` of `head` followed by `body`, as a part of each.
fn split_parts<'a>(head: &'a [u8], body: &'a [u8], range: Range<usize>) -> (&'a [u8], &'a [u8]) {
    let in_head = range.start.min(head.len())..range.end.min(head.len());
    let in_body = range.start.saturating_sub(head.len())..range.end.saturating_sub(head.len());
    (&head[in_head], &body[in_body])
}

/// True for the error a socket timeout produces.
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_buffer_never_grows_past_its_limit() {
        for limit in [1, 100, READ_CHUNK, READ_CHUNK + 1, 3 * READ_CHUNK + 7] {
            let mut buf = ReadBuf::new(limit);
            // A peer that keeps sending while nothing is consumed.
            let mut held = 0;
            loop {
                match buf.spare() {
                    Ok(spare) => {
                        let n = spare.len().min(1000);
                        buf.filled(n);
                        held += n;
                    }
                    Err(e) => {
                        assert_eq!(e.kind(), io::ErrorKind::OutOfMemory);
                        break;
                    }
                }
                assert!(buf.buf.len() <= limit, "{} > {limit}", buf.buf.len());
            }
            assert_eq!(held, limit);
            assert_eq!(buf.unread().len(), limit);
            // Consuming makes room again without growing.
            buf.consume(limit / 2 + 1);
            let room = buf.spare().unwrap().len();
            assert_eq!(room, limit / 2 + 1);
            assert!(buf.buf.len() <= limit);
        }
    }

    #[test]
    fn slices_split_across_head_and_body() {
        let (head, body) = (&b"HEAD"[..], &b"body!"[..]);
        assert_eq!(split_parts(head, body, 0..9), (head, body));
        assert_eq!(split_parts(head, body, 0..2), (&b"HE"[..], &b""[..]));
        assert_eq!(split_parts(head, body, 2..6), (&b"AD"[..], &b"bo"[..]));
        assert_eq!(split_parts(head, body, 6..9), (&b""[..], &b"dy!"[..]));
        assert_eq!(split_parts(b"", body, 1..3), (&b""[..], &b"od"[..]));
    }

    #[test]
    fn unread_bytes_survive_compaction() {
        let mut buf = ReadBuf::new(8);
        buf.spare().unwrap()[..8].copy_from_slice(b"abcdefgh");
        buf.filled(8);
        buf.consume(5);
        let spare = buf.spare().unwrap();
        assert_eq!(spare.len(), 5);
        spare[..2].copy_from_slice(b"ij");
        buf.filled(2);
        assert_eq!(buf.unread(), b"fghij");
    }
}
