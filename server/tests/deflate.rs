//! permessage-deflate (RFC 7692) over real sockets, against a client
//! written out by hand with flate2: what the 101 agrees to, compressed
//! messages both ways (whole and fragmented, with and without the
//! client's context), and every way a peer can abuse it: RSV1 where it
//! has no meaning, a deflate bomb, corrupt data, text that is not UTF-8
//! once inflated, references outside the agreed window.

#[path = "support/ws.rs"]
mod ws;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use greenws::{
    DeflateConfig, Error, Hub, Request, ServerHandle, Upgrade, WebSocketConfig, WebSocketHandler,
    WsgiServer,
};
use ws::{frame, Raw};

const CHROMIUM: &str = "permessage-deflate; client_max_window_bits";
const FIREFOX: &str = "permessage-deflate";
/// The removed end of a sync flush (RFC 7692 section 7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// What the app says back: the extensions its socket agreed to, then how
/// its session ended.
type Reports = green::Queue<String>;

/// An echo server (`/echo`) that first reports its socket's extensions,
/// and, after the session, how it ended.
fn start(config: WebSocketConfig, reports: &Reports) -> ServerHandle {
    let reports = reports.clone();
    WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .handler_class(WebSocketHandler::new().config(config))
        .start(move |req: &mut Request| {
            req.upgrade(|ws| {
                reports.put(ws.extensions().unwrap_or_else(|| "none".into()));
                let ended = ws.messages().try_for_each(|message| ws.send(message?));
                reports.put(match ended {
                    Ok(()) => "closed cleanly".into(),
                    Err(Error::Protocol(e)) => format!("protocol error: {e:?}"),
                    Err(e) => format!("error: {e}"),
                });
                Ok(())
            })
        })
        .unwrap()
}

fn next(reports: &Reports) -> String {
    reports
        .get_timeout(Duration::from_secs(20))
        .expect("the app reports")
}

/// Opens a WebSocket offering these `Sec-WebSocket-Extensions` lines; the
/// raw socket and the extensions the 101 names (`None`: no header).
fn connect(addr: SocketAddr, offers: &[&str]) -> (Raw, Option<String>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut request = String::from(
        "GET /echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
    );
    for offer in offers {
        request.push_str(&format!("Sec-WebSocket-Extensions: {offer}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let mut agreed = head.lines().filter_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-extensions")
            .then(|| value.trim().to_owned())
    });
    let extensions = agreed.next();
    assert_eq!(agreed.next(), None, "one Sec-WebSocket-Extensions: {head}");
    (Raw { stream }, extensions)
}

/// A client-side compressor: a flate2 stream with this window, kept across
/// messages (context takeover) unless the caller makes a new one.
fn compressor(window_bits: u8) -> Compress {
    Compress::new_with_window_bits(Compression::new(6), false, window_bits)
}

/// One message as permessage-deflate sends it: deflated, sync-flushed,
/// the tail removed.
fn deflate(compress: &mut Compress, message: &[u8]) -> Vec<u8> {
    let mut out = deflate_part(compress, message);
    out.truncate(out.len() - TAIL.len());
    out
}

/// Part of a message: deflated and sync-flushed (the tail stays).
fn deflate_part(compress: &mut Compress, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    let start = compress.total_in();
    loop {
        let consumed = (compress.total_in() - start) as usize;
        compress
            .compress_vec(&message[consumed..], &mut out, FlushCompress::Sync)
            .unwrap();
        if (compress.total_in() - start) as usize == message.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity());
    }
    assert!(out.ends_with(&TAIL));
    out
}

/// The message a compressed payload stands for (a fresh stream: the
/// server keeps no context by default).
fn inflate(payload: &[u8]) -> Vec<u8> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&TAIL);
    let mut out = Vec::with_capacity(64 * 1024);
    let mut decompress = Decompress::new(false);
    loop {
        let consumed = decompress.total_in() as usize;
        decompress
            .decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync)
            .unwrap();
        if decompress.total_in() as usize == input.len() && out.len() < out.capacity() {
            return out;
        }
        out.reserve(out.capacity());
    }
}

