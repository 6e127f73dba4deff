//! The WebSocket client (`greenws::connect`, `ClientBuilder`) against our
//! own server and against peers written out by hand: messages both ways,
//! what the handshake sends, and each way opening a connection can fail,
//! with the error that says so.

#[path = "support/raw_peer.rs"]
mod raw_peer;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use greenws::http::StatusCode;
use greenws::proto::http::client::{ResponseError, ResponseLimits};
use greenws::proto::websocket::{ClientHandshakeError, FrameHeader, OpCode};
use raw_peer::{accept_for, raw_peer, switch_protocols};

use greenws::{
    ClientBuilder, CloseCode, ConnectStep, DeflateConfig, Error, Message, NegotiationError,
    Request, Response, ServerHandle, Upgrade, WebSocketConfig, WebSocketHandler, WsgiServer,
};

/// Our server: `/echo` echoes, `/whoami` first sends what the handshake
/// carried (query, Origin, Authorization, Cookie, the subprotocol) and
/// then echoes, `/bye` closes with 4000 at once, anything else is a 404
/// with a body.
fn start_server() -> ServerHandle {
    WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .handler_class(WebSocketHandler::new().protocols(["chat.v2", "chat.v1"]))
        .start(|req: &mut Request| match req.path() {
            "/echo" | "/whoami" => req.upgrade(|ws| {
                if ws.path() == "/whoami" {
                    let request = ws.request();
                    ws.send(format!(
                        "query={:?} origin={:?} authorization={:?} session={:?} protocol={:?}",
                        request.query(),
                        request.origin(),
                        request.header("authorization"),
                        request.cookie("session"),
                        ws.protocol(),
                    ))?;
                }
                for message in ws.messages() {
                    ws.send(message?)?;
                }
                Ok(())
            }),
            "/bye" => req.upgrade(|ws| ws.close(4000, "see you")),
            _ => Response::text("no such room\n").with_status(StatusCode::NOT_FOUND),
        })
        .unwrap()
}

fn url(server: &ServerHandle, path: &str) -> String {
    format!("ws://{}{path}", server.local_addr())
}

#[test]
fn messages_go_both_ways_with_our_server() {
    let server = start_server();
    let ws = greenws::connect(url(&server, "/echo")).unwrap();
    assert_eq!(ws.peer_addr(), server.local_addr());
    assert_eq!(ws.path(), "/echo");
    assert_eq!(ws.protocol(), None);
    let big = "é".repeat(100_000); // 200 kB: several reads, several frames' worth
    for message in [
        Message::from("hello"),
        Message::from(""),
        Message::from(vec![0u8, 1, 2, 255]),
        Message::from(big),
        Message::from(vec![7u8; 70_000]),
    ] {
        ws.send(&message).unwrap();
        assert_eq!(ws.receive().unwrap(), Some(message.clone()));
        ws.try_send(&message).unwrap();
        assert_eq!(ws.receive().unwrap(), Some(message));
    }
    ws.ping("are you there").unwrap();
    ws.send("after the ping").unwrap();
    assert_eq!(ws.receive().unwrap(), Some(Message::from("after the ping")));
    ws.close(CloseCode::NORMAL, "done").unwrap();
    assert!(ws.closed());
    assert_eq!(ws.close_reason().unwrap().code, CloseCode::NORMAL);
    assert!(matches!(ws.send("late"), Err(Error::Closed)));
}

