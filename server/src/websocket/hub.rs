//! `Hub`: broadcast to many WebSockets without one slow client holding up
//! the others.
//!
//! How it is built: the hub keeps its members in one map. Each member has
//! an [`Outbox`], a bounded queue and the greenlet that sends from it, so a
//! broadcast only puts a shared, encoded-once message in every queue and
//! never waits for a socket. Members leave by [`Hub::leave`], when their
//! connection closes (a close hook on the socket), when their queue
//! overflows, or when the hub is dropped; each way ends the outbox's
//! greenlet. Rooms are a set of names per member that `broadcast_to`
//! filters on.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::{Message, PreparedMessage, WebSocket};

/// Member ids are unique in the process, not only in their hub: they are
/// also the keys of the close hooks they add to sockets, which any number
/// of hubs may share.
static NEXT_MEMBER: AtomicU64 = AtomicU64::new(1);

/// A member of a [`Hub`], as [`Hub::join`] returns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemberId(u64);

/// What an outbox's greenlet takes from its queue.
enum Delivery {
    Message(PreparedMessage),
    /// Everything queued before this was sent: end.
    Stop,
}

/// A member's queue and the greenlet that sends from it.
///
/// The queue has one slot more than `capacity` messages, for the `Stop`:
/// messages are only offered while the member is in the hub's map (under
/// its lock), and `Stop` only once it is out, so `Stop` always fits.
struct Outbox {
    queue: green::Queue<Delivery>,
    capacity: usize,
}

impl Outbox {
    /// Starts the greenlet that sends what is queued to `ws`, in order,
    /// until `Stop` or a failed send (the connection is going).
    fn start(ws: WebSocket, capacity: usize) -> Outbox {
        let queue = green::Queue::bounded(capacity + 1);
        let source = queue.clone();
        green::spawn(move || {
            while let Delivery::Message(message) = source.get() {
                if ws.send_prepared(&message).is_err() {
                    break;
                }
            }
        });
        Outbox { queue, capacity }
    }

    /// Queues a message; false when `capacity` messages wait already.
    fn offer(&self, message: &PreparedMessage) -> bool {
        self.queue.len() < self.capacity
            && self
                .queue
                .try_put(Delivery::Message(message.clone()))
                .is_ok()
    }

    /// The greenlet sends what is queued, then ends.
    fn finish(&self) {
        let _ = self.queue.try_put(Delivery::Stop);
    }

    /// The greenlet ends after the message it is sending: what is queued
    /// is dropped.
    fn abandon(&self) {
        while self.queue.try_get().is_some() {}
        self.finish();
    }
}

struct Member {
    ws: WebSocket,
    outbox: Outbox,
    rooms: HashSet<String>,
}

struct Inner {
    members: Mutex<HashMap<MemberId, Member>>,
    capacity: usize,
    overflowed: AtomicU64,
}

impl Inner {
    /// Takes a member out: its socket forgets the hub's close hook, and
    /// its outbox sends what was queued, then ends.
    fn remove(&self, id: MemberId) -> Option<Member> {
        let member = self.members.lock().remove(&id)?;
        member.ws.forget_close_hook(id.0);
        member.outbox.finish();
        Some(member)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for (id, member) in self.members.get_mut().drain() {
            member.ws.forget_close_hook(id.0);
            member.outbox.finish();
        }
    }
}

/// A set of WebSockets to broadcast to, all of them or a room.
///
/// Every member has its own bounded queue and a greenlet that sends from
/// it, so a broadcast never waits for a slow client. A member whose queue
/// overflows (it stopped reading) is removed, its queue dropped, and it is
/// closed with **1013 (Try Again Later)** and counted in
/// [`overflowed`](Hub::overflowed).
///
/// A member leaves when its connection closes, or by [`leave`](Hub::leave)
/// (its socket stays open); either way the greenlet that sent for it ends,
/// as do all of them when the last clone of the hub is dropped. What a
/// broadcast queued for a member that leaves, or for every member of a hub
/// that is dropped, is still sent.
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
                overflowed: AtomicU64::new(0),
            }),
        }
    }

    /// Adds a socket; broadcasts reach it from now on, until it leaves or
    /// its connection closes. A socket that is closed already is not
    /// added (the id is of no member).
    pub fn join(&self, ws: &WebSocket) -> MemberId {
        let id = MemberId(NEXT_MEMBER.fetch_add(1, Ordering::Relaxed));
        let member = Member {
            ws: ws.clone(),
            outbox: Outbox::start(ws.clone(), self.inner.capacity),
            rooms: HashSet::new(),
        };
        self.inner.members.lock().insert(id, member);
        // Added after the member is in: a close in between runs the hook
        // (which finds the member), or makes `on_close` refuse.
        let hub = Arc::downgrade(&self.inner);
        if !ws.on_close(id.0, move || leave_closed(&hub, id)) {
            self.inner.remove(id);
        }
        id
    }

    /// Removes a member; what was queued for it is still sent, and its
    /// socket stays open.
    pub fn leave(&self, id: MemberId) {
        self.inner.remove(id);
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

    /// Queues a message for every member; gives how many it was queued
    /// for. Each of them is sent it, after what was queued before, unless
    /// its connection closes first or it overflows later (members whose
    /// connection is closing are skipped and not counted).
    pub fn broadcast(&self, message: impl Into<Message>) -> usize {
        self.deliver(None, PreparedMessage::new(message))
    }

    /// Queues a message for the members in `room`, as
    /// [`broadcast`](Self::broadcast).
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
                if room.is_some_and(|r| !member.rooms.contains(r)) || member.ws.closing() {
                    continue;
                }
                if member.outbox.offer(&message) {
                    queued += 1;
                } else {
                    overflowing.push(*id);
                }
            }
        }
        for id in overflowing {
            self.drop_overflowed(id);
        }
        queued
    }

    /// Removes a member that stopped reading: drops its queue and closes
    /// it with 1013.
    fn drop_overflowed(&self, id: MemberId) {
        let Some(member) = self.inner.members.lock().remove(&id) else {
            return;
        };
        self.inner.overflowed.fetch_add(1, Ordering::Relaxed);
        log::warn!(
            "hub: {} stopped reading ({} messages waiting); closing it with 1013",
            member.ws.peer_addr(),
            self.inner.capacity
        );
        member.ws.forget_close_hook(id.0);
        member.outbox.abandon();
        let ws = member.ws;
        green::spawn(move || {
            let _ = ws.close(1013, "too slow: messages could not be delivered");
        });
    }
}

/// The close hook of a member: it leaves the hub, if the hub still exists.
fn leave_closed(hub: &Weak<Inner>, id: MemberId) {
    if let Some(inner) = hub.upgrade() {
        inner.remove(id);
    }
}
