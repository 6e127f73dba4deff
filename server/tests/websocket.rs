//! WebSocket over real sockets: the handshake, messages, full duplex, limits,
//! close codes, the heartbeat, server stop.

mod support;
#[path = "support/ws.rs"]
mod ws;

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use greenws::http::StatusCode;
use greenws::{
    Error, Message, Request, Response, ServerHandle, Upgrade, WebSocket, WebSocketConfig,
    WebSocketHandler, WsgiServer,
};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use ws::{connect, connect_with, Raw};

/// What the apps below report back to the test.
type Reports = green::Queue<String>;

fn start(handler: WebSocketHandler, reports: Reports) -> ServerHandle {
    WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .handler_class(handler)
        .start(move |req: &mut Request| app(req, &reports))
        .unwrap()
}

fn echo(ws: &WebSocket) -> Result<(), Error> {
    while let Some(message) = ws.receive()? {
        ws.send(message)?;
    }
    Ok(())
}

fn app(req: &mut Request, reports: &Reports) -> Response {
    if req.path() == "/refuse" {
        return Response::new(StatusCode::NOT_FOUND);
    }
    if !req.is_websocket() {
        return Response::text(format!("plain request to {}", req.path()));
    }
    req.upgrade(|ws| {
        session(&ws, reports);
        Ok(())
    })
}

/// What each path does with its socket.
fn session(ws: &WebSocket, reports: &Reports) {
    match ws.path() {
        "/echo" => {
            let result = echo(ws);
            reports.put(format!("echo ended: {result:?}, closed {}", ws.closed()));
        }
        "/info" => {
            let text = format!(
                "{} {:?} {:?} {}",
                ws.path(),
                ws.origin(),
                ws.protocol(),
                ws.peer_addr().ip()
            );
            let _ = ws.send(text);
            let _ = ws.receive();
        }
        "/types" => {
            let _ = ws.send("str");
            let _ = ws.send(String::from("String"));
            let _ = ws.send(vec![1u8, 2]);
            let _ = ws.send(&[3u8][..]);
            let _ = ws.send(Message::Text(String::new()));
            let _ = ws.receive();
        }
        "/return" => {
            let _ = ws.send("bye");
        }
        "/panic" => {
            let _ = ws.send("about to panic");
            panic!("the app panicked on purpose");
        }
        "/close" => {
            let closed = ws.close(4000, "done here");
            let after = ws.receive();
            reports.put(format!("close: {closed:?}, then {after:?}"));
        }
        "/duplex" => duplex(ws, reports),
        "/stream" => {
            // Sends until the connection ends, and never receives.
            let mut i = 0u64;
            while ws.send(format!("item {i}")).is_ok() {
                i += 1;
                green::sleep(Duration::from_millis(1));
            }
        }
        "/wait" => {
            let result = ws.receive();
            reports.put(format!("{result:?}"));
        }
        "/close-with" => {
            // Closes with the code the client asks for in a text message.
            if let Ok(Some(Message::Text(code))) = ws.receive() {
                let closed = ws.close(code.parse::<u16>().unwrap(), "as asked");
                reports.put(format!("close {code}: {closed:?}"));
            }
        }
        _ => {}
    }
}

/// 50 greenlets send on one socket while this one blocks in receive.
fn duplex(ws: &WebSocket, reports: &Reports) {
    let senders: Vec<_> = (0..50)
        .map(|s| {
            let ws = ws.clone();
            green::spawn(move || {
                for m in 0..40 {
                    let body = format!("sender {s:02} message {m:02} ").repeat(10);
                    ws.send(body).unwrap();
                }
            })
        })
        .collect();
    let got = ws.receive();
    reports.put(format!("receiver got {got:?}"));
    green::join_all(&senders, None);
    let _ = ws.send("all sent");
    let _ = ws.receive();
}

fn handler() -> WebSocketHandler {
    WebSocketHandler::new().protocols(["chat.v2", "chat.v1"])
}

fn server() -> (ServerHandle, Reports) {
    let reports = Reports::unbounded();
    (start(handler(), reports.clone()), reports)
}

fn report(reports: &Reports) -> String {
    reports
        .get_timeout(Duration::from_secs(10))
        .expect("the app reports")
}

#[test]
fn echo_text_binary_and_empty_messages() {
    let (server, reports) = server();
    let mut client = connect(server.local_addr(), "/echo");
    let messages = [
        tungstenite::Message::text("héllo"),
        tungstenite::Message::binary(vec![0u8, 1, 2, 255]),
        tungstenite::Message::text(""),
        tungstenite::Message::binary(Vec::<u8>::new()),
        tungstenite::Message::text("x".repeat(100_000)),
    ];
    for message in messages {
        client.send(message.clone()).unwrap();
        assert_eq!(client.read().unwrap(), message);
    }
    client.close(None).unwrap();
    while client.read().is_ok() {}
    assert_eq!(report(&reports), "echo ended: Ok(()), closed true");
}

