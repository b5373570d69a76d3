//! A host driving the scheduler from its own loop: `run_until_idle`,
//! `run_for` and the `HostWaker`, background spawns in a session, the
//! errors of background tasks, task dumps. Real-time tests use generous
//! bounds.

use std::time::{Duration, Instant};
use weft_vm::{Failure, Value, Vm};

#[path = "common/output.rs"]
mod output;
use output::Output;

fn vm() -> (Vm, Output) {
    let mut vm = Vm::new();
    weft_stdlib::install(&mut vm).expect("the standard library loads");
    let out = Output::default();
    vm.set_output(Box::new(out.clone()));
    vm.set_background_spawns(true);
    (vm, out)
}

fn int(v: Value) -> i64 {
    match v {
        Value::Int(i) => i,
        other => panic!("expected an int, got {other:?}"),
    }
}

#[test]
fn nothing_to_run_returns_at_once() {
    let (mut vm, _) = vm();
    assert!(!vm.run_until_idle().unwrap());
    let start = Instant::now();
    assert!(!vm.run_for(Duration::from_secs(30)).unwrap());
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn background_tasks_outlive_their_entry_and_run_until_idle_runs_them() {
    let (mut vm, out) = vm();
    vm.eval("<1>", "let n = 0\nlet c = chan()\nspawn { n = c.recv() }\nprint(\"entry done\")").unwrap();
    assert_eq!(int(vm.eval("<2>", "n").unwrap()), 0);
    vm.eval("<3>", "spawn { c.send(5) }").unwrap();
    // Both tasks are ready or waiting on each other: one call runs them.
    assert!(!vm.run_until_idle().unwrap());
    assert_eq!(int(vm.eval("<4>", "n").unwrap()), 5);
    assert_eq!(out.text(), "entry done\n");
}

#[test]
fn without_background_spawns_eval_waits_for_its_tasks() {
    let (mut vm, _) = vm();
    vm.set_background_spawns(false);
    vm.eval("<1>", "let n = 0\nspawn { sleep(0.01)\nn = 1 }").unwrap();
    assert_eq!(int(vm.eval("<2>", "n").unwrap()), 1);
    assert!(vm.task_dump().is_empty(), "{}", vm.task_dump());
}

#[test]
fn run_for_waits_for_timers_and_returns_when_nothing_is_left() {
    let (mut vm, out) = vm();
    vm.eval("<1>", "spawn { sleep(0.05)\nprint(\"woke\") }").unwrap();
    let start = Instant::now();
    assert!(!vm.run_for(Duration::from_secs(30)).unwrap());
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(start.elapsed() >= Duration::from_millis(40));
    assert_eq!(out.text(), "woke\n");
}

#[test]
fn run_for_stops_at_its_limit() {
    let (mut vm, _) = vm();
    vm.eval("<1>", "spawn { sleep(600) }").unwrap();
    let start = Instant::now();
    assert!(vm.run_for(Duration::from_millis(100)).unwrap());
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(90) && took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn a_busy_task_does_not_hold_run_for_past_its_limit() {
    let (mut vm, _) = vm();
    vm.eval("<1>", "spawn { while true {} }").unwrap();
    let start = Instant::now();
    assert!(vm.run_for(Duration::from_millis(100)).unwrap());
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_host_waker_ends_run_for_early() {
    let (mut vm, _) = vm();
    vm.eval("<1>", "spawn { sleep(600) }").unwrap();
    let waker = vm.host_waker();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        waker.wake();
    });
    let start = Instant::now();
    assert!(vm.run_for(Duration::from_secs(60)).unwrap());
    assert!(start.elapsed() < Duration::from_secs(20));
    thread.join().unwrap();
}

#[test]
fn a_failing_background_task_is_reported_and_its_siblings_go_on() {
    let (mut vm, out) = vm();
    vm.eval("<1>", "let c = chan()\nspawn { sleep(0.01)\nthrow error(\"Boom\", \"boom\") }\nspawn { print(c.recv()) }")
        .unwrap();
    // Then only the host can wake the sibling: nothing is left to run.
    assert!(!vm.run_for(Duration::from_secs(30)).unwrap());
    let errors = vm.take_background_errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].message, "boom");
    assert!(errors[0].report.contains("<1>:2:"), "{}", errors[0].report);
    assert!(vm.take_background_errors().is_empty());
    // The sibling still waits, and still works.
    vm.eval("<2>", "c.send(\"still here\")").unwrap();
    assert!(!vm.run_until_idle().unwrap());
    assert_eq!(out.text(), "still here\n");
}

