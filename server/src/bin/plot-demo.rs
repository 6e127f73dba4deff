//! The seed's demo: a page that plots random numbers streamed over a
//! WebSocket. `cargo run --release` at the workspace root starts it.
//!
//! Routes, as in the seed: `/` and `/test.html` (the page, with its script
//! at `/plot.js`), `/test` (text), WebSocket `/echo` (echo) and WebSocket
//! `/data` (the points, `0 i r` per line, one per interval, then a normal
//! close), and with `--metrics` `/metrics` (Prometheus). Anything else is
//! a 404. Pages answer GET and HEAD, the
//! WebSocket endpoints GET; other methods get 405 with `Allow`. The
//! WebSockets accept only the demo's own page (see [`websocket_handler`]).

#[path = "../../examples/common/mod.rs"]
mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use greenws::http::StatusCode;
use greenws::proto::forwarded::TrustedProxies;
use greenws::{CloseCode, Request, Response, Upgrade, WebSocket, WebSocketHandler, WsgiServer};

const TEST_HTML: &str = include_str!("../../../assets/test.html");
const PLOT_JS: &str = include_str!("../../../assets/plot.js");

#[derive(Parser, Debug, Clone)]
#[command(
    about = "Plot of random numbers, streamed over a WebSocket (the gevent-websocket demo)",
    after_help = "The WebSockets (/echo, /data) accept only the demo's own page: on a loopback \
                  address, pages of that address or of localhost (with the port); otherwise, \
                  or with --trusted-proxy, pages of the host they were asked for. Other sites' pages get 403; clients \
                  without an Origin header (not browsers) are let in. SIGINT and SIGTERM stop \
                  gracefully (WebSockets closed with 1001, requests in flight given 5 s); \
                  a second signal exits at once. Under systemd socket activation \
                  (LISTEN_FDS=1, LISTEN_PID), the inherited socket (TCP or Unix) is served and \
                  --host/--port/--unix are ignored. With --unix PATH, the second line on stdout \
                  is a curl command instead of the page's URL (a browser cannot open a Unix socket)."
)]
struct Args {
    #[command(flatten)]
    listen: common::Listen,
    #[command(flatten)]
    runtime: common::Runtime,
    /// Do not open the page in a browser.
    #[arg(long)]
    no_browser: bool,
    /// Milliseconds between two points on /data.
    #[arg(long, default_value_t = 100)]
    interval_ms: u64,
    /// Points sent on /data before it closes.
    #[arg(long, default_value_t = 100)]
    points: u32,
    /// A reverse proxy (address or network, like 127.0.0.1 or 10.0.0.0/8,
    /// or `unix` for every peer on a Unix socket, as with --unix behind
    /// nginx) whose X-Forwarded-For, X-Forwarded-Proto and Forwarded
    /// headers give the client's address and scheme; repeatable. None by
    /// default.
    #[arg(long = "trusted-proxy", value_name = "CIDR|unix")]
    trusted_proxies: Vec<TrustedProxies>,
    /// Expect a PROXY protocol header (v1 or v2, from a TCP load balancer)
    /// at the start of every connection; only from --trusted-proxy
    /// addresses when some are given.
    #[arg(long)]
    proxy_protocol: bool,
    /// Serve Prometheus metrics (OpenMetrics text) at /metrics.
    #[arg(long)]
    metrics: bool,
}

/// The WebSocket handler class, admitting only the demo's own page (a page
/// of another site, open in the same browser, could otherwise use it).
/// Listening on a loopback address, the own origins are exactly that
/// address and `localhost`, so a page of another name that resolves here
/// (DNS rebinding) is refused too; on any other address, the page's host
/// must be the one the request asks for, as it must behind a reverse
/// proxy (`behind_proxy`: the page comes from the proxy's address).
fn websocket_handler(addr: SocketAddr, scheme: &str, behind_proxy: bool) -> WebSocketHandler {
    let handler = WebSocketHandler::new();
    if behind_proxy || !addr.ip().is_loopback() {
        return handler.same_origin();
    }
    let port = addr.port();
    handler.allowed_origins([
        format!("{scheme}://{addr}"),
        format!("{scheme}://localhost:{port}"),
    ])
}

