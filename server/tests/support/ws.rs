//! WebSocket test clients: tungstenite's, and a raw one for frames that a
//! well-behaved client would never send.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use greenws::proto::websocket::{FrameHeader, OpCode, MAX_HEADER_LEN};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::Response;
use tungstenite::stream::MaybeTlsStream;

pub type Client = tungstenite::WebSocket<MaybeTlsStream<TcpStream>>;

/// Connects tungstenite's client to `path`, with extra request headers.
pub fn connect_with(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(Client, Response), tungstenite::Error> {
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    tungstenite::client::client(request, MaybeTlsStream::Plain(stream)).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(e) => e,
        tungstenite::HandshakeError::Interrupted(_) => panic!("blocking handshake interrupted"),
    })
}

/// Connects tungstenite's client to `path`.
pub fn connect(addr: SocketAddr, path: &str) -> Client {
    connect_with(addr, path, &[]).expect("handshake").0
}

/// A raw client: the handshake by hand, then frames as bytes.
pub struct Raw {
    pub stream: TcpStream,
}

impl Raw {
    pub fn connect(addr: SocketAddr, path: &str) -> Raw {
        Raw::over(TcpStream::connect(addr).unwrap(), path)
    }

    /// Connects with a receive buffer of `bytes` (the kernel's own
    /// sizing otherwise grows it to megabytes): for a client that does not
    /// read, so that what the server sends it soon waits in the server.
    pub fn connect_with_receive_buffer(addr: SocketAddr, path: &str, bytes: usize) -> Raw {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )
        .unwrap();
        socket.set_recv_buffer_size(bytes).unwrap();
        socket.connect(&addr.into()).unwrap();
        Raw::over(socket.into(), path)
    }

    /// Performs the handshake on an already connected stream.
    pub fn over(mut stream: TcpStream, path: &str) -> Raw {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        // Read the 101 head byte by byte, so no frame byte is swallowed.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
        Raw { stream }
    }

    /// Sends a frame: `first` is FIN/RSV/opcode, masked unless told not to.
    pub fn send_frame(&mut self, first: u8, payload: &[u8], masked: bool) {
        self.stream
            .write_all(&frame(first, payload, masked))
            .unwrap();
    }

    /// Reads one (unmasked, server) frame: (first byte, payload).
    pub fn read_frame(&mut self) -> std::io::Result<(u8, Vec<u8>)> {
        // The header byte by byte, until the crate's parser has all of it.
        let mut head = Vec::with_capacity(MAX_HEADER_LEN);
        let header = loop {
            let mut byte = [0u8; 1];
            self.stream.read_exact(&mut byte)?;
            head.push(byte[0]);
            match FrameHeader::parse(&head) {
                Ok(Some((header, _))) => break header,
                Ok(None) => {}
                Err(e) => panic!("the server sent a malformed frame header: {e}"),
            }
        };
        assert_eq!(header.mask, None, "server frames are not masked");
        let mut payload = vec![0; header.payload_len as usize];
        self.stream.read_exact(&mut payload)?;
        Ok((head[0], payload))
    }

    /// Reads frames until a Close; gives its code.
    pub fn read_close_code(&mut self) -> u16 {
        loop {
            let (first, payload) = self.read_frame().expect("a close frame");
            if first & 0x0f == 0x8 {
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
    }

    /// True when the server closed the TCP connection (reading what it
    /// still sends on the way); false when it stays open for the read
    /// timeout (10 s).
    pub fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 64];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return false
                }
                Err(e) => panic!("reading from the server: {e}"),
            }
        }
    }
}

/// A client frame: `first` is the first byte as sent (FIN, RSV bits and
/// opcode, reserved ones included), masked unless told not to.
pub fn frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mask = masked.then_some([0x12, 0x34, 0x56, 0x78]);
    let mut out = Vec::new();
    FrameHeader::new(OpCode::Binary, payload.len() as u64, mask).append_frame(payload, &mut out);
    out[0] = first;
    out
}