#[test]
fn the_handshake_carries_headers_query_and_subprotocols() {
    let server = start_server();
    let client = ClientBuilder::new(url(&server, "/whoami?room=1&token=abc"))
        .header("Origin", "https://example.com")
        .header("Authorization", "Bearer 7f3a")
        .header("Cookie", "session=s3cr3t; theme=dark")
        // The handshake's own headers cannot be replaced.
        .header("Sec-WebSocket-Key", "forged")
        .header("Host", "forged.example")
        .protocols(["chat.v1", "chat.v3"]);
    let ws = client.connect().unwrap();
    assert_eq!(
        ws.receive().unwrap(),
        Some(Message::from(
            "query=Some(\"room=1&token=abc\") origin=Some(\"https://example.com\") \
             authorization=Some(\"Bearer 7f3a\") session=Some(\"s3cr3t\") \
             protocol=Some(\"chat.v1\")"
        ))
    );
    assert_eq!(ws.protocol(), Some("chat.v1"));
    // The client's `request()` is the request it sent.
    assert_eq!(ws.request().query_param("room"), Some("1"));
    assert_eq!(ws.origin(), Some("https://example.com"));
    assert_eq!(
        ws.request().header("host"),
        Some(server.local_addr().to_string().as_str())
    );
    ws.close(CloseCode::NORMAL, "").unwrap();
    // One builder opens many connections.
    for _ in 0..3 {
        let ws = client.connect().unwrap();
        assert!(ws.receive().unwrap().is_some());
        ws.close(CloseCode::NORMAL, "").unwrap();
    }
}

#[test]
fn a_server_close_ends_receive_with_its_code() {
    let server = start_server();
    let ws = greenws::connect(url(&server, "/bye")).unwrap();
    assert_eq!(ws.receive().unwrap(), None);
    let reason = ws.close_reason().unwrap();
    assert_eq!(
        (reason.code.as_u16(), reason.reason.as_str()),
        (4000, "see you")
    );
}

#[test]
fn many_greenlets_each_with_a_connection_echo_at_once() {
    let server = start_server();
    let url = url(&server, "/echo");
    let clients: Vec<_> = (0..200)
        .map(|i| {
            let url = url.clone();
            green::spawn(move || -> Result<usize, Error> {
                let ws = greenws::connect(url)?;
                // A second greenlet sends while this one receives.
                let sender = {
                    let ws = ws.clone();
                    green::spawn(move || -> Result<(), Error> {
                        for n in 0..10 {
                            ws.send(format!("{i}:{n}"))?;
                        }
                        Ok(())
                    })
                };
                for n in 0..10 {
                    assert_eq!(ws.receive()?, Some(Message::from(format!("{i}:{n}"))));
                }
                sender.join().unwrap()?;
                ws.close(CloseCode::NORMAL, "")?;
                Ok(10)
            })
        })
        .collect();
    let echoed: usize = clients
        .into_iter()
        .map(|g| g.join().unwrap().unwrap())
        .sum();
    assert_eq!(echoed, 2000);
}

/// Holds a connection open without a word until the client goes.
fn hold(mut stream: TcpStream) {
    let _ = stream.read_to_end(&mut Vec::new());
}

#[test]
fn the_request_is_a_valid_websocket_handshake() {
    let (tx, rx) = std::sync::mpsc::channel();
    let addr = raw_peer(move |stream, head| {
        tx.send(head).unwrap();
        hold(stream);
    });
    let client = ClientBuilder::new(format!("ws://{addr}/path?q=1"))
        .handshake_timeout(Duration::from_millis(300));
    let _ = client.connect();
    let head = rx.recv().unwrap();
    let lines: Vec<&str> = head.lines().collect();
    assert_eq!(lines[0], "GET /path?q=1 HTTP/1.1");
    assert_eq!(lines[1], format!("Host: {addr}"));
    for expected in [
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Version: 13",
    ] {
        assert!(lines.contains(&expected), "{expected} in {head}");
    }
    // 16 random bytes, in base64.
    let key = lines
        .iter()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap();
    assert_eq!(key.len(), 24, "{key}");
    assert!(!lines
        .iter()
        .any(|l| l.starts_with("Sec-WebSocket-Protocol")));
    // permessage-deflate is offered, as browsers do.
    let offer = lines
        .iter()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Extensions: "))
        .expect("a permessage-deflate offer");
    assert!(
        offer.starts_with("permessage-deflate") && offer.contains("client_max_window_bits"),
        "{offer}"
    );
}

