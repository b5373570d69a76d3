//! What natives and instructions raise. A [`Throw`] is cheap to build; the
//! interpreter turns it into an `error` value with a stack trace at the
//! point where it is raised.

use crate::value::Value;
use std::borrow::Cow;

/// A raised error on its way to the nearest handler.
#[derive(Clone, Debug)]
pub enum Throw {
    /// A runtime error of a kind (`"TypeError"`) with a message.
    Error { kind: Cow<'static, str>, message: String },
    /// A script value thrown with `throw` (an error object or anything else).
    Value(Value),
    /// The script asked to exit the process with this status.
    Exit(i32),
    /// The task was cancelled; the scope named absorbs the error (none
    /// for `join` on a task that was cancelled).
    Cancelled(Option<u32>),
    /// Not an error: the native registered the running task's wait and
    /// parked it (see `sched/wait.rs`). It resumes with the value or error
    /// its waker provides.
    Park,
}

impl Throw {
    pub fn new(kind: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Throw {
        Throw::Error { kind: kind.into(), message: message.into() }
    }

    pub fn type_error(message: impl Into<String>) -> Throw {
        Throw::new("TypeError", message)
    }

    pub fn value_error(message: impl Into<String>) -> Throw {
        Throw::new("ValueError", message)
    }

    pub fn index_error(message: impl Into<String>) -> Throw {
        Throw::new("IndexError", message)
    }
}

/// The result natives return.
pub type NativeResult = Result<Value, Throw>;
