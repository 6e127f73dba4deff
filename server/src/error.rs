//! The crate's error type.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use http::{HeaderMap, StatusCode};

use crate::proto::http::client::ResponseError;
use crate::proto::websocket::{ClientHandshakeError, CloseCode, ProtocolError};
use crate::websocket::NegotiationError;
use crate::MinRate;

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
    /// The peer did not send (or accept) data within the time limit (on a
    /// connection already open; a client's [`connect`](crate::connect)
    /// that times out says [`ConnectTimeout`](Error::ConnectTimeout)).
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
    /// A WebSocket peer sent a message (or a frame of one) slower than
    /// [`WebSocketConfig::min_message_rate`](crate::WebSocketConfig#structfield.min_message_rate)
    /// allows; the connection was closed with 1008 (Policy Violation).
    MessageTooSlow {
        /// The payload received of the message in progress.
        received: u64,
        /// The time spent waiting for the peer while it was in progress.
        waited: Duration,
        /// The minimum it fell behind.
        min_rate: MinRate,
    },
    /// The WebSocket peer did not answer our Close within the close
    /// timeout; the connection was closed without it.
    CloseTimeout {
        /// The close timeout that passed.
        timeout: std::time::Duration,
    },
    /// The TLS certificate or key could not be used, or a client has no
    /// root certificate to trust; the message says why.
    Tls(String),
    /// Compressing a WebSocket message failed (permessage-deflate): a bug
    /// rather than bad input. The connection was closed with 1011.
    Compression(String),
    /// A setting cannot be used (a Redis URL that does not parse...); the
    /// message says which and why.
    Config(String),

    // The client's errors: opening a connection to a server.
    /// A client was given a URL it cannot connect to (not `ws://` or
    /// `wss://`, no host, a bad port...).
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header given to the client is not a valid HTTP header.
    InvalidHeader {
        /// The header's name, as given.
        name: String,
    },
    /// The server's host name could not be resolved to an address.
    Dns {
        /// The host name.
        host: String,
        /// Why (from the system's resolver).
        source: io::Error,
    },
    /// No TCP connection could be made to the server (refused,
    /// unreachable...).
    Connect {
        /// The URL connected to.
        url: String,
        /// The last address tried.
        addr: SocketAddr,
        /// Why it failed.
        source: io::Error,
    },
    /// Opening a client connection took longer than its timeout.
    ConnectTimeout {
        /// The URL connected to.
        url: String,
        /// The step that was not done in time.
        step: ConnectStep,
        /// The timeout that passed.
        timeout: Duration,
    },
    /// The TLS handshake with a `wss://` server failed: a certificate
    /// not signed by a trusted root, no protocol in common, the server
    /// closed... (a certificate for another name is
    /// [`CertificateNameMismatch`](Error::CertificateNameMismatch)). When
    /// rustls refused, `source`'s inner error is the `rustls::Error`.
    TlsHandshake {
        /// The server's host name.
        host: String,
        /// Why.
        source: io::Error,
    },
    /// The `wss://` server's certificate is not valid for the host name
    /// the client connected to.
    CertificateNameMismatch {
        /// The host name of the URL.
        expected: String,
        /// The names the certificate is valid for.
        presented: Vec<String>,
    },
    /// The server answered the opening handshake with a status other than
    /// `101 Switching Protocols` (a 404, a 401 that wants credentials, a
    /// 426 for another WebSocket version...).
    HandshakeRefused {
        /// The status.
        status: StatusCode,
        /// The response's headers (a `Location`, a `WWW-Authenticate`...).
        headers: Box<HeaderMap>,
        /// The first bytes of the response body (at most 1 KiB).
        body_start: Vec<u8>,
    },
    /// The server's `101` does not open a WebSocket: a wrong
    /// `Sec-WebSocket-Accept`, a subprotocol that was not offered, no
    /// `Upgrade: websocket`...
    Handshake(ClientHandshakeError),
    /// The server's `Sec-WebSocket-Extensions` answer to the client's
    /// permessage-deflate offer cannot be accepted (RFC 7692 section 7:
    /// the client fails the connection): an extension not offered, a
    /// parameter RFC 7692 does not define, a larger window than offered...
    DeflateNegotiation(NegotiationError),
    /// The server's answer to the opening handshake is not valid HTTP/1.1,
    /// is larger than the client accepts, or was cut short.
    InvalidResponse(ResponseError),
}

/// The steps of opening a client connection, to say which one timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectStep {
    /// Resolving the host name.
    Dns,
    /// Making the TCP connection.
    Tcp,
    /// The TLS handshake of `wss://`.
    TlsHandshake,
    /// The WebSocket opening handshake (the HTTP request and its `101`).
    WebSocketHandshake,
}

