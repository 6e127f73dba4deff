//! A worker thread stuck in a greenlet that an I/O timeout woke (here: a
//! UDP receive with a read timeout that expired, after which the greenlet
//! blocks its thread, as a CPU-heavy handler would) does not hold up the
//! sockets registered with that worker's poller: the other worker serves
//! them, as it does for a worker stuck in any other greenlet (greenws's
//! `server/tests/stuck_worker.rs`). In a process of its own: two workers.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use green::net::{TcpListener, UdpSocket};

/// Enough connections that some land on each worker's poller (may gives a
/// socket to worker `fd % workers`, and the accepted ones have consecutive
/// descriptors).
const CONNECTIONS: usize = 16;

/// How long the clients wait for their echoes in all: far more than they
/// need, only to fail instead of hanging.
const PATIENCE: Duration = Duration::from_secs(10);

#[test]
fn sockets_of_a_worker_stuck_in_a_greenlet_woken_by_an_io_timeout_are_served() {
    green::Config::new()
        .workers(2)
        .apply()
        .expect("the first use of the runtime in this test binary");

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let go = UdpSocket::bind("127.0.0.1:0").unwrap();
    let go_address = go.local_addr().unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (stuck_tx, stuck) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    green::spawn(move || {
        // The server, started from here (a greenlet's spawn queues it on
        // this worker, where the other worker steals it): on a datagram, it
        // accepts every client in a row (consecutive descriptors: both
        // workers' pollers). Each connection's greenlet says it is there,
        // then waits for a byte and echoes it: that wait is on the poller
        // of the socket's worker.
        green::spawn(move || {
            go.recv(&mut [0u8; 1]).unwrap();
            for _ in 0..CONNECTIONS {
                let (mut conn, _) = listener.accept().unwrap();
                green::spawn(move || {
                    conn.write_all(b"r")?;
                    let mut byte = [0u8; 1];
                    conn.read_exact(&mut byte)?;
                    conn.write_all(&byte)
                });
            }
        });
        // The receive times out; then this greenlet blocks its worker
        // thread until released: a breach of the coroutine rules, on
        // purpose.
        udp.set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
        let kind = udp.recv(&mut [0u8; 1]).map(|_| ()).map_err(|e| e.kind());
        stuck_tx.send(kind).unwrap();
        let _ = release_rx.recv();
    });
    assert_eq!(stuck.recv().unwrap(), Err(ErrorKind::TimedOut));

    let mut clients: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect();
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .send_to(b"go", go_address)
        .unwrap();

    let deadline = Instant::now() + PATIENCE;
    let exchange = |client: &mut TcpStream, send: Option<u8>| -> Option<u8> {
        if let Some(byte) = send {
            client.write_all(&[byte]).ok()?;
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        client
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        let mut byte = [0u8; 1];
        client.read_exact(&mut byte).ok()?;
        Some(byte[0])
    };
    // Every greenlet says it is there (and goes on to wait in its read)
    // before any byte is sent.
    let there: Vec<bool> = clients
        .iter_mut()
        .map(|client| exchange(client, None) == Some(b'r'))
        .collect();
    let echoed = clients
        .iter_mut()
        .zip(there)
        .zip(b'a'..)
        .map(|((client, there), byte)| there && exchange(client, Some(byte)) == Some(byte))
        .filter(|&echoed| echoed)
        .count();
    release.send(()).unwrap();
    assert_eq!(echoed, CONNECTIONS, "every connection got its echo");
}
