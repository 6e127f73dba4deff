//! The access log: one line per request in pywsgi's format, through the
//! `log` crate (target `greenws::access`, level info):
//!
//! ```text
//! 127.0.0.1 - - [2026-01-31 12:00:00] "GET /test HTTP/1.1" 200 19 0.000081
//! ```
//!
//! A client on a Unix domain socket (no address) is written `unix`.
//!
//! The request line is the client's, so it is escaped: control characters
//! (C0, DEL and C1), the bidirectional-text controls, the line and paragraph
//! separators, `"` and `\` are written as escapes (`\x1b`, `\u{202e}`,
//! `\"`), so a request can neither forge log lines nor reorder what a
//! terminal shows.
//!
//! Writing the line is the logger's business. With
//! [`logging::init`](crate::logging::init) (the demo and the examples) it
//! goes to a bounded buffer that a writer thread empties: a stuck stderr
//! never blocks a worker. That logger's access lines skip the `log` crate's
//! formatting: the line is put together once, in the thread's buffer, and
//! copied into the log buffer as it is.

use std::cell::{Cell, RefCell};
use std::fmt::{self, Display, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::time::{Instant, SystemTime};

use http::{StatusCode, Version};

use crate::proto::forwarded::UNIX_PEER;
use crate::proto::http::head::RequestHead;

/// The `log` target of access lines.
pub(crate) const TARGET: &str = "greenws::access";

/// True if access lines would be written (the logger's filter says so).
#[inline]
pub(crate) fn enabled() -> bool {
    log::log_enabled!(target: TARGET, log::Level::Info)
}

/// The request line of a logged exchange.
#[derive(Clone, Copy)]
pub(crate) enum RequestLine<'a> {
    /// From a parsed head: `METHOD TARGET VERSION`, written without first
    /// being put together in a string of its own.
    Head(&'a RequestHead),
    /// As text (what was buffered of a refused request).
    Text(&'a str),
}

/// Logs one exchange: `IP - - [date] "REQUEST LINE" status bytes seconds`.
///
/// The line is put together by hand in a buffer of the thread (no blocking
/// point in between), then logged as one string: this runs once per
/// request, and `format_args!` with floats and addresses costs several
/// times more.
#[inline(never)]
pub(crate) fn record(
    peer: SocketAddr,
    request_line: RequestLine<'_>,
    status: StatusCode,
    body_bytes: u64,
    started: Instant,
) {
    thread_local! {
        static LINE: RefCell<String> = const { RefCell::new(String::new()) };
    }
    let elapsed = started.elapsed();
    LINE.with(|line| {
        let Ok(mut line) = line.try_borrow_mut() else {
            return; // a logger that logs access lines while writing one
        };
        line.clear();
        if peer == UNIX_PEER {
            line.push_str("unix");
        } else {
            push_ip(&mut line, peer.ip());
        }
        line.push_str(" - - [");
        line.push_str(log_time(SystemTime::now()).as_str());
        line.push_str("] \"");
        match request_line {
            RequestLine::Head(head) => {
                push_escaped(&mut line, head.method.as_str());
                line.push(' ');
                push_escaped(&mut line, &head.target);
                line.push_str(match head.version {
                    Version::HTTP_10 => " HTTP/1.0",
                    _ => " HTTP/1.1",
                });
            }
            RequestLine::Text(text) => push_escaped(&mut line, text),
        }
        line.push_str("\" ");
        push_decimal(&mut line, u64::from(status.as_u16()));
        line.push(' ');
        push_decimal(&mut line, body_bytes);
        line.push(' ');
        push_decimal(&mut line, elapsed.as_secs());
        line.push('.');
        let micros = elapsed.subsec_micros();
        for digit in (0..6).rev().map(|i| micros / 10u32.pow(i) % 10) {
            line.push(char::from(b'0' + digit as u8));
        }
        if !crate::logging::push_access_line(&mut line) {
            log::info!(target: TARGET, "{}", line.as_str());
        }
    });
}

/// Appends client text, escaped (see [`Escaped`]).
fn push_escaped(line: &mut String, text: &str) {
    if is_plain(text) {
        line.push_str(text);
    } else {
        let _ = write!(line, "{}", Escaped(text));
    }
}

/// True if `text` is written as it is: printable ASCII without `"` or `\`.
fn is_plain(text: &str) -> bool {
    text.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

/// Appends `n` in decimal.
fn push_decimal(line: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    line.push_str(std::str::from_utf8(&digits[at..]).unwrap_or("?"));
}

/// Appends an address as `Display` writes it (IPv4 without `fmt`).
fn push_ip(line: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    line.push('.');
                }
                push_decimal(line, u64::from(octet));
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(line, "{v6}");
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC), as pywsgi's access log shows time.
#[derive(Clone, Copy)]
pub(crate) struct LogTime([u8; 19]);

impl LogTime {
    /// The date part, `YYYY-MM-DD`.
    pub(crate) fn date(&self) -> &str {
        &self.as_str()[..10]
    }

    /// The time part, `HH:MM:SS`.
    pub(crate) fn time(&self) -> &str {
        &self.as_str()[11..]
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever written.
        std::str::from_utf8(&self.0).unwrap_or("????-??-?? ??:??:??")
    }
}

impl Display for LogTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

thread_local! {
    /// The last second formatted on this thread (formatting a date costs
    /// more than the rest of the line).
    static LAST_TIME: Cell<(u64, LogTime)> = const { Cell::new((u64::MAX, LogTime([0; 19]))) };
}

/// The time of `now` for a log line, formatted once per second per thread.
pub(crate) fn log_time(now: SystemTime) -> LogTime {
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    LAST_TIME.with(|last| {
        let (cached_secs, cached) = last.get();
        if cached_secs == secs {
            return cached;
        }
        let formatted = format_utc(secs);
        last.set((secs, formatted));
        formatted
    })
}

fn format_utc(secs: u64) -> LogTime {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = [0u8; 19];
    let mut text = String::with_capacity(19);
    let _ = write!(
        text,
        "{:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        year.clamp(0, 9999),
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    out.copy_from_slice(&text.as_bytes()[..19]);
    LogTime(out)
}

/// Client text made safe for one log line (see the module docs).
pub(crate) struct Escaped<'a>(pub(crate) &'a str);

impl Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0;
        if is_plain(text) {
            return f.write_str(text);
        }
        let mut clean_from = 0;
        for (at, c) in text.char_indices() {
            let escape = match c {
                '"' => Some(Escape::Backslash('"')),
                '\\' => Some(Escape::Backslash('\\')),
                '\0'..='\x1f' | '\x7f' => Some(Escape::Byte(c as u8)),
                c if needs_unicode_escape(c) => Some(Escape::Unicode(c)),
                _ => None,
            };
            if let Some(escape) = escape {
                f.write_str(&text[clean_from..at])?;
                match escape {
                    Escape::Backslash(c) => write!(f, "\\{c}")?,
                    Escape::Byte(b) => write!(f, "\\x{b:02x}")?,
                    Escape::Unicode(c) => write!(f, "\\u{{{:x}}}", c as u32)?,
                }
                clean_from = at + c.len_utf8();
            }
        }
        f.write_str(&text[clean_from..])
    }
}

