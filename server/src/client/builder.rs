//! `ClientBuilder`: everything about a client connection but the URL has a
//! default; the builder changes what needs changing.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use rustls::pki_types::CertificateDer;
use rustls::ClientConfig;

use super::open::{open, Plan};
use super::url::WsUrl;
use crate::proto::http::client::ResponseLimits;
use crate::proto::websocket::ClientHandshake;
use crate::scratch_stack::on_scratch_stack;
use crate::websocket::client_offer;
use crate::{Error, WebSocket, WebSocketConfig};

/// Opens WebSocket connections to one URL, with headers, subprotocols,
/// timeouts, limits and TLS roots of your choice. [`connect`](Self::connect)
/// takes `&self`: one builder opens as many connections as you like (a
/// load generator, a pool of bots), and its TLS setup is made once.
///
/// ```
/// use std::time::Duration;
/// use greenws::{ClientBuilder, WebSocketConfig};
///
/// let client = ClientBuilder::new("wss://chat.example.com/room/1")
///     .header("Origin", "https://chat.example.com")
///     .header("Authorization", "Bearer 7f3a...")
///     .header("Cookie", "session=abc123")
///     .protocols(["chat.v2", "chat.v1"])
///     .connect_timeout(Duration::from_secs(5))
///     .handshake_timeout(Duration::from_secs(5))
///     .config(WebSocketConfig::default().max_message_size(1 << 20))
///     .ca_file("/etc/my-company/ca.pem");
/// // let ws = client.connect()?;
/// # let _ = client;
/// ```
///
/// Defaults: no extra headers and no subprotocol; 10 s to resolve the host
/// and connect, 10 s for the TLS and WebSocket handshakes together;
/// [`WebSocketConfig::default`] for the open connection (its limits,
/// heartbeat, the close and send timeouts that bound I/O on it, and
/// permessage-deflate, offered as browsers do); a
/// response head of 64 KiB and 128 fields at most; for `wss://`, the
/// system's root certificates (or those of `SSL_CERT_FILE` /
/// `SSL_CERT_DIR`), with SNI and the host name checked.
#[derive(Clone)]
pub struct ClientBuilder {
    url: String,
    headers: HeaderMap,
    /// The first header that could not be used: reported by `connect`.
    invalid_header: Option<String>,
    protocols: Vec<String>,
    config: Arc<WebSocketConfig>,
    connect_timeout: Duration,
    handshake_timeout: Duration,
    response_limits: ResponseLimits,
    tls: TlsSettings,
}

