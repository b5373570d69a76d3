//! What waits leave behind, counted: each probe runs a loop at two sizes
//! and asserts that the queues, the timer heap and the heap's bytes stay
//! the same size, so a loop of `select`, `timeout`, cancelled `sleep` or
//! cancelled `join` runs in flat memory however long it runs. Also: a wait
//! woken from another thread, racing a local wake.
//!
//! The scripts call `probe(ch, ...)`, a native this file registers: it
//! reports the entries (live and stale) of the given channels' queues, the
//! timer heap's entries, the joiner queues' entries and the bytes counted
//! against the heap limit, and the script keeps the largest of each.

use std::path::Path;
use std::sync::Mutex;
use weft_vm::{ChanRef, Ctx, Message, NativeResult, Throw, Value, Vm};

/// The largest of each count over a run: queue entries, timer entries,
/// joiner entries, bytes in use.
type Peaks = [i64; 4];

fn probe(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    let mut queued = 0;
    for v in args {
        let Some(ch) = ChanRef::of(*v) else { return Err(Throw::type_error("probe takes channels").into()) };
        queued += cx.chan(ch).queue_entries();
    }
    let stats = cx.stats();
    // Less the spare buffers, which are bounded whatever runs.
    let counts = [queued, stats.sched.timer_entries, stats.sched.joiner_entries, stats.heap_bytes - stats.spare_bytes];
    let counts = counts.iter().map(|&n| Value::Int(n as i64)).collect();
    Ok(cx.new_list(counts))
}

#[path = "common/output.rs"]
mod output;
use output::Output;

fn vm_with_output(virtual_time: bool) -> (Vm, Output) {
    let mut vm = Vm::new();
    weft_stdlib::install(&mut vm).expect("the standard library loads");
    vm.register("probe", probe);
    vm.configure_scheduler(Some(1), virtual_time);
    let out = Output::default();
    vm.set_output(Box::new(out.clone()));
    (vm, out)
}

/// Runs `body` (a script with `N` bound to `n` and a `peaks` list to
/// update) and returns the peaks it printed.
fn peaks(body: &str, n: usize, virtual_time: bool) -> Peaks {
    let script = format!(
        "let N = {n}\nlet peaks = [0, 0, 0, 0]\nfn track(counts) {{\n    for i in 0..4 {{ peaks[i] = max(peaks[i], counts[i]) }}\n}}\n{body}\nprint(peaks.join(\" \"))\n"
    );
    let (mut vm, out) = vm_with_output(virtual_time);
    if let Err(failure) = vm.run_script("probe.weft", &script, Path::new(".")) {
        panic!("the probe failed: {failure:?}");
    }
    let text = out.text();
    let line = text.lines().last().expect("the peaks line");
    let numbers: Vec<i64> = line.split(' ').map(|n| n.parse().expect("a count")).collect();
    numbers.try_into().expect("four counts")
}

/// Asserts that no count grows between the two sizes beyond `slack_bytes`
/// for the heap and a small constant for the structures.
fn assert_flat(name: &str, body: &str, small: usize, virtual_time: bool) {
    let a = peaks(body, small, virtual_time);
    let b = peaks(body, small * 10, virtual_time);
    for (i, what) in ["queue entries", "timer entries", "joiner entries"].iter().enumerate() {
        assert!(b[i] <= 64 && b[i] <= a[i] + 16, "{name}: {what} grew from {} to {}", a[i], b[i]);
    }
    assert!(b[3] <= a[3] + (1 << 20), "{name}: bytes in use grew from {} to {}", a[3], b[3]);
}

#[test]
fn select_loop_keeps_no_waiters() {
    let body = "
let idle = chan()
let idle2 = chan()
for i in 0..N {
    select {
        recv idle as v { }
        send idle2, i { }
        after 0.001 { }
    }
    track(probe(idle, idle2))
}";
    assert_flat("select recv/send/after", body, 2_000, true);
}

#[test]
fn select_with_a_timer_that_loses_keeps_no_timers() {
    // The recv case wins every time: its `after` timer must go at once.
    let body = "
let busy = chan()
nursery {
    spawn { for i in 0..N { busy.send(i) } }
    for i in 0..N {
        select {
            recv busy as v { }
            after 3600 { }
        }
        track(probe(busy))
    }
}";
    assert_flat("select with a losing after", body, 2_000, true);
}

#[test]
fn timeout_loop_keeps_no_timers() {
    let body = "
let x = 0
for i in 0..N {
    timeout 3600 { x += 1 }
    track(probe())
}";
    assert_flat("timeout", body, 2_000, true);
}

#[test]
fn cancelled_sleeps_keep_no_timers() {
    let body = "
for i in 0..N {
    try {
        timeout 0.001 { sleep(3600) }
    } catch e { }
    track(probe())
}";
    assert_flat("sleep cancelled by a timeout", body, 2_000, true);
}

