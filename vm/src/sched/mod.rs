//! The scheduler's state: tasks, cancel scopes, nurseries, timers and the
//! clock. The loop that runs tasks is `Vm::schedule` (`run.rs`); waiting is
//! `wait.rs`, timers `timer.rs`, cancel scopes `cancel.rs`. Natives and
//! instructions that block share this bookkeeping.
//!
//! Invariants, each with the test that pins it:
//! - One way to wait: a task registers on what may wake it, then parks
//!   with a `token`. The first wake names that token, bumps it, and aborts
//!   every registration of the wait, so a wait delivers exactly one outcome
//!   and leaves nothing behind (`tests/waits.rs`; the message-counting
//!   `tests/concurrency/select_fairness_all_kinds.weft`).
//! - Cancel scopes form a tree: a task's scopes nest in its `scopes` stack,
//!   and a spawned task's first scope is a child of its nursery's. A task
//!   is cancelled when a scope on its path to the root is, unless a shield
//!   stands in between; cancelling visits only the scope's subtree
//!   (`tests/concurrency/nursery_cancel.weft`, `shield*.weft`;
//!   `sched/cancel.rs`: `cancel_visits_only_the_cancelled_subtree`).
//! - A nursery finishes only when `live == 0`: every task spawned into it
//!   has finished (`tests/concurrency/nursery_waits.weft`).
//! - Without `--seed` the run queue is FIFO; with one, each round of ready
//!   tasks runs in an order shuffled by the seeded generator, so one seed
//!   repeats one interleaving and others explore more
//!   (`tests/cli.rs`: `seeds_choose_interleavings`).
//! - A call from the host that runs directly has no record (`current` is
//!   [`DETACHED`]) until something needs one; everything that reads or
//!   changes the running task's record calls [`Scheduler::attach`] first,
//!   and the task then goes on as the main task of an ordinary run, in the
//!   same order among the others (`tests/host_call.rs`; `sched/run.rs`:
//!   `attaching_makes_the_running_task_the_main_one_with_its_own_scope`).

mod cancel;
pub(crate) mod channel;
pub(crate) mod conc;
pub mod driver;
pub mod host_chan;
pub mod owned;
pub mod pool;
pub mod reactor;
mod run;
pub mod timer;
pub mod wait;

pub(crate) use run::HostCallStart;
pub use timer::{Clock, TimerKey, TimerKind};
pub use wait::{Event, Reg, Regs, SharedWait, Via, WaitQueue, Waiter};

use crate::error::Throw;
use crate::heap::Heap;
use crate::task::Task;
use crate::value::{Ref, Value};
use std::collections::VecDeque;
use timer::Timers;

pub type TaskId = u32;

/// The running task while it has no scheduling record: a call from the
/// host that runs directly, outside any run of the scheduler (see
/// `Vm::call_directly`). The first operation that needs the record
/// ([`Scheduler::attach`]) gives it one; until then it cannot be parked,
/// cancelled or waited for, and no other task knows it.
pub(crate) const DETACHED: TaskId = TaskId::MAX - 1;
pub type ScopeId = u32;
pub type NurseryId = u32;

/// An optional task, scope or nursery id in four bytes, where
/// `Option<u32>` takes eight: `u32::MAX` stands for none, an index no
/// [`Slab`] hands out. Records of which every live task has one keep
/// their links so.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct OptId(u32);

impl OptId {
    pub const NONE: OptId = OptId(u32::MAX);

    /// The id, if there is one.
    #[inline]
    pub fn get(self) -> Option<u32> {
        (self != OptId::NONE).then_some(self.0)
    }
}

/// `Some(u32::MAX)`, which names nothing (a host's nursery has that
/// owner), is none too.
impl From<Option<u32>> for OptId {
    fn from(id: Option<u32>) -> OptId {
        OptId(id.unwrap_or(u32::MAX))
    }
}

/// A vector of optional items reused through a free list.
pub struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { items: Vec::new(), free: Vec::new(), len: 0 }
    }
}

impl<T> Slab<T> {
    pub fn insert(&mut self, item: T) -> u32 {
        self.len += 1;
        match self.free.pop() {
            Some(i) => {
                self.items[i as usize] = Some(item);
                i
            }
            None => {
                // Past `u32::MAX - 1` items an index would not fit, or
                // would be `OptId::NONE`: memory runs out long before.
                let i = u32::try_from(self.items.len()).ok().filter(|&i| i < u32::MAX).expect("a slab of 2^32 items");
                self.items.push(Some(item));
                i
            }
        }
    }

