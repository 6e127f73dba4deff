//! Measurements behind the defaults, as ignored tests (numbers, not
//! assertions). Run them alone, in release mode:
//!
//! ```text
//! cargo test --release -p greenws --lib deflate::measure -- --ignored --nocapture --test-threads=1
//! ```

use super::samples::{chat_json, market_json, plot_line, Rng};
use super::*;

/// Heap bytes in use (glibc's count over all arenas, mmapped blocks
/// included) and resident bytes of the process.
fn memory() -> (usize, usize) {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    let info = unsafe { libc::mallinfo2() };
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let resident_pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    (info.uordblks + info.hblkhd, resident_pages * page)
}

/// CPU time of the calling thread, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write to.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

const CHROMIUM: &str = "permessage-deflate; client_max_window_bits";
const FIREFOX: &str = "permessage-deflate";

/// The settings compared by [`idle_memory_per_connection`].
fn memory_settings() -> Vec<(&'static str, DeflateConfig, &'static str)> {
    vec![
        ("default", DeflateConfig::default(), CHROMIUM),
        ("default", DeflateConfig::default(), FIREFOX),
        (
            "no context either way",
            DeflateConfig::default().decompress_context(ContextTakeover::Off),
            CHROMIUM,
        ),
        (
            "retained 12 bits both ways",
            DeflateConfig::default()
                .compress_context(ContextTakeover::Retained)
                .compress_window_bits(12),
            CHROMIUM,
        ),
        (
            "retained, client window 15",
            DeflateConfig::default().decompress_window_bits(15),
            CHROMIUM,
        ),
        (
            "dedicated decompressor",
            DeflateConfig::default().decompress_context(ContextTakeover::Dedicated),
            CHROMIUM,
        ),
        (
            "dedicated compressor",
            DeflateConfig::default().compress_context(ContextTakeover::Dedicated),
            CHROMIUM,
        ),
        (
            "prefer_ratio",
            DeflateConfig::default().prefer_ratio(),
            CHROMIUM,
        ),
    ]
}

const SETTING_VAR: &str = "GREENWS_DEFLATE_MEMORY_SETTING";

/// Per idle connection: the server's codec state after ten 4 KiB JSON
/// messages each way (enough to fill a 32 KiB history), for 10 000
/// connections; each setting in a process of its own, so that memory
/// freed by one does not hide the resident growth of the next.
#[test]
#[ignore = "a measurement; run alone in release mode"]
fn idle_memory_per_connection() {
    println!("per idle connection, 10 000 connections, ten 4 KiB JSON messages each way;");
    println!(
        "plus the Deflater ({} bytes) and Inflater ({} bytes) where the connection keeps them:",
        std::mem::size_of::<Deflater>(),
        std::mem::size_of::<Inflater>()
    );
    println!(
        "{:<28} {:<44} {:>10} {:>10}",
        "setting", "offer", "heap", "resident"
    );
    for index in 0..memory_settings().len() {
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "websocket::deflate::measure::idle_memory_of_one_setting",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(SETTING_VAR, index.to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&child.stdout);
        // The test harness may print its own words before ours on a line.
        for (_, line) in stdout
            .lines()
            .filter_map(|line| line.split_once("measured: "))
        {
            println!("{line}");
        }
        assert!(child.status.success(), "{stdout}");
    }
}

/// One line of [`idle_memory_per_connection`]; does nothing unless that
/// test started it.
#[test]
#[ignore = "run by idle_memory_per_connection"]
fn idle_memory_of_one_setting() {
    const CONNECTIONS: usize = 10_000;
    const MESSAGES: u64 = 10;
    let Ok(index) = std::env::var(SETTING_VAR) else {
        return;
    };
    let (name, config, offer) = memory_settings().swap_remove(index.parse().unwrap());
    let agreement = negotiate_as_server(&config, [offer.as_bytes()]).unwrap();
    let mut rng = Rng::new(1);
    let sent: Vec<Vec<u8>> = (0..MESSAGES)
        .map(|seq| market_json(seq, &mut rng))
        .collect();
    let received: Vec<Vec<u8>> = (0..MESSAGES)
        .map(|seq| market_json(seq, &mut rng))
        .collect();
    // What a client sends under this agreement.
    let mut client = Deflater::new(agreement.incoming, &DeflateConfig::default().threshold(0));
    let payloads: Vec<Vec<u8>> = received
        .iter()
        .map(|message| client.compress(message).unwrap().unwrap())
        .collect();
    // Warm the per-thread compressor pool and the allocator.
    Deflater::new(agreement.outgoing, &config)
        .compress(&sent[0])
        .unwrap();

    let mut connections = Vec::with_capacity(CONNECTIONS);
    let before = memory();
    for _ in 0..CONNECTIONS {
        let mut deflater = Deflater::new(agreement.outgoing, &config);
        let mut inflater = Inflater::new(agreement.incoming);
        for (message, payload) in sent.iter().zip(&payloads) {
            assert!(deflater.compress(message).unwrap().is_some());
            let mut out = Vec::new();
            inflater.decompress(payload, &mut out, 1 << 20).unwrap();
            inflater.finish_message(&mut out, 1 << 20).unwrap();
        }
        connections.push((deflater, inflater));
    }
    let after = memory();
    let per = |a: usize, b: usize| (b as f64 - a as f64) / CONNECTIONS as f64 / 1024.0;
    println!(
        "measured: {name:<28} {offer:<44} {:>6.2} KiB {:>6.2} KiB",
        per(before.0, after.0),
        per(before.1, after.1)
    );
    println!(
        "measured: {:<28} answer: {}",
        "",
        agreement.response_header()
    );
    drop(connections);
}

