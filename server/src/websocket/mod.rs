//! WebSocket: the handler class, the full-duplex `WebSocket` handle, and
//! gevent-websocket's `Resource` / `WebSocketApplication` on top.
//!
//! The protocol itself (frames, the decoder, close codes, the opening
//! handshake) is the sans-IO [`proto::websocket`](crate::proto::websocket);
//! this module owns the hand-off from HTTP, the duplex I/O, limits, the
//! heartbeat and the closing handshake.
//!
//! One file, one job: `config.rs` (settings), `handler.rs` and `origin.rs`
//! (the handler class), `upgrade.rs` (the app takes the connection),
//! `handshake_request.rs` (the request, kept for the socket's life),
//! `socket.rs` (the handle and its API), `reader.rs`, `writer.rs`,
//! `closing.rs`, `heartbeat.rs` (its machinery), `messages.rs`,
//! `prepared.rs`, `resource.rs`, `hub.rs` and `broker/` (how a hub reaches
//! the members of other instances: in-process, or Redis pub/sub).

mod broker;
mod closing;
mod config;
mod deflate;
mod handler;
mod handshake_request;
mod heartbeat;
mod hub;
mod messages;
mod origin;
mod prepared;
mod reader;
mod resource;
mod socket;
#[cfg(test)]
mod tests;
mod upgrade;
mod writer;

pub use broker::BrokerStats;
pub use config::WebSocketConfig;
pub(crate) use deflate::{client_offer, negotiate_as_client};
pub use deflate::{ContextTakeover, DeflateConfig, NegotiationError};
pub use handler::WebSocketHandler;
pub use handshake_request::HandshakeRequest;
pub use hub::{Hub, HubBuilder, MemberId};
pub use messages::Messages;
pub use prepared::PreparedMessage;
pub use resource::{Resource, WebSocketApplication};
pub(crate) use socket::Handshake;
pub use socket::WebSocket;
pub use upgrade::{Upgrade, WebSocketOffer};
