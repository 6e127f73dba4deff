//! Running one load against one freshly started server: starting and
//! stopping servers (pinned and checked, per setup), running the load
//! generator or wrk, and turning what they report into a [`Sample`] whose
//! errors are kept, never dropped.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use benches::affinity::{allowed_cpus, pin_to_cpu};
use benches::process_stats::cpu_nanos;
use benches::report_line::Report;

use crate::contenders::{Contender, Program};
use crate::setup::Setup;
use crate::workloads::{Load, Scale};

/// One run of one contender: what the load reported, and every reason the
/// run does not count.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub report: Report,
    /// Why the run is invalid as a whole (empty: valid).
    pub errors: Vec<String>,
}

impl Sample {
    fn failed(why: String) -> Sample {
        Sample {
            report: Report::default(),
            errors: vec![why],
        }
    }

    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// Adds an error for every listed count above 0; `errors`, if listed,
    /// stands for what the other listed counts do not explain.
    fn errors_from(&mut self, keys: &[&str]) {
        let mut explained = 0.0;
        for key in keys.iter().filter(|k| **k != "errors") {
            if let Some(n) = self.report.get(key).filter(|n| *n > 0.0) {
                explained += n;
                self.errors.push(format!("{n} {}", key.replace('_', " ")));
            }
        }
        if keys.contains(&"errors") {
            let rest = self.report.get("errors").unwrap_or(0.0) - explained;
            if rest > 0.0 {
                let why = self.report.text_of("why").unwrap_or("errors");
                self.errors
                    .push(format!("{rest} {}", why.replace('_', " ")));
            }
        }
    }
}

/// What every run shares: where the programs are, a scratch directory, the
/// TLS files, and the record of pinning checks.
pub struct Bench {
    pub bin_dir: PathBuf,
    pub scratch: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub gevent_python: Option<String>,
    pub pinning: RefCell<PinningRecord>,
    starts: RefCell<u64>,
}

/// Every pinning check made, per setup.
#[derive(Debug, Default)]
pub struct PinningRecord {
    pub checked: Vec<(Setup, String)>,
    pub failures: Vec<(Setup, String)>,
}

impl PinningRecord {
    /// A line on how processes were placed in `setup`, from the checks.
    pub fn describe(&self, setup: Setup) -> String {
        let failures: Vec<&str> = self
            .failures
            .iter()
            .filter(|(s, _)| *s == setup)
            .map(|(_, f)| f.as_str())
            .collect();
        let checked = self.checked.iter().filter(|(s, _)| *s == setup).count();
        match (setup.server_cpu(), setup.load_cpu()) {
            (Some(server), Some(load)) if failures.is_empty() && checked > 0 => format!(
                "Pinned: servers on CPU {server}, load on CPU {load}; `Cpus_allowed_list` read back \
                 from /proc for all {checked} processes started."
            ),
            (Some(_), Some(_)) => format!(
                "NOT pinned as intended ({} of {checked} checks failed, first: {}).",
                failures.len(),
                failures.first().copied().unwrap_or("no process was checked")
            ),
            _ if setup == Setup::Isolated => {
                "NOT pinned: fewer than 2 CPUs, so servers and load share them.".into()
            }
            _ => "Unpinned: every process may run on every CPU.".into(),
        }
    }
}

impl Bench {
    pub fn new(scratch: PathBuf, gevent_python: Option<String>) -> Bench {
        let mut bin_dir = std::env::current_exe().expect("own path");
        bin_dir.pop();
        std::fs::create_dir_all(&scratch).expect("a scratch directory");
        let generated =
            rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("a certificate");
        let (cert, key) = (scratch.join("cert.pem"), scratch.join("key.pem"));
        std::fs::write(&cert, generated.cert.pem()).expect("write the certificate");
        std::fs::write(&key, generated.signing_key.serialize_pem()).expect("write the key");
        Bench {
            bin_dir,
            scratch,
            cert,
            key,
            gevent_python,
            pinning: RefCell::default(),
            starts: RefCell::new(0),
        }
    }

    /// Pins `command` as `setup` wants (if at all); call [`Bench::check_pin`]
    /// on the started process.
    fn place(&self, command: &mut Command, cpu: Option<usize>) {
        if let Some(cpu) = cpu {
            pin_to_cpu(command, cpu);
        }
    }

