//! The WebSocket handler class and the handshake hand-off.

use std::fmt;
use std::sync::Arc;

use http::header::{
    HeaderValue, HOST, ORIGIN, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use http::{Method, StatusCode, Version};

use super::socket::Info;
use super::{WebSocket, WebSocketConfig};
use crate::codec::head::connection_tokens;
use crate::io::ConnIo;
use crate::{Handler, Request, Response};

/// What an accepted handshake leaves on the request for the app.
pub(crate) struct Offer {
    accept_key: String,
    offered_protocols: Vec<String>,
    handler: WebSocketHandler,
}

/// Decides whether a WebSocket handshake may go ahead, from its `Origin`
/// header (`None` when absent).
type OriginCheck = dyn Fn(Option<&str>) -> bool + Send + Sync;

/// Which pages may open a WebSocket (cross-site WebSocket hijacking: a
/// browser lets any page connect anywhere, sending its cookies, and says
/// which page it is in `Origin`). Without `allowed_origins` or
/// `same_origin`, every origin is accepted.
#[derive(Clone, Default)]
struct OriginPolicy {
    /// The listed origins, as [`origin_key`] gives them.
    allowed: Arc<[String]>,
    /// Pages of the host the request was sent to (Origin against Host).
    same_origin: bool,
    /// A check of the app's own, which decides alone.
    custom: Option<Arc<OriginCheck>>,
}

impl OriginPolicy {
    fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        if let Some(check) = &self.custom {
            return check(origin);
        }
        if self.allowed.is_empty() && !self.same_origin {
            return true;
        }
        // No Origin: not a browser, so no page to hijack the user's session.
        let Some(origin) = origin else {
            return true;
        };
        if self.allowed.contains(&origin_key(origin)) {
            return true;
        }
        self.same_origin
            && parse_origin(origin).is_some_and(|(scheme, authority)| {
                host.is_some_and(|host| {
                    without_default_port(&host.trim().to_ascii_lowercase(), &scheme) == authority
                })
            })
    }
}

/// An origin split into scheme and `host[:port]`, lower case, without the
/// scheme's default port; `None` for anything else (`null` included).
fn parse_origin(origin: &str) -> Option<(String, String)> {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, authority) = origin.split_once("://")?;
    let well_formed = !scheme.is_empty()
        && !authority.is_empty()
        && !authority.contains(['/', '?', '#', '@', ' ']);
    well_formed.then(|| {
        let authority = without_default_port(authority, scheme).to_owned();
        (scheme.to_owned(), authority)
    })
}

/// How an origin is compared: `scheme://host[:port]` normalised by
/// [`parse_origin`], or the text in lower case when it is no such origin
/// (so that a listed `null` matches `null`).
fn origin_key(origin: &str) -> String {
    match parse_origin(origin) {
        Some((scheme, authority)) => format!("{scheme}://{authority}"),
        None => origin.trim().to_ascii_lowercase(),
    }
}

/// `authority` without `:80` for http (and ws), `:443` for https (and wss).
fn without_default_port<'a>(authority: &'a str, scheme: &str) -> &'a str {
    let default = match scheme {
        "http" | "ws" => ":80",
        "https" | "wss" => ":443",
        _ => return authority,
    };
    authority.strip_suffix(default).unwrap_or(authority)
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
/// that arrived before the 101 is ever read as a WebSocket frame. A good handshake reaches the app, which takes the
/// connection with [`Request::websocket`] (the 101 goes out then) or
/// answers with an ordinary response. Other requests are plain HTTP.
///
/// ```no_run
/// use greenws::{Request, Response, WebSocketHandler, WsgiServer, http::StatusCode};
///
/// fn app(req: &mut Request) -> Response {
///     match req.websocket() {
///         Some(ws) => {
///             while let Ok(Some(message)) = ws.receive() {
///                 if ws.send(message).is_err() { break; }
///             }
///             Response::upgraded()
///         }
///         None => Response::new(StatusCode::NOT_FOUND),
///     }
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
    config: Arc<WebSocketConfig>,
    protocols: Arc<[String]>,
    origins: OriginPolicy,
}

impl fmt::Debug for WebSocketHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketHandler")
            .field("config", &self.config)
            .field("protocols", &self.protocols)
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
            origins: OriginPolicy::default(),
        }
    }

    /// Sets the limits, timeouts and heartbeat of the sockets.
    pub fn config(mut self, config: WebSocketConfig) -> Self {
        self.config = Arc::new(config);
        self
    }

    /// The subprotocols the server speaks, in order of preference is not
    /// needed: the first one the client offered that is in this list is
    /// agreed (or none).
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
        let headers = request.headers();
        let wants_websocket = headers
            .get_all(UPGRADE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("websocket"));
        if !wants_websocket {
            return None;
        }
        let refuse = |why: &str| {
            Some(Response::error(
                StatusCode::BAD_REQUEST,
                format!("Bad Request: {why}"),
            ))
        };
        if request.method() != Method::GET {
            return refuse("a WebSocket handshake must be a GET");
        }
        if request.version() != Version::HTTP_11 {
            return refuse("a WebSocket handshake needs HTTP/1.1");
        }
        if !connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade")) {
            return refuse("a WebSocket handshake needs Connection: Upgrade");
        }
        let version = headers
            .get(SEC_WEBSOCKET_VERSION)
            .map(HeaderValue::as_bytes);
        if version != Some(b"13") {
            return Some(
                Response::error(
                    StatusCode::UPGRADE_REQUIRED,
                    "Upgrade Required: this server speaks WebSocket version 13",
                )
                .with_header("sec-websocket-version", "13"),
            );
        }
        let mut keys = headers.get_all(SEC_WEBSOCKET_KEY).iter();
        let key = match (keys.next(), keys.next()) {
            (Some(key), None) if is_valid_key(key.as_bytes()) => key.as_bytes().to_vec(),
            _ => return refuse("Sec-WebSocket-Key must be one base64 value of 16 bytes"),
        };
        if !request.body_finished() {
            return refuse_and_close("a WebSocket handshake has no body");
        }
        if arrived_after_head(request.io()) {
            return refuse_and_close("data sent before the 101 Switching Protocols");
        }
        let origin = request.header(ORIGIN.as_str());
        if !self.origins.allows(origin, request.header(HOST.as_str())) {
            return Some(Response::error(
                StatusCode::FORBIDDEN,
                "Forbidden: this origin may not open a WebSocket here",
            ));
        }
        let offered_protocols = request
            .headers()
            .get_all(SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect();
        request.upgrade = Some(Offer {
            accept_key: tungstenite::handshake::derive_accept_key(&key),
            offered_protocols,
            handler: self.clone(),
        });
        None
    }
}

