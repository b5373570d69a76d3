//! Lexer: source text to the token stream the grammar reads.
//!
//! logos cuts the text into raw tokens; this module then applies the layout
//! rules of SPEC section 2 so that the grammar only ever sees one `Sep` token
//! between statements:
//! - inside `(` `)` or `[` `]` a newline is whitespace; inside `{ }` it ends a
//!   statement (the innermost open bracket decides);
//! - a newline after a token that cannot end an expression is whitespace;
//! - runs of newlines and `;` collapse into one `Sep`, and none is emitted
//!   right after `{`, right before `}`, or at either end of the file.
//!
//! Strings are scanned by hand because interpolation nests: `"a${f("b")}c"`
//! becomes `StrBegin("a") f ( "b" ) StrEnd("c")`. The lexer also checks that
//! brackets balance and do not nest absurdly deep, so the parser and the
//! compiler never see pathological nesting of brackets.

use crate::diagnostic::{Diagnostic, Span};
use logos::Logos;
use std::fmt;

/// How deep brackets may nest before the lexer refuses the file.
pub const MAX_NESTING: usize = 256;

/// The most tokens one statement may have. An operator chain builds a
/// syntax tree as deep as it is long; the passes over the tree walk it
/// with explicit stacks (or refuse past a depth), so this bound (about
/// half a million operators) only keeps one statement's tree to a sane size.
pub const MAX_STATEMENT_TOKENS: usize = 1_000_000;

#[derive(Logos, Clone, Copy, Debug, PartialEq)]
#[logos(skip r"[ \t\r\x0C]+")]
#[logos(skip r"#[^\n]*")]
enum Raw {
    #[token("\n")]
    Newline,
    #[token(";")]
    Semi,
    #[token("\"")]
    Quote,
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident,
    #[regex(r"[0-9][0-9_]*")]
    Int,
    #[regex(r"0[xX][0-9a-fA-F_]*")]
    Hex,
    #[regex(r"0[bB][01_]*")]
    Bin,
    #[regex(r"[0-9][0-9_]*\.[0-9][0-9_]*([eE][+-]?[0-9_]+)?")]
    #[regex(r"[0-9][0-9_]*[eE][+-]?[0-9_]+")]
    Float,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token(",")]
    Comma,
    #[token(".")]
    Dot,
    #[token("..")]
    DotDot,
    #[token("..=")]
    DotDotEq,
    #[token(":")]
    Colon,
    #[token("=>")]
    FatArrow,
    #[token("=")]
    Assign,
    #[token("+=")]
    PlusAssign,
    #[token("-=")]
    MinusAssign,
    #[token("*=")]
    StarAssign,
    #[token("/=")]
    SlashAssign,
    #[token("//=")]
    SlashSlashAssign,
    #[token("%=")]
    PercentAssign,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("**")]
    StarStar,
    #[token("/")]
    Slash,
    #[token("//")]
    SlashSlash,
    #[token("%")]
    Percent,
}

/// A token as the grammar sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Sep,
    Ident(String),
    Int(i64),
    Float(f64),
    Str(String),
    StrBegin(String),
    StrMid(String),
    StrEnd(String),
    // keywords
    Let,
    Fn,
    Return,
    If,
    Else,
    While,
    For,
    In,
    Break,
    Continue,
    True,
    False,
    Nil,
    And,
    Or,
    Not,
    Try,
    Catch,
    Finally,
    Throw,
    Spawn,
    Nursery,
    Timeout,
    Shield,
    Select,
    Import,
    As,
    // contextual keywords, only at the start of a `select` case
    Recv,
    Send,
    Join,
    After,
    Default,
    // punctuation
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Dot,
    DotDot,
    DotDotEq,
    Colon,
    FatArrow,
    Assign,
    PlusAssign,
    MinusAssign,
    StarAssign,
    SlashAssign,
    SlashSlashAssign,
    PercentAssign,
    EqEq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    StarStar,
    Slash,
    SlashSlash,
    Percent,
}

