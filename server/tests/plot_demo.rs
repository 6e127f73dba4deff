//! The plot demo's routes, over real sockets.

#[path = "support/example.rs"]
mod example;
mod support;
#[path = "support/ws.rs"]
mod ws;

fn start_demo(args: &[&str]) -> example::Example {
    let mut all = vec!["--no-browser"];
    all.extend_from_slice(args);
    example::start(std::path::Path::new(env!("CARGO_BIN_EXE_plot-demo")), &all)
}

#[test]
fn pages_text_and_404() {
    let demo = start_demo(&[]);
    let mut c = support::Client::connect(demo.addr);
    let test = c.request(support::get("/test"));
    assert_eq!(
        (test.status, test.text().as_str()),
        (200, "Yes this is a test!")
    );
    assert_eq!(test.header("content-type"), Some("text/plain"));
    for page in ["/", "/test.html"] {
        let r = c.request(support::get(page));
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert!(r.text().contains("Start Plot"));
        assert!(r.text().contains("does not support Web") || r.text().contains("/plot.js"));
    }
    let script = c.request(support::get("/plot.js"));
    assert!(script
        .text()
        .contains("This browser does not support Web Sockets"));
    assert_eq!(c.request(support::get("/elsewhere")).status, 404);
    assert_eq!(c.request(support::get("/data")).status, 426);
}

#[test]
fn pages_answer_get_and_head_and_other_methods_get_405() {
    let demo = start_demo(&[]);
    let mut c = support::Client::connect(demo.addr);
    for page in ["/", "/test.html", "/plot.js", "/test"] {
        c.send(format!("HEAD {page} HTTP/1.1\r\nHost: t\r\n\r\n"));
        let head = c.head_reply();
        assert_eq!(head.status, 200, "HEAD {page}");
        let get = c.request(support::get(page));
        assert_eq!(
            head.header("content-length"),
            Some(get.body.len().to_string().as_str()),
            "HEAD {page} announces what GET sends"
        );
        for method in ["POST", "PUT", "DELETE", "FOOBARBAZ"] {
            let r = c.request(format!(
                "{method} {page} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
            ));
            assert_eq!(r.status, 405, "{method} {page}");
            assert_eq!(r.header("allow"), Some("GET, HEAD"), "{method} {page}");
        }
    }
    // The WebSocket endpoints take GET only (the opening handshake).
    for endpoint in ["/echo", "/data"] {
        let r = c.request(format!(
            "POST {endpoint} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
        ));
        assert_eq!(r.status, 405, "POST {endpoint}");
        assert_eq!(r.header("allow"), Some("GET"), "POST {endpoint}");
    }
    // Unknown paths stay 404, whatever the method.
    let r = c.request("POST /elsewhere HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 404);
}

#[test]
fn data_streams_the_points_then_closes_normally() {
    let demo = start_demo(&["--interval-ms", "1", "--points", "25"]);
    let mut client = ws::connect(demo.addr, "/data");
    client.send(tungstenite::Message::text("hi")).unwrap();
    let mut points = Vec::new();
    loop {
        match client.read().unwrap() {
            tungstenite::Message::Text(line) => {
                client.send(tungstenite::Message::text("")).unwrap();
                let fields: Vec<&str> = line.trim_end_matches('\n').split(' ').collect();
                assert!(line.ends_with('\n'));
                assert_eq!(fields[0], "0");
                assert_eq!(fields[1].parse::<usize>().unwrap(), points.len());
                let r: f64 = fields[2].parse().unwrap();
                assert!((0.0..1.0).contains(&r));
                points.push(r);
            }
            tungstenite::Message::Close(frame) => {
                assert_eq!(u16::from(frame.unwrap().code), 1000);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(points.len(), 25);
}

#[test]
fn echo_echoes() {
    let demo = start_demo(&[]);
    let mut client = ws::connect(demo.addr, "/echo");
    for text in ["one", "two", ""] {
        client.send(tungstenite::Message::text(text)).unwrap();
        assert_eq!(client.read().unwrap(), tungstenite::Message::text(text));
    }
}
