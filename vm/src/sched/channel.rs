//! Channels: a buffer and two queues of parked tasks. Unbuffered channels
//! hand a value straight from sender to receiver; buffered ones hold up to
//! `cap` values and park senders while full (back pressure). Queues are
//! first come, first served.
//!
//! The queues are [`WaitQueue`]s: an entry of a task woken another way
//! (another `select` case, a cancellation) is counted out at once by the
//! wake's abort and dropped when it reaches the front or when the queue is
//! compacted, so readiness is a counter and a queue stays within twice its
//! live entries (see `sched/wait.rs`).
//!
//! A channel made by [`Vm::channel`](crate::Vm::channel) has a host end:
//! its values live in a queue shared with host threads, and every
//! operation here hands over to `host_chan.rs`, so that to a script it is
//! a channel like any other.

use crate::error::Throw;
use crate::sched::host_chan::{self, HostLink};
use crate::sched::{Resume, Via, WaitQueue, Waiter};
use crate::trace::TraceEntry;
use crate::value::{Ref, Value};
use crate::Runtime;
use std::collections::VecDeque;

/// What a waiter resumes with when the channel closes under it.
pub(crate) fn closed(w: &Waiter) -> Resume {
    match w.via {
        Via::Loop => Resume::LoopEnd,
        _ => Resume::raise(closed_error()),
    }
}

pub fn closed_error() -> Throw {
    Throw::new("ChannelClosed", "channel is closed")
}

/// A channel's state: its buffer, whether it is closed, and the tasks
/// parked on it. Lives in a heap object; natives use it through
/// [`Ctx`](crate::Ctx)'s channel operations.
pub struct Channel {
    /// How many values the buffer holds (0: a rendezvous).
    pub(crate) cap: usize,
    pub(crate) buf: VecDeque<Value>,
    pub(crate) closed: bool,
    /// Parked receivers.
    pub(crate) receivers: WaitQueue<()>,
    /// Parked senders with the value each is sending.
    pub(crate) senders: WaitQueue<Value>,
    /// Where the channel was made, for deadlock reports.
    pub(crate) made_at: Option<TraceEntry>,
    /// The queue shared with a host end, for a host channel (whose `buf`
    /// then stays empty).
    pub(crate) host: Option<HostLink>,
}

impl Channel {
    /// Values buffered.
    pub fn len(&self) -> usize {
        match &self.host {
            Some(link) => link.len(),
            None => self.buf.len(),
        }
    }

    /// Whether no values are buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many values the buffer holds (0: a rendezvous).
    pub fn cap(&self) -> usize {
        match &self.host {
            Some(link) => link.cap(),
            None => self.cap,
        }
    }

    /// Whether it was closed.
    pub fn is_closed(&self) -> bool {
        match &self.host {
            Some(link) => link.is_closed(),
            None => self.closed,
        }
    }

    /// Whether the channel has a host end.
    pub fn is_host(&self) -> bool {
        self.host.is_some()
    }

    /// Entries of the two queues of parked tasks, live and stale: what the
    /// queues hold, to watch that they stay bounded.
    pub fn queue_entries(&self) -> usize {
        self.receivers.len() + self.senders.len()
    }

    pub(crate) fn new(cap: usize, made_at: Option<TraceEntry>) -> Channel {
        Channel {
            cap,
            buf: VecDeque::new(),
            closed: false,
            receivers: WaitQueue::default(),
            senders: WaitQueue::default(),
            made_at,
            host: None,
        }
    }

    /// The script's side of a host channel.
    pub(crate) fn new_host(link: HostLink) -> Channel {
        Channel { host: Some(link), ..Channel::new(0, None) }
    }

    /// Every value the channel holds, for the collector.
    pub fn values(&self) -> impl Iterator<Item = Value> + '_ {
        self.buf.iter().copied().chain(self.senders.items().copied())
    }

    /// Bytes held beyond the object itself, for the heap limit.
    pub fn bytes(&self) -> usize {
        self.buf.capacity() * std::mem::size_of::<Value>() + self.receivers.bytes() + self.senders.bytes()
    }
}

