//! A task: one thread of Weft execution, as plain data on the heap of the
//! Rust process. It owns its registers (`stack`), its call frames and its
//! exception handlers, so the interpreter can stop it after any instruction
//! and resume it later: nothing of a task lives on the native stack.

use crate::heap::TraceEntry;
use crate::value::{Ref, Value};

/// One active call. `repr(C)` with `pc` last and alone in its word: the
/// loop stores the pc just before the slow path reads the other fields,
/// and a read that overlapped that store would wait for it.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Frame {
    /// The function running, by index into the loaded code.
    pub proto: u32,
    /// The stack index of register 0.
    pub base: u32,
    /// The closure running, for its captured variables.
    pub closure: Option<Ref>,
    /// The stack index that receives the return value.
    pub ret: u32,
    /// The next instruction (saved only while the frame is not on top).
    pub pc: u32,
}

/// An active `try`: where a throw goes.
#[derive(Clone, Copy, Debug)]
pub struct Handler {
    /// The number of frames when the handler was pushed: it belongs to the
    /// frame at index `frames - 1`.
    pub frames: u32,
    /// The instruction that starts the catch code.
    pub pc: u32,
    /// The stack index that receives the thrown value.
    pub slot: u32,
}

/// Instructions a task runs before it yields to the scheduler.
pub const BUDGET: u32 = 10_000;

pub struct Task {
    pub stack: Vec<Value>,
    pub frames: Vec<Frame>,
    pub handlers: Vec<Handler>,
    /// Back edges and calls left before the task yields.
    pub budget: u32,
    /// The trace of the last throw, for thrown values that are not errors.
    pub trace: Vec<TraceEntry>,
    /// An error raised from outside the loop that nothing caught.
    pub pending_failure: Option<Value>,
    /// Where a blocking call's result goes when the task wakes.
    pub park_slot: u32,
    /// A new task's pending first call: the callee is `stack[0]`, followed
    /// by this many arguments.
    pub start: Option<u8>,
}

impl Task {
    /// An empty task: the caller sets up its first frame or call.
    pub fn new() -> Task {
        Task {
            stack: Vec::new(),
            frames: Vec::new(),
            handlers: Vec::new(),
            budget: BUDGET,
            trace: Vec::new(),
            pending_failure: None,
            park_slot: 0,
            start: None,
        }
    }

    /// Bytes it holds: registers, frames, handlers and the trace.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Task>()
            + self.stack.capacity() * std::mem::size_of::<Value>()
            + self.frames.capacity() * std::mem::size_of::<Frame>()
            + self.handlers.capacity() * std::mem::size_of::<Handler>()
            + self.trace.capacity() * std::mem::size_of::<TraceEntry>()
    }

    /// Every value the task can still read: the registers of its frames.
    pub fn roots(&self) -> impl Iterator<Item = Value> + '_ {
        self.stack.iter().copied()
    }
}

impl Default for Task {
    fn default() -> Self {
        Task::new()
    }
}
