//! The closing handshake (RFC 6455 section 7), and how a connection ends:
//! cleanly, failed for a protocol violation, lost, or timed out. Whichever
//! way, the first failure is kept so that every later call reports it.

use std::io;
use std::net::Shutdown;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::WebSocket;
use crate::proto::websocket::{
    close_payload, CloseCode, CloseReason, Message, OpCode, ProtocolError,
};
use crate::Error;

/// Something to do once the connection closes.
pub(super) type CloseHook = Box<dyn FnOnce() + Send>;

/// How the connection is ending, shared by every handle.
#[derive(Default)]
pub(super) struct Status {
    /// When a `close` stops waiting for the peer's Close (`None` when no
    /// close waits, or one waits without a limit).
    pub(super) close_deadline: Option<Instant>,
    /// The peer's Close frame (inner `None`: a Close without a code).
    pub(super) peer_close: Option<Option<CloseReason>>,
    /// The first way the connection failed.
    failure: Option<Error>,
}

impl WebSocket {
    /// [`close`](Self::close), once the code is known.
    pub(super) fn run_closing_handshake(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        if !code.is_valid() {
            return Err(Error::InvalidCloseCode(code));
        }
        if self.closed() {
            return Ok(());
        }
        let deadline = crate::deadline::after(self.inner.config.close_timeout);
        {
            let mut status = self.inner.status.lock();
            if status.close_deadline.is_none() {
                status.close_deadline = deadline;
            }
        }
        // Written before `receivers` is read: a greenlet that enters
        // `receive` after this sees the close and its deadline.
        self.send_close(code, reason);
        if self.inner.receivers.load(Ordering::SeqCst) > 0 {
            // A greenlet in `receive` reads on and meets the peer's Close.
            match crate::deadline::time_left(deadline) {
                Some(left) => {
                    self.inner.closed.wait_timeout(left);
                }
                None => self.inner.closed.wait(),
            }
        } else {
            let mut reader = self.inner.reader.lock();
            self.read_until_closed(&mut reader, deadline);
            self.publish_held(&reader);
        }
        if !self.closed() {
            self.close_timed_out();
        }
        let status = self.inner.status.lock();
        match (&status.peer_close, &status.failure) {
            (Some(_), _) => Ok(()),
            (None, Some(failure)) => Err(failure.duplicate()),
            (None, None) => Err(Error::ConnectionLost),
        }
    }

    /// True once our Close went out or the connection closed: nothing
    /// more may be sent.
    pub(crate) fn closing(&self) -> bool {
        self.inner.close_sent.load(Ordering::SeqCst) || self.closed()
    }

    /// The outcome for a connection that ended, if it did.
    pub(super) fn ended(&self) -> Option<Result<Option<Message>, Error>> {
        if !self.closed() {
            return None;
        }
        let status = self.inner.status.lock();
        Some(match &status.failure {
            Some(failure) => Err(failure.duplicate()),
            None => Ok(None),
        })
    }

    /// The peer's Close: answer it (echoing its code) unless we already
    /// sent ours, then close the socket (the server closes TCP first).
    pub(super) fn on_peer_close(&self, reason: Option<CloseReason>) {
        let echo = reason.as_ref().map(|r| r.code.as_u16().to_be_bytes());
        crate::metrics::count_close(true, reason.as_ref().map_or(1005, |r| r.code.as_u16()));
        self.inner.status.lock().peer_close = Some(reason);
        self.send_close_payload(echo.as_ref().map_or(&[][..], |code| &code[..]));
        self.finish();
    }

    /// Fails the connection for a protocol violation: the close code, then
    /// the socket closes.
    pub(super) fn fail_protocol(&self, error: ProtocolError) {
        let code = error.close_code();
        let reason = error.to_string();
        self.record_failure(Error::Protocol(error));
        self.send_close(code, &reason);
        self.finish();
    }

    /// Fails the connection for a fault of this side (a bug): 1011, then
    /// the socket closes.
    pub(super) fn fail_internal(&self, error: Error) {
        self.record_failure(error);
        self.send_close(CloseCode::INTERNAL_ERROR, "internal error");
        self.finish();
    }

    /// The stream ended: without the peer's Close, the connection was lost.
    pub(super) fn on_eof(&self) {
        if self.inner.status.lock().peer_close.is_none() {
            self.record_failure(Error::ConnectionLost);
        }
        self.finish();
    }

