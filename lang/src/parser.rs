//! Parsing: tokens to AST with lalrpop, and the conversion of its errors
//! into diagnostics. When a file has a syntax error, each top-level
//! statement is parsed again on its own, so that `weft check` reports the
//! errors of every broken statement, not just the first.

use crate::ast::{Block, FnBody, FnDef, Ident, Program, Stmt};
use crate::diagnostic::{closest, Diagnostic, Span};
use crate::lexer::{tokenize, Spanned, Tok};
use lalrpop_util::ParseError;

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, clippy::pedantic, unused_parens, dead_code)]
    grammar
);

/// A file with syntax errors: every error, and the statements that did
/// parse, which the compiler can still check for name errors.
pub struct Broken {
    pub errors: Vec<Diagnostic>,
    /// The statements that parsed, with an empty stand-in for each broken
    /// `let NAME ...` or `fn NAME ...`, so that uses of NAME elsewhere are
    /// not reported as undefined.
    pub partial: Program,
}

/// Parses a whole file.
pub fn parse(src: &str) -> Result<Program, Broken> {
    let tokens = tokenize(src).map_err(|errors| Broken { errors, partial: Program { stmts: Vec::new() } })?;
    let parser = grammar::ProgramParser::new();
    match parser.parse(tokens.iter().cloned().map(Ok::<Spanned, Diagnostic>)) {
        Ok(program) => Ok(program),
        Err(_) => Err(recover(&tokens, src.len())),
    }
}

/// Parses each top-level statement alone and collects every error.
fn recover(tokens: &[Spanned], eof: usize) -> Broken {
    let parser = grammar::ProgramParser::new();
    let mut errors = Vec::new();
    let mut stmts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, (_, tok, _)) in tokens.iter().enumerate() {
        match tok {
            Tok::LParen | Tok::LBracket | Tok::LBrace => depth += 1,
            Tok::RParen | Tok::RBracket | Tok::RBrace => depth -= 1,
            _ => {}
        }
        let end_of_statement = (*tok == Tok::Sep && depth == 0) || i + 1 == tokens.len();
        if end_of_statement {
            let stop = if *tok == Tok::Sep { i } else { i + 1 };
            let chunk = &tokens[start..stop];
            let chunk_end = chunk.last().map(|t| t.2).unwrap_or(eof);
            let eof_here = if i + 1 == tokens.len() { eof } else { chunk_end };
            match parser.parse(chunk.iter().cloned().map(Ok::<Spanned, Diagnostic>)) {
                Ok(program) => stmts.extend(program.stmts),
                Err(e) => {
                    errors.push(convert(e, eof_here, chunk, tokens));
                    stmts.extend(stand_in(chunk));
                }
            }
            start = i + 1;
        }
    }
    if errors.is_empty() {
        errors.push(Diagnostic::new("syntax error", Span::new(eof, eof)));
    }
    Broken { errors, partial: Program { stmts } }
}

/// Whether `def` is the stand-in for a broken `fn NAME ...`, whose
/// parameters are unknown (its span is its name's alone).
pub fn is_stand_in(def: &FnDef) -> bool {
    def.name.as_ref().is_some_and(|n| n.span == def.span)
}

/// The declaration a broken `let NAME ...` or `fn NAME ...` would have made.
fn stand_in(chunk: &[Spanned]) -> Option<Stmt> {
    let [(_, keyword, _), (l, Tok::Ident(name), r), ..] = chunk else { return None };
    let name = Ident { name: name.clone(), span: Span::new(*l, *r) };
    match keyword {
        Tok::Let => Some(Stmt::Let { name, value: None }),
        Tok::Fn => Some(Stmt::Fn(Box::new(FnDef {
            span: name.span,
            name: Some(name),
            params: Vec::new(),
            body: FnBody::Block(Block { stmts: Vec::new(), span: Span::new(*l, *r) }),
        }))),
        _ => None,
    }
}

fn convert(error: ParseError<usize, Tok, Diagnostic>, eof: usize, chunk: &[Spanned], all: &[Spanned]) -> Diagnostic {
    match error {
        ParseError::User { error } => error,
        ParseError::UnrecognizedEof { location, expected } => {
            let at = location.min(eof);
            Diagnostic::new("unexpected end of input", Span::new(at, at))
                .with_label(format!("expected {}", describe(&expected)))
        }
        ParseError::UnrecognizedToken { token: (l, tok, r), expected } => {
            let mut d = Diagnostic::new(format!("unexpected {tok}"), Span::new(l, r))
                .with_label(format!("expected {}", describe(&expected)));
            if matches!(tok, Tok::Else | Tok::Catch | Tok::Finally) {
                let follows_brace = chunk.first().map(|t| t.0) == Some(l) && previous_is_close_brace(all, l);
                if follows_brace {
                    d = d.with_hint(format!("{tok} must be on the same line as the '}}' before it"));
                }
            }
            if tok == Tok::Sep {
                d.message = "unexpected end of statement".into();
            }
            // `let timeout = 5`, `fn f(url, timeout)`, `for select in xs`.
            let name_goes_here = matches!(
                previous_token(all, l),
                Some(Tok::Let | Tok::Fn | Tok::Comma | Tok::LParen | Tok::LBracket | Tok::For | Tok::As | Tok::Catch)
            );
            if let Some(word) = keyword_word(&tok) {
                if name_goes_here && expected.iter().any(|e| e == "Ident") {
                    d = d.with_hint(keyword_as_name(word));
                }
            }
            if matches!(tok, Tok::Assign | Tok::PlusAssign | Tok::MinusAssign) {
                // `timeout = 5`: a statement keyword people use as a name.
                let word = previous_token(all, l).and_then(keyword_word);
                if let Some(word @ ("timeout" | "select" | "spawn" | "nursery" | "shield")) = word {
                    d = d.with_hint(keyword_as_name(word));
                }
            }
            if continues_expression(&tok) && previous_token(all, l) == Some(&Tok::Sep) {
                d = d.with_hint(format!(
                    "a line cannot start with {tok}: the line before it ended the statement. \
                     Move {tok} to the end of the previous line, or wrap the whole expression in parentheses"
                ));
            }
            if let Some(keyword) = misspelt_keyword_before(all, l) {
                d = d.with_hint(format!("did you mean '{keyword}'?"));
            }
            d
        }
        ParseError::ExtraToken { token: (l, tok, r) } => Diagnostic::new(format!("unexpected {tok}"), Span::new(l, r)),
        ParseError::InvalidToken { location } => {
            Diagnostic::new("unexpected character", Span::new(location, location + 1))
        }
    }
}