/// A 4 KiB-ish JSON message whose values change with `seq`.
fn market(seq: usize) -> String {
    let rows: Vec<String> = (0..40)
        .map(|i| {
            format!(
                "{{\"symbol\":\"SYM{i:03}\",\"bid\":{}.{:02},\"ask\":{}.{:02},\"volume\":{}}}",
                100 + (seq * 7 + i * 13) % 50,
                (seq * 31 + i) % 100,
                101 + (seq * 7 + i * 13) % 50,
                (seq * 17 + i * 3) % 100,
                (seq + 1) * (i + 3) * 97 % 100_000
            )
        })
        .collect();
    format!("{{\"seq\":{seq},\"quotes\":[{}]}}", rows.join(","))
}

/// Bytes that do not compress (xorshift).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// Reads the server's next frame; a compressed one is inflated. Gives the
/// first byte (RSV1 included) and the message.
fn read_message(raw: &mut Raw) -> (u8, Vec<u8>) {
    let (first, payload) = raw.read_frame().expect("a frame");
    if first & 0x40 != 0 {
        (first, inflate(&payload))
    } else {
        (first, payload)
    }
}

#[test]
fn the_101_names_exactly_what_was_agreed() {
    let reports = Reports::unbounded();
    let server = start(WebSocketConfig::default(), &reports);
    let addr = server.local_addr();
    let cases: [(&[&str], Option<&str>); 7] = [
        (
            &[CHROMIUM],
            Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=11"),
        ),
        (
            &[FIREFOX],
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        ),
        // Python's websockets and Node's ws as clients.
        (
            &["permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"],
            Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=12; client_max_window_bits=11"),
        ),
        // Several offers, in one line and in two: the first acceptable.
        (
            &["permessage-deflate; server_max_window_bits=20, permessage-deflate; server_max_window_bits=10"],
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10"),
        ),
        (
            &["x-webkit-deflate-frame", "permessage-deflate; bogus", FIREFOX],
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        ),
        // Nothing acceptable: the handshake goes on without compression.
        (&["permessage-deflate; server_max_window_bits=7"], None),
        (&[], None),
    ];
    for (offers, expected) in cases {
        let (mut raw, agreed) = connect(addr, offers);
        assert_eq!(agreed.as_deref(), expected, "{offers:?}");
        assert_eq!(next(&reports), expected.unwrap_or("none"), "{offers:?}");
        raw.send_frame(0x88, &1000u16.to_be_bytes(), true);
        assert_eq!(raw.read_close_code(), 1000);
        assert_eq!(next(&reports), "closed cleanly");
    }

    // Compression off: never agreed.
    let server = start(
        WebSocketConfig::default().deflate(DeflateConfig::disabled()),
        &reports,
    );
    let (_raw, agreed) = connect(server.local_addr(), &[CHROMIUM]);
    assert_eq!(agreed, None);
    assert_eq!(next(&reports), "none");
}

#[test]
fn compressed_messages_echo_whole_and_fragmented() {
    let reports = Reports::unbounded();
    let server = start(WebSocketConfig::default(), &reports);
    let (mut raw, _) = connect(server.local_addr(), &[FIREFOX]);
    assert!(next(&reports).starts_with("permessage-deflate"));
    let big_text = market(1).repeat(30);
    let binary: Vec<u8> = (0..200_000u32).map(|i| (i / 1000) as u8).collect();
    for (opcode, message) in [(0x1u8, big_text.as_bytes()), (0x2, &binary[..])] {
        // Firefox's offer: the client keeps no context, a fresh stream each.
        let payload = deflate(&mut compressor(15), message);
        assert!(payload.len() * 10 < message.len());
        raw.send_frame(0xC0 | opcode, &payload, true);
        assert_eq!(read_message(&mut raw), (0xC0 | opcode, message.to_vec()));
        // In three fragments, RSV1 on the first only; a ping in between.
        let third = payload.len() / 3;
        raw.send_frame(0x40 | opcode, &payload[..third], true);
        raw.send_frame(0x89, b"in between", true);
        raw.send_frame(0x00, &payload[third..2 * third], true);
        raw.send_frame(0x80, &payload[2 * third..], true);
        assert_eq!(raw.read_frame().unwrap(), (0x8A, b"in between".to_vec()));
        assert_eq!(read_message(&mut raw), (0xC0 | opcode, message.to_vec()));
    }
    // Under the threshold (256 bytes), the server answers uncompressed;
    // an empty compressed message is an empty message.
    let short = b"{\"short\":true}";
    raw.send_frame(0xC1, &deflate(&mut compressor(15), short), true);
    assert_eq!(raw.read_frame().unwrap(), (0x81, short.to_vec()));
    raw.send_frame(0xC1, &[0x00], true);
    assert_eq!(raw.read_frame().unwrap(), (0x81, Vec::new()));
    raw.send_frame(0xC2, &[], true);
    assert_eq!(raw.read_frame().unwrap(), (0x82, Vec::new()));
    // Uncompressed messages still work.
    raw.send_frame(0x81, big_text.as_bytes(), true);
    assert_eq!(
        read_message(&mut raw),
        (0xC1, big_text.clone().into_bytes())
    );
    raw.send_frame(0x88, &1000u16.to_be_bytes(), true);
    assert_eq!(raw.read_close_code(), 1000);
    assert_eq!(next(&reports), "closed cleanly");
}

