//! `WebSocketHandler`, the handler class that recognises WebSocket
//! upgrades: it checks the handshake (with the protocol layer's
//! [`check_upgrade_request`]) and the origin, and leaves an [`Offer`] on
//! the request for the app to take.

use std::fmt;
use std::sync::Arc;

use http::header::{HOST, ORIGIN};
use http::{HeaderMap, StatusCode};

use super::origin::{origin_key, OriginPolicy};
use super::WebSocketConfig;
use crate::proto::websocket::{check_upgrade_request, is_upgrade_request, UpgradeOffer};
use crate::response::header_pair;
use crate::{Handler, Request, Response};

/// What an accepted handshake leaves in the request's extensions for the
/// app (see [`Upgrade`](super::Upgrade)).
#[derive(Clone)]
pub(super) struct Offer {
    pub(super) upgrade: UpgradeOffer,
    pub(super) handler: WebSocketHandler,
}

/// The handler class that accepts WebSocket upgrades (gevent-websocket's
/// `WebSocketHandler`).
///
/// On a request with `Upgrade: websocket` it checks the handshake: 400 for
/// a malformed one (not GET, not HTTP/1.1, no `Connection: upgrade`, a
/// missing or malformed `Sec-WebSocket-Key`), 426 with
/// `Sec-WebSocket-Version: 13` for another protocol version, 403 when the
/// origin check refuses. A client must wait for the 101 before it sends
/// anything more (RFC 6455 section 4.1), so a request with a body, or with
/// bytes already behind it, gets 400 and the connection closes: nothing
/// that arrived before the 101 is ever read as a WebSocket frame. A good
/// handshake reaches the app, which takes the connection with
/// [`Upgrade::upgrade`](super::Upgrade::upgrade) (the 101 goes out then)
/// or answers with an ordinary response. Other requests are plain HTTP.
/// The 101 agrees to permessage-deflate when the client offers it, as
/// [`WebSocketConfig::deflate`](super::WebSocketConfig#structfield.deflate)
/// says (on by default).
///
/// ```no_run
/// use greenws::{Request, Response, Upgrade, WebSocketHandler, WsgiServer, http::StatusCode};
///
/// fn app(req: &mut Request) -> Response {
///     if !req.is_websocket() {
///         return Response::new(StatusCode::NOT_FOUND);
///     }
///     req.upgrade(|ws| {
///         for message in ws.messages() {
///             ws.send(message?)?;
///         }
///         Ok(())
///     })
/// }
///
/// let handler = WebSocketHandler::new()
///     .protocols(["chat.v1"])
///     .same_origin()
///     .allowed_origins(["https://example.com"]);
/// WsgiServer::bind("127.0.0.1:8000")?.handler_class(handler).serve_forever(app)?;
/// # Ok::<(), greenws::Error>(())
/// ```
#[derive(Clone)]
pub struct WebSocketHandler {
    pub(super) config: Arc<WebSocketConfig>,
    pub(super) protocols: Arc<[String]>,
    /// Extra headers of every 101.
    pub(super) response_headers: Arc<HeaderMap>,
    origins: OriginPolicy,
}

impl fmt::Debug for WebSocketHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketHandler")
            .field("config", &self.config)
            .field("protocols", &self.protocols)
            .field("response_headers", &self.response_headers)
            .field("allowed_origins", &self.origins.allowed)
            .field("same_origin", &self.origins.same_origin)
            .field("check_origin", &self.origins.custom.is_some())
            .finish()
    }
}

impl Default for WebSocketHandler {
    fn default() -> Self {
        Self::new()
    }
}

impl WebSocketHandler {
    /// Default settings (see [`WebSocketConfig`]), no subprotocols, every
    /// origin accepted: a server whose WebSockets act on a user's session
    /// (cookies) should restrict origins with
    /// [`same_origin`](Self::same_origin) or
    /// [`allowed_origins`](Self::allowed_origins).
    pub fn new() -> Self {
        WebSocketHandler {
            config: Arc::new(WebSocketConfig::default()),
            protocols: Arc::new([]),
            response_headers: Arc::new(HeaderMap::new()),
            origins: OriginPolicy::default(),
        }
    }

