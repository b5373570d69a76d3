//! The interpreter loop: runs one task until it returns, fails, spends its
//! budget, or needs the scheduler (a wait, an import, a collection).
//!
//! The loop handles the common case of each instruction inline and hands
//! every other case to `slow::exec`; see `run`. A
//! script call pushes a [`Frame`] on the task and switches the loop's locals
//! in place; it never recurses in Rust. This file also holds the helpers
//! both paths share: calls, returns, raising and traces.

use crate::code::Leaf;
use crate::error::Throw;
use crate::heap::Captures;
use crate::native::{Call, Control};
use crate::ops;
use crate::task::{Cont, Frame, Task};
use crate::trace::TraceEntry;
use crate::value::{Key, Value};
use crate::{Code, Ctx, Method, Runtime};
use std::ops::{Index, IndexMut};
use weft_lang::bytecode::{Builtin, BuiltinMethod, Capture, Op, Reg};

/// Why `run` returned.
#[derive(Debug)]
pub enum Halt {
    /// The task's outermost function returned this value.
    Done(Value),
    /// The task spent its budget: run it again after the others.
    Yield,
    /// A collection is due: collect, then run the task on, first.
    Collect,
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
pub(crate) enum Called {
    /// A script function's frame was pushed: reload the loop's locals.
    Pushed,
    /// A native returned; its result is stored.
    Returned,
}

// The loop starts at a fixed place against a 64-byte boundary wherever the
// linker puts it: a section of its own, aligned by this directive, then
// skipped into by a few bytes. Where the dispatch (the fetch and the
// indirect jump every instruction ends in) falls against the CPU's 32- and
// 64-byte fetch blocks changed whole rows by up to 40% (`loop` 0.080 s
// against 0.132 s for the same machine code 16 bytes apart); with the
// function placed, only a change to the loop itself can move it:
// `bench/dispatch_place.py` tells where the dispatch falls after one, and
// the skip (a multiple of 16, as the compiler aligns the dispatch to 16)
// is what to change to bring it back within a 32-byte block.
#[cfg(all(target_os = "linux", target_arch = "x86_64", not(miri)))]
std::arch::global_asm!(
    ".pushsection .text.weft_interp,\"ax\",@progbits",
    ".p2align 6",
    ".skip 16, 0x90",
    ".popsection"
);

/// Runs `task` until it halts.
///
/// The loop keeps the running frame in locals: the instruction pointer, the
/// register window, the constants. Script calls and returns switch them in
/// place. Every instruction has its common case here, written so that it
/// calls nothing; any other case saves the pc and goes to
/// `slow::exec`, after which the loop reloads its
/// locals from the top frame. No local is live across a call, which lets the
/// compiler keep the instruction pointer and the register window in machine
/// registers.
#[cfg_attr(all(target_os = "linux", target_arch = "x86_64", not(miri)), link_section = ".text.weft_interp")]
pub(crate) fn run(code: &Code, rt: &mut Runtime, task: &mut Task) -> Halt {
    if let Some(v) = task.rare.as_mut().and_then(|r| r.pending_failure.take()) {
        return Halt::Failed(v);
    }
    if rt.slow_only {
        return run_slow(code, rt, task);
    }
    'frames: loop {
        // A task whose first call was a native has no frames: its result is in slot 0.
        let Some(&frame) = task.frames.last() else {
            return Halt::Done(task.stack.first().copied().unwrap_or_default());
        };
        let mut closure = frame.closure;
        let mut proto = &code.protos[frame.proto as usize];
        let mut code_start: *const Op = proto.code.as_ptr();
        let mut base = frame.base as usize;
        // The instruction pointer. SAFETY (here and at every fetch and jump):
        // `Proto::check` verified at load time that every jump lands inside
        // the code and that the last instruction never falls through, so `ip`
        // always points at an instruction of `proto`; a saved pc is at most
        // one past the instruction that saved it.
        let mut ip: *const Op = unsafe { code_start.add(frame.pc as usize) };
        let mut regs = Registers(&mut task.stack[base..base + proto.regs as usize]);
        // Where the running instruction lies (declared here for the macros
        // to see it).
        let mut op_at: *const Op;
        // The task's budget, spent here and written back before anything
        // outside the loop may read it. In the task, a store at every back
        // edge could land 4 KiB from a register the next instruction
        // reads, which the CPU takes for the same address and waits on:
        // `loop` ran 1.2x as long for some layouts of the heap.
        let mut budget = task.budget;

        // The index of the next instruction, for saving in the frame.
        macro_rules! pc {
            () => {
                // SAFETY: `ip` and `code_start` point into the same code.
                (unsafe { ip.offset_from(code_start) } as usize)
            };
        }
        macro_rules! save_pc {
            () => {
                task.frames.last_mut().expect("running").pc = pc!() as u32
            };
        }
        // Hands the budget back to the task: before anything outside the
        // loop runs.
        macro_rules! save_budget {
            () => {
                task.budget = budget
            };
        }
        // Both, where the loop hands the task to anything outside it.
        macro_rules! save_state {
            () => {{
                save_pc!();
                save_budget!();
            }};
        }
        // Runs the current instruction in full, out of the loop.
        macro_rules! slow {
            () => {{
                let pc = pc!();
                task.frames.last_mut().expect("running").pc = pc as u32;
                save_budget!();
                // SAFETY: see `ip`.
                let op = unsafe { *op_at };
                match crate::slow::exec(code, rt, task, op, pc) {
                    Some(halt) => return halt,
                    None => continue 'frames,
                }
            }};
        }
        macro_rules! jump {
            ($offset:expr) => {
                // SAFETY: jump targets were checked at load time (see `ip`).
                ip = unsafe { ip.offset($offset as isize) }
            };
        }
        // A conditional jump. Marking one way cold keeps it a real branch,
        // which the CPU predicts and runs ahead of; as a conditional move,
        // the next fetch would wait for the comparison's operands.
        macro_rules! jump_if {
            ($cond:expr, $offset:expr) => {
                if $cond {
                    rarely();
                    jump!($offset);
                    if $offset < 0 {
                        back_edge!($offset)
                    }
                }
            };
        }
        // The test at the bottom of a rotated loop: taken is the common way.
        macro_rules! loop_if {
            ($cond:expr, $offset:expr) => {
                if $cond {
                    jump!($offset);
                    if $offset < 0 {
                        back_edge!($offset)
                    }
                }
            };
        }
        // Every backward jump, just taken, spends budget here: a task may
        // be preempted and the collector may run.
        macro_rules! back_edge {
            // The code jumped back over, `-offset` (at least 1: loaded code
            // only takes these jumps backward), is what the iteration ran.
            ($offset:expr) => {
                if crate::task::spend(&mut budget, -($offset)) {
                    save_state!();
                    return Halt::Yield;
                }
            };
        }
        // Switches the loop's locals to `frame`, the new top frame. With
        // `window_checked`, the caller has checked that the frame's
        // registers lie inside the stack; with `same_proto`, the frame runs
        // the function already running, whose locals stay.
        macro_rules! enter {
            // The locals a frame sets, in the running function's code.
            (@frame $frame:expr) => {{
                let frame: Frame = $frame;
                closure = frame.closure;
                base = frame.base as usize;
                // SAFETY: see `ip`.
                ip = unsafe { code_start.add(frame.pc as usize) };
            }};
            ($frame:expr, same_proto) => {{
                enter!(@frame $frame);
                regs = Registers(&mut task.stack[base..base + proto.regs as usize]);
            }};
            (@locals $frame:expr, $proto:expr) => {{
                proto = $proto;
                code_start = proto.code.as_ptr();
                enter!(@frame $frame);
            }};
            ($frame:expr, $proto:expr) => {{
                enter!(@locals $frame, $proto);
                regs = Registers(&mut task.stack[base..base + proto.regs as usize]);
            }};
            ($frame:expr, $proto:expr, window_checked) => {{
                enter!(@locals $frame, $proto);
                // SAFETY: the caller checked that the window ends inside
                // the stack, whose length has not changed since.
                regs = Registers(unsafe { task.stack.get_unchecked_mut(base..base + proto.regs as usize) });
            }};
        }
        // Pops the running frame and gives its caller the value of register
        // `Some(src)`, or nil.
        macro_rules! return_value {
            ($src:expr) => {{
                // Read as it was just written: see `Value::load`.
                let v = $src.map_or(Value::Nil, |src: Reg| Value::load(&regs[src]));
                let done = task.frames.pop().expect("running");
                pop_handlers(task);
                let Some(&caller) = task.frames.last() else {
                    save_budget!();
                    return Halt::Done(v);
                };
                task.stack[done.ret as usize] = v;
                if caller.proto == done.proto {
                    // Back into the same function (a recursive call): its
                    // code and constants are the ones in hand.
                    enter!(caller, same_proto);
                } else {
                    // SAFETY: a frame's proto index was checked when it was pushed.
                    enter!(caller, unsafe { code.protos.get_unchecked(caller.proto as usize) });
                }
            }};
        }
        // Calls closure `$r` with `$argc` arguments in a new frame whose
        // registers start at stack index `$new_base`, its result going to
        // stack index `$ret`. Errors and growth are slow. `$args` puts the
        // arguments in place once the frame is pushed. With `$leaf`, the
        // result's register and the arguments' (at most three), a leaf
        // function runs in the caller's frame (see `run_leaf`).
        macro_rules! call_closure {
            ($r:expr, $argc:expr, $new_base:expr, $ret:expr, $(leaf: $leaf:expr,)? $args:block) => {{
                let (r, new_base): (crate::value::Ref, usize) = ($r, $new_base);
                let depth = task.frames.len();
                // A function calling itself: its proto is the running one,
                // without a look into the heap.
                let (proto_index, target) = if closure == Some(r) {
                    (task.frames.last().expect("running").proto, proto)
                } else {
                    let i = rt.heap.closure(r).proto;
                    let target = &code.protos[i as usize];
                    // A function that is one instruction on its parameters
                    // (never the running one, which calls) runs it here, on
                    // the arguments, when the call would go ahead: as a
                    // call does, it spends budget, but never the last of
                    // it, where the call would yield before the instruction
                    // ran.
                    $(if let Some(leaf) = target.leaf {
                        let (dst, params): (Reg, [Reg; 3]) = $leaf;
                        if target.arity == $argc
                            && depth < rt.max_frames
                            && budget > crate::task::CALL_COST
                            && match leaf {
                                Leaf::One(op) => run_leaf(&rt.heap, op, target, &mut regs, params, dst),
                                Leaf::Fields { .. } => compare_fields(&rt.heap, leaf, target, &mut regs, params, dst),
                            }
                        {
                            budget -= crate::task::CALL_COST;
                            continue;
                        }
                    })?
                    (i, target)
                };
                let top = new_base + target.regs as usize;
                if target.arity != $argc
                    || depth >= rt.max_frames
                    || depth == task.frames.capacity()
                    || task.stack.len() < top
                {
                    slow!()
                }
                save_pc!();
                let callee = Frame { proto: proto_index, closure: Some(r), pc: 0, base: new_base as u32, ret: $ret as u32 };
                // SAFETY: there is room for one more frame (checked above),
                // and the new length covers only initialized frames.
                unsafe {
                    task.frames.as_mut_ptr().add(depth).write(callee);
                    task.frames.set_len(depth + 1);
                }
                $args
                if crate::task::spend(&mut budget, crate::task::CALL_COST) {
                    save_budget!();
                    return Halt::Yield;
                }
                enter!(callee, target, window_checked);
            }};
        }
        // Calls `$callee`, which register `$b` holds, with the `$argc`
        // arguments after it (`Call`, `CallGlobal`); the result replaces it.
        macro_rules! call_in_place {
            ($callee:expr, $b:expr, $argc:expr) => {{
                let (b, argc): (Reg, u8) = ($b, $argc);
                let r = match $callee {
                    Value::Func(r) => r,
                    Value::Native(n) => native!(n, b, &regs.0[b as usize + 1..b as usize + 1 + argc as usize]),
                    _ => slow!(),
                };
                // The arguments are in place: the callee's registers
                // start with them.
                call_closure!(r, argc, base + b as usize + 1, base + b as usize, {})
            }};
        }
        // Int and float operands of one type; anything else is slow. `$int`
        // and `$float` give `None` to defer to the slow path.
        // The fast cases of `arith!`, `less!`, `equal!`, `AddI`, `MulI` and
        // `GetField` are stated again in `run_leaf`, for leaf calls: a
        // change to one is a change to the other.
        macro_rules! arith {
            ($dst:expr, $a:expr, $b:expr, $int:expr, $float:expr) => {
                arith!($dst, $a, $b, $int, $float, else { slow!() })
            };
            // With `$otherwise` for the operands that are not two ints or
            // two floats.
            ($dst:expr, $a:expr, $b:expr, $int:expr, $float:expr, else $otherwise:block) => {{
                // Operands are read through references, field by field: a
                // whole 16-byte copy of a value just written as tag and
                // payload would stall on store forwarding.
                let fast = match (&regs[$a], &regs[$b]) {
                    (Value::Int(i), Value::Int(j)) => $int(*i, *j).map(Value::Int),
                    (Value::Float(x), Value::Float(y)) => $float(*x, *y).map(Value::Float),
                    _ => None,
                };
                match fast {
                    Some(v) => regs[$dst] = v,
                    None => $otherwise,
                }
            }};
        }
        // `a < b` (or `<=`) for two ints or two floats, else slow.
        macro_rules! less {
            ($a:expr, $b:expr, $op:tt) => {
                match (&regs[$a], &regs[$b]) {
                    (Value::Int(i), Value::Int(j)) => i $op j,
                    (Value::Float(x), Value::Float(y)) => x $op y,
                    _ => slow!(),
                }
            };
        }
        // Runs native `n` on the values `$args` (a run of registers, in
        // place, or copies), with its result going to register `$ret`; the
        // loop goes on in the same frame unless the native raised, parked,
        // exited or called back.
        macro_rules! native {
            ($n:expr, $ret:expr, $args:expr) => {{
                let (n, ret): (u32, Reg) = ($n, $ret);
                save_state!();
                task.park_slot = (base + ret as usize) as u32;
                let site = task.frames.last().map(|f| (f.proto, f.pc));
                let args: &[Value] = $args;
                let mut cx = Ctx { rt, code, site, native: n };
                match (code.natives[n as usize].body)(&mut cx, args) {
                    Ok(v) => {
                        // The native has just written its result, tag and
                        // payload, where the call returns it.
                        regs[ret] = Value::load(&v);
                        // It may have allocated.
                        if rt.heap.gc_due() {
                            return Halt::Collect;
                        }
                        continue;
                    }
                    Err(control) => match stop(code, rt, task, control) {
                        Some(halt) => return halt,
                        None => continue 'frames,
                    },
                }
            }};
        }
        // Calls method `$name` of the receiver in register `$b + 1` with
        // the `$argc` arguments after it, the result going to register
        // `$b`: a native runs here, anything else is slow.
        macro_rules! call_method {
            ($b:expr, $argc:expr, $name:expr) => {{
                let (b, argc, name): (Reg, u8, u16) = ($b, $argc, $name);
                match method_table(code, regs[b as usize + 1]).get(name as usize) {
                    Some(Some(Method::Native(n))) => {
                        native!(*n, b, &regs.0[b as usize + 1..b as usize + 2 + argc as usize])
                    }
                    _ => slow!(),
                }
            }};
        }
        // After an instruction that allocated: a collection that falls due
        // runs before the next instruction, as after a native's call.
        macro_rules! collect_if_due {
            () => {
                if rt.heap.gc_due() {
                    save_state!();
                    return Halt::Collect;
                }
            };
        }
        // A builtin's instruction goes on only while its global holds the
        // native it stands for; otherwise the slow path makes the call.
        macro_rules! builtin {
            ($builtin:ident, $slot:expr) => {
                if !matches!(rt.globals[$slot as usize], Value::Native(n) if n == code.builtins.get(Builtin::$builtin)) {
                    slow!()
                }
            };
        }
        // `min` and `max` of two ints or two floats: the first unless the
        // second beats it (so nan keeps the first), as the natives do.
        macro_rules! extreme {
            ($dst:expr, $a:expr, $b:expr, $op:tt) => {{
                let second = match (&regs[$a], &regs[$b]) {
                    (Value::Int(i), Value::Int(j)) => j $op i,
                    (Value::Float(x), Value::Float(y)) => y $op x,
                    _ => slow!(),
                };
                regs[$dst] = if second { regs[$b] } else { regs[$a] };
            }};
        }
        // `floor` and `ceil`: ints as they are, floats rounded to an int.
        macro_rules! rounded {
            ($dst:expr, $x:expr, $round:expr) => {
                regs[$dst] = match &regs[$x] {
                    &Value::Int(i) => Value::Int(i),
                    &Value::Float(f) => match ops::float_int($round(f)) {
                        Some(i) => Value::Int(i),
                        None => slow!(),
                    },
                    _ => slow!(),
                }
            };
        }
        macro_rules! equal {
            ($a:expr, $b:expr) => {
                match equal_fast(&rt.heap, &regs[$a], &regs[$b]) {
                    Some(yes) => yes,
                    None => slow!(),
                }
            };
        }

        loop {
            // SAFETY (the fetch, the step and the match): see `ip`. The
            // instruction is matched where it lies, not copied out, so each
            // handler loads just the operands it uses; a copy has every
            // field decoded before the dispatch, for whichever handler runs.
            op_at = ip;
            ip = unsafe { ip.add(1) };
            #[cfg(feature = "op-pairs")]
            crate::op_pairs::note(unsafe { *op_at });
            match *unsafe { &*op_at } {
                Op::Nil { dst } => regs[dst] = Value::Nil,
                Op::Bool { dst, value } => regs.set_bool(dst, value),
                Op::Int { dst, value } => regs[dst] = Value::Int(value as i64),
                Op::Const { dst, index } => regs[dst] = proto.constant(index),
                Op::Move { dst, src } => regs.copy(dst, src),
                Op::GetGlobal { dst, slot } => regs[dst] = rt.globals[slot as usize],
                Op::SetGlobal { src, slot } => rt.globals[slot as usize] = regs[src],
                Op::GetUpval { dst, index } => {
                    let closure = closure.expect("a closure has captures");
                    let Value::Cell(cell) = rt.heap.closure(closure).captures.get(index as usize) else {
                        unreachable!("captures are cells")
                    };
                    regs[dst] = rt.heap.cell(cell);
                }
                Op::SetUpval { src, index } => {
                    let closure = closure.expect("a closure has captures");
                    let Value::Cell(cell) = rt.heap.closure(closure).captures.get(index as usize) else {
                        unreachable!("captures are cells")
                    };
                    rt.heap.set_cell(cell, regs[src]);
                }
                Op::GetCell { dst, cell } => {
                    let Value::Cell(c) = regs[cell] else { unreachable!("a celled local holds a cell") };
                    regs[dst] = rt.heap.cell(c);
                }
                Op::SetCell { cell, src } => {
                    let Value::Cell(c) = regs[cell] else { unreachable!("a celled local holds a cell") };
                    rt.heap.set_cell(c, regs[src]);
                }

                Op::Add { dst, a, b } => arith!(dst, a, b, i64::checked_add, |x: f64, y: f64| Some(x + y), else {
                    // Two strings are joined here, as the slow path would,
                    // without its round trip; what fails (a string past the
                    // heap's limit) fails there again and raises.
                    let (&Value::Str(x), &Value::Str(y)) = (&regs[a], &regs[b]) else { slow!() };
                    let Ok(joined) = rt.heap.concat(x, y) else { slow!() };
                    regs[dst] = Value::Str(joined);
                    collect_if_due!();
                }),
                Op::Sub { dst, a, b } => arith!(dst, a, b, i64::checked_sub, |x: f64, y: f64| Some(x - y)),
                Op::Mul { dst, a, b } => arith!(dst, a, b, i64::checked_mul, |x: f64, y: f64| Some(x * y)),
                Op::Div { dst, a, b } => {
                    let (x, y) = match (&regs[a], &regs[b]) {
                        (Value::Float(x), Value::Float(y)) => (*x, *y),
                        (Value::Int(i), Value::Int(j)) => (*i as f64, *j as f64),
                        _ => slow!(),
                    };
                    if y == 0.0 {
                        slow!()
                    }
                    regs[dst] = Value::Float(x / y);
                }
                Op::FloorDiv { dst, a, b } => arith!(dst, a, b, ops::checked_floor_div, |_, _| None),
                Op::Mod { dst, a, b } => arith!(dst, a, b, ops::checked_mod, |_, _| None),
                Op::AddI { dst, a, imm } => {
                    regs[dst] = match &regs[a] {
                        Value::Int(i) => match i.checked_add(imm as i64) {
                            Some(v) => Value::Int(v),
                            None => slow!(),
                        },
                        Value::Float(x) => Value::Float(x + imm as f64),
                        _ => slow!(),
                    }
                }
                Op::MulI { dst, a, imm } => {
                    regs[dst] = match &regs[a] {
                        Value::Int(i) => match i.checked_mul(imm as i64) {
                            Some(v) => Value::Int(v),
                            None => slow!(),
                        },
                        Value::Float(x) => Value::Float(x * imm as f64),
                        _ => slow!(),
                    }
                }
                Op::ModI { dst, a, imm } => {
                    regs[dst] = match &regs[a] {
                        Value::Int(i) if imm > 0 => Value::Int(ops::mod_positive(*i, imm as i64)),
                        // `imm` is never 0.
                        Value::Int(i) => match ops::checked_mod(*i, imm as i64) {
                            Some(v) => Value::Int(v),
                            None => slow!(),
                        },
                        _ => slow!(),
                    }
                }
                Op::Neg { dst, src } => {
                    regs[dst] = match &regs[src] {
                        Value::Int(i) => match i.checked_neg() {
                            Some(v) => Value::Int(v),
                            None => slow!(),
                        },
                        Value::Float(x) => Value::Float(-x),
                        _ => slow!(),
                    }
                }
                // Bools are stored as whole words: see `Value::store_bool`.
                Op::Not { dst, src } => regs.set_bool(dst, !regs[src].truthy()),
                Op::Eq { dst, a, b } => regs.set_bool(dst, equal!(a, b)),
                Op::Ne { dst, a, b } => regs.set_bool(dst, !equal!(a, b)),
                Op::Lt { dst, a, b } => regs.set_bool(dst, less!(a, b, <)),
                Op::Le { dst, a, b } => regs.set_bool(dst, less!(a, b, <=)),

                Op::Jump { offset } => jump!(offset),
                Op::Loop { offset } => {
                    jump!(offset);
                    back_edge!(offset)
                }
                Op::ForLoop { a, inclusive, offset } => {
                    let (&Value::Int(i), &Value::Int(end)) = (&regs[a], &regs.0[a as usize + 1]) else { slow!() };
                    if !(inclusive && i == end) {
                        let Some(next) = i.checked_add(1) else { slow!() };
                        regs[a] = Value::Int(next);
                        loop_if!(inclusive || next < end, offset)
                    }
                }
                Op::JumpIfFalse { cond, offset } => {
                    jump_if!(!regs[cond].truthy(), offset)
                }
                Op::JumpIfTrue { cond, offset } => {
                    jump_if!(regs[cond].truthy(), offset)
                }
                Op::JumpIfNotLt { a, b, offset } => {
                    jump_if!(!less!(a, b, <), offset)
                }
                Op::JumpIfNotLe { a, b, offset } => {
                    jump_if!(!less!(a, b, <=), offset)
                }
                Op::JumpIfNotLtI { a, imm, offset } => {
                    let yes = match &regs[a] {
                        Value::Int(i) => *i < imm as i64,
                        Value::Float(x) => *x < imm as f64,
                        _ => slow!(),
                    };
                    jump_if!(!yes, offset)
                }
                Op::JumpIfNotGtI { a, imm, offset } => {
                    let yes = match &regs[a] {
                        Value::Int(i) => *i > imm as i64,
                        Value::Float(x) => *x > imm as f64,
                        _ => slow!(),
                    };
                    jump_if!(!yes, offset)
                }
                Op::JumpIfNotEq { a, b, offset } => {
                    jump_if!(!equal!(a, b), offset)
                }
                Op::JumpIfLt { a, b, offset } => {
                    loop_if!(less!(a, b, <), offset)
                }
                Op::JumpIfLe { a, b, offset } => {
                    loop_if!(less!(a, b, <=), offset)
                }
                Op::JumpIfLtI { a, imm, offset } => {
                    let yes = match &regs[a] {
                        Value::Int(i) => *i < imm as i64,
                        Value::Float(x) => *x < imm as f64,
                        _ => slow!(),
                    };
                    loop_if!(yes, offset)
                }
                Op::JumpIfGtI { a, imm, offset } => {
                    let yes = match &regs[a] {
                        Value::Int(i) => *i > imm as i64,
                        Value::Float(x) => *x > imm as f64,
                        _ => slow!(),
                    };
                    loop_if!(yes, offset)
                }
                Op::JumpIfEq { a, b, offset } => {
                    jump_if!(equal!(a, b), offset)
                }
                Op::In { dst, a, b } => {
                    let found = match (&regs[a], &regs[b]) {
                        // A key in place is tested inline; `contains_key`
                        // finds any other out of line.
                        (&Value::Int(i), &Value::Map(m)) => {
                            let map = rt.heap.map(m);
                            map.get_in_place(i).is_some() || map.contains_key(&Key::Int(i))
                        }
                        _ => slow!(),
                    };
                    regs.set_bool(dst, found);
                }

                Op::GetIndex { dst, obj, index } => {
                    regs[dst] = match (&regs[obj], &regs[index]) {
                        (&Value::List(r), &Value::Int(i)) => {
                            let items = rt.heap.list(r);
                            let Some(at) = ops::index(i, items.len()) else { slow!() };
                            items[at]
                        }
                        // `m["name"]` is a field read: at the name's hint,
                        // else by hash; a missing key raises in the slow path.
                        (&Value::Map(m), &Value::Str(name)) => match rt.heap.field_at_hint(m, name) {
                            Some(&v) => v,
                            None => match rt.heap.find_field(m, name) {
                                Some(v) => v,
                                None => slow!(),
                            },
                        },
                        // An int key in place needs no hashing; any other
                        // goes to the slow path.
                        (&Value::Map(m), &Value::Int(i)) => match rt.heap.map(m).get_in_place(i) {
                            Some(&v) => v,
                            None => slow!(),
                        },
                        _ => slow!(),
                    };
                }
                Op::SetIndex { obj, index, src } => {
                    let v = regs[src];
                    let slot = match (&regs[obj], &regs[index]) {
                        // A list held in its slot moves to a buffer in the
                        // slow path.
                        (&Value::List(r), &Value::Int(i)) => {
                            let Some(items) = rt.heap.list_buffer_mut(r) else { slow!() };
                            let Some(at) = ops::index(i, items.len()) else { slow!() };
                            &mut items[at]
                        }
                        // `m["name"] = v` on a key the map has is a field
                        // write; a new key (or one away from its hint) is set
                        // by hash here, and out of memory, the slow path tries
                        // again and raises.
                        (&Value::Map(m), &Value::Str(name)) => {
                            if let Some(slot) = rt.heap.field_at_hint_mut(m, name) {
                                *slot = v;
                            } else if rt.heap.set_field(m, name, v).is_err() {
                                slow!()
                            } else {
                                collect_if_due!();
                            }
                            continue;
                        }
                        (&Value::Map(m), &Value::Int(i)) => {
                            let map = rt.heap.map_mut(m);
                            if let Some(slot) = map.get_in_place_mut(i) {
                                *slot = v;
                            } else if !map.push_in_place(i, &v) && rt.heap.map_insert(m, Key::Int(i), v).is_err() {
                                // Out of memory: the slow path tries again
                                // and raises.
                                slow!()
                            }
                            continue;
                        }
                        _ => slow!(),
                    };
                    *slot = v;
                }
                // The field is looked for where this instruction's name
                // was last found (the function's hint for the constant),
                // else in the slow path, which remembers where it was.
                Op::GetField { dst, obj, name: at } => {
                    let Value::Map(m) = regs[obj] else { slow!() };
                    let (name, hint) = proto.field(at);
                    let Some(&v) = rt.heap.field_at(m, name, hint) else { slow!() };
                    regs[dst] = v;
                }
                Op::SetField { obj, name: at, src } => {
                    let Value::Map(m) = regs[obj] else { slow!() };
                    let (name, hint) = proto.field(at);
                    let Some(slot) = rt.heap.field_at_mut(m, name, hint) else { slow!() };
                    // Read as it was just written (`b.vx = b.vx - d`): see
                    // `Value::load`.
                    *slot = Value::load(&regs[src]);
                }

                Op::Call { base: b, argc } => call_in_place!(regs[b], b, argc),
                Op::CallGlobal { base: b, argc, slot } => {
                    let callee = rt.globals[slot as usize];
                    regs[b] = callee;
                    call_in_place!(callee, b, argc)
                }
                Op::CallRegs { dst, func, argc, a, b, c } => {
                    let r = match regs[func] {
                        Value::Func(r) => r,
                        // A native in a local: its arguments gathered here.
                        Value::Native(n) => {
                            let args = [regs[a], regs[b], regs[c]];
                            native!(n, dst, &args[..argc as usize])
                        }
                        _ => slow!(),
                    };
                    // The callee's registers start above the caller's.
                    let new_base = base + regs.0.len();
                    call_closure!(r, argc, new_base, base + dst as usize, leaf: (dst, [a, b, c]), {
                        let stack = task.stack.as_mut_ptr();
                        // SAFETY: `a`, `b` and `c` are registers of the
                        // caller's window (checked at load time), which lies
                        // inside the stack, not resized since it was made;
                        // the arguments go to the callee's first `argc`
                        // registers, and `argc` is its arity, at most its
                        // register count (checked at load time), so they end
                        // inside its window, inside the stack (checked by
                        // `call_closure!`).
                        unsafe {
                            Value::copy(stack.add(base + a as usize), stack.add(new_base));
                            if argc > 1 {
                                Value::copy(stack.add(base + b as usize), stack.add(new_base + 1));
                                if argc > 2 {
                                    Value::copy(stack.add(base + c as usize), stack.add(new_base + 2));
                                }
                            }
                        }
                    })
                }
                Op::CallMethod { base: b, argc, name } => call_method!(b, argc, name),
                // `xs.push(x)` appends here when the list has room, and
                // `m.remove(k)` removes here when the map holds the key;
                // anything else is the method call, as `CallMethod`.
                Op::CallPush { base: b, obj, arg, name } | Op::CallRemove { base: b, obj, arg, name } => {
                    match *unsafe { &*op_at } {
                        Op::CallPush { .. } => {
                            if let Value::List(r) = regs[obj] {
                                if is_builtin(code, &code.methods.list, name, BuiltinMethod::Push)
                                    && rt.heap.push_in_place(r, regs[arg])
                                {
                                    regs[b] = Value::Nil;
                                    continue;
                                }
                            }
                        }
                        Op::CallRemove { .. } => {
                            if let Value::Map(m) = regs[obj] {
                                if is_builtin(code, &code.methods.map, name, BuiltinMethod::Remove) {
                                    let key = rt.heap.find_key(regs[arg]);
                                    if let Some(v) = key.and_then(|k| rt.heap.map_mut(m).remove(&k)) {
                                        // `remove` returns the value through
                                        // memory, written a word at a time: a
                                        // 16-byte load of it would stall.
                                        regs[b] = Value::load(&v);
                                        continue;
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                    // The method call, with the receiver and argument
                    // after the base, where `CallMethod` has them.
                    let at = b as usize;
                    (regs.0[at + 1], regs.0[at + 2]) = (regs[obj], regs[arg]);
                    call_method!(b, 1, name)
                }
                Op::CallSqrt { dst, x, slot } => {
                    builtin!(Sqrt, slot);
                    let Some(f) = regs[x].as_f64() else { slow!() };
                    regs[dst] = Value::Float(f.sqrt());
                }
                Op::CallAbs { dst, x, slot } => {
                    builtin!(Abs, slot);
                    regs[dst] = match &regs[x] {
                        Value::Int(i) => match i.checked_abs() {
                            Some(v) => Value::Int(v),
                            None => slow!(),
                        },
                        Value::Float(f) => Value::Float(f.abs()),
                        _ => slow!(),
                    }
                }
                Op::CallFloor { dst, x, slot } => {
                    builtin!(Floor, slot);
                    rounded!(dst, x, f64::floor)
                }
                Op::CallCeil { dst, x, slot } => {
                    builtin!(Ceil, slot);
                    rounded!(dst, x, f64::ceil)
                }
                Op::CallLen { dst, x, slot } => {
                    builtin!(Len, slot);
                    let n = match regs[x] {
                        Value::List(r) => rt.heap.list(r).len(),
                        Value::Map(r) => rt.heap.map(r).len(),
                        Value::Str(r) => rt.heap.str_obj(r).chars(),
                        _ => slow!(),
                    };
                    regs[dst] = Value::Int(n as i64);
                }
                Op::CallMin { dst, a, b, slot } => {
                    builtin!(Min, slot);
                    extreme!(dst, a, b, <)
                }
                Op::CallMax { dst, a, b, slot } => {
                    builtin!(Max, slot);
                    extreme!(dst, a, b, >)
                }
                Op::Return { src } => return_value!(Some(src)),
                Op::ReturnNil => return_value!(None::<Reg>),

                Op::EndTry => {
                    // The field alone: the registers borrow the stack.
                    if let Some(rare) = &mut task.rare {
                        rare.handlers.pop();
                    }
                }
                // Allocations: the commonest are made here.
                Op::NewCell { reg } => {
                    let cell = rt.heap.new_cell(regs[reg]);
                    regs[reg] = Value::Cell(cell);
                    collect_if_due!();
                }
                // A closure of one local at most; the slow path makes the rest.
                Op::Closure { dst, proto: p } => {
                    let captures = match code.protos[p as usize].captures[..] {
                        [] => Captures::None,
                        [Capture::Local(reg)] => Captures::One(regs[reg as usize]),
                        _ => slow!(),
                    };
                    regs[dst] = Value::Func(rt.heap.new_closure(p, captures));
                    collect_if_due!();
                }
                Op::NewMap { dst, start, count } => {
                    let start = start as usize;
                    // A key that can be no key raises in the slow path.
                    let Ok(map) = rt.heap.new_map_from(&regs[start..start + 2 * count as usize]) else { slow!() };
                    regs[dst] = Value::Map(map);
                    collect_if_due!();
                }
                Op::NewList { dst, start, count } => {
                    let start = start as usize;
                    let r = rt.heap.new_list_from(&regs[start..start + count as usize]);
                    regs[dst] = Value::List(r);
                    collect_if_due!();
                }
                Op::IterNext { base: b, dst, pair, offset } => {
                    let (Value::List(r), Value::Int(cursor)) = (regs[b], regs[b as usize + 1]) else { slow!() };
                    match rt.heap.list(r).get(cursor as usize) {
                        None => jump!(offset),
                        Some(&v) => {
                            regs[b as usize + 1] = Value::Int(cursor + 1);
                            if pair {
                                regs[dst] = Value::Int(cursor);
                                regs[dst as usize + 1] = v;
                            } else {
                                regs[dst] = v;
                            }
                        }
                    }
                }
                // A loop over a list starts at its first item; over
                // anything else, in the slow path.
                Op::IterPrep { base: b } => {
                    let Value::List(_) = regs[b] else { slow!() };
                    regs[b as usize + 1] = Value::Int(0);
                    regs[b as usize + 2] = Value::Int(0);
                }
                Op::ForPrep { a } => {
                    if !matches!((&regs[a], &regs[a as usize + 1]), (Value::Int(_), Value::Int(_))) {
                        slow!()
                    }
                }
                // Listed, not matched by `_`: the jump table then covers every
                // opcode, and the dispatch needs no range check.
                Op::Pow { .. }
                | Op::Unpack { .. }
                | Op::ListPush { .. }
                | Op::MapInsert { .. }
                | Op::Range { .. }
                | Op::Concat { .. }
                | Op::Try { .. }
                | Op::Throw { .. }
                | Op::Spawn { .. }
                | Op::NurseryEnter { .. }
                | Op::NurseryExit { .. }
                | Op::ScopeEnter { .. }
                | Op::ScopeExit { .. }
                | Op::Select { .. }
                | Op::Import { .. }
                | Op::ResumeNative => slow!(),
            }
        }
    }
}

/// The loop for `WEFT_SLOW_PATH=1`: every instruction through
/// `slow::exec`, none through the fast cases above. Running the test
/// suite both ways checks every fast case against the full one.
#[cold]
fn run_slow(code: &Code, rt: &mut Runtime, task: &mut Task) -> Halt {
    loop {
        let Some(frame) = task.frames.last_mut() else {
            return Halt::Done(task.stack.first().copied().unwrap_or_default());
        };
        let pc = frame.pc as usize;
        let op = code.protos[frame.proto as usize].code[pc];
        frame.pc = (pc + 1) as u32;
        if let Some(halt) = crate::slow::exec(code, rt, task, op, pc + 1) {
            return halt;
        }
    }
}

/// Pops the running frame and gives its caller `v`, as `return_value!`
/// does in the loop; the task is done when there is no caller.
pub(crate) fn return_from(task: &mut Task, v: Value) -> Option<Halt> {
    let done = task.frames.pop().expect("running");
    pop_handlers(task);
    if task.frames.is_empty() {
        return Some(Halt::Done(v));
    }
    task.stack[done.ret as usize] = v;
    None
}

/// Marks the path that calls it as rarely taken.
#[cold]
fn rarely() {}

/// `==` for the cases that need no walk: numbers of one type, strings
/// (interned ones by ref), nil and bools. `None` for the rest.
#[inline(always)]
pub(crate) fn equal_fast(heap: &crate::heap::Heap, a: &Value, b: &Value) -> Option<bool> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x == y),
        (Value::Str(x), Value::Str(y)) => Some(heap.str_eq(*x, *y)),
        (Value::Float(x), Value::Float(y)) => Some(x == y),
        (Value::Nil, Value::Nil) => Some(true),
        (Value::Nil, _) | (_, Value::Nil) => Some(false),
        (Value::Bool(x), Value::Bool(y)) => Some(x == y),
        _ => None,
    }
}

/// Runs `op`, the one instruction of a leaf function (see
/// `code::leaf_of`), in its caller's frame: parameter `p` is the caller's
/// register `params[p]`, the result goes to the caller's register `dst`,
/// and `callee` is the function. Only the instruction's fast case runs,
/// the one that cannot fail, wait or allocate: false when it does not
/// apply, and the caller makes the call.
///
/// Each case is the fast case of the loop's handler of that instruction,
/// stated again: shared through inline helpers, they changed the loop's
/// code, and `loop` ran 1.065x the machine instructions. A change to a
/// handler's fast case is a change here too. The slow-path oracle
/// (`tests/slow_path.rs`) runs every leaf call of the suite against the
/// full call.
#[inline(always)]
fn run_leaf(
    heap: &crate::heap::Heap,
    op: Op,
    callee: &crate::FnProto,
    regs: &mut Registers,
    params: [Reg; 3],
    dst: Reg,
) -> bool {
    // A leaf's operands are parameters, below its arity, which is the
    // number of arguments: at most three here.
    let reg = |p: Reg| {
        debug_assert!(p < 3);
        match p {
            0 => params[0],
            1 => params[1],
            _ => params[2],
        }
    };
    // Comparisons first, as a branch of their own: the comparators of
    // `sort_by` are the commonest leaves.
    if let Op::Lt { a, b, .. } | Op::Le { a, b, .. } = op {
        let strict = matches!(op, Op::Lt { .. });
        let less = match (&regs[reg(a)], &regs[reg(b)]) {
            (Value::Int(i), Value::Int(j)) => i < j || (!strict && i == j),
            (Value::Float(x), Value::Float(y)) => x < y || (!strict && x == y),
            _ => return false,
        };
        regs.set_bool(dst, less);
        return true;
    }
    let value = match op {
        Op::Eq { a, b, .. } | Op::Ne { a, b, .. } => {
            let Some(same) = equal_fast(heap, &regs[reg(a)], &regs[reg(b)]) else { return false };
            regs.set_bool(dst, same == matches!(op, Op::Eq { .. }));
            return true;
        }
        Op::Add { a, b, .. } | Op::Sub { a, b, .. } | Op::Mul { a, b, .. } => match (&regs[reg(a)], &regs[reg(b)]) {
            (&Value::Int(i), &Value::Int(j)) => match op {
                Op::Add { .. } => i.checked_add(j),
                Op::Sub { .. } => i.checked_sub(j),
                _ => i.checked_mul(j),
            }
            .map(Value::Int),
            (&Value::Float(x), &Value::Float(y)) => Some(Value::Float(match op {
                Op::Add { .. } => x + y,
                Op::Sub { .. } => x - y,
                _ => x * y,
            })),
            _ => None,
        },
        Op::AddI { a, imm, .. } | Op::MulI { a, imm, .. } => {
            let add = matches!(op, Op::AddI { .. });
            match regs[reg(a)] {
                Value::Int(i) => {
                    if add { i.checked_add(imm as i64) } else { i.checked_mul(imm as i64) }.map(Value::Int)
                }
                Value::Float(x) => Some(Value::Float(if add { x + imm as f64 } else { x * imm as f64 })),
                _ => None,
            }
        }
        Op::GetField { obj, name, .. } => match (&regs[reg(obj)], callee.consts.get(name as usize)) {
            (&Value::Map(m), Some(&Value::Str(name))) => heap.field_at_hint(m, name).copied(),
            _ => None,
        },
        _ => None,
    };
    match value {
        Some(v) => {
            regs[dst] = v;
            true
        }
        None => false,
    }
}

/// Runs a [`Leaf::Fields`] in its caller's frame, as [`run_leaf`] runs a
/// leaf: the two fields are read as `GetField`'s fast case reads them,
/// and compared as `Lt` (or `Le`) compares ints and floats. Inlined whole,
/// as `run_leaf` is: a call here would have the loop's locals live across
/// it, and the handlers keep them in machine registers only while
/// nothing in the loop is called with them live (with a closure left out
/// of line, `loop` ran 1.04x the instructions).
#[inline(always)]
fn compare_fields(
    heap: &crate::heap::Heap,
    leaf: Leaf,
    callee: &crate::FnProto,
    regs: &mut Registers,
    params: [Reg; 3],
    dst: Reg,
) -> bool {
    let Leaf::Fields { strict, left, right, name } = leaf else { return false };
    let Some(&Value::Str(name)) = callee.consts.get(name as usize) else { return false };
    // Parameters are below the arity, at most three here: `% 3` only
    // spares a bounds check.
    let reg = |p: Reg| params[p as usize % 3];
    let (Value::Map(a), Value::Map(b)) = (regs[reg(left)], regs[reg(right)]) else { return false };
    let less = match (heap.field_at_hint(a, name), heap.field_at_hint(b, name)) {
        (Some(&Value::Int(i)), Some(&Value::Int(j))) => i < j || (!strict && i == j),
        (Some(&Value::Float(x)), Some(&Value::Float(y))) => x < y || (!strict && x == y),
        _ => return false,
    };
    regs.set_bool(dst, less);
    true
}

/// Runs `leaf`, the leaf of `callee`, on `args` (its arguments, as many as
/// its arity), for a native calling back (see [`crate::LeafFn`]): the
/// result a call would give, when the leaf gives it without the call (its
/// fast case, as a call from the loop runs it, or a comparison that `<`
/// makes without raising); `None` when only the call can answer.
pub(crate) fn leaf_value(
    heap: &crate::heap::Heap,
    leaf: Leaf,
    callee: &crate::FnProto,
    args: &[Value],
) -> Option<Value> {
    // The arguments in registers 0-2 and the result in 3: every register
    // a leaf reads is a parameter, mapped to one of the first three (see
    // `run_leaf`), so all of them lie inside this window.
    const RESULT: Reg = 3;
    if args.len() > 3 {
        return None;
    }
    // Two numbers compared, the commonest leaf a native runs (a sort's
    // comparator), straight from the arguments: through the window, the
    // values went to memory and back.
    if let Leaf::One(Op::Lt { a, b, .. } | Op::Le { a, b, .. }) = leaf {
        let strict = matches!(leaf, Leaf::One(Op::Lt { .. }));
        match (args.get(a as usize), args.get(b as usize)) {
            (Some(&Value::Int(i)), Some(&Value::Int(j))) => return Some(Value::Bool(i < j || (!strict && i == j))),
            (Some(&Value::Float(x)), Some(&Value::Float(y))) => return Some(Value::Bool(x < y || (!strict && x == y))),
            _ => {}
        }
    }
    let mut window = [Value::Nil; 4];
    // Item by item: a copy of unknown length would call `memcpy`.
    for (to, &arg) in window.iter_mut().zip(args) {
        *to = arg;
    }
    let mut regs = Registers(&mut window);
    let answered = match leaf {
        Leaf::One(op) => run_leaf(heap, op, callee, &mut regs, [0, 1, 2], RESULT),
        Leaf::Fields { .. } => compare_fields(heap, leaf, callee, &mut regs, [0, 1, 2], RESULT),
    };
    if answered {
        return Some(window[RESULT as usize]);
    }
    // Here there is no loop to keep small: a comparison the loop leaves to
    // the call (strings, an int and a float) is made as `<` makes it, on
    // the slow path, unless it raises.
    let (strict, a, b) = match leaf {
        Leaf::One(Op::Lt { a, b, .. }) => (true, *args.get(a as usize)?, *args.get(b as usize)?),
        Leaf::One(Op::Le { a, b, .. }) => (false, *args.get(a as usize)?, *args.get(b as usize)?),
        Leaf::Fields { strict, left, right, name } => {
            let Some(&Value::Str(name)) = callee.consts.get(name as usize) else { return None };
            // Away from its hint, a field is looked up by hash (and found
            // at once next time).
            let field = |p: Reg| match args.get(p as usize) {
                Some(&Value::Map(m)) => heap.field_at_hint(m, name).copied().or_else(|| heap.find_field(m, name)),
                _ => None,
            };
            (strict, field(left)?, field(right)?)
        }
        Leaf::One(_) => return None,
    };
    ops::less(heap, a, b, !strict).ok().map(Value::Bool)
}

/// A frame's register window. Indexing by a register operand (`u8`) skips
/// the bounds check: `Proto::check` has verified, when the function was
/// loaded, that every operand lies inside the window, whose length is the
/// function's register count. Any other index is checked as usual.
pub(crate) struct Registers<'a>(pub(crate) &'a mut [Value]);

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

impl Registers<'_> {
    /// `R[dst] = b`, stored as [`Value::store_bool`] stores it.
    #[inline(always)]
    fn set_bool(&mut self, dst: Reg, b: bool) {
        Value::store_bool(&mut self[dst], b)
    }

