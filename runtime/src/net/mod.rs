//! Coroutine-aware sockets: std's `TcpStream`, `TcpListener` and
//! `UdpSocket`, whose blocking calls suspend only the calling greenlet (and
//! block a plain thread as std's would), [`UnixListener`] for Unix domain
//! stream sockets, and [`DuplexStream`] for a reader and writers sharing
//! one connection (TCP or Unix: [`DuplexStream::connect_unix`]). Every wait in them, a read, a write
//! into a full send buffer, an accept, a connect, a receive, is stopped by
//! [`Greenlet::kill`](crate::Greenlet::kill) and
//! [`with_timeout`](crate::with_timeout): the call unwinds and the greenlet
//! ends as `Killed` (or the closure as `Err(Timeout)`).
//!
//! ```
//! use std::io::{Read, Write};
//! let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
//! let addr = listener.local_addr().unwrap();
//! let server = green::spawn(move || {
//!     let (mut conn, _) = listener.accept().unwrap();
//!     let mut buf = [0u8; 5];
//!     conn.read_exact(&mut buf).unwrap();
//!     conn.write_all(&buf).unwrap();
//! });
//! let mut client = green::net::TcpStream::connect(addr).unwrap();
//! client.write_all(b"hello").unwrap();
//! let mut back = [0u8; 5];
//! client.read_exact(&mut back).unwrap();
//! assert_eq!(&back, b"hello");
//! server.join().unwrap();
//! ```
//!
//! Note: [`TcpListener::bind`] sets `SO_REUSEPORT` (as may does), so binding a port
//! that another process already listens on succeeds and the two share its
//! connections. To get a clear "address in use" error, bind a
//! `std::net::TcpListener` and convert it with [`listener_from_std`].

use std::os::fd::{FromRawFd, IntoRawFd};

mod duplex;
mod tcp;
mod udp;
mod unix;

pub use duplex::DuplexStream;
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::UnixListener;

/// Makes a coroutine-aware listener of a bound std listener (which is
/// switched to non-blocking mode).
pub fn listener_from_std(listener: std::net::TcpListener) -> std::io::Result<TcpListener> {
    listener.set_nonblocking(true)?;
    crate::config::ensure_started();
    // Safety: the descriptor comes from an owned listener, given up here.
    let listener = unsafe { may::net::TcpListener::from_raw_fd(listener.into_raw_fd()) };
    Ok(TcpListener::from_may(listener))
}
