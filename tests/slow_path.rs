//! Every fast case of the interpreter loop is checked against the full
//! instruction: the whole script suite runs twice, once normally and once
//! with `WEFT_SLOW_PATH=1` (every instruction through the slow path), and
//! both runs must print the same thing and end the same way. A fast case
//! that differs from the slow one (an overflow missed, a type confused, a
//! jump taken the wrong way) shows here, as a collection the collector
//! should not have made shows in the GC stress test.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Every `.weft` file under `dir`, recursively.
fn scripts(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a test folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            scripts(&path, out);
        } else if path.extension().is_some_and(|x| x == "weft") {
            out.push(path);
        }
    }
}

#[test]
fn the_slow_path_alone_runs_the_suite_the_same() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    scripts(&root.join("tests"), &mut files);
    files.sort();
    assert!(files.len() > 200, "found {} scripts", files.len());
    let mut differ = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let flags: Vec<&str> = text
            .lines()
            .find_map(|l| l.strip_prefix("# flags: "))
            .map(|f| f.split_whitespace().collect())
            .unwrap_or_default();
        let run = |slow: bool| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_weft"));
            command.current_dir(file.parent().expect("a folder")).args(&flags).arg(file);
            if slow {
                command.env("WEFT_SLOW_PATH", "1");
            }
            let out = command.output().expect("weft runs");
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            (out.status.code(), stdout, stderr)
        };
        let (normal, slow) = (run(false), run(true));
        if normal != slow {
            differ.push(format!("{}:\n  normal {normal:?}\n  slow   {slow:?}", file.display()));
        }
    }
    assert!(differ.is_empty(), "{} scripts differ:\n{}", differ.len(), differ.join("\n"));
}
