//! Rooms across instances: hubs that share a Redis of the test's own,
//! behind real servers with real WebSocket clients. Broadcasts from either
//! side reach every member once and in order; a room is subscribed only
//! while it has members here; Redis killed, paused or late: local delivery
//! goes on, delivery across instances resumes, nothing blocks, and every
//! broadcast is accounted for.
//!
//! Each test starts its own `redis-server` on a free port; without one the
//! tests fail under `CI=true` and are skipped elsewhere.

#[path = "support/example.rs"]
mod example;
#[path = "support/redis.rs"]
mod redis_server;
#[path = "support/ws.rs"]
mod ws;

use std::sync::{Mutex, OnceLock};

use greenws::{Hub, Message, Request, ServerHandle, Upgrade, WebSocketHandler, WsgiServer};
use redis_server::{free_port, wait_until, RedisServer};

/// A hub on the test's Redis.
fn hub(redis_url: &str) -> Hub {
    Hub::builder()
        .capacity(1024)
        .redis(redis_url)
        .prefix("t:")
        .build()
        .expect("a hub")
}

/// A server whose WebSockets join the room of their path (`/lobby`) and
/// say "joined" once in. Then every text message goes to the sender's
/// room, `all TEXT` goes to every member, and `leave` leaves the room
/// (answered "left").
fn serve(hub: Hub) -> ServerHandle {
    let app = move |req: &mut Request| {
        let hub = hub.clone();
        req.upgrade(move |ws| {
            let room = ws.path().trim_start_matches('/').to_owned();
            let id = hub.join(&ws);
            hub.join_room(id, &room);
            ws.send("joined")?;
            for message in ws.messages() {
                let Message::Text(text) = message? else {
                    continue;
                };
                if let Some(rest) = text.strip_prefix("all ") {
                    hub.broadcast(rest.to_owned());
                } else if text == "leave" {
                    hub.leave_room(id, &room);
                    ws.send("left")?;
                } else {
                    hub.broadcast_to(&room, text);
                }
            }
            Ok(())
        })
    };
    WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .handler_class(WebSocketHandler::new())
        .start(app)
        .unwrap()
}

/// A client in `room` of `server`, once the server says it joined.
fn member(server: &ServerHandle, room: &str) -> ws::Client {
    let mut client = ws::connect(server.local_addr(), &format!("/{room}"));
    assert_eq!(next(&mut client), "joined");
    client
}

fn say(client: &mut ws::Client, text: &str) {
    client.send(tungstenite::Message::text(text)).unwrap();
}

