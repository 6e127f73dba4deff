//! Comma-separated header lists (RFC 9110 section 5.6.1): `Connection:
//! keep-alive, Upgrade`, `Upgrade: websocket`, `Sec-WebSocket-Protocol:
//! chat.v2, chat.v1`. One implementation for every header whose value is a
//! list of tokens.
//!
//! Only for lists of tokens: an element with a quoted string that holds a
//! comma (as `Sec-WebSocket-Extensions` parameters may) needs a real
//! parser.

use http::header::AsHeaderName;
use http::HeaderMap;

/// The elements of one header value, trimmed of surrounding whitespace;
/// empty elements (`a,,b`, a trailing comma) are skipped, as the list rule
/// asks a recipient to do.
///
/// ```
/// use greenws::proto::tokens::list_elements;
/// let elements: Vec<_> = list_elements(" keep-alive ,, Upgrade,").collect();
/// assert_eq!(elements, ["keep-alive", "Upgrade"]);
/// ```
pub fn list_elements(value: &str) -> impl Iterator<Item = &str> {
    elements(value).filter(|element| !element.is_empty())
}

/// The elements of one header value, where none may be empty: `None` for
/// `a,,b` or a trailing comma. For the fields that frame a message
/// (`Transfer-Encoding`, `Content-Length`), where a server that guesses
/// differently from a proxy in front of it opens the way to request
/// smuggling.
///
/// ```
/// use greenws::proto::tokens::strict_list_elements;
/// assert_eq!(strict_list_elements("gzip, chunked"), Some(vec!["gzip", "chunked"]));
/// assert_eq!(strict_list_elements("chunked,"), None);
/// ```
pub fn strict_list_elements(value: &str) -> Option<Vec<&str>> {
    let elements: Vec<&str> = elements(value).collect();
    (!elements.iter().any(|element| element.is_empty())).then_some(elements)
}

/// Every element of one header value, trimmed, empty ones included.
fn elements(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(|element| element.trim_matches([' ', '\t']))
}

/// The elements of every `name` header, in order (a list may be split over
/// several header lines). Values that are not visible ASCII text are
/// skipped: no token can be in them.
///
/// ```
/// use greenws::http::HeaderMap;
/// use greenws::proto::tokens::header_elements;
/// let mut headers = HeaderMap::new();
/// headers.append("sec-websocket-protocol", "chat.v3, chat.v2".parse().unwrap());
/// headers.append("sec-websocket-protocol", "chat.v1".parse().unwrap());
/// let offered: Vec<_> = header_elements(&headers, "sec-websocket-protocol").collect();
/// assert_eq!(offered, ["chat.v3", "chat.v2", "chat.v1"]);
/// ```
pub fn header_elements<K: AsHeaderName>(
    headers: &HeaderMap,
    name: K,
) -> impl Iterator<Item = &str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(list_elements)
}

/// True when a `name` header lists `token` (compared without regard to
/// ASCII case, as tokens are).
///
/// ```
/// use greenws::http::HeaderMap;
/// use greenws::proto::tokens::has_token;
/// let mut headers = HeaderMap::new();
/// headers.insert("connection", "keep-alive, Upgrade".parse().unwrap());
/// assert!(has_token(&headers, "connection", "upgrade"));
/// assert!(!has_token(&headers, "connection", "close"));
/// ```
pub fn has_token<K: AsHeaderName>(headers: &HeaderMap, name: K, token: &str) -> bool {
    header_elements(headers, name).any(|element| element.eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_trimmed_and_empty_ones_skipped() {
        let got: Vec<_> = list_elements("\ta , b\t,, ,c ,").collect();
        assert_eq!(got, ["a", "b", "c"]);
        assert_eq!(list_elements("").count(), 0);
        assert_eq!(list_elements(" , ,").count(), 0);
    }

    #[test]
    fn lists_split_over_several_lines_and_values_that_are_not_text() {
        let mut headers = HeaderMap::new();
        headers.append("connection", "keep-alive".parse().unwrap());
        headers.append(
            "connection",
            http::HeaderValue::from_bytes(b"\xffupgrade").unwrap(),
        );
        headers.append("connection", "UPGRADE".parse().unwrap());
        let got: Vec<_> = header_elements(&headers, "connection").collect();
        assert_eq!(got, ["keep-alive", "UPGRADE"]);
        assert!(has_token(&headers, http::header::CONNECTION, "Upgrade"));
        assert!(!has_token(&headers, "upgrade", "websocket"));
    }
}
