//! The `WebSocket` handle: full-duplex messages over one connection.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Cursor, ErrorKind};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use super::decoder::{DecodeError, Decoder, Event};
use super::message::{CloseReason, Message};
use super::WebSocketConfig;
use crate::transport::Transport;
use crate::Error;

/// A wait that lasted this long marks the connection as idle-prone: its
/// next wait releases unused stack first.
const IDLE_TRIM_AFTER: std::time::Duration = std::time::Duration::from_secs(1);
/// Messages that reads done on the way out of `send` may hold for a later
/// `receive`; beyond that the peer's input is left in the socket.
const MAX_PENDING: usize = 16;

thread_local! {
    /// Where reads land: a worker thread's buffer, borrowed only between
    /// blocking points, so an idle connection holds no read buffer at all.
    static READ_SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; 64 * 1024].into_boxed_slice());
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A WebSocket connection, as gevent-websocket's `ws` object.
///
/// The handle is `Clone + Send + Sync`: one greenlet may block in
/// [`receive`](Self::receive) while any number of others [`send`](Self::send)
/// on the same socket. A blocked reader never delays a writer, frames never
/// interleave, and pings are answered while the app sends (a `send` also
/// takes in what the peer sent meanwhile, when no greenlet is receiving).
///
/// A `send` blocks only its own greenlet while the peer is slow to read; the
/// socket's outgoing data is bounded by the kernel's send buffer plus the
/// frame being written.
#[derive(Clone)]
pub struct WebSocket {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    id: u64,
    io: Arc<Transport>,
    reader: green::sync::Mutex<Reader>,
    writer: green::sync::Mutex<()>,
    status: parking_lot::Mutex<Status>,
    closed: green::Event,
    config: Arc<WebSocketConfig>,
    path: String,
    origin: Option<String>,
    protocol: Option<String>,
    peer_addr: SocketAddr,
}

struct Reader {
    decoder: Decoder,
    /// When the last wait for the peer began; a wait after a long one (or
    /// the first) gives the greenlet's unused stack back first.
    idle_since: Option<Instant>,
    /// Messages taken in while sending, for the next `receive`.
    pending: VecDeque<Message>,
    last_seen: Instant,
    next_ping: Option<Instant>,
}

#[derive(Default)]
struct Status {
    close_sent: bool,
    /// The peer's Close frame (inner `None`: a Close without a code).
    peer_close: Option<Option<CloseReason>>,
    failure: Option<Failure>,
}

/// How a connection ended badly, kept so every later call can report it.
#[derive(Debug, Clone)]
enum Failure {
    Protocol(String),
    InvalidUtf8,
    TooLarge(usize),
    Lost,
    Timeout,
}

impl Failure {
    fn to_error(&self) -> Error {
        match self {
            Failure::Protocol(why) => Error::Protocol(why.clone()),
            Failure::InvalidUtf8 => Error::InvalidUtf8,
            Failure::TooLarge(limit) => Error::MessageTooLarge { limit: *limit },
            Failure::Lost => Error::ConnectionLost,
            Failure::Timeout => Error::Timeout,
        }
    }
}

/// One step of reading.
enum Step {
    Event(Event),
    /// Nothing available without waiting (non-waiting reads only).
    Nothing,
    TimedOut,
    Eof,
    Decode(DecodeError),
    Io(io::Error),
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("id", &self.inner.id)
            .field("path", &self.inner.path)
            .field("peer", &self.inner.peer_addr)
            .field("closed", &self.closed())
            .finish()
    }
}

/// What the handshake learnt about the connection.
pub(crate) struct Info {
    pub(crate) path: String,
    pub(crate) origin: Option<String>,
    pub(crate) protocol: Option<String>,
    pub(crate) peer_addr: SocketAddr,
}

