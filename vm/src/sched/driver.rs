//! The idle-wait seam: what the scheduler does when no task can run.
//!
//! The [`Driver`] owns everything that can wake a task from outside the
//! run queue other than timers: today, wakes posted from other threads
//! through a [`RemoteWaker`]; next, the I/O reactor and the blocking-work
//! pool, which post their completions the same way. When every task waits,
//! the loop calls [`Scheduler::idle`] once: the driver waits until the
//! next timer is due or a delivery arrives. The deadlock rule follows:
//! no runnable task, no timer, and the driver has nothing pending.
//!
//! On the virtual clock, time jumps to the next timer when only timers
//! can wake a task; while a remote wake is pending, the clock moves with
//! real time instead, since the wake may come before the timer.

use super::{Scheduler, SharedWait, TaskId, Via};
use crate::heap::Heap;
use crate::value::Value;
use crossbeam_channel::{Receiver, Sender};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The longest one idle wait lasts before the loop looks at the interrupt
/// flag again.
const IDLE_SLICE: Duration = Duration::from_millis(50);

/// A value that can cross threads: it owns its data and names nothing on
/// the heap, and becomes a `Value` on the scheduler's thread.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
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
struct Delivery {
    task: TaskId,
    token: u64,
    via: Via,
    message: Message,
}

/// The right to wake one parked task from any thread, once. Its wake
/// races every local wake of the same wait (a timer, a cancellation)
/// through the wait's [`SharedWait`]: whichever claims it first delivers,
/// and the other does nothing. Dropping it unused gives the right up, so a
/// task nobody can wake any more counts toward a deadlock again.
pub struct RemoteWaker {
    cell: SharedWait,
    task: TaskId,
    token: u64,
    via: Via,
    inbox: Sender<Delivery>,
    pending: Arc<AtomicUsize>,
    done: bool,
}

impl RemoteWaker {
    /// Wakes the task with `message`; false if the wait already ended
    /// another way.
    pub fn wake(mut self, message: Message) -> bool {
        let claimed = self.cell.claim();
        if claimed {
            let delivery = Delivery { task: self.task, token: self.token, via: self.via, message };
            // The scheduler owns the inbox for as long as it may wait.
            let _ = self.inbox.send(delivery);
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
        }
    }
}

/// See the module documentation.
pub struct Driver {
    inbox: Receiver<Delivery>,
    outbox: Sender<Delivery>,
    /// Remote wakers alive: each may still wake a task.
    pending: Arc<AtomicUsize>,
    /// Whether any remote waker was ever handed out: until then the inbox
    /// is not even looked at.
    used: bool,
}

impl Default for Driver {
    fn default() -> Self {
        let (outbox, inbox) = crossbeam_channel::unbounded();
        Driver { inbox, outbox, pending: Arc::default(), used: false }
    }
}

impl Driver {
    /// Wakes that may still come from outside the scheduler.
    pub fn pending(&self) -> usize {
        if !self.used {
            return 0;
        }
        self.pending.load(Ordering::Acquire) + self.inbox.len()
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
        RemoteWaker {
            cell,
            task,
            token,
            via,
            inbox: self.driver.outbox.clone(),
            pending: self.driver.pending.clone(),
            done: false,
        }
    }

    /// Delivers the wakes that other threads posted.
    pub fn take_deliveries(&mut self, heap: &mut Heap) {
        if !self.driver.used {
            return;
        }
        while let Ok(d) = self.driver.inbox.try_recv() {
            self.deliver(heap, d);
        }
    }

    fn deliver(&mut self, heap: &mut Heap, d: Delivery) {
        let resume = d.via.resume(d.message.into_value(heap));
        // The remote side claimed the wait: no local wake can have run.
        if let Some(meta) = self.tasks.get_mut(d.task) {
            if meta.token == d.token {
                meta.shared = None;
            }
        }
        self.wake(heap, d.task, d.token, resume);
    }

    /// With no task ready: waits for the next timer or a remote wake, and
    /// delivers a wake that came (the loop fires due timers). False when
    /// nothing can ever wake a task: a deadlock.
    pub fn idle(&mut self, heap: &mut Heap, interrupt: &AtomicBool) -> bool {
        let next = self.next_timer();
        let remote = self.driver.pending() > 0;
        if next.is_none() && !remote {
            return false;
        }
        if self.clock.virtual_time && !remote {
            if let Some(at) = next {
                self.clock.jump_to(at);
            }
            return true;
        }
        let now = self.clock.nanos();
        let wait = next.map_or(IDLE_SLICE, |at| Duration::from_nanos(at.saturating_sub(now)).min(IDLE_SLICE));
        if interrupt.load(Ordering::Relaxed) {
            return true;
        }
        let start = std::time::Instant::now();
        let arrived = if remote {
            self.driver.inbox.recv_timeout(wait).ok()
        } else {
            std::thread::sleep(wait);
            None
        };
        if self.clock.virtual_time {
            let waited = start.elapsed().as_nanos() as u64;
            self.clock.jump_to(now.saturating_add(waited));
        }
        if let Some(d) = arrived {
            self.deliver(heap, d);
        }
        true
    }
}
