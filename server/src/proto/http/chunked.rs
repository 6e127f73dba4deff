//! A decoder for `Transfer-Encoding: chunked` request bodies, and the
//! encoder for chunked responses.
//!
//! The decoder is strict (RFC 9112 section 7.1): size lines and trailer
//! lines end in CRLF, chunk extensions are tokens or quoted strings with
//! no stray whitespace, trailer fields are well-formed field lines; and
//! bounded: a size line holds at most [`MAX_SIZE_LINE`] bytes, a body's
//! extensions at most [`MAX_EXTENSION_BYTES`] in all, its trailer section
//! the limit given to [`ChunkedDecoder::new`]. So whatever a client sends,
//! the decoder never needs more than the larger of those bytes buffered.

use std::ops::Range;

/// The longest chunk-size line accepted: the size and its extensions,
/// without the line ending.
pub const MAX_SIZE_LINE: usize = 4096;

/// The most bytes of chunk extensions in one body, all chunks together (as
/// hyper and Node.js bound them): a body of tiny chunks with long
/// extensions would otherwise cost far more to read than its size says.
pub const MAX_EXTENSION_BYTES: usize = 16 * 1024;

const TRAILERS_TOO_LARGE: &str = "trailer section larger than the limit";

/// Why a chunked body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkError {
    /// The framing is broken; the connection cannot be trusted any more (400).
    Malformed(&'static str),
    /// The decoded body grew past the limit (413).
    TooLarge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the last chunk: trailer lines up to a blank line.
    Trailers,
    Done,
}

/// One step of decoding: how many input bytes were used, and which of them
/// (a sub-range) are body data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Bytes of the input consumed, data included.
    pub consumed: usize,
    /// The range of the input that is body data (may be empty).
    pub data: Range<usize>,
}

/// Incremental chunked-body decoder: feed it the bytes that arrive, take
/// out the data ranges it finds.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    total: u64,
    max_body: u64,
    extension_bytes: usize,
    trailer_bytes: usize,
    max_trailer_bytes: usize,
}

impl ChunkedDecoder {
    /// A decoder that refuses bodies larger than `max_body` and trailer
    /// sections (the field lines with their line endings and the empty line
    /// that ends them) larger than `max_trailer_bytes`.
    pub fn new(max_body: u64, max_trailer_bytes: usize) -> Self {
        ChunkedDecoder {
            state: State::Size,
            total: 0,
            max_body,
            extension_bytes: 0,
            trailer_bytes: 0,
            max_trailer_bytes,
        }
    }

    /// True once the last chunk and the trailers were consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input` up to and including the next piece of data (at
    /// most `max_data` bytes of it). A step with no data and nothing
    /// consumed means: more input needed (or done, see
    /// [`is_done`](Self::is_done)).
    pub fn decode(&mut self, input: &[u8], max_data: usize) -> Result<Step, ChunkError> {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            match self.state {
                State::Done => {
                    return Ok(Step {
                        consumed: pos,
                        data: pos..pos,
                    })
                }
                State::Data(left) => {
                    let n = (rest.len().min(max_data) as u64).min(left) as usize;
                    if n == 0 {
                        return Ok(Step {
                            consumed: pos,
                            data: pos..pos,
                        });
                    }
                    self.state = if n as u64 == left {
                        State::DataEnd
                    } else {
                        State::Data(left - n as u64)
                    };
                    return Ok(Step {
                        consumed: pos + n,
                        data: pos..pos + n,
                    });
                }
                State::DataEnd => {
                    if rest.len() < 2 {
                        return Ok(Step {
                            consumed: pos,
                            data: pos..pos,
                        });
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(ChunkError::Malformed("chunk data not followed by CRLF"));
                    }
                    pos += 2;
                    self.state = State::Size;
                }
                State::Size => {
                    let Some(line) = crlf_line(rest, MAX_SIZE_LINE)
                        .map_err(|e| e.or_too_long("chunk-size line longer than 4096 bytes"))?
                    else {
                        return Ok(Step {
                            consumed: pos,
                            data: pos..pos,
                        });
                    };
                    let (size, extensions) = parse_size_line(&rest[..line])?;
                    self.extension_bytes += extensions;
                    if self.extension_bytes > MAX_EXTENSION_BYTES {
                        return Err(ChunkError::Malformed(
                            "chunk extensions longer than 16384 bytes in all",
                        ));
                    }
                    pos += line + 2;
                    if size == 0 {
                        self.state = State::Trailers;
                    } else {
                        self.total = self.total.saturating_add(size);
                        if self.total > self.max_body {
                            return Err(ChunkError::TooLarge);
                        }
                        self.state = State::Data(size);
                    }
                }
                State::Trailers => {
                    // Every line, the last empty one too, takes its CRLF.
                    let room = self.max_trailer_bytes - self.trailer_bytes;
                    if room < 2 {
                        return Err(ChunkError::Malformed(TRAILERS_TOO_LARGE));
                    }
                    let Some(line) =
                        crlf_line(rest, room - 2).map_err(|e| e.or_too_long(TRAILERS_TOO_LARGE))?
                    else {
                        return Ok(Step {
                            consumed: pos,
                            data: pos..pos,
                        });
                    };
                    if line == 0 {
                        self.state = State::Done;
                    } else {
                        check_trailer_field(&rest[..line])?;
                    }
                    self.trailer_bytes += line + 2;
                    pos += line + 2;
                }
            }
        }
    }
}

