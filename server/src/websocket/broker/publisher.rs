//! Publishing: a bounded outbox that a broadcast never waits on, and the
//! greenlet that sends it to Redis as pipelined `PUBLISH` commands.
//!
//! A broadcast is sealed in its envelope by the caller, numbered and queued
//! (or, with the outbox full or Redis away, counted and dropped); the
//! greenlet takes everything queued, up to [`BATCH_BYTES`], writes it in
//! one go and reads one answer per command, so one round trip carries many
//! broadcasts under load and one broadcast when idle.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

use super::backoff::Backoff;
use super::envelope::{self, Origin};
use super::health::{Counters, Link as LinkKind};
use super::link::{unexpected, Link};
use super::redis::Shared;
use super::resp::Reply;
use super::{Message, Topic};

/// Commands written in one go, about.
const BATCH_BYTES: usize = 256 * 1024;

/// What the publisher does with a new broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Accepting {
    /// Connecting for the first time: queue it (it goes out once
    /// connected, unless that fails).
    Connecting = 0,
    /// Connected: queue it.
    Up = 1,
    /// Redis is away: drop it now (count it), rather than send it late.
    Down = 2,
}

/// What the publishing greenlet takes from the outbox.
enum Job {
    Publish {
        channel: Vec<u8>,
        envelope: Vec<u8>,
    },
    /// The broker stops.
    Stop,
}

/// Broadcasts waiting to be published, bounded in bytes.
pub(crate) struct Outbox {
    jobs: green::Queue<Job>,
    /// Bytes of channel names and envelopes queued.
    bytes: AtomicUsize,
    limit: usize,
    accepting: AtomicU8,
    /// The next sequence number, locked while a broadcast is numbered and
    /// queued so that numbers follow the queue's order.
    next_sequence: Mutex<u64>,
    /// Broadcasts are being dropped because the outbox is full: the
    /// unpublished count when that began.
    overflow: Mutex<Option<u64>>,
    /// A too large broadcast was logged (once per broker).
    warned_too_large: AtomicBool,
}

impl Outbox {
    pub(crate) fn new(limit: usize) -> Self {
        Outbox {
            jobs: green::Queue::unbounded(),
            bytes: AtomicUsize::new(0),
            limit,
            accepting: AtomicU8::new(Accepting::Connecting as u8),
            next_sequence: Mutex::new(1),
            overflow: Mutex::new(None),
            warned_too_large: AtomicBool::new(false),
        }
    }

    /// Wakes the greenlet to end.
    pub(crate) fn stop(&self) {
        self.jobs.put(Job::Stop);
    }

    fn accepting(&self) -> Accepting {
        match self.accepting.load(Ordering::Acquire) {
            0 => Accepting::Connecting,
            1 => Accepting::Up,
            _ => Accepting::Down,
        }
    }

    fn set_accepting(&self, accepting: Accepting) {
        self.accepting.store(accepting as u8, Ordering::Release);
    }

    /// Takes room for `size` bytes, if there is.
    fn reserve(&self, size: usize) -> bool {
        let before = self.bytes.fetch_add(size, Ordering::AcqRel);
        if before + size > self.limit {
            self.bytes.fetch_sub(size, Ordering::AcqRel);
            return false;
        }
        true
    }

    fn release(&self, size: usize) {
        self.bytes.fetch_sub(size, Ordering::AcqRel);
    }

    /// A broadcast did not fit: the first of a run is logged.
    fn overflowed(&self, counters: &Counters) {
        Counters::add(&counters.outbox_overflows, 1);
        let mut overflow = self.overflow.lock();
        if overflow.is_none() {
            *overflow = Some(counters.unpublished.load(Ordering::Relaxed));
            log::warn!(
                "hub: Redis does not take broadcasts as fast as they come: the outbox is full \
                 ({} bytes); broadcasts reach this instance's members only until it drains",
                self.limit
            );
        }
    }

    /// The outbox is empty: a run of overflows is over, logged with what it
    /// cost.
    fn drained(&self, counters: &Counters) {
        if let Some(before) = self.overflow.lock().take() {
            log::info!(
                "hub: the Redis outbox drained; {} broadcasts could not be published meanwhile",
                counters.unpublished.load(Ordering::Relaxed) - before
            );
        }
    }

    /// Drops everything queued, counting it as unpublished.
    fn discard(&self, counters: &Counters) {
        let mut dropped = 0;
        while let Some(job) = self.jobs.try_get() {
            if let Job::Publish { channel, envelope } = job {
                self.release(channel.len() + envelope.len());
                dropped += 1;
            }
        }
        Counters::add(&counters.unpublished, dropped);
        self.drained(counters);
    }
}

/// Queues a broadcast for Redis, or counts why it cannot go. Never waits.
pub(crate) fn publish(shared: &Shared, topic: &Topic, message: &Message) {
    let outbox = &shared.outbox;
    let counters = &shared.health.counters;
    if message.len() > shared.settings.max_message_size {
        Counters::add(&counters.unpublished, 1);
        if !outbox.warned_too_large.swap(true, Ordering::Relaxed) {
            log::warn!(
                "hub: a broadcast of {} bytes is larger than the limit for other instances \
                 ({} bytes): it reaches this instance's members only (logged once)",
                message.len(),
                shared.settings.max_message_size
            );
        }
        return;
    }
    if outbox.accepting() == Accepting::Down {
        Counters::add(&counters.unpublished, 1);
        return;
    }
    let channel = shared.channel(topic);
    let origin = Origin {
        instance: shared.instance,
        sequence: 0,
    };
    let mut envelope = envelope::seal(origin, message);
    if !outbox.reserve(channel.len() + envelope.len()) {
        Counters::add(&counters.unpublished, 1);
        outbox.overflowed(counters);
        return;
    }
    let mut next = outbox.next_sequence.lock();
    envelope::stamp(&mut envelope, *next);
    *next += 1;
    outbox.jobs.put(Job::Publish { channel, envelope });
}