impl WebSocket {
    pub(crate) fn new(
        io: Arc<Transport>,
        leftover: Vec<u8>,
        config: Arc<WebSocketConfig>,
        info: Info,
    ) -> Self {
        let now = Instant::now();
        WebSocket {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                io,
                reader: green::sync::Mutex::new(Reader {
                    idle_since: None,
                    decoder: Decoder::new(config.max_frame_size, config.max_message_size, leftover),
                    pending: VecDeque::new(),
                    last_seen: now,
                    next_ping: config.ping_interval.map(|every| now + every),
                }),
                writer: green::sync::Mutex::new(()),
                status: parking_lot::Mutex::new(Status::default()),
                closed: green::Event::new(),
                config,
                path: info.path,
                origin: info.origin,
                protocol: info.protocol,
                peer_addr: info.peer_addr,
            }),
        }
    }

    /// A number unique to this connection within the process.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The request path the connection was opened on.
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// The `Origin` header of the handshake, if any.
    pub fn origin(&self) -> Option<&str> {
        self.inner.origin.as_deref()
    }

    /// The negotiated subprotocol, if one was agreed.
    pub fn protocol(&self) -> Option<&str> {
        self.inner.protocol.as_deref()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.inner.peer_addr
    }

    /// True once the connection is closed (either side, cleanly or not).
    pub fn closed(&self) -> bool {
        self.inner.closed.is_set()
    }

    /// The code and reason of the peer's Close frame, once one arrived.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.inner.status.lock().peer_close.clone().flatten()
    }

    /// Blocks the calling greenlet until a whole message arrives.
    ///
    /// `Ok(Some(message))` for a text or binary message (empty ones
    /// included); `Ok(None)` once the connection closed cleanly (the peer's
    /// Close was answered, or our close completed); `Err` when the peer
    /// broke the protocol (after the matching close code was sent: 1002,
    /// 1007 for bad UTF-8, 1009 for too large), when the connection was lost
    /// without a Close, or (with a heartbeat configured) when the peer went
    /// silent. Pings are answered on the way.
    pub fn receive(&self) -> Result<Option<Message>, Error> {
        let mut reader = self.inner.reader.lock();
        loop {
            if let Some(message) = reader.pending.pop_front() {
                return Ok(Some(message));
            }
            if let Some(end) = self.ended() {
                return end;
            }
            let deadline = self.heartbeat_deadline(&reader);
            match self.read_step(&mut reader, true, deadline) {
                Step::Event(Event::Message(message)) => return Ok(Some(message)),
                Step::Event(event) => self.on_control(event),
                Step::Nothing => {}
                Step::TimedOut => self.heartbeat(&mut reader),
                Step::Eof => self.on_eof(),
                Step::Decode(e) => self.fail_protocol(e),
                Step::Io(e) => self.on_io_error(e),
            }
        }
    }

    /// The seed's name for [`receive`](Self::receive).
    pub fn wait(&self) -> Result<Option<Message>, Error> {
        self.receive()
    }

    /// Sends a message: `&str` and `String` as text, `&[u8]` and `Vec<u8>`
    /// as binary, or a [`Message`]. Blocks only the calling greenlet while
    /// the peer is slow to read (up to the send timeout, after which the
    /// connection is dropped: a half-written frame cannot be taken back).
    /// `Err(Error::Closed)` once a Close was sent.
    pub fn send(&self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        self.send_frame(data_opcode(&message), message.as_bytes())?;
        self.take_in_input();
        Ok(())
    }

    /// Sends a message encoded once for many sockets (see
    /// [`PreparedMessage`]).
    pub fn send_prepared(&self, message: &PreparedMessage) -> Result<(), Error> {
        {
            let _writing = self.inner.writer.lock();
            if self.inner.status.lock().close_sent || self.closed() {
                return Err(Error::Closed);
            }
            self.write_encoded(&message.frame, &[])?;
        }
        self.take_in_input();
        Ok(())
    }

    /// Sends a Ping with this payload (at most 125 bytes).
    pub fn ping(&self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        let payload = payload.as_ref();
        if payload.len() > 125 {
            return Err(Error::Protocol(
                "a ping payload is at most 125 bytes".into(),
            ));
        }
        self.send_frame(OpCode::Control(Control::Ping), payload)
    }

    /// Closes the connection with the full closing handshake: sends a Close
    /// frame with `code` and `reason`, waits (up to the close timeout) for
    /// the peer's Close, then closes the socket. A greenlet blocked in
    /// `receive` gets `Ok(None)`. Closing a closed socket does nothing.
    ///
    /// Codes 1000-1003, 1007-1014 and 3000-4999 may be sent; the reason is
    /// cut to the 123 bytes a Close frame can carry.
    pub fn close(&self, code: u16, reason: &str) -> Result<(), Error> {
        if !CloseCode::from(code).is_allowed() {
            return Err(Error::Protocol(format!(
                "close code {code} may not be sent"
            )));
        }
        if self.closed() {
            return Ok(());
        }
        self.send_close(code, reason);
        let deadline = Instant::now() + self.inner.config.close_timeout;
        match self.inner.reader.try_lock() {
            Some(mut reader) => {
                // We are the reader: read until the peer's Close.
                while !self.closed() {
                    match self.read_step(&mut reader, true, Some(deadline)) {
                        Step::Event(Event::Message(message)) => reader.pending.push_back(message),
                        Step::Event(event) => self.on_control(event),
                        Step::Nothing => {}
                        Step::TimedOut | Step::Eof | Step::Io(_) => break,
                        Step::Decode(e) => self.fail_protocol(e),
                    }
                }
            }
            None => {
                // A greenlet in `receive` will meet the peer's Close.
                self.inner
                    .closed
                    .wait_timeout(deadline.saturating_duration_since(Instant::now()));
            }
        }
        self.finish();
        Ok(())
    }

    /// The outcome for a connection that ended, if it did.
    fn ended(&self) -> Option<Result<Option<Message>, Error>> {
        if !self.closed() {
            return None;
        }
        let status = self.inner.status.lock();
        Some(match &status.failure {
            Some(failure) => Err(failure.to_error()),
            None => Ok(None),
        })
    }

    /// Reads until the decoder has an event. With `wait` false, only what
    /// is there now.
    fn read_step(&self, reader: &mut Reader, wait: bool, deadline: Option<Instant>) -> Step {
        loop {
            match reader.decoder.next_buffered() {
                Ok(Some(event)) => return Step::Event(event),
                Ok(None) => {}
                Err(e) => return Step::Decode(e),
            }
            if wait {
                reader.decoder.release_memory();
                // An idle WebSocket can wait for hours: let it hold as
                // little memory as possible meanwhile (the first wait comes
                // right after the handshake, the deepest the stack went).
                let now = Instant::now();
                if reader.idle_since.is_none_or(|t| now - t > IDLE_TRIM_AFTER) {
                    green::trim_stack();
                }
                reader.idle_since = Some(now);
                match self.inner.io.wait_readable(deadline) {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::TimedOut => return Step::TimedOut,
                    Err(e) => return Step::Io(e),
                }
            } else if !self.inner.io.readable_hint() {
                return Step::Nothing;
            }
            if let Some(step) = self.read_once(reader, wait) {
                return step;
            }
        }
    }

    /// One read into this worker's scratch buffer, fed to the decoder.
    /// Out of line on purpose: the compiler may compute a thread-local's
    /// address once per function, and `read_step` blocks and may resume on
    /// another worker; here, with no blocking point, the address is fresh.
    #[inline(never)]
    fn read_once(&self, reader: &mut Reader, wait: bool) -> Option<Step> {
        let io = &self.inner.io;
        READ_SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            match io.try_read(&mut scratch[..]) {
                Ok(0) => Some(Step::Eof),
                Ok(n) => {
                    reader.last_seen = Instant::now();
                    match reader.decoder.push(&mut scratch[..n]) {
                        Ok(Some(event)) => Some(Step::Event(event)),
                        Ok(None) => None,
                        Err(e) => Some(Step::Decode(e)),
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => (!wait).then_some(Step::Nothing),
                Err(e) => Some(Step::Io(e)),
            }
        })
    }

    /// Handles a control frame from the peer.
    fn on_control(&self, event: Event) {
        match event {
            Event::Ping(payload) => {
                // A pong that cannot be sent means the connection is going.
                let _ = self.send_frame(OpCode::Control(Control::Pong), &payload);
            }
            Event::Pong => {}
            Event::Close(reason) => self.on_peer_close(reason),
            Event::Message(_) => unreachable!("messages are not control frames"),
        }
    }

    /// The peer's Close: answer it (echoing its code) unless we already
    /// sent ours, then close the socket (the server closes TCP first).
    fn on_peer_close(&self, reason: Option<CloseReason>) {
        self.inner.status.lock().peer_close = Some(reason.clone());
        match reason {
            Some(reason) => self.send_close(reason.code, ""),
            None => {
                let _writing = self.inner.writer.lock();
                let first = !std::mem::replace(&mut self.inner.status.lock().close_sent, true);
                if first {
                    let _ = self.write_frame(OpCode::Control(Control::Close), &[]);
                }
            }
        }
        self.finish();
    }

    /// Fails the connection for a protocol violation: the close code, then
    /// the socket closes.
    fn fail_protocol(&self, error: DecodeError) {
        let failure = match &error {
            DecodeError::Protocol(why) => Failure::Protocol((*why).to_owned()),
            DecodeError::InvalidUtf8 => Failure::InvalidUtf8,
            DecodeError::TooLarge => Failure::TooLarge(self.inner.config.max_message_size),
        };
        let reason = match &error {
            DecodeError::Protocol(why) => *why,
            DecodeError::InvalidUtf8 => "invalid UTF-8 in a text message",
            DecodeError::TooLarge => "message too large",
        };
        self.record_failure(failure);
        self.send_close(error.close_code(), reason);
        self.finish();
    }

    /// The stream ended without a Close frame.
    fn on_eof(&self) {
        let clean = {
            let status = self.inner.status.lock();
            status.close_sent || status.peer_close.is_some()
        };
        if !clean {
            self.record_failure(Failure::Lost);
        }
        self.finish();
    }

    fn on_io_error(&self, error: io::Error) {
        log::debug!(
            "websocket {} from {}: {error}",
            self.inner.id,
            self.inner.peer_addr
        );
        self.record_failure(Failure::Lost);
        self.finish();
    }

    fn record_failure(&self, failure: Failure) {
        let mut status = self.inner.status.lock();
        if status.failure.is_none() && !self.inner.closed.is_set() {
            status.failure = Some(failure);
        }
    }

    /// Sends our Close frame once; errors are moot, the socket closes next.
    fn send_close(&self, code: u16, reason: &str) {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(truncate_utf8(reason, 123).as_bytes());
        let _writing = self.inner.writer.lock();
        let first = !std::mem::replace(&mut self.inner.status.lock().close_sent, true);
        if first {
            let _ = self.write_frame(OpCode::Control(Control::Close), &payload);
        }
    }

    /// Closes the socket for good; wakes every greenlet waiting on it.
    fn finish(&self) {
        if !self.inner.closed.is_set() {
            let _ = self.inner.io.shutdown(Shutdown::Both);
            self.inner.closed.set();
        }
    }

    /// When a heartbeat is configured, the time `receive` may wait before
    /// it must ping or give up on the peer.
    fn heartbeat_deadline(&self, reader: &Reader) -> Option<Instant> {
        let dead = self
            .inner
            .config
            .dead_peer_timeout
            .map(|limit| reader.last_seen + limit);
        match (reader.next_ping, dead) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A heartbeat deadline passed: ping, or give up on a silent peer.
    fn heartbeat(&self, reader: &mut Reader) {
        let now = Instant::now();
        if let Some(limit) = self.inner.config.dead_peer_timeout {
            if now >= reader.last_seen + limit {
                log::info!(
                    "websocket {} from {}: no data for {limit:?}, closing",
                    self.inner.id,
                    self.inner.peer_addr
                );
                self.record_failure(Failure::Timeout);
                self.send_close(1001, "no data from the peer");
                self.finish();
                return;
            }
        }
        if let (Some(at), Some(every)) = (reader.next_ping, self.inner.config.ping_interval) {
            if now >= at {
                let _ = self.send_frame(OpCode::Control(Control::Ping), b"");
                reader.next_ping = Some(now + every);
            }
        }
    }

    /// After a send, takes in what the peer sent meanwhile if no greenlet
    /// is receiving: pings get answered and a Close gets noticed even by an
    /// app that only sends. Messages wait for the next `receive` (a few at
    /// most; beyond that the peer waits on TCP flow control).
    fn take_in_input(&self) {
        if !self.inner.io.readable_hint() {
            return;
        }
        let Some(mut reader) = self.inner.reader.try_lock() else {
            return;
        };
        while reader.pending.len() < MAX_PENDING
            && reader.decoder.partial_len() <= self.inner.config.max_message_size
            && !self.closed()
        {
            match self.read_step(&mut reader, false, None) {
                Step::Event(Event::Message(message)) => reader.pending.push_back(message),
                Step::Event(event) => self.on_control(event),
                Step::Nothing | Step::TimedOut => break,
                Step::Eof => self.on_eof(),
                Step::Decode(e) => self.fail_protocol(e),
                Step::Io(e) => self.on_io_error(e),
            }
        }
    }

    fn send_frame(&self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        let _writing = self.inner.writer.lock();
        if self.inner.status.lock().close_sent || self.closed() {
            return Err(Error::Closed);
        }
        self.write_frame(opcode, payload)
    }

    /// Writes one unmasked frame; the caller holds the writer lock.
    fn write_frame(&self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        let (head, len) = frame_header(opcode, payload.len());
        self.write_encoded(&head[..len], payload)
    }

    /// Writes `head` then `payload`. A write that fails or times out loses
    /// the connection (a frame cannot be taken back halfway).
    fn write_encoded(&self, head: &[u8], payload: &[u8]) -> Result<(), Error> {
        let deadline = Some(Instant::now() + self.inner.config.send_timeout);
        let result = self.inner.io.write_parts(head, payload, deadline);
        result.map_err(|e| {
            let timed_out = e.kind() == ErrorKind::TimedOut;
            self.record_failure(if timed_out {
                Failure::Timeout
            } else {
                Failure::Lost
            });
            // Mark the close as done: nothing more can be written.
            self.inner.status.lock().close_sent = true;
            self.finish();
            if timed_out {
                Error::Timeout
            } else {
                Error::ConnectionLost
            }
        })
    }

    /// Closes after the app returned (1000), or panicked (1011).
    pub(crate) fn close_after_app(&self, panicked: bool) {
        if !self.closed() {
            let (code, reason) = if panicked {
                (1011, "internal server error")
            } else {
                (1000, "")
            };
            let _ = self.close(code, reason);
        }
    }
}

