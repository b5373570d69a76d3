//! The event loop: runs tasks from the run queue until the main task
//! finishes, applies what each woken task resumes with, and, when every
//! task waits, moves the clock or reports a deadlock. A call from the
//! host that finds no other task ready starts outside it, directly on the
//! interpreter (`Vm::call_directly`), and joins it only if it must.

use crate::interp::{self, Halt};
use crate::sched;
use crate::task::{self, Task};
use crate::value::Value;
use crate::{conc, heap, Ctx, Failure, Throw, Vm};
use std::io::Write;
use std::sync::atomic::Ordering;
use weft_lang::bytecode::Op;

/// How a call from the host starts: see [`Vm::host_call_start`].
pub(crate) enum HostCallStart {
    /// On the interpreter, with no scheduling record.
    Direct,
    /// As a run of the scheduler; `ahead` of the tasks in the run queue.
    Run { ahead: bool },
}

impl Vm {
    /// Runs a loaded top-level function as the main task, with every task
    /// it spawns, to completion (see `Vm::run_proto`).
    pub(crate) fn run_main(&mut self, main: u32) -> Result<Value, Failure> {
        if main as usize >= self.code.protos.len() {
            return Err(no_such_function(main));
        }
        // Only what a top level is can run as one: the trampoline, or a
        // function that takes arguments or captures variables, would find
        // its frame without what its code reads.
        let proto = &self.code.protos[main as usize];
        if main == crate::code::TRAMPOLINE || proto.arity != 0 || !proto.captures.is_empty() {
            return Err(not_top_level(main));
        }
        let closure = self.rt.heap.new_closure(main, heap::Captures::None);
        let mut task = self.main_task();
        let regs = self.code.protos[main as usize].regs as usize;
        task.stack.resize(1 + regs, Value::Nil);
        task.stack[0] = Value::Func(closure);
        task.frames.push(task::Frame { proto: main, closure: Some(closure), pc: 0, base: 1, ret: 0 });
        self.run_as_main(task, false)
    }

    /// An empty task to run as the main task: the last one's, reused, so
    /// that a host calling a script function many times does not allocate
    /// its registers and frames each time.
    pub(crate) fn main_task(&mut self) -> Box<Task> {
        self.spare_task.take().unwrap_or_else(|| Box::new(Task::new()))
    }

    /// Runs `task` as the main task, with every task it spawns, to
    /// completion; the instruction limit counts from zero. `ahead` puts it before
    /// the tasks in the run queue: timers and deliveries taken for this
    /// run (by [`host_call_start`](Vm::host_call_start)) woke them,
    /// and the run's first round would have queued them after it.
    pub(crate) fn run_as_main(&mut self, task: Box<Task>, ahead: bool) -> Result<Value, Failure> {
        let id = self.rt.sched.add_task(task, None, None);
        if ahead {
            self.rt.sched.runq.pop_back();
            self.rt.sched.runq.push_front(id);
        }
        self.rt.sched.main = id;
        self.rt.instructions.spent = 0;
        let result = self.schedule(id);
        self.end_main(id);
        result
    }

    /// How a call from the host starts: directly (`call_directly`) when
    /// nothing else would run before it or alongside it, or else as a run
    /// of the scheduler. Due timers and deliveries from other threads are
    /// taken first, as the scheduler's first round would take them: a
    /// task they wake is ready, and the call then takes the full run with
    /// its main task ahead of that task, where the round would have put it.
    pub(crate) fn host_call_start(&mut self) -> HostCallStart {
        let flag = &self.rt.interrupt;
        if flag.load(Ordering::Relaxed) || self.rt.sched.host.dump_requested() || !self.rt.sched.runq.is_empty() {
            return HostCallStart::Run { ahead: false };
        }
        self.rt.sched.fire_timers(&mut self.rt.heap);
        self.rt.sched.take_deliveries(&mut self.rt.heap);
        if self.rt.sched.runq.is_empty() {
            HostCallStart::Direct
        } else {
            HostCallStart::Run { ahead: true }
        }
    }

