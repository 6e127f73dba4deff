//! The one blocking mechanism under every primitive of this crate: a list of
//! parked waiters kept inside the primitive's own (briefly held, never across
//! a blocking point) lock.
//!
//! A waiter is a may `Blocker`: in a coroutine it parks only the coroutine,
//! in a plain thread it parks the thread. Parking honours may's cancellation,
//! which is how [`Greenlet::kill`](crate::Greenlet::kill) and
//! [`with_timeout`](crate::with_timeout) interrupt a wait.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use may::sync::Blocker;
use parking_lot::{Mutex, MutexGuard};

/// The parked waiters of one condition, in arrival order.
#[derive(Default)]
pub(crate) struct WaitList {
    waiters: VecDeque<(u64, Arc<Blocker>)>,
    next_id: u64,
}

impl WaitList {
    fn register(&mut self) -> (u64, Arc<Blocker>) {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let blocker = Blocker::current();
        self.waiters.push_back((id, blocker.clone()));
        (id, blocker)
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
        if let Some((_, blocker)) = self.waiters.pop_front() {
            blocker.unpark();
        }
    }

    /// Wakes every waiter.
    pub(crate) fn notify_all(&mut self) {
        for (_, blocker) in self.waiters.drain(..) {
            blocker.unpark();
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
        let (id, blocker) = list(&mut guard).register();
        drop(guard);
        let registration = Registration { lock, list, id };
        // A timeout shows up as the deadline check above; a kill unwinds out
        // of `park` and `registration` cleans up.
        let _ = blocker.park(timeout);
        std::mem::forget(registration);
        guard = lock.lock();
        list(&mut guard).remove(id);
    }
}
