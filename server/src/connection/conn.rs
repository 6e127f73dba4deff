//! The connection loop: one greenlet per connection reads requests, calls
//! the handler class and the app, and writes responses, until either side
//! closes. Parsing and encoding are `proto::http`'s; this file only
//! moves bytes and decides.

use std::borrow::Cow;
use std::net::{Shutdown, SocketAddr};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use http::StatusCode;

use green::net::DuplexStream;

use super::access_log::{self, RequestLine};
use super::io::{is_timeout, ConnIo, KEEP_CAPACITY};
use super::listener::Peer;
use super::proxy_header;
use super::registry::ConnEntry;
use super::running::Shared;
use super::transport::Transport;
use crate::deadline;
use crate::proto::forwarded;
use crate::proto::http::head::{parse_head, HeadError, RequestHead};
use crate::proto::http::server::{
    BodyShape, Persistence, RequestBodyState, ResponseFraming, ResponsePlan, ServerExchange,
};
use crate::response::Body;
use crate::{Error, Request, Response};

/// The most of an unread request body drained to keep a connection open
/// (within `Limits::linger_timeout`).
const DRAIN_LIMIT: u64 = 1024 * 1024;
/// The most a closing connection reads (and discards) of what the client
/// still sends, within `Limits::linger_timeout`, so that our last response
/// is not lost to a reset.
const LINGER_LIMIT: usize = 16 * 1024 * 1024;

/// Serves one accepted connection until it closes.
#[inline(never)]
pub(crate) fn serve(stream: DuplexStream, peer: Peer, shared: Arc<Shared>) {
    let socket = Arc::new(stream);
    let registration = shared.registry.register(&socket);
    let Peer {
        addr: peer,
        unix: over_unix,
    } = if shared.proxy_protocol {
        let deadline = deadline::after(shared.limits.header_timeout);
        match proxy_header::read_client(&socket, peer, &shared.trusted_proxies, deadline) {
            Ok(client) => client,
            Err(e) => {
                log::debug!("{}: closed: {e}", peer.addr);
                return;
            }
        }
    } else {
        peer
    };
    let transport = match &shared.tls {
        None => Transport::plain(socket),
        Some(config) => match tls_handshake(socket, config, &shared, peer) {
            Some(transport) => transport,
            None => return,
        },
    };
    let io = ConnIo::new(transport, &shared.limits, registration.entry.clone());
    let mut conn = Connection {
        io,
        out: Vec::new(),
        peer,
        over_unix,
        shared: &shared,
        entry: registration.entry.clone(),
    };
    let ending = conn.run();
    drop(registration);
    match ending {
        Ending::Drop => {}
        Ending::Close => conn.close(),
        Ending::CloseAfterLinger => conn.linger_close(),
    }
}

/// The server's TLS handshake on an accepted socket; `None` (logged) when
/// it fails. Out of line: its locals (a rustls connection is built on the
/// stack) would otherwise widen `serve`'s frame, which every connection,
/// plain ones included, keeps for its whole life, an idle WebSocket too.
#[inline(never)]
fn tls_handshake(
    socket: Arc<DuplexStream>,
    config: &Arc<rustls::ServerConfig>,
    shared: &Shared,
    peer: SocketAddr,
) -> Option<Transport> {
    let deadline = deadline::after(shared.limits.header_timeout);
    match Transport::tls(socket, config.clone(), deadline) {
        Ok(transport) => {
            // The handshake went deep; the connection may live long.
            green::trim_stack();
            Some(transport)
        }
        Err(e) => {
            log::debug!("{peer}: TLS handshake failed: {e}");
            None
        }
    }
}

struct Connection<'s> {
    io: ConnIo,
    out: Vec<u8>,
    /// The client's address ([`UNIX_PEER`](crate::proto::forwarded::UNIX_PEER) over a Unix socket).
    peer: SocketAddr,
    /// The connection came in over a Unix domain socket (and no PROXY
    /// header named a client).
    over_unix: bool,
    shared: &'s Shared,
    entry: Arc<ConnEntry>,
}

/// What waiting for the next request gave.
enum Next {
    Request(Arc<RequestHead>),
    /// The client closed, went quiet between requests, or the server stops.
    Close,
    /// The head was refused (or timed out); answer and close.
    Refuse(HeadError),
    Timeout,
}

/// How a connection's loop ends.
enum Ending {
    /// Nothing more to do: the client closed or went quiet, the server
    /// stops, a write failed, or another protocol took the connection.
    Drop,
    /// Close after the last response (see [`Persistence::Close`]).
    Close,
    /// Close after a moment of reading what the client still sends (see
    /// [`Persistence::CloseAfterLinger`]).
    CloseAfterLinger,
}

