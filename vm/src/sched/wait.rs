//! Parking and waking: the one way a task waits.
//!
//! A task that must wait first *registers* on each thing that may wake it
//! (a channel's queue, a task's joiners, a timer), then *parks*. Whatever
//! wakes it names the task and the wait's token, and delivers one
//! outcome ([`Resume`](super::Resume)). Waking bumps the token, then
//! *aborts* every registration of the wait, the one that fired included:
//! timers are cancelled, nursery waits forgotten, and queue entries counted
//! out of their queue's live count. Cancellation is a wake like any other,
//! so it aborts the same way, exactly once. A `select` is one wait with a
//! registration per case: one abort unregisters all of them, as Go's
//! `selectgo` dequeues its `sudog`s.
//!
//! Queues keep FIFO order and do not search on abort: an aborted entry
//! stays until it reaches the front or until stale entries outnumber live
//! ones by [`SLACK`], when the queue is compacted. A queue therefore holds
//! at most `2 * live + SLACK` entries, and readiness is a counter, not a
//! scan (pinned by `tests/waits.rs`: `select_loop_keeps_no_waiters`).
//!
//! [`SharedWait`] is the second form, for wakers on other threads: its
//! wake is an atomic claim of a shared cell, so the first of any number of
//! threads to claim it wins (Go's `selectDone`).

use super::timer::TimerKey;
use super::{NurseryId, TaskId};
use crate::value::{Ref, Value};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Stale entries a queue tolerates beyond its live count before it is
/// compacted.
pub const SLACK: usize = 16;

/// How a parked task resumes when a queue wakes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A `send`, `recv` or `join` call.
    Call,
    /// A `select` case.
    Case(u16),
    /// A `for v in ch` loop.
    Loop,
}

impl Via {
    /// What the task resumes with when this wait delivers `v`: the call's
    /// result, or the `select` case with its value.
    pub fn resume(self, v: Value) -> super::Resume {
        match self {
            Via::Call | Via::Loop => super::Resume::Value(v),
            Via::Case(c) => super::Resume::Select(c, v),
        }
    }
}

/// Whether `w`'s wait is still pending among `tasks`: the one test of a
/// queue entry's liveness (a free function so that a queue of one task
/// can be checked against the others).
pub(crate) fn pending(tasks: &super::Slab<super::TaskMeta>, w: &Waiter) -> bool {
    tasks.get(w.task).is_some_and(|m| m.token == w.token && m.state == super::State::Parked)
}

/// A parked task's entry in a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiter {
    pub task: TaskId,
    /// The wait this entry belongs to: stale once the task's token moved on.
    pub token: u64,
    pub via: Via,
}

/// One thing a parked task is registered on; aborting the wait undoes it.
#[derive(Clone, Copy, Debug)]
pub enum Reg {
    /// An entry in the channel's receivers.
    Recv(Ref),
    /// An entry in the channel's senders.
    Send(Ref),
    /// An entry in the joiners of the task with this handle.
    Join(Ref),
    /// A timer.
    Timer(TimerKey),
    /// The owner waits for this nursery's tasks.
    Nursery(NurseryId),
    /// One direction of a source in the reactor, by slot.
    Io(u32, super::reactor::Direction),
    /// A pool job, by key.
    Job(u32),
}

/// The registrations of one wait. Most waits have one, which needs no
/// allocation; a `select` keeps its vector from one park to the next.
#[derive(Debug, Default)]
pub enum Regs {
    #[default]
    None,
    One(Reg),
    Many(Vec<Reg>),
}

impl Regs {
    pub fn push(&mut self, reg: Reg) {
        match self {
            Regs::None => *self = Regs::One(reg),
            Regs::One(first) => *self = Regs::Many(vec![*first, reg]),
            Regs::Many(regs) => regs.push(reg),
        }
    }

    pub fn as_slice(&self) -> &[Reg] {
        match self {
            Regs::None => &[],
            Regs::One(reg) => std::slice::from_ref(reg),
            Regs::Many(regs) => regs,
        }
    }
}

/// What a wait is on: the narrow vocabulary natives park with.
#[derive(Clone, Copy, Debug)]
pub enum Event {
    /// A value from the channel.
    Recv(Ref),
    /// The channel taking this value.
    Send(Ref, Value),
    /// The task with this handle finishing.
    Join(Ref),
    /// This many seconds passing.
    After(f64),
}

