//! Greenlets: coroutines with a handle to join, wait for and kill them.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::{ensure_started, words};
use crate::error::{is_interrupt, panic_message};
use crate::interrupt::{enter, Interrupt, Owner, Slot};
use crate::launch::{launch, Fresh};
use crate::wait::{deadline, wait_until, WaitList};
use crate::Error;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

struct Shared<T> {
    id: u64,
    name: Option<String>,
    interrupt: Interrupt,
    /// Set (under `outcome`'s lock) once the result is in.
    done: AtomicBool,
    outcome: Mutex<Outcome<T>>,
}

struct Outcome<T> {
    result: Option<Result<T, Error>>,
    waiters: WaitList,
}

impl<T> Shared<T> {
    fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Waits until done or the deadline; true if done.
    fn wait_done(&self, deadline: Option<Instant>) -> bool {
        self.is_done()
            || wait_until(
                &self.outcome,
                |o| &mut o.waiters,
                deadline,
                |o| o.result.is_some().then_some(()),
            )
            .is_some()
    }

    fn finish(&self, result: Result<T, Error>) {
        let mut outcome = self.outcome.lock();
        outcome.result = Some(result);
        self.done.store(true, Ordering::Release);
        outcome.waiters.notify_all();
    }
}

/// A greenlet seen without its result type: what [`Group`](crate::Group)
/// keeps of its members.
pub(crate) trait Member: Send + Sync {
    fn kill(&self);
}

impl<T: Send + 'static> Owner for Shared<T> {
    fn interrupt(&self) -> &Interrupt {
        &self.interrupt
    }
}

impl<T: Send> Member for Shared<T> {
    fn kill(&self) {
        self.interrupt.kill();
    }
}

/// A handle to a running (or finished) greenlet, returned by [`spawn`].
///
/// Dropping the handle detaches the greenlet: it keeps running.
///
/// ```
/// let g = green::spawn(|| 6 * 7);
/// assert_eq!(g.join(), Ok(42));
///
/// let g = green::spawn(|| green::sleep(std::time::Duration::from_secs(60)));
/// g.kill();
/// assert_eq!(g.join(), Err(green::Error::Killed));
/// ```
pub struct Greenlet<T> {
    shared: Arc<Shared<T>>,
}

impl<T> fmt::Debug for Greenlet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Greenlet")
            .field("id", &self.shared.id)
            .field("name", &self.shared.name)
            .field("ready", &self.shared.is_done())
            .finish()
    }
}

impl<T: Send + 'static> Greenlet<T> {
    /// A number unique to this greenlet within the process.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// The name given with [`Builder::name`], if any.
    pub fn name(&self) -> Option<&str> {
        self.shared.name.as_deref()
    }

    /// True once the greenlet has finished (returned, panicked or was killed).
    pub fn ready(&self) -> bool {
        self.shared.is_done()
    }

    /// Kills the greenlet: it unwinds from its next blocking point (a sleep,
    /// a queue or event wait, socket I/O), running its destructors, and
    /// [`join`](Self::join) then gives [`Error::Killed`]. A greenlet that has
    /// not started yet never runs; killing a finished greenlet does nothing.
    /// Does not wait; [`join`](Self::join) does.
    pub fn kill(&self) {
        self.shared.interrupt.kill();
    }

    /// Waits for the greenlet to finish and gives its value, or
    /// [`Error::Panicked`] / [`Error::Killed`].
    pub fn join(self) -> Result<T, Error> {
        self.shared.wait_done(None);
        self.take_result()
    }

    /// Like [`join`](Self::join), but waits at most `timeout`. If the
    /// greenlet is still running then, the handle comes back as `Err` so the
    /// caller can kill it or wait again.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let g = green::spawn(|| green::sleep(Duration::from_secs(60)));
    /// let g = g.join_timeout(Duration::from_millis(10)).unwrap_err();
    /// g.kill();
    /// ```
    pub fn join_timeout(self, timeout: Duration) -> Result<Result<T, Error>, Greenlet<T>> {
        if self.shared.wait_done(deadline(Some(timeout))) {
            Ok(self.take_result())
        } else {
            Err(self)
        }
    }

    fn take_result(&self) -> Result<T, Error> {
        self.shared
            .outcome
            .lock()
            .result
            .take()
            .expect("a finished greenlet always has a result, taken only by join")
    }

    pub(crate) fn member(&self) -> Arc<dyn Member> {
        self.shared.clone()
    }
}

