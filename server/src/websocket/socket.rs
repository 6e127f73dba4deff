//! The `WebSocket` handle: full-duplex messages over one connection.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Cursor, ErrorKind};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use super::decoder::{DecodeError, Decoder, Event};
use super::message::{is_valid_close_code, CloseReason, Message};
use super::WebSocketConfig;
use crate::transport::Transport;
use crate::Error;

/// A wait that lasted this long marks the connection as idle-prone: its
/// next wait releases unused stack first.
const IDLE_TRIM_AFTER: Duration = Duration::from_secs(1);
/// The most one read takes from the socket: the size of each worker
/// thread's read buffer.
pub(crate) const READ_SIZE: usize = 64 * 1024;
/// What a message waiting for `receive` costs beyond its payload.
const PENDING_OVERHEAD: usize = std::mem::size_of::<Message>();

thread_local! {
    /// Where reads land: a worker thread's buffer, borrowed only between
    /// blocking points, so an idle connection holds no read buffer at all
    /// (the memory is per worker thread, not per connection).
    static READ_SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_SIZE].into_boxed_slice());
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
///
/// Memory for input is bounded whatever the peer sends: a connection holds
/// at most `max_message_size` + 65 KiB for messages its app has not
/// received yet (see [`buffered_input`](Self::buffered_input)); beyond
/// that, the peer's data waits in the kernel and TCP flow control stops it.
#[derive(Clone)]
pub struct WebSocket {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    id: u64,
    io: Arc<Transport>,
    reader: green::sync::Mutex<Reader>,
    writer: green::sync::Mutex<()>,
    /// Our Close went out (or nothing more can be written): no more sends,
    /// and data from the peer is discarded.
    close_sent: AtomicBool,
    /// Greenlets in `receive`. While there is one, it does the reading for
    /// a `close` called elsewhere.
    receivers: AtomicUsize,
    /// What [`WebSocket::buffered_input`] reports, published by the reader.
    input_held: AtomicUsize,
    status: parking_lot::Mutex<Status>,
    closed: green::Event,
    /// Run once when the connection closes, by key (see `on_close`).
    close_hooks: parking_lot::Mutex<Vec<(u64, CloseHook)>>,
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
    /// Their payload, plus `PENDING_OVERHEAD` for each.
    pending_bytes: usize,
    last_seen: Instant,
    next_ping: Option<Instant>,
}

impl Reader {
    /// Bytes held for input the app has not received.
    fn held(&self) -> usize {
        self.pending_bytes + self.decoder.held()
    }

    fn push_pending(&mut self, message: Message) {
        self.pending_bytes += message.len() + PENDING_OVERHEAD;
        self.pending.push_back(message);
    }

    fn pop_pending(&mut self) -> Option<Message> {
        let message = self.pending.pop_front()?;
        self.pending_bytes -= message.len() + PENDING_OVERHEAD;
        Some(message)
    }
}

#[derive(Default)]
struct Status {
    /// When a `close` stops waiting for the peer's Close (`None` when no
    /// close waits, or one waits without a limit).
    close_deadline: Option<Instant>,
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
    CloseTimeout(Duration),
}

impl Failure {
    fn to_error(&self) -> Error {
        match self {
            Failure::Protocol(why) => Error::Protocol(why.clone()),
            Failure::InvalidUtf8 => Error::InvalidUtf8,
            Failure::TooLarge(limit) => Error::MessageTooLarge { limit: *limit },
            Failure::Lost => Error::ConnectionLost,
            Failure::Timeout => Error::Timeout,
            Failure::CloseTimeout(timeout) => Error::CloseTimeout { timeout: *timeout },
        }
    }
}

/// How a read step may wait for the peer.
#[derive(Clone, Copy)]
enum Wait {
    /// Until data arrives or the deadline passes (`None`: no limit).
    Until(Option<Instant>),
    /// Not at all: only what is there now, and only while the bytes held
    /// for input stay under `budget`.
    No { budget: usize },
}

/// Something to do once the connection closes.
type CloseHook = Box<dyn FnOnce() + Send>;

/// One step of reading.
enum Step {
    Event(Event),
    /// Nothing more without waiting, or the budget is spent (`Wait::No`).
    Nothing,
    TimedOut,
    Eof,
    Decode(DecodeError),
    Io(io::Error),
}

/// Counts a greenlet in `receive` for as long as it is there (unwinding
/// included).
struct Receiving<'a>(&'a AtomicUsize);

impl<'a> Receiving<'a> {
    fn enter(receivers: &'a AtomicUsize) -> Self {
        receivers.fetch_add(1, Ordering::SeqCst);
        Receiving(receivers)
    }
}

