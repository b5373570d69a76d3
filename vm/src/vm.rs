//! [`Vm`]: loaded code with its runtime, and what a host sets up on it:
//! natives, methods, classes, globals, limits, capabilities, output. Runs
//! are in `sched/run.rs`, calls from the host in `host.rs`, the session in
//! `session.rs`.

use crate::*;
use code::prelude_cache;
use interp::Halt;
use runtime::{stdout_writer, Output};
use std::io::Write;
use std::path::Path;
use weft_lang::bytecode::BuiltinMethod;
use weft_lang::compile::{Env, FileScope, Mode};
use weft_lang::Diagnostic;

/// Counts of a runtime's records, to watch for growth: see [`Ctx::stats`].
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    /// The scheduler's tasks, scopes, nurseries, timers and wait queues.
    pub sched: SchedStats,
    /// Bytes the heap holds, as its limit counts them.
    pub heap_bytes: usize,
    /// Of `heap_bytes`, the spare list buffers and map tables the heap
    /// keeps for the next small lists and maps: bounded by what is live
    /// (at least 4 MiB), so not a measure of growth.
    pub spare_bytes: usize,
    /// Bytes copied and hashed so far to build strings with `+`.
    pub concat_work: u64,
}

/// Why running a script stopped early.
#[derive(Clone, Debug)]
pub enum Failure {
    /// The code did not compile: each diagnostic rendered.
    Compile {
        /// The errors, in source order.
        diagnostics: Vec<Diagnostic>,
        /// The errors rendered with their source lines, as the CLI prints them.
        report: String,
    },
    /// An uncaught error.
    Runtime(RuntimeError),
    /// `exit(status)`.
    Exit(i32),
    /// The run was interrupted (Ctrl-C) and has unwound.
    Interrupted,
}

/// A Weft virtual machine: loaded code and its runtime state.
pub struct Vm {
    /// Private: loading is the only way to add checked code.
    pub(crate) code: Code,
    pub(crate) rt: Runtime,
    pub(crate) env: Env,
    /// Whether reports use color.
    pub color: bool,
    /// A module that failed to compile when imported: the run ends with it.
    pub(crate) failed_import: Option<Failure>,
    /// Set when a run panicked (a bug of the VM): the state cannot be
    /// trusted, so every later run fails with the same internal error.
    pub(crate) broken: Option<String>,
    /// The prelude as compiled (with its top-level names), once it is
    /// loaded.
    pub(crate) prelude: Option<std::sync::Arc<prelude_cache::Compiled>>,
    /// The top-level names of code run with `eval` and `run_file`.
    pub(crate) session: FileScope,
    /// The last main task that finished, emptied: the next run or call
    /// from the host starts in it, and allocates no registers or frames.
    pub(crate) spare_task: Option<Box<Task>>,
    /// Calls from the host that ran directly, outside a run of the
    /// scheduler (see [`Vm::direct_calls`]).
    pub(crate) direct_calls: u64,
    /// The result of the direct call winding up (see `Vm::call_directly`);
    /// nil otherwise.
    pub(crate) direct_result: Value,
}

impl Default for Vm {
    fn default() -> Self {
        Vm::new()
    }
}

impl Vm {
    /// A VM with no builtins at all.
    pub fn new() -> Vm {
        let mut code = Code::default();
        code.protos.push(FnProto::trampoline());
        Vm {
            code,
            rt: Runtime {
                heap: Heap::with_limit(heap::default_limit()),
                globals: Vec::new(),
                out: Output::new(stdout_writer()),
                err_out: Box::new(std::io::stderr()),
                args: Vec::new(),
                max_frames: 100_000,
                instructions: Default::default(),
                rng: sched::SplitMix64::new(sched::entropy() ^ 0x853c_49e6_748f_ea9b),
                loading: Vec::new(),
                sched: sched::Scheduler::new(None, false),
                interrupt: Default::default(),
                roots: Default::default(),
                caps: caps::Capabilities::all(),
                slow_only: std::env::var_os("WEFT_SLOW_PATH").is_some_and(|v| v == "1"),
                spare_call: None,
            },
            env: Env::new(),
            color: false,
            failed_import: None,
            broken: None,
            prelude: None,
            session: FileScope::new(),
            spare_task: None,
            direct_calls: 0,
            direct_result: Value::Nil,
        }
    }

