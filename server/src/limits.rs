//! The server's limits and timeouts.

use std::time::Duration;

use crate::proto::http::chunked;
use crate::proto::http::head::MAX_LEADING_EMPTY_BYTES;

/// Limits on what a client may send and how long it may take. Every field
/// has a default; change the ones you need:
///
/// ```
/// use std::time::Duration;
/// let limits = greenws::Limits {
///     max_body: 1024 * 1024,
///     keep_alive_timeout: Duration::from_secs(5),
///     min_body_rate: None, // no minimum upload rate
///     ..greenws::Limits::default()
/// };
/// # let _ = limits;
/// ```
///
/// # Memory
///
/// Whatever a client sends, one HTTP connection holds at most about these
/// limits in bytes, never a multiple of them and never something
/// unlimited. Its read buffer holds at most one request head
/// (`max_request_line` + `max_header_bytes`, and 20 bytes of empty lines
/// before it), a chunk-size line (4 KiB) or a trailer section
/// (`max_header_bytes`), plus one read of 4 KiB. Pipelined requests wait in
/// the kernel until their turn. Bodies pass through that buffer in pieces:
/// only the app keeps one, and [`Request::read_body`](crate::Request::read_body)
/// keeps at most `max_body`. Chunk extensions count against 16 KiB per
/// body; what is drained or discarded goes through a 4 KiB scratch buffer.
///
/// # Time
///
/// Every wait for a client is bounded. A client that stops sending or
/// reading meets a per-wait timeout: `header_timeout` for a whole request
/// head, `keep_alive_timeout` between requests, `body_timeout` and
/// `write_timeout` for each wait on a body or a response. A client that
/// keeps going, but too slowly (one byte at a time, say), meets
/// `min_body_rate` or `min_response_rate`. What the server reads and
/// discards once it answered is bounded by `linger_timeout`. A timeout of
/// `Duration::MAX` (or anything of 100 years or more) means no limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line in bytes, without its line ending (else 414).
    /// Default 8 KiB.
    pub max_request_line: usize,
    /// Largest header block in bytes: the header lines with their line
    /// endings and the blank line that ends them (else 431). Also bounds a
    /// chunked body's trailer section. Default 64 KiB.
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
    /// How long each read of a request body may wait for the client's next
    /// bytes (else 408 and close): a client that stops sending. Default
    /// 30 s.
    pub body_timeout: Duration,
    /// The slowest a request body may arrive (else 408 and close): a client
    /// that trickles it. `None`: no minimum. Default 240 bytes/s after a
    /// 5 s grace period; see [`MinRate`].
    pub min_body_rate: Option<MinRate>,
    /// How long each write of a response may wait for the client to take
    /// in the next part of it (at most 64 KiB), else the connection is
    /// closed: a client that stops reading. Default 30 s.
    pub write_timeout: Duration,
    /// The slowest a client may take in a response (else the connection is
    /// closed): a client that reads a byte now and then. `None`: no
    /// minimum. Default 240 bytes/s after a 5 s grace period; see
    /// [`MinRate`].
    pub min_response_rate: Option<MinRate>,
    /// The longest the server reads and discards what a client still
    /// sends after its request was answered: a body the app left unread
    /// (drained, up to 1 MiB, to keep the connection open; else it closes),
    /// and before a close, whatever arrives (so that the client reads the
    /// response rather than a reset). Each at most this long. Default 2 s.
    pub linger_timeout: Duration,
}

/// A minimum data rate with a grace period (Kestrel's `MinDataRate`).
///
/// Only the time spent waiting for the client counts: the time an app
/// takes between two reads of a body, or to produce the next piece of a
/// streamed response, does not. Once the waiting adds up to more than
/// `grace`, the bytes moved so far must make at least `bytes_per_second`
/// over it; otherwise the transfer fails. A client that sends or reads
/// steadily at that rate or faster is never cut off, however large the
/// body; one that trickles is cut off soon after the grace period.
///
/// ```
/// use std::time::Duration;
/// let slow_links_welcome = greenws::MinRate {
///     bytes_per_second: 100,
///     grace: Duration::from_secs(10),
/// };
/// # let _ = slow_links_welcome;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinRate {
    /// The least bytes per second, averaged over the time spent waiting.
    /// Zero: no minimum.
    pub bytes_per_second: u64,
    /// Waiting time before the rate is enforced.
    pub grace: Duration,
}

impl MinRate {
    /// 240 bytes/s after 5 s: the default of both directions (as Kestrel's).
    pub const DEFAULT: MinRate = MinRate {
        bytes_per_second: 240,
        grace: Duration::from_secs(5),
    };

    /// The waiting time `bytes` may take at this rate: at least the grace
    /// period.
    pub(crate) fn allowance(&self, bytes: u64) -> Duration {
        if self.bytes_per_second == 0 {
            return Duration::MAX;
        }
        let rate = u128::from(self.bytes_per_second);
        let nanos = u128::from(bytes) * 1_000_000_000 / rate;
        let at_rate = Duration::new(
            u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX),
            (nanos % 1_000_000_000) as u32,
        );
        at_rate.max(self.grace)
    }
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
            min_body_rate: Some(MinRate::DEFAULT),
            write_timeout: Duration::from_secs(30),
            min_response_rate: Some(MinRate::DEFAULT),
            linger_timeout: Duration::from_secs(2),
        }
    }
}

impl Limits {
    /// The most bytes a request head can take within these limits: the
    /// empty lines skipped before it, the request line and its line ending,
    /// and the header block. Given more than this,
    /// [`parse_head`](crate::proto::http::head::parse_head) never asks for
    /// more bytes: it returns a head or an error.
    pub fn max_head_bytes(&self) -> usize {
        MAX_LEADING_EMPTY_BYTES
            .saturating_add(self.max_request_line)
            .saturating_add(2)
            .saturating_add(self.max_header_bytes)
    }

    /// The most bytes a connection keeps read but not used: a request
    /// head, or a chunk-size line or the trailers of a chunked body.
    pub(crate) fn max_buffered(&self) -> usize {
        self.max_head_bytes().max(chunked::MAX_SIZE_LINE + 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_allows_its_bytes_but_never_less_than_the_grace() {
        let rate = MinRate {
            bytes_per_second: 240,
            grace: Duration::from_secs(5),
        };
        assert_eq!(rate.allowance(0), Duration::from_secs(5));
        assert_eq!(rate.allowance(1200), Duration::from_secs(5));
        assert_eq!(rate.allowance(2400), Duration::from_secs(10));
        assert_eq!(rate.allowance(2401), Duration::new(10, 4_166_666));
        assert_eq!(
            rate.allowance(u64::MAX),
            Duration::from_secs(u64::MAX / 240)
                + Duration::from_nanos((u64::MAX % 240) * 1_000_000_000 / 240)
        );
        let none = MinRate {
            bytes_per_second: 0,
            grace: Duration::ZERO,
        };
        assert_eq!(none.allowance(1), Duration::MAX);
    }
}
