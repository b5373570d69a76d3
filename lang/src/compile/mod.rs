//! The compiler: AST to register bytecode, one [`Proto`] per function.
//!
//! Names are resolved here, at compile time: a name is a register of the
//! current function, a captured variable of an enclosing one, a global slot
//! of the file, or a builtin. Locals that some nested function refers to
//! live in heap cells (`NewCell`) so closures share them by reference; all
//! others stay plain registers and cost nothing extra.
//!
//! The compiler keeps going after an error, so one run reports every
//! undefined name and misplaced `break` of a file.

use crate::ast::*;
use crate::bytecode::{Builtin, BuiltinMethod, Capture, Const, Op, Proto, Reg, Unit, MAX_REGS};
use crate::diagnostic::{closest, Diagnostic, Span};
use crate::snapshot::{Reader, Writer};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

mod analysis;
mod destructure;
mod emit;
mod expr;
mod names;
mod stmt;

use analysis::*;

/// How many top-level `let`s of a script may live in registers.
const MAX_REGISTER_LETS: usize = 120;

/// How deep expressions and statements may nest before the compiler refuses.
const MAX_DEPTH: usize = 200;

/// Global names to what they hold. FxHash, not SipHash, as for every map
/// and set of the compiler: the names are the program's own, and a host
/// looks one up on every call by name.
type NameMap<V> = HashMap<String, V>;

/// The global names shared by every file: builtins, and the slots handed
/// out to files' top-level names and to cached modules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Env {
    builtins: NameMap<u32>,
    /// The parameters of the builtins whose count is known: a direct call
    /// to one of these, by a name nothing rebinds, is checked here.
    signatures: HashMap<String, BuiltinSig>,
    /// Builtins some compiled code assigns: from then on they may hold
    /// anything, so calls to them are checked only at run time.
    rebound: HashSet<String>,
    modules: HashMap<String, u32>,
    next_slot: u32,
}

impl Env {
    pub fn new() -> Env {
        Env::default()
    }

    /// Declares a builtin and returns its global slot.
    pub fn add_builtin(&mut self, name: &str) -> u32 {
        if let Some(&slot) = self.builtins.get(name) {
            return slot;
        }
        let slot = self.new_slot();
        self.builtins.insert(name.to_string(), slot);
        slot
    }

    pub fn builtin(&self, name: &str) -> Option<u32> {
        self.builtins.get(name).copied()
    }

    /// Records the parameters of builtin `name` (declared with
    /// [`Env::add_builtin`]), or that they are not known.
    pub fn set_builtin_signature(&mut self, name: &str, signature: Option<BuiltinSig>) {
        match signature {
            Some(sig) => self.signatures.insert(name.to_string(), sig),
            None => self.signatures.remove(name),
        };
    }

    /// The parameters of builtin `name`, unless they are unknown or some
    /// compiled code assigns the name.
    pub fn builtin_signature(&self, name: &str) -> Option<&BuiltinSig> {
        if self.rebound.contains(name) {
            return None;
        }
        self.signatures.get(name)
    }

    pub fn builtin_names(&self) -> impl Iterator<Item = &str> {
        self.builtins.keys().map(|s| s.as_str())
    }

    /// How many global slots are in use.
    pub fn slots(&self) -> u32 {
        self.next_slot
    }

    fn new_slot(&mut self) -> u32 {
        self.next_slot += 1;
        self.next_slot - 1
    }

    /// Every module imported so far, by canonical path, with its slot.
    pub fn modules(&self) -> impl Iterator<Item = (&str, u32)> {
        self.modules.iter().map(|(path, &slot)| (path.as_str(), slot))
    }

    /// The global slot caching the module at `path` (a canonical path).
    pub fn module_slot(&mut self, path: &str) -> u32 {
        if let Some(&slot) = self.modules.get(path) {
            return slot;
        }
        let slot = self.new_slot();
        self.modules.insert(path.to_string(), slot);
        slot
    }

