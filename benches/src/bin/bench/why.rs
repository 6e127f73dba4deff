//! `--why`: where each server's time and memory go, measured, so that the
//! narrative can cite figures instead of guesses. In the isolated setup:
//!
//! - system calls per echo message: `strace -c -f -p PID` attached to the
//!   server while the load generator runs 64 B echo, over ws and over wss
//!   (strace slows every server down several times, so it gives counts,
//!   not times);
//! - the kernel's share of the server's CPU, from `utime` and `stime` in
//!   `/proc/PID/stat`, in a separate run without strace;
//! - memory per idle connection by kind of mapping, from
//!   `/proc/PID/smaps` before the connections and while they are held.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use benches::process_stats::{rss_bytes, user_and_kernel_ticks, MemoryByKind};

use crate::contenders::{contender, FASTWS, GEVENT, GREENWS, NAIVE_MAY, TOKIO};
use crate::measure::Bench;
use crate::results_file::{command_line, date, load_average, machine, write_section, WHY_MARKERS};
use crate::setup::Setup;
use crate::table::format_value;

const SETUP: Setup = Setup::Isolated;

/// Everything `--why` measured; each entry a contender's figures or why
/// there are none.
struct Findings {
    quick: bool,
    load_before: String,
    seconds: f64,
    idle: usize,
    syscalls: Vec<(&'static str, Result<SyscallCounts, String>)>,
    /// The same over wss (every server on rustls, the same certificate).
    tls_syscalls: Vec<(&'static str, Result<SyscallCounts, String>)>,
    cpu: Vec<(&'static str, Result<CpuSplit, String>)>,
    memory: Vec<(&'static str, Result<IdleMemory, String>)>,
}

pub fn run(bench: &Bench, quick: bool, write: bool) {
    let mut findings = Findings {
        quick,
        load_before: load_average(),
        seconds: if quick { 1.0 } else { 5.0 },
        idle: if quick { 1000 } else { 10_000 },
        syscalls: Vec::new(),
        tls_syscalls: Vec::new(),
        cpu: Vec::new(),
        memory: Vec::new(),
    };
    for name in [GREENWS, TOKIO, FASTWS, NAIVE_MAY, GEVENT] {
        eprintln!("== why: {name}");
        let seconds = findings.seconds;
        findings
            .syscalls
            .push((name, strace_echo(bench, name, seconds, false)));
        findings.cpu.push((name, cpu_split(bench, name, seconds)));
    }
    for name in [GREENWS, TOKIO, FASTWS] {
        eprintln!("== why: {name}, wss");
        let seconds = findings.seconds;
        findings
            .tls_syscalls
            .push((name, strace_echo(bench, name, seconds, true)));
    }
    for name in [GREENWS, TOKIO, FASTWS, NAIVE_MAY] {
        eprintln!("== why: {name}, {} idle connections", findings.idle);
        let held = idle_memory(bench, name, findings.idle);
        findings.memory.push((name, held));
    }
    let text = render(&findings, bench);
    println!("{text}");
    if write {
        let path = crate::measure::workspace().join("benches/RESULTS.md");
        write_section(&path, WHY_MARKERS, &text);
    }
}

fn echo_args(port: u16, pid: u32, seconds: f64) -> Vec<String> {
    [
        "echo",
        "--port",
        &port.to_string(),
        "--pid",
        &pid.to_string(),
        "--seconds",
        &seconds.to_string(),
    ]
    .map(String::from)
    .to_vec()
}

/// Echo messages that came back in a loadgen report.
fn echoed(report: &benches::report_line::Report) -> f64 {
    report.get("sent").unwrap_or(0.0) - report.get("lost").unwrap_or(0.0)
}

/// System calls per echoed message, by name.
struct SyscallCounts {
    per_message: BTreeMap<String, f64>,
    /// Messages echoed while strace counted.
    messages: f64,
}

/// Counts the system calls of server `name` while it echoes 64 B
/// messages, over wss if `tls` (with the certificate of `bench`).
fn strace_echo(
    bench: &Bench,
    name: &str,
    seconds: f64,
    tls: bool,
) -> Result<SyscallCounts, String> {
    let server = bench.start(contender(name), SETUP, tls)?;
    let out = bench.scratch.join(format!("strace-{}.txt", server.pid));
    let mut strace = Command::new("strace")
        .args(["-c", "-f", "-p", &server.pid.to_string(), "-o"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("strace: {e}"))?;
    // strace attaches to every thread before the load starts.
    std::thread::sleep(Duration::from_millis(500));
    let mut args = echo_args(server.port, server.pid, seconds);
    if tls {
        args.extend(["--ca".into(), bench.cert.to_string_lossy().into_owned()]);
    }
    let sample = bench.loadgen(SETUP, &args);
    // Safety: a signal to the strace child.
    unsafe { libc::kill(strace.id() as i32, libc::SIGINT) };
    let _ = strace.wait();
    server.stop();
    if !sample.is_valid() {
        return Err(sample.errors.join("; "));
    }
    let messages = echoed(&sample.report);
    let text = std::fs::read_to_string(&out).map_err(|e| format!("no strace output: {e}"))?;
    let calls = parse_strace_counts(&text);
    if calls.is_empty() || messages <= 0.0 {
        return Err("strace counted nothing".into());
    }
    Ok(SyscallCounts {
        per_message: calls.into_iter().map(|(k, v)| (k, v / messages)).collect(),
        messages,
    })
}

/// `syscall -> calls` from the summary `strace -c` writes.
fn parse_strace_counts(text: &str) -> BTreeMap<String, f64> {
    let mut calls = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 5 || fields[0].parse::<f64>().is_err() {
            continue;
        }
        let name = fields[fields.len() - 1];
        if name == "total" {
            continue;
        }
        if let Ok(n) = fields[3].parse::<f64>() {
            calls.insert(name.to_string(), n);
        }
    }
    calls
}

struct CpuSplit {
    us_per_msg: f64,
    kernel_share: f64,
    /// Clock ticks sampled (the kernel's accounting is per tick).
    ticks: u64,
}

/// Server CPU per message and the kernel's share of it, without strace.
fn cpu_split(bench: &Bench, name: &str, seconds: f64) -> Result<CpuSplit, String> {
    let server = bench.start(contender(name), SETUP, false)?;
    let before = user_and_kernel_ticks(server.pid).map_err(|e| e.to_string())?;
    let sample = bench.loadgen(SETUP, &echo_args(server.port, server.pid, seconds));
    let after = user_and_kernel_ticks(server.pid).map_err(|e| e.to_string())?;
    server.stop();
    if !sample.is_valid() {
        return Err(sample.errors.join("; "));
    }
    let (user, kernel) = (after.0 - before.0, after.1 - before.1);
    Ok(CpuSplit {
        us_per_msg: sample.report.get("cpu_us_per_msg").unwrap_or(f64::NAN),
        kernel_share: kernel as f64 / (user + kernel).max(1) as f64,
        ticks: user + kernel,
    })
}

struct IdleMemory {
    connections: f64,
    /// KiB per connection by kind.
    heap: f64,
    small_anon: f64,
    small_anon_mappings: f64,
    other: f64,
    rss: f64,
}

/// Memory per idle connection by kind, read while they are held.
fn idle_memory(bench: &Bench, name: &str, connections: usize) -> Result<IdleMemory, String> {
    let server = bench.start(contender(name), SETUP, false)?;
    let (pid, port) = (server.pid, server.port);
    let before = MemoryByKind::of(pid).map_err(|e| e.to_string())?;
    let rss_before = rss_bytes(pid).map_err(|e| e.to_string())?;
    let mut held = None;
    let args: Vec<String> = [
        "idle",
        "--port",
        &port.to_string(),
        "--pid",
        &pid.to_string(),
        "--connections",
        &connections.to_string(),
        "--hold-seconds",
        "2",
    ]
    .map(String::from)
    .to_vec();
    let sample = bench.loadgen_watching(SETUP, &args, |line| {
        if line.starts_with("HELD") {
            held = Some((MemoryByKind::of(pid), rss_bytes(pid)));
        }
    });
    server.stop();
    if !sample.is_valid() {
        return Err(sample.errors.join("; "));
    }
    let (Some((Ok(after), Ok(rss_after))), Some(n)) = (held, sample.report.get("connections"))
    else {
        return Err("the generator never reported the connections held".into());
    };
    let per = |a: u64, b: u64| (a as f64 - b as f64) / n;
    Ok(IdleMemory {
        connections: n,
        heap: per(after.heap_kib, before.heap_kib),
        small_anon: per(after.small_anon_kib, before.small_anon_kib),
        small_anon_mappings: per(after.small_anon_mappings, before.small_anon_mappings),
        other: per(after.other_kib, before.other_kib),
        rss: per(rss_after, rss_before) / 1024.0,
    })
}

fn render(findings: &Findings, bench: &Bench) -> String {
    let Findings {
        quick,
        load_before,
        seconds,
        idle,
        syscalls,
        tls_syscalls,
        cpu,
        memory,
    } = findings;
    let mut out = format!(
        "## Why: what each server spends (generated by `{}`)\n\n{}, {}. \
         Load average (1 min) {load_before} before, {} after. Setup \"isolated\" ({}). 64 B echo \
         over 64 connections for {seconds} s per run.\n\n",
        command_line(),
        machine(),
        date(),
        load_average(),
        bench.pinning.borrow().describe(SETUP),
    );
    if *quick {
        out.push_str(
            "**QUICK RUN: 1 s per run and 1 000 idle connections (the may-based servers start \
             with a pool of about 1 000 coroutine stacks, which hides the stacks of the first \
             1 000 connections); not for comparison.**\n\n",
        );
    }
    let names: Vec<&str> = syscalls.iter().map(|(n, _)| *n).collect();
    out.push_str(
        "### System calls per echoed message (`strace -c -f -p PID` during the load)\n\n\
         strace stops the server at every call, so each server runs several times slower under it; \
         the counts per message are what this table tells, not times. Calls under 0.01 per message \
         are left out.\n\n",
    );
    out.push_str(&syscall_table(syscalls));
    out.push_str(
        "\n\n### System calls per echoed message over wss (the same, every server on rustls \
         with the same certificate)\n\n",
    );
    out.push_str(&syscall_table(tls_syscalls));
    out.push_str(
        "\n\n### Server CPU per message and the kernel's share of it (no strace)\n\n\
         The share is `stime / (utime + stime)` of `/proc/PID/stat`: the kernel charges each clock \
         tick to user or kernel time by where it lands, so it is a sample, as good as the number of \
         ticks shown.\n\n",
    );
    out.push_str(&table_header(&names));
    for (label, pick) in [
        ("server CPU us/msg", 0usize),
        ("of which in the kernel (ticks sampled)", 1),
    ] {
        out.push_str(&format!("| {label} |"));
        for (_, r) in cpu {
            let cell = match r {
                Ok(c) if pick == 0 => format_value(c.us_per_msg),
                Ok(c) => format!("{:.0}% ({})", c.kernel_share * 100.0, c.ticks),
                Err(e) => format!("failed: {}", e.replace('|', "/")),
            };
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    let names: Vec<&str> = memory.iter().map(|(n, _)| *n).collect();
    out.push_str(&format!(
        "\n### Memory per idle WebSocket by kind (`/proc/PID/smaps` before and while {idle} are held), KiB\n\n"
    ));
    out.push_str(&table_header(&names));
    type Pick = fn(&IdleMemory) -> f64;
    let rows: [(&str, Pick); 6] = [
        ("resident (VmRSS)", |m| m.rss),
        (
            "heap: [heap] and anonymous mappings of 1 MiB or more",
            |m| m.heap,
        ),
        (
            "small anonymous mappings (coroutine stacks, small mmaps)",
            |m| m.small_anon,
        ),
        ("small anonymous mappings per connection (count)", |m| {
            m.small_anon_mappings
        }),
        ("everything else", |m| m.other),
        ("connections held", |m| m.connections),
    ];
    for (label, pick) in rows {
        out.push_str(&format!("| {label} |"));
        for (_, r) in memory {
            let cell = match r {
                Ok(m) => format_value(pick(m)),
                Err(e) => format!("failed: {}", e.replace('|', "/")),
            };
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    out
}

/// The header of a table whose columns are `names`.
fn table_header(names: &[&str]) -> String {
    let mut h = String::from("| |");
    for n in names {
        h.push_str(&format!(" {n} |"));
    }
    h.push_str("\n|---|");
    h.push_str(&"---:|".repeat(names.len()));
    h.push('\n');
    h
}

/// System calls per message, one column per server, the calls of 0.01
/// per message or more as rows, and the sum.
fn syscall_table(syscalls: &[(&'static str, Result<SyscallCounts, String>)]) -> String {
    let names: Vec<&str> = syscalls.iter().map(|(n, _)| *n).collect();
    let mut out = String::new();
    out.push_str(&table_header(&names));
    let mut all_calls: Vec<String> = syscalls
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .flat_map(|counts| {
            counts
                .per_message
                .iter()
                .filter(|(_, v)| **v >= 0.01)
                .map(|(k, _)| k.clone())
        })
        .collect();
    all_calls.sort();
    all_calls.dedup();
    for call in &all_calls {
        out.push_str(&format!("| {call} |"));
        for (_, r) in syscalls {
            let cell = match r {
                Ok(counts) => counts
                    .per_message
                    .get(call)
                    .map(|v| format!("{v:.2}"))
                    .unwrap_or_default(),
                Err(_) => String::new(),
            };
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    out.push_str("| **all calls** |");
    for (_, r) in syscalls {
        let cell = match r {
            Ok(counts) => format!(
                "**{:.2}** ({} msgs)",
                counts.per_message.values().sum::<f64>(),
                format_value(counts.messages)
            ),
            Err(e) => format!("failed: {}", e.replace('|', "/")),
        };
        out.push_str(&format!(" {cell} |"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strace_summaries_parse_with_and_without_errors() {
        let text = "% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 55.10    0.551000           5    100000           sendto
 40.00    0.400000           4    100000      2000 recvfrom
  4.90    0.049000           1     30000           epoll_wait
------ ----------- ----------- --------- --------- ----------------
100.00    1.000000           4    230000      2000 total
";
        let calls = parse_strace_counts(text);
        assert_eq!(calls.len(), 3);
        assert_eq!(calls["sendto"], 100000.0);
        assert_eq!(calls["recvfrom"], 100000.0);
        assert_eq!(calls["epoll_wait"], 30000.0);
    }
}
