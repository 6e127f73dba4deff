//! Memory per WebSocket connection is bounded in bytes, whatever the peer
//! sends: while the app only sends, while a close waits for the peer's
//! Close, and while the peer floods.

#[path = "support/ws.rs"]
mod ws;

use std::io::Write;
use std::time::Duration;

use greenws::{
    Message, Request, ServerHandle, Upgrade, WebSocketConfig, WebSocketHandler, WsgiServer,
};
use ws::Raw;

/// What one connection may hold beyond `max_message_size` for input its
/// app has not received (the documented bound of `buffered_input`).
const SLACK: usize = 65 * 1024;

/// Commands the test gives the app on `/ticks`, and what the app reports.
struct Channels {
    commands: green::Queue<&'static str>,
    reports: green::Queue<String>,
}

fn start(config: WebSocketConfig) -> (ServerHandle, Channels) {
    let commands = green::Queue::unbounded();
    let reports = green::Queue::unbounded();
    let channels = Channels {
        commands: commands.clone(),
        reports: reports.clone(),
    };
    let server = WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .handler_class(WebSocketHandler::new().config(config))
        .start(move |req: &mut Request| {
            req.upgrade(|ws| {
                match ws.path() {
                    // Sends a tick per command, reporting the input it holds,
                    // then receives everything on "drain".
                    "/ticks" => loop {
                        match commands.get() {
                            "tick" => {
                                ws.send("tick").unwrap();
                                reports.put(ws.buffered_input().to_string());
                            }
                            _ => {
                                let mut intact = 0;
                                for i in 0..40u8 {
                                    match ws.receive() {
                                        Ok(Some(Message::Binary(b)))
                                            if b.len() == 60_000 && b.iter().all(|&x| x == i) =>
                                        {
                                            intact += 1
                                        }
                                        other => reports.put(format!("message {i}: {other:?}")),
                                    }
                                }
                                reports.put(format!("drained {intact} intact"));
                                break;
                            }
                        }
                    },
                    // Closes, then says what receive and the input held give.
                    "/close" => {
                        let closed = ws.close(4000, "done here");
                        let after = ws.receive();
                        reports.put(format!(
                            "close: {closed:?}, then {after:?}, holding {}",
                            ws.buffered_input()
                        ));
                    }
                    _ => {}
                }
                Ok(())
            })
        })
        .unwrap();
    (server, channels)
}

fn report(reports: &green::Queue<String>) -> String {
    reports
        .get_timeout(Duration::from_secs(20))
        .expect("the app reports")
}

#[test]
fn a_send_only_app_holds_at_most_one_message_size_of_input() {
    let config = WebSocketConfig::default()
        .max_message_size(64 * 1024)
        .max_frame_size(64 * 1024);
    let (server, channels) = start(config);
    let mut raw = Raw::connect(server.local_addr(), "/ticks");
    // 40 messages of 60 000 bytes: far more than the app may hold; the
    // rest must wait in the socket.
    let mut writer = raw.stream.try_clone().unwrap();
    let flood = std::thread::spawn(move || {
        for i in 0..40u8 {
            writer
                .write_all(&ws::frame(0x82, &[i; 60_000], true))
                .unwrap();
        }
    });
    let mut most = 0;
    for _ in 0..1000 {
        channels.commands.put("tick");
        let (first, payload) = raw.read_frame().unwrap();
        assert_eq!((first, payload.as_slice()), (0x81, &b"tick"[..]));
        let held: usize = report(&channels.reports).parse().unwrap();
        assert!(held <= 64 * 1024 + SLACK, "{held} bytes held");
        most = most.max(held);
        if held >= 64 * 1024 {
            break;
        }
    }
    assert!(most >= 64 * 1024, "the app took input in, up to its budget");
    // Nothing was lost: what stayed in the socket arrives in order.
    channels.commands.put("drain");
    assert_eq!(report(&channels.reports), "drained 40 intact");
    flood.join().unwrap();
}

#[test]
fn a_close_discards_the_messages_that_arrive_before_the_peers_close() {
    let (server, channels) = start(WebSocketConfig::default());
    let mut raw = Raw::connect(server.local_addr(), "/close");
    assert_eq!(raw.read_close_code(), 4000);
    for _ in 0..50 {
        raw.send_frame(0x82, &[7; 100_000], true);
    }
    raw.send_frame(0x88, &4000u16.to_be_bytes(), true);
    assert!(raw.is_closed());
    let report = report(&channels.reports);
    let held: usize = report.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(
        report.starts_with("close: Ok(()), then Ok(None), holding "),
        "{report}"
    );
    assert!(held <= SLACK, "{held} bytes held after the close");
}

#[test]
fn a_close_ends_at_its_timeout_while_the_peer_floods() {
    const FLOOD_FRAMES: usize = 64 << 10;
    let config = WebSocketConfig::default().close_timeout(Duration::from_millis(300));
    let (server, channels) = start(config);
    let mut raw = Raw::connect(server.local_addr(), "/close");
    assert_eq!(raw.read_close_code(), 4000);
    // Data, never a Close, until the server hangs up (or 64 GiB, which a
    // server that honours its timeout never takes: it discards data at a few
    // GB/s here, so a 1 GiB bound could be reached within the timeout).
    let mut writer = raw.stream.try_clone().unwrap();
    let flood = std::thread::spawn(move || {
        let frame = ws::frame(0x82, &[7; 1 << 20], true);
        (0..FLOOD_FRAMES)
            .take_while(|_| writer.write_all(&frame).is_ok())
            .count()
    });
    let report = report(&channels.reports);
    assert!(
        report.starts_with(
            "close: Err(CloseTimeout { timeout: 300ms }), then Err(CloseTimeout { timeout: 300ms }), holding "
        ),
        "{report}"
    );
    // At most an incomplete frame header is left once the data is skipped.
    let held: usize = report.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(held <= 131, "{held} bytes held after the close");
    let sent = flood.join().unwrap();
    assert!(sent < FLOOD_FRAMES, "the server never hung up on the flood");
}
