//! A WebSocket peer written out by hand, for the client's tests.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use greenws::proto::websocket::accept_key;

/// A peer written out by hand: accepts one connection, reads the request
/// head, and hands both to `respond` (on a thread of its own).
pub fn raw_peer(respond: impl FnOnce(TcpStream, String) + Send + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).unwrap_or(0) == 0 {
                return;
            }
            head.push(byte[0]);
        }
        respond(stream, String::from_utf8(head).unwrap());
    });
    addr
}

/// The accept key for the request `head`.
pub fn accept_for(head: &str) -> String {
    let key = head
        .lines()
        .find_map(|line| line.strip_prefix("Sec-WebSocket-Key: "))
        .expect("a key");
    accept_key(key.as_bytes())
}

/// Answers the request `head` with a plain 101 (no subprotocol, no
/// extension).
pub fn switch_protocols(stream: &mut TcpStream, head: &str) {
    write!(
        stream,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_for(head)
    )
    .unwrap();
}
