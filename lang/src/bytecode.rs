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

/// What an instruction's operand is: how the verifier checks it, the
/// disassembler shows it, and jump patching finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    /// A register of the frame, read and written without bounds checks
    /// once the verifier has seen it inside the frame.
    Reg,
    /// The first register of a run whose length another operand gives.
    Range,
    /// A jump, relative to the instruction after it.
    Jump,
    /// An index into the function's constants.
    Konst,
    /// An index into the constants that holds a field name.
    Field,
    /// An index into the function's method names.
    Symbol,
    /// A global slot.
    Global,
    /// A function, by index.
    Proto,
    /// One of the closure's captured variables.
    Upval,
    /// How many registers a run holds.
    Count,
    /// A number carried in the instruction.
    Imm,
    /// A flag carried in the instruction.
    Flag,
}

/// One operand of an instruction: its name, kind and value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub kind: Operand,
    pub value: i64,
}

/// The instruction set, declared once: each variant with its operands and
/// their kinds. From this table come the enum, the operand list the
/// verifier checks ([`Op::fields`], [`Op::operands`]), jump patching
/// ([`Op::offset_mut`]) and the disassembler's annotations; no list of
/// instructions is written twice. As Wren's opcode X-macro and Lua's
/// `lopcodes` do.
macro_rules! define_ops {
    ($(
        $(#[$doc:meta])*
        $op:ident $({ $($field:ident: $kind:ident($ty:ty)),* $(,)? })?,
    )*) => {
        /// One instruction. Eight bytes; `Jump` offsets are relative to the
        /// instruction after the jump.
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub enum Op {
            $($(#[$doc])* $op $({ $($field: $ty),* })?,)*
        }

        /// Which instruction an [`Op`] is, without its operands: a small
        /// number per variant, in table order, for counting and tables.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum OpKind {
            $($op,)*
        }

        impl OpKind {
            /// Every kind, in table order: `OpKind::ALL[k as usize] == k`.
            pub const ALL: &'static [OpKind] = &[$(OpKind::$op,)*];

            /// The instruction's name, as the disassembler prints it.
            pub fn name(self) -> &'static str {
                match self {
                    $(OpKind::$op => stringify!($op),)*
                }
            }
        }

        impl Op {
            /// Which instruction this is.
            #[inline]
            pub fn kind(self) -> OpKind {
                match self {
                    $(Op::$op { .. } => OpKind::$op,)*
                }
            }

            /// The instruction's name, as the disassembler prints it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Op::$op { .. } => stringify!($op),)*
                }
            }

            /// Every operand, in declaration order (at most four).
            pub fn fields(self) -> [Option<Field>; 6] {
                #[allow(unused_mut, unused_variables, unused_assignments)]
                match self {
                    $(Op::$op $({ $($field),* })? => {
                        let mut fields = [None; 6];
                        let mut n = 0;
                        $($(
                            fields[n] = Some(Field { name: stringify!($field), kind: operand!($kind), value: $field as i64 });
                            n += 1;
                        )*)?
                        fields
                    })*
                }
            }

            /// The instruction of kind `kind` whose operands, in the order
            /// [`Op::fields`] gives them, `next` yields; `None` when one is
            /// missing or does not fit its field.
            pub fn from_fields(kind: OpKind, mut next: impl FnMut() -> Option<i64>) -> Option<Op> {
                match kind {
                    $(OpKind::$op => Some(Op::$op $({ $($field: FromField::from_field(next()?)?),* })?),)*
                }
            }

            /// The table itself, as text: two builds whose tables differ
            /// (an instruction, an operand or its type added, removed or
            /// moved) give different texts, so encoded code from one is
            /// not read as the other's.
            pub const TABLE: &'static str = concat!($(
                stringify!($op), $( $(" ", stringify!($field), ":", stringify!($kind), "(", stringify!($ty), ")",)* )? ";",
            )*);

            /// The jump offset, to patch once the target is known.
            pub fn offset_mut(&mut self) -> Option<&mut i32> {
                #[allow(unused_variables, unreachable_code)]
                match self {
                    $(Op::$op $({ $($field),* })? => {
                        $($( jump_field!($kind, $field); )*)?
                        None
                    })*
                }
            }
        }
    };
}

/// An operand's type, read back from the `i64` [`Op::fields`] gives.
trait FromField: Sized {
    fn from_field(value: i64) -> Option<Self>;
}

macro_rules! from_field_int {
    ($($ty:ty),*) => {$(
        impl FromField for $ty {
            fn from_field(value: i64) -> Option<$ty> {
                <$ty>::try_from(value).ok()
            }
        }
    )*};
}

from_field_int!(u8, u16, u32, i16, i32);

