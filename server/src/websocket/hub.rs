//! `Hub`: broadcast to many WebSockets without one slow client holding up
//! the others, on one instance or across several through Redis.
//!
//! How it is built: the hub keeps its members in one map. Each member has
//! an [`Outbox`], a bounded queue and the greenlet that sends from it, so a
//! broadcast only puts a shared, encoded-once message in every queue and
//! never waits for a socket. Members leave by [`Hub::leave`], when their
//! connection closes (a close hook on the socket), when their queue
//! overflows, or when the hub is dropped; each way ends the outbox's
//! greenlet. Rooms are a set of names per member that `broadcast_to`
//! filters on, with a count of members per room.
//!
//! A broker ([`super::broker`]) carries broadcasts to other instances: the
//! hub tells it when a room gets its first member and loses its last (so
//! it subscribes to the rooms this instance has members for, and only
//! those), gives it every broadcast, and delivers what it brings back from
//! the others to its own members.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::broker::{Broker, BrokerStats, LocalBroker, RedisBroker, RedisSettings, Topic};
use super::{PreparedMessage, WebSocket};
use crate::proto::websocket::Message;
use crate::Error;

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

/// How much may wait for each member: messages, and their bytes.
#[derive(Clone, Copy)]
struct QueueBounds {
    messages: usize,
    bytes: usize,
}

/// A member's queue and the greenlet that sends from it.
///
/// The queue has one slot more than `capacity` messages, for the `Stop`:
/// messages are only offered while the member is in the hub's map (under
/// its lock), and `Stop` only once it is out, so `Stop` always fits.
struct Outbox {
    queue: green::Queue<Delivery>,
    bounds: QueueBounds,
    /// Bytes of the messages in the queue (not of the one being sent).
    queued_bytes: Arc<AtomicUsize>,
}

impl Outbox {
    /// Starts the greenlet that sends what is queued to `ws`, in order,
    /// until `Stop` or a failed send (the connection is going).
    fn start(ws: WebSocket, bounds: QueueBounds) -> Outbox {
        let queue = green::Queue::bounded(bounds.messages + 1);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let (source, taken) = (queue.clone(), queued_bytes.clone());
        green::spawn(move || {
            while let Delivery::Message(message) = source.get() {
                taken.fetch_sub(message.size(), Ordering::SeqCst);
                if ws.send_prepared(&message).is_err() {
                    break;
                }
            }
        });
        Outbox {
            queue,
            bounds,
            queued_bytes,
        }
    }

