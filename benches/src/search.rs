//! Finding the highest rate a server sustains: step the rate up by a factor
//! until a step fails, then narrow the gap between the last pass and the
//! first failure by bisection (on a log scale).
//!
//! ```
//! use benches::search::{RateSearch, SearchOutcome};
//! // A server that keeps up with anything up to 700 messages per second.
//! let mut search = RateSearch::new(100.0, 2.0, 2, 10_000.0);
//! while let Some(rate) = search.next_rate() {
//!     search.record(rate, rate <= 700.0);
//! }
//! // 100, 200, 400 pass, 800 fails, then 566 and 673 pass.
//! assert_eq!(search.outcome(), SearchOutcome::Highest { passed: 673.0, failed: 800.0 });
//! ```

/// What a finished search found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SearchOutcome {
    /// `passed` is the highest rate that passed; `failed` the lowest that
    /// failed.
    Highest {
        /// The highest passing rate.
        passed: f64,
        /// The lowest failing rate.
        failed: f64,
    },
    /// Every rate up to the ceiling passed: the limit is above `passed`.
    AboveCeiling {
        /// The highest rate tried (it passed).
        passed: f64,
    },
    /// Even the lowest rate tried failed.
    NonePassed {
        /// The lowest rate tried.
        failed: f64,
    },
    /// The search has not finished.
    Unfinished,
}

/// A search for the highest passing rate. Ask [`next_rate`](Self::next_rate),
/// run a step at that rate, [`record`](Self::record) whether it passed;
/// stop when `next_rate` gives `None`.
#[derive(Debug, Clone)]
pub struct RateSearch {
    factor: f64,
    refinements: u32,
    ceiling: f64,
    floor: f64,
    next: Option<f64>,
    passed: Option<f64>,
    failed: Option<f64>,
    steps: Vec<(f64, bool)>,
}

impl RateSearch {
    /// Starts at `start`, multiplies by `factor` (above 1) after each pass,
    /// never goes above `ceiling`, and after the first failure bisects
    /// `refinements` times. A failure before any pass steps down by the
    /// same factor, to at most a hundredth of `start`.
    pub fn new(start: f64, factor: f64, refinements: u32, ceiling: f64) -> RateSearch {
        assert!(start > 0.0 && factor > 1.0 && ceiling >= start);
        RateSearch {
            factor,
            refinements,
            ceiling,
            floor: start / 100.0,
            next: Some(start.round()),
            passed: None,
            failed: None,
            steps: Vec::new(),
        }
    }

    /// The rate of the next step, or `None` when the search is done.
    pub fn next_rate(&self) -> Option<f64> {
        self.next
    }

    /// Records the outcome of a step at `rate` and picks the next rate.
    pub fn record(&mut self, rate: f64, passed: bool) {
        self.steps.push((rate, passed));
        if passed {
            self.passed = Some(self.passed.map_or(rate, |p| p.max(rate)));
        } else {
            self.failed = Some(self.failed.map_or(rate, |f| f.min(rate)));
        }
        self.next = match (self.passed, self.failed) {
            (Some(p), None) if p >= self.ceiling => None,
            (Some(p), None) => Some((p * self.factor).min(self.ceiling).round()),
            (None, Some(f)) => Some((f / self.factor).round()).filter(|r| *r >= self.floor),
            (Some(p), Some(f)) => {
                let middle = (p * f).sqrt().round();
                if self.refinements == 0 || middle <= p || middle >= f {
                    None
                } else {
                    self.refinements -= 1;
                    Some(middle)
                }
            }
            (None, None) => unreachable!("a step was just recorded"),
        };
    }

    /// What the search found so far.
    pub fn outcome(&self) -> SearchOutcome {
        if self.next.is_some() {
            return SearchOutcome::Unfinished;
        }
        match (self.passed, self.failed) {
            (Some(passed), Some(failed)) => SearchOutcome::Highest { passed, failed },
            (Some(passed), None) => SearchOutcome::AboveCeiling { passed },
            (None, Some(failed)) => SearchOutcome::NonePassed { failed },
            (None, None) => SearchOutcome::Unfinished,
        }
    }

    /// Every step so far: (rate, passed).
    pub fn steps(&self) -> &[(f64, bool)] {
        &self.steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search against a server that sustains up to `limit`.
    fn run(mut search: RateSearch, limit: f64) -> RateSearch {
        let mut guard = 0;
        while let Some(rate) = search.next_rate() {
            search.record(rate, rate <= limit);
            guard += 1;
            assert!(guard < 100, "the search must end");
        }
        search
    }

    #[test]
    fn steps_up_by_the_factor_until_a_failure() {
        let search = run(RateSearch::new(100.0, 1.5, 0, 1e6), 400.0);
        let rates: Vec<f64> = search.steps().iter().map(|s| s.0).collect();
        assert_eq!(rates, [100.0, 150.0, 225.0, 338.0, 507.0]);
        assert_eq!(
            search.outcome(),
            SearchOutcome::Highest {
                passed: 338.0,
                failed: 507.0
            }
        );
    }

    #[test]
    fn bisection_narrows_the_gap_and_stays_inside_it() {
        let search = run(RateSearch::new(100.0, 2.0, 3, 1e6), 1000.0);
        let SearchOutcome::Highest { passed, failed } = search.outcome() else {
            panic!("{:?}", search.outcome());
        };
        assert!(passed <= 1000.0 && failed > 1000.0);
        assert!(
            failed / passed < 1.1,
            "3 halvings of a factor 2: {passed}..{failed}"
        );
        assert_eq!(search.steps().len(), 5 + 3);
    }

    #[test]
    fn every_rate_passing_stops_at_the_ceiling() {
        let search = run(RateSearch::new(100.0, 2.0, 2, 1000.0), f64::INFINITY);
        let rates: Vec<f64> = search.steps().iter().map(|s| s.0).collect();
        assert_eq!(rates, [100.0, 200.0, 400.0, 800.0, 1000.0]);
        assert_eq!(
            search.outcome(),
            SearchOutcome::AboveCeiling { passed: 1000.0 }
        );
    }

    #[test]
    fn a_failing_start_steps_down_until_something_passes() {
        let search = run(RateSearch::new(1000.0, 2.0, 1, 1e6), 300.0);
        let rates: Vec<f64> = search.steps().iter().map(|s| s.0).collect();
        assert_eq!(rates, [1000.0, 500.0, 250.0, 354.0]);
        assert_eq!(
            search.outcome(),
            SearchOutcome::Highest {
                passed: 250.0,
                failed: 354.0
            }
        );
    }

    #[test]
    fn a_server_that_passes_nothing_ends_the_search_at_the_floor() {
        let search = run(RateSearch::new(100.0, 10.0, 2, 1e6), 0.0);
        assert_eq!(search.outcome(), SearchOutcome::NonePassed { failed: 1.0 });
    }

    #[test]
    fn an_unfinished_search_says_so() {
        let search = RateSearch::new(100.0, 2.0, 0, 1e6);
        assert_eq!(search.outcome(), SearchOutcome::Unfinished);
        assert_eq!(search.next_rate(), Some(100.0));
    }
}
