//! Opening a client connection, step by step: resolve the host, connect,
//! the TLS handshake for `wss://`, the WebSocket opening handshake (with
//! permessage-deflate's negotiation); then the `WebSocket` handle in the
//! client role. Each step has its error, and
//! a step that outlasts its deadline says which it was.

use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;
use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig};

use super::resolve::resolve;
use super::url::WsUrl;
use crate::connection::transport::Transport;
use crate::deadline;
use crate::proto::http::client::{
    BodyStart, ResponseBodyFraming, ResponseError, ResponseHead, ResponseHeadParser, ResponseLimits,
};
use crate::proto::http::head::{RequestBodyFraming, RequestHead};
use crate::proto::websocket::{Agreed, ClientHandshake, Role};
use crate::websocket::{negotiate_as_client, Handshake, HandshakeRequest};
use crate::{ConnectStep, Error, WebSocket, WebSocketConfig};

/// The most of a refusal's body kept for [`Error::HandshakeRefused`].
pub(crate) const BODY_START_LIMIT: usize = 1024;
/// How long a refusal's body is waited for, at most (within the
/// handshake's deadline): it only makes the error clearer.
const BODY_WAIT: Duration = Duration::from_secs(1);
/// The most interim (1xx) responses taken before the final one.
const MAX_INTERIM_RESPONSES: usize = 8;
/// What one read of the handshake response asks for.
const READ_CHUNK: usize = 4096;

/// Everything a connection needs, from the builder.
pub(crate) struct Plan<'a> {
    pub(crate) url: &'a str,
    pub(crate) parsed: WsUrl,
    pub(crate) handshake: ClientHandshake,
    pub(crate) extra_headers: &'a http::HeaderMap,
    pub(crate) connect_timeout: Duration,
    pub(crate) handshake_timeout: Duration,
    pub(crate) response_limits: ResponseLimits,
    pub(crate) config: Arc<WebSocketConfig>,
    /// For `wss://`.
    pub(crate) tls: Option<Arc<ClientConfig>>,
}

/// Runs every step; the open `WebSocket`, or the first step's error.
pub(crate) fn open(plan: Plan<'_>) -> Result<WebSocket, Error> {
    let url = plan.url;
    let timed_out = |step, timeout| Error::ConnectTimeout {
        url: url.to_owned(),
        step,
        timeout,
    };
    let connect_deadline = deadline::after(plan.connect_timeout);
    let addrs =
        resolve(&plan.parsed.host, plan.parsed.port, connect_deadline).map_err(|e| {
            match e.kind() {
                ErrorKind::TimedOut => timed_out(ConnectStep::Dns, plan.connect_timeout),
                _ => Error::Dns {
                    host: plan.parsed.host.clone(),
                    source: e,
                },
            }
        })?;
    let (stream, peer_addr) = connect_tcp(url, &addrs, connect_deadline, plan.connect_timeout)?;
    let _ = stream.set_nodelay(true);
    if let Some(size) = plan.config.send_buffer {
        let size = size.min(i32::MAX as usize);
        let _ = socket2::SockRef::from(stream.inner()).set_send_buffer_size(size);
    }
    let socket = Arc::new(green::net::DuplexStream::new(stream));

    let handshake_deadline = deadline::after(plan.handshake_timeout);
    let transport = match &plan.tls {
        None => Transport::plain(socket),
        Some(config) => {
            let server_name =
                ServerName::try_from(plan.parsed.host.clone()).map_err(|_| Error::InvalidUrl {
                    url: url.to_owned(),
                    reason: "the host is not a valid DNS name or IP address",
                })?;
            Transport::tls_client(socket, config.clone(), server_name, handshake_deadline).map_err(
                |e| match e.kind() {
                    ErrorKind::TimedOut => {
                        timed_out(ConnectStep::TlsHandshake, plan.handshake_timeout)
                    }
                    _ => tls_handshake_error(&plan.parsed.host, e),
                },
            )?
        }
    };

    let request = plan.handshake.request_head(
        &plan.parsed.target,
        &plan.parsed.authority,
        plan.extra_headers,
    );
    let (agreed, early_input) = run_handshake(
        &transport,
        &request,
        &plan.handshake,
        plan.response_limits,
        handshake_deadline,
    )
    .map_err(|e| match e {
        HandshakeFailure::TimedOut => {
            timed_out(ConnectStep::WebSocketHandshake, plan.handshake_timeout)
        }
        HandshakeFailure::Error(e) => e,
    })?;

    let extensions = agreed.extensions.iter().map(|value| value.as_bytes());
    let deflate =
        negotiate_as_client(&plan.config.deflate, extensions).map_err(Error::DeflateNegotiation)?;
    let ws = WebSocket::new(
        Arc::new(transport),
        Role::Client,
        plan.config,
        Handshake {
            request: sent_request(&request),
            protocol: agreed.protocol,
            deflate,
            peer_addr,
        },
    );
    ws.buffer_early_input(&early_input);
    Ok(ws)
}

