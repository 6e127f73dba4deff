//! The heartbeat: while a greenlet waits in `receive`, ping the peer every
//! `ping_interval` and close it once it has been silent for
//! `dead_peer_timeout`; and give up on a close the peer never answers.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::reader::Reader;
use super::{WebSocket, WebSocketConfig};
use crate::proto::websocket::OpCode;

/// When to ping next after `now`: never without an interval (or with one
/// of zero, or one too long to represent).
pub(super) fn next_ping_after(config: &WebSocketConfig, now: Instant) -> Option<Instant> {
    config
        .ping_interval
        .filter(|every| !every.is_zero())
        .and_then(|every| now.checked_add(every))
}

impl WebSocket {
    /// The earliest of what `receive` must wake for: the next ping, the
    /// dead-peer limit, and the deadline of a `close` waiting for the
    /// peer's Close.
    pub(super) fn receive_deadline(&self, reader: &Reader) -> Option<Instant> {
        let dead = self
            .inner
            .config
            .dead_peer_timeout
            .and_then(|limit| reader.last_seen.checked_add(limit));
        let closing = if self.inner.close_sent.load(Ordering::SeqCst) {
            self.inner.status.lock().close_deadline
        } else {
            None
        };
        [reader.next_ping, dead, closing]
            .into_iter()
            .flatten()
            .min()
    }

    /// A deadline of `receive` passed: give up on a close, or on a silent
    /// peer, or ping.
    pub(super) fn on_deadline(&self, reader: &mut Reader) {
        let now = Instant::now();
        let closing = self.inner.close_sent.load(Ordering::SeqCst);
        if closing
            && self
                .inner
                .status
                .lock()
                .close_deadline
                .is_some_and(|at| now >= at)
        {
            self.close_timed_out();
            return;
        }
        if let Some(limit) = self.inner.config.dead_peer_timeout {
            if reader
                .last_seen
                .checked_add(limit)
                .is_some_and(|at| now >= at)
            {
                self.close_silent_peer(limit);
                return;
            }
        }
        if reader.next_ping.is_some_and(|at| now >= at) {
            if !closing {
                let _ = self.send_control(OpCode::Ping, b"");
            }
            reader.next_ping = next_ping_after(&self.inner.config, now);
        }
    }
}
