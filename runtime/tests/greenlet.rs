//! Greenlets: spawn, join, kill, panics, spawn_later, join_all, concurrency.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use green::{Builder, Error, Event, Queue};

const LONG: Duration = Duration::from_secs(60);

#[test]
fn join_gives_the_value() {
    let g = green::spawn(|| "done".to_string());
    assert_eq!(g.join(), Ok("done".to_string()));
}

#[test]
fn ten_thousand_greenlets_sleep_at_the_same_time() {
    let start = Instant::now();
    let greenlets: Vec<_> = (0..10_000u64)
        .map(|i| {
            green::spawn(move || {
                green::sleep(Duration::from_millis(200));
                i
            })
        })
        .collect();
    let sum: u64 = greenlets.into_iter().map(|g| g.join().unwrap()).sum();
    let elapsed = start.elapsed();
    assert_eq!(sum, 9_999 * 10_000 / 2);
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
}

#[test]
fn a_panic_is_reported_by_join_and_others_keep_running() {
    let survivor = green::spawn(|| {
        green::sleep(Duration::from_millis(50));
        7
    });
    let bad = green::spawn(|| -> u32 { panic!("boom in a greenlet") });
    match bad.join() {
        Err(Error::Panicked(msg)) => assert!(msg.contains("boom in a greenlet"), "{msg}"),
        other => panic!("expected a panic report, got {other:?}"),
    }
    assert_eq!(survivor.join(), Ok(7));
    // The runtime still spawns and runs greenlets afterwards.
    assert_eq!(green::spawn(|| 1 + 1).join(), Ok(2));
}

#[test]
fn kill_interrupts_a_sleep_and_runs_destructors() {
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let started = Event::new();
    let g = {
        let (dropped, started) = (dropped.clone(), started.clone());
        green::spawn(move || {
            let _guard = SetOnDrop(dropped);
            started.set();
            green::sleep(LONG);
            "woke up"
        })
    };
    started.wait();
    let t = Instant::now();
    g.kill();
    assert_eq!(g.join(), Err(Error::Killed));
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(dropped.load(Ordering::SeqCst), "destructors ran on kill");
}

#[test]
fn kill_interrupts_a_queue_get() {
    let queue: Queue<u32> = Queue::unbounded();
    let started = Event::new();
    let g = {
        let (queue, started) = (queue.clone(), started.clone());
        green::spawn(move || {
            started.set();
            queue.get()
        })
    };
    started.wait();
    g.kill();
    assert_eq!(g.join(), Err(Error::Killed));
    // The killed getter left the queue: a later item goes to a live getter.
    queue.put(5);
    assert_eq!(green::spawn(move || queue.get()).join(), Ok(5));
}

#[test]
fn killing_a_finished_greenlet_does_nothing() {
    let g = green::spawn(|| 3);
    // join_all waits without consuming the handle.
    assert_eq!(green::join_all(std::slice::from_ref(&g), None), vec![0]);
    assert!(g.ready());
    g.kill();
    assert_eq!(g.join(), Ok(3));
}