    /// The loaded code, read-only: loading is the only way to change it,
    /// because the interpreter trusts what loading checked.
    ///
    /// ```compile_fail
    /// let mut vm = weft_vm::Vm::new();
    /// vm.code.protos.clear(); // private: checked code cannot be edited
    /// ```
    pub fn code(&self) -> &Code {
        &self.code
    }

    /// Registers a global native function: a Rust function or closure of
    /// typed parameters (see [`FromValue`]), with or without a leading
    /// `&mut Ctx`, or one over the raw arguments,
    /// `fn(&mut Ctx, &[Value]) -> NativeResult`.
    pub fn register<M>(&mut self, name: &str, native: impl IntoNative<M>) {
        let slot = self.env.add_builtin(name);
        let signature = native.signature().map(|params| weft_lang::compile::BuiltinSig::new(&params));
        self.env.set_builtin_signature(name, signature);
        let index = self.add_native(name, false, native);
        self.set_global_slot(slot, Value::Native(index));
    }

    /// Registers the global native that `builtin`'s own instruction stands
    /// for (see [`Builtin`](weft_lang::bytecode::Builtin)): a call such as
    /// `sqrt(x)` runs in the interpreter loop while the global holds this
    /// native and the arguments have the common types, and calls `native`
    /// otherwise. `native` must compute what the instruction computes in
    /// those cases; the standard library registers these, and a host that
    /// registers its own `sqrt` with [`Vm::register`] gets ordinary calls.
    pub fn register_builtin<M>(&mut self, builtin: weft_lang::bytecode::Builtin, native: impl IntoNative<M>) {
        let name = builtin.name();
        let slot = self.env.add_builtin(name);
        let signature = native.signature().map(|params| weft_lang::compile::BuiltinSig::new(&params));
        self.env.set_builtin_signature(name, signature);
        let index = self.add_native(name, false, native);
        self.code.builtins.set(builtin, index);
        self.set_global_slot(slot, Value::Native(index));
    }

    /// Registers a global native that need not be `Send` or `Sync` (it may
    /// hold an `Rc` or a `RefCell`), over the raw arguments. It runs only on
    /// the thread that registers it: called on another (after the VM moved
    /// there) it raises a `ThreadError`, and a VM dropped on another thread
    /// leaks it rather than drop it there.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use weft_vm::{Ctx, Value, Vm};
    ///
    /// let calls = Rc::new(Cell::new(0));
    /// let counted = calls.clone();
    /// let mut vm = Vm::new();
    /// vm.register_local("tick", move |_cx: &mut Ctx, _args: &[Value]| {
    ///     counted.set(counted.get() + 1);
    ///     Ok(Value::Int(counted.get()))
    /// });
    /// vm.eval("<host>", "tick()\ntick()").unwrap();
    /// assert_eq!(calls.get(), 2);
    /// ```
    pub fn register_local(&mut self, name: &str, native: impl Fn(&mut Ctx, &[Value]) -> NativeResult + 'static) {
        let slot = self.env.add_builtin(name);
        self.env.set_builtin_signature(name, None);
        let index = self.push_native(name, false, native::into_local(native));
        self.set_global_slot(slot, Value::Native(index));
    }

    /// Registers a module: a global map `name` of natives, called as
    /// `name.function(args)` (as `net.connect(host, port)`); each is
    /// named `name.function` in errors.
    pub fn register_module(&mut self, name: &str, functions: Vec<(&str, Box<NativeBody>)>) {
        let mut table = heap::MapTable::default();
        for (function, body) in functions {
            let index = self.push_native(&format!("{name}.{function}"), false, body);
            table.insert(Key::Str(self.rt.heap.intern(function)), Value::Native(index));
        }
        let map = Value::Map(self.rt.heap.new_map(table));
        let slot = self.env.add_builtin(name);
        self.env.set_builtin_signature(name, None);
        self.set_global_slot(slot, map);
    }

