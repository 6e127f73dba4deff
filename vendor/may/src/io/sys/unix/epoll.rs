use std::io;
use std::os::fd::AsFd;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{from_nix_error, EventData, IoData};
#[cfg(feature = "io_timeout")]
use super::{timed_out_coroutine, TimerList};
#[cfg(feature = "io_timeout")]
use crate::coroutine_impl::CoroutineImpl;
use crate::scheduler::Scheduler;
use crate::timeout_list::now;

use may_queue::mpsc::Queue;
use nix::sys::epoll::*;
use nix::sys::eventfd::*;
use nix::unistd::{read, write};
use smallvec::SmallVec;

pub type SysEvent = EpollEvent;

/// greenws: how long a running worker may go without taking its events
/// before the other workers take them for it (see `Selector::help_stalled`).
const HELP_AFTER_NS: u64 = 200_000;
/// greenws: the same for a worker in `epoll_wait`: it is woken for its own
/// events, unless the OS has no CPU for it; the others look at most this
/// often.
const HELP_SLEEPER_AFTER_NS: u64 = 1_000_000;
/// greenws: a running worker that has not taken its events for this long
/// counts as stalled (in one coroutine, or without a CPU): see
/// `Selector::may_drive` and `Selector::watch`.
const STALLED_AFTER_NS: u64 = 1_000_000;
/// greenws: see `Selector::help_wanted_after_ns`.
const HELP_WANTED_SPARE_NS: u64 = 50_000;
const HELP_WANTED_BUSY_NS: u64 = 1_000_000;
/// greenws: how often the watchdog measures the machine's idle CPU time.
const IDLE_SAMPLE_EVERY: Duration = Duration::from_millis(100);

struct SingleSelector {
    /// the sockets registered with this worker (and nothing else)
    epoll: Epoll,
    /// this worker's wakeup eventfd
    evfd: EventFd,
    /// greenws: where this worker sleeps when another worker is the
    /// driver (see `Selector::idle_wait`): its eventfd only
    park: Epoll,
    #[cfg(feature = "io_timeout")]
    timer_list: TimerList,
    free_ev: Queue<Arc<EventData>>,
    // greenws: other workers may dispatch this selector's events (see
    // `help_stalled`). `dispatch` keeps every dispatch of this epoll's
    // events (the owner's and the helpers') and the owner's timer handling
    // apart, `helpers` counts those between their
    // `epoll_wait` and the end of their dispatch (event data is freed only
    // when there are none), `last_round` is when (`now()`) the owner last
    // took its events (or, while it waits, a helper last looked), and
    // `polling` is true while the owner waits in `epoll_wait`.
    dispatch: Mutex<()>,
    helpers: AtomicUsize,
    last_round: AtomicU64,
    polling: AtomicBool,
}

impl SingleSelector {
    pub fn new() -> io::Result<Self> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let evfd = EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)?;
        let park = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        park.add(evfd.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, 0))?;

        Ok(SingleSelector {
            epoll,
            evfd,
            park,
            free_ev: Queue::new(),
            dispatch: Mutex::new(()),
            helpers: AtomicUsize::new(0),
            last_round: AtomicU64::new(0),
            polling: AtomicBool::new(false),
            #[cfg(feature = "io_timeout")]
            timer_list: TimerList::new(),
        })
    }
}

/// No worker is the driver.
const NO_DRIVER: usize = usize::MAX;

pub(crate) struct Selector {
    // 128 should be fine for max io threads
    vec: SmallVec<[SingleSelector; 128]>,
    /// greenws: one readiness view of every worker's sockets: each
    /// worker's `epoll` (event data `id + 1`) and `driver_evfd` (event data
    /// 0). The one idle worker that is the driver sleeps here; the other
    /// idle workers sleep on their `park` (see `idle_wait`).
    all: Epoll,
    /// greenws: wakes whichever worker is the driver.
    driver_evfd: EventFd,
    /// greenws: the id of the worker sleeping on `all`, or `NO_DRIVER`.
    driver: AtomicUsize,
    /// greenws: whether the machine had an idle CPU lately (see `watch`).
    spare_cpu: AtomicBool,
}

