//! Compressing a broadcast once per distinct compressor setting.

use std::ops::Deref;
use std::sync::Arc;

use parking_lot::Mutex;

use super::deflater::{compress_shared, CompressError, CompressorKey, Deflater};

/// The compressed forms of one payload sent to many connections (the
/// payload itself is the caller's).
///
/// A connection whose own messages keep no context (the default) sends
/// bytes that depend only on the payload, the compression level and the
/// window: those are compressed once, on first use, and shared by every
/// connection with the same settings, on any thread. A connection that
/// keeps context gets the payload compressed for it alone.
#[derive(Debug, Default)]
pub(crate) struct CompressedForms {
    shared: Mutex<Vec<SharedForm>>,
}

/// The payload compressed with one setting; `None` when compressing did
/// not make it smaller.
type SharedForm = (CompressorKey, Option<Arc<[u8]>>);

/// Compressed bytes to send with RSV1 set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Compressed {
    /// Compressed once for every connection with the same settings.
    Shared(Arc<[u8]>),
    /// Compressed for this connection's context.
    Owned(Vec<u8>),
}

impl Deref for Compressed {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Compressed::Shared(bytes) => bytes,
            Compressed::Owned(bytes) => bytes,
        }
    }
}

impl CompressedForms {
    /// What to send of `payload` (always the same payload for one
    /// `CompressedForms`) on the connection this deflater compresses for:
    /// the compressed bytes (with RSV1), or `None` to send `payload` as it
    /// is.
    pub(crate) fn compressed_for(
        &self,
        payload: &[u8],
        deflater: &mut Deflater,
    ) -> Result<Option<Compressed>, CompressError> {
        if payload.len() < deflater.threshold() {
            return Ok(None);
        }
        let Some(key) = deflater.shared_key() else {
            return Ok(deflater.compress(payload)?.map(Compressed::Owned));
        };
        if let Some((_, found)) = self.shared.lock().iter().find(|(k, _)| *k == key) {
            return Ok(found.clone().map(Compressed::Shared));
        }
        // Compressed without the lock held: two threads may both do it the
        // first time, which costs CPU once and is never wrong.
        let compressed: Option<Arc<[u8]>> = compress_shared(key, payload)?.map(Into::into);
        let mut shared = self.shared.lock();
        match shared.iter().find(|(k, _)| *k == key) {
            // The first one made is the one every connection sends.
            Some((_, first)) => Ok(first.clone().map(Compressed::Shared)),
            None => {
                shared.push((key, compressed.clone()));
                Ok(compressed.map(Compressed::Shared))
            }
        }
    }

    /// How many distinct compressed forms were made (for tests).
    #[cfg(test)]
    pub(crate) fn shared_forms(&self) -> usize {
        self.shared.lock().len()
    }
}
