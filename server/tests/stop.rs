//! A stop that runs out of time kills what is still running: wherever a
//! connection's greenlet blocks (reading a body, inside the app), the kill
//! stops it at once and the connection ends without another byte: no 408
//! from a body read that timed out later, no 500 for a "panic" that was the
//! kill itself, no spinning greenlet keeping the connection registered.

mod support;
#[path = "support/tls.rs"]
mod tls;
#[path = "support/ws.rs"]
mod ws;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::Duration;

use greenws::{
    Hub, Limits, Request, Response, Upgrade, WebSocketConfig, WebSocketHandler, WsgiServer,
};

/// The stop's own time limit: short, the requests below never finish.
const STOP_TIMEOUT: Duration = Duration::from_millis(500);

/// The warnings and errors the server logged, as text.
static LOGGED: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Recorder;

impl log::Log for Recorder {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            LOGGED.lock().unwrap().push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

/// What was logged about `path` so far.
fn logged_about(path: &str) -> Vec<String> {
    let _ = log::set_logger(&Recorder).map(|()| log::set_max_level(log::LevelFilter::Warn));
    let logged = LOGGED.lock().unwrap();
    logged
        .iter()
        .filter(|l| l.contains(path))
        .cloned()
        .collect()
}

/// Starts `app` with the WebSocket handler class.
fn start(
    limits: Limits,
    app: impl Fn(&mut Request) -> Response + Send + Sync + 'static,
) -> greenws::ServerHandle {
    WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .handler_class(WebSocketHandler::new())
        .limits(limits)
        .start(app)
        .unwrap()
}

/// Stops through a stopper so that the handle can still count the
/// connections afterwards.
fn stop_and_count(server: &greenws::ServerHandle) -> usize {
    server.stopper().stop(STOP_TIMEOUT);
    server.wait();
    server.connections()
}

/// Everything the client receives until the server closes (or 10 s).
fn rest_of(mut client: TcpStream) -> Vec<u8> {
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let _ = client.read_to_end(&mut got);
    got
}

#[test]
fn a_stop_kills_a_request_blocked_reading_its_body_and_sends_nothing_more() {
    let entered = green::Event::new();
    let server = {
        let entered = entered.clone();
        // The body timeout outlasts the stop: a kill lost in the body read
        // would end that read at its deadline and answer 408.
        let limits = Limits {
            body_timeout: Duration::from_secs(3),
            ..Limits::default()
        };
        start(limits, move |req| {
            entered.set();
            match req.read_body() {
                Ok(body) => Response::text(format!("read {} bytes", body.len())),
                Err(e) => Response::text(format!("body error: {e}")),
            }
        })
    };
    let mut client = TcpStream::connect(server.local_addr()).unwrap();
    client
        .write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nten bytes.")
        .unwrap();
    entered.wait();

    assert_eq!(stop_and_count(&server), 0, "the killed connection is gone");
    let rest = String::from_utf8_lossy(&rest_of(client)).into_owned();
    assert!(rest.is_empty(), "the killed connection sent {rest:?}");
}

#[test]
fn a_kill_inside_the_app_is_no_panic_and_gets_no_500() {
    logged_about("/slow");
    let entered = green::Event::new();
    let server = {
        let entered = entered.clone();
        start(Limits::default(), move |_req| {
            entered.set();
            green::sleep(Duration::from_secs(60));
            Response::text("too late")
        })
    };
    let mut client = TcpStream::connect(server.local_addr()).unwrap();
    client.write_all(support::get("/slow").as_bytes()).unwrap();
    entered.wait();

    assert_eq!(stop_and_count(&server), 0);
    let rest = String::from_utf8_lossy(&rest_of(client)).into_owned();
    assert!(rest.is_empty(), "the killed request was answered {rest:?}");
    assert_eq!(logged_about("/slow"), Vec::<String>::new());
}

#[test]
fn a_kill_inside_a_websocket_app_is_no_panic_and_sends_no_close_1011() {
    logged_about("/ws");
    let entered = green::Event::new();
    let server = {
        let entered = entered.clone();
        start(Limits::default(), move |req| {
            req.upgrade(|_ws| {
                entered.set();
                // Busy elsewhere: the stop's close (1001) gets no answer
                // from the app, and the kill lands here.
                green::sleep(Duration::from_secs(60));
                Ok(())
            })
        })
    };
    let raw = ws::Raw::connect(server.local_addr(), "/ws");
    entered.wait();

    assert_eq!(stop_and_count(&server), 0);
    // The stop says goodbye with 1001; the kill adds nothing (no 1011).
    let rest = rest_of(raw.stream);
    let close_1001 = [0x88, 0x16, 0x03, 0xe9];
    assert!(rest.starts_with(&close_1001), "{rest:?}");
    assert!(
        !rest.windows(2).any(|w| w == [0x03, 0xf3]),
        "a close 1011 followed: {rest:?}"
    );
    assert_eq!(logged_about("/ws"), Vec::<String>::new());
}

/// A WebSocket server whose sockets wait a minute for a peer that does
/// not answer a Close or does not read: far longer than any stop below.
fn start_patient(
    app: impl Fn(&mut Request) -> Response + Send + Sync + 'static,
) -> greenws::ServerHandle {
    let config = WebSocketConfig::default()
        .close_timeout(Duration::from_secs(60))
        .send_timeout(Duration::from_secs(60))
        .send_buffer(Some(64 * 1024));
    WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .handler_class(WebSocketHandler::new().config(config))
        .start(app)
        .unwrap()
}

#[test]
fn a_stop_that_kills_a_websocket_session_closes_its_socket_before_returning() {
    let receiving = green::Event::new();
    let server = {
        let receiving = receiving.clone();
        start_patient(move |req| {
            let receiving = receiving.clone();
            req.upgrade(move |ws| {
                receiving.set();
                for message in ws.messages() {
                    ws.send(message?)?;
                }
                Ok(())
            })
        })
    };
    let mut raw = ws::Raw::connect(server.local_addr(), "/ws");
    receiving.wait();

    // The client never answers the stop's 1001: the stop kills the session.
    assert_eq!(stop_and_count(&server), 0);
    assert_eq!(raw.read_close_code(), 1001);
    // The socket was closed with the kill, not a minute later when the
    // stop's close would give up waiting for the client.
    assert!(raw.is_closed(), "the killed session's socket is still open");
}

#[test]
fn nothing_is_written_to_a_killed_websocket_after_the_stop() {
    // Room for every broadcast below, so that the stop is what ends them.
    let hub = Hub::builder()
        .capacity(1000)
        .capacity_bytes(usize::MAX)
        .build()
        .unwrap();
    let joined = green::Event::new();
    let server = {
        let (hub, joined) = (hub.clone(), joined.clone());
        start_patient(move |req| {
            let (hub, joined) = (hub.clone(), joined.clone());
            req.upgrade(move |ws| {
                hub.join(&ws);
                joined.set();
                ws.messages().try_for_each(|m| m.map(drop))
            })
        })
    };
    // A member that does not read, with little room for what it is sent.
    let raw = ws::Raw::connect_with_receive_buffer(server.local_addr(), "/ws", 64 * 1024);
    joined.wait();
    const BROADCASTS: usize = 64;
    for _ in 0..BROADCASTS {
        assert_eq!(hub.broadcast(vec![7u8; 1 << 20]), 1);
    }

    assert_eq!(stop_and_count(&server), 0);
    // What the client can read now is what the socket buffers took before
    // the stop: the hub's sender wrote nothing after it.
    let after_stop = rest_of(raw.stream);
    assert!(
        after_stop.len() < (BROADCASTS / 4) << 20,
        "{} bytes of {BROADCASTS} MiB broadcast arrived after the stop",
        after_stop.len()
    );
}

#[test]
fn a_stop_ends_a_close_handshake_that_waits_for_the_peer() {
    // The app returns at once: the server sends its Close and waits (up to
    // start_patient's 60 s) for the client's, which never comes.
    let server = start_patient(|req| req.upgrade(|_ws| Ok(())));
    let mut raw = ws::Raw::connect(server.local_addr(), "/ws");
    assert_eq!(raw.read_close_code(), 1000);

    assert_eq!(stop_and_count(&server), 0);
    assert!(raw.is_closed(), "the closing connection is still open");
}

#[test]
fn a_stop_ends_a_tls_handshake_that_waits_for_the_client() {
    let cert = tls::certificate("stop-handshake");
    let limits = Limits {
        header_timeout: Duration::from_secs(3600),
        ..Limits::default()
    };
    let server = WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .limits(limits)
        .tls(&cert.cert, &cert.key)
        .unwrap()
        .start(|_req: &mut Request| Response::text("never"))
        .unwrap();
    // A client that opens the connection and says nothing: the server
    // waits in the TLS handshake for its ClientHello.
    let client = TcpStream::connect(server.local_addr()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    while server.connections() == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }

    assert_eq!(stop_and_count(&server), 0);
    let mut raw = ws::Raw { stream: client };
    assert!(raw.is_closed(), "the handshaking connection is still open");
}
