//! The client against independent servers, over `ws://` and `wss://`:
//! tokio-tungstenite (the benchmarks' async peer, on tokio; no
//! compression) and Python's `websockets` (which agrees to
//! permessage-deflate). Each says first what the handshake carried, then
//! echoes.

mod client_support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use client_support::{python_with_websockets, TestCa};
use futures_util::{SinkExt, StreamExt};
use greenws::{ClientBuilder, CloseCode, Message};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite;

/// Connects to `url` (trusting `ca` for wss://), checks what the server
/// saw of the handshake and whether it agreed to compression, and echoes
/// every kind of message through it.
fn check_echo(url: &str, ca: Option<&TestCa>, compressed: bool) {
    let mut client = ClientBuilder::new(url)
        .protocols(["chat.v2", "chat.v1"])
        .header("Authorization", "Bearer t0k3n");
    if let Some(ca) = ca {
        client = client
            .system_roots(false)
            .root_certificate(ca.ca_der.clone());
    }
    let ws = client.connect().unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(ws.protocol(), Some("chat.v1"), "{url}");
    assert_eq!(
        ws.extensions().is_some(),
        compressed,
        "{url}: {:?}",
        ws.extensions()
    );
    assert_eq!(
        ws.receive().unwrap(),
        Some(Message::from("protocol=chat.v1 authorization=Bearer t0k3n")),
        "{url}"
    );
    for message in [
        Message::from("hello"),
        Message::from(""),
        Message::from(vec![0u8, 159, 146, 150, 255]),
        Message::from("ünïcödé ".repeat(40_000)),
        Message::from(vec![42u8; 200_000]),
        Message::from("{\"bid\": 101.25, \"ask\": 101.5} ".repeat(5000)),
    ] {
        ws.send(&message).unwrap();
        assert_eq!(ws.receive().unwrap(), Some(message), "{url}");
    }
    ws.ping("ping").unwrap();
    ws.send("after the ping").unwrap();
    assert_eq!(ws.receive().unwrap(), Some(Message::from("after the ping")));
    ws.close(CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(
        ws.close_reason().map(|r| r.code),
        Some(CloseCode::NORMAL),
        "{url}"
    );
}

/// tokio-tungstenite's server, echoing, on a thread with its own tokio
/// runtime; over TLS (tokio-rustls) with the CA's server certificate when
/// `tls` is given.
fn start_tokio_tungstenite(tls: Option<&TestCa>) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tls.map(|ca| {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&ca.server_cert)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(&ca.server_key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(tls) => tungstenite_echo(tls).await,
                            Err(e) => eprintln!("tokio-rustls: {e}"),
                        },
                        None => tungstenite_echo(stream).await,
                    }
                });
            }
        });
    });
    addr
}

async fn tungstenite_echo<S: AsyncRead + AsyncWrite + Unpin>(stream: S) {
    use tungstenite::handshake::server::{Request, Response};
    let mut seen = String::new();
    // The callback's type is tungstenite's, its large error included.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, mut response: Response| {
        let headers = request.headers();
        let offered = headers
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim() == "chat.v1");
        let mut protocol = "None";
        if offered {
            protocol = "chat.v1";
            response
                .headers_mut()
                .insert("sec-websocket-protocol", "chat.v1".parse().unwrap());
        }
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("None");
        seen = format!("protocol={protocol} authorization={auth}");
        Ok(response)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    if ws.send(tungstenite::Message::text(seen)).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = ws.next().await {
        if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
            return;
        }
    }
}

#[test]
fn tokio_tungstenite_over_ws_and_wss() {
    let plain = start_tokio_tungstenite(None);
    // tungstenite has no permessage-deflate: it declines the offer.
    check_echo(&format!("ws://{plain}/echo"), None, false);
    let ca = TestCa::new("tokio");
    let secure = start_tokio_tungstenite(Some(&ca));
    check_echo(
        &format!("wss://localhost:{}/echo", secure.port()),
        Some(&ca),
        false,
    );
}

/// Python's `websockets` server, killed when dropped.
struct PythonServer {
    child: Child,
    port: u16,
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_python(python: &std::path::Path, tls: Option<&TestCa>) -> PythonServer {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/client_support/python_echo_server.py"
    );
    let mut command = Command::new(python);
    command.arg(script);
    if let Some(ca) = tls {
        command.arg("--cert").arg(&ca.server_cert);
        command.arg("--key").arg(&ca.server_key);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the Python server said {line:?}"));
    PythonServer { child, port }
}

#[test]
fn python_websockets_over_ws_and_wss() {
    let Some(python) = python_with_websockets() else {
        return;
    };
    let plain = start_python(&python, None);
    // Python's websockets agrees to permessage-deflate.
    check_echo(&format!("ws://127.0.0.1:{}/echo", plain.port), None, true);
    let ca = TestCa::new("python");
    let secure = start_python(&python, Some(&ca));
    check_echo(
        &format!("wss://localhost:{}/echo", secure.port),
        Some(&ca),
        true,
    );
}
