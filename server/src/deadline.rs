//! Deadlines from timeouts, for every wait of the server.
//!
//! A timeout too large to count with (`Duration::MAX`, or anything from
//! [`NO_LIMIT`] up) means "no limit": its deadline is `None`, which every
//! wait takes as "as long as it takes". Adding such a timeout to the clock
//! would panic, and may's timers (nanoseconds in a `u64`) cannot hold one.
//!
//! ```ignore
//! let deadline = deadline::after(limits.body_timeout); // None: no limit
//! stream.read(&mut buf, deadline)?;
//! let left = deadline::time_left(deadline);            // None: no limit
//! ```

use std::time::{Duration, Instant};

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
}
