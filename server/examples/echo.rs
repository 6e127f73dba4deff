//! A WebSocket echo server on `/echo` (text and binary), as the seed's
//! `/echo` handler. Also the server the Autobahn TestSuite checks.
//!
//! ```text
//! cargo run --example echo -- --port 9001
//! ```

mod common;

use clap::Parser;
use greenws::http::StatusCode;
use greenws::{Request, Response, Upgrade, WebSocketHandler};

#[derive(Parser)]
#[command(about = "WebSocket echo on /echo")]
struct Args {
    #[command(flatten)]
    listen: common::Listen,
    #[command(flatten)]
    runtime: common::Runtime,
}

/// `/echo` echoes every message back; anything else is a 404.
fn app(req: &mut Request) -> Response {
    match req.path() {
        "/echo" => req.upgrade(|ws| {
            for message in ws.messages() {
                ws.send(message?)?;
            }
            Ok(())
        }),
        _ => Response::text("Not Found\n").with_status(StatusCode::NOT_FOUND),
    }
}

fn main() -> greenws::Result<()> {
    let args = Args::parse();
    let _logging = common::init_logging();
    args.runtime.apply()?;
    let server = args.listen.bind()?.handler_class(WebSocketHandler::new());
    common::start_until_signal(server, args.listen.scheme(), app)?.wait();
    Ok(())
}
