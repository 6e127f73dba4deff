//! `HandshakeRequest`: the request that opened a WebSocket, readable for
//! the connection's whole life (gevent-websocket's `ws.environ`).

use std::fmt;
use std::sync::Arc;

use http::header::ORIGIN;
use http::HeaderMap;

use crate::proto::cookies;
use crate::proto::http::head::RequestHead;

/// The request that opened a WebSocket: its path, query string, headers
/// and cookies, so that a token in the query or a session cookie can
/// authenticate the socket. From [`WebSocket::request`] and
/// [`WebSocketApplication::on_open`].
///
/// It shares the head the server parsed (no copy); cloning it is cheap.
///
/// ```
/// # fn authenticate(ws: &greenws::WebSocket) -> Option<String> {
/// let request = ws.request();
/// let token = request.query_param("token").or_else(|| request.cookie("session"))?;
/// # Some(token.to_owned()) }
/// ```
///
/// [`WebSocket::request`]: super::WebSocket::request
/// [`WebSocketApplication::on_open`]: super::WebSocketApplication::on_open
#[derive(Clone)]
pub struct HandshakeRequest {
    head: Arc<RequestHead>,
}

impl fmt::Debug for HandshakeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandshakeRequest")
            .field("target", &self.head.target)
            .field("headers", &self.head.headers.len())
            .finish()
    }
}

impl HandshakeRequest {
    pub(crate) fn new(head: Arc<RequestHead>) -> Self {
        HandshakeRequest { head }
    }

    /// The path, percent-decoded.
    pub fn path(&self) -> &str {
        &self.head.path
    }

    /// The query string as sent, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.head.query.as_deref()
    }

    /// The value of the first `name=value` pair of the query string
    /// called `name`, as sent (not percent-decoded).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query()?
            .split('&')
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value)
    }

    /// The request-target exactly as sent, query included.
    pub fn target(&self) -> &str {
        &self.head.target
    }

    /// The header fields; repeated fields are all kept.
    pub fn headers(&self) -> &HeaderMap {
        &self.head.headers
    }

    /// The first value of a header, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Origin` header: the page that opened the socket, for a browser.
    pub fn origin(&self) -> Option<&str> {
        self.head.headers.get(ORIGIN).and_then(|v| v.to_str().ok())
    }

    /// The value of the first cookie called `name` (see
    /// [`proto::cookies`](crate::proto::cookies)).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        cookies::cookie(&self.head.headers, name)
    }

    /// Every cookie, as `(name, value)`, in order.
    pub fn cookies(&self) -> impl Iterator<Item = (&str, &str)> {
        cookies::cookies(&self.head.headers)
    }
}
