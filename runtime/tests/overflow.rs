//! A greenlet that overflows its stack ends the process with a message on
//! stderr, rather than vanishing with its locks held while `join` waits
//! for ever. Run in a child process (this test binary again).

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Set in the child process, which then overflows a greenlet's stack.
const CHILD: &str = "GREEN_TEST_OVERFLOW_CHILD";
/// Set in the child process to fill its stderr (a pipe nobody reads)
/// before the overflow.
const STALLED_STDERR: &str = "GREEN_TEST_OVERFLOW_STALLED_STDERR";

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

/// Fills stderr (a pipe) until a write would block, as a log collector
/// that stopped reading leaves it.
fn fill_stderr() {
    // Safety: fcntl and write on the process's own stderr descriptor.
    unsafe {
        let flags = libc::fcntl(libc::STDERR_FILENO, libc::F_GETFL);
        libc::fcntl(libc::STDERR_FILENO, libc::F_SETFL, flags | libc::O_NONBLOCK);
        let block = [b'.'; 4096];
        while libc::write(libc::STDERR_FILENO, block.as_ptr().cast(), block.len()) > 0 {}
        libc::fcntl(libc::STDERR_FILENO, libc::F_SETFL, flags);
    }
}

fn overflow_a_greenlet() {
    if std::env::var_os(STALLED_STDERR).is_some() {
        fill_stderr();
    }
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
    let mut child = overflow_in_a_child(
        "a_greenlet_stack_overflow_ends_the_process_with_a_message",
        false,
    );
    let status = wait_for_the_end(&mut child);
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

/// Runs this test binary again, as the child that overflows (the test
/// `name` in it), with stdout and stderr on pipes.
fn overflow_in_a_child(name: &str, stalled_stderr: bool) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", name, "--nocapture"])
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if stalled_stderr {
        command.env(STALLED_STDERR, "1");
    }
    command.spawn().unwrap()
}

/// Waits for the child to end; fails if it still runs after `BOUND`.
fn wait_for_the_end(child: &mut Child) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > BOUND {
            child.kill().unwrap();
            panic!("the process still runs {BOUND:?} after the overflow");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_stack_overflow_ends_the_process_even_when_stderr_is_stalled() {
    if std::env::var_os(CHILD).is_some() {
        return overflow_a_greenlet();
    }
    // The child fills its stderr, a pipe this process does not read until
    // the child ended: the message cannot be written, the abort must
    // happen all the same.
    let mut child = overflow_in_a_child(
        "a_stack_overflow_ends_the_process_even_when_stderr_is_stalled",
        true,
    );
    let status = wait_for_the_end(&mut child);
    assert_eq!(status.signal(), Some(libc::SIGABRT), "{status:?}");
}
