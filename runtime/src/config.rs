//! Runtime settings: chosen once, before the first coroutine starts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::Error;

/// The default stack size of a coroutine: 64 KiB.
///
/// Stack pages are mapped lazily, so a larger stack costs address space, not
/// memory: a coroutine keeps resident only the pages its calls have touched
/// (a greenlet that waits 6 KiB deep keeps two; [`trim_stack`](crate::trim_stack)
/// gives back those below its current depth, and the bottom page, where the
/// coroutine library writes its overflow sentinel, is released while the
/// greenlet runs). 64 KiB leaves room for parsing, logging and formatting in
/// handlers without being wasteful.
pub const DEFAULT_STACK_SIZE: usize = 64 * 1024;

/// The smallest stack size accepted: 16 KiB.
pub const MIN_STACK_SIZE: usize = 16 * 1024;

static STARTED: AtomicBool = AtomicBool::new(false);
static APPLY: Mutex<()> = Mutex::new(());

/// Runtime settings, applied once before the first coroutine is spawned.
///
/// Without a call to [`Config::apply`], the defaults below are used as soon
/// as anything in `green` starts a coroutine.
///
/// | setting | default |
/// |---|---|
/// | [`workers`](Config::workers) | the number of CPUs |
/// | [`stack_size`](Config::stack_size) | [`DEFAULT_STACK_SIZE`] (64 KiB) |
/// | [`pin_workers`](Config::pin_workers) | `false` |
///
/// ```
/// green::Config::new().workers(2).stack_size(128 * 1024).apply().unwrap();
/// assert_eq!(green::Config::current().stack_size, 128 * 1024);
/// // A second apply fails: the runtime is running now.
/// # green::spawn(|| ()).join().unwrap();
/// assert!(green::Config::new().apply().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Worker threads that run coroutines.
    pub workers: usize,
    /// Default stack size of every coroutine, in bytes.
    pub stack_size: usize,
    /// Whether each worker thread is pinned to one CPU core.
    pub pin_workers: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    /// The defaults (see the table above).
    pub fn new() -> Self {
        Config {
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            stack_size: DEFAULT_STACK_SIZE,
            pin_workers: false,
        }
    }

    /// Sets the number of worker threads (at least 1).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Sets the default coroutine stack size in bytes (at least
    /// [`MIN_STACK_SIZE`]). Use [`Builder::stack_size`](crate::Builder::stack_size)
    /// for a single greenlet that needs more.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }

    /// Pins each worker thread to a CPU core. Good for a machine that runs
    /// nothing else; harmful when other busy processes share the cores.
    pub fn pin_workers(mut self, pin: bool) -> Self {
        self.pin_workers = pin;
        self
    }

    /// Applies these settings. Fails with [`Error::AlreadyStarted`] once the
    /// runtime is running, and with [`Error::InvalidConfig`] for a value out
    /// of range.
    pub fn apply(self) -> Result<(), Error> {
        if self.workers == 0 {
            return Err(Error::InvalidConfig("workers must be at least 1".into()));
        }
        if self.stack_size < MIN_STACK_SIZE {
            return Err(Error::InvalidConfig(format!(
                "stack_size must be at least {MIN_STACK_SIZE} bytes, got {}",
                self.stack_size
            )));
        }
        let _guard = APPLY.lock().unwrap_or_else(|e| e.into_inner());
        if STARTED.load(Ordering::Acquire) {
            return Err(Error::AlreadyStarted);
        }
        let may = may::config();
        may.set_workers(self.workers);
        may.set_stack_size(words(self.stack_size));
        may.set_worker_pin(self.pin_workers);
        crate::overflow::install();
        STARTED.store(true, Ordering::Release);
        Ok(())
    }

    /// The settings in effect (the defaults if the runtime has not started).
    pub fn current() -> Config {
        if !STARTED.load(Ordering::Acquire) {
            return Config::new();
        }
        let may = may::config();
        Config {
            workers: may.get_workers(),
            stack_size: may.get_stack_size() * std::mem::size_of::<usize>(),
            pin_workers: may.get_worker_pin(),
        }
    }
}

/// may counts stack sizes in machine words, and an odd count makes it fill
/// the whole stack to measure its use (touching every page): keep it even.
pub(crate) fn words(bytes: usize) -> usize {
    (bytes / std::mem::size_of::<usize>()) & !1
}

/// Applies the default settings unless settings were applied already. Called
/// by everything that starts coroutines.
#[inline]
pub(crate) fn ensure_started() {
    if !STARTED.load(Ordering::Acquire) {
        // Losing the race to another apply is fine: either way the runtime
        // now has settings.
        let _ = Config::new().apply();
    }
}
