//! The open connections, so that a graceful stop can end those that wait
//! idle and tell a protocol that took a connection over (through its stop
//! hook) to finish. The registry never names that protocol.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use green::net::DuplexStream;
use parking_lot::Mutex;

/// The open connections, so that a stop can wake those that wait idle.
#[derive(Default)]
pub(crate) struct Registry {
    conns: Mutex<HashMap<u64, Arc<ConnEntry>>>,
    next_id: AtomicU64,
}

/// What a stop does for a connection another protocol took over.
pub(crate) type StopHook = Arc<dyn Fn() + Send + Sync>;

/// One open connection as the registry sees it.
pub(crate) struct ConnEntry {
    /// The connection's socket, without keeping it open: a stop that finds
    /// it still alive holds it while shutting it down, so it never acts on
    /// a descriptor number that was closed and given to another socket.
    socket: Weak<DuplexStream>,
    idle: AtomicBool,
    /// What a stop does for a connection handed over after a 101 (see
    /// [`Upgraded::on_stop`](super::upgrade::Upgraded::on_stop)), or that
    /// the stop has come.
    stop_hook: Mutex<StopState>,
}

/// A connection's side of a stop: the hook runs exactly once, whether the
/// stop comes before the hook is set (the 101 went out while the stop
/// walked the registry) or after.
enum StopState {
    Running(Option<StopHook>),
    Stopped,
}

impl ConnEntry {
    /// Marks the connection as waiting for a request (true) or busy with
    /// one (false).
    pub(crate) fn set_idle(&self, idle: bool) {
        self.idle.store(idle, Ordering::SeqCst);
    }

    /// Sets what a stop does for this connection; runs it at once if the
    /// stop has already come.
    pub(crate) fn set_stop_hook(&self, hook: StopHook) {
        let mut state = self.stop_hook.lock();
        match &mut *state {
            StopState::Running(slot) => *slot = Some(hook),
            StopState::Stopped => {
                drop(state);
                hook();
            }
        }
    }

    /// Marks the stop as come; gives the hook to run, if one was set.
    fn take_stop_hook(&self) -> Option<StopHook> {
        match std::mem::replace(&mut *self.stop_hook.lock(), StopState::Stopped) {
            StopState::Running(hook) => hook,
            StopState::Stopped => None,
        }
    }

    /// Drops the hook (and what it holds) once the connection has ended.
    fn clear_stop_hook(&self) {
        let mut state = self.stop_hook.lock();
        if let StopState::Running(slot) = &mut *state {
            *slot = None;
        }
    }
}

/// Keeps a connection registered; dropping it unregisters.
pub(crate) struct Registration<'a> {
    registry: &'a Registry,
    id: u64,
    pub(crate) entry: Arc<ConnEntry>,
}

impl Registry {
    pub(crate) fn register(&self, socket: &Arc<DuplexStream>) -> Registration<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(ConnEntry {
            socket: Arc::downgrade(socket),
            idle: AtomicBool::new(true),
            stop_hook: Mutex::new(StopState::Running(None)),
        });
        self.conns.lock().insert(id, entry.clone());
        Registration {
            registry: self,
            id,
            entry,
        }
    }

    /// Shuts the read side of every idle connection, which ends its wait,
    /// and runs the stop hook of every connection handed over after a 101
    /// (the WebSocket layer's closes with 1001). A connection whose hook
    /// is set later (its 101 was on the way) runs it then.
    pub(super) fn wake_idle(&self) {
        for entry in self.conns.lock().values() {
            if let Some(hook) = entry.take_stop_hook() {
                hook();
            } else if entry.idle.load(Ordering::SeqCst) {
                if let Some(socket) = entry.socket.upgrade() {
                    let _ = socket.shutdown(std::net::Shutdown::Read);
                }
            }
        }
    }

    pub(super) fn len(&self) -> usize {
        self.conns.lock().len()
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.registry.conns.lock().remove(&self.id);
        self.entry.clear_stop_hook();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn entry() -> ConnEntry {
        ConnEntry {
            socket: Weak::new(),
            idle: AtomicBool::new(false),
            stop_hook: Mutex::new(StopState::Running(None)),
        }
    }

    fn counting_hook(runs: &Arc<AtomicUsize>) -> StopHook {
        let runs = runs.clone();
        Arc::new(move || {
            runs.fetch_add(1, Ordering::SeqCst);
        })
    }

    #[test]
    fn a_hook_set_before_the_stop_runs_when_it_comes() {
        let runs = Arc::new(AtomicUsize::new(0));
        let entry = entry();
        entry.set_stop_hook(counting_hook(&runs));
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        entry.take_stop_hook().expect("the hook")();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(entry.take_stop_hook().is_none(), "it runs once");
    }

    /// The 101 went out while the stop walked the registry: the hook set
    /// after it still runs (the WebSocket gets its 1001).
    #[test]
    fn a_hook_set_after_the_stop_runs_at_once() {
        let runs = Arc::new(AtomicUsize::new(0));
        let entry = entry();
        assert!(entry.take_stop_hook().is_none());
        entry.set_stop_hook(counting_hook(&runs));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(entry.take_stop_hook().is_none(), "it runs once");
    }

    #[test]
    fn an_ended_connection_drops_its_hook() {
        let runs = Arc::new(AtomicUsize::new(0));
        let entry = entry();
        entry.set_stop_hook(counting_hook(&runs));
        entry.clear_stop_hook();
        assert!(entry.take_stop_hook().is_none());
        assert_eq!(Arc::strong_count(&runs), 1, "the hook is gone");
    }
}