#[test]
fn the_clients_context_is_kept_within_the_window_the_server_set() {
    let reports = Reports::unbounded();
    let server = start(WebSocketConfig::default(), &reports);
    // Chromium's offer: the server limits the client to a 2 KiB window
    // and keeps that much of its history.
    let (mut raw, agreed) = connect(server.local_addr(), &[CHROMIUM]);
    assert!(agreed.unwrap().ends_with("client_max_window_bits=11"));
    next(&reports);
    let mut context = compressor(11);
    let mut fresh_sizes = 0;
    let mut context_sizes = 0;
    for seq in 0..20 {
        let message = market(seq);
        let payload = deflate(&mut context, message.as_bytes());
        context_sizes += payload.len();
        fresh_sizes += deflate(&mut compressor(11), message.as_bytes()).len();
        raw.send_frame(0xC1, &payload, true);
        assert_eq!(
            read_message(&mut raw).1,
            message.as_bytes(),
            "message {seq}"
        );
    }
    // The messages did refer back to earlier ones.
    assert!(
        context_sizes < fresh_sizes,
        "{context_sizes} vs {fresh_sizes}"
    );

    // A client that goes past its window: a reference 8 KiB back.
    let (mut raw, _) = connect(server.local_addr(), &[CHROMIUM]);
    next(&reports);
    let mut too_wide = compressor(15);
    let first = noise(8192);
    raw.send_frame(0xC2, &deflate(&mut too_wide, &first), true);
    assert_eq!(read_message(&mut raw).1, first);
    raw.send_frame(0xC2, &deflate(&mut too_wide, &first[..1024]), true);
    assert_eq!(raw.read_close_code(), 1002);
    assert!(raw.is_closed());
    let report = next(&reports);
    assert!(report.contains("InvalidCompressedData"), "{report}");
}

#[test]
fn rsv1_where_it_has_no_meaning_is_a_protocol_error() {
    let reports = Reports::unbounded();
    let server = start(WebSocketConfig::default(), &reports);
    let addr = server.local_addr();
    let payload = deflate(&mut compressor(15), market(0).as_bytes());
    let cases: [(&[&str], &[Vec<u8>]); 4] = [
        // Compression was not agreed.
        (&[], &[frame(0xC1, &payload, true)]),
        // On a continuation frame.
        (
            &[FIREFOX],
            &[
                frame(0x01, &market(0).as_bytes()[..100], true),
                frame(0xC0, &payload, true),
            ],
        ),
        // On control frames.
        (&[FIREFOX], &[frame(0xC9, b"", true)]),
        (&[FIREFOX], &[frame(0xC8, &1000u16.to_be_bytes(), true)]),
    ];
    for (offers, frames) in cases {
        let (mut raw, _) = connect(addr, offers);
        next(&reports);
        for frame in frames {
            raw.stream.write_all(frame).unwrap();
        }
        assert_eq!(raw.read_close_code(), 1002, "{offers:?}");
        assert!(raw.is_closed());
        assert_eq!(next(&reports), "protocol error: ReservedBits");
    }
}

