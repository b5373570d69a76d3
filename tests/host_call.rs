//! Calls of script functions from the host (`vm.call`): a function that
//! only computes runs directly, with no run of the scheduler, and one that
//! needs the scheduler (a wait, a spawn, a whole time slice) carries on as
//! the main task of an ordinary run. Both must look the same from the
//! script and the host: results, errors and their reports, limits,
//! collections, interrupts, background tasks; and a direct call must
//! allocate nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};
use weft::{Error, Function, Value, Vm};

#[path = "common/output.rs"]
mod output;
use output::Output;

/// The system allocator, counting each thread's allocations.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every call is passed on to `System` unchanged; counting touches
// only a thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// A VM with `code` run in its session.
fn vm_with(code: &str) -> Result<Vm, Error> {
    let mut vm = Vm::builder().virtual_time(true).build()?;
    vm.exec(code)?;
    Ok(vm)
}

#[test]
fn a_function_that_only_computes_runs_directly() -> Result<(), Error> {
    let mut vm = vm_with("fn add(a, b) { return a + b }\nfn greet(name) { return \"hi \" + name }")?;
    let add: Function = vm.get_global("add")?;
    let before = vm.direct_calls();
    assert_eq!(vm.call::<i64>(&add, (40, 2))?, 42);
    assert_eq!(vm.call::<i64>("add", (1, 2))?, 3);
    assert_eq!(vm.call::<String>("greet", ("ada",))?, "hi ada");
    assert_eq!(vm.call::<f64>(&add, (0.5, 0.25))?, 0.75);
    assert_eq!(vm.direct_calls() - before, 4);
    // A native called from the host runs directly too.
    assert_eq!(vm.call::<i64>("len", (vec![1, 2, 3],))?, 3);
    assert_eq!(vm.direct_calls() - before, 5);
    Ok(())
}

#[test]
fn a_function_that_waits_carries_on_in_the_scheduler() -> Result<(), Error> {
    let mut vm = vm_with(
        r#"
fn slow_double(x) { sleep(5)
return 2 * x }
fn relay(x) {
    let c = chan(0)
    let got = nil
    nursery {
        spawn { c.send(x + 1) }
        got = c.recv()
    }
    return got
}
fn fan(n) {
    let tasks = []
    for i in 0..n { tasks.push(spawn slow_double(i)) }
    let total = 0
    for t in tasks { total = total + t.join() }
    return total
}
let ready = chan(4)
fn take() { return ready.recv() }
"#,
    )?;
    let before = vm.direct_calls();
    assert_eq!(vm.call::<i64>("slow_double", (21,))?, 42);
    assert_eq!(vm.call::<i64>("relay", (1,))?, 2);
    assert_eq!(vm.call::<i64>("fan", (10,))?, 90);
    // A native called from the host that waits parks the call's task.
    vm.call::<()>("sleep", (2,))?;
    assert_eq!(vm.direct_calls(), before, "each of them needed the scheduler");
    // A receive that finds a value waiting does not wait: it stays direct.
    vm.exec("ready.send(7)")?;
    let before = vm.direct_calls();
    assert_eq!(vm.call::<i64>("take", ())?, 7);
    assert_eq!(vm.direct_calls(), before + 1);
    // With nothing waiting it parks, and with nothing able to send, the
    // scheduler finds the deadlock, as it always did.
    let error = vm.call::<i64>("take", ()).unwrap_err();
    assert_eq!(error.kind(), "Deadlock");
    // A function that spawns opens a nursery, even when it spawns
    // nothing: that takes the scheduler.
    let before = vm.direct_calls();
    assert_eq!(vm.call::<i64>("fan", (0,))?, 0);
    assert_eq!(vm.direct_calls(), before);
    // Every record of those runs is gone: a plain call is direct again.
    assert_eq!(vm.call::<i64>("len", ("abc",))?, 3);
    assert_eq!(vm.direct_calls(), before + 1);
    Ok(())
}

