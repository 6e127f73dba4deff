//! The PROXY protocol, versions 1 (text) and 2 (binary), as TCP load
//! balancers (HAProxy, AWS NLB, ...) put it in front of the client's
//! bytes to say where the connection came from.
//!
//! Sans-IO: [`parse`] looks at the bytes read so far and says either what
//! the header is and how many bytes it took, or how many more bytes it
//! needs at least. The caller reads exactly that many, so no byte of the
//! request behind the header is read early:
//!
//! ```
//! use greenws::proto::proxy::{parse, Parsed, ProxyHeader};
//!
//! let bytes = b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\nGET / HTTP/1.1\r\n";
//! let mut have = Vec::new();
//! let mut offered = bytes.iter();
//! let header = loop {
//!     match parse(&have)? {
//!         Parsed::Complete { header, consumed } => {
//!             assert_eq!(consumed, have.len());
//!             break header;
//!         }
//!         Parsed::Incomplete { needed } => {
//!             have.extend(offered.by_ref().take(needed)); // a read of `needed` bytes
//!         }
//!     }
//! };
//! assert_eq!(
//!     header,
//!     ProxyHeader::Proxied {
//!         source: "192.0.2.1:56324".parse().unwrap(),
//!         destination: "198.51.100.7:443".parse().unwrap(),
//!     }
//! );
//! assert_eq!(offered.as_slice(), b"GET / HTTP/1.1\r\n");
//! # Ok::<(), greenws::proto::proxy::ProxyError>(())
//! ```
//!
//! Bounds: a version 1 header is at most [`V1_MAX_LEN`] bytes (the
//! specification's 107), a version 2 header at most [`V2_MAX_LEN`]; bytes
//! that are not the start of either header are an error at once.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The longest version 1 header, `\r\n` included (the specification's
/// bound).
pub const V1_MAX_LEN: usize = 107;

/// The longest version 2 header this parser accepts: the 16 fixed bytes
/// and up to 2 KiB of addresses and TLVs (the specification allows 64 KiB;
/// balancers send a few hundred bytes at most).
pub const V2_MAX_LEN: usize = 16 + 2048;

/// The 12 bytes every version 2 header starts with.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

const V1_PREFIX: &[u8] = b"PROXY ";

/// The shortest any header can be: `PROXY UNKNOWN\r\n` is 15 bytes.
const SHORTEST: usize = 15;

/// What the header says about the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyHeader {
    /// The balancer relays a client: the client's address (`source`) and
    /// the address the client connected to (`destination`).
    Proxied {
        /// The client's address.
        source: SocketAddr,
        /// The address the client connected to (the balancer's).
        destination: SocketAddr,
    },
    /// The balancer speaks for itself (a version 2 `LOCAL` command, a
    /// health check), or relays a connection of a kind without an IP
    /// address (`UNKNOWN`, Unix, UDP): the socket's own peer address
    /// stands.
    Local,
}

/// The result of [`parse`] on the bytes read so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The header, which took the first `consumed` bytes.
    Complete {
        /// What the header says.
        header: ProxyHeader,
        /// Its length in bytes: the connection's own bytes start there.
        consumed: usize,
    },
    /// At least `needed` more bytes are needed (and reading exactly that
    /// many never reads past the header).
    Incomplete {
        /// How many bytes to read next.
        needed: usize,
    },
}

