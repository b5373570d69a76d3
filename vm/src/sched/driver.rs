//! The idle-wait seam: what the scheduler does when no task can run.
//!
//! The [`Driver`] owns everything that can wake a task from outside the
//! run queue other than timers: the readiness reactor (`reactor.rs`),
//! the blocking-work pool's completions (`pool.rs`), and wakes posted
//! from other threads through a [`RemoteWaker`]. Completions and remote
//! wakes arrive in one inbox, addressed to a (task, wait token) pair;
//! each sender then wakes the reactor's poll. When every task waits, the
//! loop calls [`Scheduler::idle`] once: one poll of the reactor, with the
//! next timer's deadline as its timeout. No spinning and no sleeping in
//! slices: an idle runtime sleeps in the kernel until something happens.
//! The deadlock rule follows: no runnable task, no timer, and nothing
//! outside pending (no I/O wait, no pool job, no remote waker).
//!
//! On the virtual clock, time jumps to the next timer when only timers
//! can wake a task; while anything outside is pending, the clock moves
//! with real time instead, since the wake may come before the timer.
//!
//! The reactor is made on first use (a script that never waits on the
//! outside world costs no file descriptors); until then an idle wait is a
//! plain sleep until the next timer.

use super::pool::Pool;
use super::reactor::{IoWaiter, Reactor};
use super::{Resume, Scheduler, SharedWait, Slab, TaskId, Via};
use crate::heap::Heap;
use crate::native::Finisher;
use crate::value::Value;
use crossbeam_channel::{Receiver, Sender};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The longest one idle wait lasts when there is no reactor to wake it
/// early: only a Ctrl-C flag can come then.
const IDLE_SLICE: Duration = Duration::from_millis(50);

/// A value that can cross threads: it owns its data and names nothing on
/// the heap, and becomes a `Value` on the scheduler's thread.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// `nil`.
    Nil,
    /// A bool.
    Bool(bool),
    /// An int.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string, interned when it arrives.
    Str(String),
}

