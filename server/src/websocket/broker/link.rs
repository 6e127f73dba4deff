//! One connection to Redis over a green socket: name lookup off the worker
//! threads, connect, authenticate, PING; every step bounded in time.

use std::io::{self, ErrorKind, Read};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Instant;

use green::net::{DuplexStream, TcpStream};

use super::redis::RedisSettings;
use super::resp::{Reply, ReplyReader};

/// A connected, authenticated connection: the socket (shared by a reader
/// and a writer) and the reader of its replies.
pub(crate) struct Link {
    pub stream: Arc<DuplexStream>,
    pub replies: ReplyReader,
}

impl Link {
    /// Connects to the Redis of `settings` within its connect timeout.
    pub(crate) fn connect(settings: &RedisSettings) -> io::Result<Link> {
        let deadline = Instant::now() + settings.timing.connect;
        let stream = connect_tcp(&settings.host, settings.port, deadline)?;
        stream.set_nodelay(true)?;
        let mut link = Link {
            stream: Arc::new(DuplexStream::new(stream)),
            replies: ReplyReader::new(settings.max_message_size + super::envelope::HEADER_LEN),
        };
        link.handshake(settings, deadline)?;
        Ok(link)
    }

    /// AUTH if the URL has credentials, then PING: a connection is up only
    /// once Redis answered.
    fn handshake(&mut self, settings: &RedisSettings, deadline: Instant) -> io::Result<()> {
        let mut commands = Vec::new();
        if let Some(password) = &settings.password {
            let mut auth = ::redis::cmd("AUTH");
            if let Some(user) = &settings.username {
                auth.arg(user.as_str());
            }
            auth.arg(password.as_str())
                .write_packed_command(&mut commands);
        }
        ::redis::cmd("PING").write_packed_command(&mut commands);
        self.stream.write_all(&commands, Some(deadline))?;
        if settings.password.is_some() {
            match self.read_reply(deadline)? {
                Reply::Status(_) => {}
                Reply::Error(why) => {
                    return Err(io::Error::new(
                        ErrorKind::PermissionDenied,
                        format!("Redis refused AUTH: {why}"),
                    ))
                }
                other => return Err(unexpected("AUTH", &other)),
            }
        }
        match self.read_reply(deadline)? {
            Reply::Status(pong) if pong == "PONG" => Ok(()),
            Reply::Error(why) => Err(io::Error::new(
                ErrorKind::PermissionDenied,
                format!("Redis refused PING: {why}"),
            )),
            other => Err(unexpected("PING", &other)),
        }
    }

    /// Reads one reply, waiting until `deadline` at most.
    pub(crate) fn read_reply(&mut self, deadline: Instant) -> io::Result<Reply> {
        self.replies.read(&mut TimedRead {
            stream: &self.stream,
            deadline,
        })
    }
}

/// Reads from a shared stream until a deadline: what [`ReplyReader`]
/// reads from.
pub(crate) struct TimedRead<'a> {
    pub stream: &'a DuplexStream,
    pub deadline: Instant,
}

impl Read for TimedRead<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.stream.read(out, Some(self.deadline)).map_err(|e| {
            if e.kind() == ErrorKind::TimedOut {
                io::Error::new(ErrorKind::TimedOut, "Redis did not answer in time")
            } else {
                e
            }
        })
    }
}

/// An answer that is not the one a command has.
pub(crate) fn unexpected(command: &str, reply: &Reply) -> io::Error {
    io::Error::new(
        ErrorKind::InvalidData,
        format!("Redis answered {command} with {reply:?}"),
    )
}

/// Connects to the first address of `host` that answers before
/// `deadline`.
fn connect_tcp(host: &str, port: u16, deadline: Instant) -> io::Result<TcpStream> {
    let mut last_error = None;
    for addr in resolve(host, port, deadline)? {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::new(ErrorKind::TimedOut, "connecting timed out")))
}

/// The addresses of `host`. A name is looked up on a plain thread (the
/// system resolver blocks), so no worker thread waits for DNS; the
/// greenlet waits until `deadline` at most.
fn resolve(host: &str, port: u16, deadline: Instant) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let answer = green::Queue::bounded(1);
    let sender = answer.clone();
    let name = (host.to_owned(), port);
    std::thread::Builder::new()
        .name("greenws-redis-dns".into())
        .spawn(move || {
            let found = name
                .to_socket_addrs()
                .map(|addrs| addrs.collect::<Vec<_>>());
            let _ = sender.try_put(found);
        })?;
    let left = deadline.saturating_duration_since(Instant::now());
    match answer.get_timeout(left) {
        Some(Ok(addrs)) if addrs.is_empty() => Err(io::Error::new(
            ErrorKind::NotFound,
            format!("{host} has no address"),
        )),
        Some(found) => found,
        None => Err(io::Error::new(
            ErrorKind::TimedOut,
            format!("looking up {host} timed out"),
        )),
    }
}
