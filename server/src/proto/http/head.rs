//! Request heads: finding one in a buffer, enforcing the size limits, parsing
//! it with httparse, and deriving what the server needs (body framing,
//! keep-alive, expectations) while refusing ambiguous messages.

use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use percent_encoding::percent_decode_str;

use crate::proto::tokens::{header_elements, strict_list_elements};
use crate::Limits;

/// The most bytes of empty lines skipped before a request line (ten CRLF
/// pairs, Apache's default of ten blank lines); more is refused with 400.
/// RFC 9112 section 2.2 asks a server to ignore at least one.
pub const MAX_LEADING_EMPTY_BYTES: usize = 20;

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestBodyFraming {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The request-target exactly as sent.
    pub target: String,
    /// The path, percent-decoded (`*` for `OPTIONS *`, the authority for
    /// `CONNECT`).
    pub path: String,
    /// The query string, as sent (not decoded), without the `?`.
    pub query: Option<String>,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The header fields; repeated fields are all kept.
    pub headers: HeaderMap,
    /// How the body is delimited.
    pub framing: RequestBodyFraming,
    /// Whether the client is willing to keep the connection open.
    pub keep_alive: bool,
    /// Whether the client waits for `100 Continue` before sending the body.
    pub expect_continue: bool,
}

impl RequestHead {
    /// The request line as sent, for logs: `GET /path?q HTTP/1.1`.
    pub fn request_line(&self) -> String {
        let version = match self.version {
            Version::HTTP_10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        };
        format!("{} {} {}", self.method, self.target, version)
    }
}

/// Why a head was refused, with the status to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// Malformed or ambiguous (400).
    BadRequest(String),
    /// Request line too long (414).
    UriTooLong,
    /// Header block too large or too many fields (431).
    HeadersTooLarge,
    /// Declared body larger than the limit (413).
    PayloadTooLarge,
    /// A transfer coding this server does not implement (501).
    NotImplemented(String),
    /// An `Expect` other than `100-continue` (417).
    ExpectationFailed,
    /// Not HTTP/1.x (505).
    VersionNotSupported,
}

impl HeadError {
    /// The status code to answer with.
    pub fn status(&self) -> StatusCode {
        match self {
            HeadError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HeadError::UriTooLong => StatusCode::URI_TOO_LONG,
            HeadError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            HeadError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            HeadError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            HeadError::ExpectationFailed => StatusCode::EXPECTATION_FAILED,
            HeadError::VersionNotSupported => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
        }
    }

    /// A one-line explanation for the response body and the log.
    pub fn message(&self) -> String {
        match self {
            HeadError::BadRequest(why) => format!("Bad Request: {why}"),
            HeadError::UriTooLong => "URI Too Long: the request line exceeds the limit".into(),
            HeadError::HeadersTooLarge => {
                "Request Header Fields Too Large: the header block exceeds the limit".into()
            }
            HeadError::PayloadTooLarge => {
                "Payload Too Large: the declared body exceeds the limit".into()
            }
            HeadError::NotImplemented(coding) => {
                format!("Not Implemented: unsupported Transfer-Encoding {coding:?}")
            }
            HeadError::ExpectationFailed => {
                "Expectation Failed: only 100-continue is supported".into()
            }
            HeadError::VersionNotSupported => {
                "HTTP Version Not Supported: only HTTP/1.0 and HTTP/1.1".into()
            }
        }
    }
}

fn bad(why: impl Into<String>) -> HeadError {
    HeadError::BadRequest(why.into())
}

