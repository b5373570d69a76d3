//! Destructuring and `if` as a value: `let [a, b] = pair`, `[a, b] = [b, a]`,
//! `for [k, v] in m.items()`, `let x = if c { 1 } else { 2 }`. Both compile
//! to ordinary instructions plus `Unpack`, which checks a list's length and
//! spreads its items over a run of registers.

use super::*;

/// The most names one list pattern may hold (an `Unpack` count is a byte).
const MAX_PATTERN: usize = 200;

impl<'a> Compiler<'_, 'a> {
    /// `let [a, [b, c]] = value`: the value is evaluated before any name is
    /// declared, so `let [a, b] = [b, a]` reads the outer `a` and `b`.
    pub(super) fn let_pattern(&mut self, pattern: &'a Pattern, value: &'a Expr) {
        let top = self.at_top_level();
        let mark = self.func().next_reg;
        let src = self.expr_any(value);
        let mut binds = Vec::new();
        self.unpack(pattern, src, &mut binds);
        self.check_duplicates(&binds);
        let mut any_local = false;
        for (ident, reg) in binds {
            match self.scope.get(&ident.name).filter(|_| top) {
                Some(slot) => self.emit(Op::SetGlobal { src: reg, slot }, ident.span),
                None => {
                    any_local = true;
                    let celled = self.func().captured.contains(&ident.name);
                    if celled {
                        self.emit(Op::NewCell { reg }, ident.span);
                    }
                    self.declare_local(&ident.name, reg, celled);
                }
            }
        }
        if !any_local {
            self.free_to(mark);
        }
    }

    /// Spreads the list in `src` over new registers as `pattern` says, and
    /// collects each name with the register holding its value.
    fn unpack(&mut self, pattern: &'a Pattern, src: Reg, binds: &mut Vec<(&'a Ident, Reg)>) {
        match pattern {
            Pattern::Name(ident) => binds.push((ident, src)),
            Pattern::List(items, span) => {
                if items.len() > MAX_PATTERN {
                    self.error(
                        Diagnostic::new("too many names in one pattern", *span)
                            .with_label(format!("a list pattern holds at most {MAX_PATTERN}")),
                    );
                    return;
                }
                let start = self.func().next_reg as Reg;
                for item in items {
                    self.alloc(item.span());
                }
                self.emit(Op::Unpack { start, count: items.len() as u8, src }, *span);
                for (i, item) in items.iter().enumerate() {
                    self.unpack(item, start + i as Reg, binds);
                }
            }
        }
    }

    fn check_duplicates(&mut self, binds: &[(&Ident, Reg)]) {
        let mut seen = HashSet::default();
        for (ident, _) in binds {
            if !seen.insert(ident.name.as_str()) {
                self.error(
                    Diagnostic::new(format!("'{}' is bound twice in this pattern", ident.name), ident.span)
                        .with_label("a second binding of the same name"),
                );
            }
        }
    }

    /// Binds a `for` loop's pattern to the item in `reg`; every name gets a
    /// fresh binding on each iteration.
    pub(super) fn bind_loop_pattern(&mut self, pattern: &'a Pattern, reg: Reg) {
        let mut binds = Vec::new();
        self.unpack(pattern, reg, &mut binds);
        self.check_duplicates(&binds);
        for (ident, reg) in binds {
            self.bind_loop_var(ident, reg);
        }
    }

    /// `[a, xs[i], m.f] = value`: the value first, then each target from
    /// left to right, as Python does.
    pub(super) fn assign_list(&mut self, target: &'a Expr, value: &'a Expr) {
        let mark = self.func().next_reg;
        let src = self.expr_any(value);
        self.assign_from(target, src);
        self.free_to(mark);
    }

    /// Stores register `src` into an assignment target.
    fn assign_from(&mut self, target: &'a Expr, src: Reg) {
        let mark = self.func().next_reg;
        match &target.kind {
            ExprKind::Name(ident) => {
                if let Some(place) = self.resolve(ident) {
                    self.store(place, src, target.span);
                }
            }
            ExprKind::Index(obj, index) => {
                let o = self.expr_any(obj);
                let i = self.expr_any(index);
                self.emit(Op::SetIndex { obj: o, index: i, src }, target.span);
            }
            ExprKind::Field(obj, name) => {
                let o = self.expr_any(obj);
                let k = self.name_constant(&name.name, name.span);
                self.emit(Op::SetField { obj: o, name: k, src }, target.span);
            }
            ExprKind::List(items) => {
                if items.len() > MAX_PATTERN {
                    self.error(
                        Diagnostic::new("too many targets in one assignment", target.span)
                            .with_label(format!("a list of targets holds at most {MAX_PATTERN}")),
                    );
                    return;
                }
                let start = self.func().next_reg as Reg;
                for item in items {
                    self.alloc(item.span);
                }
                self.emit(Op::Unpack { start, count: items.len() as u8, src }, target.span);
                for (i, item) in items.iter().enumerate() {
                    self.assign_from(item, start + i as Reg);
                }
            }
            _ => unreachable!("the grammar only builds assignments to names, indexes, fields and lists of them"),
        }
        self.free_to(mark);
    }

    /// An `if` used as a value: the taken block's last expression goes to
    /// `dst`. Every link of the chain needs its `else`.
    pub(super) fn if_value(&mut self, stmt: &'a Stmt, dst: Reg, span: Span) {
        let taken = |this: &mut Self, block: &'a Block| this.value_block(block, dst);
        self.if_chain(stmt, taken, |this, last| match last {
            None => this.error(
                Diagnostic::new("an `if` used as a value needs an `else`", span)
                    .with_label("this `if` gives no value when its condition is false")
                    .with_hint("add `else { ... }` with the value to use otherwise"),
            ),
            Some(Stmt::Block(block)) => this.value_block(block, dst),
            Some(other) => {
                this.stmt(other);
                this.emit(Op::Nil { dst }, span);
            }
        });
    }

    /// A block whose last expression is its value (nil if it ends with
    /// anything but an expression).
    fn value_block(&mut self, block: &'a Block, dst: Reg) {
        self.func_mut().scopes.push(Vec::new());
        let mark = self.func().next_reg;
        self.hoist_functions(&block.stmts);
        let (last, rest) = match block.stmts.split_last() {
            Some((last, rest)) => (Some(last), rest),
            None => (None, &block.stmts[..]),
        };
        for stmt in rest {
            self.stmt(stmt);
        }
        match last {
            Some(Stmt::Expr(e)) => self.expr(e, dst),
            // An `if` ending the block was unwrapped into a statement by the
            // grammar; with every `else` present it is the block's value.
            Some(s @ Stmt::If { .. }) if has_every_else(s) => self.if_value(s, dst, stmt_span(s)),
            Some(s) => {
                self.stmt(s);
                self.emit(Op::Nil { dst }, block.span);
            }
            None => self.emit(Op::Nil { dst }, block.span),
        }
        self.free_to(mark);
        self.func_mut().scopes.pop();
    }
}

/// Whether an `if` chain ends in a plain `else`.
fn has_every_else(stmt: &Stmt) -> bool {
    let mut s = stmt;
    loop {
        match s {
            Stmt::If { otherwise: Some(o), .. } => s = o,
            Stmt::If { otherwise: None, .. } => return false,
            _ => return true,
        }
    }
}
