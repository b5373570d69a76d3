//! Questions asked of the syntax tree before or while compiling it: where a
//! name lives, small constants, which blocks spawn (implicit nurseries),
//! which locals nested functions capture. The walks take each node's
//! children from [`Node::children`] onto a stack of their own, as an
//! operator or `else if` chain may be deeper than Rust's stack allows.

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

/// Whether running `e` may assign a plain local of the function being
/// compiled. Only a statement can, so only an `if` used as a value (whose
/// blocks hold statements) may; a nested function cannot, as a local it
/// assigns lives in a cell.
pub(super) fn may_assign_locals(e: &Expr) -> bool {
    let mut todo = vec![Node::Expr(e)];
    while let Some(node) = todo.pop() {
        match node {
            Node::Expr(Expr { kind: ExprKind::If(_), .. }) => return true,
            Node::Fn(_) => {}
            _ => node.children(|n| todo.push(n)),
        }
    }
    false
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

pub(super) fn spawns_stmt(s: &Stmt) -> bool {
    spawns(Node::Stmt(s))
}

pub(super) fn spawns_expr(e: &Expr) -> bool {
    spawns(Node::Expr(e))
}

fn spawns(root: Node) -> bool {
    let mut todo = vec![root];
    while let Some(node) = todo.pop() {
        match node {
            Node::Expr(Expr { kind: ExprKind::Spawn(_), .. }) => return true,
            Node::Fn(_) | Node::Stmt(Stmt::Nursery { .. }) => {}
            _ => node.children(|n| todo.push(n)),
        }
    }
    false
}

// ----- capture analysis ------------------------------------------------------
//
// `nested_names_*` collect the names used inside functions nested in the one
// being compiled (`inside` is true once within such a function). A local of
// the same name is then kept in a cell. Shadowing can make this
// over-approximate, which costs a cell but never correctness.

pub(super) fn nested_names_stmt(s: &Stmt, inside: bool, out: &mut HashSet<String>) {
    nested_names(Node::Stmt(s), inside, out)
}

pub(super) fn nested_names_expr(e: &Expr, inside: bool, out: &mut HashSet<String>) {
    nested_names(Node::Expr(e), inside, out)
}

fn nested_names(root: Node, inside: bool, out: &mut HashSet<String>) {
    let mut todo = vec![(root, inside)];
    while let Some((node, inside)) = todo.pop() {
        match node {
            Node::Expr(Expr { kind: ExprKind::Name(i), .. }) if inside => {
                out.insert(i.name.clone());
            }
            // A named local function refers to itself through its own name.
            Node::Stmt(Stmt::Fn(def)) if inside => {
                out.extend(def.name.iter().map(|n| n.name.clone()));
            }
            _ => {}
        }
        let inside = inside || matches!(node, Node::Fn(_));
        node.children(|n| todo.push((n, inside)));
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
    let mut todo = vec![Node::Stmt(s)];
    while let Some(node) = todo.pop() {
        if let Node::Stmt(Stmt::Assign { target, .. }) = node {
            assigned_targets(target, out);
        }
        node.children(|n| todo.push(n));
    }
}

/// The names an assignment's target writes: a name, or the names in a
/// list of targets.
fn assigned_targets(target: &Expr, out: &mut HashSet<String>) {
    let mut todo = vec![target];
    while let Some(target) = todo.pop() {
        match &target.kind {
            ExprKind::Name(i) => {
                out.insert(i.name.clone());
            }
            ExprKind::List(items) => todo.extend(items),
            _ => {}
        }
    }
}
