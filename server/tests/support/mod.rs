//! Test helpers: start a server on port 0, talk raw HTTP/1.1 to it.

#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use greenws::{App, Limits, ServerHandle, WsgiServer};

/// Starts `app` on 127.0.0.1, port 0.
pub fn start(app: impl App) -> ServerHandle {
    start_with(Limits::default(), app)
}

/// Starts `app` with the given limits.
pub fn start_with(limits: Limits, app: impl App) -> ServerHandle {
    WsgiServer::bind("127.0.0.1:0")
        .expect("bind port 0")
        .limits(limits)
        .start(app)
        .expect("start")
}

/// A parsed response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A raw HTTP client connection.
pub struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Client {
            reader: BufReader::new(stream),
        }
    }

    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    pub fn send(&mut self, raw: impl AsRef<[u8]>) {
        self.reader.get_mut().write_all(raw.as_ref()).expect("send");
    }

    /// Reads one response to a request that was not HEAD.
    pub fn reply(&mut self) -> Reply {
        self.read_reply(false).expect("a response")
    }

    /// Reads one response to a HEAD request (no body follows).
    pub fn head_reply(&mut self) -> Reply {
        self.read_reply(true).expect("a response")
    }

    /// Sends a request and reads its response.
    pub fn request(&mut self, raw: impl AsRef<[u8]>) -> Reply {
        self.send(raw);
        self.reply()
    }

    pub fn read_reply(&mut self, head_request: bool) -> io::Result<Reply> {
        let mut status_line = String::new();
        if self.reader.read_line(&mut status_line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
        }
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("header line");
            headers.push((name.to_string(), value.trim().to_string()));
        }
        let mut reply = Reply {
            status,
            headers,
            body: Vec::new(),
        };
        if head_request || status < 200 || status == 204 || status == 304 {
            return Ok(reply);
        }
        if let Some(n) = reply.header("content-length") {
            let mut body = vec![0; n.parse().unwrap()];
            self.reader.read_exact(&mut body)?;
            reply.body = body;
        } else if reply.header("transfer-encoding") == Some("chunked") {
            loop {
                let mut size = String::new();
                self.reader.read_line(&mut size)?;
                let size = usize::from_str_radix(size.trim_end(), 16).expect("chunk size");
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
                reply.body.extend_from_slice(&chunk[..size]);
            }
        } else {
            self.reader.read_to_end(&mut reply.body)?;
        }
        Ok(reply)
    }

    /// True if the server closed the connection (EOF on the next read).
    pub fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.reader.read(&mut byte), Ok(0) | Err(_))
    }
}

/// `GET path` with Host, as raw bytes.
pub fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")
}
