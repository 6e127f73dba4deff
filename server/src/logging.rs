//! Logging for programs that serve: a `log` logger that never blocks the
//! thread that logs.
//!
//! env_logger writes each record to stderr from the thread that logs it.
//! When stderr is a pipe that nobody reads (a stuck log collector, a
//! terminal paused with Ctrl-S), that write blocks, and with it a worker
//! thread and every greenlet queued on it: the access log alone would stop
//! the server. The logger of [`init`] instead formats a record on the
//! calling thread into a bounded buffer (1 MiB), and one writer thread
//! writes that buffer to stderr in batches: every 50 ms, or as soon as
//! 256 KiB have gathered (a line shows up to 50 ms late). When stderr does not keep up and the
//! buffer is full, records are dropped and counted ([`dropped_lines`]);
//! once stderr drains, one line says how many were lost.
//!
//! ```no_run
//! // In main, first thing. RUST_LOG decides, as with env_logger; this is
//! // the default when it is unset.
//! let _logging = greenws::logging::init("warn,greenws=info").expect("no other logger");
//! log::info!("starting");
//! // ... serve; when `_logging` is dropped at the end of main, what is
//! // still buffered is written out (waiting 1 s at most).
//! ```
//!
//! - **Filters**: `RUST_LOG` in env_logger's syntax (`warn,greenws=info`,
//!   `greenws::access=off`, `debug/pattern`, where a pattern is matched as
//!   a substring); unset or empty, the default given to [`init`].
//! - **Format**: `[2026-01-31T12:00:00Z INFO  target] message`, as
//!   env_logger's default without colours. Access lines (target
//!   `greenws::access`) are written as they are, in pywsgi's format.
//! - **Panics**: [`init`] also installs a panic hook that reports panics
//!   through this logger, since the default hook writes to stderr from the
//!   panicking thread.
//!
//! A library embedding greenws can keep its own logger instead; the access
//! log is an ordinary `log` record (target `greenws::access`, level info).

use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use log::{Log, Metadata, Record};
use parking_lot::{Condvar, Mutex};

use crate::connection::access_log;

/// Bytes of formatted records waiting for the writer, at most.
const BUFFER_BYTES: usize = 1 << 20;
/// How long the writer lets records gather before a write, so that a busy
/// server makes one write (and one wake-up) for many records; also how
/// late a line may show. Each write and wake-up costs the workers: with
/// the access log of 64 keep-alive HTTP connections to a file, 2 ms cost
/// measurably more CPU per request than 10 ms, and 10 ms about 3% more
/// than 50 ms.
const GATHER: Duration = Duration::from_millis(50);
/// Gathered bytes that wake the writer before [`GATHER`] is over, so that
/// a fast stream of records is written before the buffer fills (about
/// 130 000 lines a second would fill 1 MiB in 50 ms).
const WRITE_EARLY_BYTES: usize = BUFFER_BYTES / 4;
/// How long dropping the guard waits for the buffer to be written.
const FLUSH_WAIT: Duration = Duration::from_secs(1);

static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The buffer of the logger [`init`] installed, once it is `log`'s logger.
static INSTALLED_SINK: OnceLock<Arc<Sink>> = OnceLock::new();

/// Records dropped since the process started because the log output did
/// not keep up (the buffer was full).
pub fn dropped_lines() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Installs the logger (see the module docs): `RUST_LOG`, or
/// `default_filter` when it is unset or empty. Fails if a `log` logger is
/// installed already.
///
/// Keep the guard until the program ends: dropping it writes out what is
/// buffered.
pub fn init(default_filter: &str) -> Result<LogGuard, log::SetLoggerError> {
    let spec = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty());
    // A `/pattern` filters on the message, which only the `log` path checks.
    let filters_messages = spec.as_deref().unwrap_or(default_filter).contains('/');
    let mut builder = env_filter::Builder::new();
    let mut bad_spec = None;
    let filter = match spec {
        Some(spec) => match builder.try_parse(&spec) {
            Ok(builder) => builder.build(),
            Err(e) => {
                bad_spec = Some(format!("RUST_LOG={spec:?} is not a valid filter ({e})"));
                env_filter::Builder::new().parse(default_filter).build()
            }
        },
        None => builder.parse(default_filter).build(),
    };
    let sink = Arc::new(Sink::default());
    let max_level = filter.filter();
    log::set_boxed_logger(Box::new(Logger {
        filter,
        sink: sink.clone(),
    }))?;
    log::set_max_level(max_level);
    if !filters_messages {
        let _ = INSTALLED_SINK.set(sink.clone());
    }
    std::panic::set_hook(Box::new(log_panic));
    let writer = {
        let sink = sink.clone();
        std::thread::Builder::new()
            .name("greenws-log".into())
            .spawn(move || sink.write_out(&mut std::io::stderr()))
    };
    if let Err(e) = writer {
        // Without a writer nothing would ever be written: say so the only
        // way left, once, from this (non-worker) thread.
        eprintln!("greenws: cannot start the log writer thread ({e}); logging is off");
        log::set_max_level(log::LevelFilter::Off);
    }
    if let Some(message) = bad_spec {
        log::warn!("{message}; using {default_filter:?}");
    }
    Ok(LogGuard { sink })
}

