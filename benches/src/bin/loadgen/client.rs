//! A minimal WebSocket client of the load generator's own: the opening
//! handshake, masked frames out, unmasked frames in, over TCP or TLS, so
//! that every byte that comes back can be checked and nothing of a server's
//! own library sits on the client side.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// What a client talks over: TCP, or TLS over TCP.
pub trait Stream: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Stream for T {}

/// The largest frame the client accepts from a server (the benchmarks send
/// at most 16 KiB).
const MAX_FRAME: usize = 1 << 20;

/// The read buffer each connection starts with (it doubles when a frame
/// does not fit; idle runs hold 19 000 connections).
const READ_BUFFER: usize = 4 * 1024;

/// A TLS client that trusts the CA certificate in `path`, with rustls's
/// ring provider and default versions and suites (what every wss contender
/// is offered).
pub fn tls_connector(path: &str) -> io::Result<tokio_rustls::TlsConnector> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(path)
        .map_err(|e| io::Error::other(format!("{path}: {e}")))?
    {
        let cert = cert.map_err(|e| io::Error::other(format!("{path}: {e}")))?;
        roots.add(cert).map_err(io::Error::other)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Opens a TCP connection (from `source` if given) with TCP_NODELAY.
pub async fn tcp(addr: SocketAddr, source: Option<Ipv4Addr>) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(ip) = source {
        socket.bind(SocketAddr::V4(SocketAddrV4::new(ip, 0)))?;
    }
    let tcp = socket.connect(addr).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// Runs the opening handshake for `path`; gives what the server sent after
/// its 101 response (the start of the first frames, if any).
pub async fn handshake<S: Stream>(stream: &mut S, host: &str, path: &str) -> io::Result<Vec<u8>> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    stream.flush().await?;
    let mut buf = vec![0u8; 16 * 1024];
    let mut end = 0;
    let head_end = loop {
        if end == buf.len() {
            return Err(io::Error::other("a handshake response over 16 KiB"));
        }
        let n = stream.read(&mut buf[end..]).await?;
        if n == 0 {
            return Err(io::Error::other("closed during the handshake"));
        }
        end += n;
        if let Some(i) = buf[..end].windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    if !buf.starts_with(b"HTTP/1.1 101") {
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        return Err(io::Error::other(format!("handshake refused: {head}")));
    }
    buf.copy_within(head_end..end, 0);
    buf.truncate(end - head_end);
    buf.shrink_to_fit();
    Ok(buf)
}

/// Appends one masked client frame to `out`.
pub fn encode_frame(opcode: u8, payload: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n < 65536 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
}

/// One unmasked server frame at the start of `buf`: (opcode, payload
/// start, payload end), or `None` if it is not all there yet.
pub fn parse_frame(buf: &[u8]) -> io::Result<Option<(u8, usize, usize)>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    if buf[1] & 0x80 != 0 {
        return Err(io::Error::other("the server sent a masked frame"));
    }
    let opcode = buf[0] & 0x0f;
    let (len, head) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4),
        127 if buf.len() >= 10 => (
            u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes")),
            10,
        ),
        126 | 127 => return Ok(None),
        n => (n as u64, 2),
    };
    if len > MAX_FRAME as u64 {
        return Err(io::Error::other(format!("a frame of {len} bytes")));
    }
    let end = head + len as usize;
    Ok((buf.len() >= end).then_some((opcode, head, end)))
}

/// A frame as received.
pub struct Frame<'a> {
    /// 1 text, 2 binary, 8 close, 9 ping, 10 pong.
    pub opcode: u8,
    /// The payload.
    pub payload: &'a [u8],
}

/// A client connection: the stream and what was read but not used yet
/// (`buf[start..end]`).
pub struct Ws<S = Box<dyn Stream>> {
    stream: S,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    mask: [u8; 4],
    out: Vec<u8>,
    /// The negotiated TLS version and cipher suite, for wss.
    pub tls: Option<String>,
}