/// The publishing greenlet: connects, publishes until the connection
/// fails, waits, reconnects; ends when the broker stops.
pub(crate) fn run(shared: &Shared) {
    let timing = &shared.settings.timing;
    let outbox = &shared.outbox;
    let counters = &shared.health.counters;
    let mut backoff = Backoff::new(timing.first_retry, timing.max_retry);
    let mut batch = Batch::default();
    while !shared.stopping() {
        let failure = match Link::connect(&shared.settings) {
            Ok(mut link) => {
                if !shared.hold(LinkKind::Publisher, &link.stream) {
                    break;
                }
                backoff.reset();
                outbox.set_accepting(Accepting::Up);
                shared.health.link_up(LinkKind::Publisher);
                let failure = publish_until_failure(shared, &mut link, &mut batch);
                shared.release(LinkKind::Publisher);
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
        // The outage begins before its losses are counted: the broadcasts
        // that Redis did not confirm, and those still queued.
        outbox.set_accepting(Accepting::Down);
        shared.health.link_down(LinkKind::Publisher, &failure);
        Counters::add(
            &counters.unpublished,
            std::mem::take(&mut batch.unconfirmed),
        );
        outbox.discard(counters);
        if shared.pause(backoff.next_delay()) {
            break;
        }
    }
    outbox.set_accepting(Accepting::Down);
    outbox.discard(counters);
}

/// Commands written together, and what their answers mean.
#[derive(Default)]
struct Batch {
    commands: Vec<u8>,
    /// `PUBLISH` commands in it.
    publishes: u64,
    /// It ends with a PING (the connection was idle).
    ping: bool,
    /// Outbox bytes it took.
    reserved: usize,
    /// `PUBLISH` commands of a failed send that Redis did not confirm.
    unconfirmed: u64,
}

impl Batch {
    fn clear(&mut self) {
        self.commands.clear();
        self.publishes = 0;
        self.ping = false;
        self.reserved = 0;
        if self.commands.capacity() > 4 * BATCH_BYTES {
            self.commands.shrink_to(BATCH_BYTES);
        }
    }

    fn add(&mut self, channel: &[u8], envelope: &[u8]) {
        ::redis::cmd("PUBLISH")
            .arg(channel)
            .arg(envelope)
            .write_packed_command(&mut self.commands);
        self.publishes += 1;
        self.reserved += channel.len() + envelope.len();
    }
}

/// Publishes what the outbox gets until the connection fails (the error)
/// or the broker stops (`None`).
fn publish_until_failure(shared: &Shared, link: &mut Link, batch: &mut Batch) -> Option<io::Error> {
    let outbox = &shared.outbox;
    let counters = &shared.health.counters;
    let timing = &shared.settings.timing;
    let mut refusal_logged = false;
    loop {
        batch.clear();
        let mut stop_after = false;
        match outbox.jobs.get_timeout(timing.heartbeat) {
            Some(Job::Stop) => return None,
            None if shared.stopping() => return None,
            None => {
                ::redis::cmd("PING").write_packed_command(&mut batch.commands);
                batch.ping = true;
            }
            Some(Job::Publish { channel, envelope }) => batch.add(&channel, &envelope),
        }
        while !batch.ping && batch.commands.len() < BATCH_BYTES {
            match outbox.jobs.try_get() {
                Some(Job::Publish { channel, envelope }) => batch.add(&channel, &envelope),
                Some(Job::Stop) => {
                    stop_after = true;
                    break;
                }
                None => break,
            }
        }
        outbox.release(batch.reserved);
        if let Err(failure) = send(link, batch, shared, &mut refusal_logged) {
            return Some(failure);
        }
        if outbox.jobs.is_empty() {
            outbox.drained(counters);
        }
        if stop_after {
            return None;
        }
    }
}

/// Writes a batch and reads its answers. When the connection fails, what
/// Redis did not confirm is left in `batch.unconfirmed`.
fn send(
    link: &mut Link,
    batch: &mut Batch,
    shared: &Shared,
    refusal_logged: &mut bool,
) -> io::Result<()> {
    let counters = &shared.health.counters;
    let deadline = Instant::now() + shared.settings.timing.reply;
    let mut answered = 0;
    let result = (|| {
        link.stream.write_all(&batch.commands, Some(deadline))?;
        while answered < batch.publishes {
            match link.read_reply(deadline)? {
                Reply::Integer(_) => Counters::add(&counters.published, 1),
                Reply::Error(why) => {
                    Counters::add(&counters.unpublished, 1);
                    if !std::mem::replace(refusal_logged, true) {
                        log::warn!("hub: Redis refused to publish a broadcast: {why}");
                    }
                }
                other => return Err(unexpected("PUBLISH", &other)),
            }
            answered += 1;
        }
        if batch.ping {
            match link.read_reply(deadline)? {
                Reply::Status(pong) if pong == "PONG" => {}
                other => return Err(unexpected("PING", &other)),
            }
        }
        Ok(())
    })();
    if result.is_err() {
        batch.unconfirmed = batch.publishes - answered;
    }
    result
}
