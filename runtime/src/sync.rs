//! A coroutine-aware mutex: waiting for it suspends only the calling
//! greenlet, so it may be held across blocking calls.

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::wait::{wait_until, WaitList};

struct LockState {
    locked: bool,
    waiters: WaitList,
}

/// A mutual-exclusion lock for greenlets (and threads).
///
/// Unlike `std::sync::Mutex`, a greenlet waiting for it suspends only
/// itself, so it may be held across blocking calls (socket I/O, sleeps).
/// It takes no memory beyond its fields until someone has to wait, and it
/// does not poison: a panic while it is held just releases it.
///
/// ```
/// use std::sync::Arc;
/// let counter = Arc::new(green::sync::Mutex::new(0));
/// let workers: Vec<_> = (0..10)
///     .map(|_| {
///         let counter = counter.clone();
///         green::spawn(move || {
///             let mut n = counter.lock();
///             green::sleep(std::time::Duration::from_millis(1)); // held while blocked
///             *n += 1;
///         })
///     })
///     .collect();
/// green::join_all(&workers, None);
/// assert_eq!(*counter.lock(), 10);
/// ```
pub struct Mutex<T: ?Sized> {
    state: parking_lot::Mutex<LockState>,
    value: UnsafeCell<T>,
}

// Safety: the value is only reached through a guard, and a guard exists for
// one holder at a time (the `locked` flag, changed under `state`'s lock).
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// Access to a [`Mutex`]'s value; dropping it unlocks.
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
}

// Safety: a guard gives `&T` (and `&mut T` only through `&mut self`).
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub fn new(value: T) -> Self {
        Mutex {
            state: parking_lot::Mutex::new(LockState {
                locked: false,
                waiters: WaitList::default(),
            }),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, taking the mutex apart.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, waiting (suspending only the calling greenlet) while another
    /// holder has it. A kill or timeout interrupts the wait.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        wait_until(
            &self.state,
            |s| &mut s.waiters,
            None,
            |s| (!s.locked).then(|| s.locked = true),
        );
        MutexGuard { mutex: self }
    }

    /// Locks if the mutex is free now.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let mut state = self.state.lock();
        if state.locked {
            return None;
        }
        state.locked = true;
        Some(MutexGuard { mutex: self })
    }

    /// The value, through an exclusive reference (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex")
            .field("locked", &self.state.lock().locked)
            .finish_non_exhaustive()
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        let mut state = self.mutex.state.lock();
        state.locked = false;
        state.waiters.notify_one();
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // Safety: this guard is the only holder.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // Safety: this guard is the only holder.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
