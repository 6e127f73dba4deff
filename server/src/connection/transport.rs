//! The byte stream under a connection: plain TCP or TLS (rustls), either
//! one usable by a reader and writers at the same time.
//!
//! A TLS session cannot be split into a read half and a write half: both
//! directions change its state. Here the session sits behind a short lock
//! that is only ever held for non-blocking work (decrypting what arrived,
//! encrypting what to send, moving records to and from the socket); every
//! wait happens outside it, on the socket's own readiness
//! ([`DuplexStream`]). So a greenlet waiting for data never holds up one
//! that sends, over TLS as over TCP.
//!
//! Both roles use it: the server wraps an accepted socket
//! ([`Transport::tls`]), the client one it connected
//! ([`Transport::tls_client`]); after the handshake the two are the same.

use crate::metrics::{self, Direction};
use std::io::{self, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Instant;

use green::net::DuplexStream;
use parking_lot::Mutex;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

use crate::scratch_stack::on_scratch_stack;

/// A connection's byte stream.
pub(crate) enum Transport {
    Plain(Arc<DuplexStream>),
    /// Boxed: a TLS session is large, and plain connections should not pay
    /// for its size.
    Tls(Box<TlsStream>),
}

/// A TLS session (either role) over a duplex socket.
pub(crate) struct TlsStream {
    io: Arc<DuplexStream>,
    session: Mutex<Connection>,
}

/// `Read` for rustls: a non-blocking read of the raw socket.
struct Raw<'a>(&'a DuplexStream);

impl Read for Raw<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(out)
    }
}