    pub(crate) fn add_native<M>(&mut self, name: &str, method: bool, native: impl IntoNative<M>) -> u32 {
        self.push_native(name, method, native.into_native())
    }

    pub(crate) fn push_native(&mut self, name: &str, method: bool, body: Box<NativeBody>) -> u32 {
        let index = self.code.natives.len() as u32;
        self.code.natives.push(NativeDef { name: name.into(), method, body });
        index
    }

    /// Registers a global constant. A value that names no live object of
    /// its type (one kept past a collection, or from another VM) is refused.
    pub fn register_value(&mut self, name: &str, value: Value) -> Result<(), Throw> {
        self.check_value(value)?;
        let slot = self.env.add_builtin(name);
        self.env.set_builtin_signature(name, None);
        self.set_global_slot(slot, value);
        Ok(())
    }

    /// Checks a value that comes from the host: it must name a live object
    /// of its type (or a native of this VM). A `ValueError` otherwise; a
    /// value kept past the collection that freed its object is called
    /// stale, whatever now fills its slot.
    #[inline]
    pub(crate) fn check_value(&self, v: Value) -> Result<(), Throw> {
        let native_ok = !matches!(v, Value::Native(n) if n as usize >= self.code.natives.len());
        if native_ok && self.rt.heap.holds(v) {
            return Ok(());
        }
        self.refuse_value(v)
    }

    /// Why `v`, which [`check_value`](Vm::check_value) refused, is refused.
    #[cold]
    pub(crate) fn refuse_value(&self, v: Value) -> Result<(), Throw> {
        match v.as_ref() {
            Some(r) if self.rt.heap.is_stale(r) && r.index() < self.rt.heap.capacity() => Err(Throw::value_error(
                format!("stale value: the {} it named was collected; keep values in a Handle", v.type_name()),
            )),
            _ => Err(Throw::value_error("the value names no live object: keep values in a Handle")),
        }
    }

    /// Roots `v` until the handle is dropped: how a host keeps a value,
    /// such as a script's result, across later runs and collections. A
    /// value that names no live object of its type is refused.
    pub fn root(&mut self, v: Value) -> Result<Handle, Throw> {
        self.check_value(v)?;
        Ok(self.rt.roots.root(v))
    }

    /// The value a handle holds; an error for a handle of another VM.
    pub fn value(&self, h: &Handle) -> Result<Value, Throw> {
        self.rt.roots.get(h).ok_or_else(native::foreign_handle)
    }

    /// The value a handle holds, as a `T`.
    pub fn get<T: FromValue>(&self, h: &Handle) -> Result<T, Throw> {
        let v = self.value(h)?;
        T::from_value(v, &self.rt.heap)
            .ok_or_else(|| Throw::type_error(format!("expected {}, not {}", T::EXPECTED, v.type_name())))
    }

    /// Registers a native method of a built-in type: as for
    /// [`Vm::register`], with the receiver as the first parameter.
    pub fn register_method<M>(&mut self, ty: TypeTag, name: &str, native: impl IntoNative<M>) {
        let index = self.add_native(name, true, native);
        self.set_method(ty, name, Method::Native(index));
    }

    /// Registers the method native that `method`'s own instruction stands
    /// for (see [`BuiltinMethod`]), as
    /// [`Vm::register_builtin`] does for globals: `xs.push(x)` appends in
    /// the interpreter loop while lists' `push` is this native and the
    /// list has room, and calls `native` otherwise (`m.remove(k)` and
    /// maps' `remove` alike). `native` must do what the instruction does in
    /// those cases; the standard library registers these, and a host that
    /// registers its own `push` with [`Vm::register_method`] gets ordinary
    /// calls.
    pub fn register_builtin_method<M>(&mut self, method: BuiltinMethod, native: impl IntoNative<M>) {
        let ty = match method {
            BuiltinMethod::Push => TypeTag::List,
            BuiltinMethod::Remove => TypeTag::Map,
        };
        let name = method.name();
        let index = self.add_native(name, true, native);
        self.code.builtins.set_method(method, index);
        self.set_method(ty, name, Method::Native(index));
    }

