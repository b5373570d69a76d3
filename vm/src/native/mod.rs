//! The native protocol: what a Rust function registered with
//! [`Vm::register`](crate::Vm::register) sees of the runtime, and how it
//! ends.
//!
//! A native gets a [`Ctx`] and its arguments (typed through
//! [`FromValue`], or as the raw slice) and ends in one of four ways, its
//! [`NativeResult`]:
//! - it returns a value;
//! - it raises an error (`Err(Control::Raise(..))`, or `?` on a [`Throw`]);
//! - it parks the running task on a wait ([`Ctx::park`]), and the task
//!   resumes with what its waker delivers;
//! - it calls a Weft function and is resumed with its result
//!   ([`Ctx::call`]): a continuation, so the function may block, and no
//!   Rust frame of the native is live while it runs.
//!
//! Values a native receives are valid until it returns: the collector
//! runs only between instructions. A value kept longer must be rooted: in
//! the `keep` list of a continuation, or in a [`Handle`](crate::Handle).
//! Everything here is the stdlib's only door into the runtime, as it is a
//! host's.

mod convert;
mod local;

pub(crate) use local::into_local;

pub use convert::{
    Callable, ChanRef, ErrorRef, FromValue, IntoNative, IntoValue, ListRef, MapRef, NativeBody, NativeReturn,
    NurseryRef, Plain, Raw, StrRef, TaskRef, WithCtx,
};

use crate::handle::Handle;
use crate::heap::{MapTable, Outcome};
use crate::sched::reactor::{Direction, IoId, IoSource};
use crate::trace::TraceEntry;
use crate::{channel, conc, fmt, sched, Code, Heap, Ref, Runtime, Throw, Value};
use std::io::Write;
use std::sync::Arc;

/// How a native ends when it does not return a value.
pub enum Control {
    /// An error, raised at the call.
    Raise(Throw),
    /// The running task has registered a wait and parks. Only
    /// [`Ctx::park`] and [`Ctx::park_remote`] make one, after registering
    /// the wait: a task parked on nothing would never wake.
    Park(Parked),
    /// The script exits the process with this status.
    Exit(i32),
    /// Call a Weft function, then resume the native (see [`Ctx::call`]).
    Call(Box<Call>),
}

/// The proof that a wait was registered, carried by [`Control::Park`].
///
/// ```compile_fail
/// // Outside the VM, no one can park a task on nothing.
/// let _ = weft_vm::Control::Park(weft_vm::Parked(None));
/// ```
pub struct Parked(pub(crate) Option<Box<Resumption>>);

/// How a native that parked resumes: with its kept values, by `then`
/// (given what the wake delivered) or by the finisher the wake brought.
pub(crate) struct Resumption {
    pub(crate) keep: Vec<Value>,
    pub(crate) then: Then,
    pub(crate) native: u32,
    pub(crate) abort: Option<Abort>,
}

/// What a parked native does if its wait is abandoned (the task was
/// cancelled, or timed out): it gets its kept values, to undo what the
/// wait was for.
pub type Abort = fn(&mut Ctx, &mut Vec<Value>);

/// What a blocking job hands back to the scheduler's thread: run there,
/// on the waiting native's [`Ctx`] and kept values, to turn the job's
/// result into the native's result (or an error, or another wait).
pub type Finisher = Box<dyn FnOnce(&mut Ctx, &mut Vec<Value>) -> NativeResult + Send>;

/// What natives return.
pub type NativeResult = Result<Value, Control>;

/// A native's next step once the function it called returns: it gets the
/// result and the values it kept, and ends as any native does (it may
/// call again).
pub type Then = fn(&mut Ctx, Value, &mut Vec<Value>) -> NativeResult;

/// A pool wait is only ever woken with its finisher.
fn finished_without_finisher(_: &mut Ctx, _: Value, _: &mut Vec<Value>) -> NativeResult {
    Err(Throw::internal("a blocking job's wait was woken without its result").into())
}

/// A pending call from a native to a Weft function.
pub struct Call {
    pub(crate) callee: Value,
    pub(crate) args: Vec<Value>,
    pub(crate) keep: Vec<Value>,
    pub(crate) then: Then,
    /// The native calling, for its name in errors when it resumes.
    pub(crate) native: u32,
}

/// A registered native: its name, for reports and errors, and its body.
pub struct NativeDef {
    pub(crate) name: Arc<str>,
    /// A method's first argument is its receiver, which errors do not count.
    pub(crate) method: bool,
    pub(crate) body: Box<NativeBody>,
}

