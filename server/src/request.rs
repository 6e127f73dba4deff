//! What an app receives: the request head, the peer, and a lazy body reader.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Extensions, HeaderMap, Method, Version};

use crate::connection::io::{is_timeout, ConnIo, READ_CHUNK};
use crate::connection::upgrade::{SwitchError, Upgraded};
use crate::deadline::{self, Pace};
use crate::proto::cookies;
use crate::proto::http::chunked::{ChunkError, ChunkedDecoder};
use crate::proto::http::head::{RequestBodyFraming, RequestHead};
use crate::proto::http::server::{RequestBodyState, CONTINUE};
use crate::Error;

/// An HTTP request as the app sees it: pywsgi's `environ`, typed.
///
/// The body is not read until the app asks for it ([`body`](Self::body) or
/// [`read_body`](Self::read_body)); a client that sent
/// `Expect: 100-continue` gets its `100 Continue` at that first read.
pub struct Request<'c> {
    /// Shared, so that a protocol the connection switches to (a WebSocket)
    /// can keep the head without a copy.
    head: Arc<RequestHead>,
    peer_addr: SocketAddr,
    scheme: &'static str,
    body: BodyState,
    io: &'c mut ConnIo,
    extensions: Extensions,
}

/// Progress through the request body.
pub(crate) struct BodyState {
    remaining: BodyRemaining,
    max_body: u64,
    /// How long each read may wait (`Limits::body_timeout`).
    timeout: Duration,
    /// The body's bytes and waits, against `Limits::min_body_rate`.
    pace: Pace,
    /// While the server drains the body: when it gives up.
    drain_deadline: Option<Instant>,
    /// A `100 Continue` is owed before the first read from the socket.
    continue_pending: bool,
    /// The first error met, given to the app again at every later read,
    /// then answered by the connection (413, 408 or 400, then close).
    error: Option<Error>,
}

/// What of the request body is still to be read.
enum BodyRemaining {
    Done,
    Length(u64),
    Chunked(Box<ChunkedDecoder>),
}

impl<'c> Request<'c> {
    pub(crate) fn new(
        head: Arc<RequestHead>,
        peer_addr: SocketAddr,
        scheme: &'static str,
        io: &'c mut ConnIo,
        limits: &crate::Limits,
    ) -> Self {
        let remaining = match head.framing {
            RequestBodyFraming::Empty => BodyRemaining::Done,
            RequestBodyFraming::Length(n) => BodyRemaining::Length(n),
            RequestBodyFraming::Chunked => BodyRemaining::Chunked(Box::new(ChunkedDecoder::new(
                limits.max_body,
                limits.max_header_bytes,
            ))),
        };
        let continue_pending = head.expect_continue && !matches!(remaining, BodyRemaining::Done);
        Request {
            body: BodyState {
                remaining,
                max_body: limits.max_body,
                timeout: limits.body_timeout,
                pace: Pace::new(limits.min_body_rate),
                drain_deadline: None,
                continue_pending,
                error: None,
            },
            head,
            peer_addr,
            scheme,
            io,
            extensions: Extensions::new(),
        }
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.head.method
    }

    /// The path, percent-decoded (pywsgi's `PATH_INFO`).
    pub fn path(&self) -> &str {
        &self.head.path
    }

    /// The request-target exactly as sent, query included.
    pub fn target(&self) -> &str {
        &self.head.target
    }

    /// The query string as sent, without the `?` (`QUERY_STRING`).
    pub fn query(&self) -> Option<&str> {
        self.head.query.as_deref()
    }

    /// HTTP/1.0 or HTTP/1.1.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The header fields; repeated fields are all kept.
    pub fn headers(&self) -> &HeaderMap {
        &self.head.headers
    }

    /// The first value of a header, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The client's address (`REMOTE_ADDR`): the connection's peer, or,
    /// when that peer is one of the server's
    /// [trusted proxies](crate::WsgiServer::trusted_proxies), the client
    /// its forwarding headers name (port 0 when they give none).
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    /// `"http"` or `"https"` (`wsgi.url_scheme`): the connection's, or
    /// what a [trusted proxy](crate::WsgiServer::trusted_proxies) says the
    /// client used.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// Values attached to this request, by type: how a handler class
    /// passes what it found to the app (the `WebSocketHandler` leaves the
    /// WebSocket offer here).
    ///
    /// ```
    /// # fn app(req: &mut greenws::Request) -> greenws::Response {
    /// #[derive(Clone)]
    /// struct User(String);
    /// // A handler class's `prepare`:
    /// req.extensions_mut().insert(User("ada".into()));
    /// // The app:
    /// let user = req.extensions().get::<User>().map(|u| u.0.as_str());
    /// # greenws::Response::text(user.unwrap_or("nobody").to_owned()) }
    /// ```
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The extensions, to change.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    /// The value of the first cookie called `name` (see
    /// [`proto::cookies`](crate::proto::cookies)).
    ///
    /// ```
    /// # fn app(req: &mut greenws::Request) -> greenws::Response {
    /// match req.cookie("session") {
    ///     Some(session) => greenws::Response::text(format!("welcome back, {session}")),
    ///     None => greenws::Response::text("hello, stranger"),
    /// }
    /// # }
    /// ```
    pub fn cookie(&self, name: &str) -> Option<&str> {
        cookies::cookie(&self.head.headers, name)
    }

