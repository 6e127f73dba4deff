//! The connection loop: one greenlet per connection reads requests, calls
//! the handler class and the app, and writes responses, until either side
//! closes. Parsing and encoding are `proto::http`'s; this file only
//! moves bytes and decides.

use std::borrow::Cow;
use std::net::{Shutdown, SocketAddr};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use http::header::CONTENT_LENGTH;
use http::{Method, StatusCode, Version};

use green::net::{DuplexStream, TcpStream};

use super::access_log;
use super::io::{is_timeout, ConnIo, KEEP_CAPACITY};
use super::proxy_header;
use super::registry::ConnEntry;
use super::running::Shared;
use super::transport::Transport;
use crate::deadline;
use crate::proto::forwarded;
use crate::proto::http::head::{connection_tokens, parse_head, HeadError, RequestHead};
use crate::proto::http::server::{status_has_no_body, write_head, ResponseFraming};
use crate::request::BodyError;
use crate::response::Body;
use crate::{Request, Response};

/// The most of an unread request body drained to keep a connection open
/// (within `Limits::linger_timeout`).
const DRAIN_LIMIT: u64 = 1024 * 1024;
/// The most a closing connection reads (and discards) of what the client
/// still sends, within `Limits::linger_timeout`, so that our last response
/// is not lost to a reset.
const LINGER_LIMIT: usize = 16 * 1024 * 1024;

/// Serves one accepted connection until it closes.
#[inline(never)]
pub(crate) fn serve(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let socket = Arc::new(DuplexStream::new(stream));
    let registration = shared.registry.register(&socket);
    let peer = if shared.proxy_protocol {
        let deadline = deadline::after(shared.limits.header_timeout);
        match proxy_header::read_client(&socket, peer, &shared.trusted_proxies, deadline) {
            Ok(client) => client,
            Err(e) => {
                log::debug!("{peer}: closed: {e}");
                return;
            }
        }
    } else {
        peer
    };
    let transport = match &shared.tls {
        None => Transport::plain(socket),
        Some(config) => {
            let deadline = deadline::after(shared.limits.header_timeout);
            match Transport::tls(socket, config.clone(), deadline) {
                Ok(transport) => {
                    // The handshake went deep; the connection may live long.
                    green::trim_stack();
                    transport
                }
                Err(e) => {
                    log::debug!("{peer}: TLS handshake failed: {e}");
                    return;
                }
            }
        }
    };
    let io = ConnIo::new(transport, &shared.limits, registration.entry.clone());
    let mut conn = Connection {
        io,
        out: Vec::new(),
        peer,
        shared: &shared,
        entry: registration.entry.clone(),
    };
    let linger = conn.run();
    drop(registration);
    if linger {
        conn.linger_close();
    }
}

struct Connection<'s> {
    io: ConnIo,
    out: Vec<u8>,
    peer: SocketAddr,
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

/// What sending a response did.
struct Sent {
    status: StatusCode,
    body_bytes: u64,
    keep_alive: bool,
}

