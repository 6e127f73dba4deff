//! `green::net::DuplexStream` over real loopback sockets.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use green::net::{DuplexStream, TcpListener, UnixListener};

/// A connected pair: the green side as a `DuplexStream`, the peer as a
/// plain std socket.
fn pair() -> (Arc<DuplexStream>, std::net::TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let duplex = Arc::new(DuplexStream::new(listener.accept().unwrap().0));
    (duplex, peer)
}

/// A fresh socket path for this process (the file is removed first).
fn socket_path() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("green-net-{}-{n}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// A connected Unix pair: the accepted side as a `DuplexStream`, the peer
/// as a plain std socket (the socket file is removed at once).
fn unix_pair() -> (Arc<DuplexStream>, std::os::unix::net::UnixStream) {
    let path = socket_path();
    let listener = UnixListener::bind(&path).unwrap();
    let peer = std::os::unix::net::UnixStream::connect(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let duplex = Arc::new(listener.accept().unwrap().0);
    (duplex, peer)
}

#[test]
fn a_unix_duplex_stream_carries_bytes_both_ways_and_sees_the_end() {
    use std::io::Write;
    let (duplex, mut peer) = unix_pair();
    assert!(duplex.as_tcp().is_none() && duplex.as_unix().is_some());
    assert_eq!(
        duplex.peer_addr().unwrap_err().kind(),
        std::io::ErrorKind::Unsupported
    );
    let deadline = Some(Instant::now() + Duration::from_secs(10));
    duplex.write_all_parts(b"head ", b"body", deadline).unwrap();
    let mut got = [0u8; 9];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"head body");
    peer.write_all(b"back").unwrap();
    drop(peer);
    let mut back = Vec::new();
    let mut buf = [0u8; 16];
    loop {
        match duplex.read(&mut buf, deadline).unwrap() {
            0 => break,
            n => back.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(back, b"back");
    // The peer is gone: an error (EPIPE through MSG_NOSIGNAL), no SIGPIPE.
    let mut failed = None;
    for _ in 0..100 {
        if let Err(e) = duplex.write_all(b"more", deadline) {
            failed = Some(e);
            break;
        }
    }
    assert_eq!(
        failed.expect("writes to a closed peer fail").kind(),
        std::io::ErrorKind::BrokenPipe
    );
}

#[test]
fn a_unix_client_connects_with_connect_unix() {
    let path = socket_path();
    let listener = UnixListener::bind(&path).unwrap();
    let server = green::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        conn.write_all(b"hello", None).unwrap();
    });
    let client = DuplexStream::connect_unix(&path).unwrap();
    let mut got = [0u8; 5];
    let mut at = 0;
    while at < got.len() {
        at += client.read(&mut got[at..], None).unwrap();
    }
    assert_eq!(&got, b"hello");
    server.join().unwrap();
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn write_all_parts_delivers_head_and_body_in_order_through_a_full_buffer() {
    let (duplex, mut peer) = pair();
    // Far more than loopback socket buffers hold: the writer must wait for
    // the reader, and the vectored first write is necessarily partial.
    let body: Vec<u8> = (0..32 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let head = b"HEAD:".to_vec();
    let writer = {
        let (duplex, head, body) = (duplex.clone(), head.clone(), body.clone());
        green::spawn(move || {
            let deadline = Some(Instant::now() + Duration::from_secs(30));
            duplex.write_all_parts(&head, &body, deadline).unwrap();
            duplex.write_all_parts(b"END", &[], deadline).unwrap();
        })
    };
    let mut got = Vec::new();
    peer.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let expected = head.len() + body.len() + 3;
    while got.len() < expected {
        let mut chunk = vec![0u8; 1 << 20];
        let n = peer.read(&mut chunk).unwrap();
        assert!(n > 0, "the stream ended after {} bytes", got.len());
        got.extend_from_slice(&chunk[..n]);
    }
    writer.join().unwrap();
    assert_eq!(&got[..head.len()], &head[..]);
    assert!(
        got[head.len()..head.len() + body.len()] == body[..],
        "body intact"
    );
    assert_eq!(&got[head.len() + body.len()..], b"END");
}

#[test]
fn write_all_parts_to_a_closed_peer_is_an_error() {
    let (duplex, peer) = pair();
    drop(peer);
    let writer = green::spawn(move || {
        let deadline = Some(Instant::now() + Duration::from_secs(10));
        let body = vec![7u8; 1 << 20];
        // The first writes may land in the buffer before the reset arrives.
        (0..64).find_map(|_| duplex.write_all_parts(b"h", &body, deadline).err())
    });
    let error = writer
        .join()
        .unwrap()
        .expect("writing to a closed peer fails");
    assert!(
        matches!(
            error.kind(),
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
        ),
        "{error:?}"
    );
}

// ---------------------------------------------------------------------------
// Kill and timeout stop every blocking call of `green::net`.
//
// Each case sets up a call that would block for good (a silent peer, a full
// send buffer, a listener nobody connects to), runs it in a greenlet, and
// checks that `Greenlet::kill` makes `join` report `Killed` and that
// `with_timeout` returns `Err(Timeout)`, both well within `BOUND`. A kill
// that is swallowed shows up as a greenlet still running at `BOUND` (it
// spins in its wait loop), or as a result other than `Killed`.

#[macro_use]
#[path = "support/stopped.rs"]
mod stopped;
use stopped::{Keep, BOUND};

/// A duplex whose peer stays silent and has not read anything.
fn silent_pair() -> (Arc<DuplexStream>, Keep) {
    let (duplex, peer) = pair();
    (duplex, Box::new(peer))
}

/// A duplex whose next write would block: the peer reads nothing and the
/// send buffer is full.
fn full_pair() -> (Arc<DuplexStream>, Keep) {
    let (duplex, peer) = pair();
    let chunk = vec![0u8; 1 << 16];
    loop {
        match duplex.try_write(&chunk) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("filling the send buffer: {e}"),
        }
    }
    (duplex, Box::new(peer))
}

/// Far more than loopback socket buffers hold.
fn big() -> Vec<u8> {
    vec![7u8; 64 << 20]
}

/// A listener whose accept queue is full, so that a new connection attempt
/// waits for an answer to its SYN that never comes.
fn full_listener() -> (std::net::SocketAddr, Keep) {
    use std::os::fd::AsRawFd;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // Safety: the descriptor is a listening socket owned above.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    let addr = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    while let Ok(stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
        queued.push(stream);
        assert!(queued.len() < 64, "the accept queue never filled");
    }
    (addr, Box::new((listener, queued)))
}

stopped_by_kill_and_timeout! {
    duplex_read_is_stopped: || {
        let (duplex, keep) = silent_pair();
        (Box::new(move || format!("{:?}", duplex.read(&mut [0u8; 16], None))), keep)
    };
    duplex_read_with_a_deadline_is_stopped_before_it: || {
        let (duplex, keep) = silent_pair();
        let deadline = Some(Instant::now() + Duration::from_secs(5));
        (Box::new(move || format!("{:?}", duplex.read(&mut [0u8; 16], deadline))), keep)
    };
    duplex_wait_readable_is_stopped: || {
        let (duplex, keep) = silent_pair();
        // The first wait returns at once (nothing was read yet); a read that
        // finds nothing makes the next one wait.
        assert!(duplex.try_read(&mut [0u8; 16]).is_err());
        (Box::new(move || format!("{:?}", duplex.wait_readable(None))), keep)
    };
    duplex_write_all_is_stopped: || {
        let (duplex, keep) = silent_pair();
        (Box::new(move || format!("{:?}", duplex.write_all(&big(), None))), keep)
    };
    duplex_write_all_parts_is_stopped: || {
        let (duplex, keep) = silent_pair();
        (Box::new(move || format!("{:?}", duplex.write_all_parts(b"head", &big(), None))), keep)
    };
    duplex_wait_writable_is_stopped: || {
        let (duplex, keep) = full_pair();
        (Box::new(move || format!("{:?}", duplex.wait_writable(None))), keep)
    };
    duplex_writer_parked_behind_a_waiting_reader_is_stopped: || {
        // The reader waits first and so becomes the socket's poller; the
        // writer then parks until the poller passes events on.
        let (duplex, keep) = full_pair();
        let entered = green::Event::new();
        let reader = {
            let (duplex, entered) = (duplex.clone(), entered.clone());
            assert!(duplex.try_read(&mut [0u8; 16]).is_err());
            green::spawn(move || {
                entered.set();
                duplex.wait_readable(None)
            })
        };
        entered.wait();
        std::thread::sleep(Duration::from_millis(20));
        let call = move || format!("{:?}", duplex.wait_writable(None));
        (Box::new(call), Box::new((keep, KillOnDrop(reader))))
    };
    tcp_stream_read_is_stopped: || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut stream, _) = listener.accept().unwrap();
        (Box::new(move || format!("{:?}", stream.read(&mut [0u8; 16]))), Box::new(peer))
    };
    tcp_stream_write_all_is_stopped: || {
        use std::io::Write;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut stream, _) = listener.accept().unwrap();
        // Fill the send buffer without waiting, so that the call blocks at once.
        let chunk = vec![0u8; 1 << 16];
        while stream.inner().write(&chunk).is_ok() {}
        (Box::new(move || format!("{:?}", stream.write_all(b"more"))), Box::new(peer))
    };
    tcp_stream_connect_is_stopped: || {
        let (addr, keep) = full_listener();
        (Box::new(move || format!("{:?}", green::net::TcpStream::connect(addr))), keep)
    };
    tcp_listener_accept_is_stopped: || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        (Box::new(move || format!("{:?}", listener.accept())), Box::new(()))
    };
    unix_duplex_read_is_stopped: || {
        let (duplex, peer) = unix_pair();
        (Box::new(move || format!("{:?}", duplex.read(&mut [0u8; 16], None))), Box::new(peer))
    };
    unix_duplex_write_all_is_stopped: || {
        let (duplex, peer) = unix_pair();
        (Box::new(move || format!("{:?}", duplex.write_all(&big(), None))), Box::new(peer))
    };
    unix_listener_accept_is_stopped: || {
        let path = socket_path();
        let listener = UnixListener::bind(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        (Box::new(move || format!("{:?}", listener.accept())), Box::new(()))
    };
    udp_socket_recv_from_is_stopped: || {
        let socket = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        (Box::new(move || format!("{:?}", socket.recv_from(&mut [0u8; 16]))), Box::new(()))
    };
}

