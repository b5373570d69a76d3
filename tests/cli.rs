//! The command line itself: `check`, `disasm`, usage errors and exit
//! statuses (0 ok, 1 runtime error, 2 usage or compile error).

use std::path::Path;
use std::process::{Command, Output};

fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weft"));
    command.current_dir(Path::new(env!("CARGO_MANIFEST_DIR"))).args(args);
    command
}

fn weft(args: &[&str]) -> Output {
    command(args).output().expect("weft runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn check_is_silent_on_a_good_file_and_fails_on_a_bad_one() {
    let good = weft(&["check", "examples/hello.weft"]);
    assert_eq!(good.status.code(), Some(0), "{}", stderr(&good));
    assert!(good.stdout.is_empty() && good.stderr.is_empty());

    let bad = weft(&["check", "tests/compile/multiple_errors.weft"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("Error: undefined name 'first_missing'"), "{}", stderr(&bad));
    // check compiles only: nothing of the script runs.
    assert!(bad.stdout.is_empty());
}

#[test]
fn disasm_lists_every_function_with_its_instructions() {
    let out = weft(&["disasm", "bench/fib/fib.weft"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("fn #") && listing.contains(" fib (arity 1"), "{listing}");
    assert!(listing.contains("JumpIfNotLtI") && listing.contains("Return"), "{listing}");
}

#[test]
fn usage_errors_exit_with_status_2() {
    for args in [
        &["no/such/file.weft"][..],
        &["--bogus", "x.weft"],
        &["--seed", "many", "x.weft"],
        &["--max-heap", "0", "x.weft"],
        &["-e"],
        &["check"],
        &["check", "examples/hello.weft", "extra"],
        &["check", "--seed", "1", "examples/hello.weft"],
        &["--virtual-time", "check", "examples/hello.weft"],
        &["disasm", "examples/hello.weft", "extra"],
    ] {
        let out = weft(args);
        assert_eq!(out.status.code(), Some(2), "weft {args:?}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty(), "weft {args:?} says why");
    }
}

#[test]
fn exit_statuses_follow_the_script() {
    assert_eq!(weft(&["-e", "print(1)"]).status.code(), Some(0));
    assert_eq!(weft(&["-e", "exit(3)"]).status.code(), Some(3));
    assert_eq!(weft(&["-e", "[][1]"]).status.code(), Some(1));
    assert_eq!(weft(&["-e", "print(("]).status.code(), Some(2));
}

#[test]
fn check_compiles_the_modules_a_file_imports() {
    let out = weft(&["check", "tests/language/import_broken_module.weft"]);
    let report = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{report}");
    assert!(report.contains("Error: unexpected end of input"), "{report}");
    assert!(report.contains("broken_mod.weft:2:8"), "{report}");
}

#[test]
fn output_that_cannot_be_written_fails_the_run() {
    // Linux's always-full device: every write fails with "no space".
    let Ok(full) = std::fs::File::create("/dev/full") else { return };
    let out = command(&["-e", "print(\"lost?\")"]).stdout(full).output().expect("weft runs");
    let report = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("cannot write the output"), "{report}");
}

/// Eight tasks that each print their number at once: which runs first is
/// up to the scheduler.
const RACE: &str = "nursery { for i in 0..8 { spawn { print(i) } } }";

fn race(flags: &[&str]) -> String {
    let mut args = flags.to_vec();
    args.extend(["-e", RACE]);
    let out = weft(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).replace('\n', " ")
}

#[test]
fn seeds_choose_interleavings() {
    // Without a seed the run queue is FIFO.
    assert_eq!(race(&[]), "0 1 2 3 4 5 6 7 ");
    // One seed repeats one interleaving exactly...
    let first = race(&["--seed", "1"]);
    for _ in 0..9 {
        assert_eq!(race(&["--seed", "1"]), first);
    }
    // ...and other seeds explore others (8! orders: a handful of seeds
    // cannot all agree by chance).
    let orders: std::collections::HashSet<String> = (1..=6).map(|s| race(&["--seed", &s.to_string()])).collect();
    assert!(orders.len() >= 3, "seeds 1..6 gave only {orders:?}");
    let mut numbers: Vec<&str> = first.split_whitespace().collect();
    numbers.sort();
    assert_eq!(numbers, ["0", "1", "2", "3", "4", "5", "6", "7"], "every task ran once");
}

#[test]
fn an_argument_that_is_not_utf8_is_a_usage_error() {
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"caf\xe9");
    let out = command(&["-e", "print(args())"]).arg(bad).output().expect("weft runs");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("argument 3") && stderr(&out).contains("not valid UTF-8"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn a_script_that_is_not_a_regular_file_is_refused() {
    for args in [&["/dev/zero"][..], &["check", "/dev/zero"], &["tests"]] {
        let out = weft(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("not a regular file"), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_closed_pipe_ends_the_script_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = command(&["-e", "let i = 0\nwhile true { print(i); i += 1 }"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weft runs");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut first).expect("a line");
    assert_eq!(first, "0\n");
    // The reader is gone now (as `| head -1` goes).
    let out = child.wait_with_output().expect("weft ends");
    assert_eq!(out.status.code(), Some(141), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "no report: {}", stderr(&out));
}

/// A pipe whose reader is already gone: writing to it fails with a broken
/// pipe at once, with no race against a reader closing it.
fn closed_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    writer
}

#[test]
fn the_command_lines_own_output_to_a_closed_pipe_ends_quietly() {
    for args in [&["--help"][..], &["--version"], &["disasm", "bench/fib/fib.weft"]] {
        let out = command(args).stdout(closed_pipe()).output().expect("weft runs");
        assert_eq!(out.status.code(), Some(141), "weft {args:?}: {}", stderr(&out));
        assert!(out.stderr.is_empty(), "weft {args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_report_to_a_closed_pipe_keeps_its_exit_status() {
    // `weft x.weft 2>&1 | head -0`: the report is lost, not the status,
    // and nothing panics (a panic's own message would fail there too).
    for (code, status) in [("nosuch()", 2), ("let x = 1 / 0", 1), ("exit(3)", 3)] {
        let out = command(&["-e", code]).stderr(closed_pipe()).output().expect("weft runs");
        assert_eq!(out.status.code(), Some(status), "{code}");
    }
    let out = command(&["--bogus"]).stderr(closed_pipe()).output().expect("weft runs");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn check_renders_the_first_hundred_errors_and_counts_the_rest() {
    let dir = std::env::temp_dir().join(format!("weft-many-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let file = dir.join("many.weft");
    let text: String = (0..5_000).map(|i| format!("print(undefined_{i})\n")).collect();
    std::fs::write(&file, text).expect("write the script");
    let out = weft(&["check", file.to_str().expect("a UTF-8 path")]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(2));
    let report = stderr(&out);
    assert_eq!(report.matches("Error: undefined name").count(), 100, "{}", &report[..500.min(report.len())]);
    assert!(report.trim_end().ends_with("... and 4900 more errors"), "{}", &report[report.len().saturating_sub(300)..]);
}

#[test]
fn a_million_nested_interpolations_are_one_clean_error() {
    let dir = std::env::temp_dir().join(format!("weft-deep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let file = dir.join("deep.weft");
    let n = 1_000_000;
    std::fs::write(&file, format!("print({}1{})\n", "\"${".repeat(n), "}\"".repeat(n))).expect("write");
    let out = weft(&["check", file.to_str().expect("a UTF-8 path")]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("interpolations nest too deeply"), "{}", stderr(&out));
}

#[test]
fn eprint_writes_to_stderr_and_print_to_stdout() {
    let out = weft(&["-e", "eprint(\"to stderr\", 1, [2])\nprint(\"to stdout\")"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "to stdout\n");
    assert_eq!(stderr(&out), "to stderr 1 [2]\n");
}

fn with_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = command(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("weft runs");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_script_runs_from_stdin_with_a_dash_or_when_stdin_is_not_a_terminal() {
    let script = "print(args())\nprint(1 + 2)\n";
    let dash = with_stdin(&["-", "a", "b"], script);
    assert_eq!(dash.status.code(), Some(0), "{}", stderr(&dash));
    assert_eq!(String::from_utf8_lossy(&dash.stdout), "[\"a\", \"b\"]\n3\n");
    let piped = with_stdin(&[], script);
    assert_eq!(piped.status.code(), Some(0), "{}", stderr(&piped));
    assert_eq!(String::from_utf8_lossy(&piped.stdout), "[]\n3\n");
    // Errors name the script <stdin>.
    let bad = with_stdin(&["-"], "print(1)\n[][3]\n");
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("<stdin>:2:"), "{}", stderr(&bad));
}

#[test]
fn version_and_help() {
    let version = weft(&["--version"]);
    assert_eq!(version.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&version.stdout), format!("weft {}\n", env!("CARGO_PKG_VERSION")));
    let help = weft(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in ["--seed", "--virtual-time", "--max-heap", "--sandbox", "--allow", "--version", "-e", "check", "disasm"]
    {
        assert!(text.contains(flag), "--help lists {flag}: {text}");
    }
}
