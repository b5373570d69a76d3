//! Names: declaring locals and resolving a name to a register, a cell, a
//! capture, a global or a builtin.

use super::*;

impl<'a> Compiler<'_, 'a> {
    pub(super) fn at_top_level(&self) -> bool {
        self.funcs.len() == 1 && self.func().scopes.len() == 1
    }

    pub(super) fn declare_local(&mut self, name: &str, reg: Reg, celled: bool) {
        self.func_mut().scopes.last_mut().unwrap().push(Local { name: name.to_string(), reg, celled, def: None });
    }

    pub(super) fn lookup_local(&self, name: &str) -> Option<Place> {
        lookup_in(self.func(), name)
    }

    pub(super) fn resolve(&mut self, ident: &Ident) -> Option<Place> {
        let depth = self.funcs.len() - 1;
        if let Some(place) = self.resolve_in(depth, &ident.name) {
            return Some(place);
        }
        if self.funcs.iter().any(|f| f.upvals.len() >= MAX_CAPTURES && lookup_in(f, &ident.name).is_none())
            && self.funcs.iter().any(|f| lookup_in(f, &ident.name).is_some())
        {
            // Declared in an enclosing function, but the capture list is full.
            if std::mem::replace(&mut self.func_mut().too_many_captures, true) {
                return None;
            }
            self.error(
                Diagnostic::new("function captures too many variables", ident.span)
                    .with_label(format!("'{}' would be capture number {}", ident.name, MAX_CAPTURES + 1))
                    .with_hint(format!(
                        "a function captures at most {MAX_CAPTURES} variables: pass some as arguments, or group them in a map"
                    )),
            );
            return None;
        }
        if let Some(slot) = self.scope.get(&ident.name).or_else(|| self.env.builtin(&ident.name)) {
            return Some(Place::Global(slot));
        }
        // The literals that read like names: `nill` means `nil`.
        let mut candidates: Vec<&str> = vec!["nil", "true", "false"];
        candidates.extend(self.env.builtin_names());
        candidates.extend(self.scope.names().map(|(n, _)| n));
        for f in &self.funcs {
            for s in &f.scopes {
                candidates.extend(s.iter().map(|l| l.name.as_str()));
            }
        }
        let mut d = Diagnostic::new(format!("undefined name '{}'", ident.name), ident.span)
            .with_label("not declared in this scope");
        if let Some(hint) = other_language_hint(&ident.name) {
            d = d.with_hint(hint);
        } else if let Some(best) = closest(&ident.name, candidates.into_iter()) {
            d = d.with_hint(format!("did you mean '{best}'?"));
        } else {
            d = d.with_hint(format!("declare it first: `let {} = ...`", ident.name));
        }
        self.error(d);
        None
    }

    /// Resolves a name in function `depth`, capturing it from enclosing
    /// functions as needed.
    pub(super) fn resolve_in(&mut self, depth: usize, name: &str) -> Option<Place> {
        if let Some(place) = lookup_in(&self.funcs[depth], name) {
            return Some(place);
        }
        if let Some(i) = self.funcs[depth].upvals.iter().position(|(n, _)| n == name) {
            return Some(Place::Upval(i as u8));
        }
        if depth == 0 {
            return None;
        }
        let capture = match self.resolve_in(depth - 1, name)? {
            Place::Cell(reg) => Capture::Local(reg),
            Place::Upval(i) => Capture::Upval(i),
            Place::Global(slot) => return Some(Place::Global(slot)),
            Place::Reg(_) => {
                // Not predicted as captured: cannot happen, as every name used in a
                // nested function marks the enclosing locals of that name as celled.
                return None;
            }
        };
        let func = &mut self.funcs[depth];
        if func.upvals.len() >= MAX_CAPTURES {
            return None;
        }
        func.upvals.push((name.to_string(), capture));
        Some(Place::Upval((func.upvals.len() - 1) as u8))
    }

    pub(super) fn load(&mut self, place: Place, dst: Reg, span: Span) {
        match place {
            Place::Reg(src) => {
                if src != dst {
                    self.emit(Op::Move { dst, src }, span)
                }
            }
            Place::Cell(cell) => self.emit(Op::GetCell { dst, cell }, span),
            Place::Upval(index) => self.emit(Op::GetUpval { dst, index }, span),
            Place::Global(slot) => self.emit(Op::GetGlobal { dst, slot }, span),
        }
    }

    pub(super) fn store(&mut self, place: Place, src: Reg, span: Span) {
        match place {
            Place::Reg(dst) => {
                if src != dst {
                    self.emit(Op::Move { dst, src }, span)
                }
            }
            Place::Cell(cell) => self.emit(Op::SetCell { cell, src }, span),
            Place::Upval(index) => self.emit(Op::SetUpval { src, index }, span),
            Place::Global(slot) => self.emit(Op::SetGlobal { src, slot }, span),
        }
    }

    /// The function a direct call by `name` reaches, when the compiler can
    /// know it (a `fn` whose name nothing assigns), and whether it is a
    /// local `fn` of the current function whose statement has not run yet.
    fn known_fn(&self, name: &str) -> Option<(&'a FnDef, bool)> {
        for (depth, func) in self.funcs.iter().enumerate().rev() {
            for scope in func.scopes.iter().rev() {
                if let Some(local) = scope.iter().rev().find(|l| l.name == name) {
                    let def = local.def?;
                    let here = depth + 1 == self.funcs.len();
                    let pending = here && self.local_fns.iter().any(|(d, _)| std::ptr::eq(*d, def));
                    return Some((def, pending));
                }
            }
        }
        self.top_fns.get(name).map(|def| (*def, false))
    }

    /// Checks a direct call `name(args)` against the function it reaches:
    /// the number of arguments, and that a local `fn` exists by then.
    pub(super) fn check_call(&mut self, callee: &Expr, argc: usize, span: Span) {
        let ExprKind::Name(ident) = &callee.kind else { return };
        let Some((def, pending)) = self.known_fn(&ident.name) else {
            self.check_builtin_call(ident, argc, span);
            return;
        };
        if crate::parser::is_stand_in(def) {
            return;
        }
        let name = &ident.name;
        let def_name_span = def.name.as_ref().map_or(def.span, |n| n.span);
        if pending {
            self.error(
                Diagnostic::new(format!("`{name}` is called before its definition"), ident.span)
                    .with_label(format!("`{name}` is still nil here: its `fn` statement has not run"))
                    .with_note(def_name_span, format!("`{name}` is defined here, after this call"))
                    .with_hint(format!(
                        "move `fn {name}` above this call: a function inside a block exists from its statement on"
                    )),
            );
            return;
        }
        let arity = def.params.len();
        if arity == argc {
            return;
        }
        let params: Vec<&str> = def.params.iter().map(|p| p.name.as_str()).collect();
        let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
        let given = if argc == 1 { "was" } else { "were" };
        // From the name to the closing parenthesis, as written without spaces.
        let close = def.params.last().map_or(def_name_span.end + 1, |p| p.span.end);
        let sig_span = def_name_span.to(Span { start: close, end: close + 1 });
        self.error(
            Diagnostic::new(format!("`{name}` takes {arity} {} but {argc} {given} given", plural(arity)), span)
                .with_label(format!("{argc} {} given here", plural(argc)))
                .with_note(sig_span, format!("defined here: fn {name}({})", params.join(", "))),
        );
    }
}