    /// Adds a header to every `101 Switching Protocols` this handler class
    /// sends (the app can add more for one connection, see
    /// [`WebSocketOffer::header`](super::WebSocketOffer::header)). The
    /// handshake's own headers cannot be replaced this way.
    ///
    /// # Panics
    /// If the name or value is not valid in HTTP.
    ///
    /// ```
    /// let handler = greenws::WebSocketHandler::new().response_header("x-served-by", "greenws");
    /// # let _ = handler;
    /// ```
    pub fn response_header(mut self, name: &str, value: &str) -> Self {
        let (name, value) = header_pair(name, value);
        Arc::make_mut(&mut self.response_headers).append(name, value);
        self
    }

    /// Sets the limits, timeouts and heartbeat of the sockets.
    pub fn config(mut self, config: WebSocketConfig) -> Self {
        self.config = Arc::new(config);
        self
    }

    /// The subprotocols the server speaks: the first one the client offered
    /// that is in this list is agreed (or none; the app can choose
    /// otherwise with [`WebSocketOffer::protocols`](super::WebSocketOffer::protocols)).
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Accepts pages of these origins, written as browsers send them
    /// (`https://example.com`, `http://localhost:8000`); others get 403.
    /// Scheme and host are compared without regard to case, and a default
    /// port (80, 443) may be written or not; `"null"` admits pages that
    /// have no origin (sandboxed frames, `file://`). Clients that send no
    /// `Origin` at all are not browsers and are accepted. Combines with
    /// [`same_origin`](Self::same_origin): either one admits.
    ///
    /// ```
    /// let handler = greenws::WebSocketHandler::new()
    ///     .allowed_origins(["https://example.com", "https://admin.example.com"]);
    /// # let _ = handler;
    /// ```
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.origins.allowed = origins
            .into_iter()
            .map(|o| origin_key(o.as_ref()))
            .collect();
        self
    }

    /// Accepts pages served from the host the request was sent to: the
    /// `Origin`'s host and port must be the request's `Host` (any scheme;
    /// a default port may be written or not); others get 403. Clients that
    /// send no `Origin` are accepted. Behind a proxy that rewrites `Host`,
    /// list the public origins with
    /// [`allowed_origins`](Self::allowed_origins) instead.
    ///
    /// This does not stop DNS rebinding (a page of a name that resolves to
    /// this server asks for that name as `Host`): a server on a private
    /// address should list its origins.
    pub fn same_origin(mut self) -> Self {
        self.origins.same_origin = true;
        self
    }

    /// Decides with a check of your own, given the `Origin` header (`None`
    /// when absent); `false` refuses with 403. It replaces
    /// [`allowed_origins`](Self::allowed_origins) and
    /// [`same_origin`](Self::same_origin).
    pub fn check_origin(
        mut self,
        check: impl Fn(Option<&str>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.origins.custom = Some(Arc::new(check));
        self
    }
}

impl Handler for WebSocketHandler {
    #[inline(never)]
    fn prepare(&self, request: &mut Request<'_>) -> Option<Response> {
        if !is_upgrade_request(request.headers()) {
            return None;
        }
        let upgrade =
            match check_upgrade_request(request.method(), request.version(), request.headers()) {
                Ok(upgrade) => upgrade,
                Err(refusal) => {
                    let mut response = Response::error(
                        refusal.status(),
                        format!(
                            "{}: {}",
                            refusal.status().canonical_reason().unwrap_or("Refused"),
                            refusal.reason()
                        ),
                    );
                    for (name, value) in refusal.headers() {
                        response = response.with_header(name, value);
                    }
                    return Some(response);
                }
            };
        if !request.body_finished() {
            return refuse_and_close("a WebSocket handshake has no body");
        }
        if request.has_bytes_after_head() {
            return refuse_and_close("data sent before the 101 Switching Protocols");
        }
        let origin = request.header(ORIGIN.as_str());
        if !self.origins.allows(origin, request.header(HOST.as_str())) {
            return Some(Response::error(
                StatusCode::FORBIDDEN,
                "Forbidden: this origin may not open a WebSocket here",
            ));
        }
        request.extensions_mut().insert(Offer {
            upgrade,
            handler: self.clone(),
        });
        None
    }
}

/// 400, and the connection closes: what follows the request cannot be
/// told apart from the next request.
fn refuse_and_close(why: &str) -> Option<Response> {
    Some(bad_request_and_close(why))
}

/// A 400 that closes the connection.
pub(super) fn bad_request_and_close(why: &str) -> Response {
    Response::error(StatusCode::BAD_REQUEST, format!("Bad Request: {why}"))
        .with_header("connection", "close")
}
