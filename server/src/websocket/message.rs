//! What travels over a WebSocket.

use std::fmt;

/// A complete WebSocket message: what [`WebSocket::receive`] returns and
/// what [`WebSocket::send`] takes (along with `&str`, `String`, `&[u8]` and
/// `Vec<u8>`, which convert).
///
/// [`WebSocket::receive`]: super::WebSocket::receive
/// [`WebSocket::send`]: super::WebSocket::send
#[derive(Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (always valid UTF-8).
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Text(t) if t.len() <= 64 => write!(f, "Text({t:?})"),
            Message::Text(t) => write!(f, "Text({} bytes)", t.len()),
            Message::Binary(b) if b.len() <= 16 => write!(f, "Binary({b:?})"),
            Message::Binary(b) => write!(f, "Binary({} bytes)", b.len()),
        }
    }
}

impl Message {
    /// The payload.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// The text, if this is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(t) => Some(t),
            Message::Binary(_) => None,
        }
    }

    /// True for a text message.
    pub fn is_text(&self) -> bool {
        matches!(self, Message::Text(_))
    }

    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// True for an empty message (which is delivered like any other).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The payload, text or binary.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Message::Text(t) => t.into_bytes(),
            Message::Binary(b) => b,
        }
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Message::Text(text.to_owned())
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Message::Text(text)
    }
}

impl From<&String> for Message {
    fn from(text: &String) -> Self {
        Message::Text(text.clone())
    }
}

impl From<Vec<u8>> for Message {
    fn from(bytes: Vec<u8>) -> Self {
        Message::Binary(bytes)
    }
}

impl From<&[u8]> for Message {
    fn from(bytes: &[u8]) -> Self {
        Message::Binary(bytes.to_vec())
    }
}

impl From<&Message> for Message {
    fn from(message: &Message) -> Self {
        message.clone()
    }
}

/// True for a close code that may travel in a Close frame, either way
/// (RFC 6455 section 7.4 and the IANA registry): 1000-1003, 1007-1014,
/// and 3000-4999 for libraries and applications. 1004-1006 and 1015 are
/// reserved or never sent, 1016-2999 are not assigned, and anything
/// below 1000 or above 4999 is not a close code.
pub(crate) fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A close code and reason, as sent in a Close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    /// The status code (1000 normal, 1001 going away, 1002 protocol error,
    /// 1007 invalid data, 1008 policy, 1009 too big, 1011 server error,
    /// 1013 try again later...).
    pub code: u16,
    /// The reason text (may be empty).
    pub reason: String,
}
