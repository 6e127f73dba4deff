//! A minimal Chrome DevTools Protocol client: enough to drive a headless
//! Chromium page (navigate, evaluate, screenshot).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Debian's Chromium, or the binary `CHROMIUM` names.
pub fn find_chromium() -> Option<PathBuf> {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/bin/chromium", "/usr/bin/chromium-browser"].map(PathBuf::from))
        .find(|p| p.exists())
}

/// A headless Chromium with one page under remote control.
pub struct Browser {
    child: Child,
    page: tungstenite::WebSocket<TcpStream>,
    next_id: u64,
    _profile: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    pub fn launch(chromium: &PathBuf) -> Browser {
        // One profile per browser: two in one test binary must not share it.
        static LAUNCHED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let nth = LAUNCHED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let profile =
            std::env::temp_dir().join(format!("greenws-chromium-{}-{nth}", std::process::id()));
        std::fs::create_dir_all(&profile).unwrap();
        let mut child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--window-size=760,700",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let port = stderr
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                let url = line.strip_prefix("DevTools listening on ws://")?.to_owned();
                url.split(['/', ':']).nth(1).map(str::to_owned)
            })
            .expect("chromium announces its DevTools port");
        // Keep draining its chatter, or Chromium blocks on a full pipe.
        std::thread::spawn(move || stderr.for_each(drop));
        let page_url = page_socket_url(&port);
        let stream = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let (page, _) = tungstenite::client(page_url.as_str(), stream).expect("CDP handshake");
        Browser {
            child,
            page,
            next_id: 1,
            _profile: TempDir(profile),
        }
    }

    /// Sends a command and waits for its result.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({ "id": id, "method": method, "params": params });
        self.page
            .send(tungstenite::Message::text(request.to_string()))
            .unwrap();
        loop {
            let message = self.page.read().expect("a CDP message");
            let Ok(text) = message.to_text() else {
                continue;
            };
            let value: Value = serde_json::from_str(text).unwrap();
            if value["id"] == json!(id) {
                assert!(value.get("error").is_none(), "{method} failed: {value}");
                return value["result"].clone();
            }
        }
    }

    /// Evaluates a JavaScript expression in the page; gives its value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        result["result"]["value"].clone()
    }

    /// Evaluates `expression` until it gives `true`, or panics after `limit`.
    pub fn wait_for(&mut self, expression: &str, limit: Duration) {
        let start = Instant::now();
        while self.eval(expression) != json!(true) {
            assert!(
                start.elapsed() < limit,
                "timed out waiting for {expression}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The DevTools WebSocket URL of the first page target.
fn page_socket_url(port: &str) -> String {
    let start = Instant::now();
    loop {
        let stream = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = BufReader::new(stream);
        write!(
            reader.get_mut(),
            "GET /json/list HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        )
        .unwrap();
        // Chromium keeps the connection open: read by Content-Length.
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let body = String::from_utf8_lossy(&body);
        let targets: Value = serde_json::from_str(&body).unwrap_or(json!([]));
        if let Some(url) = targets
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
        {
            return url.to_owned();
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no page target");
        std::thread::sleep(Duration::from_millis(100));
    }
}