impl Tok {
    /// Whether an expression may end with this token; a newline after any
    /// other token is whitespace.
    fn can_end_expression(&self) -> bool {
        matches!(
            self,
            Tok::Ident(_)
                | Tok::Int(_)
                | Tok::Float(_)
                | Tok::Str(_)
                | Tok::StrEnd(_)
                | Tok::True
                | Tok::False
                | Tok::Nil
                | Tok::Return
                | Tok::Break
                | Tok::Continue
                | Tok::RParen
                | Tok::RBracket
                | Tok::RBrace
                | Tok::Default
        )
    }

    fn keyword(word: &str) -> Option<Tok> {
        Some(match word {
            "let" => Tok::Let,
            "fn" => Tok::Fn,
            "return" => Tok::Return,
            "if" => Tok::If,
            "else" => Tok::Else,
            "while" => Tok::While,
            "for" => Tok::For,
            "in" => Tok::In,
            "break" => Tok::Break,
            "continue" => Tok::Continue,
            "true" => Tok::True,
            "false" => Tok::False,
            "nil" => Tok::Nil,
            "and" => Tok::And,
            "or" => Tok::Or,
            "not" => Tok::Not,
            "try" => Tok::Try,
            "catch" => Tok::Catch,
            "finally" => Tok::Finally,
            "throw" => Tok::Throw,
            "spawn" => Tok::Spawn,
            "nursery" => Tok::Nursery,
            "timeout" => Tok::Timeout,
            "shield" => Tok::Shield,
            "select" => Tok::Select,
            "import" => Tok::Import,
            "as" => Tok::As,
            _ => return None,
        })
    }

    fn select_keyword(word: &str) -> Option<Tok> {
        Some(match word {
            "recv" => Tok::Recv,
            "send" => Tok::Send,
            "join" => Tok::Join,
            "after" => Tok::After,
            "default" => Tok::Default,
            _ => return None,
        })
    }
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Tok::Sep => "end of statement",
            Tok::Ident(name) => return write!(f, "name '{name}'"),
            Tok::Int(n) => return write!(f, "number {n}"),
            Tok::Float(x) => return write!(f, "number {x}"),
            Tok::Str(_) | Tok::StrBegin(_) => "string",
            Tok::StrMid(_) | Tok::StrEnd(_) => "string part",
            Tok::Let => "'let'",
            Tok::Fn => "'fn'",
            Tok::Return => "'return'",
            Tok::If => "'if'",
            Tok::Else => "'else'",
            Tok::While => "'while'",
            Tok::For => "'for'",
            Tok::In => "'in'",
            Tok::Break => "'break'",
            Tok::Continue => "'continue'",
            Tok::True => "'true'",
            Tok::False => "'false'",
            Tok::Nil => "'nil'",
            Tok::And => "'and'",
            Tok::Or => "'or'",
            Tok::Not => "'not'",
            Tok::Try => "'try'",
            Tok::Catch => "'catch'",
            Tok::Finally => "'finally'",
            Tok::Throw => "'throw'",
            Tok::Spawn => "'spawn'",
            Tok::Nursery => "'nursery'",
            Tok::Timeout => "'timeout'",
            Tok::Shield => "'shield'",
            Tok::Select => "'select'",
            Tok::Import => "'import'",
            Tok::As => "'as'",
            Tok::Recv => "'recv'",
            Tok::Send => "'send'",
            Tok::Join => "'join'",
            Tok::After => "'after'",
            Tok::Default => "'default'",
            Tok::LParen => "'('",
            Tok::RParen => "')'",
            Tok::LBracket => "'['",
            Tok::RBracket => "']'",
            Tok::LBrace => "'{'",
            Tok::RBrace => "'}'",
            Tok::Comma => "','",
            Tok::Dot => "'.'",
            Tok::DotDot => "'..'",
            Tok::DotDotEq => "'..='",
            Tok::Colon => "':'",
            Tok::FatArrow => "'=>'",
            Tok::Assign => "'='",
            Tok::PlusAssign => "'+='",
            Tok::MinusAssign => "'-='",
            Tok::StarAssign => "'*='",
            Tok::SlashAssign => "'/='",
            Tok::SlashSlashAssign => "'//='",
            Tok::PercentAssign => "'%='",
            Tok::EqEq => "'=='",
            Tok::NotEq => "'!='",
            Tok::Lt => "'<'",
            Tok::Le => "'<='",
            Tok::Gt => "'>'",
            Tok::Ge => "'>='",
            Tok::Plus => "'+'",
            Tok::Minus => "'-'",
            Tok::Star => "'*'",
            Tok::StarStar => "'**'",
            Tok::Slash => "'/'",
            Tok::SlashSlash => "'//'",
            Tok::Percent => "'%'",
        };
        f.write_str(text)
    }
}