/// The keyword that a name just before `at` was probably meant to be, as
/// in `retrun x`, when that name starts its statement.
fn misspelt_keyword_before(all: &[Spanned], at: usize) -> Option<&'static str> {
    const KEYWORDS: &[&str] = &[
        "let", "fn", "return", "if", "while", "for", "break", "continue", "throw", "try", "import", "spawn", "nursery",
        "timeout", "shield", "select",
    ];
    let i = all.iter().position(|t| t.0 == at)?;
    let (_, Tok::Ident(name), _) = all.get(i.checked_sub(1)?)? else { return None };
    let starts_statement = i < 2 || matches!(all[i - 2].1, Tok::Sep | Tok::LBrace);
    if !starts_statement {
        return None;
    }
    closest(name, KEYWORDS.iter().copied())
}

/// The token before the one at byte `at`.
fn previous_token(all: &[Spanned], at: usize) -> Option<&Tok> {
    let i = all.iter().position(|t| t.0 == at)?;
    all.get(i.checked_sub(1)?).map(|t| &t.1)
}

/// Whether a token can only continue an expression begun before it: a
/// binary operator, or `.` of a method chain.
fn continues_expression(tok: &Tok) -> bool {
    matches!(
        tok,
        Tok::And
            | Tok::Or
            | Tok::Plus
            | Tok::Star
            | Tok::StarStar
            | Tok::Slash
            | Tok::SlashSlash
            | Tok::Percent
            | Tok::EqEq
            | Tok::NotEq
            | Tok::Lt
            | Tok::Le
            | Tok::Gt
            | Tok::Ge
            | Tok::In
            | Tok::Dot
            | Tok::DotDot
            | Tok::DotDotEq
    )
}

/// The word of a keyword that people often want as a name.
fn keyword_word(tok: &Tok) -> Option<&'static str> {
    Some(match tok {
        Tok::Timeout => "timeout",
        Tok::Select => "select",
        Tok::Spawn => "spawn",
        Tok::Nursery => "nursery",
        Tok::Shield => "shield",
        Tok::Import => "import",
        Tok::Try => "try",
        Tok::Catch => "catch",
        Tok::Finally => "finally",
        Tok::Throw => "throw",
        Tok::As => "as",
        Tok::In => "in",
        Tok::Not => "not",
        Tok::And => "and",
        Tok::Or => "or",
        Tok::Fn => "fn",
        Tok::Let => "let",
        Tok::Return => "return",
        Tok::If => "if",
        Tok::Else => "else",
        Tok::While => "while",
        Tok::For => "for",
        Tok::Break => "break",
        Tok::Continue => "continue",
        _ => return None,
    })
}

/// The hint for a keyword written where a name goes.
fn keyword_as_name(word: &str) -> String {
    let instead = match word {
        "timeout" => "`timeout_s` or `limit`".to_string(),
        "select" => "`choice` or `selected`".to_string(),
        "spawn" => "`start` or `launch`".to_string(),
        "nursery" => "`group` or `tasks`".to_string(),
        "shield" => "`guard`".to_string(),
        "import" => "`module`".to_string(),
        "in" => "`inside` or `input`".to_string(),
        other => format!("`{other}_`"),
    };
    format!("`{word}` is a keyword of Weft and cannot be a name: try {instead}")
}

fn previous_is_close_brace(all: &[Spanned], at: usize) -> bool {
    let i = all.iter().position(|t| t.0 == at).unwrap_or(0);
    i >= 2 && all[i - 1].1 == Tok::Sep && all[i - 2].1 == Tok::RBrace
}

/// Turns lalrpop's list of expected terminals into a short phrase.
fn describe(expected: &[String]) -> String {
    let mut names: Vec<&str> = expected.iter().map(|s| s.trim_matches('"')).collect();
    if names.iter().any(|n| *n == "Ident" || *n == "Int") && names.len() > 6 {
        return "an expression".to_string();
    }
    names.truncate(6);
    let shown: Vec<String> = names
        .iter()
        .map(|n| match *n {
            "Sep" => "end of statement".to_string(),
            "Ident" => "a name".to_string(),
            "Int" | "Float" => "a number".to_string(),
            "Str" => "a string".to_string(),
            other => format!("'{}'", other.trim_matches('\\')),
        })
        .collect();
    match shown.len() {
        0 => "something else".to_string(),
        1 => shown[0].clone(),
        _ => format!("one of {}", shown.join(", ")),
    }
}
