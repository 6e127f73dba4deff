//! Serving on a Unix domain socket: `WsgiServer::bind_unix`, the demo's
//! `--unix PATH`, and what happens to a file already at the path.

#[path = "support/example.rs"]
mod example;
#[path = "support/tool.rs"]
mod tool;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use greenws::proto::forwarded::UNIX_PEER;
use greenws::{Request, Response, ServerHandle, Upgrade, WebSocketHandler, WsgiServer};

/// A fresh directory for this test's socket files (removed on drop).
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("greenws-unix-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `/test` answers text, `/peer` the peer address and scheme the request
/// sees, `/echo` is a WebSocket echo.
fn app(req: &mut Request) -> Response {
    match req.path() {
        "/peer" => Response::text(format!("{} {}", req.peer_addr(), req.scheme())),
        "/echo" => req.upgrade(|ws| {
            for message in ws.messages() {
                ws.send(message?)?;
            }
            Ok(())
        }),
        _ => Response::text("Yes this is a test!"),
    }
}

fn serve(server: WsgiServer) -> ServerHandle {
    server
        .handler_class(WebSocketHandler::new())
        .start(app)
        .expect("start")
}

/// One request written by hand over a std Unix stream; the whole reply.
fn get(path: &Path, target: &str, extra_headers: &str) -> String {
    let mut client = UnixStream::connect(path).expect("connect to the socket");
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        client,
        "GET {target} HTTP/1.1\r\nHost: localhost\r\n{extra_headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    client.read_to_string(&mut reply).expect("the whole reply");
    reply
}

fn body(reply: &str) -> &str {
    reply.split_once("\r\n\r\n").expect("a head and a body").1
}

#[test]
fn http_and_a_websocket_echo_over_a_unix_socket() {
    let dir = TempDir::new("http");
    let path = dir.path("server.sock");
    let server = serve(WsgiServer::bind_unix(&path).unwrap());
    assert_eq!(
        server.listen_addr().to_string(),
        format!("unix:{}", path.display())
    );
    assert_eq!(server.listen_addr().unix(), Some(path.as_path()));
    assert_eq!(server.local_addr(), UNIX_PEER);

    let reply = get(&path, "/test", "");
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert_eq!(body(&reply), "Yes this is a test!");
    // A Unix peer has no address: UNIX_PEER, and the connection's scheme.
    assert_eq!(body(&get(&path, "/peer", "")), "0.0.0.0:0 http");

    let stream = UnixStream::connect(&path).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (mut ws, response) = tungstenite::client::client("ws://localhost/echo", stream).unwrap();
    assert_eq!(response.status(), 101);
    ws.send(tungstenite::Message::text("over a unix socket"))
        .unwrap();
    assert_eq!(
        ws.read().unwrap(),
        tungstenite::Message::text("over a unix socket")
    );
    ws.close(None).unwrap();
    while ws.read().is_ok() {}

    assert!(server.stop(Duration::from_secs(5)));
    assert!(!path.exists(), "the socket file is removed on stop");
}

#[test]
fn forwarding_headers_from_a_unix_peer_count_only_when_unix_is_trusted() {
    let dir = TempDir::new("trust");
    let forwarded = "X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n";

    let untrusted_path = dir.path("untrusted.sock");
    let _untrusted = serve(
        WsgiServer::bind_unix(&untrusted_path)
            .unwrap()
            .trusted_proxies("127.0.0.1".parse().unwrap()),
    );
    assert_eq!(
        body(&get(&untrusted_path, "/peer", forwarded)),
        "0.0.0.0:0 http"
    );

    let trusted_path = dir.path("trusted.sock");
    let _trusted = serve(
        WsgiServer::bind_unix(&trusted_path)
            .unwrap()
            .trusted_proxies("unix".parse().unwrap()),
    );
    assert_eq!(
        body(&get(&trusted_path, "/peer", forwarded)),
        "203.0.113.9:0 https"
    );
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let dir = TempDir::new("stale");
    let path = dir.path("stale.sock");
    // A listener that is gone leaves its file behind; connecting is refused.
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let _server = serve(WsgiServer::bind_unix(&path).unwrap());
    assert_eq!(body(&get(&path, "/test", "")), "Yes this is a test!");
}

#[test]
fn a_live_socket_is_address_in_use_and_left_alone() {
    let dir = TempDir::new("live");
    let path = dir.path("live.sock");
    let live = UnixListener::bind(&path).unwrap();
    let error = WsgiServer::bind_unix(&path).err().expect("refused");
    let message = error.to_string();
    assert!(message.contains("already"), "{message}");
    assert!(path.exists());
    // The live listener still gets its connections.
    let _client = UnixStream::connect(&path).unwrap();
    live.accept().expect("the live listener's connection");
}

#[test]
fn a_regular_file_at_the_path_is_an_error_that_says_so() {
    let dir = TempDir::new("file");
    let path = dir.path("data.txt");
    std::fs::write(&path, "precious").unwrap();
    let error = WsgiServer::bind_unix(&path).err().expect("refused");
    let message = error.to_string();
    assert!(
        message.contains("not a socket") && message.contains(&path.display().to_string()),
        "{message}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}

#[test]
fn an_inherited_unix_listener_is_served_and_its_file_kept() {
    let dir = TempDir::new("inherited");
    let path = dir.path("inherited.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let server = serve(WsgiServer::from_listener(listener).unwrap());
    assert_eq!(
        server.listen_addr().to_string(),
        format!("unix:{}", path.display())
    );
    assert_eq!(body(&get(&path, "/test", "")), "Yes this is a test!");
    assert!(server.stop(Duration::from_secs(5)));
    // Whoever bound it owns the file.
    assert!(path.exists());
}

fn curl_unix(socket: &Path, url: &str) -> String {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10"])
        .arg("--unix-socket")
        .arg(socket)
        .arg(url)
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "curl --unix-socket {}: {}",
        socket.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("text")
}

fn curl_is_missing() -> bool {
    if Command::new("curl").arg("--version").output().is_err() {
        tool::missing("curl", "apt-get install curl; .ci/run does", tool::in_ci());
        return true;
    }
    false
}

#[test]
fn curl_unix_socket_talks_to_the_server() {
    if curl_is_missing() {
        return;
    }
    let dir = TempDir::new("curl");
    let path = dir.path("curl.sock");
    let _server = serve(WsgiServer::bind_unix(&path).unwrap());
    assert_eq!(
        curl_unix(&path, "http://localhost/test"),
        "Yes this is a test!"
    );
}

#[test]
fn the_demo_serves_on_unix_path_and_removes_it_at_exit() {
    if curl_is_missing() {
        return;
    }
    let dir = TempDir::new("demo");
    let path = dir.path("plot-demo.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_plot-demo"))
        .arg("--no-browser")
        .arg("--unix")
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the demo starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    let mut second = String::new();
    stdout.read_line(&mut first).unwrap();
    stdout.read_line(&mut second).unwrap();
    let mut demo = example::Example::from_child(child, UNIX_PEER);
    assert_eq!(first.trim(), format!("Serving on unix:{}", path.display()));
    assert_eq!(
        second.trim(),
        format!(
            "Try: curl --unix-socket {} http://localhost/",
            path.display()
        )
    );
    assert_eq!(
        curl_unix(&path, "http://localhost/test"),
        "Yes this is a test!"
    );
    demo.signal(libc::SIGTERM);
    assert!(demo.wait_exit(Duration::from_secs(20)).success());
    assert!(!path.exists(), "the demo removes its socket file at exit");
}

#[test]
fn the_demo_refuses_a_regular_file_at_unix_path() {
    let dir = TempDir::new("demo-file");
    let path = dir.path("notes.txt");
    std::fs::write(&path, "keep me").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_plot-demo"))
        .arg("--no-browser")
        .arg("--unix")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not a socket"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
}
