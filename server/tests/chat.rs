//! Resource, WebSocketApplication and Hub: routing, callbacks, and a
//! broadcast where one client that stops reading does not slow the rest.

#[path = "support/example.rs"]
mod example;
mod support;
#[path = "support/ws.rs"]
mod ws;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use greenws::{
    CloseReason, HandshakeRequest, Hub, Message, Request, Resource, Response, WebSocket,
    WebSocketApplication, WebSocketConfig, WebSocketHandler, WsgiServer,
};
use socket2::{Domain, Socket, Type};

/// Broadcasts every text message; reports the callbacks.
struct Broadcast {
    hub: Hub,
    events: green::Queue<String>,
}

impl WebSocketApplication for Broadcast {
    type Session = ();

    fn on_open(&self, ws: &WebSocket, request: &HandshakeRequest) {
        self.hub.join(ws);
        self.events.put(format!("open {}", request.path()));
    }

    fn on_message(&self, _session: &mut (), _ws: &WebSocket, message: Message) {
        if let Message::Text(text) = message {
            self.hub.broadcast(text);
        }
    }

    fn on_close(&self, _session: (), _ws: &WebSocket, reason: &CloseReason) {
        self.events
            .put(format!("close {} {}", reason.code.as_u16(), reason.reason));
    }
}

fn start(hub: Hub, events: green::Queue<String>) -> greenws::ServerHandle {
    let config = WebSocketConfig::default().send_buffer(Some(8 * 1024));
    let resource = Resource::new()
        .websocket("/room", Broadcast { hub, events })
        .app("/", |_req: &mut Request| Response::text("front page"))
        .app("/static/*", |req: &mut Request| {
            Response::text(format!("file {}", req.path()))
        });
    WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .handler_class(WebSocketHandler::new().config(config))
        .start(resource)
        .unwrap()
}

#[test]
fn resource_routes_and_application_callbacks() {
    let events = green::Queue::unbounded();
    let server = start(Hub::new(16), events.clone());
    let addr = server.local_addr();
    let mut http = support::Client::connect(addr);
    assert_eq!(http.request(support::get("/")).text(), "front page");
    assert_eq!(
        http.request(support::get("/static/a.css")).text(),
        "file /static/a.css"
    );
    assert_eq!(http.request(support::get("/nowhere")).status, 404);
    let plain = http.request(support::get("/room"));
    assert_eq!(plain.status, 426);

    let mut client = ws::connect(addr, "/room");
    let next = || events.get_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(next(), "open /room");
    client
        .send(tungstenite::Message::text("hello room"))
        .unwrap();
    assert_eq!(
        client.read().unwrap(),
        tungstenite::Message::text("hello room")
    );
    client
        .close(Some(tungstenite::protocol::CloseFrame {
            code: tungstenite::protocol::frame::coding::CloseCode::Library(4001),
            reason: "gone".into(),
        }))
        .unwrap();
    while client.read().is_ok() {}
    assert_eq!(next(), "close 4001 gone");
}

/// A client socket with a small receive buffer that connects and never
/// reads after the handshake.
fn stalled_client(addr: std::net::SocketAddr) -> ws::Raw {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    ws::Raw::over(socket.into(), "/room")
}

#[test]
fn one_client_that_stops_reading_does_not_slow_the_other_hundred() {
    const FAST: usize = 100;
    let hub = Hub::new(16);
    let events = green::Queue::unbounded();
    let server = start(hub.clone(), events.clone());
    let addr = server.local_addr();
    let open_events = || events.get_timeout(Duration::from_secs(10)).unwrap();

    let stalled = stalled_client(addr);
    open_events();
    // Readers count what they receive; the publisher sends the next message
    // once all of them have the last one, so no fast reader ever falls
    // behind, while the stalled client's queue fills up.
    let received = Arc::new((Mutex::new(0usize), Condvar::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..FAST)
        .map(|_| {
            let (received, stop) = (received.clone(), stop.clone());
            let mut client = ws::connect(addr, "/room");
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    if let tungstenite::Message::Text(_) = client.read().unwrap() {
                        let (count, changed) = &*received;
                        *count.lock().unwrap() += 1;
                        changed.notify_all();
                    }
                }
            })
        })
        .collect();
    for _ in 0..FAST {
        open_events();
    }
    let mut publisher = ws::connect(addr, "/room");
    open_events();

    let body = "x".repeat(1000);
    let mut rounds_after_overflow = 0;
    for round in 1..=400usize {
        publisher
            .send(tungstenite::Message::text(format!("msg {round} {body}")))
            .unwrap();
        assert!(publisher.read().unwrap().is_text());
        let (count, changed) = &*received;
        let mut count = count.lock().unwrap();
        while *count < FAST * round {
            let (next, timeout) = changed
                .wait_timeout(count, Duration::from_secs(10))
                .unwrap();
            count = next;
            assert!(!timeout.timed_out(), "round {round}: delivery stalled");
        }
        if hub.overflowed() > 0 {
            rounds_after_overflow += 1;
            if rounds_after_overflow == 20 {
                break;
            }
        }
    }
    assert_eq!(
        hub.overflowed(),
        1,
        "the stalled client overflowed its queue"
    );
    assert_eq!(
        rounds_after_overflow, 20,
        "delivery went on after the overflow"
    );
    assert_eq!(hub.len(), FAST + 1, "every other member is still there");

    // The stalled client, reading at last, finds the close code 1013.
    let mut raw = stalled;
    assert_eq!(raw.read_close_code(), 1013);
    stop.store(true, Ordering::SeqCst);
    publisher
        .send(tungstenite::Message::text("wake the readers"))
        .unwrap();
    for reader in readers {
        reader.join().unwrap();
    }
}

#[test]
fn the_chat_example_relays_messages_between_browsers() {
    let server = example::start_example("chat", &[]);
    let mut page = support::Client::connect(server.addr);
    let html = page.request(support::get("/")).text();
    assert!(html.contains("new WebSocket"), "the page opens a WebSocket");

    // Alice names herself in the URL (the page passes its own query on);
    // bob goes by his address.
    let mut alice = ws::connect(server.addr, "/chat?name=alice%20l.");
    let mut bob = ws::connect(server.addr, "/chat");
    let tungstenite::stream::MaybeTlsStream::Plain(stream) = bob.get_ref() else {
        unreachable!("a plain connection")
    };
    let bob_addr = stream.local_addr().unwrap();
    // Bob's own "joined" comes first: alice speaks after bob is a member.
    let joined = bob.read().unwrap().into_text().unwrap();
    assert!(
        joined.starts_with(&format!("* {bob_addr} joined")),
        "{joined}"
    );
    alice.send(tungstenite::Message::text("hello bob")).unwrap();
    // Alice's own "joined" reaches bob too when her join was handled after
    // his (the two connections are served concurrently); it comes before
    // her words either way.
    let mut text = bob.read().unwrap().into_text().unwrap();
    if text.as_str() == "* alice l. joined lobby" {
        text = bob.read().unwrap().into_text().unwrap();
    }
    assert_eq!(text.as_str(), "alice l.: hello bob");
    // Bob leaves without a word to the app; alice hears of it.
    drop(bob);
    let mut heard = Vec::new();
    while !heard.last().is_some_and(|t: &String| t.ends_with(" left")) {
        heard.push(alice.read().unwrap().into_text().unwrap().to_string());
    }
    assert_eq!(heard.last().unwrap(), &format!("* {bob_addr} left"));
}
