//! The server role of an HTTP/1.1 exchange, sans-IO. Given the parsed
//! request head and the app's response, it decides how the response body
//! is framed ([`ResponseFraming`]), whether the connection stays open
//! ([`Persistence`]), applies the `HEAD`, 1xx, 204 and 304 rules, and
//! encodes the head. The connection loop asks it and moves the bytes.
//!
//! ```
//! use greenws::http::{HeaderMap, StatusCode};
//! use greenws::proto::http::head::parse_head;
//! use greenws::proto::http::server::{
//!     BodyShape, Persistence, RequestBodyState, ResponseFraming, ServerExchange,
//! };
//!
//! let request = b"HEAD /page HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
//! let (head, _) = parse_head(request, &greenws::Limits::default())
//!     .unwrap()
//!     .expect("a whole head");
//! let exchange = ServerExchange::new(&head);
//! let headers = HeaderMap::new();
//! let persistence = exchange.persistence(&headers, false, RequestBodyState::Read);
//! assert_eq!(persistence, Persistence::KeepAlive);
//! // A HEAD answer announces the length GET would send, and sends no body.
//! let plan = exchange.plan(StatusCode::OK, &headers, BodyShape::Bytes(5), persistence);
//! assert_eq!(plan.framing, ResponseFraming::Length(5));
//! assert!(!plan.send_body);
//! let mut out = Vec::new();
//! plan.write_head(&mut out, StatusCode::OK, &headers);
//! let text = String::from_utf8(out).unwrap();
//! // An HTTP/1.0 client is told the connection stays open.
//! assert!(text.starts_with("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n"));
//! ```

use std::cell::RefCell;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::{HeaderMap, Method, StatusCode, Version};

use crate::proto::http::head::RequestHead;
use crate::proto::tokens::has_token;

/// What a server sends a client that waits (`Expect: 100-continue`) before
/// it reads the request body.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// How a response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body and no length header (1xx, 204, 304).
    NoBody,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// The body runs until the connection closes (HTTP/1.0 streaming).
    UntilClose,
}

/// What becomes of the connection once the response is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// It waits for the next request.
    KeepAlive,
    /// It closes at once: the client said it sends nothing more.
    Close,
    /// It closes, but first reads and discards what the client may still
    /// be sending (the rest of a body, a pipelined request) for a moment,
    /// so that the response is not lost to a reset.
    CloseAfterLinger,
}

/// The app's response body, as far as its framing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyShape {
    /// No body.
    Empty,
    /// A body of this many bytes, in memory.
    Bytes(u64),
    /// A body streamed in chunks, of a length known only if the app set
    /// `Content-Length`.
    Stream,
}

/// What is left of the request body when the response is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestBodyState {
    /// Read to its end (or there was none).
    Read,
    /// Never asked for: the client waits for a `100 Continue` it was not
    /// sent.
    HeldForContinue,
    /// Part of it was not read and may still be on its way.
    Unread,
    /// Refused while the app read it (too large, malformed, too slow).
    Refused,
}

/// One request-response exchange as the server sees it: what the request
/// head says about the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerExchange {
    version: Version,
    head_request: bool,
    client_keep_alive: bool,
}

impl ServerExchange {
    /// The exchange a parsed request head begins.
    pub fn new(head: &RequestHead) -> Self {
        ServerExchange {
            version: head.version,
            head_request: head.method == Method::HEAD,
            client_keep_alive: head.keep_alive,
        }
    }

    /// The exchange of a request whose head was refused: answered in
    /// HTTP/1.1, never kept alive.
    pub fn refused() -> Self {
        ServerExchange {
            version: Version::HTTP_11,
            head_request: false,
            client_keep_alive: false,
        }
    }

    /// Whether the connection stays open after the response: only if the
    /// client wants it, the app did not answer `Connection: close`, the
    /// server is not stopping, and the request body was read. When it
    /// closes, it lingers if the client may still be sending (the rest of
    /// the body, or another request on a connection it meant to keep).
    pub fn persistence(
        &self,
        response_headers: &HeaderMap,
        server_stopping: bool,
        request_body: RequestBodyState,
    ) -> Persistence {
        let app_closes = has_token(response_headers, CONNECTION, "close");
        match request_body {
            RequestBodyState::Read if self.client_keep_alive && !app_closes && !server_stopping => {
                Persistence::KeepAlive
            }
            RequestBodyState::Unread | RequestBodyState::Refused => Persistence::CloseAfterLinger,
            _ if self.client_keep_alive => Persistence::CloseAfterLinger,
            _ => Persistence::Close,
        }
    }

    /// How to send a response: its framing, whether its body goes out,
    /// and the persistence (a body that runs until the close cannot be
    /// kept alive).
    pub fn plan(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: BodyShape,
        persistence: Persistence,
    ) -> ResponsePlan {
        let bodiless = status_has_no_body(status);
        let framing = match body {
            _ if bodiless => ResponseFraming::NoBody,
            // A HEAD answer may announce the length of what GET would send.
            BodyShape::Empty if self.head_request => {
                ResponseFraming::Length(declared_length(headers).unwrap_or(0))
            }
            BodyShape::Empty => ResponseFraming::Length(0),
            BodyShape::Bytes(n) => ResponseFraming::Length(n),
            BodyShape::Stream => match declared_length(headers) {
                Some(n) => ResponseFraming::Length(n),
                None if self.version == Version::HTTP_10 => ResponseFraming::UntilClose,
                None => ResponseFraming::Chunked,
            },
        };
        let persistence = match (framing, persistence) {
            (ResponseFraming::UntilClose, Persistence::KeepAlive) => Persistence::CloseAfterLinger,
            (_, persistence) => persistence,
        };
        ResponsePlan {
            framing,
            persistence,
            send_body: !bodiless && !self.head_request && body != BodyShape::Empty,
            version: self.version,
        }
    }
}

