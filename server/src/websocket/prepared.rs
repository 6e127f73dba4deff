//! `PreparedMessage`: a message encoded once, to send to many sockets.

use std::fmt;
use std::sync::Arc;

use crate::proto::websocket::{FrameHeader, Message, OpCode};

/// A message encoded once, to send to many sockets (a broadcast) without
/// encoding it again for each: [`WebSocket::send_prepared`] writes the
/// same bytes to every server socket. Cloning it shares the bytes.
///
/// ```
/// # fn broadcast(sockets: &[greenws::WebSocket]) {
/// let update = greenws::PreparedMessage::new("price 101.5");
/// for ws in sockets {
///     let _ = ws.send_prepared(&update);
/// }
/// # }
/// ```
///
/// [`WebSocket::send_prepared`]: super::WebSocket::send_prepared
#[derive(Clone)]
pub struct PreparedMessage {
    /// The whole unmasked frame, as a server sends it.
    frame: Arc<[u8]>,
    header_len: u8,
    opcode: OpCode,
}

impl fmt::Debug for PreparedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedMessage")
            .field("opcode", &self.opcode)
            .field("payload_len", &self.payload().len())
            .finish()
    }
}

impl PreparedMessage {
    /// Encodes `message` as a server's (unmasked, final) frame.
    pub fn new(message: impl Into<Message>) -> Self {
        let message = message.into();
        let opcode = match message {
            Message::Text(_) => OpCode::Text,
            Message::Binary(_) => OpCode::Binary,
        };
        let payload = message.as_bytes();
        let header = FrameHeader::new(opcode, payload.len() as u64, None);
        let mut frame = Vec::new();
        header.append_frame(payload, &mut frame);
        PreparedMessage {
            header_len: (frame.len() - payload.len()) as u8,
            frame: frame.into(),
            opcode,
        }
    }

    /// The frame a server sends.
    pub(super) fn server_frame(&self) -> &[u8] {
        &self.frame
    }

    /// The opcode, for a client, which masks each frame itself.
    pub(super) fn opcode(&self) -> OpCode {
        self.opcode
    }

    /// The payload, for a client, which masks each frame itself.
    pub(super) fn payload(&self) -> &[u8] {
        &self.frame[usize::from(self.header_len)..]
    }
}
