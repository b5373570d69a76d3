//! Questions asked of the syntax tree before or while compiling it: where a
//! name lives, small constants, which blocks spawn (implicit nurseries),
//! which locals nested functions capture.

use super::*;

/// The most variables one function captures (a capture index is a byte).
pub(super) const MAX_CAPTURES: usize = 250;

pub(super) fn lookup_in(func: &Func, name: &str) -> Option<Place> {
    for scope in func.scopes.iter().rev() {
        if let Some(local) = scope.iter().rev().find(|l| l.name == name) {
            return Some(if local.celled { Place::Cell(local.reg) } else { Place::Reg(local.reg) });
        }
    }
    None
}

pub(super) fn small_int(e: &Expr) -> Option<i16> {
    match e.kind {
        ExprKind::Int(n) => i16::try_from(n).ok(),
        _ => None,
    }
}

/// Whether compiling `e` straight into a local's register is safe: the
/// register is written only once, after every operand has been read.
pub(super) fn writes_result_last(e: &Expr) -> bool {
    !matches!(
        e.kind,
        ExprKind::And(..)
            | ExprKind::Or(..)
            | ExprKind::List(..)
            | ExprKind::Map(..)
            | ExprKind::Call(..)
            | ExprKind::Method(..)
            | ExprKind::If(..)
    )
}

pub(super) fn stmt_span(stmt: &Stmt) -> Span {
    match stmt {
        Stmt::Let { name, .. } => name.span,
        Stmt::LetPattern { span, .. } => *span,
        Stmt::Assign { span, .. } => *span,
        Stmt::Expr(e) => e.span,
        Stmt::If { cond, .. } | Stmt::While { cond, .. } => cond.span,
        Stmt::For { first, .. } => first.span(),
        Stmt::Break(s) | Stmt::Continue(s) | Stmt::Return(_, s) | Stmt::Throw(_, s) => *s,
        Stmt::Fn(def) => def.span,
        Stmt::Block(b) => b.span,
        Stmt::Import { span, .. }
        | Stmt::Try { span, .. }
        | Stmt::Nursery { span, .. }
        | Stmt::Timeout { span, .. }
        | Stmt::Shield { span, .. }
        | Stmt::Select { span, .. } => *span,
    }
}

// ----- implicit nurseries ----------------------------------------------------
//
// A function whose body has a plain `spawn` outside any `nursery` block gets
// a nursery of its own around its body. These walk one function's code: not
// into nested functions, nor into explicit nursery blocks.

pub(super) fn spawns_block(b: &Block) -> bool {
    b.stmts.iter().any(spawns_stmt)
}

pub(super) fn spawns_stmt(s: &Stmt) -> bool {
    match s {
        Stmt::Let { value, .. } => value.as_ref().is_some_and(spawns_expr),
        Stmt::LetPattern { value, .. } => spawns_expr(value),
        Stmt::Assign { target, value, .. } => spawns_expr(target) || spawns_expr(value),
        Stmt::Expr(e) | Stmt::Throw(e, _) => spawns_expr(e),
        Stmt::Return(v, _) => v.as_ref().is_some_and(spawns_expr),
        Stmt::If { cond, then, otherwise } => {
            spawns_expr(cond) || spawns_block(then) || otherwise.as_deref().is_some_and(spawns_stmt)
        }
        Stmt::While { cond, body } => spawns_expr(cond) || spawns_block(body),
        Stmt::For { iter, body, .. } => spawns_expr(iter) || spawns_block(body),
        Stmt::Try { body, catch, finally, .. } => {
            spawns_block(body)
                || catch.as_ref().is_some_and(|(_, c)| spawns_block(c))
                || finally.as_ref().is_some_and(spawns_block)
        }
        Stmt::Block(b) | Stmt::Shield { body: b, .. } => spawns_block(b),
        Stmt::Timeout { seconds, body, .. } => spawns_expr(seconds) || spawns_block(body),
        Stmt::Select { cases, .. } => cases.iter().any(|c| match c {
            SelectCase::Recv { chan, body, .. } => spawns_expr(chan) || spawns_block(body),
            SelectCase::Send { chan, value, body } => spawns_expr(chan) || spawns_expr(value) || spawns_block(body),
            SelectCase::Join { task, body, .. } => spawns_expr(task) || spawns_block(body),
            SelectCase::After { seconds, body } => spawns_expr(seconds) || spawns_block(body),
            SelectCase::Default { body, .. } => spawns_block(body),
        }),
        Stmt::Nursery { .. } | Stmt::Fn(_) | Stmt::Break(_) | Stmt::Continue(_) | Stmt::Import { .. } => false,
    }
}

