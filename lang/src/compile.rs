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
use crate::bytecode::{Capture, Const, Op, Proto, Reg, Unit, MAX_REGS};
use crate::diagnostic::{closest, Diagnostic, Span};
use std::collections::{HashMap, HashSet};

/// How many top-level `let`s of a script may live in registers.
const MAX_REGISTER_LETS: usize = 120;

/// How deep expressions and statements may nest before the compiler refuses.
const MAX_DEPTH: usize = 200;

/// The global names shared by every file: builtins, and the slots handed
/// out to files' top-level names and to cached modules.
#[derive(Clone, Debug, Default)]
pub struct Env {
    builtins: HashMap<String, u32>,
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
}

/// The top-level names of one file (kept between REPL entries).
#[derive(Clone, Debug, Default)]
pub struct FileScope {
    names: HashMap<String, u32>,
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

    fn declare(&mut self, env: &mut Env, name: &str) -> u32 {
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
    };
    c.unit.protos.push(Proto::default());
    c.main(program, mode);
    if c.errors.is_empty() {
        Ok(c.unit)
    } else {
        Err(c.errors)
    }
}

struct Local {
    name: String,
    reg: Reg,
    celled: bool,
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
    scopes: Vec<Vec<Local>>,
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
        let mut captured = HashSet::new();
        for stmt in &program.stmts {
            nested_names_stmt(stmt, false, &mut captured);
        }
        self.funcs.push(Func::new(0, "<main>", captured.clone(), true));
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
        let body = |c: &mut Self| {
            for (i, stmt) in program.stmts.iter().enumerate() {
                match (mode, stmt) {
                    (Mode::Repl, Stmt::Expr(e)) if i + 1 == count => {
                        let reg = c.alloc(e.span);
                        c.expr(e, reg);
                        c.emit(Op::Return { src: reg }, e.span);
                    }
                    _ => c.stmt(stmt),
                }
            }
        };
        // The top level is a nursery too: it waits for the tasks it spawns.
        if program.stmts.iter().any(spawns_stmt) {
            let end = program.stmts.last().map(stmt_span).unwrap_or_default();
            self.with_nursery(None, end, body);
        } else {
            body(self);
        }
        let end = Span::default();
        if let Mode::Module { slot } = mode {
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
        let mut captured = HashSet::new();
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
        let mut seen = HashSet::new();
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

    // ----- statements ------------------------------------------------------

    fn block(&mut self, block: &'a Block) {
        self.func_mut().scopes.push(Vec::new());
        let mark = self.func().next_reg;
        self.block_body(&block.stmts);
        self.free_to(mark);
        self.func_mut().scopes.pop();
    }

    fn block_body(&mut self, stmts: &'a [Stmt]) {
        self.hoist_functions(stmts);
        for stmt in stmts {
            self.stmt(stmt);
        }
    }

    fn stmt(&mut self, stmt: &'a Stmt) {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.depth -= 1;
            let span = stmt_span(stmt);
            self.error(Diagnostic::new("nesting too deep", span).with_label("this statement is nested too deeply"));
            return;
        }
        self.stmt_inner(stmt);
        self.depth -= 1;
    }