/// The longest prefix of `text` of at most `max` bytes, cut at a character.
fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The opcode of a data message.
fn data_opcode(message: &Message) -> OpCode {
    match message {
        Message::Text(_) => OpCode::Data(Data::Text),
        Message::Binary(_) => OpCode::Data(Data::Binary),
    }
}

/// An unmasked, final server frame header for `len` payload bytes (the
/// header's bytes and how many of them are used).
fn frame_header(opcode: OpCode, len: usize) -> ([u8; 14], usize) {
    let header = FrameHeader {
        is_final: true,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode,
        mask: None,
    };
    let mut head = [0u8; 14];
    let mut cursor = Cursor::new(&mut head[..]);
    header
        .format(len as u64, &mut cursor)
        .expect("a frame header fits in 14 bytes");
    let used = cursor.position() as usize;
    (head, used)
}

/// A message encoded once, to send to many sockets (a broadcast) without
/// encoding it again for each.
#[derive(Clone, Debug)]
pub struct PreparedMessage {
    frame: Arc<[u8]>,
}

impl PreparedMessage {
    /// Encodes `message` as an unmasked server frame.
    pub fn new(message: impl Into<Message>) -> Self {
        let message = message.into();
        let payload = message.as_bytes();
        let (head, len) = frame_header(data_opcode(&message), payload.len());
        let mut frame = Vec::with_capacity(len + payload.len());
        frame.extend_from_slice(&head[..len]);
        frame.extend_from_slice(payload);
        PreparedMessage {
            frame: frame.into(),
        }
    }
}