/// Why the bytes are not a PROXY protocol header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyError {
    /// The bytes are neither a version 1 nor a version 2 header (the peer
    /// does not speak the PROXY protocol, or the listener should not
    /// expect it).
    Missing,
    /// A version 1 header longer than [`V1_MAX_LEN`] bytes.
    V1TooLong,
    /// A version 1 header that does not follow the grammar.
    V1Malformed(&'static str),
    /// A version 2 header with a version other than 2 or an unknown
    /// command.
    V2BadVersionOrCommand(u8),
    /// A version 2 header longer than [`V2_MAX_LEN`].
    V2TooLong(usize),
    /// A version 2 address block shorter than its family needs.
    V2ShortAddresses {
        /// The family and transport byte (0x11 TCP over IPv4, 0x21 over IPv6).
        family: u8,
        /// The length of the address block.
        len: usize,
    },
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::Missing => f.write_str("no PROXY protocol header (expected `PROXY ` or the version 2 signature)"),
            ProxyError::V1TooLong => write!(f, "PROXY protocol v1 header longer than {V1_MAX_LEN} bytes"),
            ProxyError::V1Malformed(what) => write!(f, "malformed PROXY protocol v1 header: {what}"),
            ProxyError::V2BadVersionOrCommand(byte) => {
                write!(f, "PROXY protocol v2 header with unknown version/command byte {byte:#04x}")
            }
            ProxyError::V2TooLong(len) => {
                write!(f, "PROXY protocol v2 header of {len} bytes (at most {V2_MAX_LEN})")
            }
            ProxyError::V2ShortAddresses { family, len } => write!(
                f,
                "PROXY protocol v2 address block of {len} bytes is too short for family {family:#04x}"
            ),
        }
    }
}

impl std::error::Error for ProxyError {}

/// Parses the header at the start of `bytes` (see the [module](self)
/// docs). Bytes after the header are not looked at.
pub fn parse(bytes: &[u8]) -> Result<Parsed, ProxyError> {
    let may_be = |prefix: &[u8]| {
        let n = bytes.len().min(prefix.len());
        bytes[..n] == prefix[..n]
    };
    if !may_be(V1_PREFIX) && !may_be(&V2_SIGNATURE) {
        return Err(ProxyError::Missing);
    }
    if bytes.len() < SHORTEST {
        return Ok(Parsed::Incomplete {
            needed: SHORTEST - bytes.len(),
        });
    }
    if bytes.starts_with(V1_PREFIX) {
        parse_v1(bytes)
    } else {
        parse_v2(bytes)
    }
}

fn parse_v1(bytes: &[u8]) -> Result<Parsed, ProxyError> {
    let window = &bytes[..bytes.len().min(V1_MAX_LEN)];
    let Some(end) = window.windows(2).position(|pair| pair == b"\r\n") else {
        if bytes.len() >= V1_MAX_LEN {
            return Err(ProxyError::V1TooLong);
        }
        // The line ends wherever the peer says: one byte at a time.
        return Ok(Parsed::Incomplete { needed: 1 });
    };
    let line = std::str::from_utf8(&bytes[V1_PREFIX.len()..end])
        .map_err(|_| ProxyError::V1Malformed("not ASCII"))?;
    let header = parse_v1_fields(line)?;
    Ok(Parsed::Complete {
        header,
        consumed: end + 2,
    })
}

fn parse_v1_fields(line: &str) -> Result<ProxyHeader, ProxyError> {
    let mut fields = line.split(' ');
    let protocol = fields.next().unwrap_or_default();
    if protocol == "UNKNOWN" {
        // Whatever follows is to be ignored (the specification).
        return Ok(ProxyHeader::Local);
    }
    let ipv6 = match protocol {
        "TCP4" => false,
        "TCP6" => true,
        _ => {
            return Err(ProxyError::V1Malformed(
                "protocol is not TCP4, TCP6 or UNKNOWN",
            ))
        }
    };
    let mut next = |what| fields.next().ok_or(ProxyError::V1Malformed(what));
    let source = v1_address(next("no source address")?, ipv6)?;
    let destination = v1_address(next("no destination address")?, ipv6)?;
    let source_port = v1_port(next("no source port")?)?;
    let destination_port = v1_port(next("no destination port")?)?;
    if fields.next().is_some() {
        return Err(ProxyError::V1Malformed("fields after the destination port"));
    }
    Ok(ProxyHeader::Proxied {
        source: SocketAddr::new(source, source_port),
        destination: SocketAddr::new(destination, destination_port),
    })
}

fn v1_address(text: &str, ipv6: bool) -> Result<IpAddr, ProxyError> {
    let address = if ipv6 {
        text.parse::<Ipv6Addr>().map(IpAddr::V6)
    } else {
        text.parse::<Ipv4Addr>().map(IpAddr::V4)
    };
    address.map_err(|_| ProxyError::V1Malformed("an address is not of the protocol's family"))
}