    /// Reads back where process `pid` may run and records whether that is
    /// `cpu` alone.
    fn check_pin(&self, setup: Setup, what: &str, pid: u32, cpu: Option<usize>) {
        let Some(cpu) = cpu else { return };
        let mut record = self.pinning.borrow_mut();
        match allowed_cpus(pid) {
            Ok(cpus) if cpus == [cpu] => record.checked.push((setup, what.to_string())),
            Ok(cpus) => {
                record.checked.push((setup, what.to_string()));
                record
                    .failures
                    .push((setup, format!("{what} may run on CPUs {cpus:?}")));
            }
            Err(e) => record
                .failures
                .push((setup, format!("{what}: affinity unreadable: {e}"))),
        }
    }

    /// Runs `contender` under `load` once, from a fresh start.
    pub fn measure(
        &self,
        contender: &Contender,
        setup: Setup,
        load: &Load,
        scale: &Scale,
        open_rates: &[f64],
    ) -> Sample {
        let tls = matches!(load, Load::Echo { tls: true, .. });
        let server = match self.start(contender, setup, tls) {
            Ok(server) => server,
            Err(why) => return Sample::failed(why),
        };
        // A loadgen mode with its flags; `errors_of` are the counts that
        // make the whole run invalid.
        let loadgen = |mode: &str, flags: &[(&str, String)], errors_of: &[&str]| {
            let mut args: Vec<String> = [mode, "--port", &server.port.to_string()]
                .map(String::from)
                .to_vec();
            args.extend(["--pid".into(), server.pid.to_string()]);
            for (flag, value) in flags {
                args.extend([flag.to_string(), value.clone()]);
            }
            let mut sample = self.loadgen(setup, &args);
            sample.errors_from(errors_of);
            sample
        };
        let mut sample = match load {
            Load::Wrk { connections, path } => {
                self.wrk(setup, &server, *connections, scale.seconds, path)
            }
            Load::Echo {
                size,
                connections,
                tls,
            } => {
                let mut flags = vec![
                    ("--size", size.to_string()),
                    ("--connections", connections.to_string()),
                    ("--seconds", scale.seconds.to_string()),
                ];
                if *tls {
                    flags.push(("--ca", self.cert.to_string_lossy().into_owned()));
                }
                loadgen(
                    "echo",
                    &flags,
                    &["failed_connections", "lost", "mismatched"],
                )
            }
            Load::OpenLoop {
                protocol,
                connections,
                ..
            } => {
                let rates: Vec<String> = open_rates.iter().map(|r| format!("{r:.0}")).collect();
                let flags = [
                    ("--protocol", protocol.to_string()),
                    ("--connections", connections.to_string()),
                    ("--rates", rates.join(",")),
                    ("--seconds", scale.open_seconds.to_string()),
                    (
                        "--drain-seconds",
                        if scale.quick { "1" } else { "2" }.into(),
                    ),
                ];
                // Errors at one rate invalidate that rate's rows only.
                loadgen("open", &flags, &["failed_connections"])
            }
            Load::Fanout { subscribers } => {
                let flags = [
                    ("--subscribers", subscribers.to_string()),
                    ("--step-seconds", scale.step_seconds.to_string()),
                    ("--factor", scale.step_factor.to_string()),
                    ("--refinements", scale.refinements.to_string()),
                    (
                        "--drain-seconds",
                        if scale.quick { "0.5" } else { "1" }.into(),
                    ),
                ];
                loadgen("fanout", &flags, &["failed_connections", "errors"])
            }
            Load::Idle { connections } => loadgen(
                "idle",
                &[("--connections", connections.to_string())],
                &["failed_connections", "probe_errors", "errors"],
            ),
        };
        let end = server.stop();
        if let Some(why) = end.died {
            sample.errors.push(why);
        }
        if let Some(lines) = end.log_lines {
            sample.report.number("log_lines", lines as f64);
        }
        sample
    }