    pub fn remove(&mut self, i: u32) -> Option<T> {
        let item = self.items.get_mut(i as usize)?.take();
        if item.is_some() {
            self.free.push(i);
            self.len -= 1;
        }
        item
    }

    pub fn get(&self, i: u32) -> Option<&T> {
        self.items.get(i as usize)?.as_ref()
    }

    pub fn get_mut(&mut self, i: u32) -> Option<&mut T> {
        self.items.get_mut(i as usize)?.as_mut()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Slots held, used or free.
    pub fn capacity(&self) -> usize {
        self.items.capacity()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.items.iter().enumerate().filter_map(|(i, t)| t.as_ref().map(|t| (i as u32, t)))
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.items.iter_mut().flatten()
    }
}

/// The seeded generator behind `select` choices and shuffled rounds
/// (splitmix64: tiny state, good spread).
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// A seed for runs without `--seed`: the time and the process id.
pub fn entropy() -> u64 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    t.as_nanos() as u64 ^ (std::process::id() as u64) << 32
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Runnable,
    Parked,
}

/// What a woken task does first.
pub enum Resume {
    /// Nothing: it yielded, or was just spawned.
    Nothing,
    /// The blocking call returns this value.
    Value(Value),
    /// `select` chose this case, with this value.
    Select(u16, Value),
    /// The blocking call raises this. Boxed: it is rare, and the record of
    /// every task holds a `Resume`.
    Raise(Box<Throw>),
    /// Run the instruction it parked on again (a nursery's wait).
    Retry,
    /// A `for` loop over a channel ends: the channel closed.
    LoopEnd,
    /// A pool job finished: the native that waited for it resumes by
    /// running this on its kept values.
    Finish(crate::native::Finisher),
}

impl Resume {
    /// The blocking call raises `throw`.
    pub fn raise(throw: Throw) -> Resume {
        Resume::Raise(Box::new(throw))
    }
}

/// A task's scheduling record; the task itself is `task`.
pub struct TaskMeta {
    /// The task's registers and frames; `None` while it runs.
    pub task: Option<Box<Task>>,
    /// Whether it waits in a run queue or is parked.
    pub state: State,
    /// Names its current wait; bumped by every wake, which makes whatever
    /// else the wait registered stale.
    pub token: u64,
    /// What it does when it next runs.
    pub resume: Resume,
    /// Its cancel scopes: its own, then those it entered.
    pub scopes: cancel::ScopeStack,
    /// The nursery it was spawned into (none for the main task).
    pub nursery: OptId,
    /// Its handle, the value `spawn` returned.
    pub handle: Option<Ref>,
    /// The `spawn` that made it, and its parent task.
    pub(crate) spawned_at: Option<crate::code::Site>,
    pub parent: OptId,
    /// What its current wait is registered on.
    pub regs: Regs,
    /// Whether the current wait is a `select` (for deadlock reports).
    pub selecting: bool,
    /// What few tasks need, boxed when first needed (see [`RareMeta`]).
    pub rare: Option<Box<RareMeta>>,
}

/// What few tasks' records need: made the first time a task sets a
/// context, is joined, waits on another thread or owns a host object, and
/// kept until it ends.
#[derive(Default)]
pub struct RareMeta {
    /// `context_get` / `context_set` storage: a map, or nil.
    pub context: Value,
    /// Tasks parked in `join` on this one.
    pub joiners: WaitQueue<()>,
    /// For a wait that another thread may end: the cell every waker must
    /// claim first (see `driver.rs`).
    pub shared: Option<SharedWait>,
    /// Host objects tied to it outside any nursery block.
    pub owned: owned::Owned,
}

// Every live task has a record: what few tasks need is boxed.
const _: () = assert!(std::mem::size_of::<Resume>() <= 24);
const _: () = assert!(std::mem::size_of::<TaskMeta>() <= 120);

impl TaskMeta {
    /// Whether it waits for its nursery's tasks: cancellation reaches those
    /// tasks, not this wait.
    pub(crate) fn waits_for_nursery(&self) -> bool {
        matches!(self.regs.as_slice(), [Reg::Nursery(_)])
    }

    /// Bytes held outside the heap's objects, for the heap limit.
    pub fn bytes(&self) -> usize {
        let task = self.task.as_ref().map_or(0, |t| t.bytes());
        let rare = self.rare.as_ref().map_or(0, |r| std::mem::size_of::<RareMeta>() + r.joiners.bytes());
        std::mem::size_of::<TaskMeta>() + task + self.scopes.heap_bytes() + rare
    }

