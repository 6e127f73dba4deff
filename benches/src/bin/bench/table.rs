//! From rounds of samples to tables: each cell the median and the range
//! over the rounds, invalid cells shown as such, ratio columns computed
//! round by round (the two contenders of a round ran back to back) and
//! summarised the same way.

use std::collections::BTreeMap;

use benches::stats::Summary;

use crate::measure::Sample;
use crate::setup::Setup;
use crate::workloads::{Better, Group, Metric, Workload};

/// One workload's rounds in one setup.
pub struct Outcome {
    pub workload: Workload,
    pub setup: Setup,
    /// The title with what was resolved at run time (the open-loop rates).
    pub title: String,
    /// The contenders, in column order.
    pub contenders: Vec<&'static str>,
    /// Each round: the sample of each contender.
    pub rounds: Vec<BTreeMap<&'static str, Sample>>,
    /// Lines shown under the table (negotiated TLS, access-log checks).
    pub notes: Vec<String>,
}

/// What a cell holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// The contender does not take this workload.
    Absent,
    /// At least one round was invalid: why, and in how many rounds.
    Invalid {
        why: String,
        rounds: usize,
        of: usize,
    },
    /// Every round valid.
    Valid { summary: Summary, at_least: bool },
}

impl Outcome {
    /// Whether `sample` counts for `metric`, and if not, why.
    fn problem(sample: &Sample, metric: &Metric) -> Option<String> {
        if let Some(first) = sample.errors.first() {
            return Some(first.clone());
        }
        let key = metric.invalid_if.as_deref()?;
        let n = sample.report.get(key).filter(|n| *n > 0.0)?;
        if let Some(why) = sample.report.text_of(&key.replace("errors", "why")) {
            return Some(why.replace('_', " "));
        }
        // The counts next to the errors key (`r0.lost` beside `r0.errors`).
        let prefix = key.strip_suffix("errors").unwrap_or("");
        let counts: Vec<String> = ["lost", "bad_replies"]
            .iter()
            .filter_map(|name| {
                let v = sample.report.get(&format!("{prefix}{name}"))?;
                (v > 0.0).then(|| format!("{v} {}", name.replace('_', " ")))
            })
            .collect();
        let why = if counts.is_empty() {
            format!("{n} errors")
        } else {
            counts.join(", ")
        };
        Some(why)
    }

    /// The value of `metric` for `contender` in each round (`None`: invalid
    /// or absent that round).
    pub fn values(&self, contender: &str, metric: &Metric) -> Vec<Option<f64>> {
        self.rounds
            .iter()
            .map(|round| {
                let sample = round.get(contender)?;
                if Self::problem(sample, metric).is_some() {
                    return None;
                }
                sample.report.get(&metric.key)
            })
            .collect()
    }

    pub fn cell(&self, contender: &str, metric: &Metric) -> Cell {
        if !self.contenders.contains(&contender) {
            return Cell::Absent;
        }
        let problems: Vec<String> = self
            .rounds
            .iter()
            .filter_map(|round| Self::problem(round.get(contender)?, metric))
            .collect();
        if let Some(why) = problems.first() {
            return Cell::Invalid {
                why: why.clone(),
                rounds: problems.len(),
                of: self.rounds.len(),
            };
        }
        let values: Vec<f64> = self
            .values(contender, metric)
            .into_iter()
            .flatten()
            .collect();
        let at_least = metric.at_least_if.as_deref().is_some_and(|flag| {
            self.rounds.iter().any(|round| {
                round
                    .get(contender)
                    .and_then(|s| s.report.get(flag))
                    .is_some_and(|v| v > 0.0)
            })
        });
        match Summary::of(&values) {
            Some(summary) => Cell::Valid { summary, at_least },
            None => Cell::Invalid {
                why: format!("no {} reported", metric.key),
                rounds: self.rounds.len(),
                of: self.rounds.len(),
            },
        }
    }

    /// `a`'s advantage over `b` on `metric`, round by round (above 1: `a`
    /// better); `None` when either is absent or any round is invalid.
    pub fn ratio(&self, a: &str, b: &str, metric: &Metric) -> Option<Summary> {
        if metric.better == Better::Neither {
            return None;
        }
        let (va, vb) = (self.values(a, metric), self.values(b, metric));
        if !self.contenders.contains(&a) || !self.contenders.contains(&b) {
            return None;
        }
        let mut ratios = Vec::new();
        for (x, y) in va.into_iter().zip(vb) {
            let (x, y) = (x?, y?);
            ratios.push(match metric.better {
                Better::Higher => x / y,
                _ => y / x,
            });
        }
        Summary::of(&ratios)
    }

