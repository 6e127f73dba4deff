//! Kill and timeout stop a blocking call: the harness shared by green's
//! tests (runtime/tests/net.rs) and greenws's (server/tests/kill_points.rs,
//! which includes this file by path).
//!
//! Each case sets up a call that would block for good, runs it in a
//! greenlet, and checks that `Greenlet::kill` makes `join` report `Killed`
//! and that `with_timeout` returns `Err(Timeout)`, both well within
//! `BOUND`. A kill that is swallowed shows up as a greenlet still running
//! at `BOUND` (it spins in its wait loop), or as a result other than
//! `Killed`.

use std::time::Duration;

/// How long a killed or timed-out call may take to end: far more than it
/// needs, far less than the waits it is stopped in.
pub const BOUND: Duration = Duration::from_secs(10);

/// The limit given to `with_timeout`.
pub const LIMIT: Duration = Duration::from_millis(100);

/// A blocking call, ready to run in a greenlet; it describes its outcome
/// if it ever returns.
pub type Blocking = Box<dyn FnOnce() -> String + Send>;

/// What the call needs kept alive until it ends (its peer, mostly).
pub type Keep = Box<dyn std::any::Any>;

/// Kills the call while it blocks; `join` must say `Killed`.
pub fn assert_stopped_by_kill(name: &str, setup: fn() -> (Blocking, Keep)) {
    let (call, keep) = setup();
    let entered = green::Event::new();
    let greenlet = {
        let entered = entered.clone();
        green::spawn(move || {
            entered.set();
            call()
        })
    };
    entered.wait();
    // Usually lets the call reach its wait first; a kill that lands
    // before must give `Killed` all the same.
    std::thread::sleep(Duration::from_millis(20));
    greenlet.kill();
    match greenlet.join_timeout(BOUND) {
        Ok(Err(green::Error::Killed)) => {}
        Ok(other) => panic!("{name}: killed while blocked, join gave {other:?}"),
        Err(_) => panic!("{name}: still running {BOUND:?} after the kill"),
    }
    drop(keep);
}

/// Runs the call under `with_timeout(LIMIT)`; it must give `Err(Timeout)`.
pub fn assert_stopped_by_timeout(name: &str, setup: fn() -> (Blocking, Keep)) {
    let (call, keep) = setup();
    let greenlet = green::spawn(move || green::with_timeout(LIMIT, call));
    match greenlet.join_timeout(BOUND) {
        Ok(Ok(Err(green::Timeout { limit }))) => assert_eq!(limit, LIMIT),
        Ok(other) => panic!("{name}: under with_timeout gave {other:?}"),
        Err(_) => panic!("{name}: still running {BOUND:?} after its {LIMIT:?} timeout"),
    }
    drop(keep);
}

/// One test per case: `name: setup;` where `setup` gives the call and
/// what it needs kept alive. Include this file as `mod stopped` with
/// `#[macro_use]`.
macro_rules! stopped_by_kill_and_timeout {
    ($($test:ident: $setup:expr;)*) => {$(
        #[test]
        fn $test() {
            let name = stringify!($test);
            stopped::assert_stopped_by_kill(name, $setup);
            stopped::assert_stopped_by_timeout(name, $setup);
        }
    )*};
}
