//! The PROXY protocol listener option: the header's source address
//! becomes the client's; a missing, malformed, endless or untrusted header
//! closes the connection without an answer.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use greenws::proto::proxy::{encode_v1, encode_v2};
use greenws::{Limits, Request, Response, ServerHandle, WsgiServer};

fn start(trusted: &str) -> ServerHandle {
    let mut server = WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .proxy_protocol(true)
        .limits(Limits {
            header_timeout: Duration::from_millis(300),
            ..Limits::default()
        });
    if !trusted.is_empty() {
        server = server.trusted_proxies(trusted.parse().unwrap());
    }
    server
        .start(|req: &mut Request| Response::text(req.peer_addr().to_string()))
        .unwrap()
}

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

/// Sends `bytes`, then reads until the server closes: what it answered.
fn exchange(server: &ServerHandle, bytes: &[u8]) -> String {
    let mut client = TcpStream::connect(server.local_addr()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The server may close before taking all of it (an endless header).
    let _ = client.write_all(bytes);
    let mut answer = Vec::new();
    match client.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the server neither answered nor closed: {e}"),
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn the_headers_source_is_the_client() {
    let server = start("127.0.0.1");
    let source: SocketAddr = "203.0.113.9:4711".parse().unwrap();
    let destination: SocketAddr = "198.51.100.1:443".parse().unwrap();
    for header in [
        encode_v1(source, destination).into_bytes(),
        encode_v2(source, destination),
    ] {
        let answer = exchange(&server, &[header, REQUEST.to_vec()].concat());
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("203.0.113.9:4711"), "{answer}");
    }
    // UNKNOWN: the connection's own peer.
    let answer = exchange(&server, &[b"PROXY UNKNOWN\r\n", REQUEST].concat());
    assert!(answer.contains("127.0.0.1:"), "{answer}");
}

#[test]
fn a_missing_malformed_or_endless_header_closes_the_connection() {
    let server = start("");
    for bytes in [
        REQUEST.to_vec(),
        [&b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n"[..], REQUEST].concat(),
        [b"PROXY UNKNOWN".as_slice(), &[b' '; 10_000]].concat(),
        // The header never completes: closed at the header timeout.
        b"PROXY TCP4 1.2.3.4".to_vec(),
    ] {
        assert_eq!(
            exchange(&server, &bytes),
            "",
            "{:?}",
            String::from_utf8_lossy(&bytes[..20])
        );
    }
}

#[test]
fn with_trusted_proxies_only_they_may_send_it() {
    let server = start("10.0.0.0/8");
    let header = encode_v1(
        "203.0.113.9:1".parse().unwrap(),
        "198.51.100.1:80".parse().unwrap(),
    );
    assert_eq!(
        exchange(&server, &[header.as_bytes(), REQUEST].concat()),
        ""
    );
}
