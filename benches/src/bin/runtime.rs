//! Runtime micro-benchmarks: green against std threads and tokio tasks.
//!
//! ```text
//! cargo run --release -p benches --bin runtime -- [--workers N] [--rounds R]
//! ```
//!
//! Three workloads, each done the same way on the three executors, all
//! started from inside the executor (a greenlet, a tokio task, a thread):
//! - spawn+join: spawn a task that returns a number, wait for it;
//! - switch: two tasks hand a turn back and forth; green and tokio yield
//!   while it is not theirs, threads park until unparked;
//! - queue ping-pong: two tasks bounce a message over a pair of queues
//!   (green `Queue`, tokio unbounded mpsc, std mpsc).
//!
//! Each cell is the median of R rounds, in nanoseconds per operation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

struct Args {
    workers: usize,
    rounds: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        workers: 1,
        rounds: 7,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match flag.as_str() {
            "--workers" => args.workers = value("--workers"),
            "--rounds" => args.rounds = value("--rounds"),
            "-h" | "--help" => {
                println!("usage: runtime [--workers N (default 1)] [--rounds R (default 7)]");
                std::process::exit(0);
            }
            other => panic!("unknown flag {other}; try --help"),
        }
    }
    args
}

/// Runs `f(n)` `rounds` times and gives the median nanoseconds per operation.
fn median_ns(rounds: usize, n: u64, mut f: impl FnMut(u64)) -> f64 {
    f(n / 10); // warm-up
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f(n);
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
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
    green::Config::new()
        .workers(args.workers)
        .apply()
        .expect("settings apply before the first spawn");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers)
        .build()
        .expect("tokio runtime");
    let r = args.rounds;

    println!(
        "runtime micro-benchmarks: {} worker thread(s) for green and tokio, median of {r} rounds, ns per operation (lower is better)\n",
        args.workers
    );
    println!("| workload | green | tokio | std threads | tokio / green | threads / green |");
    println!("|---|---:|---:|---:|---:|---:|");
    let rows: [(&str, [f64; 3]); 3] = [
        (
            "spawn + join",
            [
                median_ns(r, 200_000, green_spawn_join),
                median_ns(r, 200_000, |n| tokio_spawn_join(&rt, n)),
                median_ns(r, 5_000, thread_spawn_join),
            ],
        ),
        (
            "switch between two tasks",
            [
                median_ns(r, 1_000_000, green_switch),
                median_ns(r, 1_000_000, |n| tokio_switch(&rt, n)),
                median_ns(r, 50_000, thread_switch),
            ],
        ),
        (
            "queue ping-pong (round trip)",
            [
                median_ns(r, 200_000, green_queue_ping_pong),
                median_ns(r, 200_000, |n| tokio_queue_ping_pong(&rt, n)),
                median_ns(r, 50_000, thread_queue_ping_pong),
            ],
        ),
    ];
    for (name, [g, t, s]) in rows {
        println!(
            "| {name} | {g:.0} | {t:.0} | {s:.0} | {:.2}x | {:.1}x |",
            t / g,
            s / g
        );
    }
}
