//! Running out of file descriptors: the server closes what it cannot serve
//! and keeps accepting. A process of its own, with a low descriptor limit.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use greenws::Response;
use support::{get, Client};

fn set_open_file_limit(limit: u64) {
    let rl = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // Safety: setrlimit reads the struct given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) }, 0);
}

#[test]
fn out_of_descriptors_the_server_sheds_connections_and_recovers() {
    let server = support::start(|_req: &mut greenws::Request| Response::text("ok"));
    let addr = server.local_addr();
    // From here the process (test client and server together) may hold
    // only a few more descriptors.
    let in_use = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    set_open_file_limit(in_use + 24);

    let mut clients = Vec::new();
    let mut refused_or_closed = 0;
    let mut shed_by_server = 0;
    for _ in 0..40 {
        match TcpStream::connect(addr) {
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let _ = s.write_all(get("/").as_bytes());
                let mut buf = [0u8; 256];
                match s.read(&mut buf) {
                    Ok(n) if n > 0 => clients.push(s),
                    _ => shed_by_server += 1,
                }
            }
            Err(_) => refused_or_closed += 1,
        }
    }
    eprintln!(
        "served {}, shed by the server {shed_by_server}, refused locally {refused_or_closed}",
        clients.len()
    );
    assert!(
        shed_by_server > 0,
        "the server ran out and closed connections it could not serve"
    );
    assert!(!clients.is_empty(), "some connections were served");
    drop(clients);

    // Descriptors are free again: the server still accepts and answers.
    let mut served = false;
    for _ in 0..100 {
        if let Ok(stream) = TcpStream::connect(addr) {
            drop(stream);
            let mut c = Client::connect(addr);
            served = c.request(get("/")).text() == "ok";
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(served);
}