#[test]
fn send_accepts_text_and_bytes_of_every_kind() {
    let (server, _) = server();
    let mut client = connect(server.local_addr(), "/types");
    let got: Vec<_> = (0..5).map(|_| client.read().unwrap()).collect();
    assert_eq!(
        got,
        vec![
            tungstenite::Message::text("str"),
            tungstenite::Message::text("String"),
            tungstenite::Message::binary(vec![1, 2]),
            tungstenite::Message::binary(vec![3]),
            tungstenite::Message::text(""),
        ]
    );
}

#[test]
fn handshake_details_and_subprotocol_choice() {
    let (server, _) = server();
    let addr = server.local_addr();
    let (mut client, response) = connect_with(
        addr,
        "/info",
        &[
            ("Origin", "http://example.test"),
            ("Sec-WebSocket-Protocol", "chat.v3, chat.v1, chat.v2"),
        ],
    )
    .unwrap();
    // The first protocol the client offered that the server speaks.
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "chat.v1"
    );
    let text = client.read().unwrap().into_text().unwrap();
    assert_eq!(
        text.as_str(),
        "/info Some(\"http://example.test\") Some(\"chat.v1\") 127.0.0.1"
    );

    // No common protocol: none is echoed (tungstenite's client refuses that,
    // so ask by hand).
    let reply = raw_request(
        addr,
        "GET /info HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: other\r\n\r\n",
    );
    assert_eq!(reply.status, 101);
    assert_eq!(reply.header("sec-websocket-protocol"), None);
}

fn raw_request(addr: std::net::SocketAddr, raw: &str) -> support::Reply {
    let mut client = support::Client::connect(addr);
    client.request(raw)
}

#[test]
fn malformed_handshakes_are_refused() {
    let (server, _) = server();
    let addr = server.local_addr();
    let good = "Host: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let cases = [
        (format!("GET /echo HTTP/1.1\r\n{good}\r\n"), 426),
        (format!("GET /echo HTTP/1.1\r\n{good}Sec-WebSocket-Version: 8\r\n\r\n"), 426),
        (format!("POST /echo HTTP/1.1\r\n{good}Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"), 400),
        (format!("GET /echo HTTP/1.0\r\n{good}Sec-WebSocket-Version: 13\r\n\r\n"), 400),
        (
            "GET /echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                .to_string(),
            400,
        ),
        (
            "GET /echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n"
                .to_string(),
            400,
        ),
        (
            "GET /echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
                .to_string(),
            400,
        ),
    ];
    for (raw, status) in cases {
        let reply = raw_request(addr, &raw);
        assert_eq!(reply.status, status, "{raw}");
        if status == 426 {
            assert_eq!(reply.header("sec-websocket-version"), Some("13"));
        }
    }
}

#[test]
fn an_app_that_does_not_take_the_socket_answers_normally() {
    let (server, _) = server();
    match connect_with(server.local_addr(), "/refuse", &[]) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 404),
        other => panic!("expected a 404, got {other:?}"),
    }
}

#[test]
fn without_the_websocket_handler_an_upgrade_is_a_plain_request() {
    let reports = Reports::unbounded();
    let server = WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .start(move |req: &mut Request| app(req, &reports))
        .unwrap();
    let reply = raw_request(
        server.local_addr(),
        "GET /echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "plain request to /echo")
    );
}

#[test]
fn the_origin_check_refuses_with_403() {
    let reports = Reports::unbounded();
    let handler =
        WebSocketHandler::new().check_origin(|origin| origin == Some("https://good.test"));
    let server = start(handler, reports);
    let addr = server.local_addr();
    assert!(connect_with(addr, "/echo", &[("Origin", "https://good.test")]).is_ok());
    match connect_with(addr, "/echo", &[("Origin", "https://evil.test")]) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected a 403, got {other:?}"),
    }
}