impl Selector {
    pub fn new(io_workers: usize) -> io::Result<Self> {
        let all = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let driver_evfd = EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)?;
        all.add(driver_evfd.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, 0))?;
        let mut s = Selector {
            vec: SmallVec::new(),
            all,
            driver_evfd,
            driver: AtomicUsize::new(NO_DRIVER),
            spare_cpu: AtomicBool::new(true),
        };

        for id in 0..io_workers {
            let ss = SingleSelector::new()?;
            s.all.add(
                ss.epoll.0.as_fd(),
                EpollEvent::new(EpollFlags::EPOLLIN, id as u64 + 1),
            )?;
            s.vec.push(ss);
        }

        Ok(s)
    }

    #[inline]
    pub fn select(
        &self,
        scheduler: &Scheduler,
        id: usize,
        events: &mut [SysEvent],
        _timeout: Option<u64>,
    ) -> io::Result<Option<u64>> {
        assert!(id < self.vec.len());
        #[cfg(feature = "io_timeout")]
        let timeout_ms = _timeout
            .map(|to| EpollTimeout::try_from(to.div_ceil(1_000_000)).unwrap())
            .unwrap_or(EpollTimeout::NONE);
        #[cfg(not(feature = "io_timeout"))]
        let timeout_ms = EpollTimeout::NONE;

        let single_selector = &self.vec[id];

        if timeout_ms == EpollTimeout::ZERO {
            // work is queued: take this worker's ready sockets, never sleep
            self.take_own_events(scheduler, id, events)?;
            // and those of the parked workers, when no driver watches them
            if self.driver.load(Ordering::SeqCst) == NO_DRIVER {
                for other in (1..self.vec.len()).map(|k| (id + k) % self.vec.len()) {
                    if self.vec[other].polling.load(Ordering::SeqCst) {
                        self.take_events_of(scheduler, id, other, events);
                    }
                }
            }
        } else {
            self.idle_wait(scheduler, id, events, timeout_ms)?;
        }
        single_selector.last_round.store(now(), Ordering::Relaxed);

        // run the local tasks (greenws: within a budget, see
        // `run_queued_tasks_budgeted`)
        let mut work_left = scheduler.run_queued_tasks_budgeted(id);

        // greenws: serve the events of workers that are not running
        if self.help_stalled(scheduler, id, events) {
            work_left |= scheduler.run_queued_tasks_budgeted(id);
        }

        // free the unused event_data
        self.free_unused_event_data(id);

        // deal with the timer list
        #[cfg(feature = "io_timeout")]
        let next_expire = match single_selector.dispatch.try_lock() {
            Ok(dispatch) => {
                // greenws: the coroutines whose I/O timed out are queued
                // here and run after `dispatch` is released (may ran each
                // one at once, inside the timer handling). Run under it, a
                // coroutine that then computed or blocked for long kept
                // every other worker from this worker's sockets (their
                // `try_lock` fails), and the driver, woken again and again
                // by those still-ready sockets (`all` is level-triggered),
                // spun on a CPU for as long (runtime test
                // `stuck_after_io_timeout`).
                let timed_out = std::cell::RefCell::new(SmallVec::<[CoroutineImpl; 8]>::new());
                let next_expire = single_selector.timer_list.schedule_timer(now(), &|data| {
                    timed_out.borrow_mut().extend(timed_out_coroutine(data))
                });
                drop(dispatch);
                for co in timed_out.into_inner() {
                    scheduler.schedule_with_id(co, id);
                    work_left = true;
                }
                next_expire
            }
            // greenws: a helper is dispatching here; never wait for it (it
            // may be the one waiting for a CPU), look again in 1 ms
            Err(_) => Some(1_000_000),
        };
        #[cfg(not(feature = "io_timeout"))]
        let next_expire = None;
        // greenws: with coroutines still queued, the next epoll_wait only
        // looks (timeout 0) and the loop comes straight back to them
        if work_left {
            return Ok(Some(0));
        }
        Ok(next_expire)
    }

    /// greenws: how an idle worker sleeps, the shape of tokio's single I/O
    /// driver. With an epoll per worker, each idle worker slept in its own
    /// `epoll_wait` and was woken for each batch of its own sockets: two
    /// workers were woken 0.19-0.25 times per echoed message against
    /// 0.05-0.07 for tokio (`benches/switches.sh`), and their wake-ups
    /// competed with everything else for the CPUs. Now one idle worker, the
    /// driver, sleeps on `all` (every worker's epoll) and takes the ready
    /// sockets of all of them; the other idle workers sleep on their own
    /// eventfd (`park`) and are woken for work queued to them, for a timer,
    /// or by a worker whose queued coroutines have waited too long
    /// (`wake_helper`: the woken worker steals from its queue, then becomes
    /// the next driver when it runs out of work). Which idle worker may
    /// drive: `may_drive`.
    ///
    /// The driver's own wake-ups: `wakeup(id)` writes the eventfd of `id`,
    /// then, if `id` is the driver, `driver_evfd`; the driver announces
    /// itself, then reads its eventfd before it sleeps. Either it sees the
    /// write or the waker sees it as the driver.
    fn idle_wait(
        &self,
        scheduler: &Scheduler,
        id: usize,
        events: &mut [SysEvent],
        timeout: EpollTimeout,
    ) -> io::Result<()> {
        let single_selector = &self.vec[id];
        single_selector.polling.store(true, Ordering::SeqCst);
        let is_driver = self.may_drive(id)
            && self
                .driver
                .compare_exchange(NO_DRIVER, id, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok();
        if !is_driver {
            let n = single_selector.park.wait(events, timeout);
            single_selector.polling.store(false, Ordering::SeqCst);
            n?;
            self.take_wakeup(scheduler, id);
            // the driver may have left this worker's sockets (it was not
            // there, or it skipped a selector busy with its timers)
            self.take_own_events(scheduler, id, events)?;
            return Ok(());
        }

        let mut buf = [0u8; 8];
        let woken = read(single_selector.evfd.as_fd(), &mut buf).is_ok();
        let n = if woken {
            Ok(0)
        } else {
            self.all.wait(events, timeout)
        };
        self.driver.store(NO_DRIVER, Ordering::SeqCst);
        single_selector.polling.store(false, Ordering::SeqCst);
        let n = n?;
        if woken {
            scheduler.collect_global(id);
        }

        // which epolls are ready (the events buffer is reused below)
        let mut ready: SmallVec<[usize; 16]> = SmallVec::new();
        for event in &events[..n] {
            match event.data() {
                0 => {
                    read(self.driver_evfd.as_fd(), &mut buf).ok();
                    self.take_wakeup(scheduler, id);
                }
                data => ready.push(data as usize - 1),
            }
        }
        for other in ready {
            if other == id {
                self.take_own_events(scheduler, id, events)?;
            } else {
                self.take_events_of(scheduler, id, other, events);
            }
        }
        Ok(())
    }

    /// greenws: whether idle worker `id` may become the driver. With an
    /// idle CPU, always: it serves ready sockets at once on that CPU. When
    /// no CPU has been idle lately (`spare_cpu`), only if no other worker is
    /// running (each one is idle, or stalled in one coroutine): a running
    /// worker takes the parked workers' sockets at the end of each of its
    /// rounds (`select`), and a driver woken beside it would only take a
    /// CPU from another thread, ours or not. (With two workers and a load
    /// generator on two CPUs, a driver that woke beside the running worker
    /// was most of the remaining wake-ups.)
    fn may_drive(&self, id: usize) -> bool {
        if self.spare_cpu.load(Ordering::Relaxed) {
            return true;
        }
        let now = now();
        self.vec.iter().enumerate().all(|(k, other)| {
            k == id
                || other.polling.load(Ordering::SeqCst)
                || now.saturating_sub(other.last_round.load(Ordering::Relaxed)) >= STALLED_AFTER_NS
        })
    }

    /// greenws: how long a worker's queued coroutines may wait before it
    /// wakes a sleeping worker to steal some (`wake_helper`, called from
    /// `Scheduler::run_queued_tasks_budgeted`): 50 us when the machine has
    /// an idle CPU, the helper's wake-up costs no one; 1 ms when it has
    /// none, a helper only adds a runnable thread to the CPUs' queues.
    pub fn help_wanted_after_ns(&self) -> u64 {
        if self.spare_cpu.load(Ordering::Relaxed) {
            HELP_WANTED_SPARE_NS
        } else {
            HELP_WANTED_BUSY_NS
        }
    }

    /// greenws: when worker `id` last took its events (`now()`), the
    /// start of its current round while it runs.
    pub fn round_started(&self, id: usize) -> u64 {
        self.vec[id].last_round.load(Ordering::Relaxed)
    }

    /// greenws: wakes a worker sleeping in `idle_wait` (the driver or a
    /// parked one) other than `id`, to steal from `id`'s queue; false if
    /// none sleeps.
    pub fn wake_helper(&self, id: usize) -> bool {
        let sleeper = self.sleeper_for(id);
        if let Some(sleeper) = sleeper {
            self.wakeup(sleeper);
        }
        sleeper.is_some()
    }

    /// greenws: a worker sleeping in `idle_wait` to wake for worker `id`:
    /// one of the three before it if one sleeps (a worker steals from, and
    /// helps, the three after it: `Scheduler::run_queued_tasks`,
    /// `help_stalled`), else any (it takes the ready sockets as the driver).
    fn sleeper_for(&self, id: usize) -> Option<usize> {
        let count = self.vec.len();
        let sleeping = |k: &usize| self.vec[*k].polling.load(Ordering::SeqCst);
        (1..count.min(4))
            .map(|k| (id + count - k) % count)
            .find(sleeping)
            .or_else(|| (1..count).map(|k| (id + k) % count).find(sleeping))
    }

    /// greenws: worker `id` takes the ready events of its own epoll, under
    /// its `dispatch` lock: a helper (the driver) may be dispatching them
    /// too, and a dispatch unlinks the sockets' I/O timers from this
    /// worker's timer list, which two threads must not do at once. Skipped
    /// while a helper holds the lock (it is taking these events).
    fn take_own_events(
        &self,
        scheduler: &Scheduler,
        id: usize,
        events: &mut [SysEvent],
    ) -> io::Result<()> {
        let single_selector = &self.vec[id];
        let Ok(_dispatch) = single_selector.dispatch.try_lock() else {
            return Ok(());
        };
        let n = single_selector.epoll.wait(events, EpollTimeout::ZERO)?;
        dispatch(scheduler, id, &events[..n]);
        Ok(())
    }

    /// greenws: clears worker `id`'s eventfd and takes its global queue.
    fn take_wakeup(&self, scheduler: &Scheduler, id: usize) {
        let mut buf = [0u8; 8];
        read(self.vec[id].evfd.as_fd(), &mut buf).ok();
        scheduler.collect_global(id);
    }

    /// greenws: worker `id` takes the ready events of worker `other`'s
    /// epoll and schedules their coroutines on its own queue; returns how
    /// many. Skipped (0) while `other` handles its I/O timers.
    fn take_events_of(
        &self,
        scheduler: &Scheduler,
        id: usize,
        other: usize,
        events: &mut [SysEvent],
    ) -> usize {
        let single_selector = &self.vec[other];
        let Ok(_dispatch) = single_selector.dispatch.try_lock() else {
            return 0;
        };
        single_selector.helpers.fetch_add(1, Ordering::SeqCst);
        let n = single_selector
            .epoll
            .wait(events, EpollTimeout::ZERO)
            .unwrap_or(0);
        let took = dispatch(scheduler, id, &events[..n]);
        single_selector.helpers.fetch_sub(1, Ordering::SeqCst);
        took
    }

    // this will post an os event so that we can wake up the event loop
    #[inline]
    pub fn wakeup(&self, id: usize) {
        let buf = 1u64.to_le_bytes();
        let ret = write(&self.vec[id].evfd, &buf);
        trace!("wakeup id={:?}, ret={:?}", id, ret);
        // greenws: the driver sleeps on `all`, not on its eventfd (see
        // `idle_wait`)
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.driver.load(Ordering::SeqCst) == id {
            write(&self.driver_evfd, &buf).ok();
        }
    }

    // register io event to the selector
    #[inline]
    pub fn add_fd(&self, io_data: IoData) -> io::Result<IoData> {
        let info = EpollEvent::new(
            EpollFlags::EPOLLIN
                | EpollFlags::EPOLLOUT
                | EpollFlags::EPOLLRDHUP
                | EpollFlags::EPOLLET,
            io_data.as_ref() as *const _ as _,
        );

        let fd = io_data.fd;
        let id = fd as usize % self.vec.len();
        let single_selector = &self.vec[id];
        let epoll = &single_selector.epoll;
        info!("add fd to epoll select, fd={:?}", fd);
        epoll
            .add(unsafe { BorrowedFd::borrow_raw(fd) }, info)
            .map_err(from_nix_error)
            .map(|_| io_data)
    }

    #[inline]
    pub fn mod_fd(&self, io_data: &IoData, is_read: bool) -> io::Result<()> {
        let mut info = if is_read {
            EpollEvent::new(
                EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLET,
                io_data.as_ref() as *const _ as _,
            )
        } else {
            EpollEvent::new(
                EpollFlags::EPOLLOUT | EpollFlags::EPOLLHUP | EpollFlags::EPOLLET,
                io_data.as_ref() as *const _ as _,
            )
        };

        let fd = io_data.fd;
        let id = fd as usize % self.vec.len();
        let single_selector = &self.vec[id];
        let epoll = &single_selector.epoll;
        info!("mod fd to epoll select, fd={:?}, is_read={}", fd, is_read);
        epoll
            .modify(unsafe { BorrowedFd::borrow_raw(fd) }, &mut info)
            .map_err(from_nix_error)
    }

    #[inline]
    pub fn del_fd(&self, io_data: &IoData) {
        #[cfg(feature = "io_timeout")]
        {
            // greenws: under the owner's `dispatch` lock, like
            // `add_io_timer`: a timer left by a cancelled I/O may expire on
            // the owner's thread at this moment
            let owner = &self.vec[io_data.fd as usize % self.vec.len()];
            let _dispatch = owner
                .dispatch
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(h) = io_data.timer.borrow_mut().take() {
                unsafe {
                    // mark the timer as removed if any, this only happened
                    // when cancel an IO
                    h.with_mut_data(|value| value.data.event_data = std::ptr::null_mut());
                }
            }
        }

        let fd = io_data.fd;
        let id = fd as usize % self.vec.len();
        let single_selector = &self.vec[id];
        let epoll = &single_selector.epoll;
        info!("del fd from epoll select, fd={:?}", fd);
        epoll.delete(unsafe { BorrowedFd::borrow_raw(fd) }).ok();

        // after EpollCtlDel push the unused event data
        single_selector.free_ev.push((*io_data).clone());
    }

    // we can't free the event data directly in the worker thread
    // must free them before the next epoll_wait
    #[inline]
    fn free_unused_event_data(&self, id: usize) {
        let single_selector = &self.vec[id];
        let free_ev = &single_selector.free_ev;
        loop {
            let batch = free_ev.bulk_pop();
            if batch.is_empty() {
                return;
            }
            // greenws: a helper may still dispatch an event it took before
            // the fd was deleted; keep the data until no helper is inside.
            if single_selector.helpers.load(Ordering::SeqCst) != 0 {
                for data in batch {
                    free_ev.push(data);
                }
                return;
            }
        }
    }

    /// greenws: a worker's sockets are registered with its own epoll, so
    /// while that worker thread waits for a CPU (the OS runs another
    /// thread) its ready connections wait with it, up to a scheduler tick
    /// (4 ms at HZ=250), however idle the other workers are; stealing
    /// only moves coroutines already queued. So, after each of its own
    /// rounds, a worker takes the ready events of up to three other
    /// selectors whose owner has not taken its events for `HELP_AFTER_NS`
    /// while running (`HELP_SLEEPER_AFTER_NS` while in `epoll_wait`), and
    /// runs their coroutines itself.
    /// Returns true if it took any.
    fn help_stalled(&self, scheduler: &Scheduler, id: usize, events: &mut [SysEvent]) -> bool {
        let count = self.vec.len();
        if count < 2 {
            return false;
        }
        let now = now();
        let mut took = false;
        for other in (1..count.min(4)).map(|k| (id + k) % count) {
            let single_selector = &self.vec[other];
            let last_round = single_selector.last_round.load(Ordering::Relaxed);
            let polling = single_selector.polling.load(Ordering::Relaxed);
            let after = if polling {
                HELP_SLEEPER_AFTER_NS
            } else {
                HELP_AFTER_NS
            };
            if now.saturating_sub(last_round) < after {
                continue;
            }
            if polling {
                // one look per period for a worker that may just be idle
                let claimed = single_selector.last_round.compare_exchange(
                    last_round,
                    now,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                if claimed.is_err() {
                    continue;
                }
            }
            took |= self.take_events_of(scheduler, id, other, events) > 0;
        }
        took
    }

    /// greenws: the watchdog, run by a thread of its own. A worker that
    /// runs one coroutine for long (a CPU-heavy handler, a blocking call)
    /// or that the OS does not run holds up the ready connections of its
    /// epoll; while the other workers are busy they help at each round
    /// (`help_stalled`), but a worker asleep in `epoll_wait` never learns
    /// of them. Every millisecond while a worker is out of `epoll_wait`
    /// (every 10 ms when none is), this wakes a sleeping worker to help
    /// each worker that has not taken its events for a millisecond.
    pub fn watch(&self) {
        let mut idle = IdleCpu::new();
        loop {
            if let Some(spare) = idle.sample() {
                self.spare_cpu.store(spare, Ordering::Relaxed);
            }
            let now = now();
            let mut any_busy = false;
            for (id, single_selector) in self.vec.iter().enumerate() {
                if single_selector.polling.load(Ordering::SeqCst) {
                    continue;
                }
                any_busy = true;
                let last_round = single_selector.last_round.load(Ordering::Relaxed);
                if now.saturating_sub(last_round) < STALLED_AFTER_NS {
                    continue;
                }
                if let Some(sleeper) = self.sleeper_for(id) {
                    self.wakeup(sleeper);
                }
            }
            let pause = if any_busy { 1 } else { 10 };
            std::thread::sleep(Duration::from_millis(pause));
        }
    }

    /// greenws: true while worker `id` waits in `epoll_wait` (it has
    /// nothing queued and will see new work at once).
    #[inline]
    pub fn is_polling(&self, id: usize) -> bool {
        self.vec[id].polling.load(Ordering::Relaxed)
    }

    // register the io request to the timeout list
    #[inline]
    #[cfg(feature = "io_timeout")]
    pub fn add_io_timer(&self, io: &IoData, timeout: Duration) {
        let id = io.fd as usize % self.vec.len();
        // greenws: under the owner's `dispatch` lock, which its timer
        // handling holds: a timer that expired between `add_timer` and the
        // store of its handle (this thread without a CPU for the whole
        // timeout) had the two threads in `io.timer` at once (a `RefCell`:
        // "already borrowed" panics under a stress test of 2 ms UDP read
        // timeouts beside two CPU hogs), and left a handle to a node already
        // popped. No holder of that lock runs a coroutine, so this cannot
        // wait for itself.
        let _dispatch = self.vec[id]
            .dispatch
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (h, b_new) = self.vec[id].timer_list.add_timer(timeout, io.timer_data());
        io.timer.borrow_mut().replace(h);
        drop(_dispatch);
        if b_new {
            // wake up the event loop thread to recall the next wait timeout
            self.wakeup(id);
        }
    }
}

/// greenws: whether the machine had an idle CPU lately: at least half a
/// CPU's time idle over the last `IDLE_SAMPLE_EVERY`, from /proc/stat.
struct IdleCpu {
    at: std::time::Instant,
    /// /proc/stat at `at`
    last: Option<CpuTimes>,
}

/// The machine's CPU time since boot, all CPUs (the aggregate line of
/// /proc/stat), and how many CPUs it counts.
#[derive(Clone, Copy)]
struct CpuTimes {
    idle: u64,
    total: u64,
    cpus: u64,
}

impl IdleCpu {
    fn new() -> Self {
        IdleCpu {
            at: std::time::Instant::now(),
            last: Self::read(),
        }
    }

    /// None until the next sample is due (or when /proc/stat cannot be read).
    fn sample(&mut self) -> Option<bool> {
        if self.at.elapsed() < IDLE_SAMPLE_EVERY {
            return None;
        }
        self.at = std::time::Instant::now();
        let (last, now) = (self.last, Self::read());
        self.last = now;
        let (last, now) = (last?, now?);
        let idle = now.idle.saturating_sub(last.idle);
        let total = now.total.saturating_sub(last.total);
        // the idle share of all the machine's CPUs, in CPUs, >= 1/2 (the
        // CPUs /proc/stat counts, not the ones this process may use: the
        // shares are of all of them)
        Some(total > 0 && idle * now.cpus * 2 >= total)
    }

    /// "cpu user nice system idle iowait irq softirq steal ...", then a
    /// "cpuN" line per CPU.
    fn read() -> Option<CpuTimes> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let mut lines = stat.lines();
        let fields: Vec<u64> = lines
            .next()?
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        let cpus = lines.take_while(|line| line.starts_with("cpu")).count() as u64;
        Some(CpuTimes {
            idle: fields.get(3)? + fields.get(4)?,
            total: fields.iter().sum(),
            cpus: cpus.max(1),
        })
    }
}

