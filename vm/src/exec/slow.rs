//! Every instruction in full, out of the hot loop.
//!
//! [`interp::run`](crate::interp::run) handles the common cases of the
//! common instructions inline (int and float arithmetic, comparisons and
//! jumps, list items, map fields, script calls and returns) and hands
//! everything else here: other operand types, errors, allocation, natives,
//! concurrency. Nothing the loop keeps in locals lives across a call into
//! this module, so the loop's hot state (the instruction pointer, the
//! register window) can stay in machine registers.
//!
//! [`exec`] runs one instruction with the loop's state saved in the task
//! (the top frame's pc already points past the instruction) and leaves its
//! effects there: a jump sets that pc, a call pushes a frame, and the loop
//! reloads its locals from the top frame afterwards.

use crate::error::Throw;
use crate::fmt::{display, equal};
use crate::heap::Captures;
use crate::interp::{
    bad_key, call_method, call_value, get_field, get_index, list_index, raise, range_bounds, set_index, stop, Called,
    Halt, Registers,
};
use crate::ops::{self, arith, contains, less};
use crate::task::{Handler, Task};
use crate::value::Value;
use crate::{Code, Runtime};
use weft_lang::ast::BinOp;
use weft_lang::bytecode::{BuiltinCall, Capture, Op};

