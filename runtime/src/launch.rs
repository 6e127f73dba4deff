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
    let marker = 0u8;
    STACK.with(|stack| {
        stack.set(StackBounds {
            near_top: std::ptr::addr_of!(marker) as usize,
            size: stack_bytes,
        })
    });
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

/// Where a green coroutine's stack is: an address a little below its top
/// (a local of the coroutine's first frame) and the stack's size.
#[derive(Clone, Copy, Default)]
struct StackBounds {
    near_top: usize,
    size: usize,
}

may::coroutine_local!(static STACK: std::cell::Cell<StackBounds> = std::cell::Cell::new(StackBounds::default()));

/// How many bytes of stack the calling greenlet uses right now, counted
/// from its first frame (a few hundred bytes of may's own frames above that
/// are not counted); `None` outside a green coroutine. Useful to size
/// [`Config::stack_size`](crate::Config::stack_size) and to keep the frames
/// of long waits small.
pub fn stack_depth() -> Option<usize> {
    let bounds = STACK.with(|stack| stack.get());
    let marker = 0u8;
    let sp = std::ptr::addr_of!(marker) as usize;
    (bounds.near_top != 0 && may::coroutine::is_coroutine())
        .then(|| bounds.near_top.saturating_sub(sp))
}

/// Gives the pages of the calling greenlet's stack below its current depth
/// back to the operating system.
///
/// A stack page, once touched, stays resident for the life of the
/// coroutine, so a greenlet that once went deep (parsing a request, say)
/// and then waits for a long time (an idle WebSocket) holds memory it does
/// not use. Calling this before such a wait releases it; a later deeper call
/// gets fresh zeroed pages. It costs a system call, so call it before long
/// waits, not before every wait. Does nothing outside a green coroutine.
///
/// The bottom page, where may keeps its overflow sentinel, is never
/// released, nor are the pages of the frames in use.
pub fn trim_stack() {
    if !may::coroutine::is_coroutine() {
        return;
    }
    let bounds = STACK.with(|stack| stack.get());
    if bounds.near_top == 0 {
        return;
    }
    const PAGE: usize = 4096;
    let sp = stack_pointer();
    // `near_top` lies below the true top by the first frames (well under a
    // page), so two pages above this estimate of the bottom clear the
    // sentinel page for sure.
    let low = bounds.near_top.saturating_sub(bounds.size).div_ceil(PAGE) * PAGE + 2 * PAGE;
    // Keep the pages in use, and room below the stack pointer for the
    // madvise call itself (a system-call stub: a return address and a few
    // words).
    let high = sp.saturating_sub(256) / PAGE * PAGE;
    if high > low {
        // Safety: [low, high) lies inside this coroutine's stack, below every
        // frame in use and above its bottom page; MADV_DONTNEED on private
        // anonymous memory only makes the next touch see zeroed pages.
        unsafe {
            libc::madvise(low as *mut libc::c_void, high - low, libc::MADV_DONTNEED);
        }
    }
}

/// The calling frame's stack pointer. Where no instruction is written for
/// the target, a local's address less a page: a conservative stand-in.
#[inline(always)]
fn stack_pointer() -> usize {
    let sp: usize;
    #[cfg(target_arch = "x86_64")]
    // Safety: reads a register, touches no memory.
    unsafe {
        std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(target_arch = "aarch64")]
    // Safety: reads a register, touches no memory.
    unsafe {
        std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let marker = 0u8;
        sp = (std::ptr::addr_of!(marker) as usize).saturating_sub(4096);
    }
    sp
}
