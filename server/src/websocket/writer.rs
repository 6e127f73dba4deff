//! The write side of a `WebSocket`: frames out, one at a time under the
//! writer lock, masked as the role asks, data messages compressed when
//! permessage-deflate was agreed (RSV1 set, control frames never); and
//! back-pressure: sends that wait for a slow peer, sends that do not
//! ([`WebSocket::try_send`]), and what is queued for the peer
//! ([`WebSocket::buffered_amount`]).
//!
//! A frame is never left half-written. A send that waits writes all of
//! its frame or loses the connection (after the send timeout). A send that
//! does not wait writes what the socket takes at once; if that is only
//! part of the frame, the rest is kept as the writer's tail, written before
//! any other frame, and a greenlet is started to write it.

use std::io::{self, ErrorKind};
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::deflate::{CompressError, Deflater};
use super::prepared::PreparedMessage;
use super::WebSocket;
use crate::proto::websocket::{apply_mask, FrameHeader, OpCode, Role};
use crate::scratch_stack::on_scratch_stack;
use crate::Error;

/// The write state of a connection, behind its writer lock.
#[derive(Default)]
pub(super) struct Writer {
    /// The unwritten end of a frame a `try_send` began: whoever writes
    /// next sends it before anything else.
    tail: Vec<u8>,
    /// This side's messages are compressed: permessage-deflate was agreed.
    /// Under the writer lock, so that messages are compressed in the order
    /// they go out (a compressor that keeps context needs that).
    deflater: Option<Deflater>,
}

impl Writer {
    /// A writer whose data messages go through `deflater`, if any.
    pub(super) fn new(deflater: Option<Deflater>) -> Self {
        Writer {
            tail: Vec::new(),
            deflater,
        }
    }
}

impl WebSocket {
    /// Sends a control frame (never compressed), waiting for room as
    /// needed.
    pub(super) fn send_control(&self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        debug_assert!(opcode.is_control());
        let mut writer = self.inner.writer.lock();
        if self.closing() {
            return Err(Error::Closed);
        }
        self.write_frame(&mut writer, opcode, payload)
    }

    /// Sends a data message as one frame, compressed if permessage-deflate
    /// was agreed and it is worth it, waiting for room as needed.
    pub(super) fn send_message(&self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        let mut writer = self.inner.writer.lock();
        if self.closing() {
            return Err(Error::Closed);
        }
        let compressed = match compress(&mut writer, payload) {
            Ok(compressed) => compressed,
            Err(e) => {
                drop(writer);
                return Err(self.fail_compression(e));
            }
        };
        self.write_message(&mut writer, opcode, payload, compressed.as_deref())
    }

    /// Sends a data message without waiting (see [`WebSocket::try_send`]).
    pub(super) fn try_send_message(&self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        let Some(mut writer) = self.inner.writer.try_lock() else {
            return Err(self.would_block());
        };
        if self.closing() {
            return Err(Error::Closed);
        }
        // Before compressing: a message compressed with context must go out.
        if let Err(e) = self.try_flush_tail(&mut writer) {
            return Err(self.try_write_error(e));
        }
        let compressed = match compress(&mut writer, payload) {
            Ok(compressed) => compressed,
            Err(e) => {
                drop(writer);
                return Err(self.fail_compression(e));
            }
        };
        // The compressor's context took the message in: it is sent whole
        // even if the socket takes none of it now (the peer's context must
        // see it), as the tail. Without context, nothing is sent then.
        let committed = compressed.is_some()
            && writer
                .deflater
                .as_ref()
                .is_some_and(|d| d.shared_key().is_none());
        let (header, bytes) = self.outgoing_frame(opcode, payload, compressed.as_deref());
        let masked;
        let bytes = match header.mask {
            None => bytes,
            Some(mask) => {
                masked = masked_copy(bytes, mask);
                &masked[..]
            }
        };
        let result = self.try_write_encoded(&mut writer, &header.encode(), bytes, committed);
        result.map_err(|e| self.try_write_error(e))
    }

    /// Sends a message encoded once for many sockets: a server sends the
    /// frame as it is, or its compressed form, which is made once per
    /// compression setting among all the sockets it is sent to.
    pub(super) fn send_prepared_frame(&self, message: &PreparedMessage) -> Result<(), Error> {
        let mut writer = self.inner.writer.lock();
        if self.closing() {
            return Err(Error::Closed);
        }
        let compressed = match &mut writer.deflater {
            None => None,
            Some(deflater) => match message.compressed_for(deflater) {
                Ok(compressed) => compressed,
                Err(e) => {
                    drop(writer);
                    return Err(self.fail_compression(e));
                }
            },
        };
        match (self.inner.role, compressed) {
            (Role::Server, None) => self.write_encoded(&mut writer, message.server_frame(), &[]),
            // A client masks every frame with a key of its own.
            (_, compressed) => self.write_message(
                &mut writer,
                message.opcode(),
                message.payload(),
                compressed.as_deref(),
            ),
        }
    }