#[test]
fn fifty_senders_and_a_blocked_receiver_share_one_socket() {
    let (server, reports) = server();
    let mut client = connect(server.local_addr(), "/duplex");
    let mut next: HashMap<usize, usize> = HashMap::new();
    for _ in 0..50 * 40 {
        let text = client.read().unwrap().into_text().unwrap();
        // Every message is whole: ten copies of one "sender S message M ".
        let unit = &text[.."sender 00 message 00 ".len()];
        assert_eq!(text.as_str(), unit.repeat(10), "a message arrived intact");
        let sender: usize = unit[7..9].parse().unwrap();
        let number: usize = unit[18..20].parse().unwrap();
        let expected = next.entry(sender).or_insert(0);
        assert_eq!(number, *expected, "each sender's messages in order");
        *expected += 1;
    }
    assert_eq!(next.len(), 50);
    // The receiver was blocked all along and still gets the client's message.
    client.send(tungstenite::Message::text("done")).unwrap();
    assert_eq!(report(&reports), "receiver got Ok(Some(Text(\"done\")))");
    assert_eq!(
        client.read().unwrap(),
        tungstenite::Message::text("all sent")
    );
}

#[test]
fn pings_are_answered_while_the_app_only_sends() {
    let (server, _) = server();
    let mut raw = Raw::connect(server.local_addr(), "/stream");
    assert_eq!(raw.read_frame().unwrap().0, 0x81);
    raw.send_frame(0x89, b"are you there", true);
    // The app never receives: only a send can have answered.
    let pong = loop {
        match raw.read_frame().unwrap() {
            (0x81, _) => continue,
            other => break other,
        }
    };
    assert_eq!(pong, (0x8A, b"are you there".to_vec()));
    // And the app goes on sending.
    assert_eq!(raw.read_frame().unwrap().0, 0x81);
}

#[test]
fn a_peer_close_ends_receive_with_none() {
    let (server, reports) = server();
    let mut client = connect(server.local_addr(), "/wait");
    client
        .close(Some(CloseFrame {
            code: CloseCode::Away,
            reason: "leaving".into(),
        }))
        .unwrap();
    // The server answers the close, echoing the code.
    loop {
        match client.read() {
            Ok(tungstenite::Message::Close(Some(frame))) => {
                assert_eq!(frame.code, CloseCode::Away);
                break;
            }
            Ok(_) => {}
            Err(e) => panic!("no close reply: {e}"),
        }
    }
    assert_eq!(report(&reports), "Ok(None)");
}

#[test]
fn close_runs_the_closing_handshake() {
    let (server, reports) = server();
    let mut client = connect(server.local_addr(), "/close");
    match client.read().unwrap() {
        tungstenite::Message::Close(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 4000);
            assert_eq!(frame.reason.as_str(), "done here");
        }
        other => panic!("expected a close, got {other:?}"),
    }
    // tungstenite replies to the close; the server then reports.
    while client.read().is_ok() {}
    assert_eq!(report(&reports), "close: Ok(()), then Ok(None)");
}

fn close_code_after(path: &str) -> u16 {
    // A close timeout longer than the client's read timeout: a server that
    // waited for it instead of closing at once would fail `is_closed`.
    let config = WebSocketConfig::default().close_timeout(Duration::from_secs(60));
    let server = start(WebSocketHandler::new().config(config), Reports::unbounded());
    let mut raw = Raw::connect(server.local_addr(), path);
    let code = raw.read_close_code();
    // Answer like a well-behaved client; the server then closes the TCP
    // connection at once.
    raw.send_frame(0x88, &code.to_be_bytes(), true);
    assert!(raw.is_closed());
    code
}

#[test]
fn returning_from_the_app_closes_with_1000_and_a_panic_with_1011() {
    assert_eq!(close_code_after("/return"), 1000);
    assert_eq!(close_code_after("/panic"), 1011);
}

#[test]
fn server_stop_closes_open_sockets_with_1001() {
    let (server, reports) = server();
    let mut client = connect(server.local_addr(), "/echo");
    client.send(tungstenite::Message::text("hi")).unwrap();
    assert_eq!(client.read().unwrap(), tungstenite::Message::text("hi"));
    let stopper = std::thread::spawn(move || server.stop(Duration::from_secs(5)));
    match client.read().unwrap() {
        tungstenite::Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected a close, got {other:?}"),
    }
    while client.read().is_ok() {}
    assert!(stopper.join().unwrap(), "the stop was graceful");
    assert_eq!(report(&reports), "echo ended: Ok(()), closed true");
}

/// Sends raw frames to the echo app; gives the close code it answered.
fn violation(frames: &[Vec<u8>]) -> (u16, String) {
    let (server, reports) = server();
    let mut raw = Raw::connect(server.local_addr(), "/echo");
    for frame in frames {
        raw.stream.write_all(frame).unwrap();
    }
    let code = raw.read_close_code();
    (code, report(&reports))
}

