//! The demo on an already-bound listener: systemd's socket activation
//! passes it as descriptor 3 with `LISTEN_FDS=1` and `LISTEN_PID`.

#[path = "support/example.rs"]
mod example;
mod support;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// The demo, started as systemd would: `listener` as descriptor 3, and
/// `LISTEN_PID` set to the demo's own pid (by a shell that `exec`s it,
/// keeping its pid), with `LISTEN_FDS` as given.
fn activated_demo(listener: &impl AsRawFd, listen_fds: &str) -> Command {
    let mut command = Command::new("/bin/sh");
    command
        .args(["-c", r#"LISTEN_PID=$$ exec "$0" --no-browser --port 1"#])
        .arg(env!("CARGO_BIN_EXE_plot-demo"))
        .env("LISTEN_FDS", listen_fds);
    let fd = listener.as_raw_fd();
    // SAFETY: dup2 and fcntl are async-signal-safe. The child gets the
    // listener as descriptor 3 without close-on-exec: dup2 clears the flag
    // on a copy, but does nothing when the listener already is 3.
    unsafe {
        command.pre_exec(move || {
            let ok = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0) == 0
            } else {
                libc::dup2(fd, 3) == 3
            };
            if ok {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    command
}

#[test]
fn the_demo_serves_on_an_inherited_listener() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (child, first) = example::first_line(activated_demo(&listener, "1"));
    drop(listener); // the demo holds its own copy
                    // The inherited socket, not --port 1.
    assert_eq!(first.trim(), format!("Serving on http://{addr}"));
    let demo = example::Example::from_child(child, addr);
    let mut client = support::Client::connect(demo.addr);
    let reply = client.request(support::get("/test"));
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "Yes this is a test!")
    );
}

#[test]
fn the_demo_serves_on_an_inherited_unix_listener() {
    let dir = std::env::temp_dir().join(format!("greenws-listen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("activated.sock");
    let _ = std::fs::remove_file(&path);
    // systemd's ListenStream=/run/plot-demo.sock: it binds, the demo serves.
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let (child, first) = example::first_line(activated_demo(&listener, "1"));
    drop(listener);
    let demo = example::Example::from_child(child, greenws::proto::forwarded::UNIX_PEER);
    assert_eq!(first.trim(), format!("Serving on unix:{}", path.display()));
    let mut client = std::os::unix::net::UnixStream::connect(&path).unwrap();
    client
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    client
        .write_all(b"GET /test HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    client.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.ends_with("\r\n\r\nYes this is a test!"), "{reply}");
    drop(demo);
    // The file belongs to whoever bound it (systemd), not to the demo.
    assert!(path.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn several_inherited_sockets_are_refused_clearly() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let output = activated_demo(&listener, "2").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("LISTEN_FDS=2"), "{stderr}");
}

#[test]
fn listen_fds_meant_for_another_process_are_ignored() {
    // LISTEN_PID names another process (pid 1): the demo binds its own port.
    let mut command = Command::new(env!("CARGO_BIN_EXE_plot-demo"));
    command
        .args(["--no-browser", "--host", "127.0.0.1", "--port", "0"])
        .env("LISTEN_FDS", "1")
        .env("LISTEN_PID", "1");
    let demo = example::start_command(command);
    let reply = support::Client::connect(demo.addr).request(support::get("/test"));
    assert_eq!(reply.status, 200);
}
