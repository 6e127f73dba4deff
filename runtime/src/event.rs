//! `Event` (a flag to wait on) and `AsyncResult` (a value to wait for).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::wait::{deadline, wait_until, WaitList};
use crate::Error;

/// A settable flag with waiters: the inside of [`Event`], and how a
/// greenlet reports that it finished.
#[derive(Default)]
pub(crate) struct Flag {
    set: AtomicBool,
    waiters: Mutex<WaitList>,
}

impl Flag {
    pub(crate) fn set(&self) {
        let mut waiters = self.waiters.lock();
        self.set.store(true, Ordering::Release);
        waiters.notify_all();
    }

    fn clear(&self) {
        let _waiters = self.waiters.lock();
        self.set.store(false, Ordering::Release);
    }

    pub(crate) fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> bool {
        if self.is_set() {
            return true;
        }
        let set = &self.set;
        wait_until(
            &self.waiters,
            |w| w,
            deadline,
            |_| set.load(Ordering::Acquire).then_some(()),
        )
        .is_some()
    }
}

/// A flag that greenlets (and threads) can wait on, like gevent's `Event`.
/// Cloning gives another handle to the same flag.
///
/// ```
/// let ready = green::Event::new();
/// let waiter = {
///     let ready = ready.clone();
///     green::spawn(move || ready.wait())
/// };
/// ready.set();
/// waiter.join().unwrap();
/// assert!(ready.is_set());
/// ```
#[derive(Clone, Default)]
pub struct Event {
    flag: Arc<Flag>,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}

impl Event {
    /// A new event, not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flag and wakes every waiter; later waits return at once.
    pub fn set(&self) {
        self.flag.set();
    }

    /// Clears the flag: later waits block until the next [`set`](Self::set).
    pub fn clear(&self) {
        self.flag.clear();
    }

    /// True while the flag is set.
    pub fn is_set(&self) -> bool {
        self.flag.is_set()
    }

    /// Blocks until the flag is set.
    pub fn wait(&self) {
        self.flag.wait_until(None);
    }

    /// Blocks until the flag is set or `timeout` passes; true if it was set.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.flag.wait_until(deadline(Some(timeout)))
    }
}

struct ResultState<T> {
    value: Option<Result<T, String>>,
    waiters: WaitList,
}

/// A value that one greenlet sets and any number wait for, like gevent's
/// `AsyncResult`. It is set once: later `set` calls are ignored.
///
/// ```
/// use std::time::Duration;
/// let result = green::AsyncResult::new();
/// let producer = {
///     let result = result.clone();
///     green::spawn(move || result.set(42))
/// };
/// assert_eq!(result.get(), Ok(42));
/// producer.join().unwrap();
///
/// let failed = green::AsyncResult::<u32>::new();
/// failed.set_error("no answer");
/// assert_eq!(failed.get_timeout(Duration::from_secs(1)),
///            Err(green::Error::Failed("no answer".into())));
/// ```
pub struct AsyncResult<T> {
    state: Arc<Mutex<ResultState<T>>>,
}

impl<T> Clone for AsyncResult<T> {
    fn clone(&self) -> Self {
        AsyncResult {
            state: self.state.clone(),
        }
    }
}

impl<T: Clone> Default for AsyncResult<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ready = self.state.lock().value.is_some();
        f.debug_struct("AsyncResult")
            .field("ready", &ready)
            .finish()
    }
}

impl<T: Clone> AsyncResult<T> {
    /// A new, empty result.
    pub fn new() -> Self {
        AsyncResult {
            state: Arc::new(Mutex::new(ResultState {
                value: None,
                waiters: WaitList::default(),
            })),
        }
    }

    /// Completes the result with a value and wakes every waiter. Returns
    /// false (and changes nothing) if it was already completed.
    pub fn set(&self, value: T) -> bool {
        self.complete(Ok(value))
    }

    /// Completes the result with an error: waiters get
    /// [`Error::Failed`] with this message. False if already completed.
    pub fn set_error(&self, message: impl Into<String>) -> bool {
        self.complete(Err(message.into()))
    }

    fn complete(&self, value: Result<T, String>) -> bool {
        let mut state = self.state.lock();
        if state.value.is_some() {
            return false;
        }
        state.value = Some(value);
        state.waiters.notify_all();
        true
    }

    /// True once completed.
    pub fn ready(&self) -> bool {
        self.state.lock().value.is_some()
    }

    /// Blocks until completed; the value or [`Error::Failed`].
    pub fn get(&self) -> Result<T, Error> {
        self.get_until(None)
    }

    /// Like [`get`](Self::get), giving [`Error::Timeout`] after `timeout`.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Error> {
        self.get_until(deadline(Some(timeout)))
    }

    fn get_until(&self, deadline: Option<Instant>) -> Result<T, Error> {
        let value = wait_until(
            &self.state,
            |s| &mut s.waiters,
            deadline,
            |s| s.value.clone(),
        );
        match value {
            Some(Ok(v)) => Ok(v),
            Some(Err(msg)) => Err(Error::Failed(msg)),
            None => Err(Error::Timeout),
        }
    }
}