    /// Its box of what few tasks need, made if it has none.
    pub fn rare_mut(&mut self) -> &mut RareMeta {
        self.rare.get_or_insert_default()
    }

    /// Its context map (`context_get` / `context_set`), or nil.
    pub fn context(&self) -> Value {
        self.rare.as_ref().map_or(Value::Nil, |r| r.context)
    }
}

/// A `nursery` block's bookkeeping.
pub struct Nursery {
    /// Its cancel scope: cancelling it cancels every task spawned into it.
    pub scope: ScopeId,
    /// The task whose block it is.
    pub owner: TaskId,
    /// Tasks spawned into it that have not finished.
    pub live: u32,
    /// The first failure, raised when the block ends; the rest follow.
    pub first_error: Option<Value>,
    pub others: Vec<Value>,
    /// The owner's token while it waits for the children.
    pub waiting: Option<u64>,
    /// The value `nursery as n` binds.
    pub handle: Option<Ref>,
    /// A `Cancelled` from an enclosing scope that reached the body, to
    /// re-raise once the tasks are done.
    pub cancel_error: Option<Value>,
    /// A host's nursery (see `host_loop.rs`): it has no owner task, and a
    /// failing task does not cancel its siblings; its error waits in
    /// `others` until the host takes it.
    pub supervised: bool,
    /// Host objects tied to the block (child processes), told when it ends.
    pub owned: owned::Owned,
}

/// Counts of the scheduler's structures, for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Live tasks.
    pub tasks: usize,
    /// Live cancel scopes.
    pub scopes: usize,
    /// Open nurseries.
    pub nurseries: usize,
    /// Live timers.
    pub timers: usize,
    /// Entries in the timer heap, live and stale.
    pub timer_entries: usize,
    /// Entries in every joiner queue, live and stale.
    pub joiner_entries: usize,
    /// Host objects tied to a nursery block or a task.
    pub owned: usize,
    /// Host channels that parked tasks are registered on.
    pub host_channels: usize,
}

pub struct Scheduler {
    pub tasks: Slab<TaskMeta>,
    pub runq: VecDeque<TaskId>,
    pub(crate) timers: Timers,
    pub scopes: Slab<cancel::Scope>,
    pub nurseries: Slab<Nursery>,
    /// The running task.
    pub current: TaskId,
    pub main: TaskId,
    pub clock: Clock,
    /// The seeded generator behind `select` choices and shuffled rounds.
    pub rng: SplitMix64,
    /// Whether rounds of ready tasks run in a seeded random order.
    pub shuffle: bool,
    /// What waits when no task can run.
    pub(crate) port: driver::Port,
    seq: u64,
    /// The most tasks that may be alive at once.
    pub max_tasks: usize,
    /// What a host loop keeps: its nurseries and the flags its handles set.
    pub(crate) host: crate::host_loop::HostState,
}

impl Scheduler {
    /// A scheduler with the seed of `--seed` (rounds shuffled) or none
    /// (FIFO), on a real or virtual clock.
    pub fn new(seed: Option<u64>, virtual_time: bool) -> Scheduler {
        Scheduler {
            tasks: Slab::default(),
            runq: VecDeque::new(),
            timers: Timers::default(),
            scopes: Slab::default(),
            nurseries: Slab::default(),
            current: 0,
            main: 0,
            clock: Clock::new(virtual_time),
            rng: SplitMix64::new(seed.unwrap_or_else(entropy) ^ 0x9e37_79b9_7f4a_7c15),
            shuffle: seed.is_some(),
            port: driver::Port::default(),
            seq: 0,
            max_tasks: 10_000_000,
            host: Default::default(),
        }
    }

    pub fn meta(&self, id: TaskId) -> &TaskMeta {
        self.tasks.get(id).expect("live task")
    }

    pub fn meta_mut(&mut self, id: TaskId) -> &mut TaskMeta {
        self.tasks.get_mut(id).expect("live task")
    }

    /// Counts of what the scheduler holds.
    pub fn stats(&self) -> Stats {
        Stats {
            tasks: self.tasks.len(),
            scopes: self.scopes.len(),
            nurseries: self.nurseries.len(),
            timers: self.timers.len(),
            timer_entries: self.timers.entries(),
            joiner_entries: self.tasks.iter().filter_map(|(_, m)| m.rare.as_ref()).map(|r| r.joiners.len()).sum(),
            owned: self.owned_count(),
            host_channels: self.port.host_channels(),
        }
    }