/// What became of one request.
enum Handled {
    /// A response went out; the connection goes on as this says.
    Answered(Persistence),
    /// Another protocol took the connection after a 101, or a write
    /// failed: HTTP is done with it.
    Gone,
}

/// What sending a response did.
struct Sent {
    status: StatusCode,
    body_bytes: u64,
    persistence: Persistence,
}

impl Connection<'_> {
    /// Runs requests until the connection should close; says how.
    #[inline(never)]
    fn run(&mut self) -> Ending {
        loop {
            if self.io.buffered().is_empty() {
                self.io.shrink_when_empty();
                if self.out.capacity() > KEEP_CAPACITY {
                    // A large streamed chunk passed through: let it go.
                    self.out = Vec::new();
                }
                self.entry.set_idle(true);
                if self.shared.stopping() {
                    return Ending::Drop;
                }
            }
            let head = match self.next_request() {
                Next::Request(head) => head,
                Next::Close => return Ending::Drop,
                Next::Refuse(e) => {
                    // The client may be sending the rest of what was refused.
                    self.refuse(e.status(), &e.message());
                    return Ending::CloseAfterLinger;
                }
                Next::Timeout => {
                    self.refuse(
                        StatusCode::REQUEST_TIMEOUT,
                        "Request Timeout: the request head did not arrive in time",
                    );
                    return Ending::Drop;
                }
            };
            match self.handle(head) {
                Handled::Answered(Persistence::KeepAlive) => continue,
                Handled::Answered(Persistence::Close) => return Ending::Close,
                Handled::Answered(Persistence::CloseAfterLinger) => {
                    return Ending::CloseAfterLinger
                }
                Handled::Gone => return Ending::Drop,
            }
        }
    }

    /// Handles one request: the handler class and the app, then the
    /// response.
    #[inline(never)]
    fn handle(&mut self, head: Arc<RequestHead>) -> Handled {
        let started = Instant::now();
        let shared = self.shared;
        let exchange = ServerExchange::new(&head);
        let logged_head = access_log::enabled().then(|| head.clone());
        let origin = if self.over_unix {
            forwarded::resolve_unix(&head.headers, &shared.trusted_proxies)
        } else {
            forwarded::resolve(self.peer, &head.headers, &shared.trusted_proxies)
        };
        let scheme = origin.scheme.unwrap_or(shared.scheme);
        let client = origin.client;
        let mut req = Request::new(head, client, scheme, &mut self.io, &shared.limits);
        if let Some(metrics) = crate::metrics::enabled() {
            metrics.requests.inc();
        }

        let response = respond(shared, client, &mut req);
        if req.io().is_taken() {
            end_upgraded(client, &req, started);
            return Handled::Gone;
        }
        let (response, persistence) = settle(shared, &exchange, &mut req, response);
        drop(req);

        let Some(sent) = self.send(response, &exchange, persistence) else {
            return Handled::Gone;
        };
        if let Some(head) = logged_head {
            access_log::record(
                client,
                RequestLine::Head(&head),
                sent.status,
                sent.body_bytes,
                started,
            );
        }
        Handled::Answered(sent.persistence)
    }

    /// Waits for and parses the next request head.
    #[inline(never)]
    fn next_request(&mut self) -> Next {
        let limits = &self.shared.limits;
        let idle_deadline = deadline::after(limits.keep_alive_timeout);
        // From the head's first byte on, its deadline replaces the idle one.
        let mut head_started = false;
        let mut head_deadline = None;
        let mut scanned = 0;
        let mut seen_line_end = false;
        // Beyond this a head cannot be valid, whatever its shape.
        let absolute_max = limits.max_head_bytes();
        loop {
            let buffered = self.io.buffered();
            if !buffered.is_empty() {
                if !head_started {
                    head_started = true;
                    head_deadline = deadline::after(limits.header_timeout);
                    self.entry.set_idle(false);
                }
                // A head can only end, or outgrow a limit, where a line ends
                // or at the size bounds: a head trickled byte by byte is not
                // re-parsed for every byte.
                let new_line = memchr::memchr(b'\n', &buffered[scanned..]).is_some();
                seen_line_end |= new_line;
                let long_line = !seen_line_end && buffered.len() > limits.max_request_line + 1;
                if new_line || long_line || buffered.len() > absolute_max {
                    match parse_head(buffered, limits) {
                        Ok(Some((head, used))) => {
                            self.io.consume(used);
                            return Next::Request(Arc::new(head));
                        }
                        Ok(None) => {}
                        Err(e) => return Next::Refuse(e),
                    }
                }
                scanned = buffered.len();
            }
            if head_deadline.is_some_and(|d| Instant::now() >= d) {
                return Next::Timeout;
            }
            let deadline = if head_started {
                head_deadline
            } else {
                idle_deadline
            };
            match self.io.fill(deadline) {
                Ok(0) => return Next::Close,
                Ok(_) => {}
                Err(e) if is_timeout(&e) && head_started => return Next::Timeout,
                Err(_) => return Next::Close,
            }
        }
    }

    /// Writes a response as the server role plans it; `None` if the
    /// connection broke.
    #[inline(never)]
    fn send(
        &mut self,
        response: Response,
        exchange: &ServerExchange,
        persistence: Persistence,
    ) -> Option<Sent> {
        self.io.begin_response();
        let (status, headers, body) = response.into_parts();
        let shape = match &body {
            Body::Empty => BodyShape::Empty,
            Body::Bytes(bytes) => BodyShape::Bytes(bytes.len() as u64),
            Body::Stream(_) => BodyShape::Stream,
        };
        let mut plan = exchange.plan(status, &headers, shape, persistence);
        self.out.clear();
        plan.write_head(&mut self.out, status, &headers);
        let mut body_bytes = 0;
        match body {
            Body::Bytes(bytes) if plan.send_body => {
                body_bytes = bytes.len() as u64;
                self.write_with_body(&bytes)?;
            }
            Body::Stream(chunks) if plan.send_body => {
                body_bytes = self.stream_body(chunks, &mut plan)?;
            }
            _ => self.write_out()?,
        }
        Some(Sent {
            status,
            body_bytes,
            persistence: plan.persistence,
        })
    }

    /// Sends a streamed body after the head in `self.out`; gives the bytes
    /// sent, and tells `plan` when the body did not end as its framing
    /// promised.
    #[inline(never)]
    fn stream_body(
        &mut self,
        mut chunks: Box<dyn Iterator<Item = Vec<u8>> + Send>,
        plan: &mut ResponsePlan,
    ) -> Option<u64> {
        let framing = plan.framing;
        let mut sent = 0u64;
        loop {
            let next = match catch_unwind(AssertUnwindSafe(|| chunks.next())) {
                Ok(next) => next,
                Err(payload) if green::is_interrupt(&*payload) => resume_unwind(payload),
                Err(payload) => {
                    log::error!(
                        "{}: a streamed response body panicked: {}",
                        self.peer,
                        green::panic_message(&*payload)
                    );
                    self.write_out()?;
                    plan.body_cut_short();
                    return Some(sent);
                }
            };
            let Some(chunk) = next else { break };
            match framing {
                ResponseFraming::Chunked => {
                    crate::proto::http::chunked::write_chunk(&mut self.out, &chunk)
                }
                ResponseFraming::Length(n) => {
                    let room = n.saturating_sub(sent) as usize;
                    if chunk.len() > room {
                        log::error!(
                            "{}: streamed body longer than its Content-Length {n}; closing",
                            self.peer
                        );
                        self.out.extend_from_slice(&chunk[..room]);
                        sent += room as u64;
                        self.write_out()?;
                        plan.body_cut_short();
                        return Some(sent);
                    }
                    self.out.extend_from_slice(&chunk);
                }
                _ => self.out.extend_from_slice(&chunk),
            }
            sent += chunk.len() as u64;
            self.write_out()?;
        }
        match framing {
            ResponseFraming::Chunked => {
                crate::proto::http::chunked::write_last_chunk(&mut self.out);
            }
            ResponseFraming::Length(n) if n != sent => {
                log::error!(
                    "{}: streamed body of {sent} bytes for a Content-Length of {n}; closing",
                    self.peer
                );
                plan.body_cut_short();
            }
            _ => {}
        }
        self.write_out()?;
        Some(sent)
    }

    /// Writes the head in `self.out` and `body` behind it.
    fn write_with_body(&mut self, body: &[u8]) -> Option<()> {
        let result = self.io.write_parts(&self.out, body);
        self.out.clear();
        self.written(result)
    }

    /// Writes and clears `self.out`.
    fn write_out(&mut self) -> Option<()> {
        if self.out.is_empty() {
            return Some(());
        }
        let result = self.io.write_all(&self.out);
        self.out.clear();
        self.written(result)
    }

    /// The outcome of a write; a failure is logged (the client went away).
    fn written(&self, result: std::io::Result<()>) -> Option<()> {
        match result {
            Ok(()) => Some(()),
            Err(e) => {
                log::debug!("{}: write failed: {e}", self.peer);
                None
            }
        }
    }

    /// Answers a refused request (and logs it); kept out of line, like the
    /// other rare paths, so the frames an idle connection keeps stay small.
    #[inline(never)]
    fn refuse(&mut self, status: StatusCode, message: &str) {
        let started = Instant::now();
        let line = self.first_line();
        let line = line.as_str();
        let response = Response::error(status, message);
        let exchange = ServerExchange::refused();
        if let Some(sent) = self.send(response, &exchange, Persistence::Close) {
            if access_log::enabled() {
                access_log::record(
                    self.peer,
                    RequestLine::Text(line),
                    sent.status,
                    sent.body_bytes,
                    started,
                );
            }
        }
    }

    /// The first line of what is buffered, for logging a refused request.
    fn first_line(&self) -> String {
        let buffered = self.io.buffered();
        let end = memchr::memchr(b'\n', buffered)
            .unwrap_or(buffered.len())
            .min(200);
        String::from_utf8_lossy(&buffered[..end])
            .trim_end()
            .to_string()
    }

    /// Closes after the last response: says goodbye (a TLS close_notify)
    /// and sends the end of the stream, then lets the socket go.
    #[inline(never)]
    fn close(&mut self) {
        let _ = self.io.stream().shutdown(Shutdown::Write);
    }

    /// Closes after a response the client may not have finished sending
    /// its request for: stop writing, then read and discard for a moment.
    #[inline(never)]
    fn linger_close(&mut self) {
        let _ = self.io.stream().shutdown(Shutdown::Write);
        let deadline = deadline::after(self.shared.limits.linger_timeout);
        let mut scratch = vec![0u8; 4096];
        let mut discarded = 0usize;
        while discarded < LINGER_LIMIT {
            match self.io.read_into(&mut scratch, deadline) {
                Ok(0) | Err(_) => break,
                Ok(n) => discarded += n,
            }
        }
    }
}

