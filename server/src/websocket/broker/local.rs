//! The in-process broker: one instance, nothing to carry.

use super::{Broker, BrokerStats, Message, Topic};

/// The broker of a hub that runs alone: the hub's own delivery is all
/// there is, so every call does nothing.
#[derive(Debug, Default)]
pub(crate) struct LocalBroker;

impl Broker for LocalBroker {
    fn publish(&self, _topic: &Topic, _message: &Message) {}

    fn subscribe(&self, _topic: &Topic) {}

    fn unsubscribe(&self, _topic: &Topic) {}

    fn stats(&self) -> Option<BrokerStats> {
        None
    }
}