    /// Starts a contender on a free port and waits for its `Serving on`.
    pub fn start(&self, contender: &Contender, setup: Setup, tls: bool) -> Result<Server, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("no free port: {e}"))?;
        let mut command = match contender.program {
            Program::Bin(name) => Command::new(self.bin_dir.join(name)),
            Program::Gevent => {
                let python = self
                    .gevent_python
                    .as_ref()
                    .ok_or("no gevent venv (benches/run.sh prepares it)")?;
                let mut command = Command::new(python);
                command.arg(workspace().join("benches/gevent_server.py"));
                command
            }
        };
        command.arg(port.to_string()).arg(setup.workers_arg());
        if tls {
            command.arg(&self.cert).arg(&self.key);
        }
        match contender.rust_log {
            Some(filter) => command.env("RUST_LOG", filter),
            None => command.env_remove("RUST_LOG"),
        };
        let n = {
            let mut starts = self.starts.borrow_mut();
            *starts += 1;
            *starts
        };
        let stderr_path = self.scratch.join(format!("server-{n}.stderr"));
        let stderr = std::fs::File::create(&stderr_path).map_err(|e| e.to_string())?;
        command.stdout(Stdio::piped()).stderr(stderr);
        self.place(&mut command, setup.server_cpu());
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", contender.name))?;
        self.check_pin(setup, contender.name, child.id(), setup.server_cpu());
        let stdout = child.stdout.take().expect("piped");
        let (lines, first_line) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = lines.send(line);
            // Keep the pipe drained for as long as the server lives.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let mut server = Server {
            child,
            port,
            pid: 0,
            stderr_path,
            count_log_lines: contender.rust_log.is_none()
                && contender.program == Program::Bin("greenws-server"),
        };
        server.pid = server.child.id();
        match first_line.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.starts_with("Serving on") => {}
            Ok(line) => {
                let tail = server.stderr_tail();
                return Err(format!(
                    "{} did not start: first line {line:?}; stderr: {tail}",
                    contender.name
                ));
            }
            Err(_) => {
                return Err(format!(
                    "{} did not announce itself in 20 s",
                    contender.name
                ))
            }
        }
        // Let worker threads come up before the load starts.
        std::thread::sleep(Duration::from_millis(100));
        Ok(server)
    }

    /// Runs the load generator (pinned per setup) and reads its result.
    pub fn loadgen(&self, setup: Setup, args: &[String]) -> Sample {
        self.loadgen_watching(setup, args, |_| {})
    }

    /// Like [`Bench::loadgen`], calling `on_line` with each line it prints
    /// while it runs.
    pub fn loadgen_watching(
        &self,
        setup: Setup,
        args: &[String],
        on_line: impl FnMut(&str),
    ) -> Sample {
        let mut command = Command::new(self.bin_dir.join("loadgen"));
        command.args(args);
        self.place(&mut command, setup.load_cpu());
        match run_captured(command, Duration::from_secs(900), on_line, |pid| {
            self.check_pin(setup, "loadgen", pid, setup.load_cpu())
        }) {
            Ok(out) => match Report::find(&out) {
                Some(report) => Sample {
                    report,
                    errors: Vec::new(),
                },
                None => Sample::failed(format!("loadgen printed no result: {out}")),
            },
            Err(why) => Sample::failed(why),
        }
    }

    /// Runs the runtime micro-benchmarks (`runtime.rs`) as the setup
    /// places a server: pinned to its CPU with one worker, or unpinned at
    /// the default worker count. Gives the table they print.
    pub fn runtime_table(&self, setup: Setup, quick: bool) -> String {
        eprintln!("== [{}] runtime micro-benchmarks", setup.name());
        let mut command = Command::new(self.bin_dir.join("runtime"));
        command.args(["--workers", setup.workers_arg()]);
        if quick {
            command.arg("--quick");
        }
        self.place(&mut command, setup.server_cpu());
        let run = run_captured(
            command,
            Duration::from_secs(600),
            |_| {},
            |pid| self.check_pin(setup, "runtime", pid, setup.server_cpu()),
        );
        run.unwrap_or_else(|why| format!("the runtime micro-benchmarks failed: {why}\n"))
    }

    /// wrk against `path`, and the server's CPU per request.
    fn wrk(
        &self,
        setup: Setup,
        server: &Server,
        connections: usize,
        seconds: f64,
        path: &str,
    ) -> Sample {
        let mut command = Command::new("wrk");
        command.args([
            "-t1".to_string(),
            format!("-c{connections}"),
            // wrk takes whole seconds.
            format!("-d{}s", seconds.ceil().max(1.0)),
            "--latency".to_string(),
            format!("http://127.0.0.1:{}{path}", server.port),
        ]);
        self.place(&mut command, setup.load_cpu());
        let cpu_before = cpu_nanos(server.pid).ok();
        let out = match run_captured(
            command,
            Duration::from_secs(600),
            |_| {},
            |pid| self.check_pin(setup, "wrk", pid, setup.load_cpu()),
        ) {
            Ok(out) => out,
            Err(why) => return Sample::failed(why),
        };
        let cpu_after = cpu_nanos(server.pid).ok();
        let mut sample = match parse_wrk(&out) {
            Ok(report) => Sample {
                report,
                errors: Vec::new(),
            },
            Err(why) => return Sample::failed(why),
        };
        if let (Some(a), Some(b), Some(requests)) =
            (cpu_before, cpu_after, sample.report.get("requests"))
        {
            sample.report.number(
                "cpu_us_per_req",
                (b - a) as f64 / 1000.0 / requests.max(1.0),
            );
        }
        sample.errors_from(&[
            "socket_errors_connect",
            "socket_errors_read",
            "socket_errors_write",
            "socket_errors_timeout",
            "non_2xx_or_3xx",
        ]);
        sample
    }
}

