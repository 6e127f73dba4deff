//! The benchmark driver: every workload (`workloads.rs`) in both setups
//! (`setup.rs`), each contender started fresh for every run, the order of
//! the contenders shuffled in every round, every error kept; then one table
//! per group of workloads and setup, the runtime micro-benchmarks, and
//! the benchmarks that start their own servers (`standalone.rs`:
//! permessage-deflate against Node's ws, fan-out through Redis, client
//! connections), and (after a full run) `benches/RESULTS.md` and
//! `benches/results.png`.
//!
//! ```text
//! bash benches/run.sh                 # everything, full scale (RESULTS.md rewritten)
//! bash benches/run.sh --quick         # everything, small scale, about 3 minutes
//! bash benches/run.sh --only echo64   # some workloads (see --list)
//! bash benches/run.sh --why           # strace -c and smaps of each server
//! ```

mod chart;
mod contenders;
mod measure;
mod results_file;
mod setup;
mod standalone;
mod table;
mod why;
mod workloads;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use benches::rng::Rng;
use benches::stats::Summary;
use clap::Parser;

use crate::contenders::{contender, GREENWS_LOG};
use crate::measure::{Bench, Sample};
use crate::setup::Setup;
use crate::table::Outcome;
use crate::workloads::{workloads, Load, Scale, Workload};

#[derive(Parser, Debug)]
#[command(about = "Benchmarks greenws against the async servers (run it through benches/run.sh)")]
pub struct Cli {
    /// Every workload at small scale (fewer rounds, shorter runs, fewer
    /// connections): checks that everything works; not for comparison.
    #[arg(long)]
    quick: bool,
    /// Only these workloads or standalone benchmarks (comma-separated
    /// ids, see --list); the workloads they derive their rates from run
    /// too.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Only this setup.
    #[arg(long, value_enum)]
    setup: Option<Setup>,
    /// Rounds of every workload (instead of 5 for the headline ones and 3
    /// for the others).
    #[arg(long)]
    rounds: Option<usize>,
    /// Seconds of load per closed-loop run.
    #[arg(long)]
    seconds: Option<f64>,
    /// Seed of the shuffles (printed; the default comes from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Write benches/RESULTS.md (and results.png) even after a --quick run;
    /// a full run of everything, or a full --why, writes them anyway.
    #[arg(long)]
    write: bool,
    /// Do not write benches/RESULTS.md or results.png.
    #[arg(long, conflicts_with = "write")]
    no_write: bool,
    /// Instead of the tables: system calls per message (strace -c), kernel
    /// and user CPU, and memory by kind (/proc/PID/smaps) of each server;
    /// written to its own section of RESULTS.md.
    #[arg(long)]
    why: bool,
    /// List the workloads and the contenders, and exit.
    #[arg(long)]
    list: bool,
}