/// The next text message (within the client's 10 s read timeout).
fn next(client: &mut ws::Client) -> String {
    loop {
        match client.read().expect("a message") {
            tungstenite::Message::Text(text) => return text.to_string(),
            tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Waits until Redis has `count` subscribers on the channel of each room
/// (`all` for the broadcasts to all).
fn wait_subscribed(redis: &RedisServer, rooms: &[(&str, usize)]) {
    for &(room, count) in rooms {
        let channel = if room == "all" {
            "t:all".to_owned()
        } else {
            format!("t:room:{room}")
        };
        wait_until(&format!("{count} subscribers on {channel}"), || {
            redis.subscribers(&channel) == count
        });
    }
}

fn stats(hub: &Hub) -> greenws::BrokerStats {
    hub.broker_stats().expect("a hub with a broker")
}

#[test]
fn broadcasts_from_either_side_reach_every_member_once_and_in_order() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (hub1, hub2) = (hub(&redis.url()), hub(&redis.url()));
    let (server1, server2) = (serve(hub1.clone()), serve(hub2.clone()));
    let mut lobby = [
        member(&server1, "lobby"),
        member(&server1, "lobby"),
        member(&server2, "lobby"),
        member(&server2, "lobby"),
    ];
    let mut elsewhere = member(&server2, "side");
    wait_subscribed(&redis, &[("lobby", 2), ("side", 1), ("all", 2)]);

    // Two senders, one on each instance, interleaved.
    for i in 0..100 {
        say(&mut lobby[0], &format!("a {i}"));
        say(&mut lobby[2], &format!("c {i}"));
    }
    say(&mut lobby[0], "a end");
    say(&mut lobby[2], "c end");
    for (n, client) in lobby.iter_mut().enumerate() {
        let mut from_a = Vec::new();
        let mut from_c = Vec::new();
        while from_a.last().map(String::as_str) != Some("a end")
            || from_c.last().map(String::as_str) != Some("c end")
        {
            let text = next(client);
            match text.split_once(' ') {
                Some(("a", _)) => from_a.push(text),
                Some(("c", _)) => from_c.push(text),
                _ => panic!("member {n} got {text:?}"),
            }
        }
        let expected = |sender: &str| {
            (0..100)
                .map(|i| format!("{sender} {i}"))
                .chain([format!("{sender} end")])
                .collect::<Vec<_>>()
        };
        assert_eq!(
            from_a,
            expected("a"),
            "member {n}: a's messages, once, in order"
        );
        assert_eq!(
            from_c,
            expected("c"),
            "member {n}: c's messages, once, in order"
        );
    }

    // To all, through the reserved channel: the member in another room too,
    // and nothing of the lobby's came to it before.
    say(&mut lobby[3], "all to everyone");
    for client in lobby.iter_mut().chain([&mut elsewhere]) {
        assert_eq!(next(client), "to everyone");
    }
    say(&mut lobby[1], "all second");
    for client in lobby.iter_mut().chain([&mut elsewhere]) {
        assert_eq!(next(client), "second", "each broadcast arrives once");
    }
    for hub in [&hub1, &hub2] {
        let stats = stats(hub);
        assert!(stats.connected, "{stats:?}");
        assert_eq!((stats.unpublished, stats.rejected), (0, 0), "{stats:?}");
    }
    // Redis's answers to hub1 may come after hub2 delivered.
    wait_until("hub1 has its 102 broadcasts confirmed", || {
        stats(&hub1).published == 102
    });
    assert_eq!(stats(&hub2).received, 102);
}

#[test]
fn a_room_is_subscribed_only_while_it_has_members_here() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let hub = hub(&redis.url());
    let server = serve(hub.clone());
    assert_eq!(redis.channels("t:*"), Vec::<String>::new());

    let mut first = member(&server, "quiet");
    let mut second = member(&server, "quiet");
    let other = member(&server, "busy");
    wait_until("the rooms are subscribed", || {
        redis.channels("t:*") == ["t:all", "t:room:busy", "t:room:quiet"]
    });
    say(&mut first, "leave");
    assert_eq!(next(&mut first), "left");
    // The room still has a member: it stays subscribed.
    say(&mut second, "still here");
    assert_eq!(next(&mut second), "still here");
    assert_eq!(
        redis.channels("t:*"),
        ["t:all", "t:room:busy", "t:room:quiet"]
    );
    say(&mut second, "leave");
    assert_eq!(next(&mut second), "left");
    wait_until("the emptied room is unsubscribed", || {
        redis.channels("t:*") == ["t:all", "t:room:busy"]
    });
    drop((first, second, other));
    wait_until("nothing is subscribed once every member left", || {
        redis.channels("t:*").is_empty()
    });
}

#[test]
fn delivery_resumes_after_redis_is_killed_and_restarted() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let (hub1, hub2) = (hub(&redis.url()), hub(&redis.url()));
    let (server1, server2) = (serve(hub1.clone()), serve(hub2.clone()));
    let mut sender = member(&server1, "lobby");
    let mut neighbour = member(&server1, "lobby");
    let mut remote = member(&server2, "lobby");
    wait_subscribed(&redis, &[("lobby", 2)]);
    say(&mut sender, "before");
    for client in [&mut sender, &mut neighbour, &mut remote] {
        assert_eq!(next(client), "before");
    }

    redis.kill();
    wait_until("both hubs see Redis gone", || {
        !stats(&hub1).connected && !stats(&hub2).connected
    });
    // Local delivery goes on; nothing waits for Redis.
    for i in 0..20 {
        say(&mut sender, &format!("during {i}"));
    }
    for i in 0..20 {
        assert_eq!(next(&mut neighbour), format!("during {i}"));
    }
    wait_until("what could not be published is counted", || {
        stats(&hub1).unpublished == 20
    });

    redis.restart();
    wait_until("both hubs reconnect", || {
        stats(&hub1).connected && stats(&hub2).connected
    });
    wait_subscribed(&redis, &[("lobby", 2), ("all", 2)]);
    say(&mut sender, "after");
    assert_eq!(next(&mut neighbour), "after");
    assert_eq!(
        next(&mut remote),
        "after",
        "the remote member got nothing sent while Redis was away, then resumed"
    );
    assert!(stats(&hub1).outages >= 1);
}

