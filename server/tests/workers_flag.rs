//! The servers' `--workers N` flag (examples/common): it sets the number of
//! worker threads, and a count out of 1..=1024 is refused with a usage
//! error.

#[path = "support/example.rs"]
mod example;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The worker count the runtime was given, as may logs it when the settings
/// are applied (`set workers=N`, on stderr through the example's logger).
fn workers_applied(flag: &str) -> String {
    let mut child = Command::new(example::example_path("echo"))
        .args(["--host", "127.0.0.1", "--port", "0", "--workers", flag])
        .env("RUST_LOG", "warn,may::config=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the echo example runs");
    let stderr = child.stderr.take().expect("stderr");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let found = loop {
        // Generous: the logger writes within 50 ms.
        match received.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                if let Some((_, workers)) = line.split_once("set workers=") {
                    break Ok(workers.trim().to_string());
                }
            }
            Err(e) => break Err(e),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    found.expect("a `set workers=` line from may::config")
}

#[test]
fn workers_sets_the_number_of_worker_threads() {
    assert_eq!(workers_applied("1"), "1");
    assert_eq!(workers_applied("3"), "3");
}

#[test]
fn a_worker_count_out_of_range_is_a_usage_error() {
    // 65535 workers would open two descriptors each and fail at start.
    for workers in ["0", "1025", "65535", "many"] {
        let output = Command::new(example::example_path("echo"))
            .args(["--port", "0", "--workers", workers])
            .output()
            .expect("the echo example runs");
        assert_eq!(output.status.code(), Some(2), "{workers}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--workers"), "{workers}: {stderr}");
    }
}