fn main() {
    let cli = Cli::parse();
    let mut scale = if cli.quick {
        Scale::quick()
    } else {
        Scale::full()
    };
    if let Some(rounds) = cli.rounds {
        (scale.headline_rounds, scale.rounds) = (rounds, rounds);
    }
    if let Some(seconds) = cli.seconds {
        (scale.seconds, scale.open_seconds) = (seconds, seconds);
    }
    let all = workloads(&scale);
    if cli.list {
        list(&all);
        return;
    }
    let selected = select(&all, &cli.only);
    let setups: Vec<Setup> = match cli.setup {
        Some(setup) => vec![setup],
        None => Setup::ALL.to_vec(),
    };
    let seed = cli.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let scratch = std::env::temp_dir().join(format!("greenws-bench-{}", std::process::id()));
    let bench = Bench::new(scratch.clone(), gevent_python());
    if bench.gevent_python.is_none() {
        eprintln!("note: no gevent venv (benches/run.sh makes one); gevent's cells will say so");
    }
    if cli.why {
        why::run(
            &bench,
            cli.quick,
            !cli.no_write && (cli.write || !cli.quick),
        );
        let _ = std::fs::remove_dir_all(&scratch);
        return;
    }
    let load_before = results_file::load_average();
    let started = Instant::now();
    eprintln!(
        "benchmark: {} workloads x {} setups, seed {seed}{}",
        selected.len(),
        setups.len(),
        if scale.quick {
            ", QUICK (small scale)"
        } else {
            ""
        }
    );
    let mut rng = Rng::new(seed);
    let mut outcomes: Vec<Outcome> = Vec::new();
    for &setup in &setups {
        for workload in selected.iter().filter(|w| w.setups.contains(&setup)) {
            let outcome = run_workload(
                &bench, &scale, setup, workload, &outcomes, &mut rng, started,
            );
            outcomes.push(outcome);
        }
    }
    let runtime = if cli.only.is_empty() {
        setups
            .iter()
            .map(|&setup| (setup, bench.runtime_table(setup, scale.quick)))
            .collect()
    } else {
        Vec::new()
    };
    let standalone: Vec<standalone::SectionRun> = standalone::STANDALONE
        .iter()
        .filter(|s| {
            (cli.only.is_empty() && cli.setup.is_none()) || cli.only.iter().any(|id| id == s.id)
        })
        .map(|s| standalone::run(&bench, s, scale.quick))
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    let run = results_file::RunInfo {
        command: results_file::command_line(),
        quick: scale.quick,
        seed,
        seconds: elapsed,
        load_before,
        load_after: results_file::load_average(),
        pinning: setups
            .iter()
            .map(|&s| (s, bench.pinning.borrow().describe(s)))
            .collect(),
    };
    let text = results_file::generated_section(&run, &outcomes, &runtime, &standalone);
    println!("{text}");
    eprintln!("benchmark finished in {elapsed:.0} s");
    let complete = cli.only.is_empty() && cli.setup.is_none();
    if !cli.no_write && complete && (cli.write || !scale.quick) {
        let dir = measure::workspace().join("benches");
        results_file::write_section(&dir.join("RESULTS.md"), results_file::BENCH_MARKERS, &text);
        if let Err(e) = chart::draw(&outcomes, &dir.join("results.png")) {
            eprintln!("no chart: {e}");
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let not_done: Vec<&str> = standalone
        .iter()
        .filter_map(|s| s.failure.as_deref())
        .collect();
    if std::env::var("CI").is_ok_and(|ci| ci == "true") && !not_done.is_empty() {
        eprintln!(
            "CI=true: {} standalone benchmark(s) not run or failed: {}",
            not_done.len(),
            not_done.join("; ")
        );
        std::process::exit(1);
    }
}

/// The workloads asked for, with the workloads they depend on, in
/// declaration order.
fn select(all: &[Workload], only: &[String]) -> Vec<Workload> {
    if only.is_empty() {
        return all.to_vec();
    }
    let mut wanted: BTreeSet<String> = only.iter().cloned().collect();
    for w in all {
        if wanted.contains(&w.id) {
            if let Some(base) = w.depends_on() {
                wanted.insert(base.to_string());
            }
        }
    }
    for id in only {
        let standalone = standalone::STANDALONE.iter().any(|s| s.id == id);
        if !standalone && !all.iter().any(|w| &w.id == id) {
            eprintln!("unknown workload {id:?}; see --list");
            std::process::exit(2);
        }
    }
    all.iter()
        .filter(|w| wanted.contains(&w.id))
        .cloned()
        .collect()
}

fn list(all: &[Workload]) {
    println!("workloads (id: title [setups] contenders):");
    for w in all {
        let setups: Vec<&str> = w.setups.iter().map(|s| s.name()).collect();
        println!(
            "  {}: {} [{}] {}",
            w.id,
            w.title,
            setups.join(", "),
            w.contenders.join(", ")
        );
    }
    println!("\nstandalone benchmarks (id: title; each starts its own servers):");
    for s in standalone::STANDALONE {
        println!("  {}: {}", s.id, s.title);
    }
    println!("\ncontenders:");
    for c in contenders::CONTENDERS {
        println!("  {}: {}", c.name, c.about);
    }
    println!("\nsetups:");
    for s in Setup::ALL {
        println!("  {}: {}", s.name(), s.models());
    }
}

/// Runs every round of one workload in one setup.
fn run_workload(
    bench: &Bench,
    scale: &Scale,
    setup: Setup,
    workload: &Workload,
    earlier: &[Outcome],
    rng: &mut Rng,
    started: Instant,
) -> Outcome {
    let contenders = setup.contenders_of(workload.contenders);
    let (title, open_rates) = match &workload.load {
        Load::OpenLoop {
            base,
            base_key,
            fractions,
            ..
        } => open_loop_rates(
            workload,
            setup,
            &contenders,
            earlier,
            base,
            base_key,
            fractions,
        ),
        _ => (workload.title.clone(), Vec::new()),
    };
    eprintln!("== [{}] {title}", setup.name());
    let mut rounds = Vec::new();
    for round in 1..=workload.rounds(scale) {
        let mut order = contenders.clone();
        rng.shuffle(&mut order);
        let mut samples = BTreeMap::new();
        for name in order {
            let sample = if open_rates.is_empty() && matches!(workload.load, Load::OpenLoop { .. })
            {
                Sample {
                    errors: vec!["no closed-loop maximum to derive the rates from".into()],
                    ..Sample::default()
                }
            } else {
                bench.measure(contender(name), setup, &workload.load, scale, &open_rates)
            };
            eprintln!(
                "   round {round} {name:>18}: {}{}  ({:.0} s so far)",
                sample.report,
                if sample.errors.is_empty() {
                    String::new()
                } else {
                    format!("  ERRORS: {}", sample.errors.join("; "))
                },
                started.elapsed().as_secs_f64()
            );
            samples.insert(name, sample);
        }
        rounds.push(samples);
    }
    let mut outcome = Outcome {
        workload: workload.clone(),
        setup,
        title,
        contenders,
        rounds,
        notes: Vec::new(),
    };
    add_notes(&mut outcome);
    outcome
}

/// The open-loop rates: fractions of the slowest contender's median
/// closed-loop maximum in the base workload (same setup), and the title
/// that says so.
fn open_loop_rates(
    workload: &Workload,
    setup: Setup,
    contenders: &[&'static str],
    earlier: &[Outcome],
    base: &str,
    base_key: &str,
    fractions: &[f64],
) -> (String, Vec<f64>) {
    let base_outcome = earlier
        .iter()
        .find(|o| o.setup == setup && o.workload.id == base);
    let slowest = base_outcome.and_then(|o| {
        let metric = o.workload.metrics.iter().find(|m| m.key == base_key)?;
        contenders
            .iter()
            .filter_map(|c| {
                let values: Vec<f64> = o.values(c, metric).into_iter().flatten().collect();
                Some((*c, Summary::of(&values)?.median))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
    });
    match slowest {
        Some((name, max)) => {
            let rates: Vec<f64> = fractions.iter().map(|f| (f * max).round()).collect();
            let shown: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
            (
                format!(
                    "{}; offered {}/s = 25/50/75% of the slowest closed-loop maximum ({name}, {max:.0}/s)",
                    workload.title,
                    shown.join(", ")
                ),
                rates,
            )
        }
        None => (
            format!("{} (no closed-loop maximum: not run)", workload.title),
            Vec::new(),
        ),
    }
}

/// Notes from the run itself: the negotiated TLS parameters (and a mark on
/// every wss sample if they differ between contenders), and how many
/// access-log lines greenws as shipped wrote per request.
fn add_notes(outcome: &mut Outcome) {
    let mut negotiated: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for round in &outcome.rounds {
        for (name, sample) in round {
            if let Some(tls) = sample.report.text_of("tls") {
                let names = negotiated.entry(tls.to_string()).or_default();
                if !names.contains(name) {
                    names.push(name);
                }
            }
        }
    }
    if !negotiated.is_empty() {
        let described: Vec<String> = negotiated
            .iter()
            .map(|(tls, names)| format!("{} with {}", tls.replace('/', " "), names.join(", ")))
            .collect();
        outcome.notes.push(format!(
            "negotiated (read by the client from every connection's session): {}",
            described.join("; ")
        ));
        if negotiated.len() > 1 {
            for round in &mut outcome.rounds {
                for sample in round.values_mut() {
                    sample
                        .errors
                        .push("TLS parameters differ between contenders".into());
                }
            }
        }
    }
    let per_request: Vec<f64> = outcome
        .rounds
        .iter()
        .filter_map(|round| {
            let s = round.get(GREENWS_LOG)?;
            Some(s.report.get("log_lines")? / s.report.get("requests")?)
        })
        .collect();
    if let Some(s) = Summary::of(&per_request) {
        outcome.notes.push(format!(
            "{GREENWS_LOG} wrote {:.2} access-log lines per request (median of {} rounds; to a file)",
            s.median, s.count
        ));
    }
}

/// The Python of the venv that `benches/run.sh` sets up with gevent.
fn gevent_python() -> Option<String> {
    let python = std::env::var("GEVENT_PYTHON")
        .unwrap_or_else(|_| "/tmp/greenws-bench-venv/bin/python".into());
    Path::new(&python).exists().then_some(python)
}