#[test]
fn task_local_context_and_a_spawn_limit_see_the_calling_task() -> Result<(), Error> {
    let mut vm = Vm::builder().max_tasks(2).build()?;
    vm.exec(
        r#"
fn read() { return context_get("who") }
fn set_and_read(v) { context_set("who", v)
return context_get("who") }
fn inherit() {
    context_set("who", "parent")
    let t = spawn context_get("who")
    return t.join()
}
fn id(x) { return x }
fn two() {
    let a = spawn id(1)
    let b = spawn id(2)
    return a.join() + b.join()
}
"#,
    )?;
    assert_eq!(vm.call::<Option<String>>("read", ())?, None);
    assert_eq!(vm.call::<String>("set_and_read", ("x",))?, "x");
    // The context went with the main task that set it.
    assert_eq!(vm.call::<Option<String>>("read", ())?, None);
    assert_eq!(vm.call::<String>("inherit", ())?, "parent");
    // The main task counts against the task limit, direct or not.
    let error = vm.call::<i64>("two", ()).unwrap_err();
    assert_eq!(error.kind(), "Limit");
    assert!(error.message().contains("live-task limit of 2"), "{error}");
    Ok(())
}

/// A VM whose runs, until `ready` is false again, always find another task
/// ready, so that its calls take the scheduler from the start: a
/// background task that loops, yielding, until the host stops it.
fn vm_through_the_scheduler(code: &str) -> Result<Vm, Error> {
    let mut vm = vm_with(code)?;
    vm.set_background_spawns(true);
    vm.exec("let keep_ready = true\nspawn { while keep_ready { sleep(0) } }")?;
    Ok(vm)
}

#[test]
fn an_error_reads_the_same_direct_or_through_the_scheduler() -> Result<(), Error> {
    let code = "fn inner(x) { return 10 / x }\nfn outer(x) {\n    let y = x - 1\n    return inner(y)\n}";
    let mut direct = vm_with(code)?;
    let mut scheduled = vm_through_the_scheduler(code)?;
    let before = (direct.direct_calls(), scheduled.direct_calls());
    let a = direct.call::<i64>("outer", (1,)).unwrap_err();
    let b = scheduled.call::<i64>("outer", (1,)).unwrap_err();
    // The direct call failed directly; the other never ran directly.
    assert_eq!((direct.direct_calls(), scheduled.direct_calls()), (before.0 + 1, before.1));
    assert_eq!(a.kind(), "ZeroDivision");
    assert_eq!((a.kind(), a.message()), (b.kind(), b.message()));
    assert_eq!(a.trace(), b.trace());
    assert_eq!(a.report(), b.report());
    assert!(a.trace()[0].starts_with("inner at <eval>:1:"), "{:?}", a.trace());
    assert!(a.trace()[1].starts_with("outer at <eval>:4:"), "{:?}", a.trace());
    // A thrown value that is not an error, and one the callee catches.
    direct.exec("fn throws() { throw [\"odd\", 1] }\nfn catches() { try { throws() } catch e { return e[0] } }")?;
    let error = direct.call::<()>("throws", ()).unwrap_err();
    assert_eq!(error.kind(), "Error");
    assert!(error.message().contains("odd"), "{error}");
    let before = direct.direct_calls();
    assert_eq!(direct.call::<String>("catches", ())?, "odd");
    assert_eq!(direct.direct_calls(), before + 1);
    Ok(())
}

