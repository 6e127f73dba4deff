//! Every workload of the benchmark, declared in one place: what load, on
//! which contenders, in which setups, and which of its results become table
//! rows. A table row is a workload and one of its metrics; the contenders
//! are the columns.
//!
//! To add a workload: add a [`Load`] variant if no existing one fits (and
//! its runner in `Bench::measure`, `measure.rs`), then one entry in
//! [`workloads`]; its rows, cells, ratios, errors row, chart bars and the
//! "behind" list follow from the [`Metric`]s it declares. To add a
//! contender: one entry in `contenders.rs` (a new `Program` variant if it is
//! not a binary of this package), then name it in the workloads it takes.
//! Whatever runs the load speaks one interface: it prints a `RESULT
//! key=value ...` line (`benches::report_line`) with an `errors` count.
//!
//! Where the planned additions fit:
//! - permessage-deflate against Node's `ws`: a `Program` for a Node script,
//!   a deflate flag on [`Load::Echo`] passed to `loadgen echo`, and metrics
//!   for bytes on the wire (counted by the generator) and server CPU per
//!   message;
//! - a green-thread WebSocket client as load generator: a field on the
//!   loads naming which generator binary runs them (same `RESULT` line);
//! - fan-out through Redis across two instances: a `Program` that starts
//!   two server processes on one `redis-server`, and a publisher port for
//!   `loadgen fanout` distinct from the subscribers' port.

use crate::contenders::{FASTWS, GEVENT, GREENWS, GREENWS_LOG, MINIHTTP, NAIVE_MAY, TOKIO};
use crate::setup::Setup;

/// How big the run is: a full run, or `--quick`.
#[derive(Debug, Clone)]
pub struct Scale {
    pub quick: bool,
    /// Rounds of the headline workloads (HTTP, echo 64 B).
    pub headline_rounds: usize,
    /// Rounds of every other workload.
    pub rounds: usize,
    /// Seconds of load per closed-loop run.
    pub seconds: f64,
    /// Seconds per offered rate in the open loop.
    pub open_seconds: f64,
    /// Subscribers in the fan-out room.
    pub subscribers: usize,
    /// Seconds per fan-out step.
    pub step_seconds: f64,
    /// Factor between fan-out rates while steps pass.
    pub step_factor: f64,
    /// Bisections after the first failing fan-out step.
    pub refinements: u32,
    /// Idle connections held, one workload each.
    pub idle: Vec<usize>,
}

impl Scale {
    pub fn full() -> Scale {
        Scale {
            quick: false,
            headline_rounds: 5,
            rounds: 3,
            seconds: 5.0,
            open_seconds: 4.0,
            subscribers: 1000,
            step_seconds: 2.0,
            step_factor: 1.5,
            refinements: 2,
            idle: vec![10_000, 19_000],
        }
    }

    /// Every workload, small: the load generator and the peers get
    /// exercised, the numbers are not for comparison.
    pub fn quick() -> Scale {
        Scale {
            quick: true,
            headline_rounds: 2,
            rounds: 1,
            seconds: 0.5,
            open_seconds: 0.5,
            subscribers: 200,
            step_seconds: 0.5,
            step_factor: 2.0,
            refinements: 0,
            idle: vec![1000],
        }
    }
}

/// Which table a workload's rows go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    ClosedLoop,
    OpenLoop,
    FanOut,
    Idle,
    Tls,
}

impl Group {
    pub const ALL: &'static [Group] = &[
        Group::ClosedLoop,
        Group::OpenLoop,
        Group::FanOut,
        Group::Idle,
        Group::Tls,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Group::ClosedLoop => "Closed loop: throughput, latency, CPU",
            Group::OpenLoop => "Open loop: latency at fixed offered rates",
            Group::FanOut => "Fan-out: the highest publish rate fully delivered in time",
            Group::Idle => "Idle connections: memory, and latency while holding them",
            Group::Tls => "TLS: wss echo, every server on rustls (ring) with the same certificate",
        }
    }

    /// The ratio columns of the group's table: (numerator, denominator),
    /// where `None` stands for the setup's greenws.
    pub fn ratios(self) -> &'static [(Option<&'static str>, &'static str)] {
        match self {
            Group::ClosedLoop | Group::OpenLoop => &[
                (None, TOKIO),
                (None, FASTWS),
                (None, MINIHTTP),
                (Some(GREENWS_LOG), GREENWS),
            ],
            _ => &[(None, TOKIO), (None, FASTWS)],
        }
    }
}

/// Whether more or less of a metric is better (for the ratio columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
    /// A diagnostic: no ratio.
    Neither,
}