#[test]
fn compression_is_offered_and_used_unless_turned_off() {
    let server = start_server();
    let compressible = "{\"price\": 101.25, \"size\": 300} ".repeat(3000);
    for (deflate, agreed) in [
        (DeflateConfig::default(), true),
        (DeflateConfig::default().prefer_ratio(), true),
        (DeflateConfig::disabled(), false),
    ] {
        let ws = ClientBuilder::new(url(&server, "/echo"))
            .config(WebSocketConfig::default().deflate(deflate))
            .connect()
            .unwrap();
        match agreed {
            true => {
                let extensions = ws.extensions().expect("compression agreed");
                assert!(extensions.starts_with("permessage-deflate"), "{extensions}");
            }
            false => assert_eq!(ws.extensions(), None),
        }
        for message in [
            Message::from(compressible.clone()),
            Message::from("short"),
            Message::from(compressible.clone().into_bytes()),
        ] {
            ws.send(&message).unwrap();
            assert_eq!(ws.receive().unwrap(), Some(message));
        }
        ws.close(CloseCode::NORMAL, "").unwrap();
    }
}

/// A 101 that names these extensions (and accepts the key).
fn answer_with_extensions(extensions: &str) -> &'static str {
    Box::leak(
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {{accept}}\r\nSec-WebSocket-Extensions: {extensions}\r\n\r\n"
        )
        .into_boxed_str(),
    )
}

#[test]
fn an_extension_answer_the_client_cannot_accept_fails_the_connection() {
    for (extensions, expected) in [
        (
            "x-webkit-deflate-frame",
            NegotiationError::UnofferedExtension("x-webkit-deflate-frame".into()),
        ),
        (
            "permessage-deflate; server_max_window_bits=16",
            NegotiationError::InvalidValue {
                parameter: "server_max_window_bits",
                value: Some("16".into()),
            },
        ),
        (
            "permessage-deflate; mystery",
            NegotiationError::UnknownParameter("mystery".into()),
        ),
        (
            "permessage-deflate; server_max_window_bits=11, permessage-deflate; \
             server_max_window_bits=11",
            NegotiationError::DuplicateExtension,
        ),
        (
            // The default offer limits the server's window (to 11 bits).
            "permessage-deflate",
            NegotiationError::MissingParameter("server_max_window_bits"),
        ),
        (
            "permessage-deflate; server_max_window_bits=15",
            NegotiationError::WindowTooLarge {
                parameter: "server_max_window_bits",
                offered: 11,
                answered: 15,
            },
        ),
    ] {
        match connect_to_answer(answer_with_extensions(extensions), false) {
            Err(Error::DeflateNegotiation(e)) => assert_eq!(e, expected, "{extensions}"),
            other => panic!("{extensions}: {other:?}"),
        }
    }
    // Without an offer, any extension in the answer fails the connection.
    let addr = raw_peer(|mut stream, head| {
        let reply =
            answer_with_extensions("permessage-deflate").replace("{accept}", &accept_for(&head));
        stream.write_all(reply.as_bytes()).unwrap();
        hold(stream);
    });
    let result = ClientBuilder::new(format!("ws://{addr}/"))
        .config(WebSocketConfig::default().deflate(DeflateConfig::disabled()))
        .connect();
    match result {
        Err(Error::Handshake(e)) => assert_eq!(e, ClientHandshakeError::UnofferedExtensions),
        other => panic!("{other:?}"),
    }
}

