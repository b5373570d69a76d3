//! The abstract syntax tree the grammar builds and the compiler walks.
//! Every node that can fail at run time or be named in an error keeps its
//! span; nothing here is resolved yet (names are plain strings).

use crate::diagnostic::Span;

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::FloorDiv => "//",
            BinOp::Mod => "%",
            BinOp::Pow => "**",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::In => "in",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// `"a${b}c"`: the literal pieces and the expressions, in order.
    Interp(Vec<Expr>),
    Name(Ident),
    List(Vec<Expr>),
    Map(Vec<(Expr, Expr)>),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Range {
        start: Box<Expr>,
        end: Box<Expr>,
        inclusive: bool,
    },
    Call(Box<Expr>, Vec<Expr>),
    /// `obj.name(args)`: a method call, kept apart from a field read then a call.
    Method(Box<Expr>, Ident, Vec<Expr>),
    Index(Box<Expr>, Box<Expr>),
    Field(Box<Expr>, Ident),
    Func(Box<FnDef>),
    /// `spawn f(a, b)` (a `Call` or `Method`) or `spawn { ... }` (a `Func`).
    Spawn(Box<Expr>),
    /// `if c { a } else { b }` used as a value: always a `Stmt::If`, whose
    /// taken block's last expression is the value. As a statement of its
    /// own it is unwrapped back into that `Stmt::If`.
    If(Box<Stmt>),
}

/// What `let`, a destructuring assignment's left side, or a `for` loop
/// binds: a name, or a list of patterns matched item by item.
#[derive(Clone, Debug, PartialEq)]
pub enum Pattern {
    Name(Ident),
    List(Vec<Pattern>, Span),
}

impl Pattern {
    pub fn span(&self) -> Span {
        match self {
            Pattern::Name(i) => i.span,
            Pattern::List(_, span) => *span,
        }
    }

