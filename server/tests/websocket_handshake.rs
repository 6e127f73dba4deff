//! RFC 6455 section 4.1: what an opening handshake request may carry. A
//! client must wait for the 101 before it sends frames, so nothing that
//! arrived before the 101 is read as a WebSocket frame: an upgrade request
//! with a body, or with bytes behind it, is refused with 400, and bytes
//! that arrive while the app decides belong to HTTP.

mod support;
#[path = "support/ws.rs"]
mod ws;

use std::time::Duration;

use greenws::{Request, ServerHandle, Upgrade, WebSocketHandler, WsgiServer};

const UPGRADE: &str = "Host: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

/// What the app did, and the go-ahead it waits for on `/slow`.
struct Channels {
    reports: green::Queue<String>,
    go: green::Queue<()>,
}

fn start() -> (ServerHandle, Channels) {
    let reports = green::Queue::unbounded();
    let go = green::Queue::unbounded();
    let channels = Channels {
        reports: reports.clone(),
        go: go.clone(),
    };
    let server = WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .handler_class(WebSocketHandler::new())
        .start(move |req: &mut Request| {
            reports.put(format!("app called for {}", req.path()));
            if req.path() == "/slow" {
                go.get();
            }
            let response = req.upgrade(|ws| {
                reports.put("upgraded".into());
                let first = ws.receive();
                reports.put(format!("first message {first:?}"));
                Ok(())
            });
            if response.status() != 101 {
                reports.put(format!("declined with {}", response.status().as_u16()));
            }
            response
        })
        .unwrap();
    (server, channels)
}

fn next(reports: &green::Queue<String>) -> String {
    reports
        .get_timeout(Duration::from_secs(10))
        .expect("the app reports")
}

#[test]
fn an_upgrade_request_with_a_body_is_refused_with_400() {
    let (server, channels) = start();
    for (framing, body) in [
        ("Content-Length: 5\r\n", "hello"),
        ("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"),
    ] {
        let mut client = support::Client::connect(server.local_addr());
        let reply = client.request(format!("GET /ws HTTP/1.1\r\n{UPGRADE}{framing}\r\n{body}"));
        assert_eq!(reply.status, 400, "{framing}");
        assert!(reply.text().contains("body"), "{}", reply.text());
        assert!(client.is_closed());
    }
    // An empty body is no body.
    let mut client = support::Client::connect(server.local_addr());
    let reply = client.request(format!(
        "GET /ws HTTP/1.1\r\n{UPGRADE}Content-Length: 0\r\n\r\n"
    ));
    assert_eq!(reply.status, 101);
    assert_eq!(next(&channels.reports), "app called for /ws");
    assert_eq!(next(&channels.reports), "upgraded");
}

#[test]
fn frames_sent_with_the_upgrade_request_are_refused_not_decoded() {
    let (server, channels) = start();
    let mut client = support::Client::connect(server.local_addr());
    let mut request = format!("GET /ws HTTP/1.1\r\n{UPGRADE}\r\n").into_bytes();
    request.extend(ws::frame(0x81, b"too early", true));
    let reply = client.request(request);
    assert_eq!(reply.status, 400);
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(reply.text().contains("before the 101"), "{}", reply.text());
    assert!(client.is_closed());
    // The app never saw the request: the next report is the next request's.
    let mut client = support::Client::connect(server.local_addr());
    client.send(format!("GET /after HTTP/1.1\r\n{UPGRADE}\r\n"));
    assert_eq!(next(&channels.reports), "app called for /after");
}

#[test]
fn bytes_that_arrive_while_the_app_decides_belong_to_http() {
    let (server, channels) = start();
    let mut client = support::Client::connect(server.local_addr());
    client.send(format!("GET /slow HTTP/1.1\r\n{UPGRADE}\r\n"));
    assert_eq!(next(&channels.reports), "app called for /slow");
    // The app has the request and has not answered yet: a frame now is
    // sent before the 101, against the RFC.
    client.send(ws::frame(0x81, b"before the 101", true));
    channels.go.put(());
    assert_eq!(next(&channels.reports), "declined with 400");
    // The upgrade is refused over HTTP and the connection closes: the
    // frame's bytes were never decoded as a message (the session did not
    // run).
    let reply = client.reply();
    assert_eq!(reply.status, 400);
    assert!(reply.text().contains("before the 101"), "{}", reply.text());
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(client.is_closed());
    assert!(channels.reports.get_timeout(Duration::ZERO).is_none());
}
