//! `Semaphore`, `Group` (a set of greenlets to join or kill together) and
//! `Pool` (a group with a bound on how many run at once).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::greenlet::Member;
use crate::wait::{deadline, wait_until, WaitList};
use crate::{Builder, Error, Greenlet};

struct SemState {
    permits: usize,
    waiters: WaitList,
}

/// A counting semaphore: at most `permits` holders at once. Cloning gives
/// another handle to the same semaphore.
///
/// ```
/// let sem = green::Semaphore::new(1);
/// let permit = sem.acquire();
/// assert!(sem.try_acquire().is_none());
/// drop(permit);
/// assert!(sem.try_acquire().is_some());
/// ```
#[derive(Clone)]
pub struct Semaphore {
    state: Arc<Mutex<SemState>>,
}

/// A permit of a [`Semaphore`]; dropping it gives the permit back.
pub struct SemaphorePermit {
    state: Arc<Mutex<SemState>>,
}

impl Drop for SemaphorePermit {
    fn drop(&mut self) {
        let mut state = self.state.lock();
        state.permits += 1;
        state.waiters.notify_one();
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.available())
            .finish()
    }
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub fn new(permits: usize) -> Self {
        Semaphore {
            state: Arc::new(Mutex::new(SemState {
                permits,
                waiters: WaitList::default(),
            })),
        }
    }

    /// Permits free right now.
    pub fn available(&self) -> usize {
        self.state.lock().permits
    }

    /// Takes a permit, blocking until one is free.
    pub fn acquire(&self) -> SemaphorePermit {
        self.acquire_until(None)
            .expect("an acquire without deadline cannot time out")
    }

    /// Takes a permit, waiting at most `timeout`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit> {
        self.acquire_until(deadline(Some(timeout)))
    }

    /// Takes a permit if one is free now.
    pub fn try_acquire(&self) -> Option<SemaphorePermit> {
        self.acquire_until(Some(Instant::now()))
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> Option<SemaphorePermit> {
        wait_until(
            &self.state,
            |s| &mut s.waiters,
            deadline,
            |s| (s.permits > 0).then(|| s.permits -= 1),
        )?;
        Some(SemaphorePermit {
            state: self.state.clone(),
        })
    }
}

struct GroupState {
    /// Members by a key of the group's own; `None` while being spawned.
    members: HashMap<u64, Option<Arc<dyn Member>>>,
    next_key: u64,
    idle: WaitList,
}

/// Leaves the group when the greenlet finishes (it is dropped then).
struct Membership {
    state: Arc<Mutex<GroupState>>,
    key: u64,
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut state = self.state.lock();
        state.members.remove(&self.key);
        if state.members.is_empty() {
            state.idle.notify_all();
        }
    }
}

/// A set of greenlets to wait for or kill together, like gevent's `Group`.
/// Finished greenlets leave the group by themselves. Cloning gives another
/// handle to the same group.
///
/// ```
/// use std::time::Duration;
/// let group = green::Group::new();
/// for i in 0..10 {
///     group.spawn(move || green::sleep(Duration::from_millis(i)));
/// }
/// assert!(group.join(Some(Duration::from_secs(5))));
/// assert!(group.is_empty());
/// ```
#[derive(Clone)]
pub struct Group {
    state: Arc<Mutex<GroupState>>,
}

impl Default for Group {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group").field("len", &self.len()).finish()
    }
}

impl Group {
    /// An empty group.
    pub fn new() -> Self {
        Group {
            state: Arc::new(Mutex::new(GroupState {
                members: HashMap::new(),
                next_key: 0,
                idle: WaitList::default(),
            })),
        }
    }

    /// Greenlets of the group still running.
    pub fn len(&self) -> usize {
        self.state.lock().members.len()
    }