    /// What this environment gained since it was `before` (as compiling a
    /// file makes it gain), to replay with [`Env::apply`] on an environment
    /// equal to `before` instead of compiling the file again.
    pub fn changes_since(&self, before: &Env) -> EnvChanges {
        let mut signatures: Vec<(String, Option<BuiltinSig>)> = self
            .signatures
            .iter()
            .filter(|(name, sig)| before.signatures.get(*name) != Some(sig))
            .map(|(name, sig)| (name.clone(), Some(sig.clone())))
            .collect();
        let dropped = before.signatures.keys().filter(|name| !self.signatures.contains_key(*name));
        signatures.extend(dropped.map(|name| (name.clone(), None)));
        EnvChanges {
            builtins: added(&self.builtins, &before.builtins),
            signatures,
            rebound: self.rebound.difference(&before.rebound).cloned().collect(),
            modules: added(&self.modules, &before.modules),
            next_slot: self.next_slot,
        }
    }

    /// Makes the changes `changes` describes (see [`Env::changes_since`]).
    pub fn apply(&mut self, changes: &EnvChanges) {
        self.builtins.extend(changes.builtins.iter().cloned());
        for (name, signature) in &changes.signatures {
            self.set_builtin_signature(name, signature.clone());
        }
        self.rebound.extend(changes.rebound.iter().cloned());
        self.modules.extend(changes.modules.iter().cloned());
        self.next_slot = changes.next_slot;
    }
}

// Snapshots (see `crate::snapshot`): maps and sets are written sorted, so
// that the same environment always gives the same bytes.
impl Env {
    pub(crate) fn write(&self, w: &mut Writer) {
        write_slots(w, &self.builtins);
        write_signatures(w, self.signatures.iter().map(|(name, sig)| (name, Some(sig))));
        write_names(w, self.rebound.iter());
        write_slots(w, &self.modules);
        w.uint(self.next_slot as u64);
    }

    pub(crate) fn read(r: &mut Reader) -> Option<Env> {
        let builtins = read_slots(r)?.into_iter().collect();
        // An environment knows a signature or has none: no removals.
        let signatures =
            read_signatures(r)?.into_iter().map(|(name, sig)| Some((name, sig?))).collect::<Option<_>>()?;
        let rebound = r.strs()?.into_iter().collect();
        let modules = read_slots(r)?.into_iter().collect();
        Some(Env { builtins, signatures, rebound, modules, next_slot: r.u32()? })
    }
}

impl EnvChanges {
    /// Whether every slot they name, and every slot of `scope`, lies below
    /// the slots in use after them, and they use no fewer than `before`.
    pub(crate) fn slots_coherent(&self, before: &Env, scope: &FileScope) -> bool {
        let named = self.builtins.iter().chain(&self.modules).map(|(_, slot)| *slot);
        self.next_slot >= before.next_slot
            && named.chain(scope.names().map(|(_, slot)| slot)).all(|slot| slot < self.next_slot)
    }

    /// How many global slots are in use after them.
    pub(crate) fn slots(&self) -> u32 {
        self.next_slot
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        write_slots(w, self.builtins.iter().map(|(name, slot)| (name, slot)));
        write_signatures(w, self.signatures.iter().map(|(name, sig)| (name, sig.as_ref())));
        write_names(w, self.rebound.iter());
        write_slots(w, self.modules.iter().map(|(name, slot)| (name, slot)));
        w.uint(self.next_slot as u64);
    }

    pub(crate) fn read(r: &mut Reader) -> Option<EnvChanges> {
        let builtins = read_slots(r)?;
        let signatures = read_signatures(r)?;
        let rebound = r.strs()?;
        let modules = read_slots(r)?;
        Some(EnvChanges { builtins, signatures, rebound, modules, next_slot: r.u32()? })
    }
}

impl BuiltinSig {
    fn write(&self, w: &mut Writer) {
        w.strs(&self.params);
        w.uint(self.required as u64);
    }

    fn read(r: &mut Reader) -> Option<BuiltinSig> {
        let params = r.strs()?;
        let required = usize::try_from(r.uint()?).ok()?;
        (required <= params.len()).then_some(BuiltinSig { params, required })
    }
}

impl FileScope {
    /// In declaration order, which the scope keeps.
    pub(crate) fn write(&self, w: &mut Writer) {
        w.uint(self.order.len() as u64);
        for (name, slot) in self.names() {
            w.str(name);
            w.uint(slot as u64);
        }
    }

