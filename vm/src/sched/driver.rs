//! The idle-wait seam: what the scheduler does when no task can run.
//!
//! A [`Driver`] is one per program, shared by every runtime that is given
//! a clone of it (`Vm::set_driver`; a VM left alone has a private one).
//! It owns the one `mio::Poll` that every runtime's sources are
//! registered with (each runtime keeps its own slots: `reactor.rs`), and
//! reaches each runtime through a [`Mailbox`]: an inbox and a parker.
//! Readiness events, pool completions (`pool.rs`) and wakes posted from
//! other threads through a [`RemoteWaker`] arrive in the inbox of the
//! runtime they are addressed to, by (runtime, slot) or (task, wait
//! token); the sender then unparks that runtime.
//!
//! When every task of a runtime waits, its loop calls
//! [`Scheduler::idle`] once, which waits for the next timer, an event or a
//! post, leader/follower style. A runtime that finds nobody polling takes
//! the lead: it polls once, with its own next timer as the timeout, hands
//! each event for another runtime to that runtime's inbox and unparks it,
//! then steps down, unparking the runtimes that waited for the lead. A
//! runtime that finds the poll taken parks on its own parker, with its
//! own next timer as the timeout, until its inbox gets something or the
//! leader steps down. A post to the leader itself wakes its poll through
//! the driver's `mio::Waker`. No spinning and no sleeping in slices: an
//! idle program sleeps in the kernel until something happens
//! (`tests/io.rs` measures the CPU time of idle runtimes).
//!
//! The deadlock rule follows: no runnable task, no timer, and nothing
//! outside pending (no I/O wait, no pool job, no remote waker, no wait
//! on a host channel whose host end lives). Host threads that change a
//! host channel set a flag and wake the runtime; the runtime then matches
//! the channels its tasks wait on with their queues (`host_chan.rs`).
//!
//! On the virtual clock, time jumps to the next timer when only timers
//! can wake a task; while anything outside is pending, the clock moves
//! with real time instead, since the wake may come before the timer.
//!
//! The poll is made on first use (a program that never waits on the
//! outside world costs no file descriptors); until then an idle wait is a
//! park on the runtime's parker, which posts and interrupts end.

use super::pool::Pool;
use super::reactor::{IoWaiter, Reactor, Readiness};
use super::{host_chan, Resume, Scheduler, SharedWait, Slab, TaskId, Via};
use crate::heap::Heap;
use crate::message::Message;
use crate::native::Finisher;
use crate::value::{Ref, Value};
use crossbeam_channel::{Receiver, Sender};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Takes a lock even if a thread panicked holding it: the data behind
/// these locks stays consistent between statements.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// See the module documentation.
#[derive(Clone, Default)]
pub struct Driver {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").field("runtimes", &lock(&self.shared.runtimes).len()).finish()
    }
}

impl Driver {
    /// A driver of its own, for runtimes to share: give each a clone.
    pub fn new() -> Driver {
        Driver::default()
    }

    /// Runtimes attached to it now.
    pub fn runtimes(&self) -> usize {
        lock(&self.shared.runtimes).len()
    }
}

#[derive(Default)]
struct Shared {
    /// The poll and its event buffer: only the leader locks it.
    poll: Mutex<Option<Polling>>,
    /// The poll's registry and waker, once the poll is made.
    io: OnceLock<Io>,
    /// Why the poll could not be made, once it failed.
    io_failed: OnceLock<String>,
    lead: Mutex<Lead>,
    /// The runtime that leads now (0: none), for posts to check without
    /// the lock whether they must wake the poll.
    leader: AtomicU32,
    runtimes: Mutex<HashMap<u32, Arc<Mailbox>>>,
    /// The last runtime number handed out.
    last_id: AtomicU32,
}

struct Polling {
    poll: mio::Poll,
    events: mio::Events,
}

struct Io {
    registry: mio::Registry,
    waker: mio::Waker,
}

#[derive(Default)]
struct Lead {
    leader: Option<u32>,
    /// Runtimes parked because the poll was taken: unparked when the
    /// leader steps down, so that one of them takes over.
    waiting: Vec<Arc<Mailbox>>,
}