/// Kills a helper greenlet when the case ends.
struct KillOnDrop(green::Greenlet<std::io::Result<()>>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.kill();
    }
}

#[test]
fn killing_the_poller_hands_its_role_to_a_parked_writer() {
    let (duplex, mut peer) = {
        let (duplex, peer) = pair();
        (duplex, peer)
    };
    // Fill the send buffer so that the writer has to wait.
    let chunk = vec![1u8; 1 << 16];
    let mut queued = 0;
    while let Ok(n) = duplex.try_write(&chunk) {
        queued += n;
    }
    assert!(duplex.try_read(&mut [0u8; 16]).is_err());
    let entered = green::Event::new();
    let reader = {
        let (duplex, entered) = (duplex.clone(), entered.clone());
        green::spawn(move || {
            entered.set();
            duplex.wait_readable(None)
        })
    };
    entered.wait();
    std::thread::sleep(Duration::from_millis(20));
    let writer = {
        let duplex = duplex.clone();
        green::spawn(move || duplex.write_all(b"after", Some(Instant::now() + BOUND)))
    };
    std::thread::sleep(Duration::from_millis(20));
    reader.kill();
    assert!(matches!(
        reader.join_timeout(BOUND),
        Ok(Err(green::Error::Killed))
    ));
    // The peer drains the buffer: the writer, parked or polling, finishes.
    let mut drained = vec![0u8; queued + 5];
    peer.set_read_timeout(Some(BOUND)).unwrap();
    peer.read_exact(&mut drained).unwrap();
    assert_eq!(&drained[queued..], b"after");
    assert!(matches!(writer.join_timeout(BOUND), Ok(Ok(Ok(())))));
}

