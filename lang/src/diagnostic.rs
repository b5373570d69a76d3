//! Diagnostics: the one error type of the front end, and its rendering as an
//! ariadne report. Every compile error carries a span, a short message, and
//! optionally secondary labels and a hint. Rendering never panics, whatever
//! the spans say: they are clamped to the source first.

use std::fmt;

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start: start as u32, end: end as u32 }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// A compile-time error (or the headline of a runtime one).
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub message: String,
    pub span: Span,
    pub label: Option<String>,
    pub notes: Vec<(Span, String)>,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic { message: message.into(), span, label: None, notes: Vec::new(), hint: None }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    pub fn with_note(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.notes.push((span, text.into()));
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Clamps a span to the text and to char boundaries, so that a report about
/// any span of any source renders instead of panicking.
fn char_range(text: &str, span: Span) -> std::ops::Range<usize> {
    let clamp = |mut i: usize| {
        i = i.min(text.len());
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        text[..i].chars().count()
    };
    let start = clamp(span.start as usize);
    let end = clamp(span.end as usize).max(start);
    start..end
}

impl Diagnostic {
    /// Renders this diagnostic against its source text as an ariadne report:
    /// headline, the source with the span underlined, secondary labels, and
    /// a hint. `kind` (an error kind such as `TypeError`) prefixes the
    /// headline when it is not empty.
    pub fn render_as(&self, kind: &str, file: &str, text: &str, color: bool) -> String {
        use ariadne::{Config, Label, Report, ReportKind, Source};
        let headline = if kind.is_empty() { self.message.clone() } else { format!("{kind}: {}", self.message) };
        if let Some(short) = self.render_long_line(&headline, file, text) {
            return short;
        }
        let range = char_range(text, self.span);
        let mut report = Report::build(ReportKind::Error, (file, range.clone()))
            .with_config(Config::default().with_color(color))
            .with_message(&headline);
        let mut primary = Label::new((file, range));
        if let Some(label) = &self.label {
            primary = primary.with_message(label);
        }
        report = report.with_label(primary);
        for (span, note) in &self.notes {
            report = report.with_label(Label::new((file, char_range(text, *span))).with_message(note));
        }
        if let Some(hint) = &self.hint {
            report = report.with_help(hint);
        }
        let mut out = Vec::new();
        let written = report.finish().write((file, Source::from(text)), &mut out);
        match written {
            Ok(()) => String::from_utf8_lossy(&out).into_owned(),
            Err(_) => format!("error: {headline}\n --> {file}\n"),
        }
    }

    /// A report for a span on a very long line (minified or generated
    /// code): the line is shown as a window around the span, not whole.
    fn render_long_line(&self, headline: &str, file: &str, text: &str) -> Option<String> {
        const MAX_LINE: usize = 400;
        const CONTEXT: usize = 60;
        let start = (self.span.start as usize).min(text.len());
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line = text.get(line_start..line_end)?;
        if line.chars().count() <= MAX_LINE {
            return None;
        }
        let line_no = text[..line_start].matches('\n').count() + 1;
        let column = text.get(line_start..start)?.chars().count();
        let chars: Vec<char> = line.chars().collect();
        let from = column.saturating_sub(CONTEXT);
        let to = (column + CONTEXT).min(chars.len());
        let window: String = chars[from..to].iter().collect();
        let lead = if from > 0 { "..." } else { "" };
        let tail = if to < chars.len() { "..." } else { "" };
        let caret = " ".repeat(lead.len() + column - from);
        let mut out = format!("Error: {headline}\n --> {file}:{line_no}:{}\n", column + 1);
        out.push_str(&format!("  | {lead}{window}{tail}\n  | {caret}^"));
        if let Some(label) = &self.label {
            out.push_str(&format!(" {label}"));
        }
        out.push('\n');
        if let Some(hint) = &self.hint {
            out.push_str(&format!("  = help: {hint}\n"));
        }
        Some(out)
    }

    /// Renders this compile error against its source text.
    pub fn render(&self, file: &str, text: &str, color: bool) -> String {
        self.render_as("", file, text, color)
    }
}

/// Edit distance for "did you mean" hints: insertions, deletions,
/// substitutions and swaps of two adjacent characters each cost one (the
/// optimal string alignment distance), so `coutn` is one typo from `count`.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the table: before last, last, current.
    let mut older: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut row: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (prev[j] + 1).min(row[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(older[j - 2] + 1);
            }
        }
        std::mem::swap(&mut older, &mut prev);
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}

