//! The one blocking mechanism under every primitive of this crate: a list of
//! parked waiters kept inside the primitive's own (briefly held, never across
//! a blocking point) lock.
//!
//! A coroutine waits with its own may park token (no allocation per wait),
//! a plain thread with std's. Parking a coroutine honours may's
//! cancellation, which is how [`Greenlet::kill`](crate::Greenlet::kill) and
//! [`with_timeout`](crate::with_timeout) interrupt a wait. Park tokens can
//! wake spuriously (a token left over from an earlier notify), so every wait
//! re-checks its condition in a loop.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};

/// Who is waiting: a coroutine or a plain thread.
enum Waiter {
    Coroutine(may::coroutine::Coroutine),
    Thread(std::thread::Thread),
}

impl Waiter {
    fn current() -> Self {
        if may::coroutine::is_coroutine() {
            Waiter::Coroutine(may::coroutine::current())
        } else {
            Waiter::Thread(std::thread::current())
        }
    }

    fn unpark(&self) {
        match self {
            Waiter::Coroutine(co) => co.unpark(),
            Waiter::Thread(thread) => thread.unpark(),
        }
    }
}

/// Parks the caller until unparked, the timeout passes, or (in a coroutine)
/// a cancellation unwinds it.
fn park(timeout: Option<Duration>) {
    match (may::coroutine::is_coroutine(), timeout) {
        (true, None) => may::coroutine::park(),
        (true, Some(t)) => park_coroutine_timeout(t),
        (false, None) => std::thread::park(),
        (false, Some(t)) => std::thread::park_timeout(t),
    }
}

/// may's `park_timeout`, with the timeout rounded up to whole milliseconds.
///
/// may keeps a park timeout in milliseconds, truncated, and takes zero for
/// "no timeout": a timeout under a millisecond parked the coroutine for
/// ever, and a longer one woke it up to a millisecond early, so that a wait
/// for a deadline parked again for the sub-millisecond rest, for ever.
pub(crate) fn park_coroutine_timeout(timeout: Duration) {
    let millis = timeout
        .as_nanos()
        .div_ceil(1_000_000)
        .clamp(1, u64::MAX.into());
    may::coroutine::park_timeout(Duration::from_millis(millis as u64));
}

/// The parked waiters of one condition, in arrival order.
#[derive(Default)]
pub(crate) struct WaitList {
    waiters: VecDeque<(u64, Waiter)>,
    next_id: u64,
}

impl WaitList {
    fn register(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.waiters.push_back((id, Waiter::current()));
        id
    }

    /// Removes a waiter; false when it was already taken by a notify.
    fn remove(&mut self, id: u64) -> bool {
        match self.waiters.iter().position(|(w, _)| *w == id) {
            Some(pos) => {
                self.waiters.remove(pos);
                true
            }
            None => false,
        }
    }

    /// Wakes the longest-waiting waiter, if any.
    pub(crate) fn notify_one(&mut self) {
        if let Some((_, waiter)) = self.waiters.pop_front() {
            waiter.unpark();
        }
    }

    /// Wakes every waiter.
    pub(crate) fn notify_all(&mut self) {
        for (_, waiter) in self.waiters.drain(..) {
            waiter.unpark();
        }
    }
}

/// Converts a timeout into a deadline (`None` waits forever; a timeout too
/// large to represent also waits forever).
pub(crate) fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// Removes the waiter if the wait is left by an unwind (a kill or a
/// timeout), and hands a notification it may have received to the next one.
struct Registration<'a, S> {
    lock: &'a Mutex<S>,
    list: fn(&mut S) -> &mut WaitList,
    id: u64,
}

impl<S> Drop for Registration<'_, S> {
    fn drop(&mut self) {
        let mut state = self.lock.lock();
        let list = (self.list)(&mut state);
        if !list.remove(self.id) {
            list.notify_one();
        }
    }
}

/// How many times a coroutine yields before it parks.
const SPIN_YIELDS: u32 = 2;

/// Blocks until `ready` gives a value or the deadline passes (`None`).
///
/// `ready` runs under the lock each time the caller is woken; a notifier
/// calls [`WaitList::notify_one`] or [`WaitList::notify_all`] on the list that
/// `list` selects after making the condition true.
pub(crate) fn wait_until<S, R>(
    lock: &Mutex<S>,
    list: fn(&mut S) -> &mut WaitList,
    deadline: Option<Instant>,
    mut ready: impl FnMut(&mut S) -> Option<R>,
) -> Option<R> {
    let mut spins = if may::coroutine::is_coroutine() {
        SPIN_YIELDS
    } else {
        0
    };
    let mut guard: MutexGuard<'_, S> = lock.lock();
    loop {
        if let Some(value) = ready(&mut guard) {
            return Some(value);
        }
        let timeout = match deadline {
            None => None,
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => return None,
            },
        };
        if spins > 0 {
            // Let the greenlets queued on this worker run first: the one that
            // will satisfy the condition is often among them, and a yield is
            // much cheaper than a park and an unpark.
            spins -= 1;
            drop(guard);
            may::coroutine::yield_now();
            guard = lock.lock();
            continue;
        }
        let id = list(&mut guard).register();
        drop(guard);
        let registration = Registration { lock, list, id };
        // A timeout shows up as the deadline check above; a kill unwinds out
        // of `park` and `registration` cleans up.
        park(timeout);
        std::mem::forget(registration);
        guard = lock.lock();
        list(&mut guard).remove(id);
    }
}