/// Options for spawning one greenlet: a name and a stack size.
///
/// ```
/// // A greenlet that recurses deeply gets a bigger stack than the default.
/// fn depth(n: u32) -> u32 { if n == 0 { 0 } else { 1 + depth(n - 1) } }
/// let g = green::Builder::new()
///     .name("deep")
///     .stack_size(1024 * 1024)
///     .spawn(|| depth(10_000))
///     .unwrap();
/// assert_eq!(g.join(), Ok(10_000));
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// Default options: no name, the runtime's default stack size.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the greenlet (shown by [`Greenlet::name`] and in may's messages).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Gives the greenlet a stack of `bytes` instead of the default (see
    /// [`Config::stack_size`](crate::Config::stack_size)). Stacks of a
    /// non-default size are not reused from may's pool, so spawning them
    /// costs a little more.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes.max(crate::config::MIN_STACK_SIZE));
        self
    }

    /// Spawns `f` as a greenlet; [`Error::Spawn`] if the coroutine cannot be
    /// created (out of memory, or out of memory maps).
    pub fn spawn<F, T>(self, f: F) -> Result<Greenlet<T>, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_with(f, ())
    }

    /// Spawns `f`; `on_done` is dropped when the greenlet finishes (or when
    /// it could not be created), before the greenlet reports ready.
    pub(crate) fn spawn_with<F, T, D>(self, f: F, on_done: D) -> Result<Greenlet<T>, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
        D: Send + 'static,
    {
        ensure_started();
        let shared = Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            name: self.name.clone(),
            interrupt: Interrupt::default(),
            done: AtomicBool::new(false),
            outcome: Mutex::new(Outcome {
                result: None,
                waiters: WaitList::default(),
            }),
        });
        let inner = shared.clone();
        let body = Box::new(move |slot: &Slot| {
            let outcome = if enter(slot, inner.clone()) {
                match catch_unwind(AssertUnwindSafe(f)) {
                    Ok(value) => Ok(value),
                    Err(payload) if is_interrupt(&*payload) => Err(Error::Killed),
                    Err(payload) => Err(Error::Panicked(panic_message(&*payload).to_owned())),
                }
            } else {
                Err(Error::Killed)
            };
            let reusable = inner.interrupt.finish();
            drop(on_done);
            inner.finish(outcome);
            reusable
        });
        let fresh = (self.name.is_some() || self.stack_size.is_some()).then(|| Fresh {
            name: self.name,
            stack_words: self.stack_size.map(words),
        });
        launch(body, fresh)?;
        Ok(Greenlet { shared })
    }
}

/// Spawns `f` as a new greenlet and returns its handle. The greenlet starts
/// when a worker thread is free: at once on an idle runtime, or when the
/// spawning coroutine next blocks.
///
/// A panic inside `f` is caught and reported by [`Greenlet::join`]; it never
/// affects other greenlets.
///
/// # Panics
/// If the coroutine cannot be created (no memory for its stack); use
/// [`Builder::spawn`] to handle that case.
pub fn spawn<F, T>(f: F) -> Greenlet<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match Builder::new().spawn(f) {
        Ok(greenlet) => greenlet,
        Err(e) => panic!("green::spawn: {e}"),
    }
}

/// Spawns `f` to start after `delay`. Until then the greenlet sleeps; a
/// [`kill`](Greenlet::kill) in that time means `f` never runs.
pub fn spawn_later<F, T>(delay: Duration, f: F) -> Greenlet<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    spawn(move || {
        sleep(delay);
        f()
    })
}

/// Waits until every greenlet in `greenlets` has finished, or `timeout`
/// passes (`None`: no limit). Returns the indices of those that finished.
///
/// ```
/// use std::time::{Duration, Instant};
/// let gs = vec![
///     green::spawn(|| green::sleep(Duration::from_millis(1))),
///     green::spawn(|| green::sleep(Duration::from_secs(60))),
/// ];
/// assert_eq!(green::join_all(&gs, Some(Duration::from_millis(200))), vec![0]);
/// gs[1].kill();
/// ```
pub fn join_all<T: Send + 'static>(
    greenlets: &[Greenlet<T>],
    timeout: Option<Duration>,
) -> Vec<usize> {
    let deadline = deadline(timeout);
    for g in greenlets {
        if !g.shared.wait_done(deadline) {
            break;
        }
    }
    greenlets
        .iter()
        .enumerate()
        .filter(|(_, g)| g.ready())
        .map(|(i, _)| i)
        .collect()
}

/// Suspends the calling coroutine for `duration`; other greenlets run
/// meanwhile. In a plain thread it sleeps the thread. A kill or a timeout
/// interrupts it.
pub fn sleep(duration: Duration) {
    ensure_started();
    may::coroutine::sleep(duration);
}

/// Lets other ready greenlets run before the caller continues (in a plain
/// thread: yields the thread).
pub fn yield_now() {
    ensure_started();
    may::coroutine::yield_now();
}

/// True when the caller runs in a coroutine rather than a plain thread.
pub fn in_coroutine() -> bool {
    may::coroutine::is_coroutine()
}
