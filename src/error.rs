//! [`Error`]: the one error type of the embedding API. Whatever stops a
//! run (a compile error, an uncaught runtime error, a hit limit, `exit`,
//! an interrupt) and whatever a host's own code raises becomes one, with
//! the kind scripts see, the message, the stack trace and spawn chain,
//! and the report the CLI prints as its `Display`.

use weft_vm::{Control, Failure, Throw};

/// An error from running Weft code, or one a host function raises.
///
/// It implements [`std::error::Error`], so `?` carries it into a host's
/// `Box<dyn Error>` or `anyhow` code; `Display` is the CLI's report.
///
/// ```
/// let mut vm = weft::Vm::new()?;
/// let error = vm.exec("let xs = [1, 2]\nprint(xs[5])").unwrap_err();
/// assert_eq!(error.kind(), "IndexError");
/// assert!(error.to_string().contains("<eval>:2:7"));
/// # Ok::<(), weft::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Error(Box<Details>);

/// What an [`Error`] holds, boxed so that results stay small.
#[derive(Clone, Debug)]
struct Details {
    kind: String,
    message: String,
    trace: Vec<String>,
    spawn_chain: Vec<String>,
    report: String,
    exit_status: Option<i32>,
}

impl Error {
    /// An error of `kind` (`"ValueError"`, or a kind of the host's own)
    /// with `message`: what a host function returns to raise a catchable
    /// error in the script that called it.
    ///
    /// ```
    /// let mut vm = weft::Vm::new()?;
    /// vm.register("check", |n: i64| {
    ///     if n < 0 { Err(weft::Error::new("ValueError", "check: negative")) } else { Ok(n) }
    /// });
    /// let kind: String = vm.eval("let kind = nil\ntry { check(-1) } catch e { kind = e.kind }\nkind")?;
    /// assert_eq!(kind, "ValueError");
    /// # Ok::<(), weft::Error>(())
    /// ```
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Error {
        let (kind, message) = (kind.into(), message.into());
        let report = format!("error: {kind}: {message}\n");
        Error(Box::new(Details {
            kind,
            message,
            trace: Vec::new(),
            spawn_chain: Vec::new(),
            report,
            exit_status: None,
        }))
    }

    /// The kind scripts see as `e.kind`: `"TypeError"`, `"Limit"`, ...;
    /// `"CompileError"` for code that did not compile, `"Exit"` for a
    /// script that called `exit`, `"Interrupted"` for a run stopped from
    /// outside.
    pub fn kind(&self) -> &str {
        &self.0.kind
    }

    /// The kind as an [`ErrorKind`](crate::ErrorKind), for a host that
    /// matches on it: a kind the runtime does not define (a script's own,
    /// `"CompileError"`, `"Exit"`, `"Interrupted"`) is `ErrorKind::Other`.
    ///
    /// ```
    /// use weft::ErrorKind;
    /// let mut vm = weft::Vm::builder().max_call_depth(50).build()?;
    /// let error = vm.exec("fn f() { return f() }\nf()").unwrap_err();
    /// assert_eq!(error.error_kind(), ErrorKind::StackOverflow);
    /// let error = vm.exec("throw error(\"Custom\", \"mine\")").unwrap_err();
    /// assert_eq!(error.error_kind(), ErrorKind::Other("Custom".into()));
    /// # Ok::<(), weft::Error>(())
    /// ```
    pub fn error_kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::from(self.kind())
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The stack trace, one `"function at file:line:col"` per frame,
    /// innermost first.
    ///
    /// ```
    /// let mut vm = weft::Vm::new()?;
    /// let code = "fn inner() { return 1 / 0 }\nfn outer() { return inner() }\nnursery { spawn { outer() } }";
    /// let error = vm.exec(code).unwrap_err();
    /// assert_eq!(error.kind(), "ZeroDivision");
    /// assert_eq!(error.message(), "division by zero");
    /// assert!(error.trace()[0].starts_with("inner at <eval>:1:21"));
    /// assert!(error.trace()[1].starts_with("outer at <eval>:2:21"));
    /// // The failing task was spawned on line 3.
    /// assert_eq!(error.spawn_chain().len(), 1);
    /// assert!(error.spawn_chain()[0].contains("<eval>:3:11"));
    /// # Ok::<(), weft::Error>(())
    /// ```
    pub fn trace(&self) -> &[String] {
        &self.0.trace
    }