    /// Registers `T` as a class of host objects named `name` (what
    /// `type(v)` returns), so that natives can make objects of it with
    /// [`Ctx::new_object`] and give it methods with
    /// [`register_class_method`](Vm::register_class_method). Registering
    /// a type again renames it.
    pub fn register_class<T: Object>(&mut self, name: &str) {
        match self.code.class_of::<T>() {
            Some(class) => self.code.classes[class as usize].name = name.into(),
            None => self.code.classes.push(object::Class {
                name: name.into(),
                type_id: std::any::TypeId::of::<T>(),
                methods: Vec::new(),
                iter: None,
            }),
        }
    }

    /// Registers a method of the class of `T` (registered first with
    /// [`register_class`](Vm::register_class)): a native whose first
    /// argument is the object. A method named [`ITER_METHOD`] makes the
    /// objects iterable: `for v in obj` calls it until it returns nil.
    ///
    /// # Panics
    /// If `T` was never registered as a class: a mistake in the host's
    /// own set-up code, not something a script can cause.
    pub fn register_class_method<T: Object, M>(&mut self, name: &str, native: impl IntoNative<M>) {
        let Some(class) = self.code.class_of::<T>() else {
            panic!("register_class_method: {} is not a registered class", std::any::type_name::<T>())
        };
        let index = self.add_native(name, true, native);
        let id = self.code.symbols.id(name);
        let class = &mut self.code.classes[class as usize];
        code::set_method_slot(&mut class.methods, id, Method::Native(index));
        if name == ITER_METHOD {
            class.iter = Some(index);
        }
    }

    /// Makes a host object of `data`, whose class must be registered
    /// first: for values a host sets up before the script runs, such as
    /// the `stdin` stream.
    pub fn new_object<T: Object>(&mut self, data: T) -> Result<Value, Throw> {
        object::new_object(&self.code, &mut self.rt.heap, data)
            .ok_or_else(|| Throw::value_error(format!("{} is not a registered class", std::any::type_name::<T>())))
    }

    /// Sets the script's arguments, for `args()`.
    pub fn set_args(&mut self, args: Vec<String>) {
        self.rt.args = args;
    }

    /// Sends what `print` writes to `out` instead of stdout.
    pub fn set_output(&mut self, out: Box<dyn Write + Send>) {
        // What the old output holds goes out before it is replaced.
        let _ = self.rt.out.flush();
        self.rt.out = Output::new(out);
    }

    /// Sends what `eprint` writes to `out` instead of stderr.
    pub fn set_error_output(&mut self, out: Box<dyn Write + Send>) {
        self.rt.err_out = out;
    }

    /// Writes out what `print` has buffered.
    pub fn flush_output(&mut self) -> std::io::Result<()> {
        self.rt.out.flush()
    }

    /// Sets the bytes the heap may hold before `OutOfMemory`.
    pub fn set_heap_limit(&mut self, bytes: usize) {
        self.rt.heap.set_limit(bytes);
    }

    /// A handle that, once used from any thread (a Ctrl-C handler, a
    /// host's watchdog), cancels the running script's main task: its tasks
    /// unwind, their `finally` blocks run, and the run ends as
    /// [`Failure::Interrupted`]. It wakes a runtime that sleeps waiting.
    pub fn interrupt_handle(&mut self) -> Interrupt {
        Interrupt { flag: self.rt.interrupt.clone(), outbox: self.rt.sched.port.outbox() }
    }

    /// Sets what scripts may touch outside the VM (see [`Capabilities`]).
    pub fn set_capabilities(&mut self, caps: Capabilities) {
        self.rt.caps = caps;
    }

    /// Runs blocking work (file system calls, blocking host functions) on
    /// `pool`, which other VMs may share, instead of a pool of its own.
    pub fn set_pool(&mut self, pool: Pool) {
        self.rt.sched.port.set_pool(pool);
    }