impl FromField for bool {
    fn from_field(value: i64) -> Option<bool> {
        match value {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

/// The [`Operand`] of a kind written in the table.
macro_rules! operand {
    (reg) => {
        Operand::Reg
    };
    (range) => {
        Operand::Range
    };
    (jump) => {
        Operand::Jump
    };
    (konst) => {
        Operand::Konst
    };
    (field) => {
        Operand::Field
    };
    (symbol) => {
        Operand::Symbol
    };
    (global) => {
        Operand::Global
    };
    (proto) => {
        Operand::Proto
    };
    (upval) => {
        Operand::Upval
    };
    (count) => {
        Operand::Count
    };
    (imm) => {
        Operand::Imm
    };
    (flag) => {
        Operand::Flag
    };
}

/// Returns the field if it is the jump offset.
macro_rules! jump_field {
    (jump, $field:ident) => {
        return Some($field)
    };
    ($other:ident, $field:ident) => {};
}

define_ops! {
    /// `R[dst] = nil`
    Nil {
        dst: reg(Reg),
    },
    /// `R[dst] = value`
    Bool {
        dst: reg(Reg),
        value: flag(bool),
    },
    /// `R[dst] = value` (small ints inline)
    Int {
        dst: reg(Reg),
        value: imm(i32),
    },
    /// `R[dst] = K[index]`
    Const {
        dst: reg(Reg),
        index: konst(u32),
    },
    /// `R[dst] = R[src]`
    Move {
        dst: reg(Reg),
        src: reg(Reg),
    },
    /// `R[dst] = G[slot]`
    GetGlobal {
        dst: reg(Reg),
        slot: global(u32),
    },
    /// `G[slot] = R[src]`
    SetGlobal {
        src: reg(Reg),
        slot: global(u32),
    },
    /// `R[dst] = *upvalue[index]` (through the closure's captured cell)
    GetUpval {
        dst: reg(Reg),
        index: upval(u8),
    },
    /// `*upvalue[index] = R[src]`
    SetUpval {
        src: reg(Reg),
        index: upval(u8),
    },
    /// `R[reg] = new cell holding R[reg]`: declares a captured local.
    NewCell {
        reg: reg(Reg),
    },
    /// `R[dst] = *R[cell]`
    GetCell {
        dst: reg(Reg),
        cell: reg(Reg),
    },
    /// `*R[cell] = R[src]`
    SetCell {
        cell: reg(Reg),
        src: reg(Reg),
    },

    /// `R[dst] = R[a] + R[b]`, and so on for the arithmetic operators.
    Add {
        dst: reg(Reg),
        a: reg(Reg),
        b: reg(Reg),
    },
    Sub {
        dst: reg(Reg),
        a: reg(Reg),
        b: reg(Reg),
    },
    Mul {
        dst: reg(Reg),
        a: reg(Reg),
        b: reg(Reg),
    },
    Div {
        dst: reg(Reg),
        a: reg(Reg),
        b: reg(Reg),
    },
    FloorDiv {
        dst: reg(Reg),
        a: reg(Reg),
        b: reg(Reg),
    },
    Mod {
        dst: reg(Reg),
        a: reg(Reg),
        b: reg(Reg),
    },
    Pow {
        dst: reg(Reg),
        a: reg(Reg),
        b: reg(Reg),
    },
    /// `R[dst] = R[a] + imm`
    AddI {
        dst: reg(Reg),
        a: reg(Reg),
        imm: imm(i16),
    },
    /// `R[dst] = R[a] * imm`
    MulI {
        dst: reg(Reg),
        a: reg(Reg),
        imm: imm(i16),
    },
    /// `R[dst] = R[a] % imm` (imm is never 0)
    ModI {
        dst: reg(Reg),
        a: reg(Reg),
        imm: imm(i16),
    },
    /// `R[dst] = -R[src]`
    Neg {
        dst: reg(Reg),
        src: reg(Reg),
    },
    /// `R[dst] = not R[src]`
    Not {
        dst: reg(Reg),
        src: reg(Reg),
    },
    /// `R[dst] = R[a] == R[b]`
    Eq {
        dst: reg(Reg),
        a: reg(Reg),
        b: reg(Reg),
    },
    /// `R[dst] = R[a] != R[b]`
    Ne {
        dst: reg(Reg),
        a: reg(Reg),
        b: reg(Reg),
    },
    /// `R[dst] = R[a] < R[b]` (`>` swaps the operands)
    Lt {
        dst: reg(Reg),
        a: reg(Reg),
        b: reg(Reg),
    },
    /// `R[dst] = R[a] <= R[b]` (`>=` swaps the operands)
    Le {
        dst: reg(Reg),
        a: reg(Reg),
        b: reg(Reg),
    },
    /// `R[dst] = R[a] in R[b]`
    In {
        dst: reg(Reg),
        a: reg(Reg),
        b: reg(Reg),
    },

    /// `pc += offset`, forward.
    Jump {
        offset: jump(i32),
    },
    /// `pc += offset`, backward: a loop's back edge, where a task may be
    /// preempted and the collector may run.
    Loop {
        offset: jump(i32),
    },
    /// `if not truthy(R[cond]) { pc += offset }`
    JumpIfFalse {
        cond: reg(Reg),
        offset: jump(i32),
    },
    /// `if truthy(R[cond]) { pc += offset }`
    JumpIfTrue {
        cond: reg(Reg),
        offset: jump(i32),
    },
    /// `if not (R[a] < R[b]) { pc += offset }`
    JumpIfNotLt {
        a: reg(Reg),
        b: reg(Reg),
        offset: jump(i32),
    },
    /// `if not (R[a] <= R[b]) { pc += offset }`
    JumpIfNotLe {
        a: reg(Reg),
        b: reg(Reg),
        offset: jump(i32),
    },
    /// `if not (R[a] == R[b]) { pc += offset }`
    JumpIfNotEq {
        a: reg(Reg),
        b: reg(Reg),
        offset: jump(i32),
    },
    /// Jumps unless `R[a] < imm`.
    JumpIfNotLtI {
        a: reg(Reg),
        imm: imm(i16),
        offset: jump(i32),
    },
    /// Jumps unless `R[a] > imm`.
    JumpIfNotGtI {
        a: reg(Reg),
        imm: imm(i16),
        offset: jump(i32),
    },
    /// `if R[a] == R[b] { pc += offset }`
    JumpIfEq {
        a: reg(Reg),
        b: reg(Reg),
        offset: jump(i32),
    },
    /// `if R[a] < R[b] { pc += offset }`: the test at the bottom of a
    /// rotated `while` loop, whose taken jump is the back edge. Every
    /// conditional jump that goes backward spends budget as `Loop` does.
    JumpIfLt {
        a: reg(Reg),
        b: reg(Reg),
        offset: jump(i32),
    },
    /// `if R[a] <= R[b] { pc += offset }`, as `JumpIfLt`.
    JumpIfLe {
        a: reg(Reg),
        b: reg(Reg),
        offset: jump(i32),
    },
    /// Jumps if `R[a] < imm`, as `JumpIfLt`.
    JumpIfLtI {
        a: reg(Reg),
        imm: imm(i16),
        offset: jump(i32),
    },
    /// Jumps if `R[a] > imm`, as `JumpIfLt`.
    JumpIfGtI {
        a: reg(Reg),
        imm: imm(i16),
        offset: jump(i32),
    },
    /// The step and back edge of a counted `for` over a range literal,
    /// whose counter `R[a]` and end `R[a + 1]` `ForPrep` checked are ints:
    /// `R[a] += 1; if R[a] < R[a + 1] { pc += offset }` (with `inclusive`:
    /// `if R[a] != R[a + 1] { R[a] += 1; pc += offset }`, so that `..=`
    /// ending at the largest int does not overflow). The jump spends
    /// budget as `Loop` does.
    ForLoop {
        a: reg(Reg),
        inclusive: flag(bool),
        offset: jump(i32),
    },

    /// `R[dst] = [R[start], ..., R[start + count - 1]]`
    NewList {
        dst: reg(Reg),
        start: range(Reg),
        count: count(u8),
    },
    /// `R[dst] = [R[start]: R[start + 1], ...]` over `count` pairs
    NewMap {
        dst: reg(Reg),
        start: range(Reg),
        count: count(u8),
    },
    /// `R[start], ..., R[start + count - 1] = R[src]`'s items, for destructuring:
    /// a TypeError if `R[src]` is not a list, a ValueError if its length is not `count`
    Unpack {
        start: range(Reg),
        count: count(u8),
        src: reg(Reg),
    },
    /// `R[list].push(R[src])`, for list literals longer than one instruction holds
    ListPush {
        list: reg(Reg),
        src: reg(Reg),
    },
    /// `R[map][R[key]] = R[src]`, for long map literals
    MapInsert {
        map: reg(Reg),
        key: reg(Reg),
        src: reg(Reg),
    },
    /// `R[dst] = R[start]..R[start + 1]` (or `..=`)
    Range {
        dst: reg(Reg),
        start: reg(Reg),
        inclusive: flag(bool),
    },
    /// `R[dst] = R[obj][R[index]]`
    GetIndex {
        dst: reg(Reg),
        obj: reg(Reg),
        index: reg(Reg),
    },
    /// `R[obj][R[index]] = R[src]`
    SetIndex {
        obj: reg(Reg),
        index: reg(Reg),
        src: reg(Reg),
    },
    /// `R[dst] = R[obj].K[name]`
    GetField {
        dst: reg(Reg),
        obj: reg(Reg),
        name: field(u16),
    },
    /// `R[obj].K[name] = R[src]`
    SetField {
        obj: reg(Reg),
        name: field(u16),
        src: reg(Reg),
    },
    /// `R[dst] = str(R[start]) + ... + str(R[start + count - 1])`
    Concat {
        dst: reg(Reg),
        start: range(Reg),
        count: count(u8),
    },

    /// Calls `R[base]` with the `argc` arguments after it; the result
    /// replaces `R[base]`.
    Call {
        base: reg(Reg),
        argc: count(u8),
    },
    /// `R[dst] = R[func](R[a], R[b], R[c])`, with the first `argc` (1 to 3)
    /// of `a`, `b`, `c` as its arguments: a call whose arguments are locals
    /// already in registers, which it reads where they are instead of
    /// copying them next to the function first. The callee's frame starts
    /// above the caller's registers.
    CallRegs {
        dst: reg(Reg),
        func: reg(Reg),
        argc: count(u8),
        a: reg(Reg),
        b: reg(Reg),
        c: reg(Reg),
    },
    /// `R[dst] = sqrt(R[x])` when global `slot` still holds the standard
    /// `sqrt` and `R[x]` is a number; otherwise the ordinary call of
    /// `G[slot]` with the argument `R[x]`, as `CallRegs` makes it. `x` is
    /// any register: a local's own, or a temporary. See [`Builtin`].
    CallSqrt {
        dst: reg(Reg),
        x: reg(Reg),
        slot: global(u32),
    },
    /// `R[dst] = abs(R[x])`, as `CallSqrt`.
    CallAbs {
        dst: reg(Reg),
        x: reg(Reg),
        slot: global(u32),
    },
    /// `R[dst] = floor(R[x])`, as `CallSqrt`.
    CallFloor {
        dst: reg(Reg),
        x: reg(Reg),
        slot: global(u32),
    },
    /// `R[dst] = ceil(R[x])`, as `CallSqrt`.
    CallCeil {
        dst: reg(Reg),
        x: reg(Reg),
        slot: global(u32),
    },
    /// `R[dst] = len(R[x])`, as `CallSqrt`.
    CallLen {
        dst: reg(Reg),
        x: reg(Reg),
        slot: global(u32),
    },
    /// `R[dst] = min(R[a], R[b])`, as `CallSqrt` with two arguments.
    CallMin {
        dst: reg(Reg),
        a: reg(Reg),
        b: reg(Reg),
        slot: global(u32),
    },
    /// `R[dst] = max(R[a], R[b])`, as `CallMin`.
    CallMax {
        dst: reg(Reg),
        a: reg(Reg),
        b: reg(Reg),
        slot: global(u32),
    },
    /// Calls method `name` (an index into [`Proto::methods`], a global method
    /// symbol once loaded) on the receiver `R[base + 1]` with the `argc`
    /// arguments after it; `R[base]` is scratch and receives the result.
    CallMethod {
        base: reg(Reg),
        argc: count(u8),
        name: symbol(u16),
    },
    /// Returns `R[src]` to the caller.
    Return {
        src: reg(Reg),
    },
    /// Returns nil.
    ReturnNil,
    /// `R[dst] = closure of child function `proto` (an index into the unit's
    /// functions, made global once loaded) capturing the cells named by its
    /// captures.
    Closure {
        dst: reg(Reg),
        proto: proto(u32),
    },

    /// Pushes an exception handler: a throw until the matching `EndTry`
    /// jumps to `pc + offset` with the thrown value in `R[reg]`.
    Try {
        reg: reg(Reg),
        offset: jump(i32),
    },
    /// Pops the innermost exception handler.
    EndTry,
    /// Throws `R[src]`.
    Throw {
        src: reg(Reg),
    },

    /// Prepares `for` over `R[base]`: checks it is iterable, sets the
    /// cursor `R[base + 1]` and the count of items given so far
    /// `R[base + 2]` (the index of a string's characters, whose cursor is a
    /// byte offset).
    IterPrep {
        base: reg(Reg),
    },
    /// Advances the iteration at `R[base]`: writes the next item into
    /// `R[dst]` (with `pair`, key or index into `R[dst]` and item into
    /// `R[dst + 1]`), or jumps by `offset` when done.
    IterNext {
        base: reg(Reg),
        dst: reg(Reg),
        pair: flag(bool),
        offset: jump(i32),
    },
    /// Checks that `R[a]` and `R[a + 1]` are ints, for a counted `for` over a
    /// range literal.
    ForPrep {
        a: reg(Reg),
    },

    /// Spawns a task calling `R[base]` with the `argc` arguments after it,
    /// into the nursery whose handle is in `R[nursery]`; `R[base]` receives
    /// the task handle.
    Spawn {
        base: reg(Reg),
        argc: count(u8),
        nursery: reg(Reg),
    },
    /// Opens a nursery: its handle goes to `R[dst]`.
    NurseryEnter {
        dst: reg(Reg),
    },
    /// Closes the nursery `R[nursery]`: waits for its tasks, then raises the
    /// first failure, if any. With `failed`, the body threw `R[err]`.
    NurseryExit {
        nursery: reg(Reg),
        err: reg(Reg),
        failed: flag(bool),
    },
    /// Opens a cancel scope: a `shield`, or a `timeout` of `R[seconds]`.
    ScopeEnter {
        seconds: reg(Reg),
        shield: flag(bool),
    },
    /// Closes the innermost cancel scope; with `failed`, the body threw
    /// `R[err]`. An expired timeout raises `Timeout`.
    ScopeExit {
        err: reg(Reg),
        failed: flag(bool),
    },
    /// Waits for the first ready case of a `select`. Case `i` has its
    /// operand in `R[base + 2 + 2i]` (and a sent value after it); its kind
    /// is two bits of `K[kinds]` (recv, send, join, after; bit 62: there is
    /// a `default`). The chosen case's index goes to `R[base]` (`count` for
    /// the default) and its value to `R[base + 1]`.
    Select {
        base: reg(Reg),
        count: count(u8),
        kinds: konst(u32),
    },

    /// Imports the module whose path is the string in `R[dst]`, replacing
    /// it with the module's value, which is cached in global `slot`.
    Import {
        dst: reg(Reg),
        slot: global(u32),
    },

    /// `R[base] = G[slot]`, then `Call`: a call of a global function whose
    /// arguments run no code, so that reading the global after them, where
    /// the two instructions would read it before, cannot be told apart.
    CallGlobal {
        base: reg(Reg),
        argc: count(u8),
        slot: global(u32),
    },
    /// `R[base] = R[obj].name(R[arg])`, where `name` is `push` (see
    /// [`BuiltinMethod`]). Receiver and argument are read where they are
    /// (a local's own register, or a temporary); a call that is not the
    /// builtin's copies them to `R[base + 1]` and `R[base + 2]` and runs
    /// as `CallMethod` with one argument.
    CallPush {
        base: reg(Reg),
        obj: reg(Reg),
        arg: reg(Reg),
        name: symbol(u16),
    },
    /// As `CallPush`, for `remove`.
    CallRemove {
        base: reg(Reg),
        obj: reg(Reg),
        arg: reg(Reg),
        name: symbol(u16),
    },
    /// Resumes the native whose call to a Weft function has just returned
    /// into this frame. Only the VM's own trampoline function holds it;
    /// compiled code never does, and loading refuses it.
    ResumeNative,
}

impl Op {
    /// The registers this instruction names directly, as single operands
    /// (not the runs that start at a `Range` operand). The interpreter
    /// reads these without bounds checks once [`Proto::check`] has passed.
    pub fn operands(self) -> [Option<Reg>; 5] {
        let mut regs = [None; 5];
        let singles = self.fields().into_iter().flatten().filter(|f| f.kind == Operand::Reg);
        for (slot, f) in regs.iter_mut().zip(singles) {
            *slot = Some(f.value as Reg);
        }
        regs
    }

    /// The jump offset of an instruction that may jump (relative to the
    /// instruction after it), if it is one.
    pub fn jump_offset(mut self) -> Option<i32> {
        self.offset_mut().map(|offset| *offset)
    }
}

/// A builtin that calls compile to an instruction of its own (as Luau's
/// "fastcall"): `sqrt(x)`, where `sqrt` is a global, becomes
/// `CallSqrt`, which computes the answer in the interpreter loop when the
/// global still holds the standard library's `sqrt` (one load and compare)
/// and the argument has the usual type, and otherwise makes the ordinary
/// call, with the same result and the same errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    Sqrt,
    Abs,
    Floor,
    Ceil,
    Len,
    Min,
    Max,
}

impl Builtin {
    /// Every builtin with an instruction, in the order of their indexes.
    pub const ALL: [Builtin; 7] =
        [Builtin::Sqrt, Builtin::Abs, Builtin::Floor, Builtin::Ceil, Builtin::Len, Builtin::Min, Builtin::Max];

    /// The global name it is called by.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Sqrt => "sqrt",
            Builtin::Abs => "abs",
            Builtin::Floor => "floor",
            Builtin::Ceil => "ceil",
            Builtin::Len => "len",
            Builtin::Min => "min",
            Builtin::Max => "max",
        }
    }

