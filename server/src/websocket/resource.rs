//! gevent-websocket's higher-level API: `Resource` routes paths to
//! `WebSocketApplication`s (or plain apps).

use std::sync::Arc;

use http::StatusCode;

use super::WebSocket;
use crate::proto::websocket::Message;
use crate::{App, Request, Response};

/// An application driven by WebSocket events, like gevent-websocket's
/// `WebSocketApplication`. One value serves every connection on its path;
/// each callback gets the connection it is about.
///
/// ```
/// use greenws::{Message, WebSocket, WebSocketApplication};
///
/// struct Echo;
/// impl WebSocketApplication for Echo {
///     fn on_message(&self, ws: &WebSocket, message: Message) {
///         let _ = ws.send(message);
///     }
/// }
/// ```
pub trait WebSocketApplication: Send + Sync + 'static {
    /// A client connected.
    fn on_open(&self, ws: &WebSocket) {
        let _ = ws;
    }

    /// A message arrived (never called without one).
    fn on_message(&self, ws: &WebSocket, message: Message);

    /// The connection closed. `code` and `reason` are the peer's Close
    /// frame's; 1005 when its Close carried no code, 1006 when the
    /// connection ended without a closing handshake.
    fn on_close(&self, ws: &WebSocket, code: u16, reason: &str) {
        let _ = (ws, code, reason);
    }
}

enum Route {
    WebSocket(Arc<dyn WebSocketApplication>),
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
/// use greenws::{Message, Resource, Response, WebSocket, WebSocketApplication,
///               WebSocketHandler, WsgiServer};
///
/// struct Echo;
/// impl WebSocketApplication for Echo {
///     fn on_message(&self, ws: &WebSocket, message: Message) {
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
            Some(Route::WebSocket(app)) => match request.websocket() {
                Some(ws) => {
                    run(app.as_ref(), &ws);
                    Response::upgraded()
                }
                None => Response::error(
                    StatusCode::UPGRADE_REQUIRED,
                    "Upgrade Required: this path speaks WebSocket",
                )
                .with_header("upgrade", "websocket"),
            },
        }
    }
}

/// Drives one connection through an application's callbacks.
fn run(app: &dyn WebSocketApplication, ws: &WebSocket) {
    app.on_open(ws);
    let (code, reason) = loop {
        match ws.receive() {
            Ok(Some(message)) => app.on_message(ws, message),
            Ok(None) => match ws.close_reason() {
                Some(close) => break (close.code.as_u16(), close.reason),
                None => break (1005, String::new()),
            },
            Err(e) => break (1006, e.to_string()),
        }
    };
    app.on_close(ws, code, &reason);
}
