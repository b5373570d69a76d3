//! [`Vm`]: the embedding API's VM. It wraps the runtime's VM (which it
//! dereferences to, for everything else: natives over the raw protocol,
//! host classes, handles) with the standard library installed, typed
//! `eval`, `call` and globals, and blocking host functions.

use crate::convert::{convert, Callee, FromWeft, IntoArgs};
use crate::{Builder, Error};
use std::path::Path;
use std::sync::Arc;
use weft_vm::{Ctx, FromValue, IntoNative, IntoValue, NativeResult, NativeReturn, Value};

/// A Weft VM with the standard library: code, heap, globals and
/// scheduler, kept across every `eval` and `call`, so a long-lived host
/// pays start-up once.
///
/// ```
/// let mut vm = weft::Vm::new()?;
/// vm.register("add", |a: i64, b: i64| a + b);
/// vm.exec("fn total(xs) { let t = 0\nfor x in xs { t = add(t, x) }\nreturn t }")?;
/// let total: i64 = vm.call("total", (vec![1, 2, 3],))?;
/// assert_eq!(total, 6);
/// # Ok::<(), weft::Error>(())
/// ```
pub struct Vm {
    core: weft_vm::Vm,
}

// A host may move a VM to a worker thread.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<Vm>();
};

impl std::ops::Deref for Vm {
    type Target = weft_vm::Vm;
    fn deref(&self) -> &weft_vm::Vm {
        &self.core
    }
}

impl std::ops::DerefMut for Vm {
    fn deref_mut(&mut self) -> &mut weft_vm::Vm {
        &mut self.core
    }
}

impl Vm {
    /// A VM with the standard library and every default: everything
    /// allowed, no limits but the heap's, real time, output to stdout.
    ///
    /// ```
    /// let mut vm = weft::Vm::new()?;
    /// assert_eq!(vm.eval::<i64>("1 + 2")?, 3);
    /// # Ok::<(), weft::Error>(())
    /// ```
    pub fn new() -> Result<Vm, Error> {
        Vm::builder().build()
    }

    /// Chooses capabilities, limits, seed and clock, pool and output
    /// first: see [`Builder`].
    pub fn builder() -> Builder {
        Builder::default()
    }

    pub(crate) fn from_core(core: weft_vm::Vm) -> Vm {
        Vm { core }
    }

    /// The runtime's VM, for what this type does not wrap.
    pub fn into_core(self) -> weft_vm::Vm {
        self.core
    }

    /// Runs `code` in the session (its top-level names stay defined for
    /// later code) and converts the value of its last expression
    /// statement (nil if it ends otherwise) to a `T`. A result of another
    /// type is a `TypeError`.
    ///
    /// ```
    /// let mut vm = weft::Vm::new()?;
    /// let xs: Vec<String> = vm.eval("\"a,b,c\".split(\",\")")?;
    /// assert_eq!(xs, ["a", "b", "c"]);
    /// let error = vm.eval::<i64>("\"not a number\"").unwrap_err();
    /// assert_eq!(error.message(), "eval: expected an int, not string");
    /// # Ok::<(), weft::Error>(())
    /// ```
    pub fn eval<T: FromWeft>(&mut self, code: &str) -> Result<T, Error> {
        let v = self.core.eval("<eval>", code)?;
        convert(&mut self.core, "eval", v)
    }

    /// Runs `code` in the session for its effects, as [`eval`](Vm::eval)
    /// does, dropping its value.
    ///
    /// ```
    /// let mut vm = weft::Vm::new()?;
    /// vm.exec("let greeting = \"hello\"")?;
    /// assert_eq!(vm.get_global::<String>("greeting")?, "hello");
    /// # Ok::<(), weft::Error>(())
    /// ```
    pub fn exec(&mut self, code: &str) -> Result<(), Error> {
        self.core.eval("<eval>", code)?;
        Ok(())
    }

