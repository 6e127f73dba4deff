use std::io;
use std::os::fd::AsFd;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{from_nix_error, EventData, IoData};
#[cfg(feature = "io_timeout")]
use super::{timeout_handler, TimerList};
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

struct SingleSelector {
    epoll: Epoll,
    evfd: EventFd,
    #[cfg(feature = "io_timeout")]
    timer_list: TimerList,
    free_ev: Queue<Arc<EventData>>,
    // greenws: other workers may dispatch this selector's events (see
    // `help_stalled`). `dispatch` keeps their dispatch apart from the
    // owner's timer handling, `helpers` counts those between their
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
        // wakeup data is 0
        let info = EpollEvent::new(EpollFlags::EPOLLIN, 0);

        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let evfd = EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)?;

        // add the eventfd to the epfd
        epoll.add(evfd.as_fd(), info)?;

        Ok(SingleSelector {
            epoll,
            evfd,
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

pub(crate) struct Selector {
    // 128 should be fine for max io threads
    vec: SmallVec<[SingleSelector; 128]>,
}

impl Selector {
    pub fn new(io_workers: usize) -> io::Result<Self> {
        let mut s = Selector {
            vec: SmallVec::new(),
        };

        for _ in 0..io_workers {
            let ss = SingleSelector::new()?;
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
        // info!("select; timeout={:?}", timeout_ms);

        let single_selector = &self.vec[id];
        let epoll = &single_selector.epoll;

        // Wait for epoll events for at most timeout_ms milliseconds
        single_selector.polling.store(true, Ordering::SeqCst);
        let n = epoll.wait(events, timeout_ms);
        single_selector.polling.store(false, Ordering::SeqCst);
        let n = n?;
        // println!("epoll_wait = {}", n);

        // collect coroutines
        dispatch(scheduler, id, Some(single_selector), &events[..n]);
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
            Ok(_dispatch) => single_selector
                .timer_list
                .schedule_timer(now(), &timeout_handler),
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

    // this will post an os event so that we can wake up the event loop
    #[inline]
    pub fn wakeup(&self, id: usize) {
        let buf = 1u64.to_le_bytes();
        let ret = write(&self.vec[id].evfd, &buf);
        trace!("wakeup id={:?}, ret={:?}", id, ret);
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
        if let Some(h) = io_data.timer.borrow_mut().take() {
            unsafe {
                // mark the timer as removed if any, this only happened
                // when cancel an IO. what if the timer expired at the same time?
                // because we run this func in the user space, so the timer handler
                // will not got the coroutine
                h.with_mut_data(|value| value.data.event_data = std::ptr::null_mut());
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
            let Ok(_dispatch) = single_selector.dispatch.try_lock() else {
                continue;
            };
            single_selector.helpers.fetch_add(1, Ordering::SeqCst);
            let n = single_selector
                .epoll
                .wait(events, EpollTimeout::ZERO)
                .unwrap_or(0);
            // the owner's wakeup eventfd is level-triggered: left unread,
            // it still wakes the owner
            dispatch(scheduler, id, None, &events[..n]);
            single_selector.helpers.fetch_sub(1, Ordering::SeqCst);
            took |= n > 0;
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
        let count = self.vec.len();
        loop {
            let now = now();
            let mut any_busy = false;
            for (id, single_selector) in self.vec.iter().enumerate() {
                if single_selector.polling.load(Ordering::SeqCst) {
                    continue;
                }
                any_busy = true;
                let last_round = single_selector.last_round.load(Ordering::Relaxed);
                if now.saturating_sub(last_round) < 1_000_000 {
                    continue;
                }
                let sleeper = (1..count)
                    .map(|k| (id + k) % count)
                    .find(|&k| self.vec[k].polling.load(Ordering::SeqCst));
                if let Some(sleeper) = sleeper {
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
        // info!("io timeout = {:?}", dur);
        let (h, b_new) = self.vec[id].timer_list.add_timer(timeout, io.timer_data());
        if b_new {
            // wake up the event loop thread to recall the next wait timeout
            self.wakeup(id);
        }
        io.timer.borrow_mut().replace(h);
    }
}

/// Schedules the coroutines waiting for `events` on worker `id`'s queue.
/// `own` is the selector of `id` when these are its own events (its
/// wakeup event is consumed then); a helper passes `None`.
fn dispatch(scheduler: &Scheduler, id: usize, own: Option<&SingleSelector>, events: &[SysEvent]) {
    for event in events {
        if event.data() == 0 {
            let Some(single_selector) = own else {
                continue; // another worker's wakeup: leave it to it
            };
            // this is just a wakeup event, ignore it
            let mut buf = [0u8; 8];
            // clear the eventfd, ignore the result
            read(single_selector.evfd.as_fd(), &mut buf).ok();
            // info!("got wakeup event in select, id={}", id);
            scheduler.collect_global(id);
            continue;
        }
        let data = unsafe { &mut *(event.data() as *mut EventData) };
        let events = event.events().bits() as usize;
        // info!("select got event, data={:p}, events={}", data, events);
        data.io_flag.fetch_or(events, Ordering::Release);

        // first check the atomic co, this may be grab by the worker first
        let co = match data.co.take() {
            Some(co) => co,
            None => continue,
        };

        // it's safe to remove the timer since we are running the timer_list in the same thread
        #[cfg(feature = "io_timeout")]
        data.timer.borrow_mut().take().map(|h| {
            unsafe {
                // tell the timer handler not to cancel the io
                // it's not always true that you can really remove the timer entry
                h.with_mut_data(|value| value.data.event_data = std::ptr::null_mut());
            }
            h.remove()
        });

        #[cfg(feature = "work_steal")]
        scheduler.schedule_with_id(co, id);
        #[cfg(not(feature = "work_steal"))]
        crate::coroutine_impl::run_coroutine(co);
    }
}