/// Where a `wss://` connection's trust comes from.
#[derive(Clone)]
struct TlsSettings {
    system_roots: bool,
    root_certificates: Vec<CertificateDer<'static>>,
    ca_files: Vec<PathBuf>,
    /// A configuration given whole, or the one made from the above at the
    /// first `wss://` connection (shared by the builder's clones until one
    /// of them changes a TLS setting).
    config: Arc<Mutex<Option<Arc<ClientConfig>>>>,
    given: bool,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("url", &self.url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("protocols", &self.protocols)
            .field("connect_timeout", &self.connect_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// A client for `url` (`ws://` or `wss://`), with the defaults above.
    pub fn new(url: impl Into<String>) -> Self {
        ClientBuilder {
            url: url.into(),
            headers: HeaderMap::new(),
            invalid_header: None,
            protocols: Vec::new(),
            config: Arc::new(WebSocketConfig::default()),
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            response_limits: ResponseLimits::default(),
            tls: TlsSettings {
                system_roots: true,
                root_certificates: Vec::new(),
                ca_files: Vec::new(),
                config: Arc::default(),
                given: false,
            },
        }
    }

    /// The URL this builder connects to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Adds a header to the opening handshake (`Origin`, `Authorization`,
    /// `Cookie`, `User-Agent`...); repeated names are all sent. The headers
    /// the handshake sets itself (`Host`, `Upgrade`, `Connection`,
    /// `Sec-WebSocket-*`) cannot be replaced and are left out. A name or
    /// value that is not valid in HTTP makes
    /// [`connect`](Self::connect) fail with [`Error::InvalidHeader`].
    pub fn header<N, V>(mut self, name: N, value: V) -> Self
    where
        N: TryInto<HeaderName> + fmt::Display + Clone,
        V: TryInto<HeaderValue>,
    {
        match (name.clone().try_into(), value.try_into()) {
            (Ok(name), Ok(value)) => {
                self.headers.append(name, value);
            }
            _ => {
                self.invalid_header.get_or_insert_with(|| name.to_string());
            }
        }
        self
    }

    /// Offers these subprotocols, in order of preference
    /// (`Sec-WebSocket-Protocol`). The one the server picks is
    /// [`WebSocket::protocol`]; a server that picks one not offered fails
    /// the connection with [`ClientHandshakeError::UnofferedProtocol`](crate::proto::websocket::ClientHandshakeError::UnofferedProtocol).
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// How long resolving the host and the TCP connection may take
    /// (default 10 s; `Duration::MAX` for no limit).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long the TLS handshake (`wss://`) and the WebSocket opening
    /// handshake may take together (default 10 s; `Duration::MAX` for no
    /// limit).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Limits, heartbeat, timeouts and compression of the open
    /// connection, as on the server: `max_message_size`, `ping_interval`,
    /// `dead_peer_timeout`, `close_timeout`, `send_timeout`, `deflate`
    /// (what permessage-deflate offer is made; `DeflateConfig::disabled()`
    /// for none)...
    pub fn config(mut self, config: WebSocketConfig) -> Self {
        self.config = Arc::new(config);
        self
    }

    /// Limits on the server's handshake response head (default 64 KiB,
    /// 128 fields).
    pub fn response_limits(mut self, limits: ResponseLimits) -> Self {
        self.response_limits = limits;
        self
    }

    /// Also trusts this root certificate for `wss://` (a company's or a
    /// test's own CA).
    pub fn root_certificate(mut self, der: CertificateDer<'static>) -> Self {
        self.tls.root_certificates.push(der);
        self.tls_changed()
    }

    /// Also trusts the certificates of this PEM file for `wss://`; read at
    /// the first `wss://` connection (an unreadable file fails it with
    /// [`Error::Tls`]).
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.ca_files.push(path.into());
        self.tls_changed()
    }

    /// Whether the system's root certificates are trusted (default yes);
    /// off, only those given here are.
    pub fn system_roots(mut self, trust: bool) -> Self {
        self.tls.system_roots = trust;
        self.tls_changed()
    }

    /// Uses this rustls configuration for `wss://` as it is (the root and
    /// CA settings above are then ignored): for client certificates, a
    /// custom verifier, a session cache of your own...
    pub fn tls_config(mut self, config: Arc<ClientConfig>) -> Self {
        self.tls.config = Arc::new(Mutex::new(Some(config)));
        self.tls.given = true;
        self
    }

    fn tls_changed(mut self) -> Self {
        if !self.tls.given {
            self.tls.config = Arc::default();
        }
        self
    }

    /// Opens a connection: resolves the host (off the worker threads),
    /// connects, runs the TLS handshake for `wss://` and the WebSocket
    /// opening handshake, and gives the [`WebSocket`] in the client role,
    /// the same handle a server gives its apps. Blocks the calling greenlet
    /// (or thread) until then; each step has its error (see
    /// [`connect`](crate::connect)).
    pub fn connect(&self) -> Result<WebSocket, Error> {
        let parsed = WsUrl::parse(&self.url)?;
        if let Some(name) = &self.invalid_header {
            return Err(Error::InvalidHeader { name: name.clone() });
        }
        let tls = match parsed.secure {
            true => Some(self.tls_client_config()?),
            false => None,
        };
        // The key: 16 random bytes (the generator goes deep; see
        // `fresh_mask_key`).
        let mut handshake = ClientHandshake::new(on_scratch_stack(rand::random));
        if !self.protocols.is_empty() {
            handshake = handshake.protocols(self.protocols.iter().cloned());
        }
        // permessage-deflate, as browsers offer it (unless the config
        // turns it off).
        if let Some(offer) = client_offer(&self.config.deflate) {
            handshake = handshake.extensions(offer);
        }
        open(Plan {
            url: &self.url,
            parsed,
            handshake,
            extra_headers: &self.headers,
            connect_timeout: self.connect_timeout,
            handshake_timeout: self.handshake_timeout,
            response_limits: self.response_limits,
            config: self.config.clone(),
            tls,
        })
    }

    /// The TLS configuration: given, made already, or made now.
    fn tls_client_config(&self) -> Result<Arc<ClientConfig>, Error> {
        // Held while the configuration is made: the CA files are read once.
        let mut config = self.tls.config.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(config) = &*config {
            return Ok(config.clone());
        }
        // Parsing certificates goes deep: on the thread's scratch stack (it
        // never yields to another greenlet).
        let made = on_scratch_stack(|| {
            let mut roots = self.tls.root_certificates.clone();
            for path in &self.tls.ca_files {
                roots.extend(crate::connection::tls::certificates_from_pem(path)?);
            }
            crate::connection::tls::client_config(&roots, self.tls.system_roots)
        });
        let made = Arc::new(made?);
        *config = Some(made.clone());
        Ok(made)
    }
}