impl Shared {
    /// The registry and waker, making the poll on first use.
    fn io(&self) -> std::io::Result<&Io> {
        if let Some(io) = self.io.get() {
            return Ok(io);
        }
        if let Some(why) = self.io_failed.get() {
            return Err(std::io::Error::other(why.clone()));
        }
        // Nobody leads before the poll exists, so this lock is free.
        let mut polling = lock(&self.poll);
        if let Some(io) = self.io.get() {
            return Ok(io);
        }
        let made = mio::Poll::new().and_then(|poll| {
            let registry = poll.registry().try_clone()?;
            let waker = mio::Waker::new(poll.registry(), super::reactor::WAKER)?;
            Ok((poll, Io { registry, waker }))
        });
        match made {
            Ok((poll, io)) => {
                *polling = Some(Polling { poll, events: mio::Events::with_capacity(1024) });
                Ok(self.io.get_or_init(|| io))
            }
            Err(e) => {
                let why = format!("cannot start the I/O reactor: {e}");
                let _ = self.io_failed.set(why);
                Err(e)
            }
        }
    }

    fn attach(self: &Arc<Self>, mailbox: &Arc<Mailbox>) -> u32 {
        let id = self.last_id.fetch_add(1, Ordering::Relaxed) + 1;
        *lock(&mailbox.home) = Home { id, shared: Arc::downgrade(self) };
        lock(&self.runtimes).insert(id, mailbox.clone());
        id
    }

    fn detach(&self, id: u32) {
        lock(&self.runtimes).remove(&id);
        lock(&self.lead).waiting.retain(|m| lock(&m.home).id != id);
    }

    /// Runtime `me` waits up to `timeout` (forever if `None`) for its
    /// inbox to get something: as the leader, polling and handing out
    /// what it sees (its own events go to `mine`), or parked. Returns
    /// early, without polling, if something was posted already.
    ///
    /// `timeout` zero is a look without waiting, for a busy runtime whose
    /// tasks wait on I/O: it polls if nobody leads, and else returns at
    /// once (the leader hands its events over).
    fn wait(&self, me: &Arc<Mailbox>, id: u32, timeout: Option<Duration>, mine: &mut Vec<(usize, Readiness)>) {
        let look = timeout == Some(Duration::ZERO);
        {
            let mut lead = lock(&self.lead);
            if lead.leader.is_some() || self.io.get().is_none() {
                if look {
                    return;
                }
                if lead.leader.is_some() {
                    lead.waiting.push(me.clone());
                }
                drop(lead);
                me.parker.park(timeout);
                return;
            }
            lead.leader = Some(id);
            self.leader.store(id, Ordering::SeqCst);
        }
        // A post that came before we led did not wake the poll: it
        // unparked the parker, which says so here.
        if look || !me.parker.take() {
            self.poll_once(id, timeout, mine);
        }
        let waiting = {
            let mut lead = lock(&self.lead);
            lead.leader = None;
            self.leader.store(0, Ordering::SeqCst);
            std::mem::take(&mut lead.waiting)
        };
        for m in waiting {
            m.parker.unpark();
        }
    }

    /// Polls once as leader `me`, whose events go to `mine`; the others'
    /// go to their inboxes, and their runtimes are unparked.
    fn poll_once(&self, me: u32, timeout: Option<Duration>, mine: &mut Vec<(usize, Readiness)>) {
        let mut guard = lock(&self.poll);
        let Some(polling) = guard.as_mut() else { return };
        if let Err(e) = polling.poll.poll(&mut polling.events, timeout) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                // Nothing a script did: back off instead of spinning.
                std::thread::sleep(timeout.unwrap_or(Duration::from_millis(10)).min(Duration::from_millis(10)));
            }
            return;
        }
        let mut others: Vec<(u32, usize, Readiness)> = Vec::new();
        for event in polling.events.iter() {
            let Some((runtime, slot)) = super::reactor::split_token(event.token()) else { continue };
            if runtime == me {
                mine.push((slot, Readiness::of(event)));
            } else {
                others.push((runtime, slot, Readiness::of(event)));
            }
        }
        drop(guard);
        if others.is_empty() {
            return;
        }
        // Runtimes that are gone have no mailbox: their events go nowhere.
        let runtimes = lock(&self.runtimes);
        let mut woken: Vec<&Arc<Mailbox>> = Vec::new();
        for (runtime, slot, readiness) in others {
            if let Some(m) = runtimes.get(&runtime) {
                let _ = m.inbox.send(Post::Ready(slot, readiness));
                if !woken.iter().any(|w| Arc::ptr_eq(w, m)) {
                    woken.push(m);
                }
            }
        }
        for m in woken {
            m.parker.unpark();
        }
    }

    /// Ends runtime `id`'s poll if it leads now.
    fn wake_poll_of(&self, id: u32) {
        if self.leader.load(Ordering::SeqCst) == id {
            if let Some(io) = self.io.get() {
                let _ = io.waker.wake();
            }
        }
    }
}

