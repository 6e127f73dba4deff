//! A WebSocket message in progress must keep a minimum data rate
//! (`WebSocketConfig::min_message_rate`): a peer that trickles a frame, or
//! the fragments of a message, is closed with 1008 and the app's `receive`
//! says why; an honest slow sender above the rate, and a peer idle between
//! messages, are not touched. Server and client role.

#[path = "support/raw_peer.rs"]
mod raw_peer;
mod support;
#[path = "support/ws.rs"]
mod ws;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use greenws::proto::websocket::{FrameHeader, OpCode};
use greenws::{
    ClientBuilder, Error, MinRate, Request, ServerHandle, Upgrade, WebSocketConfig,
    WebSocketHandler, WsgiServer,
};
use raw_peer::{raw_peer, switch_protocols};
use ws::Raw;

/// What the apps report back to the test.
type Reports = green::Queue<String>;

/// 200 bytes/s after 200 ms of waiting: the tricklers below send 50
/// bytes/s or less, the honest senders 5000 bytes/s.
const RATE: MinRate = MinRate {
    bytes_per_second: 200,
    grace: Duration::from_millis(200),
};

/// The pause between two pieces a peer sends.
const PAUSE: Duration = Duration::from_millis(20);

fn config() -> WebSocketConfig {
    WebSocketConfig::default().min_message_rate(Some(RATE))
}

/// `/echo` echoes until the end and reports how it ended.
fn start(config: WebSocketConfig) -> (ServerHandle, Reports) {
    let reports = Reports::unbounded();
    let sink = reports.clone();
    let server = WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .handler_class(WebSocketHandler::new().config(config))
        .start(move |req: &mut Request| {
            let sink = sink.clone();
            req.upgrade(move |ws| {
                let result = (|| {
                    while let Some(message) = ws.receive()? {
                        ws.send(message)?;
                    }
                    Ok::<_, Error>(())
                })();
                sink.put(format!("{result:?}"));
                Ok(())
            })
        })
        .unwrap();
    (server, reports)
}

fn report(reports: &Reports) -> String {
    reports
        .get_timeout(Duration::from_secs(10))
        .expect("the app reports")
}

/// Writes `pieces` one after the other, `PAUSE` apart, on a thread of its
/// own, until they run out, a write fails (the server closed), or `stop`.
/// The thread gives true when it was cut short (the peer was still
/// sending), false when the pieces ran out.
fn trickle(stream: &TcpStream, pieces: Vec<Vec<u8>>, stop: &Arc<AtomicBool>) -> JoinHandle<bool> {
    let mut stream = stream.try_clone().unwrap();
    let stop = stop.clone();
    std::thread::spawn(move || {
        for piece in pieces {
            if stop.load(Ordering::SeqCst) || stream.write_all(&piece).is_err() {
                return true;
            }
            std::thread::sleep(PAUSE);
        }
        false
    })
}

/// A masked client frame.
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let opcode = OpCode::from_u8(first & 0x0f).unwrap();
    let mut header = FrameHeader::new(opcode, payload.len() as u64, Some([1, 2, 3, 4]));
    header.fin = first & 0x80 != 0;
    let mut out = Vec::new();
    header.append_frame(payload, &mut out);
    out
}

/// Runs `pieces` trickled to `/echo`; gives the close code the server
/// sent and what its app reported.
fn trickled(pieces: Vec<Vec<u8>>) -> (u16, String) {
    let (server, reports) = start(config());
    let mut raw = Raw::connect(server.local_addr(), "/echo");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = trickle(&raw.stream, pieces, &stop);
    let code = raw.read_close_code();
    stop.store(true, Ordering::SeqCst);
    // The close came while the peer was still trickling, not after it
    // gave up and went silent.
    assert!(
        writer.join().unwrap(),
        "the pieces ran out before the close"
    );
    (code, report(&reports))
}

#[test]
fn a_frame_trickled_a_byte_at_a_time_is_closed_with_1008() {
    // A header for 1000 bytes, then one byte every 20 ms: 50 bytes/s, which
    // would take 20 s.
    let whole = frame(0x82, &[7; 1000]);
    let (header, payload) = whole.split_at(6);
    let mut pieces = vec![header.to_vec()];
    pieces.extend(payload.iter().map(|b| vec![*b]));
    let (code, report) = trickled(pieces);
    assert_eq!(code, 1008);
    assert!(report.starts_with("Err(MessageTooSlow"), "{report}");
}

#[test]
fn a_trickled_frame_header_is_closed_with_1008() {
    // Not even the header completes: a 14-byte header, a byte every 20 ms,
    // and nothing after it (the heartbeat would see a live peer).
    let whole = frame(0x82, &vec![7; 70_000]);
    let pieces: Vec<Vec<u8>> = whole[..14].iter().map(|b| vec![*b]).collect();
    let stalled = std::iter::repeat_n(Vec::new(), 500);
    let (code, report) = trickled(pieces.into_iter().chain(stalled).collect());
    assert_eq!(code, 1008);
    assert!(report.starts_with("Err(MessageTooSlow"), "{report}");
}