    fn stmt_inner(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Let { name, value } => {
                if self.at_top_level() && self.scope.get(&name.name).is_some() {
                    let slot = self.scope.get(&name.name).expect("declared");
                    let mark = self.func().next_reg;
                    let reg = self.alloc(name.span);
                    match value {
                        Some(v) => self.expr(v, reg),
                        None => self.emit(Op::Nil { dst: reg }, name.span),
                    }
                    self.emit(Op::SetGlobal { src: reg, slot }, name.span);
                    self.free_to(mark);
                } else {
                    let reg = self.alloc(name.span);
                    match value {
                        Some(v) => self.expr(v, reg),
                        None => self.emit(Op::Nil { dst: reg }, name.span),
                    }
                    let celled = self.func().captured.contains(&name.name);
                    if celled {
                        self.emit(Op::NewCell { reg }, name.span);
                    }
                    self.declare_local(&name.name, reg, celled);
                }
            }
            Stmt::Assign { target, op, value, span } => self.assign(target, *op, value, *span),
            Stmt::Expr(e) => {
                let mark = self.func().next_reg;
                let reg = self.alloc(e.span);
                self.expr(e, reg);
                self.free_to(mark);
            }
            Stmt::If { cond, then, otherwise } => {
                // An `else if` chain compiles in a loop: however long, it is
                // no deeper than one `if`.
                let (mut cond, mut then, mut otherwise) = (cond, then, otherwise);
                let mut to_end = Vec::new();
                loop {
                    let to_else = self.cond_jump(cond, false);
                    self.block(then);
                    let Some(other) = otherwise else {
                        self.patch_all(to_else);
                        break;
                    };
                    to_end.push(self.emit_jump(Span::default()));
                    self.patch_all(to_else);
                    match &**other {
                        Stmt::If { cond: c, then: t, otherwise: o } => (cond, then, otherwise) = (c, t, o),
                        other => {
                            self.stmt(other);
                            break;
                        }
                    }
                }
                self.patch_all(to_end);
            }
            Stmt::While { cond, body } => {
                let start = self.here();
                let exits = self.cond_jump(cond, false);
                self.enter_loop();
                self.block(body);
                let lp = self.leave_loop();
                self.patch_all_to(lp.continues, start);
                self.emit_loop(start, cond.span);
                self.patch_all(exits);
                self.patch_all(lp.breaks);
            }
            Stmt::For { first, second, iter, body } => self.for_loop(first, second.as_ref(), iter, body),
            Stmt::Break(span) => {
                if self.func().loops.is_empty() {
                    self.error(Diagnostic::new("'break' outside a loop", *span));
                    return;
                }
                let exits = self.func().loops.last().unwrap().exits;
                self.unwind_exits(exits);
                let j = self.emit_jump(*span);
                self.func_mut().loops.last_mut().unwrap().breaks.push(j);
            }
            Stmt::Continue(span) => {
                if self.func().loops.is_empty() {
                    self.error(Diagnostic::new("'continue' outside a loop", *span));
                    return;
                }
                let exits = self.func().loops.last().unwrap().exits;
                self.unwind_exits(exits);
                let j = self.emit_jump(*span);
                self.func_mut().loops.last_mut().unwrap().continues.push(j);
            }
            Stmt::Return(value, span) => {
                if self.func().is_main {
                    self.error(
                        Diagnostic::new("'return' outside a function", *span)
                            .with_hint("use `exit(code)` to end the script early"),
                    );
                    return;
                }
                let mark = self.func().next_reg;
                let reg = match value {
                    Some(v) => self.expr_any(v),
                    None => {
                        let reg = self.alloc(*span);
                        self.emit(Op::Nil { dst: reg }, *span);
                        reg
                    }
                };
                self.unwind_exits(0);
                self.emit(Op::Return { src: reg }, *span);
                self.free_to(mark);
            }
            Stmt::Fn(def) => {
                // Top-level functions were made by `hoist_functions`.
                let Some(at) = self.local_fns.iter().position(|(d, _)| std::ptr::eq(*d, &**def)) else { return };
                let (_, place) = self.local_fns.swap_remove(at);
                let mark = self.func().next_reg;
                let tmp = self.alloc(def.span);
                self.function(def, tmp);
                self.store(place, tmp, def.span);
                self.free_to(mark);
            }
            Stmt::Import { path, alias, span } => {
                let resolved = self.dir.join(path);
                let resolved = resolved.canonicalize().unwrap_or(resolved);
                let text = resolved.to_string_lossy().into_owned();
                let slot = self.env.module_slot(&text);
                let mark = self.func().next_reg;
                let reg = self.alloc(*span);
                let k = self.constant(Const::Str(text), *span);
                self.emit(Op::Const { dst: reg, index: k }, *span);
                self.emit(Op::Import { dst: reg, slot }, *span);
                let place = if self.at_top_level() {
                    Place::Global(self.scope.get(&alias.name).expect("declared"))
                } else {
                    let local = self.alloc(alias.span);
                    self.emit(Op::Move { dst: local, src: reg }, alias.span);
                    let celled = self.func().captured.contains(&alias.name);
                    if celled {
                        self.emit(Op::NewCell { reg: local }, alias.span);
                    }
                    self.declare_local(&alias.name, local, celled);
                    return;
                };
                self.store(place, reg, *span);
                self.free_to(mark);
            }
            Stmt::Throw(value, span) => {
                let mark = self.func().next_reg;
                let reg = self.expr_any(value);
                self.emit(Op::Throw { src: reg }, *span);
                self.free_to(mark);
            }
            Stmt::Try { body, catch, finally, span } => self.try_stmt(body, catch.as_ref(), finally.as_ref(), *span),
            Stmt::Block(b) => self.block(b),
            Stmt::Nursery { name, body, span } => {
                self.with_nursery(name.as_ref(), *span, |c| c.block(body));
            }
            Stmt::Timeout { seconds, body, span } => {
                let mark = self.func().next_reg;
                let secs = self.alloc(seconds.span);
                self.expr(seconds, secs);
                self.emit(Op::ScopeEnter { seconds: secs, shield: false }, *span);
                self.guarded_scope(body, *span);
                self.free_to(mark);
            }
            Stmt::Shield { body, span } => {
                self.emit(Op::ScopeEnter { seconds: 0, shield: true }, *span);
                self.guarded_scope(body, *span);
            }
            Stmt::Select { cases, span } => self.select(cases, *span),
        }
    }

    fn assign(&mut self, target: &'a Expr, op: Option<BinOp>, value: &'a Expr, span: Span) {
        let mark = self.func().next_reg;
        match &target.kind {
            ExprKind::Name(ident) => {
                let Some(place) = self.resolve(ident) else { return };
                match (place, op) {
                    (Place::Reg(reg), None) if writes_result_last(value) => self.expr(value, reg),
                    (Place::Reg(reg), Some(op)) => self.binary_operand(op, reg, reg, value, span),
                    _ => {
                        let tmp = self.alloc(span);
                        match op {
                            None => self.expr(value, tmp),
                            Some(op) => {
                                self.load(place, tmp, ident.span);
                                self.binary_operand(op, tmp, tmp, value, span);
                            }
                        }
                        self.store(place, tmp, span);
                    }
                }
            }
            ExprKind::Index(obj, index) => {
                let o = self.expr_any(obj);
                let i = self.expr_any(index);
                // A local value is stored from its own register.
                let v = match op {
                    None => self.expr_any(value),
                    Some(op) => {
                        let v = self.alloc(span);
                        self.emit(Op::GetIndex { dst: v, obj: o, index: i }, target.span);
                        self.binary_operand(op, v, v, value, span);
                        v
                    }
                };
                self.emit(Op::SetIndex { obj: o, index: i, src: v }, target.span);
            }
            ExprKind::Field(obj, name) => {
                let o = self.expr_any(obj);
                let k = self.name_constant(&name.name, name.span);
                let v = match op {
                    None => self.expr_any(value),
                    Some(op) => {
                        let v = self.alloc(span);
                        self.emit(Op::GetField { dst: v, obj: o, name: k }, target.span);
                        self.binary_operand(op, v, v, value, span);
                        v
                    }
                };
                self.emit(Op::SetField { obj: o, name: k, src: v }, target.span);
            }
            _ => unreachable!("the grammar only builds assignments to names, indexes and fields"),
        }
        self.free_to(mark);
    }

    fn for_loop(&mut self, first: &'a Ident, second: Option<&'a Ident>, iter: &'a Expr, body: &'a Block) {
        self.func_mut().scopes.push(Vec::new());
        let mark = self.func().next_reg;
        let counted = matches!(&iter.kind, ExprKind::Range { .. }) && second.is_none();
        let (start, exit_jump);
        if let (true, ExprKind::Range { start: lo, end: hi, inclusive }) = (counted, &iter.kind) {
            // A counted loop over a range literal: no range object, no iterator.
            let i = self.alloc(iter.span);
            let end = self.alloc(iter.span);
            self.expr(lo, i);
            self.expr(hi, end);
            self.emit(Op::ForPrep { a: i }, iter.span);
            start = self.here();
            exit_jump = self.code_len();
            if *inclusive {
                self.emit(Op::JumpIfNotLe { a: i, b: end, offset: 0 }, iter.span);
            } else {
                self.emit(Op::JumpIfNotLt { a: i, b: end, offset: 0 }, iter.span);
            }
            let var = self.alloc(first.span);
            self.emit(Op::Move { dst: var, src: i }, first.span);
            self.bind_loop_var(first, var);
            self.enter_loop();
            self.block(body);
            let lp = self.leave_loop();
            let step = self.here();
            self.patch_all_to(lp.continues, step);
            // `..=` ends on its last item before stepping, which could
            // overflow at i64::MAX.
            let last = inclusive.then(|| {
                let at = self.code_len();
                self.emit(Op::JumpIfEq { a: i, b: end, offset: 0 }, iter.span);
                at
            });
            self.emit(Op::AddI { dst: i, a: i, imm: 1 }, iter.span);
            self.emit_loop(start, iter.span);
            self.patch(exit_jump);
            self.patch_all(last.into_iter().collect());
            self.patch_all(lp.breaks);
        } else {
            let base = self.alloc(iter.span);
            let _cursor = self.alloc(iter.span);
            let _count = self.alloc(iter.span);
            self.expr(iter, base);
            self.emit(Op::IterPrep { base }, iter.span);
            start = self.here();
            let dst = self.alloc(first.span);
            if second.is_some() {
                self.alloc(first.span);
            }
            exit_jump = self.code_len();
            self.emit(Op::IterNext { base, dst, pair: second.is_some(), offset: 0 }, iter.span);
            self.bind_loop_var(first, dst);
            if let Some(second) = second {
                self.bind_loop_var(second, dst + 1);
            }
            self.enter_loop();
            self.block(body);
            let lp = self.leave_loop();
            self.patch_all_to(lp.continues, start);
            self.emit_loop(start, iter.span);
            self.patch(exit_jump);
            self.patch_all(lp.breaks);
        }
        self.free_to(mark);
        self.func_mut().scopes.pop();
    }

    /// Declares a loop variable; a captured one gets a fresh cell on every
    /// iteration, so closures made in different iterations do not share it.
    fn bind_loop_var(&mut self, ident: &Ident, reg: Reg) {
        let celled = self.func().captured.contains(&ident.name);
        if celled {
            self.emit(Op::NewCell { reg }, ident.span);
        }
        self.declare_local(&ident.name, reg, celled);
    }

    fn try_stmt(
        &mut self,
        body: &'a Block,
        catch: Option<&'a (Option<Ident>, Block)>,
        finally: Option<&'a Block>,
        span: Span,
    ) {
        let mark = self.func().next_reg;
        let err = self.alloc(span);
        let handler = self.code_len();
        self.emit(Op::Try { reg: err, offset: 0 }, span);
        self.func_mut().exits.push(Exit::Handler(finally));
        self.block(body);
        self.func_mut().exits.pop();
        self.emit(Op::EndTry, span);
        if let Some(f) = finally {
            self.block(f);
        }
        let mut to_end = vec![self.emit_jump(span)];
        self.patch(handler);
        match catch {
            Some((name, catch_body)) => {
                let mut second = None;
                if finally.is_some() {
                    let err2 = self.alloc(span);
                    second = Some((self.code_len(), err2));
                    self.emit(Op::Try { reg: err2, offset: 0 }, span);
                    self.func_mut().exits.push(Exit::Handler(finally));
                }
                self.func_mut().scopes.push(Vec::new());
                let inner = self.func().next_reg;
                if let Some(name) = name {
                    let reg = self.alloc(name.span);
                    self.emit(Op::Move { dst: reg, src: err }, name.span);
                    let celled = self.func().captured.contains(&name.name);
                    if celled {
                        self.emit(Op::NewCell { reg }, name.span);
                    }
                    self.declare_local(&name.name, reg, celled);
                }
                self.block(catch_body);
                self.free_to(inner);
                self.func_mut().scopes.pop();
                if let Some((at, err2)) = second {
                    self.func_mut().exits.pop();
                    self.emit(Op::EndTry, span);
                    self.block(finally.unwrap());
                    to_end.push(self.emit_jump(span));
                    self.patch(at);
                    self.block(finally.unwrap());
                    self.emit(Op::Throw { src: err2 }, span);
                }
            }
            None => {
                self.block(finally.expect("try has catch or finally"));
                self.emit(Op::Throw { src: err }, span);
            }
        }
        self.patch_all(to_end);
        self.free_to(mark);
    }

    /// Compiles `body` inside a nursery: opens it, runs the body under a
    /// handler, and on every way out waits for the nursery's tasks.
    fn with_nursery(&mut self, name: Option<&Ident>, span: Span, body: impl FnOnce(&mut Self)) {
        let mark = self.func().next_reg;
        let handle = self.alloc(span);
        self.emit(Op::NurseryEnter { dst: handle }, span);
        // A function's implicit nursery keeps the body's own scope level, so
        // top-level names stay globals.
        let implicit = name.is_none() && self.func().exits.is_empty() && self.func().nurseries.is_empty();
        if !implicit {
            self.func_mut().scopes.push(Vec::new());
        }
        if let Some(name) = name {
            let reg = self.alloc(name.span);
            self.emit(Op::Move { dst: reg, src: handle }, name.span);
            let celled = self.func().captured.contains(&name.name);
            if celled {
                self.emit(Op::NewCell { reg }, name.span);
            }
            self.declare_local(&name.name, reg, celled);
        }
        let err = self.alloc(span);
        let handler = self.code_len();
        self.emit(Op::Try { reg: err, offset: 0 }, span);
        self.func_mut().exits.push(Exit::Nursery(handle));
        self.func_mut().nurseries.push(handle);
        body(self);
        self.func_mut().nurseries.pop();
        self.func_mut().exits.pop();
        let end = Span::new(span.end.saturating_sub(1) as usize, span.end as usize);
        self.emit(Op::EndTry, end);
        self.emit(Op::NurseryExit { nursery: handle, err, failed: false }, end);
        let done = self.emit_jump(end);
        self.patch(handler);
        self.emit(Op::NurseryExit { nursery: handle, err, failed: true }, end);
        self.patch(done);
        if !implicit {
            self.func_mut().scopes.pop();
        }
        self.free_to(mark);
    }

    /// The body of a `timeout` or `shield`, whose scope `ScopeEnter` opened.
    fn guarded_scope(&mut self, body: &'a Block, span: Span) {
        let mark = self.func().next_reg;
        let err = self.alloc(span);
        let handler = self.code_len();
        self.emit(Op::Try { reg: err, offset: 0 }, span);
        self.func_mut().exits.push(Exit::Scope);
        self.block(body);
        self.func_mut().exits.pop();
        self.emit(Op::EndTry, span);
        self.emit(Op::ScopeExit { err, failed: false }, span);
        let done = self.emit_jump(span);
        self.patch(handler);
        self.emit(Op::ScopeExit { err, failed: true }, span);
        self.patch(done);
        self.free_to(mark);
    }

    fn select(&mut self, cases: &'a [SelectCase], span: Span) {
        let mark = self.func().next_reg;
        let base = self.alloc(span);
        let value = self.alloc(span);
        let waits: Vec<&SelectCase> = cases.iter().filter(|c| !matches!(c, SelectCase::Default { .. })).collect();
        let defaults: Vec<&SelectCase> = cases.iter().filter(|c| matches!(c, SelectCase::Default { .. })).collect();
        if let Some(SelectCase::Default { span, .. }) = defaults.get(1) {
            self.error(Diagnostic::new("a select has at most one 'default'", *span));
        }
        if waits.len() > 30 {
            self.error(Diagnostic::new("too many select cases", span).with_label("a select has at most 30 cases"));
            return;
        }
        let mut kinds: i64 = if defaults.is_empty() { 0 } else { 1 << 62 };
        for (i, case) in waits.iter().enumerate() {
            let operand = self.alloc(span);
            let sent = self.alloc(span);
            let kind = match case {
                SelectCase::Recv { chan, .. } => {
                    self.expr(chan, operand);
                    0
                }
                SelectCase::Send { chan, value, .. } => {
                    self.expr(chan, operand);
                    self.expr(value, sent);
                    1
                }
                SelectCase::Join { task, .. } => {
                    self.expr(task, operand);
                    2
                }
                SelectCase::After { seconds, .. } => {
                    self.expr(seconds, operand);
                    3
                }
                SelectCase::Default { .. } => unreachable!("filtered"),
            };
            kinds |= kind << (2 * i);
        }
        let k = self.constant(Const::Int(kinds), span);
        self.emit(Op::Select { base, count: waits.len() as u8, kinds: k }, span);
        let mut to_end = Vec::new();
        let index = self.alloc(span);
        for (i, case) in waits.iter().enumerate() {
            self.emit(Op::Int { dst: index, value: i as i32 }, span);
            let skip = self.code_len();
            self.emit(Op::JumpIfNotEq { a: base, b: index, offset: 0 }, span);
            let (bind, body) = match case {
                SelectCase::Recv { bind, body, .. } | SelectCase::Join { task: _, bind, body } => (bind.as_ref(), body),
                SelectCase::Send { body, .. } | SelectCase::After { body, .. } => (None, body),
                SelectCase::Default { .. } => unreachable!("filtered"),
            };
            self.func_mut().scopes.push(Vec::new());
            let inner = self.func().next_reg;
            if let Some(name) = bind {
                let reg = self.alloc(name.span);
                self.emit(Op::Move { dst: reg, src: value }, name.span);
                let celled = self.func().captured.contains(&name.name);
                if celled {
                    self.emit(Op::NewCell { reg }, name.span);
                }
                self.declare_local(&name.name, reg, celled);
            }
            self.block(body);
            self.free_to(inner);
            self.func_mut().scopes.pop();
            to_end.push(self.emit_jump(span));
            self.patch(skip);
        }
        if let Some(SelectCase::Default { body, .. }) = defaults.first() {
            self.block(body);
        }
        self.patch_all(to_end);
        self.free_to(mark);
    }

    /// Emits what leaving the try regions above `keep` requires: popping
    /// their handlers and running their finally blocks, innermost first.
    fn unwind_exits(&mut self, keep: usize) {
        let exits: Vec<Exit<'a>> = self.func().exits[keep..].to_vec();
        let saved = std::mem::take(&mut self.func_mut().exits);
        let mut remaining = saved[..keep].to_vec();
        for (i, exit) in exits.iter().enumerate().rev() {
            self.emit(Op::EndTry, Span::default());
            let finally = match exit {
                Exit::Handler(finally) => finally,
                Exit::Nursery(handle) => {
                    self.emit(Op::NurseryExit { nursery: *handle, err: *handle, failed: false }, Span::default());
                    continue;
                }
                Exit::Scope => {
                    self.emit(Op::ScopeExit { err: 0, failed: false }, Span::default());
                    continue;
                }
            };
            if let Some(f) = finally {
                // The finally block runs outside the region it guards.
                remaining.truncate(keep);
                remaining.extend_from_slice(&exits[..i]);
                self.func_mut().exits = remaining.clone();
                // So do the loops inside that region: a `break` in the
                // finally leaves the loop around the `try`, not the loop
                // the exit came from.
                let depth = keep + i;
                let loops = &mut self.func_mut().loops;
                let inside = loops.iter().position(|l| l.exits > depth).unwrap_or(loops.len());
                let inner = loops.split_off(inside);
                self.block(f);
                self.func_mut().loops.extend(inner);
            }
        }
        self.func_mut().exits = saved;
    }

    fn enter_loop(&mut self) {
        let exits = self.func().exits.len();
        self.func_mut().loops.push(Loop { breaks: Vec::new(), continues: Vec::new(), exits });
    }

    fn leave_loop(&mut self) -> Loop {
        self.func_mut().loops.pop().expect("in a loop")
    }

    // ----- expressions -----------------------------------------------------

    /// Compiles `e` into register `dst`.
    fn expr(&mut self, e: &'a Expr, dst: Reg) {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.depth -= 1;
            self.error(Diagnostic::new("nesting too deep", e.span).with_label("this expression is nested too deeply"));
            return;
        }
        self.expr_inner(e, dst);
        self.depth -= 1;
    }

    fn expr_inner(&mut self, e: &'a Expr, dst: Reg) {
        let span = e.span;
        let mark = self.func().next_reg;
        match &e.kind {
            ExprKind::Nil => self.emit(Op::Nil { dst }, span),
            ExprKind::Bool(value) => self.emit(Op::Bool { dst, value: *value }, span),
            ExprKind::Int(n) => self.int(*n, dst, span),
            ExprKind::Float(x) => {
                let k = self.constant(Const::Float(*x), span);
                self.emit(Op::Const { dst, index: k }, span);
            }
            ExprKind::Str(s) => {
                let k = self.constant(Const::Str(s.clone()), span);
                self.emit(Op::Const { dst, index: k }, span);
            }
            ExprKind::Interp(parts) => {
                let parts: Vec<&Expr> =
                    parts.iter().filter(|p| !matches!(&p.kind, ExprKind::Str(s) if s.is_empty())).collect();
                if parts.len() > 250 {
                    self.error(Diagnostic::new("too many interpolations in one string", span));
                    return;
                }
                let start = self.func().next_reg as Reg;
                for p in &parts {
                    let r = self.alloc(p.span);
                    self.expr(p, r);
                }
                self.emit(Op::Concat { dst, start, count: parts.len() as u8 }, span);
            }
            ExprKind::Name(ident) => {
                if let Some(place) = self.resolve(ident) {
                    self.load(place, dst, span);
                }
            }
            ExprKind::List(items) => {
                let start = self.func().next_reg as Reg;
                let first = items.len().min(64);
                for item in &items[..first] {
                    let r = self.alloc(item.span);
                    self.expr(item, r);
                }
                self.emit(Op::NewList { dst, start, count: first as u8 }, span);
                self.free_to(mark);
                for item in &items[first..] {
                    let r = self.expr_any(item);
                    self.emit(Op::ListPush { list: dst, src: r }, item.span);
                    self.free_to(mark);
                }
            }
            ExprKind::Map(entries) => {
                let start = self.func().next_reg as Reg;
                let first = entries.len().min(32);
                for (k, v) in &entries[..first] {
                    let rk = self.alloc(k.span);
                    self.expr(k, rk);
                    let rv = self.alloc(v.span);
                    self.expr(v, rv);
                }
                self.emit(Op::NewMap { dst, start, count: first as u8 }, span);
                self.free_to(mark);
                for (k, v) in &entries[first..] {
                    let rk = self.expr_any(k);
                    let rv = self.expr_any(v);
                    self.emit(Op::MapInsert { map: dst, key: rk, src: rv }, k.span.to(v.span));
                    self.free_to(mark);
                }
            }
            ExprKind::Neg(inner) => {
                if let ExprKind::Int(n) = inner.kind {
                    self.int(-n, dst, span);
                } else if let ExprKind::Float(x) = inner.kind {
                    let k = self.constant(Const::Float(-x), span);
                    self.emit(Op::Const { dst, index: k }, span);
                } else {
                    let r = self.expr_any(inner);
                    self.emit(Op::Neg { dst, src: r }, span);
                }
            }
            ExprKind::Not(inner) => {
                let r = self.expr_any(inner);
                self.emit(Op::Not { dst, src: r }, span);
            }
            ExprKind::Binary(_, a, _) if matches!(a.kind, ExprKind::Binary(..)) => self.binary_chain(e, dst),
            ExprKind::Binary(op, a, b) => {
                let ra = self.expr_any(a);
                self.binary_operand(*op, dst, ra, b, span);
            }
            ExprKind::And(..) | ExprKind::Or(..) => {
                // `a or b or c` nests on the left: walk down that spine and
                // compile it in a loop, each operand tested in `dst`.
                let mut spine = Vec::new();
                let mut left = e;
                while let ExprKind::And(a, b) | ExprKind::Or(a, b) = &left.kind {
                    spine.push((matches!(left.kind, ExprKind::And(..)), &**b, left.span));
                    left = a;
                }
                self.expr(left, dst);
                while let Some((is_and, b, span)) = spine.pop() {
                    let at = self.code_len();
                    if is_and {
                        self.emit(Op::JumpIfFalse { cond: dst, offset: 0 }, span);
                    } else {
                        self.emit(Op::JumpIfTrue { cond: dst, offset: 0 }, span);
                    }
                    self.expr(b, dst);
                    self.patch(at);
                }
            }
            ExprKind::Range { start, end, inclusive } => {
                let r = self.alloc(start.span);
                self.expr(start, r);
                let r2 = self.alloc(end.span);
                self.expr(end, r2);
                self.emit(Op::Range { dst, start: r, inclusive: *inclusive }, span);
            }
            ExprKind::Call(f, args) => {
                let base = self.call_base(dst);
                self.expr(f, base);
                self.args(args, span);
                self.emit(Op::Call { base, argc: args.len() as u8 }, span);
                if base != dst {
                    self.emit(Op::Move { dst, src: base }, span);
                }
            }
            ExprKind::Method(..) => {
                // `a.f().g().h()` nests on the receiver: walk down that spine
                // and call in a loop, each result the next receiver, so a
                // long chain is no deeper than one call.
                let mut spine = Vec::new();
                let mut obj = e;
                while let ExprKind::Method(receiver, name, args) = &obj.kind {
                    spine.push((name, args, obj.span));
                    obj = receiver;
                }
                let base = self.call_base(dst);
                let recv = self.alloc(obj.span);
                self.expr(obj, recv);
                while let Some((name, args, span)) = spine.pop() {
                    let mark = self.func().next_reg;
                    self.args(args, span);
                    let name = self.method_name(&name.name, name.span);
                    self.emit(Op::CallMethod { base, argc: args.len() as u8, name }, span);
                    self.free_to(mark);
                    if !spine.is_empty() {
                        self.emit(Op::Move { dst: recv, src: base }, span);
                    }
                }
                if base != dst {
                    self.emit(Op::Move { dst, src: base }, span);
                }
            }
            ExprKind::Index(obj, index) => {
                let o = self.expr_any(obj);
                let i = self.expr_any(index);
                self.emit(Op::GetIndex { dst, obj: o, index: i }, span);
            }
            ExprKind::Field(obj, name) => {
                let o = self.expr_any(obj);
                let k = self.name_constant(&name.name, name.span);
                self.emit(Op::GetField { dst, obj: o, name: k }, span);
            }
            ExprKind::Func(def) => self.function(def, dst),
            ExprKind::Spawn(inner) => {
                let Some(&nursery) = self.func().nurseries.last() else {
                    self.error(Diagnostic::new("'spawn' outside a nursery", span));
                    return;
                };
                let base = self.call_base(dst);
                let argc = match &inner.kind {
                    ExprKind::Call(f, args) => {
                        self.expr(f, base);
                        self.args(args, span);
                        args.len()
                    }
                    ExprKind::Method(obj, name, args) => {
                        // `spawn m.f(x)` spawns the function stored in field `f`.
                        self.expr(obj, base);
                        let k = self.name_constant(&name.name, name.span);
                        self.emit(Op::GetField { dst: base, obj: base, name: k }, inner.span);
                        self.args(args, span);
                        args.len()
                    }
                    ExprKind::Func(def) => {
                        self.function(def, base);
                        0
                    }
                    _ => unreachable!("the grammar only spawns calls and blocks"),
                };
                self.emit(Op::Spawn { base, argc: argc as u8, nursery }, span);
                if base != dst {
                    self.emit(Op::Move { dst, src: base }, span);
                }
            }
        }
        self.free_to(mark);
    }

    /// Compiles a chain of binary operators leaning left, `a + b - c + ...`,
    /// with a loop rather than recursion, so that a long flat sum is not
    /// mistaken for deep nesting and needs only two registers. The left end
    /// goes into a scratch register, not `dst`, which may be a local that a
    /// later operand reads.
    fn binary_chain(&mut self, e: &'a Expr, dst: Reg) {
        let mut spine = Vec::new();
        let mut left = e;
        while let ExprKind::Binary(op, a, b) = &left.kind {
            spine.push((*op, &**b, left.span));
            left = a;
        }
        // A local on the left is read in place (`i * i` needs no copy of
        // `i`); the running result lives in `acc`.
        let acc = self.alloc(left.span);
        let mut ra = match self.local_reg(left) {
            Some(reg) => reg,
            None => {
                self.expr(left, acc);
                acc
            }
        };
        let mark = self.func().next_reg;
        while let Some((op, b, span)) = spine.pop() {
            let out = if spine.is_empty() { dst } else { acc };
            self.binary_operand(op, out, ra, b, span);
            ra = acc;
            self.free_to(mark);
        }
    }

    /// Emits `dst = ra op b`, with `b` as an immediate when it is a small
    /// int and the operator has an immediate form.
    fn binary_operand(&mut self, op: BinOp, dst: Reg, ra: Reg, b: &'a Expr, span: Span) {
        if let Some(imm) = small_int(b) {
            match op {
                BinOp::Add => return self.emit(Op::AddI { dst, a: ra, imm }, span),
                BinOp::Sub if imm != i16::MIN => return self.emit(Op::AddI { dst, a: ra, imm: -imm }, span),
                BinOp::Mul => return self.emit(Op::MulI { dst, a: ra, imm }, span),
                BinOp::Mod if imm != 0 => return self.emit(Op::ModI { dst, a: ra, imm }, span),
                _ => {}
            }
        }
        let rb = self.expr_any(b);
        self.binary(op, dst, ra, rb, span);
    }

    /// Compiles call arguments into the registers after the callee.
    fn args(&mut self, args: &'a [Expr], span: Span) {
        if args.len() > 200 {
            self.error(Diagnostic::new("too many arguments", span).with_label("a call takes at most 200"));
            return;
        }
        for a in args {
            let r = self.alloc(a.span);
            self.expr(a, r);
        }
    }

    /// A register at the top of the frame to call from: `dst` itself when it
    /// is already the topmost, saving a move.
    fn call_base(&mut self, dst: Reg) -> Reg {
        if dst as usize + 1 == self.func().next_reg {
            dst
        } else {
            self.alloc(Span::default())
        }
    }

    /// The register of a plain (uncaptured) local named by `e`, if it is one.
    fn local_reg(&mut self, e: &Expr) -> Option<Reg> {
        match &e.kind {
            ExprKind::Name(ident) => match self.lookup_local(&ident.name) {
                Some(Place::Reg(reg)) => Some(reg),
                _ => None,
            },
            _ => None,
        }
    }

    /// The register holding `e`: a local's own register, or a new temporary.
    fn expr_any(&mut self, e: &'a Expr) -> Reg {
        if let Some(reg) = self.local_reg(e) {
            return reg;
        }
        let r = self.alloc(e.span);
        self.expr(e, r);
        r
    }

    fn binary(&mut self, op: BinOp, dst: Reg, a: Reg, b: Reg, span: Span) {
        let op = match op {
            BinOp::Add => Op::Add { dst, a, b },
            BinOp::Sub => Op::Sub { dst, a, b },
            BinOp::Mul => Op::Mul { dst, a, b },
            BinOp::Div => Op::Div { dst, a, b },
            BinOp::FloorDiv => Op::FloorDiv { dst, a, b },
            BinOp::Mod => Op::Mod { dst, a, b },
            BinOp::Pow => Op::Pow { dst, a, b },
            BinOp::Eq => Op::Eq { dst, a, b },
            BinOp::Ne => Op::Ne { dst, a, b },
            BinOp::Lt => Op::Lt { dst, a, b },
            BinOp::Le => Op::Le { dst, a, b },
            BinOp::Gt => Op::Lt { dst, a: b, b: a },
            BinOp::Ge => Op::Le { dst, a: b, b: a },
            BinOp::In => Op::In { dst, a, b },
        };
        self.emit(op, span);
    }

    /// Compiles a condition as jumps: returns the jumps taken when the
    /// condition is `when`, to be patched to their target.
    fn cond_jump(&mut self, cond: &'a Expr, when: bool) -> Vec<usize> {
        let mark = self.func().next_reg;
        let span = cond.span;
        let jumps = match (&cond.kind, when) {
            (
                ExprKind::Binary(op @ (BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne), a, b),
                false,
            ) => {
                // A comparison with a small int constant compares with an
                // immediate: `if n < 2` is one instruction.
                let immediate = match (op, small_int(a), small_int(b)) {
                    (BinOp::Lt, _, Some(imm)) => Some((a, imm, true)),
                    (BinOp::Gt, _, Some(imm)) => Some((a, imm, false)),
                    (BinOp::Lt, Some(imm), _) => Some((b, imm, false)),
                    (BinOp::Gt, Some(imm), _) => Some((b, imm, true)),
                    _ => None,
                };
                if let Some((x, imm, less_than)) = immediate {
                    let rx = self.expr_any(x);
                    let at = self.code_len();
                    let op = if less_than {
                        Op::JumpIfNotLtI { a: rx, imm, offset: 0 }
                    } else {
                        Op::JumpIfNotGtI { a: rx, imm, offset: 0 }
                    };
                    self.emit(op, span);
                    self.free_to(mark);
                    return vec![at];
                }
                let ra = self.expr_any(a);
                let rb = self.expr_any(b);
                let at = self.code_len();
                let op = match op {
                    BinOp::Lt => Op::JumpIfNotLt { a: ra, b: rb, offset: 0 },
                    BinOp::Le => Op::JumpIfNotLe { a: ra, b: rb, offset: 0 },
                    BinOp::Gt => Op::JumpIfNotLt { a: rb, b: ra, offset: 0 },
                    BinOp::Ge => Op::JumpIfNotLe { a: rb, b: ra, offset: 0 },
                    BinOp::Eq => Op::JumpIfNotEq { a: ra, b: rb, offset: 0 },
                    _ => Op::JumpIfEq { a: ra, b: rb, offset: 0 },
                };
                self.emit(op, span);
                vec![at]
            }
            (ExprKind::Not(inner), _) => {
                self.free_to(mark);
                return self.cond_jump(inner, !when);
            }
            // A chain of the same operator, `a and b and c`, jumps out at
            // any operand: its left spine is walked in a loop.
            (ExprKind::And(..), false) | (ExprKind::Or(..), true) => {
                let mut operands = Vec::new();
                let mut left = cond;
                while let (ExprKind::And(a, b), false) | (ExprKind::Or(a, b), true) = (&left.kind, when) {
                    operands.push(&**b);
                    left = a;
                }
                let mut jumps = self.cond_jump(left, when);
                while let Some(b) = operands.pop() {
                    jumps.extend(self.cond_jump(b, when));
                }
                jumps
            }
            _ => {
                let r = self.expr_any(cond);
                let at = self.code_len();
                if when {
                    self.emit(Op::JumpIfTrue { cond: r, offset: 0 }, span);
                } else {
                    self.emit(Op::JumpIfFalse { cond: r, offset: 0 }, span);
                }
                vec![at]
            }
        };
        self.free_to(mark);
        jumps
    }

    fn int(&mut self, n: i64, dst: Reg, span: Span) {
        match i32::try_from(n) {
            Ok(value) => self.emit(Op::Int { dst, value }, span),
            Err(_) => {
                let k = self.constant(Const::Int(n), span);
                self.emit(Op::Const { dst, index: k }, span);
            }
        }
    }

    // ----- names -----------------------------------------------------------

    fn at_top_level(&self) -> bool {
        self.funcs.len() == 1 && self.func().scopes.len() == 1
    }

    fn declare_local(&mut self, name: &str, reg: Reg, celled: bool) {
        self.func_mut().scopes.last_mut().unwrap().push(Local { name: name.to_string(), reg, celled });
    }

    fn lookup_local(&self, name: &str) -> Option<Place> {
        lookup_in(self.func(), name)
    }

    fn resolve(&mut self, ident: &Ident) -> Option<Place> {
        let depth = self.funcs.len() - 1;
        if let Some(place) = self.resolve_in(depth, &ident.name) {
            return Some(place);
        }
        if self.funcs.iter().any(|f| f.upvals.len() >= MAX_CAPTURES && lookup_in(f, &ident.name).is_none())
            && self.funcs.iter().any(|f| lookup_in(f, &ident.name).is_some())
        {
            // Declared in an enclosing function, but the capture list is full.
            if std::mem::replace(&mut self.func_mut().too_many_captures, true) {
                return None;
            }
            self.error(
                Diagnostic::new("function captures too many variables", ident.span)
                    .with_label(format!("'{}' would be capture number {}", ident.name, MAX_CAPTURES + 1))
                    .with_hint(format!(
                        "a function captures at most {MAX_CAPTURES} variables: pass some as arguments, or group them in a map"
                    )),
            );
            return None;
        }
        if let Some(slot) = self.scope.get(&ident.name).or_else(|| self.env.builtin(&ident.name)) {
            return Some(Place::Global(slot));
        }
        // The literals that read like names: `nill` means `nil`.
        let mut candidates: Vec<&str> = vec!["nil", "true", "false"];
        candidates.extend(self.env.builtin_names());
        candidates.extend(self.scope.names().map(|(n, _)| n));
        for f in &self.funcs {
            for s in &f.scopes {
                candidates.extend(s.iter().map(|l| l.name.as_str()));
            }
        }
        let mut d = Diagnostic::new(format!("undefined name '{}'", ident.name), ident.span)
            .with_label("not declared in this scope");
        if let Some(best) = closest(&ident.name, candidates.into_iter()) {
            d = d.with_hint(format!("did you mean '{best}'?"));
        } else {
            d = d.with_hint(format!("declare it first: `let {} = ...`", ident.name));
        }
        self.error(d);
        None
    }

    /// Resolves a name in function `depth`, capturing it from enclosing
    /// functions as needed.
    fn resolve_in(&mut self, depth: usize, name: &str) -> Option<Place> {
        if let Some(place) = lookup_in(&self.funcs[depth], name) {
            return Some(place);
        }
        if let Some(i) = self.funcs[depth].upvals.iter().position(|(n, _)| n == name) {
            return Some(Place::Upval(i as u8));
        }
        if depth == 0 {
            return None;
        }
        let capture = match self.resolve_in(depth - 1, name)? {
            Place::Cell(reg) => Capture::Local(reg),
            Place::Upval(i) => Capture::Upval(i),
            Place::Global(slot) => return Some(Place::Global(slot)),
            Place::Reg(_) => {
                // Not predicted as captured: cannot happen, as every name used in a
                // nested function marks the enclosing locals of that name as celled.
                return None;
            }
        };
        let func = &mut self.funcs[depth];
        if func.upvals.len() >= MAX_CAPTURES {
            return None;
        }
        func.upvals.push((name.to_string(), capture));
        Some(Place::Upval((func.upvals.len() - 1) as u8))
    }

    fn load(&mut self, place: Place, dst: Reg, span: Span) {
        match place {
            Place::Reg(src) => {
                if src != dst {
                    self.emit(Op::Move { dst, src }, span)
                }
            }
            Place::Cell(cell) => self.emit(Op::GetCell { dst, cell }, span),
            Place::Upval(index) => self.emit(Op::GetUpval { dst, index }, span),
            Place::Global(slot) => self.emit(Op::GetGlobal { dst, slot }, span),
        }
    }

    fn store(&mut self, place: Place, src: Reg, span: Span) {
        match place {
            Place::Reg(dst) => {
                if src != dst {
                    self.emit(Op::Move { dst, src }, span)
                }
            }
            Place::Cell(cell) => self.emit(Op::SetCell { cell, src }, span),
            Place::Upval(index) => self.emit(Op::SetUpval { src, index }, span),
            Place::Global(slot) => self.emit(Op::SetGlobal { src, slot }, span),
        }
    }

    // ----- emission --------------------------------------------------------

    fn func(&self) -> &Func<'a> {
        self.funcs.last().expect("compiling a function")
    }

    fn func_mut(&mut self) -> &mut Func<'a> {
        self.funcs.last_mut().expect("compiling a function")
    }

    fn error(&mut self, d: Diagnostic) {
        self.errors.push(d);
    }

    /// Reports that the function outgrew a limit, once per function.
    fn too_large(&mut self, span: Span, what: String) {
        if std::mem::replace(&mut self.func_mut().too_large, true) {
            return;
        }
        self.error(
            Diagnostic::new("function too large", span)
                .with_label(what)
                .with_hint("split the function into smaller ones"),
        );
    }

    fn alloc(&mut self, span: Span) -> Reg {
        let f = self.func_mut();
        let reg = f.next_reg;
        if reg >= MAX_REGS {
            self.too_large(span, format!("more than {MAX_REGS} locals and temporaries are live here"));
            return (MAX_REGS - 1) as Reg;
        }
        f.next_reg += 1;
        f.proto.regs = f.proto.regs.max(f.next_reg as u8);
        reg as Reg
    }

    fn free_to(&mut self, mark: usize) {
        self.func_mut().next_reg = mark;
    }

    fn emit(&mut self, op: Op, span: Span) {
        let f = self.func_mut();
        f.proto.code.push(op);
        f.proto.spans.push(span);
    }

    fn code_len(&self) -> usize {
        self.func().proto.code.len()
    }

    fn here(&self) -> usize {
        self.code_len()
    }

    fn emit_jump(&mut self, span: Span) -> usize {
        let at = self.code_len();
        self.emit(Op::Jump { offset: 0 }, span);
        at
    }

    fn emit_loop(&mut self, target: usize, span: Span) {
        let offset = target as i32 - (self.code_len() as i32 + 1);
        self.emit(Op::Loop { offset }, span);
    }

    /// Points the jump at `at` to the next instruction.
    fn patch(&mut self, at: usize) {
        let target = self.code_len();
        self.patch_to(at, target);
    }

    fn patch_all(&mut self, jumps: Vec<usize>) {
        for j in jumps {
            self.patch(j);
        }
    }

    fn patch_all_to(&mut self, jumps: Vec<usize>, target: usize) {
        for j in jumps {
            self.patch_to(j, target);
        }
    }

    fn patch_to(&mut self, at: usize, target: usize) {
        let delta = target as i32 - (at as i32 + 1);
        match self.func_mut().proto.code[at].offset_mut() {
            Some(offset) => *offset = delta,
            None => unreachable!("patching a non-jump"),
        }
    }

    fn constant(&mut self, k: Const, span: Span) -> u32 {
        let func = self.func_mut();
        let key = ConstKey::of(&k);
        if let Some(&i) = func.const_slots.get(&key) {
            return i;
        }
        let n = func.proto.consts.len();
        func.proto.consts.push(k);
        func.const_slots.insert(key, n as u32);
        if n > u16::MAX as usize {
            self.too_large(span, format!("more than {} constants", u16::MAX as usize + 1));
        }
        n as u32
    }

    fn name_constant(&mut self, name: &str, span: Span) -> u16 {
        self.constant(Const::Str(name.to_string()), span).min(u16::MAX as u32) as u16
    }

    fn method_name(&mut self, name: &str, span: Span) -> u16 {
        let func = self.func_mut();
        if let Some(&i) = func.method_slots.get(name) {
            return i;
        }
        let n = func.proto.methods.len();
        func.proto.methods.push(name.to_string());
        func.method_slots.insert(name.to_string(), n.min(u16::MAX as usize) as u16);
        if n > u16::MAX as usize {
            self.too_large(span, format!("more than {} method names", u16::MAX as usize + 1));
        }
        n as u16
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
            const_slots: HashMap::new(),
            method_slots: HashMap::new(),
            too_large: false,
        }
    }

    fn finish(mut self) -> Proto {
        self.proto.captures = self.upvals.iter().map(|(_, c)| *c).collect();
        let _ = self.index;
        self.proto
    }
}