/// Bytes on the wire and CPU per message, compressing and decompressing,
/// for the workloads of issue 14: 4 KiB market-data JSON whose values
/// change, the plot demo's lines, and chat messages.
#[test]
#[ignore = "a measurement; run alone in release mode"]
fn bytes_and_cpu_per_message() {
    const MESSAGES: u64 = 2000;
    const ROUNDS: usize = 5;
    type Sample = fn(u64, &mut Rng) -> Vec<u8>;
    let workloads: [(&str, Sample); 3] = [
        ("market JSON 4 KiB", market_json),
        ("plot line", plot_line),
        ("chat JSON", chat_json),
    ];
    let mut settings = Vec::new();
    for level in [1, 2, 3, 4, 6, 9] {
        settings.push((
            format!("off, level {level}"),
            ContextTakeover::Off,
            15,
            level,
        ));
    }
    for (bits, level) in [
        (9, 6),
        (10, 3),
        (10, 6),
        (11, 6),
        (12, 1),
        (12, 2),
        (12, 3),
        (12, 6),
        (15, 3),
        (15, 6),
    ] {
        settings.push((
            format!("retained {bits}, level {level}"),
            ContextTakeover::Retained,
            bits,
            level,
        ));
    }
    for level in [1, 2, 3, 6] {
        settings.push((
            format!("dedicated 15, level {level}"),
            ContextTakeover::Dedicated,
            15,
            level,
        ));
    }
    for (workload, sample) in workloads {
        let mut rng = Rng::new(42);
        let messages: Vec<Vec<u8>> = (0..MESSAGES).map(|seq| sample(seq, &mut rng)).collect();
        let raw: usize = messages.iter().map(Vec::len).sum();
        println!(
            "\n{workload}: {MESSAGES} messages, {} bytes on average; median of {ROUNDS} rounds, settings alternated",
            raw / MESSAGES as usize
        );
        println!(
            "{:<24} {:>8} {:>14} {:>14}",
            "setting", "wire", "compress", "decompress"
        );
        let mut results = vec![(0usize, Vec::new(), Vec::new()); settings.len()];
        for _ in 0..ROUNDS {
            for ((_, context, bits, level), result) in settings.iter().zip(&mut results) {
                let direction = Direction {
                    window_bits: *bits,
                    context: *context,
                };
                let config = DeflateConfig::default().threshold(0).level(*level);
                let mut deflater = Deflater::new(direction, &config);
                let start = thread_cpu_ns();
                let payloads: Vec<Option<Vec<u8>>> = messages
                    .iter()
                    .map(|m| deflater.compress(m).unwrap())
                    .collect();
                let compress_ns = thread_cpu_ns() - start;
                let mut inflater = Inflater::new(direction);
                let mut out = Vec::new();
                let start = thread_cpu_ns();
                for payload in payloads.iter().flatten() {
                    out.clear();
                    inflater.decompress(payload, &mut out, 1 << 20).unwrap();
                    inflater.finish_message(&mut out, 1 << 20).unwrap();
                }
                let decompress_ns = thread_cpu_ns() - start;
                result.0 = messages
                    .iter()
                    .zip(&payloads)
                    .map(|(m, p)| p.as_ref().map_or(m.len(), Vec::len))
                    .sum();
                result.1.push(compress_ns as f64 / MESSAGES as f64 / 1000.0);
                result
                    .2
                    .push(decompress_ns as f64 / MESSAGES as f64 / 1000.0);
            }
        }
        for ((name, ..), (wire, compress, decompress)) in settings.iter().zip(&mut results) {
            let median = |values: &mut Vec<f64>| {
                values.sort_by(f64::total_cmp);
                values[values.len() / 2]
            };
            let spread = |values: &Vec<f64>| values[values.len() - 1] / values[0];
            let (c, d) = (median(compress), median(decompress));
            println!(
                "{name:<24} {:>7.1}% {c:>8.2} us x{:.2} {d:>8.2} us x{:.2}",
                100.0 * *wire as f64 / raw as f64,
                spread(compress),
                spread(decompress),
            );
        }
    }
}

