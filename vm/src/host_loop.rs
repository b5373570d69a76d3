//! Driving the scheduler from a host's own loop, and looking at it from
//! outside: what a REPL or an embedding host needs when it, not a main
//! task, decides how long the runtime runs.
//!
//! A host that keeps tasks alive between pieces of code (the REPL's
//! background tasks, or tasks a host started) runs them with
//! [`Vm::run_until_idle`] (no waiting) or [`Vm::run_for`] (waiting for
//! timers and I/O for at most a while), and ends such a wait early from
//! another thread with a [`HostWaker`]. With
//! [`Vm::set_background_spawns`], a plain `spawn` at the top level of
//! code run with [`Vm::eval`] joins a nursery the host keeps open instead
//! of holding `eval` until the task ends; such a nursery supervises: a
//! task that fails leaves its error for [`Vm::take_background_errors`]
//! and its siblings go on. [`Vm::task_dump`] renders every live task in
//! the format of the deadlock report.
//!
//! Nothing here runs code the host did not ask to run, and nothing here
//! blocks longer than the host allowed.

use crate::sched::owned::Owned;
use crate::sched::{self, NurseryId, State, TaskId};
use crate::trace::TraceEntry;
use crate::{conc, fmt, Failure, RuntimeError, Task, Value, Vm};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft_lang::compile::Mode;

/// No task: the owner of a host's nursery, and the "main task" of a host
/// loop.
const NO_TASK: TaskId = TaskId::MAX;

/// The hidden global that holds the running entry's background nursery:
/// a name no script can write.
const BACKGROUND_GLOBAL: &str = "<background>";

/// What the scheduler keeps for a host loop.
#[derive(Default)]
pub(crate) struct HostState {
    /// Set by [`HostWaker::wake`]: ends a `run_for` early.
    woken: Arc<AtomicBool>,
    /// Set by [`HostWaker::request_task_dump`]: the loop writes a dump on
    /// the error output at its next round.
    dump: Arc<AtomicBool>,
    /// Whether entries of the session spawn into a background nursery.
    background: bool,
    /// The slot of [`BACKGROUND_GLOBAL`], once declared.
    slot: Option<u32>,
    /// The open background nurseries, each with the entry that opened it.
    nurseries: Vec<(NurseryId, String)>,
    /// Set when a host loop returned early for an interrupt.
    interrupted: bool,
    /// What the entries' top-level code owns (child processes): the
    /// session is its owner, so it outlives the entry that made it.
    pub(crate) owned: Owned,
}

impl HostState {
    /// Whether entries keep running in the background, which makes the
    /// session, not the entry, the owner of what top-level code owns.
    pub(crate) fn is_session(&self) -> bool {
        self.background
    }

    /// Whether a [`HostWaker`] asked for a task dump that no round has
    /// written yet.
    pub(crate) fn dump_requested(&self) -> bool {
        self.dump.load(Ordering::Relaxed)
    }
}

/// Ends a [`Vm::run_for`] early, or asks for a task dump, from any thread.
/// Cheap to clone; it wakes a runtime that sleeps waiting for a timer or
/// for I/O at once.
#[derive(Clone)]
pub struct HostWaker {
    woken: Arc<AtomicBool>,
    dump: Arc<AtomicBool>,
    outbox: sched::driver::Outbox,
}

impl HostWaker {
    /// Makes the current or next [`Vm::run_for`] return as soon as the
    /// tasks it is running let it (at the end of the current round).
    pub fn wake(&self) {
        self.woken.store(true, Ordering::SeqCst);
        self.outbox.wake();
    }

    /// Asks the runtime to write [`Vm::task_dump`] on its error output
    /// (stderr unless [`Vm::set_error_output`] changed it) at its next
    /// scheduling round, while a script or a host loop runs; the program
    /// goes on. What a SIGQUIT handler calls.
    pub fn request_task_dump(&self) {
        self.dump.store(true, Ordering::SeqCst);
        self.outbox.wake();
    }
}

impl Vm {
    /// A handle that wakes this VM's host loop from another thread: see
    /// [`HostWaker`].
    pub fn host_waker(&mut self) -> HostWaker {
        let host = &self.rt.sched.host;
        let (woken, dump) = (host.woken.clone(), host.dump.clone());
        HostWaker { woken, dump, outbox: self.rt.sched.port.outbox() }
    }