impl NativeDef {
    /// The name it was registered under.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A script function whose calls a native may answer without making
/// them, found by [`Ctx::leaf`] and run by [`Ctx::call_leaf`].
#[derive(Clone, Copy, Debug)]
pub struct LeafFn {
    leaf: crate::code::Leaf,
    proto: u32,
}

impl LeafFn {
    /// The most arguments a leaf is run on.
    const MAX_ARGS: usize = 3;
}

/// A script function of a few straight-line steps whose calls a native
/// may answer without making them, found by [`Ctx::straight`] and run by
/// [`Ctx::call_straight`].
#[derive(Clone, Copy, Debug)]
pub struct StraightFn {
    proto: u32,
}

/// What a native sees: the runtime, the loaded code, and where it was
/// called from. Made by the VM for each call.
pub struct Ctx<'a> {
    pub(crate) rt: &'a mut Runtime,
    pub(crate) code: &'a Code,
    /// The calling frame's function and pc, for [`Ctx::site`].
    pub(crate) site: Option<(u32, u32)>,
    /// The native running, by index.
    pub(crate) native: u32,
}

impl Ctx<'_> {
    /// The name the running native was registered under.
    pub fn name(&self) -> &str {
        self.code.natives.get(self.native as usize).map_or("<native>", |d| &d.name)
    }

    fn is_method(&self) -> bool {
        self.code.natives.get(self.native as usize).is_some_and(|d| d.method)
    }

    /// `name: argument 1 must be a list, not nil`: the one form of a wrong
    /// argument, for argument `i` (0-based, counting a method's receiver).
    pub fn wrong_type(&self, i: usize, expected: &str, got: Value) -> Throw {
        let shown = if self.is_method() { i } else { i + 1 };
        let got = self.code.type_name(&self.rt.heap, got);
        Throw::type_error(format!("{}: argument {shown} must be {expected}, not {got}", self.name()))
    }

    /// The error for `got` arguments where `min..=max` are taken (a
    /// method's receiver counted in all three).
    pub fn arity_error(&self, min: usize, max: usize, got: usize) -> Throw {
        let skip = self.is_method() as usize;
        let (min, got) = (min.saturating_sub(skip), got.saturating_sub(skip));
        let expected = match max {
            usize::MAX => format!("at least {min}"),
            _ if min == max.saturating_sub(skip) => min.to_string(),
            _ => format!("{min} to {}", max.saturating_sub(skip)),
        };
        Throw::arity(self.name(), &expected, got)
    }

    /// Fails unless there are `min..=max` arguments (`usize::MAX`: no
    /// upper bound): for natives over the raw argument slice.
    #[inline(always)]
    pub fn arity(&self, args: &[Value], min: usize, max: usize) -> Result<(), Throw> {
        if (min..=max).contains(&args.len()) {
            Ok(())
        } else {
            Err(self.arity_error(min, max, args.len()))
        }
    }

    /// Argument `i` as a `T`, or the error that says why it is not one.
    #[inline(always)]
    pub fn arg<T: FromValue>(&self, args: &[Value], i: usize) -> Result<T, Throw> {
        let converted = match args.get(i) {
            Some(&v) => T::from_value(v, &self.rt.heap),
            None => T::missing(),
        };
        converted.ok_or_else(|| self.wrong_type(i, T::EXPECTED, args.get(i).copied().unwrap_or_default()))
    }

    // Reading values.

    /// The heap, to read objects.
    pub fn heap(&self) -> &Heap {
        &self.rt.heap
    }

    /// A string's text.
    pub fn str(&self, s: StrRef) -> &str {
        self.rt.heap.str(s.0)
    }

    /// A string with its character count and ASCII flag.
    pub fn str_obj(&self, s: StrRef) -> crate::heap::StrView<'_> {
        self.rt.heap.str_obj(s.0)
    }

    /// A list's items.
    pub fn list(&self, l: ListRef) -> &[Value] {
        self.rt.heap.list(l.0)
    }

    /// A map's entries, in insertion order.
    pub fn map(&self, m: MapRef) -> &MapTable {
        self.rt.heap.map(m.0)
    }

    /// A channel.
    pub fn chan(&self, c: ChanRef) -> &channel::Channel {
        self.rt.heap.chan(c.0)
    }

    /// What `str(v)` gives; an `OutOfMemory` error when the text would
    /// not fit in the heap.
    pub fn display(&self, v: Value) -> Result<String, Throw> {
        let room = self.rt.heap.room();
        fmt::display_within(&self.rt.heap, self.code, v, room).ok_or_else(|| too_long_text(v, room))
    }

    /// The literal form of `v` (strings quoted), as `{:?}` shows it; an
    /// `OutOfMemory` error when it would not fit in the heap.
    pub fn repr(&self, v: Value) -> Result<String, Throw> {
        let room = self.rt.heap.room();
        fmt::repr_within(&self.rt.heap, self.code, v, room).ok_or_else(|| too_long_text(v, room))
    }

    /// The literal form of `v`, cut short to fit in an error message.
    pub fn repr_short(&self, v: Value) -> String {
        fmt::repr_short(&self.rt.heap, self.code, v)
    }

    /// `a op b` as the language's operator computes it, for every binary
    /// operator: arithmetic, comparisons, `==`, `!=` and `in`.
    ///
    /// ```
    /// use weft_lang::ast::BinOp;
    /// use weft_vm::Value;
    /// let mut vm = weft_vm::Vm::new();
    /// vm.register("apply", |cx: &mut weft_vm::Ctx, a: Value, b: Value| {
    ///     let sum = cx.arith(BinOp::Add, a, b)?;
    ///     let less = cx.arith(BinOp::Lt, a, b)?;
    ///     Ok::<_, weft_vm::Throw>(cx.new_list(vec![sum, less]))
    /// });
    /// let pair = vm.eval("<doc>", "apply(1, 2.5)").unwrap();
    /// assert_eq!(vm.repr(pair), "[3.5, true]");
    /// ```
    pub fn arith(&mut self, op: weft_lang::ast::BinOp, a: Value, b: Value) -> Result<Value, Throw> {
        use weft_lang::ast::BinOp;
        let heap = &mut self.rt.heap;
        Ok(match op {
            BinOp::Eq => Value::Bool(fmt::equal(heap, a, b)),
            BinOp::Ne => Value::Bool(!fmt::equal(heap, a, b)),
            BinOp::Lt => Value::Bool(crate::ops::less(heap, a, b, false)?),
            BinOp::Le => Value::Bool(crate::ops::less(heap, a, b, true)?),
            BinOp::Gt => Value::Bool(crate::ops::less(heap, b, a, false)?),
            BinOp::Ge => Value::Bool(crate::ops::less(heap, b, a, true)?),
            BinOp::In => Value::Bool(crate::ops::contains(heap, a, b)?),
            _ => crate::ops::arith(heap, op, a, b)?,
        })
    }

    // Making and changing values.

    /// A new (interned) string value.
    pub fn string(&mut self, s: &str) -> Value {
        Value::Str(self.rt.heap.intern(s))
    }

    /// An interned string.
    pub fn intern(&mut self, s: &str) -> StrRef {
        StrRef(self.rt.heap.intern(s))
    }

    /// A value as a map key to store (see [`Heap::key`]): a string is
    /// keyed by its interned equal, made if needed. `None` for a value
    /// that cannot be a key. To look a key up, `cx.heap().find_key(v)`.
    pub fn key(&mut self, v: Value) -> Option<crate::Key> {
        self.rt.heap.key(v)
    }

    /// A new list value.
    pub fn new_list(&mut self, items: Vec<Value>) -> Value {
        Value::List(self.rt.heap.new_list(items))
    }

    /// A new map value.
    pub fn new_map(&mut self, entries: MapTable) -> Value {
        Value::Map(self.rt.heap.new_map(entries))
    }

    /// A new error value of `kind` with `message` (a string, or any value
    /// to show).
    pub fn new_error(&mut self, kind: StrRef, message: Value) -> Value {
        Value::Error(self.rt.heap.new_error_value(Value::Str(kind.0), message))
    }

    /// A list to change; what it grows by counts against the heap limit
    /// once the guard is dropped.
    pub fn list_mut(&mut self, l: ListRef) -> ListMut<'_> {
        // A list held in its slot moves to a buffer of its own first.
        let before = self.rt.heap.list_mut(l.0).capacity();
        ListMut { heap: &mut self.rt.heap, list: l.0, before }
    }

    /// A map to change; what it grows by counts against the heap limit
    /// once the guard is dropped.
    pub fn map_mut(&mut self, m: MapRef) -> MapMut<'_> {
        let before = self.rt.heap.map(m.0).capacity();
        MapMut { heap: &mut self.rt.heap, map: m.0, before }
    }

    /// Fails with `OutOfMemory` if `bytes` more would take the heap past
    /// its limit: call it before building something large.
    pub fn check_room(&self, bytes: usize, what: &str) -> Result<(), Throw> {
        self.rt.heap.check_room(bytes, what)
    }

    // Where and when.

    /// Where the native was called from, for reports.
    pub fn site(&self) -> Option<TraceEntry> {
        let (proto, pc) = self.site?;
        self.code.site_entry(crate::code::Site { proto, pc })
    }

    /// Seconds on the scheduler's clock (real or virtual) since the run
    /// started.
    pub fn now(&self) -> f64 {
        self.rt.sched.clock.now()
    }

    /// The next number of the runtime's generator (seeded by `--seed`).
    pub fn random_u64(&mut self) -> u64 {
        self.rt.rng.next_u64()
    }

    /// The script's arguments.
    pub fn script_args(&self) -> &[String] {
        &self.rt.args
    }

    /// Writes to the script's output (where `print` goes).
    pub fn write_output(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.rt.out.write_all(bytes)
    }

    /// Writes out what the script's output has buffered (before a prompt).
    pub fn flush_output(&mut self) -> std::io::Result<()> {
        self.rt.out.flush()
    }

    /// Writes to the script's error output (where `eprint` goes).
    pub fn write_error_output(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.rt.err_out.write_all(bytes)
    }

    /// Counts of the scheduler's and the heap's records, to watch for
    /// growth.
    pub fn stats(&self) -> crate::Stats {
        crate::Stats {
            sched: self.rt.sched.stats(),
            heap_bytes: self.rt.heap.in_use(),
            spare_bytes: self.rt.heap.pooled().0,
            concat_work: self.rt.heap.concat_work(),
        }
    }

    /// Roots `v` until the handle is dropped: how a native keeps a value
    /// beyond its call (in its captured state, say). See [`Handle`].
    pub fn root(&mut self, v: Value) -> Handle {
        self.rt.roots.root(v)
    }

    /// The value a handle holds; an error for a handle of another VM.
    pub fn value(&self, h: &Handle) -> Result<Value, Throw> {
        self.rt.roots.get(h).ok_or_else(foreign_handle)
    }

    // Waiting.

    /// Raises `Cancelled` if the running task's scope is cancelled: every
    /// operation that may block calls this first.
    pub fn checkpoint(&self) -> Result<(), Throw> {
        match self.rt.sched.cancelled(self.rt.sched.current) {
            Some(scope) => Err(Throw::Cancelled(Some(scope))),
            None => Ok(()),
        }
    }

    /// Parks the running task until `event` happens: the one way a native
    /// waits. Return what this gives from the native; the task resumes
    /// with what its waker delivers (the received value, nil, or an error
    /// such as `Cancelled`).
    pub fn park(&mut self, event: sched::Event) -> NativeResult {
        self.rt.sched.register(&mut self.rt.heap, event, sched::Via::Call);
        self.rt.sched.park(false);
        Err(Control::Park(Parked(None)))
    }

    /// Parks the running task until another thread wakes it through the
    /// returned waker (the native's result is then the waker's message),
    /// or until it is cancelled, whichever claims the wait first. Return
    /// the second half from the native.
    pub fn park_remote(&mut self) -> (sched::driver::RemoteWaker, NativeResult) {
        let waker = self.rt.sched.remote_waker(sched::Via::Call);
        self.rt.sched.park(false);
        (waker, Err(Control::Park(Parked(None))))
    }

    /// Registers an OS source (a socket, a pipe, a pidfd) with the
    /// runtime's reactor, for `interest`; `what` names it in reports. The
    /// returned [`IoSource`] goes with the source: keep them together, in
    /// the object that owns the source.
    pub fn register_io(
        &mut self,
        source: &mut dyn mio::event::Source,
        interest: mio::Interest,
        what: &str,
    ) -> Result<IoSource, Throw> {
        let (reactor, registry) = self.reactor()?;
        reactor
            .register(registry, source, interest, what, None)
            .map_err(|e| Throw::new("IOError", format!("cannot watch {what}: {e}")))
    }

    /// Registers an OS source as [`register_io`](Ctx::register_io) does,
    /// and watches it: `on_ready` runs on every readiness event of the
    /// source, whether or not a task waits on it, before any waiting task
    /// is woken, on this runtime's thread when it next looks at its events
    /// (at once if it is idle, whichever runtime sharing its driver
    /// polled). A child's pidfd is watched so that the child is reaped the
    /// moment it exits. `wait`
    /// words a wait on the source whole, as reports show it
    /// (`exec of "sleep"`).
    pub fn watch_io(
        &mut self,
        source: &mut dyn mio::event::Source,
        interest: mio::Interest,
        wait: &str,
        on_ready: impl FnMut() + Send + 'static,
    ) -> Result<IoSource, Throw> {
        let (reactor, registry) = self.reactor()?;
        reactor
            .register(registry, source, interest, wait, Some(Box::new(on_ready)))
            .map_err(|e| Throw::new("IOError", format!("cannot watch {wait}: {e}")))
    }

    /// Parks the running task until `source` may be ready for
    /// `direction`, then resumes the native as `then(cx, nil, keep)`: the
    /// operation that would have blocked tries again. Return what this
    /// gives from the native. Cancellation and timeouts end the wait, and
    /// `then` never runs.
    pub fn wait_io(&mut self, source: IoId, direction: Direction, keep: Vec<Value>, then: Then) -> NativeResult {
        self.wait_io_or_abort(source, direction, keep, then, None)
    }

    /// [`wait_io`](Ctx::wait_io), running `abort` on the kept values if
    /// the wait is abandoned instead (cancelled, or timed out).
    pub fn wait_io_or_abort(
        &mut self,
        source: IoId,
        direction: Direction,
        keep: Vec<Value>,
        then: Then,
        abort: Option<Abort>,
    ) -> NativeResult {
        self.rt.sched.attach();
        let (task, token) = (self.rt.sched.current, self.rt.sched.token());
        self.reactor()?.0.wait(source, direction, sched::reactor::IoWaiter { task, token });
        let reg = sched::Reg::Io(source.slot() as u32, direction);
        self.rt.sched.meta_mut(task).regs.push(reg);
        self.rt.sched.park(false);
        Err(self.resumption(keep, then, abort))
    }

    /// Runs `work` on the blocking-work pool while the running task
    /// parks; when it is done, the finisher it returns runs here, on this
    /// native's `Ctx` and `keep`, and its result is the native's. `what`
    /// names the work in reports (`read_file of "a.txt"`). Cancelling
    /// the task ends the wait at once: the job runs on, and its finisher
    /// is dropped.
    ///
    /// ```
    /// use weft_vm::{Ctx, NativeResult, Value, Vm};
    ///
    /// fn slow_double(cx: &mut Ctx, n: i64) -> NativeResult {
    ///     cx.blocking("slow_double", vec![], move || {
    ///         std::thread::sleep(std::time::Duration::from_millis(10));
    ///         Box::new(move |_, _| Ok(Value::Int(2 * n)))
    ///     })
    /// }
    ///
    /// let mut vm = Vm::new();
    /// vm.register("slow_double", slow_double);
    /// let seen = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    /// let report = seen.clone();
    /// vm.register("report", move |n: i64| report.store(n, std::sync::atomic::Ordering::Relaxed));
    /// vm.run_script("t.weft", "report(slow_double(21))", ".".as_ref()).unwrap();
    /// assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 42);
    /// ```
    pub fn blocking(
        &mut self,
        what: &str,
        keep: Vec<Value>,
        work: impl FnOnce() -> Finisher + Send + 'static,
    ) -> NativeResult {
        self.submit(None, what, keep, Box::new(work))
    }

    /// [`blocking`](Ctx::blocking) on a pool of the native's own, such
    /// as a one-thread pool that serializes reads of stdin.
    pub fn blocking_on(
        &mut self,
        pool: &crate::Pool,
        what: &str,
        keep: Vec<Value>,
        work: impl FnOnce() -> Finisher + Send + 'static,
    ) -> NativeResult {
        self.submit(Some(pool), what, keep, Box::new(work))
    }

    fn submit(
        &mut self,
        pool: Option<&crate::Pool>,
        what: &str,
        keep: Vec<Value>,
        work: Box<dyn FnOnce() -> Finisher + Send>,
    ) -> NativeResult {
        let Some(key) = self.rt.sched.submit_job(pool, what, work) else {
            return Err(Throw::new("IOError", format!("{}: cannot start a worker thread", self.name())).into());
        };
        let task = self.rt.sched.current;
        self.rt.sched.meta_mut(task).regs.push(sched::Reg::Job(key));
        self.rt.sched.park(false);
        Err(self.resumption(keep, finished_without_finisher, None))
    }

    fn reactor(&mut self) -> Result<(&mut sched::reactor::Reactor, &mio::Registry), Throw> {
        self.rt.sched.port.reactor().map_err(|e| Throw::new("IOError", e.to_string()))
    }

    fn resumption(&self, keep: Vec<Value>, then: Then, abort: Option<Abort>) -> Control {
        Control::Park(Parked(Some(Box::new(Resumption { keep, then, native: self.native, abort }))))
    }

    /// Calls `f(args)` and, when it returns, resumes the native as
    /// `then(cx, result, keep)`: return what this gives from the native.
    /// `f` may block or call natives that park; the values in `keep` are
    /// rooted until `then` runs. An error in `f` propagates through the
    /// native to its caller.
    ///
    /// ```
    /// use weft_vm::{Callable, Ctx, NativeResult, Value, Vm};
    ///
    /// /// `twice(f, x)` is `f(f(x))`.
    /// fn twice(cx: &mut Ctx, f: Callable, x: Value) -> NativeResult {
    ///     cx.call(f, &[x], vec![f.value()], |cx, once, keep| {
    ///         let f = keep[0];
    ///         cx.call(f, &[once], vec![], |_, twice, _| Ok(twice))
    ///     })
    /// }
    ///
    /// let mut vm = Vm::new();
    /// vm.register("twice", twice);
    /// // A native closure with state of its own: what the script reports.
    /// let seen = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    /// let report = seen.clone();
    /// vm.register("report", move |n: i64| report.store(n, std::sync::atomic::Ordering::Relaxed));
    /// vm.run_script("t.weft", "report(twice(fn(x) { return x * 3 }, 2))", ".".as_ref()).unwrap();
    /// assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 18);
    /// ```
    pub fn call(&mut self, f: impl Into<Value>, args: &[Value], keep: Vec<Value>, then: Then) -> NativeResult {
        let (callee, native) = (f.into(), self.native);
        // The box of the last call that ran, reused: a native looping over
        // callbacks allocates nothing per call.
        let call = match self.rt.spare_call.take() {
            Some(mut call) => {
                call.callee = callee;
                call.args.clear();
                // Item by item: one or two values, where a copy of
                // unknown length would call `memcpy`.
                for &arg in args {
                    call.args.push(arg);
                }
                call.keep = keep;
                call.then = then;
                call.native = native;
                call
            }
            None => Box::new(Call { callee, args: args.to_vec(), keep, then, native }),
        };
        Err(Control::Call(call))
    }

    /// `f` as a [`LeafFn`] of `argc` arguments, when it is one: a script
    /// function whose whole body computes its result from its parameters
    /// in one step (`fn(a, b) => a < b`, `fn(a, b) => a.key < b.key`,
    /// `fn(x) => x * 2`). `None` for any other value, which only
    /// [`Ctx::call`] runs.
    pub fn leaf(&self, f: Value, argc: usize) -> Option<LeafFn> {
        let (proto, callee) = self.answerable(f, argc)?;
        let leaf = callee.leaf?;
        (argc <= LeafFn::MAX_ARGS).then_some(LeafFn { leaf, proto })
    }

    /// The function of `f`, a closure of `argc` parameters, and its index,
    /// for a native that would answer its calls itself; `None` on the slow
    /// path alone (the oracle of `tests/slow_path.rs`), where every call
    /// is made.
    fn answerable(&self, f: Value, argc: usize) -> Option<(u32, &crate::FnProto)> {
        let Value::Func(r) = f else { return None };
        if self.rt.slow_only {
            return None;
        }
        let proto = self.rt.heap.closure(r).proto;
        let callee = self.code.protos.get(proto as usize)?;
        (callee.arity as usize == argc).then_some((proto, callee))
    }

    /// `f(args)` answered here, without a call, when the leaf's step
    /// cannot fail on `args` (a comparison of two values `<` orders, a
    /// sum of two ints, a field the map has, ...): the value the call
    /// would return, with nothing else done (no frame, no budget spent).
    /// `None` when the step needs more (a field to look up by hash, an
    /// error to raise): then make the call with [`Ctx::call`], which
    /// gives the answer.
    ///
    /// A native that calls a function for each of many items (a sort,
    /// its comparator) runs a leaf so for a fraction of what a round trip
    /// through [`Ctx::call`] costs for each.
    ///
    /// ```
    /// use weft_vm::{Ctx, NativeResult, Value, Vm};
    ///
    /// /// `before(f, a, b)` is `f(a, b)`, answered here when it can be.
    /// fn before(cx: &mut Ctx, f: Value, a: Value, b: Value) -> NativeResult {
    ///     if let Some(answer) = cx.leaf(f, 2).and_then(|leaf| cx.call_leaf(leaf, &[a, b])) {
    ///         return Ok(answer);
    ///     }
    ///     cx.call(f, &[a, b], vec![], |_, answer, _| Ok(answer))
    /// }
    ///
    /// let mut vm = Vm::new();
    /// vm.register("before", before);
    /// let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    /// let report = seen.clone();
    /// vm.register("report", move |yes: bool| report.lock().unwrap().push(yes));
    /// // Numbers and strings compare here; a function of two steps is
    /// // called.
    /// let script = r#"
    /// report(before(fn(a, b) => a < b, 1, 2))
    /// report(before(fn(a, b) => a < b, "b", "a"))
    /// report(before(fn(a, b) => a + b == [1, 2], [1], [2]))
    /// "#;
    /// vm.run_script("t.weft", script, ".".as_ref()).unwrap();
    /// assert_eq!(*seen.lock().unwrap(), [true, false, true]);
    /// ```
    #[inline]
    pub fn call_leaf(&self, f: LeafFn, args: &[Value]) -> Option<Value> {
        let callee = self.code.protos.get(f.proto as usize)?;
        if callee.arity as usize != args.len() {
            return None;
        }
        crate::interp::leaf_value(&self.rt.heap, f.leaf, callee, args)
    }

    /// `f` as a [`StraightFn`] of `argc` arguments, when it is one: a
    /// script function that computes its result from its parameters with
    /// a few field reads, comparisons, constants, int and float arithmetic
    /// and forward jumps, without calling, looping, allocating or changing
    /// anything (at most 48 instructions and 16 registers). A sort's
    /// comparator with a tie-break is one:
    /// `fn(a, b) { if a.group != b.group { return a.group < b.group }
    /// return a.id < b.id }`. `None` for any other value, which only
    /// [`Ctx::call`] runs. Try [`Ctx::leaf`] first: a one-step function
    /// runs faster as a leaf.
    pub fn straight(&self, f: Value, argc: usize) -> Option<StraightFn> {
        let (proto, callee) = self.answerable(f, argc)?;
        crate::exec::straight::is_straight(callee).then_some(StraightFn { proto })
    }

    /// `f(args)` answered here, without a call, when none of the steps
    /// it takes on `args` would raise or take a slow case (a field the map
    /// lacks, a `<` of values it does not order, an int that overflows):
    /// the value the call would return, with nothing else done (no frame,
    /// no budget spent; at most, where a field name was last found is
    /// remembered, as a read through the call would). `None` otherwise:
    /// then make the call with [`Ctx::call`], which gives the answer or
    /// the error.
    ///
    /// ```
    /// use weft_vm::{Ctx, NativeResult, Value, Vm};
    ///
    /// /// Whether `f(a, b)` is answered without a call, and the answer.
    /// fn answer(cx: &mut Ctx, f: Value, a: Value, b: Value) -> NativeResult {
    ///     Ok(cx.straight(f, 2).and_then(|f| cx.call_straight(f, &[a, b])).unwrap_or(Value::Nil))
    /// }
    ///
    /// let mut vm = Vm::new();
    /// vm.register("answer", answer);
    /// let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    /// let report = seen.clone();
    /// vm.register("report", move |v: Value| report.lock().unwrap().push(format!("{v:?}")));
    /// // A tie-break is answered, both ways; a missing field, lists' `+`
    /// // and a function that makes a list are left to the call.
    /// let script = r#"
    /// fn by_two(a, b) {
    ///     if a.k != b.k { return a.k < b.k }
    ///     return a.id < b.id
    /// }
    /// fn listing(a, b) {
    ///     let both = [a, b]
    ///     return a < b
    /// }
    /// let x = ["k": 1, "id": 7]
    /// let y = ["k": 1, "id": 3]
    /// report(answer(by_two, x, y))
    /// report(answer(by_two, y, x))
    /// report(answer(by_two, x, ["id": 1]))
    /// report(answer(fn(a, b) => a + b == [1, 2], [1], [2]))
    /// report(answer(listing, 1, 2))
    /// "#;
    /// vm.run_script("t.weft", script, ".".as_ref()).unwrap();
    /// assert_eq!(*seen.lock().unwrap(), ["Bool(false)", "Bool(true)", "Nil", "Nil", "Nil"]);
    /// ```
    #[inline]
    pub fn call_straight(&self, f: StraightFn, args: &[Value]) -> Option<Value> {
        let callee = self.code.protos.get(f.proto as usize)?;
        if callee.arity as usize != args.len() {
            return None;
        }
        crate::exec::straight::run(&self.rt.heap, callee, args)
    }

    // Channels, tasks and nurseries.

    /// What the script may touch outside the VM: check before acting.
    pub fn capabilities(&self) -> &crate::Capabilities {
        &self.rt.caps
    }

    // Host objects.

    /// The name `type(v)` returns: a host object's class, or the type.
    pub fn type_name(&self, v: Value) -> &str {
        self.code.type_name(&self.rt.heap, v)
    }

    /// Makes a host object of `data`, whose class must be registered
    /// ([`Vm::register_class`](crate::Vm::register_class)).
    pub fn new_object<T: crate::Object>(&mut self, data: T) -> Result<Value, Throw> {
        self.rt.heap.check_room(64 + data.bytes(), "an object")?;
        crate::object::new_object(self.code, &mut self.rt.heap, data).ok_or_else(|| {
            let name = std::any::type_name::<T>();
            Throw::internal(format!("{}: {name} is not a registered class", self.name()))
        })
    }

    /// Argument `i`, `v`, as the host object of Rust type `T` it must be.
    pub fn object<T: crate::Object>(&self, i: usize, v: Value) -> Result<&T, Throw> {
        if let Value::Object(r) = v {
            if let Some(data) = self.rt.heap.object(r).downcast_ref::<T>() {
                return Ok(data);
            }
        }
        Err(self.wrong_class::<T>(i, v))
    }

    /// [`object`](Ctx::object), to change.
    pub fn object_mut<T: crate::Object>(&mut self, i: usize, v: Value) -> Result<&mut T, Throw> {
        if let Value::Object(r) = v {
            if self.rt.heap.object(r).downcast_ref::<T>().is_some() {
                return Ok(self.rt.heap.object_mut(r).downcast_mut::<T>().expect("checked just above"));
            }
        }
        Err(self.wrong_class::<T>(i, v))
    }

    #[cold]
    fn wrong_class<T: 'static>(&self, i: usize, v: Value) -> Throw {
        let expected = match self.code.class_of::<T>() {
            Some(c) => self.code.classes[c as usize].name.to_string(),
            None => std::any::type_name::<T>().to_string(),
        };
        let article = if expected.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
        self.wrong_type(i, &format!("{article} {expected}"), v)
    }

    /// Sends without blocking: false if the task would have to wait.
    pub fn try_send(&mut self, c: ChanRef, v: Value) -> Result<bool, Throw> {
        channel::try_send(self.rt, c.0, v)
    }

    /// Receives without blocking: `None` if the task would have to wait.
    pub fn try_recv(&mut self, c: ChanRef) -> Result<Option<Value>, Throw> {
        channel::try_recv(self.rt, c.0)
    }

    /// Closes a channel, waking every task waiting on it.
    pub fn close(&mut self, c: ChanRef) {
        channel::close(self.rt, c.0)
    }

    /// A new channel holding up to `cap` values.
    pub fn new_chan(&mut self, cap: usize) -> ChanRef {
        let site = self.site();
        ChanRef(self.rt.heap.new_chan(channel::Channel::new(cap, site)))
    }

    /// Every parked task and what it waits on, one line each, worded as
    /// the deadlock report words them (`task spawned at a.weft:3:5:
    /// waiting on read on connection to 127.0.0.1:80`). A task waiting on
    /// I/O is never deadlocked, so this is where such a wait shows.
    pub fn task_waits(&self) -> Vec<String> {
        let sched = &self.rt.sched;
        let parked = sched.tasks.iter().filter(|(_, m)| m.state == sched::State::Parked);
        parked.map(|(_, meta)| crate::conc::describe_task(self.code, self.rt, meta)).collect()
    }

    /// Ties host object `v` to the running task's innermost open nursery
    /// block, else to the task itself: when that owner ends (normally, by
    /// an error or by cancellation), [`Object::on_owner_end`](crate::Object::on_owner_end)
    /// runs on it, and the owner keeps it alive until then. So a child
    /// process lives no longer than the block that started it.
    pub fn own(&mut self, v: Value) -> Result<(), Throw> {
        if !matches!(v, Value::Object(_)) {
            let what = self.type_name(v).to_string();
            return Err(Throw::internal(format!("{}: only a host object can be owned, not {what}", self.name())));
        }
        self.rt.sched.own(&mut self.rt.heap, v);
        Ok(())
    }

    /// How a task ended: `None` while it runs, else what `join` gives.
    pub fn task_result(&self, t: TaskRef) -> Option<Result<Value, Throw>> {
        match self.rt.heap.task(t.0).outcome {
            Outcome::Running => None,
            _ => Some(conc::join_result(self.rt, t.0)),
        }
    }

    /// Whether `t` is the task running this native.
    pub fn is_current_task(&self, t: TaskRef) -> bool {
        self.rt.heap.task(t.0).id == self.rt.sched.current
    }

    /// Cancels a task (nothing if it has finished).
    pub fn cancel_task(&mut self, t: TaskRef) {
        let task = self.rt.heap.task(t.0);
        if matches!(task.outcome, Outcome::Running) {
            let id = task.id;
            self.rt.sched.cancel_task(&mut self.rt.heap, id);
        }
    }

    /// Cancels a nursery and every task in it (nothing if it has finished).
    pub fn cancel_nursery(&mut self, n: NurseryRef) {
        let id = self.rt.heap.nursery(n.0);
        if let Some(scope) = self.rt.sched.nurseries.get(id).map(|n| n.scope) {
            self.rt.sched.cancel(&mut self.rt.heap, scope);
        }
    }

    /// Starts a task running `f(args)` in nursery `n`; gives its handle.
    pub fn spawn(&mut self, n: NurseryRef, f: Callable, args: &[Value]) -> Result<TaskRef, Throw> {
        let site = self.site.map(|(proto, pc)| crate::code::Site { proto, pc });
        match conc::spawn(self.code, self.rt, n.into(), f.0, args, site)? {
            Value::Task(t) => Ok(TaskRef(t)),
            _ => Err(Throw::internal("spawn gave something other than a task")),
        }
    }

    /// The running task's context map (`context_get`/`context_set`), if
    /// it has one.
    pub fn context(&self) -> Option<MapRef> {
        // A task without a record yet has set no context.
        match self.rt.sched.tasks.get(self.rt.sched.current).map_or(Value::Nil, |meta| meta.context()) {
            Value::Map(m) => Some(MapRef(m)),
            _ => None,
        }
    }

    /// The running task's context map, made on first use.
    pub fn context_or_new(&mut self) -> MapRef {
        if let Some(m) = self.context() {
            return m;
        }
        let m = self.rt.heap.new_map(Default::default());
        self.rt.sched.attach();
        let current = self.rt.sched.current;
        self.rt.sched.meta_mut(current).rare_mut().context = Value::Map(m);
        MapRef(m)
    }
}

