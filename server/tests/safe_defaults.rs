//! Defaults a public server can run with: TCP keepalive on every accepted
//! connection, and a bound on connections that leaves the process
//! descriptors to spare. A process of its own (it lowers its open-file
//! limit for good).

mod support;

use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::Duration;

use greenws::{Response, WsgiServer};
use support::{get, Client};

fn app(_req: &mut greenws::Request) -> Response {
    Response::text("ok")
}

/// Reads an integer socket option of one of this process's descriptors.
fn int_option(fd: RawFd, level: libc::c_int, name: libc::c_int) -> libc::c_int {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // Safety: getsockopt writes at most `len` bytes into `value`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt on {fd}");
    value
}

/// The address of a socket descriptor (local or peer).
fn address(fd: RawFd, peer: bool) -> Option<SocketAddr> {
    // Safety: a zeroed sockaddr_storage is valid; the call fills at most `len`.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let query = if peer {
        libc::getpeername
    } else {
        libc::getsockname
    };
    // Safety: as above.
    if unsafe {
        query(
            fd,
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    } != 0
    {
        return None;
    }
    if storage.ss_family != libc::AF_INET as libc::sa_family_t {
        return None;
    }
    // Safety: the family says it is a sockaddr_in.
    let v4: libc::sockaddr_in =
        unsafe { std::ptr::read((&storage as *const libc::sockaddr_storage).cast()) };
    let ip = std::net::Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
    Some(SocketAddr::from((ip, u16::from_be(v4.sin_port))))
}

/// The server's side of a connection, found among this process's
/// descriptors by its addresses (the server runs in this process).
fn server_side(server: SocketAddr, client: SocketAddr) -> RawFd {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<RawFd>().ok())
        .find(|&fd| address(fd, false) == Some(server) && address(fd, true) == Some(client))
        .expect("the server's side of the connection")
}

#[test]
fn accepted_connections_have_tcp_keepalive() {
    let server = support::start(app);
    let mut client = Client::connect(server.local_addr());
    assert_eq!(client.request(get("/")).text(), "ok");
    let fd = server_side(server.local_addr(), client.stream().local_addr().unwrap());
    assert_eq!(int_option(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE), 1);
    let idle = WsgiServer::DEFAULT_TCP_KEEPALIVE.as_secs() as libc::c_int;
    assert_eq!(int_option(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE), idle);
    assert_eq!(int_option(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL), 10);
    assert_eq!(int_option(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT), 5);

    // And it can be turned off.
    let quiet = WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .tcp_keepalive(None)
        .start(app)
        .unwrap();
    let mut client = Client::connect(quiet.local_addr());
    assert_eq!(client.request(get("/")).text(), "ok");
    let fd = server_side(quiet.local_addr(), client.stream().local_addr().unwrap());
    assert_eq!(int_option(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE), 0);
}

#[test]
fn the_default_connection_bound_leaves_descriptors_to_spare() {
    let in_use = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    let limit = in_use + 1000;
    let rl = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // Safety: setrlimit reads the struct given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) }, 0);

    let server = support::start(app);
    // A tenth of the limit, at least 64, stays free for everything else.
    let spare = (limit / 10).max(64);
    assert_eq!(server.max_connections() as u64, limit - spare);
    // An explicit bound is kept as given.
    let bounded = WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .spawn(7)
        .start(app)
        .unwrap();
    assert_eq!(bounded.max_connections(), 7);

    // The bound holds: with `spawn(2)`, a third client waits in the backlog
    // until one of the first two leaves.
    let two = WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .spawn(2)
        .start(app)
        .unwrap();
    let mut first = Client::connect(two.local_addr());
    let mut second = Client::connect(two.local_addr());
    assert_eq!(first.request(get("/")).text(), "ok");
    assert_eq!(second.request(get("/")).text(), "ok");
    let mut third = Client::connect(two.local_addr());
    third.send(get("/"));
    third
        .stream()
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    let waited = std::io::Read::read(&mut third.stream(), &mut byte);
    assert!(
        matches!(&waited, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the third connection was served while two were open: {waited:?}"
    );
    drop(first);
    third
        .stream()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(third.reply().text(), "ok");
}