/// The seed's `handle(ws)`: `/echo` echoes, `/data` streams the points.
fn handle(ws: &WebSocket, args: &Args) -> greenws::Result<()> {
    match ws.path() {
        "/echo" => {
            for message in ws.messages() {
                ws.send(message?)?;
            }
        }
        "/data" => {
            // The page acknowledges every point; a reader greenlet takes
            // those in (and notices a page that goes away) while this one
            // sends.
            let reader = {
                let ws = ws.clone();
                green::spawn(move || ws.messages().try_for_each(|ack| ack.map(drop)))
            };
            for i in 0..args.points {
                ws.send(format!("0 {i} {}\n", rand::random::<f64>()))?;
                green::sleep(Duration::from_millis(args.interval_ms));
            }
            ws.close(CloseCode::NORMAL, "all points sent")?;
            if let Ok(Err(e)) = reader.join() {
                log::debug!("/data from {}: {e}", ws.peer_addr());
            }
        }
        _ => {}
    }
    Ok(())
}

/// The seed's `app(environ, start_response)`.
fn app(req: &mut Request, args: &Args) -> Response {
    if let Some(allow) = allowed_methods(req.path(), args.metrics) {
        if !allow
            .split(", ")
            .any(|method| method == req.method().as_str())
        {
            return Response::text(format!("{} takes {allow} only\n", req.path()))
                .with_status(StatusCode::METHOD_NOT_ALLOWED)
                .with_header("allow", allow);
        }
    }
    match req.path() {
        "/" | "/test.html" => Response::html(TEST_HTML),
        "/plot.js" => Response::bytes("text/javascript; charset=utf-8", PLOT_JS.as_bytes()),
        "/test" => Response::bytes("text/plain", "Yes this is a test!".as_bytes()),
        "/echo" | "/data" => req.upgrade(|ws| handle(&ws, args)),
        "/metrics" if args.metrics => greenws::metrics::response(),
        _ => Response::text("Not Found\n").with_status(StatusCode::NOT_FOUND),
    }
}

/// The methods a route answers (its `Allow` header); `None`: no such route
/// (`/metrics` is one with `--metrics`).
fn allowed_methods(path: &str, metrics: bool) -> Option<&'static str> {
    match path {
        "/" | "/test.html" | "/plot.js" | "/test" => Some("GET, HEAD"),
        "/metrics" if metrics => Some("GET, HEAD"),
        "/echo" | "/data" => Some("GET"),
        _ => None,
    }
}

fn main() -> greenws::Result<()> {
    let args = Args::parse();
    let _logging = common::init_logging();
    args.runtime.apply()?;
    // Under systemd socket activation (LISTEN_FDS), the inherited socket.
    let server = match WsgiServer::from_listen_fds()? {
        Some(inherited) => args.listen.with_tls(inherited)?,
        None => args.listen.bind()?,
    };
    let server = server
        .trusted_proxies(
            args.trusted_proxies
                .iter()
                .cloned()
                .fold(TrustedProxies::none(), TrustedProxies::union),
        )
        .proxy_protocol(args.proxy_protocol);
    if args.metrics {
        greenws::metrics::enable();
    }
    let addr = server.local_addr();
    let behind_proxy = !args.trusted_proxies.is_empty();
    let server = server.handler_class(websocket_handler(addr, args.listen.scheme(), behind_proxy));
    let handle = {
        let args = args.clone();
        common::start_until_signal(server, args.listen.scheme(), move |req: &mut Request| {
            app(req, &args)
        })?
    };

    if handle.listen_addr().unix().is_some() {
        // `announce` printed the curl command; no browser opens a Unix socket.
        handle.wait();
        return Ok(());
    }
    let url = page_url(args.listen.scheme(), addr);
    // Printed in every case: a headless machine can report success from
    // `webbrowser::open` where nothing opens.
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "Open {url} in a browser");
    let _ = stdout.flush();
    drop(stdout);
    if !args.no_browser {
        if let Err(e) = webbrowser::open(&url) {
            log::warn!("could not open a browser ({e})");
        }
    }
    handle.wait();
    Ok(())
}

/// The page's URL: on an unspecified address (0.0.0.0, ::), the loopback
/// one of the same family, which a browser on this machine can open.
fn page_url(scheme: &str, mut addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("{scheme}://{addr}/")
}
