//! How the Redis broker is doing: its counters, and its outages, each
//! logged once when it begins and once when it ends (never per message).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::BrokerStats;

/// The broker's counters (see [`BrokerStats`] for their meaning).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub published: AtomicU64,
    pub unpublished: AtomicU64,
    pub outbox_overflows: AtomicU64,
    pub received: AtomicU64,
    pub rejected: AtomicU64,
}

impl Counters {
    /// Adds `n` to a counter.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn snapshot(&self) -> BrokerStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        BrokerStats {
            published: get(&self.published),
            unpublished: get(&self.unpublished),
            outbox_overflows: get(&self.outbox_overflows),
            received: get(&self.received),
            rejected: get(&self.rejected),
            ..BrokerStats::default()
        }
    }
}

/// The broker's two connections to Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    /// Publishes broadcasts.
    Publisher,
    /// Receives the broadcasts of subscribed channels.
    Subscriber,
}

impl Link {
    fn index(self) -> usize {
        self as usize
    }
}

/// An outage: since when, and how many broadcasts had gone unpublished
/// before it (the ones during it are the difference at its end).
#[derive(Debug)]
struct Outage {
    since: Instant,
    unpublished_before: u64,
}

#[derive(Debug, Default)]
struct State {
    up: [bool; 2],
    ever_connected: bool,
    outage: Option<Outage>,
    outages: u64,
}

/// The counters and the connection state of one broker.
#[derive(Debug)]
pub(crate) struct Health {
    /// Where Redis is (`host:port`, without credentials), for the log.
    address: String,
    pub counters: Counters,
    state: Mutex<State>,
}

impl Health {
    pub(crate) fn new(address: String) -> Self {
        Health {
            address,
            counters: Counters::default(),
            state: Mutex::new(State::default()),
        }
    }

    /// A connection is up. When both are, an outage ends, with one log line
    /// that says how long it lasted and what it cost.
    pub(crate) fn link_up(&self, link: Link) {
        let mut state = self.state.lock();
        state.up[link.index()] = true;
        if state.up.iter().all(|up| *up) {
            state.ever_connected = true;
            if let Some(outage) = state.outage.take() {
                let lost = self.unpublished() - outage.unpublished_before;
                log::info!(
                    "hub: Redis at {} is back after {}; {lost} broadcasts could not be \
                     published meanwhile (they reached this instance's members only)",
                    self.address,
                    Seconds(outage.since.elapsed())
                );
            }
        }
    }

    /// A connection failed (or could not be made). The first failure of an
    /// outage is logged, with its cause; the others during it are not.
    pub(crate) fn link_down(&self, link: Link, cause: &dyn fmt::Display) {
        let mut state = self.state.lock();
        state.up[link.index()] = false;
        if state.outage.is_some() {
            return;
        }
        state.outage = Some(Outage {
            since: Instant::now(),
            unpublished_before: self.unpublished(),
        });
        state.outages += 1;
        let what = if state.ever_connected {
            "lost the connection to"
        } else {
            "cannot reach"
        };
        log::warn!(
            "hub: {what} Redis at {} ({cause}); broadcasts reach this instance's members only \
             until it is back; reconnecting",
            self.address
        );
    }

    /// Counters and state now.
    pub(crate) fn stats(&self) -> BrokerStats {
        let state = self.state.lock();
        BrokerStats {
            connected: state.up.iter().all(|up| *up),
            outages: state.outages,
            ..self.counters.snapshot()
        }
    }

    fn unpublished(&self) -> u64 {
        self.counters.unpublished.load(Ordering::Relaxed)
    }
}

/// A duration as `1.2 s`.
struct Seconds(Duration);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1} s", self.0.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_begins_at_the_first_failure_and_ends_when_both_links_are_up() {
        let health = Health::new("127.0.0.1:1".into());
        assert!(!health.stats().connected);
        health.link_down(Link::Publisher, &"refused");
        health.link_down(Link::Subscriber, &"refused");
        health.link_down(Link::Publisher, &"refused again");
        assert_eq!(health.stats().outages, 1);
        health.link_up(Link::Publisher);
        assert!(!health.stats().connected);
        health.link_up(Link::Subscriber);
        assert!(health.stats().connected);
        health.link_down(Link::Subscriber, &"closed");
        assert!(!health.stats().connected);
        assert_eq!(health.stats().outages, 2);
    }

    #[test]
    fn stats_carry_the_counters() {
        let health = Health::new("h:1".into());
        Counters::add(&health.counters.published, 3);
        Counters::add(&health.counters.unpublished, 2);
        Counters::add(&health.counters.received, 5);
        let stats = health.stats();
        assert_eq!(
            (stats.published, stats.unpublished, stats.received),
            (3, 2, 5)
        );
    }
}
