//! The benchmarks that start their own servers and print their own tables,
//! run by the driver at the scale of the run and pasted into RESULTS.md
//! verbatim, with the command that printed them beside them:
//!
//! - `deflate`: permessage-deflate against Node's `ws` (`deflate-bench`):
//!   bytes on the wire and server CPU per message, compression agreed and
//!   off, and resident memory per idle connection;
//! - `fanout-redis`: fan-out to subscribers split over two greenws
//!   instances whose hubs meet in Redis, beside one instance alone
//!   (`fanout-redis`);
//! - `client-connections`: many WebSocket client connections from one
//!   process on the greenws client, each checking its echoes, and the
//!   client's resident memory per connection (`examples/client_loadgen
//!   connections` against `examples/echo`).
//!
//! Each program ends its runs with `RESULT key=value` lines; the driver
//! reads them for the summary above the pasted output (and to mark the
//! section INVALID when a run had errors). A tool that is missing leaves
//! the section NOT RUN with the reason; under `CI=true` the driver then
//! exits non-zero (see `main.rs`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use benches::report_line::Report;
use benches::stats::Summary;

use crate::measure::{run_captured, workspace, Bench};
use crate::table::format_value;

/// One benchmark with its own program.
pub struct Standalone {
    /// For `--only`.
    pub id: &'static str,
    pub title: &'static str,
    /// Programs it needs on PATH, with how to install each.
    pub needs: &'static [(&'static str, &'static str)],
}

/// Every standalone benchmark, in the order they run.
pub const STANDALONE: &[Standalone] = &[
    Standalone {
        id: "deflate",
        title: "permessage-deflate: greenws (examples/echo) against Node's ws (perMessageDeflate)",
        needs: &[("node", "apt-get install nodejs npm")],
    },
    Standalone {
        id: "fanout-redis",
        title: "Fan-out over two greenws instances through Redis, beside one instance alone",
        needs: &[("redis-server", "apt-get install redis-server")],
    },
    Standalone {
        id: "client-connections",
        title: "WebSocket client connections from one process (greenws's client)",
        needs: &[],
    },
];

/// Where `benches/run.sh` installs Node's `ws` (as benches/deflate.sh does).
const NODE_MODULES: &str = "/tmp/greenws-bench-node/node_modules";

/// What one standalone benchmark gave.
pub struct SectionRun {
    pub title: &'static str,
    /// The command, as a reader would type it from the workspace root.
    pub command: String,
    /// Lines computed by the driver from the `RESULT` lines.
    pub summary: Vec<String>,
    /// Everything the program printed on stdout.
    pub output: String,
    /// Why the section is NOT RUN, FAILED or INVALID, if it is.
    pub failure: Option<String>,
}

impl SectionRun {
    fn not_run(standalone: &Standalone, command: String, why: String) -> SectionRun {
        SectionRun {
            title: standalone.title,
            command,
            summary: Vec::new(),
            output: String::new(),
            failure: Some(format!("NOT RUN: {why}")),
        }
    }

    /// The section's markdown.
    pub fn render(&self) -> String {
        let mut out = format!("### {}\n\n", self.title);
        if let Some(failure) = &self.failure {
            out.push_str(&format!("**{failure}**\n\n"));
        }
        out.push_str(&format!("Command: `{}`\n\n", self.command));
        for line in &self.summary {
            out.push_str(&format!("- {line}\n"));
        }
        if !self.summary.is_empty() {
            out.push('\n');
        }
        if !self.output.trim().is_empty() {
            out.push_str(&format!(
                "What it printed:\n\n```text\n{}\n```\n\n",
                self.output.trim_end()
            ));
        }
        out
    }
}

/// Runs the standalone benchmark `standalone` at the scale of the run.
pub fn run(bench: &Bench, standalone: &Standalone, quick: bool) -> SectionRun {
    eprintln!("== {}", standalone.title);
    let missing: Vec<String> = standalone
        .needs
        .iter()
        .filter(|(tool, _)| !on_path(tool))
        .map(|(tool, install)| format!("{tool} is missing ({install})"))
        .collect();
    let section = match standalone.id {
        "deflate" => deflate(bench, standalone, quick, missing),
        "fanout-redis" => fanout_redis(bench, standalone, quick, missing),
        "client-connections" => client_connections(bench, standalone, quick),
        id => unreachable!("no standalone benchmark {id}"),
    };
    if let Some(failure) = &section.failure {
        eprintln!("   {failure}");
    }
    section
}

