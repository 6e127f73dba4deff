//! How a peer can break RFC 6455, each way with the close code it earns.

use std::fmt;

use super::close::CloseCode;

/// A violation of the WebSocket protocol by the peer, or a limit it went
/// past. The connection is failed with [`close_code`](Self::close_code)
/// (1002, 1007 or 1009) and the error reaches the app as
/// [`Error::Protocol`](crate::Error::Protocol).
///
/// ```
/// use greenws::{CloseCode, ProtocolError};
/// assert_eq!(ProtocolError::UnmaskedFrame.close_code(), CloseCode::PROTOCOL_ERROR);
/// assert_eq!(ProtocolError::InvalidUtf8.close_code(), CloseCode::INVALID_DATA);
/// let too_big = ProtocolError::MessageTooLarge { limit: 1 << 20 };
/// assert_eq!(too_big.close_code(), CloseCode::MESSAGE_TOO_BIG);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A client sent a frame without a mask (RFC 6455 section 5.1).
    UnmaskedFrame,
    /// A server sent a masked frame (RFC 6455 section 5.1).
    MaskedFrame,
    /// RSV1, RSV2 or RSV3 set where no agreed extension gives it a meaning.
    ReservedBits,
    /// An opcode RFC 6455 reserves (3-7 and 11-15).
    ReservedOpcode(u8),
    /// A Ping, Pong or Close frame with FIN clear.
    FragmentedControlFrame,
    /// A control frame with more than 125 bytes of payload.
    ControlFrameTooLong {
        /// The payload length the frame declared.
        len: u64,
    },
    /// A 64-bit payload length with its most significant bit set.
    InvalidPayloadLength,
    /// A continuation frame with no fragmented message to continue.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is unfinished.
    UnfinishedMessage,
    /// A Close frame with a payload of one byte (a code needs two).
    ClosePayloadTooShort,
    /// A Close frame with a code that may not travel on the wire.
    InvalidCloseCode(CloseCode),
    /// A text message or a close reason that is not UTF-8 (close 1007).
    InvalidUtf8,
    /// A frame larger than `max_frame_size` (close 1009).
    FrameTooLarge {
        /// The limit, in bytes of payload.
        limit: usize,
    },
    /// A message larger than `max_message_size`, all fragments together,
    /// decompressed (close 1009).
    MessageTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A compressed message (permessage-deflate, RFC 7692) whose data
    /// cannot be decompressed: not valid DEFLATE, or a reference to
    /// history outside the agreed window.
    InvalidCompressedData(String),
}

impl ProtocolError {
    /// The code the connection is closed with.
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 => CloseCode::INVALID_DATA,
            ProtocolError::FrameTooLarge { .. } | ProtocolError::MessageTooLarge { .. } => {
                CloseCode::MESSAGE_TOO_BIG
            }
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::UnmaskedFrame => f.write_str("unmasked frame from a client"),
            ProtocolError::MaskedFrame => f.write_str("masked frame from a server"),
            ProtocolError::ReservedBits => {
                f.write_str("reserved bits set without an extension that uses them")
            }
            ProtocolError::ReservedOpcode(opcode) => write!(f, "reserved opcode {opcode:#x}"),
            ProtocolError::FragmentedControlFrame => f.write_str("fragmented control frame"),
            ProtocolError::ControlFrameTooLong { len } => {
                write!(f, "control frame payload of {len} bytes (at most 125)")
            }
            ProtocolError::InvalidPayloadLength => {
                f.write_str("a 64-bit payload length with the most significant bit set")
            }
            ProtocolError::UnexpectedContinuation => {
                f.write_str("continuation frame without a message")
            }
            ProtocolError::UnfinishedMessage => {
                f.write_str("new message before the last one ended")
            }
            ProtocolError::ClosePayloadTooShort => f.write_str("close payload of one byte"),
            ProtocolError::InvalidCloseCode(code) => {
                write!(f, "close code {} not allowed on the wire", code.as_u16())
            }
            ProtocolError::InvalidUtf8 => f.write_str("invalid UTF-8 in a text message"),
            ProtocolError::FrameTooLarge { limit } => {
                write!(f, "frame larger than the limit of {limit} bytes")
            }
            ProtocolError::MessageTooLarge { limit } => {
                write!(f, "message larger than the limit of {limit} bytes")
            }
            ProtocolError::InvalidCompressedData(why) => {
                write!(f, "invalid compressed message: {why}")
            }
        }
    }
}

impl std::error::Error for ProtocolError {}