/// Looks for a complete request head at the start of `buf`, within the
/// head limits of `limits` (`max_request_line`, `max_header_bytes`,
/// `max_headers`, and `max_body` for a declared length).
///
/// Returns `Ok(None)` while more bytes are needed (and the limits still
/// allow them), or the head and the number of bytes it took (including the
/// empty lines before the request line, which are skipped: at most
/// [`MAX_LEADING_EMPTY_BYTES`] of them).
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<(RequestHead, usize)>, HeadError> {
    // A few empty lines before a request line are allowed and ignored.
    let mut start = 0;
    while buf[start..].starts_with(b"\r\n") || buf[start..].starts_with(b"\n") {
        start += if buf[start] == b'\r' { 2 } else { 1 };
        if start > MAX_LEADING_EMPTY_BYTES {
            return Err(bad(format!(
                "more than {MAX_LEADING_EMPTY_BYTES} bytes of empty lines before the request line"
            )));
        }
    }
    let rest = &buf[start..];
    let Some(line_end) = memchr::memchr(b'\n', rest) else {
        return if rest.len() > limits.max_request_line + 1 {
            Err(HeadError::UriTooLong)
        } else {
            Ok(None)
        };
    };
    let line_len = if line_end > 0 && rest[line_end - 1] == b'\r' {
        line_end - 1
    } else {
        line_end
    };
    if line_len > limits.max_request_line {
        return Err(HeadError::UriTooLong);
    }
    let block = &rest[line_end + 1..];
    let Some(block_len) = header_block_len(block, limits.max_headers)? else {
        return if block.len() > limits.max_header_bytes {
            Err(HeadError::HeadersTooLarge)
        } else {
            Ok(None)
        };
    };
    if block_len > limits.max_header_bytes {
        return Err(HeadError::HeadersTooLarge);
    }
    let fields = memchr::memchr_iter(b'\n', &block[..block_len]).count() - 1;
    if fields > limits.max_headers {
        return Err(HeadError::HeadersTooLarge);
    }

    let head_len = line_end + 1 + block_len;
    let mut headers = vec![httparse::EMPTY_HEADER; fields];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(&rest[..head_len]) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(bad("incomplete request head")),
        Err(httparse::Error::Version) => return Err(HeadError::VersionNotSupported),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::HeadersTooLarge),
        Err(e) => return Err(bad(format!("malformed request head ({e})"))),
    }
    let head = build_head(&request, limits)?;
    Ok(Some((head, start + head_len)))
}

/// The length of a header block up to and including the blank line that
/// ends it, if that line is in `block`. Gives up once more than
/// `max_headers` lines went by without the end, so a trickled head costs
/// little to re-scan.
fn header_block_len(block: &[u8], max_headers: usize) -> Result<Option<usize>, HeadError> {
    if block.starts_with(b"\r\n") {
        return Ok(Some(2));
    }
    if block.starts_with(b"\n") {
        return Ok(Some(1));
    }
    let mut from = 0;
    let mut lines = 0;
    while let Some(pos) = memchr::memchr(b'\n', &block[from..]) {
        let after = from + pos + 1;
        if block[after..].starts_with(b"\r\n") {
            return Ok(Some(after + 2));
        }
        if block[after..].starts_with(b"\n") {
            return Ok(Some(after + 1));
        }
        lines += 1;
        if lines > max_headers {
            return Err(HeadError::HeadersTooLarge);
        }
        from = after;
    }
    Ok(None)
}

fn build_head(
    request: &httparse::Request<'_, '_>,
    limits: &Limits,
) -> Result<RequestHead, HeadError> {
    let method = Method::from_bytes(request.method.unwrap_or_default().as_bytes())
        .map_err(|_| bad("invalid method"))?;
    let target = request.path.unwrap_or_default().to_owned();
    let version = match request.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(HeadError::VersionNotSupported),
    };
    let mut headers = HeaderMap::with_capacity(request.headers.len());
    for h in request.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| bad(format!("invalid header name {:?}", h.name)))?;
        let value = HeaderValue::from_bytes(h.value)
            .map_err(|_| bad(format!("invalid value for header {:?}", h.name)))?;
        headers.append(name, value);
    }
    let (path, query) = split_target(&method, &target)?;

    if version == Version::HTTP_11 {
        match headers.get_all(HOST).iter().count() {
            1 => {}
            0 => return Err(bad("HTTP/1.1 request without a Host header")),
            _ => return Err(bad("more than one Host header")),
        }
    }
    let framing = body_framing(&headers, version, limits)?;
    let keep_alive = connection_keep_alive(&headers, version);
    let expect_continue = match headers.get(EXPECT) {
        None => false,
        Some(v) if v.as_bytes().eq_ignore_ascii_case(b"100-continue") => {
            version == Version::HTTP_11
        }
        Some(_) => return Err(HeadError::ExpectationFailed),
    };
    Ok(RequestHead {
        method,
        target,
        path,
        query,
        version,
        headers,
        framing,
        keep_alive,
        expect_continue,
    })
}

