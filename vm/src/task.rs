//! A task: one thread of Weft execution, as plain data on the heap of the
//! Rust process. Its fields are private to the crate: the interpreter reads
//! registers and code unchecked on the strength of frames only the
//! scheduler and the interpreter make. It owns its registers (`stack`), its call frames and its
//! exception handlers, so the interpreter can stop it after any instruction
//! and resume it later: nothing of a task lives on the native stack.

use crate::trace::TraceEntry;
use crate::value::{Ref, Value};

/// One active call. `repr(C)` with `pc` last and alone in its word: the
/// loop stores the pc just before the slow path reads the other fields,
/// and a read that overlapped that store would wait for it.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Frame {
    /// The function running, by index into the loaded code.
    pub(crate) proto: u32,
    /// The stack index of register 0.
    pub(crate) base: u32,
    /// The closure running, for its captured variables. Its proto is
    /// `proto`: a call of the running closure reuses the running proto.
    pub(crate) closure: Option<Ref>,
    /// The stack index that receives the return value.
    pub(crate) ret: u32,
    /// The next instruction (saved only while the frame is not on top).
    pub(crate) pc: u32,
}

// Frames are pushed and popped on every call: a ref's generation must not
// make them larger (an `Option<Ref>` is 8 bytes, as a bare slot was).
const _: () = assert!(std::mem::size_of::<Frame>() == 24);

/// An active `try`: where a throw goes.
#[derive(Clone, Copy, Debug)]
pub struct Handler {
    /// The number of frames when the handler was pushed: it belongs to the
    /// frame at index `frames - 1`.
    pub(crate) frames: u32,
    /// The instruction that starts the catch code.
    pub(crate) pc: u32,
    /// The stack index that receives the thrown value.
    pub(crate) slot: u32,
}

/// Instructions a task runs (as [`spend`] counts them) before it yields
/// to the scheduler: its time slice.
pub const BUDGET: i32 = 20_000;

/// Charges `cost` instructions to a task's budget: true when it is spent,
/// and the task must yield (the scheduler refills it, see
/// `limits::InstructionLimit::charge`). Instructions are charged where
/// control goes back, so the straight-line code of a loop is counted
/// without a cost per instruction: a loop's back edge charges the body it
/// jumps over (the jump's distance). A call charges [`CALL_COST`]. One
/// subtraction and one comparison. A function of the field, not of the
/// task, so the loop may call it while it holds the task's registers.
#[inline(always)]
pub(crate) fn spend(budget: &mut i32, cost: i32) -> bool {
    *budget -= cost;
    *budget <= 0
}

/// What a call of a Weft function charges (from a script or a native): the
/// two instructions every call runs, the call and the callee's return.
/// The rest of the callee's code outside its loops is not counted: reading
/// its length at every call would cost, and would preempt deep recursion
/// far more often than loops. With a slice of [`BUDGET`], a task makes
/// 10,000 calls between preemptions, as many as it always did.
pub(crate) const CALL_COST: i32 = 2;

pub struct Task {
    pub(crate) stack: Vec<Value>,
    pub(crate) frames: Vec<Frame>,
    /// Instructions left before the task yields (see [`spend`]); zero or
    /// less once spent, until the scheduler refills it.
    pub(crate) budget: i32,
    /// Where a blocking call's result goes when the task wakes.
    pub(crate) park_slot: u32,
    /// A new task's pending first call: the callee is `stack[0]`, followed
    /// by this many arguments.
    pub(crate) start: Option<u8>,
    /// What only some tasks need, boxed so that a task that never enters
    /// a `try`, throws or calls back from a native (most sleeping tasks)
    /// does not carry it.
    pub(crate) rare: Option<Box<Rare>>,
}

// A million sleeping tasks hold a million of these: what most tasks
// never use stays in `rare`.
const _: () = assert!(std::mem::size_of::<Task>() <= 72);

/// The part of a task that most tasks never use (see [`Task::rare`]).
#[derive(Default)]
pub(crate) struct Rare {
    /// The trace of the last throw, for thrown values that are not errors.
    pub(crate) trace: Vec<TraceEntry>,
    /// An error raised from outside the loop that nothing caught.
    pub(crate) pending_failure: Option<Value>,
    /// Natives waiting for the Weft function they called to return, one per
    /// trampoline frame, innermost last.
    pub(crate) conts: Vec<Cont>,
    /// The active `try` blocks, innermost last.
    pub(crate) handlers: Vec<Handler>,
}

/// A native suspended in a call to a Weft function (see `Ctx::call`).
pub(crate) struct Cont {
    /// The number of frames with its trampoline frame on top.
    pub(crate) depth: u32,
    /// The native, for its name in errors.
    pub(crate) native: u32,
    /// Values the native keeps until it resumes: roots.
    pub(crate) keep: Vec<Value>,
    pub(crate) then: crate::native::Then,
    /// Runs if an error unwinds past it instead (a cancelled wait for a
    /// child process kills the child).
    pub(crate) abort: Option<crate::native::Abort>,
}

