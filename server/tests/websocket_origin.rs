//! Cross-site WebSocket hijacking: the handler's Origin policies (a page
//! of another site is refused with 403; a client without Origin is not a
//! browser and is let in), and the plot demo, which accepts only its own
//! origin.

#[path = "support/example.rs"]
mod example;
mod support;

use std::net::SocketAddr;

use greenws::{Request, Response, ServerHandle, Upgrade, WebSocketHandler, WsgiServer};

fn start(handler: WebSocketHandler) -> ServerHandle {
    WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .handler_class(handler)
        .start(|req: &mut Request| {
            if req.is_websocket() {
                req.upgrade(|_ws| Ok(()))
            } else {
                Response::text("not a websocket")
            }
        })
        .unwrap()
}

/// The status of an upgrade to `path` with this Host and Origin.
fn status(addr: SocketAddr, path: &str, host: &str, origin: Option<&str>) -> u16 {
    let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
    let mut client = support::Client::connect(addr);
    client
        .request(format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\n{origin}Upgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        ))
        .status
}

#[test]
fn allowed_origins_let_in_those_pages_and_clients_without_origin() {
    let handler =
        WebSocketHandler::new().allowed_origins(["https://app.example", "http://localhost:3000/"]);
    let server = start(handler);
    let addr = server.local_addr();
    let cases = [
        (Some("https://app.example"), 101),
        (Some("HTTPS://APP.Example"), 101), // scheme and host ignore case
        (Some("https://app.example:443"), 101), // the default port is no port
        (Some("http://localhost:3000"), 101), // listed with a trailing slash
        (None, 101),                        // not a browser
        (Some("https://evil.example"), 403),
        (Some("http://app.example"), 403), // another scheme is another origin
        (Some("https://app.example.evil.example"), 403),
        (Some("null"), 403), // a sandboxed or file:// page
        (Some("not an origin"), 403),
    ];
    for (origin, expected) in cases {
        assert_eq!(
            status(addr, "/", "any.host", origin),
            expected,
            "{origin:?}"
        );
    }
}

#[test]
fn same_origin_lets_in_pages_of_the_host_asked_for() {
    let server = start(WebSocketHandler::new().same_origin());
    let addr = server.local_addr();
    let cases = [
        ("app.example:8000", Some("http://app.example:8000"), 101),
        ("App.Example:8000", Some("http://app.example:8000"), 101),
        ("app.example", Some("https://app.example"), 101),
        ("app.example:80", Some("http://app.example"), 101),
        ("app.example", Some("http://app.example:80"), 101),
        ("[::1]:8000", Some("http://[::1]:8000"), 101),
        ("app.example:8000", None, 101),
        ("app.example:8000", Some("http://app.example:8001"), 403),
        ("app.example:8000", Some("http://evil.example:8000"), 403),
        ("app.example", Some("https://app.example:8443"), 403),
        ("app.example", Some("null"), 403),
    ];
    for (host, origin, expected) in cases {
        assert_eq!(
            status(addr, "/", host, origin),
            expected,
            "{host} {origin:?}"
        );
    }
}

#[test]
fn allowed_origins_and_same_origin_combine() {
    let server = start(
        WebSocketHandler::new()
            .same_origin()
            .allowed_origins(["https://partner.example"]),
    );
    let addr = server.local_addr();
    assert_eq!(
        status(addr, "/", "a.example", Some("http://a.example")),
        101
    );
    assert_eq!(
        status(addr, "/", "a.example", Some("https://partner.example")),
        101
    );
    assert_eq!(
        status(addr, "/", "a.example", Some("https://b.example")),
        403
    );
}

#[test]
fn the_plot_demo_accepts_only_its_own_origin() {
    let demo = example::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_plot-demo")),
        &["--no-browser"],
    );
    let addr = demo.addr;
    let port = addr.port();
    let own = format!("127.0.0.1:{port}");
    for path in ["/echo", "/data"] {
        assert_eq!(
            status(addr, path, &own, Some(&format!("http://{own}"))),
            101
        );
        let localhost = format!("localhost:{port}");
        assert_eq!(
            status(addr, path, &localhost, Some(&format!("http://{localhost}"))),
            101
        );
        assert_eq!(status(addr, path, &own, None), 101, "a non-browser client");
        assert_eq!(
            status(addr, path, &own, Some("https://evil.example")),
            403,
            "another site's page"
        );
        // A page of another name that resolves here (DNS rebinding) asks
        // for that name as Host: still not the demo's own origin.
        let rebound = format!("rebound.example:{port}");
        assert_eq!(
            status(addr, path, &rebound, Some(&format!("http://{rebound}"))),
            403
        );
    }
}
