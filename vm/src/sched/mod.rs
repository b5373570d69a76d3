//! The scheduler's state: tasks, cancel scopes, nurseries, timers and the
//! clock. The loop that runs tasks is `Vm::schedule` (`run.rs`); this module
//! keeps the bookkeeping it and the blocking natives share.
//!
//! Invariants:
//! - One way to wait: a task parks with a `token`; whatever wakes it later
//!   (a channel, a timer, a finishing task, a cancellation) names the same
//!   token, and the first wake-up wins: it bumps the token, so every other
//!   registration of that wait becomes stale at once.
//! - Cancel scopes form a tree through `parent`; a task's innermost scope
//!   is the top of its `scopes` stack. A task is cancelled when a scope on
//!   its path to the root is, unless a shield stands in between.
//! - A nursery finishes only when `live == 0`: every task spawned into it
//!   has finished.

mod run;

use crate::error::Throw;
use crate::heap::TraceEntry;
use crate::task::Task;
use crate::value::{Ref, Value};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

pub type TaskId = u32;
pub type ScopeId = u32;
pub type NurseryId = u32;

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
                self.items.push(Some(item));
                self.items.len() as u32 - 1
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

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.items.iter().enumerate().filter_map(|(i, t)| t.as_ref().map(|t| (i as u32, t)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Runnable,
    Parked,
}

/// What a woken task does first.
#[derive(Clone, Debug)]
pub enum Resume {
    /// Nothing: it yielded, or was just spawned.
    Nothing,
    /// The blocking call returns this value.
    Value(Value),
    /// `select` chose this case, with this value.
    Select(u16, Value),
    /// The blocking call raises this.
    Raise(Throw),
    /// Run the instruction it parked on again (a nursery's wait).
    Retry,
    /// A `for` loop over a channel ends: the channel closed.
    LoopEnd,
}

/// What a parked task waits for, for deadlock reports.
#[derive(Clone, Debug)]
pub enum Wait {
    Recv(Ref),
    Send(Ref),
    Join(Ref),
    Sleep,
    /// A `select` with no ready case: what each of its cases waits on
    /// (`after` cases are timers, left out).
    Select(Vec<Wait>),
    Nursery,
    Host(String),
}

pub struct TaskMeta {
    /// The task's registers and frames; `None` while it runs.
    pub task: Option<Box<Task>>,
    pub state: State,
    pub token: u64,
    pub resume: Resume,
    /// Cancel scopes entered, innermost last; the first is the task's own.
    pub scopes: Vec<ScopeId>,
    /// The nursery it was spawned into (none for the main task).
    pub nursery: Option<NurseryId>,
    pub handle: Option<Ref>,
    /// `context_get` / `context_set` storage: a map, or nil.
    pub context: Value,
    /// The `spawn` that made it, and its parent task.
    pub spawned_at: Option<TraceEntry>,
    pub parent: Option<TaskId>,
    pub wait: Option<Wait>,
    /// Tasks parked in `join` on this one.
    pub joiners: Vec<(TaskId, u64, Option<u16>)>,
}

pub struct Scope {
    /// Unique over the run, so a stale deadline never cancels a reused slot.
    pub serial: u64,
    pub parent: Option<ScopeId>,
    pub cancelled: bool,
    pub shield: bool,
    /// For `timeout`: whether its deadline passed.
    pub expired: bool,
}

pub struct Nursery {
    pub scope: ScopeId,
    pub owner: TaskId,
    /// Tasks spawned into it that have not finished.
    pub live: u32,
    pub first_error: Option<Value>,
    pub others: Vec<Value>,
    /// The owner's token while it waits for the children.
    pub waiting: Option<u64>,
    pub handle: Option<Ref>,
    /// A `Cancelled` from an enclosing scope that reached the body, to
    /// re-raise once the tasks are done.
    pub cancel_error: Option<Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    /// Wake a sleeping task (or a `select` with an `after` case).
    Wake { task: TaskId, token: u64, case: Option<u16> },
    /// A `timeout` scope's deadline.
    Deadline(ScopeId, u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    /// Nanoseconds on the scheduler clock.
    at: u64,
    seq: u64,
    kind: TimerKind,
}

/// Real or virtual time, in seconds since the scheduler started.
pub struct Clock {
    pub virtual_time: bool,
    now_virtual: u64,
    start: Instant,
}

impl Clock {
    pub fn nanos(&self) -> u64 {
        if self.virtual_time {
            self.now_virtual
        } else {
            self.start.elapsed().as_nanos() as u64
        }
    }

    pub fn now(&self) -> f64 {
        self.nanos() as f64 / 1e9
    }
}

pub struct Scheduler {
    pub tasks: Slab<TaskMeta>,
    pub runq: VecDeque<TaskId>,
    timers: BinaryHeap<Reverse<Timer>>,
    pub scopes: Slab<Scope>,
    pub nurseries: Slab<Nursery>,
    /// The running task.
    pub current: TaskId,
    pub main: TaskId,
    pub clock: Clock,
    /// The seeded generator behind scheduling and `select` choices.
    pub rng: u64,
    seq: u64,
    /// Blocking host calls in flight (they can still wake a task).
    pub pending_host: usize,
    /// The most tasks that may be alive at once.
    pub max_tasks: usize,
}

impl Scheduler {
    pub fn new(seed: u64, virtual_time: bool) -> Scheduler {
        Scheduler {
            tasks: Slab::default(),
            runq: VecDeque::new(),
            timers: BinaryHeap::new(),
            scopes: Slab::default(),
            nurseries: Slab::default(),
            current: 0,
            main: 0,
            clock: Clock { virtual_time, now_virtual: 0, start: Instant::now() },
            rng: seed ^ 0x9e37_79b9_7f4a_7c15,
            seq: 0,
            pending_host: 0,
            max_tasks: 10_000_000,
        }
    }

    /// A random number from the seeded generator (splitmix64).
    pub fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn meta(&self, id: TaskId) -> &TaskMeta {
        self.tasks.get(id).expect("live task")
    }

    pub fn meta_mut(&mut self, id: TaskId) -> &mut TaskMeta {
        self.tasks.get_mut(id).expect("live task")
    }

    /// Adds a task; it runs when the queue reaches it.
    pub fn add_task(&mut self, task: Box<Task>, scope_parent: Option<ScopeId>, nursery: Option<NurseryId>) -> TaskId {
        let serial = self.next_serial();
        let scope =
            self.scopes.insert(Scope { serial, parent: scope_parent, cancelled: false, shield: false, expired: false });
        let token = self.next_serial();
        let id = self.tasks.insert(TaskMeta {
            task: Some(task),
            state: State::Runnable,
            token,
            resume: Resume::Nothing,
            scopes: vec![scope],
            nursery,
            handle: None,
            context: Value::Nil,
            spawned_at: None,
            parent: None,
            wait: None,
            joiners: Vec::new(),
        });
        self.runq.push_back(id);
        id
    }

    /// The running task's current wait token, to register a wait with.
    pub fn token(&self) -> u64 {
        self.meta(self.current).token
    }

    /// Marks the running task parked (the interpreter has stopped it).
    pub fn park(&mut self, wait: Wait) {
        let id = self.current;
        let meta = self.meta_mut(id);
        meta.state = State::Parked;
        meta.wait = Some(wait);
    }

    /// Wakes task `id` if it is still parked in the wait `token`. Returns
    /// whether it was.
    pub fn wake(&mut self, id: TaskId, token: u64, resume: Resume) -> bool {
        let Some(meta) = self.tasks.get_mut(id) else { return false };
        if meta.token != token || meta.state != State::Parked {
            return false;
        }
        self.seq += 1;
        meta.token = self.seq;
        meta.state = State::Runnable;
        meta.resume = resume;
        meta.wait = None;
        self.runq.push_back(id);
        true
    }

    /// Whether the wait `token` of task `id` is still pending.
    pub fn is_waiting(&self, id: TaskId, token: u64) -> bool {
        self.tasks.get(id).is_some_and(|m| m.token == token && m.state == State::Parked)
    }

    // ----- cancel scopes ---------------------------------------------------

    /// The innermost scope of task `id`.
    pub fn scope_of(&self, id: TaskId) -> ScopeId {
        *self.meta(id).scopes.last().expect("a task has its own scope")
    }

    /// The outermost cancelled scope that reaches task `id`, if any: the
    /// scope that absorbs the `Cancelled` it must raise.
    pub fn cancelled(&self, id: TaskId) -> Option<ScopeId> {
        let mut scope = Some(self.scope_of(id));
        let mut found = None;
        while let Some(s) = scope {
            let Some(sc) = self.scopes.get(s) else { break };
            if sc.cancelled {
                found = Some(s);
            }
            if sc.shield {
                break;
            }
            scope = sc.parent;
        }
        found
    }

    /// Whether scope `inner` is `outer` or lies inside it.
    fn within(&self, inner: ScopeId, outer: ScopeId) -> bool {
        let mut scope = Some(inner);
        while let Some(s) = scope {
            if s == outer {
                return true;
            }
            scope = self.scopes.get(s).and_then(|sc| sc.parent);
        }
        false
    }

    /// Cancels a scope: every task inside it that is parked raises
    /// `Cancelled` now; running ones at their next checkpoint.
    pub fn cancel(&mut self, scope: ScopeId) {
        match self.scopes.get_mut(scope) {
            Some(s) if !s.cancelled => s.cancelled = true,
            _ => return,
        }
        let parked: Vec<(TaskId, u64)> = self
            .tasks
            .iter()
            .filter(|(_, m)| m.state == State::Parked && !matches!(m.wait, Some(Wait::Nursery)))
            .filter(|(_, m)| self.within(*m.scopes.last().expect("own scope"), scope))
            .map(|(id, m)| (id, m.token))
            .collect();
        for (id, token) in parked {
            if let Some(s) = self.cancelled(id) {
                self.wake(id, token, Resume::Raise(Throw::Cancelled(s)));
            }
        }
    }

    /// A number never handed out before.
    pub fn next_serial(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Opens a cancel scope in the running task.
    pub fn push_scope(&mut self, shield: bool) -> ScopeId {
        let parent = self.scope_of(self.current);
        let serial = self.next_serial();
        let scope =
            self.scopes.insert(Scope { serial, parent: Some(parent), cancelled: false, shield, expired: false });
        let id = self.current;
        self.meta_mut(id).scopes.push(scope);
        scope
    }

    /// Leaves the running task's innermost scope.
    pub fn pop_scope(&mut self) -> Option<(ScopeId, Scope)> {
        let id = self.current;
        let meta = self.meta_mut(id);
        if meta.scopes.len() <= 1 {
            return None;
        }
        let scope = meta.scopes.pop().expect("checked");
        self.scopes.remove(scope).map(|s| (scope, s))
    }

    // ----- timers ------------------------------------------------------------

    fn add_timer(&mut self, seconds: f64, kind: TimerKind) {
        let delay = if seconds.is_finite() && seconds > 0.0 {
            (seconds * 1e9).min(1e18) as u64
        } else if seconds > 0.0 {
            u64::MAX / 2
        } else {
            0
        };
        self.seq += 1;
        let at = self.clock.nanos().saturating_add(delay);
        self.timers.push(Reverse(Timer { at, seq: self.seq, kind }));
    }

    /// Wakes the running task after `seconds` (its current wait).
    pub fn wake_after(&mut self, seconds: f64, case: Option<u16>) {
        let (task, token) = (self.current, self.token());
        self.add_timer(seconds, TimerKind::Wake { task, token, case });
    }

    /// Cancels `scope` after `seconds`.
    pub fn deadline(&mut self, scope: ScopeId, seconds: f64) {
        let serial = self.scopes.get(scope).map_or(0, |s| s.serial);
        self.add_timer(seconds, TimerKind::Deadline(scope, serial));
    }

    /// Whether any timer that still matters is pending.
    pub fn next_timer(&mut self) -> Option<u64> {
        while let Some(Reverse(t)) = self.timers.peek() {
            let live = match t.kind {
                TimerKind::Wake { task, token, .. } => self.is_waiting(task, token),
                TimerKind::Deadline(scope, serial) => {
                    self.scopes.get(scope).is_some_and(|s| !s.cancelled && s.serial == serial)
                }
            };
            if live {
                return Some(t.at);
            }
            self.timers.pop();
        }
        None
    }

    /// Fires every timer due by now.
    pub fn fire_timers(&mut self) {
        // Reading the clock costs more than a scheduling step: skip it when
        // no timer is pending.
        if self.timers.is_empty() {
            return;
        }
        let now = self.clock.nanos();
        while let Some(Reverse(t)) = self.timers.peek().copied() {
            if t.at > now {
                break;
            }
            self.timers.pop();
            match t.kind {
                TimerKind::Wake { task, token, case } => {
                    let resume = match case {
                        Some(case) => Resume::Select(case, Value::Nil),
                        None => Resume::Value(Value::Nil),
                    };
                    self.wake(task, token, resume);
                }
                TimerKind::Deadline(scope, serial) => {
                    if let Some(s) = self.scopes.get_mut(scope).filter(|s| s.serial == serial) {
                        s.expired = true;
                        self.cancel(scope);
                    }
                }
            }
        }
    }

    /// With nothing runnable: moves virtual time to the next timer, or
    /// sleeps until it in real time. Returns false if no timer is pending.
    pub fn advance(&mut self) -> bool {
        let Some(at) = self.next_timer() else { return false };
        if self.clock.virtual_time {
            self.clock.now_virtual = self.clock.now_virtual.max(at);
        } else {
            let now = self.clock.nanos();
            if at > now {
                std::thread::sleep(Duration::from_nanos((at - now).min(50_000_000)));
            }
        }
        self.fire_timers();
        true
    }
}