    /// True when no greenlet of the group is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Spawns `f` as a member of the group.
    ///
    /// # Panics
    /// If the coroutine cannot be created; see [`Group::try_spawn`].
    pub fn spawn<F, T>(&self, f: F) -> Greenlet<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.try_spawn(Builder::new(), f)
            .unwrap_or_else(|e| panic!("Group::spawn: {e}"))
    }

    /// Spawns `f` as a member with the given options; [`Error::Spawn`] if
    /// the coroutine cannot be created.
    pub fn try_spawn<F, T>(&self, builder: Builder, f: F) -> Result<Greenlet<T>, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_holding(builder, f, ())
    }

    /// Spawns a member that keeps `held` until it finishes.
    fn spawn_holding<F, T, H>(&self, builder: Builder, f: F, held: H) -> Result<Greenlet<T>, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
        H: Send + 'static,
    {
        let key = {
            let mut state = self.state.lock();
            let key = state.next_key;
            state.next_key += 1;
            state.members.insert(key, None);
            key
        };
        let membership = Membership {
            state: self.state.clone(),
            key,
        };
        let greenlet = builder.spawn_with(f, (membership, held))?;
        if let Some(slot) = self.state.lock().members.get_mut(&key) {
            *slot = Some(greenlet.member());
        }
        Ok(greenlet)
    }

    /// Waits until every member has finished or `timeout` passes (`None`:
    /// no limit); true if the group is empty.
    pub fn join(&self, timeout: Option<Duration>) -> bool {
        wait_until(
            &self.state,
            |s| &mut s.idle,
            deadline(timeout),
            |s| s.members.is_empty().then_some(()),
        )
        .is_some()
    }

    /// Kills every member spawned so far (see [`Greenlet::kill`]). Does not
    /// wait: follow with [`join`](Self::join) for that.
    pub fn kill(&self) {
        let members: Vec<_> = self
            .state
            .lock()
            .members
            .values()
            .flatten()
            .cloned()
            .collect();
        for member in members {
            member.kill();
        }
    }
}

/// A group that runs at most `size` greenlets at once, like gevent's
/// `Pool`: [`spawn`](Pool::spawn) waits for a free slot. Cloning gives
/// another handle to the same pool.
///
/// ```
/// use std::time::Duration;
/// let pool = green::Pool::new(3);
/// for _ in 0..9 {
///     pool.spawn(|| green::sleep(Duration::from_millis(5)));
/// }
/// assert!(pool.join(Some(Duration::from_secs(5))));
/// assert_eq!(pool.free_count(), 3);
/// ```
#[derive(Clone, Debug)]
pub struct Pool {
    size: usize,
    slots: Semaphore,
    group: Group,
}

impl Pool {
    /// A pool of `size` slots.
    ///
    /// # Panics
    /// If `size` is 0 (nothing could ever run).
    pub fn new(size: usize) -> Self {
        assert!(size > 0, "Pool::new needs a size of at least 1");
        Pool {
            size,
            slots: Semaphore::new(size),
            group: Group::new(),
        }
    }

    /// The number of slots.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Slots free right now.
    pub fn free_count(&self) -> usize {
        self.slots.available()
    }

    /// Greenlets of the pool still running.
    pub fn len(&self) -> usize {
        self.group.len()
    }

    /// True when nothing runs in the pool.
    pub fn is_empty(&self) -> bool {
        self.group.is_empty()
    }

    /// Waits for a free slot, then spawns `f` in it.
    ///
    /// # Panics
    /// If the coroutine cannot be created; see [`Pool::try_spawn`].
    pub fn spawn<F, T>(&self, f: F) -> Greenlet<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.try_spawn(Builder::new(), f)
            .unwrap_or_else(|e| panic!("Pool::spawn: {e}"))
    }

    /// Waits for a free slot, then spawns `f` with the given options;
    /// [`Error::Spawn`] (and the slot stays free) if the coroutine cannot
    /// be created.
    pub fn try_spawn<F, T>(&self, builder: Builder, f: F) -> Result<Greenlet<T>, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let slot = self.slots.acquire();
        self.group.spawn_holding(builder, f, slot)
    }

    /// Waits for a free slot for at most `timeout`; `None` if the pool
    /// stayed full. The permit is handed to [`Pool::spawn_in`].
    pub fn wait_slot(&self, timeout: Option<Duration>) -> Option<PoolSlot> {
        let permit = match timeout {
            None => self.slots.acquire(),
            Some(t) => self.slots.acquire_timeout(t)?,
        };
        Some(PoolSlot { permit })
    }

    /// Spawns `f` in a slot obtained with [`Pool::wait_slot`]; the slot is
    /// freed when the greenlet finishes or if it cannot be created.
    pub fn spawn_in<F, T>(
        &self,
        slot: PoolSlot,
        builder: Builder,
        f: F,
    ) -> Result<Greenlet<T>, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.group.spawn_holding(builder, f, slot.permit)
    }

    /// Waits until every greenlet of the pool has finished or `timeout`
    /// passes; true if the pool is empty.
    pub fn join(&self, timeout: Option<Duration>) -> bool {
        self.group.join(timeout)
    }

    /// Kills every greenlet of the pool (see [`Group::kill`]).
    pub fn kill(&self) {
        self.group.kill();
    }
}

/// A reserved slot of a [`Pool`], from [`Pool::wait_slot`]. Dropping it
/// unused frees the slot.
#[derive(Debug)]
pub struct PoolSlot {
    permit: SemaphorePermit,
}

impl fmt::Debug for SemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphorePermit")
    }
}
