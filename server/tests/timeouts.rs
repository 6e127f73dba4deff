//! The timeouts of `Limits` over real sockets: what each one bounds, a
//! huge value meaning "no limit", and hostile clients that trickle.

mod support;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use greenws::http::StatusCode;
use greenws::{Limits, MinRate, Request, Response};
use support::{get, start_with, Client, Reply};

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
        linger_timeout: Duration::MAX,
        min_body_rate: Some(MinRate {
            bytes_per_second: 1,
            grace: Duration::MAX,
        }),
        min_response_rate: Some(MinRate {
            bytes_per_second: 1,
            grace: Duration::MAX,
        }),
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

/// Sends a request with a body of 1000 bytes, one every 20 ms (50
/// bytes/s), and reads the reply; also gives the bytes of the body sent by
/// then, and the connection.
fn trickle_body(addr: std::net::SocketAddr, path: &str) -> (Reply, usize, Client) {
    let mut c = Client::connect(addr);
    let mut stream = c.stream().try_clone().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let head = format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n");
    let sender = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            stream.write_all(head.as_bytes()).unwrap();
            let mut sent = 0;
            while sent < 1000 && !stop.load(Ordering::SeqCst) && stream.write_all(b"x").is_ok() {
                sent += 1;
                // Pacing the trickle, not waiting for an event.
                std::thread::sleep(Duration::from_millis(20));
            }
            sent
        })
    };
    let reply = c.reply();
    stop.store(true, Ordering::SeqCst);
    (reply, sender.join().unwrap(), c)
}

/// 1000 bytes/s after 300 ms of waiting, and the default per-wait
/// timeouts (30 s), so only the rate can cut a trickling client off.
fn rate_limits() -> Limits {
    let rate = MinRate {
        bytes_per_second: 1000,
        grace: Duration::from_millis(300),
    };
    Limits {
        min_body_rate: Some(rate),
        min_response_rate: Some(rate),
        linger_timeout: Duration::from_secs(10),
        ..Limits::default()
    }
}

#[test]
fn a_body_trickled_one_byte_at_a_time_is_cut_off_by_the_rate() {
    // Before: body_timeout restarted at every byte, so a byte every 20 ms
    // held the connection for as long as the client liked.
    let (seen, saw) = std::sync::mpsc::channel();
    let server = start_with(rate_limits(), move |req: &mut Request| {
        let result = req.read_body();
        seen.send(format!("{:?}", result.as_ref().map(Vec::len)))
            .unwrap();
        Response::text("read")
    });
    let (r, sent, mut c) = trickle_body(server.local_addr(), "/");
    assert_eq!(r.status, 408, "{}", r.text());
    assert_eq!(saw.recv().unwrap(), "Err(Timeout)");
    assert!(sent < 1000);
    assert!(c.is_closed());
}

#[test]
fn an_unread_body_trickled_in_is_drained_only_for_the_linger_time() {
    // The app does not read the body; the server drains it to keep the
    // connection, but a trickling body costs it at most linger_timeout.
    let limits = Limits {
        min_body_rate: None,
        linger_timeout: Duration::from_millis(300),
        ..rate_limits()
    };
    let server = start_with(limits, app);
    let (r, sent, mut c) = trickle_body(server.local_addr(), "/ignore-body");
    assert_eq!(r.text(), "did not read it");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(sent < 1000);
    assert!(c.is_closed());
}

#[test]
fn time_the_app_takes_between_reads_does_not_count_against_the_client() {
    let server = start_with(rate_limits(), |req: &mut Request| {
        let mut body = Vec::new();
        let mut piece = [0u8; 100];
        loop {
            // Well past the grace period, in the app, not the client.
            green::sleep(Duration::from_millis(100));
            match req.body().read(&mut piece) {
                Ok(0) => break,
                Ok(n) => body.extend_from_slice(&piece[..n]),
                Err(e) => {
                    return Response::text(e.to_string()).with_status(StatusCode::BAD_REQUEST)
                }
            }
        }
        Response::text(format!("{} bytes", body.len()))
    });
    let mut c = Client::connect(server.local_addr());
    let body = "y".repeat(600);
    let r = c.request(format!(
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 600\r\n\r\n{body}"
    ));
    assert_eq!((r.status, r.text().as_str()), (200, "600 bytes"));
}

/// Starts a server whose `/big` streams `chunks` chunks of 1 MiB and says
/// on `done` how many it produced when the server dropped the stream.
fn streaming_server(limits: Limits, chunks: usize) -> (greenws::ServerHandle, Receiver<usize>) {
    struct Produced(usize, Sender<usize>);
    impl Drop for Produced {
        fn drop(&mut self) {
            let _ = self.1.send(self.0);
        }
    }
    let (done, told) = std::sync::mpsc::channel();
    let server = start_with(limits, move |_req: &mut Request| {
        let mut produced = Produced(0, done.clone());
        Response::stream(
            "application/octet-stream",
            std::iter::from_fn(move || {
                // The whole guard, not just its count, lives in the stream.
                let produced = &mut produced;
                (produced.0 < chunks).then(|| {
                    produced.0 += 1;
                    vec![b'z'; 1 << 20]
                })
            }),
        )
    });
    (server, told)
}