pub(super) fn spawns_expr(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Spawn(_) => true,
        ExprKind::If(s) => spawns_stmt(s),
        ExprKind::Func(_) => false,
        ExprKind::Interp(xs) | ExprKind::List(xs) => xs.iter().any(spawns_expr),
        ExprKind::Map(kvs) => kvs.iter().any(|(k, v)| spawns_expr(k) || spawns_expr(v)),
        ExprKind::Neg(x) | ExprKind::Not(x) | ExprKind::Field(x, _) => spawns_expr(x),
        ExprKind::Binary(_, a, b) | ExprKind::And(a, b) | ExprKind::Or(a, b) | ExprKind::Index(a, b) => {
            spawns_expr(a) || spawns_expr(b)
        }
        ExprKind::Range { start, end, .. } => spawns_expr(start) || spawns_expr(end),
        ExprKind::Call(f, args) | ExprKind::Method(f, _, args) => spawns_expr(f) || args.iter().any(spawns_expr),
        ExprKind::Nil
        | ExprKind::Bool(_)
        | ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Str(_)
        | ExprKind::Name(_) => false,
    }
}

// ----- capture analysis ------------------------------------------------------
//
// `nested_names_*` collect the names used inside functions nested in the one
// being compiled (`inside` is true once within such a function). A local of
// the same name is then kept in a cell. Shadowing can make this
// over-approximate, which costs a cell but never correctness.

pub(super) fn nested_names_block(b: &Block, inside: bool, out: &mut HashSet<String>) {
    for s in &b.stmts {
        nested_names_stmt(s, inside, out);
    }
}

pub(super) fn nested_names_stmt(s: &Stmt, inside: bool, out: &mut HashSet<String>) {
    let name = |i: &Ident, out: &mut HashSet<String>| {
        if inside {
            out.insert(i.name.clone());
        }
    };
    match s {
        Stmt::Let { value, .. } => {
            if let Some(v) = value {
                nested_names_expr(v, inside, out)
            }
        }
        Stmt::LetPattern { value, .. } => nested_names_expr(value, inside, out),
        Stmt::Assign { target, value, .. } => {
            nested_names_expr(target, inside, out);
            nested_names_expr(value, inside, out);
        }
        Stmt::Expr(e) | Stmt::Throw(e, _) => nested_names_expr(e, inside, out),
        Stmt::If { cond, then, otherwise } => {
            nested_names_expr(cond, inside, out);
            nested_names_block(then, inside, out);
            if let Some(o) = otherwise {
                nested_names_stmt(o, inside, out);
            }
        }
        Stmt::While { cond, body } => {
            nested_names_expr(cond, inside, out);
            nested_names_block(body, inside, out);
        }
        Stmt::For { iter, body, .. } => {
            nested_names_expr(iter, inside, out);
            nested_names_block(body, inside, out);
        }
        Stmt::Return(v, _) => {
            if let Some(v) = v {
                nested_names_expr(v, inside, out)
            }
        }
        Stmt::Fn(def) => {
            // A named local function refers to itself through its own name.
            if let Some(n) = &def.name {
                name(n, out);
            }
            nested_names_fn(def, out);
        }
        Stmt::Try { body, catch, finally, .. } => {
            nested_names_block(body, inside, out);
            if let Some((_, c)) = catch {
                nested_names_block(c, inside, out);
            }
            if let Some(f) = finally {
                nested_names_block(f, inside, out);
            }
        }
        Stmt::Block(b) | Stmt::Nursery { body: b, .. } | Stmt::Shield { body: b, .. } => {
            nested_names_block(b, inside, out)
        }
        Stmt::Timeout { seconds, body, .. } => {
            nested_names_expr(seconds, inside, out);
            nested_names_block(body, inside, out);
        }
        Stmt::Select { cases, .. } => {
            for c in cases {
                match c {
                    SelectCase::Recv { chan, body, .. } => {
                        nested_names_expr(chan, inside, out);
                        nested_names_block(body, inside, out);
                    }
                    SelectCase::Send { chan, value, body } => {
                        nested_names_expr(chan, inside, out);
                        nested_names_expr(value, inside, out);
                        nested_names_block(body, inside, out);
                    }
                    SelectCase::Join { task, body, .. } => {
                        nested_names_expr(task, inside, out);
                        nested_names_block(body, inside, out);
                    }
                    SelectCase::After { seconds, body } => {
                        nested_names_expr(seconds, inside, out);
                        nested_names_block(body, inside, out);
                    }
                    SelectCase::Default { body, .. } => nested_names_block(body, inside, out),
                }
            }
        }
        Stmt::Break(_) | Stmt::Continue(_) | Stmt::Import { .. } => {}
    }
}

