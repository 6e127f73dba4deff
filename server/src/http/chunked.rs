//! A decoder for `Transfer-Encoding: chunked` request bodies, and the
//! encoder for chunked responses.

use std::ops::Range;

/// The longest chunk-size line accepted: the size and its extensions,
/// without the line ending.
pub const MAX_SIZE_LINE: usize = 4096;

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
    trailer_bytes: usize,
    max_trailer_bytes: usize,
}

impl ChunkedDecoder {
    /// A decoder that refuses bodies larger than `max_body` and trailers
    /// larger than `max_trailer_bytes`.
    pub fn new(max_body: u64, max_trailer_bytes: usize) -> Self {
        ChunkedDecoder {
            state: State::Size,
            total: 0,
            max_body,
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
                    let Some(line) = crlf_line(rest, MAX_SIZE_LINE)? else {
                        return Ok(Step {
                            consumed: pos,
                            data: pos..pos,
                        });
                    };
                    let size = parse_size(&rest[..line])?;
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
                    let room = self.max_trailer_bytes.saturating_sub(self.trailer_bytes);
                    let Some(line) = crlf_line(rest, room)? else {
                        return Ok(Step {
                            consumed: pos,
                            data: pos..pos,
                        });
                    };
                    self.trailer_bytes += line + 2;
                    pos += line + 2;
                    if line == 0 {
                        self.state = State::Done;
                    }
                }
            }
        }
    }
}

/// The length of the CRLF-terminated line at the start of `input`, without
/// its CRLF; `None` if the line is not complete yet.
fn crlf_line(input: &[u8], max: usize) -> Result<Option<usize>, ChunkError> {
    match memchr::memchr(b'\n', input) {
        Some(lf) if lf > max => Err(ChunkError::Malformed("chunk line too long")),
        Some(lf) if lf == 0 || input[lf - 1] != b'\r' => {
            Err(ChunkError::Malformed("chunk line not ended by CRLF"))
        }
        Some(lf) => Ok(Some(lf - 1)),
        None if input.len() > max + 1 => Err(ChunkError::Malformed("chunk line too long")),
        None => Ok(None),
    }
}

/// Parses `1a;ext=v` into 0x1a.
fn parse_size(line: &[u8]) -> Result<u64, ChunkError> {
    let digits = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    if digits == 0 {
        return Err(ChunkError::Malformed("chunk size missing"));
    }
    if digits > 15 {
        return Err(ChunkError::Malformed("chunk size too large"));
    }
    let rest = &line[digits..];
    let ext = rest.trim_ascii_start();
    if !ext.is_empty() && ext[0] != b';' {
        return Err(ChunkError::Malformed("invalid chunk size"));
    }
    let text = std::str::from_utf8(&line[..digits]).expect("hex digits are ASCII");
    Ok(u64::from_str_radix(text, 16).expect("at most 15 hex digits fit in u64"))
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
