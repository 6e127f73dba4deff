//! The read side of a `WebSocket`: reading the socket into the decoder,
//! the messages taken in while the app only sends, and what each event
//! from the peer sets off.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::WebSocket;
use crate::proto::websocket::{Decoder, Event, Message, OpCode, ProtocolError};
use crate::Error;

/// A wait that lasted this long marks the connection as idle-prone: its
/// next wait releases unused stack first.
const IDLE_TRIM_AFTER: Duration = Duration::from_secs(1);
/// The most one read takes from the socket: the size of each worker
/// thread's read buffer.
const READ_SIZE: usize = 64 * 1024;
/// What a message waiting for `receive` costs beyond its payload.
const PENDING_OVERHEAD: usize = std::mem::size_of::<Message>();

thread_local! {
    /// Where reads land: a worker thread's buffer, borrowed only between
    /// blocking points, so an idle connection holds no read buffer at all
    /// (the memory is per worker thread, not per connection).
    static READ_SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_SIZE].into_boxed_slice());
}

/// The read state of a connection, behind its reader lock.
pub(super) struct Reader {
    pub(super) decoder: Decoder,
    /// Time spent waiting for the peer while the message (or frame) now in
    /// progress was: against `min_message_rate`.
    message_waited: Duration,
    /// When the last wait for the peer began; a wait after a long one (or
    /// the first) gives the greenlet's unused stack back first.
    idle_since: Option<Instant>,
    /// Messages taken in while sending, for the next `receive`.
    pending: VecDeque<Message>,
    /// Their payload, plus `PENDING_OVERHEAD` for each.
    pending_bytes: usize,
    /// When the peer last sent anything (for the dead-peer timeout).
    pub(super) last_seen: Instant,
    /// When to ping next, if pings are on.
    pub(super) next_ping: Option<Instant>,
}

impl Reader {
    pub(super) fn new(decoder: Decoder, now: Instant, next_ping: Option<Instant>) -> Self {
        Reader {
            decoder,
            message_waited: Duration::ZERO,
            idle_since: None,
            pending: VecDeque::new(),
            pending_bytes: 0,
            last_seen: now,
            next_ping,
        }
    }

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

/// Counts a greenlet in `receive` for as long as it is there (unwinding
/// included).
pub(super) struct Receiving<'a>(&'a AtomicUsize);

impl<'a> Receiving<'a> {
    pub(super) fn enter(receivers: &'a AtomicUsize) -> Self {
        receivers.fetch_add(1, Ordering::SeqCst);
        Receiving(receivers)
    }
}

impl Drop for Receiving<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
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

/// One step of reading.
enum Step {
    Event(Event),
    /// Nothing more without waiting, or the budget is spent (`Wait::No`).
    Nothing,
    TimedOut,
    Eof,
    Violation(ProtocolError),
    /// The message in progress fell behind `min_message_rate`
    /// ([`Error::MessageTooSlow`]).
    TooSlow(Error),
    Io(io::Error),
}

