//! The HTTP/1.1 server over real sockets: features, limits at N and N+1,
//! malformed input, timeouts, panics, graceful stop.

mod support;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenws::http::StatusCode;
use greenws::{Error, Limits, Request, Response, WsgiServer};
use support::{get, start, start_with, Client};

/// Echoes the body, reports the request's details, or misbehaves on demand.
fn app(req: &mut Request) -> Response {
    match req.path() {
        "/" => Response::text("Hello, World!"),
        "/echo" => match req.read_body() {
            Ok(body) => Response::bytes("application/octet-stream", body),
            Err(e) => Response::text(e.to_string()).with_status(StatusCode::UNPROCESSABLE_ENTITY),
        },
        "/info" => Response::text(format!(
            "{} {} {:?} {:?} {}",
            req.method(),
            req.path(),
            req.query(),
            req.version(),
            req.headers().get_all("x-multi").iter().count()
        )),
        "/ignore-body" => Response::text("did not read it"),
        "/stream" => Response::stream(
            "text/plain",
            (0..10).map(|i| format!("part {i};").into_bytes()),
        ),
        "/empty-stream" => Response::stream("text/plain", std::iter::empty()),
        "/no-content" => Response::text("dropped").with_status(StatusCode::NO_CONTENT),
        "/not-modified" => Response::text("dropped").with_status(StatusCode::NOT_MODIFIED),
        "/close" => Response::text("bye").with_header("connection", "close"),
        "/panic" => panic!("the app panicked on purpose"),
        "/slow" => {
            green::sleep(Duration::from_millis(300));
            Response::text("slow done")
        }
        "/json" => Response::json(r#"{"ok":true}"#).with_header("x-custom", "a value"),
        "/html" => Response::html("<p>hi</p>"),
        _ => Response::new(StatusCode::NOT_FOUND),
    }
}

#[test]
fn port_zero_reports_the_real_port_and_a_used_port_is_an_error() {
    let server = start(app);
    assert_ne!(server.local_addr().port(), 0);
    match WsgiServer::bind(server.local_addr()) {
        Err(Error::Bind { source, .. }) => assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse),
        Err(other) => panic!("expected a bind error, got {other}"),
        Ok(_) => panic!("binding a used port must fail"),
    }
}