/// The indentation (in columns, a tab counting as 4) of the line that
/// starts at byte `line` and holds byte `at`; `None` when something other
/// than blanks comes before `at` on that line, except for a `{`, whose
/// line's indentation is given. Reads only the line's leading blanks.
fn indentation(src: &str, line: usize, at: usize) -> Option<usize> {
    let before = &src[line..at];
    let blanks = before.len() - before.trim_start_matches([' ', '\t']).len();
    let columns = before[..blanks].chars().map(|c| if c == '\t' { 4 } else { 1 }).sum();
    match src.as_bytes().get(at) {
        Some(b'{') => Some(columns),
        _ if blanks == before.len() => Some(columns),
        _ => None,
    }
}

/// Where the line holding a byte starts, found by reading each byte of the
/// source once when asked in increasing order (as the lexer asks), so that
/// a file of one long line costs no more than the same text on many lines.
#[derive(Default)]
struct LineStarts {
    /// Bytes before this have been read.
    read: usize,
    /// The start of the line holding byte `read`.
    start: usize,
}

impl LineStarts {
    fn of(&mut self, src: &str, at: usize) -> usize {
        if at < self.read {
            return src[..at].rfind('\n').map_or(0, |i| i + 1);
        }
        if let Some(i) = src[self.read..at].rfind('\n') {
            self.start = self.read + i + 1;
        }
        self.read = at;
        self.start
    }
}

/// A token with its byte span, as lalrpop wants it.
pub type Spanned = (usize, Tok, usize);

/// An open bracket on the layout stack.
#[derive(Clone, Copy)]
struct Open {
    tok: Raw,
    at: Span,
    /// A `{` that opened a `select` body: its statements start with case keywords.
    select: bool,
    /// For a `{`, its line's indentation (see [`indentation`]).
    indent: Option<usize>,
}

/// Turns source text into the grammar's token stream, or the errors found.
/// Lexing continues after an error, so one pass reports every bad token.
pub fn tokenize(src: &str) -> Result<Vec<Spanned>, Vec<Diagnostic>> {
    let mut lexer = Layout {
        src,
        out: Vec::new(),
        errors: Vec::new(),
        stack: Vec::new(),
        statement_tokens: 0,
        misindented: None,
        lines: LineStarts::default(),
    };
    lexer.run(0, src.len(), false);
    if let Some(open) = lexer.stack.last() {
        let (what, close) = match open.tok {
            Raw::LParen => ("(", ")"),
            Raw::LBracket => ("[", "]"),
            _ => ("{", "}"),
        };
        let d = match (open.tok, lexer.misindented) {
            // The outermost brace is left open only because an inner one
            // took its '}': point at the inner one, as rustc does.
            (Raw::LBrace, Some((inner, close_at))) => Diagnostic::new("unclosed '{'", inner)
                .with_label("this '{' is probably the one left open")
                .with_note(close_at, "this '}' is indented as if it closed an outer '{'")
                .with_note(open.at, "so this '{' is still open at the end of the file")
                .with_hint("add a '}' where the block above ends"),
            _ => Diagnostic::new(format!("unclosed '{what}'"), open.at)
                .with_label("opened here")
                .with_hint(format!("add a '{close}' to close it")),
        };
        lexer.errors.push(d);
    }
    lexer.finish_statement_end();
    if lexer.errors.is_empty() {
        Ok(lexer.out)
    } else {
        Err(lexer.errors)
    }
}

struct Layout<'s> {
    src: &'s str,
    out: Vec<Spanned>,
    errors: Vec<Diagnostic>,
    stack: Vec<Open>,
    /// Tokens since the last statement separator (see [`MAX_STATEMENT_TOKENS`]).
    statement_tokens: usize,
    /// The first `{` closed by a `}` that starts its line at a lesser
    /// indentation than the `{`'s line (as if it closed an outer block),
    /// and that `}`: if a brace stays open at the end, this `{` is the
    /// likely culprit.
    misindented: Option<(Span, Span)>,
    lines: LineStarts,
}