/// Connects to each address in turn until one answers.
fn connect_tcp(
    url: &str,
    addrs: &[SocketAddr],
    deadline: Option<Instant>,
    timeout: Duration,
) -> Result<(green::net::TcpStream, SocketAddr), Error> {
    let mut last_error = None;
    for &addr in addrs {
        let attempt = match deadline::time_left(deadline) {
            Some(left) if left.is_zero() => Err(ErrorKind::TimedOut.into()),
            Some(left) => green::net::TcpStream::connect_timeout(&addr, left),
            None => green::net::TcpStream::connect(addr),
        };
        match attempt {
            Ok(stream) => return Ok((stream, addr)),
            Err(e) if e.kind() == ErrorKind::TimedOut => {
                return Err(Error::ConnectTimeout {
                    url: url.to_owned(),
                    step: ConnectStep::Tcp,
                    timeout,
                })
            }
            Err(e) => last_error = Some((addr, e)),
        }
    }
    let (addr, source) = last_error.expect("the resolver gives at least one address");
    Err(Error::Connect {
        url: url.to_owned(),
        addr,
        source,
    })
}

/// The error of a failed TLS handshake: a certificate for other names says
/// which.
fn tls_handshake_error(host: &str, e: io::Error) -> Error {
    let refused = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match refused {
        Some(rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            presented,
            ..
        })) => Error::CertificateNameMismatch {
            expected: host.to_owned(),
            presented: presented.iter().map(|name| plain_name(name)).collect(),
        },
        Some(rustls::Error::InvalidCertificate(CertificateError::NotValidForName)) => {
            Error::CertificateNameMismatch {
                expected: host.to_owned(),
                presented: Vec::new(),
            }
        }
        _ => Error::TlsHandshake {
            host: host.to_owned(),
            source: e,
        },
    }
}

/// A name as rustls presents it (`DnsName("example.com")`,
/// `IpAddress(127.0.0.1)`), as a plain name; any other form as it is.
fn plain_name(presented: &str) -> String {
    let dns = presented
        .strip_prefix("DnsName(\"")
        .and_then(|rest| rest.strip_suffix("\")"));
    let ip = presented
        .strip_prefix("IpAddress(")
        .and_then(|rest| rest.strip_suffix(')'));
    dns.or(ip).unwrap_or(presented).to_owned()
}

/// How the opening handshake failed.
enum HandshakeFailure {
    TimedOut,
    Error(Error),
}

impl From<Error> for HandshakeFailure {
    fn from(e: Error) -> Self {
        HandshakeFailure::Error(e)
    }
}

/// A read or write of the handshake failed: its deadline passed, or the
/// connection broke.
fn io_failure(e: io::Error) -> HandshakeFailure {
    match e.kind() {
        ErrorKind::TimedOut => HandshakeFailure::TimedOut,
        _ => HandshakeFailure::Error(Error::Io(e)),
    }
}