#[test]
fn get_with_automatic_length_and_date() {
    let server = start(app);
    let mut c = Client::connect(server.local_addr());
    let r = c.request(get("/"));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "Hello, World!");
    assert_eq!(r.header("content-length"), Some("13"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert!(r.header("date").is_some_and(|d| d.ends_with(" GMT")));
    assert_eq!(r.header("connection"), None);
}

#[test]
fn helpers_set_types_and_headers() {
    let server = start(app);
    let mut c = Client::connect(server.local_addr());
    let r = c.request(get("/json"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-custom"), Some("a value"));
    assert_eq!(r.text(), r#"{"ok":true}"#);
    let r = c.request(get("/html"));
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let r = c.request(get("/missing"));
    assert_eq!((r.status, r.header("content-length")), (404, Some("0")));
}

#[test]
fn request_details_reach_the_app() {
    let server = start(app);
    let mut c = Client::connect(server.local_addr());
    let r =
        c.request("GET /in%66o?a=1&b=%20 HTTP/1.1\r\nHost: t\r\nX-Multi: 1\r\nX-Multi: 2\r\n\r\n");
    assert_eq!(r.text(), "GET /info Some(\"a=1&b=%20\") HTTP/1.1 2");
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let server = start(app);
    let mut c = Client::connect(server.local_addr());
    for _ in 0..50 {
        assert_eq!(c.request(get("/")).status, 200);
    }
}

#[test]
fn three_pipelined_requests_in_one_write_are_answered_in_order() {
    let server = start(app);
    let mut c = Client::connect(server.local_addr());
    c.send(format!(
        "{}POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello{}",
        get("/info"),
        get("/")
    ));
    assert!(c.reply().text().starts_with("GET /info"));
    assert_eq!(c.reply().text(), "hello");
    assert_eq!(c.reply().text(), "Hello, World!");
}

#[test]
fn content_length_and_chunked_request_bodies() {
    let server = start(app);
    let mut c = Client::connect(server.local_addr());
    let r = c.request("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world");
    assert_eq!(r.text(), "hello world");
    let r = c.request(
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
    );
    assert_eq!(r.text(), "hello world");
    // The connection is still in step.
    assert_eq!(c.request(get("/")).status, 200);
}

#[test]
fn a_body_sent_in_pieces_arrives_whole() {
    // Each piece is sent once the app has read the data of the one before:
    // the server meets the body split inside data, inside and between size
    // lines, and before the last CRLF.
    let (got, read) = std::sync::mpsc::channel();
    let server = start(move |req: &mut Request| {
        let mut body = Vec::new();
        let mut piece = [0u8; 64];
        loop {
            match req.body().read(&mut piece) {
                Ok(0) => break,
                Ok(n) => {
                    body.extend_from_slice(&piece[..n]);
                    got.send(body.len()).unwrap();
                }
                Err(e) => return Response::text(e.to_string()),
            }
        }
        Response::bytes("text/plain", body)
    });
    let mut c = Client::connect(server.local_addr());
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    let mut expected = 0;
    for (piece, data) in [("3\r\na", 1), ("bc\r\n2", 2), ("\r\nd", 1), ("e\r\n0\r", 1)] {
        c.send(piece);
        expected += data;
        while read.recv().unwrap() < expected {}
    }
    c.send("\n\r\n");
    assert_eq!(c.reply().text(), "abcde");
}

#[test]
fn an_unread_body_is_drained_so_the_next_request_is_not_misparsed() {
    let server = start(app);
    let mut c = Client::connect(server.local_addr());
    let body = "GET /evil HTTP/1.1\r\nHost: t\r\n\r\n";
    let r = c.request(format!(
        "POST /ignore-body HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    assert_eq!(r.text(), "did not read it");
    let r = c.request(
        "POST /ignore-body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nGET \r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(c.request(get("/")).text(), "Hello, World!");
}

#[test]
fn streamed_response_is_chunked_for_http_1_1() {
    let server = start(app);
    let mut c = Client::connect(server.local_addr());
    let r = c.request(get("/stream"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.header("content-length"), None);
    let expected: String = (0..10).map(|i| format!("part {i};")).collect();
    assert_eq!(r.text(), expected);
    let r = c.request(get("/empty-stream"));
    assert!(r.body.is_empty());
    assert_eq!(
        c.request(get("/")).status,
        200,
        "still in step after streams"
    );
}

#[test]
fn http_1_0_closes_by_default_and_streams_until_close() {
    let server = start(app);
    let mut c = Client::connect(server.local_addr());
    let r = c.request("GET / HTTP/1.0\r\n\r\n");
    assert_eq!(r.text(), "Hello, World!");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.is_closed());

    let mut c = Client::connect(server.local_addr());
    let r = c.request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(r.header("connection"), Some("keep-alive"));
    let r = c.request("GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(r.text().ends_with("part 9;"));
}

#[test]
fn head_gets_headers_only() {
    let server = start(app);
    let mut c = Client::connect(server.local_addr());
    c.send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.head_reply();
    assert_eq!(r.header("content-length"), Some("13"));
    assert!(r.body.is_empty());
    c.send("HEAD /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.head_reply();
    assert_eq!(r.status, 200);
    // Nothing else was sent: the next response follows at once.
    assert_eq!(c.request(get("/")).text(), "Hello, World!");
}

#[test]
fn no_content_and_not_modified_carry_no_body() {
    let server = start(app);
    let mut c = Client::connect(server.local_addr());
    for path in ["/no-content", "/not-modified"] {
        let r = c.request(get(path));
        assert!(r.status == 204 || r.status == 304);
        assert_eq!(r.header("content-length"), None);
    }
    assert_eq!(c.request(get("/")).text(), "Hello, World!");
}

#[test]
fn expect_100_continue_is_answered_on_the_first_read() {
    let server = start(app);
    let mut c = Client::connect(server.local_addr());
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    let interim = c.reply();
    assert_eq!(interim.status, 100);
    c.send("data");
    assert_eq!(c.reply().text(), "data");

    // An app that never reads gets no 100 sent; the connection then closes.
    c.send("POST /ignore-body HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    let r = c.reply();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
}

#[test]
fn connection_close_is_honoured_both_ways() {
    let server = start(app);
    let mut c = Client::connect(server.local_addr());
    let r = c.request("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.is_closed());
    let mut c = Client::connect(server.local_addr());
    let r = c.request(get("/close"));
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.is_closed());
}

fn limits() -> Limits {
    Limits {
        max_request_line: 1000,
        max_header_bytes: 2000,
        max_headers: 20,
        max_body: 3000,
        ..Limits::default()
    }
}

#[test]
fn request_line_limit_at_n_and_n_plus_one() {
    let server = start_with(limits(), app);
    let line = |len: usize| {
        let path_len = len - "GET  HTTP/1.1".len();
        format!(
            "GET /{} HTTP/1.1\r\nHost: t\r\n\r\n",
            "a".repeat(path_len - 1)
        )
    };
    let mut c = Client::connect(server.local_addr());
    assert_eq!(c.request(line(1000)).status, 404);
    let r = c.request(line(1001));
    assert_eq!(r.status, 414);
    assert!(c.is_closed());
}

#[test]
fn header_block_limit_at_n_and_n_plus_one() {
    let server = start_with(limits(), app);
    // Block: "Host: t\r\n" (9) + "X: v...\r\n" (5 + n) + "\r\n" (2).
    let request = |n: usize| format!("GET / HTTP/1.1\r\nHost: t\r\nX: {}\r\n\r\n", "v".repeat(n));
    let mut c = Client::connect(server.local_addr());
    assert_eq!(c.request(request(2000 - 16)).status, 200);
    let r = c.request(request(2000 - 15));
    assert_eq!(r.status, 431);
    assert!(c.is_closed());
}

#[test]
fn header_count_limit_at_n_and_n_plus_one() {
    let server = start_with(limits(), app);
    let request = |n: usize| {
        let mut raw = String::from("GET / HTTP/1.1\r\nHost: t\r\n");
        for i in 1..n {
            raw.push_str(&format!("X-{i}: v\r\n"));
        }
        raw + "\r\n"
    };
    let mut c = Client::connect(server.local_addr());
    assert_eq!(c.request(request(20)).status, 200);
    assert_eq!(c.request(request(21)).status, 431);
}

#[test]
fn body_limit_at_n_and_n_plus_one() {
    let server = start_with(limits(), app);
    let post = |n: usize| {
        format!(
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {n}\r\n\r\n{}",
            "b".repeat(n)
        )
    };
    let mut c = Client::connect(server.local_addr());
    assert_eq!(c.request(post(3000)).body.len(), 3000);
    let r = c.request(post(3001));
    assert_eq!(r.status, 413);
    assert_eq!(r.header("connection"), Some("close"));

    // Chunked: refused while the app reads.
    let chunked = |n: usize| {
        format!(
            "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{n:x}\r\n{}\r\n0\r\n\r\n",
            "c".repeat(n)
        )
    };
    let mut c = Client::connect(server.local_addr());
    assert_eq!(c.request(chunked(3000)).body.len(), 3000);
    let r = c.request(chunked(3001));
    assert_eq!(r.status, 413);
    assert!(c.is_closed());
}

#[test]
fn malformed_and_ambiguous_requests_get_an_error_and_a_close() {
    let server = start(app);
    let cases = [
        ("GARBAGE\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            501,
        ),
        ("GET / HTTP/3.0\r\nHost: t\r\n\r\n", 505),
        ("GET / HTTP/1.1\r\nHost: t\r\nBad Name: v\r\n\r\n", 400),
        (
            "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
        ),
    ];
    for (raw, status) in cases {
        let mut c = Client::connect(server.local_addr());
        let r = c.request(raw);
        assert_eq!(r.status, status, "{raw:?}");
        assert!(r.text().len() > 5, "an explanation is sent");
        assert!(c.is_closed(), "closed after {raw:?}");
    }
}

#[test]
fn a_trickling_client_is_cut_off_while_others_are_served() {
    let limits = Limits {
        header_timeout: Duration::from_millis(400),
        ..Limits::default()
    };
    let server = start_with(limits, app);
    let addr = server.local_addr();
    // A head that never ends, a byte every 20 ms: header_timeout bounds the
    // whole head, however steadily its bytes come.
    let mut slow = Client::connect(addr);
    slow.send("GET / HTTP/1.1\r\nHost: t\r\n");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trickler = {
        let (mut stream, stop) = (slow.stream().try_clone().unwrap(), stop.clone());
        std::thread::spawn(move || {
            let mut sent = 0;
            while !stop.load(Ordering::SeqCst) && stream.write_all(b"X-Slow: a\r\n").is_ok() {
                sent += 1;
                // Pacing the trickle, not waiting for an event.
                std::thread::sleep(Duration::from_millis(20));
            }
            sent
        })
    };
    // Meanwhile another client is answered, many times.
    let mut c = Client::connect(addr);
    for _ in 0..20 {
        assert_eq!(c.request(get("/")).status, 200);
    }
    let reply = slow.read_reply(false).map(|r| r.status);
    stop.store(true, Ordering::SeqCst);
    assert_eq!(reply.ok(), Some(408), "the slow client got a timeout");
    trickler.join().unwrap();
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_its_timeout() {
    let limits = Limits {
        keep_alive_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let server = start_with(limits, app);
    let mut c = Client::connect(server.local_addr());
    assert_eq!(c.request(get("/")).status, 200);
    let t = Instant::now();
    assert!(c.is_closed());
    assert!(t.elapsed() >= Duration::from_millis(150));
}

#[test]
fn an_app_panic_is_a_500_and_the_server_keeps_serving() {
    let server = start(app);
    let mut c = Client::connect(server.local_addr());
    let r = c.request(get("/panic"));
    assert_eq!(r.status, 500);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.is_closed());
    let mut c = Client::connect(server.local_addr());
    assert_eq!(c.request(get("/")).text(), "Hello, World!");
}

#[test]
fn graceful_stop_lets_a_request_in_flight_finish() {
    let (started, slow_started) = std::sync::mpsc::channel();
    let server = start(move |req: &mut Request| {
        if req.path() == "/slow" {
            started.send(()).unwrap();
        }
        app(req)
    });
    let addr = server.local_addr();
    let in_flight = std::thread::spawn(move || {
        let mut c = Client::connect(addr);
        c.request(get("/slow")).text()
    });
    // An idle keep-alive connection is closed by the stop.
    let mut idle = Client::connect(addr);
    assert_eq!(idle.request(get("/")).status, 200);
    // Stop once the slow request is being served.
    slow_started.recv().unwrap();
    assert!(server.stop(Duration::from_secs(5)), "stopped gracefully");
    assert_eq!(in_flight.join().unwrap(), "slow done");
    assert!(idle.is_closed());
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "no longer listening"
    );
}

#[test]
fn spawn_bounds_the_open_connections() {
    let release = green::Event::new();
    let served = Arc::new(AtomicUsize::new(0));
    let (serving, now_serving) = std::sync::mpsc::channel();
    let server = {
        let (release, served) = (release.clone(), served.clone());
        WsgiServer::bind("127.0.0.1:0")
            .unwrap()
            .spawn(2)
            .start(move |_req: &mut Request| {
                served.fetch_add(1, Ordering::SeqCst);
                serving.send(()).unwrap();
                release.wait();
                Response::text("released")
            })
            .unwrap()
    };
    let addr = server.local_addr();
    let clients: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                c.request("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                    .text()
            })
        })
        .collect();
    now_serving.recv().unwrap();
    now_serving.recv().unwrap();
    // The third client connected (the kernel queues it) but is not accepted:
    // a server that ignored the bound would serve it within this time (a
    // bounded wait for something that must not happen; no event says so).
    assert!(now_serving
        .recv_timeout(Duration::from_millis(200))
        .is_err());
    assert_eq!(server.connections(), 2);
    assert_eq!(served.load(Ordering::SeqCst), 2);
    release.set();
    for c in clients {
        assert_eq!(c.join().unwrap(), "released");
    }
    assert_eq!(served.load(Ordering::SeqCst), 3);
}

#[test]
fn a_client_that_vanishes_mid_request_does_not_disturb_the_server() {
    let server = start(app);
    for raw in [
        &b"GET / HT"[..],
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nshort",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    ] {
        let mut s = std::net::TcpStream::connect(server.local_addr()).unwrap();
        s.write_all(raw).unwrap();
        drop(s);
    }
    let mut c = Client::connect(server.local_addr());
    assert_eq!(c.request(get("/")).status, 200);
}

#[test]
fn a_body_read_error_reaches_the_app_as_a_greenws_error() {
    let (seen, saw) = std::sync::mpsc::channel();
    let server = start_with(limits(), move |req: &mut Request| {
        let result = req.read_body();
        let text = format!("{:?}", result.as_ref().map(Vec::len));
        seen.send(result.map(|_| ())).unwrap();
        Response::text(text)
    });
    let mut c = Client::connect(server.local_addr());
    c.send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    let mut body = format!("{:x}\r\n", 4000).into_bytes();
    body.extend(std::iter::repeat_n(b'x', 4000));
    body.extend_from_slice(b"\r\n0\r\n\r\n");
    c.send(body);
    // The server answers 413 whatever the app returned.
    let r = c.reply();
    assert_eq!(r.status, 413);
    assert!(c.is_closed());
    // The app got the error itself, as a greenws::Error it can match.
    match saw.recv().unwrap() {
        Err(Error::BodyTooLarge { limit: 3000 }) => {}
        other => panic!("the app saw {other:?}"),
    }
}