impl Message {
    fn into_value(self, heap: &mut Heap) -> Value {
        match self {
            Message::Nil => Value::Nil,
            Message::Bool(b) => Value::Bool(b),
            Message::Int(i) => Value::Int(i),
            Message::Float(x) => Value::Float(x),
            Message::Str(s) => heap.str_value(&s),
        }
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

/// Where other threads post: the inbox, and the reactor's waker, set once
/// the reactor exists.
#[derive(Clone)]
pub(crate) struct Outbox {
    inbox: Sender<Delivery>,
    waker: Arc<OnceLock<Arc<mio::Waker>>>,
}

impl Outbox {
    fn post(&self, delivery: Delivery) {
        // The scheduler owns the inbox for as long as it may wait.
        let _ = self.inbox.send(delivery);
        self.wake();
    }

    /// Ends the runtime's idle wait early.
    pub(crate) fn wake(&self) {
        if let Some(waker) = self.waker.get() {
            let _ = waker.wake();
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

/// See the module documentation.
pub struct Driver {
    inbox: Receiver<Delivery>,
    outbox: Outbox,
    /// Remote wakers alive: each may still wake a task.
    pending: Arc<AtomicUsize>,
    /// Whether anything may post to the inbox: until then it is not even
    /// looked at.
    used: bool,
    /// Made on first use: see [`Driver::reactor`].
    pub(crate) reactor: Option<Reactor>,
    /// Why the reactor could not be made, once it failed.
    reactor_failed: Option<String>,
    /// Pool jobs that tasks wait for.
    jobs: Slab<JobWait>,
    pool: Option<Pool>,
    /// Reused by every poll.
    ready: Vec<IoWaiter>,
}

impl Default for Driver {
    fn default() -> Self {
        let (inbox_tx, inbox) = crossbeam_channel::unbounded();
        Driver {
            inbox,
            outbox: Outbox { inbox: inbox_tx, waker: Arc::default() },
            pending: Arc::default(),
            used: false,
            reactor: None,
            reactor_failed: None,
            jobs: Slab::default(),
            pool: None,
            ready: Vec::new(),
        }
    }
}

impl Driver {
    /// Wakes that may still come from outside the scheduler.
    pub fn pending(&self) -> usize {
        let io = self.reactor.as_ref().map_or(0, |r| r.waiting());
        if !self.used {
            return io;
        }
        self.pending.load(Ordering::Acquire) + self.inbox.len() + self.jobs.len() + io
    }

    /// The reactor, made on first use.
    pub(crate) fn reactor(&mut self) -> std::io::Result<&mut Reactor> {
        if self.reactor.is_none() {
            if let Some(why) = &self.reactor_failed {
                return Err(std::io::Error::other(why.clone()));
            }
            match Reactor::new() {
                Ok(reactor) => {
                    let _ = self.outbox.waker.set(reactor.waker());
                    self.reactor = Some(reactor);
                }
                Err(e) => {
                    self.reactor_failed = Some(format!("cannot start the I/O reactor: {e}"));
                    return Err(e);
                }
            }
        }
        Ok(self.reactor.as_mut().expect("made above"))
    }

    /// A way to end an idle wait from another thread (Ctrl-C).
    pub(crate) fn outbox(&mut self) -> Outbox {
        let _ = self.reactor();
        self.outbox.clone()
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
        let (task, token) = (self.current, self.token());
        let cell = SharedWait::new();
        self.meta_mut(task).shared = Some(cell.clone());
        self.driver.pending.fetch_add(1, Ordering::AcqRel);
        self.driver.used = true;
        // Made now, so that the wake can end an idle wait at once.
        let _ = self.driver.reactor();
        RemoteWaker {
            cell,
            task,
            token,
            via,
            outbox: self.driver.outbox.clone(),
            pending: self.driver.pending.clone(),
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
        let (task, token) = (self.current, self.token());
        self.driver.used = true;
        let _ = self.driver.reactor();
        let key = self.driver.jobs.insert(JobWait { task, token, what: what.into() });
        let outbox = self.driver.outbox.clone();
        let job = Box::new(move || {
            let finish = super::pool::run_guarded(work);
            outbox.post(Delivery { task, token, payload: Payload::Finish(finish, key) });
        });
        let pool = match pool {
            Some(pool) => pool,
            None => self.driver.pool(),
        };
        if pool.submit(job) {
            Some(key)
        } else {
            self.driver.jobs.remove(key);
            None
        }
    }

    /// Delivers the wakes that other threads posted, and, while tasks wait
    /// on I/O, the readiness the reactor has seen (without waiting for
    /// it): a busy runtime still serves its sockets.
    pub fn take_deliveries(&mut self, heap: &mut Heap) {
        if self.driver.reactor.as_ref().is_some_and(|r| r.waiting() > 0) {
            self.poll_io(heap, Some(Duration::ZERO));
        }
        if !self.driver.used {
            return;
        }
        while let Ok(d) = self.driver.inbox.try_recv() {
            self.deliver(heap, d);
        }
    }

    fn deliver(&mut self, heap: &mut Heap, d: Delivery) {
        let resume = match d.payload {
            Payload::Message(message, via) => {
                // The remote side claimed the wait: no local wake can have run.
                if let Some(meta) = self.tasks.get_mut(d.task) {
                    if meta.token == d.token {
                        meta.shared = None;
                    }
                }
                via.resume(message.into_value(heap))
            }
            Payload::Finish(finish, key) => {
                // A job whose wait was aborted has no entry, or another's.
                match self.driver.jobs.get(key) {
                    Some(j) if j.task == d.task && j.token == d.token => {
                        self.driver.jobs.remove(key);
                    }
                    _ => return,
                }
                Resume::Finish(finish)
            }
        };
        self.wake(heap, d.task, d.token, resume);
    }

    /// One poll of the reactor: wakes the tasks whose sources are ready.
    fn poll_io(&mut self, heap: &mut Heap, timeout: Option<Duration>) {
        let Some(reactor) = self.driver.reactor.as_mut() else { return };
        let mut ready = std::mem::take(&mut self.driver.ready);
        reactor.poll(timeout, &mut ready);
        for w in ready.drain(..) {
            self.wake(heap, w.task, w.token, Resume::Value(Value::Nil));
        }
        self.driver.ready = ready;
    }

    /// With no task ready: waits for the next timer, readiness, or a wake
    /// from another thread, and delivers what came (the loop fires due
    /// timers). False when nothing can ever wake a task: a deadlock.
    pub fn idle(&mut self, heap: &mut Heap, interrupt: &AtomicBool) -> bool {
        let next = self.next_timer();
        let outside = self.driver.pending() > 0;
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
        let start = std::time::Instant::now();
        if self.driver.reactor.is_some() {
            self.poll_io(heap, until_timer);
        } else {
            // No reactor, so nothing from outside: sleep until the timer,
            // looking at the interrupt flag now and then.
            std::thread::sleep(until_timer.unwrap_or(IDLE_SLICE).min(IDLE_SLICE));
        }
        if self.clock.virtual_time {
            let waited = start.elapsed().as_nanos() as u64;
            self.clock.jump_to(now.saturating_add(waited));
        }
        while let Ok(d) = self.driver.inbox.try_recv() {
            self.deliver(heap, d);
        }
        true
    }

    /// With no task ready, in a host loop (`host_loop.rs`): waits as
    /// [`idle`](Scheduler::idle) does, but for at most `limit`, and also
    /// when nothing but the host can wake anyone (a [`crate::HostWaker`]
    /// ends the wait). Returns at once if a virtual clock can jump.
    pub(crate) fn idle_for(&mut self, heap: &mut Heap, limit: Duration) {
        let next = self.next_timer();
        let outside = self.driver.pending() > 0;
        if self.clock.virtual_time && !outside {
            if let Some(at) = next {
                self.clock.jump_to(at);
                return;
            }
        }
        let now = self.clock.nanos();
        let until_timer = next.map(|at| Duration::from_nanos(at.saturating_sub(now)));
        let wait = until_timer.map_or(limit, |t| t.min(limit));
        let start = std::time::Instant::now();
        if self.driver.reactor.is_some() {
            self.poll_io(heap, Some(wait));
        } else {
            std::thread::sleep(wait.min(IDLE_SLICE));
        }
        if self.clock.virtual_time {
            let waited = start.elapsed().as_nanos() as u64;
            self.clock.jump_to(now.saturating_add(waited));
        }
        while let Ok(d) = self.driver.inbox.try_recv() {
            self.deliver(heap, d);
        }
    }
}