/// Splits a request-target into the decoded path and the raw query.
fn split_target(method: &Method, target: &str) -> Result<(String, Option<String>), HeadError> {
    if target.is_empty() {
        return Err(bad("empty request target"));
    }
    if target == "*" {
        return if method == Method::OPTIONS {
            Ok(("*".into(), None))
        } else {
            Err(bad("'*' is a target for OPTIONS only"))
        };
    }
    if method == Method::CONNECT {
        return Ok((target.to_owned(), None));
    }
    let origin_form = if target.starts_with('/') {
        target
    } else if let Some(after_scheme) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        // absolute-form: keep what follows the authority.
        match after_scheme.find(['/', '?']) {
            Some(i) if after_scheme.as_bytes()[i] == b'/' => &after_scheme[i..],
            Some(i) => return split_target(method, &format!("/{}", &after_scheme[i..])),
            None => "/",
        }
    } else {
        return Err(bad("request target is neither a path nor an absolute URI"));
    };
    let (raw_path, query) = match origin_form.split_once('?') {
        Some((p, q)) => (p, Some(q.to_owned())),
        None => (origin_form, None),
    };
    let path = percent_decode_str(raw_path)
        .decode_utf8()
        .map_err(|_| bad("the path is not UTF-8 once percent-decoded"))?
        .into_owned();
    Ok((path, query))
}

/// Decides the body framing by RFC 9112 section 6, refusing what could be
/// read two ways (the request could hide another one behind it):
/// Transfer-Encoding in HTTP/1.0, Transfer-Encoding with Content-Length,
/// Transfer-Encoding that does not end in `chunked` (once), and
/// conflicting or invalid Content-Length values. A list of equal
/// Content-Length values counts as one.
fn body_framing(
    headers: &HeaderMap,
    version: Version,
    limits: &Limits,
) -> Result<RequestBodyFraming, HeadError> {
    let has_length = headers.contains_key(CONTENT_LENGTH);
    if headers.contains_key(TRANSFER_ENCODING) {
        if version == Version::HTTP_10 {
            return Err(bad("Transfer-Encoding in an HTTP/1.0 request"));
        }
        if has_length {
            return Err(bad("both Content-Length and Transfer-Encoding"));
        }
        let mut codings = Vec::new();
        for value in headers.get_all(TRANSFER_ENCODING) {
            let value = value
                .to_str()
                .map_err(|_| bad("Transfer-Encoding is not ASCII"))?;
            let elements = strict_list_elements(value)
                .ok_or_else(|| bad("an empty element in Transfer-Encoding"))?;
            codings.extend(elements.into_iter().map(str::to_ascii_lowercase));
        }
        if codings.last().map(String::as_str) != Some("chunked") {
            return Err(bad(
                "Transfer-Encoding does not end in chunked: the body length is unknown",
            ));
        }
        let others = &codings[..codings.len() - 1];
        if others.iter().any(|c| c == "chunked") {
            return Err(bad("chunked applied more than once"));
        }
        if let Some(other) = others.first() {
            return Err(HeadError::NotImplemented(other.clone()));
        }
        return Ok(RequestBodyFraming::Chunked);
    }
    if !has_length {
        return Ok(RequestBodyFraming::Empty);
    }
    let mut length: Option<u64> = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        let value = value
            .to_str()
            .map_err(|_| bad("Content-Length is not ASCII"))?;
        let parts =
            strict_list_elements(value).ok_or_else(|| bad("an empty element in Content-Length"))?;
        for part in parts {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(format!("invalid Content-Length {part:?}")));
            }
            let n: u64 = part
                .parse()
                .map_err(|_| bad("Content-Length out of range"))?;
            match length {
                Some(seen) if seen != n => return Err(bad("conflicting Content-Length values")),
                _ => length = Some(n),
            }
        }
    }
    let length = length.expect("a Content-Length header was present");
    if length > limits.max_body {
        return Err(HeadError::PayloadTooLarge);
    }
    Ok(if length == 0 {
        RequestBodyFraming::Empty
    } else {
        RequestBodyFraming::Length(length)
    })
}

