//! Event, AsyncResult, Queue, Semaphore, Pool and Group, used from greenlets
//! and from plain threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use green::{AsyncResult, Error, Event, Group, Pool, Queue, Semaphore};

const LONG: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_millis(30);

#[test]
fn event_set_clear_wait() {
    let event = Event::new();
    assert!(!event.is_set());
    assert!(!event.wait_timeout(SHORT));
    let waiters: Vec<_> = (0..20)
        .map(|_| {
            let event = event.clone();
            green::spawn(move || event.wait_timeout(LONG))
        })
        .collect();
    event.set();
    assert!(event.is_set());
    for w in waiters {
        assert_eq!(w.join(), Ok(true));
    }
    event.wait(); // returns at once while set
    event.clear();
    assert!(!event.is_set());
    assert!(!event.wait_timeout(SHORT));
}

#[test]
fn async_result_value_error_and_timeout() {
    let result = AsyncResult::new();
    assert!(!result.ready());
    assert_eq!(result.get_timeout(SHORT), Err(Error::Timeout));
    let readers: Vec<_> = (0..5)
        .map(|_| {
            let result = result.clone();
            green::spawn(move || result.get())
        })
        .collect();
    assert!(result.set(String::from("value")));
    assert!(!result.set(String::from("second")), "set only once");
    for r in readers {
        assert_eq!(r.join(), Ok(Ok(String::from("value"))));
    }
    let failed: AsyncResult<u8> = AsyncResult::new();
    assert!(failed.set_error("broken"));
    assert_eq!(failed.get(), Err(Error::Failed("broken".into())));
    assert!(!failed.set(1));
}

#[test]
fn unbounded_queue_is_fifo_and_never_blocks_put() {
    let queue = Queue::unbounded();
    assert_eq!(queue.capacity(), None);
    for i in 0..10_000 {
        queue.put(i);
    }
    assert_eq!(queue.len(), 10_000);
    assert!(!queue.is_full());
    for i in 0..10_000 {
        assert_eq!(queue.try_get(), Some(i));
    }
    assert!(queue.is_empty());
    assert_eq!(queue.try_get(), None);
    assert_eq!(queue.get_timeout(SHORT), None);
}

#[test]
fn bounded_queue_put_blocks_while_full() {
    let queue = Queue::bounded(2);
    queue.put(1);
    queue.put(2);
    assert!(queue.is_full());
    assert_eq!(queue.try_put(3), Err(3));
    assert_eq!(queue.put_timeout(3, SHORT), Err(3));
    // A blocked putter goes on once a consumer makes room.
    let putter = {
        let queue = queue.clone();
        green::spawn(move || {
            queue.put(3);
            "put"
        })
    };
    let blocked = putter
        .join_timeout(SHORT)
        .expect_err("put blocks while full");
    assert_eq!(queue.get(), 1);
    assert_eq!(blocked.join(), Ok("put"));
    assert_eq!((queue.get(), queue.get()), (2, 3));
}

#[test]
fn queue_pipeline_between_greenlets_and_a_thread() {
    let stage1 = Queue::bounded(4);
    let stage2 = Queue::bounded(4);
    let producer = {
        let stage1 = stage1.clone();
        green::spawn(move || {
            for i in 0..1000u64 {
                stage1.put(Some(i));
            }
            stage1.put(None);
        })
    };
    let doubler = {
        let (stage1, stage2) = (stage1.clone(), stage2.clone());
        green::spawn(move || {
            while let Some(i) = stage1.get() {
                stage2.put(Some(i * 2));
            }
            stage2.put(None);
        })
    };
    // The consumer is this plain test thread.
    let consumer = std::thread::spawn(move || {
        let mut sum = 0;
        while let Some(i) = stage2.get() {
            sum += i;
        }
        sum
    });
    assert_eq!(consumer.join().unwrap(), 999 * 1000);
    producer.join().unwrap();
    doubler.join().unwrap();
}

#[test]
fn queue_get_timeout_and_many_getters() {
    let queue = Queue::unbounded();
    let getters: Vec<_> = (0..50)
        .map(|_| {
            let queue = queue.clone();
            green::spawn(move || queue.get_timeout(LONG))
        })
        .collect();
    for i in 0..50 {
        queue.put(i);
    }
    let mut got: Vec<i32> = getters
        .into_iter()
        .map(|g| g.join().unwrap().unwrap())
        .collect();
    got.sort();
    assert_eq!(got, (0..50).collect::<Vec<_>>());
}

#[test]
fn semaphore_limits_holders() {
    let sem = Semaphore::new(2);
    let a = sem.acquire();
    let _b = sem.acquire();
    assert_eq!(sem.available(), 0);
    assert!(sem.try_acquire().is_none());
    assert!(sem.acquire_timeout(SHORT).is_none());
    let waiter = {
        let sem = sem.clone();
        green::spawn(move || sem.acquire_timeout(LONG).is_some())
    };
    drop(a);
    assert_eq!(waiter.join(), Ok(true));
    assert_eq!(sem.available(), 1);
}