#[test]
fn a_deflate_bomb_is_closed_with_1009_at_the_message_limit() {
    const LIMIT: usize = 1 << 20;
    let reports = Reports::unbounded();
    let config = WebSocketConfig::default()
        .max_message_size(LIMIT)
        .max_frame_size(4096);
    let server = start(config, &reports);
    let addr = server.local_addr();

    // Exactly the limit inflated passes; one byte more does not. Both are
    // about a kilobyte on the wire, in frames far under the frame limit.
    for (len, passes) in [(LIMIT - 1, true), (LIMIT, true), (LIMIT + 1, false)] {
        let (mut raw, _) = connect(addr, &[FIREFOX]);
        next(&reports);
        let payload = deflate(&mut compressor(15), &vec![b'a'; len]);
        assert!(payload.len() < 4096);
        raw.send_frame(0xC1, &payload, true);
        if passes {
            assert_eq!(read_message(&mut raw).1.len(), len);
            raw.send_frame(0x88, &1000u16.to_be_bytes(), true);
            assert_eq!(raw.read_close_code(), 1000);
            assert_eq!(next(&reports), "closed cleanly");
        } else {
            assert_eq!(raw.read_close_code(), 1009, "{len}");
            assert_eq!(
                next(&reports),
                format!("protocol error: MessageTooLarge {{ limit: {LIMIT} }}")
            );
        }
    }

    // 1 GiB of zeros, about a megabyte on the wire, in 1 KiB frames: the
    // server stops at the limit (it never holds more), long before the
    // end of the bomb.
    let (mut raw, _) = connect(addr, &[FIREFOX]);
    next(&reports);
    let mut bomb = compressor(15);
    let zeros = vec![0u8; 1 << 20];
    let mut writer = raw.stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let mut first = true;
        for _ in 0..1024 {
            let payload = deflate_part(&mut bomb, &zeros);
            for piece in payload.chunks(1024) {
                let head = if first { 0x41 } else { 0x00 };
                first = false;
                if writer.write_all(&frame(head, piece, true)).is_err() {
                    return false; // the server hung up
                }
            }
        }
        true
    });
    let code = raw.read_close_code();
    assert_eq!(code, 1009, "{}", next(&reports));
    assert!(raw.is_closed());
    assert!(!sender.join().unwrap(), "the server hung up before the end");
    assert_eq!(
        next(&reports),
        format!("protocol error: MessageTooLarge {{ limit: {LIMIT} }}")
    );

    // The frame limit applies to the compressed bytes on the wire.
    let (mut raw, _) = connect(addr, &[FIREFOX]);
    next(&reports);
    let payload = deflate(&mut compressor(15), &noise(8000));
    assert!(payload.len() > 4096, "{}", payload.len());
    raw.send_frame(0xC2, &payload, true);
    let code = raw.read_close_code();
    assert_eq!(code, 1009, "{}", next(&reports));
    assert_eq!(
        next(&reports),
        "protocol error: FrameTooLarge { limit: 4096 }"
    );
}

#[test]
fn corrupt_data_is_1002_and_text_that_is_not_utf8_once_inflated_is_1007() {
    let reports = Reports::unbounded();
    let server = start(WebSocketConfig::default(), &reports);
    let addr = server.local_addr();

    // Block type 3 does not exist.
    let (mut raw, _) = connect(addr, &[FIREFOX]);
    next(&reports);
    raw.send_frame(0xC1, &[0xff, 0xff, 0xff, 0xff], true);
    assert_eq!(raw.read_close_code(), 1002);
    let report = next(&reports);
    assert!(report.contains("InvalidCompressedData"), "{report}");

    // Valid DEFLATE, invalid UTF-8 inside: found as it inflates, even
    // before the message ends.
    let (mut raw, _) = connect(addr, &[FIREFOX]);
    next(&reports);
    let mut text = market(0).into_bytes();
    text[300] = 0xff;
    let payload = deflate(&mut compressor(15), &text);
    raw.send_frame(0x41, &payload, true);
    assert_eq!(raw.read_close_code(), 1007);
    assert_eq!(next(&reports), "protocol error: InvalidUtf8");
}

