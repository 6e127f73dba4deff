//! The servers' `--workers N` flag (examples/common): it sets the number of
//! worker threads, and a count of 0 is refused with a usage error.

#[path = "support/example.rs"]
mod example;
#[path = "support/ws.rs"]
mod ws;

/// Threads of a running process that bear its own name: the main thread,
/// may's timer thread and the workers (the others are named: `ctrl-c`,
/// `greenws-log`, and `may-watchdog` with more than one worker).
fn unnamed_threads(example: &example::Example) -> usize {
    let pid = example.pid();
    let comm = |path: std::path::PathBuf| std::fs::read_to_string(path).unwrap_or_default();
    let own = comm(format!("/proc/{pid}/comm").into());
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("the process's threads")
        .flatten()
        .filter(|task| comm(task.path().join("comm")) == own)
        .count()
}

/// Starts the echo example with `--workers N`, checks that it echoes, and
/// gives its thread count.
fn threads_with_workers(workers: &str) -> usize {
    let echo = example::start_example("echo", &["--workers", workers]);
    let mut client = ws::connect(echo.addr, "/echo");
    client.send(tungstenite::Message::text("hi")).unwrap();
    assert_eq!(client.read().unwrap(), tungstenite::Message::text("hi"));
    unnamed_threads(&echo)
}

#[test]
fn workers_sets_the_number_of_worker_threads() {
    assert_eq!(threads_with_workers("3") - threads_with_workers("1"), 2);
}

#[test]
fn zero_workers_is_a_usage_error() {
    let output = std::process::Command::new(example::example_path("echo"))
        .args(["--port", "0", "--workers", "0"])
        .output()
        .expect("the echo example runs");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--workers"), "{stderr}");
}
