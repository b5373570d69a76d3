//! The interpreter loop: runs one task until it returns, fails, spends its
//! budget, or needs the scheduler (an import, a collection).
//!
//! A script call pushes a [`Frame`] on the task and reloads the loop's
//! locals (code, constants, register window); it never recurses in Rust.
//! Slow paths (errors, type mismatches, growth) live in `#[cold]`
//! functions so the loop itself stays small.

use crate::error::Throw;
use crate::fmt::{display, equal, key};
use crate::heap::TraceEntry;
use crate::ops::{self, arith, contains, less};
use crate::task::{Frame, Handler, Task, BUDGET};
use crate::value::{Key, Value};
use crate::{Code, Ctx, Method, Runtime};
use std::ops::{Index, IndexMut};
use weft_lang::ast::BinOp;
use weft_lang::bytecode::{Op, Reg};

/// Why [`run`] returned.
#[derive(Debug)]
pub enum Halt {
    /// The task's outermost function returned this value.
    Done(Value),
    /// The task spent its budget, or a collection is due: run it again.
    Yield,
    /// An error nobody caught; the task's frames are left as they were
    /// when it was thrown, for the report.
    Failed(Value),
    /// `exit(status)` was called.
    Exit(i32),
    /// The task parked on a wait; the scheduler wakes it.
    Park,
    /// The module at `path` must be loaded; its value goes to stack slot
    /// `dst` and global `slot`.
    Import { path: Value, slot: u32, dst: usize },
}

/// What a call did.
enum Called {
    /// A script function's frame was pushed: reload the loop's locals.
    Pushed,
    /// A native returned; its result is stored.
    Returned,
}

