//! Weft's runtime: values, the heap and its collector, the interpreter
//! loop, and the machinery that loads compiled code and runs it.
//!
//! The pieces, in the order a script meets them: [`Vm::load`] compiles a
//! file (through `weft_lang`) into [`Code`], turning constants into values
//! and method names into global symbols; [`Vm::run_proto`] makes a [`Task`]
//! for the top level and drives [`interp::run`] until the task is done,
//! collecting garbage and loading imports whenever the loop hands control
//! back. Natives see the runtime through a [`Ctx`].

pub mod channel;
pub mod conc;
pub mod disasm;
pub mod error;
pub mod fmt;
pub mod gc;
pub mod heap;
pub mod interp;
pub mod ops;
pub mod sched;
mod slow;
pub mod task;
pub mod trace;
pub mod value;

pub use error::{NativeResult, Throw};
pub use heap::Heap;
pub use task::Task;
pub use value::{Key, Ref, Value};

use interp::Halt;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use trace::TraceEntry;
use weft_lang::bytecode::{Capture, Const, Op};
use weft_lang::compile::{Env, FileScope, Mode};
use weft_lang::{Diagnostic, Span};

/// A native function: gets the runtime and its arguments, returns a value
/// or raises.
pub type NativeFn = fn(&mut Ctx<'_>, &[Value]) -> NativeResult;

/// A registered native.
pub struct NativeDef {
    pub name: String,
    pub func: NativeFn,
}

/// How a method of a built-in type is implemented.
#[derive(Clone, Copy)]
pub enum Method {
    /// A native taking the receiver as its first argument.
    Native(NativeFn),
    /// A script function (from the prelude) stored in this global slot.
    Script(u32),
}

/// The types that have method tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeTag {
    String,
    List,
    Map,
    Range,
    Error,
    Chan,
    Task,
    Nursery,
}

/// Method tables, indexed by method symbol.
#[derive(Default)]
pub struct Methods {
    pub string: Vec<Option<Method>>,
    pub list: Vec<Option<Method>>,
    pub map: Vec<Option<Method>>,
    pub range: Vec<Option<Method>>,
    pub error: Vec<Option<Method>>,
    pub chan: Vec<Option<Method>>,
    pub task: Vec<Option<Method>>,
    pub nursery: Vec<Option<Method>>,
    /// Empty: other types have no methods.
    pub other: Vec<Option<Method>>,
}

/// Method names, numbered once for the whole VM, so a method call is an
/// index into a table instead of a hash lookup.
#[derive(Default)]
pub struct Symbols {
    pub names: Vec<String>,
    ids: HashMap<String, u16>,
}

impl Symbols {
    pub fn id(&mut self, name: &str) -> u16 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u16;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }
}

/// A loaded function: the compiler's output with its constants made values.
pub struct FnProto {
    /// Shared with every trace entry and spawn site that names it.
    pub(crate) name: std::sync::Arc<str>,
    /// Parameters.
    pub(crate) arity: u8,
    /// Registers a call needs: the frame's window.
    pub(crate) regs: u8,
    /// The instructions, checked against `regs` and their own length.
    pub(crate) code: Vec<Op>,
    /// One span per instruction, for reports.
    pub(crate) spans: Vec<Span>,
    pub(crate) consts: Vec<Value>,
    /// Where each captured variable comes from, when a closure is made.
    pub(crate) captures: Vec<Capture>,
    /// The source file, by index, and the definition's span.
    pub(crate) file: u32,
    pub(crate) span: Span,
}

/// A source file, kept for error reports.
pub struct SourceFile {
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(name: &str, text: &str) -> SourceFile {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile { name: name.to_string(), text: text.to_string(), line_starts }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let offset = (offset as usize).min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let col = self.text.get(start..offset).map(|s| s.chars().count()).unwrap_or(0);
        (line + 1, col + 1)
    }
}

