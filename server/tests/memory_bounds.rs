//! Whatever a peer sends, one HTTP connection holds at most about its
//! configured limits in bytes: every buffer a client can grow is bounded,
//! and each bound is tried here at N and N+1 bytes over real sockets.

mod support;

use std::io::Write;
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
        _ => Response::text("Hello, World!"),
    }
}

/// Small limits, and a header timeout short enough that a test which
/// would wait for it (the bug) fails quickly instead of hanging.
fn limits() -> Limits {
    Limits {
        max_request_line: 200,
        max_header_bytes: 400,
        max_headers: 10,
        max_body: 3000,
        header_timeout: Duration::from_secs(3),
        ..Limits::default()
    }
}

#[test]
fn empty_lines_before_a_request_line_are_skipped_up_to_twenty_bytes() {
    let server = start_with(limits(), app);
    let mut c = Client::connect(server.local_addr());
    // 20 bytes of empty lines: skipped (RFC 9112 section 2.2).
    let r = c.request(format!("{}{}", "\r\n".repeat(10), get("/")));
    assert_eq!(r.status, 200);
    let r = c.request(format!("{}{}", "\n".repeat(20), get("/")));
    assert_eq!(r.status, 200);
    // 22 bytes: refused.
    let r = c.request(format!("{}{}", "\r\n".repeat(11), get("/")));
    assert_eq!(r.status, 400);
    assert!(r.text().contains("empty lines"), "{}", r.text());
    assert!(c.is_closed());
}

#[test]
fn a_flood_of_empty_lines_is_refused_at_once() {
    // Before the bound, the server kept reading `\r\n` (doubling its
    // buffer) until the header timeout, then answered 408.
    let server = start_with(limits(), app);
    let mut c = Client::connect(server.local_addr());
    let flood = "\r\n".repeat(32 * 1024);
    let mut writer = c.stream().try_clone().unwrap();
    // The server stops reading after a few bytes: write from a thread that
    // may meet a reset, and read the answer here.
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(flood.as_bytes());
    });
    let r = c.reply();
    assert_eq!(r.status, 400);
    assert!(c.is_closed());
    sender.join().unwrap();
}

#[test]
fn pipelined_requests_behind_a_response_are_all_answered_in_order() {
    // Far more pipelined requests than the read buffer holds: the server
    // reads them as it answers, never more than its head limit at a time.
    let server = start_with(limits(), app);
    let mut c = Client::connect(server.local_addr());
    let count = 3000;
    let mut writer = c.stream().try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let mut all = String::new();
        for i in 0..count {
            all.push_str(&get(&format!("/{i}")));
        }
        writer.write_all(all.as_bytes()).unwrap();
    });
    for _ in 0..count {
        assert_eq!(c.reply().status, 200);
    }
    sender.join().unwrap();
}