    pub(crate) fn read(r: &mut Reader) -> Option<FileScope> {
        let mut scope = FileScope::new();
        for (name, slot) in read_slots(r)? {
            if scope.names.insert(name.clone(), slot).is_some() {
                return None;
            }
            scope.order.push(name);
        }
        Some(scope)
    }
}

/// Signatures by builtin name, sorted by name; `None` for one removed.
fn write_signatures<'n>(w: &mut Writer, signatures: impl Iterator<Item = (&'n String, Option<&'n BuiltinSig>)>) {
    let mut signatures: Vec<_> = signatures.collect();
    signatures.sort_by(|a, b| a.0.cmp(b.0));
    w.uint(signatures.len() as u64);
    for (name, sig) in signatures {
        w.str(name);
        match sig {
            Some(sig) => {
                w.uint(1);
                sig.write(w);
            }
            None => w.uint(0),
        }
    }
}

fn read_signatures(r: &mut Reader) -> Option<Vec<(String, Option<BuiltinSig>)>> {
    let n = r.len()?;
    (0..n)
        .map(|_| {
            let name = r.str()?;
            let sig = match r.uint()? {
                0 => None,
                1 => Some(BuiltinSig::read(r)?),
                _ => return None,
            };
            Some((name, sig))
        })
        .collect()
}

/// Names with their slots, sorted by name.
fn write_slots<'n>(w: &mut Writer, slots: impl IntoIterator<Item = (&'n String, &'n u32)>) {
    let mut slots: Vec<_> = slots.into_iter().collect();
    slots.sort();
    w.uint(slots.len() as u64);
    for (name, slot) in slots {
        w.str(name);
        w.uint(*slot as u64);
    }
}

fn read_slots(r: &mut Reader) -> Option<Vec<(String, u32)>> {
    let n = r.len()?;
    (0..n).map(|_| Some((r.str()?, r.u32()?))).collect()
}

fn write_names<'n>(w: &mut Writer, names: impl Iterator<Item = &'n String>) {
    let mut names: Vec<String> = names.cloned().collect();
    names.sort();
    w.strs(&names);
}

/// The names of `now` that `then` has not, or gives another slot.
fn added(now: &HashMap<String, u32>, then: &HashMap<String, u32>) -> Vec<(String, u32)> {
    now.iter().filter(|(name, slot)| then.get(*name) != Some(slot)).map(|(name, &slot)| (name.clone(), slot)).collect()
}

/// What an environment gained between two moments: the names, slots and
/// signatures added or changed (see [`Env::changes_since`]).
#[derive(Clone, Debug, Default)]
pub struct EnvChanges {
    builtins: Vec<(String, u32)>,
    signatures: Vec<(String, Option<BuiltinSig>)>,
    rebound: Vec<String>,
    modules: Vec<(String, u32)>,
    next_slot: u32,
}

/// The parameters of a builtin, as its native declares them: what each
/// must be (for the report) and how many may be left out at the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltinSig {
    /// Each parameter as what it must be ("an int"), in order.
    pub params: Vec<String>,
    /// How many arguments must be given: the rest may be left out.
    pub required: usize,
}

impl BuiltinSig {
    /// The signature of parameters given as (what each must be, whether
    /// it may be left out): all up to the last required one are required.
    pub fn new(params: &[(&str, bool)]) -> BuiltinSig {
        let required = params.iter().rposition(|(_, optional)| !optional).map_or(0, |i| i + 1);
        BuiltinSig { params: params.iter().map(|(what, _)| what.to_string()).collect(), required }
    }

    /// Whether a call with `argc` arguments is accepted.
    pub fn accepts(&self, argc: usize) -> bool {
        (self.required..=self.params.len()).contains(&argc)
    }
}

/// The top-level names of one file (kept between REPL entries).
#[derive(Clone, Debug, Default)]
pub struct FileScope {
    names: NameMap<u32>,
    order: Vec<String>,
}

impl FileScope {
    pub fn new() -> FileScope {
        FileScope::default()
    }

    pub fn get(&self, name: &str) -> Option<u32> {
        self.names.get(name).copied()
    }

