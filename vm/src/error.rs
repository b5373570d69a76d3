//! What natives and instructions raise. A [`Throw`] is cheap to build; the
//! interpreter turns it into an `error` value with a stack trace at the
//! point where it is raised. Error kinds are an enum, [`ErrorKind`]: the
//! runtime's own kinds by name, a script's as `Other`, and `Internal` for
//! a broken invariant of the VM itself.

use crate::value::Value;
use std::sync::Arc;

/// What kind of error a [`Throw`] raises; scripts see it as `e.kind`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// An operation on a value of the wrong type.
    TypeError,
    /// A value of the right type that will not do (a bad format, a
    /// pattern, a length that does not match).
    ValueError,
    /// An index out of range.
    IndexError,
    /// A map key that is not there.
    KeyError,
    /// `/`, `//` or `%` by zero.
    ZeroDivision,
    /// Int arithmetic outside 64 bits.
    Overflow,
    /// A call with the wrong number of arguments.
    ArityError,
    /// A call stack past its frame limit.
    StackOverflow,
    /// The heap past its limit.
    OutOfMemory,
    /// A `timeout` block's time ran out.
    Timeout,
    /// A send on a closed channel.
    ChannelClosed,
    /// Every task blocked, and nothing can wake one.
    Deadlock,
    /// A spawn into a nursery that has finished.
    NurseryClosed,
    /// Kept for hosts that name it; live tasks past their cap raise
    /// [`ErrorKind::Limit`].
    TaskLimit,
    /// A failure of the OS: a file, a socket, a process.
    IOError,
    /// A capability the run does not have.
    PermissionDenied,
    /// `assert` with a false condition.
    AssertionError,
    /// A module that cannot be read or imported.
    ImportError,
    /// A sandbox cap.
    Limit,
    /// The VM broke one of its own invariants: a bug to report, never the
    /// script's fault. Tests treat it as a failure.
    Internal,
    /// Any other kind, by name.
    Other(Arc<str>),
}

/// The runtime's own kinds, with the names scripts see.
const NAMED: [(ErrorKind, &str); 20] = [
    (ErrorKind::TypeError, "TypeError"),
    (ErrorKind::ValueError, "ValueError"),
    (ErrorKind::IndexError, "IndexError"),
    (ErrorKind::KeyError, "KeyError"),
    (ErrorKind::ZeroDivision, "ZeroDivision"),
    (ErrorKind::Overflow, "Overflow"),
    (ErrorKind::ArityError, "ArityError"),
    (ErrorKind::StackOverflow, "StackOverflow"),
    (ErrorKind::OutOfMemory, "OutOfMemory"),
    (ErrorKind::Timeout, "Timeout"),
    (ErrorKind::ChannelClosed, "ChannelClosed"),
    (ErrorKind::Deadlock, "Deadlock"),
    (ErrorKind::NurseryClosed, "NurseryClosed"),
    (ErrorKind::TaskLimit, "TaskLimit"),
    (ErrorKind::IOError, "IOError"),
    (ErrorKind::PermissionDenied, "PermissionDenied"),
    (ErrorKind::AssertionError, "AssertionError"),
    (ErrorKind::ImportError, "ImportError"),
    (ErrorKind::Limit, "Limit"),
    (ErrorKind::Internal, "Internal"),
];

impl ErrorKind {
    /// The name scripts see as `e.kind`.
    pub fn name(&self) -> &str {
        match self {
            ErrorKind::Other(name) => name,
            kind => NAMED.iter().find(|(k, _)| k == kind).map_or("Error", |(_, name)| name),
        }
    }
}

/// A kind by name: one of the runtime's, or `Other`.
impl From<&str> for ErrorKind {
    fn from(name: &str) -> ErrorKind {
        match NAMED.iter().find(|(_, n)| *n == name) {
            Some((kind, _)) => kind.clone(),
            None => ErrorKind::Other(name.into()),
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A raised error on its way to the nearest handler.
#[derive(Clone, Debug)]
pub enum Throw {
    /// A runtime error of a kind with a message.
    Error {
        /// Its kind (`e.kind`).
        kind: ErrorKind,
        /// What went wrong (`e.message`).
        message: String,
    },
    /// A script value thrown with `throw` (an error object or anything else).
    Value(Value),
    /// The task was cancelled; the scope named absorbs the error (none
    /// for `join` on a task that was cancelled).
    Cancelled(Option<u32>),
}

impl Throw {
    /// An error of `kind` (an [`ErrorKind`], or a name such as
    /// `"TypeError"`) with a message.
    pub fn new(kind: impl Into<ErrorKind>, message: impl Into<String>) -> Throw {
        Throw::Error { kind: kind.into(), message: message.into() }
    }

    /// A `TypeError` with `message`.
    pub fn type_error(message: impl Into<String>) -> Throw {
        Throw::new(ErrorKind::TypeError, message)
    }

    /// A `ValueError` with `message`.
    pub fn value_error(message: impl Into<String>) -> Throw {
        Throw::new(ErrorKind::ValueError, message)
    }

    /// An `IndexError` with `message`.
    pub fn index_error(message: impl Into<String>) -> Throw {
        Throw::new(ErrorKind::IndexError, message)
    }

    /// `name takes 2 arguments, but 3 were given`: the one wording of an
    /// arity error, for script functions and natives alike. `expected` is
    /// a count or a phrase ("1 to 2", "at least 1").
    pub fn arity(name: &str, expected: &str, got: usize) -> Throw {
        let one = expected == "1" || expected == "at least 1";
        let plural = if one { "argument" } else { "arguments" };
        let verb = if got == 1 { "was" } else { "were" };
        Throw::new(ErrorKind::ArityError, format!("{name} takes {expected} {plural}, but {got} {verb} given"))
    }

    /// A broken invariant of the VM: `what` says which.
    #[cold]
    pub fn internal(what: impl std::fmt::Display) -> Throw {
        Throw::new(ErrorKind::Internal, internal_message(what))
    }
}

/// The message of an internal error: what broke, and what to do.
pub fn internal_message(what: impl std::fmt::Display) -> String {
    format!("{what} (a bug in Weft, not in the script: please report it with the script that caused it)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_names_round_trip() {
        for (kind, name) in NAMED.iter() {
            assert_eq!(ErrorKind::from(*name), *kind);
            assert_eq!(kind.name(), *name);
        }
        assert_eq!(ErrorKind::from("Flaky"), ErrorKind::Other("Flaky".into()));
        assert_eq!(ErrorKind::from("Flaky").name(), "Flaky");
    }
}