impl<'e, 'a> Compiler<'e, 'a> {
    /// Checks a direct call `name(args)` to a builtin whose parameters are
    /// known, when the name reaches it: no local, parameter or top-level
    /// name of this file shadows it, and no compiled code assigns it.
    fn check_builtin_call(&mut self, ident: &Ident, argc: usize, span: Span) {
        let name = &ident.name;
        let shadowed = self.funcs.iter().any(|f| {
            f.scopes.iter().any(|s| s.iter().any(|l| &l.name == name)) || f.upvals.iter().any(|(n, _)| n == name)
        });
        if shadowed || self.scope.get(name).is_some() || self.reassigned.contains(name) {
            return;
        }
        let Some(sig) = self.env.builtin_signature(name) else { return };
        if sig.accepts(argc) {
            return;
        }
        let (required, total) = (sig.required, sig.params.len());
        let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
        let takes = if required == total {
            format!("{total} {}", plural(total))
        } else if total == required + 1 {
            format!("{required} or {total} arguments")
        } else {
            format!("{required} to {total} arguments")
        };
        let given = if argc == 1 { "was" } else { "were" };
        let params: Vec<String> = sig
            .params
            .iter()
            .enumerate()
            .map(|(i, what)| if i < required { what.clone() } else { format!("[{what}]") })
            .collect();
        self.error(
            Diagnostic::new(format!("`{name}` takes {takes} but {argc} {given} given"), span)
                .with_label(format!("{argc} {} given here", plural(argc)))
                .with_hint(format!("`{name}` is a builtin: {name}({})", params.join(", "))),
        );
    }
}

/// What Weft calls a builtin of another language, for the hint of an
/// undefined name: `println` is `print`.
fn other_language_hint(name: &str) -> Option<String> {
    let ours = match name {
        "println" | "puts" | "echo" | "printf" | "console" | "System" | "fmt" => {
            "Weft prints with `print(a, b, ...)`, or `print(format(template, args...))`"
        }
        "eprintln" | "stderr" => "Weft prints to stderr with `eprint(...)`",
        "strlen" | "length" => "Weft's length is `len(x)` or `x.len()`",
        "sprintf" => "Weft formats with `format(template, args...)`",
        "toString" | "to_string" | "String" => "Weft converts to a string with `str(x)`",
        "parseInt" | "atoi" | "Integer" => "Weft converts to an int with `int(s)`",
        "parseFloat" | "atof" => "Weft converts to a float with `float(s)`",
        "typeof" | "type_of" => "Weft's type of a value is `type(x)`",
        "null" | "None" | "undefined" | "nullptr" | "NULL" => "Weft's absent value is `nil`",
        "True" => "Weft's true is `true`",
        "False" => "Weft's false is `false`",
        "require" | "include" | "use" => "Weft imports a file with `import \"path.weft\" as name`",
        "readFile" | "file_get_contents" | "slurp" => "Weft reads a file with `read_file(path)`",
        "Math" | "math" => "Weft's math functions are global: `sqrt(x)`, `floor(x)`, `pi`, ...",
        "JSON" | "json" => "Weft's JSON functions are `json_encode(v)` and `json_decode(s)`",
        "self" | "this" => "Weft has no `self`: a map of functions is called as `m.f(args)`",
        "range" => "Weft's ranges are written `a..b` (or `a..=b`)",
        _ => return None,
    };
    Some(format!("`{name}` is not a Weft name: {ours}"))
}
