//! The `WebSocket` handle in the client role (opened by the client,
//! `ClientBuilder`), against tungstenite's server: what it sends must be
//! masked (tungstenite refuses a client's unmasked frames), what it
//! receives must not be. Then, with
//! permessage-deflate, against our own server; and a `PreparedMessage`
//! compressed once for several sockets.

use std::net::TcpListener;
use std::sync::Arc;

use super::{DeflateConfig, PreparedMessage, WebSocket, WebSocketConfig, WebSocketHandler};
use crate::proto::websocket::{CloseCode, Message};
use crate::{ClientBuilder, Request, ServerHandle, Upgrade, WsgiServer};

/// Opens a client-role `WebSocket` to `path` at `addr` with the client
/// (`greenws::ClientBuilder`), offering `protocols`; permessage-deflate is
/// offered as `config.deflate` says.
fn open_client(
    addr: std::net::SocketAddr,
    path: &str,
    protocols: &[&str],
    config: WebSocketConfig,
) -> WebSocket {
    ClientBuilder::new(format!("ws://{addr}{path}"))
        .protocols(protocols.iter().copied())
        .config(config)
        .connect()
        .unwrap()
}

#[test]
fn the_handle_speaks_the_client_role_to_tungstenite() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(stream).unwrap();
        let mut echoed = 0;
        loop {
            match ws.read() {
                Ok(message) if message.is_text() || message.is_binary() => {
                    ws.send(message).unwrap();
                    echoed += 1;
                }
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => return echoed,
                Err(e) => panic!("tungstenite's server: {e}"),
            }
        }
    });

    let ws = open_client(addr, "/echo?x=1", &["echo"], WebSocketConfig::default());
    assert_eq!(ws.extensions(), None);
    assert_eq!(ws.request().query_param("x"), Some("1"));
    for message in [
        Message::from("hello"),
        Message::from(vec![0u8, 1, 2, 255]),
        Message::from("x".repeat(70_000)),
    ] {
        ws.send(&message).unwrap();
        assert_eq!(ws.receive().unwrap(), Some(message.clone()));
        ws.try_send(&message).unwrap();
        assert_eq!(ws.receive().unwrap(), Some(message));
    }
    let prepared = super::PreparedMessage::new("prepared");
    ws.send_prepared(&prepared).unwrap();
    assert_eq!(ws.receive().unwrap(), Some(Message::from("prepared")));
    ws.close(CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(server.join().unwrap(), 7);
    // The server answered our Close with its own.
    assert_eq!(ws.close_reason().map(|r| r.code), Some(CloseCode::NORMAL));
}

/// Our echo server, which first says which extensions it agreed to.
fn start_echo(config: WebSocketConfig) -> ServerHandle {
    WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .handler_class(WebSocketHandler::new().config(config))
        .start(|req: &mut Request| {
            req.upgrade(|ws| {
                ws.send(ws.extensions().unwrap_or_default())?;
                for message in ws.messages() {
                    ws.send(message?)?;
                }
                Ok(())
            })
        })
        .unwrap()
}

/// Messages that compress (text and binary, one of them larger than a
/// read), one that does not, and one under the threshold.
fn deflate_samples() -> Vec<Message> {
    let json: String = (0..3000)
        .map(|i| format!("{{\"id\":{i},\"bid\":{}.{}}},", 100 + i % 7, i % 97))
        .collect();
    let mut noise = Vec::with_capacity(20_000);
    let mut x: u32 = 1;
    for _ in 0..20_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        noise.push((x >> 16) as u8);
    }
    vec![
        Message::from(json.clone()),
        Message::from(json.repeat(3).into_bytes()),
        Message::from(noise),
        Message::from("short"),
        Message::from(""),
    ]
}

#[test]
fn the_client_role_compresses_both_ways_with_our_server() {
    // The default settings on both sides, and the ones that keep a zlib
    // stream per direction.
    for deflate in [
        DeflateConfig::default(),
        DeflateConfig::default().prefer_ratio(),
    ] {
        let config = WebSocketConfig::default().deflate(deflate.clone());
        let server = start_echo(config.clone());
        let ws = open_client(server.local_addr(), "/echo", &[], config);
        let agreed = ws.extensions().expect("compression agreed");
        assert!(agreed.starts_with("permessage-deflate"), "{agreed}");
        // The server names the same agreement.
        assert_eq!(ws.receive().unwrap(), Some(Message::from(agreed.clone())));
        for round in 0..2 {
            for message in deflate_samples() {
                ws.send(&message).unwrap();
                assert_eq!(
                    ws.receive().unwrap().as_ref(),
                    Some(&message),
                    "{agreed} round {round}"
                );
                ws.try_send(&message).unwrap();
                assert_eq!(
                    ws.receive().unwrap().as_ref(),
                    Some(&message),
                    "{agreed} round {round}"
                );
            }
            let prepared = PreparedMessage::new(deflate_samples().swap_remove(0));
            ws.send_prepared(&prepared).unwrap();
            assert_eq!(
                ws.receive().unwrap().as_ref(),
                Some(&deflate_samples()[0]),
                "{agreed}"
            );
            // A client without context shares the compressed form.
            let shared = usize::from(deflate == DeflateConfig::default());
            assert_eq!(prepared.compressed_forms(), shared, "{agreed}");
        }
        ws.close(CloseCode::NORMAL, "bye").unwrap();
    }
}

