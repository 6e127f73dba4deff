//! The opening handshake (RFC 6455 section 4) as pure functions, both
//! sides: a server checks an upgrade request and writes the 101; a client
//! writes the request and checks the 101.
//!
//! What is not pure stays with the caller: whether bytes arrived behind
//! the request (a client must wait for the 101), the origin policy, the
//! choice of a subprotocol, the negotiation of extensions.

use http::header::{
    HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, SEC_WEBSOCKET_ACCEPT,
    SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION,
    TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, Method, StatusCode, Version};
use std::fmt;

use crate::proto::http::client::write_request_head;
use crate::proto::tokens::{has_token, header_elements};

/// The header fields the handshake itself sets; extra headers given to
/// [`server_response_head`] or [`ClientHandshake::request_head`] with
/// these names are left out (a 101 has no body either).
const HANDSHAKE_HEADERS: [HeaderName; 8] = [
    CONNECTION,
    UPGRADE,
    SEC_WEBSOCKET_ACCEPT,
    SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION,
    SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_EXTENSIONS,
    CONTENT_LENGTH,
];

/// Server side: what an acceptable upgrade request offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeOffer {
    /// The `Sec-WebSocket-Accept` value the 101 must carry.
    pub accept_key: String,
    /// The subprotocols the client offered, in its order.
    pub offered_protocols: Vec<String>,
    /// The `Sec-WebSocket-Extensions` values, as sent (for an extension's
    /// own negotiation, such as permessage-deflate's).
    pub offered_extensions: Vec<HeaderValue>,
}

impl UpgradeOffer {
    /// The first subprotocol the client offered that is in `supported`
    /// (RFC 6455 lets the server pick any one it offered; the client's
    /// order is its preference).
    ///
    /// ```
    /// # let offer = greenws::proto::websocket::UpgradeOffer {
    /// #     accept_key: String::new(),
    /// #     offered_protocols: vec!["chat.v3".into(), "chat.v1".into()],
    /// #     offered_extensions: Vec::new(),
    /// # };
    /// assert_eq!(offer.choose_protocol(&["chat.v1", "chat.v2"]), Some("chat.v1"));
    /// assert_eq!(offer.choose_protocol(&["other"]), None);
    /// ```
    pub fn choose_protocol<S: AsRef<str>>(&self, supported: &[S]) -> Option<&str> {
        self.offered_protocols
            .iter()
            .find(|offered| supported.iter().any(|s| s.as_ref() == offered.as_str()))
            .map(String::as_str)
    }
}

/// Why a server refuses an upgrade request; each with its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Not a GET (400).
    NotGet,
    /// Not HTTP/1.1 (400).
    NotHttp11,
    /// No `Connection: Upgrade` (400).
    NoConnectionUpgrade,
    /// A `Sec-WebSocket-Version` other than 13, or none (426, with
    /// `Sec-WebSocket-Version: 13`).
    UnsupportedVersion,
    /// No `Sec-WebSocket-Key`, several, or not 16 bytes in base64 (400).
    InvalidKey,
}

impl Refusal {
    /// The status to answer with.
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::UnsupportedVersion => StatusCode::UPGRADE_REQUIRED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// What to tell the client.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::NotGet => "a WebSocket handshake must be a GET",
            Refusal::NotHttp11 => "a WebSocket handshake needs HTTP/1.1",
            Refusal::NoConnectionUpgrade => "a WebSocket handshake needs Connection: Upgrade",
            Refusal::UnsupportedVersion => "this server speaks WebSocket version 13",
            Refusal::InvalidKey => "Sec-WebSocket-Key must be one base64 value of 16 bytes",
        }
    }

    /// Headers the refusal must carry: `Sec-WebSocket-Version: 13` with
    /// a 426 (RFC 6455 section 4.4).
    pub fn headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Refusal::UnsupportedVersion => &[("sec-websocket-version", "13")],
            _ => &[],
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// True when a request asks to switch to WebSocket (`Upgrade: websocket`);
/// such a request is then checked with [`check_upgrade_request`].
pub fn is_upgrade_request(headers: &HeaderMap) -> bool {
    has_token(headers, UPGRADE, "websocket")
}

