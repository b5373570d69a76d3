//! The blocking-work pool and the reactor from a host: runtimes sharing a
//! pool, blocking natives that park only their task, and cancelled pool
//! waits that end at once.

use std::path::Path;
use std::time::{Duration, Instant};
use weft::{Ctx, NativeResult, Value, Vm};
use weft_vm::Pool;

/// A native that sleeps `ms` on the pool and returns `ms`.
fn nap(cx: &mut Ctx, ms: i64) -> NativeResult {
    cx.blocking("nap", vec![], move || {
        std::thread::sleep(Duration::from_millis(ms as u64));
        Box::new(move |_, _| Ok(Value::Int(ms)))
    })
}

fn vm_with_nap() -> Vm {
    let mut vm = weft::new_vm().expect("the standard library loads");
    vm.register("nap", nap);
    vm
}

#[test]
fn two_runtimes_share_one_pool() {
    let pool = Pool::new(2);
    let runs: Vec<_> = (0..2)
        .map(|i| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let mut vm = weft::new_vm().expect("the standard library loads");
                vm.set_pool(pool);
                let script = format!(
                    r#"
                    let path = "/tmp/weft-tests-shared-pool-{i}-" + str(read_file("/proc/self/stat").split(" ")[0])
                    for k in 0..50 {{
                        write_file(path, str(k))
                        assert(read_file(path) == str(k), "read back")
                    }}
                    remove(path)
                    "#
                );
                vm.run_script("shared.weft", &script, Path::new(".")).map(|_| ()).map_err(|f| format!("{f:?}"))
            })
        })
        .collect();
    for run in runs {
        run.join().expect("the thread ends").expect("the script runs");
    }
    assert!(pool.threads() <= 2, "{} workers for a pool of 2", pool.threads());
}

#[test]
fn blocking_natives_park_only_their_task() {
    let mut vm = vm_with_nap();
    let start = Instant::now();
    let script = "nursery { for i in 0..4 { spawn nap(300) } }";
    vm.run_script("naps.weft", script, Path::new(".")).expect("the script runs");
    // One after another they would take 1.2 s.
    assert!(start.elapsed() < Duration::from_millis(1100), "took {:?}", start.elapsed());
}

#[test]
fn a_cancelled_pool_wait_ends_at_once() {
    let mut vm = vm_with_nap();
    let start = Instant::now();
    let script = r#"
        let caught = nil
        try { timeout 0.05 { nap(3000) } } catch e { caught = e.kind }
        assert(caught == "Timeout", "timed out")
    "#;
    vm.run_script("cancel.weft", script, Path::new(".")).expect("the script runs");
    assert!(start.elapsed() < Duration::from_millis(2500), "took {:?}", start.elapsed());
}

#[test]
fn a_panicking_blocking_native_fails_its_call_only() {
    let mut vm = weft::new_vm().expect("the standard library loads");
    vm.register("boom", |cx: &mut Ctx| -> NativeResult { cx.blocking("boom", vec![], || panic!("the host broke")) });
    let script = r#"
        let caught = nil
        try { boom() } catch e { caught = e.message }
        assert(caught == "boom panicked: the host broke", caught)
        assert(read_file("/proc/self/stat") != "", "the pool still works")
    "#;
    vm.run_script("panic.weft", script, Path::new(".")).expect("the script runs");
}
