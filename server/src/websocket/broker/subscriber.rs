//! Subscribing: the channels the hub has members for, kept subscribed
//! across reconnections, and what arrives on them handed to the hub.
//!
//! Per connection, two greenlets share the socket: the writer sends
//! `SUBSCRIBE` / `UNSUBSCRIBE` as the hub's rooms fill and empty (and a
//! PING when idle), the reader takes what Redis pushes. Either one's
//! failure ends both; the subscriber then reconnects and subscribes again
//! to everything still wanted.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{self, ErrorKind};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use green::net::DuplexStream;
use parking_lot::Mutex;

use super::backoff::Backoff;
use super::envelope::{self, Origin};
use super::health::{Counters, Link as LinkKind};
use super::link::{unexpected, Link, TimedRead};
use super::redis::Shared;
use super::resp::{Reply, ReplyReader};

/// Channels per SUBSCRIBE or UNSUBSCRIBE command, at most.
const CHANNELS_PER_COMMAND: usize = 1000;
/// Senders whose order a reader remembers; past that it starts over.
const MAX_SENDERS: usize = 1024;

#[derive(Default)]
struct Wanted {
    /// The channels the hub has members for.
    channels: HashSet<Vec<u8>>,
    /// Channels wanted or given up since the writer last looked.
    changed: HashSet<Vec<u8>>,
}

/// The channels to be subscribed to, and the writer's wake-up call.
#[derive(Default)]
pub(crate) struct Subscriptions {
    wanted: Mutex<Wanted>,
    wake: green::Event,
    /// A rejected incoming message was logged (once per broker).
    warned_rejected: AtomicBool,
}

impl Subscriptions {
    /// Subscribe to `channel` (now, or once connected).
    pub(crate) fn want(&self, channel: Vec<u8>) {
        let mut wanted = self.wanted.lock();
        wanted.channels.insert(channel.clone());
        wanted.changed.insert(channel);
        self.wake.set();
    }

    /// Unsubscribe from `channel`.
    pub(crate) fn forget(&self, channel: Vec<u8>) {
        let mut wanted = self.wanted.lock();
        wanted.channels.remove(&channel);
        wanted.changed.insert(channel);
        self.wake.set();
    }

    /// Wakes the writer to end.
    pub(crate) fn stop(&self) {
        self.wake.set();
    }

    /// Every channel wanted, for a new connection.
    fn all(&self) -> Vec<Vec<u8>> {
        let mut wanted = self.wanted.lock();
        wanted.changed.clear();
        wanted.channels.iter().cloned().collect()
    }

    /// The changes since the last look: (to subscribe, to unsubscribe).
    fn changes(&self) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let mut wanted = self.wanted.lock();
        let changed = std::mem::take(&mut wanted.changed);
        changed
            .into_iter()
            .partition(|channel| wanted.channels.contains(channel))
    }
}

/// The subscribing greenlet: connects, stays subscribed until the
/// connection fails, waits, reconnects; ends when the broker stops.
pub(crate) fn run(shared: &Arc<Shared>) {
    let timing = &shared.settings.timing;
    let mut backoff = Backoff::new(timing.first_retry, timing.max_retry);
    while !shared.stopping() {
        let failure = match Link::connect(&shared.settings) {
            Ok(link) => {
                if !shared.hold(LinkKind::Subscriber, &link.stream) {
                    break;
                }
                backoff.reset();
                let failure = stay_subscribed(shared, link);
                shared.release(LinkKind::Subscriber);
                match failure {
                    Some(failure) => failure,
                    None => break,
                }
            }
            Err(failure) => failure,
        };
        if shared.stopping() {
            // The stop shut the connection: no outage.
            break;
        }
        shared.health.link_down(LinkKind::Subscriber, &failure);
        if shared.pause(backoff.next_delay()) {
            break;
        }
    }
}

/// Subscribes to everything wanted and follows the changes, while a reader
/// greenlet takes what arrives; gives why the connection ended (`None`:
/// the broker stops).
fn stay_subscribed(shared: &Arc<Shared>, link: Link) -> Option<io::Error> {
    let Link { stream, replies } = link;
    let reader = {
        let (shared, stream) = (shared.clone(), stream.clone());
        green::Builder::new().spawn(move || {
            let failure = read_until_failure(&shared, &stream, replies);
            shared.subscriptions.wake.set();
            failure
        })
    };
    let reader = match reader {
        Ok(reader) => reader,
        Err(e) => return Some(io::Error::other(e)),
    };
    let failure = write_until_failure(shared, &stream, &reader);
    // Ends the reader at once, whichever side failed.
    let _ = stream.shutdown(Shutdown::Both);
    let read_failure = reader.join();
    if shared.stopping() {
        return None;
    }
    Some(failure.unwrap_or_else(|| read_failure.unwrap_or_else(io::Error::other)))
}

