//! The Hub's promises: what `broadcast` counted as queued is delivered
//! (a `leave` included), a member whose socket closes leaves by itself,
//! and dropping the Hub ends the greenlets that sent for its members.

#[path = "support/ws.rs"]
mod ws;

use std::time::{Duration, Instant};

use greenws::{
    CloseReason, HandshakeRequest, Hub, Message, Request, Resource, ServerHandle, Upgrade,
    WebSocket, WebSocketApplication, WebSocketHandler, WsgiServer,
};
use ws::Raw;

fn serve(app: impl greenws::App) -> ServerHandle {
    WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .handler_class(WebSocketHandler::new())
        .start(app)
        .unwrap()
}

fn next(reports: &green::Queue<String>) -> String {
    reports
        .get_timeout(Duration::from_secs(10))
        .expect("the app reports")
}

#[test]
fn leave_delivers_what_broadcast_already_queued() {
    let reports = green::Queue::unbounded();
    let server = serve({
        let reports = reports.clone();
        move |req: &mut Request| {
            req.upgrade(|ws| {
                let hub = Hub::new(256);
                let id = hub.join(&ws);
                let queued: usize = (0..200)
                    .map(|i| hub.broadcast(format!("message {i:03} {}", "x".repeat(1000))))
                    .sum();
                hub.leave(id);
                reports.put(format!("queued {queued}"));
                let _ = ws.receive();
                Ok(())
            })
        }
    });
    let mut raw = Raw::connect(server.local_addr(), "/");
    assert_eq!(next(&reports), "queued 200");
    for i in 0..200 {
        let (first, payload) = raw.read_frame().expect("every queued message");
        assert_eq!(first, 0x81);
        assert!(payload.starts_with(format!("message {i:03} ").as_bytes()));
    }
}

/// Joins every socket and never calls `leave`; reports the members left
/// when a connection closes.
struct Forgetful {
    hub: Hub,
    reports: green::Queue<String>,
}

impl WebSocketApplication for Forgetful {
    type Session = ();

    fn on_open(&self, ws: &WebSocket, _request: &HandshakeRequest) {
        self.hub.join(ws);
        self.reports
            .put(format!("open, {} members", self.hub.len()));
    }

    fn on_message(&self, _session: &mut (), _ws: &WebSocket, _message: Message) {}

    fn on_close(&self, _session: (), _ws: &WebSocket, _reason: &CloseReason) {
        self.reports
            .put(format!("closed, {} members", self.hub.len()));
    }
}

#[test]
fn a_member_leaves_when_its_socket_closes() {
    let hub = Hub::new(4);
    let reports = green::Queue::unbounded();
    let server = serve(Resource::new().websocket(
        "/",
        Forgetful {
            hub: hub.clone(),
            reports: reports.clone(),
        },
    ));
    let mut raw = Raw::connect(server.local_addr(), "/");
    assert_eq!(next(&reports), "open, 1 members");
    raw.send_frame(0x88, &1000u16.to_be_bytes(), true);
    assert_eq!(raw.read_close_code(), 1000);
    assert_eq!(next(&reports), "closed, 0 members");
    // Nobody to send to, and so nobody overflows.
    for _ in 0..10 {
        assert_eq!(hub.broadcast("anyone?"), 0);
    }
    assert_eq!(hub.overflowed(), 0);
}

/// True while a socket of this process is connected from `client`
/// (`/proc/self/net/tcp` lists an inode only for a socket that has a
/// descriptor).
fn server_socket_open(client: std::net::SocketAddr) -> bool {
    let remote = format!(":{:04X} ", client.port());
    let table = std::fs::read_to_string("/proc/self/net/tcp").unwrap();
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        format!("{} ", fields[2]).ends_with(&remote) && fields[9] != "0"
    })
}

#[test]
fn dropping_the_hub_ends_its_member_greenlets() {
    let server = serve(|req: &mut Request| {
        req.upgrade(|ws| {
            let hub = Hub::new(4);
            hub.join(&ws);
            hub.broadcast("hello");
            drop(hub);
            let _ = ws.receive();
            Ok(())
        })
    });
    let mut raw = Raw::connect(server.local_addr(), "/");
    let client = raw.stream.local_addr().unwrap();
    assert_eq!(raw.read_frame().unwrap(), (0x81, b"hello".to_vec()));
    raw.send_frame(0x88, &1000u16.to_be_bytes(), true);
    assert_eq!(raw.read_close_code(), 1000);
    assert!(raw.is_closed());
    // The connection is over; its descriptor closes once the last handle
    // to the socket is gone, which a member greenlet left blocked on the
    // dropped hub's queue would hold forever. No event marks that, so
    // look for it, up to a limit.
    let limit = Instant::now() + Duration::from_secs(10);
    while server_socket_open(client) {
        assert!(Instant::now() < limit, "the socket is still held");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_member_that_stops_reading_holds_at_most_the_byte_bound_of_its_queue() {
    // The chat example's hub: 256 messages per member, and the default
    // byte bound. Each broadcast below is 1 MiB: a client can make a
    // server broadcast that much for 1 KiB of compressed upload.
    let hub = Hub::new(256);
    let joined = green::Event::new();
    let server = {
        let (hub, joined) = (hub.clone(), joined.clone());
        serve(move |req: &mut Request| {
            let (hub, joined) = (hub.clone(), joined.clone());
            req.upgrade(move |ws| {
                hub.join(&ws);
                joined.set();
                ws.messages().try_for_each(|m| m.map(drop))
            })
        })
    };
    // A member that does not read, with little room in its socket.
    let mut raw = Raw::connect_with_receive_buffer(server.local_addr(), "/", 64 * 1024);
    joined.wait();

    let queued: usize = (0..64).map(|_| hub.broadcast(vec![7u8; 1 << 20])).sum();
    // 16 MiB may wait for it (and what its socket took): beyond that it
    // overflowed, instead of holding all 64 MiB.
    assert_eq!(hub.overflowed(), 1, "{queued} of 64 broadcasts queued");
    assert!(queued < 32, "{queued} of 64 broadcasts queued");
    assert_eq!(raw.read_close_code(), 1013);
}