    /// The builtin called `name` with `argc` arguments, if that call has
    /// an instruction (`min` and `max` with two).
    pub fn for_call(name: &str, argc: usize) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name && b.argc() == argc)
    }

    /// How many arguments its instruction takes.
    pub fn argc(self) -> usize {
        match self {
            Builtin::Min | Builtin::Max => 2,
            _ => 1,
        }
    }

    /// The instruction calling it through global `slot` with the
    /// arguments in registers `args` (the second unused by a builtin of
    /// one), its result in `dst`.
    pub fn op(self, dst: Reg, args: [Reg; 2], slot: u32) -> Op {
        let [x, y] = args;
        match self {
            Builtin::Sqrt => Op::CallSqrt { dst, x, slot },
            Builtin::Abs => Op::CallAbs { dst, x, slot },
            Builtin::Floor => Op::CallFloor { dst, x, slot },
            Builtin::Ceil => Op::CallCeil { dst, x, slot },
            Builtin::Len => Op::CallLen { dst, x, slot },
            Builtin::Min => Op::CallMin { dst, a: x, b: y, slot },
            Builtin::Max => Op::CallMax { dst, a: x, b: y, slot },
        }
    }
}

/// A method that calls compile to an instruction of its own, as
/// [`Builtin`] for globals: `xs.push(x)` with one argument becomes
/// `CallPush`, which appends in the interpreter loop when `xs` is a list
/// whose `push` is still the standard library's native and has room, and
/// `m.remove(k)` becomes `CallRemove`, which removes there when `m` is a map
/// whose `remove` is still the standard library's and holds `k`. Anything
/// else (another receiver, a method the host replaced, a list with no room,
/// a missing key) makes the ordinary method call, with the same result and
/// the same errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuiltinMethod {
    /// `push` of lists.
    Push,
    /// `remove` of maps.
    Remove,
}