/// What to send after the app, and what becomes of the connection:
/// refuses a body the server could not take, drains an unread body when
/// that keeps the connection.
#[inline(never)]
fn settle(
    shared: &Shared,
    exchange: &ServerExchange,
    req: &mut Request<'_>,
    response: Response,
) -> (Response, Persistence) {
    let response = match req.body_error() {
        None if response.status() == StatusCode::SWITCHING_PROTOCOLS => {
            // Only a protocol that took the connection answers 101.
            log::error!(
                "the app answered \"{}\" with 101 without switching protocols (see Upgrade::upgrade)",
                req.request_line()
            );
            Response::error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
                .with_header("connection", "close")
        }
        None => response,
        Some(error) => body_error_response(error),
    };
    let stopping = shared.stopping();
    let mut body = req.body_state();
    if body == RequestBodyState::Unread
        && exchange.persistence(response.headers(), stopping, RequestBodyState::Read)
            == Persistence::KeepAlive
        && req.drain_body(DRAIN_LIMIT, shared.limits.linger_timeout)
    {
        body = RequestBodyState::Read;
    }
    let persistence = exchange.persistence(response.headers(), stopping, body);
    (response, persistence)
}

/// The handler class, then the app; a panic becomes a 500. Out of line
/// and small: a WebSocket app runs its whole session inside this call,
/// and the stack frames below it stay resident for as long.
///
/// A kill (a server stop that ran out of time) or an app's own timeout
/// unwinding out of the app is no panic: it goes on unwinding, and the
/// connection ends without a word (no 500, no WebSocket close 1011).
#[inline(never)]
fn respond(shared: &Shared, peer: SocketAddr, req: &mut Request<'_>) -> Response {
    if let Some(response) = shared.handler.prepare(req) {
        return response;
    }
    match catch_unwind(AssertUnwindSafe(|| shared.app.call(req))) {
        Ok(response) => response,
        Err(payload) if green::is_interrupt(&*payload) => resume_unwind(payload),
        Err(payload) => app_panicked(peer, req, payload),
    }
}

