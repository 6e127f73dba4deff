//! Process-wide counters in the Prometheus (OpenMetrics) text format:
//! connections open, requests, WebSocket messages and bytes, Hub
//! overflows, closes by code, accept errors and dropped log lines.
//!
//! Off until [`enable`] is called: before that, each counting point costs
//! one load of a pointer that is null. Once enabled, each is a relaxed
//! atomic add (no lock on the request or message path; closes by code,
//! rarer, take a read lock of the label map). Serve them on a route of
//! your choice with [`response`]:
//!
//! ```
//! use greenws::{metrics, Request, Response, WsgiServer};
//! use std::io::{Read, Write};
//!
//! metrics::enable();
//! let server = WsgiServer::bind("127.0.0.1:0")?.start(|req: &mut Request| match req.path() {
//!     "/metrics" => metrics::response(),
//!     _ => Response::text("hello"),
//! })?;
//! let mut client = std::net::TcpStream::connect(server.local_addr())?;
//! client.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
//! let mut reply = String::new();
//! client.read_to_string(&mut reply)?;
//! assert!(reply.contains("# TYPE greenws_requests counter"));
//! assert!(reply.ends_with("# EOF\n"));
//! # server.stop(std::time::Duration::from_secs(1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Names (all prefixed `greenws_`; counters end in `_total` in the
//! output): `connections_open{kind="http"|"websocket"}`, `requests`,
//! `websocket_messages{direction="in"|"out"}`,
//! `bytes{direction="in"|"out"}` (HTTP and WebSocket bytes of the
//! server's connections, after TLS decryption), `hub_overflows`, `websocket_closes{side="local"|"peer",
//! code}`, `accept_errors`, `dropped_log_lines`.

use std::sync::OnceLock;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::Response;

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = [(&'static str, &'static str); 1];
type CloseLabels = [(&'static str, LabelValue); 2];

/// A label value that is either a fixed word or a close code.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum LabelValue {
    Word(&'static str),
    Code(u16),
}

impl prometheus_client::encoding::EncodeLabelValue for LabelValue {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> std::fmt::Result {
        match self {
            LabelValue::Word(word) => word.encode(encoder),
            LabelValue::Code(code) => code.encode(encoder),
        }
    }
}

/// The counters; reached through [`enabled`] on the counting points.
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) http_open: Gauge,
    pub(crate) websocket_open: Gauge,
    pub(crate) requests: Counter,
    pub(crate) messages_in: Counter,
    pub(crate) messages_out: Counter,
    pub(crate) bytes_in: Counter,
    pub(crate) bytes_out: Counter,
    pub(crate) hub_overflows: Counter,
    pub(crate) accept_errors: Counter,
    closes: Family<CloseLabels, Counter>,
    dropped_log_lines: Counter,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// Turns counting on (for the whole process; calling it again does
/// nothing).
pub fn enable() {
    METRICS.get_or_init(Metrics::new);
}

/// The counters if [`enable`] was called: what the counting points use.
#[inline]
pub(crate) fn enabled() -> Option<&'static Metrics> {
    METRICS.get()
}

/// The metrics in the OpenMetrics text format (which Prometheus reads),
/// ending in `# EOF`; only that line if counting is not enabled.
pub fn render() -> String {
    let mut text = String::new();
    if let Some(metrics) = enabled() {
        let dropped = crate::logging::dropped_lines();
        let counted = metrics.dropped_log_lines.get();
        metrics
            .dropped_log_lines
            .inc_by(dropped.saturating_sub(counted));
        encode(&mut text, &metrics.registry).expect("a String takes any text");
    } else {
        text.push_str("# EOF\n");
    }
    text
}

/// A 200 response with [`render`]'s text and its [`CONTENT_TYPE`].
pub fn response() -> Response {
    Response::bytes(CONTENT_TYPE, render().into_bytes())
}

/// Counts a WebSocket connection as open until the guard drops.
pub(crate) struct OpenGuard(&'static Gauge);

impl OpenGuard {
    /// Counts one more open WebSocket, if counting is on.
    pub(crate) fn websocket() -> Option<OpenGuard> {
        enabled().map(|metrics| OpenGuard::new(&metrics.websocket_open))
    }

    /// Counts one more open HTTP connection, if counting is on.
    pub(crate) fn http() -> Option<OpenGuard> {
        enabled().map(|metrics| OpenGuard::new(&metrics.http_open))
    }

    fn new(gauge: &'static Gauge) -> OpenGuard {
        gauge.inc();
        OpenGuard(gauge)
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Which way a message or bytes went.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Direction {
    In,
    Out,
}

/// A WebSocket data message received or sent.
#[inline]
pub(crate) fn count_message(direction: Direction) {
    if let Some(metrics) = enabled() {
        match direction {
            Direction::In => metrics.messages_in.inc(),
            Direction::Out => metrics.messages_out.inc(),
        };
    }
}

/// Bytes read from or written to a server connection (plaintext).
#[inline]
pub(crate) fn count_bytes(direction: Direction, bytes: usize) {
    if let Some(metrics) = enabled() {
        let bytes = bytes as u64;
        match direction {
            Direction::In => metrics.bytes_in.inc_by(bytes),
            Direction::Out => metrics.bytes_out.inc_by(bytes),
        };
    }
}

/// A Close frame this end sent (`local`) or received (`peer`), by code
/// (1005 when it had none).
pub(crate) fn count_close(peer: bool, code: u16) {
    if let Some(metrics) = enabled() {
        let side = LabelValue::Word(if peer { "peer" } else { "local" });
        metrics
            .closes
            .get_or_create(&[("side", side), ("code", LabelValue::Code(code))])
            .inc();
    }
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("greenws");
        let open = Family::<Labels, Gauge>::default();
        let messages = Family::<Labels, Counter>::default();
        let bytes = Family::<Labels, Counter>::default();
        // Each `get_or_create_owned` releases the family's lock before the
        // next one takes it (a guard kept to the end of this statement would
        // deadlock the second).
        let metrics = Metrics {
            http_open: open.get_or_create_owned(&[("kind", "http")]),
            websocket_open: open.get_or_create_owned(&[("kind", "websocket")]),
            requests: Counter::default(),
            messages_in: messages.get_or_create_owned(&[("direction", "in")]),
            messages_out: messages.get_or_create_owned(&[("direction", "out")]),
            bytes_in: bytes.get_or_create_owned(&[("direction", "in")]),
            bytes_out: bytes.get_or_create_owned(&[("direction", "out")]),
            hub_overflows: Counter::default(),
            accept_errors: Counter::default(),
            closes: Family::default(),
            dropped_log_lines: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "connections_open",
            "Connections open: http counts every accepted connection, websocket the upgraded ones",
            open,
        );
        registry.register("requests", "HTTP requests read", metrics.requests.clone());
        registry.register(
            "websocket_messages",
            "WebSocket data messages, by direction",
            messages,
        );
        registry.register(
            "bytes",
            "Bytes read and written on server connections (after TLS), by direction",
            bytes,
        );
        registry.register(
            "hub_overflows",
            "Hub members closed (1013) because their queue overflowed",
            metrics.hub_overflows.clone(),
        );
        registry.register(
            "websocket_closes",
            "WebSocket Close frames, by side (local: sent, peer: received) and code",
            metrics.closes.clone(),
        );
        registry.register(
            "accept_errors",
            "Failed accepts (out of descriptors and others)",
            metrics.accept_errors.clone(),
        );
        registry.register(
            "dropped_log_lines",
            "Log lines dropped because the log output did not keep up",
            metrics.dropped_log_lines.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }
}