/// The length of the CRLF-terminated line at the start of `input`, without
/// its CRLF; `None` if the line is not complete yet. A line longer than
/// `max` bytes is an error (`TooLong`, see [`LineError::or_too_long`]),
/// known without looking further than `max + 2` bytes.
fn crlf_line(input: &[u8], max: usize) -> Result<Option<usize>, LineError> {
    let window = &input[..input.len().min(max.saturating_add(2))];
    match memchr::memchr(b'\n', window) {
        Some(lf) if lf == 0 || input[lf - 1] != b'\r' => Err(LineError::Malformed(
            ChunkError::Malformed("chunk line not ended by CRLF"),
        )),
        Some(lf) => Ok(Some(lf - 1)),
        None if window.len() == max.saturating_add(2) => Err(LineError::TooLong),
        None => Ok(None),
    }
}

/// Why [`crlf_line`] found no line.
enum LineError {
    Malformed(ChunkError),
    TooLong,
}

impl LineError {
    /// The chunk error, with `message` for a line that is too long.
    fn or_too_long(self, message: &'static str) -> ChunkError {
        match self {
            LineError::Malformed(e) => e,
            LineError::TooLong => ChunkError::Malformed(message),
        }
    }
}

/// Parses a chunk-size line without its CRLF (`1a;name=value`) into the
/// size and the length of its extensions:
///
/// ```text
/// chunk-size = 1*HEXDIG
/// chunk-ext  = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
/// chunk-ext-name = token
/// chunk-ext-val  = token / quoted-string
/// ```
fn parse_size_line(line: &[u8]) -> Result<(u64, usize), ChunkError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(ChunkError::Malformed("chunk size missing"));
    }
    if digits > 15 {
        return Err(ChunkError::Malformed("chunk size too large"));
    }
    check_extensions(&line[digits..])?;
    let text = std::str::from_utf8(&line[..digits]).expect("hex digits are ASCII");
    let size = u64::from_str_radix(text, 16).expect("at most 15 hex digits fit in u64");
    Ok((size, line.len() - digits))
}

/// Checks the chunk extensions after a chunk size.
fn check_extensions(mut rest: &[u8]) -> Result<(), ChunkError> {
    let invalid = ChunkError::Malformed("invalid chunk extension");
    while !rest.is_empty() {
        rest = skip_bws(rest).strip_prefix(b";").ok_or(invalid.clone())?;
        rest = skip_bws(rest);
        let name = token_len(rest);
        if name == 0 {
            return Err(invalid);
        }
        rest = &rest[name..];
        // Whitespace after the name belongs to a value or the next ";".
        if let Some(value) = skip_bws(rest).strip_prefix(b"=") {
            let value = skip_bws(value);
            let len = if value.first() == Some(&b'"') {
                quoted_string_len(value).ok_or(invalid.clone())?
            } else {
                token_len(value)
            };
            if len == 0 {
                return Err(invalid);
            }
            rest = &value[len..];
        }
    }
    Ok(())
}

/// Checks one trailer line: `field-name ":" OWS field-value OWS`, no
/// line folding.
fn check_trailer_field(line: &[u8]) -> Result<(), ChunkError> {
    let name = token_len(line);
    if name == 0 || line.get(name) != Some(&b':') {
        return Err(ChunkError::Malformed("invalid trailer field"));
    }
    let value_ok = line[name + 1..]
        .iter()
        .all(|&b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80);
    if !value_ok {
        return Err(ChunkError::Malformed("invalid trailer field value"));
    }
    Ok(())
}

/// Skips "bad whitespace": spaces and tabs.
fn skip_bws(bytes: &[u8]) -> &[u8] {
    let n = bytes
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    &bytes[n..]
}

/// The length of the token at the start of `bytes` (0 if none).
fn token_len(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|&&b| is_tchar(b)).count()
}

