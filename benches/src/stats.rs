//! Percentiles of latency samples and summaries of rounds.
//!
//! ```
//! use benches::stats::{percentile, Summary};
//! let sorted: Vec<u64> = (1..=1000).collect();
//! assert_eq!(percentile(&sorted, 0.99), Some(990));
//! let rounds = Summary::of(&[3.0, 1.0, 2.0]).unwrap();
//! assert_eq!((rounds.median, rounds.min, rounds.max), (2.0, 1.0, 3.0));
//! ```

/// The nearest-rank percentile of `sorted` (ascending): the smallest sample
/// such that at least the fraction `q` (0 to 1) of all samples are at or
/// below it. `None` for no samples.
pub fn percentile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// p50, p99 and p999 of latency samples in nanoseconds, in milliseconds
/// (NaN when there are none). Sorts `samples`.
pub fn latency_percentiles_ms(samples: &mut [u64]) -> [f64; 3] {
    samples.sort_unstable();
    [0.50, 0.99, 0.999].map(|q| percentile(samples, q).map_or(f64::NAN, |ns| ns as f64 / 1e6))
}

/// The median and the range of a few values (one per round).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The middle value; the mean of the two middle ones for an even count.
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// How many values.
    pub count: usize,
}

impl Summary {
    /// Summarises the finite values; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Summary> {
        let mut finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if finite.is_empty() {
            return None;
        }
        finite.sort_by(f64::total_cmp);
        let n = finite.len();
        let median = if n % 2 == 1 {
            finite[n / 2]
        } else {
            (finite[n / 2 - 1] + finite[n / 2]) / 2.0
        };
        Some(Summary {
            median,
            min: finite[0],
            max: finite[n - 1],
            count: n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let sorted: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 0.50), Some(50));
        assert_eq!(percentile(&sorted, 0.99), Some(99));
        assert_eq!(percentile(&sorted, 0.999), Some(100));
        assert_eq!(percentile(&sorted, 1.0), Some(100));
        assert_eq!(percentile(&sorted, 0.0), Some(1));
        assert_eq!(percentile(&sorted, 0.011), Some(2));
    }

    #[test]
    fn percentile_of_one_and_of_none() {
        assert_eq!(percentile(&[7u64], 0.5), Some(7));
        assert_eq!(percentile(&[7u64], 0.999), Some(7));
        assert_eq!(percentile::<u64>(&[], 0.5), None);
    }

    #[test]
    fn p999_sees_the_single_slow_sample_in_a_thousand_and_p99_does_not() {
        let mut samples = vec![1_000_000u64; 999];
        samples.push(50_000_000);
        let [p50, p99, p999] = latency_percentiles_ms(&mut samples);
        assert_eq!((p50, p99), (1.0, 1.0));
        assert_eq!(p999, 1.0, "the 999th of 1000 samples is still fast");
        samples.push(50_000_000);
        let [_, _, p999] = latency_percentiles_ms(&mut samples);
        assert_eq!(p999, 50.0, "two slow samples in 1001 reach p999");
    }

    #[test]
    fn latency_percentiles_of_nothing_are_nan() {
        assert!(latency_percentiles_ms(&mut []).iter().all(|v| v.is_nan()));
    }

    #[test]
    fn summary_of_odd_and_even_counts() {
        let odd = Summary::of(&[5.0, 1.0, 4.0, 2.0, 3.0]).unwrap();
        assert_eq!(
            (odd.median, odd.min, odd.max, odd.count),
            (3.0, 1.0, 5.0, 5)
        );
        let even = Summary::of(&[4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!(even.median, 2.5);
    }

    #[test]
    fn summary_skips_values_that_are_not_numbers() {
        let s = Summary::of(&[f64::NAN, 2.0, f64::INFINITY]).unwrap();
        assert_eq!((s.median, s.count), (2.0, 1));
        assert_eq!(Summary::of(&[f64::NAN]), None);
        assert_eq!(Summary::of(&[]), None);
    }
}
