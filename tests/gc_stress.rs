//! Collection must be invisible to scripts. Runs every script under
//! `tests/` twice, once with `WEFT_GC_STRESS=1` (a collection at every
//! safe point), and checks that both runs print the same thing and end the
//! same way: a value the collector did not see as live, or a collection
//! that moved a task in the run queue or let a cancellation in, would show
//! here.

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

/// Scripts too heavy to collect at every safe point: each allocates
/// hundreds of megabytes, or many thousands of frames, on purpose.
const HEAVY: &[&str] = &[
    "concurrency/many_tasks.weft",
    "errors/out_of_memory.weft",
    "errors/stack_overflow_caught.weft",
    "errors/stack_overflow_through_finally.weft",
    "lang/deep_and_cyclic_values.weft",
    "lang/gc_reclaims_cycles.weft",
    "limits/channel_buffer_counts_against_the_heap.weft",
    "limits/task_stacks_count_against_the_heap.weft",
    "limits/tasks_count_against_the_heap.weft",
];

#[test]
fn collecting_at_every_safe_point_changes_nothing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    scripts(&root.join("tests"), &mut files);
    files.retain(|p| !HEAVY.iter().any(|h| p.ends_with(h)));
    files.sort();
    assert!(files.len() > 200, "found {} scripts", files.len());
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
            command.current_dir(file.parent().expect("a folder")).args(&flags).arg(file);
            if stress {
                command.env("WEFT_GC_STRESS", "1");
            }
            let out = command.output().expect("weft runs");
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
        };
        let (normal, stressed) = (run(false), run(true));
        if normal != stressed {
            differ.push(format!("{}:\n  normal   {normal:?}\n  stressed {stressed:?}", file.display()));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}