#[test]
fn trickled_fragments_are_closed_even_with_pings_between() {
    // One byte per fragment, every 20 ms, each followed by a Ping of 125
    // bytes: the connection carries 6 KiB/s, the message 50 bytes/s, and
    // only the message's own bytes count.
    let mut pieces = vec![frame(0x02, b"x")];
    for _ in 0..500 {
        let mut piece = frame(0x00, b"x");
        piece.extend(frame(0x89, &[0; 125]));
        pieces.push(piece);
    }
    let (code, report) = trickled(pieces);
    assert_eq!(code, 1008);
    assert!(report.starts_with("Err(MessageTooSlow"), "{report}");
}

/// Sends `pieces` to `/echo`, `PAUSE` apart, and gives the echo.
fn echo_of(raw: &mut Raw, pieces: Vec<Vec<u8>>) -> (u8, Vec<u8>) {
    let stop = Arc::new(AtomicBool::new(false));
    assert!(!trickle(&raw.stream, pieces, &stop).join().unwrap());
    loop {
        let (first, payload) = raw.read_frame().expect("the echo");
        if first != 0x8A {
            return (first, payload);
        }
    }
}

#[test]
fn an_honest_slow_sender_above_the_rate_passes() {
    let (server, reports) = start(config());
    let mut raw = Raw::connect(server.local_addr(), "/echo");
    // 3000 bytes in one frame, 100 bytes every 20 ms (5000 bytes/s, for
    // 600 ms: three times the grace period).
    let whole = frame(0x82, &[9; 3000]);
    let pieces = whole.chunks(100).map(<[u8]>::to_vec).collect();
    assert_eq!(echo_of(&mut raw, pieces), (0x82, vec![9; 3000]));
    // The same as 30 fragments with pings between.
    let mut pieces = Vec::new();
    for i in 0..30 {
        let first = match i {
            0 => 0x02,
            29 => 0x80,
            _ => 0x00,
        };
        let mut piece = frame(first, &[5; 100]);
        piece.extend(frame(0x89, b"still here"));
        pieces.push(piece);
    }
    assert_eq!(echo_of(&mut raw, pieces), (0x82, vec![5; 3000]));
    raw.send_frame(0x88, &1000u16.to_be_bytes(), true);
    assert_eq!(raw.read_close_code(), 1000);
    assert_eq!(report(&reports), "Ok(())");
}

#[test]
fn a_peer_idle_between_messages_is_not_affected() {
    let (server, reports) = start(config());
    let mut raw = Raw::connect(server.local_addr(), "/echo");
    for round in 0..3u8 {
        raw.send_frame(0x82, &[round; 10], true);
        assert_eq!(raw.read_frame().unwrap(), (0x82, vec![round; 10]));
        // Idle for twice the grace period: only the heartbeat governs an
        // idle connection.
        std::thread::sleep(RATE.grace * 2);
    }
    raw.send_frame(0x88, &1000u16.to_be_bytes(), true);
    assert_eq!(raw.read_close_code(), 1000);
    assert_eq!(report(&reports), "Ok(())");
}

#[test]
fn the_default_is_240_bytes_per_second_after_5_s() {
    assert_eq!(
        WebSocketConfig::default().min_message_rate,
        Some(MinRate::DEFAULT)
    );
    assert_eq!(MinRate::DEFAULT.bytes_per_second, 240);
    assert_eq!(MinRate::DEFAULT.grace, Duration::from_secs(5));
}

/// Reads a client's (masked) Close frame; gives its code.
fn read_masked_close_code(stream: &mut TcpStream) -> u16 {
    loop {
        let mut head = [0u8; 2];
        stream.read_exact(&mut head).unwrap();
        let len = usize::from(head[1] & 0x7f);
        assert!(len <= 125, "the client sends short frames here");
        let mut rest = vec![0u8; 4 + len];
        stream.read_exact(&mut rest).unwrap();
        let (mask, payload) = rest.split_at(4);
        let payload: Vec<u8> = payload
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        if head[0] & 0x0f == 0x8 {
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
    }
}

#[test]
fn a_client_closes_a_server_that_trickles_with_1008() {
    let (tx, rx) = std::sync::mpsc::channel();
    let addr = raw_peer(move |mut stream, head| {
        switch_protocols(&mut stream, &head);
        let mut whole = Vec::new();
        FrameHeader::new(OpCode::Text, 1000, None).append_frame(&[b'a'; 1000], &mut whole);
        let stop = Arc::new(AtomicBool::new(false));
        let pieces = whole.iter().map(|b| vec![*b]).collect();
        let writer = trickle(&stream, pieces, &stop);
        let code = read_masked_close_code(&mut stream);
        stop.store(true, Ordering::SeqCst);
        let cut_short = writer.join().unwrap();
        tx.send((code, cut_short)).unwrap();
    });
    let ws = ClientBuilder::new(format!("ws://{addr}/"))
        .config(config())
        .connect()
        .unwrap();
    match ws.receive() {
        Err(Error::MessageTooSlow {
            received, waited, ..
        }) => {
            assert!(received < 1000, "{received}");
            assert!(waited >= RATE.grace, "{waited:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        (1008, true),
        "the close code, and whether it came while the server still trickled"
    );
}