#[test]
fn a_reader_that_trickles_is_cut_off_by_the_rate() {
    // 64 MiB offered; the client reads 1 KiB every 20 ms (50 KiB/s, far
    // below the minimum rate). What the kernel's buffers take in at once
    // counts too, so the cut comes after about (those bytes) / (the rate).
    // Before: only the 30 s per-write deadline, which a 1 MiB piece at
    // 50 KiB/s never reaches: the response went on for minutes.
    let limits = Limits {
        min_response_rate: Some(MinRate {
            bytes_per_second: 32 << 20,
            grace: Duration::from_millis(300),
        }),
        ..rate_limits()
    };
    let (server, told) = streaming_server(limits, 64);
    let mut c = Client::connect(server.local_addr());
    c.send(get("/big"));
    let mut stream = c.stream().try_clone().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while !stop.load(Ordering::SeqCst) && stream.read(&mut buf).is_ok_and(|n| n > 0) {
                // Pacing the trickle, not waiting for an event.
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let produced = told.recv_timeout(Duration::from_secs(20)).expect("cut off");
    stop.store(true, Ordering::SeqCst);
    assert!(
        (1..64).contains(&produced),
        "{produced} of 64 chunks produced"
    );
    reader.join().unwrap();
}

#[test]
fn a_reader_that_stops_is_cut_off_by_the_write_timeout() {
    let limits = Limits {
        write_timeout: Duration::from_millis(300),
        min_response_rate: None,
        ..Limits::default()
    };
    let (server, told) = streaming_server(limits, 64);
    let mut c = Client::connect(server.local_addr());
    c.send(get("/big"));
    // The client reads nothing.
    let produced = told.recv_timeout(Duration::from_secs(20)).expect("cut off");
    assert!(
        (1..64).contains(&produced),
        "{produced} of 64 chunks produced"
    );
}

#[test]
fn a_slow_reader_that_keeps_reading_gets_a_large_response_whole() {
    // 16 MiB in one piece, a write timeout of 1 s, and a client that takes
    // 1.6 s or so to read it all, a little at a time. Before: write_timeout
    // bounded the whole write, and cut this client off after 1 s.
    let limits = Limits {
        write_timeout: Duration::from_secs(1),
        min_response_rate: None,
        ..Limits::default()
    };
    let server = start_with(limits, |_req: &mut Request| {
        Response::bytes("application/octet-stream", vec![b'q'; 16 << 20])
    });
    let mut c = Client::connect(server.local_addr());
    c.send(get("/"));
    let mut stream = c.stream().try_clone().unwrap();
    let mut buf = vec![0u8; 32 * 1024];
    let mut total = 0;
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        total += n;
        if total >= 16 << 20 {
            break;
        }
        // Pacing the reader, not waiting for an event.
        std::thread::sleep(Duration::from_millis(3));
    }
    assert!(total >= 16 << 20, "cut off after {total} bytes");
}

#[test]
fn linger_ends_after_its_timeout_however_much_the_client_sends() {
    let limits = Limits {
        linger_timeout: Duration::from_millis(200),
        max_body: 1 << 40,
        ..Limits::default()
    };
    let server = start_with(limits, app);
    let mut c = Client::connect(server.local_addr());
    c.send("POST /close HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000\r\n\r\n");
    let mut stream = c.stream().try_clone().unwrap();
    // The client goes on sending its (huge) body; the server lingers, then
    // closes, and the client's writes fail.
    let sender = std::thread::spawn(move || {
        let block = vec![b'b'; 64 * 1024];
        let mut sent = 0usize;
        while sent < 1_000_000_000 {
            match stream.write(&block) {
                Ok(n) => sent += n,
                Err(_) => return true,
            }
        }
        false
    });
    let r = c.reply();
    assert_eq!(
        (r.text().as_str(), r.header("connection")),
        ("bye", Some("close"))
    );
    assert!(sender.join().unwrap(), "the server never closed");
}

#[test]
fn a_client_that_asked_to_close_is_not_lingered_on() {
    // A long linger: a connection that lingered would hold the stop below
    // for all of it.
    let limits = Limits {
        linger_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let server = start_with(limits, app);
    let mut c = Client::connect(server.local_addr());
    // The client says it sends nothing more, and reads the whole answer
    // (up to the server's end of stream), but keeps its socket open.
    c.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let mut reply = Vec::new();
    let mut stream = c.stream().try_clone().unwrap();
    stream.read_to_end(&mut reply).unwrap();
    assert!(reply.starts_with(b"HTTP/1.1 200 OK\r\n"), "{reply:?}");
    assert!(reply.ends_with(b"Hello, World!"));
    // Nothing is left running: the connection closed at once, it did not
    // read and discard for the linger time (it did, for every closing
    // response, before the server role decided persistence).
    assert!(
        server.stop(Duration::from_secs(5)),
        "the connection lingered"
    );
    drop(c);
}