#[test]
fn frames_sent_with_the_101_and_after_an_interim_response_are_received() {
    let addr = raw_peer(|mut stream, head| {
        let mut answer = format!(
            "HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n\
             HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            accept_for(&head)
        )
        .into_bytes();
        // Two frames in the same write as the 101.
        FrameHeader::new(OpCode::Text, 5, None).append_frame(b"first", &mut answer);
        FrameHeader::new(OpCode::Ping, 0, None).append_frame(b"", &mut answer);
        FrameHeader::new(OpCode::Text, 6, None).append_frame(b"second", &mut answer);
        stream.write_all(&answer).unwrap();
        hold(stream);
    });
    let ws = greenws::connect(format!("ws://{addr}/")).unwrap();
    assert_eq!(ws.receive().unwrap(), Some(Message::from("first")));
    assert_eq!(ws.receive().unwrap(), Some(Message::from("second")));
}

#[test]
fn every_frame_is_masked_with_a_fresh_key() {
    let (tx, rx) = std::sync::mpsc::channel();
    let addr = raw_peer(move |mut stream, head| {
        switch_protocols(&mut stream, &head);
        let mut received = Vec::new();
        let mut masks = Vec::new();
        let mut buf = [0u8; 4096];
        while masks.len() < 100 {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "the client went away");
            received.extend_from_slice(&buf[..n]);
            while let Ok(Some((header, len))) = FrameHeader::parse(&received) {
                let total = len + header.payload_len as usize;
                if received.len() < total {
                    break;
                }
                let mut payload = received[len..total].to_vec();
                let mask = header.mask.expect("a client's frames are masked");
                greenws::proto::websocket::apply_mask(&mut payload, mask, 0);
                assert_eq!(payload, b"same payload");
                masks.push(mask);
                received.drain(..total);
            }
        }
        tx.send(masks).unwrap();
        hold(stream);
    });
    let ws = greenws::connect(format!("ws://{addr}/")).unwrap();
    // From a greenlet, which may move between worker threads as it sends.
    let sender = {
        let ws = ws.clone();
        green::spawn(move || {
            for i in 0..100 {
                ws.send("same payload").unwrap();
                if i % 10 == 0 {
                    green::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    sender.join().unwrap();
    let mut masks = rx.recv().unwrap();
    masks.sort_unstable();
    masks.dedup();
    assert_eq!(masks.len(), 100, "100 frames, 100 different keys");
}

/// Connects to a raw peer that answers `answer` (and then holds the
/// connection, or closes it with `close`).
fn connect_to_answer(answer: &'static str, close: bool) -> Result<greenws::WebSocket, Error> {
    let addr = raw_peer(move |mut stream, head| {
        let answer = answer.replace("{accept}", &accept_for(&head));
        let _ = stream.write_all(answer.as_bytes());
        if !close {
            hold(stream);
        }
    });
    ClientBuilder::new(format!("ws://{addr}/"))
        .protocols(["a"])
        .handshake_timeout(Duration::from_secs(20))
        .connect()
}

#[test]
fn a_refusal_reports_its_status_headers_and_the_start_of_its_body() {
    let server = start_server();
    match greenws::connect(url(&server, "/no-such-room")) {
        Err(Error::HandshakeRefused {
            status, body_start, ..
        }) => {
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert_eq!(body_start, b"no such room\n");
        }
        other => panic!("{other:?}"),
    }
    // Chunked, with a header the caller may want.
    let chunked = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\n\
                   Transfer-Encoding: chunked\r\n\r\n6\r\nlog in\r\n6\r\n first\r\n0\r\n\r\n";
    match connect_to_answer(chunked, false) {
        Err(Error::HandshakeRefused {
            status,
            headers,
            body_start,
        }) => {
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert_eq!(headers["www-authenticate"], "Bearer");
            assert_eq!(body_start, b"log in first");
        }
        other => panic!("{other:?}"),
    }
    // A body without an end: its first KiB, without waiting for more than
    // a moment.
    let endless = Box::leak(
        format!(
            "HTTP/1.1 500 Oops\r\nContent-Type: text/plain\r\n\r\n{}",
            "x".repeat(5000)
        )
        .into_boxed_str(),
    );
    match connect_to_answer(endless, false) {
        Err(Error::HandshakeRefused {
            status, body_start, ..
        }) => {
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(body_start, vec![b'x'; 1024]);
        }
        other => panic!("{other:?}"),
    }
    // The error's message says it all.
    let refused = greenws::connect(url(&server, "/nope")).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "the server refused the WebSocket handshake: 404 Not Found (\"no such room\\n\")"
    );
}

#[test]
fn a_101_that_does_not_open_a_websocket_is_refused_with_its_reason() {
    let base = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
    let cases: [(&'static str, ClientHandshakeError); 4] = [
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
            ClientHandshakeError::WrongAcceptKey,
        ),
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            ClientHandshakeError::WrongAcceptKey,
        ),
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: b\r\n\r\n",
            ClientHandshakeError::UnofferedProtocol("b".into()),
        ),
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n",
            ClientHandshakeError::NoUpgradeWebSocket,
        ),
    ];
    assert!(cases[0].0.starts_with(base));
    for (answer, expected) in cases {
        match connect_to_answer(answer, false) {
            Err(Error::Handshake(e)) => assert_eq!(e, expected, "{answer}"),
            other => panic!("{answer}: {other:?}"),
        }
    }
}