#[test]
fn the_task_dump_lists_every_live_task() {
    let (mut vm, _) = vm();
    vm.eval("<1>", "fn nap() { sleep(600) }\nspawn nap()\nlet c = chan()\nspawn { c.recv() }").unwrap();
    vm.run_until_idle().unwrap();
    let dump = vm.task_dump();
    assert!(dump.starts_with("tasks:\n"), "{dump}");
    assert!(dump.contains("task spawned at <1>:2:1: waiting on sleep"), "{dump}");
    assert!(dump.contains("nap at <1>:1:"), "{dump}");
    assert!(dump.contains("task spawned at <1>:4:1: waiting on recv on channel made at <1>:3:"), "{dump}");
}

#[test]
fn an_interrupted_entry_cancels_its_tasks_and_their_finally_blocks_run() {
    let (mut vm, _) = vm();
    vm.eval("<1>", "let cleaned = false\nlet others = 0").unwrap();
    // A task of an earlier entry is not the interrupted entry's.
    vm.eval("<2>", "spawn { sleep(600) }").unwrap();
    let interrupt = vm.interrupt_handle();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        interrupt.interrupt();
    });
    let entry = "spawn { try { sleep(600) } finally { cleaned = true } }\nwhile true {}";
    assert!(matches!(vm.eval("<3>", entry), Err(Failure::Interrupted)));
    thread.join().unwrap();
    assert!(matches!(vm.eval("<4>", "cleaned").unwrap(), Value::Bool(true)));
    let dump = vm.task_dump();
    assert!(dump.contains("task spawned at <2>:1:1: waiting on sleep"), "{dump}");
    assert!(!dump.contains("<3>"), "{dump}");
}

#[test]
fn a_requested_dump_is_written_while_a_script_runs_and_the_script_goes_on() {
    let (mut vm, out) = vm();
    let err = Output::default();
    vm.set_error_output(Box::new(err.clone()));
    let waker = vm.host_waker();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        waker.request_task_dump();
    });
    let script = "let c = chan()\nspawn { sleep(1)\nc.send(1) }\nprint(c.recv())";
    vm.run_script("dump.weft", script, std::path::Path::new(".")).unwrap();
    thread.join().unwrap();
    let dump = err.text();
    assert!(
        dump.contains("main task: waiting on its nursery's tasks to finish")
            || dump.contains("main task: waiting on recv on channel made at dump.weft:1:"),
        "{dump}"
    );
    assert!(dump.contains("task spawned at dump.weft:2:1: waiting on sleep"), "{dump}");
    assert_eq!(out.text(), "1\n");
}

#[test]
fn members_and_builtin_names_serve_completion() {
    let (mut vm, _) = vm();
    vm.eval("<1>", "let m = [\"alpha\": 1, 2: 3]").unwrap();
    let map = vm.global("m").expect("m is defined");
    let members = vm.members(map);
    assert!(members.contains(&"alpha".to_string()), "{members:?}");
    assert!(members.contains(&"keys".to_string()), "{members:?}");
    let text = vm.eval("<2>", "\"hi\"").unwrap();
    assert!(vm.members(text).contains(&"upper".to_string()));
    assert_eq!(vm.repr(text), "\"hi\"");
    let builtins = vm.builtin_names();
    assert!(builtins.contains(&"print".to_string()));
    assert!(builtins.iter().all(|n| !n.starts_with('<')));
}

#[test]
fn exit_in_a_background_task_ends_the_entry_and_leaves_no_wait_behind() {
    let (mut vm, _) = vm();
    vm.eval("<1>", "spawn { sleep(0.05)\nexit(7) }").unwrap();
    // The entry waits on a long timer; the task's exit() ends it.
    assert!(matches!(vm.eval("<2>", "sleep(600)"), Err(Failure::Exit(7))));
    assert!(vm.task_dump().is_empty(), "{}", vm.task_dump());
    // The entry's timer went with it: nothing is left that could wake.
    assert!(!vm.run_until_idle().unwrap());
}