impl Drop for Receiving<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
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
    /// A WebSocket over `io`, which the 101 just switched: nothing was read
    /// from it beyond the request.
    pub(crate) fn new(io: Arc<Transport>, config: Arc<WebSocketConfig>, info: Info) -> Self {
        let now = Instant::now();
        WebSocket {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                io,
                reader: green::sync::Mutex::new(Reader {
                    idle_since: None,
                    decoder: Decoder::new(config.max_frame_size, config.max_message_size),
                    pending: VecDeque::new(),
                    pending_bytes: 0,
                    last_seen: now,
                    next_ping: next_ping_after(&config, now),
                }),
                writer: green::sync::Mutex::new(()),
                close_sent: AtomicBool::new(false),
                receivers: AtomicUsize::new(0),
                input_held: AtomicUsize::new(0),
                status: parking_lot::Mutex::new(Status::default()),
                closed: green::Event::new(),
                close_hooks: parking_lot::Mutex::new(Vec::new()),
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

    /// Bytes this connection holds for input its app has not received:
    /// messages taken in while it sent, a message whose frames are still
    /// arriving, and bytes read but not decoded yet. Whatever the peer
    /// sends, this stays under `max_message_size` + 65 KiB (one message,
    /// one read of 64 KiB, and an incomplete control frame); the peer's
    /// further data waits in the kernel.
    ///
    /// ```
    /// # fn show(ws: &greenws::WebSocket) {
    /// log::debug!("{} bytes of input waiting", ws.buffered_input());
    /// # }
    /// ```
    pub fn buffered_input(&self) -> usize {
        self.inner.input_held.load(Ordering::Relaxed)
    }

    /// Blocks the calling greenlet until a whole message arrives.
    ///
    /// `Ok(Some(message))` for a text or binary message (empty ones
    /// included); `Ok(None)` once the connection closed cleanly (the peer's
    /// Close arrived: it was answered, or it answered ours); `Err` when the
    /// peer broke the protocol (after the matching close code was sent:
    /// 1002, 1007 for bad UTF-8, 1009 for too large), when the connection
    /// was lost without a Close, when the peer went silent past the
    /// dead-peer timeout, or when it did not answer our Close in time.
    /// Pings are answered on the way, and sent while the wait lasts (see
    /// [`WebSocketConfig::ping_interval`]).
    pub fn receive(&self) -> Result<Option<Message>, Error> {
        let _receiving = Receiving::enter(&self.inner.receivers);
        let mut reader = self.inner.reader.lock();
        let result = self.receive_from(&mut reader);
        self.publish_held(&reader);
        result
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
            if self.closing() {
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
    /// the peer's Close, discarding the messages that still arrive, then
    /// closes the socket. A greenlet blocked in `receive` gets `Ok(None)`.
    ///
    /// `Ok(())` once the peer answered; `Err(Error::CloseTimeout)` when it
    /// did not within the close timeout, `Err(Error::ConnectionLost)` when
    /// it went away without answering (the socket is closed either way).
    /// Closing a closed socket does nothing and is `Ok`.
    ///
    /// Codes 1000-1003, 1007-1014 and 3000-4999 may be sent (others are
    /// `Err(Error::Protocol)`); the reason is cut to the 123 bytes a Close
    /// frame can carry.
    pub fn close(&self, code: u16, reason: &str) -> Result<(), Error> {
        if !is_valid_close_code(code) {
            return Err(Error::Protocol(format!(
                "close code {code} may not be sent"
            )));
        }
        if self.closed() {
            return Ok(());
        }
        let deadline = crate::deadline::after(self.inner.config.close_timeout);
        {
            let mut status = self.inner.status.lock();
            if status.close_deadline.is_none() {
                status.close_deadline = deadline;
            }
        }
        // Written before `receivers` is read: a greenlet that enters
        // `receive` after this sees the close and its deadline.
        self.send_close(code, reason);
        if self.inner.receivers.load(Ordering::SeqCst) > 0 {
            // A greenlet in `receive` reads on and meets the peer's Close.
            match deadline {
                Some(at) => {
                    self.inner
                        .closed
                        .wait_timeout(at.saturating_duration_since(Instant::now()));
                }
                None => self.inner.closed.wait(),
            }
        } else {
            let mut reader = self.inner.reader.lock();
            self.read_until_closed(&mut reader, deadline);
            self.publish_held(&reader);
        }
        if !self.closed() {
            self.close_timed_out();
        }
        let status = self.inner.status.lock();
        match (&status.peer_close, &status.failure) {
            (Some(_), _) => Ok(()),
            (None, Some(failure)) => Err(failure.to_error()),
            (None, None) => Err(Error::ConnectionLost),
        }
    }

    /// True once our Close went out or the connection closed: nothing
    /// more may be sent.
    pub(crate) fn closing(&self) -> bool {
        self.inner.close_sent.load(Ordering::SeqCst) || self.closed()
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

    fn receive_from(&self, reader: &mut Reader) -> Result<Option<Message>, Error> {
        loop {
            if let Some(message) = reader.pop_pending() {
                return Ok(Some(message));
            }
            if let Some(end) = self.ended() {
                return end;
            }
            let deadline = self.receive_deadline(reader);
            match self.read_step(reader, Wait::Until(deadline)) {
                Step::Event(Event::Message(message)) => return Ok(Some(message)),
                Step::Event(event) => self.on_control(event),
                Step::Nothing => {}
                Step::TimedOut => self.on_deadline(reader),
                Step::Eof => self.on_eof(),
                Step::Decode(e) => self.fail_protocol(e),
                Step::Io(e) => self.on_io_error(e),
            }
        }
    }

    /// Reads for a `close` until the peer's Close, the end of the stream,
    /// or `deadline`. Data that arrives is discarded.
    fn read_until_closed(&self, reader: &mut Reader, deadline: Option<Instant>) {
        while !self.closed() {
            match self.read_step(reader, Wait::Until(deadline)) {
                // No messages come while discarding.
                Step::Event(Event::Message(_)) | Step::Nothing => {}
                Step::Event(event) => self.on_control(event),
                Step::TimedOut => return,
                Step::Eof => self.on_eof(),
                Step::Decode(e) => self.fail_protocol(e),
                Step::Io(e) => self.on_io_error(e),
            }
        }
    }

    /// Reads until the decoder has an event, the deadline passes, or (not
    /// waiting) nothing more is there or the budget is spent.
    fn read_step(&self, reader: &mut Reader, wait: Wait) -> Step {
        if !reader.decoder.is_discarding() && self.inner.close_sent.load(Ordering::SeqCst) {
            reader.decoder.discard_data();
        }
        loop {
            if let Wait::No { budget } = wait {
                if reader.held() >= budget {
                    return Step::Nothing;
                }
            }
            match reader.decoder.next_buffered() {
                Ok(Some(event)) => return Step::Event(event),
                Ok(None) => {}
                Err(e) => return Step::Decode(e),
            }
            match wait {
                Wait::Until(deadline) => {
                    // Checked here too: a peer that never stops sending
                    // would otherwise keep the wait from ever timing out.
                    if deadline.is_some_and(|at| Instant::now() >= at) {
                        return Step::TimedOut;
                    }
                    reader.decoder.release_memory();
                    // An idle WebSocket can wait for hours: let it hold as
                    // little memory as possible meanwhile (the first wait
                    // comes right after the handshake, the deepest the
                    // stack went).
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
                }
                Wait::No { .. } => {
                    if !self.inner.io.readable_hint() {
                        return Step::Nothing;
                    }
                }
            }
            let io = &self.inner.io;
            let step = READ_SCRATCH.with(|scratch| {
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
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        matches!(wait, Wait::No { .. }).then_some(Step::Nothing)
                    }
                    Err(e) => Some(Step::Io(e)),
                }
            });
            if let Some(step) = step {
                return step;
            }
        }
    }

    /// Makes the reader's holdings visible to [`buffered_input`](Self::buffered_input).
    fn publish_held(&self, reader: &Reader) {
        self.inner
            .input_held
            .store(reader.held(), Ordering::Relaxed);
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
        let echo = reason.as_ref().map(|r| r.code.to_be_bytes());
        self.inner.status.lock().peer_close = Some(reason);
        self.send_close_payload(echo.as_ref().map_or(&[][..], |code| &code[..]));
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

    /// The stream ended: without the peer's Close, the connection was lost.
    fn on_eof(&self) {
        if self.inner.status.lock().peer_close.is_none() {
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

    /// The peer did not answer our Close in time.
    fn close_timed_out(&self) {
        self.record_failure(Failure::CloseTimeout(self.inner.config.close_timeout));
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
        self.send_close_payload(&payload);
    }

    /// Sends a Close frame with this payload, unless one went out already.
    fn send_close_payload(&self, payload: &[u8]) {
        let _writing = self.inner.writer.lock();
        if !self.inner.close_sent.swap(true, Ordering::SeqCst) {
            let _ = self.write_frame(OpCode::Control(Control::Close), payload);
        }
    }

    /// Closes the socket for good; wakes every greenlet waiting on it and
    /// runs the close hooks.
    fn finish(&self) {
        if !self.inner.closed.is_set() {
            let _ = self.inner.io.shutdown(Shutdown::Both);
            self.inner.closed.set();
        }
        let hooks = std::mem::take(&mut *self.inner.close_hooks.lock());
        for (_, hook) in hooks {
            hook();
        }
    }

    /// Runs `hook` once the connection closes, in the greenlet that closes
    /// it (so it must be short and must not block). `key` names it for
    /// [`forget_close_hook`](Self::forget_close_hook); keys are the
    /// caller's to keep unique. False, and the hook is dropped unrun, when
    /// the connection is closed already.
    pub(crate) fn on_close(&self, key: u64, hook: impl FnOnce() + Send + 'static) -> bool {
        let mut hooks = self.inner.close_hooks.lock();
        // `finish` marks the socket closed before it takes the hooks: a
        // hook added after that check would never run.
        if self.closed() {
            return false;
        }
        hooks.push((key, Box::new(hook)));
        true
    }

    /// Drops the close hook added under `key`, if it has not run.
    pub(crate) fn forget_close_hook(&self, key: u64) {
        self.inner.close_hooks.lock().retain(|(k, _)| *k != key);
    }

    /// The earliest of what `receive` must wake for: the next ping, the
    /// dead-peer limit, and the deadline of a `close` waiting for the
    /// peer's Close.
    fn receive_deadline(&self, reader: &Reader) -> Option<Instant> {
        let dead = self
            .inner
            .config
            .dead_peer_timeout
            .and_then(|limit| reader.last_seen.checked_add(limit));
        let closing = if self.inner.close_sent.load(Ordering::SeqCst) {
            self.inner.status.lock().close_deadline
        } else {
            None
        };
        [reader.next_ping, dead, closing]
            .into_iter()
            .flatten()
            .min()
    }

    /// A deadline of `receive` passed: give up on a close, or on a silent
    /// peer, or ping.
    fn on_deadline(&self, reader: &mut Reader) {
        let now = Instant::now();
        let closing = self.inner.close_sent.load(Ordering::SeqCst);
        if closing
            && self
                .inner
                .status
                .lock()
                .close_deadline
                .is_some_and(|at| now >= at)
        {
            self.close_timed_out();
            return;
        }
        if let Some(limit) = self.inner.config.dead_peer_timeout {
            if reader
                .last_seen
                .checked_add(limit)
                .is_some_and(|at| now >= at)
            {
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
        if reader.next_ping.is_some_and(|at| now >= at) {
            if !closing {
                let _ = self.send_frame(OpCode::Control(Control::Ping), b"");
            }
            reader.next_ping = next_ping_after(&self.inner.config, now);
        }
    }

    /// After a send, takes in what the peer sent meanwhile if no greenlet
    /// is receiving: pings get answered and a Close gets noticed even by an
    /// app that only sends. Messages wait for the next `receive`, up to
    /// `max_message_size` bytes held in all (one step more at most, see
    /// [`buffered_input`](Self::buffered_input)); beyond that the peer's
    /// data stays in the socket, and TCP flow control holds the peer back.
    fn take_in_input(&self) {
        if !self.inner.io.readable_hint() {
            return;
        }
        let Some(mut reader) = self.inner.reader.try_lock() else {
            return;
        };
        let budget = self.inner.config.max_message_size;
        while !self.closed() {
            match self.read_step(&mut reader, Wait::No { budget }) {
                Step::Event(Event::Message(message)) => reader.push_pending(message),
                Step::Event(event) => self.on_control(event),
                Step::Nothing | Step::TimedOut => break,
                Step::Eof => self.on_eof(),
                Step::Decode(e) => self.fail_protocol(e),
                Step::Io(e) => self.on_io_error(e),
            }
        }
        self.publish_held(&reader);
    }

    fn send_frame(&self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        let _writing = self.inner.writer.lock();
        if self.closing() {
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
        let deadline = crate::deadline::after(self.inner.config.send_timeout);
        let result = self.inner.io.write_parts(head, payload, deadline);
        result.map_err(|e| {
            let timed_out = e.kind() == ErrorKind::TimedOut;
            self.record_failure(if timed_out {
                Failure::Timeout
            } else {
                Failure::Lost
            });
            // Mark the close as done: nothing more can be written.
            self.inner.close_sent.store(true, Ordering::SeqCst);
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

/// When to ping next after `now`: never without an interval (or with one
/// of zero, or one too long to represent).
fn next_ping_after(config: &WebSocketConfig, now: Instant) -> Option<Instant> {
    config
        .ping_interval
        .filter(|every| !every.is_zero())
        .and_then(|every| now.checked_add(every))
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
