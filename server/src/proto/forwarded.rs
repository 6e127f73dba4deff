//! Who the client is behind reverse proxies: `Forwarded` (RFC 7239),
//! `X-Forwarded-For` and `X-Forwarded-Proto`, believed only from
//! [`TrustedProxies`].
//!
//! Each proxy appends the address it got the request from, so the list
//! reads client, proxy 1, proxy 2, ... and the connection's own peer is the
//! last proxy. Anyone can write anything at the left of that list; only
//! the entries that trusted proxies appended mean something. [`resolve`]
//! therefore walks it from the right, past the trusted proxies, and the
//! first address that is not one of them is the client:
//!
//! ```
//! use greenws::proto::forwarded::{resolve, TrustedProxies};
//! use greenws::http::HeaderMap;
//!
//! let trusted: TrustedProxies = "10.0.0.0/8".parse()?;
//! let mut headers = HeaderMap::new();
//! // The client claims to be 1.2.3.4; the proxy at 10.0.0.2 saw 203.0.113.9.
//! headers.insert("x-forwarded-for", "1.2.3.4, 203.0.113.9".parse()?);
//! headers.insert("x-forwarded-proto", "https".parse()?);
//!
//! let via_proxy = resolve("10.0.0.2:40000".parse()?, &headers, &trusted);
//! assert_eq!(via_proxy.client.to_string(), "203.0.113.9:0");
//! assert_eq!(via_proxy.scheme, Some("https"));
//!
//! // The same headers from an address that is not trusted change nothing.
//! let direct = resolve("198.51.100.1:5000".parse()?, &headers, &trusted);
//! assert_eq!(direct.client.to_string(), "198.51.100.1:5000");
//! assert_eq!(direct.scheme, None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `Forwarded` wins over the `X-Forwarded-*` pair when both are present.
//! A forwarded address without a port gets port 0. A hop that is not an
//! address (`unknown`, an obfuscated `_name`, anything malformed) ends the
//! walk: the client is then the trusted proxy that reported it, as nothing
//! further can be believed.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use http::HeaderMap;

/// The address that stands for a client connected over a Unix domain
/// socket, which has none: `0.0.0.0:0` (what
/// [`Request::peer_addr`](crate::Request::peer_addr) gives for it; the
/// access log writes `unix`).
pub const UNIX_PEER: SocketAddr = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

/// One address or network: `10.0.0.0/8`, `::1`, `fd00::/8`. An IPv4
/// network also matches the IPv4-mapped IPv6 form of its addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// True if `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (self.network, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Why a [`Cidr`] or [`TrustedProxies`] does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CidrError(String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not an IP address or network (like 10.0.0.0/8 or ::1)",
            self.0
        )
    }
}

impl std::error::Error for CidrError {}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Cidr, CidrError> {
        let error = || CidrError(text.to_owned());
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network = address
            .parse::<IpAddr>()
            .map_err(|_| error())?
            .to_canonical();
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => digits
                .parse()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(error)?,
            Some(_) => return Err(error()),
        };
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The proxies whose forwarding headers are believed; empty (nobody) by
/// default. Parses from a comma-separated list of [`Cidr`]s and the
/// keyword `unix`: every peer on a Unix domain socket (a proxy on the same
/// machine, such as nginx with `proxy_pass http://unix:/run/app.sock;`).
///
/// ```
/// use greenws::proto::forwarded::TrustedProxies;
/// let trusted: TrustedProxies = "unix, 10.0.0.0/8".parse()?;
/// assert!(trusted.trusts_unix());
/// assert!(trusted.contains("10.1.2.3".parse()?));
/// assert!(!"127.0.0.1".parse::<TrustedProxies>()?.trusts_unix());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<Cidr>,
    unix: bool,
}

impl TrustedProxies {
    /// Nobody is trusted.
    pub fn none() -> TrustedProxies {
        TrustedProxies::default()
    }

    /// Adds a network.
    pub fn with(mut self, network: Cidr) -> TrustedProxies {
        self.networks.push(network);
        self
    }

    /// Trusts every peer on a Unix domain socket too.
    pub fn with_unix(mut self) -> TrustedProxies {
        self.unix = true;
        self
    }

    /// Trusts what `other` trusts too (for a list given in parts, such as
    /// a repeated command-line flag).
    pub fn union(mut self, other: TrustedProxies) -> TrustedProxies {
        self.networks.extend(other.networks);
        self.unix |= other.unix;
        self
    }