/// The most variables one function captures (a capture index is a byte).
const MAX_CAPTURES: usize = 250;

fn lookup_in(func: &Func, name: &str) -> Option<Place> {
    for scope in func.scopes.iter().rev() {
        if let Some(local) = scope.iter().rev().find(|l| l.name == name) {
            return Some(if local.celled { Place::Cell(local.reg) } else { Place::Reg(local.reg) });
        }
    }
    None
}

fn small_int(e: &Expr) -> Option<i16> {
    match e.kind {
        ExprKind::Int(n) => i16::try_from(n).ok(),
        _ => None,
    }
}

/// Whether compiling `e` straight into a local's register is safe: the
/// register is written only once, after every operand has been read.
fn writes_result_last(e: &Expr) -> bool {
    !matches!(
        e.kind,
        ExprKind::And(..)
            | ExprKind::Or(..)
            | ExprKind::List(..)
            | ExprKind::Map(..)
            | ExprKind::Call(..)
            | ExprKind::Method(..)
    )
}

fn stmt_span(stmt: &Stmt) -> Span {
    match stmt {
        Stmt::Let { name, .. } => name.span,
        Stmt::Assign { span, .. } => *span,
        Stmt::Expr(e) => e.span,
        Stmt::If { cond, .. } | Stmt::While { cond, .. } => cond.span,
        Stmt::For { first, .. } => first.span,
        Stmt::Break(s) | Stmt::Continue(s) | Stmt::Return(_, s) | Stmt::Throw(_, s) => *s,
        Stmt::Fn(def) => def.span,
        Stmt::Block(b) => b.span,
        Stmt::Import { span, .. }
        | Stmt::Try { span, .. }
        | Stmt::Nursery { span, .. }
        | Stmt::Timeout { span, .. }
        | Stmt::Shield { span, .. }
        | Stmt::Select { span, .. } => *span,
    }
}

