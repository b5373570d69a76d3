//! Hostile scripts against a sandboxed VM: each one must come back to the
//! host as a clean error of the right kind, within its limits and in
//! bounded time, and leave the VM able to run the next piece of code.

use std::time::{Duration, Instant};
use weft::{Capabilities, Vm};

/// A VM with every capability off and every cap set.
fn sandboxed() -> Vm {
    Vm::builder()
        .capabilities(Capabilities::none())
        .max_heap(32 << 20)
        .max_instructions(20_000_000)
        .max_call_depth(500)
        .max_tasks(200)
        .build()
        .expect("the VM builds")
}

/// Runs `code` on `vm`, expecting an error of `kind` within `within`;
/// then checks that the VM still runs code.
fn expect_error(vm: &mut Vm, code: &str, kind: &str, within: Duration) -> weft::Error {
    let start = Instant::now();
    let error = vm.exec(code).expect_err("the hostile script fails");
    assert_eq!(error.kind(), kind, "{error}");
    assert!(start.elapsed() < within, "took {:?}, more than {within:?}", start.elapsed());
    assert_eq!(vm.eval::<i64>("1 + 1").expect("the VM runs on"), 2);
    error
}

#[test]
fn an_infinite_loop_meets_the_instruction_limit() {
    let mut vm = sandboxed();
    let error = expect_error(&mut vm, "while true {}", "Limit", Duration::from_secs(10));
    assert!(error.message().contains("max_instructions"), "names the limit: {error}");
    assert!(vm.instructions_counted() < 1_000_000, "counting starts again for each run");
}

#[test]
fn a_loop_that_catches_every_error_still_ends_at_the_instruction_limit() {
    let mut vm = sandboxed();
    let code = "let caught = 0\nwhile true {\n  try { while true {} } catch e { caught += 1 }\n}";
    expect_error(&mut vm, code, "Limit", Duration::from_secs(10));
    // Catching the error and returning normally does not escape it either.
    let code = "fn spin() { try { while true {} } catch e { return \"caught\" } }\nspin()";
    expect_error(&mut vm, code, "Limit", Duration::from_secs(10));
    // Nor does catching it in every task of a nursery.
    let code = "for i in 0..10 { spawn { try { while true {} } catch e {} } }";
    expect_error(&mut vm, code, "Limit", Duration::from_secs(10));
}

#[test]
fn the_instruction_limit_is_catchable_where_it_is_hit() {
    let mut vm = sandboxed();
    let code = "let seen = nil\ntry { while true {} } catch e { seen = e.kind }\nseen";
    let error = vm.eval::<String>(code).unwrap_err();
    // The script saw the error (and the run ended with it all the same).
    assert_eq!(error.kind(), "Limit");
}

#[test]
fn unbounded_allocation_meets_the_heap_limit() {
    let mut vm = sandboxed();
    let code = "let xs = []\nwhile true { xs.push([1, 2, 3, 4, 5, 6, 7, 8]) }";
    let error = expect_error(&mut vm, code, "OutOfMemory", Duration::from_secs(20));
    assert!(error.message().contains("limit"), "{error}");
    let code = "let s = \"ab\"\nwhile true { s = s + s }";
    expect_error(&mut vm, code, "OutOfMemory", Duration::from_secs(20));
}

#[test]
fn deep_recursion_meets_the_call_depth_limit() {
    let mut vm = sandboxed();
    let error = expect_error(
        &mut vm,
        "fn down(n) { return down(n + 1) + 1 }\ndown(0)",
        "StackOverflow",
        Duration::from_secs(10),
    );
    assert!(error.message().contains("500"), "names the limit: {error}");
}

/// The time slice, in instructions: how far past the limit a run may go
/// before the limit is checked (`weft_vm::task::BUDGET`).
const SLICE: u64 = 20_000;

#[test]
fn a_cap_stops_a_loop_after_that_many_instructions() {
    let cap = 1_000_000;
    let mut vm = Vm::builder().max_instructions(cap).build().unwrap();
    // The loop's body is 4 instructions (`weft disasm`: AddI, Move,
    // SetGlobal, Loop; `while true` has no test): with no branch in the
    // body, the count is exact, but for the call of `spin`, which charges
    // two.
    let code = "let last = 0\nfn spin() {\n  let n = 0\n  while true {\n    n += 1\n    last = n\n  }\n}\nspin()";
    let error = vm.exec(code).unwrap_err();
    assert_eq!(error.kind(), "Limit", "{error}");
    let iterations = vm.get_global::<i64>("last").unwrap() as u64;
    let counted = vm.instructions_counted();
    assert_eq!(counted, 4 * iterations + 2, "{iterations} iterations");
    assert!(counted > cap && counted <= cap + SLICE, "{counted} counted for a cap of {cap}");
}