    /// Where the failing task was spawned, then where its parent was, and
    /// so on (`"file:line:col"`); empty if the main task failed.
    pub fn spawn_chain(&self) -> &[String] {
        &self.0.spawn_chain
    }

    /// The full report, as the CLI prints it: the source line with the
    /// failing span underlined, the trace and the spawn chain.
    pub fn report(&self) -> &str {
        &self.0.report
    }

    /// The status a script passed to `exit`, if that is what ended it.
    ///
    /// ```
    /// let mut vm = weft::Vm::new()?;
    /// let error = vm.exec("exit(3)").unwrap_err();
    /// assert_eq!((error.kind(), error.exit_status()), ("Exit", Some(3)));
    /// # Ok::<(), weft::Error>(())
    /// ```
    pub fn exit_status(&self) -> Option<i32> {
        self.0.exit_status
    }

    /// A conversion that failed: a `TypeError` naming what was being
    /// converted, what was expected, and what was found.
    pub(crate) fn conversion(what: &str, expected: &str, found: &str) -> Error {
        Error::new("TypeError", format!("{what}: expected {expected}, not {found}"))
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.report.trim_end())
    }
}

impl std::error::Error for Error {}

impl From<Failure> for Error {
    fn from(failure: Failure) -> Error {
        match failure {
            Failure::Runtime(e) => Error(Box::new(Details {
                kind: e.kind,
                message: e.message,
                trace: e.trace,
                spawn_chain: e.spawn_chain,
                report: e.report,
                exit_status: None,
            })),
            Failure::Compile { diagnostics, report } => {
                let message = diagnostics.first().map_or_else(|| report.clone(), |d| d.message.clone());
                let mut error = Error::new("CompileError", message);
                error.0.report = report;
                error
            }
            Failure::Exit(status) => {
                let mut error = Error::new("Exit", format!("the script exited with status {status}"));
                error.0.exit_status = Some(status);
                error
            }
            Failure::Interrupted => Error::new("Interrupted", "the run was interrupted"),
        }
    }
}

impl From<Throw> for Error {
    fn from(throw: Throw) -> Error {
        match throw {
            Throw::Error { kind, message } => Error::new(kind.name(), message),
            Throw::Value(_) => Error::new("Error", "a thrown value"),
            Throw::Cancelled(_) => Error::new("Cancelled", "the task was cancelled"),
        }
    }
}

/// A host channel's error, as an error of the kind a script would see:
/// `ChannelClosed`, `Timeout`, `TypeError`, or `ChannelFull` /
/// `ChannelEmpty` for a `try_send` / `try_recv` that could not complete.
///
/// ```
/// let mut vm = weft::Vm::new()?;
/// let (ch, _script_end) = vm.channel::<i64>(1);
/// ch.close();
/// let error: weft::Error = ch.send(1).unwrap_err().into();
/// assert_eq!(error.kind(), "ChannelClosed");
/// # Ok::<(), weft::Error>(())
/// ```
impl From<weft_vm::ChannelError> for Error {
    fn from(e: weft_vm::ChannelError) -> Error {
        use weft_vm::ChannelError as E;
        let kind = match e {
            E::Closed => "ChannelClosed",
            E::Full => "ChannelFull",
            E::Empty => "ChannelEmpty",
            E::Timeout => "Timeout",
            E::WrongType { .. } => "TypeError",
        };
        Error::new(kind, e.to_string())
    }
}

/// A host function's `Err(weft::Error)` raises a catchable error of the
/// same kind and message at the call.
impl From<Error> for Control {
    fn from(e: Error) -> Control {
        let Details { kind, message, .. } = *e.0;
        Control::Raise(Throw::new(kind.as_str(), message))
    }
}
