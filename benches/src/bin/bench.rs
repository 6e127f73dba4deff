//! The benchmark driver: every server in turn against the same load, the
//! servers alternating (A B C A B C ...), medians, one table, a chart.
//!
//! ```text
//! bash benches/run.sh [all|http|echo|fanout|idle|tls] [--rounds N] [--seconds S]
//! ```
//!
//! Servers run pinned to CPU 0 with one worker thread, the load generator
//! (wrk, or `loadgen`) pinned to CPU 1, when there are two CPUs and
//! `taskset`. `all` also writes `benches/RESULTS.md` (between its markers)
//! and `benches/results.png`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Options {
    what: String,
    rounds: usize,
    seconds: u64,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        what: "all".into(),
        rounds: 3,
        seconds: 5,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => options.rounds = parse(args.next()),
            "--seconds" => options.seconds = parse(args.next()),
            "all" | "http" | "echo" | "fanout" | "idle" | "tls" => options.what = arg,
            _ => usage(),
        }
    }
    run(&options);
}

fn parse<T: std::str::FromStr>(value: Option<String>) -> T {
    value
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| usage())
}

fn usage() -> ! {
    eprintln!("usage: bench [all|http|echo|fanout|idle|tls] [--rounds N] [--seconds S]");
    std::process::exit(2);
}

// ---- the contenders ----

/// A server under test.
struct Contender {
    name: &'static str,
    /// Program and leading arguments; the port and worker count follow.
    command: Vec<String>,
    http: bool,
    echo: bool,
    fanout: bool,
    idle: bool,
}

const GREENWS: &str = "greenws";
const TOKIO: &str = "tokio-tungstenite";
const FASTWS: &str = "fastwebsockets";

