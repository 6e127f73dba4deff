//! The seed's demo: a page that plots random numbers streamed over a
//! WebSocket. `cargo run --release` at the workspace root starts it.
//!
//! Routes, as in the seed: `/` and `/test.html` (the page, with its script
//! at `/plot.js`), `/test` (text), WebSocket `/echo` (echo) and WebSocket
//! `/data` (the points, `0 i r` per line, one per interval, then a normal
//! close). Anything else is a 404.

#[path = "../../examples/common/mod.rs"]
mod common;

use std::time::Duration;

use clap::Parser;
use greenws::http::StatusCode;
use greenws::{Request, Response, WebSocket, WebSocketHandler};

const TEST_HTML: &str = include_str!("../../../assets/test.html");
const PLOT_JS: &str = include_str!("../../../assets/plot.js");

#[derive(Parser, Debug, Clone)]
#[command(about = "Plot of random numbers, streamed over a WebSocket (the gevent-websocket demo)")]
struct Args {
    #[command(flatten)]
    listen: common::Listen,
    /// Do not open the page in a browser.
    #[arg(long)]
    no_browser: bool,
    /// Milliseconds between two points on /data.
    #[arg(long, default_value_t = 100)]
    interval_ms: u64,
    /// Points sent on /data before it closes.
    #[arg(long, default_value_t = 100)]
    points: u32,
}

/// The seed's `handle(ws)`: `/echo` echoes, `/data` streams the points.
fn handle(ws: &WebSocket, args: &Args) {
    match ws.path() {
        "/echo" => {
            while let Ok(Some(message)) = ws.receive() {
                if ws.send(message).is_err() {
                    break;
                }
            }
        }
        "/data" => {
            // The page acknowledges every point; a reader greenlet takes
            // those in (and notices a page that goes away) while this one
            // sends.
            let reader = {
                let ws = ws.clone();
                green::spawn(move || while let Ok(Some(_)) = ws.receive() {})
            };
            for i in 0..args.points {
                let point = format!("0 {i} {}\n", rand::random::<f64>());
                if ws.send(point).is_err() {
                    break;
                }
                green::sleep(Duration::from_millis(args.interval_ms));
            }
            let _ = ws.close(1000, "all points sent");
            let _ = reader.join();
        }
        _ => {}
    }
}

/// The seed's `app(environ, start_response)`.
fn app(req: &mut Request, args: &Args) -> Response {
    match req.path() {
        "/" | "/test.html" => Response::html(TEST_HTML),
        "/plot.js" => Response::bytes("text/javascript; charset=utf-8", PLOT_JS.as_bytes()),
        "/test" => Response::bytes("text/plain", "Yes this is a test!".as_bytes()),
        "/echo" | "/data" => match req.websocket() {
            Some(ws) => {
                handle(&ws, args);
                Response::upgraded()
            }
            None => Response::text("this is a WebSocket endpoint\n")
                .with_status(StatusCode::UPGRADE_REQUIRED)
                .with_header("upgrade", "websocket"),
        },
        _ => Response::text("Not Found\n").with_status(StatusCode::NOT_FOUND),
    }
}

fn main() -> greenws::Result<()> {
    let args = Args::parse();
    let _logging = common::init_logging();
    let server = args.listen.bind()?.handler_class(WebSocketHandler::new());
    let addr = server.local_addr();
    common::announce(args.listen.scheme(), addr);
    let handle = {
        let args = args.clone();
        server.start(move |req: &mut Request| app(req, &args))?
    };

    let stopper = handle.stopper();
    if let Err(e) = ctrlc::set_handler(move || {
        log::warn!("stopping (Ctrl-C)");
        stopper.stop(Duration::from_secs(5));
    }) {
        log::warn!("Ctrl-C will not stop the server gracefully: {e}");
    }

    if !args.no_browser {
        let mut local = addr;
        if local.ip().is_unspecified() {
            local.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let url = format!("{}://{local}/", args.listen.scheme());
        if let Err(e) = webbrowser::open(&url) {
            log::warn!("could not open a browser ({e}); open {url} yourself");
        }
    }
    handle.wait();
    Ok(())
}
