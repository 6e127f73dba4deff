//! The crate's error type.

use std::fmt;
use std::time::Duration;

/// Everything in `green` that can fail says why with one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The greenlet panicked; the panic message (or a placeholder when the
    /// payload was not a string).
    Panicked(String),
    /// The greenlet was killed before it finished.
    Killed,
    /// A wait ran out of time.
    Timeout,
    /// An [`AsyncResult`](crate::AsyncResult) was completed with
    /// [`set_error`](crate::AsyncResult::set_error); the message it was given.
    Failed(String),
    /// A coroutine could not be created (no memory for its stack, or the
    /// process ran out of memory maps: see `vm.max_map_count`).
    Spawn(String),
    /// [`Config::apply`](crate::Config::apply) was called after the runtime
    /// had started; settings can only be chosen once, before the first spawn.
    AlreadyStarted,
    /// A setting was out of range; the message names it.
    InvalidConfig(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Panicked(msg) => write!(f, "greenlet panicked: {msg}"),
            Error::Killed => f.write_str("greenlet was killed"),
            Error::Timeout => f.write_str("timed out"),
            Error::Failed(msg) => write!(f, "failed: {msg}"),
            Error::Spawn(msg) => write!(f, "could not create a coroutine: {msg}"),
            Error::AlreadyStarted => f.write_str(
                "the runtime has already started; apply settings before the first spawn",
            ),
            Error::InvalidConfig(msg) => write!(f, "invalid runtime setting: {msg}"),
        }
    }
}

impl std::error::Error for Error {}

/// The error of [`with_timeout`](crate::with_timeout): the closure was
/// interrupted because its time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    /// The time limit that was exceeded.
    pub limit: Duration,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timed out after {:?}", self.limit)
    }
}

impl std::error::Error for Timeout {}

impl From<Timeout> for Error {
    fn from(_: Timeout) -> Self {
        Error::Timeout
    }
}

/// Turns a panic payload into a readable message.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}
