//! Host names to addresses, without blocking a worker thread.
//!
//! The system's resolver (`getaddrinfo`) blocks the thread that calls it,
//! for as long as a DNS server takes to answer. Called from a greenlet,
//! that would stall every greenlet of the worker thread, so a greenlet's
//! lookups go to a few resolver threads and the greenlet waits for the
//! answer (a green wait, with the connect deadline). A plain thread looks
//! up by itself; an IP address needs no lookup at all.

use std::io::{self, ErrorKind};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::OnceLock;
use std::time::Instant;

/// Threads that run lookups for greenlets.
const RESOLVER_THREADS: usize = 4;

/// A lookup's answer, as an `AsyncResult` can carry it (`io::Error` is not
/// `Clone`).
type Answer = Result<Vec<SocketAddr>, (ErrorKind, String)>;

struct Lookup {
    host: String,
    port: u16,
    answer: green::AsyncResult<Answer>,
}

/// The addresses of `host` (a name, or an IP address without brackets) at
/// `port`, in the resolver's order. A lookup that outlasts `deadline`
/// fails with kind `TimedOut`; one that finds nothing with `NotFound`.
pub(crate) fn resolve(
    host: &str,
    port: u16,
    deadline: Option<Instant>,
) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs = match resolver_queue() {
        Some(queue) if green::in_coroutine() => {
            let answer = green::AsyncResult::new();
            queue.put(Lookup {
                host: host.to_owned(),
                port,
                answer: answer.clone(),
            });
            let waited = match crate::deadline::time_left(deadline) {
                Some(left) => answer.get_timeout(left),
                None => answer.get(),
            };
            match waited {
                Ok(Ok(addrs)) => addrs,
                Ok(Err((kind, message))) => return Err(io::Error::new(kind, message)),
                Err(_) => return Err(ErrorKind::TimedOut.into()),
            }
        }
        _ => look_up(host, port)?,
    };
    if addrs.is_empty() {
        return Err(io::Error::new(ErrorKind::NotFound, "no address found"));
    }
    Ok(addrs)
}

/// The system resolver's answer (blocks the calling thread).
fn look_up(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    Ok((host, port).to_socket_addrs()?.collect())
}

/// The queue the resolver threads serve, started at the first lookup from
/// a greenlet; `None` if no thread could be started (lookups then block
/// their caller's thread).
fn resolver_queue() -> Option<&'static green::Queue<Lookup>> {
    static QUEUE: OnceLock<Option<green::Queue<Lookup>>> = OnceLock::new();
    QUEUE
        .get_or_init(|| {
            let queue = green::Queue::unbounded();
            let started = (0..RESOLVER_THREADS)
                .filter(|i| {
                    let lookups: green::Queue<Lookup> = queue.clone();
                    std::thread::Builder::new()
                        .name(format!("greenws-resolver-{i}"))
                        .spawn(move || loop {
                            let lookup = lookups.get();
                            let answer = look_up(&lookup.host, lookup.port)
                                .map_err(|e| (e.kind(), e.to_string()));
                            lookup.answer.set(answer);
                        })
                        .map_err(|e| log::warn!("cannot start a resolver thread: {e}"))
                        .is_ok()
                })
                .count();
            (started > 0).then_some(queue)
        })
        .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ip_addresses_need_no_lookup_and_names_are_looked_up_off_the_worker() {
        assert_eq!(
            resolve("::1", 9, None).unwrap(),
            ["[::1]:9".parse().unwrap()]
        );
        // From a greenlet (through the resolver threads) and from a thread.
        let deadline = Some(Instant::now() + Duration::from_secs(30));
        let from_greenlet = green::spawn(move || resolve("localhost", 80, deadline))
            .join()
            .unwrap()
            .unwrap();
        assert!(from_greenlet
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 80));
        assert_eq!(from_greenlet, resolve("localhost", 80, deadline).unwrap());
        // A name no resolver can look up (a label longer than DNS's 63
        // bytes: refused before any query goes out).
        let name = format!("{}.test", "a".repeat(70));
        let missing = green::spawn(move || resolve(&name, 80, deadline))
            .join()
            .unwrap();
        assert!(missing.is_err(), "{missing:?}");
    }
}
