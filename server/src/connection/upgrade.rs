//! Handing a connection over after `101 Switching Protocols`: the
//! connection layer's generic take-over, which knows nothing of the
//! protocol switched to (hyper's `upgrade` is the model). The layer that
//! takes the connection (the WebSocket one) writes its own 101 head, gets
//! the transport, and registers what a server stop must do for it.

use std::fmt;
use std::io;
use std::sync::Arc;

use super::registry::ConnEntry;
use super::transport::Transport;

/// A connection handed over after a 101: nothing more is read or written
/// on it by the HTTP layer, and nothing was read from it beyond the
/// request.
pub(crate) struct Upgraded {
    pub(crate) transport: Arc<Transport>,
    entry: Arc<ConnEntry>,
}

impl Upgraded {
    pub(crate) fn new(transport: Arc<Transport>, entry: Arc<ConnEntry>) -> Self {
        Upgraded { transport, entry }
    }

    /// What a graceful server stop does for this connection (instead of
    /// shutting its read side, as for an idle HTTP connection): close a
    /// WebSocket with 1001, say. The hook runs on the stopping greenlet
    /// with the registry locked, so it must not block (spawn the work);
    /// if the stop has already begun, it runs at once, here. It is dropped
    /// when the connection ends.
    pub(crate) fn on_stop(&self, hook: impl Fn() + Send + Sync + 'static) {
        self.entry.set_stop_hook(Arc::new(hook));
    }
}

/// Why a connection could not be switched to another protocol.
#[derive(Debug)]
pub(crate) enum SwitchError {
    /// The request's body was not read: its bytes would be taken for the
    /// new protocol's.
    UnreadBody,
    /// Bytes arrived behind the request head before the 101 (a client
    /// must wait for it): they are HTTP's, not the new protocol's.
    BytesAfterHead,
    /// The 101 could not be written.
    Io(io::Error),
}

impl fmt::Display for SwitchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SwitchError::UnreadBody => f.write_str("the request body was not read"),
            SwitchError::BytesAfterHead => {
                f.write_str("data sent before the 101 Switching Protocols")
            }
            SwitchError::Io(e) => write!(f, "the 101 could not be sent: {e}"),
        }
    }
}
