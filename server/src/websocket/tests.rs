//! The `WebSocket` handle in the client role, against tungstenite's
//! server: what it sends must be masked (tungstenite refuses a client's
//! unmasked frames), what it receives must not be, and the opening
//! handshake is the protocol layer's client side.

use std::net::TcpListener;
use std::sync::Arc;

use http::{HeaderMap, StatusCode};

use super::handshake_request::HandshakeRequest;
use super::socket::Handshake;
use super::{WebSocket, WebSocketConfig};
use crate::codec::head::parse_head;
use crate::proto::websocket::{ClientHandshake, CloseCode, Message, Role};
use crate::transport::Transport;
use crate::Limits;

/// Reads a response head from `transport` byte by byte (nothing of what
/// follows is taken) and checks it as a client.
fn read_answer(transport: &Transport, handshake: &ClientHandshake) -> Option<String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(transport.read(&mut byte, None).unwrap(), 1);
        head.push(byte[0]);
    }
    let mut fields = [httparse::EMPTY_HEADER; 16];
    let mut response = httparse::Response::new(&mut fields);
    assert!(response.parse(&head).unwrap().is_complete());
    let mut headers = HeaderMap::new();
    for field in response.headers.iter() {
        headers.append(
            http::HeaderName::from_bytes(field.name.as_bytes()).unwrap(),
            http::HeaderValue::from_bytes(field.value).unwrap(),
        );
    }
    let status = StatusCode::from_u16(response.code.unwrap()).unwrap();
    handshake.check_response(status, &headers).unwrap().protocol
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

    let transport = Transport::plain(green::net::TcpStream::connect(addr).unwrap());
    let handshake = ClientHandshake::new(*b"0123456789abcdef").protocols(["echo"]);
    let request = handshake.request_head("/echo?x=1", &addr.to_string(), &HeaderMap::new());
    transport.write_parts(&request, &[], None).unwrap();
    let protocol = read_answer(&transport, &handshake);
    let (head, _) = parse_head(&request, &Limits::default().head())
        .unwrap()
        .unwrap();
    let ws = WebSocket::new(
        Arc::new(transport),
        Role::Client,
        Arc::new(WebSocketConfig::default()),
        Handshake {
            request: HandshakeRequest::new(Arc::new(head)),
            protocol,
            peer_addr: addr,
        },
    );
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