/// Runs `op`, the instruction just before `pc`, the top frame's saved pc.
/// Returns why the task must stop, or `None` to go on from the top frame.
#[inline(never)]
pub(crate) fn exec(code: &Code, rt: &mut Runtime, task: &mut Task, op: Op, pc: usize) -> Option<Halt> {
    // The pc comes from the loop, which has just stored it in the frame:
    // reading it back would wait on that store.
    let top = task.frames.last().expect("running");
    let (proto_index, closure, base) = (top.proto, top.closure, top.base as usize);
    let proto = &code.protos[proto_index as usize];
    let consts = &proto.consts[..];
    let mut regs = Registers(&mut task.stack[base..base + proto.regs as usize]);

    macro_rules! raise {
        ($throw:expr) => {{
            let throw = $throw;
            return raise(code, rt, task, throw);
        }};
    }
    macro_rules! try_raise {
        ($result:expr) => {
            match $result {
                Ok(v) => v,
                Err(t) => raise!(t),
            }
        };
    }
    // After an instruction that allocates: let the collector run if due.
    macro_rules! gc_point {
        () => {
            if rt.heap.gc_due() {
                return Some(Halt::Collect);
            }
        };
    }
    // Any operands: the loop has already tried the int and float cases.
    macro_rules! arith {
        ($op:expr, $dst:expr, $a:expr, $b:expr) => {{
            let (x, y) = (regs[$a], regs[$b]);
            regs[$dst] = try_raise!(arith(&mut rt.heap, $op, x, y));
            gc_point!();
        }};
    }
    // Calls `$callee` with the `$argc` values after stack slot `$at`, its
    // result going to slot `$ret`.
    macro_rules! call {
        ($callee:expr, $at:expr, $argc:expr, $ret:expr) => {
            match call_value(code, rt, task, $callee, $at, $argc, $ret) {
                Ok(Called::Pushed) => {
                    if crate::task::spend(&mut task.budget, crate::task::CALL_COST) {
                        return Some(Halt::Yield);
                    }
                    // The call may have grown the task's registers: they
                    // count against the heap limit at the next collection.
                    gc_point!();
                }
                Ok(Called::Returned) => gc_point!(),
                Err(control) => return stop(code, rt, task, control),
            }
        };
    }
    // A backward jump spends budget, as in the loop.
    macro_rules! jump {
        ($offset:expr) => {{
            task.frames.last_mut().expect("running").pc = (pc as isize + $offset as isize) as u32;
            // A backward jump spends the code it jumps back over.
            if $offset < 0 && crate::task::spend(&mut task.budget, -($offset as i32)) {
                return Some(Halt::Yield);
            }
        }};
    }

    match op {
        // The loop finishes these itself; they are here in full for
        // `WEFT_SLOW_PATH=1`, which runs every instruction through this
        // function (see `interp::run_slow`).
        Op::Nil { dst } => regs[dst] = Value::Nil,
        Op::Bool { dst, value } => regs[dst] = Value::Bool(value),
        Op::Int { dst, value } => regs[dst] = Value::Int(value as i64),
        Op::Const { dst, index } => regs[dst] = consts[index as usize],
        Op::Move { dst, src } => regs[dst] = regs[src],
        Op::GetGlobal { dst, slot } => regs[dst] = rt.globals[slot as usize],
        Op::SetGlobal { src, slot } => rt.globals[slot as usize] = regs[src],
        Op::GetUpval { dst, index } => match closure.map(|c| rt.heap.closure(c).captures.get(index as usize)) {
            Some(Value::Cell(cell)) => regs[dst] = rt.heap.cell(cell),
            _ => raise!(Throw::internal("a capture is not a cell")),
        },
        Op::SetUpval { src, index } => match closure.map(|c| rt.heap.closure(c).captures.get(index as usize)) {
            Some(Value::Cell(cell)) => rt.heap.set_cell(cell, regs[src]),
            _ => raise!(Throw::internal("a capture is not a cell")),
        },
        Op::GetCell { dst, cell } => match regs[cell] {
            Value::Cell(c) => regs[dst] = rt.heap.cell(c),
            _ => raise!(Throw::internal("a celled local holds no cell")),
        },
        Op::SetCell { cell, src } => match regs[cell] {
            Value::Cell(c) => rt.heap.set_cell(c, regs[src]),
            _ => raise!(Throw::internal("a celled local holds no cell")),
        },
        Op::Not { dst, src } => regs[dst] = Value::Bool(!regs[src].truthy()),
        Op::Jump { offset } => jump!(offset),
        Op::Loop { offset } => jump!(offset),
        Op::JumpIfFalse { cond, offset } => {
            if !regs[cond].truthy() {
                jump!(offset)
            }
        }
        Op::JumpIfTrue { cond, offset } => {
            if regs[cond].truthy() {
                jump!(offset)
            }
        }
        Op::Return { src } => {
            let v = regs[src];
            return crate::interp::return_from(task, v);
        }
        Op::ReturnNil => return crate::interp::return_from(task, Value::Nil),
        Op::EndTry => {
            task.pop_handler();
        }
        Op::NewCell { reg } => {
            let cell = rt.heap.new_cell(regs[reg]);
            regs[reg] = Value::Cell(cell);
            gc_point!();
        }
        Op::Add { dst, a, b } => arith!(BinOp::Add, dst, a, b),
        Op::Sub { dst, a, b } => arith!(BinOp::Sub, dst, a, b),
        Op::Mul { dst, a, b } => arith!(BinOp::Mul, dst, a, b),
        Op::Div { dst, a, b } => arith!(BinOp::Div, dst, a, b),
        Op::FloorDiv { dst, a, b } => arith!(BinOp::FloorDiv, dst, a, b),
        Op::Mod { dst, a, b } => arith!(BinOp::Mod, dst, a, b),
        Op::Pow { dst, a, b } => arith!(BinOp::Pow, dst, a, b),
        Op::AddI { dst, a, imm } => {
            regs[dst] = match regs[a] {
                Value::Int(i) => match i.checked_add(imm as i64) {
                    Some(v) => Value::Int(v),
                    // `x - 2` compiles to an add of -2: say it as written.
                    None if imm < 0 => raise!(ops::overflow("-", i, -(imm as i64))),
                    None => raise!(ops::overflow("+", i, imm as i64)),
                },
                _ => try_raise!(arith(&mut rt.heap, BinOp::Add, regs[a], Value::Int(imm as i64))),
            }
        }
        Op::MulI { dst, a, imm } => {
            regs[dst] = match regs[a] {
                Value::Int(i) => match i.checked_mul(imm as i64) {
                    Some(v) => Value::Int(v),
                    None => raise!(ops::overflow("*", i, imm as i64)),
                },
                _ => try_raise!(arith(&mut rt.heap, BinOp::Mul, regs[a], Value::Int(imm as i64))),
            }
        }
        Op::ModI { dst, a, imm } => {
            regs[dst] = match regs[a] {
                Value::Int(i) => {
                    let (r, m) = (i % imm as i64, imm as i64);
                    Value::Int(if r != 0 && ((r < 0) != (m < 0)) { r + m } else { r })
                }
                _ => try_raise!(arith(&mut rt.heap, BinOp::Mod, regs[a], Value::Int(imm as i64))),
            }
        }
        Op::Neg { dst, src } => {
            regs[dst] = match regs[src] {
                Value::Int(i) => match i.checked_neg() {
                    Some(v) => Value::Int(v),
                    None => raise!(Throw::new("Overflow", format!("integer overflow in -({i})"))),
                },
                Value::Float(x) => Value::Float(-x),
                v => raise!(Throw::type_error(format!("cannot negate {}", v.type_name()))),
            }
        }
        Op::Eq { dst, a, b } => regs[dst] = Value::Bool(equal(&rt.heap, regs[a], regs[b])),
        Op::Ne { dst, a, b } => regs[dst] = Value::Bool(!equal(&rt.heap, regs[a], regs[b])),
        Op::Lt { dst, a, b } => {
            regs[dst] = Value::Bool(match (&regs[a], &regs[b]) {
                (Value::Int(i), Value::Int(j)) => i < j,
                (Value::Float(i), Value::Float(j)) => i < j,
                (&x, &y) => try_raise!(less(&rt.heap, x, y, false)),
            })
        }
        Op::Le { dst, a, b } => {
            regs[dst] = Value::Bool(match (&regs[a], &regs[b]) {
                (Value::Int(i), Value::Int(j)) => i <= j,
                (Value::Float(i), Value::Float(j)) => i <= j,
                (&x, &y) => try_raise!(less(&rt.heap, x, y, true)),
            })
        }
        Op::In { dst, a, b } => regs[dst] = Value::Bool(try_raise!(contains(&rt.heap, regs[a], regs[b]))),

        // Each comparison jump has a twin of the opposite sense: the
        // `JumpIfNot*` one ends an `if` or a loop's test at the top, the
        // other a loop's test at the bottom. The pair shares one arm.
        Op::JumpIfNotLt { a, b, offset }
        | Op::JumpIfNotLe { a, b, offset }
        | Op::JumpIfLt { a, b, offset }
        | Op::JumpIfLe { a, b, offset } => {
            let or_equal = matches!(op, Op::JumpIfNotLe { .. } | Op::JumpIfLe { .. });
            let yes = match (&regs[a], &regs[b]) {
                (Value::Int(i), Value::Int(j)) => i < j || (or_equal && i == j),
                (Value::Float(i), Value::Float(j)) => i < j || (or_equal && i == j),
                (&x, &y) => try_raise!(less(&rt.heap, x, y, or_equal)),
            };
            if yes == matches!(op, Op::JumpIfLt { .. } | Op::JumpIfLe { .. }) {
                jump!(offset)
            }
        }
        Op::JumpIfNotLtI { a, imm, offset } | Op::JumpIfLtI { a, imm, offset } => {
            let yes = match &regs[a] {
                Value::Int(i) => *i < imm as i64,
                Value::Float(x) => *x < imm as f64,
                &x => try_raise!(less(&rt.heap, x, Value::Int(imm as i64), false)),
            };
            if yes == matches!(op, Op::JumpIfLtI { .. }) {
                jump!(offset)
            }
        }
        Op::JumpIfNotGtI { a, imm, offset } | Op::JumpIfGtI { a, imm, offset } => {
            let yes = match &regs[a] {
                Value::Int(i) => *i > imm as i64,
                Value::Float(x) => *x > imm as f64,
                &x => try_raise!(less(&rt.heap, Value::Int(imm as i64), x, false)),
            };
            if yes == matches!(op, Op::JumpIfGtI { .. }) {
                jump!(offset)
            }
        }
        Op::JumpIfNotEq { a, b, offset } | Op::JumpIfEq { a, b, offset } => {
            if equal(&rt.heap, regs[a], regs[b]) == matches!(op, Op::JumpIfEq { .. }) {
                jump!(offset)
            }
        }

        Op::NewList { dst, start, count } => {
            regs[dst] = Value::List(rt.heap.new_list_from(&regs[start as usize..start as usize + count as usize]));
            gc_point!();
        }
        Op::NewMap { dst, start, count } => {
            let pairs = &regs[start as usize..start as usize + 2 * count as usize];
            match rt.heap.new_map_from(pairs) {
                Ok(map) => regs[dst] = Value::Map(map),
                Err(bad) => raise!(bad_key(bad)),
            }
            gc_point!();
        }
        Op::Unpack { start, count, src } => {
            let Value::List(r) = regs[src] else {
                raise!(Throw::type_error(format!(
                    "only a list can be unpacked into names, not {}",
                    regs[src].type_name()
                )))
            };
            let items = rt.heap.list(r);
            if items.len() != count as usize {
                raise!(crate::interp::unpack_length(items.len(), count))
            }
            let start = start as usize;
            regs[start..start + count as usize].copy_from_slice(items);
        }
        Op::ListPush { list, src } => {
            let Value::List(r) = regs[list] else { unreachable!("a list literal") };
            let v = regs[src];
            rt.heap.list_mut(r).push(v);
        }
        Op::MapInsert { map, key: k, src } => {
            let Value::Map(r) = regs[map] else { unreachable!("a map literal") };
            let kv = regs[k];
            let Some(k) = rt.heap.key(kv) else { raise!(bad_key(kv)) };
            let v = regs[src];
            try_raise!(rt.heap.map_insert(r, k, v));
        }
        Op::Range { dst, start, inclusive } => {
            let (lo, hi) = (regs[start], regs[start as usize + 1]);
            let (Value::Int(lo), Value::Int(hi)) = (lo, hi) else { raise!(range_bounds(lo, hi)) };
            regs[dst] = Value::Range(rt.heap.new_range(lo, hi, inclusive));
            gc_point!();
        }
        Op::GetIndex { dst, obj, index } => {
            regs[dst] = match (&regs[obj], &regs[index]) {
                (&Value::List(r), &Value::Int(i)) => {
                    let items = rt.heap.list(r);
                    match ops::index(i, items.len()) {
                        Some(at) => items[at],
                        None => raise!(list_index(i, items.len())),
                    }
                }
                (&o, &i) => try_raise!(get_index(rt, o, i)),
            };
        }
        Op::SetIndex { obj, index, src } => {
            let (o, i, v) = (regs[obj], regs[index], regs[src]);
            match (o, i) {
                (Value::List(r), Value::Int(i)) => {
                    let items = rt.heap.list_mut(r);
                    match ops::index(i, items.len()) {
                        Some(at) => items[at] = v,
                        None => {
                            let len = items.len();
                            raise!(list_index(i, len))
                        }
                    }
                }
                _ => try_raise!(set_index(rt, o, i, v)),
            }
        }
        // Both remember where the field was, for the loop's next try.
        Op::GetField { dst, obj, name: at } => {
            let Value::Str(name) = consts[at as usize] else { unreachable!("field names are strings") };
            regs[dst] = match regs[obj] {
                Value::Map(m) => match rt.heap.find_field(m, name) {
                    Some(v) => {
                        proto.remember_field(at, rt.heap.field_hint(name));
                        v
                    }
                    None => raise!(crate::exec::ops::missing_key(&rt.heap, rt.heap.map(m), Value::Str(name))),
                },
                o => try_raise!(get_field(code, rt, o, name)),
            };
        }
        Op::SetField { obj, name: at, src } => {
            let Value::Str(name) = consts[at as usize] else { unreachable!("field names are strings") };
            match regs[obj] {
                Value::Map(m) => {
                    let v = regs[src];
                    try_raise!(rt.heap.set_field(m, name, v));
                    proto.remember_field(at, rt.heap.field_hint(name));
                }
                o => {
                    raise!(Throw::type_error(format!("cannot set field '{}' on {}", rt.heap.str(name), o.type_name())))
                }
            }
        }
        Op::Concat { dst, start, count } => {
            let mut s = String::new();
            for v in &regs[start as usize..start as usize + count as usize] {
                match *v {
                    Value::Str(r) => s.push_str(rt.heap.str(r)),
                    v => s.push_str(&display(&rt.heap, code, v)),
                }
            }
            regs[dst] = Value::Str(rt.heap.intern_string(s));
            gc_point!();
        }

        Op::Call { base: b, argc } | Op::CallGlobal { base: b, argc, .. } => {
            if let Op::CallGlobal { slot, .. } = op {
                regs[b] = rt.globals[slot as usize];
            }
            let (at, callee) = (base + b as usize, regs[b]);
            if !matches!(callee, Value::Func(_) | Value::Native(_)) {
                raise!(crate::interp::not_callable(code, rt, proto, pc, callee))
            }
            call!(callee, at, argc as usize, at)
        }
        // A builtin's instruction that the loop did not finish makes the
        // ordinary call it stands for, as `CallRegs` does.
        Op::CallRegs { .. }
        | Op::CallSqrt { .. }
        | Op::CallAbs { .. }
        | Op::CallFloor { .. }
        | Op::CallCeil { .. }
        | Op::CallLen { .. }
        | Op::CallMin { .. }
        | Op::CallMax { .. } => {
            let (dst, callee, args, argc) = match (op, op.builtin_call()) {
                (Op::CallRegs { dst, func, argc, a, b, c }, _) => (dst, regs[func], [regs[a], regs[b], regs[c]], argc),
                (_, Some(BuiltinCall { dst, args: [x, y], argc, slot })) => {
                    (dst, rt.globals[slot as usize], [regs[x], regs[y], regs[x]], argc)
                }
                _ => unreachable!("a call of registers"),
            };
            let argc = argc as usize;
            if let Value::Native(n) = callee {
                // As the loop does: no room taken on the task's stack.
                match crate::interp::call_native_on(code, rt, task, n, &args[..argc], base + dst as usize) {
                    Ok(_) => gc_point!(),
                    Err(control) => return stop(code, rt, task, control),
                }
                return None;
            }
            if !matches!(callee, Value::Func(_)) {
                raise!(crate::interp::not_callable(code, rt, proto, pc, callee))
            }
            // The callee's registers start above this frame's, as in the
            // loop (`call_value` reads the arguments after slot `at`).
            let new_base = base + proto.regs as usize;
            if task.stack.len() < new_base + argc {
                try_raise!(crate::interp::grow(&mut rt.heap, &mut task.stack, new_base + argc));
            }
            task.stack[new_base..new_base + argc].copy_from_slice(&args[..argc]);
            call!(callee, new_base - 1, argc, base + dst as usize)
        }
        Op::CallMethod { base: b, name, .. }
        | Op::CallPush { base: b, name, .. }
        | Op::CallRemove { base: b, name, .. } => {
            let argc = match op {
                Op::CallMethod { argc, .. } => argc,
                // The receiver and argument go after the base, where
                // `CallMethod` has them.
                Op::CallPush { obj, arg, .. } | Op::CallRemove { obj, arg, .. } => {
                    let at = b as usize;
                    (regs[at + 1], regs[at + 2]) = (regs[obj as usize], regs[arg as usize]);
                    1
                }
                _ => unreachable!("a method call"),
            };
            match call_method(code, rt, task, base + b as usize, argc as usize, name) {
                Ok(_) => gc_point!(),
                Err(control) => return stop(code, rt, task, control),
            }
        }
        Op::ResumeNative => {
            let halt = crate::interp::resume_native(code, rt, task);
            if halt.is_none() {
                gc_point!();
            }
            return halt;
        }
        Op::Closure { dst, proto } => {
            let target = &code.protos[proto as usize];
            let capture = |c: &Capture| match c {
                Capture::Local(reg) => regs[*reg as usize],
                Capture::Upval(i) => rt.heap.closure(closure.expect("enclosing closure")).captures.get(*i as usize),
            };
            let captures = match &target.captures[..] {
                [] => Captures::None,
                [one] => Captures::One(capture(one)),
                many => Captures::Many(many.iter().map(capture).collect()),
            };
            regs[dst] = Value::Func(rt.heap.new_closure(proto, captures));
            gc_point!();
        }

        Op::Try { reg, offset } => {
            let handler = Handler {
                frames: task.frames.len() as u32,
                pc: (pc as isize + offset as isize) as u32,
                slot: (base + reg as usize) as u32,
            };
            task.rare.get_or_insert_default().handlers.push(handler);
        }
        Op::Throw { src } => raise!(Throw::Value(regs[src])),

        Op::IterPrep { base: b } => {
            let cursor = match regs[b] {
                Value::List(_) | Value::Map(_) | Value::Str(_) | Value::Chan(_) => Value::Int(0),
                Value::Range(r) => Value::Int(rt.heap.range(r).0),
                Value::Object(r) if crate::interp::object_next(code, rt, r).is_some() => Value::Int(0),
                v => raise!(Throw::type_error(format!("cannot iterate over {}", code.type_name(&rt.heap, v)))),
            };
            regs[b as usize + 1] = cursor;
            // A map's size when the loop began: a loop that adds or removes
            // keys fails rather than skip or repeat one.
            regs[b as usize + 2] = match regs[b] {
                Value::Map(r) => Value::Int(rt.heap.map(r).len() as i64),
                _ => Value::Int(0),
            };
        }
        Op::IterNext { base: b, dst, pair, offset } => {
            // The cursor is nil once a range has given i64::MAX, where it
            // cannot step past its end.
            let Value::Int(cursor) = regs[b as usize + 1] else {
                jump!(offset);
                return None;
            };
            if let Value::Chan(ch) = regs[b] {
                if pair {
                    raise!(Throw::type_error("a channel gives one value per iteration: `for v in ch`"));
                }
                // Receiving is a checkpoint, as `recv()` is.
                if let Some(scope) = rt.sched.cancelled(rt.sched.current) {
                    raise!(Throw::Cancelled(Some(scope)));
                }
                match crate::channel::try_recv(rt, ch) {
                    Ok(Some(v)) => regs[dst] = v,
                    Err(_) => jump!(offset),
                    Ok(None) => {
                        rt.sched.register(&mut rt.heap, crate::sched::Event::Recv(ch), crate::sched::Via::Loop);
                        rt.sched.park(false);
                        task.park_slot = (base + dst as usize) as u32;
                        return Some(Halt::Park);
                    }
                }
                return None;
            }
            if let Value::Object(_) = regs[b] {
                if pair {
                    raise!(Throw::type_error("an object gives one value per iteration: `for v in obj`"));
                }
                return crate::interp::iter_object(code, rt, task, base + b as usize, base + dst as usize, offset, pc);
            }
            let next = match regs[b] {
                Value::List(r) => {
                    let items = rt.heap.list(r);
                    items.get(cursor as usize).map(|v| (Value::Int(cursor), *v, Some(cursor + 1)))
                }
                Value::Map(r) => {
                    let map = rt.heap.map(r);
                    if !matches!(regs[b as usize + 2], Value::Int(n) if n == map.len() as i64) {
                        raise!(Throw::new(
                            "ValueError",
                            "the map changed size while a loop went over it (loop over m.keys() to change it)"
                        ));
                    }
                    map.next_from(cursor as usize).map(|(at, k, v)| (k.value(), *v, Some(at as i64 + 1)))
                }
                Value::Range(r) => {
                    let (start, end, inclusive) = rt.heap.range(r);
                    let more = if inclusive { cursor <= end } else { cursor < end };
                    let index = Value::Int(cursor.wrapping_sub(start));
                    more.then(|| (index, Value::Int(cursor), cursor.checked_add(1)))
                }
                Value::Str(r) => {
                    let text = rt.heap.str(r);
                    text[cursor as usize..].chars().next().map(|c| {
                        let next = cursor + c.len_utf8() as i64;
                        let mut buf = [0u8; 4];
                        let s = Value::Str(rt.heap.intern(c.encode_utf8(&mut buf)));
                        (regs[b as usize + 2], s, Some(next))
                    })
                }
                _ => unreachable!("checked by IterPrep"),
            };
            match next {
                None => jump!(offset),
                Some((k, v, cursor)) => {
                    // At i64::MAX the cursor cannot step: nil stops the
                    // loop after this item.
                    regs[b as usize + 1] = cursor.map_or(Value::Nil, Value::Int);
                    if pair {
                        if let (Value::Str(_), Value::Int(count)) = (regs[b], k) {
                            regs[b as usize + 2] = Value::Int(count + 1);
                        }
                        regs[dst] = k;
                        regs[dst as usize + 1] = v;
                    } else {
                        let is_map = matches!(regs[b], Value::Map(_));
                        regs[dst] = if is_map { k } else { v };
                    }
                }
            }
        }
        Op::ForPrep { a } => {
            let (lo, hi) = (regs[a], regs[a as usize + 1]);
            if !matches!((lo, hi), (Value::Int(_), Value::Int(_))) {
                raise!(range_bounds(lo, hi));
            }
        }
        Op::ForLoop { a, inclusive, offset } => {
            let (lo, hi) = (regs[a], regs[a as usize + 1]);
            let (Value::Int(i), Value::Int(end)) = (lo, hi) else { raise!(range_bounds(lo, hi)) };
            if !(inclusive && i == end) {
                let Some(next) = i.checked_add(1) else {
                    raise!(Throw::internal("a counted loop stepped past the largest int"))
                };
                regs[a] = Value::Int(next);
                if inclusive || next < end {
                    jump!(offset)
                }
            }
        }
        Op::Spawn { base: b, argc, nursery } => {
            let site = crate::code::Site { proto: proto_index, pc: pc as u32 };
            let at = b as usize;
            let handle = try_raise!(crate::conc::spawn(
                code,
                rt,
                regs[nursery],
                regs[at],
                &regs[at + 1..at + 1 + argc as usize],
                Some(site)
            ));
            regs[at] = handle;
            gc_point!();
        }
        Op::NurseryEnter { dst } => {
            regs[dst] = crate::conc::nursery_enter(rt);
        }
        Op::NurseryExit { nursery, err, failed } => {
            let thrown = if failed { std::mem::take(&mut regs[err]) } else { Value::Nil };
            match crate::conc::nursery_exit(rt, regs[nursery], thrown) {
                Ok(true) => {}
                Ok(false) => {
                    // Park here and run this instruction again when woken.
                    task.frames.last_mut().expect("running").pc = (pc - 1) as u32;
                    return Some(Halt::Park);
                }
                Err(t) => raise!(t),
            }
        }
        Op::ScopeEnter { seconds, shield } => {
            try_raise!(crate::conc::scope_enter(rt, regs[seconds], shield));
        }
        Op::ScopeExit { err, failed } => {
            let thrown = if failed { regs[err] } else { Value::Nil };
            try_raise!(crate::conc::scope_exit(rt, thrown, failed));
        }
        Op::Select { base: b, count, kinds } => {
            let Value::Int(kinds) = consts[kinds as usize] else { unreachable!("select kinds are an int") };
            task.park_slot = (base + b as usize) as u32;
            let at = b as usize;
            let chosen = try_raise!(crate::conc::select(rt, &regs[at + 2..at + 2 + 2 * count as usize], kinds));
            let Some((case, value)) = chosen else { return Some(Halt::Park) };
            regs[at] = Value::Int(case as i64);
            regs[at + 1] = value;
        }
        Op::Import { dst, slot } => {
            let module = rt.globals[slot as usize];
            if module.truthy() {
                regs[dst] = module;
            } else {
                return Some(Halt::Import { path: regs[dst], slot, dst: base + dst as usize });
            }
        }
    }
    None
}