pub(crate) fn foreign_handle() -> Throw {
    Throw::value_error("the handle belongs to another VM")
}

/// A list borrowed to change, from [`Ctx::list_mut`].
pub struct ListMut<'a> {
    heap: &'a mut Heap,
    list: Ref,
    before: usize,
}

impl std::ops::Deref for ListMut<'_> {
    type Target = Vec<Value>;
    fn deref(&self) -> &Vec<Value> {
        self.heap.list_vec(self.list)
    }
}

impl std::ops::DerefMut for ListMut<'_> {
    fn deref_mut(&mut self) -> &mut Vec<Value> {
        self.heap.list_mut(self.list)
    }
}

impl Drop for ListMut<'_> {
    fn drop(&mut self) {
        let after = self.heap.list_vec(self.list).capacity();
        self.heap.grew(after.saturating_sub(self.before) * std::mem::size_of::<Value>());
    }
}

/// A map borrowed to change, from [`Ctx::map_mut`].
pub struct MapMut<'a> {
    heap: &'a mut Heap,
    map: Ref,
    before: usize,
}

impl std::ops::Deref for MapMut<'_> {
    type Target = MapTable;
    fn deref(&self) -> &MapTable {
        self.heap.map(self.map)
    }
}

impl std::ops::DerefMut for MapMut<'_> {
    fn deref_mut(&mut self) -> &mut MapTable {
        self.heap.map_mut(self.map)
    }
}

impl Drop for MapMut<'_> {
    fn drop(&mut self) {
        let after = self.heap.map(self.map).capacity();
        self.heap.grew(after.saturating_sub(self.before) * crate::heap::MAP_ENTRY_BYTES);
    }
}

/// The error for a value whose text would outgrow the heap.
fn too_long_text(v: Value, room: usize) -> Throw {
    let what = v.type_name();
    Throw::new(
        "OutOfMemory",
        format!("the text of this {what} is longer than the {} MiB the heap has left", room >> 20),
    )
}
