//! The plot demo and the chat in a real browser. Headless Chromium loads
//! the plot page from `plot-demo --no-browser --port 0 --interval-ms 10`,
//! clicks Start Plot, waits for 100 points, checks the canvas shows the
//! red line, and saves a screenshot (to `$GREENWS_SCREENSHOT`, else under
//! the target directory). Both pages' WebSockets agree on
//! permessage-deflate with Chromium (its `ws.extensions`), and large
//! messages travel compressed both ways.

#[path = "support/cdp.rs"]
mod cdp;
#[path = "support/example.rs"]
mod example;
#[path = "support/tool.rs"]
mod tool;

use std::time::Duration;

use serde_json::{json, Value};

/// What our server agrees to with Chromium's offer
/// (`permessage-deflate; client_max_window_bits`).
const AGREED_WITH_CHROMIUM: &str =
    "permessage-deflate; server_no_context_takeover; client_max_window_bits=11";

/// Chromium, or `None` when the test must be skipped (outside CI only).
fn chromium() -> Option<std::path::PathBuf> {
    let found = cdp::find_chromium();
    if found.is_none() {
        tool::missing(
            "chromium",
            "apt-get install chromium, or set CHROMIUM; .ci/run does",
            tool::in_ci(),
        );
    }
    found
}

/// Makes every page the browser loads from now on keep the WebSockets it
/// opens in `window.sockets`, to read their `extensions` afterwards.
fn record_websockets(browser: &mut cdp::Browser) {
    browser.call(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({ "source": "window.sockets = [];
            window.WebSocket = class extends WebSocket {
              constructor(...args) { super(...args); window.sockets.push(this); }
            };" }),
    );
}

/// Echoes a large JSON text (compressible, values changing) through
/// `url` from the page; gives what the page saw: the extensions agreed
/// and whether the echo came back intact.
fn echo_large_text_from_the_page(browser: &mut cdp::Browser, url: &str) -> Value {
    browser.eval(&format!(
        "new Promise((resolve, reject) => {{
           const rows = [];
           for (let i = 0; i < 2000; i++) rows.push({{id: i, bid: 100 + (i * 7919) % 113 / 7, sym: 'S' + (i % 97)}});
           const text = JSON.stringify(rows);
           const ws = new WebSocket({url:?});
           ws.onopen = () => ws.send(text);
           ws.onmessage = e => {{ resolve({{extensions: ws.extensions, intact: e.data === text, length: text.length}}); ws.close(); }};
           ws.onerror = () => reject('websocket error');
         }})"
    ))
}

#[test]
fn the_plot_page_draws_100_points_in_chromium() {
    let Some(chromium) = chromium() else {
        return;
    };
    let demo = example::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_plot-demo")),
        &["--no-browser", "--interval-ms", "10"],
    );
    let url = format!("http://{}", demo.addr);

    let mut browser = cdp::Browser::launch(&chromium);
    browser.call("Page.enable", json!({}));
    record_websockets(&mut browser);
    browser.call("Page.navigate", json!({ "url": format!("{url}/") }));
    browser.wait_for(
        "document.readyState === 'complete' && !!document.getElementById('start')",
        Duration::from_secs(20),
    );
    assert_eq!(
        browser.eval("document.title"),
        json!("Plot of Random Numbers")
    );

    browser.eval("document.getElementById('start').click()");
    browser.wait_for(
        "document.getElementById('count').textContent === '100'",
        Duration::from_secs(30),
    );
    browser.wait_for(
        "document.getElementById('status').textContent.startsWith('Done')",
        Duration::from_secs(10),
    );

    // The red line (and its orange fill) are on the canvas.
    let pixels = browser.eval(
        "(() => { const c = document.getElementById('placeholder');
           const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
           let red = 0, orange = 0;
           for (let i = 0; i < d.length; i += 4) {
             const [r, g, b, a] = [d[i], d[i + 1], d[i + 2], d[i + 3]];
             if (a > 150 && r > 200 && g < 90 && b < 90) red++;
             if (a > 100 && r > 200 && g > 120 && g < 200 && b < 90) orange++;
           }
           return { red, orange }; })()",
    );
    let red = pixels["red"].as_u64().unwrap();
    let orange = pixels["orange"].as_u64().unwrap();
    assert!(red > 500, "line pixels: {pixels}");
    assert!(orange > 500, "fill pixels: {pixels}");

    let shot = browser.call("Page.captureScreenshot", json!({ "format": "png" }));
    let png = data_encoding::BASE64
        .decode(shot["data"].as_str().unwrap().as_bytes())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let path = std::env::var_os("GREENWS_SCREENSHOT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("plot.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot saved to {}", path.display());

    // The page's stream agreed on compression (its points are short, so
    // they go uncompressed), and a large text echoes compressed.
    assert_eq!(
        browser.eval("window.sockets.map(s => s.extensions)"),
        json!([AGREED_WITH_CHROMIUM])
    );
    let ws_url = format!("ws://{}/echo", demo.addr);
    let echo = echo_large_text_from_the_page(&mut browser, &ws_url);
    assert_eq!(echo["extensions"], json!(AGREED_WITH_CHROMIUM), "{echo}");
    assert_eq!(echo["intact"], json!(true), "{echo}");
    drop(demo);
}

#[test]
fn the_chat_page_talks_compressed_in_chromium() {
    let Some(chromium) = chromium() else {
        return;
    };
    let chat = example::start_example("chat", &[]);
    let mut browser = cdp::Browser::launch(&chromium);
    browser.call("Page.enable", json!({}));
    browser.call(
        "Page.navigate",
        json!({ "url": format!("http://{}/?name=ada", chat.addr) }),
    );
    browser.wait_for(
        "typeof ws === 'object' && ws.readyState === 1 \
         && document.getElementById('log').textContent.includes('ada joined')",
        Duration::from_secs(20),
    );
    assert_eq!(browser.eval("ws.extensions"), json!(AGREED_WITH_CHROMIUM));
    // A long line, sent from the form: Chromium compresses it, the Hub's
    // broadcast comes back compressed (it is over the threshold).
    browser.eval(
        "document.getElementById('m').value = 'the quick brown fox, again and again: '.repeat(100);
         document.getElementById('f').requestSubmit(); true",
    );
    browser.wait_for(
        "document.getElementById('log').textContent.includes('ada: ' + 'the quick brown fox, again and again: '.repeat(100))",
        Duration::from_secs(20),
    );
    let ws_url = format!("ws://{}/chat?name=bob", chat.addr);
    let echo = browser.eval(&format!(
        "new Promise((resolve, reject) => {{
           const text = JSON.stringify(Array.from({{length: 500}}, (_, i) => ({{n: i, v: (i * 37) % 101}})));
           const ws = new WebSocket({ws_url:?});
           ws.onopen = () => ws.send(text);
           ws.onmessage = e => {{ if (e.data === 'bob: ' + text) {{ resolve(ws.extensions); ws.close(); }} }};
           ws.onerror = () => reject('websocket error');
         }})"
    ));
    assert_eq!(echo, json!(AGREED_WITH_CHROMIUM));
    drop(chat);
}