/// Appends an access line (without its newline; `line` gets one) to the
/// buffer of this module's logger, skipping the `log` crate's formatting;
/// false if another logger is installed, or if the filter has a `/pattern`
/// (which only the `log` path applies). The caller has checked that the
/// filter lets access lines through.
pub(crate) fn push_access_line(line: &mut String) -> bool {
    let Some(sink) = INSTALLED_SINK.get() else {
        return false;
    };
    line.push('\n');
    sink.push(line.as_bytes());
    true
}

/// Writes out the buffered records when dropped (see [`init`]).
#[must_use = "the guard writes out the buffered records when dropped: keep it until main ends"]
pub struct LogGuard {
    sink: Arc<Sink>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.sink.flush(FLUSH_WAIT);
    }
}

struct Logger {
    filter: env_filter::Filter,
    sink: Arc<Sink>,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.filter.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.filter.matches(record) {
            return;
        }
        with_scratch(|line| {
            if record.target() == access_log::TARGET {
                let _ = writeln!(line, "{}", record.args());
            } else {
                let at = access_log::log_time(SystemTime::now());
                let _ = writeln!(
                    line,
                    "[{}T{}Z {:<5} {}] {}",
                    at.date(),
                    at.time(),
                    record.level(),
                    record.target(),
                    record.args()
                );
            }
            self.sink.push(line);
        });
    }

    fn flush(&self) {
        self.sink.flush(FLUSH_WAIT);
    }
}

/// Runs `f` with an empty line buffer of this thread (a fresh one if the
/// thread's is in use: a `Display` that logs while being formatted).
fn with_scratch(f: impl FnOnce(&mut Vec<u8>)) {
    thread_local! {
        static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut line) => {
            line.clear();
            f(&mut line);
            if line.capacity() > 64 * 1024 {
                *line = Vec::new();
            }
        }
        Err(_) => f(&mut Vec::new()),
    })
}

/// The panic hook: the default hook's report, through the logger.
fn log_panic(info: &std::panic::PanicHookInfo<'_>) {
    let thread = std::thread::current();
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("Box<dyn Any>");
    let location = info
        .location()
        .map_or_else(String::new, |l| format!(" at {l}"));
    let backtrace = std::backtrace::Backtrace::capture();
    let backtrace = match backtrace.status() {
        std::backtrace::BacktraceStatus::Captured => format!("\n{backtrace}"),
        _ => String::new(),
    };
    log::error!(
        target: "panic",
        "thread '{}' panicked{location}:\n{message}{backtrace}",
        thread.name().unwrap_or("<unnamed>")
    );
}

/// The buffer between the threads that log and the writer thread.
struct Sink {
    /// [`GATHER`], but for tests.
    gather: Duration,
    state: Mutex<State>,
    /// Signalled when the buffer stops being empty, or a flush is asked.
    wake_writer: Condvar,
    /// Signalled when the writer has written everything it was given.
    drained: Condvar,
}

impl Default for Sink {
    fn default() -> Self {
        Sink {
            gather: GATHER,
            state: Mutex::default(),
            wake_writer: Condvar::new(),
            drained: Condvar::new(),
        }
    }
}

#[derive(Default)]
struct State {
    buffer: Vec<u8>,
    /// Records dropped since the last report.
    unreported: u64,
    /// The writer holds records it has not finished writing.
    writing: bool,
    /// A flush waits: write without gathering.
    flush_asked: bool,
}