/// Server side: checks an upgrade request's method, version and headers
/// (RFC 6455 section 4.2.1).
///
/// ```
/// use greenws::http::{HeaderMap, Method, StatusCode, Version};
/// use greenws::proto::websocket::{check_upgrade_request, Refusal};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("upgrade", "websocket".parse().unwrap());
/// headers.insert("connection", "Upgrade".parse().unwrap());
/// headers.insert("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==".parse().unwrap());
/// headers.insert("sec-websocket-version", "13".parse().unwrap());
/// let offer = check_upgrade_request(&Method::GET, Version::HTTP_11, &headers).unwrap();
/// assert_eq!(offer.accept_key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
///
/// headers.insert("sec-websocket-version", "8".parse().unwrap());
/// let refusal = check_upgrade_request(&Method::GET, Version::HTTP_11, &headers).unwrap_err();
/// assert_eq!(refusal, Refusal::UnsupportedVersion);
/// assert_eq!(refusal.status(), StatusCode::UPGRADE_REQUIRED);
/// ```
pub fn check_upgrade_request(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
) -> Result<UpgradeOffer, Refusal> {
    if method != Method::GET {
        return Err(Refusal::NotGet);
    }
    if version != Version::HTTP_11 {
        return Err(Refusal::NotHttp11);
    }
    if !has_token(headers, CONNECTION, "upgrade") {
        return Err(Refusal::NoConnectionUpgrade);
    }
    if headers
        .get(SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Err(Refusal::UnsupportedVersion);
    }
    let mut keys = headers.get_all(SEC_WEBSOCKET_KEY).iter();
    let key = match (keys.next(), keys.next()) {
        (Some(key), None) if is_valid_key(key.as_bytes()) => key.as_bytes(),
        _ => return Err(Refusal::InvalidKey),
    };
    Ok(UpgradeOffer {
        accept_key: accept_key(key),
        offered_protocols: header_elements(headers, SEC_WEBSOCKET_PROTOCOL)
            .map(str::to_owned)
            .collect(),
        offered_extensions: headers
            .get_all(SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .cloned()
            .collect(),
    })
}

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key` (the key as
/// sent, base64 text): the SHA-1 of the key and RFC 6455's GUID, in base64.
///
/// ```
/// let accept = greenws::proto::websocket::accept_key(b"dGhlIHNhbXBsZSBub25jZQ==");
/// assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> String {
    tungstenite::handshake::derive_accept_key(key)
}

fn is_valid_key(key: &[u8]) -> bool {
    data_encoding::BASE64
        .decode(key)
        .is_ok_and(|decoded| decoded.len() == 16)
}

/// Server side: the `101 Switching Protocols` head that accepts `offer`,
/// agreeing on `protocol` and `extensions` (the response's
/// `Sec-WebSocket-Extensions` value, if any), followed by `extra` headers
/// (a `Set-Cookie`, say; any that the handshake itself sets are left out).
///
/// ```
/// use greenws::http::HeaderMap;
/// use greenws::proto::websocket::server_response_head;
/// let mut extra = HeaderMap::new();
/// extra.insert("set-cookie", "session=abc".parse().unwrap());
/// let head = server_response_head("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", Some("chat.v1"), None, &extra);
/// assert_eq!(
///     String::from_utf8(head).unwrap(),
///     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///      Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat.v1\r\n\
///      set-cookie: session=abc\r\n\r\n"
/// );
/// ```
pub fn server_response_head<'h>(
    accept_key: &str,
    protocol: Option<&str>,
    extensions: Option<&str>,
    extra: impl IntoIterator<Item = (&'h HeaderName, &'h HeaderValue)>,
) -> Vec<u8> {
    let mut head = Vec::with_capacity(160);
    head.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    );
    push_header(&mut head, "Sec-WebSocket-Accept", accept_key.as_bytes());
    if let Some(protocol) = protocol {
        push_header(&mut head, "Sec-WebSocket-Protocol", protocol.as_bytes());
    }
    if let Some(extensions) = extensions {
        push_header(&mut head, "Sec-WebSocket-Extensions", extensions.as_bytes());
    }
    push_extra_headers(&mut head, extra);
    head.extend_from_slice(b"\r\n");
    head
}

