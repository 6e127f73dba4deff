//! The timeouts of `Limits` over real sockets: what each one bounds, a
//! huge value meaning "no limit", and hostile clients that trickle.

mod support;

use std::io::Read;
use std::time::Duration;

use greenws::http::StatusCode;
use greenws::{Limits, Request, Response};
use support::{get, start_with, Client};

fn app(req: &mut Request) -> Response {
    match req.path() {
        "/echo" => match req.read_body() {
            Ok(body) => Response::bytes("application/octet-stream", body),
            Err(e) => Response::text(e.to_string()).with_status(StatusCode::UNPROCESSABLE_ENTITY),
        },
        "/ignore-body" => Response::text("did not read it"),
        "/close" => Response::text("bye").with_header("connection", "close"),
        "/stream" => Response::stream("text/plain", (0..3).map(|i| format!("{i};").into_bytes())),
        _ => Response::text("Hello, World!"),
    }
}

#[test]
fn duration_max_in_every_timeout_means_no_limit() {
    let limits = Limits {
        header_timeout: Duration::MAX,
        keep_alive_timeout: Duration::MAX,
        body_timeout: Duration::MAX,
        write_timeout: Duration::MAX,
        ..Limits::default()
    };
    let server = start_with(limits, app);
    let mut c = Client::connect(server.local_addr());
    // Idle wait, head, body, drain, 100-continue, streamed response.
    assert_eq!(c.request(get("/")).text(), "Hello, World!");
    let r = c.request("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(r.text(), "hello");
    let r = c.request(
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    );
    assert_eq!(r.text(), "hi");
    let r = c.request("POST /ignore-body HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(r.text(), "did not read it");
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    assert_eq!(c.reply().status, 100);
    c.send("ok");
    assert_eq!(c.reply().text(), "ok");
    assert_eq!(c.request(get("/stream")).text(), "0;1;2;");
    // A closing connection with a body still unread lingers.
    let r = c.request("POST /close HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc");
    assert_eq!(r.text(), "bye");
    let mut rest = Vec::new();
    let mut stream = c.stream().try_clone().unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}
