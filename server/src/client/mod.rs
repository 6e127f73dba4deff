//! The WebSocket client: [`connect`] to a `ws://` or `wss://` URL and get
//! the same [`WebSocket`] handle a server gives its apps, in the client
//! role (its frames masked with a fresh random key each). Plain blocking
//! code on a greenlet: a bot, a bridge or a load generator is a loop, and
//! ten thousand of them run in one process.
//!
//! ```
//! use greenws::{Request, Response, Upgrade, WebSocketHandler, WsgiServer};
//!
//! // An echo server to talk to.
//! let server = WsgiServer::bind("127.0.0.1:0")?
//!     .handler_class(WebSocketHandler::new())
//!     .start(|req: &mut Request| -> Response {
//!         req.upgrade(|ws| {
//!             for message in ws.messages() {
//!                 ws.send(message?)?;
//!             }
//!             Ok(())
//!         })
//!     })?;
//!
//! let ws = greenws::connect(format!("ws://{}/echo", server.local_addr()))?;
//! ws.send("hello")?;
//! assert_eq!(ws.receive()?, Some(greenws::Message::from("hello")));
//! ws.close(greenws::CloseCode::NORMAL, "bye")?;
//! # server.stop(std::time::Duration::from_secs(1));
//! # Ok::<(), greenws::Error>(())
//! ```
//!
//! [`ClientBuilder`] sets the rest: headers (`Origin`, `Authorization`,
//! cookies), subprotocols, timeouts, limits and heartbeat, the root
//! certificates to trust. permessage-deflate is offered, as browsers do,
//! and used when the server agrees ([`WebSocket::extensions`] says so);
//! `WebSocketConfig::default().deflate(DeflateConfig::disabled())` turns
//! it off.
//!
//! [`WebSocket::extensions`]: crate::WebSocket::extensions
//!
//! ## What can go wrong, and the error that says so
//!
//! | what happened | error |
//! |---|---|
//! | not a `ws://` or `wss://` URL | [`Error::InvalidUrl`] |
//! | the host name does not resolve | [`Error::Dns`] |
//! | connection refused, network unreachable | [`Error::Connect`] |
//! | a step took longer than its timeout | [`Error::ConnectTimeout`], with the [`ConnectStep`] |
//! | a certificate for other names | [`Error::CertificateNameMismatch`] (the name expected, the names presented) |
//! | any other TLS failure (an untrusted certificate...) | [`Error::TlsHandshake`] |
//! | an answer other than 101 (404, 401, 426...) | [`Error::HandshakeRefused`], with the status, headers and the first bytes of the body |
//! | a 101 with a wrong `Sec-WebSocket-Accept`, a subprotocol not offered... | [`Error::Handshake`] ([`ClientHandshakeError`]) |
//! | a permessage-deflate answer RFC 7692 does not allow | [`Error::DeflateNegotiation`] ([`NegotiationError`]) |
//! | an answer that is not HTTP, too large, or cut short | [`Error::InvalidResponse`] ([`ResponseError`]) |
//!
//! Once open, the connection behaves as a server's: [`Error::Protocol`]
//! for a server that breaks the protocol, [`Error::Timeout`] for I/O that
//! outlasts the [`WebSocketConfig`]'s timeouts, and so on.
//!
//! ## On green threads
//!
//! `connect` blocks only the calling greenlet (or thread): the host name
//! is looked up on a few resolver threads (the system's resolver would
//! block the worker thread), and every wait is a green one. Each
//! connection is one greenlet's worth of memory when a greenlet drives it.
//!
//! [`WebSocket`]: crate::WebSocket
//! [`Error::InvalidUrl`]: crate::Error::InvalidUrl
//! [`Error::Dns`]: crate::Error::Dns
//! [`Error::Connect`]: crate::Error::Connect
//! [`Error::ConnectTimeout`]: crate::Error::ConnectTimeout
//! [`ConnectStep`]: crate::ConnectStep
//! [`Error::CertificateNameMismatch`]: crate::Error::CertificateNameMismatch
//! [`Error::TlsHandshake`]: crate::Error::TlsHandshake
//! [`Error::HandshakeRefused`]: crate::Error::HandshakeRefused
//! [`Error::Handshake`]: crate::Error::Handshake
//! [`ClientHandshakeError`]: crate::proto::websocket::ClientHandshakeError
//! [`Error::DeflateNegotiation`]: crate::Error::DeflateNegotiation
//! [`NegotiationError`]: crate::NegotiationError
//! [`Error::InvalidResponse`]: crate::Error::InvalidResponse
//! [`ResponseError`]: crate::proto::http::client::ResponseError
//! [`Error::Protocol`]: crate::Error::Protocol
//! [`Error::Timeout`]: crate::Error::Timeout
//! [`WebSocketConfig`]: crate::WebSocketConfig

mod builder;
mod open;
mod resolve;
mod url;

pub use builder::ClientBuilder;

use crate::{Error, WebSocket};

/// Opens a WebSocket connection to `url` (`ws://` or `wss://`) with the
/// defaults of [`ClientBuilder`]; see the [module docs](self) for an
/// example and the errors.
pub fn connect(url: impl Into<String>) -> Result<WebSocket, Error> {
    ClientBuilder::new(url).connect()
}
