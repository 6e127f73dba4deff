//! Decompressing the peer's messages (RFC 7692 section 7.2.2), frame by
//! frame, with the message limit applied to the decompressed size.

use std::fmt;

use flate2::{Decompress, FlushDecompress, Status};

use crate::proto::websocket::{MessageDecompressor, ProtocolError};

use super::config::ContextTakeover;
use super::deflater::SYNC_FLUSH_TAIL;
use super::history::History;
use super::negotiation::Direction;
use crate::scratch_stack::on_scratch_stack;

/// Why a compressed message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// The message decompresses to more than the limit (close 1009). The
    /// bytes past the limit were never produced into memory.
    TooLarge {
        /// The limit, in decompressed bytes.
        limit: usize,
    },
    /// The compressed data is not valid DEFLATE, or refers to history
    /// outside the agreed window (close 1002).
    Corrupt(String),
}

impl From<InflateError> for ProtocolError {
    /// The violation the connection fails with: 1009 for a message over
    /// the limit, 1002 for data that does not decompress.
    fn from(error: InflateError) -> Self {
        match error {
            InflateError::TooLarge { limit } => ProtocolError::MessageTooLarge { limit },
            InflateError::Corrupt(why) => ProtocolError::InvalidCompressedData(why),
        }
    }
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InflateError::TooLarge { limit } => write!(
                f,
                "a compressed message decompresses to more than the limit of {limit} bytes"
            ),
            InflateError::Corrupt(why) => write!(f, "corrupt compressed message: {why}"),
        }
    }
}

impl std::error::Error for InflateError {}

/// The output buffer grows by what it holds (at least this much), never
/// past the limit: a bomb gets at most twice the bytes it really inflated
/// to, and never more than the limit, while a large message costs few
/// reallocations.
const MIN_GROWTH: usize = 4 * 1024;

/// A block with BFINAL set ends a DEFLATE stream, and each one costs a new
/// zlib stream: a message may have a few, and one more per this many bytes
/// it decompresses to. Without a bound, a flood of two-byte empty final
/// blocks would cost a stream allocation per two bytes of input.
const FREE_FINAL_BLOCKS: usize = 4;
const OUTPUT_PER_FINAL_BLOCK: usize = 4 * 1024;

/// Decompresses one connection's incoming compressed messages.
///
/// For each message whose first frame has RSV1 set, the frame layer calls
/// [`decompress`](Self::decompress) with every frame's (unmasked) payload
/// as it arrives, in pieces of any size, then
/// [`finish_message`](Self::finish_message) after the last frame. Both
/// append to the message buffer and never let it exceed `limit` bytes.
/// After an error the connection is failed; the inflater refuses further
/// input.
///
/// Memory between messages: nothing with [`ContextTakeover::Off`], one
/// window of plaintext with `Retained` (the zlib stream, about 44 KiB in
/// zlib-rs whatever the window, exists only while a message arrives), the
/// zlib stream with `Dedicated`.
pub(crate) struct Inflater {
    window_bits: u8,
    context: Context,
    stream: Option<Decompress>,
    /// While a message arrives: where it starts in the output buffer.
    message_start: Option<usize>,
    /// Blocks with BFINAL set in this message so far.
    final_blocks: usize,
    failed: bool,
}

enum Context {
    Off,
    Retained(History),
    Dedicated,
}

impl fmt::Debug for Inflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let context = match &self.context {
            Context::Off => "off",
            Context::Retained(_) => "retained",
            Context::Dedicated => "dedicated",
        };
        f.debug_struct("Inflater")
            .field("window_bits", &self.window_bits)
            .field("context", &context)
            .field("in_message", &self.message_start.is_some())
            .finish()
    }
}

impl Inflater {
    /// The decompressor for the peer's direction of an agreement.
    pub(crate) fn new(incoming: Direction) -> Self {
        let context = match incoming.context {
            ContextTakeover::Off => Context::Off,
            ContextTakeover::Retained => Context::Retained(History::new(incoming.window_bits)),
            ContextTakeover::Dedicated => Context::Dedicated,
        };
        Inflater {
            window_bits: incoming.window_bits,
            context,
            stream: None,
            message_start: None,
            final_blocks: 0,
            failed: false,
        }
    }