/// Set in the child process of the SIGPIPE test.
const SIGPIPE_CHILD: &str = "GREEN_TEST_SIGPIPE_CHILD";

#[test]
fn writing_to_a_reset_peer_is_an_error_even_where_sigpipe_is_not_ignored() {
    if std::env::var_os(SIGPIPE_CHILD).is_some() {
        return write_to_a_reset_peer_with_sigpipe_at_its_default();
    }
    // Rust ignores SIGPIPE in its own processes; a host process (a C
    // program embedding this, a Python extension) may not. Run the writes
    // in a child that restores the default, which ends the process.
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "writing_to_a_reset_peer_is_an_error_even_where_sigpipe_is_not_ignored",
            "--nocapture",
        ])
        .env(SIGPIPE_CHILD, "1")
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the writer process ended with {status:?} (signal 13 is SIGPIPE)"
    );
}

fn write_to_a_reset_peer_with_sigpipe_at_its_default() {
    use std::os::fd::AsRawFd;
    // Safety: restoring a signal's default disposition.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let (duplex, peer) = pair();
    // SO_LINGER with a zero timeout: closing sends a reset.
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // Safety: a valid option value of the right size for a live socket.
    let set = unsafe {
        libc::setsockopt(
            peer.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::addr_of!(linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0);
    drop(peer);
    let deadline = Some(Instant::now() + BOUND);
    let body = vec![1u8; 1024];
    // The first write after the reset reports it; the later ones would
    // raise SIGPIPE if sent without MSG_NOSIGNAL.
    let failures = (0..8)
        .filter(|_| duplex.write_all_parts(b"head", &body, deadline).is_err())
        .count();
    assert!(
        failures >= 7,
        "writes to a reset peer failed {failures} times in 8"
    );
    let parts = [std::io::IoSlice::new(b"a"), std::io::IoSlice::new(b"b")];
    assert!(duplex.try_write_vectored(&parts).is_err());
}

#[test]
fn socket_io_in_a_destructor_of_a_killed_greenlet_fails_at_once() {
    // A destructor that reads (a connection saying goodbye, say) runs while
    // the greenlet unwinds from a kill: it cannot unwind again, so its read
    // must fail rather than wait or spin.
    struct ReadOnDrop(Arc<DuplexStream>, Arc<parking_lot::Mutex<Option<String>>>);
    impl Drop for ReadOnDrop {
        fn drop(&mut self) {
            let result = self.0.read(&mut [0u8; 16], None);
            *self.1.lock() = Some(format!("{result:?}"));
        }
    }
    let (duplex, _peer) = pair();
    assert!(duplex.try_read(&mut [0u8; 16]).is_err());
    let seen = Arc::new(parking_lot::Mutex::new(None));
    let entered = green::Event::new();
    let greenlet = {
        let (seen, entered) = (seen.clone(), entered.clone());
        green::spawn(move || {
            let _guard = ReadOnDrop(duplex, seen);
            entered.set();
            green::sleep(Duration::from_secs(60));
        })
    };
    entered.wait();
    greenlet.kill();
    assert!(matches!(
        greenlet.join_timeout(BOUND),
        Ok(Err(green::Error::Killed))
    ));
    let seen = seen.lock().clone().expect("the destructor ran");
    assert!(seen.starts_with("Err("), "{seen}");
}
