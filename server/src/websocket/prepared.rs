//! `PreparedMessage`: a message encoded once, to send to many sockets.

use std::fmt;
use std::sync::Arc;

use super::deflate::{CompressError, Compressed, CompressedForms, Deflater};
use crate::proto::websocket::{FrameHeader, Message, OpCode};

/// A message encoded once, to send to many sockets (a broadcast) without
/// encoding it again for each: [`WebSocket::send_prepared`] writes the
/// same bytes to every server socket. Sockets that agreed on
/// permessage-deflate get it compressed once per distinct compression
/// setting (normally one for all of them), on first use. Cloning it
/// shares all of this.
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
    inner: Arc<Prepared>,
}

struct Prepared {
    /// The whole unmasked, uncompressed frame, as a server sends it.
    frame: Box<[u8]>,
    header_len: u8,
    opcode: OpCode,
    compressed: CompressedForms,
}

impl fmt::Debug for PreparedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedMessage")
            .field("opcode", &self.inner.opcode)
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
            inner: Arc::new(Prepared {
                header_len: (frame.len() - payload.len()) as u8,
                frame: frame.into(),
                opcode,
                compressed: CompressedForms::default(),
            }),
        }
    }

    /// The bytes it takes, for bounds: its uncompressed frame.
    pub(super) fn size(&self) -> usize {
        self.inner.frame.len()
    }

    /// The uncompressed frame a server sends.
    pub(super) fn server_frame(&self) -> &[u8] {
        &self.inner.frame
    }

    /// The opcode, for a frame made anew (a client's, or compressed).
    pub(super) fn opcode(&self) -> OpCode {
        self.inner.opcode
    }

    /// The payload, for a frame made anew (a client's, or compressed).
    pub(super) fn payload(&self) -> &[u8] {
        &self.inner.frame[usize::from(self.inner.header_len)..]
    }

    /// The payload compressed as `deflater` would, shared with every
    /// socket of the same setting; `None` to send it uncompressed.
    pub(super) fn compressed_for(
        &self,
        deflater: &mut Deflater,
    ) -> Result<Option<Compressed>, CompressError> {
        self.inner
            .compressed
            .compressed_for(self.payload(), deflater)
    }

    /// How many distinct compressed forms were made (for tests).
    #[cfg(test)]
    pub(super) fn compressed_forms(&self) -> usize {
        self.inner.compressed.shared_forms()
    }
}
