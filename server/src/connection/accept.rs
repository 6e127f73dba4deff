//! The accept loop: one greenlet per accepted connection, within the
//! connection bound; out of descriptors, it sheds a waiting connection
//! rather than leave every new client hanging.

use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::conn;
use super::listener::Listening;
use super::running::Shared;

/// The stack of a TLS connection's greenlet. rustls's handshake needs
/// more than the default; pages only become resident as they are touched.
const TLS_STACK_SIZE: usize = 256 * 1024;

pub(super) fn accept_loop(listener: Listening, shared: Arc<Shared>) {
    let mut spare = Spare::reserve();
    let mut fd_errors = RateLimitedLog::default();
    loop {
        // Accepting pauses while the pool is full.
        let Some(slot) = shared.pool.wait_slot(None) else {
            continue;
        };
        if shared.stopping() {
            return;
        }
        let (stream, peer) = match listener.accept(shared.tcp_keepalive) {
            Ok(accepted) => accepted,
            Err(e) if is_out_of_descriptors(&e) => {
                count_accept_error();
                // Close one waiting connection rather than leave it hanging.
                match spare.shed_one(&listener) {
                    Some(peer) => fd_errors.log(|n| {
                        format!("out of file descriptors ({e}): closed {n} new connection(s), the last from {peer}")
                    }),
                    // Nothing was waiting, or no descriptor could be had;
                    // accept fails at once while the process has none
                    // left, so do not spin.
                    None => green::sleep(Duration::from_millis(10)),
                }
                continue;
            }
            Err(e) => {
                count_accept_error();
                fd_errors.log(|n| format!("accept failed ({n} time(s)): {e}"));
                green::sleep(Duration::from_millis(1));
                continue;
            }
        };
        let conn_shared = shared.clone();
        let builder = match shared.tls {
            // rustls's handshake (certificate signing included) goes deeper
            // than the default stack allows.
            Some(_) => green::Builder::new().stack_size(TLS_STACK_SIZE),
            None => green::Builder::new(),
        };
        let spawned = shared.pool.spawn_in(slot, builder, move || {
            let _open = crate::metrics::OpenGuard::http();
            conn::serve(stream, peer, conn_shared)
        });
        if let Err(e) = spawned {
            // The stream was moved into the closure and dropped with it:
            // the connection is closed.
            log::error!(
                "closed a connection from {}: cannot create its coroutine: {e}",
                peer.addr
            );
        }
    }
}

fn count_accept_error() {
    if let Some(metrics) = crate::metrics::enabled() {
        metrics.accept_errors.inc();
    }
}

fn is_out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// A spare descriptor, so that a process out of descriptors can still
/// accept one waiting connection, to close it, rather than leave every new
/// client hanging unanswered.
struct Spare(Option<OwnedFd>);

impl Spare {
    /// Takes a descriptor (of /dev/null) to keep in reserve.
    fn reserve() -> Spare {
        // Safety: open has no memory effects beyond returning a descriptor.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        // Safety: a fresh descriptor owned from here on.
        Spare((fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Accepts one waiting connection in the spare's place and closes it,
    /// keeping the place: the spare is closed, the connection accepted
    /// (into the number just freed), and its socket then replaced, in one
    /// `dup3`, by a copy of the listener's descriptor, which is the new
    /// spare. The number is never given back between the close of the
    /// connection and a new spare. It is free only between the spare's
    /// close and the accept, two system calls in a row; if another thread
    /// takes it there, a new spare is opened once a descriptor is free.
    /// Gives the closed connection's peer, or `None` if none was waiting
    /// (or no descriptor could be had).
    fn shed_one(&mut self, listener: &Listening) -> Option<String> {
        if self.0.take().is_none() {
            *self = Spare::reserve();
            return None;
        }
        let Ok((victim, peer)) = listener.accept_now() else {
            *self = Spare::reserve();
            return None;
        };
        let fd = victim.into_raw_fd();
        // Safety: `fd` is ours (the accepted socket, given up above) and the
        // listener's descriptor is open; dup3 closes the socket and makes
        // `fd` a copy of the listener's descriptor, atomically.
        let duplicated = unsafe { libc::dup3(listener.as_raw_fd(), fd, libc::O_CLOEXEC) };
        if duplicated == fd {
            // Safety: `fd` now refers to the listener's socket, owned here.
            self.0 = Some(unsafe { OwnedFd::from_raw_fd(fd) });
        } else {
            // Safety: dup3 failed, `fd` is still the accepted socket.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
            *self = Spare::reserve();
        }
        Some(peer)
    }
}

/// Logs a repeated error at most once a second, with a count.
#[derive(Default)]
struct RateLimitedLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    fn log(&mut self, message: impl FnOnce(u64) -> String) {
        self.suppressed += 1;
        if self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            log::error!("{}", message(self.suppressed));
            self.last = Some(Instant::now());
            self.suppressed = 0;
        }
    }
}
