//! Runtime micro-benchmarks: green against tokio tasks, std threads and
//! plain may coroutines.
//!
//! ```text
//! cargo run --release -p benches --bin runtime -- [--workers N|default] [--rounds R] [--quick]
//! ```
//!
//! `bash benches/run.sh` runs it in both setups (pinned to CPU 0 with one
//! worker, and unpinned at the default worker count) and puts its table in
//! RESULTS.md.
//!
//! Three workloads, each done the same way on every executor, all started
//! from inside the executor (a greenlet, a tokio task, a thread):
//! - spawn+join: spawn a task that returns a number, wait for it;
//! - switch: two tasks hand a turn back and forth; green and tokio yield
//!   while it is not theirs, threads park until unparked;
//! - queue ping-pong: two tasks bounce a message over a pair of queues
//!   (green `Queue`, tokio unbounded mpsc, std mpsc).
//!
//! spawn+join also runs on plain `may::coroutine::spawn` (the runtime green
//! is built on, without green's reuse of finished coroutines and local
//! start): the column that shows what those two cost or save.
//!
//! In every round the executors run in a new random order; a cell is the
//! median nanoseconds per operation over the rounds with the lowest and
//! highest in parentheses, and a ratio column the median (and range) of
//! the ratios taken round by round.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use benches::rng::Rng;
use benches::stats::Summary;

struct Args {
    /// `None`: each runtime's default worker count.
    workers: Option<usize>,
    rounds: usize,
    quick: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        workers: Some(1),
        rounds: 7,
        quick: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value =
            |name: &str| -> String { it.next().unwrap_or_else(|| panic!("{name} needs a value")) };
        match flag.as_str() {
            "--workers" => {
                let v = value("--workers");
                args.workers = (v != "default").then(|| v.parse().expect("--workers N|default"));
            }
            "--rounds" => args.rounds = value("--rounds").parse().expect("--rounds R"),
            "--quick" => {
                args.quick = true;
                args.rounds = args.rounds.min(3);
            }
            "-h" | "--help" => {
                println!(
                    "usage: runtime [--workers N|default (default 1)] [--rounds R (default 7)] [--quick]"
                );
                std::process::exit(0);
            }
            other => panic!("unknown flag {other}; try --help"),
        }
    }
    args
}

/// One executor's way of doing a workload `n` times.
type Job<'a> = Box<dyn FnMut(u64) + 'a>;

/// A workload on each executor (in column order; `None` where it does not
/// apply), with its operation count per executor.
struct Workload<'a> {
    name: &'static str,
    jobs: Vec<Option<(Job<'a>, u64)>>,
}

const COLUMNS: [&str; 4] = ["green", "tokio", "std threads", "may::coroutine::spawn"];

/// Runs every job of `workload` `rounds` times, in a new order each round;
/// gives the nanoseconds per operation of each job in each round.
fn measure(workload: &mut Workload, rounds: usize, rng: &mut Rng) -> Vec<Vec<f64>> {
    let mut per_job = vec![Vec::new(); workload.jobs.len()];
    for (job, n) in workload.jobs.iter_mut().flatten() {
        job(*n / 10); // warm-up
    }
    for _ in 0..rounds {
        let mut order: Vec<usize> = (0..workload.jobs.len()).collect();
        rng.shuffle(&mut order);
        for i in order {
            if let Some((job, n)) = &mut workload.jobs[i] {
                let t = Instant::now();
                job(*n);
                per_job[i].push(t.elapsed().as_nanos() as f64 / *n as f64);
            }
        }
    }
    per_job
}

fn cell(values: &[f64]) -> String {
    match Summary::of(values) {
        Some(s) => format!("{:.0} ({:.0}-{:.0})", s.median, s.min, s.max),
        None => String::new(),
    }
}

