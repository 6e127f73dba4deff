//! The Redis pub/sub broker: settings, the state its greenlets share, and
//! how topics map to channels.
//!
//! Two connections, each owned by one greenlet over a green socket, so no
//! worker thread ever waits for Redis:
//!
//! - the publisher ([`super::publisher`]) takes broadcasts from a bounded
//!   outbox and sends them as pipelined `PUBLISH` commands;
//! - the subscriber ([`super::subscriber`]) keeps Redis subscribed to the
//!   channels the hub has members for, and hands what arrives to the hub.
//!
//! Each reconnects on its own, with a jittered backoff; the outage they
//! share is logged once ([`super::health`]). The `redis` crate parses the
//! URL and encodes the commands; its connections are not used, because
//! they own std sockets (which would block a worker thread) and keep any
//! message size a peer publishes ([`super::resp`] bounds it).

use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ::redis::{ConnectionAddr, IntoConnectionInfo};
use green::net::DuplexStream;
use parking_lot::Mutex;

use super::backoff::random_seed;
use super::health::{Health, Link};
use super::publisher::{self, Outbox};
use super::subscriber::{self, Subscriptions};
use super::{Broker, BrokerStats, Message, Sink, Topic};
use crate::websocket::WebSocketConfig;

/// Channel of the broadcasts to all members, after the prefix. Rooms are
/// under [`ROOM`], so no room name can take it.
const ALL: &[u8] = b"all";
/// Start of a room's channel, after the prefix.
const ROOM: &[u8] = b"room:";

/// How long the broker waits for Redis, and how it retries.
#[derive(Debug, Clone)]
pub(crate) struct Timing {
    /// Name lookup, TCP connect, AUTH and PING together.
    pub connect: Duration,
    /// From sending commands to their last answer.
    pub reply: Duration,
    /// An idle connection sends a PING this often.
    pub heartbeat: Duration,
    /// The subscriber gives a connection up after hearing nothing (not
    /// even the answer to its PING) for this long.
    pub silence: Duration,
    /// The first wait before reconnecting; it doubles after each failure.
    pub first_retry: Duration,
    /// The longest wait before reconnecting.
    pub max_retry: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            connect: Duration::from_secs(2),
            reply: Duration::from_secs(5),
            heartbeat: Duration::from_secs(5),
            silence: Duration::from_secs(15),
            first_retry: Duration::from_millis(50),
            max_retry: Duration::from_secs(2),
        }
    }
}

/// Where Redis is and how the broker uses it.
#[derive(Debug, Clone)]
pub(crate) struct RedisSettings {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Put before every channel name, so that several applications can
    /// share one Redis.
    pub prefix: String,
    /// Largest payload published or accepted from other instances.
    pub max_message_size: usize,
    /// Bytes of broadcasts waiting to be published, at most.
    pub outbox_bytes: usize,
    pub timing: Timing,
}

impl RedisSettings {
    /// Settings for the Redis at `url` (`redis://[[user]:password@]host[:port][/db]`),
    /// with the default prefix (`greenws:`) and limits. The error says what
    /// is wrong with the URL.
    pub(crate) fn parse(url: &str) -> Result<RedisSettings, String> {
        let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
        if matches!(scheme, "rediss" | "valkeys") {
            return Err(format!(
                "{scheme}:// (Redis over TLS) is not supported by the hub; reach Redis over \
                 a private network or a TLS tunnel and use redis://"
            ));
        }
        let info = url
            .into_connection_info()
            .map_err(|e| format!("bad Redis URL {:?}: {e}", redact(url)))?;
        let (host, port) = match info.addr() {
            ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
            _ => {
                return Err(format!(
                    "the hub reaches Redis over TCP only (redis://host:port), not {:?}",
                    redact(url)
                ))
            }
        };
        let redis = info.redis_settings();
        Ok(RedisSettings {
            host,
            port,
            username: redis.username().map(str::to_owned),
            password: redis.password().map(str::to_owned),
            prefix: "greenws:".into(),
            max_message_size: WebSocketConfig::default().max_message_size,
            outbox_bytes: 32 << 20,
            timing: Timing::default(),
        })
    }

    /// `host:port`, for the log.
    pub(crate) fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// What the publisher and the subscriber share with the broker's handle.
pub(crate) struct Shared {
    pub settings: RedisSettings,
    /// This instance, in the envelope of what it publishes.
    pub instance: u64,
    pub health: Health,
    pub outbox: Outbox,
    pub subscriptions: Subscriptions,
    /// Where the broadcasts of other instances go.
    pub sink: Sink,
    stopping: AtomicBool,
    stopped: green::Event,
    /// The connections open now, so that a stop can shut them down.
    links: Mutex<[Option<Arc<DuplexStream>>; 2]>,
}

impl Shared {
    /// True once the broker is stopping: its greenlets end.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Waits `delay`, or less if the broker stops; true if it stops.
    pub(crate) fn pause(&self, delay: Duration) -> bool {
        self.stopped.wait_timeout(delay) || self.stopping()
    }

    /// Records an open connection, for [`stop`](Self::stop) to shut down;
    /// false (and the connection shut) if the broker is stopping already.
    pub(crate) fn hold(&self, link: Link, stream: &Arc<DuplexStream>) -> bool {
        self.links.lock()[link as usize] = Some(stream.clone());
        if self.stopping() {
            let _ = stream.shutdown(Shutdown::Both);
            return false;
        }
        true
    }

