//! Straight-line readers: functions that compute their result from their
//! parameters with a few field reads, comparisons, constants and forward
//! jumps, then return it, without calling, looping, allocating or changing
//! anything. A sort's comparator with a tie-break is one:
//!
//! ```text
//! fn(a, b) {
//!     if a.group != b.group { return a.group < b.group }
//!     return a.id < b.id
//! }
//! ```
//!
//! A native that calls such a function for each of many items may run it
//! here instead, on a window of registers of its own, without a frame or
//! a trip through the interpreter (see `Ctx::call_leaf`). Each instruction
//! runs as the interpreter runs it when it does not raise: anything else (a
//! missing field, a `<` that would raise, an int that would overflow)
//! gives up, and the native makes the call, which gives the answer or the
//! error. Having changed nothing (but where a field name was last found,
//! a hint for the next read), a run that gave up leaves nothing to undo.

use crate::code::FnProto;
use crate::exec::interp::equal_fast;
use crate::fmt::equal;
use crate::heap::Heap;
use crate::ops::less;
use crate::value::Value;
use weft_lang::bytecode::Op;

/// The most instructions such a function may have: a run is short.
const MAX_CODE: usize = 48;

/// The most registers it may use: its window lives on the native stack.
const MAX_REGS: usize = 16;

/// Whether `f` is a straight-line reader: small, every instruction one that
/// [`run`] runs, every jump forward.
pub(crate) fn is_straight(f: &FnProto) -> bool {
    let runs = |op: &Op| match op {
        Op::Nil { .. }
        | Op::Bool { .. }
        | Op::Int { .. }
        | Op::Const { .. }
        | Op::Move { .. }
        | Op::Not { .. }
        | Op::GetField { .. }
        | Op::Eq { .. }
        | Op::Ne { .. }
        | Op::Lt { .. }
        | Op::Le { .. }
        | Op::Add { .. }
        | Op::Sub { .. }
        | Op::Mul { .. }
        | Op::AddI { .. }
        | Op::MulI { .. }
        | Op::Return { .. }
        | Op::ReturnNil => true,
        Op::Jump { offset }
        | Op::JumpIfFalse { offset, .. }
        | Op::JumpIfTrue { offset, .. }
        | Op::JumpIfNotLt { offset, .. }
        | Op::JumpIfNotLe { offset, .. }
        | Op::JumpIfLt { offset, .. }
        | Op::JumpIfLe { offset, .. }
        | Op::JumpIfNotEq { offset, .. }
        | Op::JumpIfEq { offset, .. }
        | Op::JumpIfNotLtI { offset, .. }
        | Op::JumpIfLtI { offset, .. }
        | Op::JumpIfNotGtI { offset, .. }
        | Op::JumpIfGtI { offset, .. } => *offset >= 0,
        _ => false,
    };
    f.code.len() <= MAX_CODE && f.regs as usize <= MAX_REGS && f.code.iter().all(runs)
}