    /// Runs the file at `path` in the session: its top-level names stay
    /// defined, so the host can then call its functions. Its imports are
    /// relative to its folder.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("weft-doc-{}.weft", std::process::id()));
    /// std::fs::write(&path, "fn double(x) { return 2 * x }")?;
    /// let mut vm = weft::Vm::new()?;
    /// vm.run_file(&path)?;
    /// assert_eq!(vm.call::<i64>("double", (21,))?, 42);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_file(&mut self, path: impl AsRef<Path>) -> Result<(), Error> {
        self.core.run_file(path)?;
        Ok(())
    }

    /// Calls a script function (or a native), named by its global or
    /// kept as a [`Function`](crate::Function), with a tuple of
    /// arguments, and converts its result. The call is the main task of
    /// a run: the function may sleep, receive, spawn tasks and wait for
    /// them, and the call returns once it and every task it started have
    /// finished.
    ///
    /// ```
    /// let mut vm = weft::Vm::builder().virtual_time(true).build()?;
    /// vm.exec(r#"
    /// fn fetch_all(names) {
    ///     let results = chan(names.len())
    ///     for name in names { spawn { sleep(1); results.send(name.upper()) } }
    ///     let got = []
    ///     for _ in names { got.push(results.recv()) }
    ///     return got.sort()
    /// }
    /// "#)?;
    /// let got: Vec<String> = vm.call("fetch_all", (vec!["a", "b"],))?;
    /// assert_eq!(got, ["A", "B"]);
    /// # Ok::<(), weft::Error>(())
    /// ```
    pub fn call<T: FromWeft>(&mut self, f: impl Callee, args: impl IntoArgs) -> Result<T, Error> {
        let callee = f.resolve(&self.core)?;
        let args = self.core.with_ctx(|cx| args.into_args(cx));
        let v = self.core.call_value(callee, args.as_ref())?;
        // The error's wording is made only for an error: a call that
        // succeeds builds no string.
        match T::from_weft(v, &mut self.core) {
            Some(t) => Ok(t),
            None => {
                let what = format!("call of {}", f.describe());
                Err(Error::conversion(&what, T::expected(), self.core.type_name(v)))
            }
        }
    }

    /// The global `name` (a top-level name of the session, or a builtin)
    /// as a `T`; a `ValueError` if there is none, a `TypeError` if it is
    /// of another type.
    ///
    /// ```
    /// let mut vm = weft::Vm::new()?;
    /// vm.exec("let config = [\"retries\": 3, \"verbose\": false]")?;
    /// let config: std::collections::HashMap<String, weft::Value> = vm.get_global("config")?;
    /// assert_eq!(config.len(), 2);
    /// # Ok::<(), weft::Error>(())
    /// ```
    pub fn get_global<T: FromWeft>(&mut self, name: &str) -> Result<T, Error> {
        let Some(v) = self.core.global(name) else {
            return Err(Error::new("ValueError", format!("there is no global named '{name}'")));
        };
        convert(&mut self.core, &format!("global {name}"), v)
    }

    /// Sets the session's global `name` to `value` (made from a Rust
    /// value), defining it if it is new: later code sees it as a
    /// top-level `let`.
    ///
    /// ```
    /// let mut vm = weft::Vm::new()?;
    /// vm.set_global("limits", std::collections::BTreeMap::from([("max".to_string(), 10)]))?;
    /// assert_eq!(vm.eval::<i64>("limits.max * 2")?, 20);
    /// # Ok::<(), weft::Error>(())
    /// ```
    pub fn set_global(&mut self, name: &str, value: impl IntoValue) -> Result<(), Error> {
        let v = self.core.with_ctx(|cx| value.into_value(cx));
        Ok(self.core.set_global(name, v)?)
    }

    /// Registers a host function that blocks (a database query, a file
    /// read, a call to a service): it runs on the VM's worker pool while
    /// the calling task is parked, so the script's other tasks run on;
    /// cancelling the task ends its wait at once (the late result is
    /// dropped). Its arguments are typed as for
    /// [`register`](weft_vm::Vm::register) (checked and converted before
    /// it is sent to the pool); it returns a value, or a `Result` whose
    /// error (a [`weft::Error`](crate::Error), a `String`, an
    /// `std::io::Error`) becomes a catchable error.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let mut vm = weft::Vm::new()?;
    /// vm.register_blocking("lookup", |key: String| {
    ///     std::thread::sleep(Duration::from_millis(100));
    ///     format!("value of {key}")
    /// });
    /// let start = Instant::now();
    /// let got: Vec<String> = vm.eval("let a = spawn lookup(\"a\")\nlet b = spawn lookup(\"b\")\n[a.join(), b.join()]")?;
    /// assert_eq!(got, ["value of a", "value of b"]);
    /// assert!(start.elapsed() < Duration::from_millis(190), "the two lookups overlapped");
    /// # Ok::<(), weft::Error>(())
    /// ```
    pub fn register_blocking<M>(&mut self, name: &str, f: impl IntoBlocking<M>) {
        self.core.register(name, f.into_blocking());
    }
}

/// A Rust function or closure of typed parameters that
/// [`Vm::register_blocking`] runs on the worker pool. `Marker` tells the
/// argument counts apart.
pub trait IntoBlocking<Marker>: Send + Sync + 'static {
    /// The native that parks its task and runs the function on the pool.
    fn into_blocking(self) -> impl IntoNative<weft_vm::Raw>;
}

/// The marker of a blocking host function of these parameter types.
pub struct Blocking<Args>(std::marker::PhantomData<Args>);

macro_rules! blocking_natives {
    ($($arg:ident $i:tt),*) => {
        impl<F, R, $($arg),*> IntoBlocking<Blocking<($($arg,)*)>> for F
        where
            F: Fn($($arg),*) -> R + Send + Sync + 'static,
            R: NativeReturn + Send + 'static,
            $($arg: FromValue + Send + 'static,)*
        {
            fn into_blocking(self) -> impl IntoNative<weft_vm::Raw> {
                let f = Arc::new(self);
                move |cx: &mut Ctx, args: &[Value]| -> NativeResult {
                    let count: usize = 0 $(+ ($i - $i + 1))*;
                    cx.arity(args, count, count)?;
                    $(#[allow(non_snake_case)] let $arg = cx.arg::<$arg>(args, $i)?;)*
                    let f = f.clone();
                    let what = cx.name().to_string();
                    cx.blocking(&what, Vec::new(), move || {
                        let result = f($($arg),*);
                        Box::new(move |cx: &mut Ctx, _: &mut Vec<Value>| result.into_result(cx))
                    })
                }
            }
        }
    };
}

blocking_natives!();
blocking_natives!(A 0);
blocking_natives!(A 0, B 1);
blocking_natives!(A 0, B 1, C 2);
blocking_natives!(A 0, B 1, C 2, D 3);
