//! Channels: a buffer and two queues of parked tasks. Unbuffered channels
//! hand a value straight from sender to receiver; buffered ones hold up to
//! `cap` values and park senders while full (back pressure). Queues are
//! first come, first served.
//!
//! A queue entry names a task and the wait it belongs to (a token); an
//! entry whose task has since been woken another way (another `select`
//! case, a cancellation) is stale and skipped. That is how one wake-up
//! unregisters a task from every queue it joined, without searching them.

use crate::error::Throw;
use crate::heap::TraceEntry;
use crate::sched::Resume;
use crate::value::{Ref, Value};
use crate::Runtime;
use std::collections::VecDeque;

/// How a parked task is waiting on a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A `send` or `recv` call.
    Call,
    /// A `select` case.
    Case(u16),
    /// A `for v in ch` loop.
    Loop,
}

/// A parked task's place in a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiter {
    pub task: u32,
    pub token: u64,
    pub via: Via,
}

impl Waiter {
    /// The running task's current wait.
    pub fn current(rt: &Runtime, via: Via) -> Waiter {
        Waiter { task: rt.sched.current, token: rt.sched.token(), via }
    }

    /// Wakes the waiter with a received value (or, for a sender, nil).
    fn deliver(self, rt: &mut Runtime, v: Value) -> bool {
        let resume = match self.via {
            Via::Call | Via::Loop => Resume::Value(v),
            Via::Case(c) => Resume::Select(c, v),
        };
        rt.sched.wake(self.task, self.token, resume)
    }

    /// Wakes the waiter because the channel closed.
    fn closed(self, rt: &mut Runtime) -> bool {
        let resume = match self.via {
            Via::Loop => Resume::LoopEnd,
            _ => Resume::Raise(closed_error()),
        };
        rt.sched.wake(self.task, self.token, resume)
    }
}

pub fn closed_error() -> Throw {
    Throw::new("ChannelClosed", "channel is closed")
}

pub struct Channel {
    pub cap: usize,
    pub buf: VecDeque<Value>,
    pub closed: bool,
    pub receivers: VecDeque<Waiter>,
    /// Parked senders with the value each is sending.
    pub senders: VecDeque<(Waiter, Value)>,
    /// Where the channel was made, for deadlock reports.
    pub made_at: Option<TraceEntry>,
}

impl Channel {
    pub fn new(cap: usize, made_at: Option<TraceEntry>) -> Channel {
        Channel {
            cap,
            buf: VecDeque::new(),
            closed: false,
            receivers: VecDeque::new(),
            senders: VecDeque::new(),
            made_at,
        }
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Every value the channel holds, for the collector.
    pub fn values(&self) -> impl Iterator<Item = Value> + '_ {
        self.buf.iter().copied().chain(self.senders.iter().map(|(_, v)| *v))
    }
}

/// Sends without blocking if a receiver waits or the buffer has room.
/// Returns false when the sender must park.
pub fn try_send(rt: &mut Runtime, ch: Ref, v: Value) -> Result<bool, Throw> {
    if rt.heap.chan(ch).closed {
        return Err(Throw::new("ChannelClosed", "send on a closed channel"));
    }
    while let Some(w) = rt.heap.chan_mut(ch).receivers.pop_front() {
        if w.deliver(rt, v) {
            return Ok(true);
        }
    }
    let chan = rt.heap.chan_mut(ch);
    if chan.buf.len() < chan.cap {
        chan.buf.push_back(v);
        return Ok(true);
    }
    Ok(false)
}

/// Receives without blocking if a value is ready. `Ok(None)`: park.
pub fn try_recv(rt: &mut Runtime, ch: Ref) -> Result<Option<Value>, Throw> {
    if let Some(v) = rt.heap.chan_mut(ch).buf.pop_front() {
        // A slot freed up: the first parked sender's value moves in.
        while let Some((w, sent)) = rt.heap.chan_mut(ch).senders.pop_front() {
            if w.deliver(rt, Value::Nil) {
                rt.heap.chan_mut(ch).buf.push_back(sent);
                break;
            }
        }
        return Ok(Some(v));
    }
    while let Some((w, sent)) = rt.heap.chan_mut(ch).senders.pop_front() {
        if w.deliver(rt, Value::Nil) {
            return Ok(Some(sent));
        }
    }
    if rt.heap.chan(ch).closed {
        return Err(closed_error());
    }
    Ok(None)
}

/// Whether a receive would complete (or fail) at once.
pub fn recv_ready(rt: &Runtime, ch: Ref) -> bool {
    let chan = rt.heap.chan(ch);
    !chan.buf.is_empty() || chan.closed || chan.senders.iter().any(|(w, _)| rt.sched.is_waiting(w.task, w.token))
}

/// Whether a send would complete (or fail) at once.
pub fn send_ready(rt: &Runtime, ch: Ref) -> bool {
    let chan = rt.heap.chan(ch);
    chan.closed || chan.buf.len() < chan.cap || chan.receivers.iter().any(|w| rt.sched.is_waiting(w.task, w.token))
}

/// Closes the channel: parked receivers and senders raise `ChannelClosed`
/// (a `for` loop just ends). Closing twice does nothing.
pub fn close(rt: &mut Runtime, ch: Ref) {
    let chan = rt.heap.chan_mut(ch);
    if chan.closed {
        return;
    }
    chan.closed = true;
    let receivers: Vec<Waiter> = chan.receivers.drain(..).collect();
    let senders: Vec<Waiter> = chan.senders.drain(..).map(|(w, _)| w).collect();
    for w in receivers.into_iter().chain(senders) {
        w.closed(rt);
    }
}