impl Write for Raw<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.try_write(data)
    }
    /// rustls hands over every pending record at once: one system call.
    fn write_vectored(&mut self, parts: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(parts)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport {
    pub(crate) fn plain(socket: Arc<DuplexStream>) -> Self {
        Transport::Plain(socket)
    }

    /// Runs the TLS handshake (until `deadline`, if any) on an accepted
    /// socket.
    pub(crate) fn tls(
        socket: Arc<DuplexStream>,
        config: Arc<ServerConfig>,
        deadline: Option<Instant>,
    ) -> io::Result<Self> {
        let session = ServerConnection::new(config).map_err(io::Error::other)?;
        Self::tls_handshake(socket, session.into(), deadline)
    }

    /// Runs the TLS handshake (until `deadline`, if any) as the client on a
    /// connected socket, for `server_name` (sent as SNI, and what the
    /// server's certificate must be valid for). A certificate the client
    /// refuses fails with an error of kind `InvalidData` whose inner error
    /// is the `rustls::Error`.
    pub(crate) fn tls_client(
        socket: Arc<DuplexStream>,
        config: Arc<ClientConfig>,
        server_name: ServerName<'static>,
        deadline: Option<Instant>,
    ) -> io::Result<Self> {
        // Making the key shares goes deep (see `handshake`).
        let session =
            on_scratch_stack(|| ClientConnection::new(config, server_name)).map_err(tls_error)?;
        Self::tls_handshake(socket, session.into(), deadline)
    }

    fn tls_handshake(
        socket: Arc<DuplexStream>,
        mut session: Connection,
        deadline: Option<Instant>,
    ) -> io::Result<Self> {
        // Every write is flushed before it returns, so the buffer stays at one
        // frame; no limit is needed (and one would fail large writes).
        session.set_buffer_limit(None);
        let tls = TlsStream {
            io: socket,
            session: Mutex::new(session),
        };
        tls.handshake(deadline)?;
        Ok(Transport::Tls(Box::new(tls)))
    }

    fn raw(&self) -> &DuplexStream {
        match self {
            Transport::Plain(io) => io,
            Transport::Tls(tls) => &tls.io,
        }
    }

    /// The TCP socket (`inner()` gives the std socket, for options).
    pub(crate) fn tcp(&self) -> &DuplexStream {
        self.raw()
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if let Transport::Tls(tls) = self {
            if how != Shutdown::Read {
                // Say goodbye properly when it can be done without waiting.
                let mut session = tls.session.lock();
                session.send_close_notify();
                let _ = flush_now(&mut session, &tls.io);
            }
        }
        self.raw().shutdown(how)
    }

    /// Reads once, waiting until `deadline`; `Ok(0)` is the end of the stream.
    pub(crate) fn read(&self, out: &mut [u8], deadline: Option<Instant>) -> io::Result<usize> {
        loop {
            self.wait_readable(deadline)?;
            match self.try_read(out) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                result => return result,
            }
        }
    }

    /// Waits until a read is likely to find something.
    pub(crate) fn wait_readable(&self, deadline: Option<Instant>) -> io::Result<()> {
        if let Transport::Tls(tls) = self {
            if tls.plaintext_waiting()? {
                return Ok(());
            }
        }
        self.raw().wait_readable(deadline)
    }

    /// Reads without waiting: `WouldBlock` when nothing is there yet.
    pub(crate) fn try_read(&self, out: &mut [u8]) -> io::Result<usize> {
        let read = match self {
            Transport::Plain(io) => io.try_read(out),
            Transport::Tls(tls) => tls.try_read(out),
        };
        if let Ok(n) = read {
            metrics::count_bytes(Direction::In, n);
        }
        read
    }

    /// True when a read would likely find something now (no system call).
    pub(crate) fn readable_hint(&self) -> bool {
        match self {
            Transport::Plain(io) => io.readable_hint(),
            Transport::Tls(tls) => {
                tls.io.readable_hint() || tls.plaintext_waiting().unwrap_or(true)
            }
        }
    }

    /// Writes `head` then `payload` completely, waiting as needed until
    /// `deadline`.
    pub(crate) fn write_parts(
        &self,
        head: &[u8],
        payload: &[u8],
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        match self {
            Transport::Plain(io) => io.write_all_parts(head, payload, deadline),
            Transport::Tls(tls) => {
                write_plaintext(&mut tls.session.lock(), head, payload)?;
                tls.flush(deadline)
            }
        }?;
        metrics::count_bytes(Direction::Out, head.len() + payload.len());
        Ok(())
    }

    /// Takes what it can of `head` then `payload` without waiting: the
    /// bytes taken (from the start of `head`), or `WouldBlock` when none.
    /// Over TLS all of it is taken once the records of earlier writes are
    /// out: it is encrypted, and what the socket cannot take at once waits
    /// in the session for [`flush`](Self::flush).
    pub(crate) fn try_write_parts(&self, head: &[u8], payload: &[u8]) -> io::Result<usize> {
        let written = match self {
            Transport::Plain(io) => io.try_write_parts(head, payload),
            Transport::Tls(tls) => {
                let mut session = tls.session.lock();
                flush_now(&mut session, &tls.io)?;
                if session.wants_write() {
                    return Err(ErrorKind::WouldBlock.into());
                }
                write_plaintext(&mut session, head, payload)?;
                flush_now(&mut session, &tls.io)?;
                Ok(head.len() + payload.len())
            }
        }?;
        metrics::count_bytes(Direction::Out, written);
        Ok(written)
    }

    /// Waits until a write is likely to make progress, or `deadline`.
    pub(crate) fn wait_writable(&self, deadline: Option<Instant>) -> io::Result<()> {
        self.raw().wait_writable(deadline)
    }

    /// True while bytes taken by [`try_write_parts`](Self::try_write_parts)
    /// still wait to go to the socket (TLS records).
    pub(crate) fn needs_flush(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(tls) => tls.session.lock().wants_write(),
        }
    }

    /// Sends what waits to go to the socket, waiting as needed until
    /// `deadline`.
    pub(crate) fn flush(&self, deadline: Option<Instant>) -> io::Result<()> {
        match self {
            Transport::Plain(_) => Ok(()),
            Transport::Tls(tls) => tls.flush(deadline),
        }
    }

    /// Bytes the kernel holds that the peer has not acknowledged (0 if the
    /// socket cannot tell).
    pub(crate) fn unacknowledged_bytes(&self) -> usize {
        use std::os::fd::AsRawFd;
        crate::sys::unacknowledged_bytes(self.tcp().as_raw_fd()).unwrap_or(0)
    }
}

