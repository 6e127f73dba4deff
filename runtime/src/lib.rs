//! # green: gevent's programming model on may's stackful coroutines
//!
//! Write plain blocking code (`sleep`, `queue.get()`, `stream.read()`); every
//! greenlet is a stackful coroutine of the [`may`] crate, so tens of thousands
//! of them share a few OS threads and each blocking call only suspends the
//! greenlet that made it.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! // 1 000 greenlets sleep 100 ms each, all at the same time.
//! let start = Instant::now();
//! let sleepers: Vec<_> = (0..1000)
//!     .map(|i| green::spawn(move || { green::sleep(Duration::from_millis(100)); i }))
//!     .collect();
//! let total: u64 = sleepers.into_iter().map(|g| g.join().unwrap()).sum();
//! assert_eq!(total, 999 * 1000 / 2);
//! assert!(start.elapsed() < Duration::from_secs(5));
//!
//! // A producer and a consumer joined by a bounded queue.
//! let queue = green::Queue::bounded(8);
//! let producer = {
//!     let queue = queue.clone();
//!     green::spawn(move || for n in 1..=100u32 { queue.put(n) })
//! };
//! let sum: u32 = (0..100).map(|_| queue.get()).sum();
//! producer.join().unwrap();
//! assert_eq!(sum, 5050);
//!
//! // A blocked call interrupted by a timeout.
//! let silent = green::Queue::<u32>::unbounded();
//! let waited = green::with_timeout(Duration::from_millis(10), || silent.get());
//! assert!(waited.is_err());
//! ```
//!
//! ## gevent's names
//!
//! | gevent | green |
//! |---|---|
//! | `gevent.spawn(f)` | [`spawn`]`(f)` → [`Greenlet`] |
//! | `g.join()`, `g.get()` | [`Greenlet::join`], [`Greenlet::join_timeout`] |
//! | `g.kill()` | [`Greenlet::kill`] |
//! | `gevent.spawn_later(s, f)` | [`spawn_later`] |
//! | `gevent.sleep(s)`, `gevent.sleep(0)` | [`sleep`], [`yield_now`] |
//! | `gevent.joinall(gs, timeout)` | [`join_all`] |
//! | `gevent.Timeout(s)` | [`with_timeout`] |
//! | `gevent.event.Event`, `AsyncResult` | [`Event`], [`AsyncResult`] |
//! | `gevent.queue.Queue(maxsize)` | [`Queue::bounded`], [`Queue::unbounded`] |
//! | `gevent.pool.Pool(n)`, `Group()` | [`Pool`], [`Group`] |
//! | `gevent.lock.BoundedSemaphore` | [`Semaphore`] |
//! | `gevent.socket` | [`net`] |
//!
//! ## Where it runs, and what blocks what
//!
//! The runtime starts by itself at the first spawn, with the settings of
//! [`Config`] (worker threads, default stack size), which can be chosen once
//! before that.
//!
//! Everything here can be called from a greenlet and from a plain thread
//! such as `main`. In a greenlet, a blocking call ([`sleep`], `Queue::get`,
//! `Event::wait`, `Greenlet::join`, `Semaphore::acquire`, I/O on [`net`]
//! types, locking a [`sync::Mutex`]) suspends only that greenlet. In a plain
//! thread the same call blocks the thread, as its std counterpart would.
//! [`with_timeout`] works in both: in a thread it runs the closure in a
//! helper coroutine.
//!
//! ## Rules for coroutine code
//!
//! 1. **No std blocking calls inside a greenlet.** `std::thread::sleep`,
//!    `std::net` sockets, `std::fs` on slow disks, `std::sync::mpsc::recv`,
//!    a `std::sync::Mutex` that is held for long: each of these blocks the
//!    whole worker thread, and every greenlet queued on that worker waits
//!    with it. Use [`sleep`], [`net`], [`Queue`] and [`sync`] instead. A std
//!    or parking_lot mutex is fine for a short critical section that never
//!    blocks while held.
//! 2. **No thread-local state across a blocking point.** A greenlet may
//!    resume on another worker thread after any blocking call, so a
//!    `thread_local!` value (or a guard or reference derived from one) read
//!    before the call may belong to another thread after it. Read
//!    thread-locals between blocking points only, or pass state explicitly.
//! 3. **Mind the stack.** Every greenlet has a fixed stack
//!    ([`DEFAULT_STACK_SIZE`], 64 KiB, unless [`Config::stack_size`] says
//!    otherwise). It does not grow: deep recursion or large arrays on the
//!    stack overflow it, and a stack overflow ends the whole process: it
//!    writes `green: stack overflow` and advice to stderr and aborts (it is
//!    not a panic and cannot be caught; a greenlet cut off in the middle
//!    would leave its locks held for good). Put large buffers on the heap, and
//!    give a greenlet that needs more a bigger stack with
//!    [`Builder::stack_size`]. Stack pages are mapped lazily, so a generous
//!    size costs address space rather than memory; but each stack is a
//!    separate memory map plus a guard page, and Linux's default
//!    `vm.max_map_count` (65 530) caps a process near 32 000 greenlets.
//! 4. **Interruption lands at blocking points.** [`Greenlet::kill`] and
//!    [`with_timeout`] unwind the greenlet from its next blocking call; a
//!    loop that never blocks cannot be interrupted. Do not swallow the
//!    unwind with `catch_unwind`: let it pass.
//! 5. **Wait, don't spin.** [`yield_now`] lets the other greenlets queued
//!    on the same worker run, but a worker polls for I/O and takes greenlets
//!    started from other threads only once its own queue runs dry. Greenlets
//!    that loop on `yield_now` waiting for each other keep it from ever
//!    running dry; wait on an [`Event`], a [`Queue`] or a socket instead.
//!    Long computations belong on a plain thread, not a greenlet.

#![warn(missing_docs)]

mod config;
mod error;
mod event;
mod greenlet;
mod interrupt;
mod launch;
pub mod net;
mod overflow;
mod pool;
mod queue;
mod stack;
pub mod sync;
mod timeout;
mod timer;
mod wait;

pub use config::{Config, DEFAULT_STACK_SIZE, MIN_STACK_SIZE};
pub use error::{is_interrupt, panic_message, Error, Timeout};
pub use event::{AsyncResult, Event};
pub use greenlet::{
    in_coroutine, join_all, sleep, spawn, spawn_later, yield_now, Builder, Greenlet,
};
pub use pool::{Group, Pool, PoolSlot, Semaphore, SemaphorePermit};
pub use queue::Queue;
pub use stack::{stack_depth, trim_stack};
pub use timeout::with_timeout;