    /// Runs the tasks that are ready, and those they wake, until every
    /// task waits (for a timer, a channel, I/O...); it never waits itself,
    /// so it returns promptly unless a task computes for long. Returns
    /// whether a task may still wake later (a timer is set, or I/O or
    /// another thread may end a wait): `false` when no task is left, or
    /// none can ever run again.
    ///
    /// An error that ends a task is not returned: a task spawned into a
    /// background nursery leaves it for
    /// [`take_background_errors`](Vm::take_background_errors). `Err` means
    /// the program itself ended: `exit()` was called, or the VM hit a bug.
    ///
    /// ```
    /// let mut vm = weft_vm::Vm::new();
    /// // No tasks: nothing to do, and nothing will ever be.
    /// assert!(!vm.run_until_idle().unwrap());
    /// ```
    pub fn run_until_idle(&mut self) -> Result<bool, Failure> {
        self.guarded(|vm| vm.host_rounds(None))
    }

    /// Runs tasks as [`run_until_idle`](Vm::run_until_idle) does, and
    /// when every task waits, waits for the next timer, I/O or wake from
    /// another thread, for at most `limit` in all. Returns early, with
    /// `Ok(false)`, as soon as no task is left that could ever run, and
    /// with `Ok(true)` when a [`HostWaker`] woke it or the time is up.
    /// An idle wait sleeps in the kernel: a host calling this in a loop
    /// uses no CPU while its tasks wait. A busy task is stopped at the
    /// end of its time slice, so the call overruns `limit` by at most
    /// one round of ready tasks. An interrupt (see
    /// [`interrupt_handle`](Vm::interrupt_handle)) ends the call early
    /// too: there is no main task for it to cancel.
    pub fn run_for(&mut self, limit: Duration) -> Result<bool, Failure> {
        let until = Instant::now().checked_add(limit);
        self.guarded(|vm| vm.host_rounds(Some(until)))
    }

    /// The scheduler loop of a host: rounds of ready tasks; when none is
    /// ready, waits until `until` (`None`: not at all; `Some(None)`: for
    /// ever, as far as an `Instant` goes).
    fn host_rounds(&mut self, until: Option<Option<Instant>>) -> Result<bool, Failure> {
        loop {
            self.dump_if_asked();
            let flag = &self.rt.interrupt;
            if flag.load(Ordering::Relaxed) && flag.swap(false, Ordering::SeqCst) {
                self.rt.sched.host.interrupted = true;
                return Ok(self.can_wake());
            }
            if until.is_some() && self.rt.sched.host.woken.swap(false, Ordering::SeqCst) {
                return Ok(true);
            }
            self.rt.sched.fire_timers(&mut self.rt.heap);
            self.rt.sched.take_deliveries(&mut self.rt.heap);
            let round = self.rt.sched.start_round();
            if round == 0 {
                let _ = self.rt.out.flush();
                if !self.can_wake() {
                    return Ok(false);
                }
                let Some(until) = until else { return Ok(true) };
                let left = match until {
                    Some(at) => at.saturating_duration_since(Instant::now()),
                    None => Duration::MAX,
                };
                if left.is_zero() {
                    return Ok(true);
                }
                self.rt.sched.idle_for(&mut self.rt.heap, left);
                continue;
            }
            for _ in 0..round {
                let Some(id) = self.rt.sched.runq.pop_front() else { break };
                if let Some(end) = self.run_task(id, NO_TASK, false) {
                    // Only the end of the program comes back here.
                    return end.map(|_| true);
                }
            }
            if let Some(Some(at)) = until {
                if Instant::now() >= at {
                    return Ok(true);
                }
            }
        }
    }

    /// Whether a task is ready or may be woken later.
    fn can_wake(&mut self) -> bool {
        let sched = &mut self.rt.sched;
        !sched.runq.is_empty() || sched.next_timer().is_some() || sched.port.pending() > 0
    }

    /// Writes a task dump on the error output if a [`HostWaker`] asked
    /// for one. Called by the scheduler loops once per round.
    pub(crate) fn dump_if_asked(&mut self) {
        let dump = &self.rt.sched.host.dump;
        if dump.load(Ordering::Relaxed) && dump.swap(false, Ordering::SeqCst) {
            let text = self.task_dump();
            let _ = self.rt.out.flush();
            let _ = self.rt.err_out.write_all(text.as_bytes());
            let _ = self.rt.err_out.flush();
        }
    }

    /// Every live task, rendered as the deadlock report renders blocked
    /// ones: who it is (the main task, or where it was spawned), what it
    /// waits on (or that it is ready to run), and its innermost frames.
    /// Empty when no task is alive.
    pub fn task_dump(&self) -> String {
        let mut out = String::new();
        let ids: Vec<TaskId> = self.rt.sched.tasks.iter().map(|(id, _)| id).collect();
        if ids.is_empty() {
            return out;
        }
        out.push_str("tasks:\n");
        for id in ids {
            self.describe_task(id, false, &mut out);
        }
        out
    }

