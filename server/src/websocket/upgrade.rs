//! The app's side of an upgrade: `req.upgrade(|ws| ...)` takes the
//! connection for a WebSocket once the
//! [`WebSocketHandler`](super::WebSocketHandler) accepted the handshake,
//! runs the session, and closes what the session left open.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Once;

use http::{HeaderMap, StatusCode};

use super::deflate::negotiate_as_server;
use super::handler::{bad_request_and_close, Offer};
use super::handshake_request::HandshakeRequest;
use super::socket::Handshake;
use super::WebSocket;
use crate::connection::upgrade::SwitchError;
use crate::proto::websocket::{is_upgrade_request, server_response_head, CloseCode, Role};
use crate::response::header_pair;
use crate::{Error, Request, Response};

/// WebSocket upgrades on a [`Request`]: `use greenws::Upgrade` and call
/// [`upgrade`](Self::upgrade) in the app. The connection is taken, the
/// session runs, and what `upgrade` returns is the app's response; there
/// is no way to say "upgraded" without having taken the connection.
///
/// ```no_run
/// use greenws::{Request, Response, Upgrade, WebSocketHandler, WsgiServer};
///
/// fn app(req: &mut Request) -> Response {
///     match req.path() {
///         "/echo" => req.upgrade(|ws| {
///             for message in ws.messages() {
///                 ws.send(message?)?;
///             }
///             Ok(())
///         }),
///         _ => Response::text("hello"),
///     }
/// }
///
/// WsgiServer::bind("127.0.0.1:8000")?.handler_class(WebSocketHandler::new()).serve_forever(app)?;
/// # Ok::<(), greenws::Error>(())
/// ```
pub trait Upgrade {
    /// True when the handler class accepted this request as a WebSocket
    /// handshake (and its offer was not taken yet).
    fn is_websocket(&self) -> bool;

    /// Takes the WebSocket offer of this request, to choose a subprotocol
    /// or add headers to the 101 before accepting it; `None` when this is
    /// not an accepted handshake.
    fn websocket_offer(&mut self) -> Option<WebSocketOffer>;

    /// Accepts the WebSocket handshake and runs `session` on the
    /// connection's greenlet: the `101 Switching Protocols` is sent (with
    /// the first subprotocol the client offered that the handler lists),
    /// `session` gets the socket, and when it returns a socket still open
    /// is closed: 1000 after `Ok`, 1011 after an `Err` (logged at debug
    /// level) or a panic (which goes on to the server, which logs it).
    /// Return what this gives from the app.
    ///
    /// Not an accepted handshake: 426 Upgrade Required, and `session` does
    /// not run. A client that sent more bytes behind its handshake, while
    /// the app decided, gets 400 and the connection closes (a client must
    /// wait for the 101, RFC 6455 section 4.1).
    fn upgrade<F>(&mut self, session: F) -> Response
    where
        F: FnOnce(WebSocket) -> Result<(), Error>;
}

impl Upgrade for Request<'_> {
    fn is_websocket(&self) -> bool {
        self.extensions().get::<Offer>().is_some()
    }

    fn websocket_offer(&mut self) -> Option<WebSocketOffer> {
        let offer = self.extensions_mut().remove::<Offer>()?;
        if self.extensions().is_empty() {
            // The request lives as long as the session: free the map.
            *self.extensions_mut() = http::Extensions::new();
        }
        let protocol = offer
            .upgrade
            .choose_protocol(&offer.handler.protocols)
            .map(str::to_owned);
        Some(WebSocketOffer {
            offer,
            protocol,
            headers: HeaderMap::new(),
        })
    }

    fn upgrade<F>(&mut self, session: F) -> Response
    where
        F: FnOnce(WebSocket) -> Result<(), Error>,
    {
        match self.websocket_offer() {
            Some(offer) => offer.accept(self, session),
            None => not_an_upgrade(self),
        }
    }
}

/// A WebSocket handshake the handler class accepted, not answered yet:
/// what the client offered, and what the 101 will say. From
/// [`Upgrade::websocket_offer`].
///
/// ```no_run
/// use greenws::{Request, Response, Upgrade};
///
/// fn app(req: &mut Request) -> Response {
///     let Some(offer) = req.websocket_offer() else {
///         return Response::text("not a WebSocket handshake");
///     };
///     let offer = offer
///         .protocols(&["chat.v2", "chat.v1"])
///         .header("set-cookie", "seen=1; HttpOnly");
///     offer.accept(req, |ws| {
///         ws.send(format!("speaking {:?}", ws.protocol()))?;
///         Ok(())
///     })
/// }
/// ```
#[derive(Debug)]
pub struct WebSocketOffer {
    offer: Offer,
    protocol: Option<String>,
    headers: HeaderMap,
}

impl std::fmt::Debug for Offer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Offer")
            .field("offered_protocols", &self.upgrade.offered_protocols)
            .finish()
    }
}

impl WebSocketOffer {
    /// The subprotocols the client offered, in its order of preference.
    pub fn offered_protocols(&self) -> &[String] {
        &self.offer.upgrade.offered_protocols
    }

    /// The subprotocol the 101 will agree on, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Agrees on the first subprotocol the client offered that is in
    /// `supported` (instead of the handler's list), or on none.
    pub fn protocols(mut self, supported: &[&str]) -> Self {
        self.protocol = self
            .offer
            .upgrade
            .choose_protocol(supported)
            .map(str::to_owned);
        self
    }