/// HTTP/1.1 keeps the connection unless told `close`; HTTP/1.0 closes it
/// unless told `keep-alive`.
fn connection_keep_alive(headers: &HeaderMap, version: Version) -> bool {
    let mut keep_alive = version == Version::HTTP_11;
    for token in header_elements(headers, CONNECTION) {
        if token.eq_ignore_ascii_case("close") {
            return false;
        }
        if token.eq_ignore_ascii_case("keep-alive") {
            keep_alive = true;
        }
    }
    keep_alive
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_request_line: 64,
            max_header_bytes: 128,
            max_headers: 4,
            max_body: 1000,
            ..Limits::default()
        }
    }

    fn parse(raw: &str) -> Result<Option<(RequestHead, usize)>, HeadError> {
        parse_head(raw.as_bytes(), &limits())
    }

    fn head(raw: &str) -> RequestHead {
        parse(raw).unwrap().unwrap().0
    }

    #[test]
    fn a_simple_get() {
        let raw = "GET /a%20b/c?x=1&y=%20 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\nNEXT";
        let (h, used) = parse(raw).unwrap().unwrap();
        assert_eq!(used, raw.len() - 4);
        assert_eq!(h.method, Method::GET);
        assert_eq!(h.path, "/a b/c");
        assert_eq!(h.query.as_deref(), Some("x=1&y=%20"));
        assert_eq!(h.target, "/a%20b/c?x=1&y=%20");
        assert_eq!(h.version, Version::HTTP_11);
        assert_eq!(h.headers.get_all("x-a").iter().count(), 2);
        assert_eq!(h.framing, RequestBodyFraming::Empty);
        assert!(h.keep_alive);
        assert!(!h.expect_continue);
        assert_eq!(h.request_line(), "GET /a%20b/c?x=1&y=%20 HTTP/1.1");
    }

    #[test]
    fn incomplete_heads_ask_for_more() {
        for cut in [
            "",
            "GE",
            "GET / HTTP/1.1",
            "GET / HTTP/1.1\r\nHost: h\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\n\r",
        ] {
            assert!(parse(cut).unwrap().is_none(), "{cut:?}");
        }
    }

    #[test]
    fn leading_empty_lines_and_bare_line_feeds() {
        let raw = "\r\n\nGET / HTTP/1.1\nHost: h\n\n";
        let (h, used) = parse(raw).unwrap().unwrap();
        assert_eq!(used, raw.len());
        assert_eq!(h.path, "/");
    }

    #[test]
    fn leading_empty_lines_limit_at_n_and_n_plus_one() {
        let with = |empty: &str| format!("{empty}GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(
            parse(&with(&"\r\n".repeat(10))).unwrap().unwrap().1,
            20 + 27
        );
        assert!(parse(&with(&"\n".repeat(20))).unwrap().is_some());
        assert!(parse(&"\r\n".repeat(10)).unwrap().is_none());
        for over in ["\n".repeat(21), "\r\n".repeat(11)] {
            let e = parse(&with(&over)).unwrap_err();
            assert_eq!(e.status(), StatusCode::BAD_REQUEST);
            assert!(e.message().contains("empty lines"), "{}", e.message());
            // Refused without waiting for the request line.
            assert!(parse(&over).is_err());
        }
    }

    #[test]
    fn past_max_head_bytes_a_head_is_complete_or_refused() {
        // Whatever the bytes, a buffer longer than `max_head_bytes` never
        // asks for more: the connection's read buffer needs no more room.
        let max = limits().max_head_bytes();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = |alphabet: &[u8]| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            alphabet[(seed % alphabet.len() as u64) as usize]
        };
        let mut shapes: Vec<Vec<u8>> = vec![
            b"\r\n".repeat(max),
            b"\n".repeat(max),
            b"G".repeat(max + 2),
            [&b"GET / HTTP/1.1\r\n"[..], &b"X: v\r\n".repeat(max)].concat(),
            [&b"GET / HTTP/1.1\r\nX: "[..], &b"v".repeat(max)].concat(),
            [
                &b"\r\n".repeat(10)[..],
                &b"GET / HTTP/1.1\r\nX: "[..],
                &b"v".repeat(max),
            ]
            .concat(),
        ];
        for _ in 0..200 {
            shapes.push((0..max + 64).map(|_| random(b"\r\n:G/ Xv")).collect());
        }
        for shape in &shapes {
            for len in max + 1..shape.len().min(max + 64) {
                assert!(
                    !matches!(parse_head(&shape[..len], &limits()), Ok(None)),
                    "{:?}",
                    String::from_utf8_lossy(&shape[..len])
                );
            }
        }
    }

    #[test]
    fn request_line_limit_at_n_and_n_plus_one() {
        // "GET " + path + " HTTP/1.1" == max_request_line
        let fixed = "GET  HTTP/1.1".len();
        let at = format!(
            "GET /{} HTTP/1.1\r\nHost: h\r\n\r\n",
            "a".repeat(64 - fixed - 1)
        );
        assert!(parse(&at).unwrap().is_some());
        let over = format!(
            "GET /{} HTTP/1.1\r\nHost: h\r\n\r\n",
            "a".repeat(64 - fixed)
        );
        assert_eq!(parse(&over).unwrap_err(), HeadError::UriTooLong);
        // Detected before the line ends, too.
        assert_eq!(parse(&"G".repeat(66)).unwrap_err(), HeadError::UriTooLong);
        assert!(parse(&"G".repeat(65)).unwrap().is_none());
    }

    #[test]
    fn header_block_limit_at_n_and_n_plus_one() {
        // Block = "Host: h\r\n" (9) + "X: <v>\r\n" (5 + v) + "\r\n" (2).
        let block = |v: usize| format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n", "v".repeat(v));
        assert!(parse(&block(128 - 16)).unwrap().is_some());
        assert_eq!(
            parse(&block(128 - 15)).unwrap_err(),
            HeadError::HeadersTooLarge
        );
        // An endless block is refused before it ends.
        let endless = format!("GET / HTTP/1.1\r\nX: {}", "v".repeat(200));
        assert_eq!(parse(&endless).unwrap_err(), HeadError::HeadersTooLarge);
    }

    #[test]
    fn header_count_limit_at_n_and_n_plus_one() {
        let with = |n: usize| {
            let mut raw = String::from("GET / HTTP/1.1\r\nHost: h\r\n");
            for i in 1..n {
                raw.push_str(&format!("X{i}: v\r\n"));
            }
            raw + "\r\n"
        };
        assert!(parse(&with(4)).unwrap().is_some());
        assert_eq!(parse(&with(5)).unwrap_err(), HeadError::HeadersTooLarge);
    }

    #[test]
    fn body_framing_rules() {
        let h = head("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n");
        assert_eq!(h.framing, RequestBodyFraming::Length(10));
        let h =
            head("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7, 7\r\nContent-Length: 7\r\n\r\n");
        assert_eq!(h.framing, RequestBodyFraming::Length(7));
        let h = head("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert_eq!(h.framing, RequestBodyFraming::Chunked);
        let h = head("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(h.framing, RequestBodyFraming::Empty);
        // The body limit: at N and N+1.
        let h = head("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n");
        assert_eq!(h.framing, RequestBodyFraming::Length(1000));
        let e = parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n").unwrap_err();
        assert_eq!(e, HeadError::PayloadTooLarge);
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        let cases = [
            (
                "Content-Length: 5\r\nTransfer-Encoding: chunked",
                StatusCode::BAD_REQUEST,
            ),
            (
                "Content-Length: 5\r\nContent-Length: 6",
                StatusCode::BAD_REQUEST,
            ),
            ("Content-Length: 5, 6", StatusCode::BAD_REQUEST),
            ("Content-Length: +5", StatusCode::BAD_REQUEST),
            ("Content-Length: 0x5", StatusCode::BAD_REQUEST),
            (
                "Content-Length: 99999999999999999999999",
                StatusCode::BAD_REQUEST,
            ),
            (
                "Transfer-Encoding: chunked, chunked",
                StatusCode::BAD_REQUEST,
            ),
            (
                "Transfer-Encoding: gzip, chunked",
                StatusCode::NOT_IMPLEMENTED,
            ),
            ("Transfer-Encoding: chunked, gzip", StatusCode::BAD_REQUEST),
            ("Transfer-Encoding: x-custom", StatusCode::BAD_REQUEST),
            (
                "Transfer-Encoding: x-custom, chunked",
                StatusCode::NOT_IMPLEMENTED,
            ),
            ("Transfer-Encoding: ,", StatusCode::BAD_REQUEST),
            ("Transfer-Encoding: chunked,", StatusCode::BAD_REQUEST),
            ("Expect: something-else", StatusCode::EXPECTATION_FAILED),
        ];
        for (headers, status) in cases {
            let raw = format!("POST / HTTP/1.1\r\nHost: h\r\n{headers}\r\n\r\n");
            assert_eq!(parse(&raw).unwrap_err().status(), status, "{headers}");
        }
    }

    #[test]
    fn transfer_encoding_in_http_1_0_is_faulty_framing() {
        for headers in [
            "Transfer-Encoding: chunked",
            "Transfer-Encoding: chunked\r\nContent-Length: 5",
        ] {
            let raw = format!("POST / HTTP/1.0\r\n{headers}\r\nConnection: keep-alive\r\n\r\n");
            assert_eq!(parse(&raw).unwrap_err().status(), StatusCode::BAD_REQUEST);
        }
        let h = head("POST / HTTP/1.0\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(h.framing, RequestBodyFraming::Length(5));
    }

    #[test]
    fn host_is_required_once_in_http_1_1() {
        assert_eq!(
            parse("GET / HTTP/1.1\r\n\r\n").unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
        let two = "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
        assert_eq!(parse(two).unwrap_err().status(), StatusCode::BAD_REQUEST);
        let h = head("GET / HTTP/1.0\r\n\r\n");
        assert_eq!(h.version, Version::HTTP_10);
        assert!(!h.keep_alive);
    }

    #[test]
    fn keep_alive_and_expect() {
        assert!(!head("GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n").keep_alive);
        assert!(
            !head("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade, close\r\n\r\n").keep_alive
        );
        assert!(head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        let h =
            head("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n");
        assert!(h.expect_continue);
    }

    #[test]
    fn malformed_heads() {
        for raw in [
            "GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n",
            "GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Header: v\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",
            "G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET nopath HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET /%ff HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET * HTTP/1.1\r\nHost: h\r\n\r\n",
        ] {
            assert_eq!(
                parse(raw).unwrap_err().status(),
                StatusCode::BAD_REQUEST,
                "{raw:?}"
            );
        }
        let e = parse("GET / HTTP/2.0\r\nHost: h\r\n\r\n").unwrap_err();
        assert_eq!(e.status(), StatusCode::HTTP_VERSION_NOT_SUPPORTED);
    }

    #[test]
    fn other_target_forms() {
        let h = head("GET http://example.com/x/y?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
        assert_eq!((h.path.as_str(), h.query.as_deref()), ("/x/y", Some("q=1")));
        let h = head("GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
        assert_eq!(h.path, "/");
        let h = head("GET http://example.com?q HTTP/1.1\r\nHost: example.com\r\n\r\n");
        assert_eq!((h.path.as_str(), h.query.as_deref()), ("/", Some("q")));
        let h = head("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(h.path, "*");
        let h = head("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
        assert_eq!(h.path, "example.com:443");
    }
}
