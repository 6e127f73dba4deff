//! The open-loop schedule: sends at fixed times, whatever the replies do.
//!
//! Send `i` is due at `i / rate` seconds after the start and goes out on
//! connection `i % connections`. Latency is measured from the due time, so
//! a server that stalls is charged for every send that had to wait behind
//! the stall (no coordinated omission).
//!
//! ```
//! use std::time::Duration;
//! use benches::schedule::OpenLoopSchedule;
//! let schedule = OpenLoopSchedule::new(1000.0, Duration::from_secs(2));
//! assert_eq!(schedule.len(), 2000);
//! assert_eq!(schedule.offset(500), Duration::from_millis(500));
//! assert_eq!(schedule.due_by(Duration::from_micros(2500)), 3); // sends 0, 1 and 2
//! ```

use std::time::Duration;

/// Evenly spaced sends at a fixed rate for a fixed time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenLoopSchedule {
    rate: f64,
    len: u64,
}

impl OpenLoopSchedule {
    /// `rate` sends per second (above 0) for `duration`.
    pub fn new(rate: f64, duration: Duration) -> OpenLoopSchedule {
        assert!(rate > 0.0 && rate.is_finite(), "a rate above 0, got {rate}");
        OpenLoopSchedule {
            rate,
            len: (rate * duration.as_secs_f64()).floor() as u64,
        }
    }

    /// Sends per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// How many sends the schedule holds.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the schedule holds no send at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// When send `i` is due, from the start.
    pub fn offset(&self, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// How many sends are due once `elapsed` has passed since the start
    /// (never more than [`len`](Self::len)).
    pub fn due_by(&self, elapsed: Duration) -> u64 {
        let due = (elapsed.as_secs_f64() * self.rate).floor() as u64 + 1;
        due.min(self.len)
    }

    /// The connection that carries send `i`, round robin.
    pub fn connection(i: u64, connections: usize) -> usize {
        (i % connections as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_are_evenly_spaced_at_the_rate() {
        let schedule = OpenLoopSchedule::new(4000.0, Duration::from_secs(1));
        assert_eq!(schedule.len(), 4000);
        for i in [0, 1, 2, 1000, 3999] {
            let expected = Duration::from_nanos(i * 250_000);
            let got = schedule.offset(i);
            let error = got.abs_diff(expected);
            assert!(error < Duration::from_nanos(2), "send {i}: {got:?}");
        }
    }

    #[test]
    fn the_count_is_rate_times_duration_rounded_down() {
        let s = |rate, ms| OpenLoopSchedule::new(rate, Duration::from_millis(ms)).len();
        assert_eq!(s(1000.0, 1500), 1500);
        assert_eq!(s(333.0, 1000), 333);
        assert_eq!(s(10.0, 50), 0);
        assert!(OpenLoopSchedule::new(10.0, Duration::from_millis(50)).is_empty());
    }

    #[test]
    fn due_by_counts_the_sends_whose_time_has_come() {
        let schedule = OpenLoopSchedule::new(1000.0, Duration::from_secs(1));
        assert_eq!(schedule.due_by(Duration::ZERO), 1, "send 0 is due at once");
        assert_eq!(schedule.due_by(Duration::from_micros(999)), 1);
        assert_eq!(schedule.due_by(Duration::from_millis(1)), 2);
        assert_eq!(schedule.due_by(Duration::from_secs(60)), 1000, "capped");
    }

    #[test]
    fn a_late_pacer_finds_every_missed_send_due_at_once() {
        // The pacer woke 10 ms late: all sends of those 10 ms are due, each
        // still timed from its own due time.
        let schedule = OpenLoopSchedule::new(2000.0, Duration::from_secs(1));
        let due = schedule.due_by(Duration::from_millis(10));
        assert_eq!(due, 21);
        assert_eq!(schedule.offset(due - 1), Duration::from_millis(10));
    }

    #[test]
    fn connections_take_turns() {
        let picks: Vec<usize> = (0..7).map(|i| OpenLoopSchedule::connection(i, 3)).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    #[should_panic(expected = "a rate above 0")]
    fn a_zero_rate_is_refused() {
        OpenLoopSchedule::new(0.0, Duration::from_secs(1));
    }
}
