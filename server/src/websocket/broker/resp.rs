//! Reading Redis replies (RESP2) with every size bounded.
//!
//! The `redis` crate's parser keeps whatever length a bulk string
//! announces; a peer instance that publishes a 500 MB message would make
//! every subscriber hold 500 MB. This reader keeps a bulk string only up to
//! a limit and skips a longer one without storing it, so the connection
//! survives and memory stays bounded. It reads exactly what the hub's
//! connections receive: simple strings, errors, integers, bulk strings and
//! flat arrays of those (pub/sub messages, subscription confirmations).

use std::io::{self, ErrorKind, Read};

/// Longest line (a status, an error, a length) kept; less than the read
/// buffer, which always has room for one more read.
const MAX_LINE: usize = 16 * 1024;
/// Most elements in an array (pub/sub pushes have three or four).
const MAX_ARRAY: usize = 64;
/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 64 * 1024;

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `+OK`, `+PONG`.
    Status(String),
    /// `-ERR ...`: what Redis refused, and why.
    Error(String),
    /// `:3`.
    Integer(i64),
    /// A bulk string.
    Bulk(Vec<u8>),
    /// A bulk string longer than the limit, skipped: its length.
    TooLong(u64),
    /// A null bulk string or array.
    Nil,
    /// An array of the above.
    Array(Vec<Reply>),
}

/// Reads replies from a byte stream, buffering at most `max_bulk` bytes
/// of any bulk string and 16 KiB of any other line.
pub(crate) struct ReplyReader {
    buffer: Box<[u8]>,
    start: usize,
    end: usize,
    max_bulk: usize,
}