#[test]
fn cancelled_joins_keep_no_joiners() {
    let body = "
nursery as n {
    let t = n.spawn(fn() => sleep(1e9))
    for i in 0..N {
        try {
            timeout 0.001 { t.join() }
        } catch e { }
        track(probe())
    }
    n.cancel()
}";
    assert_flat("join cancelled by a timeout", body, 2_000, true);
}

#[test]
fn timeouts_beside_idle_tasks_keep_no_timers() {
    // Many idle tasks beside a loop of expiring timeouts (what each cancel
    // visits is pinned in sched/cancel.rs).
    let body = "
let never = chan()
nursery as idle {
    for i in 0..N { idle.spawn(fn() => never.recv()) }
    for i in 0..N {
        try { timeout 0.001 { sleep(1) } } catch e { }
        track(probe())
    }
    idle.cancel()
}";
    assert_flat("timeouts beside idle tasks", body, 500, true);
}

/// `wait_remote(ms)`: parks until a thread wakes the task with 42 after
/// `ms` milliseconds; the thread reports whether its wake won.
fn wait_remote(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    wait_remote_reporting(cx, args, true)
}

/// The same, reporting nothing (for a test running beside the other).
fn wait_remote_quietly(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    wait_remote_reporting(cx, args, false)
}

fn wait_remote_reporting(cx: &mut Ctx, args: &[Value], report: bool) -> NativeResult {
    let delay = match args.first() {
        Some(Value::Int(ms)) => *ms as u64,
        _ => return Err(Throw::type_error("wait_remote takes milliseconds").into()),
    };
    let (waker, park) = cx.park_remote();
    let tx = &CLAIMS.0;
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let won = waker.wake(Message::Int(42));
        if report {
            let _ = tx.lock().map(|tx| tx.send(won));
        }
    });
    park
}

type Claims = (Mutex<std::sync::mpsc::Sender<bool>>, Mutex<std::sync::mpsc::Receiver<bool>>);

static CLAIMS: std::sync::LazyLock<Claims> = std::sync::LazyLock::new(|| {
    let (tx, rx) = std::sync::mpsc::channel();
    (Mutex::new(tx), Mutex::new(rx))
});

#[test]
fn a_wait_woken_from_another_thread() {
    let (mut vm, out) = vm_with_output(false);
    vm.register("wait_remote", wait_remote);
    // The first wait is woken by the thread; the second is ended by its
    // timeout first, and the thread's late claim loses.
    let script = "
print(wait_remote(10))
try {
    timeout 0.05 { wait_remote(300) }
} catch e {
    print(e.kind)
}
";
    vm.run_script("remote.weft", script, Path::new(".")).expect("the script runs");
    let text = out.text();
    assert_eq!(text, "42\nTimeout\n");
    // The second thread reports after its late claim; wait for it however
    // slow the machine is.
    let rx = CLAIMS.1.lock().expect("not poisoned");
    let claims: Vec<bool> = (0..2).filter_map(|_| rx.recv_timeout(std::time::Duration::from_secs(30)).ok()).collect();
    assert_eq!(claims, [true, false], "the first thread wins its wait, the second loses to the timeout");
}

#[test]
fn a_remote_wait_is_not_a_deadlock() {
    // Nothing local can wake the task, but the thread can: the scheduler
    // waits for it instead of reporting a deadlock.
    let (mut vm, out) = vm_with_output(true);
    vm.register("wait_remote", wait_remote_quietly);
    vm.run_script("remote.weft", "print(wait_remote(100))", Path::new(".")).expect("no deadlock");
    let text = out.text();
    assert_eq!(text, "42\n");
}

#[test]
fn sort_by_key_keeps_nothing_behind() {
    // A sort of 100,000 items, and sort_by_key nested 100 deep through its
    // key function, repeated: the heap and the task's memory (its kept
    // values, registers and frames) stay flat, and the key functions'
    // sleeps leave no timers.
    let body = "
fn nest(d) {
    if d == 0 {
        sleep(0)
        return 1
    }
    return [d].sort_by_key(fn(x) => nest(d - 1))[0]
}
let big = []
for i in 0..100000 { big.push(i * 7919 % 100000) }
for i in 0..N {
    big.sort_by_key(fn(x) => -x)
    assert(nest(100) == 100, \"nested\")
    track(probe())
}";
    let a = peaks(body, 2, true);
    let b = peaks(body, 6, true);
    for (i, what) in ["queue entries", "timer entries", "joiner entries"].iter().enumerate() {
        assert!(b[i] <= a[i] + 16, "{what} grew from {} to {}", a[i], b[i]);
    }
    assert!(b[3] <= a[3] + (1 << 20), "bytes in use grew from {} to {}", a[3], b[3]);
}
