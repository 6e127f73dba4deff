//! `ws://` and `wss://` URLs: what a client connects to and what it asks
//! for (RFC 6455 section 3).

use http::Uri;

use crate::Error;

/// A WebSocket URL, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WsUrl {
    /// `wss://`: TLS.
    pub(crate) secure: bool,
    /// The host as the resolver and TLS take it: a name, or an IP address
    /// without the brackets of an IPv6 one.
    pub(crate) host: String,
    /// The port (80 for `ws://`, 443 for `wss://` unless given).
    pub(crate) port: u16,
    /// The `Host` header: the URL's authority as given.
    pub(crate) authority: String,
    /// The request-target: the path (`/` if none) and the query.
    pub(crate) target: String,
}

impl WsUrl {
    /// Takes `url` apart; an error says what is wrong with it.
    ///
    /// ```text
    /// ws://example.com/chat?room=1  ->  example.com, 80, "/chat?room=1"
    /// wss://[::1]:8443              ->  ::1, 8443, "/"
    /// ```
    pub(crate) fn parse(url: &str) -> Result<WsUrl, Error> {
        let invalid = |reason| Error::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        if url.contains('#') {
            return Err(invalid("a WebSocket URL has no fragment (#...)"));
        }
        let scheme = url.split_once("://").map(|(scheme, _)| scheme);
        let secure = match scheme {
            Some(scheme) if scheme.eq_ignore_ascii_case("ws") => false,
            Some(scheme) if scheme.eq_ignore_ascii_case("wss") => true,
            _ => return Err(invalid("the scheme must be ws:// or wss://")),
        };
        let uri: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid(
                "credentials in the URL are not sent: give an Authorization header instead",
            ));
        }
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        // What follows the host (`authority.port()` hides a port that is
        // not a u16).
        let after_host = &authority.as_str()[authority.host().len()..];
        let port = match after_host.strip_prefix(':').map(str::parse::<u16>) {
            Some(Ok(0)) => return Err(invalid("port 0 cannot be connected to")),
            Some(Ok(port)) => port,
            Some(Err(_)) if after_host == ":" => return Err(invalid("empty port")),
            Some(Err(_)) => return Err(invalid("the port is not a number from 1 to 65535")),
            None if secure => 443,
            None => 80,
        };
        let target = match uri.path_and_query() {
            Some(pq) if pq.as_str().starts_with('/') => pq.as_str().to_owned(),
            Some(pq) => format!("/{}", pq.as_str()),
            None => "/".to_owned(),
        };
        Ok(WsUrl {
            secure,
            host: host.to_owned(),
            port,
            authority: authority.as_str().to_owned(),
            target,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> (bool, String, u16, String, String) {
        let u = WsUrl::parse(url).unwrap();
        (u.secure, u.host, u.port, u.authority, u.target)
    }

    #[test]
    fn urls_are_taken_apart() {
        let case = |secure, host: &str, port, authority: &str, target: &str| {
            (
                secure,
                host.to_owned(),
                port,
                authority.to_owned(),
                target.to_owned(),
            )
        };
        assert_eq!(
            parsed("ws://example.com/chat?room=1&x=%20"),
            case(
                false,
                "example.com",
                80,
                "example.com",
                "/chat?room=1&x=%20"
            )
        );
        assert_eq!(
            parsed("WSS://Example.com"),
            case(true, "Example.com", 443, "Example.com", "/")
        );
        assert_eq!(
            parsed("wss://[::1]:8443?q"),
            case(true, "::1", 8443, "[::1]:8443", "/?q")
        );
        assert_eq!(
            parsed("ws://127.0.0.1:9001/runCase?case=1&agent=greenws"),
            case(
                false,
                "127.0.0.1",
                9001,
                "127.0.0.1:9001",
                "/runCase?case=1&agent=greenws"
            )
        );
    }

    #[test]
    fn unusable_urls_say_why() {
        for (url, reason) in [
            ("http://example.com/", "the scheme must be ws:// or wss://"),
            ("example.com/chat", "the scheme must be ws:// or wss://"),
            ("ws://", "not a URL"),
            ("ws://example.com:0/", "port 0 cannot be connected to"),
            (
                "ws://example.com:99999/",
                "the port is not a number from 1 to 65535",
            ),
            ("ws://example.com:/", "empty port"),
            (
                "ws://example.com/#top",
                "a WebSocket URL has no fragment (#...)",
            ),
            (
                "ws://user:pass@example.com/",
                "credentials in the URL are not sent: give an Authorization header instead",
            ),
            ("ws://exa mple.com/", "not a URL"),
            ("", "the scheme must be ws:// or wss://"),
        ] {
            match WsUrl::parse(url) {
                Err(Error::InvalidUrl { url: u, reason: r }) => {
                    assert_eq!((u.as_str(), r), (url, reason))
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }
}
