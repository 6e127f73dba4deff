//! Fan-out: one publisher and many subscribers in one chat room (`/chat`,
//! where every message goes to every member). The publish rate steps up
//! (see `benches::search`) until a step fails; a step passes when every
//! subscriber got every message of the step and the p99 from the scheduled
//! publish time to the receipt is under the limit. The result is the
//! highest passing rate and the server's CPU per delivered message there.
//!
//! The generator reads every delivery on one thread, so it can be the
//! limit itself: its own CPU share at the first failing step is reported
//! (`loadgen_cpu_at_fail`) and a share above 90% of a core flags the result
//! (`generator_bound=1`).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use benches::report_line::Report;
use benches::schedule::OpenLoopSchedule;
use benches::search::{RateSearch, SearchOutcome};
use benches::stats::latency_percentiles_ms;
use clap::Args;

use crate::client::{handshake, tcp, Ws};
use crate::{CpuMeter, Target};

#[derive(Args, Debug)]
pub struct FanoutArgs {
    #[command(flatten)]
    target: Target,
    /// The chat room's path.
    #[arg(long, default_value = "/chat")]
    path: String,
    /// Subscribers in the room (besides the publisher).
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// The first publish rate tried, messages per second.
    #[arg(long, default_value_t = 100.0)]
    start_rate: f64,
    /// The factor between two rates while every step passes.
    #[arg(long, default_value_t = 1.5)]
    factor: f64,
    /// Bisections between the last passing and the first failing rate.
    #[arg(long, default_value_t = 1)]
    refinements: u32,
    /// The highest rate tried.
    #[arg(long, default_value_t = 20_000.0)]
    ceiling: f64,
    /// How long each step publishes.
    #[arg(long, default_value_t = 2.0)]
    step_seconds: f64,
    /// How long after a step's last publish its deliveries may still come.
    #[arg(long, default_value_t = 1.0)]
    drain_seconds: f64,
    /// A step fails when its p99 publish-to-receive is at or above this.
    #[arg(long, default_value_t = 100.0)]
    p99_limit_ms: f64,
}

/// What the subscribers saw of the current step.
#[derive(Default)]
struct Deliveries {
    step: u64,
    delivered: u64,
    latencies_ns: Vec<u64>,
    /// Subscribers whose connection ended.
    dead: u64,
}

/// One step's outcome.
struct Step {
    rate: f64,
    passed: bool,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us_per_delivery: f64,
    loadgen_cpu: f64,
}

