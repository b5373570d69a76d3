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

#[cfg(test)]
mod tests {
    use super::*;
    use weft_lang::Span;

    /// A function of `arity` parameters and `regs` registers running `code`,
    /// without constants, as the loader would make it from compiled code.
    fn function(arity: u8, regs: u8, code: Vec<Op>) -> FnProto {
        FnProto {
            name: "f".into(),
            arity,
            regs,
            leaf: None,
            spans: vec![Span::default(); code.len()].into_boxed_slice(),
            code,
            consts: Box::new([]),
            fields: Box::new([]),
            captures: Box::new([]),
            file: 0,
            span: Span::default(),
        }
    }

    /// What `code` returns on `args`, checking first that it is straight.
    fn answer(code: Vec<Op>, args: &[Value]) -> Option<Value> {
        let f = function(args.len() as u8, 4, code);
        assert!(is_straight(&f));
        run(&Heap::new(), &f, args)
    }

    /// `if <jump> { return 1 } return 0`, with the jump's condition
    /// on the parameters: 1 when the jump is taken.
    fn taken(jump: Op, args: &[Value]) -> bool {
        let code = vec![
            jump,
            Op::Int { dst: 3, value: 0 },
            Op::Return { src: 3 },
            Op::Int { dst: 3, value: 1 },
            Op::Return { src: 3 },
        ];
        match answer(code, args) {
            Some(Value::Int(n)) => n == 1,
            other => panic!("{jump:?} on {args:?} gave {other:?}"),
        }
    }

    // No script of the suite reaches these arms (the compiler emits the
    // conditional jumps below only as back edges, and no comparator there
    // needs a nil or a move), but a straight function may hold any of them.

    #[test]
    fn registers_are_set_and_moved() {
        let nil = answer(vec![Op::Nil { dst: 1 }, Op::Return { src: 1 }], &[Value::Int(3)]);
        assert!(matches!(nil, Some(Value::Nil)), "{nil:?}");
        let moved = answer(vec![Op::Move { dst: 2, src: 1 }, Op::Return { src: 2 }], &[Value::Int(3), Value::Int(4)]);
        assert!(matches!(moved, Some(Value::Int(4))), "{moved:?}");
    }

    #[test]
    fn forward_jumps_test_as_the_loop_does() {
        let (one, two) = (Value::Int(1), Value::Int(2));
        let half = Value::Float(1.5);
        let (a, b) = (0, 1);
        assert!(taken(Op::JumpIfTrue { cond: a, offset: 2 }, &[Value::Bool(true)]));
        assert!(!taken(Op::JumpIfTrue { cond: a, offset: 2 }, &[Value::Nil]));
        for (x, y, lt, le) in [(one, two, true, true), (two, two, false, true), (two, one, false, false)] {
            assert_eq!(taken(Op::JumpIfLt { a, b, offset: 2 }, &[x, y]), lt);
            assert_eq!(taken(Op::JumpIfLe { a, b, offset: 2 }, &[x, y]), le);
            assert_eq!(taken(Op::JumpIfNotLe { a, b, offset: 2 }, &[x, y]), !le);
        }
        // An int beside a float is compared as the slow path compares it.
        assert!(taken(Op::JumpIfLt { a, b, offset: 2 }, &[one, half]));
        assert!(!taken(Op::JumpIfLe { a, b, offset: 2 }, &[two, half]));
        for (x, below_2, above_1) in [(one, true, false), (two, false, true), (half, true, true)] {
            assert_eq!(taken(Op::JumpIfLtI { a, imm: 2, offset: 2 }, &[x]), below_2);
            assert_eq!(taken(Op::JumpIfNotLtI { a, imm: 2, offset: 2 }, &[x]), !below_2);
            assert_eq!(taken(Op::JumpIfGtI { a, imm: 1, offset: 2 }, &[x]), above_1);
            assert_eq!(taken(Op::JumpIfNotGtI { a, imm: 1, offset: 2 }, &[x]), !above_1);
        }
    }

    #[test]
    fn what_would_raise_is_left_to_the_call() {
        let mut heap = Heap::new();
        let name = Value::Str(heap.intern("a"));
        let lt = Op::JumpIfLt { a: 0, b: 1, offset: 2 };
        let f = function(2, 4, vec![lt, Op::ReturnNil, Op::ReturnNil]);
        assert!(run(&heap, &f, &[Value::Int(1), name]).is_none());
        let add = vec![Op::AddI { dst: 1, a: 0, imm: 1 }, Op::Return { src: 1 }];
        assert!(answer(add, &[Value::Int(i64::MAX)]).is_none());
    }

    #[test]
    fn loops_and_large_functions_are_not_straight() {
        let back = function(1, 2, vec![Op::JumpIfLtI { a: 0, imm: 3, offset: -1 }, Op::ReturnNil]);
        assert!(!is_straight(&back));
        let wide = function(1, MAX_REGS as u8 + 1, vec![Op::ReturnNil]);
        assert!(!is_straight(&wide));
        let long = function(0, 1, vec![Op::Nil { dst: 0 }; MAX_CODE].into_iter().chain([Op::ReturnNil]).collect());
        assert!(!is_straight(&long));
        let call = function(1, 2, vec![Op::Call { base: 0, argc: 0 }, Op::ReturnNil]);
        assert!(!is_straight(&call));
    }
}