#[test]
fn a_hub_broadcast_is_compressed_for_members_that_agreed() {
    let reports = Reports::unbounded();
    let hub = Hub::new(16);
    let server = {
        let (hub, reports) = (hub.clone(), reports.clone());
        WsgiServer::bind("127.0.0.1:0")
            .unwrap()
            .handler_class(WebSocketHandler::new())
            .start(move |req: &mut Request| {
                req.upgrade(|ws| {
                    hub.join(&ws);
                    reports.put("joined".to_owned());
                    for message in ws.messages() {
                        message?;
                    }
                    Ok(())
                })
            })
            .unwrap()
    };
    let addr = server.local_addr();
    let mut members: Vec<(Raw, bool)> = [&[CHROMIUM][..], &[FIREFOX], &[]]
        .into_iter()
        .map(|offers| {
            let (raw, agreed) = connect(addr, offers);
            assert_eq!(next(&reports), "joined");
            (raw, agreed.is_some())
        })
        .collect();
    let message = market(7);
    assert_eq!(hub.broadcast(message.clone()), 3);
    let mut compressed = Vec::new();
    for (raw, agreed) in &mut members {
        let (first, payload) = raw.read_frame().unwrap();
        if *agreed {
            assert_eq!(first, 0xC1);
            assert_eq!(inflate(&payload), message.as_bytes());
            compressed.push(payload);
        } else {
            assert_eq!((first, payload), (0x81, message.clone().into_bytes()));
        }
    }
    // The same bytes for both: one compression.
    assert_eq!(compressed[0], compressed[1]);
}

/// With a compression context on the server's side (`prefer_ratio`), a
/// message the compressor took in must reach the peer, whose context
/// follows the server's: `try_send` never drops one after compressing it,
/// even when the socket takes none of it (it goes out as the socket's
/// tail; the next `try_send` reports `WouldBlock`).
#[test]
fn try_send_with_a_compression_context_never_loses_a_compressed_message() {
    const MESSAGES: usize = 400;
    let reports = Reports::unbounded();
    let go = green::Queue::unbounded();
    let config = WebSocketConfig::default()
        .deflate(DeflateConfig::default().prefer_ratio())
        .send_buffer(Some(4096));
    let server = {
        let (reports, go) = (reports.clone(), go.clone());
        WsgiServer::bind("127.0.0.1:0")
            .unwrap()
            .handler_class(WebSocketHandler::new().config(config))
            .start(move |req: &mut Request| {
                req.upgrade(|ws| {
                    let mut blocked = 0;
                    for seq in 0..MESSAGES {
                        loop {
                            match ws.try_send(market(seq).repeat(4)) {
                                Ok(()) => break,
                                Err(Error::WouldBlock { .. }) => {
                                    blocked += 1;
                                    if blocked == 1 {
                                        reports.put("blocked".to_owned());
                                        let _: () = go.get();
                                    } else {
                                        green::sleep(Duration::from_millis(1));
                                    }
                                }
                                Err(e) => {
                                    reports.put(format!("error: {e}"));
                                    return Err(e);
                                }
                            }
                        }
                    }
                    reports.put(format!("sent, blocked {blocked} times"));
                    for message in ws.messages() {
                        message?;
                    }
                    Ok(())
                })
            })
            .unwrap()
    };
    let (mut raw, agreed) = connect(server.local_addr(), &[CHROMIUM]);
    assert_eq!(agreed.as_deref(), Some("permessage-deflate"));
    assert_eq!(next(&reports), "blocked");
    go.put(());
    // The server kept its context: so does this decoder.
    let mut context = Decompress::new(false);
    for seq in 0..MESSAGES {
        let (first, payload) = raw.read_frame().unwrap();
        assert_eq!(first, 0xC1, "message {seq}");
        let mut input = payload;
        input.extend_from_slice(&TAIL);
        let expected = market(seq).repeat(4);
        let mut out = Vec::with_capacity(expected.len() + 64);
        context
            .decompress_vec(&input, &mut out, FlushDecompress::Sync)
            .unwrap_or_else(|e| panic!("message {seq}: {e}"));
        assert!(
            out == expected.as_bytes(),
            "message {seq} decodes to {} bytes, not the {} sent",
            out.len(),
            expected.len()
        );
    }
    let report = next(&reports);
    assert!(report.starts_with("sent, blocked "), "{report}");
}