/// A runtime's side of the driver that other threads reach: its inbox
/// and its parker.
struct Mailbox {
    inbox: Sender<Post>,
    parker: Parker,
    /// The driver it is attached to, and its number there.
    home: Mutex<Home>,
}

#[derive(Default)]
struct Home {
    id: u32,
    shared: Weak<Shared>,
}

/// Where a runtime sleeps when it does not lead: a flag and a condition
/// variable, so that an unpark before the park is not lost.
#[derive(Default)]
struct Parker {
    unparked: Mutex<bool>,
    cond: Condvar,
}

impl Parker {
    /// Sleeps until unparked or until `timeout` passes.
    fn park(&self, timeout: Option<Duration>) {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut unparked = lock(&self.unparked);
        while !*unparked {
            match (timeout, deadline) {
                (Some(_), Some(at)) => {
                    let now = Instant::now();
                    if now >= at {
                        break;
                    }
                    unparked = self.cond.wait_timeout(unparked, at - now).unwrap_or_else(|e| e.into_inner()).0;
                }
                _ => unparked = self.cond.wait(unparked).unwrap_or_else(|e| e.into_inner()),
            }
        }
        *unparked = false;
    }

    fn unpark(&self) {
        *lock(&self.unparked) = true;
        self.cond.notify_one();
    }

    /// Takes an unpark that came before a park.
    fn take(&self) -> bool {
        std::mem::take(&mut *lock(&self.unparked))
    }
}

/// A wake that came from another thread, to deliver on this one.
pub(crate) struct Delivery {
    task: TaskId,
    token: u64,
    payload: Payload,
}

enum Payload {
    /// From a remote waker.
    Message(Message, Via),
    /// A pool job's finisher, with the job's key.
    Finish(Finisher, u32),
}

/// What arrives in a runtime's inbox.
enum Post {
    /// A wake from another thread.
    Wake(Delivery),
    /// An event for one of its reactor's slots, seen by another
    /// runtime's poll.
    Ready(usize, Readiness),
}

/// Where other threads post to one runtime, and what ends its idle wait.
#[derive(Clone)]
pub(crate) struct Outbox {
    mailbox: Arc<Mailbox>,
}

impl Outbox {
    fn post(&self, delivery: Delivery) {
        // The runtime owns the inbox for as long as it may wait.
        let _ = self.mailbox.inbox.send(Post::Wake(delivery));
        self.wake();
    }

    /// Ends the runtime's idle wait early: unparks it, and wakes the
    /// poll if it leads now.
    pub(crate) fn wake(&self) {
        self.mailbox.parker.unpark();
        let (id, shared) = {
            let home = lock(&self.mailbox.home);
            (home.id, home.shared.upgrade())
        };
        if let Some(shared) = shared {
            shared.wake_poll_of(id);
        }
    }
}

/// A pool job a task waits for.
struct JobWait {
    task: TaskId,
    token: u64,
    what: Arc<str>,
}

/// The right to wake one parked task from any thread, once. Its wake
/// races every local wake of the same wait (a timer, a cancellation)
/// through the wait's `SharedWait`: whichever claims it first delivers,
/// and the other does nothing. Dropping it unused gives the right up, so a
/// task nobody can wake any more counts toward a deadlock again.
pub struct RemoteWaker {
    cell: SharedWait,
    task: TaskId,
    token: u64,
    via: Via,
    outbox: Outbox,
    pending: Arc<AtomicUsize>,
    done: bool,
}

impl RemoteWaker {
    /// Wakes the task with `message`; false if the wait already ended
    /// another way.
    pub fn wake(mut self, message: Message) -> bool {
        let claimed = self.cell.claim();
        if claimed {
            let payload = Payload::Message(message, self.via);
            self.outbox.post(Delivery { task: self.task, token: self.token, payload });
        }
        // Only now, so the scheduler never sees neither the waker nor
        // its delivery and takes the task for deadlocked.
        self.done = true;
        self.pending.fetch_sub(1, Ordering::AcqRel);
        claimed
    }
}

impl Drop for RemoteWaker {
    fn drop(&mut self) {
        if !self.done {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            // The scheduler may be asleep counting on this waker.
            self.outbox.wake();
        }
    }
}