    /// True between the first frame of a compressed message and
    /// [`finish_message`](Self::finish_message) (for tests).
    #[cfg(test)]
    pub(crate) fn in_message(&self) -> bool {
        self.message_start.is_some()
    }

    /// Decompresses the next piece of the current message (the first call
    /// starts one) and appends it to `out`, the message buffer; `out` never
    /// grows past `limit` bytes. It runs on the thread's scratch stack
    /// (see `scratch_stack.rs`).
    pub(crate) fn decompress(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        on_scratch_stack(|| self.decompress_here(input, out, limit))
    }

    fn decompress_here(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        if self.failed {
            return Err(InflateError::Corrupt("the stream failed earlier".into()));
        }
        if self.message_start.is_none() {
            self.start_message(out.len())?;
        }
        let result = self.feed(input, out, limit);
        if result.is_err() {
            self.fail();
        }
        result
    }

    /// Ends the current message after its last frame: feeds the
    /// `00 00 ff ff` the sender removed, keeps the history the agreement
    /// asks for, and frees the zlib stream unless it is dedicated. A
    /// message with no payload at all ends here too.
    pub(crate) fn finish_message(
        &mut self,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        on_scratch_stack(|| self.finish_message_here(out, limit))
    }

    fn finish_message_here(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        self.decompress_here(&SYNC_FLUSH_TAIL, out, limit)?;
        let ended = std::mem::take(&mut self.final_blocks) > 0;
        let start = self
            .message_start
            .take()
            .expect("decompress started a message");
        let message = &out[start..];
        match &mut self.context {
            Context::Off => self.stream = None,
            Context::Retained(history) => {
                history.push(message);
                self.stream = None;
            }
            // After a final block, what followed it may have been only the
            // tail put back, a block header cut short: the next message
            // starts a new stream over the same history.
            Context::Dedicated if ended => self.restart_stream(message)?,
            Context::Dedicated => {}
        }
        Ok(())
    }

    /// Bytes this inflater keeps between messages, for tests; `usize::MAX`
    /// stands for a zlib stream, which zlib-rs sizes itself.
    #[cfg(test)]
    pub(crate) fn retained_bytes(&self) -> usize {
        match &self.context {
            _ if self.stream.is_some() => usize::MAX,
            Context::Retained(history) => history.capacity(),
            Context::Off | Context::Dedicated => 0,
        }
    }

    fn fail(&mut self) {
        self.failed = true;
        self.stream = None;
    }

    fn start_message(&mut self, start: usize) -> Result<(), InflateError> {
        self.message_start = Some(start);
        if self.stream.is_none() {
            let dictionary = match &self.context {
                Context::Retained(history) => history.as_slice(),
                Context::Off | Context::Dedicated => &[],
            };
            self.stream = Some(self.new_stream(dictionary)?);
        }
        Ok(())
    }

    /// A raw inflate stream with `dictionary` as the history it may refer
    /// to. flate2 needs a window of 9 or more; a larger window than agreed
    /// decodes anything the agreed one encodes.
    fn new_stream(&self, dictionary: &[u8]) -> Result<Decompress, InflateError> {
        let mut stream = Decompress::new_with_window_bits(false, self.window_bits.max(9));
        if !dictionary.is_empty() {
            stream
                .set_dictionary(dictionary)
                .map_err(|e| InflateError::Corrupt(e.to_string()))?;
        }
        Ok(stream)
    }

