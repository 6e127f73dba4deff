//! The crate's error type.

use std::fmt;
use std::io;

/// Everything in `greenws` that can fail says why with one of these.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on a socket.
    Io(io::Error),
    /// The listening address could not be bound (in use, not permitted...).
    Bind {
        /// The address asked for.
        addr: String,
        /// Why it failed.
        source: io::Error,
    },
    /// The request body is larger than the server's limit.
    BodyTooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The request body's framing is broken (bad chunked encoding, or the
    /// client closed before the declared length arrived).
    MalformedBody(String),
    /// The peer did not send (or accept) data within the time limit.
    Timeout,
    /// The runtime could not start a coroutine.
    Runtime(green::Error),
    /// The WebSocket is closed (or closing): nothing more can be sent.
    Closed,
    /// The WebSocket peer broke the protocol; the connection was closed with
    /// 1002. Also the error for a misuse such as a ping payload over 125
    /// bytes.
    Protocol(String),
    /// A WebSocket text message was not UTF-8; closed with 1007.
    InvalidUtf8,
    /// A WebSocket message or frame exceeded the limit; closed with 1009.
    MessageTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The WebSocket connection was lost without a closing handshake.
    ConnectionLost,
    /// The WebSocket peer did not answer our Close within the close
    /// timeout; the connection was closed without it.
    CloseTimeout {
        /// The close timeout that passed.
        timeout: std::time::Duration,
    },
    /// The TLS certificate or key could not be used; the message says why.
    Tls(String),
    /// A setting cannot be used (a Redis URL that does not parse...); the
    /// message says which and why.
    Config(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            Error::BodyTooLarge { limit } => {
                write!(f, "request body larger than the limit of {limit} bytes")
            }
            Error::MalformedBody(why) => write!(f, "malformed request body: {why}"),
            Error::Timeout => f.write_str("timed out waiting for the peer"),
            Error::Runtime(e) => write!(f, "runtime error: {e}"),
            Error::Closed => f.write_str("the WebSocket is closed"),
            Error::Protocol(why) => write!(f, "WebSocket protocol error: {why}"),
            Error::InvalidUtf8 => f.write_str("a WebSocket text message was not valid UTF-8"),
            Error::MessageTooLarge { limit } => {
                write!(
                    f,
                    "WebSocket message larger than the limit of {limit} bytes"
                )
            }
            Error::ConnectionLost => f.write_str("the WebSocket connection was lost"),
            Error::CloseTimeout { timeout } => write!(
                f,
                "the WebSocket peer did not answer the Close within {timeout:?}"
            ),
            Error::Tls(why) => write!(f, "TLS setup failed: {why}"),
            Error::Config(why) => write!(f, "invalid configuration: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) | Error::Bind { source: e, .. } => Some(e),
            Error::Runtime(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        // A body error travels through `io::Read` wrapped in an io::Error;
        // unwrap it again.
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            let kind = e.kind();
            match e.into_inner().map(|inner| inner.downcast::<Error>()) {
                Some(Ok(inner)) => return *inner,
                Some(Err(other)) => return Error::Io(io::Error::new(kind, other)),
                None => unreachable!("checked that an inner error exists"),
            }
        }
        Error::Io(e)
    }
}

impl From<green::Error> for Error {
    fn from(e: green::Error) -> Self {
        Error::Runtime(e)
    }
}

impl Error {
    /// Wraps this error in an `io::Error`, for `io::Read` implementations.
    pub(crate) fn into_io(self) -> io::Error {
        let kind = match &self {
            Error::Io(e) => return io::Error::new(e.kind(), self),
            Error::Timeout => io::ErrorKind::TimedOut,
            Error::BodyTooLarge { .. } | Error::MalformedBody(_) => io::ErrorKind::InvalidData,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }
}