/// One row of a workload: a key of the load's `RESULT` line.
#[derive(Debug, Clone)]
pub struct Metric {
    pub key: String,
    pub label: String,
    pub better: Better,
    /// A key whose positive value makes this row's cell invalid for that
    /// run (the per-rate errors of the open loop).
    pub invalid_if: Option<String>,
    /// A key whose value 1 means the figure is a lower bound (`>=`).
    pub at_least_if: Option<String>,
}

fn metric(key: &str, label: &str, better: Better) -> Metric {
    Metric {
        key: key.into(),
        label: label.into(),
        better,
        invalid_if: None,
        at_least_if: None,
    }
}

/// What load a workload puts on a server.
#[derive(Debug, Clone)]
pub enum Load {
    /// wrk, closed loop, keep-alive.
    Wrk {
        connections: usize,
        path: &'static str,
    },
    /// `loadgen echo`: closed-loop WebSocket echo, over TLS if `tls`.
    Echo {
        size: usize,
        connections: usize,
        tls: bool,
    },
    /// `loadgen open`: fixed offered rates, each a fraction of the slowest
    /// contender's closed-loop maximum in workload `base` (key `base_key`).
    OpenLoop {
        protocol: &'static str,
        connections: usize,
        base: &'static str,
        base_key: &'static str,
        fractions: &'static [f64],
    },
    /// `loadgen fanout`: the highest fully delivered publish rate.
    Fanout { subscribers: usize },
    /// `loadgen idle`: memory per idle WebSocket.
    Idle { connections: usize },
}

/// One workload.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Short name, for `--only`.
    pub id: String,
    pub title: String,
    pub group: Group,
    /// Headline workloads get more rounds.
    pub headline: bool,
    pub setups: &'static [Setup],
    /// The contenders, in column order (see `Setup::contenders_of`).
    pub contenders: &'static [&'static str],
    pub load: Load,
    pub metrics: Vec<Metric>,
}

impl Workload {
    pub fn rounds(&self, scale: &Scale) -> usize {
        if self.headline {
            scale.headline_rounds
        } else {
            scale.rounds
        }
    }

    /// The workload whose results this one's rates derive from.
    pub fn depends_on(&self) -> Option<&'static str> {
        match self.load {
            Load::OpenLoop { base, .. } => Some(base),
            _ => None,
        }
    }
}

const OPEN_LOOP_FRACTIONS: &[f64] = &[0.25, 0.50, 0.75];

/// p50, p99 and p999 at each offered rate of an open-loop workload.
fn open_loop_metrics(fractions: &[f64]) -> Vec<Metric> {
    let mut metrics = Vec::new();
    for (k, fraction) in fractions.iter().enumerate() {
        for (key, name) in [("p50_ms", "p50"), ("p99_ms", "p99"), ("p999_ms", "p999")] {
            let mut m = metric(
                &format!("r{k}.{key}"),
                &format!("at {:.0}%: {name} ms", fraction * 100.0),
                Better::Lower,
            );
            m.invalid_if = Some(format!("r{k}.errors"));
            metrics.push(m);
        }
    }
    metrics
}

