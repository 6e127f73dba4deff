//! What travels over a WebSocket.

use std::fmt;

/// A complete WebSocket message: what [`WebSocket::receive`] returns and
/// what [`WebSocket::send`] takes (along with `&str`, `String`, `&[u8]` and
/// `Vec<u8>`, which convert).
///
/// ```
/// use greenws::Message;
/// let text = Message::from("hello");
/// assert_eq!(text.as_text(), Some("hello"));
/// assert_eq!(Message::from(vec![1u8, 2]).len(), 2);
/// ```
///
/// [`WebSocket::receive`]: crate::WebSocket::receive
/// [`WebSocket::send`]: crate::WebSocket::send
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