    /// One task of a dump or of a deadlock report (`blocked`: every task
    /// waits, so say only what on).
    pub(crate) fn describe_task(&self, id: TaskId, blocked: bool, out: &mut String) {
        let meta = self.rt.sched.meta(id);
        let who = conc::task_name(&self.code, meta);
        let what = conc::describe_wait(&self.code, &self.rt, meta);
        let state = match meta.state {
            _ if meta.task.is_none() => "running".to_string(),
            State::Runnable if !blocked => "ready to run".to_string(),
            _ => format!("waiting on {what}"),
        };
        out.push_str(&format!("  {who}: {state}\n"));
        if let Some(task) = &meta.task {
            for frame in task.frames.iter().rev().take(8) {
                let proto = &self.code.protos[frame.proto as usize];
                let span = proto.spans.get((frame.pc as usize).saturating_sub(1)).copied().unwrap_or_default();
                let entry = TraceEntry { function: proto.name.clone(), file: proto.file, span };
                out.push_str(&format!("      {}\n", self.code.trace_line(&entry)));
            }
        }
    }

    /// Makes a plain `spawn` at the top level of code run with
    /// [`eval`](Vm::eval) or [`run_file`](Vm::run_file) join a background
    /// nursery that outlives the call, as a REPL wants, instead of holding
    /// the call until the task ends (the default, and what `on == false`
    /// restores). Background tasks run whenever the VM runs: during later
    /// calls, and in [`run_for`](Vm::run_for) or
    /// [`run_until_idle`](Vm::run_until_idle). One that fails does not
    /// cancel the others: its error waits for
    /// [`take_background_errors`](Vm::take_background_errors). If a call
    /// is interrupted, the tasks its code spawned are cancelled and
    /// finish (their `finally` blocks run) before it returns.
    ///
    /// ```
    /// use weft_vm::Value;
    /// let mut vm = weft_vm::Vm::new();
    /// vm.set_background_spawns(true);
    /// vm.eval("<1>", "let n = 0\nspawn { n = 42 }").unwrap();
    /// // The task has not run yet: `eval` did not wait for it.
    /// assert!(matches!(vm.global("n"), Some(Value::Int(0))));
    /// // Running the VM lets it finish; then nothing is left to run.
    /// assert!(!vm.run_until_idle().unwrap());
    /// assert!(matches!(vm.global("n"), Some(Value::Int(42))));
    /// ```
    pub fn set_background_spawns(&mut self, on: bool) {
        self.rt.sched.host.background = on;
    }

    /// Errors that ended background tasks (see
    /// [`set_background_spawns`](Vm::set_background_spawns)) since the
    /// last call, oldest first, each with the report the CLI prints.
    pub fn take_background_errors(&mut self) -> Vec<RuntimeError> {
        let mut errors = Vec::new();
        let open = std::mem::take(&mut self.rt.sched.host.nurseries);
        let mut kept = Vec::new();
        for (nid, name) in open {
            let failed = match self.rt.sched.nurseries.get_mut(nid) {
                Some(n) => std::mem::take(&mut n.others),
                None => continue,
            };
            for error in failed {
                errors.push(self.runtime_error(error, &Task::new()));
            }
            if !self.close_if_done(nid) {
                kept.push((nid, name));
            }
        }
        let opened_meanwhile = std::mem::replace(&mut self.rt.sched.host.nurseries, kept);
        self.rt.sched.host.nurseries.extend(opened_meanwhile);
        errors
    }

    /// Cancels every background task (see
    /// [`set_background_spawns`](Vm::set_background_spawns)) and runs
    /// until they have finished, their `finally` blocks included: what a
    /// REPL does as it exits. An interrupt stops waiting for them.
    pub fn cancel_background(&mut self) -> Result<(), Failure> {
        let open: Vec<NurseryId> = self.rt.sched.host.nurseries.iter().map(|(nid, _)| *nid).collect();
        let result = self.guarded(|vm| {
            for nid in open {
                vm.cancel_background_nursery(nid)?;
            }
            Ok(())
        });
        // The session is over: what it and its tasks owned ends with it.
        self.rt.sched.end_all_owned(&mut self.rt.heap);
        result
    }

    /// Removes background nursery `nid` if no task of it is left and no
    /// error of it waits to be taken; whether it is gone.
    fn close_if_done(&mut self, nid: NurseryId) -> bool {
        let Some(n) = self.rt.sched.nurseries.get(nid) else { return true };
        if n.live > 0 || !n.others.is_empty() {
            return false;
        }
        let scope = n.scope;
        // What the entry's tasks owned (child processes) ends with it.
        self.rt.sched.end_nursery_owned(&mut self.rt.heap, nid);
        self.rt.sched.nurseries.remove(nid);
        self.rt.sched.remove_scope(scope);
        true
    }