/// Runs `task` until it halts.
pub fn run(code: &Code, rt: &mut Runtime, task: &mut Task) -> Halt {
    if let Some(v) = task.pending_failure.take() {
        return Halt::Failed(v);
    }
    'frames: loop {
        // A task whose first call was a native has no frames: its result is in slot 0.
        let Some(&frame) = task.frames.last() else {
            return Halt::Done(task.stack.first().copied().unwrap_or_default());
        };
        // The running frame's state, kept in locals; a script call replaces
        // them in place (see `Op::Call`), anything else comes back here.
        let mut frame = frame;
        let mut proto = &code.protos[frame.proto as usize];
        let mut ops: &[Op] = &proto.code;
        let mut consts: &[Value] = &proto.consts;
        let mut base = frame.base as usize;
        let mut pc = frame.pc as usize;
        let mut regs = Registers(&mut task.stack[base..base + proto.regs as usize]);

        // Raising saves the pc, finds a handler and resumes there.
        macro_rules! raise {
            ($throw:expr) => {{
                let throw = $throw;
                task.frames.last_mut().expect("running").pc = pc as u32;
                match raise(code, rt, task, throw) {
                    Some(halt) => return halt,
                    None => continue 'frames,
                }
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
                    task.frames.last_mut().expect("running").pc = pc as u32;
                    return Halt::Yield;
                }
            };
        }
        // The int and float cases inline; the rest (mixed operands, errors,
        // strings) in `ops::arith`. `$int` and `$float` give `None` to defer.
        macro_rules! arith {
            ($op:expr, $dst:expr, $a:expr, $b:expr, $int:expr, $float:expr) => {{
                // Operands are read through references, field by field: a
                // whole 16-byte copy of a value just written as tag and
                // payload would stall on store forwarding.
                let fast = match (&regs[$a], &regs[$b]) {
                    (Value::Int(i), Value::Int(j)) => $int(*i, *j).map(Value::Int),
                    (Value::Float(i), Value::Float(j)) => $float(*i, *j).map(Value::Float),
                    _ => None,
                };
                regs[$dst] = match fast {
                    Some(v) => v,
                    None => {
                        let (x, y) = (regs[$a], regs[$b]);
                        let v = try_raise!(arith(&mut rt.heap, $op, x, y));
                        regs[$dst] = v;
                        gc_point!();
                        v
                    }
                };
            }};
        }
        macro_rules! jump {
            ($offset:expr) => {
                pc = (pc as isize + $offset as isize) as usize
            };
        }

        loop {
            // SAFETY: `Proto::check` verified at load time that every jump
            // lands inside the code and that the last instruction never
            // falls through, so `pc` is always a valid index here.
            let op = unsafe { *ops.get_unchecked(pc) };
            pc += 1;
            match op {
                Op::Nil { dst } => regs[dst] = Value::Nil,
                Op::Bool { dst, value } => regs[dst] = Value::Bool(value),
                Op::Int { dst, value } => regs[dst] = Value::Int(value as i64),
                Op::Const { dst, index } => regs[dst] = consts[index as usize],
                Op::Move { dst, src } => regs[dst] = regs[src],
                Op::GetGlobal { dst, slot } => regs[dst] = rt.globals[slot as usize],
                Op::SetGlobal { src, slot } => rt.globals[slot as usize] = regs[src],
                Op::GetUpval { dst, index } => {
                    let closure = frame.closure.expect("a closure has captures");
                    let Value::Cell(cell) = rt.heap.closure(closure).captures[index as usize] else {
                        unreachable!("captures are cells")
                    };
                    regs[dst] = rt.heap.cell(cell);
                }
                Op::SetUpval { src, index } => {
                    let closure = frame.closure.expect("a closure has captures");
                    let Value::Cell(cell) = rt.heap.closure(closure).captures[index as usize] else {
                        unreachable!("captures are cells")
                    };
                    rt.heap.set_cell(cell, regs[src]);
                }
                Op::NewCell { reg } => {
                    let cell = rt.heap.new_cell(regs[reg]);
                    regs[reg] = Value::Cell(cell);
                    gc_point!();
                }
                Op::GetCell { dst, cell } => {
                    let Value::Cell(c) = regs[cell] else { unreachable!("a celled local holds a cell") };
                    regs[dst] = rt.heap.cell(c);
                }
                Op::SetCell { cell, src } => {
                    let Value::Cell(c) = regs[cell] else { unreachable!("a celled local holds a cell") };
                    rt.heap.set_cell(c, regs[src]);
                }

                Op::Add { dst, a, b } => arith!(BinOp::Add, dst, a, b, i64::checked_add, |x: f64, y: f64| Some(x + y)),
                Op::Sub { dst, a, b } => arith!(BinOp::Sub, dst, a, b, i64::checked_sub, |x: f64, y: f64| Some(x - y)),
                Op::Mul { dst, a, b } => arith!(BinOp::Mul, dst, a, b, i64::checked_mul, |x: f64, y: f64| Some(x * y)),
                Op::Div { dst, a, b } => {
                    arith!(BinOp::Div, dst, a, b, |_, _| None, |x: f64, y: f64| (y != 0.0).then(|| x / y))
                }
                Op::FloorDiv { dst, a, b } => {
                    arith!(BinOp::FloorDiv, dst, a, b, |i, j| ops::int_floor_div(i, j).ok(), |_, _| None)
                }
                Op::Mod { dst, a, b } => arith!(BinOp::Mod, dst, a, b, |i, j| ops::int_mod(i, j).ok(), |_, _| None),
                Op::Pow { dst, a, b } => arith!(BinOp::Pow, dst, a, b, |_, _| None, |_, _| None),
                Op::AddI { dst, a, imm } => {
                    regs[dst] = match regs[a] {
                        Value::Int(i) => match i.checked_add(imm as i64) {
                            Some(v) => Value::Int(v),
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
                Op::Not { dst, src } => regs[dst] = Value::Bool(!regs[src].truthy()),
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

                Op::Jump { offset } => jump!(offset),
                Op::Loop { offset } => {
                    jump!(offset);
                    task.budget -= 1;
                    if task.budget == 0 {
                        task.budget = BUDGET;
                        task.frames.last_mut().expect("running").pc = pc as u32;
                        return Halt::Yield;
                    }
                }
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
                Op::JumpIfNotLt { a, b, offset } => {
                    let yes = match (&regs[a], &regs[b]) {
                        (Value::Int(i), Value::Int(j)) => i < j,
                        (Value::Float(i), Value::Float(j)) => i < j,
                        (&x, &y) => try_raise!(less(&rt.heap, x, y, false)),
                    };
                    if !yes {
                        jump!(offset)
                    }
                }
                Op::JumpIfNotLe { a, b, offset } => {
                    let yes = match (&regs[a], &regs[b]) {
                        (Value::Int(i), Value::Int(j)) => i <= j,
                        (Value::Float(i), Value::Float(j)) => i <= j,
                        (&x, &y) => try_raise!(less(&rt.heap, x, y, true)),
                    };
                    if !yes {
                        jump!(offset)
                    }
                }
                Op::JumpIfNotLtI { a, imm, offset } => {
                    let yes = match &regs[a] {
                        Value::Int(i) => *i < imm as i64,
                        Value::Float(x) => *x < imm as f64,
                        &x => try_raise!(less(&rt.heap, x, Value::Int(imm as i64), false)),
                    };
                    if !yes {
                        jump!(offset)
                    }
                }
                Op::JumpIfNotGtI { a, imm, offset } => {
                    let yes = match &regs[a] {
                        Value::Int(i) => *i > imm as i64,
                        Value::Float(x) => *x > imm as f64,
                        &x => try_raise!(less(&rt.heap, Value::Int(imm as i64), x, false)),
                    };
                    if !yes {
                        jump!(offset)
                    }
                }
                Op::JumpIfNotEq { a, b, offset } => {
                    if !equal(&rt.heap, regs[a], regs[b]) {
                        jump!(offset)
                    }
                }
                Op::JumpIfEq { a, b, offset } => {
                    if equal(&rt.heap, regs[a], regs[b]) {
                        jump!(offset)
                    }
                }

                Op::NewList { dst, start, count } => {
                    let items = regs[start as usize..start as usize + count as usize].to_vec();
                    regs[dst] = Value::List(rt.heap.new_list(items));
                    gc_point!();
                }
                Op::NewMap { dst, start, count } => {
                    let mut map = crate::heap::MapTable::with_capacity_and_hasher(count as usize, Default::default());
                    for i in 0..count as usize {
                        let k = regs[start as usize + 2 * i];
                        let v = regs[start as usize + 2 * i + 1];
                        let Some(k) = key(k) else { raise!(bad_key(k)) };
                        map.insert(k, v);
                    }
                    regs[dst] = Value::Map(rt.heap.new_map(map));
                    gc_point!();
                }
                Op::ListPush { list, src } => {
                    let Value::List(r) = regs[list] else { unreachable!("a list literal") };
                    let v = regs[src];
                    rt.heap.list_mut(r).push(v);
                }
                Op::MapInsert { map, key: k, src } => {
                    let Value::Map(r) = regs[map] else { unreachable!("a map literal") };
                    let kv = regs[k];
                    let Some(k) = key(kv) else { raise!(bad_key(kv)) };
                    let v = regs[src];
                    rt.heap.map_mut(r).insert(k, v);
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
                Op::GetField { dst, obj, name } => {
                    let Value::Str(name) = consts[name as usize] else { unreachable!("field names are strings") };
                    regs[dst] = match regs[obj] {
                        Value::Map(m) => match rt.heap.map(m).get(&Key::Str(name)) {
                            Some(v) => *v,
                            None => raise!(missing_key(code, rt, Value::Str(name))),
                        },
                        o => try_raise!(get_field(code, rt, o, name)),
                    };
                }
                Op::SetField { obj, name, src } => {
                    let Value::Str(name) = consts[name as usize] else { unreachable!("field names are strings") };
                    match regs[obj] {
                        Value::Map(m) => {
                            let v = regs[src];
                            rt.heap.map_mut(m).insert(Key::Str(name), v);
                        }
                        o => raise!(Throw::type_error(format!(
                            "cannot set field '{}' on {}",
                            rt.heap.str(name),
                            o.type_name()
                        ))),
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

                Op::Call { base: b, argc } => {
                    let callee = regs[b];
                    if let Value::Func(r) = callee {
                        // The common case, inline: a script function.
                        let closure = rt.heap.closure(r);
                        let target = &code.protos[closure.proto as usize];
                        if target.arity != argc {
                            raise!(arity(code, callee, target.arity as usize, argc as usize, &rt.heap));
                        }
                        if task.frames.len() >= rt.max_frames {
                            raise!(stack_overflow(rt.max_frames));
                        }
                        let new_base = base + b as usize + 1;
                        let top = new_base + target.regs as usize;
                        let proto_index = closure.proto;
                        task.frames.last_mut().expect("running").pc = pc as u32;
                        if task.stack.len() < top {
                            grow(&mut task.stack, top);
                        }
                        frame = Frame {
                            proto: proto_index,
                            closure: Some(r),
                            pc: 0,
                            base: new_base as u32,
                            ret: (base + b as usize) as u32,
                        };
                        task.frames.push(frame);
                        task.budget -= 1;
                        if task.budget == 0 {
                            task.budget = BUDGET;
                            return Halt::Yield;
                        }
                        proto = target;
                        ops = &proto.code;
                        consts = &proto.consts;
                        base = new_base;
                        pc = 0;
                        regs = Registers(&mut task.stack[base..top]);
                        continue;
                    }
                    task.frames.last_mut().expect("running").pc = pc as u32;
                    let at = base + b as usize;
                    match call_value(code, rt, task, callee, at, argc as usize, at) {
                        Ok(Called::Pushed) => continue 'frames,
                        Ok(Called::Returned) => {
                            if rt.heap.gc_due() {
                                return Halt::Yield;
                            }
                            continue 'frames;
                        }
                        Err(t) => raise!(t),
                    }
                }
                Op::CallMethod { base: b, argc, name } => {
                    task.frames.last_mut().expect("running").pc = pc as u32;
                    match call_method(code, rt, task, base + b as usize, argc as usize, name) {
                        Ok(_) => {
                            if rt.heap.gc_due() {
                                return Halt::Yield;
                            }
                            continue 'frames;
                        }
                        Err(t) => raise!(t),
                    }
                }
                Op::Return { src } => {
                    let v = regs[src];
                    return_from_frame(task, v);
                    if task.frames.is_empty() {
                        return Halt::Done(v);
                    }
                    continue 'frames;
                }
                Op::ReturnNil => {
                    return_from_frame(task, Value::Nil);
                    if task.frames.is_empty() {
                        return Halt::Done(Value::Nil);
                    }
                    continue 'frames;
                }
                Op::Closure { dst, proto } => {
                    let target = &code.protos[proto as usize];
                    let captures: Box<[Value]> = target
                        .captures
                        .iter()
                        .map(|c| match c {
                            weft_lang::bytecode::Capture::Local(reg) => regs[*reg as usize],
                            weft_lang::bytecode::Capture::Upval(i) => {
                                rt.heap.closure(frame.closure.expect("enclosing closure")).captures[*i as usize]
                            }
                        })
                        .collect();
                    regs[dst] = Value::Func(rt.heap.new_closure(proto, captures));
                    gc_point!();
                }

                Op::Try { reg, offset } => task.handlers.push(Handler {
                    frames: task.frames.len() as u32,
                    pc: (pc as isize + offset as isize) as u32,
                    slot: (base + reg as usize) as u32,
                }),
                Op::EndTry => {
                    task.handlers.pop();
                }
                Op::Throw { src } => raise!(Throw::Value(regs[src])),

                Op::IterPrep { base: b } => {
                    let cursor = match regs[b] {
                        Value::List(_) | Value::Map(_) | Value::Str(_) | Value::Chan(_) => Value::Int(0),
                        Value::Range(r) => Value::Int(rt.heap.range(r).0),
                        v => raise!(Throw::type_error(format!("cannot iterate over {}", v.type_name()))),
                    };
                    regs[b as usize + 1] = cursor;
                    regs[b as usize + 2] = Value::Int(0);
                }
                Op::IterNext { base: b, dst, pair, offset } => {
                    let Value::Int(cursor) = regs[b as usize + 1] else { unreachable!("iteration cursor") };
                    if let Value::Chan(ch) = regs[b] {
                        if pair {
                            raise!(Throw::type_error("a channel gives one value per iteration: `for v in ch`"));
                        }
                        // Receiving is a checkpoint, as `recv()` is.
                        if let Some(scope) = rt.sched.cancelled(rt.sched.current) {
                            raise!(Throw::Cancelled(scope));
                        }
                        match crate::channel::try_recv(rt, ch) {
                            Ok(Some(v)) => regs[dst] = v,
                            Err(_) => jump!(offset),
                            Ok(None) => {
                                let waiter = crate::channel::Waiter::current(rt, crate::channel::Via::Loop);
                                rt.heap.chan_mut(ch).receivers.push_back(waiter);
                                task.park_slot = (base + dst as usize) as u32;
                                raise!(Throw::Park(crate::sched::Wait::Recv(ch)))
                            }
                        }
                        continue;
                    }
                    let next = match regs[b] {
                        Value::List(r) => {
                            let items = rt.heap.list(r);
                            items.get(cursor as usize).map(|v| (Value::Int(cursor), *v, cursor + 1))
                        }
                        Value::Map(r) => {
                            rt.heap.map(r).get_index(cursor as usize).map(|(k, v)| (k.value(), *v, cursor + 1))
                        }
                        Value::Range(r) => {
                            let (start, end, inclusive) = rt.heap.range(r);
                            let more = if inclusive { cursor <= end } else { cursor < end };
                            // At i64::MAX the cursor cannot step: stop after this item.
                            let next = cursor.checked_add(1);
                            let index = Value::Int(cursor.wrapping_sub(start));
                            (more && (next.is_some() || !inclusive || cursor == end))
                                .then(|| (index, Value::Int(cursor), next.unwrap_or(cursor)))
                        }
                        Value::Str(r) => {
                            let text = rt.heap.str(r);
                            text[cursor as usize..].chars().next().map(|c| {
                                let next = cursor + c.len_utf8() as i64;
                                let mut buf = [0u8; 4];
                                let s = Value::Str(rt.heap.intern(c.encode_utf8(&mut buf)));
                                (regs[b as usize + 2], s, next)
                            })
                        }
                        _ => unreachable!("checked by IterPrep"),
                    };
                    match next {
                        None => jump!(offset),
                        Some((k, v, cursor)) => {
                            regs[b as usize + 1] = Value::Int(cursor);
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
                Op::Spawn { base: b, argc, nursery } => {
                    let site = TraceEntry { function: proto.name.clone(), file: proto.file, span: proto.spans[pc - 1] };
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
                            return Halt::Park;
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
                    let (case, value) =
                        try_raise!(crate::conc::select(rt, &regs[at + 2..at + 2 + 2 * count as usize], kinds));
                    regs[at] = Value::Int(case as i64);
                    regs[at + 1] = value;
                }
                Op::Import { dst, slot } => {
                    let module = rt.globals[slot as usize];
                    if module.truthy() {
                        regs[dst] = module;
                    } else {
                        task.frames.last_mut().expect("running").pc = pc as u32;
                        return Halt::Import { path: regs[dst], slot, dst: base + dst as usize };
                    }
                }
            }
        }
    }
}

/// A frame's register window. Indexing by a register operand (`u8`) skips
/// the bounds check: `Proto::check` has verified, when the function was
/// loaded, that every operand lies inside the window, whose length is the
/// function's register count. Any other index is checked as usual.
struct Registers<'a>(&'a mut [Value]);

impl Index<Reg> for Registers<'_> {
    type Output = Value;

    #[inline(always)]
    fn index(&self, reg: Reg) -> &Value {
        debug_assert!((reg as usize) < self.0.len());
        // SAFETY: the register is an operand of an instruction of the running
        // function, checked against its register count at load time.
        unsafe { self.0.get_unchecked(reg as usize) }
    }
}

impl IndexMut<Reg> for Registers<'_> {
    #[inline(always)]
    fn index_mut(&mut self, reg: Reg) -> &mut Value {
        debug_assert!((reg as usize) < self.0.len());
        // SAFETY: as for `index`.
        unsafe { self.0.get_unchecked_mut(reg as usize) }
    }
}

/// Checked access for computed indexes and ranges.
macro_rules! checked_index {
    ($($index:ty),*) => {$(
        impl Index<$index> for Registers<'_> {
            type Output = <[Value] as Index<$index>>::Output;

            fn index(&self, index: $index) -> &Self::Output {
                &self.0[index]
            }
        }

        impl IndexMut<$index> for Registers<'_> {
            fn index_mut(&mut self, index: $index) -> &mut Self::Output {
                &mut self.0[index]
            }
        }
    )*};
}

checked_index!(usize, std::ops::Range<usize>, std::ops::RangeFrom<usize>);

/// Grows a task's registers to at least `top`, doubling to keep calls cheap.
#[cold]
pub(crate) fn grow(stack: &mut Vec<Value>, top: usize) {
    let len = top.max(stack.len() * 2).max(16);
    stack.resize(len, Value::Nil);
}

/// Pops the top frame, its handlers, and delivers `v` to the caller.
#[inline]
fn return_from_frame(task: &mut Task, v: Value) {
    let done = task.frames.pop().expect("running");
    let depth = task.frames.len() as u32;
    while task.handlers.last().is_some_and(|h| h.frames > depth) {
        task.handlers.pop();
    }
    if !task.frames.is_empty() {
        task.stack[done.ret as usize] = v;
    }
}

/// Calls `callee` with the `argc` values after stack slot `at`, delivering
/// the result to slot `ret`.
fn call_value(
    code: &Code,
    rt: &mut Runtime,
    task: &mut Task,
    callee: Value,
    at: usize,
    argc: usize,
    ret: usize,
) -> Result<Called, Throw> {
    match callee {
        Value::Func(r) => {
            let closure = rt.heap.closure(r);
            let target = &code.protos[closure.proto as usize];
            if target.arity as usize != argc {
                return Err(arity(code, callee, target.arity as usize, argc, &rt.heap));
            }
            if task.frames.len() >= rt.max_frames {
                return Err(stack_overflow(rt.max_frames));
            }
            let new_base = at + 1;
            let top = new_base + target.regs as usize;
            if task.stack.len() < top {
                grow(&mut task.stack, top);
            }
            task.frames.push(Frame {
                proto: closure.proto,
                closure: Some(r),
                pc: 0,
                base: new_base as u32,
                ret: ret as u32,
            });
            Ok(Called::Pushed)
        }
        Value::Native(n) => {
            let f = code.natives[n as usize].func;
            task.park_slot = ret as u32;
            let site = task.frames.last().map(|f| (f.proto, f.pc));
            let args = &task.stack[at + 1..at + 1 + argc];
            let mut cx = Ctx { rt, code, site };
            let v = f(&mut cx, args)?;
            task.stack[ret] = v;
            Ok(Called::Returned)
        }
        v => {
            Err(Throw::type_error(format!("cannot call {} (a {})", crate::fmt::repr(&rt.heap, code, v), v.type_name())))
        }
    }
}

/// `R[at + 1].name(args)` with the result in `R[at]`.
fn call_method(
    code: &Code,
    rt: &mut Runtime,
    task: &mut Task,
    at: usize,
    argc: usize,
    name: u16,
) -> Result<Called, Throw> {
    let receiver = task.stack[at + 1];
    let table = match receiver {
        Value::Str(_) => &code.methods.string,
        Value::List(_) => &code.methods.list,
        Value::Map(_) => &code.methods.map,
        Value::Range(_) => &code.methods.range,
        Value::Error(_) => &code.methods.error,
        Value::Chan(_) => &code.methods.chan,
        Value::Task(_) => &code.methods.task,
        Value::Nursery(_) => &code.methods.nursery,
        _ => &code.methods.other,
    };
    match table.get(name as usize).copied().flatten() {
        Some(Method::Native(f)) => {
            task.park_slot = at as u32;
            let site = task.frames.last().map(|f| (f.proto, f.pc));
            let args = &task.stack[at + 1..at + 2 + argc];
            let mut cx = Ctx { rt, code, site };
            let v = f(&mut cx, args)?;
            task.stack[at] = v;
            Ok(Called::Returned)
        }
        Some(Method::Script(global)) => {
            let f = rt.globals[global as usize];
            task.stack[at] = f;
            call_value(code, rt, task, f, at, argc + 1, at)
        }
        None => {
            let method = &code.symbols.names[name as usize];
            if let Value::Map(m) = receiver {
                let k = Key::Str(rt.heap.intern(method));
                if let Some(&f) = rt.heap.map(m).get(&k) {
                    // A function stored in the map: called without the map.
                    task.stack[at + 1] = f;
                    return call_value(code, rt, task, f, at + 1, argc, at);
                }
            }
            Err(no_method(code, receiver, method, table))
        }
    }
}

#[cold]
fn no_method(code: &Code, receiver: Value, method: &str, table: &[Option<Method>]) -> Throw {
    let known = table.iter().enumerate().filter(|(_, m)| m.is_some()).map(|(i, _)| code.symbols.names[i].as_str());
    let mut msg = format!("{} has no method '{method}'", receiver.type_name());
    if let Some(best) = weft_lang::diagnostic::closest(method, known) {
        msg.push_str(&format!("; did you mean '{best}'?"));
    }
    Throw::type_error(msg)
}

#[cold]
fn get_index(rt: &mut Runtime, o: Value, i: Value) -> Result<Value, Throw> {
    match (o, i) {
        (Value::Map(m), k) => {
            let Some(k) = key(k) else { return Err(bad_key(k)) };
            match rt.heap.map(m).get(&k) {
                Some(v) => Ok(*v),
                None => Err(Throw::new("KeyError", format!("key {} not found", key_text(rt, k.value())))),
            }
        }
        (Value::Str(s), Value::Int(i)) => ops::char_at(&mut rt.heap, s, i),
        (Value::List(_) | Value::Str(_), i) => {
            Err(Throw::type_error(format!("{} index must be an int, not {}", o.type_name(), i.type_name())))
        }
        (Value::Range(r), Value::Int(i)) => {
            let (start, end, inclusive) = rt.heap.range(r);
            let len = (if inclusive { end + 1 } else { end }).saturating_sub(start).max(0) as usize;
            match ops::index(i, len) {
                Some(at) => Ok(Value::Int(start + at as i64)),
                None => Err(Throw::index_error(format!("range index {i} out of range for length {len}"))),
            }
        }
        _ => Err(Throw::type_error(format!("cannot index {}", o.type_name()))),
    }
}

#[cold]
fn set_index(rt: &mut Runtime, o: Value, i: Value, v: Value) -> Result<(), Throw> {
    match o {
        Value::Map(m) => {
            let Some(k) = key(i) else { return Err(bad_key(i)) };
            rt.heap.map_mut(m).insert(k, v);
            Ok(())
        }
        Value::List(_) => Err(Throw::type_error(format!("list index must be an int, not {}", i.type_name()))),
        Value::Str(_) => Err(Throw::type_error("strings are immutable; build a new one instead")),
        _ => Err(Throw::type_error(format!("cannot assign by index into {}", o.type_name()))),
    }
}

#[cold]
fn get_field(code: &Code, rt: &mut Runtime, o: Value, name: crate::value::Ref) -> Result<Value, Throw> {
    let field = rt.heap.str(name).to_string();
    if let Value::Error(e) = o {
        let err = rt.heap.error(e);
        match field.as_str() {
            "kind" => return Ok(err.kind),
            "message" => return Ok(err.message),
            "trace" => {
                let lines: Vec<String> = err.trace.iter().map(|t| code.trace_line(t)).collect();
                let items = lines.iter().map(|l| Value::Str(rt.heap.intern(l))).collect();
                return Ok(Value::List(rt.heap.new_list(items)));
            }
            "others" => {
                let others = err.others.clone();
                return Ok(Value::List(rt.heap.new_list(others)));
            }
            _ => {}
        }
    }
    Err(Throw::type_error(format!("{} has no field '{field}'", o.type_name())))
}

#[cold]
fn missing_key(code: &Code, rt: &Runtime, k: Value) -> Throw {
    let _ = code;
    Throw::new("KeyError", format!("key {} not found", key_text(rt, k)))
}

fn key_text(rt: &Runtime, k: Value) -> String {
    match k {
        Value::Str(r) => format!("{:?}", rt.heap.str(r)),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => "nil".to_string(),
    }
}

#[cold]
fn bad_key(k: Value) -> Throw {
    Throw::type_error(format!("a map key must be nil, a bool, an int or a string, not {}", k.type_name()))
}

#[cold]
fn list_index(i: i64, len: usize) -> Throw {
    Throw::index_error(format!("list index {i} out of range for length {len}"))
}

#[cold]
fn range_bounds(lo: Value, hi: Value) -> Throw {
    Throw::type_error(format!("range bounds must be ints, not {} and {}", lo.type_name(), hi.type_name()))
}

#[cold]
fn stack_overflow(limit: usize) -> Throw {
    Throw::new("StackOverflow", format!("call depth exceeded {limit} frames (unbounded recursion?)"))
}

#[cold]
fn arity(code: &Code, f: Value, want: usize, got: usize, heap: &crate::heap::Heap) -> Throw {
    let name = crate::fmt::repr(heap, code, f);
    let s = |n: usize| if n == 1 { "argument" } else { "arguments" };
    Throw::new(
        "ArityError",
        format!("{name} takes {want} {}, but {got} {} given", s(want), if got == 1 { "was" } else { "were" }),
    )
}

/// Turns a throw into a value with a trace and unwinds to the nearest
/// handler. Returns the halt when nothing catches it.
#[cold]
#[inline(never)]
pub(crate) fn raise(code: &Code, rt: &mut Runtime, task: &mut Task, throw: Throw) -> Option<Halt> {
    let scope = match throw {
        Throw::Park(wait) => {
            rt.sched.park(wait);
            return Some(Halt::Park);
        }
        Throw::Cancelled(scope) => Some(scope),
        _ => None,
    };
    let trace = trace_of(code, task);
    let value = match throw {
        Throw::Exit(status) => return Some(Halt::Exit(status)),
        Throw::Park(_) => unreachable!("handled above"),
        Throw::Cancelled(_) => {
            let e = rt.heap.new_error("Cancelled", "the task was cancelled");
            let err = rt.heap.error_mut(e);
            err.trace = trace.clone();
            err.scope = scope;
            Value::Error(e)
        }
        Throw::Error { kind, message } => {
            let e = rt.heap.new_error(&kind, &message);
            rt.heap.error_mut(e).trace = trace.clone();
            crate::conc::note_spawn_chain(rt, e);
            Value::Error(e)
        }
        Throw::Value(v) => {
            if let Value::Error(e) = v {
                let err = rt.heap.error_mut(e);
                if err.trace.is_empty() {
                    err.trace = trace.clone();
                    crate::conc::note_spawn_chain(rt, e);
                }
            }
            v
        }
    };
    task.trace = trace;
    let Some(handler) = task.handlers.pop() else { return Some(Halt::Failed(value)) };
    task.frames.truncate(handler.frames as usize);
    task.frames.last_mut().expect("the handler's frame").pc = handler.pc;
    task.stack[handler.slot as usize] = value;
    None
}

/// The current call stack, innermost first.
fn trace_of(code: &Code, task: &Task) -> Vec<TraceEntry> {
    task.frames
        .iter()
        .rev()
        .map(|f| {
            let proto = &code.protos[f.proto as usize];
            let at = (f.pc as usize).saturating_sub(1).min(proto.spans.len().saturating_sub(1));
            TraceEntry {
                function: proto.name.clone(),
                file: proto.file,
                span: proto.spans.get(at).copied().unwrap_or_default(),
            }
        })
        .collect()
}