/// Every workload, in the order they run.
pub fn workloads(scale: &Scale) -> Vec<Workload> {
    use Better::*;
    let echo_metrics = || {
        vec![
            metric("msgs_per_sec", "msgs/s", Higher),
            metric("p50_ms", "p50 ms", Lower),
            metric("p99_ms", "p99 ms", Lower),
            metric("cpu_us_per_msg", "server CPU us/msg", Lower),
        ]
    };
    let mut all = vec![
        Workload {
            id: "http".into(),
            title: "HTTP GET /test, keep-alive, 64 connections (wrk)".into(),
            group: Group::ClosedLoop,
            headline: true,
            setups: Setup::ALL,
            contenders: &[GREENWS, GREENWS_LOG, TOKIO, FASTWS, MINIHTTP, GEVENT],
            load: Load::Wrk {
                connections: 64,
                path: "/test",
            },
            metrics: vec![
                metric("req_per_sec", "req/s", Higher),
                metric("p50_ms", "p50 ms", Lower),
                metric("p99_ms", "p99 ms", Lower),
                metric("cpu_us_per_req", "server CPU us/req", Lower),
            ],
        },
        Workload {
            id: "echo64".into(),
            title: "WebSocket echo 64 B, 64 connections".into(),
            group: Group::ClosedLoop,
            headline: true,
            setups: Setup::ALL,
            contenders: &[GREENWS, TOKIO, FASTWS, NAIVE_MAY, GEVENT],
            load: Load::Echo {
                size: 64,
                connections: 64,
                tls: false,
            },
            metrics: echo_metrics(),
        },
        Workload {
            id: "echo16k".into(),
            title: "WebSocket echo 16 KiB, 64 connections".into(),
            group: Group::ClosedLoop,
            headline: false,
            setups: Setup::ALL,
            contenders: &[GREENWS, TOKIO, FASTWS, NAIVE_MAY, GEVENT],
            load: Load::Echo {
                size: 16 * 1024,
                connections: 64,
                tls: false,
            },
            metrics: echo_metrics(),
        },
        Workload {
            id: "open-http".into(),
            title: "HTTP GET /test, 64 connections, one request in flight each (wrk2's model)"
                .into(),
            group: Group::OpenLoop,
            headline: false,
            setups: Setup::ALL,
            contenders: &[GREENWS, GREENWS_LOG, TOKIO, FASTWS, MINIHTTP],
            load: Load::OpenLoop {
                protocol: "http",
                connections: 64,
                base: "http",
                base_key: "req_per_sec",
                fractions: OPEN_LOOP_FRACTIONS,
            },
            metrics: open_loop_metrics(OPEN_LOOP_FRACTIONS),
        },
        Workload {
            id: "open-echo".into(),
            title: "WebSocket echo 64 B, 64 connections, sent whatever the replies".into(),
            group: Group::OpenLoop,
            headline: false,
            setups: Setup::ALL,
            contenders: &[GREENWS, TOKIO, FASTWS, NAIVE_MAY],
            load: Load::OpenLoop {
                protocol: "ws",
                connections: 64,
                base: "echo64",
                base_key: "msgs_per_sec",
                fractions: OPEN_LOOP_FRACTIONS,
            },
            metrics: open_loop_metrics(OPEN_LOOP_FRACTIONS),
        },
        Workload {
            id: "fanout".into(),
            title: format!(
                "1 publisher, {} subscribers, one room; p99 limit 100 ms",
                scale.subscribers
            ),
            group: Group::FanOut,
            headline: false,
            setups: Setup::ALL,
            contenders: &[GREENWS, TOKIO, FASTWS],
            load: Load::Fanout {
                subscribers: scale.subscribers,
            },
            metrics: vec![
                Metric {
                    at_least_if: Some("above_ceiling".into()),
                    ..metric("max_rate", "highest rate fully delivered, msgs/s", Higher)
                },
                metric("p99_ms_at_max", "p99 ms at that rate", Lower),
                metric(
                    "cpu_us_per_delivery_at_max",
                    "server CPU us per delivery at that rate",
                    Lower,
                ),
                metric(
                    "loadgen_cpu_at_fail",
                    "generator CPU at the first failing rate (1 = a core)",
                    Neither,
                ),
            ],
        },
        Workload {
            id: "wss".into(),
            title: "wss echo 64 B, 64 connections".into(),
            group: Group::Tls,
            headline: false,
            setups: Setup::ALL,
            contenders: &[GREENWS, TOKIO, FASTWS],
            load: Load::Echo {
                size: 64,
                connections: 64,
                tls: true,
            },
            metrics: echo_metrics(),
        },
    ];
    for &connections in &scale.idle {
        all.push(Workload {
            id: format!("idle{connections}"),
            title: format!("{connections} idle WebSockets held"),
            group: Group::Idle,
            headline: false,
            setups: &[Setup::Isolated],
            contenders: &[GREENWS, TOKIO, FASTWS, NAIVE_MAY],
            load: Load::Idle { connections },
            metrics: vec![
                metric(
                    "rss_per_conn_kib",
                    "server RSS KiB per connection (growth over the warmed-up server)",
                    Lower,
                ),
                metric(
                    "rss_after_mib",
                    "server RSS MiB in all, while holding them",
                    Lower,
                ),
                metric("echo_p99_ms", "echo p99 ms while holding them", Lower),
            ],
        });
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contenders::contender;

    #[test]
    fn ids_are_unique_and_contenders_exist() {
        let all = workloads(&Scale::full());
        let mut ids: Vec<&str> = all.iter().map(|w| w.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all.len());
        for w in &all {
            for name in w.contenders {
                contender(name);
            }
        }
    }

    #[test]
    fn open_loops_run_after_their_base_in_every_setup() {
        let all = workloads(&Scale::quick());
        for (i, w) in all.iter().enumerate() {
            if let Some(base) = w.depends_on() {
                let j = all
                    .iter()
                    .position(|b| b.id == base)
                    .expect("the base exists");
                assert!(j < i, "{} runs after {base}", w.id);
                assert!(w.setups.iter().all(|s| all[j].setups.contains(s)));
            }
        }
    }

    #[test]
    fn open_loop_rows_are_invalidated_by_their_own_rate() {
        let m = open_loop_metrics(&[0.5, 0.75]);
        assert_eq!(m.len(), 6);
        assert_eq!(m[3].key, "r1.p50_ms");
        assert_eq!(m[3].invalid_if.as_deref(), Some("r1.errors"));
    }
}