    /// Every cookie, as `(name, value)`, in order.
    pub fn cookies(&self) -> impl Iterator<Item = (&str, &str)> {
        cookies::cookies(&self.head.headers)
    }

    /// The parsed head, shared (for a protocol that outlives the request).
    pub(crate) fn shared_head(&self) -> Arc<RequestHead> {
        self.head.clone()
    }

    /// True when bytes arrived behind the request head: read along with
    /// it, or in the socket now (taken into the connection's buffer, where
    /// they stay HTTP's, the next request).
    pub(crate) fn has_bytes_after_head(&mut self) -> bool {
        if self.io.buffered().is_empty() {
            let _ = self.io.fill_now();
        }
        !self.io.buffered().is_empty()
    }

    /// Answers with `response_head` (a whole `101 Switching Protocols`
    /// head, which the caller encodes) and hands the connection over; the
    /// connection loop lets go of it once the app returns. Refused while
    /// the body is unread or bytes arrived behind the head.
    pub(crate) fn switch_protocols(
        &mut self,
        response_head: &[u8],
    ) -> Result<Upgraded, SwitchError> {
        if !self.body_finished() {
            return Err(SwitchError::UnreadBody);
        }
        if self.has_bytes_after_head() {
            return Err(SwitchError::BytesAfterHead);
        }
        self.io.write_all(response_head).map_err(SwitchError::Io)?;
        Ok(self.io.hand_over())
    }

    /// The declared body length, if the body has one.
    pub fn content_length(&self) -> Option<u64> {
        match self.head.framing {
            RequestBodyFraming::Length(n) => Some(n),
            RequestBodyFraming::Empty => Some(0),
            RequestBodyFraming::Chunked => None,
        }
    }

    /// The request line as sent, for messages: `GET /path HTTP/1.1`.
    pub fn request_line(&self) -> String {
        self.head.request_line()
    }

    /// A reader of the request body (`wsgi.input`). It yields the decoded
    /// body (chunked framing removed) and then end-of-file; errors carry a
    /// [`greenws::Error`](crate::Error) (`BodyTooLarge`, `MalformedBody`,
    /// `Timeout`) that `Error::from(io_error)` recovers.
    pub fn body(&mut self) -> BodyReader<'_, 'c> {
        BodyReader { request: self }
    }

    /// Reads the whole body into memory. It takes at most the server's body
    /// limit (`Limits::max_body`), and so does the buffer it comes in: a
    /// body of known length is read into a buffer of that size, a chunked
    /// one into a buffer that doubles, up to the limit.
    pub fn read_body(&mut self) -> Result<Vec<u8>, Error> {
        let limit = usize::try_from(self.body.max_body).unwrap_or(usize::MAX);
        let known = match self.body.remaining {
            // The head was refused unless the length was within the limit.
            BodyRemaining::Length(n) => usize::try_from(n).unwrap_or(limit),
            _ => 0,
        };
        let mut body = vec![0; known];
        let mut len = 0;
        while !self.body_finished() {
            if len == body.len() {
                // Room for one byte past the limit: a chunked body that ends
                // exactly there still has its last chunk to read.
                let grown = (len * 2).max(READ_CHUNK).min(limit.saturating_add(1));
                body.resize(grown, 0);
            }
            match self.read_body_chunk(&mut body[len..])? {
                0 => break,
                n => len += n,
            }
        }
        body.truncate(len);
        Ok(body)
    }

    pub(crate) fn io(&mut self) -> &mut ConnIo {
        self.io
    }

    /// True when the whole body was read (or there was none).
    pub(crate) fn body_finished(&self) -> bool {
        matches!(self.body.remaining, BodyRemaining::Done)
    }

    /// What is left of the body now that the app is done with it.
    pub(crate) fn body_state(&self) -> RequestBodyState {
        if self.body.error.is_some() {
            RequestBodyState::Refused
        } else if self.body_finished() {
            RequestBodyState::Read
        } else if self.body.continue_pending {
            // The client holds the body back until told to continue.
            RequestBodyState::HeldForContinue
        } else {
            RequestBodyState::Unread
        }
    }