#[test]
fn pool_never_runs_more_than_its_size() {
    let pool = Pool::new(3);
    let running = Arc::new(AtomicUsize::new(0));
    let high_water = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    for _ in 0..30 {
        let (running, high_water) = (running.clone(), high_water.clone());
        pool.spawn(move || {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            high_water.fetch_max(now, Ordering::SeqCst);
            green::sleep(Duration::from_millis(10));
            running.fetch_sub(1, Ordering::SeqCst);
        });
        assert!(pool.len() <= 3);
    }
    assert!(pool.join(Some(LONG)));
    assert_eq!(high_water.load(Ordering::SeqCst), 3);
    assert_eq!(pool.free_count(), 3);
    assert!(pool.is_empty());
    // 30 jobs of 10 ms, 3 at a time: at least 100 ms.
    assert!(start.elapsed() >= Duration::from_millis(100));
}

#[test]
fn pool_spawn_waits_for_a_free_slot() {
    let pool = Pool::new(1);
    let release = Event::new();
    {
        let release = release.clone();
        pool.spawn(move || release.wait());
    }
    assert_eq!(pool.free_count(), 0);
    assert!(pool.wait_slot(Some(SHORT)).is_none(), "full pool: no slot");
    let spawner = {
        let pool = pool.clone();
        green::spawn(move || pool.spawn(|| 5).join())
    };
    let spawner = spawner.join_timeout(SHORT).expect_err("waits for the slot");
    release.set();
    assert_eq!(spawner.join(), Ok(Ok(5)));
}

#[test]
fn pool_kill_stops_its_greenlets() {
    let pool = Pool::new(4);
    let greenlets: Vec<_> = (0..4).map(|_| pool.spawn(|| green::sleep(LONG))).collect();
    assert!(!pool.join(Some(SHORT)));
    pool.kill();
    assert!(pool.join(Some(LONG)));
    for g in greenlets {
        assert_eq!(g.join(), Err(Error::Killed));
    }
    assert_eq!(pool.free_count(), 4);
}

#[test]
fn group_join_and_kill() {
    let group = Group::new();
    for i in 0..20u64 {
        group.spawn(move || green::sleep(Duration::from_millis(i)));
    }
    assert!(group.join(Some(LONG)));
    assert!(group.is_empty());

    let sleepers: Vec<_> = (0..5).map(|_| group.spawn(|| green::sleep(LONG))).collect();
    assert_eq!(group.len(), 5);
    assert!(!group.join(Some(SHORT)));
    group.kill();
    assert!(group.join(Some(LONG)));
    assert!(sleepers.into_iter().all(|g| g.join() == Err(Error::Killed)));
}

#[test]
fn timed_waits_in_a_greenlet_end_at_their_deadline() {
    // may keeps park timeouts in truncated milliseconds, zero meaning "for
    // ever": a wait woke a fraction of a millisecond early, parked again
    // for the rest, and never woke. Every timed wait goes through one park.
    let waits: Vec<(&str, Duration)> = vec![
        ("300 ms", Duration::from_millis(300)),
        ("0.3 ms", Duration::from_micros(300)),
        ("12.345 ms", Duration::from_micros(12_345)),
    ];
    for (name, timeout) in waits {
        let greenlet = green::spawn(move || {
            let event = Event::new();
            let queue = Queue::<u8>::unbounded();
            let pool = Pool::new(1);
            let busy = Event::new();
            {
                let busy = busy.clone();
                pool.spawn(move || busy.wait());
            }
            let results = (
                event.wait_timeout(timeout),
                queue.get_timeout(timeout).is_none(),
                pool.join(Some(timeout)),
            );
            busy.set();
            results
        });
        match greenlet.join_timeout(Duration::from_secs(10)) {
            Ok(result) => assert_eq!(result, Ok((false, true, false)), "{name}"),
            Err(_) => panic!("a {name} wait in a greenlet still waits after 10 s"),
        }
    }
}

#[test]
fn timed_waits_in_a_greenlet_time_out_below_a_millisecond_too() {
    // may keeps a park timeout in whole milliseconds: a wait whose time
    // left is under 1 ms (the first park rounds down, the second is what
    // remains) must still end.
    let waits = green::spawn(|| {
        let queue = Queue::<u8>::unbounded();
        let event = Event::new();
        let result = AsyncResult::<u8>::new();
        (
            queue.get_timeout(Duration::from_micros(300)),
            event.wait_timeout(Duration::from_micros(1500)),
            result.get_timeout(Duration::from_micros(20_700)),
        )
    });
    let outcome = waits
        .join_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("a timed wait never ended"));
    assert_eq!(outcome, Ok((None, false, Err(Error::Timeout))));
}