/// How one response goes out; see [`ServerExchange::plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponsePlan {
    /// How the body is delimited.
    pub framing: ResponseFraming,
    /// What becomes of the connection afterwards.
    pub persistence: Persistence,
    /// Whether the body goes out (not for `HEAD`, 1xx, 204, 304).
    pub send_body: bool,
    version: Version,
}

impl ResponsePlan {
    /// Appends the response head to `out`.
    ///
    /// The framing and `Connection` headers are the server's: any the app
    /// set are replaced. A `Date` is added unless the app set one. An
    /// HTTP/1.0 client, which closes by default, is told
    /// `Connection: keep-alive` when the connection stays open.
    pub fn write_head(&self, out: &mut Vec<u8>, status: StatusCode, headers: &HeaderMap) {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in headers {
            if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == CONNECTION {
                continue;
            }
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        match self.framing {
            ResponseFraming::Length(n) => {
                let _ = write!(out, "Content-Length: {n}\r\n");
            }
            ResponseFraming::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            ResponseFraming::NoBody | ResponseFraming::UntilClose => {}
        }
        match self.persistence {
            Persistence::Close | Persistence::CloseAfterLinger => {
                out.extend_from_slice(b"Connection: close\r\n")
            }
            Persistence::KeepAlive if self.version == Version::HTTP_10 => {
                out.extend_from_slice(b"Connection: keep-alive\r\n")
            }
            Persistence::KeepAlive => {}
        }
        if !headers.contains_key(DATE) {
            out.extend_from_slice(b"Date: ");
            append_http_date(out);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The body ended short of what its framing promised (the app's
    /// stream panicked, or gave fewer or more bytes than its
    /// `Content-Length`): the client cannot tell where the next response
    /// begins, so the connection closes (lingering, as the client meant to
    /// keep it).
    pub fn body_cut_short(&mut self) {
        if self.persistence == Persistence::KeepAlive {
            self.persistence = Persistence::CloseAfterLinger;
        }
    }
}

/// True for statuses that never carry a body: 1xx, 204 and 304.
pub fn status_has_no_body(status: StatusCode) -> bool {
    status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

/// The `Content-Length` the app set, if it is one number.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Appends the current time as an HTTP date, formatted at most once a
/// second per thread. Never inlined: inlined into a caller that blocks, the
/// thread-local's address could be computed before a blocking point and
/// used after the greenlet resumed on another worker.
#[inline(never)]
pub fn append_http_date(out: &mut Vec<u8>) {
    thread_local! {
        static CACHE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let second = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != second {
            *cache = (second, httpdate::fmt_http_date(now));
        }
        out.extend_from_slice(cache.1.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn head(
        status: StatusCode,
        headers: &HeaderMap,
        framing: ResponseFraming,
        persistence: Persistence,
        version: Version,
    ) -> String {
        let plan = ResponsePlan {
            framing,
            persistence,
            send_body: true,
            version,
        };
        let mut out = Vec::new();
        plan.write_head(&mut out, status, headers);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn framing_and_connection_are_the_servers() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("999"));
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.append("x-many", HeaderValue::from_static("1"));
        headers.append("x-many", HeaderValue::from_static("2"));
        let text = head(
            StatusCode::OK,
            &headers,
            ResponseFraming::Length(5),
            Persistence::KeepAlive,
            Version::HTTP_11,
        );
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains("content-type: text/plain\r\n"));
        assert!(text.contains("Content-Length: 5\r\n"));
        assert!(!text.contains("999"));
        assert!(!text.contains("upgrade"));
        assert!(text.contains("x-many: 1\r\nx-many: 2\r\n"));
        assert!(text.contains("Date: "));
        assert!(text.ends_with("\r\n\r\n"));
        assert!(!text.contains("Connection"));

        let text = head(
            StatusCode::OK,
            &HeaderMap::new(),
            ResponseFraming::Chunked,
            Persistence::Close,
            Version::HTTP_11,
        );
        assert!(text.contains("Transfer-Encoding: chunked\r\nConnection: close\r\n"));
        let text = head(
            StatusCode::OK,
            &HeaderMap::new(),
            ResponseFraming::Length(0),
            Persistence::KeepAlive,
            Version::HTTP_10,
        );
        assert!(text.contains("Connection: keep-alive\r\n"));
        let text = head(
            StatusCode::from_u16(599).unwrap(),
            &HeaderMap::new(),
            ResponseFraming::NoBody,
            Persistence::KeepAlive,
            Version::HTTP_11,
        );
        assert!(text.starts_with("HTTP/1.1 599 Unknown\r\n"));
    }

    #[test]
    fn an_app_date_is_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(
            DATE,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        let text = head(
            StatusCode::NO_CONTENT,
            &headers,
            ResponseFraming::NoBody,
            Persistence::KeepAlive,
            Version::HTTP_11,
        );
        assert_eq!(
            text.matches("date").count() + text.matches("Date").count(),
            1
        );
    }

    #[test]
    fn bodyless_statuses() {
        assert!(status_has_no_body(StatusCode::CONTINUE));
        assert!(status_has_no_body(StatusCode::NO_CONTENT));
        assert!(status_has_no_body(StatusCode::NOT_MODIFIED));
        assert!(!status_has_no_body(StatusCode::OK));
        assert!(!status_has_no_body(StatusCode::NOT_FOUND));
    }
}