#[test]
fn an_outage_is_logged_once_with_what_it_cost() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    capture_logs();
    let hub = hub(&redis.url());
    let server = serve(hub.clone());
    let _member = member(&server, "lobby");
    wait_until("connected", || stats(&hub).connected);

    redis.kill();
    for i in 0..50 {
        hub.broadcast_to("lobby", format!("lost {i}"));
    }
    wait_until("the 50 broadcasts are counted", || {
        stats(&hub).unpublished == 50
    });
    redis.restart();
    wait_until("reconnected", || stats(&hub).connected);

    let lines = logged_about(&redis);
    assert_eq!(
        lines.len(),
        2,
        "one line when it begins, one when it ends: {lines:#?}"
    );
    assert!(
        lines[0].starts_with("WARN hub: lost the connection to Redis at"),
        "{lines:#?}"
    );
    assert!(lines[1].starts_with("INFO hub: Redis at"), "{lines:#?}");
    assert!(
        lines[1].contains("50 broadcasts could not be published"),
        "{lines:#?}"
    );
}

#[test]
fn an_unreachable_redis_at_start_is_not_an_error_and_is_used_once_it_answers() {
    if !RedisServer::available() {
        return;
    }
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}/");
    let (hub1, hub2) = (hub(&url), hub(&url));
    let (server1, server2) = (serve(hub1.clone()), serve(hub2.clone()));
    let mut sender = member(&server1, "lobby");
    let mut remote = member(&server2, "lobby");
    say(&mut sender, "alone");
    assert_eq!(
        next(&mut sender),
        "alone",
        "local delivery works without Redis"
    );
    wait_until("the outage is known", || stats(&hub1).outages == 1);
    assert!(!stats(&hub1).connected);

    let redis = RedisServer::start_on(port).expect("redis-server");
    wait_until("both hubs connect", || {
        stats(&hub1).connected && stats(&hub2).connected
    });
    wait_subscribed(&redis, &[("lobby", 2)]);
    say(&mut sender, "together");
    assert_eq!(next(&mut sender), "together");
    assert_eq!(next(&mut remote), "together");
}

#[test]
fn what_peers_publish_is_bounded_checked_and_kept_in_order() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let hub = Hub::builder()
        .redis(redis.url())
        .prefix("t:")
        .max_message_size(1024)
        .build()
        .unwrap();
    let server = serve(hub.clone());
    let mut client = member(&server, "lobby");
    wait_subscribed(&redis, &[("lobby", 1)]);

    // The documented envelope: "GW", version 1, kind (0 text), instance,
    // sequence, payload.
    let envelope = |sequence: u64, text: &str| {
        let mut bytes = b"GW\x01\x00".to_vec();
        bytes.extend_from_slice(&7u64.to_be_bytes());
        bytes.extend_from_slice(&sequence.to_be_bytes());
        bytes.extend_from_slice(text.as_bytes());
        bytes
    };
    let publish = |payload: Vec<u8>| {
        let receivers: usize = redis.query(redis::cmd("PUBLISH").arg("t:room:lobby").arg(payload));
        assert_eq!(receivers, 1);
    };
    publish(envelope(1, &"x".repeat(2 << 20))); // over the limit: skipped
    publish(b"not a hub message".to_vec());
    publish(envelope(2, "first"));
    publish(envelope(2, "the same number again"));
    publish(envelope(1, "an older number"));
    publish(envelope(3, "second"));
    assert_eq!(next(&mut client), "first");
    assert_eq!(next(&mut client), "second");
    let stats = stats(&hub);
    assert_eq!((stats.received, stats.rejected), (2, 4), "{stats:?}");
    assert!(stats.connected, "the connection survived: {stats:?}");
}

