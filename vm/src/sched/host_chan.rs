//! Host channels: a channel with one end in a script (to it, a `chan()`
//! like any other) and the other in the host, usable from any OS thread.
//!
//! The two sides share a bounded queue of [`Message`]s behind a mutex,
//! with condition variables for host threads that block. Host threads
//! only ever touch that queue: a host send pushes and pokes the runtime,
//! and the runtime's thread hands queued messages to parked script
//! receivers ([`service`]), so a receiver cancelled meanwhile loses
//! nothing (the message stays queued). A script send that finds the
//! queue full parks on the channel's senders, and moves in when a host
//! receive makes room and pokes. A poke sets the runtime's flag and wakes
//! its idle wait (the driver's waker); the runtime then services every
//! host channel its tasks wait on.
//!
//! While a host end is alive, a task waiting on the channel is not
//! deadlocked (the driver counts it as an outside wake, so a virtual
//! clock moves with real time). Dropping the last host end closes the
//! channel; so does closing it from either side, and so does the script
//! end's channel being collected or its VM dropped. A capacity of 0 is
//! taken as 1: a rendezvous across threads would need the host to wait
//! for the runtime's thread on every send.

use super::driver::Outbox;
use super::{Resume, Scheduler};
use crate::error::Throw;
use crate::heap::Heap;
use crate::message::{FromMessage, IntoMessage, Message};
use crate::native::{Ctx, IntoValue};
use crate::value::{Ref, Value};
use crate::{Handle, Vm};
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What both ends share.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Host receivers wait here for a message (or the close).
    not_empty: Condvar,
    /// Host senders wait here for room (or the close).
    not_full: Condvar,
    /// Live [`HostChannel`] clones.
    host_ends: AtomicUsize,
    /// The runtimes whose tasks may wait on the channel.
    pokes: Mutex<Vec<Poke>>,
}

struct State {
    queue: VecDeque<Message>,
    cap: usize,
    closed: bool,
    /// Registrations of parked script tasks on the channel: while there
    /// are none, the host need not poke.
    script_waits: usize,
    /// Host threads blocked in a receive, and in a send: while there are
    /// none, nobody signals the condition variable (a signal is a system
    /// call even with no one waiting).
    host_receivers: usize,
    host_senders: usize,
}

/// How a host thread tells one runtime that a host channel changed.
#[derive(Clone)]
pub(crate) struct Poke {
    dirty: Arc<AtomicBool>,
    outbox: Outbox,
}

impl Poke {
    pub(crate) fn new(dirty: Arc<AtomicBool>, outbox: Outbox) -> Poke {
        Poke { dirty, outbox }
    }

    fn poke(&self) {
        // The runtime clears the flag before it looks, so a set flag means
        // a look is still to come: no second wake needed.
        if !self.dirty.swap(true, Ordering::AcqRel) {
            self.outbox.wake();
        }
    }
}

/// Whether and how long a host operation blocks.
#[derive(Clone, Copy)]
enum Block {
    No,
    Forever,
    Until(Instant),
}

impl Block {
    fn after(timeout: Duration) -> Block {
        match Instant::now().checked_add(timeout) {
            Some(at) => Block::Until(at),
            None => Block::Forever,
        }
    }
}