/// Sends the request, reads the answer and checks it: what the server
/// agreed to, and the bytes that followed the 101 (its first frames).
fn run_handshake(
    transport: &Transport,
    request: &[u8],
    handshake: &ClientHandshake,
    limits: ResponseLimits,
    deadline: Option<Instant>,
) -> Result<(Agreed, Vec<u8>), HandshakeFailure> {
    transport
        .write_parts(request, &[], deadline)
        .map_err(io_failure)?;
    let mut received = Vec::new();
    let mut parser = ResponseHeadParser::new(limits);
    let mut interim = 0;
    let (head, used) = loop {
        match parser.parse(&received) {
            Err(e) => return Err(Error::InvalidResponse(e).into()),
            Ok(Some((head, used))) if head.is_interim() => {
                interim += 1;
                if interim > MAX_INTERIM_RESPONSES {
                    let why = format!("more than {MAX_INTERIM_RESPONSES} interim responses");
                    return Err(Error::InvalidResponse(ResponseError::Malformed(why)).into());
                }
                received.drain(..used);
                continue;
            }
            Ok(Some(found)) => break found,
            Ok(None) => {}
        }
        if read_some(transport, &mut received, deadline).map_err(io_failure)? == 0 {
            let truncated = ResponseError::Truncated {
                received: received.len(),
            };
            return Err(Error::InvalidResponse(truncated).into());
        }
    };
    if head.status != http::StatusCode::SWITCHING_PROTOCOLS {
        return Err(refusal(transport, head, &received[used..], deadline).into());
    }
    let agreed = handshake
        .check_response(head.status, &head.headers)
        .map_err(Error::Handshake)?;
    received.drain(..used);
    Ok((agreed, received))
}

/// Reads once, appending to `buf`: the bytes read (0 at the end).
fn read_some(
    transport: &Transport,
    buf: &mut Vec<u8>,
    deadline: Option<Instant>,
) -> io::Result<usize> {
    let start = buf.len();
    buf.resize(start + READ_CHUNK, 0);
    let result = transport.read(&mut buf[start..], deadline);
    buf.truncate(start + *result.as_ref().unwrap_or(&0));
    result
}

/// The error for a refusal (any final status but 101), with the first
/// bytes of its body: those that came with the head, and what more
/// arrives soon (the body is waited for [`BODY_WAIT`] at most).
fn refusal(
    transport: &Transport,
    head: ResponseHead,
    after_head: &[u8],
    deadline: Option<Instant>,
) -> Error {
    // A framing that cannot be read still leaves the status to report.
    let framing =
        ResponseBodyFraming::of(&Method::GET, &head).unwrap_or(ResponseBodyFraming::Empty);
    let mut body = BodyStart::new(framing, BODY_START_LIMIT);
    let body_deadline = deadline::earliest(deadline, deadline::after(BODY_WAIT));
    let mut more = Vec::new();
    let mut wants_more = body.push(after_head);
    while wants_more {
        more.clear();
        match read_some(transport, &mut more, body_deadline) {
            Ok(n) if n > 0 => wants_more = body.push(&more),
            _ => break,
        }
    }
    Error::HandshakeRefused {
        status: head.status,
        headers: Box::new(head.headers),
        body_start: body.into_bytes(),
    }
}

/// The request the client sent, for [`WebSocket::request`]: our own head
/// (written by [`ClientHandshake::request_head`]), read back.
fn sent_request(request: &[u8]) -> HandshakeRequest {
    let mut fields = vec![httparse::EMPTY_HEADER; request.len() / 4];
    let mut parsed = httparse::Request::new(&mut fields);
    // Our own head parses; should it not, the request reads as empty.
    let _ = parsed.parse(request);
    let mut headers = http::HeaderMap::with_capacity(parsed.headers.len());
    for field in parsed.headers.iter() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(field.name.as_bytes()),
            http::HeaderValue::from_bytes(field.value),
        ) {
            headers.append(name, value);
        }
    }
    let target = parsed.path.unwrap_or("/").to_owned();
    let (raw_path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query.to_owned())),
        None => (target.as_str(), None),
    };
    let path = percent_encoding::percent_decode_str(raw_path)
        .decode_utf8_lossy()
        .into_owned();
    HandshakeRequest::new(Arc::new(RequestHead {
        method: Method::GET,
        path,
        query,
        target,
        version: http::Version::HTTP_11,
        headers,
        framing: RequestBodyFraming::Empty,
        keep_alive: true,
        expect_continue: false,
    }))
}