impl<'s> Layout<'s> {
    /// Lexes `src[start..end]`. `nested` is true for the expression inside
    /// an interpolation, which behaves as if wrapped in parentheses.
    fn run(&mut self, start: usize, end: usize, nested: bool) {
        let base_depth = self.stack.len();
        if nested {
            self.stack.push(Open { tok: Raw::LParen, at: Span::new(start, start), select: false, indent: None });
        }
        let mut lex = Raw::lexer(&self.src[..end]);
        lex.bump(start);
        while let Some(raw) = lex.next() {
            let range = lex.span();
            let span = Span::new(range.start, range.end);
            let text = lex.slice();
            if self.statement_tokens > MAX_STATEMENT_TOKENS {
                self.errors.push(
                    Diagnostic::new("statement too long", span)
                        .with_label(format!("more than {MAX_STATEMENT_TOKENS} tokens since the statement began"))
                        .with_hint("split it into several statements"),
                );
                self.stack.clear();
                return;
            }
            let Ok(raw) = raw else {
                self.errors.push(
                    Diagnostic::new(format!("unexpected character {:?}", text), span)
                        .with_label("not part of Weft's syntax"),
                );
                continue;
            };
            match raw {
                Raw::Newline | Raw::Semi => self.separator(raw == Raw::Semi, span),
                Raw::Quote => {
                    // A string that runs past this region (a broken escape
                    // inside an interpolation) ends with it: its error is
                    // reported, and the region's lexer must not step past
                    // its own end.
                    let resume = self.string(range.start).clamp(range.end, end);
                    lex.bump(resume - range.end);
                }
                Raw::Ident => {
                    let tok = match Tok::keyword(text) {
                        Some(tok) => tok,
                        None => match self.select_case_start().then(|| Tok::select_keyword(text)) {
                            Some(Some(tok)) => tok,
                            _ => Tok::Ident(text.to_string()),
                        },
                    };
                    self.push(tok, span);
                }
                Raw::Int | Raw::Hex | Raw::Bin => self.integer(raw, text, span),
                Raw::Float => {
                    let clean: String = text.chars().filter(|&c| c != '_').collect();
                    match clean.parse::<f64>() {
                        Ok(x) => self.push(Tok::Float(x), span),
                        Err(_) => self.errors.push(Diagnostic::new("malformed number", span)),
                    }
                }
                Raw::LParen | Raw::LBracket | Raw::LBrace => {
                    if !self.open(raw, span) {
                        self.stack.clear();
                        return;
                    }
                }
                Raw::RParen | Raw::RBracket | Raw::RBrace => self.close(raw, span),
                _ => self.push(punctuation(raw), span),
            }
        }
        if nested {
            self.stack.truncate(base_depth);
        }
    }

    fn push(&mut self, tok: Tok, span: Span) {
        self.statement_tokens = if tok == Tok::Sep { 0 } else { self.statement_tokens + 1 };
        self.out.push((span.start as usize, tok, span.end as usize));
    }

    fn last(&self) -> Option<&Tok> {
        self.out.last().map(|(_, t, _)| t)
    }

    fn separator(&mut self, semicolon: bool, span: Span) {
        let in_parens = matches!(self.stack.last(), Some(o) if o.tok != Raw::LBrace);
        if in_parens && !semicolon {
            return;
        }
        match self.last() {
            None | Some(Tok::Sep) | Some(Tok::LBrace) => {}
            Some(tok) if !semicolon && !tok.can_end_expression() => {}
            _ => self.push(Tok::Sep, span),
        }
    }

    /// A statement that ends the file needs no separator.
    fn finish_statement_end(&mut self) {
        if self.last() == Some(&Tok::Sep) {
            self.out.pop();
        }
    }

    /// True when the next token starts a statement directly inside a `select` body.
    fn select_case_start(&self) -> bool {
        matches!(self.stack.last(), Some(o) if o.select) && matches!(self.last(), Some(Tok::Sep) | Some(Tok::LBrace))
    }

