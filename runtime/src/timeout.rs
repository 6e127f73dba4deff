//! `with_timeout`: run a closure, interrupting it at its next blocking point
//! once a time limit has passed.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::config::ensure_started;
use crate::error::is_interrupt;
use crate::interrupt::{clear_pending_cancel, current};
use crate::{timer, Timeout};

static NEXT_SCOPE: AtomicU64 = AtomicU64::new(1);

/// Runs `f`, interrupting it once `limit` has passed: the next (or current)
/// blocking call inside it (a [`sleep`](crate::sleep), a queue or event wait,
/// socket I/O on `green::net` types) unwinds out of `f`, running its
/// destructors, and `with_timeout` returns `Err(Timeout)`.
///
/// - A closure that never blocks cannot be interrupted; it runs to the end
///   and its value is returned even if that took longer than `limit`.
/// - Timeouts nest: an outer limit that passes first interrupts the inner
///   closure too, and is reported by the outer `with_timeout`.
/// - A timeout that did not fire leaves no trace.
/// - In a plain thread (such as `main`), `f` runs in a helper coroutine and
///   the thread waits for it.
///
/// ```
/// use std::time::Duration;
/// let queue = green::Queue::<u32>::unbounded();
/// let r = green::with_timeout(Duration::from_millis(20), || queue.get());
/// assert!(r.is_err());
/// queue.put(7);
/// assert_eq!(green::with_timeout(Duration::from_secs(1), || queue.get()), Ok(7));
/// ```
pub fn with_timeout<T, F>(limit: Duration, f: F) -> Result<T, Timeout>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    ensure_started();
    if may::coroutine::is_coroutine() {
        return in_coroutine(limit, f);
    }
    // A plain thread cannot be interrupted; a scoped helper coroutine can.
    let outcome = may::coroutine::scope(|scope| {
        // Safety: the helper coroutine is joined before the scope ends; the
        // crate docs state the thread-local rule for coroutine code.
        let helper =
            unsafe { scope.spawn(|| catch_unwind(AssertUnwindSafe(|| in_coroutine(limit, f)))) };
        helper.join()
    });
    outcome.unwrap_or_else(|payload| resume_unwind(payload))
}

fn in_coroutine<T, F: FnOnce() -> T>(limit: Duration, f: F) -> Result<T, Timeout> {
    let owner = current();
    let interrupt = owner.interrupt();
    let id = NEXT_SCOPE.fetch_add(1, Ordering::Relaxed);
    interrupt.open_scope(id);
    let at = Instant::now().checked_add(limit);
    let timer = at.map(|at| {
        let target = owner.clone();
        timer::schedule(at, move || target.interrupt().fire_timeout(id))
    });

    let outcome = catch_unwind(AssertUnwindSafe(f));

    if let Some(timer) = timer {
        timer.cancel();
    }
    let fired = interrupt.close_scope(id);
    if fired {
        clear_pending_cancel();
        interrupt.rearm_kill();
    }
    match outcome {
        Ok(value) => Ok(value),
        Err(payload) if fired && is_interrupt(&*payload) => Err(Timeout { limit }),
        Err(payload) => resume_unwind(payload),
    }
}
