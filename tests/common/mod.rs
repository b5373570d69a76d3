//! What the differential harnesses (`gc_stress.rs`, `slow_path.rs`) share:
//! finding every script of the suite, and running one with or without an
//! environment variable that must change nothing a script can see.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Every `.weft` file under `tests/`, sorted, but those whose path ends
/// with one of `skip`.
pub fn suite(skip: &[&str]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    collect(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"), &mut files);
    files.retain(|p| !skip.iter().any(|s| p.ends_with(s)));
    files.sort();
    files
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a test folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|x| x == "weft") {
            out.push(path);
        }
    }
}

/// How a run ended: exit status, stdout, stderr.
pub type Ending = (Option<i32>, String, String);

/// Runs `file` from its folder with its `# flags:`, and with `var=1` set
/// when `var` is given.
pub fn run(file: &Path, var: Option<&str>) -> Ending {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let flags: Vec<&str> = text
        .lines()
        .find_map(|l| l.strip_prefix("# flags: "))
        .map(|f| f.split_whitespace().collect())
        .unwrap_or_default();
    let mut command = Command::new(env!("CARGO_BIN_EXE_weft"));
    command.current_dir(file.parent().expect("a folder")).args(&flags).arg(file);
    if let Some(var) = var {
        command.env(var, "1");
    }
    let out = command.output().expect("weft runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code(), stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Runs every file with and without `var`; describes each that differs.
pub fn differences(files: &[PathBuf], var: &str) -> Vec<String> {
    let mut differ = Vec::new();
    for file in files {
        let (plain, with) = (run(file, None), run(file, Some(var)));
        if plain != with {
            differ.push(format!("{}:\n  without {var} {plain:?}\n  with    {var} {with:?}", file.display()));
        }
    }
    differ
}
