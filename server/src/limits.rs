//! The server's limits and timeouts.

use std::time::Duration;

use crate::codec::chunked;
use crate::codec::head::HeadLimits;

/// Limits on what a client may send and how long it may take. Every field
/// has a default; change the ones you need:
///
/// ```
/// use std::time::Duration;
/// let limits = greenws::Limits {
///     max_body: 1024 * 1024,
///     keep_alive_timeout: Duration::from_secs(5),
///     ..greenws::Limits::default()
/// };
/// # let _ = limits;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line in bytes, without its line ending (else 414).
    /// Default 8 KiB.
    pub max_request_line: usize,
    /// Largest header block in bytes: the header lines with their line
    /// endings and the blank line that ends them (else 431). Default 64 KiB.
    pub max_header_bytes: usize,
    /// Most header fields in a request (else 431). Default 100.
    pub max_headers: usize,
    /// Largest request body in bytes (else 413). Default 10 MiB.
    pub max_body: u64,
    /// Time from the first byte of a request to the end of its head (else
    /// 408 and close), however slowly the bytes trickle in. Default 10 s.
    pub header_timeout: Duration,
    /// How long an open connection may wait for its next request before it
    /// is closed. Default 30 s.
    pub keep_alive_timeout: Duration,
    /// How long a request body may make no progress (else 408 and close).
    /// Default 30 s.
    pub body_timeout: Duration,
    /// How long a response may make no progress because the client does
    /// not read (else the connection is closed). Default 30 s.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            max_body: 10 * 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// The most bytes a connection keeps read but not used: a request
    /// head, or a chunk-size line or the trailers of a chunked body.
    pub(crate) fn max_buffered(&self) -> usize {
        self.head().max_head_bytes().max(chunked::MAX_SIZE_LINE + 2)
    }

    pub(crate) fn head(&self) -> HeadLimits {
        HeadLimits {
            max_request_line: self.max_request_line,
            max_header_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
            max_body: self.max_body,
        }
    }
}
