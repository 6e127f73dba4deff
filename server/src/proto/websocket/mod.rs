//! RFC 6455 without I/O, for both roles.
//!
//! - [`frame`]: frame headers, encoded and parsed; masking.
//! - [`decoder`]: the incremental decoder of a peer's frames, limits and
//!   the permessage-deflate hook included.
//! - [`close`]: close codes and Close payloads.
//! - [`handshake`]: the opening handshake, server and client side.
//! - [`message`]: what travels, [`protocol_error`]: how a peer can break it.

pub mod close;
pub mod decoder;
pub mod frame;
pub mod handshake;
pub mod message;
pub mod protocol_error;

#[cfg(test)]
mod proptests;

pub use close::{close_payload, CloseCode, CloseReason, MAX_CLOSE_REASON};
pub use decoder::{Decoder, Event, MessageDecompressor};
pub use frame::{
    apply_mask, EncodedHeader, FrameHeader, OpCode, Role, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN,
};
pub use handshake::{
    accept_key, check_upgrade_request, is_upgrade_request, server_response_head, Agreed,
    ClientHandshake, ClientHandshakeError, Refusal, UpgradeOffer,
};
pub use message::Message;
pub use protocol_error::ProtocolError;
