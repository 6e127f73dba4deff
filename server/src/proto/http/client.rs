//! The client role of an HTTP/1.1 exchange, sans-IO: write a request head;
//! read the response head, bounded in bytes and fields whatever the server
//! sends; decide how the response body is framed (RFC 9112 section 6.3);
//! and keep the first bytes of a body (all a client needs of a refusal to
//! say what went wrong).
//!
//! The WebSocket client sends one request (the opening handshake, written
//! by [`ClientHandshake::request_head`](crate::proto::websocket::ClientHandshake::request_head)
//! with [`write_request_head`]) and reads one answer:
//!
//! ```
//! use greenws::http::{Method, StatusCode};
//! use greenws::proto::http::client::{BodyStart, ResponseBodyFraming, ResponseHeadParser};
//!
//! let mut parser = ResponseHeadParser::default();
//! let received = b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nNo such page";
//! let (head, used) = parser.parse(received).unwrap().expect("a whole head");
//! assert_eq!(head.status, StatusCode::NOT_FOUND);
//!
//! let framing = ResponseBodyFraming::of(&Method::GET, &head).unwrap();
//! assert_eq!(framing, ResponseBodyFraming::Length(9));
//! let mut body = BodyStart::new(framing, 1024);
//! let wants_more = body.push(&received[used..]);
//! // 9 bytes of 9: the body is whole, and what follows is not its.
//! assert!(!wants_more);
//! assert_eq!(body.into_bytes(), b"No such p");
//! ```

use std::fmt;

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};

use crate::proto::http::chunked::ChunkedDecoder;
use crate::proto::tokens::header_elements;

/// Writes a request head: the request line, `fields` in order, and the
/// blank line that ends the head.
///
/// `target` must be a valid request-target (a path and query as
/// [`http::uri::PathAndQuery`] holds them: no spaces, no line breaks);
/// field names and values are written as given (as [`HeaderName`] and
/// [`HeaderValue`] hold them: no line breaks).
///
/// ```
/// use greenws::http::Method;
/// use greenws::proto::http::client::write_request_head;
/// let mut head = Vec::new();
/// write_request_head(&mut head, &Method::GET, "/chat?room=1", [("Host", &b"example.com"[..])]);
/// assert_eq!(head, b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
/// ```
pub fn write_request_head<'f>(
    out: &mut Vec<u8>,
    method: &Method,
    target: &str,
    fields: impl IntoIterator<Item = (&'f str, &'f [u8])>,
) {
    debug_assert!(
        !target
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control()),
        "a request-target has no spaces or control characters: {target:?}"
    );
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in fields {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Size limits on a response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseLimits {
    /// Largest head: the status line, the header lines and the blank line
    /// that ends them, line endings included. Default 64 KiB.
    pub max_head_bytes: usize,
    /// Most header fields. Default 128.
    pub max_headers: usize,
}

impl Default for ResponseLimits {
    fn default() -> Self {
        ResponseLimits {
            max_head_bytes: 64 * 1024,
            max_headers: 128,
        }
    }
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: Version,
    /// The status code.
    pub status: StatusCode,
    /// The reason phrase as sent (may be empty).
    pub reason: String,
    /// The header fields; repeated fields are all kept.
    pub headers: HeaderMap,
}

impl ResponseHead {
    /// True for an interim response (1xx other than `101 Switching
    /// Protocols`): the final response follows it.
    pub fn is_interim(&self) -> bool {
        self.status.is_informational() && self.status != StatusCode::SWITCHING_PROTOCOLS
    }
}

/// Why a response cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseError {
    /// The head is larger than [`ResponseLimits::max_head_bytes`].
    HeadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The head has more fields than [`ResponseLimits::max_headers`].
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// The head is not a valid HTTP/1.x response head.
    Malformed(String),
    /// The `Content-Length` is not one number (or several equal ones).
    InvalidContentLength,
    /// The connection ended before the whole head arrived.
    Truncated {
        /// The bytes that had arrived.
        received: usize,
    },
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseError::HeadTooLarge { limit } => {
                write!(f, "response head larger than {limit} bytes")
            }
            ResponseError::TooManyHeaders { limit } => {
                write!(f, "response head with more than {limit} header fields")
            }
            ResponseError::Malformed(why) => write!(f, "malformed response head: {why}"),
            ResponseError::InvalidContentLength => f.write_str("invalid Content-Length"),
            ResponseError::Truncated { received: 0 } => {
                f.write_str("the server closed the connection without an answer")
            }
            ResponseError::Truncated { received } => write!(
                f,
                "the server closed the connection after {received} bytes of a response head"
            ),
        }
    }
}