    /// Runs `task`, a call from the host, directly: the interpreter runs
    /// it with no scheduling record, no cancel scope and no turn of the
    /// scheduler loop, so that a function that only computes costs about
    /// what the interpreter takes. The first thing it does that needs the
    /// scheduler (a wait, a spawn, a nursery or a cancel scope, a budget
    /// spent with the chance of another task being ready) gives it its
    /// record (`Scheduler::attach`), and the scheduler runs it on from
    /// there as the main task of an ordinary run. The caller asked
    /// [`host_call_start`](Vm::host_call_start) first.
    pub(crate) fn call_directly(&mut self, mut task: Box<Task>) -> Result<Value, Failure> {
        self.rt.sched.current = sched::DETACHED;
        self.rt.sched.main = sched::DETACHED;
        self.rt.instructions.spent = 0;
        let before = task.budget;
        let halt = match self.resume(&mut task, sched::Resume::Nothing) {
            Some(halt) => halt,
            None => interp::run(&self.code, &mut self.rt, &mut task),
        };
        // The common case, in full: the function returned within its first
        // slice and never needed its record. (Instructions are charged as
        // `run_slices` charges them; past the limit, it reports.)
        let mut before = before;
        if let Halt::Done(v) = &halt {
            if self.rt.sched.main == sched::DETACHED {
                // Read as the interpreter wrote it (see `Value::load`), and
                // kept in memory while the call winds up, so that by the
                // time it is read again, whole, the writes have landed and
                // the read does not wait on them.
                self.direct_result = Value::load(v);
                self.rt.instructions.charge(before, &mut task);
                if !self.rt.instructions.exceeded() {
                    if task.recycle() {
                        self.spare_task = Some(task);
                    }
                    self.direct_calls += 1;
                    self.end_main(sched::DETACHED);
                    return Ok(std::mem::take(&mut self.direct_result));
                }
                // Charged: `run_slices` charges nothing more, and reports.
                before = task.budget;
            }
        }
        let halt = (halt, before);
        let result = match self.run_slices(task, sched::Resume::Nothing, sched::DETACHED, false, Some(halt)) {
            Some(end) => {
                if self.rt.sched.main == sched::DETACHED {
                    self.direct_calls += 1;
                }
                end
            }
            // It has its record now, and is in the run queue or parked.
            None => self.schedule(self.rt.sched.main),
        };
        self.end_main(self.rt.sched.main);
        result
    }

    /// What ends every run of a main task `id` (which may have no record,
    /// if it ran directly), however it ended.
    fn end_main(&mut self, id: sched::TaskId) {
        // However the run ended, every owner ends with it: no child
        // process outlives the script. A session's background tasks and
        // its own top level keep theirs until the session ends.
        if !self.rt.sched.host.is_session() {
            self.rt.sched.end_all_owned(&mut self.rt.heap);
        }
        let _ = self.rt.out.flush();
        if id == sched::DETACHED {
            // It ran directly, start to end: it has no record.
            return;
        }
        // The main task's record goes with it: a session runs many, and
        // task dumps list only live tasks. A main task still parked (a
        // background task called `exit()`) first drops what its wait
        // registered, as a wake would.
        if let Some(meta) = self.rt.sched.tasks.get(id) {
            if meta.state == sched::State::Parked {
                let token = meta.token;
                self.rt.sched.wake(&mut self.rt.heap, id, token, sched::Resume::Nothing);
                self.rt.sched.runq.retain(|&t| t != id);
            }
        }
        if let Some(meta) = self.rt.sched.tasks.remove(id) {
            for scope in meta.scopes.iter().rev() {
                self.rt.sched.remove_scope(scope);
            }
        }
    }

    /// The scheduler loop: runs rounds of ready tasks until the main task
    /// finishes; when every task waits, lets the driver wait for the next
    /// timer (or reports a deadlock when nothing can wake anyone).
    fn schedule(&mut self, main: sched::TaskId) -> Result<Value, Failure> {
        let mut interrupted = false;
        loop {
            self.dump_if_asked();
            // A load first: a swap is a locked instruction, on every round.
            let flag = &self.rt.interrupt;
            if flag.load(Ordering::Relaxed) && flag.swap(false, Ordering::Relaxed) && !interrupted {
                interrupted = true;
                self.rt.sched.cancel_task(&mut self.rt.heap, main);
            }
            self.rt.sched.fire_timers(&mut self.rt.heap);
            self.rt.sched.take_deliveries(&mut self.rt.heap);
            // One round: the tasks ready now (shuffled under a seed). Tasks
            // they wake run in the next round.
            let round = self.rt.sched.start_round();
            if round == 0 {
                // Every task waits: show what has been printed so far
                // rather than hold it until the script ends.
                let _ = self.rt.out.flush();
                if !self.rt.sched.idle(&mut self.rt.heap, &self.rt.interrupt) {
                    self.deadlock(main);
                }
                continue;
            }
            for _ in 0..round {
                let Some(id) = self.rt.sched.runq.pop_front() else { break };
                if let Some(end) = self.run_task(id, main, interrupted) {
                    return end;
                }
            }
        }
    }

