//! Failed handshakes never hold up the next client (issue 18): a client
//! that sends garbage (plaintext to the TLS port, a malformed request to
//! the plain one) is closed, and the next connection, usually on the same
//! descriptor number, is served at once, with and without ALPN, with debug
//! logging on (which changes the timing: each line is written out
//! synchronously). Then the same under concurrency, a third of the
//! clients sending garbage and a sixth opening WebSockets (wss:// without
//! ALPN on the TLS port). Every read gives up after 10 s, far beyond
//! the milliseconds a handshake takes: a stall fails the test.

mod support;
#[path = "support/tls.rs"]
mod tls;
#[path = "support/ws.rs"]
mod ws;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use greenws::{Limits, Request, Response, ServerHandle, Upgrade, WebSocketHandler, WsgiServer};
use tls::{client_config, client_config_without_alpn, Certificate};

/// Repetitions of the sequence that stalled.
const SEQUENCES: usize = 300;
/// Client threads of the stress tests, and the connections each makes.
const CLIENTS: usize = 12;
const CONNECTIONS_PER_CLIENT: usize = 60;

/// What a client that does not speak the server's protocol sends.
const GARBAGE: &[u8] = b"GET / HTTP/1.1\r\n\r\n\x16\x03\x01garbage\xff\xfe\r\n\r\n";

fn app(req: &mut Request) -> Response {
    if !req.is_websocket() {
        return Response::text(format!("hello {}", req.path()));
    }
    req.upgrade(|ws| {
        for message in ws.messages() {
            ws.send(message?)?;
        }
        Ok(())
    })
}

/// Debug logging for the whole process (this test binary), written to
/// nowhere but formatted and written all the same.
fn debug_logging() {
    let _ = env_logger::Builder::new()
        .parse_filters("debug")
        .target(env_logger::Target::Pipe(Box::new(std::io::sink())))
        .try_init();
}

fn start(tls: Option<&Certificate>) -> ServerHandle {
    debug_logging();
    let server = WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .handler_class(WebSocketHandler::new())
        .limits(Limits::default());
    let server = match tls {
        Some(cert) => server.tls(&cert.cert, &cert.key).unwrap(),
        None => server,
    };
    server.start(app).unwrap()
}

/// A client that sends garbage and closes, as `printf ... | nc` would.
fn send_garbage(addr: SocketAddr) {
    let mut client = TcpStream::connect(addr).unwrap();
    let _ = client.write_all(GARBAGE);
}

/// A client that sends garbage and reads the answer (a TLS alert, a 400)
/// until the server closes.
fn send_garbage_and_read(addr: SocketAddr) {
    let mut client = TcpStream::connect(addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = client.write_all(GARBAGE);
    let mut answer = Vec::new();
    if let Err(e) = client.read_to_end(&mut answer) {
        assert_ne!(e.kind(), std::io::ErrorKind::WouldBlock, "no close in 10 s");
    }
}

/// A plain HTTP GET on a new connection.
fn plain_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let mut client = support::Client::connect(addr);
    client.send(format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    ));
    match client.read_reply(false) {
        Ok(reply) => Ok(reply.text()),
        Err(e) => Err(format!("no reply: {e}")),
    }
}

/// A WebSocket echo over TLS without ALPN, as the Python client.
fn wss_echo(addr: SocketAddr, cert: &Certificate) -> Result<(), String> {
    let stream = tls::connect(addr, &client_config_without_alpn(cert));
    let url = format!("wss://localhost:{}/echo", addr.port());
    let (mut ws, _) =
        tungstenite::client(url, stream).map_err(|e| format!("wss handshake: {e}"))?;
    ws.send(tungstenite::Message::text("hi"))
        .map_err(|e| format!("send: {e}"))?;
    match ws.read() {
        Ok(message) if message == tungstenite::Message::text("hi") => {}
        other => return Err(format!("echo: {other:?}")),
    }
    let _ = ws.close(None);
    while ws.read().is_ok() {}
    Ok(())
}