impl std::error::Error for ResponseError {}

/// Finds and parses a response head at the start of a buffer that grows as
/// bytes arrive. It remembers how far it looked for the end of the head, so
/// a head that trickles in a byte at a time costs linear time, and it asks
/// for no more than [`ResponseLimits::max_head_bytes`].
#[derive(Debug, Clone, Default)]
pub struct ResponseHeadParser {
    limits: ResponseLimits,
    /// Bytes already searched for the blank line that ends the head.
    scanned: usize,
}

impl ResponseHeadParser {
    /// A parser with these limits.
    pub fn new(limits: ResponseLimits) -> Self {
        ResponseHeadParser { limits, scanned: 0 }
    }

    /// Looks for a whole head at the start of `buf` (everything received
    /// so far, the same start each call): `Ok(None)` while more bytes are
    /// needed, or the head and the number of bytes it took (what follows
    /// is the body, or for a 101 the new protocol's). After a head, the
    /// parser is ready for the next one (the final response after an
    /// interim one), at the start of the buffer it is then given.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, ResponseError> {
        let limit = self.limits.max_head_bytes;
        let searchable = &buf[..buf.len().min(limit)];
        let Some(head_len) = find_head_end(searchable, self.scanned) else {
            if buf.len() >= limit {
                return Err(ResponseError::HeadTooLarge { limit });
            }
            self.scanned = searchable.len();
            return Ok(None);
        };
        self.scanned = 0;
        let mut fields = vec![httparse::EMPTY_HEADER; self.limits.max_headers];
        let mut response = httparse::Response::new(&mut fields);
        match response.parse(&buf[..head_len]) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => {
                return Err(ResponseError::Malformed("incomplete head".into()))
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(ResponseError::TooManyHeaders {
                    limit: self.limits.max_headers,
                })
            }
            Err(e) => return Err(ResponseError::Malformed(e.to_string())),
        }
        let version = match response.version {
            Some(0) => Version::HTTP_10,
            _ => Version::HTTP_11,
        };
        let status = response
            .code
            .and_then(|code| StatusCode::from_u16(code).ok())
            .ok_or_else(|| ResponseError::Malformed("invalid status code".into()))?;
        let mut headers = HeaderMap::with_capacity(response.headers.len());
        for field in response.headers.iter() {
            let name = HeaderName::from_bytes(field.name.as_bytes()).map_err(|_| {
                ResponseError::Malformed(format!("invalid header name {:?}", field.name))
            })?;
            let value = HeaderValue::from_bytes(field.value).map_err(|_| {
                ResponseError::Malformed(format!("invalid value for header {:?}", field.name))
            })?;
            headers.append(name, value);
        }
        let head = ResponseHead {
            version,
            status,
            reason: response.reason.unwrap_or_default().to_owned(),
            headers,
        };
        Ok(Some((head, head_len)))
    }
}

/// The length of the head at the start of `buf` (through the blank line
/// that ends it, `\r\n\r\n` or a bare `\n\n` as httparse accepts), if it
/// is all there; the search starts a few bytes before `from`, where the
/// last search ended.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    memchr::memchr_iter(b'\n', &buf[start..])
        .map(|i| start + i)
        .find_map(|newline| match &buf[newline + 1..] {
            [b'\n', ..] => Some(newline + 2),
            [b'\r', b'\n', ..] => Some(newline + 3),
            _ => None,
        })
}

/// How a response body is delimited (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseBodyFraming {
    /// No body: a response to HEAD, a 1xx (the 101 included: the
    /// connection switches), 204 or 304.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

