//! What an app returns: a status, headers and a body.

use std::borrow::Cow;
use std::fmt;

use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};

/// A response body: bytes known up front, or chunks produced while sending.
pub enum Body {
    /// No body.
    Empty,
    /// A body known up front; sent with `Content-Length`.
    Bytes(Cow<'static, [u8]>),
    /// A body produced chunk by chunk while it is sent: chunked to HTTP/1.1
    /// clients, delimited by closing the connection for HTTP/1.0 ones (or
    /// sent as is when the app set `Content-Length` itself).
    Stream(Box<dyn Iterator<Item = Vec<u8>> + Send>),
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Body::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// An HTTP response from an app.
///
/// `Content-Length`, `Transfer-Encoding`, `Connection` and `Date` are
/// managed by the server: it sets the framing from the body, keeps or closes
/// the connection, and adds a `Date` unless one is set here.
///
/// ```
/// use greenws::{Response, http::StatusCode};
/// let ok = Response::text("Yes this is a test!");
/// assert_eq!(ok.status(), StatusCode::OK);
/// let missing = Response::new(StatusCode::NOT_FOUND);
/// let json = Response::json(r#"{"ok":true}"#).with_header("cache-control", "no-store");
/// let streamed = Response::stream("text/plain", (1..=3).map(|i| format!("chunk {i}\n").into_bytes()));
/// # let _ = (missing, json, streamed);
/// ```
#[derive(Debug)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Body,
}

impl Response {
    /// A response with this status, no headers and no body.
    pub fn new(status: StatusCode) -> Self {
        Response {
            status,
            headers: HeaderMap::new(),
            body: Body::Empty,
        }
    }

    /// A 200 response with a body of the given content type.
    pub fn bytes(content_type: &'static str, body: impl Into<Cow<'static, [u8]>>) -> Self {
        let mut response = Response::new(StatusCode::OK);
        response
            .headers
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        response.body = Body::Bytes(body.into());
        response
    }

    /// 200 `text/plain; charset=utf-8`.
    pub fn text(body: impl Into<String>) -> Self {
        Self::bytes("text/plain; charset=utf-8", body.into().into_bytes())
    }

    /// 200 `text/html; charset=utf-8`. A `&'static str` (such as an
    /// `include_str!` page) is sent without copying.
    pub fn html(body: impl Into<Cow<'static, str>>) -> Self {
        Self::bytes("text/html; charset=utf-8", cow_bytes(body.into()))
    }

    /// 200 `application/json` with a body that already is JSON.
    pub fn json(body: impl Into<Cow<'static, str>>) -> Self {
        Self::bytes("application/json", cow_bytes(body.into()))
    }

    /// 200 with a body sent chunk by chunk as the iterator yields it.
    pub fn stream<I>(content_type: &'static str, chunks: I) -> Self
    where
        I: IntoIterator<Item = Vec<u8>>,
        I::IntoIter: Send + 'static,
    {
        let mut response = Response::new(StatusCode::OK);
        response
            .headers
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        response.body = Body::Stream(Box::new(chunks.into_iter()));
        response
    }

    /// Replaces the status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Adds a header (repeated names are all sent).
    ///
    /// # Panics
    /// If the name or value is not valid in HTTP; use
    /// [`headers_mut`](Self::headers_mut) with checked values to handle that.
    pub fn with_header(mut self, name: &str, value: impl AsRef<str>) -> Self {
        let (name, value) = header_pair(name, value.as_ref());
        self.headers.append(name, value);
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The headers, to change.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// The body.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    pub(crate) fn into_parts(self) -> (StatusCode, HeaderMap, Body) {
        (self.status, self.headers, self.body)
    }

    /// A short plain-text error response, as the server sends on bad input.
    pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        message.push('\n');
        Response::text(message).with_status(status)
    }
}

fn cow_bytes(text: Cow<'static, str>) -> Cow<'static, [u8]> {
    match text {
        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
    }
}

/// A header name and value from text, checked.
///
/// # Panics
/// If either is not valid in HTTP.
pub(crate) fn header_pair(name: &str, value: &str) -> (HeaderName, HeaderValue) {
    let name = HeaderName::from_bytes(name.as_bytes())
        .unwrap_or_else(|_| panic!("invalid header name {name:?}"));
    let value =
        HeaderValue::from_str(value).unwrap_or_else(|_| panic!("invalid value for header {name}"));
    (name, value)
}