    /// Adds a header to the 101 (a `Set-Cookie`, say); the handshake's own
    /// headers cannot be replaced this way.
    ///
    /// # Panics
    /// If the name or value is not valid in HTTP; use
    /// [`headers_mut`](Self::headers_mut) with checked values to handle
    /// that.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let (name, value) = header_pair(name, value);
        self.headers.append(name, value);
        self
    }

    /// The extra headers of the 101, to change.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// Accepts: sends the 101 and runs `session` with the socket, as
    /// [`Upgrade::upgrade`] does. `request` is the request this offer came
    /// from.
    pub fn accept<F>(self, request: &mut Request<'_>, session: F) -> Response
    where
        F: FnOnce(WebSocket) -> Result<(), Error>,
    {
        match self.switch(request) {
            Ok(ws) => {
                run_session(ws, session);
                Response::new(StatusCode::SWITCHING_PROTOCOLS)
            }
            Err(e) => {
                log::debug!("{}: the WebSocket upgrade failed: {e}", request.peer_addr());
                match e {
                    SwitchError::Io(_) => {
                        Response::error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
                            .with_header("connection", "close")
                    }
                    refused => bad_request_and_close(&refused.to_string()),
                }
            }
        }
    }

    /// Sends the 101 and makes the socket; kept out of line so that its
    /// frame is gone while the session runs (an idle WebSocket keeps only
    /// the stack it is waiting on).
    #[inline(never)]
    fn switch(self, request: &mut Request<'_>) -> Result<WebSocket, SwitchError> {
        let handler = &self.offer.handler;
        let deflate = negotiate_as_server(
            &handler.config.deflate,
            self.offer
                .upgrade
                .offered_extensions
                .iter()
                .map(|v| v.as_bytes()),
        );
        let head = server_response_head(
            &self.offer.upgrade.accept_key,
            self.protocol.as_deref(),
            deflate.as_ref().map(|a| a.response_header()).as_deref(),
            handler.response_headers.iter().chain(self.headers.iter()),
        );
        let upgraded = request.switch_protocols(&head)?;
        if let Some(size) = handler.config.send_buffer {
            let size = size.min(i32::MAX as usize);
            let socket = upgraded.transport.tcp();
            let _ = socket2::SockRef::from(socket).set_send_buffer_size(size);
        }
        let handshake = Handshake {
            request: HandshakeRequest::new(request.shared_head()),
            protocol: self.protocol,
            deflate,
            peer_addr: request.peer_addr(),
        };
        let ws = WebSocket::new(
            upgraded.transport.clone(),
            Role::Server,
            handler.config.clone(),
            handshake,
        );
        let stopping = ws.clone();
        upgraded.on_stop(move || {
            let closing = stopping.clone();
            let spawned = green::Builder::new().spawn(move || {
                let _ = closing.close(CloseCode::GOING_AWAY, "server shutting down");
            });
            if let Err(e) = spawned {
                // Out of greenlets (memory maps): no close handshake, but
                // the connection still ends and the stop goes on.
                log::warn!(
                    "websocket {} from {}: no greenlet for the 1001 close ({e}); ending it",
                    stopping.id(),
                    stopping.peer_addr()
                );
                stopping.end_killed();
            }
        });
        Ok(ws)
    }
}

/// Runs the app's session, then closes what it left open: 1000 after
/// `Ok`, 1011 after an `Err` or a panic (which goes on unwinding); a kill
/// unwinds on without a close frame, and the socket closes with it.
fn run_session<F>(ws: WebSocket, session: F)
where
    F: FnOnce(WebSocket) -> Result<(), Error>,
{
    let _open = crate::metrics::OpenGuard::websocket();
    let outcome = catch_unwind(AssertUnwindSafe(|| session(ws.clone())));
    match outcome {
        Ok(Ok(())) => close_after_app(&ws, false),
        Ok(Err(e)) => {
            log::debug!(
                "websocket {} from {}: the session ended with an error: {e}",
                ws.id(),
                ws.peer_addr()
            );
            close_after_app(&ws, true);
        }
        // A kill or a timeout is no app failure: no 1011, it goes on
        // unwinding and the connection ends with it, at once.
        Err(payload) if green::is_interrupt(&*payload) => {
            ws.end_killed();
            resume_unwind(payload)
        }
        Err(panic) => {
            close_after_app(&ws, true);
            resume_unwind(panic);
        }
    }
}

/// Closes after the app, waiting for the peer's Close. A kill (a stop
/// that ran out of time) or a timeout that lands in that wait ends the
/// socket at once, as one in the session does: otherwise the socket
/// stayed open, and the stop's own close (1001) waited on it for the
/// whole `close_timeout` after the stop had returned.
fn close_after_app(ws: &WebSocket, failed: bool) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| ws.close_after_app(failed))) {
        if green::is_interrupt(&*payload) {
            ws.end_killed();
        }
        resume_unwind(payload);
    }
}

/// The answer to `upgrade` on a request that is no accepted handshake.
#[inline(never)]
fn not_an_upgrade(request: &Request<'_>) -> Response {
    if is_upgrade_request(request.headers()) {
        // The handler class refuses bad handshakes before the app runs:
        // an upgrade request without an offer means it is not the
        // WebSocket one.
        static HINT: Once = Once::new();
        HINT.call_once(|| {
            log::warn!(
                "a WebSocket handshake reached Upgrade::upgrade without an offer: \
                 serve with .handler_class(WebSocketHandler::new())"
            );
        });
    }
    Response::error(
        StatusCode::UPGRADE_REQUIRED,
        "Upgrade Required: this resource speaks WebSocket",
    )
    .with_header("upgrade", "websocket")
    .with_header("sec-websocket-version", "13")
}
