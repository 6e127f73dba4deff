//! The app's side of an upgrade: taking the connection for a WebSocket
//! once the [`WebSocketHandler`](super::WebSocketHandler)(super::WebSocketHandler) accepted the
//! handshake.

use http::header::ORIGIN;
use http::HeaderMap;

use super::handler::{arrived_after_head, Offer};
use super::socket::Info;
use super::WebSocket;
use crate::proto::websocket::{server_response_head, Role};
use crate::Request;

impl Request<'_> {
    /// Takes the connection for a WebSocket, if this request is an upgrade
    /// that the [`WebSocketHandler`](super::WebSocketHandler) accepted (`None` otherwise, and always
    /// without that handler class). The `101 Switching Protocols` is sent
    /// here, agreeing on the first subprotocol the client offered that the
    /// handler lists.
    ///
    /// Also `None` when the client sent more bytes after its request
    /// while the app decided (against RFC 6455 section 4.1): the app's
    /// answer goes out as HTTP and those bytes are read as the next
    /// request; and when the 101 cannot be sent.
    ///
    /// The app then talks over the socket and returns
    /// [`Response::upgraded`](crate::Response::upgraded); when it returns, a socket still open is
    /// closed with 1000 (1011 if the app panicked).
    pub fn websocket(&mut self) -> Option<WebSocket> {
        let offer = self.upgrade.take()?;
        let choice = offer
            .upgrade
            .choose_protocol(&offer.handler.protocols)
            .map(str::to_owned);
        self.accept_websocket(offer, choice)
    }

    /// Like [`websocket`](Self::websocket), agreeing on the first offered
    /// subprotocol that is in `protocols` (instead of the handler's list).
    pub fn websocket_with(&mut self, protocols: &[&str]) -> Option<WebSocket> {
        let offer = self.upgrade.take()?;
        let choice = offer.upgrade.choose_protocol(protocols).map(str::to_owned);
        self.accept_websocket(offer, choice)
    }

    /// The subprotocols the client offered, if this is an accepted upgrade.
    pub fn websocket_protocols(&self) -> Vec<&str> {
        self.upgrade
            .as_ref()
            .map(|o| {
                o.upgrade
                    .offered_protocols
                    .iter()
                    .map(String::as_str)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// True when this request is an upgrade the handler accepted, which
    /// [`websocket`](Self::websocket) takes (unless the client sends more
    /// before the 101).
    pub fn is_websocket(&self) -> bool {
        self.upgrade.is_some()
    }

    #[inline(never)]
    fn accept_websocket(&mut self, offer: Offer, protocol: Option<String>) -> Option<WebSocket> {
        let head = server_response_head(
            &offer.upgrade.accept_key,
            protocol.as_deref(),
            None,
            &HeaderMap::new(),
        );
        let info = Info {
            path: self.path().to_owned(),
            origin: self.header(ORIGIN.as_str()).map(str::to_owned),
            protocol,
            peer_addr: self.peer_addr(),
        };
        let io = self.io();
        if arrived_after_head(io) {
            log::debug!(
                "{}: data arrived before the 101; the upgrade is declined",
                info.peer_addr
            );
            return None;
        }
        if let Err(e) = io.write_all(&head) {
            log::debug!(
                "{}: the 101 response could not be sent: {e}",
                info.peer_addr
            );
            return None;
        }
        let (stream, leftover) = io.take();
        debug_assert!(leftover.is_empty(), "checked just before the 101");
        if let Some(size) = offer.handler.config.send_buffer {
            let size = size.min(i32::MAX as usize);
            let _ = socket2::SockRef::from(stream.tcp().inner()).set_send_buffer_size(size);
        }
        let ws = WebSocket::new(stream, Role::Server, offer.handler.config.clone(), info);
        io.set_upgraded(ws.clone());
        Some(ws)
    }
}