    pub(super) fn on_io_error(&self, error: io::Error) {
        log::debug!(
            "websocket {} from {}: {error}",
            self.inner.id,
            self.peer_addr()
        );
        self.record_failure(Error::ConnectionLost);
        self.finish();
    }

    /// The peer did not answer our Close in time.
    pub(super) fn close_timed_out(&self) {
        self.record_failure(Error::CloseTimeout {
            timeout: self.inner.config.close_timeout,
        });
        self.finish();
    }

    /// The peer sent nothing for the dead-peer timeout: close with 1001.
    pub(super) fn close_silent_peer(&self, limit: Duration) {
        log::info!(
            "websocket {} from {}: no data for {limit:?}, closing",
            self.inner.id,
            self.peer_addr()
        );
        self.record_failure(Error::Timeout);
        self.send_close(CloseCode::GOING_AWAY, "no data from the peer");
        self.finish();
    }

    /// The message in progress fell behind `min_message_rate`: close with
    /// 1008 (Policy Violation: the peer broke no rule of RFC 6455, it fell
    /// short of this endpoint's policy).
    pub(super) fn fail_too_slow(&self, error: Error) {
        log::info!(
            "websocket {} from {}: {error}, closing",
            self.inner.id,
            self.peer_addr()
        );
        self.record_failure(error);
        self.send_close(CloseCode::POLICY_VIOLATION, "message too slow");
        self.finish();
    }

    /// Keeps the first failure, unless the connection already closed.
    pub(super) fn record_failure(&self, failure: Error) {
        let mut status = self.inner.status.lock();
        if status.failure.is_none() && !self.inner.closed.is_set() {
            status.failure = Some(failure);
        }
    }

    /// Sends our Close frame once; errors are moot, the socket closes next.
    fn send_close(&self, code: CloseCode, reason: &str) {
        self.send_close_payload(&close_payload(code, reason));
    }

    /// Sends a Close frame with this payload, unless one went out already.
    fn send_close_payload(&self, payload: &[u8]) {
        let mut writer = self.inner.writer.lock();
        if !self.inner.close_sent.swap(true, Ordering::SeqCst) {
            let code = payload
                .get(..2)
                .map_or(1005, |c| u16::from_be_bytes([c[0], c[1]]));
            crate::metrics::count_close(false, code);
            let _ = self.write_frame(&mut writer, OpCode::Close, payload);
        }
    }

    /// Closes the socket for good; wakes every greenlet waiting on it and
    /// runs the close hooks.
    pub(super) fn finish(&self) {
        if !self.inner.closed.is_set() {
            let _ = self.inner.io.shutdown(Shutdown::Both);
            self.inner.closed.set();
        }
        let hooks = std::mem::take(&mut *self.inner.close_hooks.lock());
        for (_, hook) in hooks {
            hook();
        }
    }

    /// Runs `hook` once the connection closes, in the greenlet that closes
    /// it (so it must be short and must not block). `key` names it for
    /// [`forget_close_hook`](Self::forget_close_hook); keys are the
    /// caller's to keep unique. False, and the hook is dropped unrun, when
    /// the connection is closed already.
    pub(crate) fn on_close(&self, key: u64, hook: impl FnOnce() + Send + 'static) -> bool {
        let mut hooks = self.inner.close_hooks.lock();
        // `finish` marks the socket closed before it takes the hooks: a
        // hook added after that check would never run.
        if self.closed() {
            return false;
        }
        hooks.push((key, Box::new(hook)));
        true
    }

    /// Drops the close hook added under `key`, if it has not run.
    pub(crate) fn forget_close_hook(&self, key: u64) {
        self.inner.close_hooks.lock().retain(|(k, _)| *k != key);
    }

    /// The session's greenlet was killed (a server stop that ran out of
    /// time, or a timeout around the session): the socket closes at once,
    /// without a frame. Other greenlets that share it (a reader of the
    /// app's, a Hub's sender, the stop's own close waiting for the peer's
    /// Close) would otherwise go on reading and writing it, after the stop
    /// returned, for up to their timeouts.
    pub(crate) fn end_killed(&self) {
        self.record_failure(Error::ConnectionLost);
        self.finish();
    }

    /// Closes after the app returned (1000), or panicked (1011).
    pub(crate) fn close_after_app(&self, panicked: bool) {
        if !self.closed() {
            let (code, reason) = if panicked {
                (CloseCode::INTERNAL_ERROR, "internal server error")
            } else {
                (CloseCode::NORMAL, "")
            };
            let _ = self.close(code, reason);
        }
    }
}