/// Sends without blocking if a receiver waits or the buffer has room.
/// Returns false when the sender must park.
pub fn try_send(rt: &mut Runtime, ch: Ref, v: Value) -> Result<bool, Throw> {
    if rt.heap.chan(ch).host.is_some() {
        return host_chan::try_send(&mut rt.sched, &mut rt.heap, ch, v);
    }
    if rt.heap.chan(ch).closed {
        return Err(Throw::new("ChannelClosed", "send on a closed channel"));
    }
    let sched = &rt.sched;
    if let Some((w, ())) = rt.heap.chan_mut(ch).receivers.pop_live(|w| sched.is_pending(w)) {
        rt.sched.wake(&mut rt.heap, w.task, w.token, w.via.resume(v));
        return Ok(true);
    }
    let chan = rt.heap.chan_mut(ch);
    if chan.buf.len() < chan.cap {
        // A buffer about to grow is charged to the heap first, so a big
        // buffered channel fills up to the heap limit, not past it.
        let full = chan.buf.len() == chan.buf.capacity();
        if full {
            let grown = chan.buf.capacity().max(4) * std::mem::size_of::<Value>();
            rt.heap.check_room(grown, "a channel's buffer")?;
            rt.heap.grew(grown);
        }
        rt.heap.chan_mut(ch).buf.push_back(v);
        return Ok(true);
    }
    Ok(false)
}

/// Receives without blocking if a value is ready. `Ok(None)`: park.
pub fn try_recv(rt: &mut Runtime, ch: Ref) -> Result<Option<Value>, Throw> {
    if rt.heap.chan(ch).host.is_some() {
        return host_chan::try_recv(&mut rt.sched, &mut rt.heap, ch);
    }
    let sched = &rt.sched;
    let chan = rt.heap.chan_mut(ch);
    if let Some(v) = chan.buf.pop_front() {
        // A slot freed up: the first parked sender's value moves in.
        if let Some((w, sent)) = chan.senders.pop_live(|w| sched.is_pending(w)) {
            chan.buf.push_back(sent);
            rt.sched.wake(&mut rt.heap, w.task, w.token, w.via.resume(Value::Nil));
        }
        return Ok(Some(v));
    }
    if let Some((w, sent)) = chan.senders.pop_live(|w| sched.is_pending(w)) {
        rt.sched.wake(&mut rt.heap, w.task, w.token, w.via.resume(Value::Nil));
        return Ok(Some(sent));
    }
    if chan.closed {
        return Err(closed_error());
    }
    Ok(None)
}

/// Whether a receive would complete (or fail) at once.
pub fn recv_ready(rt: &Runtime, ch: Ref) -> bool {
    let chan = rt.heap.chan(ch);
    if chan.host.is_some() {
        return host_chan::recv_ready(&rt.heap, ch);
    }
    !chan.buf.is_empty() || chan.closed || chan.senders.has_live()
}

/// Whether a send would complete (or fail) at once.
pub fn send_ready(rt: &Runtime, ch: Ref) -> bool {
    let chan = rt.heap.chan(ch);
    if chan.host.is_some() {
        return host_chan::send_ready(&rt.heap, ch);
    }
    chan.closed || chan.buf.len() < chan.cap || chan.receivers.has_live()
}

/// Closes the channel: parked receivers and senders raise `ChannelClosed`
/// (a `for` loop just ends). Closing twice does nothing.
pub fn close(rt: &mut Runtime, ch: Ref) {
    if rt.heap.chan(ch).host.is_some() {
        return host_chan::close(&mut rt.sched, &mut rt.heap, ch);
    }
    let chan = rt.heap.chan_mut(ch);
    if chan.closed {
        return;
    }
    chan.closed = true;
    let receivers = chan.receivers.take_all().into_iter().map(|(w, ())| w);
    let senders = chan.senders.take_all().into_iter().map(|(w, _)| w);
    let waiters: Vec<Waiter> = receivers.chain(senders).collect();
    for w in waiters {
        rt.sched.wake(&mut rt.heap, w.task, w.token, closed(&w));
    }
}