fn deflate(
    bench: &Bench,
    standalone: &Standalone,
    quick: bool,
    missing: Vec<String>,
) -> SectionRun {
    let args: &[&str] = if quick {
        &[
            "all",
            "--rounds",
            "1",
            "--seconds",
            "0.5",
            "--connections",
            "16",
            "--idle",
            "500",
        ]
    } else {
        &[
            "all",
            "--rounds",
            "5",
            "--seconds",
            "5",
            "--connections",
            "64",
            "--idle",
            "10000",
        ]
    };
    let shown = format!("bash benches/deflate.sh {}", args.join(" "));
    let mut missing = missing;
    if !Path::new(NODE_MODULES).join("ws/package.json").exists() {
        missing.push(format!(
            "Node's ws is not in {NODE_MODULES} (benches/run.sh installs it with npm)"
        ));
    }
    if !missing.is_empty() {
        return SectionRun::not_run(standalone, shown, missing.join("; "));
    }
    let mut command = Command::new(bench.bin_dir.join("deflate-bench"));
    command
        .args(args)
        .arg("--greenws")
        .arg(bench.bin_dir.join("examples/echo"))
        .arg("--node-script")
        .arg(workspace().join("benches/node/ws-echo-server.cjs"))
        .env("NODE_PATH", NODE_MODULES);
    let mut section = run_program(standalone, shown, command, Duration::from_secs(1800));
    if let Some(result) = Report::find(&section.output) {
        let errors = result.get("errors").unwrap_or(f64::NAN);
        let not_held = result.get("connections_not_held").unwrap_or(f64::NAN);
        section.summary.push(format!(
            "echo errors in all wire runs: {errors}; idle connections that failed to open or echo: {not_held}"
        ));
        if errors != 0.0 || not_held != 0.0 {
            section.failure.get_or_insert_with(|| {
                "INVALID: a run had errors (see the counts below)".to_string()
            });
        }
    }
    section
}

fn fanout_redis(
    bench: &Bench,
    standalone: &Standalone,
    quick: bool,
    missing: Vec<String>,
) -> SectionRun {
    let args: &[&str] = if quick {
        &[
            "--subscribers",
            "200",
            "--rates",
            "100,400",
            "--seconds",
            "0.5",
            "--rounds",
            "1",
        ]
    } else {
        &[
            "--subscribers",
            "1000",
            "--rates",
            "50,100,200",
            "--seconds",
            "5",
            "--rounds",
            "3",
            "--placement",
            "both",
        ]
    };
    let shown = format!(
        "cargo run --release -p benches --bin fanout-redis -- {}",
        args.join(" ")
    );
    if !missing.is_empty() {
        return SectionRun::not_run(standalone, shown, missing.join("; "));
    }
    let mut command = Command::new(bench.bin_dir.join("fanout-redis"));
    command.args(args);
    let mut section = run_program(standalone, shown, command, Duration::from_secs(1800));
    let runs: Vec<Report> = section.output.lines().filter_map(Report::parse).collect();
    section.summary = fanout_summary(&runs);
    section
}

/// The p99 limit a fan-out rate must stay under to count as delivered in
/// time (as in the driver's own fan-out workload).
const FANOUT_P99_LIMIT_MS: f64 = 100.0;

/// From `fanout-redis`'s `RESULT` lines, for each placement: the highest
/// rate each configuration delivered completely, in order and with p99
/// under the limit in every round; and, per rate, two instances' p99
/// minus one instance's, paired by round.
fn fanout_summary(runs: &[Report]) -> Vec<String> {
    let mut placements: Vec<&str> = runs.iter().filter_map(|r| r.text_of("placement")).collect();
    placements.sort_unstable();
    placements.dedup();
    placements
        .into_iter()
        .flat_map(|placement| {
            let runs: Vec<&Report> = runs
                .iter()
                .filter(|r| r.text_of("placement") == Some(placement))
                .collect();
            fanout_summary_of(&runs)
                .into_iter()
                .map(move |line| format!("{placement}: {line}"))
        })
        .collect()
}