/// 400, and the connection closes: what follows the request cannot be
/// told apart from the next request.
fn refuse_and_close(why: &str) -> Option<Response> {
    Some(
        Response::error(StatusCode::BAD_REQUEST, format!("Bad Request: {why}"))
            .with_header("connection", "close"),
    )
}

/// True when bytes arrived after the request head: read along with it, or
/// in the socket now (taken into the connection's buffer, where they are
/// the HTTP layer's).
fn arrived_after_head(io: &mut ConnIo) -> bool {
    if io.buffered().is_empty() {
        let _ = io.fill_now();
    }
    !io.buffered().is_empty()
}

fn is_valid_key(key: &[u8]) -> bool {
    data_encoding::BASE64
        .decode(key)
        .is_ok_and(|decoded| decoded.len() == 16)
}

impl Request<'_> {
    /// Takes the connection for a WebSocket, if this request is an upgrade
    /// that the [`WebSocketHandler`] accepted (`None` otherwise, and always
    /// without that handler class). The `101 Switching Protocols` is sent
    /// here, agreeing on the first subprotocol the client offered that the
    /// handler lists.
    ///
    /// Also `None` when the client sent more bytes after its request
    /// while the app decided (against RFC 6455 section 4.1): the app's
    /// answer goes out as HTTP and those bytes are read as the next
    /// request; and when the 101 cannot be sent.
    ///
    /// The app then talks over the socket and returns
    /// [`Response::upgraded`]; when it returns, a socket still open is
    /// closed with 1000 (1011 if the app panicked).
    pub fn websocket(&mut self) -> Option<WebSocket> {
        let offer = self.upgrade.take()?;
        let choice = offer
            .offered_protocols
            .iter()
            .find(|p| offer.handler.protocols.contains(p))
            .cloned();
        self.accept_websocket(offer, choice)
    }

    /// Like [`websocket`](Self::websocket), agreeing on the first offered
    /// subprotocol that is in `protocols` (instead of the handler's list).
    pub fn websocket_with(&mut self, protocols: &[&str]) -> Option<WebSocket> {
        let offer = self.upgrade.take()?;
        let choice = offer
            .offered_protocols
            .iter()
            .find(|p| protocols.contains(&p.as_str()))
            .cloned();
        self.accept_websocket(offer, choice)
    }

    /// The subprotocols the client offered, if this is an accepted upgrade.
    pub fn websocket_protocols(&self) -> Vec<&str> {
        self.upgrade
            .as_ref()
            .map(|o| o.offered_protocols.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// True when this request is an upgrade the handler accepted, which
    /// [`websocket`](Self::websocket) takes (unless the client sends more
    /// before the 101).
    pub fn is_websocket(&self) -> bool {
        self.upgrade.is_some()
    }

    #[inline(never)]
    fn accept_websocket(&mut self, offer: Offer, protocol: Option<String>) -> Option<WebSocket> {
        let mut head = String::with_capacity(160);
        head.push_str("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
        head.push_str(&offer.accept_key);
        if let Some(protocol) = &protocol {
            head.push_str("\r\nSec-WebSocket-Protocol: ");
            head.push_str(protocol);
        }
        head.push_str("\r\n\r\n");
        let info = Info {
            path: self.path().to_owned(),
            origin: self.header(ORIGIN.as_str()).map(str::to_owned),
            protocol,
            peer_addr: self.peer_addr(),
        };
        let io = self.io();
        if arrived_after_head(io) {
            log::debug!(
                "{}: data arrived before the 101; the upgrade is declined",
                info.peer_addr
            );
            return None;
        }
        if let Err(e) = io.write_all(head.as_bytes()) {
            log::debug!(
                "{}: the 101 response could not be sent: {e}",
                info.peer_addr
            );
            return None;
        }
        let (stream, leftover) = io.take();
        debug_assert!(leftover.is_empty(), "checked just before the 101");
        if let Some(size) = offer.handler.config.send_buffer {
            let size = size.min(i32::MAX as usize);
            let _ = socket2::SockRef::from(stream.tcp().inner()).set_send_buffer_size(size);
        }
        let ws = WebSocket::new(stream, offer.handler.config.clone(), info);
        io.set_upgraded(ws.clone());
        Some(ws)
    }
}
