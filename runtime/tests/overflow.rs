//! A greenlet that overflows its stack ends the process with a message on
//! stderr, rather than vanishing with its locks held while `join` waits
//! for ever. Run in a child process (this test binary again).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the child process, which then overflows a greenlet's stack.
const CHILD: &str = "GREEN_TEST_OVERFLOW_CHILD";

/// How long the child may take to end: far more than it needs.
const BOUND: Duration = Duration::from_secs(60);

fn recurse(n: u64) -> u64 {
    let frame = [n as u8; 512];
    std::hint::black_box(&frame);
    if n == 0 {
        0
    } else {
        1 + recurse(n - 1) + u64::from(frame[7])
    }
}

fn overflow_a_greenlet() {
    let lock = std::sync::Arc::new(green::sync::Mutex::new(()));
    let held = lock.clone();
    let deep = green::spawn(move || {
        let _guard = held.lock();
        recurse(10_000_000)
    });
    let outcome = deep.join();
    // Never reached: the process ends during the join.
    println!(
        "join returned {outcome:?}; lock free: {}",
        lock.try_lock().is_some()
    );
}

#[test]
fn a_greenlet_stack_overflow_ends_the_process_with_a_message() {
    if std::env::var_os(CHILD).is_some() {
        return overflow_a_greenlet();
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_greenlet_stack_overflow_ends_the_process_with_a_message",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > BOUND {
            child.kill().unwrap();
            panic!("the process still runs {BOUND:?} after the overflow");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "{status:?}");
    assert!(
        stderr.contains("green: stack overflow") && stderr.contains("Builder::stack_size"),
        "stderr: {stderr}"
    );
    assert!(!stdout.contains("join returned"), "stdout: {stdout}");
}
