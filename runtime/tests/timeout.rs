//! with_timeout: interruption at blocking points, nesting, no trace left.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use green::net::{TcpListener, TcpStream};
use green::{Error, Event, Queue, Timeout};

const SHORT: Duration = Duration::from_millis(50);
const LONG: Duration = Duration::from_secs(60);

#[test]
fn interrupts_a_sleep_in_a_greenlet_and_in_a_thread() {
    let in_greenlet = green::spawn(|| {
        let t = Instant::now();
        let r = green::with_timeout(SHORT, || green::sleep(LONG));
        (r, t.elapsed())
    });
    let (r, took) = in_greenlet.join().unwrap();
    assert_eq!(r, Err(Timeout { limit: SHORT }));
    assert!(took < Duration::from_secs(5), "{took:?}");

    let t = Instant::now();
    let r = green::with_timeout(SHORT, || green::sleep(LONG));
    assert_eq!(r, Err(Timeout { limit: SHORT }));
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_quick_closure_gives_its_value() {
    assert_eq!(green::with_timeout(LONG, || 40 + 2), Ok(42));
    let r = green::spawn(|| green::with_timeout(LONG, || "fine")).join();
    assert_eq!(r, Ok(Ok("fine")));
}

#[test]
fn interrupts_a_queue_get_and_an_event_wait() {
    let queue: Queue<u8> = Queue::unbounded();
    let event = Event::new();
    let g = green::spawn(move || {
        let got = green::with_timeout(SHORT, || queue.get());
        let waited = green::with_timeout(SHORT, || event.wait());
        (got.is_err(), waited.is_err(), queue.len())
    });
    assert_eq!(g.join(), Ok((true, true, 0)));
}

#[test]
fn interrupts_a_blocked_read_on_a_tcp_stream_which_stays_usable() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = green::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        // Stay silent until the client speaks, then answer.
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).unwrap();
        conn.write_all(b"pong").unwrap();
    });
    let client = green::spawn(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        let t = Instant::now();
        let silent = green::with_timeout(SHORT, || {
            let mut buf = [0u8; 1];
            stream.read(&mut buf)
        });
        assert!(silent.is_err(), "the read was interrupted");
        assert!(t.elapsed() < Duration::from_secs(5));
        // No stale interruption: the socket works afterwards.
        stream.write_all(b"ping").unwrap();
        let mut reply = [0u8; 4];
        stream.read_exact(&mut reply).unwrap();
        reply
    });
    assert_eq!(&client.join().unwrap(), b"pong");
    peer.join().unwrap();
}

#[test]
fn an_inner_timeout_fires_inside_a_longer_outer_one() {
    let r = green::spawn(|| {
        green::with_timeout(LONG, || {
            let inner = green::with_timeout(SHORT, || green::sleep(LONG));
            assert!(inner.is_err());
            // The outer scope keeps running normally.
            green::sleep(Duration::from_millis(10));
            "outer finished"
        })
    })
    .join();
    assert_eq!(r, Ok(Ok("outer finished")));
}

#[test]
fn an_outer_timeout_that_fires_first_is_reported_by_the_outer_scope() {
    let r = green::spawn(|| {
        let mut inner_result = None;
        let outer = green::with_timeout(SHORT, || {
            inner_result = Some(green::with_timeout(LONG, || green::sleep(LONG)));
        });
        (outer, inner_result)
    })
    .join()
    .unwrap();
    assert_eq!(r.0, Err(Timeout { limit: SHORT }));
    assert_eq!(r.1, None, "the inner scope did not return: it was unwound");
}

#[test]
fn a_timeout_that_did_not_fire_leaves_no_trace() {
    let g = green::spawn(|| {
        for _ in 0..100 {
            // Each yield normally ends well within 5 ms, but on a loaded
            // machine one can take longer and its timeout fire: either way
            // the timeout belongs to its scope, which has ended.
            let _ = green::with_timeout(Duration::from_millis(5), green::yield_now);
        }
        // Far beyond all the limits above: nothing interrupts this sleep.
        let t = Instant::now();
        green::sleep(Duration::from_millis(50));
        t.elapsed()
    });
    assert!(g.join().unwrap() >= Duration::from_millis(50));
}

#[test]
fn a_timeout_that_fired_while_the_closure_was_busy_does_not_strike_later() {
    let g = green::spawn(|| {
        // Busy past the limit without a blocking point: the closure finishes.
        let r = green::with_timeout(Duration::from_millis(10), || {
            let t = Instant::now();
            while t.elapsed() < Duration::from_millis(60) {
                std::hint::spin_loop();
            }
            "finished"
        });
        assert_eq!(r, Ok("finished"));
        // The pending interruption was cleared: blocking calls work.
        let t = Instant::now();
        green::sleep(Duration::from_millis(30));
        let q = Queue::unbounded();
        q.put(1);
        (t.elapsed(), q.get())
    });
    let (slept, got) = g.join().unwrap();
    assert!(slept >= Duration::from_millis(30));
    assert_eq!(got, 1);
}