/// `tchar` of RFC 9110 section 5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The length of the quoted string at the start of `bytes`, its quotes
/// included (RFC 9110 section 5.6.4), or `None` if it is malformed or does
/// not end.
fn quoted_string_len(bytes: &[u8]) -> Option<usize> {
    let text_ok = |b: u8| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80;
    let mut i = 1;
    loop {
        match *bytes.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' if text_ok(*bytes.get(i + 1)?) => i += 2,
            b'\\' => return None,
            b if text_ok(b) => i += 1,
            _ => return None,
        }
    }
}

/// Appends one chunk (size line, data, CRLF) to `out`; empty data is
/// skipped, since an empty chunk would end the body.
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    use std::io::Write;
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends the last chunk (with no trailers) to `out`.
pub fn write_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes.
    fn decode_all(
        input: &[u8],
        step: usize,
        max_body: u64,
    ) -> Result<(Vec<u8>, usize), ChunkError> {
        let mut decoder = ChunkedDecoder::new(max_body, 64);
        let mut body = Vec::new();
        let mut buffered: Vec<u8> = Vec::new();
        let mut fed = 0;
        loop {
            let s = decoder.decode(&buffered, 5)?;
            body.extend_from_slice(&buffered[s.data.clone()]);
            buffered.drain(..s.consumed);
            if decoder.is_done() {
                return Ok((body, fed - buffered.len()));
            }
            if s.consumed == 0 {
                if fed == input.len() {
                    return Err(ChunkError::Malformed("test input ended"));
                }
                let end = (fed + step).min(input.len());
                buffered.extend_from_slice(&input[fed..end]);
                fed = end;
            }
        }
    }

    #[test]
    fn decodes_whole_and_byte_by_byte() {
        let input = b"4\r\nWiki\r\n5;name=v\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        for step in [1, 2, 3, 7, input.len()] {
            let (body, used) = decode_all(input, step, 1000).unwrap();
            assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.");
            assert_eq!(used, input.len() - 4, "step {step}");
        }
    }

    #[test]
    fn size_limit_at_n_and_n_plus_one() {
        assert!(decode_all(b"5\r\nhello\r\n0\r\n\r\n", 100, 5).is_ok());
        assert_eq!(
            decode_all(b"3\r\nhel\r\n3\r\nlo!\r\n0\r\n\r\n", 100, 5),
            Err(ChunkError::TooLarge)
        );
    }

    #[test]
    fn malformed_framing_is_refused() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"5 junk\r\nhello\r\n0\r\n\r\n",
            b"ffffffffffffffff1\r\n",
            b"-5\r\nhello\r\n",
        ] {
            assert!(
                matches!(decode_all(bad, 100, 1 << 40), Err(ChunkError::Malformed(_))),
                "{bad:?}"
            );
        }
        // Endless size line or trailers.
        let long = [b'1'; 5000];
        assert!(matches!(
            decode_all(&long, 100, 1 << 40),
            Err(ChunkError::Malformed(_))
        ));
        let trailers = format!("0\r\nT: {}\r\n\r\n", "v".repeat(100));
        assert!(matches!(
            decode_all(trailers.as_bytes(), 100, 10),
            Err(ChunkError::Malformed(_))
        ));
    }

    #[test]
    fn extensions_are_tokens_or_quoted_strings() {
        for line in [
            "5;a=b",
            "5 ; a = b",
            "5\t;\ta\t=\tb",
            "5;a",
            "5;a;b=c;d",
            "5;a=\"q \\\" s; x=y\"",
            "5;n=\"\"",
            "5;a=\"\u{e9}\\\u{e9}\"",
        ] {
            let input = format!("{line}\r\nhello\r\n0\r\n\r\n");
            assert!(decode_all(input.as_bytes(), 100, 100).is_ok(), "{line:?}");
        }
        for line in [
            "5 ",
            "5;",
            "5; ",
            "5;=b",
            "5;a=",
            "5;a ",
            "5;a b",
            "5;a=b c",
            "5;a=\"x",
            "5;a=\"x\\",
            "5;a=\"x\"y",
            "5;a=b\x01",
            "5;a=\x7f",
            "5;a=b\rc",
            "5;a=@",
            "5,a=b",
            "5;a=\"\x00\"",
        ] {
            let input = format!("{line}\r\nhello\r\n0\r\n\r\n");
            assert_eq!(
                decode_all(input.as_bytes(), 100, 100),
                Err(ChunkError::Malformed("invalid chunk extension")),
                "{line:?}"
            );
        }
    }

    #[test]
    fn size_line_limit_at_n_and_n_plus_one() {
        let line = |len: usize| format!("1;a={}\r\nx\r\n0\r\n\r\n", "v".repeat(len - 4));
        assert!(decode_all(line(MAX_SIZE_LINE).as_bytes(), 7, 100).is_ok());
        assert_eq!(
            decode_all(line(MAX_SIZE_LINE + 1).as_bytes(), 7, 100),
            Err(ChunkError::Malformed(
                "chunk-size line longer than 4096 bytes"
            ))
        );
    }

    #[test]
    fn extension_bytes_limit_at_n_and_n_plus_one() {
        // Extension bytes count what follows the size digits on each line.
        let body = |total: usize| {
            let mut out = String::new();
            let mut left = total;
            while left > 0 {
                let ext = left.min(4000);
                out.push_str(&format!("1;a={}\r\nx\r\n", "v".repeat(ext - 3)));
                left -= ext;
            }
            out + "0\r\n\r\n"
        };
        assert!(decode_all(body(MAX_EXTENSION_BYTES).as_bytes(), 999, 100).is_ok());
        assert_eq!(
            decode_all(body(MAX_EXTENSION_BYTES + 1).as_bytes(), 999, 100),
            Err(ChunkError::Malformed(
                "chunk extensions longer than 16384 bytes in all"
            ))
        );
    }

    #[test]
    fn trailer_section_limit_at_n_and_n_plus_one() {
        // decode_all allows 64 bytes: "X: <v>\r\n" (5 + v) + "\r\n" (2).
        let body = |v: usize| format!("0\r\nX: {}\r\n\r\n", "v".repeat(v));
        assert!(decode_all(body(64 - 7).as_bytes(), 3, 100).is_ok());
        assert_eq!(
            decode_all(body(64 - 6).as_bytes(), 3, 100),
            Err(ChunkError::Malformed(TRAILERS_TOO_LARGE))
        );
        // Many short lines count too.
        let many = format!("0\r\n{}\r\n", "X: 1\r\n".repeat(11));
        assert!(decode_all(many.as_bytes(), 1, 100).is_err());
    }

    #[test]
    fn trailer_fields_are_validated() {
        for trailers in ["X-Sum: abc\r\n", "X-A: 1\r\nX-B:2 \r\n", "X:\r\n"] {
            let input = format!("0\r\n{trailers}\r\n");
            assert!(decode_all(input.as_bytes(), 2, 100).is_ok(), "{trailers:?}");
        }
        for trailers in [
            "Bad Trailer\r\n",
            "No-Colon\r\n",
            ": v\r\n",
            "X : v\r\n",
            "X: a\x00b\r\n",
            "X: a\rb\r\n",
            "X: v\r\n folded\r\n",
            "X: v\n\r\n",
        ] {
            let input = format!("0\r\n{trailers}\r\n");
            assert!(
                matches!(
                    decode_all(input.as_bytes(), 2, 100),
                    Err(ChunkError::Malformed(_))
                ),
                "{trailers:?}"
            );
        }
    }

    #[test]
    fn the_decoder_never_waits_on_more_than_its_bounds() {
        // Whatever the input, once more than the larger bound is buffered
        // the decoder consumes something or refuses: the connection never
        // has to buffer more for it.
        let bound = (MAX_SIZE_LINE + 2).max(64);
        let shapes: Vec<Vec<u8>> = vec![
            b"1".repeat(bound + 10),
            [&b"1;a="[..], &b"v".repeat(bound)].concat(),
            [&b"1 "[..], &b" ".repeat(bound)].concat(),
            [&b"0\r\nX: "[..], &b"v".repeat(bound)].concat(),
            [&b"0\r\n"[..], &b"X: 1\r\n".repeat(bound)].concat(),
            b"\r\n".repeat(bound),
        ];
        for shape in shapes {
            let mut decoder = ChunkedDecoder::new(1 << 40, 64);
            let mut buffered = &shape[..];
            loop {
                match decoder.decode(buffered, 1 << 20) {
                    Err(_) => break,
                    Ok(step) if step.consumed > 0 => buffered = &buffered[step.consumed..],
                    Ok(_) => {
                        assert!(buffered.len() <= bound, "waits on {} bytes", buffered.len());
                        panic!("the input ended without a verdict");
                    }
                }
            }
        }
    }

    #[test]
    fn encoder_round_trips() {
        let mut out = Vec::new();
        write_chunk(&mut out, b"hello ");
        write_chunk(&mut out, b"");
        write_chunk(&mut out, &[b'x'; 300]);
        write_last_chunk(&mut out);
        let (body, used) = decode_all(&out, 1000, 1000).unwrap();
        assert_eq!(used, out.len());
        assert_eq!(&body[..6], b"hello ");
        assert_eq!(body.len(), 306);
    }
}