    /// How session code is compiled: see
    /// [`set_background_spawns`](Vm::set_background_spawns).
    pub(crate) fn session_mode(&mut self) -> Mode {
        if !self.rt.sched.host.background {
            return Mode::Repl;
        }
        let slot = match self.rt.sched.host.slot {
            Some(slot) => slot,
            None => {
                let slot = self.env.add_builtin(BACKGROUND_GLOBAL);
                self.rt.sched.host.slot = Some(slot);
                slot
            }
        };
        Mode::Session { nursery: slot }
    }

    /// Runs a loaded session entry as the main task; in background mode,
    /// with a fresh background nursery in the hidden global.
    pub(crate) fn run_session_entry(&mut self, main: u32, name: &str) -> Result<Value, Failure> {
        let (true, Some(slot)) = (self.rt.sched.host.background, self.rt.sched.host.slot) else {
            return self.run_main(main);
        };
        let nid = self.open_background_nursery(name);
        let handle = self.rt.sched.nurseries.get(nid).and_then(|n| n.handle).map_or(Value::Nil, Value::Nursery);
        self.set_global_slot(slot, handle);
        let result = self.run_main(main);
        self.set_global_slot(slot, Value::Nil);
        if matches!(result, Err(Failure::Interrupted)) {
            self.cancel_background_nursery(nid)?;
        }
        // Most entries spawn nothing: their nursery goes at once.
        if self.close_if_done(nid) {
            self.rt.sched.host.nurseries.retain(|(open, _)| *open != nid);
        }
        result
    }

    /// A supervising nursery with no owner task.
    fn open_background_nursery(&mut self, name: &str) -> NurseryId {
        let scope = self.rt.sched.new_scope(NO_TASK, None, false);
        let (nid, _) = conc::new_nursery(&mut self.rt, scope, NO_TASK, true);
        self.rt.sched.host.nurseries.push((nid, name.to_string()));
        nid
    }

    /// Cancels the tasks of background nursery `nid` and runs until they
    /// have finished (their `finally` blocks run). A second interrupt
    /// stops waiting for them.
    fn cancel_background_nursery(&mut self, nid: NurseryId) -> Result<(), Failure> {
        let Some(scope) = self.rt.sched.nurseries.get(nid).map(|n| n.scope) else { return Ok(()) };
        self.rt.sched.cancel(&mut self.rt.heap, scope);
        self.rt.sched.host.interrupted = false;
        while self.rt.sched.nurseries.get(nid).is_some_and(|n| n.live > 0) {
            let more = self.host_rounds(Some(Instant::now().checked_add(Duration::from_millis(100))))?;
            if !more || std::mem::take(&mut self.rt.sched.host.interrupted) {
                break;
            }
        }
        Ok(())
    }

    /// The literal form of `v`, as the REPL shows a result: what `print`
    /// shows, with strings quoted.
    pub fn repr(&self, v: Value) -> String {
        fmt::repr(&self.rt.heap, &self.code, v)
    }

    /// The names that may follow `v.`: the methods of its type and, for a
    /// map, its string keys; sorted, without repeats. For completion.
    pub fn members(&self, v: Value) -> Vec<String> {
        let methods = &self.code.methods;
        let table = match v {
            Value::Str(_) => &methods.string,
            Value::List(_) => &methods.list,
            Value::Map(_) => &methods.map,
            Value::Range(..) => &methods.range,
            Value::Error(_) => &methods.error,
            Value::Chan(_) => &methods.chan,
            Value::Task(_) => &methods.task,
            Value::Nursery(_) => &methods.nursery,
            _ => &methods.other,
        };
        let mut names: Vec<String> = table
            .iter()
            .enumerate()
            .filter(|(_, m)| m.is_some())
            .filter_map(|(id, _)| self.code.symbols.names.get(id).cloned())
            .collect();
        if let Value::Map(m) = v {
            for key in self.rt.heap.map(m).keys().take(1000) {
                if let crate::Key::Str(s) = key {
                    names.push(self.rt.heap.str(s).to_string());
                }
            }
        }
        names.sort();
        names.dedup();
        names
    }

    /// The names of the builtins (natives and values registered by the
    /// host and the standard library), sorted. For completion.
    pub fn builtin_names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.env.builtin_names().filter(|n| !n.starts_with('<')).map(str::to_string).collect();
        names.sort();
        names
    }
}