/// One runtime's attachment to its [`Driver`]: its inbox, its reactor's
/// slots, the pool jobs its tasks wait for.
pub(crate) struct Port {
    driver: Driver,
    /// This runtime's number on the driver.
    id: u32,
    mailbox: Arc<Mailbox>,
    inbox: Receiver<Post>,
    /// Remote wakers alive: each may still wake a task.
    pending: Arc<AtomicUsize>,
    /// Whether anything may post to the inbox: until then it is not even
    /// looked at.
    used: bool,
    /// Made on first use: see [`Port::reactor`].
    pub(crate) reactor: Option<Reactor>,
    /// Pool jobs that tasks wait for.
    jobs: Slab<JobWait>,
    pool: Option<Pool>,
    /// Reused by every wait: events for this runtime's slots.
    events: Vec<(usize, Readiness)>,
    /// Reused by every wait: the waiters they make ready.
    ready: Vec<IoWaiter>,
    /// Set by a host thread that changed a host channel (see
    /// `host_chan.rs`): the channels tasks wait on need a look.
    host_dirty: Arc<AtomicBool>,
    /// The host channels parked tasks are registered on, with their
    /// shared state and the number of registrations. A task waiting on
    /// one whose host end lives is waiting on the outside world.
    host_chans: HashMap<Ref, (Arc<host_chan::Shared>, usize)>,
    /// Reused by every look at them.
    host_scratch: Vec<Ref>,
}

impl Default for Port {
    fn default() -> Self {
        Port::new(Driver::default())
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        self.driver.shared.detach(self.id);
    }
}

impl Port {
    fn new(driver: Driver) -> Port {
        let (tx, inbox) = crossbeam_channel::unbounded();
        let mailbox = Arc::new(Mailbox { inbox: tx, parker: Parker::default(), home: Mutex::default() });
        let id = driver.shared.attach(&mailbox);
        Port {
            driver,
            id,
            mailbox,
            inbox,
            pending: Arc::default(),
            used: false,
            reactor: None,
            jobs: Slab::default(),
            pool: None,
            events: Vec::new(),
            ready: Vec::new(),
            host_dirty: Arc::default(),
            host_chans: HashMap::new(),
            host_scratch: Vec::new(),
        }
    }

    /// Moves this runtime to `driver`, keeping its inbox, so that handles
    /// given out before (interrupts, host wakers) still reach it. False,
    /// and nothing changes, once it has registered I/O sources, which
    /// stay with the poll they were registered with.
    pub(crate) fn set_driver(&mut self, driver: Driver) -> bool {
        if self.reactor.is_some() {
            return false;
        }
        self.driver.shared.detach(self.id);
        self.id = driver.shared.attach(&self.mailbox);
        self.driver = driver;
        true
    }

    /// Wakes that may still come from outside the scheduler.
    pub fn pending(&self) -> usize {
        let io = self.reactor.as_ref().map_or(0, |r| r.waiting());
        if !self.used {
            return io;
        }
        let hosts = self.host_chans.values().filter(|(shared, _)| shared.host_alive()).count();
        self.pending.load(Ordering::Acquire) + self.inbox.len() + self.jobs.len() + io + hosts
    }

    /// The flag host threads set when a host channel of this runtime
    /// changed.
    pub(crate) fn host_dirty(&self) -> Arc<AtomicBool> {
        self.host_dirty.clone()
    }

    /// A task registered on host channel `ch` (`recv`: to receive).
    pub(crate) fn watch(&mut self, ch: Ref, shared: &Arc<host_chan::Shared>, recv: bool) {
        self.used = true;
        self.host_chans.entry(ch).or_insert_with(|| (shared.clone(), 0)).1 += 1;
        if shared.watched(recv) {
            // Something came between the task's try and its park.
            self.host_dirty.store(true, Ordering::Release);
        }
    }

    /// Host channels that parked tasks are registered on.
    pub(crate) fn host_channels(&self) -> usize {
        self.host_chans.len()
    }

    /// A registration on host channel `ch` ended.
    pub(crate) fn unwatch(&mut self, ch: Ref) {
        if let Some((shared, regs)) = self.host_chans.get_mut(&ch) {
            shared.unwatched();
            *regs -= 1;
            if *regs == 0 {
                self.host_chans.remove(&ch);
            }
        }
    }

    /// The reactor's slots and the driver's registry, made on first use.
    pub(crate) fn reactor(&mut self) -> std::io::Result<(&mut Reactor, &mio::Registry)> {
        let io = self.driver.shared.io()?;
        let id = self.id;
        Ok((self.reactor.get_or_insert_with(|| Reactor::new(id)), &io.registry))
    }

