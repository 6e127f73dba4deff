//! How a coroutine is interrupted at its next blocking point: may's
//! cancellation (an unwind raised when the coroutine blocks or is blocked),
//! plus a record of *why*, so that [`with_timeout`](crate::with_timeout) can
//! tell its own timeout from an outer one or from a
//! [`kill`](crate::Greenlet::kill).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use may::coroutine::Coroutine;
use parking_lot::Mutex;

/// Why a coroutine's cancellation was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    Killed,
    Timeout(u64),
}

#[derive(Default)]
struct State {
    /// The coroutine, recorded by the coroutine itself before any of the
    /// greenlet's code runs (see [`enter`]); a kill before that lands at its
    /// start.
    co: Option<Coroutine>,
    reason: Option<Reason>,
    /// The `with_timeout` scopes open on this coroutine, innermost last.
    scopes: Vec<u64>,
    finished: bool,
}

/// The interrupt record of one coroutine.
#[derive(Default)]
pub(crate) struct Interrupt {
    state: Mutex<State>,
}

/// Something that holds an interrupt record: a greenlet's shared state, or a
/// bare record for a coroutine that green did not spawn.
pub(crate) trait Owner: Send + Sync + 'static {
    fn interrupt(&self) -> &Interrupt;
}

impl Owner for Interrupt {
    fn interrupt(&self) -> &Interrupt {
        self
    }
}

/// The running coroutine's record, kept in coroutine-local storage. A
/// coroutine that runs many greenlets (see `launch`) looks the slot up once
/// and then swaps records through its own handle to it.
pub(crate) type Slot = Rc<RefCell<Option<Arc<dyn Owner>>>>;

may::coroutine_local!(static CURRENT: Slot = Rc::new(RefCell::new(None)));

/// The running coroutine's slot.
pub(crate) fn slot() -> Slot {
    CURRENT.with(Rc::clone)
}

/// The record of the running coroutine, created on first use.
/// Only meaningful inside a coroutine.
pub(crate) fn current() -> Arc<dyn Owner> {
    CURRENT.with(|slot| {
        slot.borrow_mut()
            .get_or_insert_with(|| {
                let interrupt = Interrupt::default();
                interrupt.state.lock().co = Some(may::coroutine::current());
                Arc::new(interrupt)
            })
            .clone()
    })
}

/// Makes `owner` the record of the running coroutine, which owns `slot` (a
/// greenlet's first act), and returns false if it was killed before it
/// started.
///
/// The coroutine's may handle goes into the record here, from the coroutine
/// itself, not from the spawner once `spawn` has it: the greenlet can start,
/// and run a whole [`with_timeout`](crate::with_timeout), before the
/// spawning thread gets the CPU back. A timeout that fired in that time
/// found no handle to cancel; its scope, seeing it fired, then waited for a
/// cancellation that never came, and the greenlet hung (a lost wake-up seen
/// on a loaded machine). Recorded here, the handle is in place before any
/// timeout can be armed; a kill before the start needs none (it is seen
/// just below).
pub(crate) fn enter(slot: &Slot, owner: Arc<dyn Owner>) -> bool {
    let killed = {
        let mut state = owner.interrupt().state.lock();
        state.co = Some(may::coroutine::current());
        state.reason == Some(Reason::Killed)
    };
    *slot.borrow_mut() = Some(owner);
    !killed
}

/// How many records have a kill or a fired timeout pending (so that the
/// frequent check after an I/O wait can usually stop at one atomic load).
static PENDING: AtomicUsize = AtomicUsize::new(0);

/// Sets or clears a record's reason, keeping [`PENDING`] in step.
fn set_reason(state: &mut State, reason: Option<Reason>) {
    match (state.reason.is_some(), reason.is_some()) {
        (false, true) => {
            PENDING.fetch_add(1, Ordering::AcqRel);
        }
        (true, false) => {
            PENDING.fetch_sub(1, Ordering::AcqRel);
        }
        _ => {}
    }
    state.reason = reason;
}