impl fmt::Display for ConnectStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectStep::Dns => "resolving the host name",
            ConnectStep::Tcp => "connecting",
            ConnectStep::TlsHandshake => "the TLS handshake",
            ConnectStep::WebSocketHandshake => "the WebSocket handshake",
        })
    }
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
            Error::MessageTooSlow {
                received,
                waited,
                min_rate,
            } => write!(
                f,
                "the WebSocket peer sent a message too slowly: {received} bytes in {waited:?} \
                 of waiting, under the minimum of {} bytes/s after {:?}",
                min_rate.bytes_per_second, min_rate.grace
            ),
            Error::CloseTimeout { timeout } => write!(
                f,
                "the WebSocket peer did not answer the Close within {timeout:?}"
            ),
            Error::Tls(why) => write!(f, "TLS setup failed: {why}"),
            Error::Compression(why) => write!(f, "WebSocket message compression failed: {why}"),
            Error::Config(why) => write!(f, "invalid configuration: {why}"),
            Error::InvalidUrl { url, reason } => write!(f, "invalid URL {url:?}: {reason}"),
            Error::InvalidHeader { name } => write!(f, "invalid HTTP header {name:?}"),
            Error::Dns { host, source } => write!(f, "cannot resolve {host:?}: {source}"),
            Error::Connect { url, addr, source } => {
                write!(f, "cannot connect to {url} ({addr}): {source}")
            }
            Error::ConnectTimeout { url, step, timeout } => {
                write!(f, "timed out {step} for {url} (after {timeout:?})")
            }
            Error::TlsHandshake { host, source } => {
                write!(f, "TLS handshake with {host} failed: {source}")
            }
            Error::CertificateNameMismatch {
                expected,
                presented,
            } => write!(
                f,
                "the server's certificate is not valid for {expected:?} (it is for {})",
                if presented.is_empty() {
                    "no name".to_owned()
                } else {
                    presented.join(", ")
                }
            ),
            Error::HandshakeRefused {
                status, body_start, ..
            } => {
                write!(f, "the server refused the WebSocket handshake: {status}")?;
                if !body_start.is_empty() {
                    write!(f, " ({:?})", String::from_utf8_lossy(body_start))?;
                }
                Ok(())
            }
            Error::Handshake(e) => write!(f, "WebSocket handshake failed: {e}"),
            Error::DeflateNegotiation(e) => {
                write!(f, "WebSocket handshake failed: permessage-deflate: {e}")
            }
            Error::InvalidResponse(e) => write!(f, "invalid handshake response: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e)
            | Error::Bind { source: e, .. }
            | Error::Dns { source: e, .. }
            | Error::Connect { source: e, .. }
            | Error::TlsHandshake { source: e, .. } => Some(e),
            Error::Runtime(e) => Some(e),
            Error::Protocol(e) => Some(e),
            Error::Handshake(e) => Some(e),
            Error::DeflateNegotiation(e) => Some(e),
            Error::InvalidResponse(e) => Some(e),
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
            Error::Io(e) => Error::Io(copy_io_error(e)),
            Error::Bind { addr, source } => Error::Bind {
                addr: addr.clone(),
                source: copy_io_error(source),
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
            Error::MessageTooSlow {
                received,
                waited,
                min_rate,
            } => Error::MessageTooSlow {
                received: *received,
                waited: *waited,
                min_rate: *min_rate,
            },
            Error::CloseTimeout { timeout } => Error::CloseTimeout { timeout: *timeout },
            Error::Tls(why) => Error::Tls(why.clone()),
            Error::Compression(why) => Error::Compression(why.clone()),
            Error::Config(why) => Error::Config(why.clone()),
            Error::InvalidUrl { url, reason } => Error::InvalidUrl {
                url: url.clone(),
                reason,
            },
            Error::InvalidHeader { name } => Error::InvalidHeader { name: name.clone() },
            Error::Dns { host, source } => Error::Dns {
                host: host.clone(),
                source: copy_io_error(source),
            },
            Error::Connect { url, addr, source } => Error::Connect {
                url: url.clone(),
                addr: *addr,
                source: copy_io_error(source),
            },
            Error::ConnectTimeout { url, step, timeout } => Error::ConnectTimeout {
                url: url.clone(),
                step: *step,
                timeout: *timeout,
            },
            Error::TlsHandshake { host, source } => Error::TlsHandshake {
                host: host.clone(),
                source: copy_io_error(source),
            },
            Error::CertificateNameMismatch {
                expected,
                presented,
            } => Error::CertificateNameMismatch {
                expected: expected.clone(),
                presented: presented.clone(),
            },
            Error::HandshakeRefused {
                status,
                headers,
                body_start,
            } => Error::HandshakeRefused {
                status: *status,
                headers: headers.clone(),
                body_start: body_start.clone(),
            },
            Error::Handshake(e) => Error::Handshake(e.clone()),
            Error::DeflateNegotiation(e) => Error::DeflateNegotiation(e.clone()),
            Error::InvalidResponse(e) => Error::InvalidResponse(e.clone()),
        }
    }

    /// Wraps this error in an `io::Error`, for `io::Read` implementations.
    pub(crate) fn into_io(self) -> io::Error {
        let kind = match &self {
            Error::Io(e) => return io::Error::new(e.kind(), self),
            Error::Timeout | Error::ConnectTimeout { .. } | Error::MessageTooSlow { .. } => {
                io::ErrorKind::TimedOut
            }
            Error::BodyTooLarge { .. } | Error::MalformedBody(_) => io::ErrorKind::InvalidData,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }
}

/// An `io::Error` with the same kind and message (`io::Error` is not
/// `Clone`).
fn copy_io_error(e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), e.to_string())
}
