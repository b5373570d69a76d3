//! The instruction set: one enum, documented per variant, which the
//! compiler emits, the interpreter executes and the disassembler prints.
//!
//! Weft's VM is register based, as Lua's: every function has up to 255
//! registers, its parameters first, then its locals and temporaries, so most
//! instructions name their operands directly instead of pushing and popping.
//! Spans live out of line, one per instruction, in [`Proto::spans`].

use crate::diagnostic::Span;

/// A register of the current frame.
pub type Reg = u8;

/// The most registers one function may use.
pub const MAX_REGS: usize = 250;

/// One instruction. Eight bytes; `Jump` offsets are relative to the
/// instruction after the jump.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// `R[dst] = nil`
    Nil {
        dst: Reg,
    },
    /// `R[dst] = value`
    Bool {
        dst: Reg,
        value: bool,
    },
    /// `R[dst] = value` (small ints inline)
    Int {
        dst: Reg,
        value: i32,
    },
    /// `R[dst] = K[index]`
    Const {
        dst: Reg,
        index: u32,
    },
    /// `R[dst] = R[src]`
    Move {
        dst: Reg,
        src: Reg,
    },
    /// `R[dst] = G[slot]`
    GetGlobal {
        dst: Reg,
        slot: u32,
    },
    /// `G[slot] = R[src]`
    SetGlobal {
        src: Reg,
        slot: u32,
    },
    /// `R[dst] = *upvalue[index]` (through the closure's captured cell)
    GetUpval {
        dst: Reg,
        index: u8,
    },
    /// `*upvalue[index] = R[src]`
    SetUpval {
        src: Reg,
        index: u8,
    },
    /// `R[reg] = new cell holding R[reg]`: declares a captured local.
    NewCell {
        reg: Reg,
    },
    /// `R[dst] = *R[cell]`
    GetCell {
        dst: Reg,
        cell: Reg,
    },
    /// `*R[cell] = R[src]`
    SetCell {
        cell: Reg,
        src: Reg,
    },

    /// `R[dst] = R[a] + R[b]`, and so on for the arithmetic operators.
    Add {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Sub {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Mul {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Div {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    FloorDiv {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Mod {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Pow {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// `R[dst] = R[a] + imm`
    AddI {
        dst: Reg,
        a: Reg,
        imm: i16,
    },
    /// `R[dst] = R[a] * imm`
    MulI {
        dst: Reg,
        a: Reg,
        imm: i16,
    },
    /// `R[dst] = R[a] % imm` (imm is never 0)
    ModI {
        dst: Reg,
        a: Reg,
        imm: i16,
    },
    /// `R[dst] = -R[src]`
    Neg {
        dst: Reg,
        src: Reg,
    },
    /// `R[dst] = not R[src]`
    Not {
        dst: Reg,
        src: Reg,
    },
    /// `R[dst] = R[a] == R[b]`
    Eq {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// `R[dst] = R[a] != R[b]`
    Ne {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// `R[dst] = R[a] < R[b]` (`>` swaps the operands)
    Lt {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// `R[dst] = R[a] <= R[b]` (`>=` swaps the operands)
    Le {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// `R[dst] = R[a] in R[b]`
    In {
        dst: Reg,
        a: Reg,
        b: Reg,
    },

    /// `pc += offset`, forward.
    Jump {
        offset: i32,
    },
    /// `pc += offset`, backward: a loop's back edge, where a task may be
    /// preempted and the collector may run.
    Loop {
        offset: i32,
    },
    /// `if not truthy(R[cond]) { pc += offset }`
    JumpIfFalse {
        cond: Reg,
        offset: i32,
    },
    /// `if truthy(R[cond]) { pc += offset }`
    JumpIfTrue {
        cond: Reg,
        offset: i32,
    },
    /// `if not (R[a] < R[b]) { pc += offset }`
    JumpIfNotLt {
        a: Reg,
        b: Reg,
        offset: i32,
    },
    /// `if not (R[a] <= R[b]) { pc += offset }`
    JumpIfNotLe {
        a: Reg,
        b: Reg,
        offset: i32,
    },
    /// `if not (R[a] == R[b]) { pc += offset }`
    JumpIfNotEq {
        a: Reg,
        b: Reg,
        offset: i32,
    },
    /// Jumps unless `R[a] < imm`.
    JumpIfNotLtI {
        a: Reg,
        imm: i16,
        offset: i32,
    },
    /// Jumps unless `R[a] > imm`.
    JumpIfNotGtI {
        a: Reg,
        imm: i16,
        offset: i32,
    },
    /// `if R[a] == R[b] { pc += offset }`
    JumpIfEq {
        a: Reg,
        b: Reg,
        offset: i32,
    },

    /// `R[dst] = [R[start], ..., R[start + count - 1]]`
    NewList {
        dst: Reg,
        start: Reg,
        count: u8,
    },
    /// `R[dst] = [R[start]: R[start + 1], ...]` over `count` pairs
    NewMap {
        dst: Reg,
        start: Reg,
        count: u8,
    },
    /// `R[list].push(R[src])`, for list literals longer than one instruction holds
    ListPush {
        list: Reg,
        src: Reg,
    },
    /// `R[map][R[key]] = R[src]`, for long map literals
    MapInsert {
        map: Reg,
        key: Reg,
        src: Reg,
    },
    /// `R[dst] = R[start]..R[start + 1]` (or `..=`)
    Range {
        dst: Reg,
        start: Reg,
        inclusive: bool,
    },
    /// `R[dst] = R[obj][R[index]]`
    GetIndex {
        dst: Reg,
        obj: Reg,
        index: Reg,
    },
    /// `R[obj][R[index]] = R[src]`
    SetIndex {
        obj: Reg,
        index: Reg,
        src: Reg,
    },
    /// `R[dst] = R[obj].K[name]`
    GetField {
        dst: Reg,
        obj: Reg,
        name: u16,
    },
    /// `R[obj].K[name] = R[src]`
    SetField {
        obj: Reg,
        name: u16,
        src: Reg,
    },
    /// `R[dst] = str(R[start]) + ... + str(R[start + count - 1])`
    Concat {
        dst: Reg,
        start: Reg,
        count: u8,
    },

    /// Calls `R[base]` with the `argc` arguments after it; the result
    /// replaces `R[base]`.
    Call {
        base: Reg,
        argc: u8,
    },
    /// Calls method `name` (an index into [`Proto::methods`], a global method
    /// symbol once loaded) on the receiver `R[base + 1]` with the `argc`
    /// arguments after it; `R[base]` is scratch and receives the result.
    CallMethod {
        base: Reg,
        argc: u8,
        name: u16,
    },
    /// Returns `R[src]` to the caller.
    Return {
        src: Reg,
    },
    /// Returns nil.
    ReturnNil,
    /// `R[dst] = closure of child function `proto` (an index into the unit's
    /// functions, made global once loaded) capturing the cells named by its
    /// captures.
    Closure {
        dst: Reg,
        proto: u32,
    },

    /// Pushes an exception handler: a throw until the matching `EndTry`
    /// jumps to `pc + offset` with the thrown value in `R[reg]`.
    Try {
        reg: Reg,
        offset: i32,
    },
    /// Pops the innermost exception handler.
    EndTry,
    /// Throws `R[src]`.
    Throw {
        src: Reg,
    },

    /// Prepares `for` over `R[base]`: checks it is iterable, sets the
    /// cursor `R[base + 1]` and the count of items given so far
    /// `R[base + 2]` (the index of a string's characters, whose cursor is a
    /// byte offset).
    IterPrep {
        base: Reg,
    },
    /// Advances the iteration at `R[base]`: writes the next item into
    /// `R[dst]` (with `pair`, key or index into `R[dst]` and item into
    /// `R[dst + 1]`), or jumps by `offset` when done.
    IterNext {
        base: Reg,
        dst: Reg,
        pair: bool,
        offset: i32,
    },
    /// Checks that `R[a]` and `R[a + 1]` are ints, for a counted `for` over a
    /// range literal.
    ForPrep {
        a: Reg,
    },

    /// Spawns a task calling `R[base]` with the `argc` arguments after it,
    /// into the nursery whose handle is in `R[nursery]`; `R[base]` receives
    /// the task handle.
    Spawn {
        base: Reg,
        argc: u8,
        nursery: Reg,
    },
    /// Opens a nursery: its handle goes to `R[dst]`.
    NurseryEnter {
        dst: Reg,
    },
    /// Closes the nursery `R[nursery]`: waits for its tasks, then raises the
    /// first failure, if any. With `failed`, the body threw `R[err]`.
    NurseryExit {
        nursery: Reg,
        err: Reg,
        failed: bool,
    },
    /// Opens a cancel scope: a `shield`, or a `timeout` of `R[seconds]`.
    ScopeEnter {
        seconds: Reg,
        shield: bool,
    },
    /// Closes the innermost cancel scope; with `failed`, the body threw
    /// `R[err]`. An expired timeout raises `Timeout`.
    ScopeExit {
        err: Reg,
        failed: bool,
    },
    /// Waits for the first ready case of a `select`. Case `i` has its
    /// operand in `R[base + 2 + 2i]` (and a sent value after it); its kind
    /// is two bits of `K[kinds]` (recv, send, join, after; bit 62: there is
    /// a `default`). The chosen case's index goes to `R[base]` (`count` for
    /// the default) and its value to `R[base + 1]`.
    Select {
        base: Reg,
        count: u8,
        kinds: u32,
    },

    /// Imports the module whose path is the string in `R[dst]`, replacing
    /// it with the module's value, which is cached in global `slot`.
    Import {
        dst: Reg,
        slot: u32,
    },

    /// Resumes the native whose call to a Weft function has just returned
    /// into this frame. Only the VM's own trampoline function holds it;
    /// compiled code never does, and loading refuses it.
    ResumeNative,
}

impl Op {
    /// The registers this instruction names directly, as single operands
    /// (not the ranges that start at `base` or `start`). The interpreter
    /// reads these without bounds checks once [`Proto::check`] has passed.
    pub fn operands(self) -> [Option<Reg>; 3] {
        use Op::*;
        match self {
            Nil { dst } | Bool { dst, .. } | Int { dst, .. } | Const { dst, .. } | GetGlobal { dst, .. } => {
                [Some(dst), None, None]
            }
            GetUpval { dst, .. } | NurseryEnter { dst } | Closure { dst, .. } | Import { dst, .. } => {
                [Some(dst), None, None]
            }
            SetGlobal { src, .. } | SetUpval { src, .. } | Return { src } | Throw { src } => [Some(src), None, None],
            NewCell { reg } | Try { reg, .. } => [Some(reg), None, None],
            Move { dst, src } | Neg { dst, src } | Not { dst, src } => [Some(dst), Some(src), None],
            GetCell { dst, cell } => [Some(dst), Some(cell), None],
            SetCell { cell, src } => [Some(cell), Some(src), None],
            Add { dst, a, b }
            | Sub { dst, a, b }
            | Mul { dst, a, b }
            | Div { dst, a, b }
            | FloorDiv { dst, a, b }
            | Mod { dst, a, b }
            | Pow { dst, a, b }
            | Eq { dst, a, b }
            | Ne { dst, a, b }
            | Lt { dst, a, b }
            | Le { dst, a, b }
            | In { dst, a, b } => [Some(dst), Some(a), Some(b)],
            AddI { dst, a, .. } | MulI { dst, a, .. } | ModI { dst, a, .. } => [Some(dst), Some(a), None],
            Jump { .. } | Loop { .. } | ReturnNil | EndTry | ResumeNative => [None, None, None],
            JumpIfFalse { cond, .. } | JumpIfTrue { cond, .. } => [Some(cond), None, None],
            JumpIfNotLtI { a, .. } | JumpIfNotGtI { a, .. } => [Some(a), None, None],
            JumpIfNotLt { a, b, .. } | JumpIfNotLe { a, b, .. } | JumpIfNotEq { a, b, .. } | JumpIfEq { a, b, .. } => {
                [Some(a), Some(b), None]
            }
            // Their `start` begins a range, which may be empty and end the frame.
            NewList { dst, .. } | NewMap { dst, .. } | Concat { dst, .. } => [Some(dst), None, None],
            Range { dst, start, .. } => [Some(dst), Some(start), None],
            ListPush { list, src } => [Some(list), Some(src), None],
            MapInsert { map, key, src } => [Some(map), Some(key), Some(src)],
            GetIndex { dst, obj, index } => [Some(dst), Some(obj), Some(index)],
            SetIndex { obj, index, src } => [Some(obj), Some(index), Some(src)],
            GetField { dst, obj, .. } => [Some(dst), Some(obj), None],
            SetField { obj, src, .. } => [Some(obj), Some(src), None],
            Call { base, .. } | CallMethod { base, .. } | IterPrep { base } | Select { base, .. } => {
                [Some(base), None, None]
            }
            IterNext { base, dst, .. } => [Some(base), Some(dst), None],
            ForPrep { a } => [Some(a), None, None],
            Spawn { base, nursery, .. } => [Some(base), Some(nursery), None],
            NurseryExit { nursery, err, .. } => [Some(nursery), Some(err), None],
            ScopeEnter { seconds, .. } => [Some(seconds), None, None],
            ScopeExit { err, .. } => [Some(err), None, None],
        }
    }
}

impl Op {
    /// The jump offset of an instruction that may jump (relative to the
    /// instruction after it), if it is one.
    pub fn jump_offset(mut self) -> Option<i32> {
        self.offset_mut().map(|offset| *offset)
    }

    /// The jump offset, to patch once the target is known.
    pub fn offset_mut(&mut self) -> Option<&mut i32> {
        use Op::*;
        match self {
            Jump { offset }
            | Loop { offset }
            | JumpIfFalse { offset, .. }
            | JumpIfTrue { offset, .. }
            | JumpIfNotLt { offset, .. }
            | JumpIfNotLe { offset, .. }
            | JumpIfNotLtI { offset, .. }
            | JumpIfNotGtI { offset, .. }
            | JumpIfNotEq { offset, .. }
            | JumpIfEq { offset, .. }
            | Try { offset, .. }
            | IterNext { offset, .. } => Some(offset),
            _ => None,
        }
    }
}

impl Proto {
    /// Checks that every register an instruction names lies inside the
    /// frame, that spans match instructions, and that execution cannot
    /// leave the code (every jump lands inside it, and the last instruction
    /// never falls through). The compiler guarantees all of this; the
    /// interpreter's unchecked register reads and instruction fetches rely
    /// on it, so the VM checks every function once, when it is loaded.
    pub fn check(&self) -> Result<(), String> {
        if self.spans.len() != self.code.len() {
            return Err(format!("{}: {} spans for {} instructions", self.name, self.spans.len(), self.code.len()));
        }
        let len = self.code.len() as i64;
        for (pc, op) in self.code.iter().enumerate() {
            if let Op::ResumeNative = op {
                return Err(format!("{}: instruction {pc} is the VM's own", self.name));
            }
            for reg in op.operands().into_iter().flatten() {
                if reg >= self.regs {
                    return Err(format!("{}: instruction {pc} names register {reg} of {}", self.name, self.regs));
                }
            }
            if let Some(offset) = op.jump_offset() {
                let target = pc as i64 + 1 + offset as i64;
                if !(0..len).contains(&target) {
                    return Err(format!("{}: instruction {pc} jumps to {target}, outside 0..{len}", self.name));
                }
            }
        }
        match self.code.last() {
            Some(Op::Return { .. } | Op::ReturnNil | Op::Jump { .. } | Op::Loop { .. } | Op::Throw { .. }) => Ok(()),
            _ => Err(format!("{}: the code does not end with a return", self.name)),
        }
    }
}

/// How a closure gets one captured variable when it is made.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Capture {
    /// The cell in register `reg` of the function making the closure.
    Local(Reg),
    /// The enclosing function's own captured variable `index`.
    Upval(u8),
}

/// A constant of a function.
#[derive(Clone, Debug, PartialEq)]
pub enum Const {
    Int(i64),
    Float(f64),
    Str(String),
}

/// One compiled function.
#[derive(Clone, Debug, Default)]
pub struct Proto {
    /// The name shown in traces (`<main>` for a file's top level, `<fn>` for
    /// an anonymous function).
    pub name: String,
    pub arity: u8,
    /// Registers needed, so a call reserves its frame once.
    pub regs: u8,
    pub code: Vec<Op>,
    /// The source span of each instruction, for error reports.
    pub spans: Vec<Span>,
    pub consts: Vec<Const>,
    /// Method names called by `CallMethod`, by index.
    pub methods: Vec<String>,
    pub captures: Vec<Capture>,
    /// Where the function is defined.
    pub span: Span,
}

/// The functions compiled from one file. `main` runs the top level.
#[derive(Clone, Debug, Default)]
pub struct Unit {
    pub protos: Vec<Proto>,
    pub main: u32,
}

#[cfg(test)]
mod tests {
    #[test]
    fn instructions_are_eight_bytes() {
        assert_eq!(std::mem::size_of::<super::Op>(), 8);
    }
}