    /// Bytes held by the scheduler's structures (tasks with their
    /// registers and frames, scopes, timers), counted against the heap
    /// limit at each collection. `running` is the task taken out to run.
    pub fn bytes(&self, running: usize) -> usize {
        let tasks: usize = self.tasks.iter().map(|(_, m)| m.bytes()).sum();
        tasks
            + running
            + self.timers.bytes()
            + self.scopes.capacity() * std::mem::size_of::<Option<cancel::Scope>>()
            + self.nurseries.capacity() * std::mem::size_of::<Option<Nursery>>()
            + self.runq.capacity() * 4
    }

    /// Adds a task whose own scope lies in `scope_parent`; it runs when
    /// the queue reaches it.
    pub(crate) fn add_task(
        &mut self,
        task: Box<Task>,
        scope_parent: Option<ScopeId>,
        nursery: Option<NurseryId>,
    ) -> TaskId {
        let id = self.new_record(Some(task), scope_parent, nursery);
        self.runq.push_back(id);
        id
    }

    /// Gives the running task a scheduling record if it runs without one
    /// (a direct call from the host: see [`DETACHED`]), making it the main
    /// task, running, with its own root scope, as `Vm::run_as_main` would
    /// have. Every operation that reads or changes the running task's
    /// record calls this first; it costs a comparison once attached.
    #[inline]
    pub(crate) fn attach(&mut self) {
        if self.current == DETACHED {
            self.attach_direct_call();
        }
    }

    #[cold]
    fn attach_direct_call(&mut self) {
        // `task` stays `None`: the task is out of its record while it runs.
        let id = self.new_record(None, None, None);
        self.current = id;
        self.main = id;
    }

    /// A runnable task's record with its own scope, in no queue yet.
    fn new_record(
        &mut self,
        task: Option<Box<Task>>,
        scope_parent: Option<ScopeId>,
        nursery: Option<NurseryId>,
    ) -> TaskId {
        let token = self.next_serial();
        let id = self.tasks.insert(TaskMeta {
            task,
            state: State::Runnable,
            token,
            resume: Resume::Nothing,
            // Its own scope is made next, once the record has an id.
            scopes: cancel::ScopeStack::new(ScopeId::MAX),
            nursery: nursery.into(),
            handle: None,
            spawned_at: None,
            parent: OptId::NONE,
            regs: Regs::None,
            selecting: false,
            rare: None,
        });
        let scope = self.new_scope(id, scope_parent, false);
        self.meta_mut(id).scopes = cancel::ScopeStack::new(scope);
        id
    }

    /// The running task's current wait token. A task that has no record
    /// yet must get one first ([`Scheduler::attach`]): every wait does.
    pub fn token(&self) -> u64 {
        self.meta(self.current).token
    }

    /// Registers the running task on `event`, as one case of the wait it
    /// is about to park in; `via` says how a queue wakes it.
    pub fn register(&mut self, heap: &mut Heap, event: Event, via: Via) {
        self.attach();
        let task = self.current;
        let waiter = Waiter { task, token: self.token(), via };
        let token = waiter.token;
        let reg = match event {
            Event::Recv(ch) => {
                let chan = heap.chan_mut(ch);
                chan.receivers.push(waiter, ());
                if let Some(link) = &chan.host {
                    self.port.watch(ch, &link.0, true);
                }
                Reg::Recv(ch)
            }
            Event::Send(ch, v) => {
                let chan = heap.chan_mut(ch);
                chan.senders.push(waiter, v);
                if let Some(link) = &chan.host {
                    self.port.watch(ch, &link.0, false);
                }
                Reg::Send(ch)
            }
            Event::Join(t) => {
                let target = heap.task(t).id;
                self.meta_mut(target).rare_mut().joiners.push(waiter, ());
                Reg::Join(t)
            }
            Event::After(seconds) => {
                let at = self.clock.nanos().saturating_add(timer::delay_nanos(seconds));
                Reg::Timer(self.timers.add(at, TimerKind::Wake { task, token, via }))
            }
        };
        self.meta_mut(task).regs.push(reg);
    }

    /// Parks the running task on what it registered (the interpreter stops
    /// it next). `selecting` marks a `select`, for reports.
    pub fn park(&mut self, selecting: bool) {
        self.attach();
        let id = self.current;
        let meta = self.meta_mut(id);
        meta.state = State::Parked;
        meta.selecting = selecting;
    }

