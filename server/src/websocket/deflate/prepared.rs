//! Compressing a broadcast once per distinct compressor setting.

use std::ops::Deref;
use std::sync::Arc;

use parking_lot::Mutex;

use super::deflater::{compress_shared, CompressError, CompressorKey, Deflater};

/// One payload to send to many connections, and its compressed forms.
///
/// A connection whose own messages keep no context (the default) sends
/// bytes that depend only on the payload, the compression level and the
/// window: those are compressed once, on first use, and shared by every
/// connection with the same settings, on any thread. A connection that
/// keeps context gets the payload compressed for it alone.
#[derive(Debug)]
pub(crate) struct PreparedPayload {
    payload: Arc<[u8]>,
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

impl PreparedPayload {
    pub(crate) fn new(payload: impl Into<Arc<[u8]>>) -> Self {
        PreparedPayload {
            payload: payload.into(),
            shared: Mutex::new(Vec::new()),
        }
    }

    /// The uncompressed payload.
    pub(crate) fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// What to send on the connection this deflater compresses for: the
    /// compressed bytes (with RSV1), or `None` to send
    /// [`payload`](Self::payload) as it is.
    pub(crate) fn compressed_for(
        &self,
        deflater: &mut Deflater,
    ) -> Result<Option<Compressed>, CompressError> {
        if self.payload.len() < deflater.threshold() {
            return Ok(None);
        }
        let Some(key) = deflater.shared_key() else {
            return Ok(deflater.compress(&self.payload)?.map(Compressed::Owned));
        };
        if let Some((_, found)) = self.shared.lock().iter().find(|(k, _)| *k == key) {
            return Ok(found.clone().map(Compressed::Shared));
        }
        // Compressed without the lock held: two threads may both do it the
        // first time, which costs CPU once and is never wrong.
        let compressed: Option<Arc<[u8]>> = compress_shared(key, &self.payload)?.map(Into::into);
        let mut shared = self.shared.lock();
        if !shared.iter().any(|(k, _)| *k == key) {
            shared.push((key, compressed.clone()));
        }
        Ok(compressed.map(Compressed::Shared))
    }

    /// How many distinct compressed forms were made (for tests).
    #[cfg(test)]
    pub(crate) fn shared_forms(&self) -> usize {
        self.shared.lock().len()
    }
}
