//! The benchmark driver: runs each server in turn against the same load,
//! alternating them (A B A B ...), and prints medians and ratios.
//!
//! ```text
//! bash benches/run.sh http [--rounds 3] [--seconds 5]
//! ```
//!
//! Servers are pinned to CPU 0 with one worker thread and the load
//! generator to CPU 1 (with `taskset`, when there are two CPUs or more), so
//! the two do not fight over a core.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Options {
    rounds: usize,
    seconds: u64,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "http".into());
    let mut options = Options {
        rounds: 3,
        seconds: 5,
    };
    while let Some(flag) = args.next() {
        let value = args.next().and_then(|v| v.parse().ok());
        match (flag.as_str(), value) {
            ("--rounds", Some(v)) => options.rounds = v as usize,
            ("--seconds", Some(v)) => options.seconds = v,
            _ => usage(),
        }
    }
    match mode.as_str() {
        "http" => http(&options),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: bench http [--rounds N] [--seconds S]");
    std::process::exit(2);
}

/// A server binary from this package, started on a free port.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sibling(name: &str) -> PathBuf {
    let mut path = std::env::current_exe().expect("own path");
    path.set_file_name(name);
    path
}

fn pinning() -> bool {
    std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2
        && Command::new("taskset").arg("--version").output().is_ok()
}

/// A command pinned to `cpu` when pinning is possible.
fn pinned(cpu: usize, program: &str) -> Command {
    if pinning() {
        let mut command = Command::new("taskset");
        command.args(["-c", &cpu.to_string(), program]);
        command
    } else {
        Command::new(program)
    }
}

fn start_server(binary: &str) -> Server {
    let port = free_port();
    let path = sibling(binary);
    let mut child = pinned(0, path.to_str().expect("utf-8 path"))
        .args([port.to_string(), "1".into()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("the server announces itself");
    assert!(
        line.starts_with("Serving on"),
        "unexpected first line {line:?}"
    );
    Server { child, port }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// What one load run measured.
#[derive(Clone, Copy, Debug)]
struct Run {
    per_second: f64,
    p99_ms: f64,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    values[values.len() / 2]
}

fn wrk(port: u16, seconds: u64) -> Run {
    let out = pinned(1, "wrk")
        .args([
            "-t1",
            "-c64",
            &format!("-d{seconds}s"),
            "--latency",
            &format!("http://127.0.0.1:{port}/"),
        ])
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("wrk printed no {prefix:?}:\n{text}"))
    };
    Run {
        per_second: field("Requests/sec:").parse().expect("a number"),
        p99_ms: parse_wrk_time(&field("99%")),
    }
}

/// wrk prints times like `512.00us`, `1.20ms`, `2.01s`.
fn parse_wrk_time(text: &str) -> f64 {
    let (number, scale) = if let Some(v) = text.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = text.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = text.strip_suffix('s') {
        (v, 1000.0)
    } else {
        (text, 1.0)
    };
    number.parse::<f64>().expect("a time") * scale
}

fn http(options: &Options) {
    let contenders = [
        ("greenws", "greenws-server"),
        ("hyper", "hyper-hello"),
        ("may_minihttp", "minihttp-hello"),
    ];
    println!(
        "HTTP plaintext keep-alive: wrk -t1 -c64 -d{}s, {} rounds alternating, pinned: {}",
        options.seconds,
        options.rounds,
        pinning()
    );
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); contenders.len()];
    for round in 1..=options.rounds {
        for (i, (name, binary)) in contenders.iter().enumerate() {
            let server = start_server(binary);
            std::thread::sleep(Duration::from_millis(200));
            let run = wrk(server.port, options.seconds);
            eprintln!(
                "  round {round}: {name:>12} {:>10.0} req/s  p99 {:.2} ms",
                run.per_second, run.p99_ms
            );
            runs[i].push(run);
        }
    }
    let medians: Vec<(f64, f64)> = runs
        .iter()
        .map(|r| {
            (
                median(r.iter().map(|x| x.per_second).collect()),
                median(r.iter().map(|x| x.p99_ms).collect()),
            )
        })
        .collect();
    println!("\n| server | req/s (median) | p99 latency | greenws / this |");
    println!("|---|---:|---:|---:|");
    for ((name, _), (rps, p99)) in contenders.iter().zip(&medians) {
        println!(
            "| {name} | {rps:.0} | {p99:.2} ms | {:.2}x |",
            medians[0].0 / rps
        );
    }
}
