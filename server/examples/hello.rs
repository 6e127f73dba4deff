//! The smallest useful server: `GET /` says hello, `POST /echo` answers the
//! request body, `GET /stream` streams ten chunks.
//!
//! ```text
//! cargo run --example hello -- --port 8000
//! curl http://127.0.0.1:8000/ ; curl -d 'hi' http://127.0.0.1:8000/echo
//! ```

mod common;

use clap::Parser;
use greenws::http::StatusCode;
use greenws::{Request, Response};

#[derive(Parser)]
#[command(about = "Hello, echo and a streamed response over HTTP/1.1")]
struct Args {
    #[command(flatten)]
    listen: common::Listen,
    #[command(flatten)]
    runtime: common::Runtime,
}

fn app(req: &mut Request) -> Response {
    match (req.method().as_str(), req.path()) {
        ("GET" | "HEAD", "/") => Response::text("Hello, World!"),
        ("POST", "/echo") => match req.read_body() {
            Ok(body) => Response::bytes("application/octet-stream", body),
            Err(e) => Response::text(format!("{e}\n")).with_status(StatusCode::BAD_REQUEST),
        },
        ("GET" | "HEAD", "/stream") => Response::stream(
            "text/plain; charset=utf-8",
            (1..=10).map(|i| format!("chunk {i} of 10\n").into_bytes()),
        ),
        (_, "/" | "/echo" | "/stream") => Response::new(StatusCode::METHOD_NOT_ALLOWED),
        _ => Response::text("Not Found\n").with_status(StatusCode::NOT_FOUND),
    }
}

fn main() -> greenws::Result<()> {
    let args = Args::parse();
    let _logging = common::init_logging();
    args.runtime.apply()?;
    let server = args.listen.bind()?;
    common::start_until_signal(server, args.listen.scheme(), app)?.wait();
    Ok(())
}
