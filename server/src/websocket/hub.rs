//! `Hub`: broadcast to many WebSockets without one slow client holding up
//! the others.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{Message, PreparedMessage, WebSocket};

/// A member of a [`Hub`], as [`Hub::join`] returns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemberId(u64);

struct Member {
    ws: WebSocket,
    queue: green::Queue<PreparedMessage>,
    rooms: HashSet<String>,
    leaving: Arc<AtomicBool>,
}

struct Inner {
    members: Mutex<HashMap<MemberId, Member>>,
    capacity: usize,
    next_id: AtomicU64,
    overflowed: AtomicU64,
}

/// A set of WebSockets to broadcast to, all of them or a room.
///
/// Every member has its own bounded queue and a greenlet that sends from
/// it, so a broadcast never waits for a slow client. A member whose queue
/// overflows (it stopped reading) is removed and closed with **1013 (Try
/// Again Later)**, and counted in [`overflowed`](Hub::overflowed).
///
/// ```
/// let hub = greenws::Hub::new(64);
/// assert_eq!(hub.broadcast("nobody hears this"), 0);
/// ```
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("members", &self.len())
            .field("overflowed", &self.overflowed())
            .finish()
    }
}

impl Hub {
    /// A hub whose members may each have up to `queue_capacity` messages
    /// waiting to be sent.
    pub fn new(queue_capacity: usize) -> Self {
        Hub {
            inner: Arc::new(Inner {
                members: Mutex::new(HashMap::new()),
                capacity: queue_capacity.max(1),
                next_id: AtomicU64::new(1),
                overflowed: AtomicU64::new(0),
            }),
        }
    }

    /// Adds a socket; broadcasts reach it from now on.
    pub fn join(&self, ws: &WebSocket) -> MemberId {
        let id = MemberId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let queue = green::Queue::bounded(self.inner.capacity);
        let leaving = Arc::new(AtomicBool::new(false));
        {
            let (ws, queue, leaving) = (ws.clone(), queue.clone(), leaving.clone());
            green::spawn(move || {
                while !leaving.load(Ordering::Acquire) {
                    let message: PreparedMessage = queue.get();
                    if leaving.load(Ordering::Acquire) || ws.send_prepared(&message).is_err() {
                        break;
                    }
                }
            });
        }
        self.inner.members.lock().insert(
            id,
            Member {
                ws: ws.clone(),
                queue,
                rooms: HashSet::new(),
                leaving,
            },
        );
        id
    }

    /// Removes a member (its socket stays open).
    pub fn leave(&self, id: MemberId) {
        if let Some(member) = self.inner.members.lock().remove(&id) {
            stop(&member);
        }
    }

    /// Puts a member in a room (it stays in the others).
    pub fn join_room(&self, id: MemberId, room: &str) {
        if let Some(member) = self.inner.members.lock().get_mut(&id) {
            member.rooms.insert(room.to_owned());
        }
    }

    /// Takes a member out of a room.
    pub fn leave_room(&self, id: MemberId, room: &str) {
        if let Some(member) = self.inner.members.lock().get_mut(&id) {
            member.rooms.remove(room);
        }
    }

    /// Sends a message to every member; gives how many it was queued for.
    pub fn broadcast(&self, message: impl Into<Message>) -> usize {
        self.deliver(None, PreparedMessage::new(message))
    }

    /// Sends a message to the members in `room`.
    pub fn broadcast_to(&self, room: &str, message: impl Into<Message>) -> usize {
        self.deliver(Some(room), PreparedMessage::new(message))
    }

    /// Members now.
    pub fn len(&self) -> usize {
        self.inner.members.lock().len()
    }

    /// True without members.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Members removed so far because their queue overflowed.
    pub fn overflowed(&self) -> u64 {
        self.inner.overflowed.load(Ordering::Relaxed)
    }

    fn deliver(&self, room: Option<&str>, message: PreparedMessage) -> usize {
        let mut queued = 0;
        let mut overflowing = Vec::new();
        {
            let members = self.inner.members.lock();
            for (id, member) in members.iter() {
                if room.is_some_and(|r| !member.rooms.contains(r)) {
                    continue;
                }
                match member.queue.try_put(message.clone()) {
                    Ok(()) => queued += 1,
                    Err(_) => overflowing.push(*id),
                }
            }
        }
        for id in overflowing {
            if let Some(member) = self.inner.members.lock().remove(&id) {
                self.inner.overflowed.fetch_add(1, Ordering::Relaxed);
                log::warn!(
                    "hub: {} stopped reading ({} messages waiting); closing it with 1013",
                    member.ws.peer_addr(),
                    self.inner.capacity
                );
                stop(&member);
                let ws = member.ws.clone();
                green::spawn(move || {
                    let _ = ws.close(1013, "too slow: messages could not be delivered");
                });
            }
        }
        queued
    }
}

/// Stops a member's sending greenlet once it has sent what it holds.
fn stop(member: &Member) {
    member.leaving.store(true, Ordering::Release);
    // Wake it if it waits for a message; a full queue means it is busy
    // sending and will see the flag afterwards.
    let _ = member.queue.try_put(PreparedMessage::new(Vec::<u8>::new()));
}
