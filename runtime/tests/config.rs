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
}
