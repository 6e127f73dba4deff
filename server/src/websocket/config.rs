//! `WebSocketConfig`: the limits, timeouts, heartbeat and compression of a
//! WebSocket.

use std::time::Duration;

use super::deflate::DeflateConfig;
use crate::MinRate;

/// Limits, timeouts, heartbeat and compression of the WebSockets a
/// [`WebSocketHandler`](super::WebSocketHandler) accepts. Every setting has
/// a default, chosen so that a public server can run with it:
///
/// - a peer can make a connection hold at most `max_message_size` + 65 KiB
///   for input its app has not received (see
///   [`WebSocket::buffered_input`](super::WebSocket::buffered_input)); the
///   rest waits in the kernel;
/// - a greenlet waiting in `receive` pings every 20 s, and a peer that
///   sends nothing at all (not even a Pong) for 60 s is closed, so a
///   half-open connection (a peer that vanished) is not held forever (the
///   defaults of Python's `websockets`, which pings every 20 s and gives up
///   20 s after an unanswered ping, are in the same range);
/// - a message (or a frame) in progress must arrive at 240 bytes/s or
///   faster once 5 s were spent waiting for it (as HTTP request bodies),
///   so a peer cannot hold a connection and a partial message forever by
///   trickling it;
/// - a close waits 5 s for the peer's Close, a send 30 s for a peer that
///   does not read;
/// - permessage-deflate is agreed with clients that offer it (every
///   browser does), tuned to cost little memory per idle connection (see
///   [`DeflateConfig`]).
///
/// A timeout too large to represent (`Duration::MAX`) means no limit.
/// Settings are set with the builder methods (the struct may gain fields,
/// so it cannot be written as a literal outside this crate); the fields
/// can be read.
///
/// ```
/// use std::time::Duration;
/// let config = greenws::WebSocketConfig::default()
///     .max_message_size(1 << 20)
///     .ping_interval(Some(Duration::from_secs(30)));
/// assert_eq!(config.max_message_size, 1 << 20);
/// assert_eq!(config.dead_peer_timeout, Some(Duration::from_secs(60)));
/// let handler = greenws::WebSocketHandler::new().config(config);
/// # let _ = handler;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebSocketConfig {
    /// Largest message, all fragments together (else close 1009). Also the
    /// most a connection holds of messages taken in while its app only
    /// sends. Default 16 MiB.
    pub max_message_size: usize,
    /// Largest single frame (else close 1009). Default 16 MiB.
    pub max_frame_size: usize,
    /// While a greenlet waits in `receive`, send a Ping this often.
    /// Default 20 s; `None` (or zero) for no pings.
    pub ping_interval: Option<Duration>,
    /// Close a peer that sent nothing at all (not even a Pong) for this
    /// long, with 1001; its `receive` returns `Err(Error::Timeout)`.
    /// Checked while a greenlet waits in `receive`. Default 60 s; `None`
    /// to wait for a peer forever.
    pub dead_peer_timeout: Option<Duration>,
    /// The slowest a message may arrive once its first byte did (else
    /// close 1008, and `receive` returns `Err(Error::MessageTooSlow)`):
    /// a peer that trickles a frame, or the fragments of a message, to
    /// hold the connection and its partial message. Only the time spent
    /// waiting for the peer in `receive` (or `close`) while a message is in
    /// progress counts, and only the payload of the message's own frames
    /// (not the control frames between its fragments); a peer idle
    /// between messages is governed by the heartbeat alone. Measured over
    /// the whole message, so a large message over a slow but steady link
    /// passes. Default [`MinRate::DEFAULT`] (240 bytes/s after 5 s);
    /// `None` for no minimum.
    pub min_message_rate: Option<MinRate>,
    /// How long `close` waits for the peer's Close (data that arrives
    /// meanwhile is discarded). Default 5 s.
    pub close_timeout: Duration,
    /// How long a `send` may wait for a peer that does not read before the
    /// connection is dropped. Default 30 s.
    pub send_timeout: Duration,
    /// The kernel's send buffer for each socket (`SO_SNDBUF`), which bounds
    /// how much a peer that does not read can hold up. Default: the
    /// kernel's own sizing.
    pub send_buffer: Option<usize>,
    /// permessage-deflate (RFC 7692): whether it is agreed, and how
    /// messages are compressed. Default [`DeflateConfig::default`]: on,
    /// messages from 256 bytes compressed at level 2, no context kept for
    /// this side's messages, 4 KiB for the peer's.
    pub deflate: DeflateConfig,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            max_message_size: 16 << 20,
            max_frame_size: 16 << 20,
            ping_interval: Some(Duration::from_secs(20)),
            dead_peer_timeout: Some(Duration::from_secs(60)),
            min_message_rate: Some(MinRate::DEFAULT),
            close_timeout: Duration::from_secs(5),
            send_timeout: Duration::from_secs(30),
            send_buffer: None,
            deflate: DeflateConfig::default(),
        }
    }
}

impl WebSocketConfig {
    /// The defaults (see above).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`max_message_size`](Self#structfield.max_message_size).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets [`max_frame_size`](Self#structfield.max_frame_size).
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets [`ping_interval`](Self#structfield.ping_interval).
    pub fn ping_interval(mut self, every: Option<Duration>) -> Self {
        self.ping_interval = every;
        self
    }

    /// Sets [`dead_peer_timeout`](Self#structfield.dead_peer_timeout).
    pub fn dead_peer_timeout(mut self, after: Option<Duration>) -> Self {
        self.dead_peer_timeout = after;
        self
    }

    /// Sets [`min_message_rate`](Self#structfield.min_message_rate).
    ///
    /// ```
    /// use std::time::Duration;
    /// // A slow link: 64 bytes/s once 30 s were spent waiting.
    /// let config = greenws::WebSocketConfig::default().min_message_rate(Some(greenws::MinRate {
    ///     bytes_per_second: 64,
    ///     grace: Duration::from_secs(30),
    /// }));
    /// # let _ = config;
    /// ```
    pub fn min_message_rate(mut self, min: Option<MinRate>) -> Self {
        self.min_message_rate = min;
        self
    }

    /// Sets [`close_timeout`](Self#structfield.close_timeout).
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Sets [`send_timeout`](Self#structfield.send_timeout).
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Sets [`send_buffer`](Self#structfield.send_buffer).
    pub fn send_buffer(mut self, bytes: Option<usize>) -> Self {
        self.send_buffer = bytes;
        self
    }

    /// Sets [`deflate`](Self#structfield.deflate).
    ///
    /// ```
    /// use greenws::{DeflateConfig, WebSocketConfig};
    /// // No compression at all.
    /// let off = WebSocketConfig::default().deflate(DeflateConfig::disabled());
    /// // Better ratio for more memory per connection.
    /// let ratio = WebSocketConfig::default().deflate(DeflateConfig::default().prefer_ratio());
    /// // Compress only messages of 1 KiB and more, harder.
    /// let big = WebSocketConfig::default().deflate(DeflateConfig::default().threshold(1024).level(6));
    /// # let _ = (off, ratio, big);
    /// ```
    pub fn deflate(mut self, deflate: DeflateConfig) -> Self {
        self.deflate = deflate;
        self
    }
}
