//! A burst of connections on a cold server: the accept loop keeps pace,
//! so the kernel's accept queue never overflows (which drops a SYN and
//! makes a client wait a second for its retransmission) and every
//! connection is served. Its own test binary, so that the server really
//! is the first thing this process runs. Nothing here measures time: a
//! dropped SYN or handshake shows as a retransmission on the client's
//! socket (`TCP_INFO`), whatever else runs on the machine.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Duration;

use greenws::Response;

const CONNECTIONS: usize = 2000;
const CLIENTS: usize = 4;

/// Segments this client socket sent again: a SYN or a handshake ACK that
/// the server's kernel dropped (accept queue full) shows here, whatever
/// else runs on the machine.
fn retransmissions(stream: &TcpStream) -> u32 {
    // Safety: tcp_info is plain data, filled by the kernel up to `len`.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        );
        assert_eq!(rc, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
        info.tcpi_total_retrans
    }
}

/// The kernel's count of connections dropped because an accept queue was
/// full (all listeners of the machine: for the failure message only).
fn listen_overflows() -> u64 {
    let netstat = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut lines = netstat.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        if let Some(i) = names
            .split_whitespace()
            .position(|n| n == "ListenOverflows")
        {
            return values
                .split_whitespace()
                .nth(i)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
        }
    }
    0
}

#[test]
fn a_burst_on_a_cold_server_loses_no_connection() {
    let overflows_before = listen_overflows();
    let server = support::start(|_req: &mut greenws::Request| Response::text("served"));
    let addr = server.local_addr();

    // Back to back, as fast as four threads can: half send a whole
    // request, half an unfinished one (they hold their connection open).
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            std::thread::spawn(move || {
                let mut whole = Vec::new();
                let mut unfinished = Vec::new();
                for i in 0..CONNECTIONS / CLIENTS {
                    let mut stream = TcpStream::connect(addr).expect("connect");
                    // Only to fail instead of hanging.
                    stream
                        .set_read_timeout(Some(Duration::from_secs(30)))
                        .unwrap();
                    if i % 2 == 0 {
                        stream
                            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                            .unwrap();
                        whole.push(stream);
                    } else {
                        stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
                        unfinished.push(stream);
                    }
                }
                (whole, unfinished)
            })
        })
        .collect();
    let (mut whole, mut unfinished) = (Vec::new(), Vec::new());
    for client in clients {
        let (w, u) = client.join().unwrap();
        whole.extend(w);
        unfinished.extend(u);
    }

    let served = whole
        .iter_mut()
        .map(|stream| {
            let mut reply = Vec::new();
            let _ = stream.read_to_end(&mut reply);
            reply
        })
        .filter(|reply| reply.starts_with(b"HTTP/1.1 200 OK\r\n") && reply.ends_with(b"served"))
        .count();
    let retransmitted = whole
        .iter()
        .chain(&unfinished)
        .filter(|stream| retransmissions(stream) > 0)
        .count();
    let overflows = listen_overflows().saturating_sub(overflows_before);
    assert_eq!(served, whole.len(), "every whole request was answered");
    assert_eq!(
        retransmitted, 0,
        "connections that had to retransmit (the machine's ListenOverflows moved by {overflows})"
    );
    drop(unfinished);
    assert!(server.stop(Duration::from_secs(5)));
}
