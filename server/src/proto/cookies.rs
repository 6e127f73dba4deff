//! The `Cookie` request header (RFC 6265 section 5.4): `name=value` pairs
//! separated by `;`.

use http::header::COOKIE;
use http::HeaderMap;

/// The cookies of every `Cookie` header, in order, as `(name, value)`.
/// Whitespace around names and values is dropped, a value in double
/// quotes loses them, and pairs without `=` are skipped. Values are not
/// percent-decoded (cookies carry no encoding of their own).
///
/// ```
/// use greenws::http::HeaderMap;
/// use greenws::proto::cookies::cookies;
/// let mut headers = HeaderMap::new();
/// headers.insert("cookie", r#"session=abc123; theme="dark"; junk"#.parse().unwrap());
/// let found: Vec<_> = cookies(&headers).collect();
/// assert_eq!(found, [("session", "abc123"), ("theme", "dark")]);
/// ```
pub fn cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            let name = name.trim();
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            (!name.is_empty()).then_some((name, value))
        })
}

/// The value of the first cookie called `name`.
///
/// ```
/// use greenws::http::HeaderMap;
/// use greenws::proto::cookies::cookie;
/// let mut headers = HeaderMap::new();
/// headers.insert("cookie", "a=1; session=abc".parse().unwrap());
/// assert_eq!(cookie(&headers, "session"), Some("abc"));
/// assert_eq!(cookie(&headers, "missing"), None);
/// ```
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    cookies(headers).find(|(n, _)| *n == name).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_headers_empty_values_and_odd_spacing() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, " a = 1 ;b=;;=orphan".parse().unwrap());
        headers.append(COOKIE, "c=\"quoted\"; d=\"half".parse().unwrap());
        headers.append(COOKIE, http::HeaderValue::from_bytes(b"e=\xff").unwrap());
        let found: Vec<_> = cookies(&headers).collect();
        assert_eq!(
            found,
            [("a", "1"), ("b", ""), ("c", "quoted"), ("d", "\"half")]
        );
        assert_eq!(cookie(&headers, "b"), Some(""));
    }
}