/// Schedules the coroutines waiting for `events` (of a worker's `epoll`) on
/// worker `id`'s queue; returns how many.
fn dispatch(scheduler: &Scheduler, id: usize, events: &[SysEvent]) -> usize {
    let mut scheduled = 0;
    for event in events {
        let data = unsafe { &mut *(event.data() as *mut EventData) };
        let events = event.events().bits() as usize;
        // info!("select got event, data={:p}, events={}", data, events);
        data.io_flag.fetch_or(events, Ordering::Release);

        // first check the atomic co, this may be grab by the worker first
        let co = match data.co.take() {
            Some(co) => co,
            None => continue,
        };

        // greenws: the caller holds the `dispatch` lock of the epoll these
        // events came from, which the owner's timer handling and every
        // other dispatch of it take too: one thread at a time unlinks from
        // that worker's timer list
        #[cfg(feature = "io_timeout")]
        data.timer.borrow_mut().take().map(|h| {
            unsafe {
                // tell the timer handler not to cancel the io
                // it's not always true that you can really remove the timer entry
                h.with_mut_data(|value| value.data.event_data = std::ptr::null_mut());
            }
            h.remove()
        });

        scheduled += 1;
        #[cfg(feature = "work_steal")]
        scheduler.schedule_with_id(co, id);
        #[cfg(not(feature = "work_steal"))]
        crate::coroutine_impl::run_coroutine(co);
    }
    scheduled
}