// ----- implicit nurseries ----------------------------------------------------
//
// A function whose body has a plain `spawn` outside any `nursery` block gets
// a nursery of its own around its body. These walk one function's code: not
// into nested functions, nor into explicit nursery blocks.

fn spawns_block(b: &Block) -> bool {
    b.stmts.iter().any(spawns_stmt)
}

fn spawns_stmt(s: &Stmt) -> bool {
    match s {
        Stmt::Let { value, .. } => value.as_ref().is_some_and(spawns_expr),
        Stmt::Assign { target, value, .. } => spawns_expr(target) || spawns_expr(value),
        Stmt::Expr(e) | Stmt::Throw(e, _) => spawns_expr(e),
        Stmt::Return(v, _) => v.as_ref().is_some_and(spawns_expr),
        Stmt::If { cond, then, otherwise } => {
            spawns_expr(cond) || spawns_block(then) || otherwise.as_deref().is_some_and(spawns_stmt)
        }
        Stmt::While { cond, body } => spawns_expr(cond) || spawns_block(body),
        Stmt::For { iter, body, .. } => spawns_expr(iter) || spawns_block(body),
        Stmt::Try { body, catch, finally, .. } => {
            spawns_block(body)
                || catch.as_ref().is_some_and(|(_, c)| spawns_block(c))
                || finally.as_ref().is_some_and(spawns_block)
        }
        Stmt::Block(b) | Stmt::Shield { body: b, .. } => spawns_block(b),
        Stmt::Timeout { seconds, body, .. } => spawns_expr(seconds) || spawns_block(body),
        Stmt::Select { cases, .. } => cases.iter().any(|c| match c {
            SelectCase::Recv { chan, body, .. } => spawns_expr(chan) || spawns_block(body),
            SelectCase::Send { chan, value, body } => spawns_expr(chan) || spawns_expr(value) || spawns_block(body),
            SelectCase::Join { task, body, .. } => spawns_expr(task) || spawns_block(body),
            SelectCase::After { seconds, body } => spawns_expr(seconds) || spawns_block(body),
            SelectCase::Default { body, .. } => spawns_block(body),
        }),
        Stmt::Nursery { .. } | Stmt::Fn(_) | Stmt::Break(_) | Stmt::Continue(_) | Stmt::Import { .. } => false,
    }
}

