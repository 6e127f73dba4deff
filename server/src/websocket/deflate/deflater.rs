//! Compressing this endpoint's messages (RFC 7692 section 7.2.1).

use std::cell::RefCell;
use std::fmt;

use flate2::{Compress, Compression, FlushCompress};

use super::config::{ContextTakeover, DeflateConfig};
use super::history::History;
use super::negotiation::Direction;
use crate::scratch_stack::on_scratch_stack;

/// The empty stored block a sync flush ends with; RFC 7692 removes it from
/// the wire and the receiver puts it back.
pub(crate) const SYNC_FLUSH_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// zlib failed to compress: a bug rather than bad input (close 1011).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CompressError(String);

impl fmt::Display for CompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "compression failed: {}", self.0)
    }
}

impl std::error::Error for CompressError {}

impl CompressError {
    /// What zlib said.
    pub(crate) fn reason(&self) -> &str {
        &self.0
    }
}

/// The compressor settings that decide the bytes a message compresses to
/// when no context is kept: connections that share them can share a
/// compressed broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CompressorKey {
    level: u32,
    /// zlib's window: 9..=15 (an agreed window of 8 is compressed with 9).
    zlib_window_bits: u8,
}

impl CompressorKey {
    fn new(level: u32, window_bits: u8) -> Self {
        CompressorKey {
            level,
            // zlib cannot compress raw deflate with a 256-byte window; with
            // a 512-byte one it never matches further back than 512 - 262
            // = 250 bytes (its MAX_DIST), which a 256-byte window decodes.
            zlib_window_bits: window_bits.max(9),
        }
    }

    fn compressor(self) -> Compress {
        Compress::new_with_window_bits(Compression::new(self.level), false, self.zlib_window_bits)
    }
}

/// Compresses one connection's outgoing messages, whole. The frame layer
/// sends the result with RSV1 set on the first frame of the message (and
/// may split it into frames anywhere); a message it gets `None` for goes
/// out as it is, RSV1 clear.
///
/// Memory between messages: nothing with [`ContextTakeover::Off`] (the
/// zlib streams come from a per-thread pool), one window of plaintext with
/// `Retained`, a zlib stream (about 320 KiB at window 15) with `Dedicated`.
pub(crate) struct Deflater {
    key: CompressorKey,
    threshold: usize,
    context: Context,
}

enum Context {
    Off,
    Retained(History),
    Dedicated(Box<Compress>),
}

impl fmt::Debug for Deflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let context = match &self.context {
            Context::Off => "off",
            Context::Retained(_) => "retained",
            Context::Dedicated(_) => "dedicated",
        };
        f.debug_struct("Deflater")
            .field("key", &self.key)
            .field("threshold", &self.threshold)
            .field("context", &context)
            .finish()
    }
}

impl Deflater {
    /// The compressor for this endpoint's direction of an agreement.
    pub(crate) fn new(outgoing: Direction, config: &DeflateConfig) -> Self {
        let key = CompressorKey::new(config.compression_level(), outgoing.window_bits);
        let context = match outgoing.context {
            ContextTakeover::Off => Context::Off,
            ContextTakeover::Retained => Context::Retained(History::new(outgoing.window_bits)),
            ContextTakeover::Dedicated => Context::Dedicated(Box::new(key.compressor())),
        };
        Deflater {
            key,
            threshold: config.compression_threshold(),
            context,
        }
    }

    /// The payload to send with RSV1 for this message, or `None` to send
    /// the message uncompressed: it is under the threshold, or (unless a
    /// dedicated stream already took it in) compressing does not make it
    /// smaller.
    ///
    /// It runs on the thread's scratch stack (see `scratch_stack.rs`), and
    /// borrows a compressor from the thread's pool: it never blocks.
    pub(crate) fn compress(&mut self, payload: &[u8]) -> Result<Option<Vec<u8>>, CompressError> {
        if payload.len() < self.threshold {
            return Ok(None);
        }
        on_scratch_stack(|| self.compress_here(payload))
    }

    fn compress_here(&mut self, payload: &[u8]) -> Result<Option<Vec<u8>>, CompressError> {
        match &mut self.context {
            Context::Off => with_pooled_compressor(self.key, |compress| {
                deflate_message(compress, payload, Some(payload.len()))
            }),
            Context::Retained(history) => {
                let compressed = with_pooled_compressor(self.key, |compress| {
                    if !history.as_slice().is_empty() {
                        compress
                            .set_dictionary(history.as_slice())
                            .map_err(|e| CompressError(e.to_string()))?;
                    }
                    deflate_message(compress, payload, Some(payload.len()))
                })?;
                // Only what is sent compressed enters the peer's window.
                if compressed.is_some() {
                    history.push(payload);
                }
                Ok(compressed)
            }
            Context::Dedicated(compress) => deflate_message(compress, payload, None),
        }
    }