    /// Queues a message; false when the queue is full: `capacity`
    /// messages wait already, or the message would take the bytes waiting
    /// past their bound (a message larger than the bound is taken only
    /// when nothing waits).
    fn offer(&self, message: &PreparedMessage) -> bool {
        let size = message.size();
        let waiting = self.queued_bytes.load(Ordering::SeqCst);
        if self.queue.len() >= self.bounds.messages
            || (waiting > 0 && waiting.saturating_add(size) > self.bounds.bytes)
        {
            return false;
        }
        self.queued_bytes.fetch_add(size, Ordering::SeqCst);
        if self
            .queue
            .try_put(Delivery::Message(message.clone()))
            .is_err()
        {
            self.queued_bytes.fetch_sub(size, Ordering::SeqCst);
            return false;
        }
        true
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

/// The members, and how many of them each room has: the broker is asked
/// for a room's broadcasts while its count is above zero, and for the
/// broadcasts to all while there is any member.
#[derive(Default)]
struct Members {
    by_id: HashMap<MemberId, Member>,
    rooms: HashMap<String, usize>,
}

struct Inner {
    members: Mutex<Members>,
    bounds: QueueBounds,
    overflowed: AtomicU64,
    broker: Box<dyn Broker>,
}

impl Inner {
    fn new(bounds: QueueBounds, broker: Box<dyn Broker>) -> Self {
        Inner {
            members: Mutex::new(Members::default()),
            bounds: QueueBounds {
                messages: bounds.messages.max(1),
                bytes: bounds.bytes,
            },
            overflowed: AtomicU64::new(0),
            broker,
        }
    }

    /// Takes a member out of the map and of its rooms; the broker hears of
    /// rooms (and a hub) left empty.
    fn take(&self, members: &mut Members, id: MemberId) -> Option<Member> {
        let member = members.by_id.remove(&id)?;
        for room in &member.rooms {
            self.room_left(&mut members.rooms, room);
        }
        if members.by_id.is_empty() {
            self.broker.unsubscribe(&Topic::All);
        }
        Some(member)
    }

    /// One member fewer in `room`.
    fn room_left(&self, rooms: &mut HashMap<String, usize>, room: &str) {
        let Some(count) = rooms.get_mut(room) else {
            return;
        };
        *count -= 1;
        if *count == 0 {
            rooms.remove(room);
            self.broker.unsubscribe(&Topic::Room(room.to_owned()));
        }
    }

    /// Takes a member out: its socket forgets the hub's close hook, and
    /// its outbox sends what was queued, then ends.
    fn remove(&self, id: MemberId) -> Option<Member> {
        let member = self.take(&mut self.members.lock(), id)?;
        member.ws.forget_close_hook(id.0);
        member.outbox.finish();
        Some(member)
    }

    /// Queues a message for this instance's members (all, or those of a
    /// room); gives how many it was queued for.
    fn deliver(&self, topic: &Topic, message: &PreparedMessage) -> usize {
        let room = match topic {
            Topic::All => None,
            Topic::Room(room) => Some(room.as_str()),
        };
        let mut queued = 0;
        let mut overflowing = Vec::new();
        {
            let members = self.members.lock();
            for (id, member) in members.by_id.iter() {
                if room.is_some_and(|r| !member.rooms.contains(r)) || member.ws.closing() {
                    continue;
                }
                if member.outbox.offer(message) {
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
        let Some(member) = self.take(&mut self.members.lock(), id) else {
            return;
        };
        self.overflowed.fetch_add(1, Ordering::Relaxed);
        if let Some(metrics) = crate::metrics::enabled() {
            metrics.hub_overflows.inc();
        }
        log::warn!(
            "hub: {} stopped reading ({} messages of {} bytes waiting); closing it with 1013",
            member.ws.peer_addr(),
            member.outbox.queue.len(),
            member.outbox.queued_bytes.load(Ordering::SeqCst)
        );
        member.ws.forget_close_hook(id.0);
        member.outbox.abandon();
        let ws = member.ws;
        green::spawn(move || {
            let _ = ws.close(1013, "too slow: messages could not be delivered");
        });
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for (id, member) in self.members.get_mut().by_id.drain() {
            member.ws.forget_close_hook(id.0);
            member.outbox.finish();
        }
    }
}

/// A set of WebSockets to broadcast to, all of them or a room, on one
/// instance or on several.
///
/// Every member has its own queue and a greenlet that sends from it, so a
/// broadcast never waits for a slow client. The queue is bounded in
/// messages and in bytes ([`HubBuilder::capacity`],
/// [`HubBuilder::capacity_bytes`]: 16 MiB by default), so a member that
/// stops reading holds at most that much, however large the broadcasts.
/// A member whose queue overflows is removed, its queue dropped, and it
/// is closed with **1013 (Try Again Later)** and counted in
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
///
/// ## Several instances
///
/// Built with a Redis URL, the hub shares its rooms with every instance
/// that uses the same Redis and prefix: a broadcast reaches the members of
/// all of them, each once, in the order its instance published it. See
/// [`HubBuilder::redis`] for how it uses Redis and what happens when Redis
/// is away.
///
/// Delivery across instances is **at most once**, as Redis pub/sub is:
/// Redis keeps nothing, so a broadcast published while an instance is
/// disconnected (Redis restarting, a network fault) never reaches that
/// instance's members, and one the hub could not publish reaches only its
/// own. [`broker_stats`](Hub::broker_stats) counts what was lost. An
/// application that must not lose messages needs more than pub/sub: Redis
/// Streams (`XADD`, and `XREAD` from the last id each instance saw), or
/// its own sequence numbers in the messages and a way for a client to ask
/// for what it missed (a replay from a database or a bounded history).
///
/// ```no_run
/// let hub = greenws::Hub::builder()
///     .capacity(256)
///     .redis("redis://127.0.0.1:6379/")
///     .prefix("chat:")
///     .build()?;
/// # Ok::<(), greenws::Error>(())
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
            .field("broker", &self.broker_stats())
            .finish()
    }
}

impl Hub {
    /// A hub of this instance alone, whose members may each have up to
    /// `queue_capacity` messages waiting to be sent, of at most 16 MiB in
    /// all (see [`HubBuilder::capacity_bytes`]).
    pub fn new(queue_capacity: usize) -> Self {
        Hub::builder().capacity(queue_capacity).local()
    }

    /// A builder for a hub with a broker (Redis) or other settings.
    pub fn builder() -> HubBuilder {
        HubBuilder::default()
    }

    /// Adds a socket; broadcasts reach it from now on, until it leaves or
    /// its connection closes. A socket that is closed already is not
    /// added (the id is of no member).
    pub fn join(&self, ws: &WebSocket) -> MemberId {
        let id = MemberId(NEXT_MEMBER.fetch_add(1, Ordering::Relaxed));
        let member = Member {
            ws: ws.clone(),
            outbox: Outbox::start(ws.clone(), self.inner.bounds),
            rooms: HashSet::new(),
        };
        {
            let mut members = self.inner.members.lock();
            if members.by_id.is_empty() {
                self.inner.broker.subscribe(&Topic::All);
            }
            members.by_id.insert(id, member);
        }
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

    /// Puts a member in a room (it stays in the others). With a broker,
    /// the room's broadcasts from other instances reach this one from its
    /// first member on.
    pub fn join_room(&self, id: MemberId, room: &str) {
        let mut members = self.inner.members.lock();
        let Members { by_id, rooms } = &mut *members;
        let Some(member) = by_id.get_mut(&id) else {
            return;
        };
        if member.rooms.insert(room.to_owned()) {
            let count = rooms.entry(room.to_owned()).or_insert(0);
            *count += 1;
            if *count == 1 {
                self.inner.broker.subscribe(&Topic::Room(room.to_owned()));
            }
        }
    }

    /// Takes a member out of a room.
    pub fn leave_room(&self, id: MemberId, room: &str) {
        let mut members = self.inner.members.lock();
        let Members { by_id, rooms } = &mut *members;
        if by_id
            .get_mut(&id)
            .is_some_and(|member| member.rooms.remove(room))
        {
            self.inner.room_left(rooms, room);
        }
    }

    /// Queues a message for every member; gives how many of this
    /// instance's members it was queued for. Each of them is sent it, after
    /// what was queued before, unless its connection closes first or it
    /// overflows later (members whose connection is closing are skipped
    /// and not counted). With a broker, it is also published for the
    /// members of the other instances.
    pub fn broadcast(&self, message: impl Into<Message>) -> usize {
        self.send(Topic::All, message.into())
    }

    /// Queues a message for the members in `room`, as
    /// [`broadcast`](Self::broadcast).
    pub fn broadcast_to(&self, room: &str, message: impl Into<Message>) -> usize {
        self.send(Topic::Room(room.to_owned()), message.into())
    }

    /// This instance's members now.
    pub fn len(&self) -> usize {
        self.inner.members.lock().by_id.len()
    }

    /// True without members on this instance.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Members removed so far because their queue overflowed.
    pub fn overflowed(&self) -> u64 {
        self.inner.overflowed.load(Ordering::Relaxed)
    }

    /// How the broker is doing (connected, published, lost...); `None`
    /// for a hub of one instance.
    pub fn broker_stats(&self) -> Option<BrokerStats> {
        self.inner.broker.stats()
    }

    fn send(&self, topic: Topic, message: Message) -> usize {
        self.inner.broker.publish(&topic, &message);
        self.inner.deliver(&topic, &PreparedMessage::new(message))
    }
}

/// The close hook of a member: it leaves the hub, if the hub still exists.
fn leave_closed(hub: &Weak<Inner>, id: MemberId) {
    if let Some(inner) = hub.upgrade() {
        inner.remove(id);
    }
}

/// Settings of a [`Hub`]: its members' queues, and a Redis broker to share
/// rooms with other instances.
///
/// ```
/// // One instance, as Hub::new(64):
/// let hub = greenws::Hub::builder().capacity(64).build()?;
///
/// // A Redis URL that cannot be used is an error that says why:
/// let error = greenws::Hub::builder().redis("http://127.0.0.1/").build().unwrap_err();
/// assert!(error.to_string().contains("Redis URL"));
/// # Ok::<(), greenws::Error>(())
/// ```
#[derive(Clone)]
pub struct HubBuilder {
    capacity: usize,
    capacity_bytes: usize,
    redis: Option<String>,
    prefix: Option<String>,
    max_message_size: Option<usize>,
    outbox_bytes: Option<usize>,
}

impl Default for HubBuilder {
    fn default() -> Self {
        HubBuilder {
            capacity: 256,
            capacity_bytes: HubBuilder::DEFAULT_CAPACITY_BYTES,
            redis: None,
            prefix: None,
            max_message_size: None,
            outbox_bytes: None,
        }
    }
}

impl fmt::Debug for HubBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password.
        f.debug_struct("HubBuilder")
            .field("capacity", &self.capacity)
            .field("capacity_bytes", &self.capacity_bytes)
            .field("redis", &self.redis.is_some())
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl HubBuilder {
    /// The default of [`capacity_bytes`](Self::capacity_bytes): one
    /// message of `WebSocketConfig`'s default `max_message_size`.
    pub const DEFAULT_CAPACITY_BYTES: usize = 16 << 20;

    /// Messages that may wait for each member (default 256); more, and the
    /// member is closed with 1013.
    pub fn capacity(mut self, messages: usize) -> Self {
        self.capacity = messages;
        self
    }

    /// Bytes of messages that may wait for each member (default
    /// [`DEFAULT_CAPACITY_BYTES`](Self::DEFAULT_CAPACITY_BYTES), 16 MiB);
    /// more, and the member is closed with 1013. A message larger than
    /// this is queued only for a member with nothing waiting. Broadcasts
    /// are shared by the members they are queued for, so this bounds what
    /// one member that stops reading can hold, not what the hub holds for
    /// many: with the message bound alone, a member that stopped reading
    /// could hold `capacity` messages of `max_message_size` each (4 GiB
    /// with the defaults), and a client can have a server broadcast 16 MiB
    /// for 16 KiB of compressed upload.
    ///
    /// ```
    /// let hub = greenws::Hub::builder().capacity(64).capacity_bytes(1 << 20).build()?;
    /// # Ok::<(), greenws::Error>(())
    /// ```
    pub fn capacity_bytes(mut self, bytes: usize) -> Self {
        self.capacity_bytes = bytes;
        self
    }

    /// Shares rooms through the Redis at `url`
    /// (`redis://[[user]:password@]host[:port][/db]`) with every hub that
    /// uses the same Redis and [`prefix`](Self::prefix). Redis pub/sub
    /// channels ignore the database number: the prefix separates
    /// applications.
    ///
    /// The hub keeps two connections to Redis, each owned by a greenlet
    /// (no worker thread ever waits for Redis), subscribes to a room's
    /// channel while this instance has members in the room, and publishes
    /// every broadcast once, after queueing it for its own members (it
    /// skips its own broadcasts when Redis sends them back).
    ///
    /// When Redis is away (unreachable at start, stopped, restarted) the
    /// hub goes on delivering to its own members, drops what it cannot
    /// publish (counted in [`Hub::broker_stats`]), reconnects with a
    /// backoff of 50 ms doubling to 2 s, jittered, and subscribes again to
    /// every room it still needs. One line is logged when an outage begins
    /// (what happened) and one when it ends (how long, and how many
    /// broadcasts could not be published). A connection is given up after
    /// 5 s without an answer to a command, or 15 s of silence on the
    /// subscribing connection (which PINGs every 5 s).
    ///
    /// Delivery is at most once: a broadcast published while an instance
    /// is disconnected never reaches its members (see
    /// [`Hub`](Hub#several-instances)).
    pub fn redis(mut self, url: impl Into<String>) -> Self {
        self.redis = Some(url.into());
        self
    }

    /// Put before every Redis channel name (default `greenws:`), so that
    /// several applications can share one Redis. With Redis only.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// The largest broadcast carried between instances, in bytes (default
    /// 16 MiB, as [`WebSocketConfig::max_message_size`]). A larger one
    /// reaches this instance's members only; one that arrives from another
    /// instance is dropped without being held in memory. With Redis only.
    ///
    /// [`WebSocketConfig::max_message_size`]: super::WebSocketConfig::max_message_size
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = Some(bytes);
        self
    }

    /// Bytes of broadcasts that may wait to be published (default 32 MiB).
    /// Broadcasts that come faster than Redis takes them, past this, reach
    /// this instance's members only; they are counted in
    /// [`BrokerStats::outbox_overflows`] and logged once per run. With
    /// Redis only.
    pub fn outbox_bytes(mut self, bytes: usize) -> Self {
        self.outbox_bytes = Some(bytes);
        self
    }

    /// The hub. An `Err` for a Redis URL that cannot be used, saying why;
    /// a Redis that cannot be reached is not an error (the hub connects
    /// when it can).
    pub fn build(self) -> crate::Result<Hub> {
        let Some(url) = &self.redis else {
            return Ok(self.local());
        };
        let bounds = self.bounds();
        let mut settings = RedisSettings::parse(url).map_err(Error::Config)?;
        if let Some(prefix) = self.prefix {
            settings.prefix = prefix;
        }
        if let Some(bytes) = self.max_message_size {
            settings.max_message_size = bytes;
        }
        if let Some(bytes) = self.outbox_bytes {
            settings.outbox_bytes = bytes;
        }
        let mut failed = None;
        let inner = Arc::new_cyclic(|hub: &Weak<Inner>| {
            let hub = hub.clone();
            let sink = Box::new(move |topic: &Topic, message: Message| {
                if let Some(inner) = hub.upgrade() {
                    inner.deliver(topic, &PreparedMessage::new(message));
                }
            });
            let broker: Box<dyn Broker> = match RedisBroker::start(settings, sink) {
                Ok(broker) => Box::new(broker),
                Err(e) => {
                    failed = Some(e);
                    Box::new(LocalBroker)
                }
            };
            Inner::new(bounds, broker)
        });
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(Hub { inner }),
        }
    }

    /// The hub of this instance alone, with these bounds.
    fn local(&self) -> Hub {
        Hub {
            inner: Arc::new(Inner::new(self.bounds(), Box::new(LocalBroker))),
        }
    }

    fn bounds(&self) -> QueueBounds {
        QueueBounds {
            messages: self.capacity,
            bytes: self.capacity_bytes,
        }
    }
}
