//! Weft's runtime: values, the heap and its collector, the interpreter
//! loop, the scheduler, and the machinery that loads compiled code and
//! runs it.
//!
//! The pieces, in the order a script meets them:
//! - `vm.rs`: the [`Vm`] a host makes and sets up (natives, methods,
//!   classes, limits, capabilities, output); `runtime.rs`: the state that
//!   scripts change, which natives reach through a [`Ctx`]; `host.rs`,
//!   `session.rs`, `host_loop.rs`: calls, `eval` and slices of running
//!   from the host.
//! - `code/`: loading (`load.rs`) compiles a file (through `weft_lang`),
//!   checks every function, and links it into [`Code`] (`mod.rs`), turning
//!   constants into values and method names into global symbols;
//!   `disasm.rs` lists it back.
//! - `sched/`: [`Vm::run_proto`] makes a task for the top level and the
//!   scheduler's loop (`run.rs`) runs it and every task it spawns: waits
//!   (`wait.rs`), timers, cancel scopes, nurseries and `select`
//!   (`conc.rs`), channels (`channel.rs`), the idle-wait driver.
//! - `exec/`: the interpreter loop (`interp.rs`), with the common case of
//!   each instruction in the loop and every instruction in full in the
//!   slow path (`slow.rs`), and the operators (`ops.rs`).
//! - `value.rs`, `heap/`: values; the arena with its accounting and limit,
//!   the collector and its roots (`gc.rs`), rooted handles (`handle.rs`).
//! - `native/`: the native protocol: what natives see, a [`Ctx`], how
//!   they end ([`Control`]), and the typed conversions that make Rust
//!   functions natives.
//! - `task.rs`, `error.rs`, `trace.rs`, `report.rs`: a task's registers
//!   and frames, errors, trace entries, reports of uncaught errors.
#![warn(missing_docs)]

pub mod caps;
mod code;
mod error;
mod exec;
pub mod fmt;
pub mod heap;
mod host;
mod host_loop;
mod limits;
mod message;
mod native;
mod object;
mod report;
mod runtime;
mod sched;
mod session;
mod task;
pub mod trace;
pub mod value;
mod vm;

pub use code::disasm;
use code::load;
pub use exec::interp::ITER_METHOD;
#[cfg(feature = "op-pairs")]
pub use exec::op_pairs;
pub use exec::ops;
use exec::{interp, slow};
use heap::handle;
use sched::{channel, conc};

pub use caps::{Capabilities, Grant};
pub use channel::Channel;
pub use code::{Code, FnProto, Method, Methods, SourceFile, Symbols, TypeTag};
pub use error::{internal_message, ErrorKind, Throw};
pub use handle::Handle;
pub use heap::Heap;
pub use host_loop::HostWaker;
pub use load::{read_source, MAX_SOURCE_BYTES};
pub use message::{FromMessage, IntoMessage, Message};
pub use mio;
pub use native::{
    Call, Callable, ChanRef, Control, Ctx, ErrorRef, Finisher, FromValue, IntoNative, IntoValue, LeafFn, ListMut,
    ListRef, MapMut, MapRef, NativeBody, NativeDef, NativeResult, NativeReturn, NurseryRef, Parked, Plain, Raw, StrRef,
    StraightFn, TaskRef, Then, WithCtx,
};
pub use object::Object;
pub use report::RuntimeError;
pub use sched::driver::{Driver, RemoteWaker};
pub use sched::host_chan::{ChannelError, HostChannel, ScriptEnd};
pub use sched::pool::Pool;
pub use sched::reactor::{
    deepen_backlog, pidfd_kill, pidfd_open, pidfd_reap, raise_fd_limit, Direction, IoId, IoSource,
};
pub use sched::{Event, Stats as SchedStats};
use task::Task;
pub use value::{Key, Ref, Value};

pub use runtime::Interrupt;
pub(crate) use runtime::Runtime;
pub use vm::{Failure, Stats, Vm};
