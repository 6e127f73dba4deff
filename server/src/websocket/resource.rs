//! gevent-websocket's higher-level API: `Resource` routes paths to
//! `WebSocketApplication`s (or plain apps).

use std::sync::Arc;

use http::StatusCode;

use super::{HandshakeRequest, Upgrade, WebSocket};
use crate::proto::websocket::{CloseCode, CloseReason, Message};
use crate::{App, Request, Response};

/// An application driven by WebSocket events, like gevent-websocket's
/// `WebSocketApplication`. One value serves every connection on its path;
/// each connection has a [`Session`](Self::Session) of its own, made by
/// [`on_open`](Self::on_open) and handed to every later callback, so
/// per-connection state needs no map keyed by socket.
///
/// ```
/// use greenws::{HandshakeRequest, Message, WebSocket, WebSocketApplication};
///
/// /// Echoes, and counts what each connection sent.
/// struct Echo;
///
/// impl WebSocketApplication for Echo {
///     type Session = usize;
///
///     fn on_open(&self, _ws: &WebSocket, _request: &HandshakeRequest) -> usize {
///         0
///     }
///
///     fn on_message(&self, received: &mut usize, ws: &WebSocket, message: Message) {
///         *received += 1;
///         let _ = ws.send(message);
///     }
/// }
/// ```
pub trait WebSocketApplication: Send + Sync + 'static {
    /// What the application keeps for each connection (`()` for nothing).
    type Session: Send;

    /// A client connected: make its session. `request` is the handshake
    /// (query string, headers, cookies), for authentication say; it stays
    /// readable as [`WebSocket::request`].
    fn on_open(&self, ws: &WebSocket, request: &HandshakeRequest) -> Self::Session;

    /// A message arrived (never called without one).
    fn on_message(&self, session: &mut Self::Session, ws: &WebSocket, message: Message);

    /// The connection closed: the last call, with the session. `reason`
    /// is the peer's Close frame's code and reason; its code is
    /// [`CloseCode::NO_STATUS`] (1005) when the Close carried none, and
    /// [`CloseCode::ABNORMAL`] (1006, with the error as reason) when the
    /// connection ended without a closing handshake.
    fn on_close(&self, session: Self::Session, ws: &WebSocket, reason: &CloseReason) {
        let _ = (session, ws, reason);
    }
}

/// A WebSocket application whatever its session type: what a route holds.
trait Connections: Send + Sync {
    /// Drives one connection through the application's callbacks.
    fn serve(&self, ws: &WebSocket);
}

impl<A: WebSocketApplication> Connections for A {
    fn serve(&self, ws: &WebSocket) {
        let mut session = self.on_open(ws, ws.request());
        let reason = loop {
            match ws.receive() {
                Ok(Some(message)) => self.on_message(&mut session, ws, message),
                Ok(None) => {
                    break ws
                        .close_reason()
                        .unwrap_or_else(|| CloseReason::new(CloseCode::NO_STATUS, ""))
                }
                Err(e) => break CloseReason::new(CloseCode::ABNORMAL, e.to_string()),
            }
        };
        self.on_close(session, ws, &reason);
    }
}

enum Route {
    WebSocket(Arc<dyn Connections>),
    App(Arc<dyn App>),
}

/// Routes request paths to WebSocket applications and plain apps, in the
/// order they were added; the first match wins and no match is a 404.
/// It is itself an app, to serve with a [`WebSocketHandler`](super::WebSocketHandler).
///
/// A pattern is an exact path (`/chat`), a prefix ending in `*`
/// (`/static/*`), or `*` alone for every path.
///
/// ```no_run
/// use greenws::{HandshakeRequest, Message, Resource, Response, WebSocket,
///               WebSocketApplication, WebSocketHandler, WsgiServer};
///
/// struct Echo;
/// impl WebSocketApplication for Echo {
///     type Session = ();
///     fn on_open(&self, _ws: &WebSocket, _request: &HandshakeRequest) {}
///     fn on_message(&self, _session: &mut (), ws: &WebSocket, message: Message) {
///         let _ = ws.send(message);
///     }
/// }
///
/// let resource = Resource::new()
///     .websocket("/echo", Echo)
///     .app("/", |_req: &mut greenws::Request| Response::html("<h1>echo server</h1>"));
/// WsgiServer::bind("127.0.0.1:8000")?
///     .handler_class(WebSocketHandler::new())
///     .serve_forever(resource)?;
/// # Ok::<(), greenws::Error>(())
/// ```
#[derive(Default)]
pub struct Resource {
    routes: Vec<(String, Route)>,
}

impl Resource {
    /// No routes: every request is a 404.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `pattern` to a WebSocket application. A request there that is
    /// not a WebSocket handshake gets 426 Upgrade Required.
    pub fn websocket(mut self, pattern: &str, app: impl WebSocketApplication) -> Self {
        self.routes
            .push((pattern.to_owned(), Route::WebSocket(Arc::new(app))));
        self
    }

    /// Routes `pattern` to a plain app.
    pub fn app(mut self, pattern: &str, app: impl App) -> Self {
        self.routes
            .push((pattern.to_owned(), Route::App(Arc::new(app))));
        self
    }
}

fn matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => pattern == path,
    }
}

impl App for Resource {
    fn call(&self, request: &mut Request<'_>) -> Response {
        let route = self
            .routes
            .iter()
            .find(|(pattern, _)| matches(pattern, request.path()))
            .map(|(_, route)| route);
        match route {
            None => Response::error(StatusCode::NOT_FOUND, "Not Found"),
            Some(Route::App(app)) => app.call(request),
            Some(Route::WebSocket(app)) => request.upgrade(|ws| {
                app.serve(&ws);
                Ok(())
            }),
        }
    }
}
