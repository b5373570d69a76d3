//! The guides' transcripts stay true: every ```weft block of docs/*.md
//! that is followed by a ```text block starting with `$ weft ... FILE.weft`
//! is written to FILE.weft and run with those flags, and what it prints
//! (standard output, then standard error) must be the rest of the block.
//! Left out: transcripts of a session (a `^C` typed, a second `$` command)
//! and programs that import files shown in other blocks.

use std::path::Path;
use std::process::Command;

struct Transcript {
    guide: String,
    line: usize,
    code: String,
    args: Vec<String>,
    file: String,
    expected: String,
}

/// The fenced blocks of a Markdown text: (language, first line number, body).
fn blocks(text: &str) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    let mut open: Option<(String, usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(lang)) => open = Some((lang.trim().to_string(), i + 1, String::new())),
            (Some(_), Some("")) => out.extend(open.take()),
            (Some((_, _, body)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

fn transcripts(guide: &str, text: &str) -> Vec<Transcript> {
    let blocks = blocks(text);
    let mut out = Vec::new();
    for pair in blocks.windows(2) {
        let [(lang, line, code), (next, _, shown)] = pair else { continue };
        if lang != "weft" || next != "text" {
            continue;
        }
        let Some((command, expected)) = shown.split_once('\n') else { continue };
        let Some(rest) = command.strip_prefix("$ weft ") else { continue };
        let words: Vec<String> = rest.split_whitespace().map(String::from).collect();
        let Some(at) = words.iter().position(|w| w.ends_with(".weft")) else { continue };
        let session = expected.lines().any(|l| l == "^C" || l.starts_with("$ "));
        if session || code.contains("import \"") {
            continue;
        }
        out.push(Transcript {
            guide: guide.to_string(),
            line: *line,
            code: code.clone(),
            args: words.clone(),
            file: words[at].clone(),
            expected: expected.to_string(),
        });
    }
    out
}

#[test]
fn guide_transcripts_print_what_they_show() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("weft-guides-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let mut checked = 0;
    let mut failures = Vec::new();
    let guides =
        ["docs/concurrency.md", "docs/language.md", "docs/embedding.md", "docs/io.md", "docs/http.md", "docs/repl.md"];
    for guide in guides.into_iter().chain(["README.md"]) {
        let text = std::fs::read_to_string(root.join(guide)).expect("the guide exists");
        for t in transcripts(guide, &text) {
            std::fs::write(dir.join(&t.file), &t.code).expect("write the example");
            let output = Command::new(env!("CARGO_BIN_EXE_weft"))
                .current_dir(&dir)
                .env("NO_COLOR", "1")
                .args(&t.args)
                .output()
                .expect("weft runs");
            let mut printed = String::from_utf8_lossy(&output.stdout).into_owned();
            printed.push_str(&String::from_utf8_lossy(&output.stderr));
            let trim = |s: &str| s.lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
            if trim(&printed) != trim(&t.expected) {
                failures.push(format!(
                    "{}:{} ({}): printed\n{printed}--- but the guide shows\n{}",
                    t.guide, t.line, t.file, t.expected
                ));
            }
            checked += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(checked >= 20, "only {checked} transcripts found");
    assert!(failures.is_empty(), "{} of {checked} transcripts differ:\n\n{}", failures.len(), failures.join("\n\n"));
}
