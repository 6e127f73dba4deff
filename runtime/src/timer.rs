//! One background OS thread that runs short actions at deadlines: the clock
//! behind [`with_timeout`](crate::with_timeout).
//!
//! Entries live in a binary heap. Cancelling only marks an entry; dead
//! entries are dropped when they reach the top, and the heap is compacted
//! when they outnumber the live ones, so a stream of short-lived long
//! timeouts does not pile up.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Instant;

type Action = Box<dyn FnOnce() + Send>;

struct Entry {
    at: Instant,
    seq: u64,
    cancelled: Arc<AtomicBool>,
    action: Action,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    // Reversed: the earliest deadline is the greatest, so the max-heap pops it first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.at.cmp(&self.at).then(other.seq.cmp(&self.seq))
    }
}

struct State {
    heap: BinaryHeap<Entry>,
    next_seq: u64,
}

struct Timer {
    state: Mutex<State>,
    wake: Condvar,
    cancelled: AtomicUsize,
}

/// Cancels its entry when told to; dropping it leaves the entry armed.
pub(crate) struct TimerHandle {
    cancelled: Arc<AtomicBool>,
}

impl TimerHandle {
    pub(crate) fn cancel(&self) {
        if !self.cancelled.swap(true, Ordering::AcqRel) {
            timer().cancelled.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            state: Mutex::new(State {
                heap: BinaryHeap::new(),
                next_seq: 0,
            }),
            wake: Condvar::new(),
            cancelled: AtomicUsize::new(0),
        }));
        std::thread::Builder::new()
            .name("green-timer".into())
            .spawn(move || timer.run())
            .expect("cannot start the green-timer thread");
        timer
    })
}

/// Runs `action` on the timer thread at `at`, unless cancelled first. The
/// action must be short and must not block.
pub(crate) fn schedule(at: Instant, action: impl FnOnce() + Send + 'static) -> TimerHandle {
    let timer = timer();
    let cancelled = Arc::new(AtomicBool::new(false));
    let mut state = timer.state.lock().unwrap_or_else(|e| e.into_inner());
    let seq = state.next_seq;
    state.next_seq += 1;
    let earliest = state.heap.peek().is_none_or(|top| at < top.at);
    state.heap.push(Entry {
        at,
        seq,
        cancelled: cancelled.clone(),
        action: Box::new(action),
    });
    let dead = timer.cancelled.load(Ordering::Relaxed);
    if dead > 1024 && dead * 2 > state.heap.len() {
        let entries = std::mem::take(&mut state.heap).into_vec();
        state.heap = entries
            .into_iter()
            .filter(|e| !e.cancelled.load(Ordering::Acquire))
            .collect();
        timer.cancelled.store(0, Ordering::Relaxed);
    }
    drop(state);
    if earliest {
        timer.wake.notify_one();
    }
    TimerHandle { cancelled }
}

impl Timer {
    fn run(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let now = Instant::now();
            match state.heap.peek() {
                None => {
                    state = self.wake.wait(state).unwrap_or_else(|e| e.into_inner());
                }
                Some(top) if top.cancelled.load(Ordering::Acquire) => {
                    state.heap.pop();
                    let _ =
                        self.cancelled
                            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                                n.checked_sub(1)
                            });
                }
                Some(top) if top.at <= now => {
                    let entry = state.heap.pop().expect("peeked");
                    drop(state);
                    if !entry.cancelled.swap(true, Ordering::AcqRel) {
                        (entry.action)();
                    }
                    state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                }
                Some(top) => {
                    let wait = top.at - now;
                    state = self
                        .wake
                        .wait_timeout(state, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }
}
