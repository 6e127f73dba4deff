//! The LZ77 context kept between messages as plain bytes
//! ([`ContextTakeover::Retained`](super::ContextTakeover::Retained)).

/// The last bytes of the messages compressed so far, at most one window:
/// exactly what a peer's decompressor can still refer to, so it can be
/// loaded into a fresh zlib stream as its preset dictionary.
#[derive(Debug)]
pub(crate) struct History {
    bytes: Vec<u8>,
    window: usize,
}

impl History {
    /// Empty history for a window of 2^`window_bits` bytes.
    pub(crate) fn new(window_bits: u8) -> Self {
        History {
            bytes: Vec::new(),
            window: 1 << window_bits,
        }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes
    }

    /// Bytes allocated (for tests and measurements).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// Appends a message, keeping only the last window. The buffer grows
    /// to at most one window, by reallocating rather than doubling past it.
    pub(crate) fn push(&mut self, message: &[u8]) {
        if message.len() >= self.window {
            self.bytes.clear();
            self.reserve_for(self.window);
            self.bytes
                .extend_from_slice(&message[message.len() - self.window..]);
            return;
        }
        let keep = self.window - message.len();
        if self.bytes.len() > keep {
            self.bytes.drain(..self.bytes.len() - keep);
        }
        self.reserve_for(self.bytes.len() + message.len());
        self.bytes.extend_from_slice(message);
    }

    /// The last window of this history followed by `more`, without
    /// changing the history.
    pub(crate) fn followed_by(&self, more: &[u8]) -> Vec<u8> {
        let from_more = more.len().min(self.window);
        let from_self = (self.window - from_more).min(self.bytes.len());
        let mut joined = Vec::with_capacity(from_self + from_more);
        joined.extend_from_slice(&self.bytes[self.bytes.len() - from_self..]);
        joined.extend_from_slice(&more[more.len() - from_more..]);
        joined
    }

    fn reserve_for(&mut self, len: usize) {
        if len > self.bytes.capacity() {
            let target = len.max(self.bytes.capacity() * 2).min(self.window);
            self.bytes.reserve_exact(target - self.bytes.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_window_and_never_allocates_more() {
        let mut history = History::new(8);
        let mut all = Vec::new();
        for (i, len) in [0, 1, 100, 155, 1, 300, 256, 255, 3]
            .into_iter()
            .enumerate()
        {
            let message: Vec<u8> = (0..len).map(|j| (i * 31 + j) as u8).collect();
            history.push(&message);
            all.extend_from_slice(&message);
            let expected = &all[all.len().saturating_sub(256)..];
            assert_eq!(history.as_slice(), expected, "after message {i}");
            assert!(history.capacity() <= 256, "capacity {}", history.capacity());
        }
    }

    #[test]
    fn followed_by_joins_the_last_window() {
        let mut history = History::new(8);
        history.push(&[1; 200]);
        let joined = history.followed_by(&[2; 100]);
        assert_eq!(joined.len(), 256);
        assert_eq!(&joined[..156], &[1; 156][..]);
        assert_eq!(&joined[156..], &[2; 100][..]);
        assert_eq!(history.followed_by(&[3; 300]), vec![3; 256]);
        assert_eq!(History::new(8).followed_by(&[4; 5]), vec![4; 5]);
        assert_eq!(history.as_slice(), &[1; 200][..]);
    }
}
