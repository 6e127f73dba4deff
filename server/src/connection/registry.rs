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
    /// [`Upgraded::on_stop`](super::upgrade::Upgraded::on_stop)).
    stop_hook: Mutex<Option<StopHook>>,
}

impl ConnEntry {
    /// Marks the connection as waiting for a request (true) or busy with
    /// one (false).
    pub(crate) fn set_idle(&self, idle: bool) {
        self.idle.store(idle, Ordering::SeqCst);
    }

    pub(crate) fn set_stop_hook(&self, hook: Option<StopHook>) {
        *self.stop_hook.lock() = hook;
    }

    fn stop_hook(&self) -> Option<StopHook> {
        self.stop_hook.lock().clone()
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
            stop_hook: Mutex::new(None),
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
    /// (the WebSocket layer's closes with 1001).
    pub(super) fn wake_idle(&self) {
        for entry in self.conns.lock().values() {
            if let Some(hook) = entry.stop_hook() {
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
        self.entry.set_stop_hook(None);
    }
}
