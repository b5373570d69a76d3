//! Expressions: operators (long chains compiled iteratively), calls,
//! literals, conditions compiled to jumps.

use super::*;

impl<'a> Compiler<'_, 'a> {
    /// Compiles `e` into register `dst`.
    pub(super) fn expr(&mut self, e: &'a Expr, dst: Reg) {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.depth -= 1;
            self.error(Diagnostic::new("nesting too deep", e.span).with_label("this expression is nested too deeply"));
            return;
        }
        self.expr_inner(e, dst);
        self.depth -= 1;
    }

    pub(super) fn expr_inner(&mut self, e: &'a Expr, dst: Reg) {
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
                self.check_call(f, args.len(), span);
                if !self.call_regs(f, args, dst, span) {
                    self.call(f, args, dst, span);
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
                // `xs.push(x)` reads a local receiver in its own register,
                // unless the argument may assign it before the call.
                let builtin_on_local = match spine[..] {
                    [(name, args, _)] => {
                        BuiltinMethod::for_call(&name.name, args.len()).is_some() && !may_assign_locals(&args[0])
                    }
                    _ => false,
                };
                let mut obj_reg = match self.local_reg(obj) {
                    Some(r) if builtin_on_local => r,
                    _ => {
                        self.expr(obj, recv);
                        recv
                    }
                };
                while let Some((name, args, span)) = spine.pop() {
                    let mark = self.func().next_reg;
                    let builtin = BuiltinMethod::for_call(&name.name, args.len());
                    let name = self.method_name(&name.name, name.span);
                    match builtin {
                        Some(method) => {
                            // The register after the receiver's is kept
                            // for the argument's copy all the same.
                            let slot = self.alloc(args[0].span);
                            let arg = match self.local_reg(&args[0]) {
                                Some(r) => r,
                                None => {
                                    self.expr(&args[0], slot);
                                    slot
                                }
                            };
                            let op = match method {
                                BuiltinMethod::Push => Op::CallPush { base, obj: obj_reg, arg, name },
                                BuiltinMethod::Remove => Op::CallRemove { base, obj: obj_reg, arg, name },
                            };
                            self.emit(op, span)
                        }
                        None => {
                            self.args(args, span);
                            self.emit(Op::CallMethod { base, argc: args.len() as u8, name }, span)
                        }
                    }
                    self.free_to(mark);
                    if !spine.is_empty() {
                        self.emit(Op::Move { dst: recv, src: base }, span);
                        obj_reg = recv;
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
            ExprKind::If(stmt) => self.if_value(stmt, dst, span),
            ExprKind::Spawn(inner) => {
                let Some(&nursery) = self.func().nurseries.last() else {
                    self.error(Diagnostic::new("'spawn' outside a nursery", span));
                    return;
                };
                let base = self.call_base(dst);
                let argc = match &inner.kind {
                    ExprKind::Call(f, args) => {
                        self.check_call(f, args.len(), inner.span);
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
    pub(super) fn binary_chain(&mut self, e: &'a Expr, dst: Reg) {
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
    pub(super) fn binary_operand(&mut self, op: BinOp, dst: Reg, ra: Reg, b: &'a Expr, span: Span) {
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
    pub(super) fn args(&mut self, args: &'a [Expr], span: Span) {
        if args.len() > 200 {
            self.error(Diagnostic::new("too many arguments", span).with_label("a call takes at most 200"));
            return;
        }
        for a in args {
            let r = self.alloc(a.span);
            self.expr(a, r);
        }
    }

    /// The builtin a call with `args` reaches through a global, if
    /// that call has an instruction of its own (see [`Builtin`]): a name
    /// that no local, capture or script global of the same name hides is
    /// still checked at run time, as a script may assign the global.
    fn builtin_callee(&mut self, callee: &Expr, args: &[Expr]) -> Option<(Builtin, u32)> {
        let ExprKind::Name(ident) = &callee.kind else { return None };
        let builtin = Builtin::for_call(&ident.name, args.len())?;
        Some((builtin, self.global_callee(callee, args)?))
    }

    /// The global slot a call of `callee` with `args` may read after its
    /// arguments (`CallGlobal`, a builtin's instruction): a name that is a
    /// global, not hidden by a local or capture, called with arguments that
    /// run no code.
    fn global_callee(&mut self, callee: &Expr, args: &[Expr]) -> Option<u32> {
        let ExprKind::Name(ident) = &callee.kind else { return None };
        // The ordinary call reads the global before the arguments: only
        // arguments that cannot assign it may be reordered so.
        if !args.iter().all(runs_no_code) {
            return None;
        }
        let depth = self.funcs.len() - 1;
        if self.resolve_in(depth, &ident.name).is_some() {
            return None;
        }
        self.scope.get(&ident.name).or_else(|| self.env.builtin(&ident.name))
    }

    /// Compiles `f(args)` the ordinary way: the function and its arguments
    /// in a run of registers at the top of the frame, then `Call` (or a
    /// builtin's own instruction).
    fn call(&mut self, f: &'a Expr, args: &'a [Expr], dst: Reg, span: Span) {
        let builtin = self.builtin_callee(f, args);
        if let Some((builtin, slot)) = builtin {
            return self.builtin_call(builtin, slot, args, dst, span);
        }
        let base = self.call_base(dst);
        match self.global_callee(f, args) {
            Some(slot) => {
                self.args(args, span);
                self.emit(Op::CallGlobal { base, argc: args.len() as u8, slot }, span);
            }
            None => {
                self.expr(f, base);
                self.args(args, span);
                self.emit(Op::Call { base, argc: args.len() as u8 }, span);
            }
        }
        if base != dst {
            self.emit(Op::Move { dst, src: base }, span);
        }
    }

    /// Compiles a call of a builtin with an instruction of its own, which
    /// reads each argument where it is: a plain local in its own register,
    /// anything else in a temporary.
    fn builtin_call(&mut self, builtin: Builtin, slot: u32, args: &'a [Expr], dst: Reg, span: Span) {
        let mut regs = [0; 2];
        for (reg, arg) in regs.iter_mut().zip(args) {
            *reg = self.expr_any(arg);
        }
        if args.len() == 1 {
            regs[1] = regs[0];
        }
        self.emit(builtin.op(dst, regs, slot), span);
    }

    /// Compiles `f(x, y)` whose arguments are one to three plain locals as
    /// one `CallRegs`, which reads them where they are instead of moving
    /// each next to the function, and returns true; otherwise emits nothing
    /// and returns false. A builtin with an instruction of its own (`len`,
    /// `sqrt`, ...) keeps that instruction.
    fn call_regs(&mut self, f: &'a Expr, args: &[Expr], dst: Reg, span: Span) -> bool {
        let argc = args.len();
        if !(1..=3).contains(&argc) {
            return false;
        }
        let mut regs = [0; 3];
        for (reg, arg) in regs.iter_mut().zip(args) {
            match self.local_reg(arg) {
                Some(r) => *reg = r,
                None => return false,
            }
        }
        if self.builtin_callee(f, args).is_some() {
            return false;
        }
        let func = self.expr_any(f);
        // The registers past `argc` are not read; they repeat the first.
        let [a, b, c] = [regs[0], regs[if argc > 1 { 1 } else { 0 }], regs[if argc > 2 { 2 } else { 0 }]];
        self.emit(Op::CallRegs { dst, func, argc: argc as u8, a, b, c }, span);
        true
    }

    /// A register at the top of the frame to call from: `dst` itself when it
    /// is already the topmost, saving a move.
    pub(super) fn call_base(&mut self, dst: Reg) -> Reg {
        if dst as usize + 1 == self.func().next_reg {
            dst
        } else {
            self.alloc(Span::default())
        }
    }

    /// The register of a plain (uncaptured) local named by `e`, if it is one.
    pub(super) fn local_reg(&mut self, e: &Expr) -> Option<Reg> {
        match &e.kind {
            ExprKind::Name(ident) => match self.lookup_local(&ident.name) {
                Some(Place::Reg(reg)) => Some(reg),
                _ => None,
            },
            _ => None,
        }
    }

    /// The register holding `e`: a local's own register, or a new temporary.
    pub(super) fn expr_any(&mut self, e: &'a Expr) -> Reg {
        if let Some(reg) = self.local_reg(e) {
            return reg;
        }
        let r = self.alloc(e.span);
        self.expr(e, r);
        r
    }

    pub(super) fn binary(&mut self, op: BinOp, dst: Reg, a: Reg, b: Reg, span: Span) {
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
    pub(super) fn cond_jump(&mut self, cond: &'a Expr, when: bool) -> Vec<usize> {
        let mark = self.func().next_reg;
        let span = cond.span;
        let jumps = match (&cond.kind, when) {
            (
                ExprKind::Binary(op @ (BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne), a, b),
                when,
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
                    let op = match (less_than, when) {
                        (true, false) => Op::JumpIfNotLtI { a: rx, imm, offset: 0 },
                        (false, false) => Op::JumpIfNotGtI { a: rx, imm, offset: 0 },
                        (true, true) => Op::JumpIfLtI { a: rx, imm, offset: 0 },
                        (false, true) => Op::JumpIfGtI { a: rx, imm, offset: 0 },
                    };
                    self.emit(op, span);
                    self.free_to(mark);
                    return vec![at];
                }
                let ra = self.expr_any(a);
                let rb = self.expr_any(b);
                let at = self.code_len();
                // `a > b` is `b < a`, `a >= b` is `b <= a` and `a != b` is
                // `a == b` in the other sense: three tests, each jumping when
                // it fails (an `if`) or when it holds (the test at the bottom
                // of a loop).
                let (test, a, b, when) = match *op {
                    BinOp::Gt => (BinOp::Lt, rb, ra, when),
                    BinOp::Ge => (BinOp::Le, rb, ra, when),
                    BinOp::Ne => (BinOp::Eq, ra, rb, !when),
                    test => (test, ra, rb, when),
                };
                let op = match (test, when) {
                    (BinOp::Lt, false) => Op::JumpIfNotLt { a, b, offset: 0 },
                    (BinOp::Lt, true) => Op::JumpIfLt { a, b, offset: 0 },
                    (BinOp::Le, false) => Op::JumpIfNotLe { a, b, offset: 0 },
                    (BinOp::Le, true) => Op::JumpIfLe { a, b, offset: 0 },
                    (_, false) => Op::JumpIfNotEq { a, b, offset: 0 },
                    (_, true) => Op::JumpIfEq { a, b, offset: 0 },
                };
                self.emit(op, span);
                vec![at]
            }
            (ExprKind::Not(_), _) => {
                // `not not ... x` flips the sense once per `not`: stripped
                // in a loop, as such a chain may be longer than the stack.
                let (mut inner, mut when) = (cond, when);
                while let ExprKind::Not(x) = &inner.kind {
                    inner = x;
                    when = !when;
                }
                self.free_to(mark);
                return self.cond_jump(inner, when);
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
            // `a and b` jumps when both hold: past the jump if `a` does
            // not, else when `b` does (and `a or b` the other way round).
            (ExprKind::And(a, b), true) | (ExprKind::Or(a, b), false) => {
                let skip = self.cond_jump(a, !when);
                let jumps = self.cond_jump(b, when);
                self.patch_all(skip);
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

    pub(super) fn int(&mut self, n: i64, dst: Reg, span: Span) {
        match i32::try_from(n) {
            Ok(value) => self.emit(Op::Int { dst, value }, span),
            Err(_) => {
                let k = self.constant(Const::Int(n), span);
                self.emit(Op::Const { dst, index: k }, span);
            }
        }
    }
}

/// Whether evaluating `e` runs no function, so cannot assign a global:
/// names, literals, operators, fields and items.
fn runs_no_code(e: &Expr) -> bool {
    let mut todo = vec![Node::Expr(e)];
    while let Some(node) = todo.pop() {
        let Node::Expr(e) = node else { return false };
        match &e.kind {
            ExprKind::Nil
            | ExprKind::Bool(_)
            | ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_)
            | ExprKind::Name(_)
            | ExprKind::Neg(_)
            | ExprKind::Not(_)
            | ExprKind::Field(..)
            | ExprKind::Binary(..)
            | ExprKind::And(..)
            | ExprKind::Or(..)
            | ExprKind::Index(..)
            | ExprKind::List(_)
            | ExprKind::Map(_) => node.children(|n| todo.push(n)),
            _ => return false,
        }
    }
    true
}
