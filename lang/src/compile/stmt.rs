//! Statements: blocks, `let`, assignment, loops and their exits, `try`,
//! nurseries, cancel scopes, `select`.

use super::*;

impl<'a> Compiler<'_, 'a> {
    pub(super) fn block(&mut self, block: &'a Block) {
        self.func_mut().scopes.push(Vec::new());
        let mark = self.func().next_reg;
        self.block_body(&block.stmts);
        self.free_to(mark);
        self.func_mut().scopes.pop();
    }

    /// An `if` / `else if` chain, compiled in a loop: however long, it is no
    /// deeper than one `if`. `taken` compiles each guarded block; `last`
    /// compiles the final `else` (`None` when the chain has none). The
    /// statement and the value forms differ only in those two.
    pub(super) fn if_chain(
        &mut self,
        chain: &'a Stmt,
        mut taken: impl FnMut(&mut Self, &'a Block),
        mut last: impl FnMut(&mut Self, Option<&'a Stmt>),
    ) {
        let mut link = chain;
        let mut to_end = Vec::new();
        while let Stmt::If { cond, then, otherwise } = link {
            let to_else = self.cond_jump(cond, false);
            taken(self, then);
            let Some(other) = otherwise else {
                last(self, None);
                self.patch_all(to_else);
                break;
            };
            to_end.push(self.emit_jump(Span::default()));
            self.patch_all(to_else);
            if !matches!(**other, Stmt::If { .. }) {
                last(self, Some(other));
            }
            link = other;
        }
        self.patch_all(to_end);
    }

    pub(super) fn block_body(&mut self, stmts: &'a [Stmt]) {
        self.hoist_functions(stmts);
        for stmt in stmts {
            self.stmt(stmt);
        }
    }

    pub(super) fn stmt(&mut self, stmt: &'a Stmt) {
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

    pub(super) fn stmt_inner(&mut self, stmt: &'a Stmt) {
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
            Stmt::LetPattern { pattern, value, .. } => self.let_pattern(pattern, value),
            Stmt::Assign { target, value, .. } if matches!(target.kind, ExprKind::List(_)) => {
                self.assign_list(target, value)
            }
            Stmt::Assign { target, op, value, span } => self.assign(target, *op, value, *span),
            Stmt::Expr(e) => {
                let mark = self.func().next_reg;
                let reg = self.alloc(e.span);
                self.expr(e, reg);
                self.free_to(mark);
            }
            Stmt::If { .. } => self.if_chain(stmt, Self::block, |this, last| {
                if let Some(other) = last {
                    this.stmt(other)
                }
            }),
            Stmt::While { cond, body } if matches!(cond.kind, ExprKind::Bool(true)) => {
                // `while true` tests nothing.
                let start = self.here();
                self.enter_loop();
                self.block(body);
                let lp = self.leave_loop();
                self.patch_all_to(lp.continues, start);
                self.emit_loop(start, cond.span);
                self.patch_all(lp.breaks);
            }
            Stmt::While { cond, body } => {
                // Rotated: the test is at the bottom, and its taken jump is
                // the back edge, so an iteration runs one jump, not two.
                let entry = self.emit_jump(cond.span);
                let start = self.here();
                self.enter_loop();
                self.block(body);
                let lp = self.leave_loop();
                let test = self.here();
                self.patch_to(entry, test);
                self.patch_all_to(lp.continues, test);
                let back = self.cond_jump(cond, true);
                self.patch_all_to(back, start);
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

    pub(super) fn assign(&mut self, target: &'a Expr, op: Option<BinOp>, value: &'a Expr, span: Span) {
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

    pub(super) fn for_loop(
        &mut self,
        first: &'a Pattern,
        second: Option<&'a Pattern>,
        iter: &'a Expr,
        body: &'a Block,
    ) {
        self.func_mut().scopes.push(Vec::new());
        let mark = self.func().next_reg;
        let counted = matches!(&iter.kind, ExprKind::Range { .. }) && second.is_none();
        let (start, exit_jump);
        if let (true, ExprKind::Range { start: lo, end: hi, inclusive }, Pattern::Name(first)) =
            (counted, &iter.kind, first)
        {
            // A counted loop over a range literal: no range object, no iterator.
            let i = self.alloc(iter.span);
            let end = self.alloc(iter.span);
            self.expr(lo, i);
            self.expr(hi, end);
            self.emit(Op::ForPrep { a: i }, iter.span);
            // The test on entry only; `ForLoop` steps, tests and jumps back.
            exit_jump = self.code_len();
            if *inclusive {
                self.emit(Op::JumpIfNotLe { a: i, b: end, offset: 0 }, iter.span);
            } else {
                self.emit(Op::JumpIfNotLt { a: i, b: end, offset: 0 }, iter.span);
            }
            start = self.here();
            // A variable the body never assigns (nor captures) is the
            // counter itself: nothing but `ForLoop` can change it.
            let mut assigned = HashSet::default();
            assigned_names_block(body, &mut assigned);
            if assigned.contains(&first.name) || self.func().captured.contains(&first.name) {
                let var = self.alloc(first.span);
                self.emit(Op::Move { dst: var, src: i }, first.span);
                self.bind_loop_var(first, var);
            } else {
                self.declare_local(&first.name, i, false);
            }
            self.enter_loop();
            self.block(body);
            let lp = self.leave_loop();
            let step = self.here();
            self.patch_all_to(lp.continues, step);
            let offset = start as i32 - (self.code_len() as i32 + 1);
            self.emit(Op::ForLoop { a: i, inclusive: *inclusive, offset }, iter.span);
            self.patch(exit_jump);
            self.patch_all(lp.breaks);
        } else {
            let base = self.alloc(iter.span);
            let _cursor = self.alloc(iter.span);
            let _count = self.alloc(iter.span);
            self.expr(iter, base);
            self.emit(Op::IterPrep { base }, iter.span);
            start = self.here();
            let dst = self.alloc(first.span());
            if second.is_some() {
                self.alloc(first.span());
            }
            exit_jump = self.code_len();
            self.emit(Op::IterNext { base, dst, pair: second.is_some(), offset: 0 }, iter.span);
            self.bind_loop_pattern(first, dst);
            if let Some(second) = second {
                self.bind_loop_pattern(second, dst + 1);
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
    pub(super) fn bind_loop_var(&mut self, ident: &Ident, reg: Reg) {
        let celled = self.func().captured.contains(&ident.name);
        if celled {
            self.emit(Op::NewCell { reg }, ident.span);
        }
        self.declare_local(&ident.name, reg, celled);
    }

    pub(super) fn try_stmt(
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
    pub(super) fn with_nursery(&mut self, name: Option<&Ident>, span: Span, body: impl FnOnce(&mut Self)) {
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
    pub(super) fn guarded_scope(&mut self, body: &'a Block, span: Span) {
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

    pub(super) fn select(&mut self, cases: &'a [SelectCase], span: Span) {
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
    pub(super) fn unwind_exits(&mut self, keep: usize) {
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

    pub(super) fn enter_loop(&mut self) {
        let exits = self.func().exits.len();
        self.func_mut().loops.push(Loop { breaks: Vec::new(), continues: Vec::new(), exits });
    }

    pub(super) fn leave_loop(&mut self) -> Loop {
        self.func_mut().loops.pop().expect("in a loop")
    }
}
