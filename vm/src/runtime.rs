//! The runtime: everything scripts change (heap, globals, output, limits,
//! the scheduler), and the two things a host holds on to from outside, the
//! script's output and the interrupt flag.

use crate::*;
use std::io::Write;

/// Everything scripts change: the heap, globals, output, limits. Private
/// to the crate: natives reach it through [`Ctx`], hosts through [`Vm`].
pub(crate) struct Runtime {
    pub(crate) heap: Heap,
    pub(crate) globals: Vec<Value>,
    /// Where `print` writes. Buffered; flushed at exit and before errors.
    /// `Send`, so that a VM can move to another thread.
    pub(crate) out: Output,
    /// Where `eprint` writes: stderr, unbuffered.
    pub(crate) err_out: Box<dyn Write + Send>,
    /// The script's arguments, for `args()`.
    pub(crate) args: Vec<String>,
    /// The deepest a call stack may grow before `StackOverflow`.
    pub(crate) max_frames: usize,
    /// The instructions a run may run, and has been charged.
    pub(crate) instructions: limits::InstructionLimit,
    /// The generator behind `random()`.
    pub(crate) rng: sched::SplitMix64,
    /// (global slot, top-level function) of each module loaded, at most one
    /// per slot, to catch circular imports.
    pub(crate) loading: Vec<(u32, u32)>,
    /// Tasks, cancel scopes, nurseries, timers and the clock.
    pub(crate) sched: sched::Scheduler,
    /// Set from outside (a Ctrl-C handler, a host thread) to cancel the
    /// main task: its whole tree unwinds and `finally` blocks run.
    pub(crate) interrupt: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// What handles hold: roots for the collector.
    pub(crate) roots: handle::RootTable,
    /// What the script may touch outside the VM.
    pub(crate) caps: caps::Capabilities,
    /// Run every instruction through the slow path (`WEFT_SLOW_PATH=1`):
    /// an oracle for the fast cases of the interpreter loop.
    pub(crate) slow_only: bool,
    /// The box of the last call a native made ([`Ctx::call`]), emptied
    /// of values once the call was set up, for the next one to reuse.
    pub(crate) spare_call: Option<Box<native::Call>>,
}

/// Interrupts a running script from another thread: see
/// [`Vm::interrupt_handle`].
#[derive(Clone)]
pub struct Interrupt {
    pub(crate) flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub(crate) outbox: sched::driver::Outbox,
}

impl Interrupt {
    /// Cancels the main task, as Ctrl-C does.
    pub fn interrupt(&self) {
        self.flag.store(true, std::sync::atomic::Ordering::SeqCst);
        self.outbox.wake();
    }
}

/// The script's output. Flushed only when something was written since the
/// last flush: every run ends with a flush, and a host that calls a small
/// function many times should not pay a lock of stdout per call.
pub(crate) struct Output {
    sink: Box<dyn Write + Send>,
    unflushed: bool,
}

impl Output {
    pub(crate) fn new(sink: Box<dyn Write + Send>) -> Output {
        Output { sink, unflushed: false }
    }
}

impl Write for Output {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.unflushed = true;
        self.sink.write(bytes)
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.unflushed = true;
        self.sink.write_all(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !std::mem::take(&mut self.unflushed) {
            return Ok(());
        }
        let flushed = self.sink.flush();
        // A failed flush may have left bytes behind: try again next time.
        self.unflushed = flushed.is_err();
        flushed
    }
}

/// Where `print` goes by default: line by line on a terminal, so output
/// appears as it is printed; in large blocks into a pipe or file, flushed
/// whenever every task waits and at exit.
pub(crate) fn stdout_writer() -> Box<dyn Write + Send> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        Box::new(std::io::LineWriter::new(std::io::stdout()))
    } else {
        Box::new(std::io::BufWriter::new(std::io::stdout()))
    }
}