pub async fn run(args: &FanoutArgs) -> Report {
    let addr = args.target.addr();
    let epoch = Instant::now();
    let deliveries = Rc::new(RefCell::new(Deliveries::default()));
    let mut report = Report::default();
    let mut failed = 0u64;
    let mut subscribers = 0u64;
    for i in 0..args.subscribers {
        match Ws::connect(addr, None, &args.path, None).await {
            Ok(ws) => {
                subscribers += 1;
                tokio::task::spawn_local(subscribe(ws, epoch, deliveries.clone()));
            }
            Err(e) => {
                eprintln!("loadgen: subscriber {i} failed: {e}");
                failed += 1;
            }
        }
    }
    report.number("failed_connections", failed as f64);
    let publisher = match publisher(addr, &args.path).await {
        Ok(publisher) => publisher,
        Err(e) => {
            eprintln!("loadgen: the publisher failed: {e}");
            report
                .number("errors", (failed + 1) as f64)
                .text("why", "publisher connection failed");
            return report;
        }
    };
    // Step 0: one message that every subscriber must get, so that every
    // join has taken effect before anything is measured.
    let mut room = Room {
        publisher,
        deliveries: deliveries.clone(),
        subscribers,
        epoch,
    };
    let joined = room.publish_step(0, 1.0, 1, 10.0).await;
    if joined != subscribers {
        eprintln!("loadgen: only {joined} of {subscribers} subscribers got the first message");
        report
            .number("errors", (failed + subscribers - joined).max(1) as f64)
            .text("why", "subscribers missed the first message");
        return report;
    }
    let mut search = RateSearch::new(args.start_rate, args.factor, args.refinements, args.ceiling);
    let mut steps: Vec<Step> = Vec::new();
    let mut note = String::new();
    while let Some(rate) = search.next_rate() {
        let step_id = steps.len() as u64 + 1;
        let count = (rate * args.step_seconds).round().max(1.0) as u64;
        let meter = CpuMeter::start(&args.target);
        let delivered = room
            .publish_step(step_id, rate, count, args.drain_seconds)
            .await;
        let (cpu_us_per_delivery, loadgen_cpu) = (
            meter.server_us_per(&args.target, delivered),
            meter.own_share(),
        );
        let expected = count * subscribers;
        let (dead, [p50_ms, p99_ms, _]) = {
            let mut d = deliveries.borrow_mut();
            (d.dead, latency_percentiles_ms(&mut d.latencies_ns))
        };
        let passed = delivered == expected && dead == 0 && p99_ms < args.p99_limit_ms;
        eprintln!(
            "loadgen: fan-out {rate:.0}/s: delivered {delivered}/{expected}, p50 {p50_ms:.1} ms, p99 {p99_ms:.1} ms, server {cpu_us_per_delivery:.2} us/delivery, loadgen CPU {:.0}% -> {}",
            loadgen_cpu * 100.0,
            if passed { "pass" } else { "fail" }
        );
        search.record(rate, passed);
        steps.push(Step {
            rate,
            passed,
            p50_ms,
            p99_ms,
            cpu_us_per_delivery,
            loadgen_cpu,
        });
        if dead > 0 {
            note = format!("the server closed {dead} subscribers at {rate:.0}/s");
            break;
        }
        if !wait_until_quiet(&deliveries).await {
            note = format!("deliveries still arriving 10 s after the {rate:.0}/s step");
            break;
        }
    }
    let best = steps
        .iter()
        .filter(|s| s.passed)
        .max_by(|a, b| a.rate.total_cmp(&b.rate));
    let first_fail = steps
        .iter()
        .filter(|s| !s.passed)
        .min_by(|a, b| a.rate.total_cmp(&b.rate));
    report
        .number("max_rate", best.map_or(0.0, |s| s.rate))
        .number("p50_ms_at_max", best.map_or(f64::NAN, |s| s.p50_ms))
        .number("p99_ms_at_max", best.map_or(f64::NAN, |s| s.p99_ms))
        .number(
            "cpu_us_per_delivery_at_max",
            best.map_or(f64::NAN, |s| s.cpu_us_per_delivery),
        )
        .number("first_failed_rate", first_fail.map_or(f64::NAN, |s| s.rate))
        .number(
            "loadgen_cpu_at_fail",
            first_fail.map_or(f64::NAN, |s| s.loadgen_cpu),
        )
        .number(
            "generator_bound",
            if first_fail.is_some_and(|s| s.loadgen_cpu >= 0.9) {
                1.0
            } else {
                0.0
            },
        )
        .number(
            "above_ceiling",
            if matches!(search.outcome(), SearchOutcome::AboveCeiling { .. }) {
                1.0
            } else {
                0.0
            },
        )
        .number("errors", failed as f64);
    let trail: Vec<String> = steps
        .iter()
        .map(|s| format!("{:.0}{}", s.rate, if s.passed { "ok" } else { "FAIL" }))
        .collect();
    report.text("steps", &trail.join(","));
    if !note.is_empty() {
        report.text("note", &note);
    }
    report
}

/// The publisher: a member of the room too, whose own copies are read and
/// dropped by a task of their own so they never back up.
async fn publisher(
    addr: std::net::SocketAddr,
    path: &str,
) -> std::io::Result<Ws<tokio::net::tcp::OwnedWriteHalf>> {
    let mut stream = tcp(addr, None).await?;
    let leftover = handshake(&mut stream, &addr.to_string(), path).await?;
    let (read, write) = stream.into_split();
    let mut reader = Ws::from_parts(read, leftover, 0);
    tokio::task::spawn_local(async move { while reader.recv().await.is_ok() {} });
    Ok(Ws::from_parts(write, Vec::new(), 1))
}

