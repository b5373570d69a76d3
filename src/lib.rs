//! Weft: a small scripting language with structured concurrency built in.
//!
//! This crate is the `weft` command line and the entry point for Rust
//! programs that run Weft scripts. A script runs on a [`Vm`]: [`Vm::new`]
//! makes one with the standard library installed, [`Vm::builder`] one
//! with capabilities and limits chosen. docs/embedding.md is the guide.
//!
//! ```
//! let mut vm = weft::Vm::builder().max_instructions(10_000_000).build()?;
//! vm.register("add", |a: i64, b: i64| a + b);
//! vm.exec("fn sum(xs) { let t = 0\nfor x in xs { t = add(t, x) }\nreturn t }")?;
//! assert_eq!(vm.call::<i64>("sum", (vec![1, 2, 3],))?, 6);
//! # Ok::<(), weft::Error>(())
//! ```
//!
//! The lower-level [`new_vm`] and `run_script` give the runtime's
//! [`Failure`]:
//!
//! ```
//! use std::path::Path;
//!
//! let mut vm = weft::new_vm().expect("the standard library loads");
//! // Reproducible scheduling, on a virtual clock: an hour of sleeping
//! // takes no time at all.
//! vm.configure_scheduler(Some(7), true);
//! let script = r#"
//! let results = chan(3)
//! for i in 1..=3 {
//!     spawn {
//!         sleep(3600 * i)
//!         results.send(i * i)
//!     }
//! }
//! let total = 0
//! for _ in 1..=3 { total += results.recv() }
//! assert(total == 14, "bad total")
//! assert(now() == 10800.0, "the clock jumped to the last timer")
//! "#;
//! vm.run_script("demo.weft", script, Path::new(".")).expect("the script runs");
//! ```
//!
//! A failing script gives a [`Failure`]; a runtime failure carries the
//! error's kind, message, stack trace and the rendered report the CLI
//! prints:
//!
//! ```
//! use std::path::Path;
//! use weft::Failure;
//!
//! let mut vm = weft::new_vm().unwrap();
//! match vm.run_script("bad.weft", "let xs = [1, 2]\nprint(xs[5])", Path::new(".")) {
//!     Err(Failure::Runtime(error)) => {
//!         assert_eq!(error.kind, "IndexError");
//!         assert!(error.report.contains("bad.weft:2:7"));
//!     }
//!     other => panic!("expected an IndexError, got {other:?}"),
//! }
//! ```

#![forbid(unsafe_code)]

mod builder;
pub mod cli;
mod convert;
mod error;
mod repl;
#[cfg(feature = "serde")]
mod serde;
mod vm;

pub use builder::Builder;
pub use convert::{Callee, FromWeft, Function, IntoArgs};
pub use error::Error;
#[cfg(feature = "serde")]
pub use serde::Serde;
pub use vm::{Blocking, IntoBlocking, Vm};
pub use weft_vm::{
    Callable, Capabilities, ChanRef, ChannelError, Control, Ctx, Driver, ErrorKind, Event, Failure, Finisher,
    FromMessage, FromValue, Grant, Handle, HostChannel, Interrupt, IntoMessage, IntoNative, IntoValue, ListRef, MapRef,
    Message, NativeResult, NativeReturn, NurseryRef, Object, Pool, RemoteWaker, RuntimeError, ScriptEnd, StrRef,
    TaskRef, Throw, TypeTag, Value,
};

/// The runtime crate, for what the embedding API does not wrap.
pub use weft_vm as runtime;

/// The embedding guide's examples, run as doc tests.
#[doc = include_str!("../docs/embedding.md")]
#[cfg(doctest)]
pub struct EmbeddingGuide;

/// A VM with the whole standard library installed, ready to run scripts:
/// the same as [`Vm::new`], with the runtime's [`Failure`] as its error.
///
/// ```
/// let mut vm = weft::new_vm().expect("the standard library loads");
/// vm.run_script("t.weft", "assert(1 + 1 == 2, \"math\")", ".".as_ref()).unwrap();
/// ```
pub fn new_vm() -> Result<Vm, Failure> {
    let mut vm = weft_vm::Vm::new();
    weft_stdlib::install(&mut vm)?;
    Ok(Vm::from_core(vm))
}