/// The writer's side: subscribes to everything wanted, then follows the
/// changes and PINGs when idle, until a write fails (its error), the
/// reader ends or the broker stops (`None`).
fn write_until_failure(
    shared: &Shared,
    stream: &DuplexStream,
    reader: &green::Greenlet<io::Error>,
) -> Option<io::Error> {
    let subscriptions = &shared.subscriptions;
    let timing = &shared.settings.timing;
    let write = |commands: &[u8]| stream.write_all(commands, Some(Instant::now() + timing.reply));
    if let Err(failure) = write(&subscribe_commands(&subscriptions.all(), &[])) {
        return Some(failure);
    }
    shared.health.link_up(LinkKind::Subscriber);
    let mut last_ping = Instant::now();
    loop {
        subscriptions
            .wake
            .wait_timeout(timing.heartbeat.saturating_sub(last_ping.elapsed()));
        subscriptions.wake.clear();
        if shared.stopping() || reader.ready() {
            return None;
        }
        let (subscribe, unsubscribe) = subscriptions.changes();
        let mut commands = subscribe_commands(&subscribe, &unsubscribe);
        if last_ping.elapsed() >= timing.heartbeat {
            ::redis::cmd("PING").write_packed_command(&mut commands);
            last_ping = Instant::now();
        }
        if let Err(failure) = write(&commands) {
            return Some(failure);
        }
    }
}

/// SUBSCRIBE and UNSUBSCRIBE commands for these channels (nothing for
/// none: an UNSUBSCRIBE without channels would drop them all).
fn subscribe_commands(subscribe: &[Vec<u8>], unsubscribe: &[Vec<u8>]) -> Vec<u8> {
    let mut commands = Vec::new();
    for (name, channels) in [("SUBSCRIBE", subscribe), ("UNSUBSCRIBE", unsubscribe)] {
        for chunk in channels.chunks(CHANNELS_PER_COMMAND) {
            ::redis::cmd(name)
                .arg(chunk)
                .write_packed_command(&mut commands);
        }
    }
    commands
}

/// The reader's side: hands every message to the hub until the
/// connection fails or goes silent; gives why.
fn read_until_failure(
    shared: &Shared,
    stream: &DuplexStream,
    mut replies: ReplyReader,
) -> io::Error {
    let mut order = SenderOrder::default();
    loop {
        let mut source = TimedRead {
            stream,
            deadline: Instant::now() + shared.settings.timing.silence,
        };
        let reply = match replies.read(&mut source) {
            Ok(reply) => reply,
            Err(failure) => return failure,
        };
        match reply {
            Reply::Array(mut items) if is_push(&items, b"message", 3) => {
                let payload = items.pop().expect("three items");
                if let Some(Reply::Bulk(channel)) = items.pop() {
                    receive(shared, &mut order, &channel, payload);
                }
            }
            Reply::Array(items)
                if is_push(&items, b"subscribe", 3)
                    || is_push(&items, b"unsubscribe", 3)
                    || is_push(&items, b"pong", 2) => {}
            Reply::Status(pong) if pong == "PONG" => {}
            Reply::Error(why) => {
                return io::Error::new(
                    ErrorKind::PermissionDenied,
                    format!("Redis refused to subscribe: {why}"),
                )
            }
            other => return unexpected("SUBSCRIBE", &other),
        }
    }
}

/// `[kind, channel, ...]` with `len` items, the channel a bulk string.
fn is_push(items: &[Reply], kind: &[u8], len: usize) -> bool {
    items.len() == len
        && matches!(&items[0], Reply::Bulk(k) if k == kind)
        && matches!(&items[1], Reply::Bulk(_))
}

