//! Starting greenlet bodies on coroutines, cheaply.
//!
//! Creating a may coroutine costs several allocations and, from `spawn`, a
//! system call to wake the worker whose queue receives it. Two things make
//! spawning cheaper here:
//!
//! - **Reuse.** A coroutine whose greenlet finished cleanly (not killed, no
//!   timeout pending) parks in an idle list instead of ending, and the next
//!   spawn hands it a new body. Only default-sized, unnamed greenlets reuse.
//! - **Local start.** From inside a coroutine, a new coroutine is run on the
//!   spot up to a park and then unparked, which queues it on this worker's
//!   own run queue (idle workers steal from it) instead of waking a worker.
//!
//! Either way the new greenlet starts only after the spawner blocks or
//! yields, as in gevent.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use may::coroutine::Coroutine;
use parking_lot::Mutex;

use crate::error::panic_message;
use crate::interrupt::{self, Slot};
use crate::Error;

/// A greenlet body, given its coroutine's interrupt slot; it returns true
/// if the coroutine may run another body.
pub(crate) type Body = Box<dyn FnOnce(&Slot) -> bool + Send>;

/// How many finished coroutines wait for reuse at most.
const MAX_IDLE: usize = 256;

/// A parked coroutine waiting for its next body.
struct Idle {
    co: Coroutine,
    next: Arc<Mutex<Option<Body>>>,
}

static IDLE: Mutex<Vec<Idle>> = Mutex::new(Vec::new());

/// Options that rule out reuse: a name or a stack size of its own.
pub(crate) struct Fresh {
    pub(crate) name: Option<String>,
    pub(crate) stack_words: Option<usize>,
}

/// Starts `body` on a coroutine. The body may run before this returns.
pub(crate) fn launch(body: Body, fresh: Option<Fresh>) -> Result<(), Error> {
    if fresh.is_none() {
        if let Some(idle) = IDLE.lock().pop() {
            *idle.next.lock() = Some(body);
            idle.co.unpark();
            return Ok(());
        }
    }
    let reusable = fresh.is_none();
    let stack_bytes = fresh.as_ref().and_then(|f| f.stack_words).map_or_else(
        || crate::Config::current().stack_size,
        |w| w * std::mem::size_of::<usize>(),
    );
    let mut builder = may::coroutine::Builder::new();
    if let Some(fresh) = fresh {
        if let Some(name) = fresh.name {
            builder = builder.name(name);
        }
        if let Some(words) = fresh.stack_words {
            builder = builder.stack_size(words);
        }
    }
    let run = move || run_bodies(body, reusable, stack_bytes);
    // may panics when it cannot map a stack; report that as an error.
    // Safety: may's spawn is unsafe because of thread-local storage seen
    // across blocking points; the crate docs state that rule for users.
    let spawned = catch_unwind(AssertUnwindSafe(|| unsafe {
        if may::coroutine::is_coroutine() {
            builder
                .spawn_local(move || {
                    // Wait for the unpark below (a kill before the start
                    // is seen by the body's first act, `enter`).
                    let _ = catch_unwind(may::coroutine::park);
                    run()
                })
                .inspect(|handle| handle.coroutine().unpark())
        } else {
            builder.spawn(run)
        }
    }));
    match spawned {
        Ok(Ok(_handle)) => Ok(()),
        Ok(Err(e)) => Err(Error::Spawn(e.to_string())),
        Err(payload) => Err(Error::Spawn(panic_message(&*payload).to_owned())),
    }
}

/// The life of a coroutine: run bodies for as long as it stays reusable and
/// the idle list has room.
fn run_bodies(first: Body, reusable: bool, stack_bytes: usize) {
    crate::overflow::ensure_alt_stack();
    let bounds = crate::stack::record_bounds(stack_bytes);
    // Restores the sentinel when this coroutine ends, unwinding included.
    let _sentinel = crate::stack::SentinelPage::release(bounds);
    let slot = interrupt::slot();
    let mut body = first;
    if !body(&slot) || !reusable {
        return;
    }
    let me = may::coroutine::current();
    let next = Arc::new(Mutex::new(None));
    loop {
        {
            let mut idle = IDLE.lock();
            if idle.len() >= MAX_IDLE {
                return;
            }
            idle.push(Idle {
                co: me.clone(),
                next: next.clone(),
            });
        }
        body = loop {
            // Spurious wake-ups (a park token left over from the last body)
            // just loop. Nothing cancels an idle coroutine: a kill only
            // reaches a coroutine through a body that is still running.
            let _ = catch_unwind(may::coroutine::park);
            if let Some(body) = next.lock().take() {
                break body;
            }
        };
        if !body(&slot) {
            return;
        }
    }
}