    /// Pushes an opening bracket; false when nesting is too deep, which ends lexing.
    fn open(&mut self, raw: Raw, span: Span) -> bool {
        if self.stack.len() >= MAX_NESTING {
            self.errors.push(
                Diagnostic::new("nesting too deep", span)
                    .with_label(format!("more than {MAX_NESTING} brackets are open here")),
            );
            return false;
        }
        let select = raw == Raw::LBrace && self.last() == Some(&Tok::Select);
        let indent = (raw == Raw::LBrace).then(|| {
            let at = span.start as usize;
            indentation(self.src, self.lines.of(self.src, at), at)
        });
        self.stack.push(Open { tok: raw, at: span, select, indent: indent.flatten() });
        let tok = match raw {
            Raw::LParen => Tok::LParen,
            Raw::LBracket => Tok::LBracket,
            _ => Tok::LBrace,
        };
        self.push(tok, span);
        true
    }

    fn close(&mut self, raw: Raw, span: Span) {
        let (want, tok, text) = match raw {
            Raw::RParen => (Raw::LParen, Tok::RParen, ")"),
            Raw::RBracket => (Raw::LBracket, Tok::RBracket, "]"),
            _ => (Raw::LBrace, Tok::RBrace, "}"),
        };
        match self.stack.last().copied() {
            Some(open) if open.tok == want => {
                self.stack.pop();
                if tok == Tok::RBrace && self.misindented.is_none() {
                    let at = span.start as usize;
                    let closed = indentation(self.src, self.lines.of(self.src, at), at);
                    if matches!((open.indent, closed), (Some(o), Some(c)) if c < o) {
                        self.misindented = Some((open.at, span));
                    }
                }
                if tok == Tok::RBrace && self.last() == Some(&Tok::Sep) {
                    self.out.pop();
                }
                self.push(tok, span);
            }
            Some(open) => {
                let opened = match open.tok {
                    Raw::LParen => "(",
                    Raw::LBracket => "[",
                    _ => "{",
                };
                self.errors.push(
                    Diagnostic::new(format!("unmatched '{text}'"), span)
                        .with_label(format!("this '{text}' does not close the '{opened}'"))
                        .with_note(open.at, format!("the '{opened}' opened here is still open")),
                );
                // Assume the inner bracket was forgotten, so later lines still make sense.
                self.stack.pop();
                if self.stack.last().map(|o| o.tok) == Some(want) {
                    self.stack.pop();
                }
            }
            None => self
                .errors
                .push(Diagnostic::new(format!("unmatched '{text}'"), span).with_label("nothing is open here to close")),
        }
    }

    fn integer(&mut self, raw: Raw, text: &str, span: Span) {
        let (digits, radix) = match raw {
            Raw::Hex => (&text[2..], 16),
            Raw::Bin => (&text[2..], 2),
            _ => (text, 10),
        };
        let clean: String = digits.chars().filter(|&c| c != '_').collect();
        if clean.is_empty() {
            self.errors.push(Diagnostic::new("malformed number", span).with_label("no digits"));
            return;
        }
        match u64::from_str_radix(&clean, radix) {
            Ok(n) if n <= i64::MAX as u64 => self.push(Tok::Int(n as i64), span),
            _ => self.errors.push(
                Diagnostic::new("integer literal too large", span)
                    .with_label("does not fit in a 64-bit signed integer")
                    .with_hint("ints range from -9223372036854775808 to 9223372036854775807; write a float (1e30) for larger magnitudes"),
            ),
        }
    }