#[test]
fn a_kill_passes_through_with_timeout() {
    let started = Event::new();
    let g = {
        let started = started.clone();
        green::spawn(move || {
            started.set();
            let _ = green::with_timeout(LONG, || green::sleep(LONG));
            "not reached"
        })
    };
    started.wait();
    g.kill();
    assert_eq!(g.join(), Err(Error::Killed));
}

#[test]
fn a_panic_inside_passes_through_with_timeout() {
    let g = green::spawn(|| green::with_timeout(LONG, || -> u8 { panic!("inner panic") }));
    match g.join() {
        Err(Error::Panicked(msg)) => assert!(msg.contains("inner panic")),
        other => panic!("expected the panic, got {other:?}"),
    }
}

#[test]
fn many_greenlets_time_out_independently() {
    let greenlets: Vec<_> = (0..500)
        .map(|i| {
            green::spawn(move || {
                if i % 2 == 0 {
                    green::with_timeout(Duration::from_millis(20), || green::sleep(LONG)).is_err()
                } else {
                    green::with_timeout(LONG, || green::sleep(Duration::from_millis(20))).is_ok()
                }
            })
        })
        .collect();
    for g in greenlets {
        assert_eq!(g.join(), Ok(true));
    }
}

/// Spawns `body` as a greenlet 500 times from each of four threads at once
/// and checks each result: with more spawning threads than cores, some
/// greenlets start, and their timeouts fire, before `spawn` has returned
/// their handle to the spawning thread. A greenlet that has not finished
/// within 10 s fails the test (it would otherwise hang).
fn spawn_from_racing_threads<T>(body: fn() -> T, expected: T)
where
    T: Send + Clone + PartialEq + std::fmt::Debug + 'static,
{
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let expected = expected.clone();
            std::thread::spawn(move || {
                for _ in 0..500 {
                    match green::spawn(body).join_timeout(Duration::from_secs(10)) {
                        Ok(result) => assert_eq!(result, Ok(expected.clone())),
                        Err(_) => panic!("a greenlet did not finish within 10 s"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn a_timeout_that_fires_before_the_spawner_knows_its_greenlet_still_lands() {
    // The timeout must still stop the sleep.
    spawn_from_racing_threads(
        || green::with_timeout(Duration::ZERO, || green::sleep(LONG)),
        Err(Timeout {
            limit: Duration::ZERO,
        }),
    );
}

#[test]
fn a_timeout_that_fires_before_the_spawner_knows_its_greenlet_leaves_no_trace() {
    // The same race with a closure that never blocks: the timeout fires
    // while the closure is busy, the closure finishes and the greenlet goes
    // on, all before `spawn` has returned. That timeout reached no blocking
    // point; the greenlet must finish, not wait for an interruption that
    // never comes (it did, when the spawner recorded the coroutine's handle).
    spawn_from_racing_threads(
        || {
            green::with_timeout(Duration::ZERO, || {
                let t = Instant::now();
                while t.elapsed() < Duration::from_micros(100) {
                    std::hint::spin_loop();
                }
                "finished"
            })
        },
        Ok("finished"),
    );
}

#[test]
fn a_timeout_lands_on_a_sleep_that_follows_a_short_sleep() {
    // may's sleep handed the coroutine to its timer thread and only then
    // registered the sleep for cancellation. When the worker lost its CPU
    // in between, the timer woke the coroutine, which went on to the next
    // sleep; the late registration then replaced that sleep's, and the
    // timeout never woke it. Spinning threads crowd the CPUs so that the
    // OS preempts workers often.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let crowd: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let greenlets: Vec<_> = (0..8)
        .map(|_| {
            green::spawn(|| {
                for _ in 0..200 {
                    green::sleep(Duration::ZERO);
                    let r = green::with_timeout(Duration::from_millis(1), || green::sleep(LONG));
                    assert!(r.is_err());
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    let results: Vec<_> = greenlets
        .into_iter()
        .map(|g| {
            g.join_timeout(deadline.saturating_duration_since(Instant::now()))
                .map_err(|_| ())
        })
        .collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in crowd {
        t.join().unwrap();
    }
    for result in results {
        assert_eq!(
            result,
            Ok(Ok(())),
            "a timeout did not stop a sleep within 10 s"
        );
    }
}
