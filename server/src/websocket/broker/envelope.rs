//! The envelope around a broadcast on a Redis channel: which instance sent
//! it, its place in that instance's order, text or binary, then the
//! payload.
//!
//! ```text
//! offset  size  field
//!      0     2  magic "GW"
//!      2     1  version (1)
//!      3     1  kind: 0 text, 1 binary
//!      4     8  instance id, big-endian
//!     12     8  sequence number, big-endian (per instance, from 1)
//!     20     -  payload
//! ```
//!
//! The instance id lets an instance skip its own broadcasts when Redis
//! sends them back (it delivered them locally already); the sequence number
//! lets a receiver drop anything that arrives out of its sender's order.

use std::fmt;

use super::Message;

/// Bytes before the payload.
pub(crate) const HEADER_LEN: usize = 20;
const MAGIC: &[u8; 2] = b"GW";
const VERSION: u8 = 1;
const KIND_TEXT: u8 = 0;
const KIND_BINARY: u8 = 1;
const SEQUENCE_AT: usize = 12;

/// Who sent a broadcast, and when in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin {
    /// The sending instance (random, chosen when its hub was built).
    pub instance: u64,
    /// 1 for the instance's first broadcast, then one more for each.
    pub sequence: u64,
}

/// Why bytes on a channel are not a broadcast of a hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnvelopeError {
    /// Too short, another magic or version: something else publishes on
    /// the channel.
    Foreign,
    /// A kind byte that is neither text nor binary.
    UnknownKind(u8),
    /// A text broadcast that is not UTF-8.
    InvalidUtf8,
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::Foreign => f.write_str("not a greenws hub message"),
            EnvelopeError::UnknownKind(kind) => write!(f, "unknown message kind {kind}"),
            EnvelopeError::InvalidUtf8 => f.write_str("a text message that is not UTF-8"),
        }
    }
}

/// Wraps `message` for `origin`.
pub(crate) fn seal(origin: Origin, message: &Message) -> Vec<u8> {
    let payload = message.as_bytes();
    let mut envelope = Vec::with_capacity(HEADER_LEN + payload.len());
    envelope.extend_from_slice(MAGIC);
    envelope.push(VERSION);
    envelope.push(if message.is_text() {
        KIND_TEXT
    } else {
        KIND_BINARY
    });
    envelope.extend_from_slice(&origin.instance.to_be_bytes());
    envelope.extend_from_slice(&origin.sequence.to_be_bytes());
    envelope.extend_from_slice(payload);
    envelope
}

/// Sets the sequence number of a sealed envelope (numbers are given in
/// publishing order, after the envelope was built).
pub(crate) fn stamp(envelope: &mut [u8], sequence: u64) {
    envelope[SEQUENCE_AT..HEADER_LEN].copy_from_slice(&sequence.to_be_bytes());
}

/// Unwraps an envelope, reusing its buffer for the payload.
pub(crate) fn open(mut envelope: Vec<u8>) -> Result<(Origin, Message), EnvelopeError> {
    if envelope.len() < HEADER_LEN || &envelope[..2] != MAGIC || envelope[2] != VERSION {
        return Err(EnvelopeError::Foreign);
    }
    let number =
        |at: usize| u64::from_be_bytes(envelope[at..at + 8].try_into().expect("eight bytes"));
    let origin = Origin {
        instance: number(4),
        sequence: number(SEQUENCE_AT),
    };
    let kind = envelope[3];
    envelope.drain(..HEADER_LEN);
    let message = match kind {
        KIND_TEXT => {
            Message::Text(String::from_utf8(envelope).map_err(|_| EnvelopeError::InvalidUtf8)?)
        }
        KIND_BINARY => Message::Binary(envelope),
        other => return Err(EnvelopeError::UnknownKind(other)),
    };
    Ok((origin, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: Origin = Origin {
        instance: 0x0102_0304_0506_0708,
        sequence: 42,
    };

    #[test]
    fn text_and_binary_come_back_as_sealed() {
        for message in [
            Message::Text("héllo".into()),
            Message::Binary(vec![0, 255, 7]),
            Message::Text(String::new()),
            Message::Binary(Vec::new()),
        ] {
            let envelope = seal(ORIGIN, &message);
            assert_eq!(envelope.len(), HEADER_LEN + message.len());
            assert_eq!(open(envelope), Ok((ORIGIN, message)));
        }
    }

    #[test]
    fn the_layout_is_the_documented_one() {
        let mut envelope = seal(ORIGIN, &Message::Binary(b"xy".to_vec()));
        stamp(&mut envelope, 0x1112_1314_1516_1718);
        assert_eq!(
            envelope,
            b"GW\x01\x01\x01\x02\x03\x04\x05\x06\x07\x08\x11\x12\x13\x14\x15\x16\x17\x18xy"
        );
    }

    #[test]
    fn stamping_sets_only_the_sequence() {
        let mut envelope = seal(ORIGIN, &Message::Text("a".into()));
        stamp(&mut envelope, 7);
        let (origin, message) = open(envelope).unwrap();
        assert_eq!(origin.instance, ORIGIN.instance);
        assert_eq!(origin.sequence, 7);
        assert_eq!(message, Message::Text("a".into()));
    }

    #[test]
    fn foreign_bytes_are_refused() {
        let sealed = seal(ORIGIN, &Message::Text("a".into()));
        assert_eq!(open(Vec::new()), Err(EnvelopeError::Foreign));
        assert_eq!(open(b"hello".to_vec()), Err(EnvelopeError::Foreign));
        assert_eq!(
            open(sealed[..HEADER_LEN - 1].to_vec()),
            Err(EnvelopeError::Foreign)
        );
        let mut other_version = sealed.clone();
        other_version[2] = 2;
        assert_eq!(open(other_version), Err(EnvelopeError::Foreign));
        let mut other_kind = sealed.clone();
        other_kind[3] = 9;
        assert_eq!(open(other_kind), Err(EnvelopeError::UnknownKind(9)));
        let mut bad_text = sealed;
        bad_text.push(0xff);
        assert_eq!(open(bad_text), Err(EnvelopeError::InvalidUtf8));
    }
}
