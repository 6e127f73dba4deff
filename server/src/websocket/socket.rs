//! The `WebSocket` handle: full-duplex messages over one connection, in
//! either role. This file holds the handle and what an app calls; the
//! machinery behind it has a file per job: `reader.rs` (the read state
//! machine), `writer.rs` (frames out, back-pressure), `closing.rs` (the
//! closing handshake), `heartbeat.rs` (pings and the dead-peer timeout).

use crate::metrics::Direction;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::closing::{CloseHook, Status};
use super::deflate::{Agreement, DeflateParams, Deflater, Inflater};
use super::handshake_request::HandshakeRequest;
use super::heartbeat::next_ping_after;
use super::messages::Messages;
use super::prepared::PreparedMessage;
use super::reader::{Reader, Receiving};
use super::writer::Writer;
use super::WebSocketConfig;
use crate::connection::transport::Transport;
use crate::proto::websocket::{
    CloseCode, CloseReason, Decoder, Message, OpCode, Role, MAX_CONTROL_PAYLOAD,
};
use crate::Error;

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
/// frame being written. [`try_send`](Self::try_send) never waits, and
/// [`buffered_amount`](Self::buffered_amount) says how far behind the peer
/// is.
///
/// Memory for input is bounded whatever the peer sends: a connection holds
/// at most `max_message_size` + 65 KiB for messages its app has not
/// received yet (see [`buffered_input`](Self::buffered_input)); beyond
/// that, the peer's data waits in the kernel and TCP flow control stops it.
#[derive(Clone)]
pub struct WebSocket {
    pub(super) inner: Arc<Inner>,
}

/// What the clones of a handle share.
pub(super) struct Inner {
    pub(super) id: u64,
    /// Server or client: decides masking and which frames are accepted.
    pub(super) role: Role,
    pub(super) io: Arc<Transport>,
    pub(super) reader: green::sync::Mutex<Reader>,
    pub(super) writer: green::sync::Mutex<Writer>,
    /// Our Close went out (or nothing more can be written): no more sends,
    /// and data from the peer is discarded.
    pub(super) close_sent: AtomicBool,
    /// Greenlets in `receive`. While there is one, it does the reading for
    /// a `close` called elsewhere.
    pub(super) receivers: AtomicUsize,
    /// What [`WebSocket::buffered_input`] reports, published by the reader.
    pub(super) input_held: AtomicUsize,
    /// Bytes of a frame taken for sending but not written to the socket
    /// yet (part of [`WebSocket::buffered_amount`]).
    pub(super) unsent: AtomicUsize,
    pub(super) status: parking_lot::Mutex<Status>,
    pub(super) closed: green::Event,
    /// Run once when the connection closes, by key (see `on_close`).
    pub(super) close_hooks: parking_lot::Mutex<Vec<(u64, CloseHook)>>,
    pub(super) config: Arc<WebSocketConfig>,
    request: HandshakeRequest,
    protocol: Option<String>,
    /// permessage-deflate as agreed, if it was.
    deflate: Option<DeflateParams>,
    peer_addr: SocketAddr,
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("id", &self.inner.id)
            .field("role", &self.inner.role)
            .field("path", &self.path())
            .field("peer", &self.inner.peer_addr)
            .field("closed", &self.closed())
            .finish()
    }
}

/// What the opening handshake settled.
pub(crate) struct Handshake {
    /// The request that opened the connection.
    pub(crate) request: HandshakeRequest,
    /// The subprotocol agreed on.
    pub(crate) protocol: Option<String>,
    /// permessage-deflate, if it was agreed (by the caller's role's
    /// negotiation, with `config.deflate`).
    pub(crate) deflate: Option<Agreement>,
    pub(crate) peer_addr: SocketAddr,
}

