//! A short, honest tour of the runtime: what `cargo run --release` shows
//! until the plot demo takes its place.

use std::time::{Duration, Instant};

fn main() {
    let config = green::Config::current();
    println!(
        "green runtime: {} worker thread(s), {} KiB coroutine stacks",
        config.workers,
        config.stack_size / 1024
    );

    // 1. Ten thousand greenlets sleep 200 ms each, all at once.
    let start = Instant::now();
    let sleepers: Vec<_> = (0..10_000)
        .map(|_| green::spawn(|| green::sleep(Duration::from_millis(200))))
        .collect();
    let finished = green::join_all(&sleepers, None).len();
    println!(
        "{finished} greenlets slept 200 ms each in {:.0} ms of wall time",
        start.elapsed().as_secs_f64() * 1000.0
    );

    // 2. A three-stage pipeline over bounded queues.
    let (numbers, squares) = (green::Queue::bounded(64), green::Queue::bounded(64));
    let start = Instant::now();
    let count = 1_000_000u64;
    let producer = {
        let numbers = numbers.clone();
        green::spawn(move || {
            for n in 1..=count {
                numbers.put(Some(n));
            }
            numbers.put(None);
        })
    };
    let squarer = {
        let squares = squares.clone();
        green::spawn(move || {
            while let Some(n) = numbers.get() {
                squares.put(Some(n * n % 1_000_003));
            }
            squares.put(None);
        })
    };
    let summer = green::spawn(move || {
        let mut sum = 0u64;
        while let Some(sq) = squares.get() {
            sum += sq;
        }
        sum
    });
    let sum = summer.join().expect("the summing greenlet finishes");
    producer.join().expect("the producer finishes");
    squarer.join().expect("the squarer finishes");
    let took = start.elapsed();
    println!(
        "pipeline: {count} items through 2 bounded queues in {:.0} ms ({:.0} ns per item), checksum {sum}",
        took.as_secs_f64() * 1000.0,
        took.as_nanos() as f64 / count as f64
    );

    // 3. A timeout interrupts a blocked greenlet.
    let silent = green::Queue::<u8>::unbounded();
    let start = Instant::now();
    let waited = green::with_timeout(Duration::from_millis(100), || silent.get());
    println!(
        "with_timeout(100 ms) interrupted a blocked Queue::get after {:.0} ms: {}",
        start.elapsed().as_secs_f64() * 1000.0,
        waited
            .map(|_| "no".to_string())
            .unwrap_or_else(|e| e.to_string())
    );
}