    /// True if peers on a Unix domain socket are trusted.
    pub fn trusts_unix(&self) -> bool {
        self.unix
    }

    /// True if nobody is trusted.
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty() && !self.unix
    }

    /// True if `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|network| network.contains(ip))
    }
}

impl FromStr for TrustedProxies {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<TrustedProxies, CidrError> {
        let mut trusted = TrustedProxies::none();
        for one in text.split(',').map(str::trim) {
            trusted = if one == "unix" {
                trusted.with_unix()
            } else {
                trusted.with(one.parse()?)
            };
        }
        Ok(trusted)
    }
}

impl FromIterator<Cidr> for TrustedProxies {
    fn from_iter<I: IntoIterator<Item = Cidr>>(networks: I) -> TrustedProxies {
        TrustedProxies {
            networks: networks.into_iter().collect(),
            unix: false,
        }
    }
}

/// What [`resolve`] found: the client's address, and the scheme it used
/// if a trusted proxy said so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The client (the connection's peer when no trusted proxy forwarded).
    pub client: SocketAddr,
    /// `"http"` or `"https"`, as the proxy nearest to the client saw it.
    pub scheme: Option<&'static str>,
}

/// One hop of a forwarding list, from the right.
struct Hop<'a> {
    node: Option<SocketAddr>,
    proto: Option<&'a str>,
}

/// The client behind `peer` (the connection's peer address), from the
/// request's forwarding headers if `peer` is a trusted proxy (see the
/// [module](self) docs).
pub fn resolve(peer: SocketAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> Origin {
    resolve_behind(peer, trusted.contains(peer.ip()), headers, trusted)
}

/// [`resolve`] for a request that came over a Unix domain socket: the
/// headers count if Unix peers are trusted ([`TrustedProxies::trusts_unix`]),
/// and the client is [`UNIX_PEER`] when they do not name one.
pub fn resolve_unix(headers: &HeaderMap, trusted: &TrustedProxies) -> Origin {
    resolve_behind(UNIX_PEER, trusted.trusts_unix(), headers, trusted)
}

fn resolve_behind(
    peer: SocketAddr,
    peer_trusted: bool,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
) -> Origin {
    let untouched = Origin {
        client: peer,
        scheme: None,
    };
    if !peer_trusted {
        return untouched;
    }
    if headers.contains_key("forwarded") {
        let elements = header_lines(headers, "forwarded").flat_map(split_outside_quotes);
        let hops: Vec<Hop> = elements.map(forwarded_element).collect();
        return walk(peer, hops.into_iter().rev(), trusted);
    }
    // X-Forwarded-Proto: the value the nearest proxy wrote (the last).
    let proto = header_lines(headers, "x-forwarded-proto")
        .flat_map(|line| line.split(','))
        .next_back();
    let hops: Vec<Hop> = header_lines(headers, "x-forwarded-for")
        .flat_map(|line| line.split(','))
        .map(|node| Hop {
            node: node_address(node.trim()),
            proto: None,
        })
        .collect();
    let mut origin = walk(peer, hops.into_iter().rev(), trusted);
    origin.scheme = proto.and_then(scheme);
    origin
}

/// Walks `hops` (rightmost first) past trusted proxies.
fn walk<'a>(
    peer: SocketAddr,
    hops: impl Iterator<Item = Hop<'a>>,
    trusted: &TrustedProxies,
) -> Origin {
    let mut origin = Origin {
        client: peer,
        scheme: None,
    };
    for hop in hops {
        let Some(node) = hop.node else {
            break;
        };
        origin = Origin {
            client: node,
            scheme: hop.proto.and_then(scheme),
        };
        if !trusted.contains(node.ip()) {
            break;
        }
    }
    origin
}

fn header_lines<'h>(
    headers: &'h HeaderMap,
    name: &str,
) -> impl DoubleEndedIterator<Item = &'h str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
}

/// `http` or `https`, case-insensitively.
fn scheme(proto: &str) -> Option<&'static str> {
    let proto = proto.trim();
    if proto.eq_ignore_ascii_case("https") {
        Some("https")
    } else if proto.eq_ignore_ascii_case("http") {
        Some("http")
    } else {
        None
    }
}