    /// The file's top-level names in the order they were declared.
    pub fn names(&self) -> impl Iterator<Item = (&str, u32)> {
        self.order.iter().map(|n| (n.as_str(), self.names[n]))
    }

    /// The slot of `name`, declared in `env` if it is new.
    pub fn declare(&mut self, env: &mut Env, name: &str) -> u32 {
        if let Some(&slot) = self.names.get(name) {
            return slot;
        }
        let slot = env.new_slot();
        self.names.insert(name.to_string(), slot);
        self.order.push(name.to_string());
        slot
    }
}

/// What the compiled top level should do when it finishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A script: return nil.
    Script,
    /// A module: store a map of its top-level names in global `slot`
    /// (where `import` caches it) and return it.
    Module { slot: u32 },
    /// A REPL entry: return the value of a final expression statement.
    Repl,
    /// A REPL entry whose tasks outlive it: as `Repl`, but the top level
    /// is not a nursery that waits; a plain `spawn` outside any `nursery`
    /// block joins the nursery held in global `nursery`, which the host
    /// keeps open between entries.
    Session { nursery: u32 },
}

/// Compiles a parsed file. `dir` is the directory imports are relative to.
pub fn compile(
    program: &Program,
    env: &mut Env,
    scope: &mut FileScope,
    dir: &std::path::Path,
    mode: Mode,
) -> Result<Unit, Vec<Diagnostic>> {
    let mut c = Compiler {
        env,
        scope,
        dir,
        unit: Unit::default(),
        funcs: Vec::new(),
        errors: Vec::new(),
        depth: 0,
        local_fns: Vec::new(),
        top_fns: HashMap::default(),
        reassigned: HashSet::default(),
    };
    c.unit.protos.push(Proto::default());
    c.main(program, mode);
    if c.errors.is_empty() {
        Ok(c.unit)
    } else {
        Err(c.errors)
    }
}

struct Local<'a> {
    name: String,
    reg: Reg,
    celled: bool,
    /// The function a local `fn` statement binds, when nothing assigns
    /// the name: a direct call to it has its arity checked here.
    def: Option<&'a FnDef>,
}

struct Loop {
    /// Jumps to patch to the loop's exit.
    breaks: Vec<usize>,
    /// Jumps to patch to the loop's continue point.
    continues: Vec<usize>,
    /// How many `exits` entries were open when the loop started.
    exits: usize,
}

/// Something a `break`, `continue` or `return` must undo on its way out.
#[derive(Clone)]
enum Exit<'a> {
    /// An exception handler is active: pop it, then run the finally block.
    Handler(Option<&'a Block>),
    /// A nursery is open (its handle in this register): pop its handler,
    /// then wait for its tasks.
    Nursery(Reg),
    /// A `timeout` or `shield` scope is open: pop its handler, close it.
    Scope,
}

struct Func<'a> {
    proto: Proto,
    /// The index of this function in the unit.
    index: usize,
    scopes: Vec<Vec<Local<'a>>>,
    next_reg: usize,
    /// Names referred to by functions nested in this one: locals with these
    /// names are captured, so they live in cells.
    captured: HashSet<String>,
    upvals: Vec<(String, Capture)>,
    /// Whether "captures too many variables" was reported (once is enough).
    too_many_captures: bool,
    loops: Vec<Loop>,
    exits: Vec<Exit<'a>>,
    /// Registers holding the handles of the open nurseries, innermost last:
    /// a plain `spawn` joins the last.
    nurseries: Vec<Reg>,
    is_main: bool,
    /// Where each constant and method name already is, so that adding one
    /// is not a scan of all the others.
    const_slots: HashMap<ConstKey, u32>,
    method_slots: HashMap<String, u16>,
    /// A "function too large" error was reported: one per function is
    /// enough, where every later local or constant would repeat it.
    too_large: bool,
}

/// A constant as a hash key: floats by their bits, so `0.0` and `-0.0`
/// stay apart and `nan` finds itself.
#[derive(PartialEq, Eq, Hash)]
enum ConstKey {
    Int(i64),
    Float(u64),
    Str(String),
}