    /// Waits for I/O on `driver`, which other VMs may share (on this
    /// thread or others), instead of a driver of its own: one poll serves
    /// them all, and whichever VM waits first polls for the others (see
    /// [`Driver`]). Call it before the VM registers its first socket,
    /// pipe or child; after that it returns false and the VM keeps its
    /// driver. Interrupt handles and host wakers given out before still
    /// work.
    ///
    /// ```
    /// use weft_vm::{Driver, Pool, Vm};
    ///
    /// let (driver, pool) = (Driver::new(), Pool::new(4));
    /// let mut vms: Vec<Vm> = (0..2).map(|_| Vm::new()).collect();
    /// for vm in &mut vms {
    ///     assert!(vm.set_driver(driver.clone()));
    ///     vm.set_pool(pool.clone());
    /// }
    /// assert_eq!(driver.runtimes(), 2);
    /// ```
    pub fn set_driver(&mut self, driver: Driver) -> bool {
        self.rt.sched.port.set_driver(driver)
    }

    pub(crate) fn set_method(&mut self, ty: TypeTag, name: &str, method: Method) {
        let id = self.code.symbols.id(name);
        let table = match ty {
            TypeTag::String => &mut self.code.methods.string,
            TypeTag::List => &mut self.code.methods.list,
            TypeTag::Map => &mut self.code.methods.map,
            TypeTag::Range => &mut self.code.methods.range,
            TypeTag::Error => &mut self.code.methods.error,
            TypeTag::Chan => &mut self.code.methods.chan,
            TypeTag::Task => &mut self.code.methods.task,
            TypeTag::Nursery => &mut self.code.methods.nursery,
        };
        code::set_method_slot(table, id, method);
    }

    pub(crate) fn set_global_slot(&mut self, slot: u32, value: Value) {
        let slot = slot as usize;
        if self.rt.globals.len() <= slot {
            self.rt.globals.resize(slot + 1, Value::Nil);
        }
        self.rt.globals[slot] = value;
    }

    /// Loads the prelude: Weft source whose functions become methods.
    /// `methods` maps (type, method name) to a top-level function name.
    ///
    /// The compiled prelude is kept for the process (see `prelude_cache`):
    /// a VM that loads the same text into an equal environment, as every
    /// VM made the same way does, skips parsing and compiling it.
    pub fn load_prelude(&mut self, text: &str, methods: &[(TypeTag, &str, &str)]) -> Result<(), Failure> {
        self.load_prelude_with(text, methods, &[])
    }

    /// As [`Vm::load_prelude`], taking the compiled code from `snapshot`
    /// when the process has not compiled the prelude yet: bytes that
    /// [`Vm::prelude_snapshot`] gave for the same text, in a VM whose
    /// environment was the same when it loaded the prelude (the same
    /// natives, registered in the same order). Any other bytes are
    /// ignored, and the prelude is compiled. The standard library keeps
    /// its prelude's snapshot in the binary, so that a process starts
    /// without compiling it.
    pub fn load_prelude_with(
        &mut self,
        text: &str,
        methods: &[(TypeTag, &str, &str)],
        snapshot: &[u8],
    ) -> Result<(), Failure> {
        const NAME: &str = "<prelude>";
        let file = self.add_file(NAME, text);
        self.code.prelude_file = Some(file);
        let kept = prelude_cache::find(text, &self.env).or_else(|| {
            let decoded = weft_lang::snapshot::decode(snapshot, text, &self.env)?;
            let unit = self.check_unit(NAME, text, decoded.unit).ok()?;
            Some(prelude_cache::keep_changes(text, self.env.clone(), decoded.changes, decoded.scope, unit))
        });
        let compiled = match kept {
            Some(compiled) => {
                self.env.apply(&compiled.changes);
                compiled
            }
            None => {
                let before = self.env.clone();
                let mut scope = FileScope::new();
                let unit = self.compile_source(NAME, text, Path::new("."), &mut scope, Mode::Script)?;
                let unit = self.check_unit(NAME, text, unit)?;
                prelude_cache::keep(text, before, &self.env, scope, unit)
            }
        };
        let main = self.link(file, &compiled.unit);
        self.run_proto(main)?;
        for (ty, method, function) in methods {
            let slot = compiled.scope.get(function).unwrap_or_else(|| panic!("prelude defines {function}"));
            self.set_method(*ty, method, Method::Script(slot));
        }
        self.prelude = Some(compiled);
        Ok(())
    }