fn v1_port(text: &str) -> Result<u16, ProxyError> {
    let digits_only =
        !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit());
    let canonical = text == "0" || !text.starts_with('0');
    match text.parse() {
        Ok(port) if digits_only && canonical => Ok(port),
        _ => Err(ProxyError::V1Malformed(
            "a port is not a number from 0 to 65535",
        )),
    }
}

fn parse_v2(bytes: &[u8]) -> Result<Parsed, ProxyError> {
    const FIXED: usize = 16;
    if bytes.len() < FIXED {
        return Ok(Parsed::Incomplete {
            needed: FIXED - bytes.len(),
        });
    }
    let version_command = bytes[12];
    let local = match version_command {
        0x20 => true,
        0x21 => false,
        other => return Err(ProxyError::V2BadVersionOrCommand(other)),
    };
    let family = bytes[13];
    let len = usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    let total = FIXED + len;
    if total > V2_MAX_LEN {
        return Err(ProxyError::V2TooLong(total));
    }
    if bytes.len() < total {
        return Ok(Parsed::Incomplete {
            needed: total - bytes.len(),
        });
    }
    let block = &bytes[FIXED..total];
    let header = if local {
        ProxyHeader::Local
    } else {
        v2_addresses(family, block)?
    };
    Ok(Parsed::Complete {
        header,
        consumed: total,
    })
}

/// The addresses of a `PROXY` command: TCP over IPv4 (0x11) or IPv6
/// (0x21); other families carry no IP address to use.
fn v2_addresses(family: u8, block: &[u8]) -> Result<ProxyHeader, ProxyError> {
    let short = || ProxyError::V2ShortAddresses {
        family,
        len: block.len(),
    };
    let port = |at: usize| u16::from_be_bytes([block[at], block[at + 1]]);
    match family {
        0x11 => {
            let b: &[u8; 12] = block.get(..12).ok_or_else(short)?.try_into().expect("12");
            let source = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
            let destination = Ipv4Addr::new(b[4], b[5], b[6], b[7]);
            Ok(ProxyHeader::Proxied {
                source: SocketAddr::new(source.into(), port(8)),
                destination: SocketAddr::new(destination.into(), port(10)),
            })
        }
        0x21 => {
            let b = block.get(..36).ok_or_else(short)?;
            let address = |at: usize| {
                let octets: [u8; 16] = b[at..at + 16].try_into().expect("16");
                IpAddr::V6(Ipv6Addr::from(octets))
            };
            Ok(ProxyHeader::Proxied {
                source: SocketAddr::new(address(0), port(32)),
                destination: SocketAddr::new(address(16), port(34)),
            })
        }
        _ => Ok(ProxyHeader::Local),
    }
}

/// Encodes a version 2 `PROXY` header for TCP (what a balancer sends; for
/// tests and for a client behind which a greenws server listens).
pub fn encode_v2(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.push(0x21);
    let (family, mut block) = match (source.ip(), destination.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => (0x11, [s.octets(), d.octets()].concat()),
        (s, d) => (0x21, [v6(s).octets(), v6(d).octets()].concat()),
    };
    block.extend(source.port().to_be_bytes());
    block.extend(destination.port().to_be_bytes());
    out.push(family);
    out.extend(
        u16::try_from(block.len())
            .expect("36 at most")
            .to_be_bytes(),
    );
    out.extend(block);
    out
}

