//! The plot demo in a real browser: headless Chromium loads the page from
//! `plot-demo --no-browser --port 0 --interval-ms 10`, clicks Start Plot,
//! waits for 100 points, checks the canvas shows the red line, and saves a
//! screenshot (to `$GREENWS_SCREENSHOT`, else under the target directory).

#[path = "support/cdp.rs"]
mod cdp;
#[path = "support/example.rs"]
mod example;
#[path = "support/tool.rs"]
mod tool;

use std::time::Duration;

use serde_json::json;

#[test]
fn the_plot_page_draws_100_points_in_chromium() {
    let Some(chromium) = cdp::find_chromium() else {
        tool::missing(
            "chromium",
            "apt-get install chromium, or set CHROMIUM; .ci/run does",
            tool::in_ci(),
        );
        return;
    };
    let demo = example::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_plot-demo")),
        &["--no-browser", "--interval-ms", "10"],
    );
    let url = format!("http://{}", demo.addr);

    let mut browser = cdp::Browser::launch(&chromium);
    browser.call("Page.enable", json!({}));
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

    drop(demo);
}