    /// Writes one final frame, waiting for room; the caller holds the
    /// writer lock.
    pub(super) fn write_frame(
        &self,
        writer: &mut Writer,
        opcode: OpCode,
        payload: &[u8],
    ) -> Result<(), Error> {
        self.write_message(writer, opcode, payload, None)
    }

    /// Writes a data message as one final frame: its `compressed` form
    /// with RSV1 if there is one, else `payload`.
    fn write_message(
        &self,
        writer: &mut Writer,
        opcode: OpCode,
        payload: &[u8],
        compressed: Option<&[u8]>,
    ) -> Result<(), Error> {
        let (header, bytes) = self.outgoing_frame(opcode, payload, compressed);
        match header.mask {
            None => self.write_encoded(writer, &header.encode(), bytes),
            Some(mask) => self.write_encoded(writer, &header.encode(), &masked_copy(bytes, mask)),
        }
    }

    /// The header and the bytes of a final frame: `compressed` with RSV1
    /// set (RFC 7692 section 6) if given, else `payload`.
    fn outgoing_frame<'a>(
        &self,
        opcode: OpCode,
        payload: &'a [u8],
        compressed: Option<&'a [u8]>,
    ) -> (FrameHeader, &'a [u8]) {
        let bytes = compressed.unwrap_or(payload);
        let mut header = self.frame_header(opcode, bytes.len());
        header.rsv1 = compressed.is_some();
        (header, bytes)
    }

    /// A final frame's header as this end sends it: a client's masked with
    /// a fresh key, a server's unmasked.
    fn frame_header(&self, opcode: OpCode, len: usize) -> FrameHeader {
        let mask = match self.inner.role {
            Role::Server => None,
            Role::Client => Some(fresh_mask_key()),
        };
        FrameHeader::new(opcode, len as u64, mask)
    }

    /// Compressing failed, which is a bug rather than the peer's doing:
    /// logged, and the connection closed with 1011.
    fn fail_compression(&self, e: CompressError) -> Error {
        log::error!(
            "websocket {} to {}: {e}; closing it with 1011",
            self.id(),
            self.peer_addr()
        );
        self.fail_internal(Error::Compression(e.reason().to_owned()));
        Error::Compression(e.reason().to_owned())
    }

    /// Writes the tail of an earlier frame, then `head` and `payload`,
    /// waiting for room up to the send timeout. A write that fails or
    /// times out loses the connection (a frame cannot be taken back
    /// halfway).
    fn write_encoded(&self, writer: &mut Writer, head: &[u8], payload: &[u8]) -> Result<(), Error> {
        let deadline = crate::deadline::after(self.inner.config.send_timeout);
        let result = self
            .flush_tail(writer, deadline)
            .and_then(|()| self.write_all(head, payload, deadline));
        result.map_err(|e| self.lose_writer(e))
    }

    /// Writes `head` then `payload`: in one system call when the socket has
    /// room; else waiting for room, with what is left published as unsent.
    fn write_all(&self, head: &[u8], payload: &[u8], deadline: Option<Instant>) -> io::Result<()> {
        let io = &self.inner.io;
        let total = head.len() + payload.len();
        let mut written = written_now(io.try_write_parts(head, payload))?;
        if written < total {
            while written < total {
                self.inner.unsent.store(total - written, Ordering::Relaxed);
                io.wait_writable(deadline)?;
                let (head, payload) = unwritten(head, payload, written);
                written += written_now(io.try_write_parts(head, payload))?;
            }
            self.inner.unsent.store(0, Ordering::Relaxed);
        }
        io.flush(deadline)
    }

    /// Writes what an earlier `try_send` left, waiting as needed.
    fn flush_tail(&self, writer: &mut Writer, deadline: Option<Instant>) -> io::Result<()> {
        if !writer.tail.is_empty() {
            self.write_all(&writer.tail, &[], deadline)?;
            writer.tail = Vec::new();
        }
        self.inner.io.flush(deadline)
    }

    /// Writes what an earlier `try_send` left, without waiting:
    /// `WouldBlock` when some of it is still there.
    fn try_flush_tail(&self, writer: &mut Writer) -> io::Result<()> {
        if writer.tail.is_empty() {
            return Ok(());
        }
        let written = written_now(self.inner.io.try_write_parts(&writer.tail, &[]))?;
        writer.tail.drain(..written);
        self.inner
            .unsent
            .store(writer.tail.len(), Ordering::Relaxed);
        if !writer.tail.is_empty() {
            return Err(ErrorKind::WouldBlock.into());
        }
        // Up to a message's worth: not kept once written.
        writer.tail = Vec::new();
        Ok(())
    }

    /// Writes a frame without waiting, once the tail is written: the frame
    /// is sent, or its rest kept as the tail for a flusher greenlet. When
    /// the socket takes none of it, `WouldBlock` and nothing was sent;
    /// unless the frame is `committed` (it must go out), in which case all
    /// of it becomes the tail.
    fn try_write_encoded(
        &self,
        writer: &mut Writer,
        head: &[u8],
        payload: &[u8],
        committed: bool,
    ) -> io::Result<()> {
        let io = &self.inner.io;
        let written = match io.try_write_parts(head, payload) {
            Err(e) if e.kind() == ErrorKind::WouldBlock && committed => 0,
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            result => result?,
        };
        let total = head.len() + payload.len();
        if written < total {
            let (head, payload) = unwritten(head, payload, written);
            writer.tail.reserve_exact(total - written);
            writer.tail.extend_from_slice(head);
            writer.tail.extend_from_slice(payload);
            self.inner
                .unsent
                .store(writer.tail.len(), Ordering::Relaxed);
        }
        if !writer.tail.is_empty() || io.needs_flush() {
            self.spawn_flusher();
        }
        Ok(())
    }

    /// Starts a greenlet that writes the tail (and what TLS still holds),
    /// waiting for room up to the send timeout.
    fn spawn_flusher(&self) {
        let ws = self.clone();
        green::spawn(move || {
            let mut writer = ws.inner.writer.lock();
            let deadline = crate::deadline::after(ws.inner.config.send_timeout);
            if let Err(e) = ws.flush_tail(&mut writer, deadline) {
                ws.lose_writer(e);
            }
        });
    }

    /// A write failed or timed out: nothing more can be written, and the
    /// connection is lost.
    fn lose_writer(&self, e: io::Error) -> Error {
        let timed_out = e.kind() == ErrorKind::TimedOut;
        let error = if timed_out {
            Error::Timeout
        } else {
            Error::ConnectionLost
        };
        self.record_failure(error.duplicate());
        self.inner.unsent.store(0, Ordering::Relaxed);
        // Mark the close as done: nothing more can be written.
        self.inner.close_sent.store(true, Ordering::SeqCst);
        self.finish();
        error
    }

    fn would_block(&self) -> Error {
        Error::WouldBlock {
            buffered: self.buffered_amount(),
        }
    }

    /// The error of a write that did not wait: `WouldBlock`, or the
    /// connection is lost.
    fn try_write_error(&self, e: io::Error) -> Error {
        match e.kind() {
            ErrorKind::WouldBlock => self.would_block(),
            _ => self.lose_writer(e),
        }
    }
}

