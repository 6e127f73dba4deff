//! A running server: [`ServerHandle`], [`Stopper`] and the graceful stop
//! they share.

use crate::proto::forwarded::{TrustedProxies, UNIX_PEER};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use green::{Greenlet, Pool};
use parking_lot::Mutex;

use super::listener::{ListenAddr, SocketFile};
use super::registry::Registry;
use crate::handler::{App, Handler};
use crate::Limits;

/// What every connection of one server shares.
pub(crate) struct Shared {
    pub(crate) app: Box<dyn App>,
    pub(crate) handler: Arc<dyn Handler>,
    pub(crate) limits: Limits,
    pub(crate) scheme: &'static str,
    /// Whose forwarding headers give the client's address and scheme.
    pub(crate) trusted_proxies: TrustedProxies,
    /// Each connection starts with a PROXY protocol header.
    pub(crate) proxy_protocol: bool,
    /// The TLS configuration, when serving HTTPS.
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    pub(super) stopping: AtomicBool,
    pub(crate) registry: Registry,
    pub(super) pool: Pool,
    pub(super) max_connections: usize,
    pub(super) tcp_keepalive: Option<Duration>,
    pub(super) listen_addr: ListenAddr,
    /// The socket file `bind_unix` made, removed once accepting stopped.
    pub(super) socket_file: Mutex<Option<SocketFile>>,
    /// The accepting greenlet, until a stop takes it.
    pub(super) acceptor: Mutex<Option<Greenlet<()>>>,
    pub(super) stopped: green::Event,
    /// Whether the stop finished in time (valid once `stopped` is set).
    pub(super) graceful: AtomicBool,
}

impl Shared {
    /// True once a stop began: connections finish their request and close.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// A running server: its address, and the way to stop it.
pub struct ServerHandle {
    pub(super) shared: Arc<Shared>,
}

impl ServerHandle {
    /// The TCP address the server listens on, with the real port;
    /// [`UNIX_PEER`] (`0.0.0.0:0`) on a Unix socket (see
    /// [`listen_addr`](Self::listen_addr)).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.listen_addr.tcp().unwrap_or(UNIX_PEER)
    }

    /// Where the server listens: a TCP address or a Unix socket's path.
    pub fn listen_addr(&self) -> &ListenAddr {
        &self.shared.listen_addr
    }

    /// The number of open connections.
    pub fn connections(&self) -> usize {
        self.shared.registry.len()
    }

    /// The most connections served at once: [`WsgiServer::spawn`](crate::WsgiServer::spawn)'s bound,
    /// or the default the process's limits gave (see [`WsgiServer`](crate::WsgiServer)).
    pub fn max_connections(&self) -> usize {
        self.shared.max_connections
    }

    /// Stops gracefully: stops accepting (the port is released), lets
    /// requests in flight finish, closes idle connections and WebSockets
    /// (1001), then, after `timeout`, kills what is still running. True if
    /// everything finished within the timeout.
    pub fn stop(self, timeout: Duration) -> bool {
        self.shared.stop(timeout)
    }

    /// Blocks until the server is stopped (by a [`Stopper`], from another
    /// greenlet or thread).
    pub fn wait(&self) {
        self.shared.stopped.wait();
    }

    /// A cloneable handle that can stop the server from anywhere (a signal
    /// handler, another greenlet) while this one waits.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shared.stop(Duration::from_secs(5));
    }
}

impl Shared {
    /// The graceful stop behind [`ServerHandle::stop`] and [`Stopper`]; a
    /// second call waits for the first one's result.
    pub(super) fn stop(&self, timeout: Duration) -> bool {
        let Some(acceptor) = self.acceptor.lock().take() else {
            self.stopped.wait();
            return self.graceful.load(Ordering::SeqCst);
        };
        let deadline = crate::deadline::after(timeout);
        self.stopping.store(true, Ordering::SeqCst);
        acceptor.kill();
        let _ = acceptor.join();
        // Nobody accepts any more: new clients get "connection refused"
        // from a stale file, or "no such file" once it is gone.
        drop(self.socket_file.lock().take());
        self.registry.wake_idle();
        let graceful = self.pool.join(crate::deadline::time_left(deadline));
        if !graceful {
            log::warn!(
                "stop: {} connection(s) still busy after {timeout:?}; killing them",
                self.registry.len()
            );
            self.pool.kill();
            self.pool.join(Some(Duration::from_secs(5)));
        }
        self.graceful.store(graceful, Ordering::SeqCst);
        self.stopped.set();
        log::info!(
            "stopped serving on {}",
            self.listen_addr.with_scheme(self.scheme)
        );
        graceful
    }
}

/// Stops a server from anywhere; see [`ServerHandle::stopper`].
#[derive(Clone)]
pub struct Stopper {
    shared: Arc<Shared>,
}

impl Stopper {
    /// Starts a graceful stop (see [`ServerHandle::stop`]) without waiting
    /// for it; the handle's [`wait`](ServerHandle::wait) returns once it is
    /// done.
    pub fn stop(&self, timeout: Duration) {
        let shared = self.shared.clone();
        green::spawn(move || shared.stop(timeout));
    }
}