#[test]
fn the_instruction_and_depth_limits_hold_in_direct_calls() -> Result<(), Error> {
    let mut vm = Vm::builder().max_instructions(50_000).max_call_depth(200).build()?;
    vm.exec(
        r#"
fn spin() { while true {} }
fn spin_caught() {
    try { while true {} } catch e { return "caught " + e.kind }
}
fn down(n) { return down(n + 1) }
fn depth_caught() { try { down(0) } catch e { return e.kind } }
fn count(n) { let s = 0
for i in 0..n { s = s + i }
return s }
"#,
    )?;
    let error = vm.call::<()>("spin", ()).unwrap_err();
    assert_eq!(error.kind(), "Limit");
    assert!(error.message().contains("instruction limit of 50000"), "{error}");
    // Caught or not, the run ends with the limit's error.
    let error = vm.call::<String>("spin_caught", ()).unwrap_err();
    assert_eq!(error.kind(), "Limit");
    let error = vm.call::<()>("down", (0,)).unwrap_err();
    assert_eq!(error.kind(), "StackOverflow");
    assert_eq!(vm.call::<String>("depth_caught", ())?, "StackOverflow");
    // Each call counts its instructions from zero: a call under the limit works,
    // directly, after the ones that hit it.
    let before = vm.direct_calls();
    assert_eq!(vm.call::<i64>("count", (1000,))?, 499_500);
    assert_eq!(vm.direct_calls(), before + 1);
    // About two instructions an iteration: the add and the loop's step.
    assert!(vm.instructions_counted() < 5000, "{} instructions", vm.instructions_counted());
    Ok(())
}

#[test]
fn a_collection_during_a_direct_call_keeps_its_arguments() -> Result<(), Error> {
    let mut vm = vm_with(
        r#"
fn churn(items, label) {
    let kept = []
    for i in 0..200000 {
        let junk = [i, i + 1, i + 2]
        if i % 50000 == 0 { kept.push(junk) }
    }
    return [items.len(), items[0] + items[items.len() - 1], label + "!", kept.len()]
}
"#,
    )?;
    // Values made for this call only: the registers are all that hold
    // them while the callee allocates.
    let (items, label, garbage) = vm.with_ctx(|cx| {
        use weft::IntoValue;
        let items = (0..1000_i64).collect::<Vec<_>>().into_value(cx);
        let label = format!("label-{}", 7).into_value(cx);
        let garbage = vec![1_i64, 2, 3].into_value(cx);
        (items, label, garbage)
    });
    let churn = vm.global("churn").expect("defined");
    let got = vm.call_value(churn, &[items, label]).map_err(Error::from)?;
    let got: (i64, i64, String) = {
        let list: Vec<Value> = vm.convert(got).expect("a list");
        (vm.convert(list[0]).unwrap(), vm.convert(list[1]).unwrap(), vm.convert(list[2]).unwrap())
    };
    assert_eq!(got, (1000, 999, "label-7!".to_string()));
    // A collection did run during the call: the value nothing held is gone.
    let stale = Error::from(vm.root(garbage).unwrap_err());
    assert!(stale.message().contains("stale value"), "{stale}");
    Ok(())
}

#[test]
fn many_direct_calls_allocate_nothing() -> Result<(), Error> {
    let mut vm = vm_with("fn add(a, b) { return a + b }\nfn pick(xs, i) { return xs[i] }")?;
    let add: Function = vm.get_global("add")?;
    let list: Function = vm.eval("fn(n) { return n * 2 }")?;
    // Warm up: the first call makes the task that later calls reuse.
    assert_eq!(vm.call::<i64>(&add, (1, 2))?, 3);
    assert_eq!(vm.call::<i64>(&list, (4,))?, 8);
    let mut counts = Vec::new();
    for calls in [1_000_i64, 100_000] {
        let (before, direct) = (allocations(), vm.direct_calls());
        let mut sum = 0;
        for i in 0..calls {
            sum += vm.call::<i64>(&add, (i, 1))?;
            sum += vm.call::<i64>(&list, (i,))?;
        }
        assert_eq!(sum, 3 * calls * (calls - 1) / 2 + calls);
        assert_eq!(vm.direct_calls() - direct, 2 * calls as u64);
        counts.push(allocations() - before);
    }
    assert_eq!(counts, [0, 0], "allocations per 2,000 and per 200,000 calls");
    Ok(())
}