    /// A way to end an idle wait from another thread (Ctrl-C).
    pub(crate) fn outbox(&mut self) -> Outbox {
        Outbox { mailbox: self.mailbox.clone() }
    }

    /// The pool jobs go to: the one set, or a default one made on first use.
    pub(crate) fn pool(&mut self) -> &Pool {
        self.pool.get_or_insert_with(Pool::default)
    }

    pub(crate) fn set_pool(&mut self, pool: Pool) {
        self.pool = Some(pool);
    }

    /// What pool job `key` is, for reports.
    pub(crate) fn job_what(&self, key: u32) -> Option<Arc<str>> {
        self.jobs.get(key).map(|j| j.what.clone())
    }

    /// A pool job's wait ended another way: its late finisher is dropped.
    pub(crate) fn abort_job(&mut self, key: u32) {
        self.jobs.remove(key);
    }
}

impl Scheduler {
    /// Marks the running task's wait as one that another thread may end,
    /// and hands out the right to end it.
    pub fn remote_waker(&mut self, via: Via) -> RemoteWaker {
        self.attach();
        let (task, token) = (self.current, self.token());
        let cell = SharedWait::new();
        self.meta_mut(task).rare_mut().shared = Some(cell.clone());
        self.port.pending.fetch_add(1, Ordering::AcqRel);
        self.port.used = true;
        RemoteWaker {
            cell,
            task,
            token,
            via,
            outbox: self.port.outbox(),
            pending: self.port.pending.clone(),
            done: false,
        }
    }

    /// Runs `work` on the pool for the running task, which is about to
    /// park with reg `Reg::Job` (returned). Its finisher is delivered to
    /// this runtime's inbox. `None` if the pool cannot run it.
    pub(crate) fn submit_job(
        &mut self,
        pool: Option<&Pool>,
        what: &str,
        work: Box<dyn FnOnce() -> Finisher + Send>,
    ) -> Option<u32> {
        self.attach();
        let (task, token) = (self.current, self.token());
        self.port.used = true;
        let key = self.port.jobs.insert(JobWait { task, token, what: what.into() });
        let outbox = self.port.outbox();
        let job = Box::new(move || {
            let finish = super::pool::run_guarded(work);
            outbox.post(Delivery { task, token, payload: Payload::Finish(finish, key) });
        });
        let pool = match pool {
            Some(pool) => pool,
            None => self.port.pool(),
        };
        if pool.submit(job) {
            Some(key)
        } else {
            self.port.jobs.remove(key);
            None
        }
    }

    /// Delivers the wakes that other threads posted, and, while tasks wait
    /// on I/O, the readiness seen so far (without waiting for it): a busy
    /// runtime still serves its sockets.
    pub fn take_deliveries(&mut self, heap: &mut Heap) {
        if self.port.reactor.as_ref().is_some_and(|r| r.waiting() > 0) {
            self.wait_outside(heap, Some(Duration::ZERO));
        } else if self.port.used {
            self.take_inbox(heap);
        }
    }

    /// If a host thread changed a host channel, matches every host
    /// channel that tasks wait on with its queue. True if it looked.
    fn serve_host_channels(&mut self, heap: &mut Heap) -> bool {
        if !self.port.host_dirty.load(Ordering::Acquire) || !self.port.host_dirty.swap(false, Ordering::AcqRel) {
            return false;
        }
        let mut chans = std::mem::take(&mut self.port.host_scratch);
        chans.extend(self.port.host_chans.keys().copied());
        for &ch in &chans {
            // An earlier channel's wakes may have ended every wait on it.
            if self.port.host_chans.contains_key(&ch) {
                host_chan::service(self, heap, ch);
            }
        }
        chans.clear();
        self.port.host_scratch = chans;
        true
    }

    fn deliver(&mut self, heap: &mut Heap, d: Delivery) {
        let resume = match d.payload {
            Payload::Message(message, via) => {
                // The remote side claimed the wait: no local wake can have run.
                if let Some(meta) = self.tasks.get_mut(d.task) {
                    if let Some(rare) = meta.rare.as_mut().filter(|_| meta.token == d.token) {
                        rare.shared = None;
                    }
                }
                via.resume(message.into_value(heap))
            }
            Payload::Finish(finish, key) => {
                // A job whose wait was aborted has no entry, or another's.
                match self.port.jobs.get(key) {
                    Some(j) if j.task == d.task && j.token == d.token => {
                        self.port.jobs.remove(key);
                    }
                    _ => return,
                }
                Resume::Finish(finish)
            }
        };
        self.wake(heap, d.task, d.token, resume);
    }