    /// Every name the pattern binds, left to right.
    pub fn names(&self) -> Vec<&Ident> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(p) = stack.pop() {
            match p {
                Pattern::Name(i) => out.push(i),
                Pattern::List(items, _) => stack.extend(items.iter().rev()),
            }
        }
        out
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct FnDef {
    pub name: Option<Ident>,
    pub params: Vec<Ident>,
    pub body: FnBody,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FnBody {
    Block(Block),
    Expr(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

/// A statement. `LetPattern` is `let [a, b] = value`, destructuring a list;
/// an `Assign` whose target is a list destructures too.
#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    Let { name: Ident, value: Option<Expr> },
    LetPattern { pattern: Pattern, value: Expr, span: Span },
    Assign { target: Expr, op: Option<BinOp>, value: Expr, span: Span },
    Expr(Expr),
    If { cond: Expr, then: Block, otherwise: Option<Box<Stmt>> },
    While { cond: Expr, body: Block },
    For { first: Pattern, second: Option<Pattern>, iter: Expr, body: Block },
    Break(Span),
    Continue(Span),
    Return(Option<Expr>, Span),
    Fn(Box<FnDef>),
    Import { path: String, alias: Ident, span: Span },
    Throw(Expr, Span),
    Try { body: Block, catch: Option<(Option<Ident>, Block)>, finally: Option<Block>, span: Span },
    Block(Block),
    Nursery { name: Option<Ident>, body: Block, span: Span },
    Timeout { seconds: Expr, body: Block, span: Span },
    Shield { body: Block, span: Span },
    Select { cases: Vec<SelectCase>, span: Span },
}

#[derive(Clone, Debug, PartialEq)]
pub enum SelectCase {
    Recv { chan: Expr, bind: Option<Ident>, body: Block },
    Send { chan: Expr, value: Expr, body: Block },
    Join { task: Expr, bind: Option<Ident>, body: Block },
    After { seconds: Expr, body: Block },
    Default { body: Block, span: Span },
}

/// A parsed file: its top-level statements.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub stmts: Vec<Stmt>,
}

/// The first part of an assignment's left side that cannot be assigned, if
/// any: a target is a name, an index, a field, or a list of targets.
pub fn unassignable(target: &Expr) -> Option<&Expr> {
    match &target.kind {
        ExprKind::Name(_) | ExprKind::Index(..) | ExprKind::Field(..) => None,
        ExprKind::List(items) => items.iter().find_map(unassignable),
        _ => Some(target),
    }
}

// ----- dropping deep trees -------------------------------------------------------
//
// An operator chain (`1 + 1 + ...`), a prefix or postfix chain, or an
// `else if` chain builds a tree as deep as the chain is long, with no
// bracket to bound it. The derived drop would recurse once per level and
// overflow an ordinary thread's stack, so `Expr` and `Stmt` take their
// children apart with a stack of pending nodes instead. Bracketed nesting
// (blocks, functions) is bounded by the lexer and may recurse.

/// The part of a tree still to be dropped.
enum Pending {
    Expr(ExprKind),
    Stmt(Stmt),
}

impl Drop for Expr {
    fn drop(&mut self) {
        if !has_deep_children(&self.kind) {
            return;
        }
        let mut todo = vec![Pending::Expr(std::mem::replace(&mut self.kind, ExprKind::Nil))];
        drop_pending(&mut todo);
    }
}

impl Drop for Stmt {
    fn drop(&mut self) {
        let Stmt::If { otherwise: Some(next), .. } = self else { return };
        let next = std::mem::replace(&mut **next, Stmt::Break(Span::default()));
        drop_pending(&mut vec![Pending::Stmt(next)]);
    }
}

/// Whether dropping `kind` as is would recurse into another expression
/// or an `if` statement.
fn has_deep_children(kind: &ExprKind) -> bool {
    match kind {
        ExprKind::Nil
        | ExprKind::Bool(_)
        | ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Str(_)
        | ExprKind::Name(_)
        | ExprKind::Func(_) => false,
        ExprKind::Interp(xs) | ExprKind::List(xs) => xs.iter().any(|x| has_deep_children(&x.kind)),
        _ => true,
    }
}

/// Drops every node in `todo`, moving each one's children out (leaving
/// leaves in their place) onto `todo` first, so that no drop recurses.
fn drop_pending(todo: &mut Vec<Pending>) {
    fn take(e: &mut Expr, todo: &mut Vec<Pending>) {
        if has_deep_children(&e.kind) {
            todo.push(Pending::Expr(std::mem::replace(&mut e.kind, ExprKind::Nil)));
        }
    }
    while let Some(node) = todo.pop() {
        match node {
            Pending::Expr(mut kind) => match &mut kind {
                ExprKind::Interp(xs) | ExprKind::List(xs) => xs.iter_mut().for_each(|x| take(x, todo)),
                ExprKind::Map(kvs) => kvs.iter_mut().for_each(|(k, v)| {
                    take(k, todo);
                    take(v, todo);
                }),
                ExprKind::Neg(x) | ExprKind::Not(x) | ExprKind::Spawn(x) | ExprKind::Field(x, _) => take(x, todo),
                ExprKind::Binary(_, a, b)
                | ExprKind::And(a, b)
                | ExprKind::Or(a, b)
                | ExprKind::Index(a, b)
                | ExprKind::Range { start: a, end: b, .. } => {
                    take(a, todo);
                    take(b, todo);
                }
                ExprKind::Call(f, args) | ExprKind::Method(f, _, args) => {
                    take(f, todo);
                    args.iter_mut().for_each(|a| take(a, todo));
                }
                ExprKind::If(s) => todo.push(Pending::Stmt(std::mem::replace(&mut **s, Stmt::Break(Span::default())))),
                ExprKind::Nil
                | ExprKind::Bool(_)
                | ExprKind::Int(_)
                | ExprKind::Float(_)
                | ExprKind::Str(_)
                | ExprKind::Name(_)
                | ExprKind::Func(_) => {}
            },
            Pending::Stmt(mut stmt) => {
                if let Stmt::If { cond, otherwise, .. } = &mut stmt {
                    take(cond, todo);
                    if let Some(next) = otherwise {
                        todo.push(Pending::Stmt(std::mem::replace(&mut **next, Stmt::Break(Span::default()))));
                    }
                }
            }
        }
    }
}