impl Sink {
    /// Appends one formatted record, or drops it if the buffer is full.
    /// Never waits for the writer: the lock is held for a copy only.
    fn push(&self, line: &[u8]) {
        let mut state = self.state.lock();
        if state.buffer.len() + line.len() > BUFFER_BYTES {
            state.unreported += 1;
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let before = state.buffer.len();
        state.buffer.extend_from_slice(line);
        let crossed_early_mark =
            before < WRITE_EARLY_BYTES && state.buffer.len() >= WRITE_EARLY_BYTES;
        drop(state);
        if before == 0 || crossed_early_mark {
            self.wake_writer.notify_one();
        }
    }

    /// The writer thread: waits for records, lets more gather, writes them
    /// in one go, and reports drops once the output takes writes again.
    fn write_out(&self, out: &mut dyn Write) {
        let mut batch = Vec::new();
        loop {
            let mut state = self.state.lock();
            while state.buffer.is_empty() && state.unreported == 0 {
                state.writing = false;
                state.flush_asked = false;
                self.drained.notify_all();
                self.wake_writer.wait(&mut state);
            }
            state.writing = true;
            if !state.flush_asked && state.buffer.len() < WRITE_EARLY_BYTES {
                // While the buffer is not empty, only a flush or the early
                // mark notifies, so this waits the whole time otherwise.
                self.wake_writer.wait_for(&mut state, self.gather);
            }
            std::mem::swap(&mut state.buffer, &mut batch);
            let dropped = std::mem::take(&mut state.unreported);
            drop(state);
            // A failing output (closed stderr) loses the records; there is
            // nowhere else to say so.
            let _ = out.write_all(&batch);
            if dropped > 0 {
                let at = access_log::log_time(SystemTime::now());
                let _ = writeln!(
                    out,
                    "[{}T{}Z WARN  greenws::logging] {dropped} log line(s) dropped: \
                     the log output did not keep up",
                    at.date(),
                    at.time()
                );
            }
            let _ = out.flush();
            batch.clear();
            if batch.capacity() > BUFFER_BYTES {
                batch.shrink_to(BUFFER_BYTES);
            }
        }
    }

    /// Waits (at most `wait`) until everything logged so far is written.
    fn flush(&self, wait: Duration) {
        let deadline = Instant::now() + wait;
        let mut state = self.state.lock();
        state.flush_asked = true;
        self.wake_writer.notify_one();
        while !state.buffer.is_empty() || state.writing {
            if self.drained.wait_until(&mut state, deadline).timed_out() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// An output that blocks until released, then records what it got.
    struct Stuck {
        release: mpsc::Receiver<()>,
        written: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Stuck {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            let _ = self.release.recv();
            self.written.lock().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// An output that hands each write to the test.
    struct Channel(mpsc::Sender<Vec<u8>>);

    impl Write for Channel {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.send(data.to_vec());
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_fast_stream_of_records_is_written_before_the_gathering_time_is_over() {
        let sink = Arc::new(Sink {
            gather: Duration::from_secs(3600),
            ..Sink::default()
        });
        let (writes, written) = mpsc::channel();
        {
            let sink = sink.clone();
            std::thread::spawn(move || sink.write_out(&mut Channel(writes)));
        }
        let line = [b'y'; 1023]
            .iter()
            .chain(b"\n")
            .copied()
            .collect::<Vec<_>>();
        // The last of these pushes crosses the early mark (a push after
        // it would wait for the next one, an hour away).
        let lines = WRITE_EARLY_BYTES.div_ceil(line.len());
        for _ in 0..lines {
            sink.push(&line);
        }
        // Only the early mark can have woken the writer within the hour.
        let mut got = 0;
        while got < lines * line.len() {
            got += written
                .recv_timeout(Duration::from_secs(60))
                .expect("a write before the gathering time is over")
                .len();
        }
        assert_eq!(got, lines * line.len());
    }

    #[test]
    fn a_stuck_output_drops_and_counts_then_reports_once_drained() {
        let sink = Arc::new(Sink::default());
        let (release, released) = mpsc::channel();
        let written = Arc::new(Mutex::new(Vec::new()));
        {
            let sink = sink.clone();
            let mut out = Stuck {
                release: released,
                written: written.clone(),
            };
            std::thread::spawn(move || sink.write_out(&mut out));
        }
        let line = [b'x'; 1023]
            .iter()
            .chain(b"\n")
            .copied()
            .collect::<Vec<_>>();
        // The writer takes the first record and blocks writing it; the
        // buffer then fills, and the rest is dropped without waiting.
        sink.push(&line);
        while !sink.state.lock().writing || !sink.state.lock().buffer.is_empty() {
            std::thread::yield_now();
        }
        let dropped_before = dropped_lines();
        for _ in 0..BUFFER_BYTES / line.len() + 10 {
            sink.push(&line);
        }
        assert_eq!(sink.state.lock().unreported, 10);
        assert!(dropped_lines() >= dropped_before + 10);

        for _ in 0..1000 {
            let _ = release.send(());
        }
        sink.flush(Duration::from_secs(10));
        let written = String::from_utf8(written.lock().clone()).unwrap();
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(
            lines.len(),
            1 + BUFFER_BYTES / line.len() + 1,
            "all kept records and the report"
        );
        assert!(
            lines.last().unwrap().ends_with(
                "WARN  greenws::logging] 10 log line(s) dropped: the log output did not keep up"
            ),
            "{}",
            lines.last().unwrap()
        );
    }
}