    /// Runs task `id` until it parks, yields, or ends. Returns how the run
    /// ends if the task was the main one (or the script exits).
    pub(crate) fn run_task(
        &mut self,
        id: sched::TaskId,
        main: sched::TaskId,
        interrupted: bool,
    ) -> Option<Result<Value, Failure>> {
        let meta = self.rt.sched.tasks.get_mut(id)?;
        let mut task = meta.task.take()?;
        let resume = std::mem::replace(&mut meta.resume, sched::Resume::Nothing);
        self.rt.sched.current = id;
        if self.rt.instructions.exceeded() {
            task.budget = 1;
        }
        self.run_slices(task, resume, main, interrupted, None)
    }

    /// Runs the running task, taken out of its record (or one running
    /// directly, with none: `main` is then [`sched::DETACHED`]), from
    /// `resume` until it parks, yields or ends; see `run_task`. A task
    /// running directly gets its record here if it yields, and in the
    /// operations that need it otherwise; `None` means it has one and
    /// the scheduler has it. `first` is a slice already run: how it
    /// halted, and the budget it began with.
    fn run_slices(
        &mut self,
        mut task: Box<Task>,
        mut resume: sched::Resume,
        mut main: sched::TaskId,
        interrupted: bool,
        mut first: Option<(Halt, i32)>,
    ) -> Option<Result<Value, Failure>> {
        loop {
            let (halt, before) = match first.take() {
                Some(ran) => ran,
                None => {
                    let before = task.budget;
                    match self.resume(&mut task, resume) {
                        Some(halt) => (halt, before),
                        None => (interp::run(&self.code, &mut self.rt, &mut task), before),
                    }
                }
            };
            // A direct call that got its record while it ran is the main
            // task under that record's id.
            let mut id = self.rt.sched.current;
            if main == sched::DETACHED {
                main = self.rt.sched.main;
            }
            self.rt.instructions.charge(before, &mut task);
            resume = sched::Resume::Nothing;
            match halt {
                Halt::Done(_) | Halt::Failed(_) if id == main && interrupted => return Some(Err(Failure::Interrupted)),
                // Past the instruction limit a run ends with the limit's error,
                // whatever the script caught.
                Halt::Done(_) if id == main && self.rt.instructions.exceeded() => {
                    let error = self.rt.heap.new_error("Limit", &self.rt.instructions.message());
                    return Some(Err(Failure::Runtime(self.runtime_error(Value::Error(error), &task))));
                }
                Halt::Done(v) if id == main => {
                    if task.recycle() {
                        self.spare_task = Some(task);
                    }
                    return Some(Ok(v));
                }
                Halt::Done(v) => conc::finish(&mut self.rt, id, Ok(v)),
                Halt::Failed(v) if id == main => return Some(Err(Failure::Runtime(self.runtime_error(v, &task)))),
                Halt::Failed(v) => conc::finish(&mut self.rt, id, Err(v)),
                Halt::Exit(status) => {
                    // The program ends; a host may still look at the VM,
                    // so the exiting task leaves no record behind.
                    if id != main {
                        conc::finish(&mut self.rt, id, Ok(Value::Nil));
                    }
                    return Some(Err(Failure::Exit(status)));
                }
                Halt::Park => self.rt.sched.meta_mut(id).task = Some(task),
                Halt::Yield | Halt::Collect => {
                    // A task that spent its budget goes to the back of the
                    // queue; one stopped only so that the collector could
                    // run carries on at once, so that when collections
                    // happen never changes the order tasks run in.
                    let preempted = matches!(halt, Halt::Yield);
                    if preempted && id == sched::DETACHED {
                        // Another task may be ready now (a timer came due,
                        // another thread delivered): the scheduler decides.
                        self.rt.sched.attach();
                        id = self.rt.sched.current;
                    }
                    if self.rt.heap.gc_due() {
                        self.collect(&mut [&mut task]);
                    }
                    // A preemption point: a cancelled task that never blocks
                    // stops here (a collection is not one: it must not change
                    // what a script sees). An allocation that took the heap
                    // past its limit fails here too.
                    let cancelled = if preempted { self.rt.sched.cancelled(id) } else { None };
                    resume = match cancelled {
                        Some(scope) => sched::Resume::raise(Throw::Cancelled(Some(scope))),
                        None if preempted && self.rt.instructions.exceeded() => {
                            sched::Resume::raise(self.rt.instructions.error())
                        }
                        None if self.rt.heap.over_limit() => sched::Resume::raise(self.out_of_memory()),
                        None => sched::Resume::Nothing,
                    };
                    if !preempted {
                        continue;
                    }
                    let meta = self.rt.sched.meta_mut(id);
                    meta.resume = resume;
                    meta.task = Some(task);
                    self.rt.sched.runq.push_back(id);
                }
                Halt::Import { path, slot, dst } => {
                    self.import(&mut task, path, slot, dst);
                    if let Some(failure) = self.failed_import.take() {
                        return Some(Err(failure));
                    }
                    continue;
                }
            }
            return None;
        }
    }

