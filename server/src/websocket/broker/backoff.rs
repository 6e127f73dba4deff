//! How long to wait before the next attempt to reach Redis: doubling from
//! a first delay up to a cap, each delay drawn at random from its upper
//! half, so that instances that lost Redis together do not all come back
//! at the same instant.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Delays between reconnection attempts.
#[derive(Debug)]
pub(crate) struct Backoff {
    first: Duration,
    cap: Duration,
    next: Duration,
    random: u64,
}

impl Backoff {
    /// Delays from about `first` up to `cap`.
    pub(crate) fn new(first: Duration, cap: Duration) -> Self {
        Backoff {
            first,
            cap: cap.max(first),
            next: first,
            random: random_seed(),
        }
    }

    /// The next delay: between half and all of the current step, which then
    /// doubles (up to the cap).
    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = self.next;
        self.next = (step * 2).min(self.cap);
        let half = step / 2;
        let spread = (step - half).as_nanos() as u64;
        half + Duration::from_nanos(self.random_below(spread + 1))
    }

    /// Back to the first delay (after a success).
    pub(crate) fn reset(&mut self) {
        self.next = self.first;
    }

    /// xorshift64*: plenty for jitter.
    fn random_below(&mut self, bound: u64) -> u64 {
        self.random ^= self.random >> 12;
        self.random ^= self.random << 25;
        self.random ^= self.random >> 27;
        self.random.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound.max(1)
    }
}

/// 64 random bits: std's hasher keys come from the operating system.
pub(crate) fn random_seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    hasher.finish() | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_each_in_its_upper_half() {
        let first = Duration::from_millis(100);
        let cap = Duration::from_millis(1600);
        let mut backoff = Backoff::new(first, cap);
        let mut step = first;
        for _ in 0..10 {
            let delay = backoff.next_delay();
            assert!(delay >= step / 2 && delay <= step, "{delay:?} for {step:?}");
            step = (step * 2).min(cap);
        }
        backoff.reset();
        assert!(backoff.next_delay() <= first);
    }

    #[test]
    fn delays_are_spread() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(1));
        let delays: std::collections::HashSet<_> = (0..20).map(|_| backoff.next_delay()).collect();
        assert!(delays.len() > 10, "{delays:?}");
    }
}
