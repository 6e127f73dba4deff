//! Deadlines from timeouts, for every wait of the server.
//!
//! A timeout too large to count with (`Duration::MAX`, or anything from
//! [`NO_LIMIT`] up) means "no limit": its deadline is `None`, which every
//! wait takes as "as long as it takes". Adding such a timeout to the clock
//! would panic, and may's timers (nanoseconds in a `u64`) cannot hold one.
//!
//! ```text
//! let deadline = deadline::after(limits.body_timeout); // None: no limit
//! stream.read(&mut buf, deadline)?;
//! let left = deadline::time_left(deadline);            // None: no limit
//! ```

use std::time::{Duration, Instant};

use crate::MinRate;

/// Timeouts this long or longer mean no limit: 100 years.
pub(crate) const NO_LIMIT: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The deadline `timeout` from now; `None` (no limit) for a timeout of
/// [`NO_LIMIT`] or more.
pub(crate) fn after(timeout: Duration) -> Option<Instant> {
    if timeout >= NO_LIMIT {
        return None;
    }
    Instant::now().checked_add(timeout)
}

/// The time left until `deadline` (zero once it passed); `None` for no
/// deadline.
pub(crate) fn time_left(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|at| at.saturating_duration_since(Instant::now()))
}

/// The earlier of two deadlines, `None` standing for "never".
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// One transfer (a request body, a response) held to a per-wait timeout
/// and a [`MinRate`]: counts the bytes moved and the time spent waiting
/// for the peer, and gives each wait its deadline.
#[derive(Debug, Clone)]
pub(crate) struct Pace {
    min: Option<MinRate>,
    bytes: u64,
    waited: Duration,
}

impl Pace {
    pub(crate) fn new(min: Option<MinRate>) -> Self {
        Pace {
            min,
            bytes: 0,
            waited: Duration::ZERO,
        }
    }

    /// The deadline of the next wait, which is to move `next_bytes` more
    /// (zero when unknown, as for a read): `per_wait` from now, or earlier
    /// if waiting longer would leave the transfer behind its minimum rate.
    /// A deadline already due means the transfer is too slow.
    pub(crate) fn deadline(&self, per_wait: Duration, next_bytes: usize) -> Option<Instant> {
        let no_progress = after(per_wait);
        let Some(min) = self.min else {
            return no_progress;
        };
        let allowed = min.allowance(self.bytes.saturating_add(next_bytes as u64));
        earliest(no_progress, after(allowed.saturating_sub(self.waited)))
    }

    /// Records a wait that took `waited` and moved `bytes`.
    pub(crate) fn record(&mut self, waited: Duration, bytes: usize) {
        self.waited = self.waited.saturating_add(waited);
        self.bytes = self.bytes.saturating_add(bytes as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_timeouts_mean_no_limit() {
        assert_eq!(after(Duration::MAX), None);
        assert_eq!(after(NO_LIMIT), None);
        assert_eq!(time_left(after(Duration::MAX)), None);
        let soon = after(Duration::from_secs(60)).unwrap();
        assert!(soon > Instant::now());
        let left = time_left(Some(soon)).unwrap();
        assert!(left <= Duration::from_secs(60) && left > Duration::from_secs(50));
        let past = Instant::now() - Duration::from_millis(1);
        assert_eq!(time_left(Some(past)), Some(Duration::ZERO));
    }

    #[test]
    fn earliest_treats_none_as_never() {
        let (a, b) = (Instant::now(), Instant::now() + Duration::from_secs(1));
        assert_eq!(earliest(Some(a), Some(b)), Some(a));
        assert_eq!(earliest(Some(b), None), Some(b));
        assert_eq!(earliest(None, Some(a)), Some(a));
        assert_eq!(earliest(None, None), None);
    }

    #[test]
    fn a_pace_shortens_waits_that_would_fall_behind_its_rate() {
        let second = Duration::from_secs(1);
        let left = |deadline: Option<Instant>| time_left(deadline).unwrap();
        // No minimum: the per-wait timeout alone.
        let free = Pace::new(None);
        assert!(left(free.deadline(second, 0)) > second / 2);
        assert_eq!(free.deadline(Duration::MAX, 0), None);
        // 100 bytes/s after 10 s of waiting.
        let rate = MinRate {
            bytes_per_second: 100,
            grace: Duration::from_secs(10),
        };
        let mut pace = Pace::new(Some(rate));
        assert!(left(pace.deadline(Duration::from_secs(60), 0)) <= Duration::from_secs(10));
        assert!(left(pace.deadline(second, 0)) <= second);
        pace.record(Duration::from_secs(9), 500);
        // 500 bytes allow 10 s; 9 were spent.
        assert!(left(pace.deadline(Duration::from_secs(60), 0)) <= second);
        // A write of 1000 more bytes may take until 15 s.
        let big = left(pace.deadline(Duration::from_secs(60), 1000));
        assert!(big > Duration::from_secs(5) && big <= Duration::from_secs(6));
        // Behind: due at once.
        pace.record(Duration::from_secs(2), 0);
        assert_eq!(
            left(pace.deadline(Duration::from_secs(60), 0)),
            Duration::ZERO
        );
        // No per-wait limit, but a rate: the rate's deadline.
        let pace = Pace::new(Some(rate));
        assert!(pace.deadline(Duration::MAX, 0).is_some());
    }
}