pub(super) fn nested_names_fn(def: &FnDef, out: &mut HashSet<String>) {
    match &def.body {
        FnBody::Block(b) => nested_names_block(b, true, out),
        FnBody::Expr(e) => nested_names_expr(e, true, out),
    }
}

pub(super) fn nested_names_expr(e: &Expr, inside: bool, out: &mut HashSet<String>) {
    match &e.kind {
        ExprKind::Name(i) => {
            if inside {
                out.insert(i.name.clone());
            }
        }
        ExprKind::Func(def) => nested_names_fn(def, out),
        ExprKind::If(s) => nested_names_stmt(s, inside, out),
        ExprKind::Interp(xs) | ExprKind::List(xs) => xs.iter().for_each(|x| nested_names_expr(x, inside, out)),
        ExprKind::Map(kvs) => {
            for (k, v) in kvs {
                nested_names_expr(k, inside, out);
                nested_names_expr(v, inside, out);
            }
        }
        ExprKind::Neg(x) | ExprKind::Not(x) | ExprKind::Spawn(x) | ExprKind::Field(x, _) => {
            nested_names_expr(x, inside, out)
        }
        ExprKind::Binary(_, a, b) | ExprKind::And(a, b) | ExprKind::Or(a, b) | ExprKind::Index(a, b) => {
            nested_names_expr(a, inside, out);
            nested_names_expr(b, inside, out);
        }
        ExprKind::Range { start, end, .. } => {
            nested_names_expr(start, inside, out);
            nested_names_expr(end, inside, out);
        }
        ExprKind::Call(f, args) | ExprKind::Method(f, _, args) => {
            nested_names_expr(f, inside, out);
            args.iter().for_each(|a| nested_names_expr(a, inside, out));
        }
        ExprKind::Nil | ExprKind::Bool(_) | ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) => {}
    }
}

// ----- assigned names ----------------------------------------------------------
//
// The names some assignment anywhere in a file writes: a function whose name
// is among them may hold another value when called, so its arity is not
// checked at compile time. Shadowing makes this over-approximate, which
// only skips a check.

pub(super) fn assigned_names_block(b: &Block, out: &mut HashSet<String>) {
    b.stmts.iter().for_each(|s| assigned_names_stmt(s, out));
}

