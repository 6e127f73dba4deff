//! Frame headers (RFC 6455 section 5.2), encoded and parsed, for both
//! roles: a server's frames are unmasked, a client's masked with a key
//! the caller chooses (a fresh random one per frame, as the RFC asks).
//!
//! This is the one encoder of the crate: the socket, the `PreparedMessage`
//! of a broadcast, the tests and the test peers all use it.

use std::fmt;
use std::ops::Deref;

use super::protocol_error::ProtocolError;

/// The longest frame header: 2 bytes, 8 of extended length, 4 of mask.
pub const MAX_HEADER_LEN: usize = 14;

/// The longest payload of a control frame (RFC 6455 section 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Which end of a connection an endpoint is. The role decides masking:
/// a client masks what it sends and a server must refuse unmasked frames;
/// a server sends unmasked frames and a client must refuse masked ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The end that accepted the connection.
    Server,
    /// The end that opened it.
    Client,
}

/// A frame's opcode. The reserved ones (3-7, 11-15) have no variant: a
/// frame that carries one is refused when parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    /// 0: the next fragment of a message.
    Continuation,
    /// 1: the first (or only) frame of a text message.
    Text,
    /// 2: the first (or only) frame of a binary message.
    Binary,
    /// 8: the closing handshake.
    Close,
    /// 9: a ping, which the peer answers with a pong.
    Ping,
    /// 10: a pong.
    Pong,
}

impl OpCode {
    /// The opcode's four bits.
    pub const fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// The opcode for these four bits; `None` for a reserved one.
    pub const fn from_u8(bits: u8) -> Option<OpCode> {
        Some(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// True for Close, Ping and Pong.
    pub const fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }
}

/// A frame header.
///
/// ```
/// use greenws::proto::websocket::{FrameHeader, OpCode};
/// // A server's text frame of 5 bytes: two header bytes.
/// let header = FrameHeader::new(OpCode::Text, 5, None);
/// assert_eq!(&header.encode()[..], [0x81, 0x05]);
/// // A client's, masked: the whole frame, parsed back.
/// let mut frame = Vec::new();
/// FrameHeader::new(OpCode::Text, 5, Some([1, 2, 3, 4])).append_frame(b"hello", &mut frame);
/// let (parsed, header_len) = FrameHeader::parse(&frame).unwrap().unwrap();
/// assert_eq!((parsed.payload_len, parsed.mask, header_len), (5, Some([1, 2, 3, 4]), 6));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The last frame of its message (always set on control frames).
    pub fin: bool,
    /// RSV1: a compressed message, when permessage-deflate was agreed.
    pub rsv1: bool,
    /// RSV2: no meaning without an extension that defines one.
    pub rsv2: bool,
    /// RSV3: no meaning without an extension that defines one.
    pub rsv3: bool,
    /// What the frame is.
    pub opcode: OpCode,
    /// The masking key: a client's frames have one, a server's do not.
    pub mask: Option<[u8; 4]>,
    /// The payload length in bytes.
    pub payload_len: u64,
}

impl FrameHeader {
    /// A final frame of `payload_len` bytes with no RSV bit set.
    pub const fn new(opcode: OpCode, payload_len: u64, mask: Option<[u8; 4]>) -> Self {
        FrameHeader {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask,
            payload_len,
        }
    }

    /// The header's bytes, on the stack.
    pub fn encode(&self) -> EncodedHeader {
        let mut bytes = [0u8; MAX_HEADER_LEN];
        bytes[0] = (u8::from(self.fin) << 7)
            | (u8::from(self.rsv1) << 6)
            | (u8::from(self.rsv2) << 5)
            | (u8::from(self.rsv3) << 4)
            | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let len = self.payload_len;
        let mut used = match len {
            0..=125 => {
                bytes[1] = mask_bit | len as u8;
                2
            }
            126..=0xFFFF => {
                bytes[1] = mask_bit | 126;
                bytes[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                4
            }
            _ => {
                bytes[1] = mask_bit | 127;
                bytes[2..10].copy_from_slice(&len.to_be_bytes());
                10
            }
        };
        if let Some(mask) = self.mask {
            bytes[used..used + 4].copy_from_slice(&mask);
            used += 4;
        }
        EncodedHeader {
            bytes,
            len: used as u8,
        }
    }

    /// Appends the whole frame to `out`: the header, then `payload`,
    /// masked with the header's key if it has one.
    ///
    /// # Panics
    /// If `payload` is not `payload_len` bytes long.
    pub fn append_frame(&self, payload: &[u8], out: &mut Vec<u8>) {
        assert_eq!(
            payload.len() as u64,
            self.payload_len,
            "the payload is the length the header declares"
        );
        out.reserve(MAX_HEADER_LEN + payload.len());
        out.extend_from_slice(&self.encode());
        let start = out.len();
        out.extend_from_slice(payload);
        if let Some(mask) = self.mask {
            apply_mask(&mut out[start..], mask, 0);
        }
    }

    /// Parses a header at the start of `buf`: `Ok(None)` until all of it
    /// is there, then the header and its length in bytes. Refuses what no
    /// frame may carry whatever the role: a reserved opcode, a 64-bit
    /// length with the top bit set. (Masking, RSV bits, fragmented or long
    /// control frames depend on the role and the extensions: the
    /// [`Decoder`](super::Decoder) checks those.)
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        let [first, second, ..] = *buf else {
            return Ok(None);
        };
        let opcode =
            OpCode::from_u8(first & 0x0F).ok_or(ProtocolError::ReservedOpcode(first & 0x0F))?;
        let masked = second & 0x80 != 0;
        let (payload_len, mut used) = match second & 0x7F {
            126 => match buf.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(b) => {
                    let len = u64::from_be_bytes(b.try_into().expect("8 bytes"));
                    if len >> 63 != 0 {
                        return Err(ProtocolError::InvalidPayloadLength);
                    }
                    (len, 10)
                }
                None => return Ok(None),
            },
            short => (u64::from(short), 2),
        };
        let mask = if masked {
            let Some(key) = buf.get(used..used + 4) else {
                return Ok(None);
            };
            used += 4;
            Some([key[0], key[1], key[2], key[3]])
        } else {
            None
        };
        let header = FrameHeader {
            fin: first & 0x80 != 0,
            rsv1: first & 0x40 != 0,
            rsv2: first & 0x20 != 0,
            rsv3: first & 0x10 != 0,
            opcode,
            mask,
            payload_len,
        };
        Ok(Some((header, used)))
    }
}

