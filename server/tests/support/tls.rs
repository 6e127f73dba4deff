//! TLS test helpers: a self-signed certificate made at test time, and
//! rustls clients that trust it.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

pub type TlsClient = StreamOwned<ClientConnection, TcpStream>;

/// A self-signed certificate for localhost, as PEM files in a fresh
/// directory, and the DER form for the client to trust.
pub struct Certificate {
    pub dir: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: CertificateDer<'static>,
}

impl Drop for Certificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A new certificate in a directory named after `name` and the process.
pub fn certificate(name: &str) -> Certificate {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let dir = std::env::temp_dir().join(format!("greenws-tls-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    Certificate {
        dir,
        cert,
        key,
        der: generated.cert.der().clone(),
    }
}

/// A client configuration trusting `cert`, offering ALPN `http/1.1`.
pub fn client_config(cert: &Certificate) -> Arc<ClientConfig> {
    let mut config = (*client_config_without_alpn(cert)).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A client configuration trusting `cert`, offering no ALPN (as Python's
/// `ssl` module does by default).
pub fn client_config_without_alpn(cert: &Certificate) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(cert.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// A TLS client connection to `addr` (nothing sent yet), whose reads give
/// up after 10 s.
pub fn connect(addr: SocketAddr, config: &Arc<ClientConfig>) -> TlsClient {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let session =
        ClientConnection::new(config.clone(), ServerName::try_from("localhost").unwrap()).unwrap();
    StreamOwned::new(session, tcp)
}

/// `GET path` over a new TLS connection with `Connection: close`; the whole
/// reply, or what went wrong (a handshake or a read that timed out).
pub fn get(addr: SocketAddr, config: &Arc<ClientConfig>, path: &str) -> Result<String, String> {
    let mut client = connect(addr, config);
    client
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .map_err(|e| format!("sending the request: {e}"))?;
    let mut reply = Vec::new();
    match client.read_to_end(&mut reply) {
        Ok(_) => {}
        // A peer that closes without close_notify: the reply is complete.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !reply.is_empty() => {}
        Err(e) => {
            return Err(format!(
                "reading the reply: {e} (after {} bytes)",
                reply.len()
            ))
        }
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}
