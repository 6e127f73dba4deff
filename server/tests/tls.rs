//! HTTPS and wss:// with a self-signed certificate made at test time and a
//! rustls client: a GET, a WebSocket echo, full duplex, bad and stalled
//! handshakes, and configuration errors.

#[path = "support/example.rs"]
mod example;
mod support;
#[path = "support/tls.rs"]
mod tls;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenws::http::StatusCode;
use greenws::{
    Error, Limits, Request, Response, ServerHandle, Upgrade, WebSocketHandler, WsgiServer,
};
use rustls::ClientConfig;
use tls::{certificate, client_config, connect, Certificate, TlsClient};

fn app(req: &mut Request) -> Response {
    match req.path() {
        "/" => Response::text(format!("hello over {}", req.scheme())),
        "/echo" => req.upgrade(|ws| {
            for message in ws.messages() {
                ws.send(message?)?;
            }
            Ok(())
        }),
        "/duplex" => req.upgrade(|ws| {
            let senders: Vec<_> = (0..50)
                .map(|s| {
                    let ws = ws.clone();
                    green::spawn(move || {
                        for m in 0..20 {
                            ws.send(format!("sender {s:02} message {m:02} ").repeat(20))
                                .unwrap();
                        }
                    })
                })
                .collect();
            let got = ws.receive();
            green::join_all(&senders, None);
            ws.send(format!("receiver got {got:?}"))?;
            let _ = ws.receive();
            Ok(())
        }),
        _ => Response::new(StatusCode::NOT_FOUND),
    }
}

fn start(cert: &Certificate, limits: Limits) -> ServerHandle {
    WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .tls(&cert.cert, &cert.key)
        .expect("the certificate and key load")
        .handler_class(WebSocketHandler::new())
        .limits(limits)
        .start(app)
        .unwrap()
}

#[test]
fn an_https_get_with_alpn() {
    let cert = certificate("get");
    let server = start(&cert, Limits::default());
    let mut client = connect(server.local_addr(), &client_config(&cert));
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    let _ = client.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.ends_with("hello over https"), "{reply}");
    assert_eq!(client.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
}

fn wss(
    addr: SocketAddr,
    path: &str,
    config: &Arc<ClientConfig>,
) -> tungstenite::WebSocket<TlsClient> {
    let stream = connect(addr, config);
    let (ws, _) = tungstenite::client(format!("wss://localhost:{}{path}", addr.port()), stream)
        .unwrap_or_else(|e| panic!("wss handshake: {e}"));
    ws
}

#[test]
fn a_wss_echo() {
    let cert = certificate("echo");
    let server = start(&cert, Limits::default());
    let mut ws = wss(server.local_addr(), "/echo", &client_config(&cert));
    for message in [
        tungstenite::Message::text("over TLS"),
        tungstenite::Message::binary(vec![7u8; 100_000]),
        tungstenite::Message::text(""),
    ] {
        ws.send(message.clone()).unwrap();
        assert_eq!(ws.read().unwrap(), message);
    }
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
}

#[test]
fn fifty_senders_and_a_blocked_receiver_over_wss() {
    let cert = certificate("duplex");
    let server = start(&cert, Limits::default());
    let mut ws = wss(server.local_addr(), "/duplex", &client_config(&cert));
    let mut seen = HashSet::new();
    for _ in 0..50 * 20 {
        let text = ws.read().unwrap().into_text().unwrap();
        let unit = &text[.."sender 00 message 00 ".len()];
        assert_eq!(text.as_str(), unit.repeat(20), "a message arrived intact");
        assert!(seen.insert(unit.to_string()), "no message twice");
    }
    ws.send(tungstenite::Message::text("done")).unwrap();
    let report = ws.read().unwrap().into_text().unwrap();
    assert_eq!(report.as_str(), "receiver got Ok(Some(Text(\"done\")))");
}

#[test]
fn a_bad_handshake_then_a_good_one_and_a_stalled_one_times_out() {
    let cert = certificate("bad");
    let limits = Limits {
        header_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = start(&cert, limits);
    let addr = server.local_addr();

    // Plain HTTP to the TLS port: the handshake fails, only that
    // connection is closed.
    let mut plain = TcpStream::connect(addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = plain.read_to_end(&mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));

    // A client that connects and says nothing is cut off.
    let mut silent = TcpStream::connect(addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let t = Instant::now();
    let mut byte = [0u8; 1];
    assert!(matches!(silent.read(&mut byte), Ok(0) | Err(_)));
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());

    // A good client is served all the while.
    let mut client = connect(addr, &client_config(&cert));
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    let _ = client.read_to_string(&mut reply);
    assert!(reply.ends_with("hello over https"), "{reply}");
}

#[test]
fn bad_certificates_and_keys_are_errors_at_start() {
    let cert = certificate("errors");
    let other = certificate("other");
    let bind = || WsgiServer::bind("127.0.0.1:0").unwrap();
    let message = |result: Result<WsgiServer, Error>| match result {
        Err(Error::Tls(why)) => why,
        Err(other) => panic!("expected a TLS error, got {other}"),
        Ok(_) => panic!("expected a TLS error"),
    };
    let missing = message(bind().tls(cert.dir.join("nope.pem"), &cert.key));
    assert!(missing.contains("nope.pem"), "{missing}");
    let mismatched = message(bind().tls(&cert.cert, &other.key));
    assert!(mismatched.contains("do not work together"), "{mismatched}");
    std::fs::write(cert.dir.join("junk.pem"), "not a pem file").unwrap();
    let junk = message(bind().tls(cert.dir.join("junk.pem"), &cert.key));
    assert!(junk.contains("junk.pem"), "{junk}");
    let no_key = message(bind().tls(&cert.cert, &cert.cert));
    assert!(no_key.contains("private key"), "{no_key}");
}

#[test]
fn the_demo_serves_https_with_cert_and_key() {
    let cert = certificate("demo");
    let (cert_path, key_path) = (cert.cert.to_string_lossy(), cert.key.to_string_lossy());
    let demo = example::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_plot-demo")),
        &["--no-browser", "--cert", &cert_path, "--key", &key_path],
    );
    let addr = demo.addr;
    let config = client_config(&cert);
    let mut client = connect(addr, &config);
    client
        .write_all(b"GET /test HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    let _ = client.read_to_string(&mut reply);
    assert!(reply.ends_with("Yes this is a test!"), "{reply}");
    let mut data = wss(addr, "/echo", &config);
    data.send(tungstenite::Message::text("secure echo"))
        .unwrap();
    assert_eq!(
        data.read().unwrap(),
        tungstenite::Message::text("secure echo")
    );
}