impl WebSocket {
    /// `receive` with the reader lock held.
    pub(super) fn receive_from(&self, reader: &mut Reader) -> Result<Option<Message>, Error> {
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
                Step::Violation(e) => self.fail_protocol(e),
                Step::TooSlow(e) => self.fail_too_slow(e),
                Step::Io(e) => self.on_io_error(e),
            }
        }
    }

    /// Reads for a `close` until the peer's Close, the end of the stream,
    /// or `deadline`. Data that arrives is discarded.
    pub(super) fn read_until_closed(&self, reader: &mut Reader, deadline: Option<Instant>) {
        while !self.closed() {
            match self.read_step(reader, Wait::Until(deadline)) {
                // No messages come while discarding.
                Step::Event(Event::Message(_)) | Step::Nothing => {}
                Step::Event(event) => self.on_control(event),
                Step::TimedOut => return,
                Step::Eof => self.on_eof(),
                Step::Violation(e) => self.fail_protocol(e),
                Step::TooSlow(e) => self.fail_too_slow(e),
                Step::Io(e) => self.on_io_error(e),
            }
        }
    }

    /// After a send, takes in what the peer sent meanwhile if no greenlet
    /// is receiving: pings get answered and a Close gets noticed even by an
    /// app that only sends. Messages wait for the next `receive`, up to
    /// `max_message_size` bytes held in all (one step more at most, see
    /// [`buffered_input`](Self::buffered_input)); beyond that the peer's
    /// data stays in the socket, and TCP flow control holds the peer back.
    pub(super) fn take_in_input(&self) {
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
                Step::Violation(e) => self.fail_protocol(e),
                Step::TooSlow(e) => self.fail_too_slow(e),
                Step::Io(e) => self.on_io_error(e),
            }
        }
        self.publish_held(&reader);
    }

    /// Bytes the peer sent before this handle existed (a client reads the
    /// server's first frames with the end of the 101): decoded first by
    /// the next read.
    pub(crate) fn buffer_early_input(&self, bytes: &[u8]) {
        let mut reader = self.inner.reader.lock();
        reader.decoder.buffer(bytes);
        self.publish_held(&reader);
    }

    /// Makes the reader's holdings visible to [`buffered_input`](Self::buffered_input).
    pub(super) fn publish_held(&self, reader: &Reader) {
        self.inner
            .input_held
            .store(reader.held(), Ordering::Relaxed);
    }

    /// Reads until the decoder has an event, the deadline passes, or (not
    /// waiting) nothing more is there or the budget is spent.
    fn read_step(&self, reader: &mut Reader, wait: Wait) -> Step {
        let step = self.read_step_inner(reader, wait);
        // A message ends (or a control frame between messages): whatever
        // comes next starts its own clock. A control frame between a
        // message's fragments does not: the message's clock runs on.
        if matches!(step, Step::Event(_)) && !reader.decoder.is_mid_message() {
            reader.message_waited = Duration::ZERO;
        }
        step
    }

    fn read_step_inner(&self, reader: &mut Reader, wait: Wait) -> Step {
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
                Err(e) => return Step::Violation(e),
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
                    // Only a wait with a message (or frame) half way is
                    // timed against the minimum rate: an idle peer is the
                    // heartbeat's, and the fast path reads no clock more.
                    let (wait_deadline, paced) = match self.pace_wait(reader, deadline) {
                        Ok(paced) => paced,
                        Err(too_slow) => return Step::TooSlow(too_slow),
                    };
                    let waited = self.inner.io.wait_readable(wait_deadline);
                    if paced {
                        reader.message_waited += now.elapsed();
                    }
                    match waited {
                        Ok(()) => {}
                        // The rate's deadline, or the caller's, or a timer
                        // that fired early: the next round tells which.
                        Err(e) if e.kind() == ErrorKind::TimedOut && paced => continue,
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
            if let Some(step) = self.read_once(reader, matches!(wait, Wait::No { .. })) {
                return step;
            }
        }
    }

    /// One read into this worker's scratch buffer, fed to the decoder;
    /// `None` when that gave no event yet. Out of line on purpose: the
    /// compiler may compute a thread-local's address once per function,
    /// and `read_step` blocks and may resume on another worker; here, with
    /// no blocking point, the address is always this thread's.
    #[inline(never)]
    fn read_once(&self, reader: &mut Reader, nonblocking: bool) -> Option<Step> {
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
                        Err(e) => Some(Step::Violation(e)),
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => nonblocking.then_some(Step::Nothing),
                Err(e) => Some(Step::Io(e)),
            }
        })
    }

    /// The deadline of a wait that begins now, and whether the wait
    /// counts against `min_message_rate`: with a message (or frame) in
    /// progress, the caller's `deadline` or earlier, when the message
    /// would fall behind the rate, or the error once it has; with none,
    /// `deadline` as it is (and the time waited for the last one is
    /// forgotten).
    fn pace_wait(
        &self,
        reader: &mut Reader,
        deadline: Option<Instant>,
    ) -> Result<(Option<Instant>, bool), Error> {
        let Some(min_rate) = self.inner.config.min_message_rate else {
            return Ok((deadline, false));
        };
        let Some(received) = reader.decoder.in_progress() else {
            reader.message_waited = Duration::ZERO;
            return Ok((deadline, false));
        };
        let left = min_rate
            .allowance(received)
            .saturating_sub(reader.message_waited);
        if left.is_zero() {
            return Err(Error::MessageTooSlow {
                received,
                waited: reader.message_waited,
                min_rate,
            });
        }
        let rate_deadline = crate::deadline::after(left);
        Ok((crate::deadline::earliest(deadline, rate_deadline), true))
    }

    /// Handles a control frame from the peer.
    fn on_control(&self, event: Event) {
        match event {
            Event::Ping(payload) => {
                // A pong that cannot be sent means the connection is going.
                let _ = self.send_control(OpCode::Pong, &payload);
            }
            Event::Pong(_) => {}
            Event::Close(reason) => self.on_peer_close(reason),
            Event::Message(_) => unreachable!("messages are not control frames"),
        }
    }
}
