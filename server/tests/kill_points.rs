//! `Greenlet::kill` and `green::with_timeout` stop a greenlet at every
//! point where greenws blocks it: the client's connect (TCP, TLS
//! handshake, WebSocket handshake), a `receive` from a silent peer, a
//! `send` to a peer that does not read, and a `close` that waits for the
//! peer's Close. (`green::net`'s own calls have the same tests in
//! runtime/tests/net.rs.)
//!
//! Each case sets up a call that would block for far longer than the
//! test (a peer that never answers, every timeout of the call at an
//! hour); the harness (shared with green's tests) checks that a kill and
//! `with_timeout` stop it.

#[path = "support/raw_peer.rs"]
mod raw_peer;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use greenws::{ClientBuilder, Message, WebSocket, WebSocketConfig};

#[macro_use]
#[path = "../../runtime/tests/support/stopped.rs"]
mod stopped;
use raw_peer::{accept_for, raw_peer};
use stopped::Keep;

/// Every timeout of the calls themselves: they must not end on their own.
const HOUR: Duration = Duration::from_secs(3600);

/// A client whose every timeout is an hour.
fn patient_client(url: String) -> ClientBuilder {
    let config = WebSocketConfig::default()
        .ping_interval(None)
        .dead_peer_timeout(None)
        .close_timeout(HOUR)
        .send_timeout(HOUR);
    ClientBuilder::new(url)
        .connect_timeout(HOUR)
        .handshake_timeout(HOUR)
        .config(config)
}

/// A listener that never accepts: the kernel completes connections into
/// its queue, and nothing is ever said on them.
fn silent_listener() -> (SocketAddr, Keep) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    (listener.local_addr().unwrap(), Box::new(listener))
}

/// A peer that accepts one WebSocket handshake, answers the 101, and
/// then neither reads nor writes another byte (until the test drops it).
fn mute_websocket_peer() -> (SocketAddr, Keep) {
    let (held_tx, held_rx) = std::sync::mpsc::channel::<TcpStream>();
    let addr = raw_peer(move |mut stream, head| {
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            accept_for(&head)
        );
        std::io::Write::write_all(&mut stream, answer.as_bytes()).unwrap();
        // Kept open, unread, until the test ends.
        let _ = held_tx.send(stream);
    });
    (addr, Box::new(held_rx))
}

/// A client WebSocket open to a mute peer (opened on a greenlet of its
/// own, so that the call under test runs on another).
fn open_to_mute_peer() -> (WebSocket, Keep) {
    let (addr, keep) = mute_websocket_peer();
    let ws = green::spawn(move || patient_client(format!("ws://{addr}/")).connect())
        .join()
        .unwrap()
        .unwrap();
    (ws, keep)
}

stopped_by_kill_and_timeout! {
    client_websocket_handshake_is_stopped: || {
        let (addr, keep) = silent_listener();
        let client = patient_client(format!("ws://{addr}/"));
        (Box::new(move || format!("{:?}", client.connect().map(drop))), keep)
    };
    client_tls_handshake_is_stopped: || {
        let (addr, keep) = silent_listener();
        let client = patient_client(format!("wss://{addr}/"));
        (Box::new(move || format!("{:?}", client.connect().map(drop))), keep)
    };
    client_receive_from_a_silent_peer_is_stopped: || {
        let (ws, keep) = open_to_mute_peer();
        (Box::new(move || format!("{:?}", ws.receive())), keep)
    };
    client_send_to_a_peer_that_does_not_read_is_stopped: || {
        let (ws, keep) = open_to_mute_peer();
        let call = move || {
            let big = Message::Binary(vec![0x5a; 1 << 20]);
            let sent = (0..4096).find_map(|_| ws.send(big.clone()).err());
            format!("{sent:?}")
        };
        (Box::new(call), keep)
    };
    client_close_waiting_for_the_peers_close_is_stopped: || {
        let (ws, keep) = open_to_mute_peer();
        (Box::new(move || format!("{:?}", ws.close(greenws::CloseCode::NORMAL, ""))), keep)
    };
}