/// Everything loaded and read-only while scripts run: functions, sources,
/// natives, method tables.
#[derive(Default)]
pub struct Code {
    /// Checked at load time (`Proto::check`) and never changed after: the
    /// interpreter's unchecked register and code reads rest on it.
    pub(crate) protos: Vec<FnProto>,
    /// The prelude's file, whose frames traces leave out.
    pub prelude_file: Option<u32>,
    pub files: Vec<SourceFile>,
    pub natives: Vec<NativeDef>,
    pub symbols: Symbols,
    pub methods: Methods,
}

impl Code {
    /// `"name at file:line:col"` for a trace entry.
    pub fn trace_line(&self, t: &TraceEntry) -> String {
        match self.files.get(t.file as usize) {
            Some(f) => {
                let (line, col) = f.line_col(t.span.start);
                format!("{} at {}:{}:{}", t.function, f.name, line, col)
            }
            None => t.function.to_string(),
        }
    }
}

/// Everything scripts change: the heap, globals, output, limits.
pub struct Runtime {
    pub heap: Heap,
    pub globals: Vec<Value>,
    /// Where `print` writes. Buffered; flushed at exit and before errors.
    /// `Send`, so that a VM can move to another thread.
    pub out: Box<dyn Write + Send>,
    /// The script's arguments, for `args()`.
    pub args: Vec<String>,
    /// The deepest a call stack may grow before `StackOverflow`.
    pub max_frames: usize,
    /// The generator behind `random()`.
    pub rng: sched::SplitMix64,
    /// (global slot, top-level function) of each module loaded, at most one
    /// per slot, to catch circular imports.
    loading: Vec<(u32, u32)>,
    /// Tasks, cancel scopes, nurseries, timers and the clock.
    pub sched: sched::Scheduler,
    /// Set from outside (a Ctrl-C handler, a host thread) to cancel the
    /// main task: its whole tree unwinds and `finally` blocks run.
    pub interrupt: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// What a native sees: the mutable runtime and the loaded code.
pub struct Ctx<'a> {
    pub rt: &'a mut Runtime,
    pub code: &'a Code,
    /// The calling frame's function and pc, for [`Ctx::site`].
    pub site: Option<(u32, u32)>,
}