    /// `R[dst] = R[src]`, copied as [`Value::copy`] does.
    #[inline(always)]
    fn copy(&mut self, dst: Reg, src: Reg) {
        debug_assert!((dst.max(src) as usize) < self.0.len());
        let base = self.0.as_mut_ptr();
        // SAFETY: both registers are operands of the running instruction,
        // checked against the window at load time (see `index`).
        unsafe { Value::copy(base.add(src as usize), base.add(dst as usize)) }
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

/// Grows a task's registers to at least `top`: within the room already
/// reserved if it suffices, else doubling to keep calls cheap. Registers
/// count against the heap limit, so a deep recursion in many tasks meets
/// `OutOfMemory`, not the system's refusal.
#[cold]
pub(crate) fn grow(heap: &mut crate::heap::Heap, stack: &mut Vec<Value>, top: usize) -> Result<(), Throw> {
    let before = stack.capacity();
    let len = if top <= before { top } else { top.max(stack.len() * 2).max(16) };
    let grown = len.saturating_sub(before) * std::mem::size_of::<Value>();
    heap.check_room(grown, "a task's registers")?;
    stack.resize(len, Value::Nil);
    heap.grew((stack.capacity() - before) * std::mem::size_of::<Value>());
    Ok(())
}

/// Drops the handlers of a frame that has just been popped.
#[inline(always)]
fn pop_handlers(task: &mut Task) {
    let depth = task.frames.len() as u32;
    while task.last_handler().is_some_and(|h| h.frames > depth) {
        task.pop_handler();
    }
}

/// Calls `callee` with the `argc` values after stack slot `at`, delivering
/// the result to slot `ret`.
pub(crate) fn call_value(
    code: &Code,
    rt: &mut Runtime,
    task: &mut Task,
    callee: Value,
    at: usize,
    argc: usize,
    ret: usize,
) -> Result<Called, Control> {
    match callee {
        Value::Func(r) => {
            let proto = rt.heap.closure(r).proto;
            let target = &code.protos[proto as usize];
            if target.arity as usize != argc {
                return Err(arity(code, callee, target.arity as usize, argc, &rt.heap).into());
            }
            if task.frames.len() >= rt.max_frames {
                return Err(stack_overflow(rt.max_frames).into());
            }
            let new_base = at + 1;
            let top = new_base + target.regs as usize;
            if task.stack.len() < top {
                grow(&mut rt.heap, &mut task.stack, top)?;
            }
            task.frames.push(Frame { proto, closure: Some(r), pc: 0, base: new_base as u32, ret: ret as u32 });
            Ok(Called::Pushed)
        }
        Value::Native(n) => call_native(code, rt, task, n, at + 1..at + 1 + argc, ret),
        v => {
            let name = v.type_name();
            let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
            let shown = crate::fmt::repr_short(&rt.heap, code, v);
            Err(Throw::type_error(format!("cannot call {shown} ({article} {name})")).into())
        }
    }
}

/// Runs native `n` on the stack slots `args`, its result going to slot
/// `ret` (or, if it parks, delivered there when the task wakes).
fn call_native(
    code: &Code,
    rt: &mut Runtime,
    task: &mut Task,
    n: u32,
    args: std::ops::Range<usize>,
    ret: usize,
) -> Result<Called, Control> {
    task.park_slot = ret as u32;
    let site = task.frames.last().map(|f| (f.proto, f.pc));
    let mut cx = Ctx { rt, code, site, native: n };
    let v = (code.natives[n as usize].body)(&mut cx, &task.stack[args])?;
    task.stack[ret] = v;
    Ok(Called::Returned)
}

/// As [`call_native`], on copies of its arguments: a `CallRegs`'s,
/// gathered from their registers, as the loop gathers them.
pub(crate) fn call_native_on(
    code: &Code,
    rt: &mut Runtime,
    task: &mut Task,
    n: u32,
    args: &[Value],
    ret: usize,
) -> Result<Called, Control> {
    task.park_slot = ret as u32;
    let site = task.frames.last().map(|f| (f.proto, f.pc));
    let v = (code.natives[n as usize].body)(&mut Ctx { rt, code, site, native: n }, args)?;
    task.stack[ret] = v;
    Ok(Called::Returned)
}

/// Whether entry `name` of a method table is the native that `method`'s
/// instruction stands for.
#[inline(always)]
fn is_builtin(code: &Code, table: &[Option<Method>], name: u16, method: BuiltinMethod) -> bool {
    let native = code.builtins.method(method);
    matches!(table.get(name as usize), Some(Some(Method::Native(n))) if *n == native)
}

/// The methods of `receiver`'s type.
#[inline(always)]
fn method_table(code: &Code, receiver: Value) -> &[Option<Method>] {
    match receiver {
        Value::Str(_) => &code.methods.string,
        Value::List(_) => &code.methods.list,
        Value::Map(_) => &code.methods.map,
        Value::Range(_) => &code.methods.range,
        Value::Error(_) => &code.methods.error,
        Value::Chan(_) => &code.methods.chan,
        Value::Task(_) => &code.methods.task,
        Value::Nursery(_) => &code.methods.nursery,
        _ => &code.methods.other,
    }
}

/// The method an object's class gives `for` loops: `<next>`, a name no
/// script can call. It returns the next item, or nil at the end; when it
/// must wait, it parks, and its resumption's result is ignored: the loop
/// calls it again (see `iter_object`).
pub const ITER_METHOD: &str = "<next>";

/// The native behind `for v in obj`, if `obj`'s class has one.
pub(crate) fn object_next(code: &Code, rt: &Runtime, obj: crate::value::Ref) -> Option<u32> {
    code.classes[rt.heap.object(obj).class as usize].iter
}

/// One step of `for v in obj` (the object in slot `at`, the item to slot
/// `dst`): the class's `<next>`, ending the loop on nil. If it parks, the
/// loop instruction runs again once the task wakes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn iter_object(
    code: &Code,
    rt: &mut Runtime,
    task: &mut Task,
    at: usize,
    dst: usize,
    offset: i32,
    pc: usize,
) -> Option<Halt> {
    let Value::Object(r) = task.stack[at] else { unreachable!("checked by the caller") };
    let Some(n) = object_next(code, rt, r) else { unreachable!("checked by IterPrep") };
    match call_native(code, rt, task, n, at..at + 1, dst) {
        Ok(_) => {
            if matches!(task.stack[dst], Value::Nil) {
                task.frames.last_mut().expect("running").pc = (pc as isize + offset as isize) as u32;
            }
            None
        }
        Err(control) => {
            if matches!(control, Control::Park(_)) {
                task.frames.last_mut().expect("running").pc = pc as u32 - 1;
            }
            stop(code, rt, task, control)
        }
    }
}

/// `R[at + 1].name(args)` with the result in `R[at]`.
pub(crate) fn call_method(
    code: &Code,
    rt: &mut Runtime,
    task: &mut Task,
    at: usize,
    argc: usize,
    name: u16,
) -> Result<Called, Control> {
    let receiver = task.stack[at + 1];
    let table = match receiver {
        Value::Object(r) => &code.classes[rt.heap.object(r).class as usize].methods[..],
        _ => method_table(code, receiver),
    };
    match table.get(name as usize).copied().flatten() {
        Some(Method::Native(n)) => call_native(code, rt, task, n, at + 1..at + 2 + argc, at),
        Some(Method::Script(global)) => {
            let f = rt.globals[global as usize];
            // Counted as the script wrote the call: without the receiver.
            if let Value::Func(r) = f {
                let takes = code.protos[rt.heap.closure(r).proto as usize].arity as usize - 1;
                if takes != argc {
                    let method = &code.symbols.names[name as usize];
                    let what = format!("{}.{method}", receiver.type_name());
                    return Err(arity_error(&what, takes, argc).into());
                }
            }
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
            Err(no_method(code, code.type_name(&rt.heap, receiver), method, table).into())
        }
    }
}

#[cold]
fn no_method(code: &Code, receiver: &str, method: &str, table: &[Option<Method>]) -> Throw {
    let known = table.iter().enumerate().filter(|(_, m)| m.is_some()).map(|(i, _)| code.symbols.names[i].as_str());
    let mut msg = format!("{receiver} has no method '{method}'");
    // What other languages call some of them.
    const OTHER_NAMES: &[(&str, &str)] = &[
        ("length", "len"),
        ("size", "len"),
        ("count", "len"),
        ("append", "push"),
        ("add", "push"),
        ("includes", "contains"),
        ("has_key", "has"),
        ("index", "index_of"),
        ("indexOf", "index_of"),
        ("toUpperCase", "upper"),
        ("toLowerCase", "lower"),
        ("strip", "trim"),
    ];
    let known: Vec<&str> = known.collect();
    let alias =
        OTHER_NAMES.iter().find(|(other, ours)| *other == method && known.contains(ours)).map(|(_, ours)| *ours);
    if let Some(best) = alias.or_else(|| weft_lang::diagnostic::closest(method, known.iter().copied())) {
        msg.push_str(&format!("; did you mean '{best}'?"));
    }
    Throw::type_error(msg)
}

#[cold]
pub(crate) fn get_index(rt: &mut Runtime, o: Value, i: Value) -> Result<Value, Throw> {
    match (o, i) {
        // Found by hash, remembering where for the loop's next try.
        (Value::Map(m), Value::Str(name)) => match rt.heap.find_field(m, name) {
            Some(v) => Ok(v),
            None => Err(ops::missing_key(&rt.heap, rt.heap.map(m), i)),
        },
        (Value::Map(m), k) => {
            let Some(k) = rt.heap.find_key(k) else { return Err(bad_key(k)) };
            match rt.heap.map(m).get(&k) {
                Some(v) => Ok(*v),
                None => Err(ops::missing_key(&rt.heap, rt.heap.map(m), k.value())),
            }
        }
        (Value::Str(s), Value::Int(i)) => ops::char_at(&mut rt.heap, s, i),
        (Value::List(_) | Value::Str(_), i) => {
            Err(Throw::type_error(format!("{} index must be an int, not {}", o.type_name(), i.type_name())))
        }
        (Value::Range(r), Value::Int(i)) => {
            let (start, end, inclusive) = rt.heap.range(r);
            // In i128: `0..=i64::MAX` has one item more than an i64 counts.
            let len = ops::range_len(start, end, inclusive) as i128;
            let at = if i >= 0 { i as i128 } else { len + i as i128 };
            if (0..len).contains(&at) {
                Ok(Value::Int((start as i128 + at) as i64))
            } else {
                Err(Throw::index_error(format!("range index {i} out of range for length {len}")))
            }
        }
        _ => Err(Throw::type_error(format!("cannot index {}", o.type_name()))),
    }
}

#[cold]
pub(crate) fn set_index(rt: &mut Runtime, o: Value, i: Value, v: Value) -> Result<(), Throw> {
    match (o, i) {
        (Value::Map(m), Value::Str(name)) => rt.heap.set_field(m, name, v),
        (Value::Map(m), _) => {
            let Some(k) = rt.heap.key(i) else { return Err(bad_key(i)) };
            rt.heap.map_insert(m, k, v).map(drop)
        }
        (Value::List(_), _) => Err(Throw::type_error(format!("list index must be an int, not {}", i.type_name()))),
        (Value::Str(_), _) => Err(Throw::type_error("strings are immutable; build a new one instead")),
        _ => Err(Throw::type_error(format!("cannot assign by index into {}", o.type_name()))),
    }
}

#[cold]
pub(crate) fn get_field(code: &Code, rt: &mut Runtime, o: Value, name: crate::value::Ref) -> Result<Value, Throw> {
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
    if let Value::Object(r) = o {
        if let Some(v) = rt.heap.object(r).data.field(&field) {
            return Ok(v);
        }
    }
    Err(Throw::type_error(format!("{} has no field '{field}'", code.type_name(&rt.heap, o))))
}

/// The TypeError for calling `v`, which is not a function, at the call
/// just before `pc` in `proto`: when the callee is written as a plain
/// name, the message names it ("cannot call `helper`, which is nil").
#[cold]
pub(crate) fn not_callable(code: &Code, rt: &Runtime, proto: &crate::FnProto, pc: usize, v: Value) -> Throw {
    let name = v.type_name();
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    let shown = crate::fmt::repr(&rt.heap, code, v);
    let span = pc.checked_sub(1).and_then(|at| proto.spans.get(at));
    let text = code.files.get(proto.file as usize).map(|f| f.text.as_str());
    let callee = match (span, text) {
        (Some(span), Some(text)) => text.get(span.start as usize..span.end as usize).and_then(|call| {
            let open = call.find('(')?;
            let name = call[..open].trim();
            let plain = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            // `f(1)(2)` calls what `f(1)` returned, not `f`: the name's
            // parentheses must close only at the end of the call.
            let mut depth = 0i32;
            let closes_at_end = call[open..].char_indices().all(|(i, c)| {
                depth += i32::from(c == '(') - i32::from(c == ')');
                depth > 0 || open + i + c.len_utf8() == call.len()
            });
            (plain && closes_at_end).then_some(name)
        }),
        _ => None,
    };
    match callee {
        Some(callee) => Throw::type_error(format!("cannot call `{callee}`, which is {shown} ({article} {name})")),
        None => Throw::type_error(format!("cannot call {shown} ({article} {name})")),
    }
}

#[cold]
pub(crate) fn bad_key(k: Value) -> Throw {
    Throw::type_error(format!("a map key must be nil, a bool, an int or a string, not {}", k.type_name()))
}

#[cold]
pub(crate) fn list_index(i: i64, len: usize) -> Throw {
    Throw::index_error(format!("list index {i} out of range for length {len}"))
}

#[cold]
pub(crate) fn unpack_length(len: usize, names: u8) -> Throw {
    let items = if len == 1 { "item" } else { "items" };
    let targets = if names == 1 { "name" } else { "names" };
    Throw::new("ValueError", format!("cannot unpack a list of {len} {items} into {names} {targets}"))
}

#[cold]
pub(crate) fn range_bounds(lo: Value, hi: Value) -> Throw {
    Throw::type_error(format!("range bounds must be ints, not {} and {}", lo.type_name(), hi.type_name()))
}

#[cold]
pub(crate) fn stack_overflow(limit: usize) -> Throw {
    Throw::new("StackOverflow", format!("call depth exceeded {limit} frames (unbounded recursion?)"))
}

#[cold]
pub(crate) fn arity(code: &Code, f: Value, want: usize, got: usize, heap: &crate::heap::Heap) -> Throw {
    arity_error(&crate::fmt::repr_short(heap, code, f), want, got)
}

#[cold]
fn arity_error(name: &str, want: usize, got: usize) -> Throw {
    Throw::arity(name, &want.to_string(), got)
}

/// Ends a native's call the way it asked to (see [`Control`]). Returns a
/// halt when the task must stop.
#[cold]
#[inline(never)]
pub(crate) fn stop(code: &Code, rt: &mut Runtime, task: &mut Task, control: Control) -> Option<Halt> {
    match control {
        Control::Raise(throw) => raise(code, rt, task, throw),
        Control::Park(crate::native::Parked(None)) => Some(Halt::Park),
        Control::Park(crate::native::Parked(Some(resumption))) => park_native(code, rt, task, *resumption),
        Control::Exit(status) => Some(Halt::Exit(status)),
        Control::Call(call) => call_back(code, rt, task, call),
    }
}

/// A native calls a Weft function: pushes a trampoline frame, whose one
/// instruction resumes the native, and calls the function with its result
/// going to the trampoline's register 0. The native's own result slot
/// (`park_slot`) becomes the trampoline's return slot, so that what the
/// continuation returns lands where the native's result would have.
fn call_back(code: &Code, rt: &mut Runtime, task: &mut Task, mut call: Box<Call>) -> Option<Halt> {
    // A loop, not recursion, for a native whose callee is a native that
    // calls back at once, and so on.
    loop {
        let base = match push_trampoline(code, rt, task, call.args.len()) {
            Ok(base) => base,
            Err(throw) => return raise(code, rt, task, throw),
        };
        let keep = std::mem::take(&mut call.keep);
        let depth = task.frames.len() as u32;
        task.rare_mut().conts.push(Cont { depth, native: call.native, keep, then: call.then, abort: None });
        match enter_callee(code, rt, task, call, base) {
            Ok(halt) => return halt,
            Err(Control::Call(next)) => call = next,
            Err(control) => return stop(code, rt, task, control),
        }
    }
}

/// Calls the function of `call` from the trampoline frame at `base`, just
/// set up with its continuation, and keeps `call`'s box for the next call.
fn enter_callee(
    code: &Code,
    rt: &mut Runtime,
    task: &mut Task,
    call: Box<Call>,
    base: usize,
) -> Result<Option<Halt>, Control> {
    let (callee, argc) = (call.callee, call.args.len());
    task.stack[base] = Value::Nil;
    task.stack[base + 1] = callee;
    for (slot, &arg) in task.stack[base + 2..base + 2 + argc].iter_mut().zip(&call.args) {
        *slot = arg;
    }
    rt.spare_call = Some(call);
    call_value(code, rt, task, callee, base + 1, argc, base)?;
    // The loop runs the function's frame, or, if it was a native that
    // returned at once, the trampoline. The call counts against the
    // task's budget as a script's call does, so a native looping over
    // callbacks (`map` over a long list) is preempted, and meets
    // cancellation, as a `for` loop is.
    if crate::task::spend(&mut task.budget, crate::task::CALL_COST) {
        return Ok(Some(Halt::Yield));
    }
    Ok(None)
}

/// A native parks and is to resume after the wait: a trampoline frame
/// stands for it, as for a call (see `call_back`), and what the wake
/// delivers lands in the trampoline's register 0, where the resumed
/// trampoline finds it.
fn park_native(code: &Code, rt: &mut Runtime, task: &mut Task, resumption: crate::native::Resumption) -> Option<Halt> {
    let crate::native::Resumption { keep, then, native, abort } = resumption;
    if let Err(throw) = push_trampoline(code, rt, task, 0) {
        // The wait is registered: end it before the error unwinds.
        let (id, token) = (rt.sched.current, rt.sched.token());
        rt.sched.wake(&mut rt.heap, id, token, crate::sched::Resume::Nothing);
        rt.sched.runq.retain(|&t| t != id);
        return raise(code, rt, task, throw);
    }
    let depth = task.frames.len() as u32;
    task.rare_mut().conts.push(Cont { depth, native, keep, then, abort });
    task.park_slot = task.frames.last().expect("just pushed").base;
    Some(Halt::Park)
}

/// Pushes a trampoline frame above the caller's registers, with room for
/// `args` more values after its two, returning to the native's result
/// slot (`park_slot`). Returns the frame's base.
fn push_trampoline(code: &Code, rt: &mut Runtime, task: &mut Task, args: usize) -> Result<usize, Throw> {
    if task.frames.len() >= rt.max_frames {
        return Err(stack_overflow(rt.max_frames));
    }
    // Above the caller's registers, which its call still uses.
    let base = match task.frames.last() {
        Some(f) => f.base as usize + code.protos[f.proto as usize].regs as usize,
        None => task.stack.len(),
    };
    let top = base + 2 + args;
    if task.stack.len() < top {
        grow(&mut rt.heap, &mut task.stack, top)?;
    }
    let ret = task.park_slot;
    task.frames.push(Frame { proto: crate::code::TRAMPOLINE, closure: None, pc: 0, base: base as u32, ret });
    task.stack[base] = Value::Nil;
    Ok(base)
}

/// The trampoline's instruction: the function a native called has
/// returned into the top frame; pop it and run the native's continuation
/// with the result.
pub(crate) fn resume_native(code: &Code, rt: &mut Runtime, task: &mut Task) -> Option<Halt> {
    resume_native_with(code, rt, task, None)
}

/// [`resume_native`], or, with a finisher (a pool job's), the finisher in
/// place of the continuation's `then`.
///
/// The trampoline frame and its continuation stay in place while the
/// native runs: if it calls again, as a native looping over callbacks
/// does at every step, they are reused for that call, with the new
/// `then` and kept values. Otherwise both are popped before its result
/// is stored or its error raised, as if it had returned from the frame
/// below.
pub(crate) fn resume_native_with(
    code: &Code,
    rt: &mut Runtime,
    task: &mut Task,
    finish: Option<crate::native::Finisher>,
) -> Option<Halt> {
    let depth = task.frames.len();
    let Some(cont) = task.rare.as_mut().and_then(|r| r.conts.last_mut()).filter(|c| c.depth as usize == depth) else {
        task.frames.pop();
        return raise(code, rt, task, Throw::internal("a trampoline frame has no native to resume"));
    };
    let frame = *task.frames.last().expect("the trampoline frame");
    let result = task.stack[frame.base as usize];
    task.park_slot = frame.ret;
    let site = depth.checked_sub(2).map(|below| (task.frames[below].proto, task.frames[below].pc));
    let mut cx = Ctx { rt, code, site, native: cont.native };
    let outcome = match finish {
        Some(finish) => finish(&mut cx, &mut cont.keep),
        None => (cont.then)(&mut cx, result, &mut cont.keep),
    };
    match outcome {
        Err(Control::Call(mut call)) => {
            let base = frame.base as usize;
            let top = base + 2 + call.args.len();
            if task.stack.len() < top {
                if let Err(throw) = grow(&mut rt.heap, &mut task.stack, top) {
                    task.frames.pop();
                    task.rare_mut().conts.pop();
                    return raise(code, rt, task, throw);
                }
            }
            let cont = task.rare_mut().conts.last_mut().expect("kept above");
            cont.keep = std::mem::take(&mut call.keep);
            (cont.then, cont.native, cont.abort) = (call.then, call.native, None);
            task.frames.last_mut().expect("kept above").pc = 0;
            match enter_callee(code, rt, task, call, base) {
                Ok(halt) => halt,
                Err(Control::Call(next)) => call_back(code, rt, task, next),
                Err(control) => stop(code, rt, task, control),
            }
        }
        outcome => {
            task.frames.pop();
            task.rare_mut().conts.pop();
            match outcome {
                Ok(v) => {
                    task.stack[frame.ret as usize] = v;
                    None
                }
                Err(control) => stop(code, rt, task, control),
            }
        }
    }
}

/// Turns a throw into a value with a trace and unwinds to the nearest
/// handler. Returns the halt when nothing catches it.
#[cold]
#[inline(never)]
pub(crate) fn raise(code: &Code, rt: &mut Runtime, task: &mut Task, throw: Throw) -> Option<Halt> {
    let trace = trace_of(code, &rt.globals, task);
    let value = match throw {
        Throw::Cancelled(scope) => {
            let message = if scope.is_some() { "the task was cancelled" } else { "the joined task was cancelled" };
            let e = rt.heap.new_error("Cancelled", message);
            let err = rt.heap.error_mut(e);
            err.trace = trace.clone();
            err.cancellation = Some(scope);
            Value::Error(e)
        }
        Throw::Error { kind, message } => {
            let e = rt.heap.new_error(kind.name(), &message);
            rt.heap.error_mut(e).trace = trace.clone();
            crate::conc::note_spawn_chain(code, rt, e);
            Value::Error(e)
        }
        Throw::Value(v) => {
            if let Value::Error(e) = v {
                let err = rt.heap.error_mut(e);
                if err.trace.is_empty() {
                    err.trace = trace.clone();
                    crate::conc::note_spawn_chain(code, rt, e);
                }
            }
            v
        }
    };
    task.rare_mut().trace = trace;
    let handler = task.pop_handler();
    // Natives suspended in the frames unwound never resume; those that
    // asked are told.
    let kept = handler.map_or(0, |h| h.frames);
    while task.conts().last().is_some_and(|c| c.depth > kept) {
        let Some(mut cont) = task.rare_mut().conts.pop() else { break };
        if let Some(abort) = cont.abort {
            abort(&mut Ctx { rt, code, site: None, native: cont.native }, &mut cont.keep);
        }
    }
    let Some(handler) = handler else { return Some(Halt::Failed(value)) };
    task.frames.truncate(handler.frames as usize);
    task.frames.last_mut().expect("the handler's frame").pc = handler.pc;
    task.stack[handler.slot as usize] = value;
    None
}

/// Frames a trace keeps at its inner and outer ends (as the report shows
/// them); the middle of a deeper stack is summed up in one line, as Lua
/// does. This also keeps an error unwinding through thousands of `finally`
/// blocks from copying the whole stack at every one.
const TRACE_INNER: usize = 10;
const TRACE_OUTER: usize = 11;

/// The current call stack, innermost first, its middle elided when deep.
/// The prelude's frames are left out, as the prelude's own business, but
/// a built-in method that called a function of the script shows as one
/// line naming it, whether it is a native waiting in a trampoline frame
/// or a method written in the prelude: an error in a callback of `map`
/// shows the callback, `list.map (builtin)` and the `map` call. A
/// builtin with no script frame above it (an error of its own, or a
/// native's own wait) adds nothing to the line of its call, and is left
/// out too.
fn trace_of(code: &Code, globals: &[Value], task: &Task) -> Vec<TraceEntry> {
    let frames = &task.frames;
    // Found the first time a prelude frame is met: most traces meet none.
    let methods = std::cell::OnceCell::new();
    // The builtin a frame stands for, if it stands for one.
    let builtin = |i: usize| -> Option<String> {
        let f = &frames[i];
        if f.proto == crate::code::TRAMPOLINE {
            let depth = i as u32 + 1;
            let native = task.conts().iter().rev().find(|c| c.depth == depth).map_or(u32::MAX, |c| c.native);
            return Some(code.native_label(native));
        }
        let closure = f.closure?;
        let methods = methods.get_or_init(|| code.script_methods(globals));
        methods.iter().find(|(r, _)| *r == closure).map(|(_, name)| name.clone())
    };
    let is_script = |i: usize| {
        let proto = frames[i].proto;
        proto != crate::code::TRAMPOLINE && Some(code.protos[proto as usize].file) != code.prelude_file
    };
    let entry = |i: usize| {
        if !is_script(i) {
            if let Some(name) = builtin(i) {
                // A file index no file has: the report prints the text alone.
                return TraceEntry {
                    function: format!("{name} (builtin)").into(),
                    file: u32::MAX,
                    span: Default::default(),
                };
            }
        }
        let f = &frames[i];
        let proto = &code.protos[f.proto as usize];
        let at = (f.pc as usize).saturating_sub(1).min(proto.spans.len().saturating_sub(1));
        TraceEntry {
            function: proto.name.clone(),
            file: proto.file,
            span: proto.spans.get(at).copied().unwrap_or_default(),
        }
    };
    // Frames shown, scanning from `top` down: script frames, and builtins
    // under a script frame.
    let shown_below = |top: usize, mut script_above: bool, limit: usize| {
        let mut shown = Vec::new();
        for i in (0..top).rev() {
            if shown.len() == limit {
                break;
            }
            if is_script(i) {
                script_above = true;
                shown.push(i);
            } else if script_above && builtin(i).is_some() {
                shown.push(i);
            }
        }
        shown
    };
    if frames.len() <= TRACE_INNER + TRACE_OUTER {
        let trace: Vec<TraceEntry> = shown_below(frames.len(), false, usize::MAX).into_iter().map(entry).collect();
        // Code of the prelude's own top level has nothing else to show.
        return if trace.is_empty() { (0..frames.len()).rev().map(entry).collect() } else { trace };
    }
    // Both ends, each found from its own side, so that a deep stack costs
    // only the frames shown. The innermost frame shown is a script's, so
    // every frame below the inner end has one above it.
    let inner = shown_below(frames.len(), false, TRACE_INNER);
    let first_inner = inner.last().copied().unwrap_or(frames.len());
    let script_above = !inner.is_empty();
    let outer: Vec<usize> = (0..first_inner)
        .filter(|&i| is_script(i) || (script_above && builtin(i).is_some()))
        .take(TRACE_OUTER)
        .collect();
    let mut trace: Vec<TraceEntry> = inner.iter().map(|&i| entry(i)).collect();
    let elided = first_inner - outer.last().map_or(0, |&i| i + 1);
    if elided > 0 {
        // A file index no file has: the report prints the function text alone.
        trace.push(TraceEntry {
            function: format!("... {elided} frames elided ...").into(),
            file: u32::MAX,
            span: Default::default(),
        });
    }
    trace.extend(outer.iter().rev().map(|&i| entry(i)));
    trace
}

#[cfg(test)]
mod tests {
    use crate::{Value, Vm};
    use std::path::Path;

