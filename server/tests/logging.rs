//! The examples' logging (`greenws::logging`) never blocks the server: with
//! stderr on a pipe that nobody reads, requests are still served, the
//! access lines that do not fit are dropped and counted, and one line says
//! how many once stderr drains.

#[path = "support/example.rs"]
mod example;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const REQUESTS: usize = 10_000;
const CONNECTIONS: usize = 4;

/// Sends `count` keep-alive requests on one connection; gives how many got
/// a 200. Each access line is about 300 bytes (the query pads it), so the
/// log outgrows the pipe and the logger's buffer many times over.
fn requests(addr: SocketAddr, count: usize) -> usize {
    let stream = TcpStream::connect(addr).expect("connect");
    // Only to fail instead of hanging when the server is stuck.
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let pad = "p".repeat(240);
    let mut ok = 0;
    for i in 0..count {
        let request = format!("GET /?{pad}{i} HTTP/1.1\r\nHost: x\r\n\r\n");
        writer.write_all(request.as_bytes()).expect("send");
        let mut status = String::new();
        if reader.read_line(&mut status).unwrap_or(0) == 0 {
            break;
        }
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("a header line");
            let line = line.trim_end().to_ascii_lowercase();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("content-length:") {
                length = v.trim().parse().expect("a length");
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("the body");
        ok += usize::from(status.starts_with("HTTP/1.1 200"));
    }
    ok
}

/// Kills the example when the test ends, passed or failed.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the hello example with `RUST_LOG` set to `rust_log` (unset for
/// `None`: the access log is on), stdout and stderr piped; gives it and
/// the address from its first line.
fn start_hello(rust_log: Option<&str>) -> (Running, SocketAddr) {
    let mut command = Command::new(example::example_path("hello"));
    command.args(["--host", "127.0.0.1", "--port", "0"]);
    match rust_log {
        Some(filter) => command.env("RUST_LOG", filter),
        None => command.env_remove("RUST_LOG"),
    };
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the hello example (built by `cargo test`)");
    let mut child = Running(child);
    let mut first = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut first)
        .expect("the address line");
    let addr: SocketAddr = first
        .trim()
        .strip_prefix("Serving on http://")
        .expect("Serving on http://HOST:PORT")
        .parse()
        .expect("an address");
    (child, addr)
}

#[test]
fn a_stderr_nobody_reads_never_stops_the_server() {
    let (mut child, addr) = start_hello(None);
    // Held, never read while the requests run.
    let stderr = child.0.stderr.take().unwrap();

    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|_| std::thread::spawn(move || requests(addr, REQUESTS / CONNECTIONS)))
        .collect();
    let served: usize = clients
        .into_iter()
        .map(|c| c.join().expect("a client got every answer in time"))
        .sum();
    assert_eq!(served, REQUESTS, "every request was answered");

    // Now read stderr: what was kept, then the report of what was dropped.
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if lines_tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let mut access_lines = 0;
    let dropped = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("the report of dropped lines");
        if line.contains("\"GET /?") {
            access_lines += 1;
        } else if let Some(rest) = line.split_once("greenws::logging] ") {
            let count = rest.1.split(' ').next().unwrap();
            break count.parse::<usize>().expect("a count of dropped lines");
        }
    };
    drop(child);

    assert!(dropped > 0, "stderr was stuck: some lines had to go");
    assert_eq!(
        access_lines + dropped,
        REQUESTS,
        "every access line was written or counted as dropped"
    );
}

/// Sends one request and reads its status line and headers (the bodies here
/// are small and come with the head).
fn status_of(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.lines().next().unwrap_or_default().to_string()
}

/// `RUST_LOG`'s `/pattern` keeps only the lines whose message matches it,
/// access lines included.
#[test]
fn a_rust_log_pattern_filters_access_lines() {
    let (mut child, addr) = start_hello(Some("greenws::access=info/ 404 "));
    assert!(status_of(addr, "/").contains(" 200 "));
    assert!(status_of(addr, "/no-such-page").contains(" 404 "));
    // SIGTERM: the graceful stop, then the logger's guard writes out the rest.
    // SAFETY: kill(2) on our own child's pid, which we have not reaped.
    unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGTERM) };
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let access: Vec<&str> = stderr.lines().filter(|l| l.contains("\"GET ")).collect();
    assert_eq!(access.len(), 1, "{stderr}");
    assert!(
        access[0].contains("\"GET /no-such-page HTTP/1.1\" 404 "),
        "{stderr}"
    );
}