#[test]
fn protocol_violations_get_their_close_codes() {
    let (code, report) = violation(&[ws::frame(0x81, b"unmasked", false)]);
    assert_eq!(code, 1002);
    assert!(report.contains("Protocol"), "{report}");

    let (code, report) = violation(&[ws::frame(0x81, &[0x68, 0xff, 0x69], true)]);
    assert_eq!(code, 1007);
    assert!(report.contains("InvalidUtf8"), "{report}");

    let (code, _) = violation(&[ws::frame(0x80, b"continuation first", true)]);
    assert_eq!(code, 1002);
    let (code, _) = violation(&[ws::frame(0xC1, b"rsv1", true)]);
    assert_eq!(code, 1002);
}

#[test]
fn fragments_are_reassembled_with_control_frames_between() {
    let (server, _) = server();
    let mut raw = Raw::connect(server.local_addr(), "/echo");
    raw.send_frame(0x01, b"Hello, ", true);
    raw.send_frame(0x89, b"ping in between", true);
    raw.send_frame(0x00, b"fragmented ", true);
    raw.send_frame(0x80, b"world", true);
    let (first, payload) = raw.read_frame().unwrap();
    assert_eq!((first, payload.as_slice()), (0x8A, &b"ping in between"[..]));
    let (first, payload) = raw.read_frame().unwrap();
    assert_eq!(
        (first, payload.as_slice()),
        (0x81, &b"Hello, fragmented world"[..])
    );
}

#[test]
fn message_and_frame_limits_at_n_and_n_plus_one() {
    let reports = Reports::unbounded();
    let config = WebSocketConfig::default()
        .max_message_size(1000)
        .max_frame_size(600);
    let server = start(WebSocketHandler::new().config(config), reports);
    let addr = server.local_addr();

    let mut raw = Raw::connect(addr, "/echo");
    raw.send_frame(0x82, &[7; 600], true);
    assert_eq!(raw.read_frame().unwrap().1.len(), 600);
    raw.send_frame(0x82, &[7; 601], true);
    assert_eq!(raw.read_close_code(), 1009);

    let mut raw = Raw::connect(addr, "/echo");
    raw.send_frame(0x02, &[1; 500], true);
    raw.send_frame(0x80, &[2; 500], true);
    assert_eq!(raw.read_frame().unwrap().1.len(), 1000);
    raw.send_frame(0x02, &[1; 500], true);
    raw.send_frame(0x80, &[2; 501], true);
    assert_eq!(raw.read_close_code(), 1009);
}

#[test]
fn the_heartbeat_closes_a_silent_peer() {
    let reports = Reports::unbounded();
    let config = WebSocketConfig::default()
        .ping_interval(Some(Duration::from_millis(50)))
        .dead_peer_timeout(Some(Duration::from_millis(300)));
    let server = start(WebSocketHandler::new().config(config), reports.clone());
    let mut raw = Raw::connect(server.local_addr(), "/wait");
    // Pings arrive; this peer never answers them.
    let (first, _) = raw.read_frame().unwrap();
    assert_eq!(first, 0x89);
    assert_eq!(raw.read_close_code(), 1001);
    assert!(raw.is_closed());
    assert_eq!(report(&reports), "Err(Timeout)");
}

#[test]
fn a_peer_that_answers_pings_stays_connected() {
    let reports = Reports::unbounded();
    let config = WebSocketConfig::default()
        .ping_interval(Some(Duration::from_millis(30)))
        .dead_peer_timeout(Some(Duration::from_millis(150)));
    let server = start(WebSocketHandler::new().config(config), reports.clone());
    let mut raw = Raw::connect(server.local_addr(), "/wait");
    // This client sends nothing but pongs. Twenty pings, at least 30 ms
    // apart, span more than three dead-peer timeouts.
    for _ in 0..20 {
        let (first, payload) = raw.read_frame().unwrap();
        assert_eq!(first, 0x89, "a ping, not a close");
        raw.send_frame(0x8A, &payload, true);
    }
    // Still connected: a clean close, and the app's receive saw no error.
    raw.send_frame(0x88, &1000u16.to_be_bytes(), true);
    assert_eq!(raw.read_close_code(), 1000);
    assert_eq!(report(&reports), "Ok(None)");
}

#[test]
fn the_defaults_ping_every_20_s_and_close_a_peer_silent_for_60_s() {
    let config = WebSocketConfig::default();
    assert_eq!(config.ping_interval, Some(Duration::from_secs(20)));
    assert_eq!(config.dead_peer_timeout, Some(Duration::from_secs(60)));
}

