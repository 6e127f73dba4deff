//! The crate's error type.

use std::any::Any;
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

/// The message of a panic, from the payload `catch_unwind` gives: the
/// string given to `panic!`, or a placeholder for other payloads.
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("disk full: {}", 3)).unwrap_err();
/// assert_eq!(green::panic_message(&*payload), "disk full: 3");
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic with a non-string payload")
}

/// True if `payload` (from `catch_unwind`) is a greenlet being stopped, by
/// [`Greenlet::kill`](crate::Greenlet::kill) or by
/// [`with_timeout`](crate::with_timeout), rather than a panic.
///
/// Code that catches unwinds, to turn a panic into an error answer, must
/// let an interruption go on with `resume_unwind`: it is not a failure of
/// the code that was running, and the greenlet must end (or the timeout
/// scope be left) as asked.
///
/// ```
/// use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
/// use std::time::Duration;
///
/// fn guarded(work: impl FnOnce() -> u32) -> Result<u32, String> {
///     match catch_unwind(AssertUnwindSafe(work)) {
///         Ok(value) => Ok(value),
///         Err(payload) if green::is_interrupt(&*payload) => resume_unwind(payload),
///         Err(payload) => Err(green::panic_message(&*payload).to_owned()),
///     }
/// }
///
/// assert_eq!(guarded(|| panic!("bad input")), Err("bad input".to_owned()));
/// // The timeout passes through `guarded` to its own scope.
/// let stopped = green::with_timeout(Duration::from_millis(10), || {
///     guarded(|| { green::sleep(Duration::from_secs(60)); 1 })
/// });
/// assert!(stopped.is_err());
/// ```
pub fn is_interrupt(payload: &(dyn Any + Send)) -> bool {
    matches!(
        payload.downcast_ref::<generator::Error>(),
        Some(generator::Error::Cancel)
    )
}
