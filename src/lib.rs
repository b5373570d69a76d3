//! Weft: a small scripting language with structured concurrency built in.

pub mod cli;

pub use weft_vm::{Failure, RuntimeError, Value, Vm};