fn spawns_expr(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Spawn(_) => true,
        ExprKind::Func(_) => false,
        ExprKind::Interp(xs) | ExprKind::List(xs) => xs.iter().any(spawns_expr),
        ExprKind::Map(kvs) => kvs.iter().any(|(k, v)| spawns_expr(k) || spawns_expr(v)),
        ExprKind::Neg(x) | ExprKind::Not(x) | ExprKind::Field(x, _) => spawns_expr(x),
        ExprKind::Binary(_, a, b) | ExprKind::And(a, b) | ExprKind::Or(a, b) | ExprKind::Index(a, b) => {
            spawns_expr(a) || spawns_expr(b)
        }
        ExprKind::Range { start, end, .. } => spawns_expr(start) || spawns_expr(end),
        ExprKind::Call(f, args) | ExprKind::Method(f, _, args) => spawns_expr(f) || args.iter().any(spawns_expr),
        ExprKind::Nil
        | ExprKind::Bool(_)
        | ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Str(_)
        | ExprKind::Name(_) => false,
    }
}

// ----- capture analysis ------------------------------------------------------
//
// `nested_names_*` collect the names used inside functions nested in the one
// being compiled (`inside` is true once within such a function). A local of
// the same name is then kept in a cell. Shadowing can make this
// over-approximate, which costs a cell but never correctness.