    /// The settings a shared, context-free compression must match to be
    /// sent on this connection; `None` when this connection keeps context
    /// (each message is then compressed for it alone).
    pub(crate) fn shared_key(&self) -> Option<CompressorKey> {
        matches!(self.context, Context::Off).then_some(self.key)
    }

    /// Messages shorter than this are sent uncompressed.
    pub(crate) fn threshold(&self) -> usize {
        self.threshold
    }

    /// Bytes this deflater keeps between messages, for tests; `usize::MAX`
    /// stands for a dedicated zlib stream, which zlib-rs sizes itself.
    #[cfg(test)]
    pub(crate) fn retained_bytes(&self) -> usize {
        match &self.context {
            Context::Off => 0,
            Context::Retained(history) => history.capacity(),
            Context::Dedicated(_) => usize::MAX,
        }
    }
}

/// Compresses a whole payload with no context: what every connection with
/// this key would send. On the scratch stack, as [`Deflater::compress`].
pub(crate) fn compress_shared(
    key: CompressorKey,
    payload: &[u8],
) -> Result<Option<Vec<u8>>, CompressError> {
    on_scratch_stack(|| {
        with_pooled_compressor(key, |compress| {
            deflate_message(compress, payload, Some(payload.len()))
        })
    })
}

/// At most this many idle compressors per thread (one per distinct
/// setting in use; a server normally has one).
const POOL_PER_THREAD: usize = 4;

thread_local! {
    static POOL: RefCell<Vec<(CompressorKey, Compress)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a reset compressor for `key`, taken from this thread's
/// pool and put back afterwards. `f` must not block: the compressor is
/// not in the pool meanwhile, and a greenlet that blocked here could
/// resume on another thread.
fn with_pooled_compressor<R>(key: CompressorKey, f: impl FnOnce(&mut Compress) -> R) -> R {
    let pooled = POOL
        .try_with(|pool| {
            let mut pool = pool.borrow_mut();
            let found = pool.iter().position(|(k, _)| *k == key);
            found.map(|i| pool.swap_remove(i).1)
        })
        .ok()
        .flatten();
    let mut compress = match pooled {
        Some(mut compress) => {
            compress.reset();
            compress
        }
        None => key.compressor(),
    };
    let result = f(&mut compress);
    let _ = POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() >= POOL_PER_THREAD {
            pool.remove(0);
        }
        pool.push((key, compress));
    });
    result
}

/// Compresses `payload` as one message: deflate, sync flush, and the
/// `00 00 ff ff` the flush ends with removed. With `give_up_at`, returns
/// `None` as soon as the result cannot be shorter than that many bytes.
fn deflate_message(
    compress: &mut Compress,
    payload: &[u8],
    give_up_at: Option<usize>,
) -> Result<Option<Vec<u8>>, CompressError> {
    let ceiling = give_up_at.map(|len| len + SYNC_FLUSH_TAIL.len());
    let first = payload.len() / 2 + 64;
    let mut out = Vec::with_capacity(ceiling.map_or(first, |ceiling| first.min(ceiling)));
    let start = compress.total_in();
    loop {
        if out.len() == out.capacity() {
            let grow = out.capacity().max(64);
            let grow = match ceiling {
                Some(ceiling) if out.capacity() >= ceiling => return Ok(None),
                Some(ceiling) => grow.min(ceiling - out.capacity()),
                None => grow,
            };
            out.reserve_exact(grow);
        }
        let consumed = (compress.total_in() - start) as usize;
        compress
            .compress_vec(&payload[consumed..], &mut out, FlushCompress::Sync)
            .map_err(|e| CompressError(e.to_string()))?;
        // The flush is complete once all input is in and zlib left output
        // space unused.
        let consumed = (compress.total_in() - start) as usize;
        if consumed == payload.len() && out.len() < out.capacity() {
            break;
        }
    }
    if !out.ends_with(&SYNC_FLUSH_TAIL) {
        return Err(CompressError(
            "a sync flush did not end with an empty stored block".into(),
        ));
    }
    out.truncate(out.len() - SYNC_FLUSH_TAIL.len());
    if give_up_at.is_some_and(|len| out.len() >= len) {
        return Ok(None);
    }
    Ok(Some(out))
}
