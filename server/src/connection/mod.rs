//! The connection layer: sockets, the accept loop, the per-connection
//! HTTP/1.1 loop, and the generic take-over after a 101. It knows nothing
//! of WebSockets: the layer that takes a connection over registers what it
//! needs (a stop hook) through [`upgrade::Upgraded`].
//!
//! Imports point one way: `server` (the builder) → `accept` → `conn` →
//! (`crate::request`, `io`, `running`) → `registry`, `upgrade` →
//! `transport`; `listener` (TCP or Unix) sits under `server`, `accept`,
//! `running` and `proxy_header`; `tls` and `access_log` stand alone.

mod accept;
pub(crate) mod access_log;
mod conn;
pub(crate) mod io;
mod listen_fds;
mod listener;
mod proxy_header;
pub(crate) mod registry;
mod running;
mod server;
pub(crate) mod tls;
pub(crate) mod transport;
pub(crate) mod upgrade;

pub use listener::{ListenAddr, Listener};
pub use running::{ServerHandle, Stopper};
pub use server::WsgiServer;