/// Lands an interruption that a wait on I/O readiness swallowed.
///
/// may's `wait_io` wakes a coroutine that is cancelled while it waits, but
/// clears the request instead of unwinding, and a later `wait_io` returns at
/// once while a request is pending. So after every `wait_io`, a kill or a
/// fired timeout of the running greenlet is requested again and made to
/// unwind right here, at a yield (may's cancellation check). A caller that
/// looped back into `wait_io` instead would spin on a core until its own
/// deadline, and then return as if nothing had happened.
///
/// A greenlet that is already unwinding (a destructor doing socket I/O while
/// the greenlet is being stopped) cannot unwind again: its call fails with
/// an error instead, so that it neither waits nor spins.
pub(crate) fn land_interrupt_after_io_wait() -> std::io::Result<()> {
    // The common case, nothing interrupted anywhere, skips the lookup.
    if PENDING.load(Ordering::Acquire) == 0 {
        return Ok(());
    }
    let owner = CURRENT.with(|slot| slot.borrow().clone());
    let Some(owner) = owner else { return Ok(()) };
    let interrupted = {
        let state = owner.interrupt().state.lock();
        let interrupted = state.reason.is_some() && !state.finished;
        if interrupted {
            cancel(&state);
        }
        interrupted
    };
    if !interrupted {
        return Ok(());
    }
    if std::thread::panicking() {
        return Err(std::io::Error::other(
            "the greenlet is being stopped (killed or timed out)",
        ));
    }
    // With the cancellation pending, may's yield unwinds at once.
    may::coroutine::yield_now();
    unreachable!("a pending cancellation unwinds from the yield")
}

impl Interrupt {
    /// Marks the greenlet finished: later kills do nothing. True when no
    /// kill or timeout is pending, so its coroutine can run another body.
    pub(crate) fn finish(&self) -> bool {
        let mut state = self.state.lock();
        state.finished = true;
        let clean = state.reason.is_none();
        set_reason(&mut state, None);
        clean
    }

    /// Requests the kill; it lands at the coroutine's next blocking point.
    pub(crate) fn kill(&self) {
        let mut state = self.state.lock();
        if state.finished {
            return;
        }
        set_reason(&mut state, Some(Reason::Killed));
        cancel(&state);
    }

    /// Fired by the timer: interrupts the coroutine if scope `id` is still
    /// open and nothing else interrupted it first.
    pub(crate) fn fire_timeout(&self, id: u64) {
        let mut state = self.state.lock();
        if state.finished || state.reason.is_some() || !state.scopes.contains(&id) {
            return;
        }
        set_reason(&mut state, Some(Reason::Timeout(id)));
        cancel(&state);
    }

    pub(crate) fn open_scope(&self, id: u64) {
        self.state.lock().scopes.push(id);
    }

    /// Closes scope `id`; true when its timeout fired (the caller must then
    /// clear the pending cancellation).
    pub(crate) fn close_scope(&self, id: u64) -> bool {
        let mut state = self.state.lock();
        state.scopes.retain(|s| *s != id);
        if state.reason == Some(Reason::Timeout(id)) {
            set_reason(&mut state, None);
            true
        } else {
            false
        }
    }

    /// Re-arms a kill whose cancellation was swallowed by
    /// [`clear_pending_cancel`].
    pub(crate) fn rearm_kill(&self) {
        let state = self.state.lock();
        if state.reason == Some(Reason::Killed) {
            cancel(&state);
        }
    }
}

/// Requests may's cancellation. Done under the record's lock, so that it
/// cannot land after [`Interrupt::finish`] on a coroutine that already runs
/// another greenlet.
fn cancel(state: &State) {
    if let Some(co) = &state.co {
        // Safety: may's cancel unwinds the coroutine from its next blocking
        // point; every blocking point in this crate cleans up on unwind, and
        // the unwind is caught by the greenlet wrapper or by `with_timeout`.
        unsafe { co.cancel() };
    }
}

/// Clears a cancellation that was requested but not (or no longer) wanted:
/// may keeps the request pending until the next blocking point, so a timeout
/// that fired just as its closure finished would otherwise strike later,
/// outside its scope.
///
/// may offers no direct call for this. Waiting on an I/O object while a
/// cancellation is pending returns at once and clears it, but leaves a
/// "Canceled" error value behind that the next socket operation to block
/// would report. A short sleep consumes it: the timer overwrites the value
/// and the sleep takes it. (Not a zero sleep: may registers a sleeping
/// coroutine for cancellation just after arming its timer, and a timer that
/// fires at once lets the coroutine run on and block elsewhere before that
/// registration lands, which then hides the new wait from later kills.)
pub(crate) fn clear_pending_cancel() {
    use may::io::{AsIoData, IoData, WaitIo};

    struct Never(IoData);
    impl AsIoData for Never {
        fn as_io_data(&self) -> &IoData {
            &self.0
        }
    }
    // A descriptor that is never registered with may's poller, so waiting
    // on it can only end through the pending cancellation.
    static UNREGISTERED: OnceLock<std::os::unix::net::UnixDatagram> = OnceLock::new();
    let fd = UNREGISTERED.get_or_init(|| {
        std::os::unix::net::UnixDatagram::unbound().expect("cannot create a socket")
    });

    let never = Never(IoData::new(fd));
    never.wait_io();
    may::coroutine::sleep(std::time::Duration::from_millis(1));
}