/// Where compressing a message on its own starts to pay: wire bytes by
/// message size, no context, level 3.
#[test]
#[ignore = "a measurement; run alone in release mode"]
fn threshold() {
    let mut rng = Rng::new(9);
    let chats: Vec<Vec<u8>> = (0..5000).map(|seq| chat_json(seq, &mut rng)).collect();
    let markets: Vec<Vec<u8>> = (0..200).map(|seq| market_json(seq, &mut rng)).collect();
    let config = DeflateConfig::default().threshold(0);
    let mut deflater = Deflater::new(
        Direction {
            window_bits: 15,
            context: ContextTakeover::Off,
        },
        &config,
    );
    println!("size class: messages, wire bytes with compression / without, CPU per message");
    for (low, high) in [
        (0, 64),
        (64, 128),
        (128, 256),
        (256, 512),
        (512, 1024),
        (1024, 4096),
    ] {
        let mut sample: Vec<&[u8]> = Vec::new();
        for chat in &chats {
            if (low..high).contains(&chat.len()) {
                sample.push(chat);
            }
        }
        // Longer messages: prefixes of the market data.
        if sample.is_empty() {
            sample.extend(markets.iter().map(|m| &m[..high.min(m.len()) - 1]));
        }
        let raw: usize = sample.iter().map(|m| m.len()).sum();
        let start = thread_cpu_ns();
        let wire: usize = sample
            .iter()
            .map(|m| deflater.compress(m).unwrap().map_or(m.len(), |c| c.len()))
            .sum();
        let ns = thread_cpu_ns() - start;
        println!(
            "{low:>5}..{high:<5} {:>5} {:>6.1}% {:>7.2} us",
            sample.len(),
            100.0 * wire as f64 / raw as f64,
            ns as f64 / sample.len() as f64 / 1000.0
        );
    }
}

/// Stack pages a greenlet keeps resident after compressing and
/// decompressing a 4 KiB JSON message, and after `green::trim_stack`. On
/// the greenlet's own stack the codec left about 8 KiB resident; on the
/// thread's scratch stack (`scratch_stack.rs`) it leaves none.
#[test]
#[ignore = "a measurement; run alone in release mode"]
fn greenlet_stack_pages_touched() {
    const GREENLETS: usize = 2000;
    let config = DeflateConfig::default();
    let agreement = negotiate_as_server(&config, [CHROMIUM.as_bytes()]).unwrap();
    let mut rng = Rng::new(5);
    let message = std::sync::Arc::new(market_json(0, &mut rng));
    let payload = std::sync::Arc::new(
        Deflater::new(agreement.incoming, &config.clone().threshold(0))
            .compress(&message)
            .unwrap()
            .unwrap(),
    );
    let run = |work: bool, trim: bool| {
        let release = std::sync::Arc::new(green::Event::new());
        let ready = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let before = memory().1;
        let greenlets: Vec<_> = (0..GREENLETS)
            .map(|_| {
                let (release, ready) = (release.clone(), ready.clone());
                let (message, payload, config) = (message.clone(), payload.clone(), config.clone());
                green::spawn(move || {
                    if work {
                        let mut deflater = Deflater::new(agreement.outgoing, &config);
                        assert!(deflater.compress(&message).unwrap().is_some());
                        let mut inflater = Inflater::new(agreement.incoming);
                        let mut out = Vec::new();
                        inflater.decompress(&payload, &mut out, 1 << 20).unwrap();
                        inflater.finish_message(&mut out, 1 << 20).unwrap();
                    }
                    if trim {
                        green::trim_stack();
                    }
                    ready.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    release.wait();
                })
            })
            .collect();
        while ready.load(std::sync::atomic::Ordering::SeqCst) < GREENLETS {
            std::thread::yield_now();
        }
        let after = memory().1;
        release.set();
        for greenlet in greenlets {
            greenlet.join().unwrap();
        }
        (after as f64 - before as f64) / GREENLETS as f64 / 1024.0
    };
    run(true, false); // warm the compressor pools of every worker thread
    for round in 0..3 {
        let idle = run(false, false);
        let worked = run(true, false);
        let trimmed = run(true, true);
        println!(
            "round {round}: resident per greenlet: idle {idle:.2} KiB, after the codec {worked:.2} KiB, after the codec and trim_stack {trimmed:.2} KiB"
        );
    }
}