impl ConstKey {
    fn of(k: &Const) -> ConstKey {
        match k {
            Const::Int(i) => ConstKey::Int(*i),
            Const::Float(x) => ConstKey::Float(x.to_bits()),
            Const::Str(s) => ConstKey::Str(s.clone()),
        }
    }
}

struct Compiler<'e, 'a> {
    env: &'e mut Env,
    scope: &'e mut FileScope,
    dir: &'e std::path::Path,
    unit: Unit,
    funcs: Vec<Func<'a>>,
    errors: Vec<Diagnostic>,
    depth: usize,
    /// Local named functions declared at the start of their block, waiting
    /// for their statement to make the closure (see `hoist_functions`).
    local_fns: Vec<(&'a FnDef, Place)>,
    /// The file's top-level functions whose name nothing else writes.
    top_fns: HashMap<&'a str, &'a FnDef>,
    /// Every name some assignment in the file writes (see `assigned_names_stmt`).
    reassigned: HashSet<String>,
}

/// Where a name lives.
#[derive(Clone, Copy)]
enum Place {
    Reg(Reg),
    Cell(Reg),
    Upval(u8),
    Global(u32),
}

impl<'e, 'a> Compiler<'e, 'a> {
    // ----- functions -------------------------------------------------------

    fn main(&mut self, program: &'a Program, mode: Mode) {
        let mut captured = HashSet::default();
        for stmt in &program.stmts {
            nested_names_stmt(stmt, false, &mut captured);
        }
        self.funcs.push(Func::new(0, "<main>", captured.clone(), true));
        for stmt in &program.stmts {
            assigned_names_stmt(stmt, &mut self.reassigned);
            // A top-level `let` writes the same global as a `fn` of its name.
            match stmt {
                Stmt::Let { name, .. } => {
                    self.reassigned.insert(name.name.clone());
                }
                Stmt::LetPattern { pattern, .. } => {
                    self.reassigned.extend(pattern.names().into_iter().map(|n| n.name.clone()));
                }
                Stmt::Import { alias, .. } => {
                    self.reassigned.insert(alias.name.clone());
                }
                _ => {}
            }
        }
        for stmt in &program.stmts {
            if let Stmt::Fn(def) = stmt {
                let name = def.name.as_ref().expect("named");
                if self.top_fns.insert(&name.name, def).is_some() {
                    self.reassigned.insert(name.name.clone());
                }
            }
        }
        let reassigned = &self.reassigned;
        self.top_fns.retain(|name, _| !reassigned.contains(*name));
        // A builtin this file may assign is a builtin no file can check.
        let rebound: Vec<String> =
            self.reassigned.iter().filter(|name| self.env.builtin(name).is_some()).cloned().collect();
        self.env.rebound.extend(rebound);
        // Top-level names are globals, visible throughout the file. In a
        // script, a `let` that no function refers to can only be used by the
        // top-level code after it: it lives in a register instead, which is
        // much faster in loops.
        let mut register_lets = 0;
        for stmt in &program.stmts {
            match stmt {
                Stmt::Let { name, .. } => {
                    let local = mode == Mode::Script
                        && !captured.contains(&name.name)
                        && self.scope.get(&name.name).is_none()
                        && register_lets < MAX_REGISTER_LETS;
                    if local {
                        register_lets += 1;
                    } else {
                        self.scope.declare(self.env, &name.name);
                    }
                }
                Stmt::LetPattern { pattern, .. } => {
                    for name in pattern.names() {
                        self.scope.declare(self.env, &name.name);
                    }
                }
                Stmt::Fn(def) => {
                    if let Some(name) = &def.name {
                        self.scope.declare(self.env, &name.name);
                    }
                }
                Stmt::Import { alias, .. } => {
                    self.scope.declare(self.env, &alias.name);
                }
                _ => {}
            }
        }
        self.hoist_functions(&program.stmts);
        let count = program.stmts.len();
        // An entry's final expression: its value is returned once the top
        // level's nursery, if any, has waited for its tasks.
        let result = match (mode, program.stmts.last()) {
            (Mode::Repl | Mode::Session { .. }, Some(Stmt::Expr(e))) => Some((self.alloc(e.span), e.span)),
            _ => None,
        };
        let body = |c: &mut Self| {
            for (i, stmt) in program.stmts.iter().enumerate() {
                match (result, stmt) {
                    (Some((reg, _)), Stmt::Expr(e)) if i + 1 == count => c.expr(e, reg),
                    _ => c.stmt(stmt),
                }
            }
        };
        // The top level is a nursery too: it waits for the tasks it spawns;
        // in a session, its tasks join the host's nursery instead.
        if let Mode::Session { nursery } = mode {
            let end = Span::default();
            let handle = self.alloc(end);
            self.emit(Op::GetGlobal { dst: handle, slot: nursery }, end);
            self.func_mut().nurseries.push(handle);
            body(self);
            self.func_mut().nurseries.pop();
        } else if program.stmts.iter().any(spawns_stmt) {
            let end = program.stmts.last().map(stmt_span).unwrap_or_default();
            self.with_nursery(None, end, body);
        } else {
            body(self);
        }
        let end = Span::default();
        if let Some((reg, span)) = result {
            self.emit(Op::Return { src: reg }, span);
        } else if let Mode::Module { slot } = mode {
            let names: Vec<(String, u32)> = self.scope.names().map(|(n, s)| (n.to_string(), s)).collect();
            let map = self.alloc(end);
            self.emit(Op::NewMap { dst: map, start: map, count: 0 }, end);
            for (name, slot) in names {
                let mark = self.funcs.last().unwrap().next_reg;
                let key = self.alloc(end);
                let k = self.constant(Const::Str(name), end);
                self.emit(Op::Const { dst: key, index: k }, end);
                let value = self.alloc(end);
                self.emit(Op::GetGlobal { dst: value, slot }, end);
                self.emit(Op::MapInsert { map, key, src: value }, end);
                self.free_to(mark);
            }
            self.emit(Op::SetGlobal { src: map, slot }, end);
            self.emit(Op::Return { src: map }, end);
        } else {
            self.emit(Op::ReturnNil, end);
        }
        let func = self.funcs.pop().unwrap();
        self.unit.protos[0] = func.finish();
        self.unit.main = 0;
    }