impl WebSocket {
    /// A WebSocket over `io`, which the handshake just switched: nothing
    /// was read from it beyond the handshake.
    pub(crate) fn new(
        io: Arc<Transport>,
        role: Role,
        config: Arc<WebSocketConfig>,
        handshake: Handshake,
    ) -> Self {
        let now = Instant::now();
        let mut decoder = Decoder::new(role, config.max_frame_size, config.max_message_size);
        let mut deflater = None;
        if let Some(agreement) = &handshake.deflate {
            decoder.set_decompressor(Box::new(Inflater::new(agreement.incoming)));
            deflater = Some(Deflater::new(agreement.outgoing, &config.deflate));
        }
        WebSocket {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                role,
                io,
                reader: green::sync::Mutex::new(Reader::new(
                    decoder,
                    now,
                    next_ping_after(&config, now),
                )),
                writer: green::sync::Mutex::new(Writer::new(deflater)),
                close_sent: AtomicBool::new(false),
                receivers: AtomicUsize::new(0),
                input_held: AtomicUsize::new(0),
                unsent: AtomicUsize::new(0),
                status: parking_lot::Mutex::new(Status::default()),
                closed: green::Event::new(),
                close_hooks: parking_lot::Mutex::new(Vec::new()),
                config,
                request: handshake.request,
                protocol: handshake.protocol,
                deflate: handshake.deflate.map(|agreement| agreement.params),
                peer_addr: handshake.peer_addr,
            }),
        }
    }

    /// A number unique to this connection within the process.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The request path the connection was opened on.
    pub fn path(&self) -> &str {
        self.inner.request.path()
    }

    /// The `Origin` header of the handshake, if any.
    pub fn origin(&self) -> Option<&str> {
        self.inner.request.origin()
    }

    /// The request that opened the connection: query string, headers,
    /// cookies (gevent-websocket's `ws.environ`). On a client's socket
    /// ([`connect`](crate::connect)), the request it sent.
    ///
    /// ```
    /// # fn room_of(ws: &greenws::WebSocket) -> &str {
    /// ws.request().query_param("room").unwrap_or("lobby")
    /// # }
    /// ```
    pub fn request(&self) -> &HandshakeRequest {
        &self.inner.request
    }

    /// The negotiated subprotocol, if one was agreed.
    pub fn protocol(&self) -> Option<&str> {
        self.inner.protocol.as_deref()
    }

    /// The extensions agreed in the handshake, as its
    /// `Sec-WebSocket-Extensions` header said them (a browser's
    /// `ws.extensions`): permessage-deflate and its parameters, or `None`.
    ///
    /// ```
    /// # fn show(ws: &greenws::WebSocket) {
    /// // "permessage-deflate; server_no_context_takeover; client_max_window_bits=11"
    /// log::debug!("compression: {:?}", ws.extensions());
    /// # }
    /// ```
    pub fn extensions(&self) -> Option<String> {
        self.inner.deflate.map(|params| params.header_value())
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

    /// Bytes queued for the peer and not acknowledged by it yet: what the
    /// kernel holds for this socket (`SIOCOUTQ`) plus any part of a frame
    /// not written to the socket yet (a `send` waiting for room, or the
    /// rest of a frame a [`try_send`](Self::try_send) began). It grows
    /// while the peer does not read, and falls as it catches up: a live
    /// feed can watch it to skip stale updates (uWebSockets'
    /// `getBufferedAmount`, the browser's `bufferedAmount`). Over TLS,
    /// records encrypted but not yet handed to the kernel are not counted.
    ///
    /// ```
    /// # fn feed(ws: &greenws::WebSocket, point: String) -> greenws::Result<()> {
    /// if ws.buffered_amount() < 64 * 1024 {
    ///     ws.send(point)?;
    /// } // else: the peer is behind; skip this point
    /// # Ok(()) }
    /// ```
    pub fn buffered_amount(&self) -> usize {
        self.inner.io.unacknowledged_bytes() + self.inner.unsent.load(Ordering::Relaxed)
    }

    /// Blocks the calling greenlet until a whole message arrives.
    ///
    /// `Ok(Some(message))` for a text or binary message (empty ones
    /// included); `Ok(None)` once the connection closed cleanly (the peer's
    /// Close arrived: it was answered, or it answered ours); `Err` when the
    /// peer broke the protocol ([`Error::Protocol`], after the matching
    /// close code was sent: 1002, 1007 for bad UTF-8, 1009 for too large),
    /// when the connection was lost without a Close, when the peer went
    /// silent past the dead-peer timeout, or when it did not answer our
    /// Close in time. Pings are answered on the way, and sent while the
    /// wait lasts (see [`WebSocketConfig::ping_interval`]).
    ///
    /// [`messages`](Self::messages) loops over this and stops at the end.
    pub fn receive(&self) -> Result<Option<Message>, Error> {
        let _receiving = Receiving::enter(&self.inner.receivers);
        let mut reader = self.inner.reader.lock();
        let result = self.receive_from(&mut reader);
        if let Ok(Some(_)) = result {
            crate::metrics::count_message(Direction::In);
        }
        self.publish_held(&reader);
        result
    }

    /// The seed's name for [`receive`](Self::receive).
    pub fn wait(&self) -> Result<Option<Message>, Error> {
        self.receive()
    }

    /// The messages as they arrive: each is `Ok(message)`, and the
    /// iterator ends after a clean close or after its one `Err` (a
    /// protocol error, a lost connection, a timeout), so that a loop over
    /// it cannot drop an error unseen.
    ///
    /// ```
    /// fn echo(ws: &greenws::WebSocket) -> greenws::Result<()> {
    ///     for message in ws.messages() {
    ///         ws.send(message?)?;
    ///     }
    ///     Ok(()) // the peer closed cleanly
    /// }
    /// ```
    pub fn messages(&self) -> Messages<'_> {
        Messages::new(self)
    }

    /// Sends a message: `&str` and `String` as text, `&[u8]` and `Vec<u8>`
    /// as binary, or a [`Message`]. Blocks only the calling greenlet while
    /// the peer is slow to read (up to the send timeout, after which the
    /// connection is dropped: a half-written frame cannot be taken back).
    /// `Err(Error::Closed)` once a Close was sent.
    pub fn send(&self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        self.send_message(data_opcode(&message), message.as_bytes())?;
        crate::metrics::count_message(Direction::Out);
        self.take_in_input();
        Ok(())
    }

    /// Sends a message without waiting: `Err(Error::WouldBlock)` when the
    /// socket cannot take the frame now (the peer is behind, or another
    /// greenlet is writing), and nothing was sent. A frame is never left
    /// half-written: when the socket takes only part of it, the rest is
    /// kept and written (by a greenlet of its own, or the next send) before
    /// anything else, and until it is, `try_send` reports `WouldBlock`.
    /// With a compression context kept for this side's messages (not the
    /// default, see [`DeflateConfig`](crate::DeflateConfig)), a message
    /// once compressed is always sent, as such a tail if the socket takes
    /// none of it: the peer's context must see it.
    ///
    /// For a live feed that would rather skip a stale update than wait for
    /// a slow peer:
    ///
    /// ```
    /// # fn feed(ws: &greenws::WebSocket, updates: impl Iterator<Item = String>) -> greenws::Result<()> {
    /// let mut skipped = 0;
    /// for update in updates {
    ///     match ws.try_send(update) {
    ///         Ok(()) => {}
    ///         Err(greenws::Error::WouldBlock { .. }) => skipped += 1,
    ///         Err(e) => return Err(e),
    ///     }
    /// }
    /// # let _ = skipped; Ok(()) }
    /// ```
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        self.try_send_message(data_opcode(&message), message.as_bytes())?;
        crate::metrics::count_message(Direction::Out);
        self.take_in_input();
        Ok(())
    }

    /// Sends a message encoded once for many sockets (see
    /// [`PreparedMessage`]).
    pub fn send_prepared(&self, message: &PreparedMessage) -> Result<(), Error> {
        self.send_prepared_frame(message)?;
        crate::metrics::count_message(Direction::Out);
        self.take_in_input();
        Ok(())
    }

    /// Sends a Ping with this payload (at most 125 bytes, else
    /// `Err(Error::ControlPayloadTooLong)`).
    pub fn ping(&self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        let payload = payload.as_ref();
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(Error::ControlPayloadTooLong { len: payload.len() });
        }
        self.send_control(OpCode::Ping, payload)
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
    /// `code` is a [`CloseCode`] or a `u16`; only those that
    /// [may be sent](CloseCode::is_valid) are (others are
    /// `Err(Error::InvalidCloseCode)`). The reason is cut to the 123 bytes
    /// a Close frame can carry.
    ///
    /// ```
    /// # fn done(ws: &greenws::WebSocket) {
    /// use greenws::CloseCode;
    /// let _ = ws.close(CloseCode::NORMAL, "all points sent");
    /// # let _ = ws.close(4000, "an application's own code");
    /// # }
    /// ```
    pub fn close(&self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        self.run_closing_handshake(code.into(), reason)
    }
}

/// The opcode of a data message.
fn data_opcode(message: &Message) -> OpCode {
    match message {
        Message::Text(_) => OpCode::Text,
        Message::Binary(_) => OpCode::Binary,
    }
}