/// Encodes a version 1 header for TCP.
pub fn encode_v1(source: SocketAddr, destination: SocketAddr) -> String {
    let family = match (source.ip(), destination.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) => "TCP4",
        _ => "TCP6",
    };
    let (s, d) = match family {
        "TCP4" => (source.ip(), destination.ip()),
        _ => (
            IpAddr::V6(v6(source.ip())),
            IpAddr::V6(v6(destination.ip())),
        ),
    };
    format!(
        "PROXY {family} {s} {d} {} {}\r\n",
        source.port(),
        destination.port()
    )
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn complete(bytes: &[u8]) -> (ProxyHeader, usize) {
        match parse(bytes) {
            Ok(Parsed::Complete { header, consumed }) => (header, consumed),
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(bytes)),
        }
    }

    fn proxied(source: &str, destination: &str) -> ProxyHeader {
        ProxyHeader::Proxied {
            source: source.parse().unwrap(),
            destination: destination.parse().unwrap(),
        }
    }

    #[test]
    fn v1_tcp4_tcp6_and_unknown() {
        assert_eq!(
            complete(b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\nGET"),
            (proxied("192.0.2.1:56324", "198.51.100.7:443"), 45)
        );
        assert_eq!(
            complete(b"PROXY TCP6 2001:db8::1 ::1 1 65535\r\n").0,
            proxied("[2001:db8::1]:1", "[::1]:65535")
        );
        assert_eq!(complete(b"PROXY UNKNOWN\r\n"), (ProxyHeader::Local, 15));
        assert_eq!(
            complete(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n").0,
            ProxyHeader::Local
        );
    }

    #[test]
    fn v1_malformed_forms_are_errors() {
        for bad in [
            &b"PROXY TCP4 192.0.2.1 198.51.100.7 56324\r\n"[..],
            b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443 9\r\n",
            b"PROXY TCP4 2001:db8::1 198.51.100.7 1 2\r\n",
            b"PROXY TCP6 192.0.2.1 ::1 1 2\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.7 65536 443\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.7 080 443\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.7 +80 443\r\n",
            b"PROXY TCP4  192.0.2.1 198.51.100.7 80 443\r\n",
            b"PROXY UDP4 192.0.2.1 198.51.100.7 80 443\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.7 80 \xff\r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(ProxyError::V1Malformed(_))),
                "{:?}: {:?}",
                String::from_utf8_lossy(bad),
                parse(bad)
            );
        }
    }

    #[test]
    fn v1_is_bounded_at_107_bytes() {
        // The specification's worst case.
        let longest = format!(
            "PROXY UNKNOWN {0} {0} 65535 65535\r\n",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        );
        assert_eq!(longest.len(), V1_MAX_LEN);
        assert_eq!(complete(longest.as_bytes()).1, V1_MAX_LEN);
        let mut endless = b"PROXY UNKNOWN".to_vec();
        endless.resize(V1_MAX_LEN - 1, b' ');
        assert_eq!(parse(&endless), Ok(Parsed::Incomplete { needed: 1 }));
        endless.push(b' ');
        assert_eq!(parse(&endless), Err(ProxyError::V1TooLong));
    }

    #[test]
    fn other_bytes_are_missing_at_the_first_wrong_byte() {
        assert_eq!(parse(b"G"), Err(ProxyError::Missing));
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Err(ProxyError::Missing));
        assert_eq!(parse(b"PROXX"), Err(ProxyError::Missing));
        assert_eq!(parse(b"\r\n\r\n\0\r\nQUIX"), Err(ProxyError::Missing));
        assert_eq!(parse(b""), Ok(Parsed::Incomplete { needed: 15 }));
        assert_eq!(parse(b"PRO"), Ok(Parsed::Incomplete { needed: 12 }));
    }

    #[test]
    fn v2_proxy_local_and_other_families() {
        let source: SocketAddr = "192.0.2.1:56324".parse().unwrap();
        let destination: SocketAddr = "198.51.100.7:443".parse().unwrap();
        let mut bytes = encode_v2(source, destination);
        assert_eq!(bytes.len(), 28);
        bytes.extend(b"GET");
        assert_eq!(
            complete(&bytes),
            (
                ProxyHeader::Proxied {
                    source,
                    destination
                },
                28
            )
        );
        let mut local = V2_SIGNATURE.to_vec();
        local.extend([0x20, 0x00, 0x00, 0x00]);
        assert_eq!(complete(&local), (ProxyHeader::Local, 16));
        // PROXY over a Unix socket (0x31) with its 216 address bytes.
        let mut unix = V2_SIGNATURE.to_vec();
        unix.extend([0x21, 0x31, 0x00, 216]);
        unix.extend([0u8; 216]);
        assert_eq!(complete(&unix), (ProxyHeader::Local, 232));
        // TLVs after the addresses are skipped.
        let mut with_tlv = encode_v2(source, destination);
        with_tlv[15] += 7;
        with_tlv.extend([0x04, 0x00, 0x04, 1, 2, 3, 4]);
        assert_eq!(complete(&with_tlv).1, 35);
    }

    #[test]
    fn v2_errors() {
        let mut bad_version = V2_SIGNATURE.to_vec();
        bad_version.extend([0x11, 0x11, 0x00, 0x0c]);
        assert_eq!(
            parse(&bad_version),
            Err(ProxyError::V2BadVersionOrCommand(0x11))
        );
        let mut short = V2_SIGNATURE.to_vec();
        short.extend([0x21, 0x21, 0x00, 0x0c]);
        short.extend([0u8; 12]);
        assert_eq!(
            parse(&short),
            Err(ProxyError::V2ShortAddresses {
                family: 0x21,
                len: 12
            })
        );
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend([0x21, 0x11, 0xff, 0xff]);
        assert_eq!(parse(&huge), Err(ProxyError::V2TooLong(16 + 65535)));
        let mut at_bound = V2_SIGNATURE.to_vec();
        let len = u16::try_from(V2_MAX_LEN - 16).unwrap();
        at_bound.extend([0x21, 0x00]);
        at_bound.extend(len.to_be_bytes());
        assert_eq!(parse(&at_bound), Ok(Parsed::Incomplete { needed: 2048 }));
        at_bound[15] += 1;
        assert_eq!(parse(&at_bound), Err(ProxyError::V2TooLong(V2_MAX_LEN + 1)));
    }

    fn any_addresses() -> impl Strategy<Value = (SocketAddr, SocketAddr)> {
        prop_oneof![
            (
                any::<[u8; 4]>(),
                any::<[u8; 4]>(),
                any::<u16>(),
                any::<u16>()
            )
                .prop_map(|(s, d, sp, dp)| (
                    SocketAddr::new(Ipv4Addr::from(s).into(), sp),
                    SocketAddr::new(Ipv4Addr::from(d).into(), dp)
                )),
            (
                any::<[u8; 16]>(),
                any::<[u8; 16]>(),
                any::<u16>(),
                any::<u16>()
            )
                .prop_map(|(s, d, sp, dp)| (
                    SocketAddr::new(Ipv6Addr::from(s).into(), sp),
                    SocketAddr::new(Ipv6Addr::from(d).into(), dp)
                )),
        ]
    }

    /// Feeds `bytes` as the connection code does: exactly `needed` at a
    /// time; never past the header.
    fn drive(bytes: &[u8]) -> Result<(ProxyHeader, usize), ProxyError> {
        let mut have = 0;
        loop {
            match parse(&bytes[..have])? {
                Parsed::Complete { header, consumed } => return Ok((header, consumed)),
                Parsed::Incomplete { needed } => {
                    assert!(needed > 0);
                    have += needed;
                    assert!(have <= bytes.len(), "asked past the header");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn both_versions_round_trip_without_reading_past_the_header(
            (source, destination) in any_addresses(),
            after in proptest::collection::vec(any::<u8>(), 0..32),
        ) {
            let v1 = [encode_v1(source, destination).into_bytes(), after.clone()].concat();
            let v2 = [encode_v2(source, destination), after.clone()].concat();
            for bytes in [v1, v2] {
                let (header, consumed) = drive(&bytes).unwrap();
                prop_assert_eq!(consumed, bytes.len() - after.len());
                let (got_source, got_destination) = match header {
                    ProxyHeader::Proxied { source, destination } => (source, destination),
                    ProxyHeader::Local => panic!("local"),
                };
                let same = |a: SocketAddr, b: SocketAddr| {
                    v6(a.ip()) == v6(b.ip()) && a.port() == b.port()
                };
                prop_assert!(same(got_source, source) && same(got_destination, destination));
            }
        }

        #[test]
        fn any_bytes_give_an_answer_within_the_bounds(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            v1 in any::<bool>(),
        ) {
            let prefix: &[u8] = if v1 { V1_PREFIX } else { &V2_SIGNATURE };
            let bytes = [prefix, &bytes].concat();
            match parse(&bytes) {
                Ok(Parsed::Complete { consumed, .. }) => {
                    prop_assert!(consumed <= bytes.len() && consumed <= V2_MAX_LEN)
                }
                Ok(Parsed::Incomplete { needed }) => {
                    prop_assert!(needed > 0 && bytes.len() + needed <= V2_MAX_LEN)
                }
                Err(_) => {}
            }
        }
    }
}
