//! Runs a binary of this crate (an example, built by `cargo test` before
//! the tests, or the demo) on a free port.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A running example; killed when dropped.
pub struct Example {
    child: Child,
    pub addr: SocketAddr,
}

impl Example {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`libc::SIGTERM`, ...) to the process.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill(2) on our own child's pid, which we have not reaped.
        assert_eq!(
            unsafe { libc::kill(pid, signal) },
            0,
            "kill({pid}, {signal})"
        );
    }

    /// Waits for the process to exit, up to `limit` (then panics, so that
    /// a process that never ends fails the test instead of hanging it).
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the process still runs after {limit:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of `target/<profile>/examples/<name>`.
pub fn example_path(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().expect("test binary path");
    dir.pop(); // the test binary
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("examples").join(name)
}

/// Starts example `name` (see [`start`]).
pub fn start_example(name: &str, args: &[&str]) -> Example {
    start(&example_path(name), args)
}

/// Starts the binary at `path` with `--port 0` and the extra arguments, and
/// reads the address from its first line, `Serving on http://HOST:PORT`
/// (or https).
pub fn start(path: &std::path::Path, args: &[&str]) -> Example {
    let mut command = Command::new(path);
    command
        .args(["--host", "127.0.0.1", "--port", "0"])
        .args(args);
    start_command(command)
}

/// Runs `command` (stdout piped, stderr to null) and reads its first line
/// (see [`first_line`]), which must give a TCP address.
pub fn start_command(command: Command) -> Example {
    let (child, first) = first_line(command);
    let addr = first
        .trim()
        .strip_prefix("Serving on ")
        .and_then(|url| url.split_once("://"))
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .1
        .parse()
        .expect("an address");
    Example { child, addr }
}

/// Runs `command` with stdout piped and stderr to null, and reads the
/// first line it prints (`Serving on ...`).
pub fn first_line(mut command: Command) -> (Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {command:?}: {e} (examples are built by a plain `cargo test`; \
                 with a --test filter, run `cargo build --examples` first)"
            )
        });
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .expect("the program prints its address");
    (child, first)
}

impl Example {
    /// Wraps a child started by [`first_line`] and the address it serves.
    pub fn from_child(child: Child, addr: SocketAddr) -> Example {
        Example { child, addr }
    }
}