fn nested_names_block(b: &Block, inside: bool, out: &mut HashSet<String>) {
    for s in &b.stmts {
        nested_names_stmt(s, inside, out);
    }
}

fn nested_names_stmt(s: &Stmt, inside: bool, out: &mut HashSet<String>) {
    let name = |i: &Ident, out: &mut HashSet<String>| {
        if inside {
            out.insert(i.name.clone());
        }
    };
    match s {
        Stmt::Let { value, .. } => {
            if let Some(v) = value {
                nested_names_expr(v, inside, out)
            }
        }
        Stmt::Assign { target, value, .. } => {
            nested_names_expr(target, inside, out);
            nested_names_expr(value, inside, out);
        }
        Stmt::Expr(e) | Stmt::Throw(e, _) => nested_names_expr(e, inside, out),
        Stmt::If { cond, then, otherwise } => {
            nested_names_expr(cond, inside, out);
            nested_names_block(then, inside, out);
            if let Some(o) = otherwise {
                nested_names_stmt(o, inside, out);
            }
        }
        Stmt::While { cond, body } => {
            nested_names_expr(cond, inside, out);
            nested_names_block(body, inside, out);
        }
        Stmt::For { iter, body, .. } => {
            nested_names_expr(iter, inside, out);
            nested_names_block(body, inside, out);
        }
        Stmt::Return(v, _) => {
            if let Some(v) = v {
                nested_names_expr(v, inside, out)
            }
        }
        Stmt::Fn(def) => {
            // A named local function refers to itself through its own name.
            if let Some(n) = &def.name {
                name(n, out);
            }
            nested_names_fn(def, out);
        }
        Stmt::Try { body, catch, finally, .. } => {
            nested_names_block(body, inside, out);
            if let Some((_, c)) = catch {
                nested_names_block(c, inside, out);
            }
            if let Some(f) = finally {
                nested_names_block(f, inside, out);
            }
        }
        Stmt::Block(b) | Stmt::Nursery { body: b, .. } | Stmt::Shield { body: b, .. } => {
            nested_names_block(b, inside, out)
        }
        Stmt::Timeout { seconds, body, .. } => {
            nested_names_expr(seconds, inside, out);
            nested_names_block(body, inside, out);
        }
        Stmt::Select { cases, .. } => {
            for c in cases {
                match c {
                    SelectCase::Recv { chan, body, .. } => {
                        nested_names_expr(chan, inside, out);
                        nested_names_block(body, inside, out);
                    }
                    SelectCase::Send { chan, value, body } => {
                        nested_names_expr(chan, inside, out);
                        nested_names_expr(value, inside, out);
                        nested_names_block(body, inside, out);
                    }
                    SelectCase::Join { task, body, .. } => {
                        nested_names_expr(task, inside, out);
                        nested_names_block(body, inside, out);
                    }
                    SelectCase::After { seconds, body } => {
                        nested_names_expr(seconds, inside, out);
                        nested_names_block(body, inside, out);
                    }
                    SelectCase::Default { body, .. } => nested_names_block(body, inside, out),
                }
            }
        }
        Stmt::Break(_) | Stmt::Continue(_) | Stmt::Import { .. } => {}
    }
}