impl Shared {
    fn new(cap: usize, poke: Poke) -> Shared {
        let cap = cap.max(1);
        Shared {
            state: Mutex::new(State {
                queue: VecDeque::with_capacity(cap.min(1024)),
                cap,
                closed: false,
                script_waits: 0,
                host_receivers: 0,
                host_senders: 0,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            host_ends: AtomicUsize::new(1),
            pokes: Mutex::new(vec![poke]),
        }
    }

    /// Locks the state. Every change under the lock is complete before it
    /// is released, so a poisoned lock holds a consistent state.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Blocks on `cv` as `block` allows, counted in `waiting` meanwhile;
    /// `None` if it may not block, or its time is already up.
    fn wait<'a>(
        &self,
        cv: &Condvar,
        mut st: MutexGuard<'a, State>,
        block: Block,
        waiting: fn(&mut State) -> &mut usize,
    ) -> Option<MutexGuard<'a, State>> {
        let recover = |p: std::sync::PoisonError<_>| p.into_inner();
        let left = match block {
            Block::No => return None,
            Block::Forever => None,
            Block::Until(at) => Some(at.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())?),
        };
        *waiting(&mut st) += 1;
        let mut st = match left {
            None => cv.wait(st).unwrap_or_else(recover),
            Some(left) => cv.wait_timeout(st, left).unwrap_or_else(|p| p.into_inner()).0,
        };
        *waiting(&mut st) -= 1;
        Some(st)
    }

    /// Tells every runtime to look at its host channels.
    fn poke(&self) {
        for p in self.pokes.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            p.poke();
        }
    }

    /// Whether a host end is still alive.
    pub(crate) fn host_alive(&self) -> bool {
        self.host_ends.load(Ordering::Acquire) > 0
    }

    fn host_send(&self, m: Message, block: Block) -> Result<(), ChannelError> {
        let mut st = self.lock();
        loop {
            if st.closed {
                return Err(ChannelError::Closed);
            }
            if st.queue.len() < st.cap {
                break;
            }
            st = match self.wait(&self.not_full, st, block, |st| &mut st.host_senders) {
                Some(st) => st,
                None if matches!(block, Block::No) => return Err(ChannelError::Full),
                None => return Err(ChannelError::Timeout),
            };
        }
        st.queue.push_back(m);
        let (poke, signal) = (st.script_waits > 0, st.host_receivers > 0);
        drop(st);
        if signal {
            self.not_empty.notify_one();
        }
        if poke {
            self.poke();
        }
        Ok(())
    }

    fn host_recv(&self, block: Block) -> Result<Message, ChannelError> {
        let mut st = self.lock();
        loop {
            if let Some(m) = st.queue.pop_front() {
                let (poke, signal) = (st.script_waits > 0, st.host_senders > 0);
                drop(st);
                if signal {
                    self.not_full.notify_one();
                }
                if poke {
                    self.poke();
                }
                return Ok(m);
            }
            if st.closed {
                return Err(ChannelError::Closed);
            }
            st = match self.wait(&self.not_empty, st, block, |st| &mut st.host_receivers) {
                Some(st) => st,
                None if matches!(block, Block::No) => return Err(ChannelError::Empty),
                None => return Err(ChannelError::Timeout),
            };
        }
    }

    /// Closes the channel for both sides: blocked host threads return,
    /// and the runtimes wake their waiting tasks.
    fn close(&self) {
        let mut st = self.lock();
        if st.closed {
            return;
        }
        st.closed = true;
        drop(st);
        self.not_empty.notify_all();
        self.not_full.notify_all();
        self.poke();
    }

    /// A script task registered on the channel (`recv`: to receive). True
    /// if it could go on at once: something came in between its try and
    /// its park, so the runtime must look again.
    pub(crate) fn watched(&self, recv: bool) -> bool {
        let mut st = self.lock();
        st.script_waits += 1;
        st.closed || if recv { !st.queue.is_empty() } else { st.queue.len() < st.cap }
    }

    /// A script task's registration ended.
    pub(crate) fn unwatched(&self) {
        let mut st = self.lock();
        st.script_waits = st.script_waits.saturating_sub(1);
    }
}

/// The script end's hold on the shared state, kept in the heap's channel
/// object: when that object is collected, or its VM dropped, no script
/// can use the channel any more, so it closes.
pub(crate) struct HostLink(pub(crate) Arc<Shared>);

impl Drop for HostLink {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl HostLink {
    pub(crate) fn len(&self) -> usize {
        self.0.lock().queue.len()
    }

    pub(crate) fn cap(&self) -> usize {
        self.0.lock().cap
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.0.lock().closed
    }
}

/// Why a host channel operation did not complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelError {
    /// The channel is closed (and, for a receive, drained).
    Closed,
    /// A `try_send` found no room.
    Full,
    /// A `try_recv` found no message.
    Empty,
    /// A `send_timeout` or `recv_timeout` ran out of time.
    Timeout,
    /// A message came that is not of the receiving type: `expected`
    /// (`"an int"`), found a value of type `found` (`"string"`). The
    /// message is dropped.
    WrongType {
        /// What the host's type needs.
        expected: &'static str,
        /// What the message was.
        found: &'static str,
    },
}

