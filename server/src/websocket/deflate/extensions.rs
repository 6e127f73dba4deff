//! The grammar of `Sec-WebSocket-Extensions` (RFC 6455 section 9.1):
//!
//! ```text
//! extension-list = 1#extension
//! extension      = token *( ";" extension-param )
//! extension-param = token [ "=" ( token | quoted-string ) ]
//! ```
//!
//! with optional whitespace around the separators, empty list elements
//! skipped (the `#` rule allows them), and quoted values unescaped (RFC 6455
//! requires them to be tokens once unescaped). Names keep their spelling;
//! callers compare them without regard to case.

use std::fmt;

/// One element of the list: an extension name and its parameters, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Extension {
    pub(crate) name: String,
    pub(crate) params: Vec<Param>,
}

/// `name` or `name=value` (the value unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Param {
    pub(crate) name: String,
    pub(crate) value: Option<String>,
}

/// Why an element of the list could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SyntaxError(&'static str);

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Parses one header value into its elements, in order. An element with
/// broken syntax is an `Err` and the elements after it still parse, since
/// commas outside quotes still separate them; an unterminated quoted string
/// runs to the end of the value, so it ends the list.
pub(crate) fn parse(value: &[u8]) -> Vec<Result<Extension, SyntaxError>> {
    split_elements(value)
        .into_iter()
        .filter(|element| !trim(element).is_empty())
        .map(parse_element)
        .collect()
}

/// Splits at commas that are not inside a quoted string.
fn split_elements(value: &[u8]) -> Vec<&[u8]> {
    let mut elements = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, &byte) in value.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted {
            match byte {
                b'\\' => escaped = true,
                b'"' => quoted = false,
                _ => {}
            }
        } else if byte == b'"' {
            quoted = true;
        } else if byte == b',' {
            elements.push(&value[start..i]);
            start = i + 1;
        }
    }
    elements.push(&value[start..]);
    elements
}

fn parse_element(element: &[u8]) -> Result<Extension, SyntaxError> {
    let mut cursor = Cursor { rest: element };
    cursor.skip_whitespace();
    let name = cursor
        .token()
        .ok_or(SyntaxError("an extension name is not a token"))?;
    let mut params = Vec::new();
    loop {
        cursor.skip_whitespace();
        if cursor.rest.is_empty() {
            return Ok(Extension { name, params });
        }
        if !cursor.eat(b';') {
            return Err(SyntaxError("expected `;` between extension parameters"));
        }
        cursor.skip_whitespace();
        let param_name = cursor
            .token()
            .ok_or(SyntaxError("a parameter name is not a token"))?;
        cursor.skip_whitespace();
        let value = if cursor.eat(b'=') {
            cursor.skip_whitespace();
            Some(if cursor.rest.first() == Some(&b'"') {
                cursor.quoted_token()?
            } else {
                cursor
                    .token()
                    .ok_or(SyntaxError("a parameter value is not a token"))?
            })
        } else {
            None
        };
        params.push(Param {
            name: param_name,
            value,
        });
    }
}

struct Cursor<'a> {
    rest: &'a [u8],
}

impl Cursor<'_> {
    fn skip_whitespace(&mut self) {
        while let [b' ' | b'\t', rest @ ..] = self.rest {
            self.rest = rest;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        match self.rest.split_first() {
            Some((&first, rest)) if first == byte => {
                self.rest = rest;
                true
            }
            _ => false,
        }
    }

    fn token(&mut self) -> Option<String> {
        let len = self.rest.iter().take_while(|&&b| is_tchar(b)).count();
        if len == 0 {
            return None;
        }
        let (token, rest) = self.rest.split_at(len);
        self.rest = rest;
        // tchar is ASCII.
        Some(String::from_utf8_lossy(token).into_owned())
    }

    /// A quoted string whose unescaped content must be a token.
    fn quoted_token(&mut self) -> Result<String, SyntaxError> {
        debug_assert_eq!(self.rest.first(), Some(&b'"'));
        let mut value = String::new();
        let mut bytes = self.rest[1..].iter();
        loop {
            match bytes.next() {
                None => return Err(SyntaxError("a quoted string is not terminated")),
                Some(b'"') => break,
                Some(b'\\') => match bytes.next() {
                    Some(&escaped) => value.push(escaped as char),
                    None => return Err(SyntaxError("a quoted string is not terminated")),
                },
                Some(&byte) => value.push(byte as char),
            }
        }
        self.rest = bytes.as_slice();
        if value.is_empty() || !value.bytes().all(is_tchar) {
            return Err(SyntaxError("a quoted parameter value is not a token"));
        }
        Ok(value)
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// RFC 9110's `tchar`.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(name: &str, params: &[(&str, Option<&str>)]) -> Extension {
        Extension {
            name: name.into(),
            params: params
                .iter()
                .map(|(name, value)| Param {
                    name: (*name).into(),
                    value: value.map(Into::into),
                })
                .collect(),
        }
    }

    #[test]
    fn several_extensions_with_parameters_and_whitespace() {
        let parsed =
            parse(b"permessage-deflate ;client_max_window_bits ,\tfoo; a = 1 ;b=\"x\\yz\"  , bar");
        assert_eq!(
            parsed,
            vec![
                Ok(ext(
                    "permessage-deflate",
                    &[("client_max_window_bits", None)]
                )),
                Ok(ext("foo", &[("a", Some("1")), ("b", Some("xyz"))])),
                Ok(ext("bar", &[])),
            ]
        );
    }

    #[test]
    fn empty_elements_are_skipped() {
        assert_eq!(parse(b""), vec![]);
        assert_eq!(parse(b" , ,"), vec![]);
        assert_eq!(parse(b",a,,b,"), vec![Ok(ext("a", &[])), Ok(ext("b", &[]))]);
    }

    #[test]
    fn a_comma_inside_quotes_does_not_split() {
        let parsed = parse(b"a; p=\"1,2\", b");
        assert_eq!(parsed.len(), 2);
        assert!(parsed[0].is_err(), "1,2 is not a token");
        assert_eq!(parsed[1], Ok(ext("b", &[])));
    }

    #[test]
    fn a_broken_element_does_not_hide_the_next_one() {
        for broken in [
            &b"a b, permessage-deflate"[..],
            b"a;, permessage-deflate",
            b"a; =1, permessage-deflate",
            b"a; p=, permessage-deflate",
            b"a; p==1, permessage-deflate",
            b"a; p=\"\", permessage-deflate",
            b"a; p=\"x y\", permessage-deflate",
            b"a; p=1 2, permessage-deflate",
            b";p, permessage-deflate",
            b"\xff, permessage-deflate",
            b"a; p=\xff, permessage-deflate",
        ] {
            let parsed = parse(broken);
            assert_eq!(parsed.len(), 2, "{:?}", String::from_utf8_lossy(broken));
            assert!(parsed[0].is_err(), "{:?}", String::from_utf8_lossy(broken));
            assert_eq!(parsed[1], Ok(ext("permessage-deflate", &[])));
        }
    }

    #[test]
    fn an_unterminated_quote_swallows_the_rest() {
        let parsed = parse(b"a; p=\"1, permessage-deflate");
        assert_eq!(parsed.len(), 1);
        assert_eq!(
            parsed[0],
            Err(SyntaxError("a quoted string is not terminated"))
        );
        assert_eq!(
            parse(b"a; p=\"1\\"),
            vec![Err(SyntaxError("a quoted string is not terminated"))]
        );
    }
}