    /// Runs a script through the loop's unchecked paths: calls and returns
    /// (register copies, frame pushes, a call of locals), closures, lists,
    /// loops, a handler, and tasks. Also run under Miri (see
    /// docs/architecture.md).
    #[test]
    fn a_script_runs_through_the_unchecked_paths() {
        let script = r#"
fn fib(n) {
    if n < 2 { return n }
    return fib(n - 1) + fib(n - 2)
}
fn counter() {
    let c = 0
    return fn() { c += 1; return c }
}
fn add3(a, b, c) { return a + b + c }
fn sum3(n) {
    let b = 1
    let c = 2
    return add3(n, b, c)
}
let next = counter()
let xs = []
for i in 0..20 { xs = xs + [fib(i % 12) + next()] }
let total = 0
for x in xs { total += x }
try { throw total } catch e { total = e + 1 }
total += sum3(5)
nursery {
    spawn { total += 1000 }
}
throw total
"#;
        let mut vm = Vm::new();
        let result = vm.run_script("miri.weft", script, Path::new("."));
        // A bare VM has no `print`: the script throws its result.
        let expected = 1_000 + 1 + 8 + (0..20).map(|i| fib(i % 12) + i + 1).sum::<i64>();
        match result {
            Err(crate::Failure::Runtime(e)) => assert_eq!(e.message, expected.to_string(), "{}", e.report),
            other => panic!("unexpected result: {other:?}"),
        }
    }