/// A running server; stop it with [`Server::stop`] (or it is killed when
/// dropped).
pub struct Server {
    child: Child,
    pub port: u16,
    pub pid: u32,
    stderr_path: PathBuf,
    count_log_lines: bool,
}

/// How a server's run ended.
pub struct ServerEnd {
    /// Set if the server was gone before it was stopped.
    pub died: Option<String>,
    /// Lines it wrote to stderr (its access log), for greenws as shipped.
    pub log_lines: Option<u64>,
}

impl Server {
    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }

    /// Stops the server; notes whether it had died on its own.
    pub fn stop(mut self) -> ServerEnd {
        let died = match self.child.try_wait() {
            Ok(Some(status)) => Some(format!(
                "the server exited during the run ({status}); stderr: {}",
                self.stderr_tail()
            )),
            _ => None,
        };
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log_lines = self.count_log_lines.then(|| count_lines(&self.stderr_path));
        ServerEnd { died, log_lines }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}

fn count_lines(path: &Path) -> u64 {
    let Ok(mut file) = std::fs::File::open(path) else {
        return 0;
    };
    let mut buf = vec![0u8; 1 << 16];
    let mut lines = 0u64;
    while let Ok(n) = file.read(&mut buf) {
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
    }
    lines
}

/// Runs `command`, giving `on_line` each stdout line as it comes and
/// `started` the pid; kills it after `timeout`. Gives all of stdout.
pub fn run_captured(
    mut command: Command,
    timeout: Duration,
    mut on_line: impl FnMut(&str),
    started: impl FnOnce(u32),
) -> Result<String, String> {
    let program = format!("{:?}", command.get_program());
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    started(child.id());
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + timeout;
    let mut out = String::new();
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                on_line(&line);
                out.push_str(&line);
                out.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{program} did not finish in {timeout:?}"));
            }
        }
    }
    match child.wait() {
        Ok(status) if status.success() => Ok(out),
        Ok(status) => Err(format!("{program} failed ({status}): {out}")),
        Err(e) => Err(format!("{program}: {e}")),
    }
}