#[test]
fn calls_between_background_tasks_run_them_as_before() -> Result<(), Error> {
    let mut vm = vm_with("let log = []\nlet inbox = chan(0)\nfn note(what) { log.push(what)\nreturn log.len() }")?;
    vm.set_background_spawns(true);
    // A background task that is ready runs in the call's first round,
    // before the call's own function: the call takes the scheduler.
    vm.exec("spawn { log.push(\"ready\") }")?;
    let before = vm.direct_calls();
    assert_eq!(vm.call::<i64>("note", ("call",))?, 2);
    assert_eq!(vm.direct_calls(), before);
    assert_eq!(vm.get_global::<Vec<String>>("log")?, ["ready", "call"]);
    // One parked on a channel does not hold a call up; the call that
    // wakes it leaves it ready, and the next call runs it first.
    vm.exec("log.clear()\nspawn { for m in inbox { log.push(m) } }")?;
    vm.run_until_idle()?;
    let before = vm.direct_calls();
    assert_eq!(vm.call::<i64>("note", ("direct",))?, 1);
    assert_eq!(vm.direct_calls(), before + 1);
    vm.exec("fn wake(m) { inbox.send(m)\nreturn note(\"sent \" + m) }")?;
    assert_eq!(vm.call::<i64>("wake", ("a",))?, 2);
    assert_eq!(vm.call::<i64>("note", ("after",))?, 4);
    assert_eq!(vm.get_global::<Vec<String>>("log")?, ["direct", "sent a", "a", "after"]);
    assert!(vm.take_background_errors().is_empty());
    Ok(())
}

#[test]
fn a_timer_due_when_a_call_starts_wakes_its_task_after_the_call() -> Result<(), Error> {
    // Real time: the sleeper's timer comes due while the host waits.
    let mut vm = Vm::new()?;
    vm.exec("let log = []\nfn note(what) { log.push(what)\nreturn log.len() }")?;
    vm.set_background_spawns(true);
    vm.exec("spawn { sleep(0.01)\nlog.push(\"slept\") }")?;
    assert!(vm.run_until_idle()?, "the sleeper waits for its timer");
    std::thread::sleep(Duration::from_millis(30));
    // The call's first round takes the timer and queues the sleeper
    // behind the call, which runs first and returns; the sleeper runs in
    // the next run, before that run's own function.
    let before = vm.direct_calls();
    assert_eq!(vm.call::<i64>("note", ("first",))?, 1);
    assert_eq!(vm.call::<i64>("note", ("second",))?, 3);
    assert_eq!(vm.direct_calls(), before, "another task was ready each time");
    assert_eq!(vm.get_global::<Vec<String>>("log")?, ["first", "slept", "second"]);
    assert_eq!(vm.call::<i64>("note", ("third",))?, 4);
    assert_eq!(vm.direct_calls(), before + 1);
    Ok(())
}

#[test]
fn a_long_direct_call_is_interrupted_from_another_thread() -> Result<(), Error> {
    let mut vm = Vm::new()?;
    vm.exec(
        "let cleaned = false\nfn spin() { try { while true {} } finally { cleaned = true } }\nfn one() { return 1 }",
    )?;
    let stop = vm.interrupt_handle();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        stop.interrupt();
    });
    let start = Instant::now();
    let error = vm.call::<()>("spin", ()).unwrap_err();
    watchdog.join().expect("the watchdog ran");
    assert_eq!(error.kind(), "Interrupted");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(vm.get_global::<bool>("cleaned")?, "finally blocks ran as the call unwound");
    let before = vm.direct_calls();
    assert_eq!(vm.call::<i64>("one", ())?, 1);
    assert_eq!(vm.direct_calls(), before + 1);
    Ok(())
}

#[test]
fn exit_and_output_from_a_direct_call() -> Result<(), Error> {
    let out = Output::default();
    let mut vm = Vm::builder().output(std::io::BufWriter::new(out.clone())).build()?;
    vm.exec("fn say(x) { print(\"said\", x)\nreturn x }\nfn quit(n) { exit(n) }")?;
    let before = vm.direct_calls();
    assert_eq!(vm.call::<i64>("say", (3,))?, 3);
    assert_eq!(vm.direct_calls(), before + 1);
    // The call's output is out when it returns.
    assert_eq!(out.text(), "said 3\n");
    let error = vm.call::<()>("quit", (4,)).unwrap_err();
    assert_eq!(error.exit_status(), Some(4));
    assert_eq!(vm.call::<i64>("say", (5,))?, 5);
    Ok(())
}