#[test]
fn publishing_never_waits_for_a_stalled_redis_and_every_broadcast_is_counted() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let hub = Hub::builder()
        .redis(redis.url())
        .outbox_bytes(64 * 1024)
        .build()
        .unwrap();
    wait_until("connected", || stats(&hub).connected);
    redis.pause(true);
    let payload = "x".repeat(1000);
    for _ in 0..2000 {
        hub.broadcast(payload.as_str());
    }
    let stalled = stats(&hub);
    assert!(stalled.outbox_overflows > 0, "{stalled:?}");
    assert!(stalled.unpublished >= stalled.outbox_overflows);
    redis.pause(false);
    wait_until("every broadcast is published or counted as not", || {
        let stats = stats(&hub);
        stats.published + stats.unpublished == 2000
    });
}

#[test]
fn a_dropped_hub_closes_its_redis_connections() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    capture_logs();
    let hub = hub(&redis.url());
    wait_until("connected", || stats(&hub).connected);
    assert_eq!(
        redis.clients(),
        2,
        "one connection to publish, one to subscribe"
    );
    drop(hub);
    wait_until("the hub's connections are closed", || redis.clients() == 0);
    let logged = logged_about(&redis);
    assert!(logged.is_empty(), "a stop is no outage: {logged:#?}");
}

#[test]
fn a_bad_redis_url_is_an_error_that_says_why() {
    for url in [
        "127.0.0.1:6379",
        "http://127.0.0.1/",
        "redis://127.0.0.1:99999/",
    ] {
        let error = Hub::builder().redis(url).build().unwrap_err();
        assert!(matches!(error, greenws::Error::Config(_)), "{error:?}");
        assert!(error.to_string().contains("Redis URL"), "{error}");
    }
    let tls = Hub::builder()
        .redis("rediss://127.0.0.1/")
        .build()
        .unwrap_err();
    assert!(tls.to_string().contains("TLS"), "{tls}");
}

#[test]
fn two_chat_examples_share_their_rooms_through_redis() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let url = redis.url();
    let one = example::start_example("chat", &["--redis", &url]);
    let two = example::start_example("chat", &["--redis", &url]);
    let mut alice = ws::connect(one.addr, "/chat/den");
    let mut bob = ws::connect(two.addr, "/chat/den");
    assert!(next(&mut alice).contains(" joined den"));
    assert!(next(&mut bob).contains(" joined den"));
    wait_until("both chats subscribed to the room", || {
        redis.subscribers("chat:room:den") == 2
    });
    say(&mut alice, "hello from one");
    // Alice's "joined" may reach bob too, if her chat published it after
    // bob's subscribed.
    let mut heard = next(&mut bob);
    while heard.contains(" joined den") {
        heard = next(&mut bob);
    }
    assert!(heard.ends_with(": hello from one"), "{heard}");
}

/// The captured log lines that name this Redis.
fn logged_about(redis: &RedisServer) -> Vec<String> {
    let address = format!("127.0.0.1:{}", redis.port());
    let lines = capture_logs().lock().unwrap();
    lines
        .iter()
        .filter(|line| line.contains(&address))
        .cloned()
        .collect()
}

/// Records the log lines of the whole test binary (`LEVEL message`).
fn capture_logs() -> &'static Mutex<Vec<String>> {
    struct Capture(Mutex<Vec<String>>);
    impl log::Log for Capture {
        fn enabled(&self, metadata: &log::Metadata) -> bool {
            metadata.level() <= log::Level::Info
        }
        fn log(&self, record: &log::Record) {
            if self.enabled(record.metadata()) {
                let line = format!("{} {}", record.level(), record.args());
                self.0.lock().unwrap().push(line);
            }
        }
        fn flush(&self) {}
    }
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    let capture = CAPTURE.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(capture).expect("the only logger");
        log::set_max_level(log::LevelFilter::Info);
        capture
    });
    &capture.0
}
