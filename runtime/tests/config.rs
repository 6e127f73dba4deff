//! Runtime settings, in a process of their own: one worker thread, which also
//! shows that `yield_now` lets other greenlets run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use green::{Config, Error};

#[test]
fn settings_apply_once_and_yield_now_shares_one_worker() {
    assert!(matches!(
        Config::new().workers(0).apply(),
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        Config::new().stack_size(1024).apply(),
        Err(Error::InvalidConfig(_))
    ));
    Config::new()
        .workers(1)
        .stack_size(128 * 1024)
        .apply()
        .unwrap();
    let current = Config::current();
    assert_eq!(current.workers, 1);
    assert_eq!(current.stack_size, 128 * 1024);
    assert_eq!(Config::new().apply(), Err(Error::AlreadyStarted));

    // On a single worker, a greenlet that spins with yield_now lets the
    // other one run; without the yields it would never see the flag.
    let flag = Arc::new(AtomicBool::new(false));
    let spinner = {
        let flag = flag.clone();
        green::spawn(move || {
            let mut spins = 0u64;
            while !flag.load(Ordering::SeqCst) {
                green::yield_now();
                spins += 1;
            }
            spins
        })
    };
    let setter = {
        let flag = flag.clone();
        green::spawn(move || flag.store(true, Ordering::SeqCst))
    };
    setter.join().unwrap();
    assert!(spinner.join().is_ok());

    // A greenlet that never stops yielding still lets the worker keep its
    // timers, its sockets and what other threads schedule on it: a sleep
    // ends, a read sees its data, a spawn from this thread runs.
    let stop = Arc::new(AtomicBool::new(false));
    let endless = {
        let stop = stop.clone();
        green::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                green::yield_now();
            }
        })
    };
    let sleeper = green::spawn(|| green::sleep(std::time::Duration::from_millis(5)));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let reader = green::spawn(move || {
        let stream = green::net::TcpStream::connect(address).unwrap();
        let mut byte = [0u8; 1];
        std::io::Read::read(&mut &stream, &mut byte).unwrap()
    });
    let (mut peer, _) = listener.accept().unwrap();
    std::io::Write::write_all(&mut peer, b"x").unwrap();
    let bound = std::time::Duration::from_secs(10);
    sleeper
        .join_timeout(bound)
        .unwrap_or_else(|_| starved::<Result<(), Error>>("a sleep"))
        .unwrap();
    let read = reader.join_timeout(bound);
    assert_eq!(read.unwrap_or_else(|_| starved("a read")).unwrap(), 1);
    green::spawn(move || stop.store(true, Ordering::SeqCst))
        .join_timeout(bound)
        .unwrap_or_else(|_| starved("a spawn from another thread"))
        .unwrap();
    assert!(endless.join_timeout(bound).is_ok());
}

fn starved<T>(what: &str) -> T {
    panic!("{what} starved by a greenlet looping on yield_now")
}