/// Splits a `Forwarded` line at the commas that are not inside a quoted
/// string.
fn split_outside_quotes(line: &str) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut escaped = false;
    let mut start = 0;
    let mut parts = Vec::new();
    for (i, byte) in line.bytes().enumerate() {
        match byte {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                parts.push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&line[start..]);
    parts.into_iter()
}

/// One `Forwarded` element: `for=...;proto=...;by=...;host=...`.
fn forwarded_element(element: &str) -> Hop<'_> {
    let mut hop = Hop {
        node: None,
        proto: None,
    };
    for pair in element.split(';') {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        match name.trim() {
            n if n.eq_ignore_ascii_case("for") => hop.node = node_address(value),
            n if n.eq_ignore_ascii_case("proto") => hop.proto = Some(value),
            _ => {}
        }
    }
    hop
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(value)
}

/// A node as an address: `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:80`; `None` for anything else
/// (`unknown`, `_hidden`, garbage). Without a port, port 0.
fn node_address(node: &str) -> Option<SocketAddr> {
    if let Ok(address) = node.parse::<SocketAddr>() {
        return Some(address);
    }
    let bare = node
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(node);
    bare.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn trusted(list: &str) -> TrustedProxies {
        list.parse().unwrap()
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_and_match_at_their_edges() {
        let net: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains("10.1.0.0".parse().unwrap()));
        assert!(net.contains("10.1.255.255".parse().unwrap()));
        assert!(!net.contains("10.2.0.0".parse().unwrap()));
        assert!(!net.contains("10.0.255.255".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("255.255.255.255".parse().unwrap()));
        assert!(!all.contains("::1".parse().unwrap()));
        let one: Cidr = "::1".parse().unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!(!one.contains("::2".parse().unwrap()));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fdff::1".parse().unwrap()));
        assert!(!v6.contains("fe00::1".parse().unwrap()));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0/8",
            "host",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?}");
        }
        assert_eq!(
            trusted("127.0.0.1, 10.0.0.0/8"),
            TrustedProxies::none()
                .with("127.0.0.1".parse().unwrap())
                .with("10.0.0.0/8".parse().unwrap())
        );
    }

    #[test]
    fn x_forwarded_for_takes_the_rightmost_untrusted_address() {
        let proxies = trusted("10.0.0.0/8");
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.0.0.5")]);
        let origin = resolve(addr("10.0.0.2:1"), &h, &proxies);
        assert_eq!(origin.client, addr("203.0.113.9:0"));
        // Several header lines are one list.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "203.0.113.9:4711, 10.0.0.5"),
        ]);
        assert_eq!(
            resolve(addr("10.0.0.2:1"), &h, &proxies).client,
            addr("203.0.113.9:4711")
        );
        // All trusted: the leftmost.
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 10.0.0.5")]);
        assert_eq!(
            resolve(addr("10.0.0.2:1"), &h, &proxies).client,
            addr("10.9.9.9:0")
        );
        // IPv6, bare and bracketed.
        let h = headers(&[("x-forwarded-for", "2001:db8::1, [2001:db8::2]")]);
        assert_eq!(
            resolve(addr("10.0.0.2:1"), &h, &proxies).client,
            addr("[2001:db8::2]:0")
        );
    }

    #[test]
    fn the_unix_keyword_trusts_unix_peers_and_no_address() {
        let trusted = trusted("unix");
        assert!(trusted.trusts_unix() && !trusted.is_empty());
        assert!(!trusted.contains(UNIX_PEER.ip()));
        let forwarded = headers(&[("x-forwarded-for", "0.0.0.0, 203.0.113.9")]);
        assert_eq!(
            resolve_unix(&forwarded, &trusted).client,
            addr("203.0.113.9:0")
        );
        // From a TCP peer, `unix` trusts nobody.
        let peer = addr("127.0.0.1:5000");
        assert_eq!(resolve(peer, &forwarded, &trusted).client, peer);
        // Without it, a Unix peer's headers are ignored.
        assert_eq!(
            resolve_unix(&forwarded, &TrustedProxies::none()).client,
            UNIX_PEER
        );
        assert!("unix, nonsense".parse::<TrustedProxies>().is_err());
    }

    #[test]
    fn nothing_changes_for_an_untrusted_peer() {
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=1.2.3.4;proto=https"),
        ]);
        for proxies in [TrustedProxies::none(), trusted("10.0.0.0/8")] {
            assert_eq!(
                resolve(addr("192.0.2.1:5"), &h, &proxies),
                Origin {
                    client: addr("192.0.2.1:5"),
                    scheme: None
                }
            );
        }
    }

    #[test]
    fn x_forwarded_proto_is_the_nearest_proxys() {
        let proxies = trusted("127.0.0.1");
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "http, HTTPS"),
        ]);
        assert_eq!(
            resolve(addr("127.0.0.1:9"), &h, &proxies).scheme,
            Some("https")
        );
        let h = headers(&[("x-forwarded-proto", "gopher")]);
        let origin = resolve(addr("127.0.0.1:9"), &h, &proxies);
        assert_eq!((origin.client, origin.scheme), (addr("127.0.0.1:9"), None));
    }

    #[test]
    fn forwarded_rfc_7239() {
        let proxies = trusted("10.0.0.0/8");
        let h = headers(&[(
            "forwarded",
            r#"for=6.6.6.6;proto=http, For="[2001:db8:cafe::17]:4711";PROTO=https;by=10.0.0.5, for=10.0.0.5;proto=http"#,
        )]);
        let origin = resolve(addr("10.0.0.2:1"), &h, &proxies);
        assert_eq!(origin.client, addr("[2001:db8:cafe::17]:4711"));
        assert_eq!(origin.scheme, Some("https"));
        // Forwarded wins over X-Forwarded-For.
        let h = headers(&[
            ("forwarded", "for=192.0.2.60"),
            ("x-forwarded-for", "6.6.6.6"),
        ]);
        assert_eq!(
            resolve(addr("10.0.0.2:1"), &h, &proxies).client,
            addr("192.0.2.60:0")
        );
        // A quoted comma does not split an element.
        let h = headers(&[("forwarded", r#"for=192.0.2.60;host="a,b""#)]);
        assert_eq!(
            resolve(addr("10.0.0.2:1"), &h, &proxies).client,
            addr("192.0.2.60:0")
        );
    }

    #[test]
    fn a_hop_that_is_not_an_address_ends_the_walk() {
        let proxies = trusted("10.0.0.0/8");
        for list in [
            "for=203.0.113.9, for=unknown, for=10.0.0.5",
            "for=203.0.113.9, for=_hidden, for=10.0.0.5",
            "for=203.0.113.9, for=garbage, for=10.0.0.5",
        ] {
            let h = headers(&[("forwarded", list)]);
            assert_eq!(
                resolve(addr("10.0.0.2:1"), &h, &proxies).client,
                addr("10.0.0.5:0"),
                "{list}"
            );
        }
        // An unterminated quote makes the rest one element, not an address.
        let h = headers(&[("forwarded", "for=203.0.113.9, for=\"10.0.0.5, for=10.0.0.6")]);
        assert_eq!(
            resolve(addr("10.0.0.2:1"), &h, &proxies).client,
            addr("10.0.0.2:1")
        );
        let h = headers(&[("x-forwarded-for", "203.0.113.9, nonsense")]);
        assert_eq!(
            resolve(addr("10.0.0.2:1"), &h, &proxies).client,
            addr("10.0.0.2:1")
        );
    }

    proptest! {
        /// Whatever the headers say, the client is the peer, or an
        /// address that appears in them; an untrusted peer is never moved.
        #[test]
        fn the_client_is_the_peer_or_a_listed_address(
            list in proptest::collection::vec(
                prop_oneof![
                    any::<[u8; 4]>().prop_map(|o| std::net::Ipv4Addr::from(o).to_string()),
                    "[ -~]{0,12}",
                ],
                0..8,
            ),
            forwarded in any::<bool>(),
            peer_trusted in any::<bool>(),
        ) {
            let proxies = trusted("10.0.0.0/8, 1.0.0.0/8");
            let peer = if peer_trusted { addr("10.0.0.1:1") } else { addr("192.0.2.1:1") };
            let value = if forwarded {
                list.iter().map(|node| format!("for={node}")).collect::<Vec<_>>().join(",")
            } else {
                list.join(",")
            };
            let Ok(header) = value.parse() else { return Ok(()) };
            let mut h = HeaderMap::new();
            h.insert(if forwarded { "forwarded" } else { "x-forwarded-for" }, header);
            let origin = resolve(peer, &h, &proxies);
            if !peer_trusted {
                prop_assert_eq!(origin.client, peer);
            } else if origin.client != peer {
                prop_assert!(value.contains(&origin.client.ip().to_string()), "{value} {origin:?}");
            }
        }
    }
}
