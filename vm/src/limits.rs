//! Sandbox limits a host sets on a VM: the steps a run may take, the
//! depth of a call stack and the tasks alive at once. (The heap's limit
//! lives with the heap.) Each one, when hit, raises a catchable error
//! naming it; the step limit also ends the run, whatever catches it.
//!
//! Steps are what the scheduler already counts to share time between
//! tasks: a loop's back edge or a call, each followed by straight-line
//! code of bounded length. They are charged when a task's time slice
//! ends (the interpreter's budget runs out, or the task parks or
//! finishes), so the hot loop pays nothing for the limit; a run can go at
//! most one time slice (10,000 steps) past it before
//! it stops.

use crate::task::Task;
use crate::{Throw, Vm};

/// The step limit and what the current run has spent of it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StepLimit {
    /// Steps a run may take; `u64::MAX` for no limit.
    pub(crate) max: u64,
    /// Steps the current run has taken.
    pub(crate) spent: u64,
}

impl Default for StepLimit {
    fn default() -> Self {
        StepLimit { max: u64::MAX, spent: 0 }
    }
}

impl StepLimit {
    /// Whether the run has gone past its limit.
    #[inline]
    pub(crate) fn exceeded(&self) -> bool {
        self.spent > self.max
    }

    /// Charges the steps of one slice of `task`: it began with `before`
    /// steps of budget left, and `yielded` says whether it ran out (the
    /// interpreter then refilled it).
    #[inline]
    pub(crate) fn charge(&mut self, before: u32, task: &mut Task, yielded: bool) {
        let used = if yielded { before } else { before.saturating_sub(task.budget) };
        self.spent = self.spent.saturating_add(used as u64);
        if self.exceeded() {
            // Past the limit, every back edge and call is a preemption
            // point, so that code catching the error cannot go on looping.
            task.budget = 1;
        }
    }

    /// The error a run past its limit raises.
    pub(crate) fn error(&self) -> Throw {
        Throw::new("Limit", self.message())
    }

    pub(crate) fn message(&self) -> String {
        format!("the step limit of {} (loop iterations and calls) was reached: max_steps", self.max)
    }
}

/// The error for a task past the live-task limit.
pub(crate) fn task_limit(max: usize) -> Throw {
    Throw::new("Limit", format!("the live-task limit of {max} was reached: max_tasks"))
}

impl Vm {
    /// Caps the steps (loop iterations and calls) each run may take:
    /// each [`eval`](Vm::eval), [`run_file`](Vm::run_file),
    /// [`run_script`](Vm::run_script) or call from the host counts from
    /// zero. Past it the running code gets a `Limit` error, which `catch`
    /// may see, but the run then ends with that error whatever the script
    /// does.
    pub fn set_max_steps(&mut self, steps: u64) {
        self.rt.steps.max = steps;
    }

    /// Caps how deep a call stack may grow before `StackOverflow`
    /// (100,000 frames by default).
    pub fn set_max_frames(&mut self, frames: usize) {
        self.rt.max_frames = frames.max(1);
    }

    /// Caps how many tasks may be alive at once, the main task included;
    /// one more `spawn` raises a `Limit` error.
    pub fn set_max_tasks(&mut self, tasks: usize) {
        self.rt.sched.max_tasks = tasks.max(1);
    }

    /// Steps the last (or current) run has taken, as
    /// [`set_max_steps`](Vm::set_max_steps) counts them.
    pub fn steps_taken(&self) -> u64 {
        self.rt.steps.spent
    }
}