    /// Forgets a connection that is over.
    pub(crate) fn release(&self, link: Link) {
        if let Some(stream) = self.links.lock()[link as usize].take() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Ends the greenlets: wakes every wait and shuts the connections, so
    /// that each of them ends within the connect timeout at most.
    fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.stopped.set();
        self.outbox.stop();
        self.subscriptions.stop();
        for stream in self.links.lock().iter().flatten() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// The channel of a topic.
    pub(crate) fn channel(&self, topic: &Topic) -> Vec<u8> {
        channel_of(&self.settings.prefix, topic)
    }

    /// The topic of a channel, if it is one of the hub's.
    pub(crate) fn topic(&self, channel: &[u8]) -> Option<Topic> {
        topic_of(&self.settings.prefix, channel)
    }
}

/// `prefix` + `all`, or `prefix` + `room:` + the room's name.
fn channel_of(prefix: &str, topic: &Topic) -> Vec<u8> {
    match topic {
        Topic::All => [prefix.as_bytes(), ALL].concat(),
        Topic::Room(room) => [prefix.as_bytes(), ROOM, room.as_bytes()].concat(),
    }
}

/// The topic of a channel under `prefix`, if it names one.
fn topic_of(prefix: &str, channel: &[u8]) -> Option<Topic> {
    let name = channel.strip_prefix(prefix.as_bytes())?;
    if name == ALL {
        return Some(Topic::All);
    }
    let room = name.strip_prefix(ROOM)?;
    Some(Topic::Room(String::from_utf8(room.to_vec()).ok()?))
}

/// A hub's broker over Redis pub/sub. Dropping it ends its greenlets and
/// closes its connections.
pub(crate) struct RedisBroker {
    shared: Arc<Shared>,
}

impl RedisBroker {
    /// Starts the publisher and the subscriber. They connect in the
    /// background: an unreachable Redis is logged and retried, not an
    /// error.
    pub(crate) fn start(settings: RedisSettings, sink: Sink) -> Result<RedisBroker, green::Error> {
        let shared = Arc::new(Shared {
            health: Health::new(settings.address()),
            outbox: Outbox::new(settings.outbox_bytes),
            subscriptions: Subscriptions::default(),
            instance: random_seed(),
            settings,
            sink,
            stopping: AtomicBool::new(false),
            stopped: green::Event::new(),
            links: Mutex::new([None, None]),
        });
        let broker = RedisBroker {
            shared: shared.clone(),
        };
        // Unnamed: a named greenlet gets a coroutine of its own, and one
        // whose handle is dropped can spin its worker thread forever when
        // it ends right after a wait (a race in may's park, reported).
        let publishing = shared.clone();
        green::Builder::new().spawn(move || publisher::run(&publishing))?;
        green::Builder::new().spawn(move || subscriber::run(&shared))?;
        Ok(broker)
    }
}

impl Drop for RedisBroker {
    fn drop(&mut self) {
        self.shared.stop();
    }
}

impl Broker for RedisBroker {
    fn publish(&self, topic: &Topic, message: &Message) {
        publisher::publish(&self.shared, topic, message);
    }

    fn subscribe(&self, topic: &Topic) {
        self.shared.subscriptions.want(self.shared.channel(topic));
    }

    fn unsubscribe(&self, topic: &Topic) {
        self.shared.subscriptions.forget(self.shared.channel(topic));
    }

    fn stats(&self) -> Option<BrokerStats> {
        Some(self.shared.health.stats())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_or_say_what_is_wrong() {
        let plain = RedisSettings::parse("redis://127.0.0.1:6390/").unwrap();
        assert_eq!((plain.host.as_str(), plain.port), ("127.0.0.1", 6390));
        assert_eq!((&plain.username, &plain.password), (&None, &None));
        assert_eq!(plain.address(), "127.0.0.1:6390");

        let default_port = RedisSettings::parse("redis://cache.internal").unwrap();
        assert_eq!(default_port.address(), "cache.internal:6379");

        let secret = RedisSettings::parse("redis://app:s%40cret@[::1]:7000/2").unwrap();
        assert_eq!(secret.username.as_deref(), Some("app"));
        assert_eq!(secret.password.as_deref(), Some("s@cret"));
        assert_eq!(secret.address(), "[::1]:7000");

        for (url, says) in [
            ("127.0.0.1:6379", "bad Redis URL"),
            ("http://127.0.0.1/", "bad Redis URL"),
            ("redis://127.0.0.1:99999/", "bad Redis URL"),
            ("redis://127.0.0.1/x", "bad Redis URL"),
            ("rediss://127.0.0.1/", "TLS"),
            ("redis+unix:///tmp/redis.sock", "over TCP only"),
        ] {
            let error = RedisSettings::parse(url).unwrap_err();
            assert!(error.contains(says), "{url}: {error}");
        }
        let error = RedisSettings::parse("redis://u:hunter2@127.0.0.1/x").unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn topics_and_channels_map_both_ways() {
        let topics = [
            Topic::All,
            Topic::Room(String::new()),
            Topic::Room("all".into()),
            Topic::Room("lobby:1 é".into()),
        ];
        for topic in &topics {
            let channel = channel_of("chat:", topic);
            assert!(channel.starts_with(b"chat:"));
            assert_eq!(topic_of("chat:", &channel).as_ref(), Some(topic));
            assert_eq!(topic_of("other:", &channel), None);
        }
        assert_eq!(channel_of("p:", &Topic::All), b"p:all");
        assert_eq!(channel_of("p:", &Topic::Room("all".into())), b"p:room:all");
        for foreign in [
            &b"chat:"[..],
            b"chat:alls",
            b"chat:rooms",
            b"chat:room:\xff",
            b"x",
        ] {
            assert_eq!(topic_of("chat:", foreign), None, "{foreign:?}");
        }
    }
}