/// A message from a channel: opened, checked, and handed to the hub unless
/// this instance sent it (it delivered it already).
fn receive(shared: &Shared, order: &mut SenderOrder, channel: &[u8], payload: Reply) {
    let counters = &shared.health.counters;
    let reject = |why: &dyn fmt::Display| {
        Counters::add(&counters.rejected, 1);
        if !shared
            .subscriptions
            .warned_rejected
            .swap(true, Ordering::Relaxed)
        {
            log::warn!(
                "hub: dropped a message on Redis channel {:?}: {why} (logged once; the \
                 broker's stats count them)",
                String::from_utf8_lossy(channel)
            );
        }
    };
    let envelope = match payload {
        Reply::Bulk(envelope) => envelope,
        Reply::TooLong(len) => {
            return reject(&format_args!(
                "{len} bytes, more than the limit of {}",
                shared.settings.max_message_size + envelope::HEADER_LEN
            ))
        }
        _ => return reject(&"not a bulk string"),
    };
    let (origin, message) = match envelope::open(envelope) {
        Ok(opened) => opened,
        Err(why) => return reject(&why),
    };
    if origin.instance == shared.instance {
        return;
    }
    if !order.follows(origin) {
        return reject(&format_args!(
            "number {} of its sender arrived after a later one",
            origin.sequence
        ));
    }
    let Some(topic) = shared.topic(channel) else {
        return reject(&"a channel of no room");
    };
    Counters::add(&counters.received, 1);
    (shared.sink)(&topic, message);
}

/// The last sequence number seen from each sender, so that nothing is
/// delivered out of its sender's order (or twice).
#[derive(Default)]
struct SenderOrder {
    last: HashMap<u64, u64>,
}

impl SenderOrder {
    /// True if `origin` comes after everything seen from its sender.
    fn follows(&mut self, origin: Origin) -> bool {
        if self.last.len() >= MAX_SENDERS && !self.last.contains_key(&origin.instance) {
            self.last.clear();
        }
        let last = self.last.entry(origin.instance).or_insert(0);
        if origin.sequence <= *last {
            return false;
        }
        *last = origin.sequence;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_say_what_to_subscribe_and_unsubscribe() {
        let subscriptions = Subscriptions::default();
        subscriptions.want(b"a".to_vec());
        subscriptions.want(b"b".to_vec());
        subscriptions.forget(b"b".to_vec());
        subscriptions.forget(b"c".to_vec());
        let (mut subscribe, mut unsubscribe) = subscriptions.changes();
        subscribe.sort();
        unsubscribe.sort();
        assert_eq!(subscribe, [b"a".to_vec()]);
        assert_eq!(unsubscribe, [b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(subscriptions.changes(), (vec![], vec![]));
        subscriptions.want(b"d".to_vec());
        let mut all = subscriptions.all();
        all.sort();
        assert_eq!(all, [b"a".to_vec(), b"d".to_vec()]);
        assert_eq!(subscriptions.changes(), (vec![], vec![]));
    }

    #[test]
    fn commands_come_in_chunks_and_never_unsubscribe_from_everything() {
        assert!(subscribe_commands(&[], &[]).is_empty());
        let many: Vec<Vec<u8>> = (0..2500).map(|i| format!("c{i}").into_bytes()).collect();
        let commands = subscribe_commands(&many, &[b"x".to_vec()]);
        let text = String::from_utf8(commands).unwrap();
        assert_eq!(text.matches("$9\r\nSUBSCRIBE\r\n").count(), 3);
        assert_eq!(text.matches("$11\r\nUNSUBSCRIBE\r\n").count(), 1);
        assert!(
            text.starts_with("*1001\r\n$9\r\nSUBSCRIBE\r\n"),
            "{}",
            &text[..40]
        );
        assert!(text.ends_with("*2\r\n$11\r\nUNSUBSCRIBE\r\n$1\r\nx\r\n"));
    }

    #[test]
    fn a_sender_is_followed_in_order_only() {
        let mut order = SenderOrder::default();
        let from = |instance, sequence| Origin { instance, sequence };
        assert!(order.follows(from(1, 1)));
        assert!(order.follows(from(1, 5)));
        assert!(order.follows(from(2, 1)));
        assert!(!order.follows(from(1, 5)));
        assert!(!order.follows(from(1, 3)));
        assert!(order.follows(from(1, 6)));
    }

    #[test]
    fn the_memory_of_senders_is_bounded() {
        let mut order = SenderOrder::default();
        for instance in 0..(3 * MAX_SENDERS as u64) {
            assert!(order.follows(Origin {
                instance,
                sequence: 1
            }));
            assert!(order.last.len() <= MAX_SENDERS);
        }
    }
}