impl Ws {
    /// Connects to `path` on `addr`, over TLS if `tls` is given.
    pub async fn connect(
        addr: SocketAddr,
        source: Option<Ipv4Addr>,
        path: &str,
        tls: Option<&tokio_rustls::TlsConnector>,
    ) -> io::Result<Ws> {
        let tcp = tcp(addr, source).await?;
        let (mut stream, negotiated): (Box<dyn Stream>, _) = match tls {
            None => (Box::new(tcp), None),
            Some(connector) => {
                let name =
                    rustls::pki_types::ServerName::try_from("localhost").expect("a valid name");
                let stream = connector.connect(name, tcp).await?;
                let session = stream.get_ref().1;
                let negotiated = format!(
                    "{:?}/{:?}",
                    session
                        .protocol_version()
                        .ok_or_else(|| io::Error::other("no TLS version"))?,
                    session
                        .negotiated_cipher_suite()
                        .ok_or_else(|| io::Error::other("no cipher suite"))?
                        .suite()
                );
                (Box::new(stream), Some(negotiated))
            }
        };
        let leftover = handshake(&mut stream, &addr.to_string(), path).await?;
        let mut ws = Ws::from_parts(stream, leftover, addr.port() as u32);
        ws.tls = negotiated;
        Ok(ws)
    }
}

impl<S> Ws<S> {
    /// A connection over a stream whose handshake is done; `leftover` is
    /// what the handshake read past the response.
    pub fn from_parts(stream: S, mut leftover: Vec<u8>, seed: u32) -> Ws<S> {
        let end = leftover.len();
        leftover.resize(end.max(READ_BUFFER), 0);
        Ws {
            stream,
            buf: leftover,
            start: 0,
            end,
            mask: seed.wrapping_mul(2_654_435_761).to_le_bytes(),
            out: Vec::new(),
            tls: None,
        }
    }
}

impl<S: AsyncWrite + Unpin> Ws<S> {
    /// Sends one masked frame (1 text, 2 binary).
    pub async fn send(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        self.out.clear();
        encode_frame(opcode, payload, self.mask, &mut self.out);
        self.stream.write_all(&self.out).await?;
        self.stream.flush().await
    }
}

impl<S: AsyncRead + Unpin> Ws<S> {
    /// Reads the next frame (control frames included).
    pub async fn recv(&mut self) -> io::Result<Frame<'_>> {
        loop {
            if let Some((opcode, from, to)) = parse_frame(&self.buf[self.start..self.end])? {
                let (from, to) = (self.start + from, self.start + to);
                self.start = to;
                return Ok(Frame {
                    opcode,
                    payload: &self.buf[from..to],
                });
            }
            if self.start == self.end {
                (self.start, self.end) = (0, 0);
            } else if self.end == self.buf.len() {
                // Make room: move the partial frame to the front, and grow
                // if it fills the whole buffer.
                self.buf.copy_within(self.start..self.end, 0);
                (self.start, self.end) = (0, self.end - self.start);
                if self.end == self.buf.len() {
                    self.buf.resize(self.buf.len() * 2, 0);
                }
            }
            let n = self.stream.read(&mut self.buf[self.end..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.end += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unmasks a client frame the way a server would.
    fn unmask(frame: &[u8]) -> (u8, Vec<u8>) {
        let (len, at) = match frame[1] & 0x7f {
            126 => (u16::from_be_bytes([frame[2], frame[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(frame[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        let mask = &frame[at..at + 4];
        let payload = frame[at + 4..at + 4 + len]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        (frame[0] & 0x0f, payload)
    }

    #[test]
    fn frames_of_every_length_form_encode_and_unmask() {
        for len in [0, 125, 126, 65535, 65536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut out = Vec::new();
            encode_frame(2, &payload, [1, 2, 3, 4], &mut out);
            assert_eq!(unmask(&out), (2, payload), "length {len}");
        }
    }

    #[test]
    fn server_frames_parse_only_when_complete() {
        let frame = [0x82, 3, b'a', b'b', b'c', 0x81];
        assert_eq!(parse_frame(&frame[..4]).unwrap(), None);
        assert_eq!(parse_frame(&frame).unwrap(), Some((2, 2, 5)));
        let long = [&[0x82u8, 126, 0, 200][..], &[0u8; 200]].concat();
        assert_eq!(parse_frame(&long[..3]).unwrap(), None);
        assert_eq!(parse_frame(&long).unwrap(), Some((2, 4, 204)));
    }

    #[test]
    fn masked_or_huge_server_frames_are_errors() {
        assert!(parse_frame(&[0x82, 0x83, 0, 0, 0, 0]).is_err());
        let huge = [0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0];
        assert!(parse_frame(&huge).is_err());
    }
}