/// Gives `head` then `payload` to the session as one write, so that a
/// WebSocket frame whose header and payload fit in one TLS record goes out
/// as one record (written apart, they were two records and two system
/// calls per message).
fn write_plaintext(session: &mut Connection, head: &[u8], payload: &[u8]) -> io::Result<()> {
    let parts = [io::IoSlice::new(head), io::IoSlice::new(payload)];
    let taken = session.writer().write_vectored(&parts)?;
    // The session's buffer is unlimited: it takes everything. Should a
    // limit ever be set, the rest goes in order all the same.
    if taken < head.len() {
        session.writer().write_all(&head[taken..])?;
        session.writer().write_all(payload)?;
    } else {
        session.writer().write_all(&payload[taken - head.len()..])?;
    }
    Ok(())
}

/// Moves pending TLS records to the socket until it would block.
fn flush_now(session: &mut Connection, io: &DuplexStream) -> io::Result<()> {
    while session.wants_write() {
        match session.write_tls(&mut Raw(io)) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, e)
}

impl TlsStream {
    /// Completes the handshake, or fails (a bad peer, or `deadline`).
    fn handshake(&self, deadline: Option<Instant>) -> io::Result<()> {
        loop {
            let mut session = self.session.lock();
            flush_now(&mut session, &self.io)?;
            if !session.is_handshaking() && !session.wants_write() {
                return Ok(());
            }
            let blocked_on_write = session.wants_write();
            if !blocked_on_write && session.wants_read() {
                match session.read_tls(&mut Raw(&self.io)) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            ErrorKind::UnexpectedEof,
                            "closed during the TLS handshake",
                        ))
                    }
                    Ok(_) => {
                        // Verifying a certificate chain, a key exchange or
                        // a signature takes rustls tens of KiB of stack:
                        // more than a greenlet can spare in a debug build,
                        // and pages that would stay resident after.
                        if let Err(e) = on_scratch_stack(|| session.process_new_packets()) {
                            // Send the alert rustls prepared, if it goes now.
                            let _ = flush_now(&mut session, &self.io);
                            return Err(tls_error(e));
                        }
                        continue;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            drop(session);
            if blocked_on_write {
                self.io.wait_writable(deadline)?;
            } else {
                self.io.wait_readable(deadline)?;
            }
        }
    }

    /// True when decrypted data is waiting in the session.
    fn plaintext_waiting(&self) -> io::Result<bool> {
        let mut session = self.session.lock();
        let state = session.process_new_packets().map_err(tls_error)?;
        Ok(state.plaintext_bytes_to_read() > 0 || state.peer_has_closed())
    }

    fn try_read(&self, out: &mut [u8]) -> io::Result<usize> {
        let mut session = self.session.lock();
        loop {
            match session.reader().read(out) {
                Ok(n) => return Ok(n),
                // The peer closed without a close_notify: an end all the same.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            let got = session.read_tls(&mut Raw(&self.io))?;
            let processed = session.process_new_packets();
            // Reading can produce records to send (alerts, key updates).
            let flushed = flush_now(&mut session, &self.io);
            processed.map_err(tls_error)?;
            flushed?;
            if got == 0 {
                return match session.reader().read(out) {
                    Ok(n) => Ok(n),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(0),
                    Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(0),
                    Err(e) => Err(e),
                };
            }
        }
    }

    /// Sends every pending record, waiting for room as needed.
    fn flush(&self, deadline: Option<Instant>) -> io::Result<()> {
        loop {
            {
                let mut session = self.session.lock();
                flush_now(&mut session, &self.io)?;
                if !session.wants_write() {
                    return Ok(());
                }
            }
            self.io.wait_writable(deadline)?;
        }
    }
}