fn nested_names_fn(def: &FnDef, out: &mut HashSet<String>) {
    match &def.body {
        FnBody::Block(b) => nested_names_block(b, true, out),
        FnBody::Expr(e) => nested_names_expr(e, true, out),
    }
}

fn nested_names_expr(e: &Expr, inside: bool, out: &mut HashSet<String>) {
    match &e.kind {
        ExprKind::Name(i) => {
            if inside {
                out.insert(i.name.clone());
            }
        }
        ExprKind::Func(def) => nested_names_fn(def, out),
        ExprKind::Interp(xs) | ExprKind::List(xs) => xs.iter().for_each(|x| nested_names_expr(x, inside, out)),
        ExprKind::Map(kvs) => {
            for (k, v) in kvs {
                nested_names_expr(k, inside, out);
                nested_names_expr(v, inside, out);
            }
        }
        ExprKind::Neg(x) | ExprKind::Not(x) | ExprKind::Spawn(x) | ExprKind::Field(x, _) => {
            nested_names_expr(x, inside, out)
        }
        ExprKind::Binary(_, a, b) | ExprKind::And(a, b) | ExprKind::Or(a, b) | ExprKind::Index(a, b) => {
            nested_names_expr(a, inside, out);
            nested_names_expr(b, inside, out);
        }
        ExprKind::Range { start, end, .. } => {
            nested_names_expr(start, inside, out);
            nested_names_expr(end, inside, out);
        }
        ExprKind::Call(f, args) | ExprKind::Method(f, _, args) => {
            nested_names_expr(f, inside, out);
            args.iter().for_each(|a| nested_names_expr(a, inside, out));
        }
        ExprKind::Nil | ExprKind::Bool(_) | ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) => {}
    }
}