impl ResponseBodyFraming {
    /// The framing of the body of `head`, the answer to a `method`
    /// request. `Transfer-Encoding` wins over `Content-Length` (RFC 9112
    /// section 6.3, rule 3); an invalid `Content-Length` is an error.
    pub fn of(method: &Method, head: &ResponseHead) -> Result<Self, ResponseError> {
        let status = head.status;
        if method == Method::HEAD
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return Ok(ResponseBodyFraming::Empty);
        }
        if head.headers.contains_key(TRANSFER_ENCODING) {
            let last = header_elements(&head.headers, TRANSFER_ENCODING).last();
            return Ok(match last {
                Some(coding) if coding.eq_ignore_ascii_case("chunked") => {
                    ResponseBodyFraming::Chunked
                }
                _ => ResponseBodyFraming::UntilClose,
            });
        }
        let mut lengths = header_elements(&head.headers, CONTENT_LENGTH);
        let Some(first) = lengths.next() else {
            if head.headers.contains_key(CONTENT_LENGTH) {
                return Err(ResponseError::InvalidContentLength);
            }
            return Ok(ResponseBodyFraming::UntilClose);
        };
        if !first.bytes().all(|b| b.is_ascii_digit()) || lengths.any(|other| other != first) {
            return Err(ResponseError::InvalidContentLength);
        }
        first
            .parse()
            .map(ResponseBodyFraming::Length)
            .map_err(|_| ResponseError::InvalidContentLength)
    }
}

/// The first bytes of a response body, at most a set number whatever the
/// body's size: push what arrives after the head until
/// [`push`](Self::push) says it has enough (or the connection ends, for a
/// body delimited by the close).
///
/// A chunked body that breaks its framing ends what is kept: it only
/// serves to say what went wrong.
#[derive(Debug, Clone)]
pub struct BodyStart {
    state: BodyState,
    data: Vec<u8>,
    limit: usize,
}

#[derive(Debug, Clone)]
enum BodyState {
    /// This many bytes of the body to come.
    Length(u64),
    /// The decoder, and what it has not consumed yet (an incomplete size
    /// line: bounded by the decoder's own limits).
    Chunked(ChunkedDecoder, Vec<u8>),
    UntilClose,
    Done,
}

impl BodyStart {
    /// Keeps up to `limit` bytes of a body framed as `framing`.
    pub fn new(framing: ResponseBodyFraming, limit: usize) -> Self {
        let state = match framing {
            ResponseBodyFraming::Empty | ResponseBodyFraming::Length(0) => BodyState::Done,
            ResponseBodyFraming::Length(n) => BodyState::Length(n),
            // Trailers are never reached: only the first bytes are kept.
            ResponseBodyFraming::Chunked => {
                BodyState::Chunked(ChunkedDecoder::new(u64::MAX, 0), Vec::new())
            }
            ResponseBodyFraming::UntilClose => BodyState::UntilClose,
        };
        let mut start = BodyStart {
            state,
            data: Vec::new(),
            limit,
        };
        start.check_full();
        start
    }

    /// Takes bytes that arrived; true while more are wanted (false once
    /// the body ended or `limit` bytes are kept).
    pub fn push(&mut self, mut input: &[u8]) -> bool {
        while !input.is_empty() && !self.is_done() {
            let room = self.limit - self.data.len();
            match &mut self.state {
                BodyState::Length(left) => {
                    let n = (input.len().min(room) as u64).min(*left) as usize;
                    self.data.extend_from_slice(&input[..n]);
                    *left -= n as u64;
                    if *left == 0 {
                        self.state = BodyState::Done;
                    }
                    input = &input[n..];
                }
                BodyState::UntilClose => {
                    let n = input.len().min(room);
                    self.data.extend_from_slice(&input[..n]);
                    input = &input[n..];
                }
                BodyState::Chunked(decoder, pending) => {
                    pending.extend_from_slice(input);
                    input = &[];
                    let mut ended = false;
                    let mut used = 0;
                    while self.data.len() < self.limit {
                        let room = self.limit - self.data.len();
                        match decoder.decode(&pending[used..], room) {
                            Ok(step) if step.consumed > 0 => {
                                let data = used + step.data.start..used + step.data.end;
                                self.data.extend_from_slice(&pending[data]);
                                used += step.consumed;
                            }
                            // More input needed, or the last chunk was read.
                            Ok(_) => break,
                            Err(_) => {
                                ended = true;
                                break;
                            }
                        }
                    }
                    pending.drain(..used);
                    if ended || decoder.is_done() {
                        self.state = BodyState::Done;
                    }
                }
                BodyState::Done => unreachable!("checked by the loop"),
            }
            self.check_full();
        }
        !self.is_done()
    }

