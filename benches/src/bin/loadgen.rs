//! The load generator: WebSocket echo, fan-out and idle connections, on one
//! tokio thread, with a minimal client of its own so that every byte that
//! comes back is checked.
//!
//! ```text
//! loadgen echo   --port P [--connections 64] [--size 64] [--seconds 5] [--pid PID] [--ca CERT.pem]
//! loadgen fanout --port P [--subscribers 1000] [--rate 200] [--seconds 5] [--pid PID]
//! loadgen idle   --port P [--connections 10000] [--pid PID] [--hold-seconds S]
//! ```
//!
//! Each mode prints one line `RESULT key=value ...` for the driver.
//! `--pid` names the server process, whose CPU time (echo, fanout) or
//! memory (idle) is read from /proc.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

#[derive(Debug)]
struct Options {
    mode: String,
    port: u16,
    path: String,
    connections: usize,
    size: usize,
    seconds: f64,
    subscribers: usize,
    rate: f64,
    pid: Option<u32>,
    hold_seconds: f64,
    /// A CA certificate (PEM) to trust: connect with TLS (wss://).
    ca: Option<String>,
}

fn options() -> Options {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let mut o = Options {
        path: match mode.as_str() {
            "fanout" => "/chat".into(),
            _ => "/echo".into(),
        },
        mode,
        port: 0,
        connections: 64,
        size: 64,
        seconds: 5.0,
        subscribers: 1000,
        rate: 200.0,
        pid: None,
        hold_seconds: 0.0,
        ca: None,
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--port" => o.port = number(&flag, &value),
            "--path" => o.path = value,
            "--connections" => o.connections = number(&flag, &value),
            "--size" => o.size = number(&flag, &value),
            "--seconds" => o.seconds = number(&flag, &value),
            "--subscribers" => o.subscribers = number(&flag, &value),
            "--rate" => o.rate = number(&flag, &value),
            "--pid" => o.pid = Some(number(&flag, &value)),
            "--hold-seconds" => o.hold_seconds = number(&flag, &value),
            "--ca" => o.ca = Some(value),
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    if o.port == 0 {
        usage("--port is required");
    }
    o
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> T {
    value
        .parse()
        .unwrap_or_else(|_| usage(&format!("bad value {value:?} for {flag}")))
}

fn usage(why: &str) -> ! {
    eprintln!(
        "loadgen: {why}\nusage: loadgen echo|fanout|idle --port P [options] (see the source)"
    );
    std::process::exit(2);
}

fn main() {
    let o = options();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match o.mode.as_str() {
        "echo" => rt.block_on(echo(&o)),
        "fanout" => rt.block_on(fanout(&o)),
        "idle" => rt.block_on(idle(&o)),
        other => usage(&format!("unknown mode {other}")),
    }
}

// ---- a minimal WebSocket client ----

/// What a client talks over: TCP, or TLS over TCP.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Stream for T {}

/// A TLS client that trusts the CA certificate in `path`.
fn tls_connector(path: &str) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(path).expect("read the CA file") {
        roots
            .add(cert.expect("a PEM certificate"))
            .expect("a usable certificate");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// A client connection: the socket and what was read but not used yet.
struct Ws {
    stream: Box<dyn Stream>,
    buf: Vec<u8>,
    start: usize,
    mask: [u8; 4],
}

impl Ws {
    async fn connect(
        addr: SocketAddr,
        source: Option<Ipv4Addr>,
        path: &str,
        tls: Option<&tokio_rustls::TlsConnector>,
    ) -> std::io::Result<Ws> {
        let socket = TcpSocket::new_v4()?;
        if let Some(ip) = source {
            socket.bind(SocketAddr::V4(SocketAddrV4::new(ip, 0)))?;
        }
        let tcp = socket.connect(addr).await?;
        tcp.set_nodelay(true)?;
        let mut stream: Box<dyn Stream> = match tls {
            None => Box::new(tcp),
            Some(connector) => {
                let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
                Box::new(connector.connect(name, tcp).await?)
            }
        };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        stream.flush().await?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut end = 0;
        let head_end = loop {
            let n = stream.read(&mut buf[end..]).await?;
            if n == 0 {
                return Err(std::io::Error::other("closed during the handshake"));
            }
            end += n;
            if let Some(i) = buf[..end].windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        if !buf.starts_with(b"HTTP/1.1 101") {
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            return Err(std::io::Error::other(format!("handshake refused: {head}")));
        }
        buf.copy_within(head_end..end, 0);
        buf.truncate(end - head_end);
        let seed = (addr.port() as u32).wrapping_mul(2_654_435_761) ^ end as u32;
        Ok(Ws {
            stream,
            buf,
            start: 0,
            mask: seed.to_le_bytes(),
        })
    }

    /// Sends one masked frame (text or binary).
    async fn send(&mut self, opcode: u8, payload: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
        out.clear();
        out.push(0x80 | opcode);
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n < 65536 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&self.mask);
        let mask = self.mask;
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(out).await?;
        self.stream.flush().await
    }

    /// Reads one frame; gives (opcode, payload). Control frames are
    /// returned too.
    async fn recv(&mut self) -> std::io::Result<(u8, Vec<u8>)> {
        loop {
            if let Some((opcode, payload, used)) = parse(&self.buf[self.start..]) {
                self.start += used;
                if self.start > 32 * 1024 {
                    self.buf.drain(..self.start);
                    self.start = 0;
                }
                return Ok((opcode, payload));
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Parses one unmasked server frame at the start of `buf`.
fn parse(buf: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let opcode = buf[0] & 0x0f;
    let (len, head) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (
            u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize,
            10,
        ),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    if buf.len() < head + len {
        return None;
    }
    Some((opcode, buf[head..head + len].to_vec(), head + len))
}

fn now_nanos(epoch: Instant) -> u64 {
    epoch.elapsed().as_nanos() as u64
}

/// Nanoseconds the server process spent on a CPU so far.
fn server_cpu_nanos(pid: Option<u32>) -> Option<u64> {
    let pid = pid?;
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = task.ok()?.path().join("schedstat");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// The server process's resident memory, in bytes.
fn server_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server runs");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64
}

// ---- echo ----

#[derive(Default)]
struct EchoTally {
    sent: u64,
    received: u64,
    mismatched: u64,
    latencies_us: Vec<u64>,
}

async fn echo(o: &Options) {
    let addr = SocketAddr::from(([127, 0, 0, 1], o.port));
    let tls = o.ca.as_deref().map(tls_connector);
    let mut connections = Vec::new();
    for _ in 0..o.connections {
        connections.push(
            Ws::connect(addr, None, &o.path, tls.as_ref())
                .await
                .expect("connect"),
        );
    }
    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let cpu_before = server_cpu_nanos(o.pid);
    let started = Instant::now();
    let local = tokio::task::LocalSet::new();
    let tallies = local
        .run_until(async {
            let tasks: Vec<_> = connections
                .into_iter()
                .enumerate()
                .map(|(c, ws)| {
                    tokio::task::spawn_local(echo_loop(c, ws, o.size.max(16), epoch, stop.clone()))
                })
                .collect();
            tokio::time::sleep(Duration::from_secs_f64(o.seconds)).await;
            stop.store(true, Ordering::Relaxed);
            let mut all = Vec::new();
            for t in tasks {
                all.push(t.await.expect("an echo task"));
            }
            all
        })
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = server_cpu_nanos(o.pid);
    let mut total = EchoTally::default();
    for t in tallies {
        total.sent += t.sent;
        total.received += t.received;
        total.mismatched += t.mismatched;
        total.latencies_us.extend(t.latencies_us);
    }
    total.latencies_us.sort_unstable();
    let cpu_us_per_msg = match (cpu_before, cpu_after) {
        (Some(a), Some(b)) if total.received > 0 => (b - a) as f64 / 1000.0 / total.received as f64,
        _ => f64::NAN,
    };
    println!(
        "RESULT msgs_per_sec={:.0} p50_ms={:.3} p99_ms={:.3} p999_ms={:.3} lost={} mismatched={} cpu_us_per_msg={:.2}",
        total.received as f64 / elapsed,
        percentile(&total.latencies_us, 0.50) / 1000.0,
        percentile(&total.latencies_us, 0.99) / 1000.0,
        percentile(&total.latencies_us, 0.999) / 1000.0,
        total.sent - total.received,
        total.mismatched,
        cpu_us_per_msg
    );
}

/// One connection's closed loop: send, wait for the echo, check it.
async fn echo_loop(
    c: usize,
    mut ws: Ws,
    size: usize,
    epoch: Instant,
    stop: Arc<AtomicBool>,
) -> EchoTally {
    let mut tally = EchoTally::default();
    let mut payload = vec![b'x'; size];
    let mut out = Vec::with_capacity(size + 14);
    while !stop.load(Ordering::Relaxed) {
        let seq = (c as u64) << 40 | tally.sent;
        payload[..8].copy_from_slice(&seq.to_le_bytes());
        payload[8..16].copy_from_slice(&now_nanos(epoch).to_le_bytes());
        if ws.send(0x2, &payload, &mut out).await.is_err() {
            break;
        }
        tally.sent += 1;
        match tokio::time::timeout(Duration::from_secs(5), ws.recv()).await {
            Ok(Ok((0x2, back))) => {
                tally.received += 1;
                if back != payload {
                    tally.mismatched += 1;
                }
                let sent_at = u64::from_le_bytes(back[8..16].try_into().unwrap_or([0; 8]));
                tally
                    .latencies_us
                    .push(now_nanos(epoch).saturating_sub(sent_at) / 1000);
            }
            Ok(Ok(_)) => tally.mismatched += 1,
            _ => break,
        }
    }
    tally
}

// ---- fanout ----

async fn fanout(o: &Options) {
    let addr = SocketAddr::from(([127, 0, 0, 1], o.port));
    let epoch = Instant::now();
    let received = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let mut subscribers = Vec::new();
            for i in 0..o.subscribers {
                let mut ws = Ws::connect(addr, None, &o.path, None)
                    .await
                    .unwrap_or_else(|e| panic!("subscriber {i}: {e}"));
                let (received, latencies, stop) = (received.clone(), latencies.clone(), stop.clone());
                subscribers.push(tokio::task::spawn_local(async move {
                    let mut mine = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        match tokio::time::timeout(Duration::from_millis(200), ws.recv()).await {
                            Ok(Ok((0x1 | 0x2, payload))) => {
                                // "pub SEQ SENT_NANOS ..." from the publisher.
                                let text = String::from_utf8_lossy(&payload);
                                let mut fields = text.split(' ');
                                if fields.next() != Some("pub") {
                                    continue;
                                }
                                let sent_at: u64 = fields.nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
                                received.fetch_add(1, Ordering::Relaxed);
                                mine.push(now_nanos(epoch).saturating_sub(sent_at) / 1000);
                            }
                            Ok(Ok(_)) => {}
                            Ok(Err(_)) => break,
                            Err(_) => {}
                        }
                    }
                    latencies.lock().unwrap().extend(mine);
                }));
            }
            let mut publisher = Ws::connect(addr, None, &o.path, None).await.expect("publisher connects");
            // Let the joins settle before measuring.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let total = (o.rate * o.seconds).round() as u64;
            let started = Instant::now();
            let mut out = Vec::new();
            for seq in 0..total {
                let due = started + Duration::from_secs_f64(seq as f64 / o.rate);
                tokio::time::sleep_until(due.into()).await;
                let text = format!("pub {seq} {}", now_nanos(epoch));
                publisher.send(0x1, text.as_bytes(), &mut out).await.expect("publish");
            }
            // Give the last messages time to arrive.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let elapsed = started.elapsed().as_secs_f64();
            stop.store(true, Ordering::Relaxed);
            for s in subscribers {
                let _ = s.await;
            }
            let got = received.load(Ordering::Relaxed);
            let mut lat = latencies.lock().unwrap().clone();
            lat.sort_unstable();
            let expected = total * o.subscribers as u64;
            println!(
                "RESULT delivered_per_sec={:.0} ratio={:.4} p50_ms={:.3} p99_ms={:.3} cpu_us_per_msg={:.2}",
                got as f64 / elapsed,
                got as f64 / expected as f64,
                percentile(&lat, 0.5) / 1000.0,
                percentile(&lat, 0.99) / 1000.0,
                f64::NAN
            );
        })
        .await;
}

// ---- idle ----

async fn idle(o: &Options) {
    let pid = o.pid.unwrap_or_else(|| usage("idle needs --pid"));
    let addr = SocketAddr::from(([127, 0, 0, 1], o.port));
    // Spread the client ends over source addresses: one address has only
    // about 28 000 ephemeral ports.
    let sources: Vec<Ipv4Addr> = (2..=9).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect();
    let mut probe = Ws::connect(addr, None, &o.path, None)
        .await
        .expect("probe connects");
    let mut out = Vec::new();
    // Warm up the server's paths (and its coroutine pool) before measuring.
    for _ in 0..100 {
        probe.send(0x2, b"warm up", &mut out).await.expect("send");
        probe.recv().await.expect("echo");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server_rss(pid);
    let mut held = Vec::with_capacity(o.connections);
    let started = Instant::now();
    for i in 0..o.connections {
        let source = sources[i % sources.len()];
        match Ws::connect(addr, Some(source), &o.path, None).await {
            Ok(ws) => held.push(ws),
            Err(e) => {
                eprintln!("loadgen: connection {i} failed: {e}");
                break;
            }
        }
    }
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server_rss(pid);
    // Is the server still prompt with all of them held?
    let mut latencies = Vec::new();
    for _ in 0..2000 {
        let t = Instant::now();
        probe
            .send(0x2, b"still there?", &mut out)
            .await
            .expect("send");
        probe.recv().await.expect("echo");
        latencies.push(t.elapsed().as_micros() as u64);
    }
    latencies.sort_unstable();
    tokio::time::sleep(Duration::from_secs_f64(o.hold_seconds)).await;
    println!(
        "RESULT connections={} rss_per_conn_kib={:.2} rss_before_mib={:.1} rss_after_mib={:.1} connect_secs={:.2} echo_p50_ms={:.3} echo_p99_ms={:.3}",
        held.len(),
        (after as f64 - before as f64) / held.len().max(1) as f64 / 1024.0,
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        connect_secs,
        percentile(&latencies, 0.5) / 1000.0,
        percentile(&latencies, 0.99) / 1000.0
    );
}