#[test]
fn a_lost_connection_is_an_error_and_sending_after_close_fails() {
    let reports = Reports::unbounded();
    let server = WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .handler_class(WebSocketHandler::new())
        .start({
            let reports = reports.clone();
            move |req: &mut Request| {
                req.upgrade(|ws| {
                    let first = ws.receive();
                    let second = ws.send("after");
                    reports.put(format!("{first:?} / {second:?}"));
                    Ok(())
                })
            }
        })
        .unwrap();
    let raw = Raw::connect(server.local_addr(), "/");
    drop(raw);
    assert_eq!(report(&reports), "Err(ConnectionLost) / Err(Closed)");
}

/// Every code RFC 6455 section 7.4 and the IANA registry allow on the
/// wire, and a selection of those they do not.
const VALID_CLOSE_CODES: [u16; 14] = [
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999,
];
const INVALID_CLOSE_CODES: [u16; 11] = [
    0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2999, 5000, 65535,
];

#[test]
fn every_valid_close_code_from_the_peer_is_echoed() {
    let (server, _) = server();
    for code in VALID_CLOSE_CODES {
        let mut raw = Raw::connect(server.local_addr(), "/echo");
        raw.send_frame(0x88, &code.to_be_bytes(), true);
        assert_eq!(raw.read_close_code(), code, "the echo of {code}");
    }
}

#[test]
fn an_invalid_close_code_from_the_peer_is_a_protocol_error() {
    let (server, _) = server();
    for code in INVALID_CLOSE_CODES {
        let mut raw = Raw::connect(server.local_addr(), "/echo");
        raw.send_frame(0x88, &code.to_be_bytes(), true);
        assert_eq!(raw.read_close_code(), 1002, "the answer to {code}");
    }
}

#[test]
fn close_sends_every_valid_code_and_refuses_the_others() {
    let (server, reports) = server();
    for code in VALID_CLOSE_CODES {
        let mut raw = Raw::connect(server.local_addr(), "/close-with");
        raw.send_frame(0x81, code.to_string().as_bytes(), true);
        assert_eq!(raw.read_close_code(), code);
        raw.send_frame(0x88, &code.to_be_bytes(), true);
        assert_eq!(report(&reports), format!("close {code}: Ok(())"));
    }
    for code in INVALID_CLOSE_CODES {
        let mut raw = Raw::connect(server.local_addr(), "/close-with");
        raw.send_frame(0x81, code.to_string().as_bytes(), true);
        assert_eq!(
            report(&reports),
            format!("close {code}: Err(InvalidCloseCode(CloseCode({code})))")
        );
    }
}

#[test]
fn a_64_bit_length_with_the_top_bit_set_is_a_protocol_error() {
    let (server, reports) = server();
    let mut raw = Raw::connect(server.local_addr(), "/echo");
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(1u64 << 63 | 5).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    raw.stream.write_all(&frame).unwrap();
    assert_eq!(raw.read_close_code(), 1002);
    let report = report(&reports);
    assert!(report.contains("Protocol"), "{report}");
}

#[test]
fn a_close_the_peer_never_answers_is_reported_as_timed_out() {
    let reports = Reports::unbounded();
    let config = WebSocketConfig::default().close_timeout(Duration::from_millis(200));
    let server = start(WebSocketHandler::new().config(config), reports.clone());
    let mut raw = Raw::connect(server.local_addr(), "/close");
    assert_eq!(raw.read_close_code(), 4000);
    // This peer never answers; the server gives up and closes the socket.
    assert!(raw.is_closed());
    assert_eq!(
        report(&reports),
        "close: Err(CloseTimeout { timeout: 200ms }), then Err(CloseTimeout { timeout: 200ms })"
    );
}

#[test]
fn durations_of_any_size_in_the_config_do_not_panic() {
    let reports = Reports::unbounded();
    let config = WebSocketConfig::default()
        .ping_interval(Some(Duration::MAX))
        .dead_peer_timeout(Some(Duration::MAX))
        .close_timeout(Duration::MAX)
        .send_timeout(Duration::MAX);
    let server = start(WebSocketHandler::new().config(config), reports.clone());
    let addr = server.local_addr();
    let mut client = connect(addr, "/echo");
    client.send(tungstenite::Message::text("huge")).unwrap();
    assert_eq!(client.read().unwrap(), tungstenite::Message::text("huge"));
    client.close(None).unwrap();
    while client.read().is_ok() {}
    assert_eq!(report(&reports), "echo ended: Ok(()), closed true");
    // A close waits as long as it takes (here: until the client answers).
    let mut raw = Raw::connect(addr, "/close");
    assert_eq!(raw.read_close_code(), 4000);
    raw.send_frame(0x88, &4000u16.to_be_bytes(), true);
    assert!(raw.is_closed());
    assert_eq!(report(&reports), "close: Ok(()), then Ok(None)");
}