/// [`fanout_summary`] for the runs of one placement.
fn fanout_summary_of(runs: &[&Report]) -> Vec<String> {
    // (instances, rate) -> runs
    let mut by_setup: BTreeMap<(u64, u64), Vec<&Report>> = BTreeMap::new();
    for &run in runs {
        if let (Some(instances), Some(rate)) = (run.get("instances"), run.get("rate")) {
            by_setup
                .entry((instances as u64, rate as u64))
                .or_default()
                .push(run);
        }
    }
    let passes = |run: &&Report| {
        run.get("delivered") == Some(1.0)
            && run.get("disorder") == Some(0.0)
            && run.get("p99_ms").is_some_and(|p| p < FANOUT_P99_LIMIT_MS)
    };
    let mut lines = Vec::new();
    for (instances, name) in [(1, "one instance"), (2, "two instances through Redis")] {
        let rates: Vec<u64> = by_setup
            .keys()
            .filter(|(i, _)| *i == instances)
            .map(|(_, rate)| *rate)
            .collect();
        // The highest rate such that it and every lower rate passed.
        let highest = rates
            .iter()
            .take_while(|rate| by_setup[&(instances, **rate)].iter().all(passes))
            .last();
        let tried: Vec<String> = rates.iter().map(u64::to_string).collect();
        lines.push(format!(
            "{name}: highest rate fully delivered, in order, p99 under {FANOUT_P99_LIMIT_MS} ms in \
             every round: {} (rates tried: {}/s)",
            highest.map_or("none".to_string(), |r| format!("{r} msgs/s")),
            tried.join(", ")
        ));
    }
    let rates: Vec<u64> = by_setup
        .keys()
        .filter(|(i, _)| *i == 1)
        .map(|(_, rate)| *rate)
        .collect();
    for rate in rates {
        let round_of = |r: &Report| r.get("round").map(|n| n as u64);
        let alone: BTreeMap<u64, f64> = by_setup[&(1, rate)]
            .iter()
            .filter_map(|r| Some((round_of(r)?, r.get("p99_ms")?)))
            .collect();
        let differences: Vec<f64> = by_setup
            .get(&(2, rate))
            .into_iter()
            .flatten()
            .filter_map(|r| Some(r.get("p99_ms")? - alone.get(&round_of(r)?)?))
            .collect();
        if let Some(s) = Summary::of(&differences) {
            lines.push(format!(
                "at {rate} msgs/s, two instances' p99 minus one instance's (per round): {} ms",
                summary_text(&s)
            ));
        }
    }
    lines
}

fn client_connections(bench: &Bench, standalone: &Standalone, quick: bool) -> SectionRun {
    let (connections, rounds) = if quick { (1000, 1) } else { (10_000, 3) };
    let args = [
        "connections".to_string(),
        "--connections".into(),
        connections.to_string(),
        "--messages".into(),
        "10".into(),
    ];
    let shown = format!(
        "cargo run --release -p greenws --example echo -- --port PORT, then cargo run --release \
         -p greenws --example client_loadgen -- {} --url ws://127.0.0.1:PORT/echo ({rounds} \
         round{}, a fresh server each)",
        args.join(" "),
        if rounds == 1 { "" } else { "s" }
    );
    let mut output = String::new();
    let mut runs = Vec::new();
    let mut failures = Vec::new();
    for round in 1..=rounds {
        let server = match EchoExample::start(&bench.bin_dir.join("examples/echo")) {
            Ok(server) => server,
            Err(why) => {
                failures.push(format!("round {round}: {why}"));
                continue;
            }
        };
        let mut command = Command::new(bench.bin_dir.join("examples/client_loadgen"));
        command
            .args(&args)
            .arg("--url")
            .arg(format!("ws://127.0.0.1:{}/echo", server.port));
        // A failing run exits non-zero, and still prints its RESULT line.
        let printed = match run_captured(command, Duration::from_secs(600), |_| {}, |_| {}) {
            Ok(out) => out,
            Err(why) => {
                failures.push(format!("round {round}: {}", first_line(&why)));
                why
            }
        };
        drop(server);
        match Report::find(&printed) {
            Some(report) => {
                if report.get("failed").is_none_or(|n| n > 0.0) {
                    failures.push(format!(
                        "round {round}: {} connections failed",
                        report.get("failed").unwrap_or(f64::NAN)
                    ));
                }
                output.push_str(&format!("{report}\n"));
                runs.push(report);
            }
            None => failures.push(format!("round {round}: no RESULT line")),
        }
    }
    let of = |key: &str| -> Option<Summary> {
        let values: Vec<f64> = runs.iter().filter_map(|r| r.get(key)).collect();
        Summary::of(&values)
    };
    let mut summary = Vec::new();
    if let Some(s) = of("rss_per_connection_kib") {
        summary.push(format!(
            "{connections} connections, each sending and checking 10 echoes, then idle in \
             `receive`: the client's resident memory per connection {} KiB (growth over the \
             started runtime; median and range of {} rounds)",
            summary_text(&s),
            s.count
        ));
    }
    if let Some(s) = of("seconds_to_check_all") {
        summary.push(format!(
            "time until every connection had checked its echoes: {} s",
            summary_text(&s)
        ));
    }
    let failure = (!failures.is_empty()).then(|| format!("INVALID: {}", failures.join("; ")));
    SectionRun {
        title: standalone.title,
        command: shown,
        summary,
        output,
        failure,
    }
}