    /// Scans a string starting at the `"` at `quote`; returns the offset just
    /// past its closing quote (or the end of the text when unterminated).
    fn string(&mut self, quote: usize) -> usize {
        let bytes = self.src.as_bytes();
        let mut text = String::new();
        let mut pos = quote + 1;
        let mut interpolated = false;
        loop {
            let Some(c) = self.src[pos..].chars().next() else {
                self.errors.push(
                    Diagnostic::new("unterminated string", Span::new(quote, quote + 1))
                        .with_label("this string is never closed")
                        .with_hint("add a closing '\"'"),
                );
                return self.src.len();
            };
            match c {
                '"' => {
                    let tok = if interpolated { Tok::StrEnd(text) } else { Tok::Str(text) };
                    self.push(tok, Span::new(quote, pos + 1));
                    return pos + 1;
                }
                '\\' => {
                    let (escaped, len) = self.escape(pos);
                    if let Some(ch) = escaped {
                        text.push(ch);
                    }
                    pos += len;
                }
                '$' if bytes.get(pos + 1) == Some(&b'{') => {
                    // Each interpolation lexes its expression in a nested
                    // run: past the nesting limit, stop before recursing
                    // (or rescanning the rest of the text) any deeper.
                    let too_deep = |at: usize| {
                        Diagnostic::new("interpolations nest too deeply", Span::new(at, at + 2))
                            .with_label(format!("more than {MAX_NESTING} strings and brackets are open here"))
                    };
                    if self.stack.len() >= MAX_NESTING {
                        self.errors.push(too_deep(pos));
                        self.stack.clear();
                        return self.src.len();
                    }
                    let close = match skip_interpolation(self.src, pos + 2) {
                        Ok(close) => close,
                        Err(Skip::TooDeep(at)) => {
                            self.errors.push(too_deep(at));
                            self.stack.clear();
                            return self.src.len();
                        }
                        Err(Skip::Unterminated) => {
                            self.errors.push(
                                Diagnostic::new("unterminated string", Span::new(quote, quote + 1))
                                    .with_label("this string is never closed")
                                    .with_note(Span::new(pos, pos + 2), "an interpolation opened here is never closed"),
                            );
                            return self.src.len();
                        }
                    };
                    let part = std::mem::take(&mut text);
                    let tok = if interpolated { Tok::StrMid(part) } else { Tok::StrBegin(part) };
                    self.push(tok, Span::new(quote, pos + 2));
                    interpolated = true;
                    let before = self.out.len();
                    self.run(pos + 2, close, true);
                    if self.out.len() == before {
                        self.errors.push(
                            Diagnostic::new("empty interpolation", Span::new(pos, close + 1))
                                .with_label("put an expression between '${' and '}'"),
                        );
                    }
                    pos = close + 1;
                }
                _ => {
                    text.push(c);
                    pos += c.len_utf8();
                }
            }
        }
    }

    /// Decodes the escape at `pos` (a backslash); returns the character and
    /// how many bytes the escape took.
    fn escape(&mut self, pos: usize) -> (Option<char>, usize) {
        let rest = &self.src[pos + 1..];
        let Some(c) = rest.chars().next() else { return (None, 1) };
        let simple = match c {
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            '\\' => Some('\\'),
            '"' => Some('"'),
            '0' => Some('\0'),
            '$' => Some('$'),
            _ => None,
        };
        if let Some(ch) = simple {
            return (Some(ch), 2);
        }
        if c == 'u' && rest[1..].starts_with('{') {
            if let Some(close) = rest.find('}') {
                let hex = &rest[2..close];
                let span = Span::new(pos, pos + 1 + close + 1);
                let ch = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32);
                if ch.is_none() {
                    self.errors.push(
                        Diagnostic::new("invalid escape", span)
                            .with_label(format!("'{hex}' is not a Unicode scalar value in hex")),
                    );
                }
                return (ch, 1 + close + 1);
            }
        }
        let span = Span::new(pos, pos + 1 + c.len_utf8());
        self.errors.push(
            Diagnostic::new(format!("invalid escape '\\{c}'"), span)
                .with_label("unknown escape")
                .with_hint(r#"the escapes are \n \t \r \\ \" \0 \$ and \u{hex}"#),
        );
        (Some(c), 1 + c.len_utf8())
    }
}

/// Why [`skip_interpolation`] found no end.
enum Skip {
    /// Strings and interpolations nest past the limit, from this `${`.
    TooDeep(usize),
    /// The text ends first.
    Unterminated,
}