impl Ctx<'_> {
    pub fn heap(&mut self) -> &mut Heap {
        &mut self.rt.heap
    }

    /// What `str(v)` gives.
    pub fn display(&self, v: Value) -> String {
        fmt::display(&self.rt.heap, self.code, v)
    }

    /// The literal form of `v` (strings quoted).
    pub fn repr(&self, v: Value) -> String {
        fmt::repr(&self.rt.heap, self.code, v)
    }

    /// A new (interned) string value.
    pub fn string(&mut self, s: &str) -> Value {
        Value::Str(self.rt.heap.intern(s))
    }

    /// A new list value.
    pub fn list(&mut self, items: Vec<Value>) -> Value {
        Value::List(self.rt.heap.new_list(items))
    }

    /// Where the native was called from, for reports.
    pub fn site(&self) -> Option<TraceEntry> {
        let (proto, pc) = self.site?;
        let p = self.code.protos.get(proto as usize)?;
        let span = *p.spans.get((pc as usize).saturating_sub(1))?;
        Some(TraceEntry { function: p.name.clone(), file: p.file, span })
    }

    /// Raises `Cancelled` if the running task's scope is cancelled: every
    /// operation that may block calls this first.
    pub fn checkpoint(&self) -> Result<(), Throw> {
        match self.rt.sched.cancelled(self.rt.sched.current) {
            Some(scope) => Err(Throw::Cancelled(Some(scope))),
            None => Ok(()),
        }
    }

    /// Parks the running task until `event` happens: the one way a native
    /// waits. Return the result from the native, as `Err(cx.park(..))`;
    /// the task resumes with what its waker delivers (the received value,
    /// nil, or an error such as `Cancelled`).
    pub fn park(&mut self, event: sched::Event) -> Throw {
        self.rt.sched.register(&mut self.rt.heap, event, sched::Via::Call);
        self.rt.sched.park(false);
        Throw::Park
    }

    /// Seconds on the scheduler's clock (real or virtual) since the run
    /// started.
    pub fn now(&self) -> f64 {
        self.rt.sched.clock.now()
    }

    /// Whether the task handle `t` names the task running this native.
    pub fn is_current_task(&self, t: Ref) -> bool {
        self.rt.heap.task(t).id == self.rt.sched.current
    }

    /// The running task's context map (`context_get`/`context_set`), if
    /// it has one.
    pub fn context(&self) -> Option<Ref> {
        match self.rt.sched.meta(self.rt.sched.current).context {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The running task's context map, made on first use.
    pub fn context_or_new(&mut self) -> Ref {
        if let Some(m) = self.context() {
            return m;
        }
        let m = self.rt.heap.new_map(Default::default());
        let current = self.rt.sched.current;
        self.rt.sched.meta_mut(current).context = Value::Map(m);
        m
    }

    /// Cancels the task with handle `t` (nothing if it has finished).
    pub fn cancel_task(&mut self, t: Ref) {
        let task = self.rt.heap.task(t);
        if matches!(task.outcome, heap::Outcome::Running) {
            let id = task.id;
            self.rt.sched.cancel_task(&mut self.rt.heap, id);
        }
    }

    /// Cancels the nursery with handle `n` and every task in it (nothing if
    /// it has finished).
    pub fn cancel_nursery(&mut self, n: Ref) {
        let id = self.rt.heap.nursery(n);
        if let Some(scope) = self.rt.sched.nurseries.get(id).map(|n| n.scope) {
            self.rt.sched.cancel(&mut self.rt.heap, scope);
        }
    }

    /// Parks the running task until another thread wakes it through the
    /// returned waker (the native's result is then the waker's message),
    /// or until it is cancelled, whichever claims the wait first.
    pub fn park_remote(&mut self) -> (sched::driver::RemoteWaker, Throw) {
        let waker = self.rt.sched.remote_waker(sched::Via::Call);
        self.rt.sched.park(false);
        (waker, Throw::Park)
    }
}

/// An uncaught runtime error, ready to report.
#[derive(Clone, Debug)]
pub struct RuntimeError {
    pub kind: String,
    pub message: String,
    /// `"fn at file:line:col"`, innermost first.
    pub trace: Vec<String>,
    /// The full report: source excerpt with the failing span underlined, then
    /// the trace.
    pub report: String,
}

/// Why running a script stopped early.
#[derive(Clone, Debug)]
pub enum Failure {
    /// The code did not compile: each diagnostic rendered.
    Compile { diagnostics: Vec<Diagnostic>, report: String },
    /// An uncaught error.
    Runtime(RuntimeError),
    /// `exit(status)`.
    Exit(i32),
    /// The run was interrupted (Ctrl-C) and has unwound.
    Interrupted,
}

/// Where `print` goes by default: line by line on a terminal, so output
/// appears as it is printed; in large blocks into a pipe or file, flushed
/// whenever every task waits and at exit.
fn stdout_writer() -> Box<dyn Write + Send> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        Box::new(std::io::LineWriter::new(std::io::stdout()))
    } else {
        Box::new(std::io::BufWriter::new(std::io::stdout()))
    }
}

/// A Weft virtual machine: loaded code and its runtime state.
pub struct Vm {
    /// Private: loading is the only way to add checked code.
    pub(crate) code: Code,
    pub rt: Runtime,
    env: Env,
    /// Whether reports use color.
    pub color: bool,
    /// A module that failed to compile when imported: the run ends with it.
    pub(crate) failed_import: Option<Failure>,
}

/// The largest source file or module that loads.
pub const MAX_SOURCE_BYTES: u64 = 64 << 20;