impl std::fmt::Display for ChannelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChannelError::Closed => f.write_str("the channel is closed"),
            ChannelError::Full => f.write_str("the channel is full"),
            ChannelError::Empty => f.write_str("the channel is empty"),
            ChannelError::Timeout => f.write_str("timed out waiting on the channel"),
            ChannelError::WrongType { expected, found } => {
                write!(f, "received a {found} where {expected} was expected")
            }
        }
    }
}

impl std::error::Error for ChannelError {}

/// The host's end of a channel whose other end a script holds: see
/// [`Vm::channel`]. `Send + Sync + Clone`: clone it for as many threads
/// as need it. Sending takes any [`IntoMessage`] type, receiving gives a
/// `T`. When the last clone is dropped, the channel closes: scripts
/// receive what is queued, then see it closed.
pub struct HostChannel<T> {
    shared: Arc<Shared>,
    _type: PhantomData<fn(T) -> T>,
}

impl<T> Clone for HostChannel<T> {
    fn clone(&self) -> Self {
        self.shared.host_ends.fetch_add(1, Ordering::AcqRel);
        HostChannel { shared: self.shared.clone(), _type: PhantomData }
    }
}

impl<T> Drop for HostChannel<T> {
    fn drop(&mut self) {
        if self.shared.host_ends.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.close();
        }
    }
}

impl<T> std::fmt::Debug for HostChannel<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("HostChannel")
            .field("len", &st.queue.len())
            .field("cap", &st.cap)
            .field("closed", &st.closed)
            .finish()
    }
}

impl<T: IntoMessage> HostChannel<T> {
    /// Sends `v`, blocking this thread while the channel is full.
    /// `Err(Closed)` if the channel is (or gets) closed.
    ///
    /// ```
    /// let mut vm = weft_vm::Vm::new();
    /// let (ch, _script_end) = vm.channel::<i64>(2);
    /// ch.send(1).unwrap();
    /// ch.send(2).unwrap();
    /// assert_eq!(ch.recv(), Ok(1));
    /// ```
    pub fn send(&self, v: T) -> Result<(), ChannelError> {
        self.shared.host_send(v.into_message(), Block::Forever)
    }

    /// Sends `v` if there is room now: `Err(Full)` if not, `Err(Closed)`
    /// if the channel is closed.
    ///
    /// ```
    /// use weft_vm::ChannelError;
    /// let mut vm = weft_vm::Vm::new();
    /// let (ch, _script_end) = vm.channel::<String>(1);
    /// assert_eq!(ch.try_send("a".to_string()), Ok(()));
    /// assert_eq!(ch.try_send("b".to_string()), Err(ChannelError::Full));
    /// ```
    pub fn try_send(&self, v: T) -> Result<(), ChannelError> {
        self.shared.host_send(v.into_message(), Block::No)
    }

    /// Sends `v`, waiting at most `timeout` for room: `Err(Timeout)` if
    /// none came.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_vm::ChannelError;
    /// let mut vm = weft_vm::Vm::new();
    /// let (ch, _script_end) = vm.channel::<i64>(1);
    /// ch.send(1).unwrap();
    /// assert_eq!(ch.send_timeout(2, Duration::from_millis(10)), Err(ChannelError::Timeout));
    /// ```
    pub fn send_timeout(&self, v: T, timeout: Duration) -> Result<(), ChannelError> {
        self.shared.host_send(v.into_message(), Block::after(timeout))
    }
}

