//! Coroutine-aware sockets (may's): blocking calls on them suspend only the
//! calling greenlet, and [`with_timeout`](crate::with_timeout) and
//! [`Greenlet::kill`](crate::Greenlet::kill) interrupt them.
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
//! Note: may's `TcpListener::bind` sets `SO_REUSEPORT`, so binding a port
//! that another process already listens on succeeds and the two share its
//! connections. To get a clear "address in use" error, bind a
//! `std::net::TcpListener` and convert it with [`listener_from_std`].

use std::os::fd::{FromRawFd, IntoRawFd};

mod duplex;

pub use duplex::DuplexStream;
pub use may::net::{TcpListener, TcpStream, UdpSocket};

/// Makes a coroutine-aware listener of a bound std listener (which is
/// switched to non-blocking mode).
pub fn listener_from_std(listener: std::net::TcpListener) -> std::io::Result<TcpListener> {
    listener.set_nonblocking(true)?;
    crate::config::ensure_started();
    // Safety: the descriptor comes from an owned listener, given up here.
    Ok(unsafe { TcpListener::from_raw_fd(listener.into_raw_fd()) })
}