    /// Declares a block's named functions before its other statements, so
    /// they can call each other in any order. At the file's top level the
    /// closures are made here too, so a function may be called before its
    /// definition. In any other block a closure is made where its statement
    /// stands, so that it can capture the `let`s declared before it; the
    /// names are declared up front (as cells when captured), so mutual
    /// recursion still works once both statements have run.
    fn hoist_functions(&mut self, stmts: &'a [Stmt]) {
        let top = self.funcs.len() == 1 && self.func().scopes.len() == 1;
        // Declare every name first: the functions may refer to each other.
        let mut places = Vec::new();
        for stmt in stmts {
            if let Stmt::Fn(def) = stmt {
                let name = def.name.as_ref().expect("named");
                if top {
                    places.push(Place::Global(self.scope.get(&name.name).expect("declared")));
                } else {
                    let reg = self.alloc(name.span);
                    let celled = self.func().captured.contains(&name.name);
                    self.emit(Op::Nil { dst: reg }, name.span);
                    if celled {
                        self.emit(Op::NewCell { reg }, name.span);
                    }
                    self.declare_local(&name.name, reg, celled);
                    if !self.reassigned.contains(&name.name) {
                        let local = self.func_mut().scopes.last_mut().and_then(|s| s.last_mut());
                        if let Some(local) = local {
                            local.def = Some(def);
                        }
                    }
                    places.push(if celled { Place::Cell(reg) } else { Place::Reg(reg) });
                }
            }
        }
        let mut places = places.into_iter();
        for stmt in stmts {
            if let Stmt::Fn(def) = stmt {
                let place = places.next().expect("one place per function");
                if !top {
                    self.local_fns.push((&**def, place));
                    continue;
                }
                let mark = self.func().next_reg;
                let tmp = self.alloc(def.span);
                self.function(def, tmp);
                self.store(place, tmp, def.span);
                self.free_to(mark);
            }
        }
    }