/// A WebSocket echo over plain TCP.
fn ws_echo(addr: SocketAddr) -> Result<(), String> {
    let (mut ws, _) =
        ws::connect_with(addr, "/echo", &[]).map_err(|e| format!("ws handshake: {e}"))?;
    ws.send(tungstenite::Message::text("hi"))
        .map_err(|e| format!("send: {e}"))?;
    match ws.read() {
        Ok(message) if message == tungstenite::Message::text("hi") => Ok(()),
        other => Err(format!("echo: {other:?}")),
    }
}

#[test]
fn tls_failed_handshakes_never_stall_the_next_clients() {
    let cert = tls::certificate("failed-handshakes");
    let server = start(Some(&cert));
    let addr = server.local_addr();
    let (with_alpn, without_alpn) = (client_config(&cert), client_config_without_alpn(&cert));
    for round in 0..SEQUENCES {
        let reply = tls::get(addr, &with_alpn, "/test");
        assert!(
            reply.as_ref().is_ok_and(|r| r.ends_with("hello /test")),
            "round {round}: {reply:?}"
        );
        if round % 2 == 0 {
            send_garbage(addr);
        } else {
            send_garbage_and_read(addr);
        }
        let after = match round % 3 {
            0 => wss_echo(addr, &cert),
            1 => tls::get(addr, &without_alpn, "/next").map(drop),
            _ => tls::get(addr, &with_alpn, "/next").map(drop),
        };
        assert!(
            after.is_ok(),
            "round {round}: after a failed handshake: {after:?}"
        );
    }
}

#[test]
fn plain_failed_requests_never_stall_the_next_clients() {
    let server = start(None);
    let addr = server.local_addr();
    for round in 0..SEQUENCES {
        let reply = plain_get(addr, "/test");
        assert!(
            reply.as_ref().is_ok_and(|r| r == "hello /test"),
            "round {round}: {reply:?}"
        );
        if round % 2 == 0 {
            send_garbage(addr);
        } else {
            send_garbage_and_read(addr);
        }
        let after = if round % 3 == 0 {
            ws_echo(addr)
        } else {
            plain_get(addr, "/next").map(drop)
        };
        assert!(
            after.is_ok(),
            "round {round}: after a failed request: {after:?}"
        );
    }
}

/// Runs `CLIENTS` threads of `CONNECTIONS_PER_CLIENT` connections each; a
/// third of the connections send garbage. Gives the failures.
fn stress(connect: impl Fn(usize) -> Result<(), String> + Sync) -> Vec<String> {
    let connect = &connect;
    std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                scope.spawn(move || {
                    (0..CONNECTIONS_PER_CLIENT)
                        .filter_map(|n| {
                            let turn = client + n * CLIENTS;
                            connect(turn)
                                .err()
                                .map(|e| format!("connection {turn}: {e}"))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    })
}

#[test]
fn tls_concurrent_handshakes_with_a_third_garbage_all_get_served() {
    let cert = tls::certificate("stress");
    let server = start(Some(&cert));
    let addr = server.local_addr();
    let configs = [client_config(&cert), client_config_without_alpn(&cert)];
    let configs: &[Arc<rustls::ClientConfig>] = &configs;
    let failures = stress(|turn| match turn % 6 {
        0 | 3 => {
            send_garbage_and_read(addr);
            Ok(())
        }
        // WebSocket handshakes too, without ALPN as the client.
        1 => wss_echo(addr, &cert),
        _ => {
            let reply = tls::get(addr, &configs[turn % 2], "/stress")?;
            reply
                .ends_with("hello /stress")
                .then_some(())
                .ok_or(format!("reply {reply:?}"))
        }
    });
    assert!(failures.is_empty(), "{failures:#?}");
    drop(server);
}

#[test]
fn plain_concurrent_requests_with_a_third_garbage_all_get_served() {
    let server = start(None);
    let addr = server.local_addr();
    let failures = stress(|turn| match turn % 6 {
        0 | 3 => {
            send_garbage_and_read(addr);
            Ok(())
        }
        1 => ws_echo(addr),
        _ => {
            let reply = plain_get(addr, "/stress")?;
            (reply == "hello /stress")
                .then_some(())
                .ok_or(format!("reply {reply:?}"))
        }
    });
    assert!(failures.is_empty(), "{failures:#?}");
}
