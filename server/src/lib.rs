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
//! Serve with the [`WebSocketHandler`] handler class and take the socket in
//! the app with [`Request::websocket`]:
//!
//! ```no_run
//! use greenws::{Request, Response, WebSocketHandler, WsgiServer, http::StatusCode};
//!
//! fn app(req: &mut Request) -> Response {
//!     if req.path() != "/echo" {
//!         return Response::new(StatusCode::NOT_FOUND);
//!     }
//!     match req.websocket() {
//!         Some(ws) => {
//!             while let Ok(Some(message)) = ws.receive() {
//!                 let _ = ws.send(message);
//!             }
//!             Response::upgraded()
//!         }
//!         None => Response::new(StatusCode::UPGRADE_REQUIRED),
//!     }
//! }
//!
//! WsgiServer::bind("127.0.0.1:8000")?.handler_class(WebSocketHandler::new()).serve_forever(app)?;
//! # Ok::<(), greenws::Error>(())
//! ```
//!
//! The [`WebSocket`] handle is `Clone + Send + Sync` and full duplex: one
//! greenlet can block in `receive` while others `send`. On top sit
//! gevent-websocket's [`Resource`] and [`WebSocketApplication`], and a
//! broadcast [`Hub`].
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
//! | `environ['wsgi.websocket']` | [`Request::websocket`] → [`WebSocket`] |
//! | `ws.receive()` / `ws.wait()`, `ws.send(m)`, `ws.close()` | [`WebSocket::receive`] / [`WebSocket::wait`], [`WebSocket::send`], [`WebSocket::close`] |
//! | `Resource({'/chat': ChatApp})`, `WebSocketApplication` | [`Resource`], [`WebSocketApplication`] |
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

mod access_log;
#[path = "http/mod.rs"]
pub mod codec;
mod conn;
mod error;
mod handler;
mod io;
mod limits;
pub mod logging;
mod request;
mod response;
mod server;
mod sys;
mod tls;
mod transport;
mod websocket;

pub use ::http;
pub use error::{Error, Result};
pub use handler::{App, Handler, HttpHandler};
pub use limits::Limits;
pub use request::{BodyReader, Request};
pub use response::{Body, Response};
pub use server::{ServerHandle, Stopper, WsgiServer};
pub use websocket::{
    CloseReason, Hub, MemberId, Message, PreparedMessage, Resource, WebSocket,
    WebSocketApplication, WebSocketConfig, WebSocketHandler,
};