impl Task {
    /// An empty task: the caller sets up its first frame or call.
    pub(crate) fn new() -> Task {
        Task { stack: Vec::new(), frames: Vec::new(), budget: BUDGET, park_slot: 0, start: None, rare: None }
    }

    /// The task's rare part, made the first time it is needed.
    pub(crate) fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// Natives waiting for the Weft function they called to return,
    /// innermost last.
    pub(crate) fn conts(&self) -> &[Cont] {
        self.rare.as_ref().map_or(&[], |r| &r.conts)
    }

    /// The trace of the last throw, for thrown values that are not errors.
    pub(crate) fn trace(&self) -> &[TraceEntry] {
        self.rare.as_ref().map_or(&[], |r| &r.trace)
    }

    /// The innermost active `try` block.
    #[inline(always)]
    pub(crate) fn last_handler(&self) -> Option<&Handler> {
        self.rare.as_ref().and_then(|r| r.handlers.last())
    }

    /// Leaves the innermost active `try` block.
    #[inline(always)]
    pub(crate) fn pop_handler(&mut self) -> Option<Handler> {
        self.rare.as_mut().and_then(|r| r.handlers.pop())
    }

    /// Empties a finished task so that the next main task can reuse its
    /// allocations; false if it grew too big to be worth keeping (a deep
    /// recursion's registers), and should be dropped instead.
    pub(crate) fn recycle(&mut self) -> bool {
        const KEEP_REGISTERS: usize = 1 << 10;
        const KEEP_FRAMES: usize = 1 << 6;
        if self.stack.capacity() > KEEP_REGISTERS || self.frames.capacity() > KEEP_FRAMES || !self.conts().is_empty() {
            return false;
        }
        self.stack.clear();
        self.frames.clear();
        self.rare = None;
        self.budget = BUDGET;
        self.park_slot = 0;
        self.start = None;
        true
    }

    /// Bytes it holds: registers, frames, handlers and the trace.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Task>()
            + self.stack.capacity() * std::mem::size_of::<Value>()
            + self.frames.capacity() * std::mem::size_of::<Frame>()
            + self.rare.as_ref().map_or(0, |r| {
                std::mem::size_of::<Rare>()
                    + r.trace.capacity() * std::mem::size_of::<TraceEntry>()
                    + r.handlers.capacity() * std::mem::size_of::<Handler>()
                    + r.conts.iter().map(|c| std::mem::size_of::<Cont>() + c.keep.capacity() * 16).sum::<usize>()
            })
    }

    /// Every value the task can still read: the registers of its frames
    /// and what its suspended natives keep.
    pub fn roots(&self) -> impl Iterator<Item = Value> + '_ {
        self.stack.iter().copied().chain(self.conts().iter().flat_map(|c| c.keep.iter().copied()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_task_keeps_its_buffers_and_drops_what_few_tasks_need() {
        let mut task = Task::new();
        task.stack.extend([Value::Int(1), Value::Int(2)]);
        task.frames.push(Frame { proto: 0, base: 0, closure: None, ret: 0, pc: 0 });
        task.rare_mut().handlers.push(Handler { frames: 1, pc: 3, slot: 1 });
        task.rare_mut().pending_failure = Some(Value::Nil);
        task.budget = 5;
        let room = task.stack.capacity();
        assert!(task.recycle());
        assert!(task.stack.is_empty() && task.frames.is_empty());
        assert_eq!(task.stack.capacity(), room, "its registers' buffer is kept for the next task");
        assert!(task.rare.is_none() && task.last_handler().is_none() && task.trace().is_empty());
        assert_eq!((task.budget, task.start), (BUDGET, None));
        assert_eq!(task.bytes(), std::mem::size_of::<Task>() + room * 16 + task.frames.capacity() * 24);
    }

    #[test]
    fn handlers_come_off_innermost_first_and_a_task_without_any_has_no_box() {
        let mut task = Task::new();
        assert_eq!((task.pop_handler().is_none(), task.rare.is_none()), (true, true));
        for frames in 1..=3 {
            task.rare_mut().handlers.push(Handler { frames, pc: 0, slot: 0 });
        }
        assert_eq!(task.last_handler().map(|h| h.frames), Some(3));
        let popped: Vec<u32> = std::iter::from_fn(|| task.pop_handler()).map(|h| h.frames).collect();
        assert_eq!(popped, [3, 2, 1]);
    }

    #[test]
    fn a_task_whose_registers_grew_large_is_not_recycled() {
        let mut task = Task::new();
        task.stack.resize(2 << 10, Value::Nil);
        assert!(!task.recycle(), "a deep recursion's registers are dropped, not kept");
    }
}