fn push_header(head: &mut Vec<u8>, name: &str, value: &[u8]) {
    head.extend_from_slice(name.as_bytes());
    head.extend_from_slice(b": ");
    head.extend_from_slice(value);
    head.extend_from_slice(b"\r\n");
}

fn push_extra_headers<'h>(
    head: &mut Vec<u8>,
    extra: impl IntoIterator<Item = (&'h HeaderName, &'h HeaderValue)>,
) {
    for (name, value) in extra {
        if is_extra_header(name) {
            push_header(head, name.as_str(), value.as_bytes());
        }
    }
}

/// True for a header the caller may add: not one the handshake sets.
fn is_extra_header(name: &HeaderName) -> bool {
    !HANDSHAKE_HEADERS.contains(name) && name != TRANSFER_ENCODING
}

/// Client side: the request that opens a WebSocket, and the check of the
/// server's answer.
///
/// ```
/// use greenws::http::{HeaderMap, StatusCode};
/// use greenws::proto::websocket::{server_response_head, ClientHandshake};
///
/// // The key is 16 random bytes (a fresh draw per connection).
/// let handshake = ClientHandshake::new(*b"the sample nonce").protocols(["chat.v1"]);
/// let request = handshake.request_head("/chat?room=1", "example.com", &HeaderMap::new());
/// assert!(request.starts_with(b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\n"));
///
/// // The server's 101, as a response parser would give it.
/// let mut headers = HeaderMap::new();
/// headers.insert("upgrade", "websocket".parse().unwrap());
/// headers.insert("connection", "Upgrade".parse().unwrap());
/// headers.insert("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".parse().unwrap());
/// headers.insert("sec-websocket-protocol", "chat.v1".parse().unwrap());
/// let agreed = handshake.check_response(StatusCode::SWITCHING_PROTOCOLS, &headers).unwrap();
/// assert_eq!(agreed.protocol.as_deref(), Some("chat.v1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHandshake {
    key: String,
    protocols: Vec<String>,
    extensions: Option<String>,
}

/// Client side: what the server agreed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreed {
    /// The subprotocol the server chose (one the client offered).
    pub protocol: Option<String>,
    /// The `Sec-WebSocket-Extensions` values of the response, for the
    /// extensions' own negotiation (empty when the client offered none).
    pub extensions: Vec<HeaderValue>,
}

/// Client side: why the server's answer does not open a WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientHandshakeError {
    /// The status is not 101.
    NotSwitchingProtocols(StatusCode),
    /// No `Upgrade: websocket`.
    NoUpgradeWebSocket,
    /// No `Connection: Upgrade`.
    NoConnectionUpgrade,
    /// `Sec-WebSocket-Accept` missing or not the one the key asks for.
    WrongAcceptKey,
    /// The server chose a subprotocol the client did not offer.
    UnofferedProtocol(String),
    /// The server named more than one subprotocol.
    SeveralProtocols,
    /// The server named extensions although the client offered none.
    UnofferedExtensions,
}

impl fmt::Display for ClientHandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientHandshakeError::NotSwitchingProtocols(status) => {
                write!(
                    f,
                    "the server answered {status}, not 101 Switching Protocols"
                )
            }
            ClientHandshakeError::NoUpgradeWebSocket => {
                f.write_str("the 101 has no Upgrade: websocket")
            }
            ClientHandshakeError::NoConnectionUpgrade => {
                f.write_str("the 101 has no Connection: Upgrade")
            }
            ClientHandshakeError::WrongAcceptKey => {
                f.write_str("the 101's Sec-WebSocket-Accept does not match the key")
            }
            ClientHandshakeError::UnofferedProtocol(protocol) => {
                write!(
                    f,
                    "the server chose subprotocol {protocol:?}, which was not offered"
                )
            }
            ClientHandshakeError::SeveralProtocols => {
                f.write_str("the server named more than one subprotocol")
            }
            ClientHandshakeError::UnofferedExtensions => {
                f.write_str("the server named extensions, and none were offered")
            }
        }
    }
}

impl std::error::Error for ClientHandshakeError {}