#[test]
fn an_answer_that_is_not_http_or_too_large_or_cut_short_is_an_invalid_response() {
    match connect_to_answer("SSH-2.0-OpenSSH_9.6\r\n\r\n", false) {
        Err(Error::InvalidResponse(ResponseError::Malformed(_))) => {}
        other => panic!("{other:?}"),
    }
    match connect_to_answer("", true) {
        Err(Error::InvalidResponse(ResponseError::Truncated { received: 0 })) => {}
        other => panic!("{other:?}"),
    }
    match connect_to_answer("HTTP/1.1 101 Switching", true) {
        Err(Error::InvalidResponse(ResponseError::Truncated { received: 22 })) => {}
        other => panic!("{other:?}"),
    }
    // Interim responses without end: refused after 8.
    let interim = Box::leak("HTTP/1.1 102 Processing\r\n\r\n".repeat(9).into_boxed_str());
    match connect_to_answer(interim, false) {
        Err(Error::InvalidResponse(ResponseError::Malformed(why))) => {
            assert_eq!(why, "more than 8 interim responses")
        }
        other => panic!("{other:?}"),
    }
    // A head that never ends: refused at the limit, whatever follows.
    let addr = raw_peer(|mut stream, _| {
        let _ = stream.write_all(b"HTTP/1.1 101 Switching Protocols\r\n");
        let line = format!("X-Filler: {}\r\n", "f".repeat(1000));
        for _ in 0..2000 {
            if stream.write_all(line.as_bytes()).is_err() {
                return;
            }
        }
        hold(stream);
    });
    let limits = ResponseLimits {
        max_head_bytes: 16 * 1024,
        ..ResponseLimits::default()
    };
    let result = ClientBuilder::new(format!("ws://{addr}/"))
        .response_limits(limits)
        .connect();
    match result {
        Err(Error::InvalidResponse(ResponseError::HeadTooLarge { limit: 16384 })) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_closed_port_is_a_refused_connection() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // closed again
    let url = format!("ws://127.0.0.1:{port}/");
    match greenws::connect(&url) {
        Err(Error::Connect {
            url: u,
            addr,
            source,
        }) => {
            assert_eq!(u, url);
            assert_eq!(addr.port(), port);
            assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_host_that_does_not_resolve_is_a_dns_error() {
    // A label over DNS's 63 bytes: the resolver refuses it without a query.
    let host = format!("{}.test", "a".repeat(70));
    let url = format!("ws://{host}/");
    // From a greenlet (through the resolver threads) and from a thread.
    let from_greenlet = {
        let url = url.clone();
        green::spawn(move || greenws::connect(url)).join().unwrap()
    };
    for result in [from_greenlet, greenws::connect(&url)] {
        match result {
            Err(Error::Dns { host: h, .. }) => assert_eq!(h, host),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_silent_server_times_the_handshake_out_and_says_which_step() {
    let addr = raw_peer(|stream, _| hold(stream));
    let result = ClientBuilder::new(format!("ws://{addr}/"))
        .handshake_timeout(Duration::from_millis(200))
        .connect();
    match result {
        Err(Error::ConnectTimeout { step, timeout, .. }) => {
            assert_eq!(step, ConnectStep::WebSocketHandshake);
            assert_eq!(timeout, Duration::from_millis(200));
        }
        other => panic!("{other:?}"),
    }
    // A wss:// URL on a server that says nothing: the TLS handshake.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let result = ClientBuilder::new(format!("wss://localhost:{}/", addr.port()))
        .handshake_timeout(Duration::from_millis(200))
        .system_roots(false)
        .root_certificate(
            rcgen::generate_simple_self_signed(vec!["localhost".into()])
                .unwrap()
                .cert
                .der()
                .clone(),
        )
        .connect();
    match result {
        Err(Error::ConnectTimeout { step, .. }) => assert_eq!(step, ConnectStep::TlsHandshake),
        other => panic!("{other:?}"),
    }
    drop(listener);
}

#[test]
fn a_connection_that_is_never_accepted_times_out_connecting() {
    // A listener with a backlog of one that accepts nothing: once its
    // queue is full, the kernel drops further connection attempts.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.listen(1).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut queued = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let timeout = Duration::from_millis(300);
    loop {
        let client = ClientBuilder::new(format!("ws://{addr}/"))
            .connect_timeout(timeout)
            .handshake_timeout(Duration::from_millis(50));
        match client.connect() {
            Err(Error::ConnectTimeout {
                step: ConnectStep::Tcp,
                timeout: t,
                ..
            }) => {
                assert_eq!(t, timeout);
                break;
            }
            // Connected (the queue had room) and then no answer: fill on.
            Err(Error::ConnectTimeout {
                step: ConnectStep::WebSocketHandshake,
                ..
            }) => queued.push(()),
            other => panic!("{other:?}"),
        }
        assert!(Instant::now() < deadline, "never timed out connecting");
    }
}

#[test]
fn bad_urls_and_headers_are_refused_before_any_connection() {
    match greenws::connect("http://127.0.0.1:1/") {
        Err(Error::InvalidUrl { url, reason }) => {
            assert_eq!(url, "http://127.0.0.1:1/");
            assert_eq!(reason, "the scheme must be ws:// or wss://");
        }
        other => panic!("{other:?}"),
    }
    let bad_header = ClientBuilder::new("ws://127.0.0.1:1/")
        .header("Bad Name", "x")
        .connect();
    match bad_header {
        Err(Error::InvalidHeader { name }) => assert_eq!(name, "Bad Name"),
        other => panic!("{other:?}"),
    }
    let bad_value = ClientBuilder::new("ws://127.0.0.1:1/")
        .header("X-Injected", "a\r\nEvil: yes")
        .connect();
    assert!(matches!(bad_value, Err(Error::InvalidHeader { .. })));
}

#[test]
fn limits_of_the_config_hold_on_the_client() {
    let server = start_server();
    let client = ClientBuilder::new(url(&server, "/echo"))
        .config(WebSocketConfig::default().max_message_size(1000));
    let ws = client.connect().unwrap();
    ws.send("x".repeat(1000)).unwrap();
    assert_eq!(ws.receive().unwrap(), Some(Message::from("x".repeat(1000))));
    ws.send("x".repeat(1001)).unwrap();
    match ws.receive() {
        Err(Error::Protocol(e)) => assert_eq!(e.close_code(), CloseCode::MESSAGE_TOO_BIG),
        other => panic!("{other:?}"),
    }
}
