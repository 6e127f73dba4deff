//! The demo's `/metrics` route (with `--metrics`): the OpenMetrics text
//! format Prometheus reads, with counters that move as traffic flows.

#[path = "support/example.rs"]
mod example;
mod support;
#[path = "support/ws.rs"]
mod ws;

use std::collections::HashMap;

/// Parses an OpenMetrics text exposition strictly enough to catch a
/// malformed one: `# TYPE`/`# HELP`/`# UNIT` lines, samples of the form
/// `name{label="value",...} number`, and `# EOF` as the last line.
/// Gives each sample (name and labels as written) with its value.
fn parse_exposition(text: &str) -> HashMap<String, f64> {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "ends with # EOF: {text}");
    assert!(text.ends_with('\n'));
    let mut samples = HashMap::new();
    let mut typed = Vec::new();
    for line in &lines[..lines.len() - 1] {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.splitn(3, ' ');
            let (kind, name) = (words.next().unwrap(), words.next().unwrap());
            assert!(
                ["TYPE", "HELP", "UNIT"].contains(&kind),
                "unknown comment {line:?}"
            );
            if kind == "TYPE" {
                let metric_type = words.next().unwrap();
                assert!(["counter", "gauge"].contains(&metric_type), "{line:?}");
                typed.push(name.to_owned());
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample: series value");
        let name = series.split('{').next().unwrap();
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'),
            "metric name {name:?}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                let inner = labels
                    .strip_prefix('{')
                    .and_then(|l| l.strip_suffix('}'))
                    .unwrap_or_else(|| panic!("labels of {line:?}"));
                for pair in inner.split(',') {
                    let (key, quoted) = pair.split_once('=').expect("label=\"value\"");
                    assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
                    assert!(quoted.starts_with('"') && quoted.ends_with('"'), "{line:?}");
                }
            }
        }
        assert!(
            typed.iter().any(|family| name.starts_with(family.as_str())),
            "sample {name} before its # TYPE"
        );
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("value of {line:?}"));
        samples.insert(series.to_owned(), value);
    }
    samples
}

fn scrape(client: &mut support::Client) -> HashMap<String, f64> {
    let reply = client.request(support::get("/metrics"));
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    parse_exposition(&reply.text())
}

#[test]
fn metrics_answer_in_the_prometheus_format_and_move_with_traffic() {
    let demo = example::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_plot-demo")),
        &["--no-browser", "--metrics"],
    );
    let mut http = support::Client::connect(demo.addr);
    let before = scrape(&mut http);
    let value = |samples: &HashMap<String, f64>, series: &str| {
        *samples
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in {samples:?}"))
    };
    assert_eq!(
        value(&before, r#"greenws_connections_open{kind="websocket"}"#),
        0.0
    );

    assert_eq!(http.request(support::get("/test")).status, 200);
    let mut client = ws::connect(demo.addr, "/echo");
    for i in 0..3 {
        client
            .send(tungstenite::Message::text(format!("m{i}")))
            .unwrap();
        client.read().unwrap();
    }
    let during = scrape(&mut http);
    assert_eq!(
        value(&during, r#"greenws_connections_open{kind="websocket"}"#),
        1.0
    );
    assert!(value(&during, r#"greenws_connections_open{kind="http"}"#) >= 2.0);
    client
        .close(Some(tungstenite::protocol::CloseFrame {
            code: tungstenite::protocol::frame::coding::CloseCode::Normal,
            reason: "bye".into(),
        }))
        .unwrap();
    while client.read().is_ok() {}

    let after = scrape(&mut http);
    let moved = |series: &str| value(&after, series) - before.get(series).copied().unwrap_or(0.0);
    // /test, the upgrade, the scrape in between, and this scrape.
    assert!(moved("greenws_requests_total") >= 4.0);
    assert_eq!(
        moved(r#"greenws_websocket_messages_total{direction="in"}"#),
        3.0
    );
    assert_eq!(
        moved(r#"greenws_websocket_messages_total{direction="out"}"#),
        3.0
    );
    assert!(moved(r#"greenws_bytes_total{direction="in"}"#) > 0.0);
    assert!(moved(r#"greenws_bytes_total{direction="out"}"#) > 0.0);
    assert_eq!(
        moved(r#"greenws_websocket_closes_total{side="peer",code="1000"}"#),
        1.0
    );
    assert!(after.contains_key("greenws_accept_errors_total"));
    assert!(after.contains_key("greenws_hub_overflows_total"));
    assert!(after.contains_key("greenws_dropped_log_lines_total"));
}

#[test]
fn without_the_flag_there_is_no_metrics_route() {
    let demo = example::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_plot-demo")),
        &["--no-browser"],
    );
    let mut http = support::Client::connect(demo.addr);
    assert_eq!(http.request(support::get("/metrics")).status, 404);
}