    /// Applies what a task was woken with; returns a halt if that ends it.
    fn resume(&mut self, task: &mut Task, resume: sched::Resume) -> Option<Halt> {
        use sched::Resume;
        if let Some(argc) = task.start.take() {
            return self.start(task, argc as usize);
        }
        match resume {
            Resume::Nothing | Resume::Retry => None,
            Resume::Value(v) => {
                task.stack[task.park_slot as usize] = v;
                None
            }
            Resume::Select(case, v) => {
                let slot = task.park_slot as usize;
                task.stack[slot] = Value::Int(case as i64);
                task.stack[slot + 1] = v;
                None
            }
            Resume::LoopEnd => {
                let frame = task.frames.last_mut()?;
                let op = self.code.protos[frame.proto as usize].code[frame.pc as usize - 1];
                if let Op::IterNext { offset, .. } = op {
                    frame.pc = (frame.pc as i64 + offset as i64) as u32;
                }
                None
            }
            Resume::Raise(throw) => interp::raise(&self.code, &mut self.rt, task, *throw),
            Resume::Finish(finish) => interp::resume_native_with(&self.code, &mut self.rt, task, Some(finish)),
        }
    }

    /// A new task's first call: `stack[0](stack[1..])`.
    fn start(&mut self, task: &mut Task, argc: usize) -> Option<Halt> {
        let callee = task.stack[0];
        let throw = match callee {
            Value::Func(r) => {
                let proto = self.rt.heap.closure(r).proto;
                let target = &self.code.protos[proto as usize];
                if target.arity as usize == argc {
                    let top = 1 + target.regs as usize;
                    if task.stack.len() < top {
                        task.stack.resize(top, Value::Nil);
                    }
                    task.frames.push(task::Frame { proto, closure: Some(r), pc: 0, base: 1, ret: 0 });
                    return None;
                }
                interp::arity(&self.code, callee, target.arity as usize, argc, &self.rt.heap)
            }
            Value::Native(n) => {
                let native = &self.code.natives[n as usize];
                task.park_slot = 0;
                let args = task.stack[1..1 + argc].to_vec();
                let mut cx = Ctx { rt: &mut self.rt, code: &self.code, site: None, native: n };
                match (native.body)(&mut cx, &args) {
                    Ok(v) => return Some(Halt::Done(v)),
                    Err(control) => return interp::stop(&self.code, &mut self.rt, task, control),
                }
            }
            _ => Throw::type_error("cannot spawn a value that is not a function"),
        };
        interp::raise(&self.code, &mut self.rt, task, throw)
    }

    /// Nothing can run and nothing can wake: raises `Deadlock` in the main
    /// task, with a report of every blocked task.
    fn deadlock(&mut self, main: sched::TaskId) {
        let mut details = String::from("blocked tasks:\n");
        let blocked: Vec<sched::TaskId> = self.rt.sched.tasks.iter().map(|(id, _)| id).collect();
        for id in blocked {
            self.describe_task(id, true, &mut details);
        }
        let error = self.rt.heap.new_error("Deadlock", "every task is blocked and nothing can wake one");
        self.rt.heap.error_mut(error).details = Some(details);
        let Some(meta) = self.rt.sched.tasks.get(main) else { return };
        if let [sched::Reg::Nursery(nid)] = *meta.regs.as_slice() {
            // The main task waits for its tasks: fail its nursery, which cancels them.
            if let Some(n) = self.rt.sched.nurseries.get_mut(nid) {
                n.first_error.get_or_insert(Value::Error(error));
                let scope = n.scope;
                self.rt.sched.cancel(&mut self.rt.heap, scope);
            }
        } else {
            let token = meta.token;
            self.rt.sched.wake(&mut self.rt.heap, main, token, sched::Resume::raise(Throw::Value(Value::Error(error))));
        }
        if self.rt.sched.runq.is_empty() {
            // Nothing woke: the state is beyond repair; fail the main task outright.
            let token = self.rt.sched.meta(main).token;
            self.rt.sched.meta_mut(main).state = sched::State::Parked;
            self.rt.sched.wake(&mut self.rt.heap, main, token, sched::Resume::raise(Throw::Value(Value::Error(error))));
        }
    }
}

