//! Back-pressure an app can see: `buffered_amount` and a send that does
//! not wait (`try_send`), against a peer that stops reading and then reads
//! again. The peer is tungstenite's client, so every frame is checked by a
//! parser that is not ours.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use greenws::{
    Error, Request, ServerHandle, Upgrade, WebSocketConfig, WebSocketHandler, WsgiServer,
};
use socket2::{Domain, Socket, Type};
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;

/// The size of every message of the feed.
const MESSAGE: usize = 32 * 1024;

/// Messages the feed sends once the peer reads again.
const AFTER: u64 = 20;

/// A message whose every byte says its number, and whose first eight bytes
/// are the number: a frame cut, spliced or repeated cannot pass for one.
fn numbered(seq: u64) -> Vec<u8> {
    let mut payload = vec![seq as u8; MESSAGE];
    payload[..8].copy_from_slice(&seq.to_be_bytes());
    payload
}

fn number_of(payload: &[u8]) -> u64 {
    assert_eq!(payload.len(), MESSAGE, "a whole message");
    let seq = u64::from_be_bytes(payload[..8].try_into().unwrap());
    assert!(
        payload[8..].iter().all(|&b| b == seq as u8),
        "message {seq} intact"
    );
    seq
}

/// What the app reports, and what the test tells it.
struct Channels {
    reports: green::Queue<String>,
    go_on: green::Queue<()>,
}

fn start() -> (ServerHandle, Channels) {
    let reports = green::Queue::unbounded();
    let go_on = green::Queue::unbounded();
    let channels = Channels {
        reports: reports.clone(),
        go_on: go_on.clone(),
    };
    // A small kernel send buffer, so the peer falls behind soon.
    let config = WebSocketConfig::default().send_buffer(Some(16 * 1024));
    let server = WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .handler_class(WebSocketHandler::new().config(config))
        .start(move |req: &mut Request| {
            req.upgrade(|ws| {
                match ws.path() {
                    "/feed" => feed(&ws, &reports, &go_on),
                    "/bulk" => bulk(&ws, &reports),
                    _ => {}
                }
                Ok(())
            })
        })
        .unwrap();
    (server, channels)
}

/// Sends numbered messages with `try_send` until the peer is behind; says
/// so; then, told to go on, sends `AFTER` more (skipping while behind),
/// and "end".
fn feed(ws: &greenws::WebSocket, reports: &green::Queue<String>, go_on: &green::Queue<()>) {
    let idle = ws.buffered_amount();
    let mut seq = 0u64;
    let behind = loop {
        match ws.try_send(numbered(seq)) {
            Ok(()) => seq += 1,
            Err(Error::WouldBlock { buffered }) => break buffered,
            Err(e) => panic!("try_send failed: {e}"),
        }
        assert!(seq < 10_000, "the peer never fell behind");
    };
    // Behind it stays while the peer reads nothing.
    let still = ws.try_send(numbered(seq));
    reports.put(format!(
        "sent {seq}; buffered idle {idle}, when behind > 0: {}, now > 0: {}; again behind: {}",
        behind > 0,
        ws.buffered_amount() > 0,
        matches!(still, Err(Error::WouldBlock { .. })),
    ));
    go_on.get();
    let mut sent = 0;
    let mut skipped = 0u64;
    while sent < AFTER {
        match ws.try_send(numbered(seq)) {
            Ok(()) => {
                sent += 1;
                seq += 1;
            }
            Err(Error::WouldBlock { .. }) => {
                skipped += 1;
                green::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("try_send failed: {e}"),
        }
    }
    ws.send("end").unwrap();
    reports.put(format!("sent {seq} in all"));
    log::debug!("skipped {skipped} while the peer caught up");
    let _ = ws.receive();
}

/// A blocking send of 1 MiB to a peer that does not read: another greenlet
/// sees it queued in `buffered_amount`.
fn bulk(ws: &greenws::WebSocket, reports: &green::Queue<String>) {
    let sender = {
        let ws = ws.clone();
        green::spawn(move || ws.send(vec![7u8; 1 << 20]))
    };
    let limit = Instant::now() + Duration::from_secs(10);
    let mut queued = ws.buffered_amount();
    while queued < 900 * 1024 && Instant::now() < limit {
        green::sleep(Duration::from_millis(1));
        queued = ws.buffered_amount();
    }
    reports.put(format!("queued over 900 KiB: {}", queued >= 900 * 1024));
    let sent = sender.join().unwrap();
    reports.put(format!("sent {sent:?}"));
    let _ = ws.receive();
}

/// tungstenite's client over a socket with a small receive buffer.
fn slow_reader(
    addr: SocketAddr,
    path: &str,
) -> tungstenite::WebSocket<MaybeTlsStream<std::net::TcpStream>> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(8 * 1024).unwrap();
    socket.connect(&addr.into()).unwrap();
    let stream: std::net::TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!("ws://{addr}{path}").into_client_request().unwrap();
    match tungstenite::client::client(request, MaybeTlsStream::Plain(stream)) {
        Ok((client, _)) => client,
        Err(e) => panic!("handshake: {e}"),
    }
}

fn report(channels: &Channels) -> String {
    channels
        .reports
        .get_timeout(Duration::from_secs(20))
        .expect("the app reports")
}

#[test]
fn try_send_reports_behind_and_the_stream_stays_whole() {
    let (server, channels) = start();
    let mut client = slow_reader(server.local_addr(), "/feed");
    // The client reads nothing yet.
    let first = report(&channels);
    let (sent, rest) = first.split_once(';').unwrap();
    let sent: u64 = sent.strip_prefix("sent ").unwrap().parse().unwrap();
    assert!(sent > 0, "{first}");
    assert_eq!(
        rest,
        " buffered idle 0, when behind > 0: true, now > 0: true; again behind: true"
    );
    eprintln!("{first}");
    channels.go_on.put(());
    // Reading again: every message whole, in order, none repeated; the
    // feed's later messages get through.
    let mut last = None;
    let mut count = 0u64;
    loop {
        match client.read().expect("the feed") {
            tungstenite::Message::Binary(payload) => {
                let seq = number_of(&payload);
                assert!(last.is_none_or(|l| seq == l + 1), "{seq} after {last:?}");
                last = Some(seq);
                count += 1;
            }
            tungstenite::Message::Text(text) => {
                assert_eq!(text.as_str(), "end");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(report(&channels), format!("sent {} in all", sent + AFTER));
    assert_eq!(count, sent + AFTER);
}

#[test]
fn a_blocked_send_counts_in_buffered_amount_until_the_peer_reads() {
    let (server, channels) = start();
    let mut client = slow_reader(server.local_addr(), "/bulk");
    assert_eq!(report(&channels), "queued over 900 KiB: true");
    match client.read().expect("the message") {
        tungstenite::Message::Binary(payload) => {
            assert_eq!(payload.len(), 1 << 20);
            assert!(payload.iter().all(|&b| b == 7));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(report(&channels), "sent Ok(())");
}