    fn feed(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        loop {
            let stream = self.stream.as_mut().expect("a message has a stream");
            // `filled`: the output space given was used up, so more output
            // may be pending even without more input.
            let (status, used, filled) = if out.len() >= limit {
                // No room left: anything more the data decodes to is over
                // the limit. Decode into one spare byte to find out.
                let mut probe = [0u8; 1];
                let (status, used, produced) = run(stream, input, &mut probe)?;
                if produced > 0 {
                    return Err(InflateError::TooLarge { limit });
                }
                (status, used, false)
            } else {
                if out.capacity() == out.len() {
                    let growth = out.len().max(MIN_GROWTH);
                    out.reserve_exact(growth.min(limit - out.len()));
                }
                let room = (out.capacity() - out.len()).min(limit - out.len());
                let len = out.len();
                let spare = &mut out.spare_capacity_mut()[..room];
                let (status, used, produced) = run_uninit(stream, input, spare)?;
                // SAFETY: the decompressor initialized the first `produced`
                // bytes of the spare capacity.
                unsafe { out.set_len(len + produced) };
                (status, used, produced == room)
            };
            input = &input[used..];
            match status {
                Status::StreamEnd => {
                    // A block with BFINAL set ended the DEFLATE stream
                    // (RFC 7692 section 7.2.3.4 allows it). What follows
                    // starts a new one over the same history.
                    let start = self.message_start.expect("in a message");
                    self.final_blocks += 1;
                    let allowed = FREE_FINAL_BLOCKS + (out.len() - start) / OUTPUT_PER_FINAL_BLOCK;
                    if self.final_blocks > allowed {
                        return Err(InflateError::Corrupt(format!(
                            "{} final blocks in a message of {} bytes",
                            self.final_blocks,
                            out.len() - start
                        )));
                    }
                    self.restart_stream(&out[start..])?;
                    if input.is_empty() {
                        return Ok(());
                    }
                }
                Status::Ok | Status::BufError => {
                    if input.is_empty() && !filled {
                        return Ok(());
                    }
                    if used == 0 && !filled {
                        return Err(InflateError::Corrupt(
                            "the decompressor made no progress".into(),
                        ));
                    }
                }
            }
        }
    }

    /// Replaces the ended stream by a new one whose history is what the
    /// old one had: the kept history and `message`, the current message so
    /// far (with a dedicated stream, whose history zlib does not give back,
    /// only `message`).
    fn restart_stream(&mut self, message: &[u8]) -> Result<(), InflateError> {
        let dictionary = match &self.context {
            Context::Retained(history) => history.followed_by(message),
            Context::Off | Context::Dedicated => {
                message[message.len().saturating_sub(1 << self.window_bits)..].to_vec()
            }
        };
        self.stream = Some(self.new_stream(&dictionary)?);
        Ok(())
    }
}

/// The decoder's hook: messages whose first frame has RSV1 go through
/// here (the decoder checks UTF-8 on what comes out).
impl MessageDecompressor for Inflater {
    fn decompress(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        Inflater::decompress(self, input, out, limit).map_err(Into::into)
    }

    fn finish_message(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), ProtocolError> {
        Inflater::finish_message(self, out, limit).map_err(Into::into)
    }
}

/// One decompression call into `output`: (status, input used, output made).
fn run(
    stream: &mut Decompress,
    input: &[u8],
    output: &mut [u8],
) -> Result<(Status, usize, usize), InflateError> {
    let (before_in, before_out) = (stream.total_in(), stream.total_out());
    let status = stream
        .decompress(input, output, FlushDecompress::Sync)
        .map_err(|e| InflateError::Corrupt(e.to_string()))?;
    Ok((
        status,
        (stream.total_in() - before_in) as usize,
        (stream.total_out() - before_out) as usize,
    ))
}

fn run_uninit(
    stream: &mut Decompress,
    input: &[u8],
    output: &mut [std::mem::MaybeUninit<u8>],
) -> Result<(Status, usize, usize), InflateError> {
    let (before_in, before_out) = (stream.total_in(), stream.total_out());
    let status = stream
        .decompress_uninit(input, output, FlushDecompress::Sync)
        .map_err(|e| InflateError::Corrupt(e.to_string()))?;
    Ok((
        status,
        (stream.total_in() - before_in) as usize,
        (stream.total_out() - before_out) as usize,
    ))
}