/// The room as the generator sees it: the publisher's sending half and
/// what the subscribers count.
struct Room {
    publisher: Ws<tokio::net::tcp::OwnedWriteHalf>,
    deliveries: Rc<RefCell<Deliveries>>,
    subscribers: u64,
    epoch: Instant,
}

impl Room {
    /// Publishes `count` messages of step `step` at `rate` and waits until
    /// every subscriber still connected has them, or `drain_seconds` after
    /// the last is due; gives the deliveries counted.
    async fn publish_step(&mut self, step: u64, rate: f64, count: u64, drain_seconds: f64) -> u64 {
        {
            let mut d = self.deliveries.borrow_mut();
            d.step = step;
            d.delivered = 0;
            d.latencies_ns.clear();
        }
        let schedule = OpenLoopSchedule::new(rate, Duration::from_secs_f64(count as f64 / rate));
        let start = tokio::time::Instant::now() + Duration::from_millis(5);
        let mut text = String::new();
        for seq in 0..count {
            let due = start + schedule.offset(seq);
            tokio::time::sleep_until(due).await;
            let due_ns = (due.into_std() - self.epoch).as_nanos();
            text.clear();
            use std::fmt::Write;
            let _ = write!(text, "p {step} {seq} {due_ns}");
            if self.publisher.send(0x1, text.as_bytes()).await.is_err() {
                break;
            }
        }
        let deadline = start + schedule.offset(count) + Duration::from_secs_f64(drain_seconds);
        loop {
            let (delivered, dead) = {
                let d = self.deliveries.borrow();
                (d.delivered, d.dead)
            };
            let all = count * self.subscribers.saturating_sub(dead);
            if delivered >= all || tokio::time::Instant::now() >= deadline {
                return delivered;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Waits until no delivery has arrived for 300 ms (at most 10 s); false if
/// deliveries keep coming.
async fn wait_until_quiet(deliveries: &Rc<RefCell<Deliveries>>) -> bool {
    let give_up = Instant::now() + Duration::from_secs(10);
    let mut last = deliveries.borrow().delivered;
    let mut quiet_since = Instant::now();
    while Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = deliveries.borrow().delivered;
        if now != last {
            last = now;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= Duration::from_millis(300) {
            return true;
        }
    }
    false
}

/// One subscriber: counts the messages of the current step and their
/// latency from their scheduled publish time; answers pings.
async fn subscribe(mut ws: Ws, epoch: Instant, deliveries: Rc<RefCell<Deliveries>>) {
    loop {
        let (opcode, parsed, ping) = match ws.recv().await {
            Ok(frame) => (
                frame.opcode,
                parse_publication(frame.payload),
                (frame.opcode == 0x9).then(|| frame.payload.to_vec()),
            ),
            Err(_) => break,
        };
        if let Some(payload) = ping {
            if ws.send(0xA, &payload).await.is_err() {
                break;
            }
            continue;
        }
        if opcode == 0x8 {
            break;
        }
        let Some((step, due_ns)) = parsed else {
            continue;
        };
        let now = epoch.elapsed().as_nanos() as u64;
        let mut d = deliveries.borrow_mut();
        if step == d.step {
            d.delivered += 1;
            d.latencies_ns.push(now.saturating_sub(due_ns));
        }
    }
    deliveries.borrow_mut().dead += 1;
}

/// `p STEP SEQ DUE_NANOS` → (step, due).
fn parse_publication(payload: &[u8]) -> Option<(u64, u64)> {
    let mut fields = payload.strip_prefix(b"p ")?.split(|b| *b == b' ');
    let step = ascii_number(fields.next()?)?;
    let _seq = fields.next()?;
    let due = ascii_number(fields.next()?)?;
    Some((step, due))
}

fn ascii_number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |n, d| n * 10 + (d - b'0') as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publications_parse() {
        assert_eq!(parse_publication(b"p 3 17 123456789"), Some((3, 123456789)));
        assert_eq!(parse_publication(b"* someone joined"), None);
        assert_eq!(parse_publication(b"p 3 17"), None);
        assert_eq!(parse_publication(b"p x 17 5"), None);
    }
}