/// `other / green` round by round: how many times faster green is.
fn ratio(green: &[f64], other: &[f64]) -> String {
    let ratios: Vec<f64> = green.iter().zip(other).map(|(g, o)| o / g).collect();
    match Summary::of(&ratios) {
        Some(s) => format!("{:.2}x ({:.2}-{:.2})", s.median, s.min, s.max),
        None => String::new(),
    }
}

// ---- green ----

fn green_spawn_join(n: u64) {
    green::spawn(move || {
        for i in 0..n {
            assert_eq!(green::spawn(move || i).join(), Ok(i));
        }
    })
    .join()
    .unwrap();
}

fn green_switch(n: u64) {
    // Started from a greenlet, both players land on this worker's run queue
    // before either runs (may only looks at work handed over from other
    // threads when its run queue is empty, which busy players never let
    // happen).
    green::spawn(move || {
        let turn = Arc::new(AtomicUsize::new(0));
        let players: Vec<_> = (0..2)
            .map(|me| {
                let turn = turn.clone();
                green::spawn(move || {
                    for _ in 0..n / 2 {
                        while turn.load(Ordering::Acquire) % 2 != me {
                            green::yield_now();
                        }
                        turn.fetch_add(1, Ordering::AcqRel);
                    }
                })
            })
            .collect();
        green::join_all(&players, None);
    })
    .join()
    .unwrap();
}

fn green_queue_ping_pong(n: u64) {
    let (ping, pong) = (green::Queue::unbounded(), green::Queue::unbounded());
    let echo = {
        let (ping, pong) = (ping.clone(), pong.clone());
        green::spawn(move || {
            for _ in 0..n {
                pong.put(ping.get());
            }
        })
    };
    green::spawn(move || {
        for i in 0..n {
            ping.put(i);
            assert_eq!(pong.get(), i);
        }
    })
    .join()
    .unwrap();
    echo.join().unwrap();
}

// ---- plain may ----

fn may_spawn_join(n: u64) {
    // Safety: the coroutines use no thread-locals across blocking calls.
    let outer = unsafe {
        may::coroutine::spawn(move || {
            for i in 0..n {
                let inner = may::coroutine::spawn(move || i);
                assert_eq!(inner.join().ok(), Some(i));
            }
        })
    };
    outer.join().unwrap();
}

// ---- tokio ----

fn tokio_spawn_join(rt: &tokio::runtime::Runtime, n: u64) {
    rt.block_on(async move {
        tokio::spawn(async move {
            for i in 0..n {
                assert_eq!(tokio::spawn(async move { i }).await.unwrap(), i);
            }
        })
        .await
        .unwrap();
    });
}

fn tokio_switch(rt: &tokio::runtime::Runtime, n: u64) {
    rt.block_on(async move {
        let turn = Arc::new(AtomicUsize::new(0));
        let players: Vec<_> = (0..2)
            .map(|me| {
                let turn = turn.clone();
                tokio::spawn(async move {
                    for _ in 0..n / 2 {
                        while turn.load(Ordering::Acquire) % 2 != me {
                            tokio::task::yield_now().await;
                        }
                        turn.fetch_add(1, Ordering::AcqRel);
                    }
                })
            })
            .collect();
        for p in players {
            p.await.unwrap();
        }
    });
}

fn tokio_queue_ping_pong(rt: &tokio::runtime::Runtime, n: u64) {
    rt.block_on(async move {
        let (ping_tx, mut ping_rx) = tokio::sync::mpsc::unbounded_channel();
        let (pong_tx, mut pong_rx) = tokio::sync::mpsc::unbounded_channel();
        let echo = tokio::spawn(async move {
            for _ in 0..n {
                pong_tx.send(ping_rx.recv().await.unwrap()).unwrap();
            }
        });
        tokio::spawn(async move {
            for i in 0..n {
                ping_tx.send(i).unwrap();
                assert_eq!(pong_rx.recv().await.unwrap(), i);
            }
        })
        .await
        .unwrap();
        echo.await.unwrap();
    });
}

// ---- std threads ----

fn thread_spawn_join(n: u64) {
    for i in 0..n {
        assert_eq!(std::thread::spawn(move || i).join().unwrap(), i);
    }
}

