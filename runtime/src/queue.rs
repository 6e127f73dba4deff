//! `Queue<T>`: a FIFO between greenlets, unbounded or bounded.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::wait::{deadline, wait_until, WaitList};

struct State<T> {
    items: VecDeque<T>,
    capacity: Option<usize>,
    getters: WaitList,
    putters: WaitList,
}

impl<T> State<T> {
    fn has_room(&self) -> bool {
        self.capacity.is_none_or(|cap| self.items.len() < cap)
    }

    fn push(&mut self, item: T) {
        self.items.push_back(item);
        self.getters.notify_one();
    }

    fn pop(&mut self) -> Option<T> {
        let item = self.items.pop_front()?;
        self.putters.notify_one();
        Some(item)
    }
}

/// A first-in first-out queue between greenlets and threads, like gevent's
/// `Queue`. Cloning gives another handle to the same queue.
///
/// `get` blocks while the queue is empty; on a bounded queue `put` blocks
/// while it is full, which is how a fast producer is held to the pace of its
/// consumer.
///
/// ```
/// let jobs = green::Queue::bounded(2);
/// let producer = {
///     let jobs = jobs.clone();
///     green::spawn(move || for i in 0..10 { jobs.put(i) })
/// };
/// let total: i32 = (0..10).map(|_| jobs.get()).sum();
/// assert_eq!(total, 45);
/// producer.join().unwrap();
/// ```
pub struct Queue<T> {
    state: Arc<Mutex<State<T>>>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            state: self.state.clone(),
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("Queue")
            .field("len", &state.items.len())
            .field("capacity", &state.capacity)
            .finish()
    }
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Self::unbounded()
    }
}

impl<T> Queue<T> {
    fn with_capacity(capacity: Option<usize>) -> Self {
        Queue {
            state: Arc::new(Mutex::new(State {
                items: VecDeque::new(),
                capacity,
                getters: WaitList::default(),
                putters: WaitList::default(),
            })),
        }
    }

    /// A queue without a size limit: `put` never blocks.
    pub fn unbounded() -> Self {
        Self::with_capacity(None)
    }

    /// A queue that holds at most `capacity` items: `put` blocks while full.
    ///
    /// # Panics
    /// If `capacity` is 0.
    pub fn bounded(capacity: usize) -> Self {
        assert!(
            capacity > 0,
            "Queue::bounded needs a capacity of at least 1"
        );
        Self::with_capacity(Some(capacity))
    }

    /// The size limit, `None` for an unbounded queue.
    pub fn capacity(&self) -> Option<usize> {
        self.state.lock().capacity
    }

    /// The number of items waiting.
    pub fn len(&self) -> usize {
        self.state.lock().items.len()
    }

    /// True when no item is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when a bounded queue is at its limit.
    pub fn is_full(&self) -> bool {
        !self.state.lock().has_room()
    }

    /// Adds an item, blocking while a bounded queue is full.
    pub fn put(&self, item: T) {
        self.put_until(item, None)
            .unwrap_or_else(|_| unreachable!("a put without deadline cannot time out"));
    }

    /// Adds an item, waiting at most `timeout` for room; gives the item back
    /// if the queue stayed full.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), T> {
        self.put_until(item, deadline(Some(timeout)))
    }

    /// Adds an item if there is room now; gives it back otherwise.
    pub fn try_put(&self, item: T) -> Result<(), T> {
        let mut state = self.state.lock();
        if state.has_room() {
            state.push(item);
            Ok(())
        } else {
            Err(item)
        }
    }

    fn put_until(&self, item: T, deadline: Option<Instant>) -> Result<(), T> {
        {
            let mut state = self.state.lock();
            if state.has_room() {
                state.push(item);
                return Ok(());
            }
        }
        let mut item = Some(item);
        let put = wait_until(
            &self.state,
            |s| &mut s.putters,
            deadline,
            |s| {
                if s.has_room() {
                    s.push(item.take().expect("pushed once"));
                    Some(())
                } else {
                    None
                }
            },
        );
        match put {
            Some(()) => Ok(()),
            None => Err(item.take().expect("not pushed")),
        }
    }

    /// Removes and returns the oldest item, blocking while the queue is empty.
    pub fn get(&self) -> T {
        self.get_until(None)
            .expect("a get without deadline cannot time out")
    }

    /// Like [`get`](Self::get), but `None` if nothing arrived within `timeout`.
    pub fn get_timeout(&self, timeout: Duration) -> Option<T> {
        self.get_until(deadline(Some(timeout)))
    }

    /// The oldest item if one is waiting now.
    pub fn try_get(&self) -> Option<T> {
        self.state.lock().pop()
    }

    fn get_until(&self, deadline: Option<Instant>) -> Option<T> {
        if let Some(item) = self.state.lock().pop() {
            return Some(item);
        }
        wait_until(&self.state, |s| &mut s.getters, deadline, State::pop)
    }
}