impl<T: FromMessage> HostChannel<T> {
    /// Receives the next message, blocking this thread while there is
    /// none: `Err(Closed)` once the channel is closed and drained.
    ///
    /// ```
    /// use weft_vm::ChannelError;
    /// let mut vm = weft_vm::Vm::new();
    /// let (ch, _script_end) = vm.channel::<i64>(4);
    /// let sender = ch.clone();
    /// std::thread::spawn(move || { sender.send(42).unwrap(); sender.close(); });
    /// assert_eq!(ch.recv(), Ok(42));
    /// assert_eq!(ch.recv(), Err(ChannelError::Closed));
    /// ```
    pub fn recv(&self) -> Result<T, ChannelError> {
        self.shared.host_recv(Block::Forever).and_then(convert)
    }

    /// Receives a message if one is queued now: `Err(Empty)` if not.
    ///
    /// ```
    /// use weft_vm::ChannelError;
    /// let mut vm = weft_vm::Vm::new();
    /// let (ch, _script_end) = vm.channel::<bool>(1);
    /// assert_eq!(ch.try_recv(), Err(ChannelError::Empty));
    /// ch.send(true).unwrap();
    /// assert_eq!(ch.try_recv(), Ok(true));
    /// ```
    pub fn try_recv(&self) -> Result<T, ChannelError> {
        self.shared.host_recv(Block::No).and_then(convert)
    }

    /// Receives a message, waiting at most `timeout`: `Err(Timeout)` if
    /// none came.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_vm::ChannelError;
    /// let mut vm = weft_vm::Vm::new();
    /// let (ch, _script_end) = vm.channel::<f64>(1);
    /// assert_eq!(ch.recv_timeout(Duration::from_millis(10)), Err(ChannelError::Timeout));
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, ChannelError> {
        self.shared.host_recv(Block::after(timeout)).and_then(convert)
    }
}

impl<T> HostChannel<T> {
    /// Closes the channel for both sides: sends fail with `Closed`, and
    /// receives (the script's too) get what is queued, then `Closed`.
    ///
    /// ```
    /// use weft_vm::ChannelError;
    /// let mut vm = weft_vm::Vm::new();
    /// let (ch, _script_end) = vm.channel::<i64>(2);
    /// ch.send(1).unwrap();
    /// ch.close();
    /// assert_eq!(ch.send(2), Err(ChannelError::Closed));
    /// assert_eq!(ch.recv(), Ok(1));
    /// assert_eq!(ch.recv(), Err(ChannelError::Closed));
    /// ```
    pub fn close(&self) {
        self.shared.close();
    }

    /// Whether the channel is closed (by either side).
    ///
    /// ```
    /// let mut vm = weft_vm::Vm::new();
    /// let (ch, script_end) = vm.channel::<i64>(1);
    /// assert!(!ch.is_closed());
    /// drop(script_end);
    /// vm.run_script("gc.weft", "for i in 0..200000 { let junk = [i] }", ".".as_ref()).unwrap();
    /// drop(vm); // the script end's channel goes with its VM
    /// assert!(ch.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// Messages queued now.
    ///
    /// ```
    /// let mut vm = weft_vm::Vm::new();
    /// let (ch, _script_end) = vm.channel::<i64>(4);
    /// ch.send(1).unwrap();
    /// assert_eq!(ch.len(), 1);
    /// assert!(!ch.is_empty());
    /// ```
    pub fn len(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Whether no message is queued.
    ///
    /// ```
    /// let mut vm = weft_vm::Vm::new();
    /// let (ch, _script_end) = vm.channel::<i64>(4);
    /// assert!(ch.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.shared.lock().queue.is_empty()
    }

    /// How many messages the channel holds (a capacity of 0 is 1).
    ///
    /// ```
    /// let mut vm = weft_vm::Vm::new();
    /// assert_eq!(vm.channel::<i64>(8).0.capacity(), 8);
    /// assert_eq!(vm.channel::<i64>(0).0.capacity(), 1);
    /// ```
    pub fn capacity(&self) -> usize {
        self.shared.lock().cap
    }
}

fn convert<T: FromMessage>(m: Message) -> Result<T, ChannelError> {
    let found = m.type_name();
    T::from_message(m).ok_or(ChannelError::WrongType { expected: T::EXPECTED, found })
}

