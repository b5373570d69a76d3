//! The readiness reactor: sockets, pipes and child processes, through the
//! OS's readiness interface (epoll, via mio).
//!
//! A source (a connection, a listener, a pipe, a child's pidfd) is
//! registered once, when its object is made, for both directions and
//! edge-triggered; the object keeps an [`IoSource`] naming its slot. An
//! operation tries first and waits only on `WouldBlock`: it registers the
//! task on its slot's reader or writer place and parks. A readiness event
//! wakes whoever waits there, and the operation tries again. With edge
//! triggers, an event that finds nobody waiting is not lost: the next
//! operation tries before it waits.
//!
//! Dropping an `IoSource` (its object was closed or collected) frees its
//! slot at the next poll; the OS forgets the file descriptor when it is
//! closed. A stale event for a freed slot wakes nobody, or, if the slot
//! was reused, makes one operation try again for nothing.
//!
//! The reactor also owns the runtime's [`mio::Waker`]: other threads (the
//! blocking-work pool, remote wakers, a Ctrl-C handler) post to the
//! runtime's inbox and then wake the poll.

use super::TaskId;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The waker's token; sources take the ones after it.
const WAKER: mio::Token = mio::Token(0);

/// Which way an operation waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Until the source is readable (or at its end, or failed).
    Read,
    /// Until the source is writable.
    Write,
}

/// A source's place in the reactor, held by the object that owns the
/// source; dropping it gives the place back.
#[derive(Debug)]
pub struct IoSource {
    slot: usize,
    freed: Arc<Mutex<Vec<usize>>>,
}

impl IoSource {
    /// The name of its place, to wait on.
    pub fn id(&self) -> IoId {
        IoId(self.slot)
    }
}

/// The name of a source's place in the reactor: what a wait names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoId(usize);

impl IoId {
    pub(crate) fn slot(self) -> usize {
        self.0
    }
}

impl Drop for IoSource {
    fn drop(&mut self) {
        if let Ok(mut freed) = self.freed.lock() {
            freed.push(self.slot);
        }
    }
}

/// A parked task waiting on one direction of a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IoWaiter {
    pub task: TaskId,
    pub token: u64,
}

#[derive(Default)]
struct Slot {
    /// What the source is, for deadlock reports: `connection to ...`.
    what: Arc<str>,
    read: Option<IoWaiter>,
    write: Option<IoWaiter>,
}

/// See the module documentation.
pub(crate) struct Reactor {
    poll: mio::Poll,
    events: mio::Events,
    waker: Arc<mio::Waker>,
    slots: Vec<Slot>,
    free: Vec<usize>,
    freed: Arc<Mutex<Vec<usize>>>,
    /// Tasks parked on some slot.
    waiting: usize,
}

impl Reactor {
    pub(crate) fn new() -> std::io::Result<Reactor> {
        let poll = mio::Poll::new()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
        Ok(Reactor {
            poll,
            events: mio::Events::with_capacity(1024),
            waker,
            slots: Vec::new(),
            free: Vec::new(),
            freed: Arc::default(),
            waiting: 0,
        })
    }

    pub(crate) fn waker(&self) -> Arc<mio::Waker> {
        self.waker.clone()
    }