enum Escape {
    Backslash(char),
    Byte(u8),
    Unicode(char),
}

/// C1 controls, the bidirectional-text controls (which let text display
/// in another order than it was written), and the Unicode line and
/// paragraph separators.
fn needs_unicode_escape(c: char) -> bool {
    matches!(c,
        '\u{80}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200e}' | '\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn log_time_formats_utc() {
        let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(
            log_time(at(951_782_400 + 3_723)).to_string(),
            "2000-02-29 01:02:03"
        );
        assert_eq!(log_time(at(0)).to_string(), "1970-01-01 00:00:00");
        let last = log_time(at(1_798_761_599));
        assert_eq!(last.to_string(), "2026-12-31 23:59:59");
        assert_eq!((last.date(), last.time()), ("2026-12-31", "23:59:59"));
        // The cache gives the same text for the same second, a new one for
        // the next.
        assert_eq!(
            log_time(at(1_798_761_599) + Duration::from_millis(999)).to_string(),
            "2026-12-31 23:59:59"
        );
        assert_eq!(
            log_time(at(1_798_761_600)).to_string(),
            "2027-01-01 00:00:00"
        );
    }

    #[test]
    fn numbers_and_addresses_are_written_as_display_does() {
        for n in [0, 7, 10, 19, 404, 65_535, u64::MAX] {
            let mut line = String::new();
            push_decimal(&mut line, n);
            assert_eq!(line, n.to_string());
        }
        for ip in [
            "127.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "10.20.0.3",
            "::1",
            "fe80::1:2",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut line = String::new();
            push_ip(&mut line, ip);
            assert_eq!(line, ip.to_string());
        }
    }

    #[test]
    fn plain_request_lines_are_unchanged() {
        let line = "GET /a/b?c=d&e=%22f%22 HTTP/1.1";
        assert_eq!(Escaped(line).to_string(), line);
        assert_eq!(
            Escaped("GET /caf\u{e9} HTTP/1.1").to_string(),
            "GET /caf\u{e9} HTTP/1.1"
        );
    }

    #[test]
    fn controls_quotes_and_bidi_are_escaped() {
        let cases = [
            ("GET /\x1b[2J HTTP/1.1", "GET /\\x1b[2J HTTP/1.1"),
            (
                "GET /\0\r\n\t HTTP/1.1",
                "GET /\\x00\\x0d\\x0a\\x09 HTTP/1.1",
            ),
            ("GET /\x7f", "GET /\\x7f"),
            ("GET /\u{85}\u{9b}31m", "GET /\\u{85}\\u{9b}31m"),
            ("GET /\u{202e}gnp.exe", "GET /\\u{202e}gnp.exe"),
            (
                "\u{61c}\u{200e}\u{200f}\u{202a}\u{2066}\u{2069}",
                "\\u{61c}\\u{200e}\\u{200f}\\u{202a}\\u{2066}\\u{2069}",
            ),
            ("a\u{2028}b\u{2029}c", "a\\u{2028}b\\u{2029}c"),
            (
                "GET /\" 200 0 0.1\" HTTP/1.1",
                "GET /\\\" 200 0 0.1\\\" HTTP/1.1",
            ),
            ("GET /\\x1b", "GET /\\\\x1b"),
        ];
        for (raw, logged) in cases {
            assert_eq!(Escaped(raw).to_string(), logged, "{raw:?}");
        }
    }

    #[test]
    fn an_escaped_line_is_one_printable_line() {
        let every_char: String = (0..0x3000u32).filter_map(char::from_u32).collect();
        let logged = Escaped(&every_char).to_string();
        assert!(logged
            .chars()
            .all(|c| !c.is_control() && !needs_unicode_escape(c)));
    }
}
