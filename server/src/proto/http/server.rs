//! Response heads on the wire.

use std::cell::RefCell;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::{HeaderMap, StatusCode};

/// How a response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body and no length header (1xx, 204, 304).
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// The body runs until the connection closes (HTTP/1.0 streaming).
    UntilClose,
}

/// True for statuses that never carry a body: 1xx, 204 and 304.
pub fn status_has_no_body(status: StatusCode) -> bool {
    status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

/// Appends a response head to `out`.
///
/// The framing and `Connection` headers are the server's: any the app set
/// are replaced. A `Date` is added unless the app set one. `keep_alive`
/// says whether the connection stays open; `announce_keep_alive` adds
/// `Connection: keep-alive` for HTTP/1.0 clients, which close by default.
pub fn write_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    framing: ResponseFraming,
    keep_alive: bool,
    announce_keep_alive: bool,
) {
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
    match framing {
        ResponseFraming::Length(n) => {
            let _ = write!(out, "Content-Length: {n}\r\n");
        }
        ResponseFraming::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        ResponseFraming::None | ResponseFraming::UntilClose => {}
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if announce_keep_alive {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    if !headers.contains_key(DATE) {
        out.extend_from_slice(b"Date: ");
        append_http_date(out);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
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
        keep: bool,
        announce: bool,
    ) -> String {
        let mut out = Vec::new();
        write_head(&mut out, status, headers, framing, keep, announce);
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
            true,
            false,
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
            false,
            false,
        );
        assert!(text.contains("Transfer-Encoding: chunked\r\nConnection: close\r\n"));
        let text = head(
            StatusCode::OK,
            &HeaderMap::new(),
            ResponseFraming::Length(0),
            true,
            true,
        );
        assert!(text.contains("Connection: keep-alive\r\n"));
        let text = head(
            StatusCode::from_u16(599).unwrap(),
            &HeaderMap::new(),
            ResponseFraming::None,
            true,
            false,
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
            ResponseFraming::None,
            true,
            false,
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
