//! What the benchmark programs share.
//!
//! - [`peer`]: the servers' command line, the `/test` page, TLS, hyper.
//! - [`stats`], [`schedule`], [`search`]: the load generator's statistics
//!   (percentiles, summaries of rounds), its open-loop schedule, and the
//!   rate stepping of the fan-out search; unit-tested here.
//! - [`affinity`], [`process_stats`]: pinning processes to CPUs (and
//!   checking it), and what `/proc` says about a server.
//! - [`report_line`]: the `RESULT key=value ...` line between the load
//!   generator and the driver; [`rng`]: the seeded shuffle of the rounds.

pub mod affinity;
pub mod peer;
pub mod process_stats;
pub mod report_line;
pub mod rng;
pub mod schedule;
pub mod search;
pub mod stats;