    /// Parks the running task until nursery `nid`'s tasks have finished.
    pub fn park_on_nursery(&mut self, nid: NurseryId) {
        self.attach();
        let id = self.current;
        let token = self.token();
        if let Some(n) = self.nurseries.get_mut(nid) {
            n.waiting = Some(token);
        }
        let meta = self.meta_mut(id);
        meta.regs.push(Reg::Nursery(nid));
        meta.state = State::Parked;
        meta.selecting = false;
    }

    /// Wakes task `id` if it is still parked in the wait `token`, with
    /// `resume`, and aborts every registration of that wait. Returns
    /// whether it was parked there.
    pub fn wake(&mut self, heap: &mut Heap, id: TaskId, token: u64, resume: Resume) -> bool {
        self.seq += 1;
        let seq = self.seq;
        let Some(meta) = self.tasks.get_mut(id) else { return false };
        if meta.token != token || meta.state != State::Parked {
            return false;
        }
        // A wait another thread may end is ended by whoever claims it.
        if let Some(cell) = meta.rare.as_mut().and_then(|r| r.shared.take()) {
            if !cell.claim() {
                meta.rare_mut().shared = Some(cell);
                return false;
            }
        }
        meta.token = seq;
        meta.state = State::Runnable;
        meta.resume = resume;
        match std::mem::take(&mut meta.regs) {
            Regs::None => {}
            Regs::One(reg) => self.abort(heap, id, reg),
            Regs::Many(mut regs) => {
                for reg in &regs {
                    self.abort(heap, id, *reg);
                }
                // A `select` in a loop reuses its vector.
                regs.clear();
                self.meta_mut(id).regs = Regs::Many(regs);
            }
        }
        self.runq.push_back(id);
        true
    }

    /// Undoes one registration of a wait that has ended.
    fn abort(&mut self, heap: &mut Heap, id: TaskId, reg: Reg) {
        let tasks = &self.tasks;
        match reg {
            Reg::Recv(ch) | Reg::Send(ch) => {
                let chan = heap.chan_mut(ch);
                match reg {
                    Reg::Recv(_) => chan.receivers.aborted(|w| wait::pending(tasks, w)),
                    _ => chan.senders.aborted(|w| wait::pending(tasks, w)),
                }
                if chan.host.is_some() {
                    self.port.unwatch(ch);
                }
            }
            Reg::Join(t) => {
                let target = heap.task(t).id;
                if let Some(rare) = self.tasks.get_mut(target).and_then(|m| m.rare.as_mut()) {
                    let mut joiners = std::mem::take(&mut rare.joiners);
                    joiners.aborted(|w| wait::pending(&self.tasks, w));
                    self.meta_mut(target).rare_mut().joiners = joiners;
                }
            }
            Reg::Timer(key) => self.timers.cancel(key),
            Reg::Nursery(nid) => {
                if let Some(n) = self.nurseries.get_mut(nid) {
                    n.waiting = None;
                }
            }
            Reg::Io(slot, direction) => {
                if let Some(reactor) = self.port.reactor.as_mut() {
                    reactor.abort(slot as usize, direction, id);
                }
            }
            Reg::Job(key) => self.port.abort_job(key),
        }
    }

    /// Whether the queue entry `w`'s wait is still pending.
    pub fn is_pending(&self, w: &Waiter) -> bool {
        wait::pending(&self.tasks, w)
    }

    /// A number never handed out before.
    pub fn next_serial(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Starts a round: the number of tasks ready now, which the loop runs
    /// before any task they wake. Under a seed, they are shuffled first.
    pub fn start_round(&mut self) -> usize {
        let round = self.runq.len();
        if self.shuffle && round > 1 {
            let ready = self.runq.make_contiguous();
            for i in (1..ready.len()).rev() {
                let j = self.rng.below(i as u64 + 1) as usize;
                ready.swap(i, j);
            }
        }
        round
    }

    // ----- timers ------------------------------------------------------------

    /// When the earliest pending timer is due, in clock nanoseconds.
    pub fn next_timer(&mut self) -> Option<u64> {
        self.timers.next_due()
    }

    /// Fires every timer due by now.
    pub fn fire_timers(&mut self, heap: &mut Heap) {
        // Reading the clock costs more than a scheduling step: skip it when
        // no timer is pending.
        if self.timers.is_empty() {
            return;
        }
        let now = self.clock.nanos();
        while let Some(kind) = self.timers.pop_due(now) {
            match kind {
                TimerKind::Wake { task, token, via } => {
                    self.wake(heap, task, token, via.resume(Value::Nil));
                }
                TimerKind::Deadline { scope } => self.expire(heap, scope),
            }
        }
    }
}