/// Reads wrk's report: throughput, latency percentiles (with `--latency`),
/// request count, socket errors and non-2xx/3xx responses.
pub fn parse_wrk(text: &str) -> Result<Report, String> {
    let mut report = Report::default();
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_string()))
    };
    let requests_per_sec = field("Requests/sec:")
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| format!("wrk printed no Requests/sec:\n{text}"))?;
    report.number("req_per_sec", requests_per_sec);
    for (prefix, key) in [("50%", "p50_ms"), ("99%", "p99_ms")] {
        let value = field(prefix).ok_or_else(|| format!("wrk printed no {prefix} latency"))?;
        report.number(key, wrk_time_ms(&value));
    }
    let requests = text
        .lines()
        .find_map(|l| {
            let l = l.trim();
            l.contains(" requests in ")
                .then(|| l.split_whitespace().next()?.parse::<f64>().ok())?
        })
        .ok_or("wrk printed no request count")?;
    report.number("requests", requests);
    let mut errors = 0.0;
    if let Some(socket) = field("Socket errors:") {
        // "connect 0, read 0, write 0, timeout 0"
        for part in socket.split(',') {
            let mut words = part.split_whitespace();
            if let (Some(kind), Some(n)) = (words.next(), words.next()) {
                let n: f64 = n.parse().unwrap_or(0.0);
                errors += n;
                report.number(format!("socket_errors_{kind}"), n);
            }
        }
    }
    let non_2xx: f64 = field("Non-2xx or 3xx responses:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    report.number("non_2xx_or_3xx", non_2xx);
    report.number("errors", errors + non_2xx);
    Ok(report)
}

/// wrk prints times like `512.00us`, `1.20ms`, `2.01s`.
fn wrk_time_ms(text: &str) -> f64 {
    let (number, scale) = if let Some(v) = text.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = text.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = text.strip_suffix('m') {
        (v, 60_000.0)
    } else if let Some(v) = text.strip_suffix('s') {
        (v, 1000.0)
    } else {
        (text, f64::NAN)
    };
    number.parse::<f64>().unwrap_or(f64::NAN) * scale
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK_WITH_ERRORS: &str = "Running 1s test @ http://127.0.0.1:8000/test
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   412.00us  100.00us   3.00ms   90.00%
    Req/Sec   150.00k     5.00k  160.00k    80.00%
  Latency Distribution
     50%  385.00us
     75%  450.00us
     90%  600.00us
     99%    1.20ms
  150123 requests in 1.00s, 20.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec: 150000.50
Transfer/sec:     20.00MB
";

    #[test]
    fn wrk_reports_are_read_with_their_errors() {
        let r = parse_wrk(WRK_WITH_ERRORS).unwrap();
        assert_eq!(r.get("req_per_sec"), Some(150000.5));
        assert_eq!(r.get("p50_ms"), Some(0.385));
        assert_eq!(r.get("p99_ms"), Some(1.2));
        assert_eq!(r.get("requests"), Some(150123.0));
        assert_eq!(r.get("socket_errors_read"), Some(2.0));
        assert_eq!(r.get("socket_errors_timeout"), Some(1.0));
        assert_eq!(r.get("non_2xx_or_3xx"), Some(5.0));
        assert_eq!(r.get("errors"), Some(8.0));
        let mut sample = Sample {
            report: r,
            errors: Vec::new(),
        };
        sample.errors_from(&[
            "socket_errors_read",
            "non_2xx_or_3xx",
            "socket_errors_write",
        ]);
        assert_eq!(sample.errors, ["2 socket errors read", "5 non 2xx or 3xx"]);
    }

    #[test]
    fn errors_the_named_counts_do_not_explain_are_kept() {
        let mut report = Report::default();
        report
            .number("failed_connections", 2.0)
            .number("errors", 3.0)
            .text("why", "subscribers missed the first message");
        let mut sample = Sample {
            report,
            errors: Vec::new(),
        };
        sample.errors_from(&["failed_connections", "errors"]);
        assert_eq!(
            sample.errors,
            [
                "2 failed connections",
                "1 subscribers missed the first message"
            ]
        );
    }

    #[test]
    fn a_clean_wrk_report_has_no_errors() {
        let clean: String = WRK_WITH_ERRORS
            .lines()
            .filter(|l| !l.contains("errors") && !l.contains("Non-2xx"))
            .map(|l| format!("{l}\n"))
            .collect();
        let r = parse_wrk(&clean).unwrap();
        assert_eq!(r.get("errors"), Some(0.0));
        assert!(parse_wrk("garbage").is_err());
    }

    #[test]
    fn wrk_times_convert_to_milliseconds() {
        assert_eq!(wrk_time_ms("512.00us"), 0.512);
        assert_eq!(wrk_time_ms("1.20ms"), 1.2);
        assert_eq!(wrk_time_ms("2.00s"), 2000.0);
        assert!(wrk_time_ms("??").is_nan());
    }
}