    /// The prelude this VM loaded, compiled, as bytes for
    /// [`Vm::load_prelude_with`]; `None` before it is loaded.
    pub fn prelude_snapshot(&self) -> Option<Vec<u8>> {
        self.prelude.as_ref().map(|compiled| compiled.encode())
    }

    /// A value the prelude defined at its top level (a function natives
    /// hand work to), which scripts do not see by name.
    pub fn prelude_value(&self, name: &str) -> Option<Value> {
        let slot = self.prelude.as_ref()?.scope.get(name)?;
        self.rt.globals.get(slot as usize).copied()
    }

    /// Compiles and runs a script file's text.
    pub fn run_script(&mut self, name: &str, text: &str, dir: &Path) -> Result<Value, Failure> {
        self.guarded(|vm| {
            let mut scope = FileScope::new();
            let main = vm.load(name, text, dir, &mut scope, Mode::Script)?;
            vm.run_main(main)
        })
    }

    /// Runs a loaded top-level function as the main task, with every task
    /// it spawns, to completion.
    pub fn run_proto(&mut self, main: u32) -> Result<Value, Failure> {
        self.guarded(|vm| vm.run_main(main))
    }

    /// Runs `f` on the VM, turning a panic inside it, which is a bug of the
    /// VM and never the script's fault, into an `Internal` failure: the
    /// host that embeds the VM stays healthy, and the VM refuses further
    /// runs.
    pub(crate) fn guarded<T>(&mut self, f: impl FnOnce(&mut Vm) -> Result<T, Failure>) -> Result<T, Failure> {
        if let Some(what) = &self.broken {
            return Err(internal_failure(what));
        }
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self))) {
            Ok(result) => result,
            Err(payload) => {
                let what = match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
                    (Some(s), _) => s.to_string(),
                    (_, Some(s)) => s.clone(),
                    _ => "the VM panicked".to_string(),
                };
                let failure = internal_failure(&what);
                self.broken = Some(what);
                Err(failure)
            }
        }
    }

    /// Sets the scheduler's seed and clock: `--seed` and `--virtual-time`.
    /// With a seed, rounds of ready tasks run in a seeded random order and
    /// `select` and `random()` repeat their choices; without one, tasks run
    /// in FIFO order and the choices differ from run to run.
    pub fn configure_scheduler(&mut self, seed: Option<u64>, virtual_time: bool) {
        // The driver's port stays: interrupt handles and pools already
        // given out keep reaching it.
        let port = std::mem::take(&mut self.rt.sched.port);
        let host = std::mem::take(&mut self.rt.sched.host);
        self.rt.sched = sched::Scheduler::new(seed, virtual_time);
        self.rt.sched.port = port;
        self.rt.sched.host = host;
        self.rt.rng = sched::SplitMix64::new(seed.unwrap_or_else(sched::entropy) ^ 0x853c_49e6_748f_ea9b);
    }

    /// The error for a heap that outgrew its limit (see [`Heap::over_limit`]).
    pub(crate) fn out_of_memory(&mut self) -> Throw {
        let heap = &mut self.rt.heap;
        heap.reported_over_limit();
        let message = format!("the heap holds {} MiB, past its limit of {} MiB", heap.in_use() >> 20, heap.limit >> 20);
        Throw::new("OutOfMemory", message)
    }

    /// Raises `throw` in `task` from outside the interpreter loop.
    pub(crate) fn throw(&mut self, task: &mut Task, throw: Throw) {
        if let Some(Halt::Failed(v)) = interp::raise(&self.code, &mut self.rt, task, throw) {
            // Nothing catches it: leave it for the next run to report.
            task.frames.clear();
            task.rare_mut().pending_failure = Some(v);
        }
    }
}

/// The failure of a run that hit a bug of the VM.
fn internal_failure(what: &str) -> Failure {
    report::without_source(ErrorKind::Internal, error::internal_message(what))
}

/// A VM may move to another thread; loaded code may be shared by several.
const _: () = {
    const fn assert_send<T: Send>() {}
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send::<Vm>();
    assert_send::<Runtime>();
    assert_send_sync::<Code>();
};