/// Reads a script or module: a regular file of at most
/// [`MAX_SOURCE_BYTES`], in UTF-8. A device, a FIFO or a directory is
/// refused before anything is read, so `import "/dev/zero"` cannot hang.
/// The error says why, without the path.
pub fn read_source(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".to_string());
    }
    if meta.len() > MAX_SOURCE_BYTES {
        return Err(format!(
            "{} MiB, more than the {} MiB a source may have",
            meta.len() >> 20,
            MAX_SOURCE_BYTES >> 20
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| format!("not valid UTF-8 (byte {})", e.utf8_error().valid_up_to()))
}

/// The name reports give a module file, and the directory its own imports
/// are relative to.
fn module_name_and_dir(path: &str) -> (String, std::path::PathBuf) {
    let path = Path::new(path);
    let name =
        path.file_name().map_or_else(|| path.to_string_lossy().into_owned(), |n| n.to_string_lossy().into_owned());
    (name, path.parent().unwrap_or(Path::new(".")).to_path_buf())
}

impl Default for Vm {
    fn default() -> Self {
        Vm::new()
    }
}

impl Vm {
    /// A VM with no builtins at all.
    pub fn new() -> Vm {
        Vm {
            code: Code::default(),
            rt: Runtime {
                heap: Heap::with_limit(heap::default_limit()),
                globals: Vec::new(),
                out: stdout_writer(),
                args: Vec::new(),
                max_frames: 100_000,
                rng: sched::SplitMix64::new(sched::entropy() ^ 0x853c_49e6_748f_ea9b),
                loading: Vec::new(),
                sched: sched::Scheduler::new(None, false),
                interrupt: Default::default(),
            },
            env: Env::new(),
            color: false,
            failed_import: None,
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

    /// Registers a global native function.
    pub fn register(&mut self, name: &str, func: NativeFn) {
        let slot = self.env.add_builtin(name);
        let index = self.code.natives.len() as u32;
        self.code.natives.push(NativeDef { name: name.to_string(), func });
        self.set_global(slot, Value::Native(index));
    }

    /// Registers a global constant.
    pub fn register_value(&mut self, name: &str, value: Value) {
        let slot = self.env.add_builtin(name);
        self.set_global(slot, value);
    }

    /// Registers a native method of a built-in type.
    pub fn register_method(&mut self, ty: TypeTag, name: &str, func: NativeFn) {
        self.set_method(ty, name, Method::Native(func));
    }

    fn set_method(&mut self, ty: TypeTag, name: &str, method: Method) {
        let id = self.code.symbols.id(name) as usize;
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
        if table.len() <= id {
            table.resize(id + 1, None);
        }
        table[id] = Some(method);
    }

    fn set_global(&mut self, slot: u32, value: Value) {
        let slot = slot as usize;
        if self.rt.globals.len() <= slot {
            self.rt.globals.resize(slot + 1, Value::Nil);
        }
        self.rt.globals[slot] = value;
    }

    /// Loads the prelude: Weft source whose functions become methods.
    /// `methods` maps (type, method name) to a top-level function name.
    pub fn load_prelude(&mut self, text: &str, methods: &[(TypeTag, &str, &str)]) -> Result<(), Failure> {
        let mut scope = FileScope::new();
        self.code.prelude_file = Some(self.code.files.len() as u32);
        let main = self.load("<prelude>", text, Path::new("."), &mut scope, Mode::Script)?;
        self.run_proto(main)?;
        for (ty, method, function) in methods {
            let slot = scope.get(function).unwrap_or_else(|| panic!("prelude defines {function}"));
            self.set_method(*ty, method, Method::Script(slot));
        }
        Ok(())
    }

    /// Parses and compiles `text`, loading its functions. Returns the index
    /// of its top-level function.
    pub fn load(
        &mut self,
        name: &str,
        text: &str,
        dir: &Path,
        scope: &mut FileScope,
        mode: Mode,
    ) -> Result<u32, Failure> {
        let file = self.code.files.len() as u32;
        self.code.files.push(SourceFile::new(name, text));
        let compiled = match weft_lang::parser::parse(text) {
            Ok(program) => weft_lang::compile::compile(&program, &mut self.env, scope, dir, mode),
            Err(broken) => {
                // Name errors in the statements that did parse are worth
                // reporting too.
                let mut errors = broken.errors;
                if let Err(more) = weft_lang::compile::compile(&broken.partial, &mut self.env, scope, dir, mode) {
                    errors.extend(more);
                }
                Err(errors)
            }
        };
        let unit = match compiled {
            Ok(unit) => unit,
            Err(mut diagnostics) => {
                // In source order: the compiler finishes inner functions first.
                diagnostics.sort_by_key(|d| d.span.start);
                let report =
                    diagnostics.iter().map(|d| d.render(name, text, self.color)).collect::<Vec<_>>().join("\n");
                return Err(Failure::Compile { diagnostics, report });
            }
        };
        // The interpreter trusts these checks (it reads registers without
        // bounds checks), so a compiler bug stops here, not in the loop.
        if let Some(problem) = unit.protos.iter().find_map(|p| p.check().err()) {
            let diagnostic = weft_lang::diagnostic::Diagnostic::new(
                format!("internal compiler error: {problem}"),
                weft_lang::diagnostic::Span::default(),
            );
            let report = diagnostic.render(name, text, self.color);
            return Err(Failure::Compile { diagnostics: vec![diagnostic], report });
        }
        let first = self.code.protos.len() as u32;
        for proto in unit.protos {
            let consts = proto
                .consts
                .iter()
                .map(|k| match k {
                    Const::Int(i) => Value::Int(*i),
                    Const::Float(x) => Value::Float(*x),
                    Const::Str(s) => Value::Str(self.rt.heap.intern(s)),
                })
                .collect();
            let symbols: Vec<u16> = proto.methods.iter().map(|m| self.code.symbols.id(m)).collect();
            let code = proto
                .code
                .iter()
                .map(|op| match *op {
                    Op::Closure { dst, proto } => Op::Closure { dst, proto: proto + first },
                    Op::CallMethod { base, argc, name } => Op::CallMethod { base, argc, name: symbols[name as usize] },
                    op => op,
                })
                .collect();
            self.code.protos.push(FnProto {
                name: proto.name.into(),
                arity: proto.arity,
                regs: proto.regs,
                code,
                spans: proto.spans,
                consts,
                captures: proto.captures,
                file,
                span: proto.span,
            });
        }
        let slots = self.env.slots() as usize;
        if self.rt.globals.len() < slots {
            self.rt.globals.resize(slots, Value::Nil);
        }
        Ok(first + unit.main)
    }

    /// Compiles a file without running it: `weft check`.
    pub fn compile_only(&mut self, name: &str, text: &str, dir: &Path) -> Result<(), Failure> {
        self.load(name, text, dir, &mut FileScope::new(), Mode::Script)?;
        // Then every module it imports, and theirs: compiling one records
        // its own imports in the environment.
        let mut checked = std::collections::HashSet::new();
        loop {
            let pending: Vec<(String, u32)> = self
                .env
                .modules()
                .filter(|(path, _)| !checked.contains(*path))
                .map(|(path, slot)| (path.to_string(), slot))
                .collect();
            if pending.is_empty() {
                return Ok(());
            }
            for (path, slot) in pending {
                checked.insert(path.clone());
                // A module that cannot be read fails when it is imported.
                let Ok(text) = read_source(Path::new(&path)) else { continue };
                let (name, dir) = module_name_and_dir(&path);
                self.load(&name, &text, &dir, &mut FileScope::new(), Mode::Module { slot })?;
            }
        }
    }

    /// Compiles a file and lists its bytecode: `weft disasm`.
    pub fn disassemble(&mut self, name: &str, text: &str, dir: &Path) -> Result<String, Failure> {
        let first = self.code.protos.len();
        self.load(name, text, dir, &mut FileScope::new(), Mode::Script)?;
        Ok(disasm::disassemble(&self.code, &self.rt.heap, first))
    }

    /// Compiles and runs a script file's text.
    pub fn run_script(&mut self, name: &str, text: &str, dir: &Path) -> Result<Value, Failure> {
        let mut scope = FileScope::new();
        let main = self.load(name, text, dir, &mut scope, Mode::Script)?;
        self.run_proto(main)
    }

    /// Sets the scheduler's seed and clock: `--seed` and `--virtual-time`.
    /// With a seed, rounds of ready tasks run in a seeded random order and
    /// `select` and `random()` repeat their choices; without one, tasks run
    /// in FIFO order and the choices differ from run to run.
    pub fn configure_scheduler(&mut self, seed: Option<u64>, virtual_time: bool) {
        self.rt.sched = sched::Scheduler::new(seed, virtual_time);
        self.rt.rng = sched::SplitMix64::new(seed.unwrap_or_else(sched::entropy) ^ 0x853c_49e6_748f_ea9b);
    }

    /// The error for a heap that outgrew its limit (see [`Heap::over_limit`]).
    pub(crate) fn out_of_memory(&mut self) -> Throw {
        let heap = &mut self.rt.heap;
        heap.reported_over_limit();
        let message = format!("the heap holds {} MiB, past its limit of {} MiB", heap.in_use() >> 20, heap.limit >> 20);
        Throw::new("OutOfMemory", message)
    }

    /// Collects garbage; `tasks` are the tasks not otherwise reachable.
    pub fn collect(&mut self, tasks: &mut [&mut Task]) {
        for task in tasks.iter_mut() {
            // Registers above the top frame are dead: drop them so they do
            // not keep garbage alive.
            let top = task
                .frames
                .last()
                .map(|f| f.base as usize + self.code.protos[f.proto as usize].regs as usize)
                .unwrap_or(0);
            let len = task.stack.len();
            task.stack[top.min(len)..].fill(Value::Nil);
        }
        let consts = self.code.protos.iter().flat_map(|p| p.consts.iter().copied());
        let mut roots: Vec<Value> =
            self.rt.globals.iter().copied().chain(consts).chain(tasks.iter().flat_map(|t| t.roots())).collect();
        let sched = &self.rt.sched;
        for (_, meta) in sched.tasks.iter() {
            if let Some(task) = &meta.task {
                roots.extend(task.roots());
            }
            roots.push(meta.context);
            roots.extend(meta.handle.map(Value::Task));
            match &meta.resume {
                sched::Resume::Value(v) | sched::Resume::Select(_, v) => roots.push(*v),
                sched::Resume::Raise(Throw::Value(v)) => roots.push(*v),
                _ => {}
            }
            // What a parked task waits on stays alive while it waits.
            roots.extend(meta.regs.as_slice().iter().filter_map(|reg| match *reg {
                sched::Reg::Recv(ch) | sched::Reg::Send(ch) => Some(Value::Chan(ch)),
                sched::Reg::Join(t) => Some(Value::Task(t)),
                sched::Reg::Timer(_) | sched::Reg::Nursery(_) => None,
            }));
        }
        for (_, n) in sched.nurseries.iter() {
            roots.extend(n.first_error);
            roots.extend(n.cancel_error);
            roots.extend(n.others.iter().copied());
            roots.extend(n.handle.map(Value::Nursery));
        }
        // The scheduler's own memory counts against the heap limit too.
        let running: usize = tasks.iter().map(|t| t.bytes()).sum();
        let runtime_bytes = self.rt.sched.bytes(running);
        gc::collect(&mut self.rt.heap, roots);
        self.rt.heap.set_runtime_bytes(runtime_bytes);
    }

    /// Loads the module at `path` for the task's pending `import`.
    pub(crate) fn import(&mut self, task: &mut Task, path: Value, slot: u32, dst: usize) {
        let Value::Str(r) = path else { unreachable!("module paths are strings") };
        let path = self.rt.heap.str(r).to_string();
        // Circular only if the module's top level is still running in this
        // task: one whose first load threw may be imported again.
        let running = |&(s, main): &(u32, u32)| s == slot && task.frames.iter().any(|f| f.proto == main);
        if self.rt.loading.iter().any(running) {
            return self.throw(task, Throw::new("ImportError", format!("circular import of {path}")));
        }
        let text = match read_source(Path::new(&path)) {
            Ok(text) => text,
            Err(e) => return self.throw(task, Throw::new("ImportError", format!("cannot read module {path}: {e}"))),
        };
        let (display_name, dir) = module_name_and_dir(&path);
        let mut scope = FileScope::new();
        let main = match self.load(&display_name, &text, &dir, &mut scope, Mode::Module { slot }) {
            Ok(main) => main,
            Err(failure) => {
                // A compile error is one whichever file it is in: the run
                // stops with its report (exit status 2), as `weft check`
                // would have found it.
                self.failed_import = Some(failure);
                return;
            }
        };
        self.rt.loading.retain(|&(s, _)| s != slot);
        self.rt.loading.push((slot, main));
        let frame = task.frames.last().expect("importing frame");
        let top = frame.base as usize + self.code.protos[frame.proto as usize].regs as usize;
        let regs = self.code.protos[main as usize].regs as usize;
        if task.stack.len() < top + 1 + regs {
            task.stack.resize(top + 1 + regs + 64, Value::Nil);
        }
        let closure = self.rt.heap.new_closure(main, heap::Captures::None);
        task.stack[top] = Value::Func(closure);
        task.frames.push(task::Frame {
            proto: main,
            closure: Some(closure),
            pc: 0,
            base: top as u32 + 1,
            ret: dst as u32,
        });
    }

    /// Raises `throw` in `task` from outside the interpreter loop.
    fn throw(&mut self, task: &mut Task, throw: Throw) {
        if let Some(Halt::Failed(v)) = interp::raise(&self.code, &mut self.rt, task, throw) {
            // Nothing catches it: leave it for the next run to report.
            task.frames.clear();
            task.pending_failure = Some(v);
        }
    }

    /// Builds the report of an uncaught error.
    pub fn runtime_error(&mut self, value: Value, task: &Task) -> RuntimeError {
        let (kind, message, trace) = match value {
            Value::Error(r) => {
                let e = self.rt.heap.error(r);
                let kind = fmt::display(&self.rt.heap, &self.code, e.kind);
                let message = fmt::display(&self.rt.heap, &self.code, e.message);
                (kind, message, e.trace.clone())
            }
            v => ("Error".to_string(), fmt::display(&self.rt.heap, &self.code, v), task.trace.clone()),
        };
        let (spawned_at, details, others) = match value {
            Value::Error(r) => {
                let e = self.rt.heap.error(r);
                (e.spawned_at.clone(), e.details.clone(), e.others.clone())
            }
            _ => (Vec::new(), None, Vec::new()),
        };
        let mut error = self.render_error(kind, message, &trace);
        for site in &spawned_at {
            error.report.push_str(&format!("  in task spawned at {}\n", conc::location(&self.code, site)));
        }
        if let Some(details) = details {
            error.report.push_str(&details);
        }
        // A failed nursery's other failures (`e.others`), one line each.
        if !others.is_empty() {
            let (n, tasks) = (others.len(), if others.len() == 1 { "task" } else { "tasks" });
            error.report.push_str(&format!("{n} other {tasks} of the nursery failed too (e.others):\n"));
            for other in others {
                let text = fmt::display(&self.rt.heap, &self.code, other);
                let at = match other {
                    Value::Error(r) => self.rt.heap.error(r).trace.first().map(|t| self.code.trace_line(t)),
                    _ => None,
                };
                match at {
                    Some(at) => error.report.push_str(&format!("  {text}\n    {at}\n")),
                    None => error.report.push_str(&format!("  {text}\n")),
                }
            }
        }
        error
    }

    fn render_error(&self, kind: String, message: String, trace: &[TraceEntry]) -> RuntimeError {
        let lines: Vec<String> = trace.iter().map(|t| self.code.trace_line(t)).collect();
        let mut report = match trace.first().and_then(|t| self.code.files.get(t.file as usize).map(|f| (t, f))) {
            Some((t, file)) => weft_lang::diagnostic::Diagnostic::new(message.clone(), t.span)
                .with_label("raised here")
                .render_as(&kind, &file.name, &file.text, self.color),
            None => format!("error: {kind}: {message}\n"),
        };
        if !lines.is_empty() {
            report.push_str("stack trace (most recent call first):\n");
            report.push_str(&lines.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n"));
            report.push('\n');
        }
        RuntimeError { kind, message, trace: lines, report }
    }
}

/// A VM may move to another thread; loaded code may be shared by several.
const _: () = {
    const fn assert_send<T: Send>() {}
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send::<Vm>();
    assert_send::<Runtime>();
    assert_send_sync::<Code>();
};