/// Logs an app's panic; the 500 to answer with.
#[inline(never)]
fn app_panicked(
    peer: SocketAddr,
    req: &Request<'_>,
    payload: Box<dyn std::any::Any + Send>,
) -> Response {
    log::error!(
        "app panicked on \"{}\" from {}: {}",
        req.request_line(),
        peer,
        green::panic_message(&*payload)
    );
    Response::error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        .with_header("connection", "close")
}

/// Another protocol took the connection after a 101: whatever the app
/// returned, nothing more is sent over HTTP (the protocol's layer closed
/// what it took).
#[inline(never)]
fn end_upgraded(peer: SocketAddr, req: &Request<'_>, started: Instant) {
    if access_log::enabled() {
        access_log::record(
            peer,
            RequestLine::Head(&req.shared_head()),
            StatusCode::SWITCHING_PROTOCOLS,
            0,
            started,
        );
    }
}

/// The answer to a body the server refused while the app read it.
#[inline(never)]
fn body_error_response(error: &Error) -> Response {
    let (status, message): (StatusCode, Cow<'static, str>) = match error {
        Error::BodyTooLarge { limit } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Payload Too Large: the body exceeds {limit} bytes").into(),
        ),
        Error::Timeout => (
            StatusCode::REQUEST_TIMEOUT,
            "Request Timeout: the body did not arrive in time".into(),
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            "Bad Request: malformed request body".into(),
        ),
    };
    Response::error(status, message)
}
