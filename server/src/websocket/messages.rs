//! `ws.messages()`: the messages of a WebSocket as an iterator.

use super::WebSocket;
use crate::proto::websocket::Message;
use crate::Error;

/// The messages of a [`WebSocket`] as they arrive, from
/// [`WebSocket::messages`]: `Ok(message)` for each, and the end after a
/// clean close; a failure (a protocol error, a lost connection, a timeout)
/// is the last item, so a `for` loop sees it instead of stopping silently.
#[derive(Debug)]
pub struct Messages<'a> {
    ws: &'a WebSocket,
    done: bool,
}

impl<'a> Messages<'a> {
    pub(super) fn new(ws: &'a WebSocket) -> Self {
        Messages { ws, done: false }
    }
}

impl Iterator for Messages<'_> {
    type Item = Result<Message, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.ws.receive() {
            Ok(Some(message)) => Some(Ok(message)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for Messages<'_> {}
