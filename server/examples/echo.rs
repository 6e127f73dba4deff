//! A WebSocket echo server on `/echo` (text and binary), as the seed's
//! `/echo` handler. Also the server the Autobahn TestSuite checks.
//!
//! ```text
//! cargo run --example echo -- --port 9001
//! ```

mod common;

use clap::Parser;
use greenws::http::StatusCode;
use greenws::{Request, Response, WebSocketHandler};

#[derive(Parser)]
#[command(about = "WebSocket echo on /echo")]
struct Args {
    #[command(flatten)]
    listen: common::Listen,
}

fn main() -> greenws::Result<()> {
    let args = Args::parse();
    let _logging = common::init_logging();
    let server = args.listen.bind()?.handler_class(WebSocketHandler::new());
    common::announce(args.listen.scheme(), server.local_addr());
    server.serve_forever(move |req: &mut Request| {
        if req.path() != "/echo" {
            return Response::text("Not Found\n").with_status(StatusCode::NOT_FOUND);
        }
        match req.websocket() {
            Some(ws) => {
                while let Ok(Some(message)) = ws.receive() {
                    if ws.send(message).is_err() {
                        break;
                    }
                }
                Response::upgraded()
            }
            None => Response::text("this is a WebSocket endpoint\n")
                .with_status(StatusCode::UPGRADE_REQUIRED)
                .with_header("upgrade", "websocket"),
        }
    })
}
