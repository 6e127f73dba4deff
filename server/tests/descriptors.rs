//! Running out of file descriptors: the server closes what it cannot serve
//! and keeps accepting. A process of its own, with a low descriptor limit.

mod support;

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::Duration;

use greenws::Response;
use socket2::{Domain, Socket, Type};
use support::{get, Client};

/// Files the app holds open to use up the process's descriptors.
static HOARD: Mutex<Vec<File>> = Mutex::new(Vec::new());

fn app(req: &mut greenws::Request) -> Response {
    match req.path() {
        "/exhaust" => {
            let mut hoard = HOARD.lock().unwrap();
            while let Ok(file) = File::open("/dev/null") {
                hoard.push(file);
            }
            Response::text(format!("holding {}", hoard.len()))
        }
        "/release" => {
            HOARD.lock().unwrap().clear();
            Response::text("released")
        }
        _ => Response::text("ok"),
    }
}

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
    let server = support::start(app);
    let addr = server.local_addr();
    let in_use = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    set_open_file_limit(in_use + 64);

    // Client sockets made while descriptors are still free: more than one,
    // so that the server's spare descriptor must survive each shedding.
    let spare: Vec<Socket> = (0..10)
        .map(|_| Socket::new(Domain::IPV4, Type::STREAM, None).unwrap())
        .collect();
    let mut owner = Client::connect(addr);
    assert!(owner.request(get("/exhaust")).text().starts_with("holding"));

    // No descriptor is left: each new connection is accepted and closed.
    // (The client sides stay open: closing one would free a descriptor.)
    let mut shed = Vec::new();
    for socket in spare {
        socket.connect(&addr.into()).unwrap();
        let mut stream: TcpStream = socket.into();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let _ = stream.write_all(get("/").as_bytes());
        let mut buf = [0u8; 64];
        match stream.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            other => panic!("expected the server to close the connection, got {other:?}"),
        }
        shed.push(stream);
    }

    // Once descriptors are free again the server accepts and answers.
    assert_eq!(owner.request(get("/release")).text(), "released");
    let mut fresh = Client::connect(addr);
    assert_eq!(fresh.request(get("/")).text(), "ok");
}
