//! Runs every program in `examples/` and compares its output with
//! `tests/examples_expected/NAME.txt`, so the examples stay runnable and
//! their documented output stays true. They run with `--seed 1` on the
//! virtual clock, except those whose point is a real deadline cutting off
//! a busy loop (a virtual deadline cannot expire while a task spins).

use std::path::Path;
use std::process::Command;

/// Examples that need the real clock.
const REAL_TIME: &[&str] = &["cancellation"];

/// Examples that end with an uncaught error on purpose.
const FAILING: &[&str] = &["errors"];

#[test]
fn examples_print_what_they_promise() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(root.join("examples"))
        .expect("examples/ exists")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let is_weft = path.extension()? == "weft";
            is_weft.then(|| path.file_stem().map(|s| s.to_string_lossy().into_owned())).flatten()
        })
        .collect();
    names.sort();
    assert!(names.len() >= 5, "expected the examples, found {names:?}");

    let mut failures = Vec::new();
    for name in &names {
        let mut command = Command::new(env!("CARGO_BIN_EXE_weft"));
        command.current_dir(root).args(["--seed", "1"]);
        if !REAL_TIME.contains(&name.as_str()) {
            command.arg("--virtual-time");
        }
        let output = command.arg(format!("examples/{name}.weft")).output().expect("weft runs");
        let expected_status = if FAILING.contains(&name.as_str()) { 1 } else { 0 };
        let expected = std::fs::read_to_string(root.join(format!("tests/examples_expected/{name}.txt")))
            .unwrap_or_else(|_| format!("<no tests/examples_expected/{name}.txt>"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        if output.status.code() != Some(expected_status) || stdout != expected {
            failures.push(format!(
                "{name}: status {:?} (want {expected_status})\n--- stdout\n{stdout}--- expected\n{expected}--- stderr\n{}",
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