/// Names longer than this get no "did you mean": the search would cost the
/// square of their length per candidate.
const LONGEST_SUGGESTED: usize = 64;

/// The most candidates one search computes a full distance for: a file
/// with thousands of similar names gets its hints in linear time.
const MOST_COMPARED: usize = 256;

/// Characters counted by their low 6 bits: a cheap summary of a name.
fn histogram(s: &str) -> [u8; 64] {
    let mut h = [0u8; 64];
    for c in s.chars() {
        let slot = &mut h[(c as usize) & 63];
        *slot = slot.saturating_add(1);
    }
    h
}

/// The closest candidate to `name`, if one is close enough to be a typo.
///
/// An edit changes at most two letter counts, so a candidate whose counts
/// differ from the name's by `k` is at least `k / 2` edits away. The search
/// computes full distances band by band, nearest letter counts first, and
/// stops once the best distance found is below what any later band could
/// reach: typos are found after a few comparisons, and no search makes more
/// than `MOST_COMPARED`. Candidates too different in length are skipped
/// outright.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let len = name.chars().count();
    if len > LONGEST_SUGGESTED {
        return None;
    }
    let limit = (len / 3).max(1);
    let letters = histogram(name);
    let differ = |c: &str| -> usize {
        let h = histogram(c);
        letters.iter().zip(h.iter()).map(|(a, b)| a.abs_diff(*b) as usize).sum()
    };
    let near: Vec<(&str, usize)> = candidates
        .filter(|c| *c != name && c.len() <= 4 * (len + limit) && c.chars().count().abs_diff(len) <= limit)
        .map(|c| (c, differ(c)))
        .filter(|&(_, k)| k <= 2 * limit)
        .collect();
    let mut best: Option<(usize, &str)> = None;
    let mut compared = 0;
    for band in 1..=limit {
        let low = if band == 1 { 0 } else { 2 * (band - 1) + 1 };
        for &(c, _) in near.iter().filter(|&&(_, k)| (low..=2 * band).contains(&k)) {
            if compared == MOST_COMPARED {
                return best.map(|(_, c)| c);
            }
            compared += 1;
            let d = edit_distance(name, c);
            if d <= limit && best.is_none_or(|b| (d, c) < b) {
                best = Some((d, c));
            }
        }
        // Every candidate left is more than `band` edits away.
        if best.is_some_and(|(d, _)| d <= band) {
            break;
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::{edit_distance, Diagnostic, Span};

    #[test]
    fn the_closest_name_is_found_among_many_similar_ones() {
        let names: Vec<String> = (0..5000).map(|i| format!("value_{i:05}_total")).collect();
        let found = super::closest("value_01234_totl", names.iter().map(String::as_str));
        assert_eq!(found, Some("value_01234_total"));
        assert_eq!(super::closest("coutn", ["count", "amount", "c"].into_iter()), Some("count"));
        assert_eq!(super::closest("zzzzzz", ["count"].into_iter()), None);
    }

    #[test]
    fn a_swap_of_adjacent_characters_is_one_edit() {
        assert_eq!(edit_distance("coutn", "count"), 1);
        assert_eq!(edit_distance("prnit", "print"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn a_report_on_a_huge_line_shows_a_window_of_it() {
        let text = format!("let x = {}y", "1 + ".repeat(10_000));
        let at = text.len() - 1;
        let report = Diagnostic::new("undefined name 'y'", Span::new(at, at + 1)).render("big.weft", &text, false);
        assert!(report.starts_with("Error: undefined name 'y'\n --> big.weft:1:40009\n"), "{report}");
        assert!(report.len() < 500, "{report}");
    }
}
