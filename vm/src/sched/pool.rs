//! The blocking-work pool: OS threads for what the OS cannot poll (file
//! system calls, host name resolution, blocking host functions).
//!
//! A job is plain Rust data and a closure that owns it: nothing of a heap
//! crosses threads. It runs on a worker and returns a [`Finisher`], which
//! the scheduler's thread runs when the waiting task resumes, to turn the
//! job's result into values. The finisher travels back through the
//! runtime's inbox (see `driver.rs`), addressed to the (task, wait) that
//! asked, and wakes the runtime's idle wait. A task whose wait ended
//! another way (it was cancelled, or timed out) is not woken: the late
//! finisher is dropped, and with it whatever the job produced. Work the
//! job had already done stays done: a file write that had started
//! finishes, though nobody learns its outcome.
//!
//! The pool is shared (`Clone`): runtimes on several threads may hand
//! work to one pool, each completion going to its own runtime's inbox.
//! Workers start on demand, up to the pool's size, and stop when the last
//! handle to the pool is dropped.

use crate::native::{Finisher, NativeResult};
use crossbeam_channel::{Receiver, Sender};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Workers a pool starts at most, unless told otherwise.
pub const DEFAULT_THREADS: usize = 64;

/// What a worker runs: the job, then the delivery of its finisher.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// See the module documentation.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: Sender<Job>,
    queue: Receiver<Job>,
    max_threads: usize,
    /// Workers started, and those waiting for a job.
    threads: AtomicUsize,
    idle: Arc<AtomicUsize>,
}

impl Default for Pool {
    fn default() -> Pool {
        Pool::new(DEFAULT_THREADS)
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("max_threads", &self.inner.max_threads).finish()
    }
}

impl Pool {
    /// A pool of at most `max_threads` workers (at least one).
    pub fn new(max_threads: usize) -> Pool {
        let (jobs, queue) = crossbeam_channel::unbounded();
        let inner =
            Inner { jobs, queue, max_threads: max_threads.max(1), threads: AtomicUsize::new(0), idle: Arc::default() };
        Pool { inner: Arc::new(inner) }
    }

    /// Workers started so far.
    pub fn threads(&self) -> usize {
        self.inner.threads.load(Ordering::Acquire)
    }

    /// Queues `job`, starting a worker when none is free and the pool may
    /// grow. False if no worker could be started and none runs: the job
    /// would never run.
    pub(crate) fn submit(&self, job: Job) -> bool {
        let inner = &self.inner;
        let _ = inner.jobs.send(job);
        if inner.idle.load(Ordering::Acquire) >= inner.jobs.len() {
            return true;
        }
        let started = inner.threads.load(Ordering::Acquire);
        if started < inner.max_threads
            && inner.threads.compare_exchange(started, started + 1, Ordering::AcqRel, Ordering::Acquire).is_ok()
        {
            let (queue, idle) = (inner.queue.clone(), inner.idle.clone());
            let spawned = std::thread::Builder::new().name("weft-pool".into()).spawn(move || worker(queue, idle));
            if spawned.is_err() {
                inner.threads.fetch_sub(1, Ordering::AcqRel);
            }
        }
        inner.threads.load(Ordering::Acquire) > 0
    }
}

/// A worker's life: jobs until every handle to the pool is gone. Only the
/// pool's own `Inner` holds the sender, so its drop ends the loop.
fn worker(queue: Receiver<Job>, idle: Arc<AtomicUsize>) {
    loop {
        idle.fetch_add(1, Ordering::AcqRel);
        let job = queue.recv();
        idle.fetch_sub(1, Ordering::AcqRel);
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Runs `work`, turning a panic into a finisher that raises it: a host
/// function that panics fails its call, not the worker.
pub(crate) fn run_guarded(work: impl FnOnce() -> Finisher) -> Finisher {
    match std::panic::catch_unwind(AssertUnwindSafe(work)) {
        Ok(finish) => finish,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_string());
            Box::new(move |cx, _| -> NativeResult {
                Err(crate::Throw::new("Error", format!("{} panicked: {what}", cx.name())).into())
            })
        }
    }
}