/// Runs one standalone program; its stdout becomes the section's output.
fn run_program(
    standalone: &Standalone,
    shown: String,
    command: Command,
    timeout: Duration,
) -> SectionRun {
    let (output, failure) = match run_captured(command, timeout, |_| {}, |_| {}) {
        Ok(out) => (out, None),
        Err(why) => (String::new(), Some(format!("FAILED: {why}"))),
    };
    SectionRun {
        title: standalone.title,
        command: shown,
        summary: Vec::new(),
        output,
        failure,
    }
}

/// `examples/echo` on a free port; killed when dropped.
struct EchoExample {
    child: Child,
    port: u16,
}

impl EchoExample {
    fn start(program: &Path) -> Result<EchoExample, String> {
        let mut child = Command::new(program)
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let mut first = String::new();
        let read = BufReader::new(child.stdout.take().expect("piped")).read_line(&mut first);
        let port = read
            .ok()
            .and_then(|_| first.trim().rsplit(':').next()?.parse().ok());
        match port {
            Some(port) => Ok(EchoExample { child, port }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!(
                    "the echo example printed {first:?}, not its address"
                ))
            }
        }
    }
}

impl Drop for EchoExample {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `tool` is an executable file in a directory of PATH.
fn on_path(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir: PathBuf| {
        std::fs::metadata(dir.join(tool)).is_ok_and(|m| {
            use std::os::unix::fs::PermissionsExt;
            m.is_file() && m.permissions().mode() & 0o111 != 0
        })
    })
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// "median (lowest-highest)", or the value alone for one round.
fn summary_text(s: &Summary) -> String {
    if s.count == 1 {
        format_value(s.median)
    } else {
        format!(
            "{} ({}-{})",
            format_value(s.median),
            format_value(s.min),
            format_value(s.max)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(round: u64, rate: u64, instances: u64, delivered: f64, p99: f64) -> Report {
        placed("pinned", round, rate, instances, delivered, p99)
    }

    fn placed(
        placement: &str,
        round: u64,
        rate: u64,
        instances: u64,
        delivered: f64,
        p99: f64,
    ) -> Report {
        Report::parse(&format!(
            "RESULT round={round} rate={rate} placement={placement} instances={instances} \
             delivered={delivered} disorder=0 p50_ms=1 p99_ms={p99}"
        ))
        .unwrap()
    }

    #[test]
    fn the_highest_fanout_rate_needs_every_lower_rate_and_round_to_pass() {
        let runs = [
            run(1, 100, 1, 1.0, 5.0),
            run(1, 100, 2, 1.0, 7.0),
            run(2, 100, 1, 1.0, 6.0),
            run(2, 100, 2, 1.0, 10.0),
            run(1, 400, 1, 1.0, 20.0),
            run(1, 400, 2, 0.99, 30.0),
            run(2, 400, 1, 1.0, 150.0),
            run(2, 400, 2, 1.0, 40.0),
        ];
        let lines = fanout_summary(&runs);
        assert!(lines[0].contains(": 100 msgs/s"), "{}", lines[0]);
        assert!(lines[0].contains("rates tried: 100, 400/s"), "{}", lines[0]);
        assert!(lines[1].contains(": 100 msgs/s"), "{}", lines[1]);
        // 7-5 and 10-6, paired by round.
        assert!(lines[2].contains("at 100 msgs/s") && lines[2].contains("3.000 (2.000-4.000) ms"));
        assert!(lines[3].contains("at 400 msgs/s"));
    }

    #[test]
    fn a_failing_lowest_rate_gives_none() {
        let lines = fanout_summary(&[run(1, 100, 1, 0.5, 1.0), run(1, 100, 2, 1.0, 1.0)]);
        assert!(lines[0].contains("none"), "{}", lines[0]);
        assert!(lines[1].contains(": 100 msgs/s"), "{}", lines[1]);
    }

    #[test]
    fn each_placement_is_summed_up_on_its_own() {
        let lines = fanout_summary(&[
            placed("pinned", 1, 50, 1, 1.0, 10.0),
            placed("pinned", 1, 50, 2, 1.0, 11.0),
            placed("shared", 1, 50, 1, 1.0, 10.0),
            placed("shared", 1, 50, 2, 1.0, 14.0),
        ]);
        assert_eq!(lines.len(), 6, "{lines:?}");
        assert!(lines[2].starts_with("pinned: at 50 msgs/s"), "{lines:?}");
        assert!(lines[2].ends_with(": 1.000 ms"), "{lines:?}");
        assert!(lines[5].starts_with("shared: at 50 msgs/s"), "{lines:?}");
        assert!(lines[5].ends_with(": 4.000 ms"), "{lines:?}");
    }

    #[test]
    fn tools_are_found_on_path() {
        assert!(on_path("sh"));
        assert!(!on_path("no-such-tool-greenws"));
    }
}
