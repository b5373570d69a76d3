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

// ----- walking the tree ------------------------------------------------------
//
// The one list of each node's children. Every walk of the tree (the
// compiler's analyses, dropping) goes through it, so a new kind of node is
// added in one place; the matches below name every kind, with no catch-all,
// so leaving one out does not compile. The walks keep a stack of pending
// nodes instead of recursing: an operator, prefix, postfix or `else if`
// chain is as deep as it is long, and a host may compile on a thread with
// an ordinary stack.

/// A node of the syntax tree that may hold others, as the walks see it.
#[derive(Clone, Copy, Debug)]
pub enum Node<'a> {
    Expr(&'a Expr),
    Stmt(&'a Stmt),
    /// A function's definition, whose body belongs to another function.
    Fn(&'a FnDef),
}

/// A [`Node`] that may be changed.
#[derive(Debug)]
pub enum NodeMut<'a> {
    Expr(&'a mut Expr),
    Stmt(&'a mut Stmt),
    Fn(&'a mut FnDef),
}

/// Calls `$visit` on each child of `$node`, a `$Node` (`Node` or, with
/// `mut`, `NodeMut`): the one list of children both are made from.
macro_rules! each_child {
    ($Node:ident, $node:expr, $visit:ident $(, $mut:tt)?) => {
        match $node {
            $Node::Fn(def) => match &$($mut)? def.body {
                FnBody::Block(b) => {
                    for s in &$($mut)? b.stmts {
                        $visit($Node::Stmt(s));
                    }
                }
                FnBody::Expr(e) => $visit($Node::Expr(e)),
            },
            $Node::Expr(e) => match &$($mut)? e.kind {
                ExprKind::Func(def) => $visit($Node::Fn(def)),
                ExprKind::If(s) => $visit($Node::Stmt(s)),
                ExprKind::Interp(xs) | ExprKind::List(xs) => {
                    for x in xs {
                        $visit($Node::Expr(x));
                    }
                }
                ExprKind::Map(kvs) => {
                    for (k, v) in kvs {
                        $visit($Node::Expr(k));
                        $visit($Node::Expr(v));
                    }
                }
                ExprKind::Neg(x) | ExprKind::Not(x) | ExprKind::Spawn(x) | ExprKind::Field(x, _) => {
                    $visit($Node::Expr(x))
                }
                ExprKind::Binary(_, a, b)
                | ExprKind::And(a, b)
                | ExprKind::Or(a, b)
                | ExprKind::Index(a, b)
                | ExprKind::Range { start: a, end: b, .. } => {
                    $visit($Node::Expr(a));
                    $visit($Node::Expr(b));
                }
                ExprKind::Call(f, args) | ExprKind::Method(f, _, args) => {
                    $visit($Node::Expr(f));
                    for a in args {
                        $visit($Node::Expr(a));
                    }
                }
                ExprKind::Nil
                | ExprKind::Bool(_)
                | ExprKind::Int(_)
                | ExprKind::Float(_)
                | ExprKind::Str(_)
                | ExprKind::Name(_) => {}
            },
            $Node::Stmt(s) => {
                // The statements of the blocks a statement holds.
                let mut blocks: [Option<&$($mut)? Block>; 3] = [None, None, None];
                match s {
                    Stmt::Let { value, .. } | Stmt::Return(value, _) => {
                        if let Some(v) = value {
                            $visit($Node::Expr(v));
                        }
                    }
                    Stmt::LetPattern { value: e, .. } | Stmt::Expr(e) | Stmt::Throw(e, _) => $visit($Node::Expr(e)),
                    Stmt::Assign { target, value, .. } => {
                        $visit($Node::Expr(target));
                        $visit($Node::Expr(value));
                    }
                    Stmt::If { cond, then, otherwise } => {
                        $visit($Node::Expr(cond));
                        blocks[0] = Some(then);
                        if let Some(o) = otherwise {
                            $visit($Node::Stmt(o));
                        }
                    }
                    Stmt::While { cond: e, body }
                    | Stmt::For { iter: e, body, .. }
                    | Stmt::Timeout { seconds: e, body, .. } => {
                        $visit($Node::Expr(e));
                        blocks[0] = Some(body);
                    }
                    Stmt::Fn(def) => $visit($Node::Fn(def)),
                    Stmt::Try { body, catch, finally, .. } => {
                        blocks[0] = Some(body);
                        if let Some((_, c)) = catch {
                            blocks[1] = Some(c);
                        }
                        if let Some(f) = finally {
                            blocks[2] = Some(f);
                        }
                    }
                    Stmt::Block(b) | Stmt::Nursery { body: b, .. } | Stmt::Shield { body: b, .. } => {
                        blocks[0] = Some(b)
                    }
                    Stmt::Select { cases, .. } => {
                        for c in cases {
                            match c {
                                SelectCase::Recv { chan: e, body, .. }
                                | SelectCase::Join { task: e, body, .. }
                                | SelectCase::After { seconds: e, body } => {
                                    $visit($Node::Expr(e));
                                    for s in &$($mut)? body.stmts {
                                        $visit($Node::Stmt(s));
                                    }
                                }
                                SelectCase::Send { chan, value, body } => {
                                    $visit($Node::Expr(chan));
                                    $visit($Node::Expr(value));
                                    for s in &$($mut)? body.stmts {
                                        $visit($Node::Stmt(s));
                                    }
                                }
                                SelectCase::Default { body, .. } => {
                                    for s in &$($mut)? body.stmts {
                                        $visit($Node::Stmt(s));
                                    }
                                }
                            }
                        }
                    }
                    Stmt::Break(_) | Stmt::Continue(_) | Stmt::Import { .. } => {}
                }
                for b in blocks.into_iter().flatten() {
                    for s in &$($mut)? b.stmts {
                        $visit($Node::Stmt(s));
                    }
                }
            }
        }
    };
}

impl<'a> Node<'a> {
    /// Calls `visit` on each child of this node: the expressions and
    /// statements it holds directly, and the definition of a function it
    /// defines (not that function's body, which is the definition's).
    pub fn children(self, mut visit: impl FnMut(Node<'a>)) {
        each_child!(Node, self, visit)
    }

    /// Whether this node holds no other.
    pub fn is_leaf(self) -> bool {
        let mut leaf = true;
        self.children(|_| leaf = false);
        leaf
    }
}

impl<'a> NodeMut<'a> {
    /// Calls `visit` on each child of this node, as [`Node::children`].
    pub fn children(self, mut visit: impl FnMut(NodeMut<'a>)) {
        each_child!(NodeMut, self, visit, mut)
    }

    /// The node, read-only.
    pub fn as_node(&self) -> Node<'_> {
        match self {
            NodeMut::Expr(e) => Node::Expr(e),
            NodeMut::Stmt(s) => Node::Stmt(s),
            NodeMut::Fn(def) => Node::Fn(def),
        }
    }
}

// ----- dropping deep trees -------------------------------------------------------
//
// The derived drop would recurse once per level of the tree, and overflow
// an ordinary thread's stack on a long chain. So `Expr` and `Stmt` take
// their descendants apart first, with a stack of pending nodes, until the
// drop of each node finds only leaves below it.

/// A node taken out of the tree, to be dropped.
enum Owned {
    Expr(Expr),
    Stmt(Stmt),
    Fn(FnDef),
}

impl Owned {
    /// Moves `node` out of the tree, leaving a leaf in its place.
    fn take(node: NodeMut) -> Owned {
        match node {
            NodeMut::Expr(e) => {
                let leaf = Expr { kind: ExprKind::Nil, span: e.span };
                Owned::Expr(std::mem::replace(e, leaf))
            }
            NodeMut::Stmt(s) => Owned::Stmt(std::mem::replace(s, Stmt::Break(Span::default()))),
            NodeMut::Fn(def) => {
                let span = def.span;
                let leaf = FnDef {
                    name: None,
                    params: Vec::new(),
                    body: FnBody::Block(Block { stmts: Vec::new(), span }),
                    span,
                };
                Owned::Fn(std::mem::replace(def, leaf))
            }
        }
    }

    fn as_mut(&mut self) -> NodeMut<'_> {
        match self {
            Owned::Expr(e) => NodeMut::Expr(e),
            Owned::Stmt(s) => NodeMut::Stmt(s),
            Owned::Fn(def) => NodeMut::Fn(def),
        }
    }
}

impl Drop for Expr {
    fn drop(&mut self) {
        drop_descendants(NodeMut::Expr(self));
    }
}

impl Drop for Stmt {
    fn drop(&mut self) {
        drop_descendants(NodeMut::Stmt(self));
    }
}

/// Drops what lies below `node`'s children, unless that is nothing, so
/// that the drop of `node` that follows recurses one level at most.
fn drop_descendants(node: NodeMut) {
    let mut deep = false;
    node.as_node().children(|child| deep = deep || !child.is_leaf());
    if !deep {
        return;
    }
    // Each node taken out has its children that hold others taken out in
    // turn before it is dropped, so its drop finds only leaves below it.
    let mut todo = Vec::new();
    let take_inner_children = |node: NodeMut, todo: &mut Vec<Owned>| {
        node.children(|child| {
            if !child.as_node().is_leaf() {
                todo.push(Owned::take(child));
            }
        })
    };
    take_inner_children(node, &mut todo);
    while let Some(mut next) = todo.pop() {
        take_inner_children(next.as_mut(), &mut todo);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(kind: ExprKind) -> Expr {
        Expr { kind, span: Span::default() }
    }

    /// `fn() { if c { } else { return [-(<inner>)] } }`: a function, a
    /// statement, a list and an operator on each level, so that a deep
    /// tree of them goes through every kind of node the drop takes apart.
    fn level(inner: Expr) -> Expr {
        let list = expr(ExprKind::List(vec![expr(ExprKind::Neg(Box::new(inner)))]));
        let ret = Stmt::Return(Some(list), Span::default());
        let block = |stmts| Block { stmts, span: Span::default() };
        let stmt = Stmt::If {
            cond: expr(ExprKind::Bool(true)),
            then: block(Vec::new()),
            otherwise: Some(Box::new(Stmt::Block(block(vec![ret])))),
        };
        let def =
            FnDef { name: None, params: Vec::new(), body: FnBody::Block(block(vec![stmt])), span: Span::default() };
        expr(ExprKind::Func(Box::new(def)))
    }

    #[test]
    fn a_deep_tree_drops_on_a_small_stack() {
        let walked = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let mut tree = expr(ExprKind::Nil);
                for _ in 0..50_000 {
                    tree = level(tree);
                }
                let mut count = 0;
                let mut todo = vec![Node::Expr(&tree)];
                while let Some(node) = todo.pop() {
                    count += 1;
                    node.children(|n| todo.push(n));
                }
                drop(tree);
                count
            })
            .expect("a thread")
            .join()
            .expect("no stack overflow");
        // Each level: the function, its definition, the `if`, its
        // condition, the block, the `return`, the list and the operator;
        // and the `nil` at the bottom.
        assert_eq!(walked, 50_000 * 8 + 1);
    }
}