/// The script's end of a host channel: pass it to a script as a global
/// ([`Vm::set_global`](crate::Vm::set_global)) or an argument, where it
/// is a channel like one from `chan()`. It holds the channel rooted until
/// dropped.
pub struct ScriptEnd {
    handle: Handle,
}

impl ScriptEnd {
    /// The rooted handle of the channel value.
    ///
    /// ```
    /// let mut vm = weft_vm::Vm::new();
    /// let (_host, script_end) = vm.channel::<i64>(1);
    /// let ch = vm.value(script_end.handle()).unwrap();
    /// assert_eq!(ch.type_name(), "channel");
    /// ```
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl std::fmt::Debug for ScriptEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScriptEnd")
    }
}

/// The channel; nil if it belongs to another VM.
impl IntoValue for &ScriptEnd {
    fn into_value(self, cx: &mut Ctx) -> Value {
        cx.value(&self.handle).unwrap_or(Value::Nil)
    }
}

/// The channel; nil if it belongs to another VM.
impl IntoValue for ScriptEnd {
    fn into_value(self, cx: &mut Ctx) -> Value {
        (&self).into_value(cx)
    }
}

impl Vm {
    /// A channel between the host and scripts: the host's end, usable
    /// from any thread, and the script's end, to pass to a script, where
    /// it is a channel like any other (`send`, `recv`, `for v in ch`,
    /// `select`, `close`, `len`, `cap`). It holds up to `capacity`
    /// messages (0 is taken as 1). Only data crosses (see [`Message`]):
    /// a script sending a function, task or channel gets a `TypeError`.
    ///
    /// ```
    /// use weft_vm::{Ctx, Value};
    /// let mut vm = weft_vm::Vm::new();
    /// let (to_script, from_host) = vm.channel::<i64>(4);
    /// let total = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    /// let report = total.clone();
    /// vm.register("report", move |n: i64| report.store(n, std::sync::atomic::Ordering::Relaxed));
    /// let ch = vm.with_ctx(|cx| weft_vm::IntoValue::into_value(from_host, cx));
    /// vm.set_global("jobs", ch).unwrap();
    /// let feeder = std::thread::spawn(move || {
    ///     for i in 1..=100 { to_script.send(i).unwrap() }
    ///     // Dropping the host end closes the channel: the loop ends.
    /// });
    /// vm.eval("sum.weft", "let t = 0\nfor n in jobs { t += n }\nreport(t)").unwrap();
    /// feeder.join().unwrap();
    /// assert_eq!(total.load(std::sync::atomic::Ordering::Relaxed), 5050);
    /// ```
    pub fn channel<T>(&mut self, capacity: usize) -> (HostChannel<T>, ScriptEnd) {
        let port = &mut self.rt.sched.port;
        let poke = Poke::new(port.host_dirty(), port.outbox());
        let shared = Arc::new(Shared::new(capacity, poke));
        let chan = crate::channel::Channel::new_host(HostLink(shared.clone()));
        let r = self.rt.heap.new_chan(chan);
        let handle = self.rt.roots.root(Value::Chan(r));
        (HostChannel { shared, _type: PhantomData }, ScriptEnd { handle })
    }
}

// ----- the script's side, on the runtime's thread ---------------------------

fn link(heap: &Heap, ch: Ref) -> Arc<Shared> {
    heap.chan(ch).host.as_ref().expect("a host channel").0.clone()
}

fn cannot_cross(what: &str) -> Throw {
    let what = if what.starts_with("a ") { what.to_string() } else { format!("a value of type {what}") };
    Throw::type_error(format!(
        "send on a host channel: {what} cannot cross to the host (only nil, bool, int, float, string, and lists and maps of them can)"
    ))
}