    /// The error the body was refused with, if it was.
    pub(crate) fn body_error(&self) -> Option<&Error> {
        self.body.error.as_ref()
    }

    /// Reads and discards what is left of the body, if it ends within
    /// `limit` more bytes and `time`; true if it did.
    #[inline(never)]
    pub(crate) fn drain_body(&mut self, limit: u64, time: Duration) -> bool {
        if matches!(self.body.remaining, BodyRemaining::Length(left) if left > limit) {
            return false;
        }
        self.body.drain_deadline = deadline::after(time);
        let mut scratch = vec![0u8; READ_CHUNK];
        let mut drained = 0u64;
        while !self.body_finished() {
            // One byte past the limit, to tell a body that ends there.
            let room = (limit - drained + 1).min(READ_CHUNK as u64) as usize;
            match self.read_body_chunk(&mut scratch[..room]) {
                Ok(0) => break,
                Ok(n) if drained + n as u64 > limit => return false,
                Ok(n) => drained += n as u64,
                Err(_) => return false,
            }
        }
        self.body_finished()
    }

    fn read_body_chunk(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        if let Some(first) = &self.body.error {
            return Err(body_error_again(first));
        }
        let result = self.read_body_inner(out);
        if let Err(e) = &result {
            self.body.error = Some(body_error_again(e));
        }
        result
    }

    fn read_body_inner(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            let deadline = deadline::earliest(
                self.body.pace.deadline(self.body.timeout, 0),
                self.body.drain_deadline,
            );
            match &mut self.body.remaining {
                BodyRemaining::Done => return Ok(0),
                BodyRemaining::Length(left) => {
                    if self.io.buffered().is_empty() {
                        send_continue(self.io, &mut self.body.continue_pending)?;
                    }
                    let want = (*left).min(out.len() as u64) as usize;
                    let started = Instant::now();
                    let n = self
                        .io
                        .read_into(&mut out[..want], deadline)
                        .map_err(map_read_error)?;
                    self.body.pace.record(started.elapsed(), n);
                    if n == 0 {
                        return Err(Error::MalformedBody(format!(
                            "the client closed with {left} body bytes still to come"
                        )));
                    }
                    *left -= n as u64;
                    if *left == 0 {
                        self.body.remaining = BodyRemaining::Done;
                    }
                    return Ok(n);
                }
                BodyRemaining::Chunked(decoder) => {
                    let step =
                        decoder
                            .decode(self.io.buffered(), out.len())
                            .map_err(|e| match e {
                                ChunkError::TooLarge => Error::BodyTooLarge {
                                    limit: self.body.max_body,
                                },
                                ChunkError::Malformed(why) => Error::MalformedBody(why.into()),
                            })?;
                    let n = step.data.len();
                    out[..n].copy_from_slice(&self.io.buffered()[step.data.clone()]);
                    self.io.consume(step.consumed);
                    if decoder.is_done() {
                        self.body.remaining = BodyRemaining::Done;
                    }
                    if n > 0 {
                        return Ok(n);
                    }
                    if matches!(self.body.remaining, BodyRemaining::Done) {
                        return Ok(0);
                    }
                    if step.consumed == 0 {
                        send_continue(self.io, &mut self.body.continue_pending)?;
                        let started = Instant::now();
                        let n = self.io.fill(deadline).map_err(map_read_error)?;
                        self.body.pace.record(started.elapsed(), n);
                        if n == 0 {
                            return Err(Error::MalformedBody(
                                "the client closed in the middle of a chunked body".into(),
                            ));
                        }
                    }
                }
            }
        }
    }
}

/// The error a body read gives once the body was refused with `first`:
/// the same refusal (an I/O error, which cannot be copied, becomes a
/// malformed body that says what happened).
fn body_error_again(first: &Error) -> Error {
    match first {
        Error::BodyTooLarge { limit } => Error::BodyTooLarge { limit: *limit },
        Error::Timeout => Error::Timeout,
        Error::MalformedBody(why) => Error::MalformedBody(why.clone()),
        other => Error::MalformedBody(format!("the body could not be read: {other}")),
    }
}

/// Sends the owed `100 Continue`, once.
fn send_continue(io: &mut ConnIo, pending: &mut bool) -> Result<(), Error> {
    if *pending {
        *pending = false;
        io.begin_response();
        io.write_all(CONTINUE)?;
    }
    Ok(())
}

fn map_read_error(e: io::Error) -> Error {
    if is_timeout(&e) {
        Error::Timeout
    } else {
        Error::Io(e)
    }
}

/// Reads a request body; see [`Request::body`].
pub struct BodyReader<'r, 'c> {
    request: &'r mut Request<'c>,
}

impl Read for BodyReader<'_, '_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.request.read_body_chunk(out).map_err(Error::into_io)
    }
}