pub(super) fn assigned_names_stmt(s: &Stmt, out: &mut HashSet<String>) {
    match s {
        Stmt::Let { value, .. } => value.iter().for_each(|v| assigned_names_expr(v, out)),
        Stmt::LetPattern { value, .. } => assigned_names_expr(value, out),
        Stmt::Assign { target, value, .. } => {
            assigned_targets(target, out);
            assigned_names_expr(target, out);
            assigned_names_expr(value, out);
        }
        Stmt::Expr(e) | Stmt::Throw(e, _) => assigned_names_expr(e, out),
        Stmt::Return(v, _) => v.iter().for_each(|v| assigned_names_expr(v, out)),
        Stmt::If { cond, then, otherwise } => {
            assigned_names_expr(cond, out);
            assigned_names_block(then, out);
            otherwise.iter().for_each(|o| assigned_names_stmt(o, out));
        }
        Stmt::While { cond: e, body } | Stmt::For { iter: e, body, .. } | Stmt::Timeout { seconds: e, body, .. } => {
            assigned_names_expr(e, out);
            assigned_names_block(body, out);
        }
        Stmt::Fn(def) => assigned_names_fn(def, out),
        Stmt::Try { body, catch, finally, .. } => {
            assigned_names_block(body, out);
            catch.iter().for_each(|(_, c)| assigned_names_block(c, out));
            finally.iter().for_each(|f| assigned_names_block(f, out));
        }
        Stmt::Block(b) | Stmt::Nursery { body: b, .. } | Stmt::Shield { body: b, .. } => assigned_names_block(b, out),
        Stmt::Select { cases, .. } => {
            for c in cases {
                match c {
                    SelectCase::Recv { chan: e, body, .. }
                    | SelectCase::Join { task: e, body, .. }
                    | SelectCase::After { seconds: e, body } => {
                        assigned_names_expr(e, out);
                        assigned_names_block(body, out);
                    }
                    SelectCase::Send { chan, value, body } => {
                        assigned_names_expr(chan, out);
                        assigned_names_expr(value, out);
                        assigned_names_block(body, out);
                    }
                    SelectCase::Default { body, .. } => assigned_names_block(body, out),
                }
            }
        }
        Stmt::Break(_) | Stmt::Continue(_) | Stmt::Import { .. } => {}
    }
}

fn assigned_targets(target: &Expr, out: &mut HashSet<String>) {
    match &target.kind {
        ExprKind::Name(i) => {
            out.insert(i.name.clone());
        }
        ExprKind::List(items) => items.iter().for_each(|t| assigned_targets(t, out)),
        _ => {}
    }
}

fn assigned_names_fn(def: &FnDef, out: &mut HashSet<String>) {
    match &def.body {
        FnBody::Block(b) => assigned_names_block(b, out),
        FnBody::Expr(e) => assigned_names_expr(e, out),
    }
}

pub(super) fn assigned_names_expr(e: &Expr, out: &mut HashSet<String>) {
    match &e.kind {
        ExprKind::Func(def) => assigned_names_fn(def, out),
        ExprKind::If(s) => assigned_names_stmt(s, out),
        ExprKind::Interp(xs) | ExprKind::List(xs) => xs.iter().for_each(|x| assigned_names_expr(x, out)),
        ExprKind::Map(kvs) => {
            for (k, v) in kvs {
                assigned_names_expr(k, out);
                assigned_names_expr(v, out);
            }
        }
        ExprKind::Neg(x) | ExprKind::Not(x) | ExprKind::Spawn(x) | ExprKind::Field(x, _) => assigned_names_expr(x, out),
        ExprKind::Binary(_, a, b)
        | ExprKind::And(a, b)
        | ExprKind::Or(a, b)
        | ExprKind::Index(a, b)
        | ExprKind::Range { start: a, end: b, .. } => {
            assigned_names_expr(a, out);
            assigned_names_expr(b, out);
        }
        ExprKind::Call(f, args) | ExprKind::Method(f, _, args) => {
            assigned_names_expr(f, out);
            args.iter().for_each(|a| assigned_names_expr(a, out));
        }
        ExprKind::Nil
        | ExprKind::Bool(_)
        | ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Str(_)
        | ExprKind::Name(_) => {}
    }
}