/// A script's send, without blocking: false if it must park.
pub(crate) fn try_send(sched: &mut Scheduler, heap: &mut Heap, ch: Ref, v: Value) -> Result<bool, Throw> {
    let shared = link(heap, ch);
    let m = Message::from_value(heap, v).map_err(cannot_cross)?;
    let mut st = shared.lock();
    if st.closed {
        return Err(Throw::new("ChannelClosed", "send on a closed channel"));
    }
    if st.queue.len() >= st.cap {
        return Ok(false);
    }
    st.queue.push_back(m);
    let signal = st.host_receivers > 0;
    drop(st);
    if signal {
        shared.not_empty.notify_one();
    }
    // A task of this runtime may wait to receive it.
    service(sched, heap, ch);
    Ok(true)
}

/// A script's receive, without blocking: `Ok(None)` if it must park.
pub(crate) fn try_recv(sched: &mut Scheduler, heap: &mut Heap, ch: Ref) -> Result<Option<Value>, Throw> {
    let shared = link(heap, ch);
    let mut st = shared.lock();
    let Some(m) = st.queue.pop_front() else {
        return if st.closed { Err(super::channel::closed_error()) } else { Ok(None) };
    };
    let signal = st.host_senders > 0;
    drop(st);
    if signal {
        shared.not_full.notify_one();
    }
    // Room for a task of this runtime that waits to send.
    service(sched, heap, ch);
    Ok(Some(m.into_value(heap)))
}

pub(crate) fn recv_ready(heap: &Heap, ch: Ref) -> bool {
    let st = link(heap, ch);
    let st = st.lock();
    st.closed || !st.queue.is_empty()
}

pub(crate) fn send_ready(heap: &Heap, ch: Ref) -> bool {
    let st = link(heap, ch);
    let st = st.lock();
    st.closed || st.queue.len() < st.cap
}

pub(crate) fn close(sched: &mut Scheduler, heap: &mut Heap, ch: Ref) {
    link(heap, ch).close();
    service(sched, heap, ch);
}

/// Matches the channel's parked script tasks with the shared queue, on
/// the runtime's thread: receivers take queued messages, senders move
/// their values into free room, and once the channel is closed, senders
/// (and receivers, once it is drained) learn it.
pub(crate) fn service(sched: &mut Scheduler, heap: &mut Heap, ch: Ref) {
    let Some(link) = heap.chan(ch).host.as_ref() else { return };
    let shared = link.0.clone();
    loop {
        let mut moved = false;
        while heap.chan(ch).receivers.has_live() {
            let mut st = shared.lock();
            if st.queue.is_empty() {
                break;
            }
            let Some((w, ())) = heap.chan_mut(ch).receivers.pop_live(|w| sched.is_pending(w)) else { break };
            let m = st.queue.pop_front().expect("checked above");
            let signal = st.host_senders > 0;
            drop(st);
            if signal {
                shared.not_full.notify_one();
            }
            let v = m.into_value(heap);
            sched.wake(heap, w.task, w.token, w.via.resume(v));
            moved = true;
        }
        while heap.chan(ch).senders.has_live() {
            let mut st = shared.lock();
            if st.closed || st.queue.len() >= st.cap {
                break;
            }
            let Some((w, v)) = heap.chan_mut(ch).senders.pop_live(|w| sched.is_pending(w)) else { break };
            match Message::from_value(heap, v) {
                Ok(m) => {
                    st.queue.push_back(m);
                    let signal = st.host_receivers > 0;
                    drop(st);
                    if signal {
                        shared.not_empty.notify_one();
                    }
                    sched.wake(heap, w.task, w.token, w.via.resume(Value::Nil));
                    moved = true;
                }
                Err(what) => {
                    drop(st);
                    sched.wake(heap, w.task, w.token, Resume::raise(cannot_cross(what)));
                }
            }
        }
        if !moved {
            break;
        }
    }
    let (closed, drained) = {
        let st = shared.lock();
        (st.closed, st.queue.is_empty())
    };
    if closed {
        let chan = heap.chan_mut(ch);
        let mut waiters: Vec<_> = chan.senders.take_all().into_iter().map(|(w, _)| w).collect();
        if drained {
            waiters.extend(chan.receivers.take_all().into_iter().map(|(w, ())| w));
        }
        for w in waiters {
            let resume = super::channel::closed(&w);
            sched.wake(heap, w.task, w.token, resume);
        }
    }
}
