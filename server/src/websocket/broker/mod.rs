//! Brokers: how a [`Hub`](super::Hub)'s broadcasts reach the members that
//! other instances of the application hold.
//!
//! One process serves one machine; a chat or a live dashboard that outgrows
//! it runs several instances behind a load balancer, and a broadcast on one
//! of them must reach the members connected to the others. The hub always
//! delivers to its own members itself; the broker carries the broadcast to
//! the other instances and hands their broadcasts back.
//!
//! - [`LocalBroker`] (the default): the process is the whole world, there
//!   is nothing to carry.
//! - [`RedisBroker`]: Redis pub/sub, as Socket.IO's Redis adapter, Django
//!   Channels and ActionCable use it. One channel per room, one for
//!   broadcasts to all; an instance subscribes to a room's channel only
//!   while it has members in that room.
//!
//! ## Delivery: at most once
//!
//! Redis pub/sub keeps nothing: a message published while an instance is
//! disconnected (Redis restarting, a network fault, the instance
//! reconnecting) never reaches that instance's members, and a message the
//! hub could not publish (Redis unreachable, the outbox full) reaches only
//! the members of the instance that sent it. What is delivered arrives
//! once and in the order each instance published it. An application that
//! must not lose messages needs more than pub/sub: Redis Streams
//! (`XADD`/`XREAD` with a consumer that remembers its last id), or its own
//! sequence numbers with a way for a client to ask for what it missed
//! (a replay from a database or a bounded history).

mod backoff;
mod envelope;
mod health;
mod link;
mod local;
mod publisher;
mod redis;
mod resp;
mod subscriber;

pub(crate) use self::local::LocalBroker;
pub(crate) use self::redis::{RedisBroker, RedisSettings};

use crate::proto::websocket::Message;

/// Where a broadcast goes: to every member, or to the members of a room.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Topic {
    /// Every member of the hub, on every instance.
    All,
    /// The members in this room, on every instance.
    Room(String),
}

/// Receives the broadcasts of other instances: the hub delivers them to
/// its own members (and does not publish them again).
pub(crate) type Sink = Box<dyn Fn(&Topic, Message) + Send + Sync>;

/// What a hub asks of its broker.
///
/// The hub tells the broker when it starts and stops needing a topic (its
/// first member joins the room, its last one leaves), and gives it every
/// broadcast after delivering it to its own members. None of these calls
/// waits: a broker that cannot keep up drops and counts.
pub(crate) trait Broker: Send + Sync {
    /// Carries a broadcast, which the hub delivered locally already, to
    /// the other instances.
    fn publish(&self, topic: &Topic, message: &Message);

    /// The hub has members for `topic` now: receive its broadcasts.
    fn subscribe(&self, topic: &Topic);

    /// The hub has no members for `topic` any more.
    fn unsubscribe(&self, topic: &Topic);

    /// Counters and state, for a broker that talks to something.
    fn stats(&self) -> Option<BrokerStats>;
}

/// How a hub's broker is doing, as [`Hub::broker_stats`] gives it: what was
/// published and received, and what was lost on the way. All counts are
/// since the hub was built.
///
/// [`Hub::broker_stats`]: super::Hub::broker_stats
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerStats {
    /// Both connections (publishing and subscribing) are up.
    pub connected: bool,
    /// Broadcasts the broker published (Redis confirmed them).
    pub published: u64,
    /// Broadcasts that reached only this instance's members: published
    /// while Redis was unreachable, while the outbox was full, larger than
    /// the message limit, refused by Redis, or unconfirmed when the
    /// connection failed.
    pub unpublished: u64,
    /// Of `unpublished`: broadcasts dropped because the outbox was full
    /// (Redis did not take them as fast as they came).
    pub outbox_overflows: u64,
    /// Broadcasts of other instances delivered to this instance's members.
    pub received: u64,
    /// Incoming messages dropped: larger than the message limit, not in
    /// the hub's format, or on a channel of no topic.
    pub rejected: u64,
    /// Times the connection to Redis was lost (or could not be made at
    /// start).
    pub outages: u64,
}