/// What a call of `f`, a straight-line reader (see [`is_straight`]), on
/// `args` returns; `None` where the call would do more than this runs (an
/// error to raise, a slow case). Every jump goes forward, so a run ends
/// within `f`'s length in instructions. Out of line: the loop of a
/// native that runs it for each item stays small.
#[inline(never)]
pub(crate) fn run(heap: &Heap, f: &FnProto, args: &[Value]) -> Option<Value> {
    let mut regs = [Value::Nil; MAX_REGS];
    for (reg, &arg) in regs.iter_mut().zip(args) {
        *reg = arg;
    }
    // Registers read and written through `get`: nothing here can panic,
    // whatever the function (load time has checked them against its
    // register count, and `is_straight` that count against the window).
    macro_rules! r {
        ($r:expr) => {
            *regs.get($r as usize)?
        };
    }
    macro_rules! set {
        ($r:expr, $v:expr) => {{
            let v = $v;
            *regs.get_mut($r as usize)? = v;
        }};
    }
    // `x < y` (or `<=`) as the slow path makes it, unless it would raise.
    let lt = |x: Value, y: Value, or_equal: bool| match (x, y) {
        (Value::Int(i), Value::Int(j)) => Some(i < j || (or_equal && i == j)),
        (Value::Float(i), Value::Float(j)) => Some(i < j || (or_equal && i == j)),
        _ => less(heap, x, y, or_equal).ok(),
    };
    // `x == y`: the loop's fast case, else the slow path's, which never
    // raises.
    let eq = |x: Value, y: Value| equal_fast(heap, &x, &y).unwrap_or_else(|| equal(heap, x, y));
    let mut pc: usize = 0;
    loop {
        // Matched where it lies, as the loop does: each arm reads only the
        // operands it uses.
        let op = f.code.get(pc)?;
        pc += 1;
        // A jump taken: forward only (`is_straight`), so the run moves on;
        // a target past the end (which no checked function has) ends it.
        macro_rules! jump_if {
            ($cond:expr, $offset:expr) => {
                if $cond {
                    pc = pc.wrapping_add($offset as usize);
                }
            };
        }
        match *op {
            Op::Nil { dst } => set!(dst, Value::Nil),
            Op::Bool { dst, value } => set!(dst, Value::Bool(value)),
            Op::Int { dst, value } => set!(dst, Value::Int(value as i64)),
            Op::Const { dst, index } => set!(dst, *f.consts.get(index as usize)?),
            Op::Move { dst, src } => set!(dst, r!(src)),
            Op::Not { dst, src } => set!(dst, Value::Bool(!r!(src).truthy())),
            Op::GetField { dst, obj, name } => {
                let (Value::Map(m), Some(&Value::Str(name))) = (r!(obj), f.consts.get(name as usize)) else {
                    return None;
                };
                let v = match heap.field_at_hint(m, name) {
                    Some(&v) => v,
                    None => heap.find_field(m, name)?,
                };
                set!(dst, v);
            }
            Op::Eq { dst, a, b } => set!(dst, Value::Bool(eq(r!(a), r!(b)))),
            Op::Ne { dst, a, b } => set!(dst, Value::Bool(!eq(r!(a), r!(b)))),
            Op::Lt { dst, a, b } => set!(dst, Value::Bool(lt(r!(a), r!(b), false)?)),
            Op::Le { dst, a, b } => set!(dst, Value::Bool(lt(r!(a), r!(b), true)?)),
            Op::Add { dst, a, b } | Op::Sub { dst, a, b } | Op::Mul { dst, a, b } => {
                let v = match (r!(a), r!(b)) {
                    (Value::Int(i), Value::Int(j)) => Value::Int(match op {
                        Op::Add { .. } => i.checked_add(j)?,
                        Op::Sub { .. } => i.checked_sub(j)?,
                        _ => i.checked_mul(j)?,
                    }),
                    (Value::Float(x), Value::Float(y)) => Value::Float(match op {
                        Op::Add { .. } => x + y,
                        Op::Sub { .. } => x - y,
                        _ => x * y,
                    }),
                    _ => return None,
                };
                set!(dst, v);
            }
            Op::AddI { dst, a, imm } | Op::MulI { dst, a, imm } => {
                let add = matches!(op, Op::AddI { .. });
                let v = match r!(a) {
                    Value::Int(i) if add => Value::Int(i.checked_add(imm as i64)?),
                    Value::Int(i) => Value::Int(i.checked_mul(imm as i64)?),
                    Value::Float(x) if add => Value::Float(x + imm as f64),
                    Value::Float(x) => Value::Float(x * imm as f64),
                    _ => return None,
                };
                set!(dst, v);
            }
            Op::Return { src } => return Some(r!(src)),
            Op::ReturnNil => return Some(Value::Nil),
            Op::Jump { offset } => jump_if!(true, offset),
            Op::JumpIfFalse { cond, offset } => jump_if!(!r!(cond).truthy(), offset),
            Op::JumpIfTrue { cond, offset } => jump_if!(r!(cond).truthy(), offset),
            Op::JumpIfNotLt { a, b, offset } => jump_if!(!lt(r!(a), r!(b), false)?, offset),
            Op::JumpIfNotLe { a, b, offset } => jump_if!(!lt(r!(a), r!(b), true)?, offset),
            Op::JumpIfLt { a, b, offset } => jump_if!(lt(r!(a), r!(b), false)?, offset),
            Op::JumpIfLe { a, b, offset } => jump_if!(lt(r!(a), r!(b), true)?, offset),
            Op::JumpIfNotEq { a, b, offset } => jump_if!(!eq(r!(a), r!(b)), offset),
            Op::JumpIfEq { a, b, offset } => jump_if!(eq(r!(a), r!(b)), offset),
            Op::JumpIfNotLtI { a, imm, offset } => jump_if!(!lt(r!(a), Value::Int(imm as i64), false)?, offset),
            Op::JumpIfLtI { a, imm, offset } => jump_if!(lt(r!(a), Value::Int(imm as i64), false)?, offset),
            Op::JumpIfNotGtI { a, imm, offset } => jump_if!(!lt(Value::Int(imm as i64), r!(a), false)?, offset),
            Op::JumpIfGtI { a, imm, offset } => jump_if!(lt(Value::Int(imm as i64), r!(a), false)?, offset),
            // `is_straight` let no other instruction in.
            _ => return None,
        }
    }
}
