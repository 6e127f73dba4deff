//! The demo and the example servers stop gracefully on SIGTERM and SIGINT
//! (what docker, systemd, Kubernetes and Ctrl-C send), and at once on a
//! second signal.

#[path = "support/example.rs"]
mod example;
#[path = "support/ws.rs"]
mod ws;

use std::time::Duration;

/// Generous: the graceful stop takes at most its 5 s timeout.
const EXIT_LIMIT: Duration = Duration::from_secs(30);

fn start_demo() -> example::Example {
    example::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_plot-demo")),
        &["--no-browser"],
    )
}

/// The WebSocket gets a 1001 close, and the process exits 0 once the
/// client has answered it.
fn graceful_stop_on(signal: libc::c_int) {
    let mut demo = start_demo();
    let mut client = ws::connect(demo.addr, "/echo");
    client.send(tungstenite::Message::text("before")).unwrap();
    assert_eq!(client.read().unwrap(), tungstenite::Message::text("before"));
    demo.signal(signal);
    match client.read() {
        Ok(tungstenite::Message::Close(Some(frame))) => {
            assert_eq!(u16::from(frame.code), 1001, "{frame:?}")
        }
        other => panic!("expected a 1001 close, got {other:?}"),
    }
    // tungstenite answers the close; the server then ends the connection.
    while client.read().is_ok() {}
    let status = demo.wait_exit(EXIT_LIMIT);
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn sigterm_closes_websockets_with_1001_and_exits_0() {
    graceful_stop_on(libc::SIGTERM);
}

#[test]
fn sigint_closes_websockets_with_1001_and_exits_0() {
    graceful_stop_on(libc::SIGINT);
}

/// A client that never answers the 1001 holds the graceful stop up (for
/// the close timeout); a second signal ends the process at once, with a
/// non-zero status.
#[test]
fn a_second_signal_exits_at_once_with_a_failure_status() {
    let mut demo = start_demo();
    let mut silent = ws::Raw::connect(demo.addr, "/echo");
    demo.signal(libc::SIGTERM);
    assert_eq!(silent.read_close_code(), 1001);
    // The stop now waits for this client's close, which never comes.
    demo.signal(libc::SIGTERM);
    let status = demo.wait_exit(EXIT_LIMIT);
    assert_eq!(status.code(), Some(130), "{status:?}");
}

/// The examples share the demo's signal handling.
#[test]
fn the_echo_example_stops_on_sigterm_too() {
    let mut echo = example::start_example("echo", &[]);
    let mut client = ws::connect(echo.addr, "/echo");
    echo.signal(libc::SIGTERM);
    match client.read() {
        Ok(tungstenite::Message::Close(Some(frame))) => {
            assert_eq!(u16::from(frame.code), 1001, "{frame:?}")
        }
        other => panic!("expected a 1001 close, got {other:?}"),
    }
    while client.read().is_ok() {}
    assert_eq!(echo.wait_exit(EXIT_LIMIT).code(), Some(0));
}