#[test]
fn kill_during_spawn_later_delay_means_never_run() {
    let ran = Arc::new(AtomicBool::new(false));
    let g = {
        let ran = ran.clone();
        green::spawn_later(LONG, move || ran.store(true, Ordering::SeqCst))
    };
    g.kill();
    assert_eq!(g.join(), Err(Error::Killed));
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn spawn_later_waits_for_its_delay() {
    let start = Instant::now();
    let g = green::spawn_later(Duration::from_millis(100), move || start.elapsed());
    let waited = g.join().unwrap();
    assert!(waited >= Duration::from_millis(100), "{waited:?}");
}

#[test]
fn join_timeout_gives_the_handle_back_while_running() {
    let release = Event::new();
    let g = {
        let release = release.clone();
        green::spawn(move || {
            release.wait();
            9
        })
    };
    let g = g
        .join_timeout(Duration::from_millis(20))
        .expect_err("still running");
    assert!(!g.ready());
    release.set();
    assert_eq!(g.join_timeout(Duration::from_secs(5)).ok(), Some(Ok(9)));
}

#[test]
fn join_all_reports_which_finished() {
    let quick = || green::spawn(|| green::sleep(Duration::from_millis(1)));
    let slow = green::spawn(|| green::sleep(LONG));
    let greenlets = vec![quick(), slow, quick()];
    let finished = green::join_all(&greenlets, Some(Duration::from_millis(300)));
    assert_eq!(finished, vec![0, 2]);
    greenlets[1].kill();
    assert_eq!(green::join_all(&greenlets, None), vec![0, 1, 2]);
}

#[test]
fn greenlets_spawn_and_join_greenlets() {
    let outer = green::spawn(|| {
        let inner: Vec<_> = (0..100).map(|i| green::spawn(move || i * 2)).collect();
        inner.into_iter().map(|g| g.join().unwrap()).sum::<i32>()
    });
    assert_eq!(outer.join(), Ok(9900));
}

#[test]
fn a_bigger_stack_for_one_greenlet() {
    fn depth(n: u32, pad: &mut [u8; 512]) -> u32 {
        pad[0] = pad[0].wrapping_add(1);
        if n == 0 {
            return 0;
        }
        let mut next = [0u8; 512];
        1 + depth(n - 1, std::hint::black_box(&mut next))
    }
    // About 2.5 MiB of frames: far beyond the 64 KiB default.
    let g = Builder::new()
        .name("deep")
        .stack_size(8 * 1024 * 1024)
        .spawn(|| depth(4000, &mut [0; 512]))
        .unwrap();
    assert_eq!(g.name(), Some("deep"));
    assert_eq!(g.join(), Ok(4000));
}

#[test]
fn a_stack_that_cannot_be_mapped_is_an_error_not_a_crash() {
    let result = Builder::new().stack_size(1 << 46).spawn(|| ());
    match result {
        Err(Error::Spawn(msg)) => assert!(!msg.is_empty()),
        other => panic!("expected Error::Spawn, got {other:?}"),
    }
    assert_eq!(green::spawn(|| 5).join(), Ok(5));
}

#[test]
fn yield_now_and_sleep_work_in_plain_threads() {
    green::yield_now();
    let t = Instant::now();
    green::sleep(Duration::from_millis(20));
    assert!(t.elapsed() >= Duration::from_millis(20));
    assert!(!green::in_coroutine());
    assert_eq!(green::spawn(green::in_coroutine).join(), Ok(true));
}

#[test]
fn many_greenlets_share_a_counter_through_a_green_mutex() {
    let counter = Arc::new(green::sync::Mutex::new(0u32));
    let finished = Arc::new(AtomicUsize::new(0));
    let greenlets: Vec<_> = (0..200)
        .map(|_| {
            let (counter, finished) = (counter.clone(), finished.clone());
            green::spawn(move || {
                for _ in 0..10 {
                    let mut n = counter.lock();
                    // Held across a blocking point: fine for the green mutex.
                    green::yield_now();
                    *n += 1;
                }
                finished.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    assert_eq!(green::join_all(&greenlets, None).len(), 200);
    assert_eq!(*counter.lock(), 2000);
    assert_eq!(finished.load(Ordering::SeqCst), 200);
}

#[test]
fn finished_coroutines_are_reused_without_carrying_anything_over() {
    // Kills that race with completion, timeouts that fire, panics: none of
    // it may reach the greenlets that later run on the same coroutines.
    for round in 0..200u32 {
        let racing = green::spawn(move || round);
        racing.kill();
        let _ = racing.join();
        let timed =
            green::spawn(|| green::with_timeout(Duration::from_millis(1), || green::sleep(LONG)));
        assert!(timed.join().unwrap().is_err());
        let panicked = green::spawn(|| -> u8 { panic!("expected in this test") });
        assert!(matches!(panicked.join(), Err(Error::Panicked(_))));
    }
    let later: Vec<_> = (0..300u64)
        .map(|i| {
            green::spawn(move || {
                green::sleep(Duration::from_millis(20));
                let q = Queue::unbounded();
                q.put(i);
                q.get()
            })
        })
        .collect();
    for (i, g) in later.into_iter().enumerate() {
        assert_eq!(g.join(), Ok(i as u64));
    }
}

/// True if the page holding `addr` (mapped) is resident.
fn resident(addr: usize) -> bool {
    let page = addr / 4096 * 4096;
    let mut vec = [0u8; 1];
    // Safety: mincore only reports on the page; callers pass pages of a
    // greenlet's own stack.
    let rc = unsafe { libc::mincore(page as *mut libc::c_void, 4096, vec.as_mut_ptr()) };
    rc == 0 && vec[0] & 1 == 1
}

#[test]
fn a_waiting_greenlet_keeps_no_resident_page_at_the_bottom_of_its_stack() {
    // The bottom page holds only generator's overflow sentinel: resident
    // in every idle greenlet unless it is given back (4 KiB each).
    let waiting = || {
        let marker = 0u8;
        let here = std::ptr::addr_of!(marker) as usize;
        let top = (here + green::stack_depth().unwrap()).div_ceil(4096) * 4096;
        let bottom = top - green::Config::current().stack_size;
        green::sleep(Duration::from_millis(1));
        resident(bottom)
    };
    // A fresh coroutine, and then (as a pooled one) again.
    for round in 0..2 {
        assert_eq!(green::spawn(waiting).join(), Ok(false), "round {round}");
    }
}

#[test]
fn trim_stack_releases_deep_pages_and_the_greenlet_goes_on() {
    /// Recurses `n` frames of 1 KiB each; gives the deepest frame's address
    /// and a checksum that proves the frames held their data.
    fn deep(n: u32) -> (usize, u64) {
        let mut pad = [n as u8; 1024];
        std::hint::black_box(&mut pad);
        if n == 0 {
            return (pad.as_ptr() as usize, pad[0] as u64);
        }
        let (addr, sum) = deep(n - 1);
        (addr, sum + pad[1023] as u64)
    }
    let g = green::spawn(|| {
        assert_eq!(green::stack_depth().map(|d| d < 4096), Some(true));
        let (deepest, sum) = deep(40);
        assert!(resident(deepest), "the deep page was touched");
        green::trim_stack();
        let released = !resident(deepest);
        // The greenlet keeps working, and can go deep again.
        green::sleep(Duration::from_millis(1));
        let (_, again) = deep(40);
        (released, sum, again)
    });
    let (released, sum, again) = g.join().unwrap();
    assert!(released, "trim_stack gave the deep pages back");
    assert_eq!(sum, again);
    assert_eq!(sum, (1..=40).sum::<u64>());
    // Outside a coroutine both are harmless no-ops.
    green::trim_stack();
    assert_eq!(green::stack_depth(), None);
}