impl ClientHandshake {
    /// A handshake with this key: 16 bytes the caller draws at random for
    /// each connection.
    pub fn new(key: [u8; 16]) -> Self {
        ClientHandshake {
            key: data_encoding::BASE64.encode(&key),
            protocols: Vec::new(),
            extensions: None,
        }
    }

    /// Offers these subprotocols, in order of preference.
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Offers extensions: a `Sec-WebSocket-Extensions` value (such as a
    /// permessage-deflate offer).
    pub fn extensions(mut self, offer: impl Into<String>) -> Self {
        self.extensions = Some(offer.into());
        self
    }

    /// The key as sent (base64).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The request head for `target` (path and query: a valid
    /// request-target, see [`write_request_head`]) on `host`, with `extra`
    /// headers (`Origin`, `Authorization`, `Cookie`...; any that the
    /// handshake itself sets, and `Host`, are left out).
    pub fn request_head(&self, target: &str, host: &str, extra: &HeaderMap) -> Vec<u8> {
        let protocols = self.protocols.join(", ");
        let mut fields: Vec<(&str, &[u8])> = vec![
            ("Host", host.as_bytes()),
            ("Upgrade", b"websocket"),
            ("Connection", b"Upgrade"),
            ("Sec-WebSocket-Key", self.key.as_bytes()),
            ("Sec-WebSocket-Version", b"13"),
        ];
        if !protocols.is_empty() {
            fields.push(("Sec-WebSocket-Protocol", protocols.as_bytes()));
        }
        if let Some(extensions) = &self.extensions {
            fields.push(("Sec-WebSocket-Extensions", extensions.as_bytes()));
        }
        fields.extend(
            extra
                .iter()
                .filter(|(name, _)| is_extra_header(name) && *name != http::header::HOST)
                .map(|(name, value)| (name.as_str(), value.as_bytes())),
        );
        let mut head = Vec::with_capacity(200);
        write_request_head(&mut head, &Method::GET, target, fields);
        head
    }

    /// Checks the server's answer (RFC 6455 section 4.1, the client's
    /// checks 1 to 6): 101, `Upgrade: websocket`, `Connection: Upgrade`,
    /// the accept key, a subprotocol only among those offered, extensions
    /// only when some were offered.
    pub fn check_response(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Result<Agreed, ClientHandshakeError> {
        if status != StatusCode::SWITCHING_PROTOCOLS {
            return Err(ClientHandshakeError::NotSwitchingProtocols(status));
        }
        if !has_token(headers, UPGRADE, "websocket") {
            return Err(ClientHandshakeError::NoUpgradeWebSocket);
        }
        if !has_token(headers, CONNECTION, "upgrade") {
            return Err(ClientHandshakeError::NoConnectionUpgrade);
        }
        let expected = accept_key(self.key.as_bytes());
        let mut accepts = headers.get_all(SEC_WEBSOCKET_ACCEPT).iter();
        match (accepts.next(), accepts.next()) {
            (Some(accept), None) if accept.as_bytes() == expected.as_bytes() => {}
            _ => return Err(ClientHandshakeError::WrongAcceptKey),
        }
        let mut chosen = header_elements(headers, SEC_WEBSOCKET_PROTOCOL);
        let protocol = match (chosen.next(), chosen.next()) {
            (None, _) => None,
            (Some(_), Some(_)) => return Err(ClientHandshakeError::SeveralProtocols),
            (Some(protocol), None) if self.protocols.iter().any(|p| p == protocol) => {
                Some(protocol.to_owned())
            }
            (Some(protocol), None) => {
                return Err(ClientHandshakeError::UnofferedProtocol(protocol.to_owned()))
            }
        };
        let extensions: Vec<HeaderValue> = headers
            .get_all(SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .cloned()
            .collect();
        if !extensions.is_empty() && self.extensions.is_none() {
            return Err(ClientHandshakeError::UnofferedExtensions);
        }
        Ok(Agreed {
            protocol,
            extensions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upgrade_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(UPGRADE, "websocket".parse().unwrap());
        headers.insert(CONNECTION, "keep-alive, Upgrade".parse().unwrap());
        headers.insert(
            SEC_WEBSOCKET_KEY,
            "dGhlIHNhbXBsZSBub25jZQ==".parse().unwrap(),
        );
        headers.insert(SEC_WEBSOCKET_VERSION, "13".parse().unwrap());
        headers
    }

    fn check(headers: &HeaderMap) -> Result<UpgradeOffer, Refusal> {
        check_upgrade_request(&Method::GET, Version::HTTP_11, headers)
    }

    #[test]
    fn every_malformed_upgrade_is_refused_with_its_status() {
        let good = upgrade_headers();
        assert!(check(&good).is_ok());
        assert_eq!(
            check_upgrade_request(&Method::POST, Version::HTTP_11, &good),
            Err(Refusal::NotGet)
        );
        assert_eq!(
            check_upgrade_request(&Method::GET, Version::HTTP_10, &good),
            Err(Refusal::NotHttp11)
        );
        let mut h = good.clone();
        h.insert(CONNECTION, "keep-alive".parse().unwrap());
        assert_eq!(check(&h), Err(Refusal::NoConnectionUpgrade));
        for version in [None, Some("8"), Some("13, 8"), Some(" 13")] {
            let mut h = good.clone();
            h.remove(SEC_WEBSOCKET_VERSION);
            if let Some(v) = version {
                h.insert(SEC_WEBSOCKET_VERSION, v.parse().unwrap());
            }
            let refusal = check(&h).unwrap_err();
            assert_eq!(refusal, Refusal::UnsupportedVersion, "{version:?}");
            assert_eq!(refusal.status(), StatusCode::UPGRADE_REQUIRED);
            assert_eq!(refusal.headers(), [("sec-websocket-version", "13")]);
        }
        // 15 and 17 bytes, not base64, missing, repeated.
        for keys in [
            &["AAAAAAAAAAAAAAAAAAAA"][..],
            &["AAAAAAAAAAAAAAAAAAAAAAA="],
            &["not base64 at all!!!!!=="],
            &[],
            &["dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ=="],
        ] {
            let mut h = good.clone();
            h.remove(SEC_WEBSOCKET_KEY);
            for key in keys {
                h.append(SEC_WEBSOCKET_KEY, key.parse().unwrap());
            }
            assert_eq!(check(&h), Err(Refusal::InvalidKey), "{keys:?}");
            assert_eq!(Refusal::InvalidKey.status(), StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn an_offer_lists_protocols_and_extensions_as_sent() {
        let mut h = upgrade_headers();
        h.append(SEC_WEBSOCKET_PROTOCOL, "chat.v3, chat.v1".parse().unwrap());
        h.append(SEC_WEBSOCKET_PROTOCOL, "chat.v2".parse().unwrap());
        h.append(
            SEC_WEBSOCKET_EXTENSIONS,
            "permessage-deflate; client_max_window_bits"
                .parse()
                .unwrap(),
        );
        let offer = check(&h).unwrap();
        assert_eq!(offer.offered_protocols, ["chat.v3", "chat.v1", "chat.v2"]);
        assert_eq!(offer.offered_extensions.len(), 1);
        assert_eq!(
            offer.choose_protocol(&["chat.v2", "chat.v1"]),
            Some("chat.v1")
        );
        assert!(is_upgrade_request(&h));
        assert!(!is_upgrade_request(&HeaderMap::new()));
    }

    #[test]
    fn the_handshake_headers_cannot_be_overridden_by_extra_ones() {
        let mut extra = HeaderMap::new();
        extra.insert(CONNECTION, "close".parse().unwrap());
        extra.insert(SEC_WEBSOCKET_ACCEPT, "forged".parse().unwrap());
        extra.insert(CONTENT_LENGTH, "5".parse().unwrap());
        extra.insert("set-cookie", "a=b".parse().unwrap());
        let head = String::from_utf8(server_response_head("k", None, Some("x"), &extra)).unwrap();
        assert_eq!(
            head,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: k\r\nSec-WebSocket-Extensions: x\r\nset-cookie: a=b\r\n\r\n"
        );
    }

    fn header_map(fields: &[httparse::Header<'_>]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for field in fields {
            headers.append(
                HeaderName::from_bytes(field.name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(field.value).unwrap(),
            );
        }
        headers
    }

    /// The client's request, read by httparse and checked by the server
    /// side; the server's 101, checked by the client side.
    #[test]
    fn both_sides_agree_with_each_other() {
        let client = ClientHandshake::new([7; 16])
            .protocols(["b", "a"])
            .extensions("permessage-deflate");
        let mut extra = HeaderMap::new();
        extra.insert("origin", "https://example.com".parse().unwrap());
        extra.insert(SEC_WEBSOCKET_KEY, "forged".parse().unwrap());
        let request = client.request_head("/path?q=1", "example.com:8080", &extra);
        let mut fields = [httparse::EMPTY_HEADER; 16];
        let mut parsed = httparse::Request::new(&mut fields);
        assert!(parsed.parse(&request).unwrap().is_complete());
        assert_eq!(parsed.path, Some("/path?q=1"));
        let headers = header_map(parsed.headers);
        assert_eq!(headers.get_all(SEC_WEBSOCKET_KEY).iter().count(), 1);
        assert_eq!(headers["origin"], "https://example.com");
        let offer = check(&headers).unwrap();
        let protocol = offer.choose_protocol(&["a"]);
        assert_eq!(protocol, Some("a"));

        let head = server_response_head(
            &offer.accept_key,
            protocol,
            Some("permessage-deflate"),
            &HeaderMap::new(),
        );
        let mut fields = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut fields);
        assert!(response.parse(&head).unwrap().is_complete());
        let headers = header_map(response.headers);
        let status = StatusCode::from_u16(response.code.unwrap()).unwrap();
        let agreed = client.check_response(status, &headers).unwrap();
        assert_eq!(agreed.protocol.as_deref(), Some("a"));
        assert_eq!(agreed.extensions, ["permessage-deflate"]);
    }

    #[test]
    fn the_client_refuses_every_bad_answer() {
        let client = ClientHandshake::new(*b"the sample nonce").protocols(["a"]);
        let good = || {
            let mut h = HeaderMap::new();
            h.insert(UPGRADE, "websocket".parse().unwrap());
            h.insert(CONNECTION, "Upgrade".parse().unwrap());
            h.insert(
                SEC_WEBSOCKET_ACCEPT,
                "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".parse().unwrap(),
            );
            h
        };
        let ok = StatusCode::SWITCHING_PROTOCOLS;
        assert_eq!(client.check_response(ok, &good()).unwrap().protocol, None);
        assert_eq!(
            client.check_response(StatusCode::OK, &good()),
            Err(ClientHandshakeError::NotSwitchingProtocols(StatusCode::OK))
        );
        type Change = fn(&mut HeaderMap);
        let cases: [(Change, ClientHandshakeError); 7] = [
            (
                |h| drop(h.remove(UPGRADE)),
                ClientHandshakeError::NoUpgradeWebSocket,
            ),
            (
                |h| drop(h.insert(CONNECTION, "close".parse().unwrap())),
                ClientHandshakeError::NoConnectionUpgrade,
            ),
            (
                |h| {
                    let other = "AAAAAAAAAAAAAAAAAAAAAAAAAAA=".parse().unwrap();
                    h.insert(SEC_WEBSOCKET_ACCEPT, other);
                },
                ClientHandshakeError::WrongAcceptKey,
            ),
            (
                |h| drop(h.remove(SEC_WEBSOCKET_ACCEPT)),
                ClientHandshakeError::WrongAcceptKey,
            ),
            (
                |h| drop(h.insert(SEC_WEBSOCKET_PROTOCOL, "b".parse().unwrap())),
                ClientHandshakeError::UnofferedProtocol("b".into()),
            ),
            (
                |h| drop(h.insert(SEC_WEBSOCKET_PROTOCOL, "a, a".parse().unwrap())),
                ClientHandshakeError::SeveralProtocols,
            ),
            (
                |h| {
                    let offer = "permessage-deflate".parse().unwrap();
                    h.insert(SEC_WEBSOCKET_EXTENSIONS, offer);
                },
                ClientHandshakeError::UnofferedExtensions,
            ),
        ];
        for (change, error) in cases {
            let mut h = good();
            change(&mut h);
            assert_eq!(client.check_response(ok, &h), Err(error));
        }
    }
}
