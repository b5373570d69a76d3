//! Sandbox limits a host sets on a VM: the instructions a run may run,
//! the depth of a call stack and the tasks alive at once. (The heap's
//! limit lives with the heap.) Each one, when hit, raises a catchable
//! error naming it; the instruction limit also ends the run, whatever
//! catches it.
//!
//! Instructions are counted by the budget the scheduler already keeps to
//! share time between tasks (see `task::spend`): a loop's back edge
//! charges the length of the body it jumps over, a call 2. The count of a
//! loop is then close to the instructions it ran (docs/embedding.md says
//! how close), at no cost to the hot loop beyond the budget's own
//! subtraction and comparison. A slice's instructions are charged to the
//! run when the slice ends (the budget runs out, or the task parks or
//! finishes), so a run can go at most one time slice (`task::BUDGET`
//! instructions) and one loop body past the limit before it stops.

use crate::task::{Task, BUDGET};
use crate::{Throw, Vm};

/// The instruction limit and what the current run has spent of it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InstructionLimit {
    /// Instructions a run may run; `u64::MAX` for no limit.
    pub(crate) max: u64,
    /// Instructions the current run has been charged.
    pub(crate) spent: u64,
}

impl Default for InstructionLimit {
    fn default() -> Self {
        InstructionLimit { max: u64::MAX, spent: 0 }
    }
}

impl InstructionLimit {
    /// Whether the run has gone past its limit.
    #[inline]
    pub(crate) fn exceeded(&self) -> bool {
        self.spent > self.max
    }

    /// Charges the instructions of one slice of `task`, which began with
    /// `before` instructions of budget left, and refills a spent budget:
    /// the one place a budget is refilled.
    #[inline]
    pub(crate) fn charge(&mut self, before: i32, task: &mut Task) {
        let used = i64::from(before) - i64::from(task.budget);
        self.spent = self.spent.saturating_add(used.max(0) as u64);
        if task.budget <= 0 {
            task.budget = BUDGET;
        }
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
        format!("the instruction limit of {} was reached: max_instructions", self.max)
    }
}

/// The error for a task past the live-task limit.
pub(crate) fn task_limit(max: usize) -> Throw {
    Throw::new("Limit", format!("the live-task limit of {max} was reached: max_tasks"))
}

impl Vm {
    /// Caps the instructions each run may run, as the scheduler's budget
    /// counts them (a loop's back edge charges its body's length, a call
    /// 2; see docs/embedding.md): each
    /// [`eval`](Vm::eval), [`run_file`](Vm::run_file),
    /// [`run_script`](Vm::run_script) or call from the host counts from
    /// zero. Past it the running code gets a `Limit` error, which `catch`
    /// may see, but the run then ends with that error whatever the script
    /// does.
    pub fn set_max_instructions(&mut self, instructions: u64) {
        self.rt.instructions.max = instructions;
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

    /// Instructions the last (or current) run has been charged, as
    /// [`set_max_instructions`](Vm::set_max_instructions) counts them.
    pub fn instructions_counted(&self) -> u64 {
        self.rt.instructions.spent
    }
}
