//! A worker thread that does not run (here: stuck in a blocking call, as
//! a CPU-heavy handler or a thread the OS does not schedule would be) does
//! not hold up the connections registered with its poller: the other
//! worker serves them.

mod support;

use std::sync::mpsc;

use greenws::Response;
use support::{get, start, Client};

const CONNECTIONS: usize = 16;

#[test]
fn connections_of_a_stuck_worker_are_served_by_the_other() {
    green::Config::new()
        .workers(2)
        .apply()
        .expect("the first use of the runtime in this test binary");
    let server = start(|_req: &mut greenws::Request| Response::text("served"));

    // A greenlet that blocks its worker thread until released: a breach of
    // the coroutine rules, on purpose, to take that worker away.
    let (stuck_tx, stuck) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    green::spawn(move || {
        stuck_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    stuck.recv().unwrap();

    // Descriptors are spread over the two workers' pollers (by number), so
    // about half of these belong to the stuck worker. Each client waits 10
    // seconds at most (only to fail instead of hanging).
    let mut clients: Vec<Client> = (0..CONNECTIONS)
        .map(|_| Client::connect(server.local_addr()))
        .collect();
    for client in &mut clients {
        client.send(get("/"));
    }
    let served = clients
        .iter_mut()
        .map(|client| client.read_reply(false).map(|reply| reply.text()))
        .filter(|reply| matches!(reply, Ok(text) if text == "served"))
        .count();
    release.send(()).unwrap();
    assert_eq!(served, CONNECTIONS, "every connection got its answer");
    assert!(server.stop(std::time::Duration::from_secs(5)));
}