    /// Waits up to `timeout` (forever if `None`; zero: a look) for the
    /// driver to bring readiness or a post for this runtime, then wakes
    /// the tasks they are for.
    fn wait_outside(&mut self, heap: &mut Heap, timeout: Option<Duration>) {
        let mut events = std::mem::take(&mut self.port.events);
        let mut ready = std::mem::take(&mut self.port.ready);
        // A source closed under a parked task wakes it without a wait.
        if let Some(reactor) = self.port.reactor.as_mut() {
            reactor.reclaim(&mut ready);
        }
        let timeout = if ready.is_empty() { timeout } else { Some(Duration::ZERO) };
        let port = &self.port;
        port.driver.shared.wait(&port.mailbox, port.id, timeout, &mut events);
        if let Some(reactor) = self.port.reactor.as_mut() {
            for (slot, readiness) in events.drain(..) {
                reactor.ready(slot, readiness, &mut ready);
            }
        }
        events.clear();
        for w in ready.drain(..) {
            self.wake(heap, w.task, w.token, Resume::Value(Value::Nil));
        }
        self.port.events = events;
        self.port.ready = ready;
        self.take_inbox(heap);
    }

    /// Delivers what the inbox holds: wakes from other threads, and
    /// readiness that another runtime's poll handed over; then serves the
    /// host channels, if a host thread changed one.
    fn take_inbox(&mut self, heap: &mut Heap) {
        let mut ready = std::mem::take(&mut self.port.ready);
        while let Ok(post) = self.port.inbox.try_recv() {
            match post {
                Post::Wake(d) => self.deliver(heap, d),
                Post::Ready(slot, readiness) => {
                    if let Some(reactor) = self.port.reactor.as_mut() {
                        reactor.ready(slot, readiness, &mut ready);
                    }
                    for w in ready.drain(..) {
                        self.wake(heap, w.task, w.token, Resume::Value(Value::Nil));
                    }
                }
            }
        }
        self.port.ready = ready;
        self.serve_host_channels(heap);
    }

    /// With no task ready: waits for the next timer, readiness, or a wake
    /// from another thread, and delivers what came (the loop fires due
    /// timers). False when nothing can ever wake a task: a deadlock.
    pub fn idle(&mut self, heap: &mut Heap, interrupt: &AtomicBool) -> bool {
        if self.serve_host_channels(heap) {
            return true;
        }
        let next = self.next_timer();
        let outside = self.port.pending() > 0;
        if next.is_none() && !outside {
            return false;
        }
        if self.clock.virtual_time && !outside {
            if let Some(at) = next {
                self.clock.jump_to(at);
            }
            return true;
        }
        if interrupt.load(Ordering::Relaxed) {
            return true;
        }
        let now = self.clock.nanos();
        let until_timer = next.map(|at| Duration::from_nanos(at.saturating_sub(now)));
        let start = Instant::now();
        self.wait_outside(heap, until_timer);
        if self.clock.virtual_time {
            let waited = start.elapsed().as_nanos() as u64;
            self.clock.jump_to(now.saturating_add(waited));
        }
        true
    }

    /// With no task ready, in a host loop (`host_loop.rs`): waits as
    /// [`idle`](Scheduler::idle) does, but for at most `limit`, and also
    /// when nothing but the host can wake anyone (a [`crate::HostWaker`]
    /// ends the wait). Returns at once if a virtual clock can jump.
    pub(crate) fn idle_for(&mut self, heap: &mut Heap, limit: Duration) {
        if self.serve_host_channels(heap) {
            return;
        }
        let next = self.next_timer();
        let outside = self.port.pending() > 0;
        if self.clock.virtual_time && !outside {
            if let Some(at) = next {
                self.clock.jump_to(at);
                return;
            }
        }
        let now = self.clock.nanos();
        let until_timer = next.map(|at| Duration::from_nanos(at.saturating_sub(now)));
        let wait = until_timer.map_or(limit, |t| t.min(limit));
        let start = Instant::now();
        self.wait_outside(heap, Some(wait));
        if self.clock.virtual_time {
            let waited = start.elapsed().as_nanos() as u64;
            self.clock.jump_to(now.saturating_add(waited));
        }
    }
}
