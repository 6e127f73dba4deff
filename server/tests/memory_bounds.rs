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

/// A chunked POST to /echo with this body (size lines, data, trailers).
fn chunked(body: &str) -> String {
    format!("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{body}")
}

/// Expects a 400 to `raw` and then a closed connection.
fn refused(addr: std::net::SocketAddr, raw: &str) {
    let mut c = Client::connect(addr);
    let r = c.request(raw);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(c.is_closed());
}

#[test]
fn chunk_size_line_limit_at_n_and_n_plus_one() {
    let server = start_with(limits(), app);
    // A size line of `len` bytes without its CRLF.
    let line = |len: usize| chunked(&format!("1;a={}\r\nx\r\n0\r\n\r\n", "v".repeat(len - 4)));
    let max = greenws::proto::http::chunked::MAX_SIZE_LINE;
    let mut c = Client::connect(server.local_addr());
    assert_eq!(c.request(line(max)).text(), "x");
    refused(server.local_addr(), &line(max + 1));
}

#[test]
fn chunk_extension_bytes_limit_at_n_and_n_plus_one() {
    let server = start_with(limits(), app);
    // Extensions of `total` bytes in all, in chunks of one byte.
    let body = |total: usize| {
        let mut out = String::new();
        let mut left = total;
        while left > 0 {
            let ext = left.min(4000);
            out.push_str(&format!("1;a={}\r\nx\r\n", "v".repeat(ext - 3)));
            left -= ext;
        }
        chunked(&(out + "0\r\n\r\n"))
    };
    let max = greenws::proto::http::chunked::MAX_EXTENSION_BYTES;
    let mut c = Client::connect(server.local_addr());
    assert_eq!(c.request(body(max)).text(), "xxxxx");
    refused(server.local_addr(), &body(max + 1));
}

#[test]
fn trailer_section_limit_at_n_and_n_plus_one() {
    // The trailer section is bounded like the header block: its lines with
    // their CRLF and the empty line that ends it, at most 400 bytes here.
    let server = start_with(limits(), app);
    let body = |v: usize| chunked(&format!("1\r\nx\r\n0\r\nX: {}\r\n\r\n", "v".repeat(v)));
    let mut c = Client::connect(server.local_addr());
    assert_eq!(c.request(body(400 - 7)).text(), "x");
    refused(server.local_addr(), &body(400 - 6));
}

#[test]
fn an_unread_body_is_drained_up_to_one_mib_to_keep_the_connection() {
    let limits = Limits {
        max_body: 4 << 20,
        ..limits()
    };
    let server = start_with(limits, app);
    let drain = 1 << 20;
    let with_length = |n: usize| {
        format!(
            "POST /ignore-body HTTP/1.1\r\nHost: t\r\nContent-Length: {n}\r\n\r\n{}",
            "d".repeat(n)
        )
    };
    let chunked = |n: usize| {
        format!(
            "POST /ignore-body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
             {n:x}\r\n{}\r\n0\r\n\r\n",
            "d".repeat(n)
        )
    };
    for request in [with_length, chunked] {
        // At the limit: drained, and the connection serves the next request.
        let mut c = Client::connect(server.local_addr());
        let r = c.request(request(drain));
        assert_eq!(r.header("connection"), None);
        assert_eq!(c.request(get("/")).text(), "Hello, World!");
        // One byte over: answered, then closed.
        let mut c = Client::connect(server.local_addr());
        let r = c.request(request(drain + 1));
        assert_eq!(
            (r.text().as_str(), r.header("connection")),
            ("did not read it", Some("close"))
        );
        assert!(c.is_closed());
    }
}

#[test]
fn expect_100_continue_over_the_body_limit_gets_413_and_no_100() {
    let server = start_with(limits(), app);
    let mut c = Client::connect(server.local_addr());
    let expect = |n: usize| {
        format!(
            "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: {n}\r\n\r\n"
        )
    };
    c.send(expect(3000));
    assert_eq!(c.reply().status, 100);
    c.send("e".repeat(3000));
    assert_eq!(c.reply().body.len(), 3000);
    c.send(expect(3001));
    let r = c.reply();
    assert_eq!(r.status, 413);
    assert!(c.is_closed());
}

#[test]
fn read_body_holds_no_more_than_the_body_limit() {
    // The buffer a body is read into is the body's size when it is known,
    // and never more than the limit (plus one byte) when it is chunked.
    let server = start_with(limits(), |req: &mut Request| match req.read_body() {
        Ok(body) => Response::text(format!("{} {}", body.len(), body.capacity())),
        Err(e) => Response::text(e.to_string()),
    });
    let mut c = Client::connect(server.local_addr());
    let r = c.request(format!(
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2500\r\n\r\n{}",
        "l".repeat(2500)
    ));
    assert_eq!(r.text(), "2500 2500");
    for n in [2999, 3000] {
        let r = c.request(format!(
            "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{n:x}\r\n{}\r\n0\r\n\r\n",
            "c".repeat(n)
        ));
        let (len, capacity) = r
            .text()
            .split_once(' ')
            .map(|(a, b)| (a.to_string(), b.parse::<u64>().unwrap()))
            .unwrap();
        assert_eq!(len, n.to_string());
        assert!(capacity <= 3001, "capacity {capacity} for a limit of 3000");
    }
}
