//! The language test harness: runs every `.weft` file under `tests/` with
//! the `weft` binary and checks it against the expectations written in its
//! comments (SPEC section 12):
//!
//! - `# expect: TEXT` — the next line of stdout is exactly TEXT;
//! - `# expect runtime error: Kind` (or `Kind: message`) — the run ends with
//!   an uncaught error whose report headline is that, and exit status 1;
//!   when the report points into the test's own file, it points at the
//!   line that carries this comment;
//! - `# expect compile error: TEXT` — compilation fails with a headline
//!   containing TEXT, and exit status 2;
//! - `# expect hint: TEXT` — some report on stderr carries a `Help:` hint
//!   containing TEXT (e.g. a "did you mean" suggestion);
//! - `# flags: ...` — extra command-line flags before the file;
//! - `# stdin: TEXT` — a line fed to standard input.
//!
//! Files ending in `_mod.weft` are modules imported by tests, not tests.
//! Each test is a named trial, so `cargo test --test scripts -- language/`
//! runs one folder. A run that panics, prints a Rust backtrace, reports an
//! internal error, or takes more than a minute fails whatever it printed.

use libtest_mimic::{Arguments, Failed, Trial};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TIME_LIMIT: Duration = Duration::from_secs(60);

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    collect(&root.join("tests"), &mut files);
    files.sort();
    let trials = files
        .into_iter()
        .map(|path| {
            let name = path.strip_prefix(root.join("tests")).unwrap_or(&path).to_string_lossy().into_owned();
            Trial::test(name, move || run_test(&path))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "weft") && !path.to_string_lossy().ends_with("_mod.weft") {
            out.push(path);
        }
    }
}

#[derive(Default)]
struct Expectations {
    stdout: Vec<String>,
    runtime_error: Option<String>,
    /// The 1-based line of the `expect runtime error` comment.
    runtime_error_line: usize,
    compile_error: Option<String>,
    hints: Vec<String>,
    flags: Vec<String>,
    stdin: String,
}

fn parse(text: &str) -> Expectations {
    let mut e = Expectations::default();
    for (number, line) in text.lines().enumerate() {
        let Some(at) = line.find('#') else { continue };
        let comment = line[at + 1..].trim_start();
        if let Some(rest) = comment.strip_prefix("expect: ") {
            e.stdout.push(rest.to_string());
        } else if comment == "expect:" {
            e.stdout.push(String::new());
        } else if let Some(rest) = comment.strip_prefix("expect runtime error: ") {
            e.runtime_error = Some(rest.trim().to_string());
            e.runtime_error_line = number + 1;
        } else if let Some(rest) = comment.strip_prefix("expect compile error: ") {
            e.compile_error = Some(rest.trim().to_string());
        } else if let Some(rest) = comment.strip_prefix("expect hint: ") {
            e.hints.push(rest.trim().to_string());
        } else if let Some(rest) = comment.strip_prefix("flags: ") {
            e.flags.extend(rest.split_whitespace().map(String::from));
        } else if let Some(rest) = comment.strip_prefix("stdin: ") {
            e.stdin.push_str(rest);
            e.stdin.push('\n');
        }
    }
    e
}

struct Output {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run_weft(path: &Path, e: &Expectations) -> Result<Output, Failed> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(&e.flags)
        .arg(path)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot start weft: {err}"))?;
    let mut stdin = child.stdin.take().expect("piped");
    let input = e.stdin.clone();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let mut out_pipe = child.stdout.take().expect("piped");
    let mut err_pipe = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out_pipe.read_to_end(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err_pipe.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|err| err.to_string())? {
            break status;
        }
        if start.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {TIME_LIMIT:?}").into());
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = feeder.join();
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    Ok(Output { status: status.code(), stdout, stderr })
}

/// The hints of the reports on stderr: what follows `Help: ` in a line.
/// Echoed source lines cannot match: a test writes `# expect hint:` in
/// lower case.
fn hints(stderr: &str) -> Vec<&str> {
    stderr.lines().filter_map(|l| l.find("Help: ").map(|at| &l[at + "Help: ".len()..])).collect()
}

/// The headlines of the reports on stderr: `Error: <headline>` lines.
/// The line the first report points at, when it points into `path`: the
/// report's `╭─[ FILE:LINE:COL ]` header.
fn reported_line(stderr: &str, path: &Path) -> Option<usize> {
    let header = stderr.lines().find_map(|l| l.trim_start().strip_prefix("╭─[ "))?;
    let location = header.trim_end_matches(" ]");
    let mut parts = location.rsplitn(3, ':');
    let (_col, line, file) = (parts.next()?, parts.next()?, parts.next()?);
    let same = Path::new(file).file_name() == path.file_name();
    same.then(|| line.parse().ok()).flatten()
}

fn headlines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter_map(|l| l.strip_prefix("Error: ").or_else(|| l.strip_prefix("error: "))).collect()
}

fn run_test(path: &Path) -> Result<(), Failed> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read test: {e}"))?;
    let e = parse(&text);
    let out = run_weft(path, &e)?;
    let context = || format!("\n--- stdout ---\n{}--- stderr ---\n{}", out.stdout, out.stderr);
    if out.stderr.contains("panicked at") || out.stderr.contains("RUST_BACKTRACE") {
        return Err(format!("the interpreter panicked{}", context()).into());
    }
    if out.stderr.contains("Error: Internal:") || out.stderr.contains("internal error") {
        return Err(format!("the interpreter reported an internal error{}", context()).into());
    }
    let lines: Vec<&str> = out.stdout.lines().collect();
    if lines != e.stdout {
        let mut diff = String::from("stdout differs:\n");
        for i in 0..lines.len().max(e.stdout.len()) {
            let want = e.stdout.get(i).map(String::as_str);
            let got = lines.get(i).copied();
            let mark = if want == got { "  " } else { "! " };
            diff.push_str(&format!("{mark}line {}: expected {:?}, got {:?}\n", i + 1, want, got));
        }
        return Err(format!("{diff}{}", context()).into());
    }
    let heads = headlines(&out.stderr);
    let helps = hints(&out.stderr);
    for want in &e.hints {
        if !helps.iter().any(|h| h.contains(want.as_str())) {
            return Err(format!("no hint contains {want:?}{}", context()).into());
        }
    }
    if let Some(want) = &e.compile_error {
        if out.status != Some(2) {
            return Err(format!("expected a compile error (status 2), got status {:?}{}", out.status, context()).into());
        }
        if !heads.iter().any(|h| h.contains(want.as_str())) {
            return Err(format!("no compile error headline contains {want:?}{}", context()).into());
        }
    } else if let Some(want) = &e.runtime_error {
        if out.status != Some(1) {
            return Err(format!("expected a runtime error (status 1), got status {:?}{}", out.status, context()).into());
        }
        let head = heads.first().copied().unwrap_or("");
        let matches = if want.contains(": ") { head == want } else { head.split(": ").next() == Some(want.as_str()) };
        if !matches {
            return Err(format!("expected runtime error {want:?}, headline is {head:?}{}", context()).into());
        }
        if let Some(line) = reported_line(&out.stderr, path) {
            if line != e.runtime_error_line {
                let marker = e.runtime_error_line;
                return Err(format!(
                    "the error is reported at line {line}, the marker is on line {marker}{}",
                    context()
                )
                .into());
            }
        }
    } else if out.status != Some(0) {
        return Err(format!("expected success, got status {:?}{}", out.status, context()).into());
    }
    Ok(())
}