    /// Every error of every run, per contender, for the errors row.
    pub fn errors_of(&self, contender: &str) -> Option<String> {
        if !self.contenders.contains(&contender) {
            return None;
        }
        let mut all: Vec<String> = Vec::new();
        for (r, round) in self.rounds.iter().enumerate() {
            let Some(sample) = round.get(contender) else {
                continue;
            };
            all.extend(
                sample
                    .errors
                    .iter()
                    .map(|e| format!("round {}: {e}", r + 1)),
            );
            if !sample.errors.is_empty() {
                continue;
            }
            for metric in &self.workload.metrics {
                let Some(why) = Self::problem(sample, metric) else {
                    continue;
                };
                let what = metric.label.split(':').next().unwrap_or("");
                let line = format!("round {}: {what}: {why}", r + 1);
                if !all.contains(&line) {
                    all.push(line);
                }
            }
        }
        Some(if all.is_empty() {
            "0".into()
        } else {
            all.join("; ")
        })
    }
}

/// A number with as many digits as it deserves.
pub fn format_value(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else if v.abs() >= 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn format_summary(s: &Summary, suffix: &str) -> String {
    if s.count == 1 {
        format!("{}{suffix}", format_value(s.median))
    } else {
        format!(
            "{}{suffix} ({}-{})",
            format_value(s.median),
            format_value(s.min),
            format_value(s.max)
        )
    }
}

fn format_ratio(s: &Summary) -> String {
    if s.count == 1 {
        format!("{:.2}x", s.median)
    } else {
        format!("{:.2}x ({:.2}-{:.2})", s.median, s.min, s.max)
    }
}

impl Cell {
    pub fn render(&self) -> String {
        match self {
            Cell::Absent => String::new(),
            Cell::Invalid { why, rounds, of } => {
                format!("INVALID ({rounds}/{of} rounds): {}", why.replace('|', "/"))
            }
            Cell::Valid { summary, at_least } => {
                let text = format_summary(summary, "");
                if *at_least {
                    format!(">= {text}")
                } else {
                    text
                }
            }
        }
    }
}

/// The ratio columns of a group in a setup: (header, numerator,
/// denominator).
fn ratio_columns(group: Group, setup: Setup) -> Vec<(String, &'static str, &'static str)> {
    group
        .ratios()
        .iter()
        .map(|&(a, b)| {
            let a = a.unwrap_or(setup.greenws());
            (format!("{a} vs {b}"), a, b)
        })
        .collect()
}

/// The markdown table of one group in one setup, or `None` if nothing of
/// the group ran.
pub fn render_group(group: Group, setup: Setup, outcomes: &[Outcome]) -> Option<String> {
    let mine: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.setup == setup && o.workload.group == group)
        .collect();
    if mine.is_empty() {
        return None;
    }
    let columns: Vec<&'static str> = crate::contenders::CONTENDERS
        .iter()
        .map(|c| c.name)
        .filter(|name| mine.iter().any(|o| o.contenders.contains(name)))
        .collect();
    let ratios: Vec<_> = ratio_columns(group, setup)
        .into_iter()
        .filter(|(_, a, b)| {
            mine.iter().any(|o| {
                o.workload
                    .metrics
                    .iter()
                    .any(|m| o.ratio(a, b, m).is_some())
            })
        })
        .collect();
    let mut out = String::from("| workload | metric |");
    for name in &columns {
        out.push_str(&format!(" {name} |"));
    }
    for (header, _, _) in &ratios {
        out.push_str(&format!(" {header} |"));
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---:|".repeat(columns.len() + ratios.len()));
    out.push('\n');
    for outcome in &mine {
        let rounds = outcome.rounds.len();
        let mut first = true;
        let mut row = |label: &str, cells: Vec<String>, ratio_cells: Vec<String>| {
            let title = if first {
                format!(
                    "{} ({rounds} round{})",
                    outcome.title,
                    if rounds == 1 { "" } else { "s" }
                )
            } else {
                String::new()
            };
            first = false;
            out.push_str(&format!("| {title} | {label} |"));
            for cell in cells.iter().chain(&ratio_cells) {
                out.push_str(&format!(" {cell} |"));
            }
            out.push('\n');
        };
        for metric in &outcome.workload.metrics {
            let cells = columns
                .iter()
                .map(|c| outcome.cell(c, metric).render())
                .collect();
            let ratio_cells = ratios
                .iter()
                .map(|(_, a, b)| {
                    outcome
                        .ratio(a, b, metric)
                        .map(|s| format_ratio(&s))
                        .unwrap_or_default()
                })
                .collect();
            row(&metric.label, cells, ratio_cells);
        }
        let errors = columns
            .iter()
            .map(|c| outcome.errors_of(c).unwrap_or_default().replace('|', "/"))
            .collect();
        row(
            "errors, all rounds",
            errors,
            vec![String::new(); ratios.len()],
        );
    }
    for outcome in &mine {
        for note in &outcome.notes {
            out.push_str(&format!("\n{}: {note}\n", outcome.title));
        }
    }
    Some(out)
}

/// Where the setup's greenws is behind: one line per row where its median
/// per-round ratio against another server is below 1, naming each such
/// server and whether greenws was behind in every round.
pub fn losses(outcomes: &[Outcome]) -> Vec<String> {
    let mut lines = Vec::new();
    for outcome in outcomes {
        let greenws = outcome.setup.greenws();
        for metric in &outcome.workload.metrics {
            let behind: Vec<String> = ratio_columns(outcome.workload.group, outcome.setup)
                .into_iter()
                // Against other servers only (not greenws with the log
                // flipped: that ratio is the access log's cost).
                .filter(|(_, a, b)| *a == greenws && !b.starts_with("greenws"))
                .filter_map(|(_, _, other)| {
                    let ratio = outcome.ratio(greenws, other, metric)?;
                    (ratio.median < 1.0).then(|| {
                        let how = if ratio.max < 1.0 {
                            "in every round"
                        } else {
                            "at the median only"
                        };
                        format!(
                            "{other} {} ({}, {how})",
                            outcome.cell(other, metric).render(),
                            format_ratio(&ratio)
                        )
                    })
                })
                .collect();
            if !behind.is_empty() {
                lines.push(format!(
                    "{} / {} / {}: {greenws} {}; behind {}",
                    outcome.setup.name(),
                    outcome.title,
                    metric.label,
                    outcome.cell(greenws, metric).render(),
                    behind.join("; ")
                ));
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::{workloads, Scale};
    use benches::report_line::Report;

    fn sample(pairs: &[(&str, f64)], errors: &[&str]) -> Sample {
        let mut report = Report::default();
        for (k, v) in pairs {
            report.number(*k, *v);
        }
        Sample {
            report,
            errors: errors.iter().map(|e| e.to_string()).collect(),
        }
    }

    fn echo_outcome(rounds: Vec<Vec<(&'static str, Sample)>>) -> Outcome {
        let workload = workloads(&Scale::quick())
            .into_iter()
            .find(|w| w.id == "echo64")
            .unwrap();
        Outcome {
            contenders: vec!["greenws", "tokio-tungstenite"],
            setup: Setup::Isolated,
            title: workload.title.clone(),
            workload,
            rounds: rounds
                .into_iter()
                .map(|r| r.into_iter().collect())
                .collect(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn ratios_are_taken_round_by_round_then_summarised() {
        // Round 1: 100 vs 50 (2x); round 2: 60 vs 60 (1x); round 3: 90 vs 60 (1.5x).
        let outcome = echo_outcome(vec![
            vec![
                ("greenws", sample(&[("msgs_per_sec", 100.0)], &[])),
                ("tokio-tungstenite", sample(&[("msgs_per_sec", 50.0)], &[])),
            ],
            vec![
                ("greenws", sample(&[("msgs_per_sec", 60.0)], &[])),
                ("tokio-tungstenite", sample(&[("msgs_per_sec", 60.0)], &[])),
            ],
            vec![
                ("greenws", sample(&[("msgs_per_sec", 90.0)], &[])),
                ("tokio-tungstenite", sample(&[("msgs_per_sec", 60.0)], &[])),
            ],
        ]);
        let metric = &outcome.workload.metrics[0];
        let ratio = outcome
            .ratio("greenws", "tokio-tungstenite", metric)
            .unwrap();
        assert_eq!((ratio.median, ratio.min, ratio.max), (1.5, 1.0, 2.0));
        // The ratio of the medians would be 90 / 60 = 1.5 too here, but the
        // cells show their own medians and ranges:
        assert_eq!(
            outcome.cell("greenws", metric).render(),
            "90.00 (60.00-100.0)"
        );
    }

    #[test]
    fn lower_is_better_ratios_invert() {
        let outcome = echo_outcome(vec![vec![
            ("greenws", sample(&[("p99_ms", 1.0)], &[])),
            ("tokio-tungstenite", sample(&[("p99_ms", 4.0)], &[])),
        ]]);
        let p99 = outcome
            .workload
            .metrics
            .iter()
            .find(|m| m.key == "p99_ms")
            .unwrap();
        let ratio = outcome.ratio("greenws", "tokio-tungstenite", p99).unwrap();
        assert_eq!(ratio.median, 4.0, "4x less latency is a 4x advantage");
    }

    #[test]
    fn an_error_in_any_round_marks_the_cell_invalid_and_drops_its_ratios() {
        let outcome = echo_outcome(vec![
            vec![
                ("greenws", sample(&[("msgs_per_sec", 100.0)], &[])),
                ("tokio-tungstenite", sample(&[("msgs_per_sec", 50.0)], &[])),
            ],
            vec![
                ("greenws", sample(&[("msgs_per_sec", 100.0)], &["3 lost"])),
                ("tokio-tungstenite", sample(&[("msgs_per_sec", 50.0)], &[])),
            ],
        ]);
        let metric = &outcome.workload.metrics[0];
        assert_eq!(
            outcome.cell("greenws", metric),
            Cell::Invalid {
                why: "3 lost".into(),
                rounds: 1,
                of: 2
            }
        );
        assert_eq!(
            outcome.cell("greenws", metric).render(),
            "INVALID (1/2 rounds): 3 lost"
        );
        assert_eq!(outcome.errors_of("greenws").unwrap(), "round 2: 3 lost");
        assert_eq!(outcome.errors_of("tokio-tungstenite").unwrap(), "0");
        assert!(outcome
            .ratio("greenws", "tokio-tungstenite", metric)
            .is_none());
    }

    #[test]
    fn losses_list_the_rows_where_greenws_is_behind() {
        let outcome = echo_outcome(vec![
            vec![
                (
                    "greenws",
                    sample(&[("msgs_per_sec", 90.0), ("p99_ms", 1.0)], &[]),
                ),
                (
                    "tokio-tungstenite",
                    sample(&[("msgs_per_sec", 100.0), ("p99_ms", 2.0)], &[]),
                ),
            ],
            vec![
                (
                    "greenws",
                    sample(&[("msgs_per_sec", 95.0), ("p99_ms", 1.0)], &[]),
                ),
                (
                    "tokio-tungstenite",
                    sample(&[("msgs_per_sec", 100.0), ("p99_ms", 2.0)], &[]),
                ),
            ],
        ]);
        let lines = losses(&[outcome]);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("msgs/s"));
        assert!(
            lines[0].contains("0.93x (0.90-0.95), in every round"),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn an_open_loop_rate_with_errors_invalidates_only_its_own_rows() {
        let workload = workloads(&Scale::quick())
            .into_iter()
            .find(|w| w.id == "open-echo")
            .unwrap();
        let run = sample(
            &[
                ("r0.p99_ms", 1.0),
                ("r0.errors", 1.0),
                ("r0.lost", 3.0),
                ("r1.p99_ms", 2.0),
                ("r1.errors", 0.0),
            ],
            &[],
        );
        let outcome = Outcome {
            contenders: vec!["greenws"],
            setup: Setup::Isolated,
            title: workload.title.clone(),
            workload,
            rounds: vec![[("greenws", run)].into_iter().collect()],
            notes: Vec::new(),
        };
        let row = |key: &str| {
            let metric = outcome
                .workload
                .metrics
                .iter()
                .find(|m| m.key == key)
                .unwrap();
            outcome.cell("greenws", metric).render()
        };
        assert_eq!(row("r0.p99_ms"), "INVALID (1/1 rounds): 3 lost");
        assert_eq!(row("r1.p99_ms"), "2.000");
        assert_eq!(
            outcome.errors_of("greenws").unwrap(),
            "round 1: at 25%: 3 lost"
        );
    }

    #[test]
    fn values_format_to_their_size() {
        assert_eq!(format_value(158683.4), "158683");
        assert_eq!(format_value(642.44), "642.4");
        assert_eq!(format_value(55.432), "55.43");
        assert_eq!(format_value(0.4034), "0.403");
    }
}