#[test]
fn a_loop_is_counted_in_full_across_its_time_slices() {
    // The loop's body is 3 instructions (`weft disasm`: AddI, Int,
    // JumpIfLt), charged at each of its 100,000 back edges: 15 slices'
    // worth, so the task is preempted 15 times and what it spent must be
    // handed back at each preemption for the count to be whole.
    let spin = "fn spin() {\n  let n = 0\n  while n < 100000 {\n    n += 1\n  }\n}\nspin()";
    let mut vm = Vm::new().unwrap();
    vm.exec(spin).unwrap();
    assert_eq!(vm.instructions_counted(), 100_000 * 3 + 2);
}

#[test]
fn calls_count() {
    // No loop at all: `f` is called 10,001 times, each call charging two
    // instructions (the call and the return).
    let recurse = "fn f(n) {\n  if n == 0 { return 0 }\n  return f(n - 1)\n}\n";
    let mut vm = Vm::new().unwrap();
    vm.exec(&format!("{recurse}f(10000)")).unwrap();
    assert_eq!(vm.instructions_counted(), 10_001 * 2);
    // So recursion alone meets the limit, long before its stack would.
    let mut vm = Vm::builder().max_instructions(50_000).build().unwrap();
    let error = vm.exec(&format!("{recurse}f(90000)")).unwrap_err();
    assert_eq!(error.kind(), "Limit", "{error}");
}

#[test]
fn a_million_spawns_meet_the_task_limit() {
    let mut vm = sandboxed();
    let code = "for i in 0..1000000 { spawn sleep(1000) }";
    let error = expect_error(&mut vm, code, "Limit", Duration::from_secs(10));
    assert!(error.message().contains("max_tasks"), "names the limit: {error}");
    // Spawning and catching the refusal ends at the instruction limit instead.
    let mut vm = Vm::builder().sandbox().max_tasks(200).max_instructions(100_000).build().unwrap();
    let code = "while true { try { spawn sleep(1000) } catch e {} }";
    let error = expect_error(&mut vm, code, "Limit", Duration::from_secs(20));
    assert!(error.message().contains("max_instructions"), "{error}");
}

#[test]
fn files_network_processes_environment_and_stdin_are_denied() {
    let mut vm = sandboxed();
    for code in [
        "read_file(\"/etc/passwd\")",
        "write_file(\"/tmp/weft-sandbox-escape\", \"x\")",
        "net.listen(\"127.0.0.1\", 0)",
        "net.connect(\"127.0.0.1\", 9)",
        "spawn_process(\"true\")",
        "exec(\"true\")",
        "env(\"HOME\")",
        "read_line()",
    ] {
        let error = expect_error(&mut vm, code, "PermissionDenied", Duration::from_secs(10));
        assert!(error.message().contains("capability"), "{code}: {error}");
    }
    assert!(!std::path::Path::new("/tmp/weft-sandbox-escape").exists());
}

#[test]
fn a_fork_bomb_of_processes_is_held_by_the_task_limit() {
    if std::process::Command::new("sleep").arg("0").status().is_err() {
        eprintln!("skipped: no `sleep` program to start");
        return;
    }
    let mut vm = Vm::builder().sandbox().allow("process").max_tasks(20).max_instructions(5_000_000).build().unwrap();
    let code = "while true { spawn { spawn_process(\"sleep\", [\"30\"]).wait() } }";
    let error = expect_error(&mut vm, code, "Limit", Duration::from_secs(20));
    assert!(error.message().contains("max_tasks"), "{error}");
}

#[test]
fn a_limit_error_renders_the_cli_report() {
    let mut vm = sandboxed();
    let error = vm.exec("fn f() { while true {} }\nf()").unwrap_err();
    let report = error.to_string();
    assert!(report.contains("Limit"), "{report}");
    assert!(report.contains("<eval>:1"), "the report points at the loop: {report}");
    assert!(!error.trace().is_empty());
    // `?` carries it into a host's boxed errors.
    fn host() -> Result<(), Box<dyn std::error::Error>> {
        sandboxed().exec("while true {}")?;
        Ok(())
    }
    assert!(host().unwrap_err().to_string().contains("max_instructions"));
}
