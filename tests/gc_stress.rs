//! Collection must be invisible to scripts. Runs every concurrency test
//! twice, once with `WEFT_GC_STRESS=1` (a collection at every safe point),
//! and checks that both runs print the same thing and end the same way:
//! a value the collector did not see as live, or a collection that moved
//! a task in the run queue or let a cancellation in, would show here.

use std::path::Path;
use std::process::Command;

/// Tests too heavy to collect at every allocation.
const HEAVY: &[&str] = &["many_tasks.weft"];

#[test]
fn collecting_at_every_safe_point_changes_nothing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(root.join("tests/concurrency"))
        .expect("tests/concurrency exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "weft"))
        .filter(|p| !HEAVY.iter().any(|h| p.ends_with(h)))
        .collect();
    files.sort();
    assert!(files.len() > 20, "found {files:?}");
    let mut differ = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable");
        let flags: Vec<&str> = text
            .lines()
            .find_map(|l| l.strip_prefix("# flags: "))
            .map(|f| f.split_whitespace().collect())
            .unwrap_or_default();
        let run = |stress: bool| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_weft"));
            command.current_dir(root).args(&flags).arg(file);
            if stress {
                command.env("WEFT_GC_STRESS", "1");
            }
            let out = command.output().expect("weft runs");
            (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
        };
        let (normal, stressed) = (run(false), run(true));
        if normal != stressed {
            differ.push(format!("{}:\n  normal   {normal:?}\n  stressed {stressed:?}", file.display()));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}
