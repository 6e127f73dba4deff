//! `green::net::DuplexStream` over real loopback sockets.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use green::net::{DuplexStream, TcpListener};

/// A connected pair: the green side as a `DuplexStream`, the peer as a
/// plain std socket.
fn pair() -> (Arc<DuplexStream>, std::net::TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let duplex = Arc::new(DuplexStream::new(listener.accept().unwrap().0));
    (duplex, peer)
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