impl Connection<'_> {
    /// Runs requests until the connection should close; true if the client
    /// may still be sending (close with a linger).
    #[inline(never)]
    fn run(&mut self) -> bool {
        loop {
            if self.io.buffered().is_empty() {
                self.io.shrink_when_empty();
                if self.out.capacity() > KEEP_CAPACITY {
                    // A large streamed chunk passed through: let it go.
                    self.out = Vec::new();
                }
                self.entry.set_idle(true);
                if self.shared.stopping() {
                    return false;
                }
            }
            let head = match self.next_request() {
                Next::Request(head) => head,
                Next::Close => return false,
                Next::Refuse(e) => {
                    self.refuse(e.status(), &e.message());
                    return true;
                }
                Next::Timeout => {
                    self.refuse(
                        StatusCode::REQUEST_TIMEOUT,
                        "Request Timeout: the request head did not arrive in time",
                    );
                    return false;
                }
            };
            match self.handle(head) {
                Some(true) => continue,
                Some(false) => return true,
                None => return false,
            }
        }
    }

    /// Handles one request; `Some(keep_alive)`, or `None` when the
    /// connection is gone (taken over, or broken).
    #[inline(never)]
    fn handle(&mut self, head: Arc<RequestHead>) -> Option<bool> {
        let started = Instant::now();
        let shared = self.shared;
        let client_keep_alive = head.keep_alive;
        let version = head.version;
        let is_head = head.method == Method::HEAD;
        let origin = forwarded::resolve(self.peer, &head.headers, &shared.trusted_proxies);
        let scheme = origin.scheme.unwrap_or(shared.scheme);
        let client = origin.client;
        let mut req = Request::new(head, client, scheme, &mut self.io, &shared.limits);
        if let Some(metrics) = crate::metrics::enabled() {
            metrics.requests.inc();
        }

        let response = respond(shared, client, &mut req);
        if req.io().is_taken() {
            end_upgraded(client, &req, started);
            return None;
        }
        let (response, keep_alive, client_may_send, request_line) =
            settle(shared, &mut req, response, client_keep_alive);
        drop(req);

        let sent = self.send(response, version, is_head, keep_alive)?;
        if let Some(line) = request_line {
            access_log::record(client, &line, sent.status, sent.body_bytes, started);
        }
        if !sent.keep_alive && client_may_send {
            return Some(false);
        }
        Some(sent.keep_alive)
    }

    /// Waits for and parses the next request head.
    #[inline(never)]
    fn next_request(&mut self) -> Next {
        let limits = &self.shared.limits;
        let head_limits = limits.head();
        let idle_deadline = deadline::after(limits.keep_alive_timeout);
        // From the head's first byte on, its deadline replaces the idle one.
        let mut head_started = false;
        let mut head_deadline = None;
        let mut scanned = 0;
        let mut seen_line_end = false;
        // Beyond this a head cannot be valid, whatever its shape.
        let absolute_max = head_limits.max_head_bytes();
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
                    match parse_head(buffered, &head_limits) {
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

    /// Writes a response; `None` if the connection broke.
    #[inline(never)]
    fn send(
        &mut self,
        response: Response,
        version: Version,
        is_head: bool,
        keep_alive: bool,
    ) -> Option<Sent> {
        self.io.begin_response();
        let (status, headers, body) = response.into_parts();
        let announce = version == Version::HTTP_10;
        let bodiless = status_has_no_body(status);
        self.out.clear();
        let mut sent = Sent {
            status,
            body_bytes: 0,
            keep_alive,
        };
        match body {
            Body::Empty | Body::Bytes(_) if bodiless => {
                write_head(
                    &mut self.out,
                    status,
                    &headers,
                    ResponseFraming::None,
                    keep_alive,
                    announce,
                );
                self.write_out()?;
            }
            Body::Empty if is_head && headers.contains_key(CONTENT_LENGTH) => {
                // A HEAD answer may announce the length of what GET would send.
                let length = headers
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .unwrap_or(0);
                write_head(
                    &mut self.out,
                    status,
                    &headers,
                    ResponseFraming::Length(length),
                    keep_alive,
                    announce,
                );
                self.write_out()?;
            }
            Body::Empty => {
                write_head(
                    &mut self.out,
                    status,
                    &headers,
                    ResponseFraming::Length(0),
                    keep_alive,
                    announce,
                );
                self.write_out()?;
            }
            Body::Bytes(bytes) => {
                let framing = ResponseFraming::Length(bytes.len() as u64);
                write_head(
                    &mut self.out,
                    status,
                    &headers,
                    framing,
                    keep_alive,
                    announce,
                );
                if !is_head {
                    sent.body_bytes = bytes.len() as u64;
                    self.write_with_body(&bytes)?;
                } else {
                    self.write_out()?;
                }
            }
            Body::Stream(chunks) => {
                let declared = headers
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                let framing = match (bodiless, declared, version) {
                    (true, _, _) => ResponseFraming::None,
                    (false, Some(n), _) => ResponseFraming::Length(n),
                    (false, None, Version::HTTP_10) => ResponseFraming::UntilClose,
                    (false, None, _) => ResponseFraming::Chunked,
                };
                if framing == ResponseFraming::UntilClose {
                    sent.keep_alive = false;
                }
                write_head(
                    &mut self.out,
                    status,
                    &headers,
                    framing,
                    sent.keep_alive,
                    announce,
                );
                if is_head || bodiless {
                    self.write_out()?;
                } else {
                    let (bytes, complete) = self.stream_body(chunks, framing)?;
                    sent.body_bytes = bytes;
                    if !complete {
                        sent.keep_alive = false;
                    }
                }
            }
        }
        Some(sent)
    }

    /// Sends a streamed body after the head in `self.out`; gives the bytes
    /// sent and whether the body ended as its framing promised.
    #[inline(never)]
    fn stream_body(
        &mut self,
        mut chunks: Box<dyn Iterator<Item = Vec<u8>> + Send>,
        framing: ResponseFraming,
    ) -> Option<(u64, bool)> {
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
                    return Some((sent, false));
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
                        return Some((sent, false));
                    }
                    self.out.extend_from_slice(&chunk);
                }
                _ => self.out.extend_from_slice(&chunk),
            }
            sent += chunk.len() as u64;
            self.write_out()?;
        }
        let complete = match framing {
            ResponseFraming::Chunked => {
                crate::proto::http::chunked::write_last_chunk(&mut self.out);
                true
            }
            ResponseFraming::Length(n) if n != sent => {
                log::error!(
                    "{}: streamed body of {sent} bytes for a Content-Length of {n}; closing",
                    self.peer
                );
                false
            }
            _ => true,
        };
        self.write_out()?;
        Some((sent, complete))
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
        let response = Response::error(status, message).with_header("connection", "close");
        if let Some(sent) = self.send(response, Version::HTTP_11, false, false) {
            if access_log::enabled() {
                access_log::record(self.peer, line, sent.status, sent.body_bytes, started);
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

/// What to send after the app: refuses a body the server could not take,
/// decides keep-alive, drains an unread body.
#[inline(never)]
fn settle(
    shared: &Shared,
    req: &mut Request<'_>,
    response: Response,
    client_keep_alive: bool,
) -> (Response, bool, bool, Option<String>) {
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
        Some(error) => body_error_response(error, shared.limits.max_body),
    };
    let mut keep_alive = client_keep_alive
        && req.body_error().is_none()
        && !wants_close(&response)
        && !shared.stopping();
    let mut client_may_send = false;
    if !req.body_finished() {
        if req.continue_pending() {
            // The client holds the body back until told to continue; we
            // never did, so the connection cannot be reused.
            keep_alive = false;
        } else if !(keep_alive && req.drain_body(DRAIN_LIMIT, shared.limits.linger_timeout)) {
            // What is left of the body may still be on its way: close with
            // a linger so the response is read, not lost to a reset.
            keep_alive = false;
            client_may_send = true;
        }
    }
    let request_line = access_log::enabled().then(|| req.request_line());
    (response, keep_alive, client_may_send, request_line)
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
            &req.request_line(),
            StatusCode::SWITCHING_PROTOCOLS,
            0,
            started,
        );
    }
}

/// True if the app asked to close the connection after its response.
fn wants_close(response: &Response) -> bool {
    connection_tokens(response.headers()).any(|t| t.eq_ignore_ascii_case("close"))
}

/// The answer to a body the server refused while the app read it.
#[inline(never)]
fn body_error_response(error: BodyError, limit: u64) -> Response {
    let (status, message): (StatusCode, Cow<'static, str>) = match error {
        BodyError::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Payload Too Large: the body exceeds {limit} bytes").into(),
        ),
        BodyError::Timeout => (
            StatusCode::REQUEST_TIMEOUT,
            "Request Timeout: the body did not arrive in time".into(),
        ),
        BodyError::Malformed | BodyError::Closed => (
            StatusCode::BAD_REQUEST,
            "Bad Request: malformed request body".into(),
        ),
    };
    Response::error(status, message)
}
