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
//! Each runtime keeps its own slots here; the `mio::Poll` they are
//! registered with is the driver's (`driver.rs`), which several runtimes
//! may share. A registration's token names the runtime and the slot
//! ([`token`]), so whichever runtime polls can hand each event to the
//! runtime it belongs to, which applies it here ([`Reactor::ready`]).
//!
//! Dropping an `IoSource` (its object was closed or collected) frees its
//! slot at the next look at the reactor; the OS forgets the file
//! descriptor when it is closed. A stale event for a freed slot wakes
//! nobody, or, if the slot was reused, makes one operation try again for
//! nothing. Events for a runtime that is gone are dropped by the driver.

use super::TaskId;
use std::sync::{Arc, Mutex};

/// The driver's waker's token; sources take the ones with a runtime
/// number, which starts at 1.
pub(crate) const WAKER: mio::Token = mio::Token(0);

/// The token of `slot` in runtime `runtime`'s reactor.
fn token(runtime: u32, slot: usize) -> mio::Token {
    mio::Token(((runtime as usize) << 32) | (slot + 1))
}

/// The runtime and slot a token names (`None` for the waker's).
pub(crate) fn split_token(token: mio::Token) -> Option<(u32, usize)> {
    let (runtime, slot) = ((token.0 >> 32) as u32, token.0 & 0xffff_ffff);
    (runtime != 0 && slot != 0).then(|| (runtime, slot - 1))
}

/// Which way an operation waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Until the source is readable (or at its end, or failed).
    Read,
    /// Until the source is writable.
    Write,
}

/// What one event says a source is ready for (an error or a hang-up
/// counts as both: the operation that tries again finds it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Readiness {
    pub read: bool,
    pub write: bool,
}

impl Readiness {
    pub(crate) fn of(event: &mio::event::Event) -> Readiness {
        let failed = event.is_error();
        Readiness {
            read: event.is_readable() || event.is_read_closed() || failed,
            write: event.is_writable() || event.is_write_closed() || failed,
        }
    }
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

/// Runs on every readiness event of a watched source: see
/// [`Reactor::register`].
pub type OnReady = Box<dyn FnMut() + Send>;

#[derive(Default)]
struct Slot {
    /// What the source is, for deadlock reports: `connection to ...`.
    what: Arc<str>,
    /// Whether `what` words a wait on it whole (`exec of "sleep"`), not
    /// the source a read or write waits on.
    whole: bool,
    read: Option<IoWaiter>,
    write: Option<IoWaiter>,
    on_ready: Option<OnReady>,
}

/// See the module documentation.
pub(crate) struct Reactor {
    /// This runtime's number on its driver: the high half of its tokens.
    runtime: u32,
    slots: Vec<Slot>,
    free: Vec<usize>,
    freed: Arc<Mutex<Vec<usize>>>,
    /// Tasks parked on some slot.
    waiting: usize,
}

impl Reactor {
    pub(crate) fn new(runtime: u32) -> Reactor {
        Reactor { runtime, slots: Vec::new(), free: Vec::new(), freed: Arc::default(), waiting: 0 }
    }

    /// Registers `source` with `registry` (the driver's) for `interest`,
    /// edge-triggered. With `on_ready`, the source is watched: the hook
    /// runs on each of its events, whether or not a task waits on it,
    /// before any waiter is woken (a child's exit is reaped at once), and
    /// `what` words a wait on it whole.
    pub(crate) fn register(
        &mut self,
        registry: &mio::Registry,
        source: &mut dyn mio::event::Source,
        interest: mio::Interest,
        what: &str,
        on_ready: Option<OnReady>,
    ) -> std::io::Result<IoSource> {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot::default());
            self.slots.len() - 1
        });
        if slot > u32::MAX as usize - 1 {
            return Err(std::io::Error::other("too many sources in one runtime"));
        }
        if let Err(e) = registry.register(source, token(self.runtime, slot), interest) {
            self.free.push(slot);
            return Err(e);
        }
        let whole = on_ready.is_some();
        self.slots[slot] = Slot { what: what.into(), whole, read: None, write: None, on_ready };
        Ok(IoSource { slot, freed: self.freed.clone() })
    }

    /// Frees the slots whose sources were dropped. A task still parked on
    /// one (another task closed the stream under it) is woken, to find
    /// the stream closed.
    pub(crate) fn reclaim(&mut self, ready: &mut Vec<IoWaiter>) {
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

    /// How a wait on `slot` in `direction` reads in reports: `read on
    /// connection to 127.0.0.1:80`, or a watched source's own wording.
    pub(crate) fn describe(&self, slot: usize, direction: Direction) -> String {
        let Some(s) = self.slots.get(slot) else { return "a closed source".to_string() };
        if s.whole {
            return s.what.to_string();
        }
        let op = match direction {
            Direction::Read => "read",
            Direction::Write => "write",
        };
        format!("{op} on {}", s.what)
    }

    /// Applies one event for `slot`: runs its hook, and moves the waiters
    /// it makes ready to `ready` (their places emptied).
    pub(crate) fn ready(&mut self, slot: usize, readiness: Readiness, ready: &mut Vec<IoWaiter>) {
        let Some(s) = self.slots.get_mut(slot) else { return };
        if let Some(on_ready) = &mut s.on_ready {
            on_ready();
        }
        let places = [(readiness.read, &mut s.read), (readiness.write, &mut s.write)];
        for (is_ready, place) in places {
            if let Some(w) = place.take_if(|_| is_ready) {
                ready.push(w);
                self.waiting -= 1;
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

/// Reaps the child behind `pidfd` if it has exited (or, with `block`,
/// once it exits) and returns its exit status, `-signal` for a child a
/// signal ended; `None` while it runs. Reaping twice is an error: keep
/// the status.
pub fn pidfd_reap(pidfd: std::os::fd::BorrowedFd<'_>, block: bool) -> std::io::Result<Option<i64>> {
    use rustix::process::{waitid, WaitId, WaitIdOptions};
    let mut options = WaitIdOptions::EXITED;
    if !block {
        options |= WaitIdOptions::NOHANG;
    }
    let status = loop {
        match waitid(WaitId::PidFd(pidfd), options) {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other.map_err(std::io::Error::from)?,
        }
    };
    // A `NOHANG` wait on a running child gives an empty status.
    Ok(status.and_then(|s| match (s.exit_status(), s.terminating_signal()) {
        (Some(code), _) if s.exited() => Some(code as i64),
        (_, Some(signal)) => Some(-(signal as i64)),
        _ => None,
    }))
}

/// Sends SIGKILL to the child behind `pidfd`: unlike a signal sent by
/// pid, it can never reach another process that took the pid of a child
/// already reaped. A child that has exited is left as it is.
pub fn pidfd_kill(pidfd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<()> {
    match rustix::process::pidfd_send_signal(pidfd, rustix::process::Signal::KILL) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
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