fn contenders() -> Vec<Contender> {
    let bin = |name: &str| vec![sibling(name).to_string_lossy().into_owned()];
    let mut all = vec![
        Contender {
            name: GREENWS,
            command: bin("greenws-server"),
            http: true,
            echo: true,
            fanout: true,
            idle: true,
        },
        Contender {
            name: TOKIO,
            command: bin("tokio-server"),
            http: true,
            echo: true,
            fanout: true,
            idle: true,
        },
        Contender {
            name: FASTWS,
            command: bin("fastws-server"),
            http: true,
            echo: true,
            fanout: true,
            idle: true,
        },
        Contender {
            name: "may_minihttp",
            command: bin("minihttp-hello"),
            http: true,
            echo: false,
            fanout: false,
            idle: false,
        },
        Contender {
            name: "naive may",
            command: bin("may-naive-echo"),
            http: false,
            echo: true,
            fanout: false,
            idle: true,
        },
    ];
    match gevent_python() {
        Some(python) => all.push(Contender {
            name: "gevent",
            command: vec![
                python,
                workspace()
                    .join("benches/gevent_server.py")
                    .to_string_lossy()
                    .into_owned(),
            ],
            http: true,
            echo: true,
            fanout: false,
            idle: false,
        }),
        None => eprintln!("note: no gevent venv (benches/run.sh makes one); gevent is left out"),
    }
    all
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// The Python of the venv that `benches/run.sh` sets up with gevent.
fn gevent_python() -> Option<String> {
    let python = std::env::var("GEVENT_PYTHON")
        .unwrap_or_else(|_| "/tmp/greenws-bench-venv/bin/python".into());
    Path::new(&python).exists().then_some(python)
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

fn pinned(cpu: usize, program: &str) -> Command {
    if pinning() {
        let mut command = Command::new("taskset");
        command.args(["-c", &cpu.to_string(), program]);
        command
    } else {
        Command::new(program)
    }
}

/// A running server; killed when dropped.
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

fn start(contender: &Contender) -> Server {
    start_with(contender, &[])
}

/// Starts a server with extra arguments after the port and worker count.
fn start_with(contender: &Contender, extra: &[String]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let mut child = pinned(0, &contender.command[0])
        .args(&contender.command[1..])
        .args([port.to_string(), "1".into()])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", contender.name));
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("the server announces itself");
    assert!(
        line.starts_with("Serving on"),
        "{}: unexpected first line {line:?}",
        contender.name
    );
    std::thread::sleep(Duration::from_millis(200));
    Server { child, port }
}

// ---- running the loads ----

/// Key-value results of one run.
type Run = BTreeMap<String, f64>;

fn loadgen(args: &[String]) -> Run {
    let out = pinned(1, sibling("loadgen").to_str().expect("utf-8 path"))
        .args(args)
        .output()
        .expect("loadgen runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| {
            panic!(
                "loadgen printed no result: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    line.split(' ')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap_or(f64::NAN)))
        .collect()
}

fn wrk(port: u16, seconds: u64) -> Run {
    let out = pinned(1, "wrk")
        .args([
            "-t1",
            "-c64",
            &format!("-d{seconds}s"),
            "--latency",
            &format!("http://127.0.0.1:{port}/test"),
        ])
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("wrk printed no {prefix:?}:\n{text}"))
    };
    let errors = text
        .lines()
        .any(|l| l.contains("Non-2xx") || l.contains("Socket errors"));
    let mut run = Run::new();
    run.insert(
        "req_per_sec".into(),
        field("Requests/sec:").parse().unwrap_or(f64::NAN),
    );
    run.insert("p99_ms".into(), wrk_time(&field("99%")));
    run.insert("errors".into(), if errors { 1.0 } else { 0.0 });
    run
}

/// wrk prints times like `512.00us`, `1.20ms`, `2.01s`.
fn wrk_time(text: &str) -> f64 {
    let (number, scale) = if let Some(v) = text.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = text.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = text.strip_suffix('s') {
        (v, 1000.0)
    } else {
        (text, 1.0)
    };
    number.parse::<f64>().unwrap_or(f64::NAN) * scale
}

/// One workload: which servers take it, and how to load one.
struct Workload {
    title: &'static str,
    applies: fn(&Contender) -> bool,
    load: Box<dyn Fn(&Server) -> Run>,
    /// (result key, row label, higher is better)
    metrics: Vec<(&'static str, &'static str, bool)>,
}

fn workloads(options: &Options) -> Vec<Workload> {
    let s = options.seconds.to_string();
    let echo = |size: usize, s: String| -> Box<dyn Fn(&Server) -> Run> {
        Box::new(move |server: &Server| {
            loadgen(&[
                "echo".into(),
                "--port".into(),
                server.port.to_string(),
                "--connections".into(),
                "64".into(),
                "--size".into(),
                size.to_string(),
                "--seconds".into(),
                s.clone(),
                "--pid".into(),
                server.child.id().to_string(),
            ])
        })
    };
    let idle = |n: usize| -> Box<dyn Fn(&Server) -> Run> {
        Box::new(move |server: &Server| {
            loadgen(&[
                "idle".into(),
                "--port".into(),
                server.port.to_string(),
                "--connections".into(),
                n.to_string(),
                "--pid".into(),
                server.child.id().to_string(),
            ])
        })
    };
    let seconds = options.seconds;
    let fanout_seconds = s.clone();
    let mut all = Vec::new();
    if matches!(options.what.as_str(), "all" | "http") {
        all.push(Workload {
            title: "HTTP plaintext (wrk, 64 connections)",
            applies: |c| c.http,
            load: Box::new(move |server| wrk(server.port, seconds)),
            metrics: vec![("req_per_sec", "req/s", true), ("p99_ms", "p99 ms", false)],
        });
    }
    if matches!(options.what.as_str(), "all" | "echo") {
        for (size, title) in [
            (64, "WebSocket echo 64 B x 64 connections"),
            (16 * 1024, "WebSocket echo 16 KiB x 64 connections"),
        ] {
            all.push(Workload {
                title,
                applies: |c| c.echo,
                load: echo(size, s.clone()),
                metrics: vec![
                    ("msgs_per_sec", "msgs/s", true),
                    ("p99_ms", "p99 ms", false),
                    ("cpu_us_per_msg", "server CPU us/msg", false),
                    ("lost", "lost + mismatched", false),
                ],
            });
        }
    }
    if matches!(options.what.as_str(), "all" | "fanout") {
        all.push(Workload {
            title: "Fan-out 1 publisher to 1000 subscribers, 200 msg/s",
            applies: |c| c.fanout,
            load: Box::new(move |server| {
                loadgen(&[
                    "fanout".into(),
                    "--port".into(),
                    server.port.to_string(),
                    "--subscribers".into(),
                    "1000".into(),
                    "--rate".into(),
                    "200".into(),
                    "--seconds".into(),
                    fanout_seconds.clone(),
                ])
            }),
            metrics: vec![
                ("delivered_per_sec", "delivered msgs/s", true),
                ("ratio", "delivery ratio", true),
                ("p99_ms", "p99 ms", false),
            ],
        });
    }
    if matches!(options.what.as_str(), "all" | "idle") {
        all.push(Workload {
            title: "Idle WebSockets, 10 000 held",
            applies: |c| c.idle,
            load: idle(10_000),
            metrics: vec![("rss_per_conn_kib", "RSS KiB per connection", false)],
        });
        all.push(Workload {
            title: "Idle WebSockets, 19 000 held",
            applies: |c| c.idle,
            load: idle(19_000),
            metrics: vec![
                ("rss_per_conn_kib", "RSS KiB per connection", false),
                ("echo_p99_ms", "echo p99 ms while holding them", false),
            ],
        });
    }
    all
}

fn median(mut values: Vec<f64>) -> f64 {
    values.retain(|v| !v.is_nan());
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.partial_cmp(b).expect("no NaN left"));
    values[values.len() / 2]
}

/// One table row: a metric's median per server.
struct Row {
    label: String,
    higher_is_better: bool,
    values: BTreeMap<&'static str, f64>,
}

fn run(options: &Options) {
    let contenders = contenders();
    let workloads = workloads(options);
    let started = Instant::now();
    println!(
        "benchmark: {} rounds alternating, {} s each, servers on CPU 0 with 1 worker, load on CPU 1 (pinned: {})",
        options.rounds,
        options.seconds,
        pinning()
    );
    let mut rows = Vec::new();
    for workload in &workloads {
        eprintln!("== {}", workload.title);
        let taking: Vec<&Contender> = contenders
            .iter()
            .filter(|c| (workload.applies)(c))
            .collect();
        let mut runs: BTreeMap<&'static str, Vec<Run>> = BTreeMap::new();
        for round in 1..=options.rounds {
            for contender in &taking {
                let server = start(contender);
                let run = (workload.load)(&server);
                drop(server);
                eprintln!(
                    "   round {round} {:>18}: {}  ({:.0} s so far)",
                    contender.name,
                    run.iter()
                        .map(|(k, v)| format!("{k}={v:.3}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                    started.elapsed().as_secs_f64()
                );
                runs.entry(contender.name).or_default().push(run);
            }
        }
        for (key, label, higher_is_better) in &workload.metrics {
            let values = runs
                .iter()
                .map(|(name, rs)| {
                    let pick = |r: &Run| match *key {
                        "lost" => {
                            r.get("lost").copied().unwrap_or(0.0)
                                + r.get("mismatched").copied().unwrap_or(0.0)
                        }
                        _ => r.get(*key).copied().unwrap_or(f64::NAN),
                    };
                    (*name, median(rs.iter().map(pick).collect()))
                })
                .collect();
            rows.push(Row {
                label: format!("{}: {label}", workload.title),
                higher_is_better: *higher_is_better,
                values,
            });
        }
    }
    let names: Vec<&'static str> = contenders.iter().map(|c| c.name).collect();
    let mut table = if rows.is_empty() {
        String::new()
    } else {
        render_table(&names, &rows)
    };
    if matches!(options.what.as_str(), "all" | "tls") {
        table.push_str(&tls_comparison(options, &contenders[0]));
    }
    println!("\n{table}");
    eprintln!(
        "benchmark finished in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    if options.what == "all" {
        write_results(options, &table);
        if let Err(e) = chart(&rows, &workspace().join("benches/results.png")) {
            eprintln!("no chart: {e}");
        }
    }
}

/// wss echo against ws echo on greenws, in one run: what TLS costs.
fn tls_comparison(options: &Options, greenws: &Contender) -> String {
    eprintln!("== WebSocket echo over TLS (wss) against plain (ws), greenws");
    let dir = std::env::temp_dir().join(format!("greenws-bench-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("a certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).expect("write the certificate");
    std::fs::write(&key, generated.signing_key.serialize_pem()).expect("write the key");
    let cert_arg = cert.to_string_lossy().into_owned();
    let tls_args = [cert_arg.clone(), key.to_string_lossy().into_owned()];
    let mut plain = Vec::new();
    let mut tls = Vec::new();
    for round in 1..=options.rounds {
        for with_tls in [false, true] {
            let server = if with_tls {
                start_with(greenws, &tls_args)
            } else {
                start(greenws)
            };
            let mut args: Vec<String> = [
                "echo",
                "--port",
                &server.port.to_string(),
                "--connections",
                "64",
                "--size",
                "64",
                "--seconds",
                &options.seconds.to_string(),
                "--pid",
                &server.child.id().to_string(),
            ]
            .map(String::from)
            .to_vec();
            if with_tls {
                args.extend(["--ca".into(), cert_arg.clone()]);
            }
            let run = loadgen(&args);
            eprintln!(
                "   round {round} {:>4}: msgs/s {:.0}, p99 {:.3} ms, CPU {:.2} us/msg",
                if with_tls { "wss" } else { "ws" },
                run["msgs_per_sec"],
                run["p99_ms"],
                run["cpu_us_per_msg"]
            );
            if with_tls {
                tls.push(run)
            } else {
                plain.push(run)
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let med = |runs: &[Run], key: &str| median(runs.iter().map(|r| r[key]).collect());
    let mut out = String::from(
        "\n| greenws, WebSocket echo 64 B x 64 connections | ws | wss (TLS 1.3) | wss / ws |\n|---|---:|---:|---:|\n",
    );
    for (key, label) in [
        ("msgs_per_sec", "msgs/s"),
        ("p99_ms", "p99 ms"),
        ("cpu_us_per_msg", "server CPU us/msg"),
    ] {
        let (a, b) = (med(&plain, key), med(&tls, key));
        out.push_str(&format!(
            "| {label} | {} | {} | {:.2} |\n",
            format_value(a),
            format_value(b),
            b / a
        ));
    }
    out
}

/// greenws's advantage over `other` on a row: above 1 means greenws is
/// better (faster, or smaller for lower-is-better metrics).
fn advantage(row: &Row, other: &str) -> Option<f64> {
    let g = *row.values.get(GREENWS)?;
    let o = *row.values.get(other)?;
    let ratio = if row.higher_is_better { g / o } else { o / g };
    ratio.is_finite().then_some(ratio)
}

fn render_table(names: &[&'static str], rows: &[Row]) -> String {
    let mut out = String::from("| workload |");
    for name in names {
        out.push_str(&format!(" {name} |"));
    }
    out.push_str(" greenws vs tokio-tungstenite | greenws vs fastwebsockets |\n|---|");
    out.push_str(&"---:|".repeat(names.len() + 2));
    out.push('\n');
    for row in rows {
        out.push_str(&format!("| {} |", row.label));
        for name in names {
            match row.values.get(name) {
                Some(v) if v.is_finite() => out.push_str(&format!(" {} |", format_value(*v))),
                _ => out.push_str(" - |"),
            }
        }
        for other in [TOKIO, FASTWS] {
            match advantage(row, other) {
                Some(r) => out.push_str(&format!(" {r:.2}x |")),
                None => out.push_str(" - |"),
            }
        }
        out.push('\n');
    }
    out
}

fn format_value(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Replaces the generated part of benches/RESULTS.md.
fn write_results(options: &Options, table: &str) {
    let path = workspace().join("benches/RESULTS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let (begin, end) = ("<!-- bench:all:begin -->", "<!-- bench:all:end -->");
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let section = format!(
        "{begin}\n## Servers compared (generated by `bash benches/run.sh all --rounds {} --seconds {}`)\n\n\
         Machine: {} CPUs ({cpu}), Linux. Date: {date}. Servers run on CPU 0 with one worker thread, the load on CPU 1;\n\
         each cell is the median of {} rounds, the servers alternating. Ratios: above 1 means greenws is better\n\
         (more throughput, or less latency, CPU or memory).\n\n{table}\n![greenws against the async servers](results.png)\n{end}",
        options.rounds,
        options.seconds,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        options.rounds
    );
    let new = match (old.find(begin), old.find(end)) {
        (Some(a), Some(b)) => format!("{}{section}{}", &old[..a], &old[b + end.len()..]),
        _ => format!("{old}\n{section}\n"),
    };
    std::fs::write(&path, new).expect("write RESULTS.md");
    eprintln!("wrote {}", path.display());
}

/// A bar chart of greenws's advantage over the two async servers.
fn chart(rows: &[Row], path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let font = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    ]
    .iter()
    .find_map(|p| std::fs::read(p).ok())
    .ok_or("no TrueType font found (install fonts-dejavu-core)")?;
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(font.into_boxed_slice()),
    )
    .map_err(|_| "the font could not be loaded")?;
    let bars: Vec<(String, Option<f64>, Option<f64>)> = rows
        .iter()
        .filter(|r| !r.label.contains("lost"))
        .map(|r| (r.label.clone(), advantage(r, TOKIO), advantage(r, FASTWS)))
        .filter(|(_, a, b)| a.is_some() || b.is_some())
        .collect();
    let top = bars
        .iter()
        .flat_map(|(_, a, b)| [a, b])
        .flatten()
        .fold(1.5f64, |m, v| m.max(*v))
        * 1.08;
    let (width, row_height, x0, x1, y0) = (1200i32, 46i32, 600i32, 1120i32, 70i32);
    let height = y0 + row_height * bars.len() as i32 + 40;
    let root = BitMapBackend::new(path, (width as u32, height as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let text = |size| ("sans-serif", size).into_font().color(&BLACK);
    let blue = RGBColor(46, 134, 222);
    let orange = RGBColor(230, 126, 34);
    root.draw_text(
        "greenws's advantage over the async servers (above 1 = greenws better)",
        &text(20),
        (10, 12),
    )?;
    root.draw(&Rectangle::new([(x0, 44), (x0 + 14, 56)], blue.filled()))?;
    root.draw_text("vs tokio-tungstenite + hyper", &text(14), (x0 + 20, 42))?;
    root.draw(&Rectangle::new(
        [(x0 + 260, 44), (x0 + 274, 56)],
        orange.filled(),
    ))?;
    root.draw_text("vs fastwebsockets + hyper", &text(14), (x0 + 280, 42))?;
    let x_of = |v: f64| x0 + ((v / top) * (x1 - x0) as f64) as i32;
    for (i, (label, a, b)) in bars.iter().enumerate() {
        let y = y0 + row_height * i as i32;
        root.draw_text(label, &text(13), (10, y + 14))?;
        for (value, dy, color) in [(a, 4, blue), (b, 24, orange)] {
            if let Some(v) = value {
                root.draw(&Rectangle::new(
                    [(x0, y + dy), (x_of(*v), y + dy + 16)],
                    color.filled(),
                ))?;
                root.draw_text(&format!("{v:.2}x"), &text(12), (x_of(*v) + 4, y + dy + 2))?;
            }
        }
    }
    let bottom = y0 + row_height * bars.len() as i32;
    root.draw(&PathElement::new(
        vec![(x_of(1.0), y0 - 6), (x_of(1.0), bottom)],
        BLACK.stroke_width(2),
    ))?;
    root.draw(&PathElement::new(
        vec![(x0, y0 - 6), (x0, bottom)],
        BLACK.stroke_width(1),
    ))?;
    for quarter in 0..=((top * 4.0).floor() as i32) {
        let tick = quarter as f64 / 4.0;
        root.draw_text(&format!("{tick}x"), &text(12), (x_of(tick) - 8, bottom + 8))?;
    }
    root.present()?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
