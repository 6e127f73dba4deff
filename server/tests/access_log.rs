//! The access log, in pywsgi's format, through the `log` crate.

#[path = "support/access_capture.rs"]
mod access_capture;
mod support;

use greenws::Response;
use support::{get, start, Client};

#[test]
fn each_request_is_logged_like_pywsgi() {
    access_capture::install();
    let server = start(|req: &mut greenws::Request| match req.path() {
        "/" => Response::text("12345"),
        _ => Response::new(greenws::http::StatusCode::NOT_FOUND),
    });
    let mut c = Client::connect(server.local_addr());
    c.request(get("/?q=1"));
    c.request(get("/missing"));
    c.request("GET /\0 HTTP/1.1\r\n\r\n");
    drop(c);
    // What the client controls is escaped: no terminal escapes, no
    // reordering of what a viewer shows, no forged fields.
    let mut c = Client::connect(server.local_addr());
    c.request("GET /\u{202e}gnp.exe?\" 200 0 HTTP/1.1\r\nHost: x\r\n\r\n");
    drop(c);
    let mut c = Client::connect(server.local_addr());
    c.request("GET /\x1b[2J\u{85} HTTP/1.1\r\n\r\n");
    drop(c);
    drop(server);

    let lines = access_capture::lines();
    assert_eq!(lines.len(), 5, "{lines:?}");
    // IP - - [YYYY-MM-DD HH:MM:SS] "REQUEST LINE" status bytes duration
    let parts = |line: &str| -> (String, String, String, String, f64) {
        let (ip, rest) = line.split_once(" - - [").unwrap();
        let (date, rest) = rest.split_once("] \"").unwrap();
        let (request, rest) = rest.rsplit_once("\" ").unwrap();
        let fields: Vec<&str> = rest.split(' ').collect();
        assert_eq!(date.len(), 19, "{date}");
        (
            ip.into(),
            request.into(),
            fields[0].into(),
            fields[1].into(),
            fields[2].parse().unwrap(),
        )
    };
    // One line per request, in the order they were logged: each connection
    // logs from its own greenlet after its response, so two connections'
    // lines may come in either order. Each line is found by its request.
    let parsed: Vec<_> = lines.iter().map(|line| parts(line)).collect();
    let find = |request: &str| {
        parsed
            .iter()
            .find(|line| line.1 == request)
            .unwrap_or_else(|| panic!("no line for {request:?} in {lines:?}"))
    };
    let (ip, _, status, bytes, secs) = find("GET /?q=1 HTTP/1.1");
    assert_eq!(ip.as_str(), "127.0.0.1");
    assert_eq!((status.as_str(), bytes.as_str()), ("200", "5"));
    assert!((0.0..10.0).contains(secs));
    assert_eq!(find("GET /missing HTTP/1.1").2, "404");
    assert_eq!(find("GET /\\x00 HTTP/1.1").2, "400");
    // The forged fields stay inside the quoted request line.
    find("GET /\\u{202e}gnp.exe?\\\" 200 0 HTTP/1.1");
    assert_eq!(find("GET /\\x1b[2J\\u{85} HTTP/1.1").2, "400");
}
