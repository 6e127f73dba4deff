//! # greenws: a pywsgi-style HTTP/1.1 and WebSocket server on green threads
//!
//! Every connection is a greenlet (a stackful may coroutine, see the
//! [`green`] crate), so an app is a plain blocking function, and a
//! WebSocket handler a plain loop over `ws.receive()` and `ws.send()`:
//!
//! ```
//! use greenws::{Request, Response, WsgiServer, http::StatusCode};
//! use std::io::{Read, Write};
//!
//! fn app(req: &mut Request) -> Response {
//!     match (req.method().as_str(), req.path()) {
//!         ("GET", "/") => Response::text("Hello, World!"),
//!         ("POST", "/echo") => match req.read_body() {
//!             Ok(body) => Response::bytes("application/octet-stream", body),
//!             Err(e) => Response::text(e.to_string()).with_status(StatusCode::BAD_REQUEST),
//!         },
//!         _ => Response::new(StatusCode::NOT_FOUND),
//!     }
//! }
//!
//! let server = WsgiServer::bind("127.0.0.1:0")?.start(app)?;
//! let mut client = std::net::TcpStream::connect(server.local_addr())?;
//! client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
//! let mut reply = String::new();
//! client.read_to_string(&mut reply)?;
//! assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(reply.ends_with("Hello, World!"));
//! server.stop(std::time::Duration::from_secs(1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## WebSocket
//!
//! Serve with the [`WebSocketHandler`] handler class and take the
//! connection in the app with [`req.upgrade(|ws| ...)`](Upgrade::upgrade):
//! the 101 goes out, the closure runs with the [`WebSocket`], and the
//! socket is closed when it returns (1000, or 1011 after an error or a
//! panic). [`ws.messages()`](WebSocket::messages) ends after a clean close
//! and yields any error, so `?` passes it on:
//!
//! ```
//! use greenws::{Request, Response, Upgrade, WebSocketHandler, WsgiServer, http::StatusCode};
//!
//! fn app(req: &mut Request) -> Response {
//!     match req.path() {
//!         "/echo" => req.upgrade(|ws| {
//!             for message in ws.messages() {
//!                 ws.send(message?)?;
//!             }
//!             Ok(()) // the peer closed cleanly
//!         }),
//!         _ => Response::new(StatusCode::NOT_FOUND),
//!     }
//! }
//!
//! let server = WsgiServer::bind("127.0.0.1:0")?
//!     .handler_class(WebSocketHandler::new())
//!     .start(app)?;
//! // A client (tungstenite's) says hello and hears it back.
//! let (mut client, _) = tungstenite::connect(format!("ws://{}/echo", server.local_addr()))?;
//! client.send(tungstenite::Message::text("hello"))?;
//! assert_eq!(client.read()?, tungstenite::Message::text("hello"));
//! client.close(None)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The [`WebSocket`] handle is `Clone + Send + Sync` and full duplex: one
//! greenlet can block in `receive` while others `send`. It keeps the
//! handshake's [`request`](WebSocket::request) (query string, headers,
//! cookies), reports what is queued for a slow peer
//! ([`buffered_amount`](WebSocket::buffered_amount)) and can send without
//! waiting ([`try_send`](WebSocket::try_send)). On top sit
//! gevent-websocket's [`Resource`] and [`WebSocketApplication`] (with a
//! session per connection), and a broadcast [`Hub`]. The protocol itself
//! is the sans-IO [`proto`] layer.
//!
//! ## Client
//!
//! [`connect`] opens a `ws://` or `wss://` connection and gives the same
//! [`WebSocket`] handle, in the client role; [`ClientBuilder`] adds
//! headers, subprotocols, timeouts, limits and root certificates. A bot or
//! a load generator is plain blocking code on a greenlet per connection
//! (see the [`client`] module for the errors each step can give):
//!
//! ```
//! # use greenws::{Request, Response, Upgrade, WebSocketHandler, WsgiServer};
//! # let server = WsgiServer::bind("127.0.0.1:0")?
//! #     .handler_class(WebSocketHandler::new())
//! #     .start(|req: &mut Request| -> Response {
//! #         req.upgrade(|ws| { for m in ws.messages() { ws.send(m?)?; } Ok(()) })
//! #     })?;
//! let url = format!("ws://{}/echo", server.local_addr()); // the echo server above
//! let bots: Vec<_> = (0..100)
//!     .map(|i| {
//!         let client = greenws::ClientBuilder::new(&url).header("Origin", "https://example.com");
//!         green::spawn(move || -> greenws::Result<()> {
//!             let ws = client.connect()?;
//!             ws.send(format!("bot {i} says hello"))?;
//!             assert_eq!(ws.receive()?, Some(format!("bot {i} says hello").into()));
//!             ws.close(greenws::CloseCode::NORMAL, "bye")
//!         })
//!     })
//!     .collect();
//! for bot in bots {
//!     bot.join().expect("a bot greenlet")?;
//! }
//! # server.stop(std::time::Duration::from_secs(1));
//! # Ok::<(), greenws::Error>(())
//! ```
//!
//! ## From pywsgi and gevent-websocket
//!
//! | gevent | greenws |
//! |---|---|
//! | `pywsgi.WSGIServer(addr, app)` | [`WsgiServer::bind`]`(addr)?` … [`serve_forever`](WsgiServer::serve_forever)`(app)` |
//! | `handler_class=...` | [`WsgiServer::handler_class`] with a [`Handler`] |
//! | `spawn=Pool(n)` | [`WsgiServer::spawn`]`(n)` |
//! | `server.start()`, `server.stop(timeout)` | [`WsgiServer::start`] → [`ServerHandle::stop`] |
//! | `environ['PATH_INFO']`, `QUERY_STRING`, `REQUEST_METHOD` | [`Request::path`], [`Request::query`], [`Request::method`] |
//! | `environ['wsgi.input']` | [`Request::body`] (a `Read`) |
//! | `start_response(status, headers); return [body]` | return a [`Response`] |
//! | `handler_class=WebSocketHandler` | [`WebSocketHandler`] |
//! | `ws = environ['wsgi.websocket']` | [`req.upgrade(\|ws\| ...)`](Upgrade::upgrade) → [`WebSocket`] |
//! | `ws.environ` (query string, headers, cookies) | [`WebSocket::request`] → [`HandshakeRequest`] |
//! | `ws.receive()` / `ws.wait()`, `ws.send(m)` | [`WebSocket::receive`] / [`WebSocket::wait`], [`WebSocket::send`] |
//! | `while True: m = ws.receive(); if m is None: break` | `for m in ws.messages() { let m = m?; ... }` ([`WebSocket::messages`]) |
//! | `ws.close(code, reason)` | [`WebSocket::close`]`(`[`CloseCode::NORMAL`]` or 1000, reason)` |
//! | `Resource({'/chat': ChatApp})`, `WebSocketApplication` | [`Resource`], [`WebSocketApplication`] (its `Session` is per-connection state) |
//! | a client (`websocket-client`'s `create_connection(url, header=[...])`) | [`connect`]`(url)`, [`ClientBuilder`]`::new(url).header(..).connect()` |
//!
//! ## Layers
//!
//! Imports point down this list only (the map is in the repository's
//! `ARCHITECTURE.md`):
//!
//! 1. [`proto`]: sans-IO, bytes in and decisions out. [`proto::http`] parses
//!    request heads and decides, in the server role, how a response is
//!    framed and whether the connection stays open
//!    ([`ServerExchange`](proto::http::server::ServerExchange)); the client
//!    role and RFC 6455 ([`proto::websocket`]) sit beside it.
//! 2. The connection layer (private): the accept loop, the per-connection
//!    loop that asks `proto::http` and moves bytes, the transport (plain or
//!    TLS), the registry of open connections, and the generic take-over
//!    after a 101. It knows nothing of WebSockets.
//! 3. [`Request`], [`Response`], [`Handler`], [`App`]: what the app sees.
//! 4. The WebSocket layer ([`WebSocketHandler`], [`Upgrade`], [`WebSocket`],
//!    [`Hub`]...), which takes connections over through layer 2 and
//!    registers what a stop does for them (close with 1001), and the
//!    client ([`connect`]).
//!
//! ## What the server takes care of
//!
//! Keep-alive (HTTP/1.1 by default, HTTP/1.0 on request), pipelining,
//! chunked request bodies, `Expect: 100-continue`, streamed responses,
//! `HEAD`, the size limits and timeouts of [`Limits`], refusing ambiguous
//! framing (request smuggling), a 500 for an app that panics, graceful stop,
//! and an access log through the `log` crate (target `greenws::access`) in
//! pywsgi's format. [`logging::init`] installs a logger for programs that
//! never blocks a worker thread on a slow or stuck stderr.

#![warn(missing_docs)]

pub mod client;
mod connection;
mod deadline;
mod error;
mod handler;
mod limits;
pub mod logging;
pub mod metrics;
pub mod proto;
mod request;
mod response;
mod scratch_stack;
mod sys;
mod websocket;

pub use ::http;
pub use client::{connect, ClientBuilder};
pub use connection::{ListenAddr, Listener, ServerHandle, Stopper, WsgiServer};
pub use error::{ConnectStep, Error, Result};
pub use handler::{App, Handler, HttpHandler};
pub use limits::{Limits, MinRate};
pub use proto::websocket::{CloseCode, CloseReason, Message, ProtocolError};
pub use request::{BodyReader, Request};
pub use response::{Body, Response};
pub use websocket::{
    BrokerStats, ContextTakeover, DeflateConfig, HandshakeRequest, Hub, HubBuilder, MemberId,
    Messages, NegotiationError, PreparedMessage, Resource, Upgrade, WebSocket,
    WebSocketApplication, WebSocketConfig, WebSocketHandler, WebSocketOffer,
};