impl BuiltinMethod {
    /// Every builtin method with an instruction, in the order of their
    /// indexes.
    pub const ALL: [BuiltinMethod; 2] = [BuiltinMethod::Push, BuiltinMethod::Remove];

    /// The method name it is called by.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinMethod::Push => "push",
            BuiltinMethod::Remove => "remove",
        }
    }

    /// The builtin method called `name` with `argc` arguments (the
    /// receiver not counted), if that call has an instruction.
    pub fn for_call(name: &str, argc: usize) -> Option<BuiltinMethod> {
        BuiltinMethod::ALL.into_iter().find(|m| m.name() == name && argc == 1)
    }
}

/// The ordinary call a builtin's instruction stands for (see
/// [`Op::builtin_call`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuiltinCall {
    /// Where the result goes.
    pub dst: Reg,
    /// The argument registers; only the first `argc` are arguments.
    pub args: [Reg; 2],
    /// How many arguments: 1 or 2.
    pub argc: u8,
    /// The global that holds the function.
    pub slot: u32,
}

impl Op {
    /// For a builtin's instruction: the ordinary call it stands for, as
    /// `CallRegs` with the function `G[slot]` would make it.
    pub fn builtin_call(self) -> Option<BuiltinCall> {
        let (dst, args, argc, slot) = match self {
            Op::CallSqrt { dst, x, slot }
            | Op::CallAbs { dst, x, slot }
            | Op::CallFloor { dst, x, slot }
            | Op::CallCeil { dst, x, slot }
            | Op::CallLen { dst, x, slot } => (dst, [x, x], 1, slot),
            Op::CallMin { dst, a, b, slot } | Op::CallMax { dst, a, b, slot } => (dst, [a, b], 2, slot),
            _ => return None,
        };
        Some(BuiltinCall { dst, args, argc, slot })
    }
}

