//! A Redis of the test's own: `redis-server` on a free port (never 6379),
//! nothing saved to disk, killed when dropped; and a blocking client for
//! the test's own questions (`PUBSUB CHANNELS`, `CLIENT LIST`...).

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`.
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a Redis on a free port. Without `redis-server` installed, the
    /// test fails under `CI=true` and is skipped (`None`, with a message)
    /// elsewhere.
    pub fn start() -> Option<RedisServer> {
        Self::start_on(free_port())
    }

    /// True if `redis-server` is installed. If not, fails the test under
    /// `CI=true`, and says the test is skipped elsewhere.
    pub fn available() -> bool {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok()
        {
            return true;
        }
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "redis-server is not installed (CI=true: the Redis tests must run; \
             .ci/run installs the Debian package redis-server)"
        );
        eprintln!("SKIPPED: redis-server is not installed (apt-get install redis-server)");
        false
    }

    /// Starts a Redis on `port` (see [`start`](Self::start)).
    pub fn start_on(port: u16) -> Option<RedisServer> {
        if !Self::available() {
            return None;
        }
        let dir = std::env::temp_dir().join(format!("greenws-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory for redis-server");
        let mut server = RedisServer {
            port,
            dir,
            child: None,
        };
        server.restart();
        Some(server)
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL: no goodbye to its clients) and waits
    /// until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops (SIGSTOP) or resumes (SIGCONT) the server: a Redis that holds
    /// its connections open and answers nothing.
    pub fn pause(&self, paused: bool) {
        let child = self.child.as_ref().expect("running");
        let signal = if paused { libc::SIGSTOP } else { libc::SIGCONT };
        // Safety: a signal to our own child process.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
    }

    /// Starts the server again on the same port (after [`kill`](Self::kill))
    /// and waits until it answers PING.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut client) = self.client() {
                if redis::cmd("PING").query::<String>(&mut client).is_ok() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not start",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A blocking client (for the test thread, not for greenlets).
    pub fn client(&self) -> redis::RedisResult<redis::Connection> {
        let client = redis::Client::open(self.url())?;
        let connection = client.get_connection_with_timeout(Duration::from_secs(5))?;
        connection.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(connection)
    }

    /// Runs one command and gives its answer.
    pub fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> T {
        let mut client = self.client().expect("a connection to the test's Redis");
        command.query(&mut client).expect("Redis answers")
    }

    /// The channels with at least one subscriber, matching `pattern`, sorted.
    pub fn channels(&self, pattern: &str) -> Vec<String> {
        let mut channels: Vec<String> =
            self.query(redis::cmd("PUBSUB").arg("CHANNELS").arg(pattern));
        channels.sort();
        channels
    }

    /// How many connections are subscribed to `channel`.
    pub fn subscribers(&self, channel: &str) -> usize {
        let counts: Vec<(String, usize)> =
            self.query(redis::cmd("PUBSUB").arg("NUMSUB").arg(channel));
        counts[0].1
    }

    /// Client connections, not counting the one that asks.
    pub fn clients(&self) -> usize {
        let list: String = self.query(redis::cmd("CLIENT").arg("LIST"));
        list.lines().count() - 1
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port nothing listens on now: bound to port 0, then released.
/// A port free now and below the kernel's range of ephemeral ports: the
/// hubs connect to a Redis port while nothing listens on it (before a start,
/// during a restart), and a connection whose ephemeral source port equals
/// that port connects to itself and takes the port (Redis then cannot bind).
pub fn free_port() -> u16 {
    let ephemeral_from: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let low = 10_000.min(ephemeral_from / 2);
    let span = u32::from(ephemeral_from - low);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id().wrapping_mul(2_654_435_761);
    (0..span)
        .map(|i| low + ((seed.wrapping_add(i)) % span) as u16)
        .find(|&port| TcpListener::bind(("127.0.0.1", port)).is_ok())
        .expect("a free port below the ephemeral range")
}

/// Polls `condition` every 10 ms until it holds; fails the test after 10 s
/// with `what`.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