/// The compressed form of a data message, when this side compresses and
/// the message is worth it.
fn compress(writer: &mut Writer, payload: &[u8]) -> Result<Option<Vec<u8>>, CompressError> {
    match &mut writer.deflater {
        Some(deflater) => deflater.compress(payload),
        None => Ok(None),
    }
}

/// The bytes a write took, with "nothing now" as 0.
fn written_now(result: io::Result<usize>) -> io::Result<usize> {
    match result {
        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(0),
        Ok(0) => Err(ErrorKind::WriteZero.into()),
        result => result,
    }
}

/// What is left of `head` then `payload` after `written` bytes.
fn unwritten<'a>(head: &'a [u8], payload: &'a [u8], written: usize) -> (&'a [u8], &'a [u8]) {
    match written.checked_sub(head.len()) {
        None => (&head[written..], payload),
        Some(into_payload) => (&[], &payload[into_payload..]),
    }
}

fn masked_copy(payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut masked = payload.to_vec();
    apply_mask(&mut masked, mask, 0);
    masked
}

/// A fresh masking key for a client's frame. RFC 6455 section 5.3 asks
/// for one that a page's script cannot predict: this one comes from
/// `rand`'s thread-local generator (ChaCha, seeded from the OS). The
/// generator is borrowed only for this call, never across a blocking
/// point (a greenlet may resume on another thread), and runs on the
/// thread's scratch stack: seeding it, or refilling its block, takes over
/// 40 KiB of stack in a debug build.
fn fresh_mask_key() -> [u8; 4] {
    on_scratch_stack(rand::random)
}