impl Proto {
    /// Checks that every register an instruction names lies inside the
    /// frame, and so do the parameters, that spans match instructions, and that execution cannot
    /// leave the code (every jump lands inside it, and the last instruction
    /// never falls through). The compiler guarantees all of this; the
    /// interpreter's unchecked register reads and instruction fetches rely
    /// on it, so the VM checks every function once, when it is loaded.
    pub fn check(&self) -> Result<(), String> {
        if self.spans.len() != self.code.len() {
            return Err(format!("{}: {} spans for {} instructions", self.name, self.spans.len(), self.code.len()));
        }
        // A call writes the arguments into the callee's first registers.
        if self.arity > self.regs {
            return Err(format!("{}: {} parameters but {} registers", self.name, self.arity, self.regs));
        }
        let len = self.code.len() as i64;
        for (pc, op) in self.code.iter().enumerate() {
            if let Op::ResumeNative = op {
                return Err(format!("{}: instruction {pc} is the VM's own", self.name));
            }
            let fields = op.fields();
            for f in fields.iter().flatten() {
                let limit = match f.kind {
                    Operand::Reg => self.regs as usize,
                    Operand::Konst | Operand::Field => self.consts.len(),
                    Operand::Symbol => self.methods.len(),
                    Operand::Upval => self.captures.len(),
                    // A run of registers ends inside the frame.
                    Operand::Range => {
                        let count = fields.iter().flatten().find(|c| c.kind == Operand::Count).map_or(0, |c| c.value);
                        (self.regs as i64 - count + 1).max(0) as usize
                    }
                    _ => continue,
                };
                if f.value < 0 || f.value as usize >= limit {
                    return Err(format!("{}: instruction {pc} has {} {} out of range", self.name, f.name, f.value));
                }
                // A field is named by a string.
                if f.kind == Operand::Field && !matches!(self.consts[f.value as usize], Const::Str(_)) {
                    return Err(format!("{}: instruction {pc} names a field by a non-string", self.name));
                }
            }
            // A call of registers takes one to three of them.
            if let Op::CallRegs { argc, .. } = op {
                if !(1..=3).contains(argc) {
                    return Err(format!("{}: instruction {pc} calls with {argc} registers", self.name));
                }
            }
            // A counted loop's end is in the register after its counter.
            if let Op::ForPrep { a } | Op::ForLoop { a, .. } = op {
                if *a as usize + 1 >= self.regs as usize {
                    return Err(format!("{}: instruction {pc} has its loop's end out of range", self.name));
                }
            }
            // A builtin method's call that is not the builtin's copies its
            // receiver and argument to the two registers after its base.
            if let Op::CallPush { base, .. } | Op::CallRemove { base, .. } = op {
                if *base as usize + 2 >= self.regs as usize {
                    return Err(format!("{}: instruction {pc} has its receiver or argument out of range", self.name));
                }
            }
            if let Some(offset) = op.jump_offset() {
                let target = pc as i64 + 1 + offset as i64;
                if !(0..len).contains(&target) {
                    return Err(format!("{}: instruction {pc} jumps to {target}, outside 0..{len}", self.name));
                }
            }
            // A back edge charges the distance it jumps to the task's
            // budget: it must jump back, or a loop would never be preempted.
            if matches!(op, Op::Loop { offset } if *offset >= 0) {
                return Err(format!("{}: instruction {pc} loops forward", self.name));
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
    use super::*;

    #[test]
    fn instructions_are_eight_bytes() {
        assert_eq!(std::mem::size_of::<Op>(), 8);
    }

    #[test]
    fn every_instruction_comes_back_from_its_fields() {
        // Ones fit every operand's type (a flag reads 1 as true).
        for &kind in OpKind::ALL {
            let op = Op::from_fields(kind, || Some(1)).expect("ones fit");
            assert_eq!(op.kind(), kind);
            let values: Vec<i64> = op.fields().into_iter().flatten().map(|f| f.value).collect();
            assert!(values.iter().all(|&v| v == 1), "{kind:?}: {values:?}");
            let mut given = values.into_iter();
            assert_eq!(Op::from_fields(kind, || given.next()), Some(op));
            assert!(given.next().is_none(), "{kind:?} took every field");
        }
        let mut too_few = [3].into_iter();
        assert_eq!(Op::from_fields(OpKind::Move, || too_few.next()), None, "a field missing");
        assert_eq!(Op::from_fields(OpKind::Nil, || Some(256)), None, "a register past 255");
        assert_eq!(Op::from_fields(OpKind::Bool, || Some(2)), None, "a flag neither 0 nor 1");
    }

    #[test]
    fn the_table_gives_operands_and_jumps() {
        let op = Op::IterNext { base: 3, dst: 5, pair: true, offset: -4 };
        let kinds: Vec<Operand> = op.fields().into_iter().flatten().map(|f| f.kind).collect();
        assert_eq!(kinds, [Operand::Reg, Operand::Reg, Operand::Flag, Operand::Jump]);
        assert_eq!(op.operands(), [Some(3), Some(5), None, None, None]);
        assert_eq!(op.jump_offset(), Some(-4));
        let mut jump = Op::Jump { offset: 0 };
        *jump.offset_mut().expect("a jump") = 9;
        assert_eq!(jump, Op::Jump { offset: 9 });
        assert_eq!(Op::Add { dst: 0, a: 1, b: 2 }.jump_offset(), None);
        // A run's first register is not a single operand.
        assert_eq!(Op::NewList { dst: 1, start: 2, count: 3 }.operands(), [Some(1), None, None, None, None]);
    }

    /// A one-instruction function, ended by a return.
    fn proto(op: Op, regs: u8) -> Proto {
        Proto {
            name: "f".into(),
            regs,
            code: vec![op, Op::ReturnNil],
            spans: vec![Span::default(); 2],
            ..Proto::default()
        }
    }

    #[test]
    fn the_verifier_checks_every_kind_of_index() {
        assert!(proto(Op::Move { dst: 0, src: 1 }, 2).check().is_ok());
        assert!(proto(Op::Move { dst: 0, src: 2 }, 2).check().is_err());
        assert!(proto(Op::Const { dst: 0, index: 0 }, 1).check().is_err(), "no constants");
        assert!(proto(Op::GetField { dst: 0, obj: 0, name: 0 }, 1).check().is_err(), "no field names");
        assert!(proto(Op::SetField { obj: 0, name: 0, src: 0 }, 1).check().is_err(), "no field names");
        let field = |name: Const| Proto { consts: vec![name], ..proto(Op::GetField { dst: 0, obj: 0, name: 0 }, 1) };
        assert!(field(Const::Str("x".into())).check().is_ok());
        assert!(field(Const::Int(1)).check().is_err(), "a field named by an int");
        assert!(proto(Op::GetUpval { dst: 0, index: 0 }, 1).check().is_err(), "no captures");
        assert!(proto(Op::CallMethod { base: 0, argc: 0, name: 0 }, 1).check().is_err(), "no method names");
        assert!(proto(Op::NewList { dst: 0, start: 1, count: 3 }, 4).check().is_ok());
        assert!(proto(Op::NewList { dst: 0, start: 2, count: 3 }, 4).check().is_err(), "the run leaves the frame");
        assert!(proto(Op::Jump { offset: 5 }, 1).check().is_err());
        assert!(proto(Op::ResumeNative, 1).check().is_err(), "the VM's own");
        assert!(proto(Op::CallSqrt { dst: 0, x: 1, slot: 0 }, 2).check().is_ok());
        assert!(proto(Op::CallSqrt { dst: 0, x: 0, slot: 0 }, 2).check().is_ok(), "the argument in place");
        assert!(proto(Op::CallSqrt { dst: 0, x: 2, slot: 0 }, 2).check().is_err(), "the argument outside");
        assert!(proto(Op::CallMin { dst: 1, a: 3, b: 0, slot: 0 }, 4).check().is_ok());
        assert!(proto(Op::CallMax { dst: 1, a: 2, b: 4, slot: 0 }, 4).check().is_err(), "an argument outside");
        assert!(Proto { arity: 2, ..proto(Op::ReturnNil, 1) }.check().is_err(), "parameters outside the frame");
        let call = |argc, c| Op::CallRegs { dst: 0, func: 1, argc, a: 2, b: 2, c };
        assert!(proto(call(3, 3), 4).check().is_ok());
        assert!(proto(call(1, 4), 4).check().is_err(), "an unused register outside the frame");
        assert!(proto(call(4, 3), 4).check().is_err(), "four arguments");
        assert!(proto(call(0, 3), 4).check().is_err(), "no arguments");
        assert!(proto(Op::ForLoop { a: 0, inclusive: false, offset: -1 }, 2).check().is_ok());
        assert!(proto(Op::ForLoop { a: 1, inclusive: false, offset: -1 }, 2).check().is_err(), "the end outside");
        assert!(proto(Op::ForPrep { a: 1 }, 2).check().is_err(), "the end outside");
        let mut push = proto(Op::CallPush { base: 0, obj: 1, arg: 2, name: 0 }, 3);
        push.methods.push("push".into());
        assert!(push.check().is_ok());
        push.regs = 2;
        assert!(push.check().is_err(), "the argument outside");
        let mut remove = proto(Op::CallRemove { base: 2, obj: 0, arg: 1, name: 0 }, 4);
        remove.methods.push("remove".into());
        assert!(remove.check().is_err(), "the copies for the method call outside");
        remove.regs = 5;
        assert!(remove.check().is_ok());
        assert!(proto(Op::JumpIfLt { a: 0, b: 1, offset: -2 }, 2).check().is_err(), "a jump before the code");
        assert!(proto(Op::JumpIfLtI { a: 0, imm: 3, offset: -1 }, 1).check().is_ok());
        assert_eq!(Builtin::for_call("min", 2), Some(Builtin::Min));
        assert_eq!(Builtin::for_call("min", 3), None, "min of three is an ordinary call");
        let call = BuiltinCall { dst: 4, args: [2, 2], argc: 1, slot: 7 };
        assert_eq!(Builtin::Len.op(4, [2, 9], 7).builtin_call(), Some(call));
        let call = BuiltinCall { dst: 0, args: [3, 1], argc: 2, slot: 8 };
        assert_eq!(Builtin::Min.op(0, [3, 1], 8).builtin_call(), Some(call));
    }
}