    /// Registers `source` for `interest`, edge-triggered.
    pub(crate) fn register(
        &mut self,
        source: &mut dyn mio::event::Source,
        interest: mio::Interest,
        what: &str,
    ) -> std::io::Result<IoSource> {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot::default());
            self.slots.len() - 1
        });
        if let Err(e) = self.poll.registry().register(source, mio::Token(slot + 1), interest) {
            self.free.push(slot);
            return Err(e);
        }
        self.slots[slot] = Slot { what: what.into(), read: None, write: None };
        Ok(IoSource { slot, freed: self.freed.clone() })
    }

    /// Frees the slots whose sources were dropped. A task still parked on
    /// one (another task closed the stream under it) is woken, to find
    /// the stream closed.
    fn reclaim(&mut self, ready: &mut Vec<IoWaiter>) {
        let freed = std::mem::take(&mut *self.freed.lock().unwrap_or_else(|e| e.into_inner()));
        for slot in freed {
            let s = std::mem::take(&mut self.slots[slot]);
            for w in [s.read, s.write].into_iter().flatten() {
                self.waiting -= 1;
                ready.push(w);
            }
            self.free.push(slot);
        }
    }

    /// Parks `waiter` on one direction of a source.
    pub(crate) fn wait(&mut self, source: IoId, direction: Direction, waiter: IoWaiter) {
        let slot = &mut self.slots[source.slot()];
        let place = match direction {
            Direction::Read => &mut slot.read,
            Direction::Write => &mut slot.write,
        };
        if place.replace(waiter).is_none() {
            self.waiting += 1;
        }
    }

    /// The wait of `task` on `slot` ended another way (a wake aborts it).
    pub(crate) fn abort(&mut self, slot: usize, direction: Direction, task: TaskId) {
        let Some(s) = self.slots.get_mut(slot) else { return };
        let place = match direction {
            Direction::Read => &mut s.read,
            Direction::Write => &mut s.write,
        };
        if place.is_some_and(|w| w.task == task) {
            *place = None;
            self.waiting -= 1;
        }
    }

    /// Tasks parked on a source.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting
    }

    /// What `slot`'s source is.
    pub(crate) fn what(&self, slot: usize) -> Arc<str> {
        self.slots.get(slot).map(|s| s.what.clone()).unwrap_or_else(|| "a closed source".into())
    }

    /// Waits up to `timeout` (forever if `None`) for readiness or a wake
    /// from another thread, and returns the waiters whose source is ready
    /// (their places emptied). An interrupted wait returns none.
    pub(crate) fn poll(&mut self, timeout: Option<Duration>, ready: &mut Vec<IoWaiter>) {
        self.reclaim(ready);
        if !ready.is_empty() {
            return;
        }
        if let Err(e) = self.poll.poll(&mut self.events, timeout) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                // Nothing a script did: back off instead of spinning.
                std::thread::sleep(timeout.unwrap_or(Duration::from_millis(10)).min(Duration::from_millis(10)));
            }
            return;
        }
        for event in self.events.iter() {
            if event.token() == WAKER {
                continue;
            }
            let Some(slot) = self.slots.get_mut(event.token().0 - 1) else { continue };
            let failed = event.is_error();
            if event.is_readable() || event.is_read_closed() || failed {
                if let Some(w) = slot.read.take() {
                    ready.push(w);
                    self.waiting -= 1;
                }
            }
            if event.is_writable() || event.is_write_closed() || failed {
                if let Some(w) = slot.write.take() {
                    ready.push(w);
                    self.waiting -= 1;
                }
            }
        }
    }
}

/// A pidfd for child `pid`: readable once the child exits, so that waiting
/// for a child is a readiness wait like any other (Linux 5.3 and later).
pub fn pidfd_open(pid: u32) -> std::io::Result<std::os::fd::OwnedFd> {
    let pid = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw);
    let pid = pid.ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).map_err(std::io::Error::from)
}

/// The longest queue of connections a listener keeps waiting for
/// `accept`: the kernel caps it at `net.core.somaxconn`. The usual 128
/// drops the connections of a burst past it, whose clients retry only a
/// second later.
pub const LISTEN_BACKLOG: i32 = 4096;

/// Sets a listening socket's queue to `LISTEN_BACKLOG` (listening again
/// changes only the queue's length).
pub fn deepen_backlog(socket: &impl std::os::fd::AsFd) -> std::io::Result<()> {
    rustix::net::listen(socket, LISTEN_BACKLOG).map_err(std::io::Error::from)
}

/// Raises the soft limit on open file descriptors to the hard limit, so
/// that a server can hold thousands of connections (each one descriptor;
/// the usual soft limit is 1024). Returns the limit now in force. The CLI
/// calls it at start; a host that embeds the VM decides for itself.
pub fn raise_fd_limit() -> std::io::Result<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    // `None` is unlimited; the kernel caps descriptors at `fs.nr_open`
    // (1,048,576 by default) whatever the hard limit says.
    let target = limit.maximum.unwrap_or(1 << 20);
    match limit.current {
        Some(current) if current < target => {
            setrlimit(Resource::Nofile, Rlimit { current: Some(target), maximum: limit.maximum })
                .map_err(std::io::Error::from)?;
            Ok(target)
        }
        current => Ok(current.unwrap_or(u64::MAX)),
    }
}
