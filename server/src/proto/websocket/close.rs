//! Close codes (RFC 6455 section 7.4 and the IANA registry) and the
//! content of a Close frame.

use std::fmt;

/// The status code of a Close frame.
///
/// Any `u16` converts (`CloseCode::from(4000)`, or a plain `4000` wherever
/// an `impl Into<CloseCode>` is taken); [`is_valid`](Self::is_valid) says
/// whether it may travel in a Close frame. The table is this crate's own,
/// from the RFC and the IANA registry: 1000-1003, 1007-1014 and
/// 3000-4999 may be sent and received; 1004-1006 and 1015 are reserved or
/// only reported locally, 1016-2999 are unassigned, and anything below
/// 1000 or above 4999 is not a close code.
///
/// ```
/// use greenws::CloseCode;
/// assert_eq!(CloseCode::NORMAL.as_u16(), 1000);
/// assert_eq!(CloseCode::from(1013), CloseCode::TRY_AGAIN_LATER);
/// assert!(CloseCode::from(4000).is_valid());
/// assert!(!CloseCode::NO_STATUS.is_valid());
/// assert_eq!(CloseCode::GOING_AWAY.to_string(), "1001 (going away)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: the purpose of the connection was fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint goes away (a server stopping, a page left).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a kind of data the endpoint cannot accept (text or binary).
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: reported when a Close frame carried no code; never sent.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: reported when the connection ended without a Close frame;
    /// never sent.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with its type (text that is not UTF-8).
    pub const INVALID_DATA: CloseCode = CloseCode(1007);
    /// 1008: a message that violates the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message or frame too large to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected the server to agree on an extension.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server met an unexpected condition (the app panicked).
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service restarts.
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later (overloaded; a Hub member that fell behind).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway got an invalid response from upstream.
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: reported when the TLS handshake failed; never sent.
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// The code as a number.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// True when the code may travel in a Close frame, either way: it may
    /// be sent, and a peer's Close with any other code is a protocol error.
    pub const fn is_valid(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }

    /// The registry's name for the code, if it has one (3000-4999 are for
    /// libraries and applications to define).
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1000 => "normal",
            1001 => "going away",
            1002 => "protocol error",
            1003 => "unsupported data",
            1005 => "no status",
            1006 => "abnormal closure",
            1007 => "invalid data",
            1008 => "policy violation",
            1009 => "message too big",
            1010 => "mandatory extension",
            1011 => "internal error",
            1012 => "service restart",
            1013 => "try again later",
            1014 => "bad gateway",
            1015 => "TLS handshake",
            _ => return None,
        })
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl PartialEq<u16> for CloseCode {
    fn eq(&self, other: &u16) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} ({name})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseCode({})", self.0)
    }
}

/// A close code and reason, as a Close frame carries them.
///
/// ```
/// use greenws::{CloseCode, CloseReason};
/// let reason = CloseReason::new(CloseCode::GOING_AWAY, "server shutting down");
/// assert_eq!(reason.code, 1001);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    /// The status code.
    pub code: CloseCode,
    /// The reason text (may be empty; at most 123 bytes on the wire).
    pub reason: String,
}

impl CloseReason {
    /// A code and a reason.
    pub fn new(code: impl Into<CloseCode>, reason: impl Into<String>) -> Self {
        CloseReason {
            code: code.into(),
            reason: reason.into(),
        }
    }
}

/// The longest reason a Close frame can carry: 125 bytes of control
/// payload less the two of the code.
pub const MAX_CLOSE_REASON: usize = 123;

/// A Close frame's payload: the code in network order, then `reason` cut
/// at a character boundary to [`MAX_CLOSE_REASON`] bytes.
///
/// ```
/// use greenws::proto::websocket::close_payload;
/// assert_eq!(close_payload(greenws::CloseCode::NORMAL, "ok"), [0x03, 0xe8, b'o', b'k']);
/// assert_eq!(close_payload(4000.into(), &"é".repeat(100)).len(), 2 + 122);
/// ```
pub fn close_payload(code: CloseCode, reason: &str) -> Vec<u8> {
    let reason = truncate_utf8(reason, MAX_CLOSE_REASON);
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.as_u16().to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    payload
}

/// The longest prefix of `text` of at most `max` bytes, cut at a character.
fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_validity_table_at_every_edge() {
        let valid = [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999,
        ];
        let invalid = [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2999, 5000, 65535,
        ];
        for code in valid {
            assert!(CloseCode::from(code).is_valid(), "{code}");
        }
        for code in invalid {
            assert!(!CloseCode::from(code).is_valid(), "{code}");
        }
    }

    #[test]
    fn reasons_are_cut_at_a_character_within_123_bytes() {
        assert_eq!(close_payload(CloseCode::NORMAL, "").len(), 2);
        let exact = "a".repeat(123);
        assert_eq!(close_payload(CloseCode::NORMAL, &exact).len(), 125);
        let over = "a".repeat(124);
        assert_eq!(close_payload(CloseCode::NORMAL, &over).len(), 125);
        // 'é' is two bytes: 61 of them fit, and half a character never goes.
        let wide = "é".repeat(62);
        let payload = close_payload(CloseCode::NORMAL, &wide);
        assert_eq!(payload.len(), 2 + 122);
        assert!(std::str::from_utf8(&payload[2..]).is_ok());
    }
}