fn thread_switch(n: u64) {
    let turn = Arc::new(AtomicUsize::new(0));
    let main = std::thread::current();
    let other = {
        let turn = turn.clone();
        std::thread::spawn(move || {
            for _ in 0..n / 2 {
                while turn.load(Ordering::Acquire) % 2 != 1 {
                    std::thread::park();
                }
                turn.fetch_add(1, Ordering::AcqRel);
                main.unpark();
            }
        })
    };
    for _ in 0..n / 2 {
        while turn.load(Ordering::Acquire) % 2 != 0 {
            std::thread::park();
        }
        turn.fetch_add(1, Ordering::AcqRel);
        other.thread().unpark();
    }
    other.join().unwrap();
}

fn thread_queue_ping_pong(n: u64) {
    let (ping_tx, ping_rx) = std::sync::mpsc::channel();
    let (pong_tx, pong_rx) = std::sync::mpsc::channel();
    let echo = std::thread::spawn(move || {
        for _ in 0..n {
            pong_tx.send(ping_rx.recv().unwrap()).unwrap();
        }
    });
    for i in 0..n {
        ping_tx.send(i).unwrap();
        assert_eq!(pong_rx.recv().unwrap(), i);
    }
    echo.join().unwrap();
}

fn main() {
    let args = parse_args();
    let mut config = green::Config::new();
    if let Some(workers) = args.workers {
        config = config.workers(workers);
    }
    config
        .apply()
        .expect("settings apply before the first spawn");
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = args.workers {
        builder.worker_threads(workers);
    }
    let rt = builder.build().expect("tokio runtime");
    let scale = if args.quick { 10 } else { 1 };
    let mut workloads = [
        Workload {
            name: "spawn + join",
            jobs: vec![
                Some((Box::new(green_spawn_join) as Job, 200_000 / scale)),
                Some((Box::new(|n| tokio_spawn_join(&rt, n)), 200_000 / scale)),
                Some((Box::new(thread_spawn_join), 5_000 / scale)),
                Some((Box::new(may_spawn_join), 50_000 / scale)),
            ],
        },
        Workload {
            name: "switch between two tasks",
            jobs: vec![
                Some((Box::new(green_switch) as Job, 1_000_000 / scale)),
                Some((Box::new(|n| tokio_switch(&rt, n)), 1_000_000 / scale)),
                Some((Box::new(thread_switch), 50_000 / scale)),
                None,
            ],
        },
        Workload {
            name: "queue ping-pong (round trip)",
            jobs: vec![
                Some((Box::new(green_queue_ping_pong) as Job, 200_000 / scale)),
                Some((Box::new(|n| tokio_queue_ping_pong(&rt, n)), 200_000 / scale)),
                Some((Box::new(thread_queue_ping_pong), 50_000 / scale)),
                None,
            ],
        },
    ];
    let mut rng = Rng::new(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    );
    let workers = green::Config::current().workers;
    println!(
        "`runtime --workers {}{}`: {workers} worker thread(s) for green, may and tokio; {} rounds, the executors \
         in a new order each round; nanoseconds per operation, median (lowest-highest); ratio columns: \
         how many times faster green is, per round.\n",
        args.workers.map_or("default".to_string(), |w| w.to_string()),
        if args.quick { " --quick" } else { "" },
        args.rounds,
    );
    print!("| workload |");
    for c in COLUMNS {
        print!(" {c} |");
    }
    for c in &COLUMNS[1..] {
        print!(" {c} / green |");
    }
    println!("\n|---|{}", "---:|".repeat(COLUMNS.len() * 2 - 1));
    for workload in &mut workloads {
        let per_job = measure(workload, args.rounds, &mut rng);
        print!("| {} |", workload.name);
        for values in &per_job {
            print!(" {} |", cell(values));
        }
        for values in &per_job[1..] {
            print!(" {} |", ratio(&per_job[0], values));
        }
        println!();
    }
}