    /// A native that calls back into Weft twice, through the trampoline
    /// frame, with a callback that throws and is caught. Also run under
    /// Miri.
    #[test]
    fn a_native_calls_back_through_the_trampoline() {
        use crate::{Callable, Ctx, NativeResult, Value};
        fn twice(cx: &mut Ctx, f: Callable, x: Value) -> NativeResult {
            cx.call(f, &[x], vec![f.into()], |cx, once, keep| {
                let f = keep[0];
                cx.call(f, &[once], vec![], |_, twice, _| Ok(twice))
            })
        }
        let mut vm = Vm::new();
        vm.register("twice", twice);
        let script =
            "let r = twice(fn(x) { return x * 3 }, 2)\ntry { twice(fn(x) { throw x }, 5) } catch e { r += e }\nthrow r";
        match vm.run_script("miri.weft", script, Path::new(".")) {
            Err(crate::Failure::Runtime(e)) => assert_eq!(e.message, "23", "{}", e.report),
            other => panic!("unexpected result: {other:?}"),
        }
    }

    /// A field instruction's slow path leaves where it found (or put) the
    /// field in its function's hint for the name, and a read elsewhere
    /// moves it.
    #[test]
    fn field_instructions_remember_positions_in_their_function() {
        let mut vm = Vm::new();
        let script = "fn get_b(m) { return m.b }\nfn set_c(m) { m.c = 3 }\n";
        vm.eval("hints.weft", script).expect("defines");
        let hint = |vm: &Vm, function: &str, field: &str| {
            let proto = vm.code.protos.iter().rev().find(|p| &*p.name == function).expect("loaded");
            let at = proto.consts.iter().position(|c| matches!(*c, Value::Str(r) if vm.rt.heap.str(r) == field));
            proto.field(at.expect("a constant") as u16).1
        };
        vm.eval("a.weft", "get_b([\"a\": 1, \"b\": 2])").expect("runs");
        assert_eq!(hint(&vm, "get_b", "b"), 1);
        vm.eval("b.weft", "get_b([\"b\": 1])").expect("runs");
        assert_eq!(hint(&vm, "get_b", "b"), 0);
        vm.eval("c.weft", "set_c([\"a\": 1, \"b\": 2])").expect("runs");
        assert_eq!(hint(&vm, "set_c", "c"), 2);
    }

    fn fib(n: i64) -> i64 {
        if n < 2 {
            n
        } else {
            fib(n - 1) + fib(n - 2)
        }
    }
}