#[test]
fn a_prepared_message_is_compressed_once_for_sockets_of_one_setting() {
    let sockets = green::Queue::unbounded();
    let done = Arc::new(green::Event::new());
    let server = {
        let (sockets, done) = (sockets.clone(), done.clone());
        WsgiServer::bind("127.0.0.1:0")
            .unwrap()
            .handler_class(WebSocketHandler::new())
            .start(move |req: &mut Request| {
                req.upgrade(|ws| {
                    sockets.put(ws.clone());
                    done.wait();
                    Ok(())
                })
            })
            .unwrap()
    };
    let addr = server.local_addr();
    // Three clients that compress (two with the same setting), one that
    // does not.
    let settings = [
        DeflateConfig::default(),
        DeflateConfig::default(),
        DeflateConfig::default()
            .compress_window_bits(10)
            .decompress_window_bits(10),
        DeflateConfig::disabled(),
    ];
    let clients: Vec<WebSocket> = settings
        .iter()
        .map(|deflate| {
            let config = WebSocketConfig::default().deflate(deflate.clone());
            open_client(addr, "/", &[], config)
        })
        .collect();
    let served: Vec<WebSocket> = (0..clients.len()).map(|_| sockets.get()).collect();
    let message = deflate_samples().swap_remove(0);
    let prepared = PreparedMessage::new(message.clone());
    for ws in &served {
        ws.send_prepared(&prepared).unwrap();
    }
    for client in &clients {
        assert_eq!(client.receive().unwrap().as_ref(), Some(&message));
    }
    // Window 12 for the first two (as they asked), 10 for the third.
    assert_eq!(prepared.compressed_forms(), 2);
    done.set();
}

/// What our client sends, read by a server written out by hand: the
/// first frame of a compressed message has RSV1 and is masked, the
/// payload is raw DEFLATE without the `00 00 ff ff`, control frames and
/// short messages are sent as they are.
#[test]
fn the_client_role_sends_compressed_masked_frames() {
    use std::io::{Read, Write};

    use crate::proto::websocket::{accept_key, apply_mask, FrameHeader, OpCode};

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let message = deflate_samples().swap_remove(0);
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let key = head
            .lines()
            .find_map(|line| line.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap();
        write!(
            stream,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Extensions: permessage-deflate; \
             server_max_window_bits=11; client_no_context_takeover\r\n\r\n",
            accept_key(key.as_bytes())
        )
        .unwrap();
        let mut frames = Vec::new();
        loop {
            let mut header = Vec::new();
            let parsed = loop {
                stream.read_exact(&mut byte).unwrap();
                header.push(byte[0]);
                if let Some((parsed, _)) = FrameHeader::parse(&header).unwrap() {
                    break parsed;
                }
            };
            let mut payload = vec![0; parsed.payload_len as usize];
            stream.read_exact(&mut payload).unwrap();
            apply_mask(&mut payload, parsed.mask.expect("a client masks"), 0);
            let close = parsed.opcode == OpCode::Close;
            frames.push((parsed.opcode, parsed.rsv1, payload));
            if close {
                return frames;
            }
        }
    });
    let ws = open_client(addr, "/", &[], WebSocketConfig::default());
    ws.send(&message).unwrap();
    ws.send("short").unwrap();
    ws.ping(b"ping").unwrap();
    let _ = ws.close(CloseCode::NORMAL, "");
    let frames = server.join().unwrap();
    let kinds: Vec<(OpCode, bool)> = frames.iter().map(|(op, rsv1, _)| (*op, *rsv1)).collect();
    assert_eq!(
        kinds,
        [
            (OpCode::Text, true),
            (OpCode::Text, false),
            (OpCode::Ping, false),
            (OpCode::Close, false)
        ]
    );
    let compressed = &frames[0].2;
    assert!(
        compressed.len() * 4 < message.len(),
        "{} bytes",
        compressed.len()
    );
    let mut input = compressed.clone();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut plain = Vec::with_capacity(message.len() + 64);
    flate2::Decompress::new(false)
        .decompress_vec(&input, &mut plain, flate2::FlushDecompress::Sync)
        .unwrap();
    assert_eq!(plain, message.as_bytes());
    assert_eq!(frames[1].2, b"short");
}