/// An encoded frame header: up to [`MAX_HEADER_LEN`] bytes, on the stack.
#[derive(Clone, Copy)]
pub struct EncodedHeader {
    bytes: [u8; MAX_HEADER_LEN],
    len: u8,
}

impl Deref for EncodedHeader {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for EncodedHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncodedHeader({:02x?})", &**self)
    }
}

/// XORs `buf` with the masking key, starting `offset` bytes into the key's
/// cycle (a payload masked or unmasked in pieces continues where the last
/// piece ended). Masking and unmasking are the same operation.
///
/// ```
/// use greenws::proto::websocket::apply_mask;
/// let mut data = *b"hello";
/// apply_mask(&mut data, [1, 2, 3, 4], 0);
/// apply_mask(&mut data[..2], [1, 2, 3, 4], 0);
/// apply_mask(&mut data[2..], [1, 2, 3, 4], 2);
/// assert_eq!(&data, b"hello");
/// ```
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut rotated = [0u8; 8];
    for (i, b) in rotated.iter_mut().enumerate() {
        *b = mask[(i + offset) % 4];
    }
    let word = u64::from_ne_bytes(rotated);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let v = u64::from_ne_bytes(chunk.try_into().expect("8 bytes")) ^ word;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= rotated[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_form_at_its_edges_round_trips() {
        for len in [
            0u64,
            1,
            125,
            126,
            127,
            0xFFFF,
            0x1_0000,
            1 << 40,
            (1 << 63) - 1,
        ] {
            for mask in [None, Some([9, 8, 7, 6])] {
                let mut header = FrameHeader::new(OpCode::Binary, len, mask);
                header.fin = len % 2 == 0;
                header.rsv1 = mask.is_some();
                let encoded = header.encode();
                let expected_len = match len {
                    0..=125 => 2,
                    126..=0xFFFF => 4,
                    _ => 10,
                } + if mask.is_some() { 4 } else { 0 };
                assert_eq!(encoded.len(), expected_len, "len {len}");
                assert_eq!(
                    FrameHeader::parse(&encoded).unwrap(),
                    Some((header, expected_len))
                );
                // Every prefix is incomplete, never an error.
                for cut in 0..encoded.len() {
                    assert_eq!(FrameHeader::parse(&encoded[..cut]), Ok(None), "cut {cut}");
                }
            }
        }
    }

    #[test]
    fn reserved_opcodes_and_the_length_top_bit_are_refused() {
        for bits in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(OpCode::from_u8(bits), None);
            assert_eq!(
                FrameHeader::parse(&[0x80 | bits, 0]),
                Err(ProtocolError::ReservedOpcode(bits))
            );
        }
        let mut top = vec![0x82, 127];
        top.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert_eq!(
            FrameHeader::parse(&top),
            Err(ProtocolError::InvalidPayloadLength)
        );
    }

    #[test]
    fn opcodes_round_trip_and_know_control_from_data() {
        for opcode in [
            OpCode::Continuation,
            OpCode::Text,
            OpCode::Binary,
            OpCode::Close,
            OpCode::Ping,
            OpCode::Pong,
        ] {
            assert_eq!(OpCode::from_u8(opcode.as_u8()), Some(opcode));
            assert_eq!(
                opcode.is_control(),
                matches!(opcode, OpCode::Close | OpCode::Ping | OpCode::Pong)
            );
        }
    }

    #[test]
    fn append_frame_masks_the_payload_only() {
        let mut frame = Vec::new();
        FrameHeader::new(OpCode::Text, 3, Some([1, 2, 3, 4])).append_frame(b"abc", &mut frame);
        assert_eq!(
            frame,
            [0x81, 0x83, 1, 2, 3, 4, b'a' ^ 1, b'b' ^ 2, b'c' ^ 3]
        );
        let mut frame = Vec::new();
        FrameHeader::new(OpCode::Pong, 2, None).append_frame(b"hi", &mut frame);
        assert_eq!(frame, [0x8A, 0x02, b'h', b'i']);
    }

    #[test]
    fn apply_mask_matches_the_plain_loop_at_every_offset() {
        let mask = [1, 2, 3, 4];
        for offset in 0..4 {
            for len in 0..20 {
                let mut fast: Vec<u8> = (0..len as u8).collect();
                let plain: Vec<u8> = fast
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ mask[(i + offset) % 4])
                    .collect();
                apply_mask(&mut fast, mask, offset);
                assert_eq!(fast, plain);
            }
        }
    }
}
