//! The PROXY protocol header in front of a connection (an opt-in of the
//! listener, see [`WsgiServer::proxy_protocol`](super::WsgiServer::proxy_protocol)):
//! read with exact reads, so that no byte of the request behind it is
//! taken, bounded in bytes by the parser and in time by the deadline.

use std::fmt;
use std::time::Instant;

use green::net::DuplexStream;

use super::listener::Peer;

use crate::proto::forwarded::TrustedProxies;
use crate::proto::proxy::{parse, Parsed, ProxyError, ProxyHeader};

/// Why a connection was closed before its PROXY header was read.
#[derive(Debug)]
pub(super) enum Refused {
    /// The peer is not one of the trusted proxies (when some are given).
    Untrusted,
    /// The bytes are not a valid header (or are missing).
    Malformed(ProxyError),
    /// The peer closed, failed, or was too slow.
    Io(std::io::Error),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Untrusted => {
                f.write_str("PROXY protocol header from an address that is not a trusted proxy")
            }
            Refused::Malformed(e) => e.fmt(f),
            Refused::Io(e) => write!(f, "reading the PROXY protocol header: {e}"),
        }
    }
}

/// Reads the header and gives the client's address: the header's source,
/// or `peer` itself for a `LOCAL` or `UNKNOWN` header.
pub(super) fn read_client(
    socket: &DuplexStream,
    peer: Peer,
    trusted: &TrustedProxies,
    deadline: Option<Instant>,
) -> Result<Peer, Refused> {
    if !trusted.is_empty() && !peer.is_trusted_by(trusted) {
        return Err(Refused::Untrusted);
    }
    let mut header = Vec::new();
    loop {
        match parse(&header).map_err(Refused::Malformed)? {
            Parsed::Complete {
                header: ProxyHeader::Proxied { source, .. },
                ..
            } => {
                return Ok(Peer {
                    addr: source,
                    unix: false,
                })
            }
            Parsed::Complete { .. } => return Ok(peer),
            Parsed::Incomplete { needed } => {
                let start = header.len();
                header.resize(start + needed, 0);
                read_exact(socket, &mut header[start..], deadline).map_err(Refused::Io)?;
            }
        }
    }
}

fn read_exact(
    socket: &DuplexStream,
    mut out: &mut [u8],
    deadline: Option<Instant>,
) -> std::io::Result<()> {
    while !out.is_empty() {
        match socket.read(out, deadline)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => out = &mut out[n..],
        }
    }
    Ok(())
}
