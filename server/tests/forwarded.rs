//! Behind a reverse proxy: the forwarding headers change the client's
//! address and scheme in `Request` and in the access log, from trusted
//! proxies only.

#[path = "support/access_capture.rs"]
mod access_capture;
mod support;

use greenws::proto::forwarded::TrustedProxies;
use greenws::{Request, Response, WsgiServer};
use support::Client;

/// Answers with what the app sees: the client's address and the scheme.
fn whoami(req: &mut Request) -> Response {
    Response::text(format!("{} {}", req.peer_addr(), req.scheme()))
}

const FORWARDED_REQUEST: &str = "GET /whoami HTTP/1.1\r\nHost: t\r\n\
     X-Forwarded-For: 6.6.6.6, 203.0.113.9\r\nX-Forwarded-Proto: https\r\n\
     Connection: close\r\n\r\n";

/// Serves one forwarded request with this trust, and gives the answer and
/// the access log line.
fn one_request(trusted: &str) -> (String, String) {
    let trusted: TrustedProxies = trusted.parse().unwrap();
    let server = WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .trusted_proxies(trusted)
        .start(whoami)
        .unwrap();
    let before = access_capture::lines().len();
    let mut client = Client::connect(server.local_addr());
    let reply = client.request(FORWARDED_REQUEST);
    assert_eq!(reply.status, 200);
    drop(client);
    drop(server); // the stop waits for the connection, and so its log line
    let lines = access_capture::lines();
    assert_eq!(lines.len(), before + 1, "{lines:?}");
    (reply.text(), lines[before].clone())
}

#[test]
fn forwarding_headers_count_from_trusted_proxies_only() {
    access_capture::install();

    // Through a trusted proxy (the test's own address).
    let (answer, log_line) = one_request("127.0.0.1");
    assert_eq!(answer, "203.0.113.9:0 https");
    assert!(log_line.starts_with("203.0.113.9 - - ["), "{log_line}");

    // The same headers from an address that is not trusted.
    let (answer, log_line) = one_request("10.0.0.0/8");
    assert!(
        answer.starts_with("127.0.0.1:") && answer.ends_with(" http"),
        "{answer}"
    );
    assert!(log_line.starts_with("127.0.0.1 - - ["), "{log_line}");

    // And by default nobody is trusted.
    let server = WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .start(whoami)
        .unwrap();
    let reply = Client::connect(server.local_addr()).request(FORWARDED_REQUEST);
    assert!(reply.text().starts_with("127.0.0.1:"), "{}", reply.text());
}