/// A host asked to run a function that was never loaded.
fn not_top_level(main: u32) -> Failure {
    crate::report::without_source(
        crate::ErrorKind::ValueError,
        format!("function {main} takes arguments or captures variables: it cannot run as a top level"),
    )
}

fn no_such_function(main: u32) -> Failure {
    crate::report::without_source(crate::ErrorKind::ValueError, format!("no loaded function has index {main}"))
}

#[cfg(test)]
mod tests {
    use crate::sched::{State, DETACHED};
    use crate::{Value, Vm};

    fn vm_with(code: &str) -> Vm {
        let mut vm = Vm::new();
        vm.eval("<setup>", code).expect("the setup runs");
        vm
    }

    fn call(vm: &mut Vm, name: &str, args: &[Value]) -> Value {
        let f = vm.global(name).expect("defined");
        vm.call_value(f, args).expect("the call returns")
    }

    #[test]
    fn a_direct_call_leaves_no_record_and_counts() {
        let mut vm = vm_with("fn add(a, b) { return a + b }");
        let before = vm.rt.sched.stats();
        for i in 0..100 {
            assert!(matches!(call(&mut vm, "add", &[Value::Int(i), Value::Int(1)]), Value::Int(n) if n == i + 1));
        }
        assert_eq!(vm.direct_calls(), 100);
        assert_eq!(vm.rt.sched.stats(), before);
        assert_eq!((before.tasks, before.scopes), (0, 0));
        // The task's allocations are kept for the next call.
        assert!(vm.spare_task.is_some());
    }

    #[test]
    fn a_call_that_opens_a_nursery_gets_a_record_and_gives_it_back() {
        let mut vm = vm_with(
            "fn put(cell, x) { cell[0] = x + 1 }\nfn both(x) { let cell = [0]\nnursery { spawn put(cell, x) }\nreturn cell[0] }",
        );
        let before = vm.rt.sched.stats();
        assert!(matches!(call(&mut vm, "both", &[Value::Int(41)]), Value::Int(42)));
        assert_eq!(vm.direct_calls(), 0, "the nursery took the scheduler");
        assert_eq!(vm.rt.sched.stats(), before, "every record and scope is gone");
    }

    #[test]
    fn attaching_makes_the_running_task_the_main_one_with_its_own_scope() {
        let mut vm = Vm::new();
        let sched = &mut vm.rt.sched;
        sched.current = DETACHED;
        sched.main = DETACHED;
        assert_eq!(sched.cancelled(DETACHED), None, "nothing can cancel a task without a scope");
        sched.attach();
        let id = sched.current;
        assert_ne!(id, DETACHED);
        assert_eq!(sched.main, id);
        let meta = sched.meta(id);
        assert!(meta.task.is_none(), "a running task is out of its record");
        assert_eq!((meta.state, meta.scopes.iter().count()), (State::Runnable, 1));
        assert!(sched.runq.is_empty(), "it is running, not queued");
        // Once attached, attaching again changes nothing.
        sched.attach();
        assert_eq!((sched.current, sched.tasks.len(), sched.scopes.len()), (id, 1, 1));
    }

    #[test]
    fn a_call_past_its_first_slice_goes_on_in_the_scheduler() {
        // A loop longer than a time slice yields once at least.
        let mut vm = vm_with("fn count(n) { let s = 0\nfor i in 0..n { s = s + i }\nreturn s }");
        assert!(matches!(call(&mut vm, "count", &[Value::Int(100_000)]), Value::Int(4_999_950_000)));
        assert_eq!(vm.direct_calls(), 0);
        assert_eq!(vm.rt.sched.stats().tasks, 0);
        assert!(matches!(call(&mut vm, "count", &[Value::Int(10)]), Value::Int(45)));
        assert_eq!(vm.direct_calls(), 1);
    }
}