    /// Compiles a function definition into a closure in `dst`.
    fn function(&mut self, def: &'a FnDef, dst: Reg) {
        let name = match &def.name {
            Some(n) => n.name.clone(),
            None => "<fn>".to_string(),
        };
        let mut captured = HashSet::default();
        match &def.body {
            FnBody::Block(b) => {
                for s in &b.stmts {
                    nested_names_stmt(s, false, &mut captured);
                }
            }
            FnBody::Expr(e) => nested_names_expr(e, false, &mut captured),
        }
        let index = self.unit.protos.len();
        self.unit.protos.push(Proto::default());
        let mut func = Func::new(index, &name, captured, false);
        func.proto.span = def.span;
        if def.params.len() > 200 {
            self.error(Diagnostic::new("too many parameters", def.span).with_label("a function takes at most 200"));
        }
        func.proto.arity = def.params.len().min(200) as u8;
        self.funcs.push(func);
        let mut seen = HashSet::default();
        for p in def.params.iter().take(200) {
            if !seen.insert(&p.name) {
                self.error(Diagnostic::new(format!("duplicate parameter '{}'", p.name), p.span));
            }
            let reg = self.alloc(p.span);
            let celled = self.func().captured.contains(&p.name);
            if celled {
                self.emit(Op::NewCell { reg }, p.span);
            }
            self.declare_local(&p.name, reg, celled);
        }
        match &def.body {
            FnBody::Block(block) => {
                if block.stmts.iter().any(spawns_stmt) {
                    self.with_nursery(None, block.span, |c| c.block_body(&block.stmts));
                } else {
                    self.block_body(&block.stmts);
                }
                self.emit(Op::ReturnNil, Span::new(block.span.end as usize - 1, block.span.end as usize));
            }
            FnBody::Expr(e) => {
                let reg = self.alloc(e.span);
                if spawns_expr(e) {
                    self.with_nursery(None, e.span, |c| c.expr(e, reg));
                } else {
                    self.expr(e, reg);
                }
                self.emit(Op::Return { src: reg }, e.span);
            }
        }
        let func = self.funcs.pop().unwrap();
        self.unit.protos[index] = func.finish();
        self.emit(Op::Closure { dst, proto: index as u32 }, def.span);
    }
}

impl<'a> Func<'a> {
    fn new(index: usize, name: &str, captured: HashSet<String>, is_main: bool) -> Func<'a> {
        Func {
            proto: Proto { name: name.to_string(), ..Proto::default() },
            index,
            scopes: vec![Vec::new()],
            next_reg: 0,
            captured,
            upvals: Vec::new(),
            too_many_captures: false,
            loops: Vec::new(),
            exits: Vec::new(),
            nurseries: Vec::new(),
            is_main,
            const_slots: HashMap::default(),
            method_slots: HashMap::default(),
            too_large: false,
        }
    }

    fn finish(mut self) -> Proto {
        self.proto.captures = self.upvals.iter().map(|(_, c)| *c).collect();
        let _ = self.index;
        self.proto
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compiling a file into a copy of an environment and replaying what it
    /// gained on another copy give equal environments.
    #[test]
    fn changes_replay_what_compiling_added() {
        let mut before = Env::new();
        before.add_builtin("print");
        let len = before.add_builtin("len");
        before.set_builtin_signature("len", Some(BuiltinSig::new(&[("xs", false)])));
        let text = "fn helper(x) { return x }\nlen = fn(xs) => 0\nlet top = helper(1)\n";
        let Ok(program) = crate::parser::parse(text) else { panic!("the test text parses") };
        let mut after = before.clone();
        compile(&program, &mut after, &mut FileScope::new(), std::path::Path::new("."), Mode::Script)
            .expect("compiles");
        assert_ne!(after, before, "compiling declares names");
        assert!(after.builtin_signature("len").is_none(), "an assigned builtin loses its signature");

        let changes = after.changes_since(&before);
        let mut replayed = before.clone();
        replayed.apply(&changes);
        assert_eq!(replayed, after);
        assert_eq!(replayed.builtin("len"), Some(len));
        // Nothing changed, nothing to replay.
        let mut same = after.clone();
        same.apply(&after.changes_since(&after));
        assert_eq!(same, after);
    }
}
