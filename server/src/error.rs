//! The crate's error type.

use std::fmt;
use std::io;

use crate::proto::websocket::{CloseCode, ProtocolError};

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
    /// The WebSocket peer broke the protocol or went past a limit; the
    /// connection was closed with the error's
    /// [`close_code`](ProtocolError::close_code) (1002, 1007 for text that
    /// is not UTF-8, 1009 for a frame or message too large).
    Protocol(ProtocolError),
    /// A WebSocket send that does not wait
    /// ([`try_send`](crate::WebSocket::try_send)) found the socket unable
    /// to take the frame now: the peer is behind (or another greenlet is
    /// writing). Nothing was sent.
    WouldBlock {
        /// Bytes queued for the peer at that moment (see
        /// [`buffered_amount`](crate::WebSocket::buffered_amount)).
        buffered: usize,
    },
    /// [`WebSocket::close`](crate::WebSocket::close) was given a code that
    /// may not be sent (see [`CloseCode::is_valid`]); nothing was sent.
    InvalidCloseCode(CloseCode),
    /// A Ping (or another control frame) was given more than the 125 bytes
    /// of payload a control frame can carry; nothing was sent.
    ControlPayloadTooLong {
        /// The payload length asked for.
        len: usize,
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
    /// Compressing a WebSocket message failed (permessage-deflate): a bug
    /// rather than bad input. The connection was closed with 1011.
    Compression(String),
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
            Error::Protocol(e) => write!(f, "WebSocket protocol error: {e}"),
            Error::WouldBlock { buffered } => write!(
                f,
                "the WebSocket cannot send without waiting ({buffered} bytes queued for the peer)"
            ),
            Error::InvalidCloseCode(code) => {
                write!(f, "close code {} may not be sent", code.as_u16())
            }
            Error::ControlPayloadTooLong { len } => write!(
                f,
                "a control frame carries at most 125 bytes of payload, not {len}"
            ),
            Error::ConnectionLost => f.write_str("the WebSocket connection was lost"),
            Error::CloseTimeout { timeout } => write!(
                f,
                "the WebSocket peer did not answer the Close within {timeout:?}"
            ),
            Error::Tls(why) => write!(f, "TLS setup failed: {why}"),
            Error::Compression(why) => write!(f, "WebSocket message compression failed: {why}"),
            Error::Config(why) => write!(f, "invalid configuration: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) | Error::Bind { source: e, .. } => Some(e),
            Error::Runtime(e) => Some(e),
            Error::Protocol(e) => Some(e),
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

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl Error {
    /// The same error again, for a failure that every later call reports
    /// (an `io::Error` is not `Clone`: its kind and message are kept).
    pub(crate) fn duplicate(&self) -> Error {
        match self {
            Error::Io(e) => Error::Io(io::Error::new(e.kind(), e.to_string())),
            Error::Bind { addr, source } => Error::Bind {
                addr: addr.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            Error::BodyTooLarge { limit } => Error::BodyTooLarge { limit: *limit },
            Error::MalformedBody(why) => Error::MalformedBody(why.clone()),
            Error::Timeout => Error::Timeout,
            Error::Runtime(e) => Error::Runtime(e.clone()),
            Error::Closed => Error::Closed,
            Error::Protocol(e) => Error::Protocol(e.clone()),
            Error::WouldBlock { buffered } => Error::WouldBlock {
                buffered: *buffered,
            },
            Error::InvalidCloseCode(code) => Error::InvalidCloseCode(*code),
            Error::ControlPayloadTooLong { len } => Error::ControlPayloadTooLong { len: *len },
            Error::ConnectionLost => Error::ConnectionLost,
            Error::CloseTimeout { timeout } => Error::CloseTimeout { timeout: *timeout },
            Error::Tls(why) => Error::Tls(why.clone()),
            Error::Compression(why) => Error::Compression(why.clone()),
            Error::Config(why) => Error::Config(why.clone()),
        }
    }

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
