//! WebSocket: the handler class, the full-duplex `WebSocket` handle, and
//! gevent-websocket's `Resource` / `WebSocketApplication` on top.
//!
//! tungstenite provides the protocol codec (frame headers, opcodes, close
//! codes, the accept key); this module owns the hand-off from HTTP, the
//! duplex I/O, limits, the heartbeat and the closing handshake.

mod decoder;
mod handshake;
mod hub;
mod message;
mod resource;
mod socket;

use std::time::{Duration, Instant};

pub(crate) use handshake::Offer;
pub use handshake::WebSocketHandler;
pub use hub::{Hub, MemberId};
pub use message::{CloseReason, Message};
pub use resource::{Resource, WebSocketApplication};
pub use socket::{PreparedMessage, WebSocket};

/// Limits, timeouts and heartbeat of the WebSockets a
/// [`WebSocketHandler`] accepts. Every field has a default:
///
/// ```
/// use std::time::{Duration, Instant};
/// let config = greenws::WebSocketConfig {
///     ping_interval: Some(Duration::from_secs(20)),
///     dead_peer_timeout: Some(Duration::from_secs(60)),
///     ..greenws::WebSocketConfig::default()
/// };
/// let handler = greenws::WebSocketHandler::new().config(config);
/// # let _ = handler;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketConfig {
    /// Largest message, all fragments together (else close 1009).
    /// Default 16 MiB.
    pub max_message_size: usize,
    /// Largest single frame (else close 1009). Default 16 MiB.
    pub max_frame_size: usize,
    /// While a greenlet waits in `receive`, send a Ping this often. Default
    /// none.
    pub ping_interval: Option<Duration>,
    /// Close a peer that sent nothing at all (not even a Pong) for this
    /// long; its `receive` returns `Err(Error::Timeout)`. Default none.
    pub dead_peer_timeout: Option<Duration>,
    /// How long `close` waits for the peer's Close. Default 5 s.
    pub close_timeout: Duration,
    /// How long a `send` may wait for a peer that does not read before the
    /// connection is dropped. Default 30 s.
    pub send_timeout: Duration,
    /// The kernel's send buffer for each socket (`SO_SNDBUF`), which bounds
    /// how much a peer that does not read can hold up. Default: the
    /// kernel's own sizing.
    pub send_buffer: Option<usize>,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            max_message_size: 16 << 20,
            max_frame_size: 16 << 20,
            ping_interval: None,
            dead_peer_timeout: None,
            close_timeout: Duration::from_secs(5),
            send_timeout: Duration::from_secs(30),
            send_buffer: None,
        }
    }
}

/// `timeout` from now, or `None` (no limit) when that is too far to
/// represent: a huge timeout (`Duration::MAX`) means none.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}