/// A FIFO queue of parked tasks (a channel's senders or receivers, a
/// task's joiners), each entry carrying a `T` (a sent value, or nothing).
#[derive(Debug)]
pub struct WaitQueue<T> {
    entries: VecDeque<(Waiter, T)>,
    /// Entries whose wait is still pending.
    live: usize,
}

impl<T> Default for WaitQueue<T> {
    fn default() -> Self {
        WaitQueue { entries: VecDeque::new(), live: 0 }
    }
}

impl<T> WaitQueue<T> {
    pub fn push(&mut self, waiter: Waiter, item: T) {
        self.entries.push_back((waiter, item));
        self.live += 1;
    }

    /// Whether some entry's wait is still pending.
    pub fn has_live(&self) -> bool {
        self.live > 0
    }

    /// Entries, pending and stale.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Removes the first entry whose wait is pending, dropping the stale
    /// ones before it. The caller must wake it: the wake's abort is what
    /// takes it out of the live count.
    pub fn pop_live(&mut self, is_waiting: impl Fn(&Waiter) -> bool) -> Option<(Waiter, T)> {
        while let Some((waiter, item)) = self.entries.pop_front() {
            if is_waiting(&waiter) {
                return Some((waiter, item));
            }
        }
        None
    }

    /// One entry's wait was aborted (or woken): it no longer counts, and
    /// when stale entries pile up they go.
    pub fn aborted(&mut self, is_waiting: impl Fn(&Waiter) -> bool) {
        self.live = self.live.saturating_sub(1);
        if self.entries.len() > 2 * self.live + SLACK {
            self.entries.retain(|(w, _)| is_waiting(w));
            self.live = self.entries.len();
        }
    }

    /// Takes every entry out, for a closing channel or a finished task:
    /// the caller wakes the pending ones.
    pub fn take_all(&mut self) -> VecDeque<(Waiter, T)> {
        self.live = 0;
        std::mem::take(&mut self.entries)
    }

    pub fn items(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().map(|(_, item)| item)
    }

    /// Bytes held, for the heap limit.
    pub fn bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<(Waiter, T)>()
    }
}

/// A wait whose wake may come from another OS thread: the wakers race to
/// claim the cell, and only the first claim delivers. A local wake of the
/// same wait (a timer, a cancellation) claims it too, so exactly one
/// outcome is ever delivered.
#[derive(Clone, Debug, Default)]
pub struct SharedWait {
    done: Arc<AtomicBool>,
}

impl SharedWait {
    pub fn new() -> SharedWait {
        SharedWait::default()
    }

    /// Claims the wake; true for exactly one caller over the wait's life.
    pub fn claim(&self) -> bool {
        self.done.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Whether some waker has claimed it.
    #[cfg(test)]
    fn is_claimed(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(task: TaskId) -> Waiter {
        Waiter { task, token: 1, via: Via::Call }
    }

    #[test]
    fn aborted_entries_are_compacted_away() {
        let mut q = WaitQueue::default();
        q.push(waiter(0), ());
        for i in 1..if cfg!(miri) { 1_000 } else { 100_000 } {
            q.push(waiter(i), ());
            // Entry i is aborted at once: only task 0 still waits.
            q.aborted(|w| w.task == 0);
        }
        assert_eq!(q.live, 1);
        assert!(q.len() <= 2 + SLACK, "{} entries for one live waiter", q.len());
        assert_eq!(q.pop_live(|w| w.task == 0).map(|(w, _)| w.task), Some(0));
    }

    #[test]
    fn pop_live_skips_stale_entries_in_order() {
        let mut q = WaitQueue::default();
        for i in 0..4 {
            q.push(waiter(i), i * 10);
        }
        let live = |w: &Waiter| w.task % 2 == 1;
        assert_eq!(q.pop_live(live).map(|(_, v)| v), Some(10));
        assert_eq!(q.pop_live(live).map(|(_, v)| v), Some(30));
        assert!(q.pop_live(live).is_none());
    }

    #[test]
    fn a_shared_wait_is_claimed_once_across_threads() {
        let wait = SharedWait::new();
        let wins: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| wait.claim() as usize)).collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        assert_eq!(wins, 1);
        assert!(wait.is_claimed());
        assert!(!wait.claim());
    }
}