    fn check_full(&mut self) {
        if self.data.len() >= self.limit {
            self.state = BodyState::Done;
        }
    }

    /// True once nothing more is wanted: the body ended, or `limit` bytes
    /// are kept.
    pub fn is_done(&self) -> bool {
        matches!(self.state, BodyState::Done)
    }

    /// The bytes kept.
    pub fn into_bytes(self) -> Vec<u8> {
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(raw: &[u8]) -> Result<Option<(ResponseHead, usize)>, ResponseError> {
        ResponseHeadParser::default().parse(raw)
    }

    #[test]
    fn a_head_is_found_whatever_the_byte_split() {
        let raw = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                    Connection: Upgrade\r\n\r\n\x81\x02hi";
        let whole = parse_all(raw).unwrap().unwrap();
        assert_eq!(whole.1, raw.len() - 4);
        assert_eq!(whole.0.status, StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(whole.0.reason, "Switching Protocols");
        assert_eq!(whole.0.headers["upgrade"], "websocket");
        assert!(!whole.0.is_interim());
        // Fed a byte at a time, with the same parser: the same answer, once.
        let mut parser = ResponseHeadParser::default();
        for end in 0..raw.len() {
            match parser.parse(&raw[..=end]).unwrap() {
                None => assert!(end < whole.1 - 1, "found late at {end}"),
                Some(found) => {
                    assert_eq!(end, whole.1 - 1);
                    assert_eq!(found, whole);
                    break;
                }
            }
        }
        // Bare line feeds, as httparse accepts them.
        let (head, used) = parse_all(b"HTTP/1.0 200 OK\nA: b\n\nbody")
            .unwrap()
            .unwrap();
        assert_eq!((head.version, used), (Version::HTTP_10, 22));
        // An interim response, then the final one.
        let (interim, _) = parse_all(b"HTTP/1.1 103 Early Hints\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(interim.is_interim());
    }

    #[test]
    fn the_head_limit_holds_at_n_minus_one_n_and_n_plus_one() {
        let limits = ResponseLimits {
            max_head_bytes: 64,
            max_headers: 4,
        };
        let head_of = |len: usize| {
            let mut head = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
            head.resize(len - 4, b'a');
            head.extend_from_slice(b"\r\n\r\n");
            head
        };
        for (len, fits) in [(63, true), (64, true), (65, false)] {
            let head = head_of(len);
            assert_eq!(head.len(), len);
            let result = ResponseHeadParser::new(limits).parse(&head);
            if fits {
                assert_eq!(result.unwrap().unwrap().1, len);
            } else {
                assert_eq!(result, Err(ResponseError::HeadTooLarge { limit: 64 }));
            }
        }
        // An endless head is refused once the limit is reached, not before.
        let endless = vec![b'a'; 63];
        assert_eq!(ResponseHeadParser::new(limits).parse(&endless), Ok(None));
        let endless = vec![b'a'; 64];
        assert_eq!(
            ResponseHeadParser::new(limits).parse(&endless),
            Err(ResponseError::HeadTooLarge { limit: 64 })
        );
        // Fields: 4 fit, 5 do not.
        for (fields, fits) in [(4, true), (5, false)] {
            let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
            for i in 0..fields {
                head.extend_from_slice(format!("F{i}: v\r\n").as_bytes());
            }
            head.extend_from_slice(b"\r\n");
            let result = ResponseHeadParser::new(limits).parse(&head);
            if fits {
                assert!(result.is_ok(), "{fields} fields: {result:?}");
            } else {
                assert_eq!(result, Err(ResponseError::TooManyHeaders { limit: 4 }));
            }
        }
    }

    #[test]
    fn malformed_heads_are_refused() {
        for raw in [
            &b"HTTP/2 200 OK\r\n\r\n"[..],
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 099 Low\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n",
        ] {
            assert!(
                matches!(parse_all(raw), Err(ResponseError::Malformed(_))),
                "{:?}: {:?}",
                String::from_utf8_lossy(raw),
                parse_all(raw)
            );
        }
    }

    fn head(status: u16, headers: &[(&str, &str)]) -> ResponseHead {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        ResponseHead {
            version: Version::HTTP_11,
            status: StatusCode::from_u16(status).unwrap(),
            reason: String::new(),
            headers: map,
        }
    }

    #[test]
    fn body_framing_follows_rfc_9112() {
        use ResponseBodyFraming::*;
        let invalid = Err(ResponseError::InvalidContentLength);
        type Case<'a> = (
            u16,
            &'a [(&'a str, &'a str)],
            Result<ResponseBodyFraming, ResponseError>,
        );
        let cases: [Case; 12] = [
            (101, &[("content-length", "5")], Ok(Empty)),
            (100, &[], Ok(Empty)),
            (204, &[("content-length", "5")], Ok(Empty)),
            (304, &[("transfer-encoding", "chunked")], Ok(Empty)),
            (200, &[], Ok(UntilClose)),
            (404, &[("content-length", "12")], Ok(Length(12))),
            (404, &[("content-length", "12, 12")], Ok(Length(12))),
            (
                404,
                &[("content-length", "12"), ("content-length", "13")],
                invalid.clone(),
            ),
            (404, &[("content-length", "+12")], invalid.clone()),
            (
                404,
                &[("content-length", "99999999999999999999999")],
                invalid,
            ),
            (
                500,
                &[
                    ("transfer-encoding", "gzip, chunked"),
                    ("content-length", "3"),
                ],
                Ok(Chunked),
            ),
            (
                500,
                &[("transfer-encoding", "chunked, gzip")],
                Ok(UntilClose),
            ),
        ];
        for (status, headers, expected) in cases {
            assert_eq!(
                ResponseBodyFraming::of(&Method::GET, &head(status, headers)),
                expected,
                "{status} {headers:?}"
            );
        }
        let not_found = head(404, &[("content-length", "12")]);
        assert_eq!(
            ResponseBodyFraming::of(&Method::HEAD, &not_found),
            Ok(Empty)
        );
    }

    #[test]
    fn body_start_keeps_at_most_its_limit_of_any_framing() {
        use ResponseBodyFraming::*;
        let chunked = b"3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\n\r\n";
        for (framing, input, limit, expected, done) in [
            (Length(7), &b"abcdefgXYZ"[..], 100, &b"abcdefg"[..], true),
            (Length(7), b"abcdefg", 3, b"abc", true),
            (Length(7), b"abc", 100, b"abc", false),
            (Length(0), b"abc", 100, b"", true),
            (Empty, b"abc", 100, b"", true),
            (UntilClose, b"abcdefg", 100, b"abcdefg", false),
            (UntilClose, b"abcdefg", 4, b"abcd", true),
            (Chunked, chunked, 100, b"abcdefg", true),
            (Chunked, chunked, 5, b"abcde", true),
            (Chunked, &chunked[..10], 100, b"abc", false),
            (Chunked, b"3\r\nabcXX", 100, b"abc", true),
            (Chunked, b"zz\r\n", 100, b"", true),
        ] {
            // Whole, and a byte at a time.
            for split in [input.len().max(1), 1] {
                let mut body = BodyStart::new(framing, limit);
                for piece in input.chunks(split) {
                    body.push(piece);
                }
                let case = format!("{framing:?} {:?} {limit} split {split}", input);
                assert_eq!(body.is_done(), done, "{case}");
                assert_eq!(body.into_bytes(), expected, "{case}");
            }
        }
    }

    #[test]
    fn a_request_head_is_a_request_line_fields_and_a_blank_line() {
        let mut head = Vec::new();
        write_request_head(
            &mut head,
            &Method::GET,
            "/a?b=c",
            [("Host", &b"h:1"[..]), ("X", b"y")],
        );
        assert_eq!(head, b"GET /a?b=c HTTP/1.1\r\nHost: h:1\r\nX: y\r\n\r\n");
        let limits = crate::Limits::default();
        let (parsed, used) = crate::proto::http::head::parse_head(&head, &limits)
            .unwrap()
            .unwrap();
        assert_eq!((parsed.target.as_str(), used), ("/a?b=c", head.len()));
    }
}
