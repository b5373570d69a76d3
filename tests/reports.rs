//! Checks the parts of error reports that the `.weft` harness does not
//! (it matches only the first headline): what a deadlock report says each
//! blocked task waits on, the chain of spawn sites of a failing task, a
//! nursery's other failures, and which compile errors a file reports, in
//! what order.

use std::path::Path;
use std::process::Command;

/// Runs a script under `tests/reports/` and returns its exit status and stderr.
fn run(name: &str) -> (Option<i32>, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(env!("CARGO_BIN_EXE_weft"))
        .current_dir(root)
        .args(["--virtual-time", "--seed", "1"])
        .arg(format!("tests/reports/{name}.weft"))
        .output()
        .expect("weft runs");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// The headline of every report, in order.
fn headlines(report: &str) -> Vec<&str> {
    report.lines().filter(|l| l.starts_with("Error: ")).collect()
}

fn assert_has(report: &str, line: &str) {
    assert!(report.lines().any(|l| l.trim() == line), "no line {line:?} in the report:\n{report}");
}

#[test]
fn deadlock_report_names_each_select_case_and_where_its_channel_was_made() {
    let (status, report) = run("deadlock_select");
    assert_eq!(status, Some(1));
    assert_has(&report, "Error: Deadlock: every task is blocked and nothing can wake one");
    assert_has(&report, "main task: waiting on select: recv on channel made at tests/reports/deadlock_select.weft:4:9");
    assert_has(
        &report,
        "task spawned at tests/reports/deadlock_select.weft:5:1: waiting on select: \
         recv on channel made at tests/reports/deadlock_select.weft:3:9, \
         send on channel made at tests/reports/deadlock_select.weft:2:9",
    );
    // Each blocked task's stack follows its line.
    assert_has(&report, "<fn> at tests/reports/deadlock_select.weft:6:5");
}

#[test]
fn task_failure_report_shows_the_chain_of_spawn_sites() {
    let (status, report) = run("spawn_chain");
    assert_eq!(status, Some(1));
    assert_has(&report, "inner at tests/reports/spawn_chain.weft:4:12");
    assert_has(&report, "in task spawned at tests/reports/spawn_chain.weft:7:13");
    assert_has(&report, "in task spawned at tests/reports/spawn_chain.weft:10:1");
}

#[test]
fn a_function_too_large_is_reported_once() {
    let (status, report) = run("too_many_locals");
    assert_eq!(status, Some(2));
    assert_eq!(headlines(&report), ["Error: function too large"], "{report}");
}

#[test]
fn syntax_errors_and_name_errors_are_reported_together_in_source_order() {
    let (status, report) = run("syntax_and_name_errors");
    assert_eq!(status, Some(2));
    assert_eq!(
        headlines(&report),
        [
            "Error: undefined name 'aa'",
            "Error: unexpected '*'",
            "Error: undefined name 'bb'",
            "Error: unexpected '='",
            "Error: undefined name 'cc'",
            "Error: unexpected '}'",
            "Error: 'break' outside a loop",
        ]
    );
}

#[test]
fn compile_errors_print_in_source_order() {
    let (status, report) = run("errors_in_source_order");
    assert_eq!(status, Some(2));
    assert_eq!(
        headlines(&report),
        ["Error: undefined name 'first'", "Error: undefined name 'second'", "Error: undefined name 'third'"]
    );
}

#[test]
fn an_uncaught_nursery_failure_lists_its_other_failures() {
    let (status, report) = run("fail_fast_others");
    assert_eq!(status, Some(1));
    assert_has(&report, "1 other task of the nursery failed too (e.others):");
    assert_has(&report, "Second: two");
    assert_has(&report, "<fn> at tests/reports/fail_fast_others.weft:12:13");
}