/// Finds the `}` closing an interpolation whose expression starts at `pos`,
/// skipping nested braces, strings and their own interpolations. A loop
/// over a stack of what is open, not recursion; it gives up as soon as the
/// nesting passes the limit, so deep input costs neither the native stack
/// nor a scan of the rest of the text per level.
fn skip_interpolation(src: &str, mut pos: usize) -> Result<usize, Skip> {
    enum Open {
        /// Code, with the count of its own `{` still open.
        Code(usize),
        Str,
    }
    let bytes = src.as_bytes();
    let mut open = vec![Open::Code(0)];
    while pos < bytes.len() {
        let Some(top) = open.last_mut() else { return Err(Skip::Unterminated) };
        match top {
            Open::Code(braces) => match bytes[pos] {
                b'{' => *braces += 1,
                b'}' if *braces > 0 => *braces -= 1,
                b'}' => {
                    open.pop();
                    if open.is_empty() {
                        return Ok(pos);
                    }
                }
                b'"' => open.push(Open::Str),
                b'#' => {
                    while pos < bytes.len() && bytes[pos] != b'\n' {
                        pos += 1;
                    }
                    continue;
                }
                _ => {}
            },
            Open::Str => match bytes[pos] {
                b'"' => {
                    open.pop();
                }
                b'\\' => pos += 1,
                b'$' if bytes.get(pos + 1) == Some(&b'{') => {
                    if open.len() >= 2 * MAX_NESTING {
                        return Err(Skip::TooDeep(pos));
                    }
                    open.push(Open::Code(0));
                    pos += 1;
                }
                _ => {}
            },
        }
        pos += 1;
    }
    Err(Skip::Unterminated)
}

fn punctuation(raw: Raw) -> Tok {
    match raw {
        Raw::Comma => Tok::Comma,
        Raw::Dot => Tok::Dot,
        Raw::DotDot => Tok::DotDot,
        Raw::DotDotEq => Tok::DotDotEq,
        Raw::Colon => Tok::Colon,
        Raw::FatArrow => Tok::FatArrow,
        Raw::Assign => Tok::Assign,
        Raw::PlusAssign => Tok::PlusAssign,
        Raw::MinusAssign => Tok::MinusAssign,
        Raw::StarAssign => Tok::StarAssign,
        Raw::SlashAssign => Tok::SlashAssign,
        Raw::SlashSlashAssign => Tok::SlashSlashAssign,
        Raw::PercentAssign => Tok::PercentAssign,
        Raw::EqEq => Tok::EqEq,
        Raw::NotEq => Tok::NotEq,
        Raw::Lt => Tok::Lt,
        Raw::Le => Tok::Le,
        Raw::Gt => Tok::Gt,
        Raw::Ge => Tok::Ge,
        Raw::Plus => Tok::Plus,
        Raw::Minus => Tok::Minus,
        Raw::Star => Tok::Star,
        Raw::StarStar => Tok::StarStar,
        Raw::Slash => Tok::Slash,
        Raw::SlashSlash => Tok::SlashSlash,
        Raw::Percent => Tok::Percent,
        _ => unreachable!("brackets, strings, names and numbers are handled by the caller"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_starts_match_a_search_back_in_any_order() {
        let src = "a\n\n  bc\n\tx { y\nlast";
        let naive = |at: usize| src[..at].rfind('\n').map_or(0, |i| i + 1);
        let mut lines = LineStarts::default();
        for at in (0..=src.len()).chain([3, 0, 9]).chain(5..=src.len()) {
            assert_eq!(lines.of(src, at), naive(at), "at {at}");
        }
    }

    fn first_error(src: &str) -> String {
        match tokenize(src) {
            Ok(_) => "no error".to_string(),
            Err(errors) => errors[0].message.clone(),
        }
    }

    #[test]
    fn an_endless_operator_chain_is_a_clean_error() {
        let chain = vec!["1"; MAX_STATEMENT_TOKENS / 2 + 10].join(" + ");
        assert_eq!(first_error(&format!("let x = {chain}")), "statement too long");
    }

    #[test]
    fn long_programs_of_short_statements_are_fine() {
        let program = "x = x + 1\n".repeat(MAX_STATEMENT_TOKENS / 4);
        assert!(tokenize(&program).is_ok());
    }

    #[test]
    fn brackets_nest_only_so_deep() {
        let deep = "(".repeat(MAX_NESTING + 1);
        assert_eq!(first_error(&deep), "nesting too deep");
    }
}