impl ReplyReader {
    /// A reader that keeps bulk strings of up to `max_bulk` bytes.
    pub(crate) fn new(max_bulk: usize) -> Self {
        ReplyReader {
            buffer: vec![0; READ_CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
            max_bulk,
        }
    }

    /// Reads one whole reply. The end of the stream, even between
    /// replies, is an `UnexpectedEof` error; so is a protocol violation
    /// (`InvalidData`).
    pub(crate) fn read(&mut self, source: &mut impl Read) -> io::Result<Reply> {
        let (kind, line) = self.header(source)?;
        match kind {
            b'*' => match length(&line)? {
                None => Ok(Reply::Nil),
                Some(count) if count > MAX_ARRAY as u64 => Err(invalid(format!(
                    "an array of {count} elements (at most {MAX_ARRAY} expected)"
                ))),
                Some(count) => {
                    let mut items = Vec::with_capacity(count as usize);
                    for _ in 0..count {
                        let (kind, line) = self.header(source)?;
                        if kind == b'*' {
                            return Err(invalid("a nested array".into()));
                        }
                        items.push(self.scalar(source, kind, line)?);
                    }
                    Ok(Reply::Array(items))
                }
            },
            kind => self.scalar(source, kind, line),
        }
    }

    /// Reads the type byte and the rest of its line.
    fn header(&mut self, source: &mut impl Read) -> io::Result<(u8, Vec<u8>)> {
        let line = self.line(source)?;
        match line.split_first() {
            Some((&kind, rest)) => Ok((kind, rest.to_vec())),
            None => Err(invalid("an empty line".into())),
        }
    }

    fn scalar(&mut self, source: &mut impl Read, kind: u8, line: Vec<u8>) -> io::Result<Reply> {
        let text = || String::from_utf8_lossy(&line).into_owned();
        match kind {
            b'+' => Ok(Reply::Status(text())),
            b'-' => Ok(Reply::Error(text())),
            b':' => std::str::from_utf8(&line)
                .ok()
                .and_then(|s| s.parse().ok())
                .map(Reply::Integer)
                .ok_or_else(|| invalid(format!("a bad integer {:?}", text()))),
            b'$' => match length(&line)? {
                None => Ok(Reply::Nil),
                Some(len) if len > self.max_bulk as u64 => {
                    self.skip(source, len + 2)?;
                    Ok(Reply::TooLong(len))
                }
                Some(len) => {
                    let bulk = self.take(source, len as usize)?;
                    if self.take(source, 2)? != b"\r\n" {
                        return Err(invalid("a bulk string without its CRLF".into()));
                    }
                    Ok(Reply::Bulk(bulk))
                }
            },
            other => Err(invalid(format!(
                "an unknown reply type {:?}",
                other as char
            ))),
        }
    }

    /// The next line without its CRLF.
    fn line(&mut self, source: &mut impl Read) -> io::Result<Vec<u8>> {
        // Bytes known to hold no CRLF (but maybe the CR of one).
        let mut searched: usize = 0;
        loop {
            let buffered = &self.buffer[self.start..self.end];
            let from = searched.saturating_sub(1);
            if let Some(at) = memchr::memmem::find(&buffered[from..], b"\r\n") {
                let line = buffered[..from + at].to_vec();
                self.start += from + at + 2;
                return Ok(line);
            }
            searched = buffered.len();
            if searched >= MAX_LINE {
                return Err(invalid(format!("a line longer than {MAX_LINE} bytes")));
            }
            self.fill(source)?;
        }
    }

    /// Exactly `len` bytes.
    fn take(&mut self, source: &mut impl Read, len: usize) -> io::Result<Vec<u8>> {
        let mut out = vec![0; len];
        let buffered = (self.end - self.start).min(len);
        out[..buffered].copy_from_slice(&self.buffer[self.start..self.start + buffered]);
        self.start += buffered;
        let mut filled = buffered;
        while filled < len {
            match source.read(&mut out[filled..]) {
                Ok(0) => return Err(ended()),
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Reads and forgets `len` bytes.
    fn skip(&mut self, source: &mut impl Read, mut len: u64) -> io::Result<()> {
        loop {
            let buffered = (self.end - self.start) as u64;
            if buffered >= len {
                self.start += len as usize;
                return Ok(());
            }
            len -= buffered;
            self.start = self.end;
            self.fill(source)?;
        }
    }

    /// Reads more into the buffer, moving what is buffered to its front.
    fn fill(&mut self, source: &mut impl Read) -> io::Result<()> {
        self.buffer.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        loop {
            match source.read(&mut self.buffer[self.end..]) {
                Ok(0) => return Err(ended()),
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// A length line: `-1` is null, other negatives are errors.
fn length(line: &[u8]) -> io::Result<Option<u64>> {
    let text = std::str::from_utf8(line).unwrap_or("");
    match text.parse::<i64>() {
        Ok(-1) => Ok(None),
        Ok(n) if n >= 0 => Ok(Some(n as u64)),
        _ => Err(invalid(format!(
            "a bad length {:?}",
            String::from_utf8_lossy(line)
        ))),
    }
}

fn invalid(what: String) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, format!("Redis sent {what}"))
}

fn ended() -> io::Error {
    io::Error::new(ErrorKind::UnexpectedEof, "Redis closed the connection")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that gives `step` bytes per read, to cut replies anywhere.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn read_all(data: &[u8], max_bulk: usize, step: usize) -> (Vec<Reply>, io::Error) {
        let mut reader = ReplyReader::new(max_bulk);
        let mut source = Trickle { data, step };
        let mut replies = Vec::new();
        loop {
            match reader.read(&mut source) {
                Ok(reply) => replies.push(reply),
                Err(e) => return (replies, e),
            }
        }
    }

    const STREAM: &[u8] = b"+OK\r\n-ERR wrong\r\n:42\r\n:-1\r\n$5\r\nhello\r\n$0\r\n\r\n$-1\r\n\
        *3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$4\r\na\r\nb\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n*-1\r\n*0\r\n";

    fn expected() -> Vec<Reply> {
        vec![
            Reply::Status("OK".into()),
            Reply::Error("ERR wrong".into()),
            Reply::Integer(42),
            Reply::Integer(-1),
            Reply::Bulk(b"hello".to_vec()),
            Reply::Bulk(Vec::new()),
            Reply::Nil,
            Reply::Array(vec![
                Reply::Bulk(b"message".to_vec()),
                Reply::Bulk(b"chan".to_vec()),
                Reply::Bulk(b"a\r\nb".to_vec()),
            ]),
            Reply::Array(vec![Reply::Bulk(b"pong".to_vec()), Reply::Bulk(Vec::new())]),
            Reply::Nil,
            Reply::Array(Vec::new()),
        ]
    }

    #[test]
    fn every_kind_of_reply_at_every_read_size() {
        for step in [1, 2, 3, 7, 1000] {
            let (replies, end) = read_all(STREAM, 1024, step);
            assert_eq!(replies, expected(), "read {step} bytes at a time: {end}");
            assert_eq!(end.kind(), ErrorKind::UnexpectedEof);
        }
    }

    #[test]
    fn a_bulk_string_at_the_limit_is_kept_and_one_byte_more_is_skipped() {
        let data = b"$4\r\nabcd\r\n$5\r\nabcde\r\n:1\r\n";
        for step in [1, 3, 1000] {
            let (replies, _) = read_all(data, 4, step);
            assert_eq!(
                replies,
                [
                    Reply::Bulk(b"abcd".to_vec()),
                    Reply::TooLong(5),
                    Reply::Integer(1)
                ]
            );
        }
    }

    #[test]
    fn a_huge_message_is_skipped_without_being_held() {
        // 1 MiB of payload through a 64 KiB buffer, limit 1 KiB: skipped in
        // pieces, and the stream goes on behind it.
        let payload = vec![b'x'; 1 << 20];
        let mut data = b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n".to_vec();
        data.extend_from_slice(format!("${}\r\n", payload.len()).as_bytes());
        data.extend_from_slice(&payload);
        data.extend_from_slice(b"\r\n+PONG\r\n");
        let (replies, _) = read_all(&data, 1024, 100_000);
        assert_eq!(
            replies,
            [
                Reply::Array(vec![
                    Reply::Bulk(b"message".to_vec()),
                    Reply::Bulk(b"c".to_vec()),
                    Reply::TooLong(1 << 20),
                ]),
                Reply::Status("PONG".into()),
            ]
        );
    }

    #[test]
    fn a_line_is_bounded() {
        let mut data = b"+".to_vec();
        data.extend(std::iter::repeat_n(b'a', MAX_LINE + 10));
        data.extend_from_slice(b"\r\n");
        let (replies, end) = read_all(&data, 1024, 4096);
        assert!(replies.is_empty());
        assert_eq!(end.kind(), ErrorKind::InvalidData);
        assert!(end.to_string().contains("line longer"), "{end}");
    }

    #[test]
    fn malformed_replies_are_errors_that_say_what() {
        for (data, says) in [
            (&b"?what\r\n"[..], "unknown reply type"),
            (b"\r\n", "empty line"),
            (b":x\r\n", "bad integer"),
            (b"$-2\r\n", "bad length"),
            (b"$abc\r\n", "bad length"),
            (b"$3\r\nabcXY", "without its CRLF"),
            (b"*65\r\n", "65 elements"),
            (b"*1\r\n*0\r\n", "nested array"),
        ] {
            let (replies, end) = read_all(data, 1024, 1000);
            assert!(replies.is_empty(), "{data:?}");
            assert_eq!(end.kind(), ErrorKind::InvalidData, "{data:?}");
            assert!(end.to_string().contains(says), "{data:?}: {end}");
        }
    }

    #[test]
    fn an_end_inside_a_reply_is_an_unexpected_eof() {
        for data in [&b"+OK"[..], b"$5\r\nab", b"*2\r\n:1\r\n", b"$5\r\nhello\r"] {
            let (replies, end) = read_all(data, 1024, 1);
            assert!(replies.is_empty(), "{data:?}");
            assert_eq!(end.kind(), ErrorKind::UnexpectedEof, "{data:?}");
        }
    }
}
