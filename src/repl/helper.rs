//! The line editor's helper: tab completion of names in scope, keywords
//! and members after `.`, and highlighting of keywords, strings and
//! numbers in the line being typed. It runs on the editor's thread, so it
//! never touches the VM: it reads a snapshot of the names that the REPL
//! refreshes after each entry.

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use weft_vm::Vm;

/// Weft's keywords, for completion and highlighting.
const KEYWORDS: &[&str] = &[
    "let", "fn", "return", "if", "else", "while", "for", "in", "break", "continue", "true", "false", "nil", "and",
    "or", "not", "try", "catch", "finally", "throw", "spawn", "nursery", "timeout", "shield", "select", "import", "as",
];

/// What completion knows of the session: the names in scope, and what may
/// follow each name's value after a `.`.
#[derive(Default)]
pub(super) struct Names {
    globals: Vec<String>,
    members: HashMap<String, Vec<String>>,
}

impl Names {
    /// The names of `vm`'s session and builtins, and their members.
    pub(super) fn of(vm: &Vm) -> Names {
        let mut globals = vm.builtin_names();
        let session: Vec<String> = vm.session_names().map(str::to_string).collect();
        let mut members = HashMap::new();
        for name in globals.iter().chain(&session) {
            if let Some(value) = vm.global(name) {
                members.insert(name.clone(), vm.members(value));
            }
        }
        globals.extend(session);
        globals.sort();
        globals.dedup();
        Names { globals, members }
    }
}

/// See the module documentation.
pub(super) struct ReplHelper {
    pub(super) names: Arc<Mutex<Names>>,
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before.rfind(|c: char| !is_name_char(c)).map_or(0, |i| i + 1);
        let prefix = &before[start..];
        let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        let pool: Vec<&str> = match before[..start].strip_suffix('.') {
            Some(receiver) => {
                // `name.`: the members of that name's value.
                let from = receiver.rfind(|c: char| !is_name_char(c)).map_or(0, |i| i + 1);
                let owner = &receiver[from..];
                names.members.get(owner).map(|m| m.iter().map(String::as_str).collect()).unwrap_or_default()
            }
            None => KEYWORDS.iter().copied().chain(names.globals.iter().map(String::as_str)).collect(),
        };
        let mut found: Vec<&str> = pool.into_iter().filter(|n| n.starts_with(prefix)).collect();
        found.sort();
        found.dedup();
        let pairs = found.into_iter().map(|n| Pair { display: n.to_string(), replacement: n.to_string() }).collect();
        Ok((start, pairs))
    }
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if std::env::var_os("NO_COLOR").is_some() {
            return Cow::Borrowed(line);
        }
        Cow::Owned(highlight(line))
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        true
    }
}

/// `line` with ANSI colors: keywords bold blue, strings green, numbers
/// yellow, comments grey. A plain scan, not the lexer: the line being
/// typed is often incomplete.
fn highlight(line: &str) -> String {
    const KEYWORD: &str = "\x1b[1;34m";
    const STRING: &str = "\x1b[32m";
    const NUMBER: &str = "\x1b[33m";
    const COMMENT: &str = "\x1b[90m";
    const RESET: &str = "\x1b[0m";
    let mut out = String::with_capacity(line.len() + 16);
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        let run_end = |mut j: usize, keep: &dyn Fn(char) -> bool| {
            while j < chars.len() && keep(chars[j].1) {
                j += 1;
            }
            j
        };
        let (j, color) = if c == '#' {
            (chars.len(), COMMENT)
        } else if c == '"' {
            let mut j = i + 1;
            while j < chars.len() && chars[j].1 != '"' {
                j += if chars[j].1 == '\\' { 2 } else { 1 };
            }
            ((j + 1).min(chars.len()), STRING)
        } else if c.is_ascii_digit() {
            (run_end(i, &|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'), NUMBER)
        } else if is_name_char(c) {
            let j = run_end(i, &is_name_char);
            let word = &line[at..chars.get(j).map_or(line.len(), |c| c.0)];
            (j, if KEYWORDS.contains(&word) { KEYWORD } else { "" })
        } else {
            (i + 1, "")
        };
        let text = &line[at..chars.get(j).map_or(line.len(), |c| c.0)];
        if color.is_empty() {
            out.push_str(text);
        } else {
            out.push_str(color);
            out.push_str(text);
            out.push_str(RESET);
        }
        i = j;
    }
    out
}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Validator for ReplHelper {}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::highlight;

    #[test]
    fn highlighting_keeps_the_text_and_colors_the_parts() {
        let line = "let s = \"a \\\" b\" + 12 # note";
        let shown = highlight(line);
        let plain: String = shown
            .split('\x1b')
            .enumerate()
            .map(|(i, part)| if i == 0 { part } else { part.split_once('m').map_or(part, |(_, rest)| rest) })
            .collect();
        assert_eq!(plain, line);
        assert!(shown.starts_with("\x1b[1;34mlet\x1b[0m"));
        assert!(shown.contains("\x1b[33m12\x1b[0m"));
        assert!(shown.contains("\x1b[90m# note\x1b[0m"));
    }
}
