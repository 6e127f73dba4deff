//! The protocol layer: sans-IO state machines and pure functions over
//! bytes. Nothing here touches a socket, a timer or a greenlet; the
//! connection loop and the WebSocket handle ask these what to do and move
//! the bytes. Public so that it can be tested, fuzzed and reused (a client,
//! a load generator, a test peer) on its own.
//!
//! - [`tokens`]: comma-separated header lists (`Connection`, `Upgrade`,
//!   `Sec-WebSocket-Protocol`...).
//! - [`cookies`]: the `Cookie` request header.
//! - [`forwarded`]: the client behind trusted reverse proxies
//!   (`Forwarded`, `X-Forwarded-For`, `X-Forwarded-Proto`).
//! - [`proxy`]: the PROXY protocol header (versions 1 and 2) of TCP load
//!   balancers.
//! - [`http`]: HTTP/1.1 for both roles: request heads, the chunked
//!   coding, the server's response heads; the client's request head out,
//!   a response head and the start of its body in.
//! - [`websocket`]: RFC 6455 for both roles: frames, the incremental
//!   decoder, close codes, and the opening handshake.

pub mod cookies;
pub mod forwarded;
pub mod http;
pub mod proxy;
pub mod tokens;
pub mod websocket;
