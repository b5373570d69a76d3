//! Loops that make no values allocate nothing per iteration: the number
//! of heap allocations (counted by this test binary's allocator, per
//! thread) of a float-only loop, nbody's shape of work, is the same at two
//! sizes. Hidden per-step garbage (a temporary list for arguments, a boxed
//! float, a growing table or trace) shows as a count that grows with the
//! size. A loop that makes and drops small maps takes their tables from
//! the pool the collector refills, once the first collection has run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

/// The system allocator, counting each thread's allocations.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: a thread being torn down has no counter left.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is passed on to `System` unchanged; counting touches
// only a thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// nbody's inner work in small: maps of floats read and written by field,
/// float arithmetic, `sqrt`, `len`, a counted loop and a call per step.
const FLOAT_LOOP: &str = r#"
fn body(x, vx) { return ["x": x, "vx": vx, "mass": 1.5] }
fn advance(bodies, dt) {
    let n = len(bodies)
    for i in 0..n {
        let bi = bodies[i]
        for j in i + 1..n {
            let bj = bodies[j]
            let dx = bi.x - bj.x
            let d2 = dx * dx + 0.01
            let mag = dt / (d2 * sqrt(d2))
            bi.vx = bi.vx - dx * bj.mass * mag
            bj.vx = bj.vx + dx * bi.mass * mag
        }
    }
    for b in bodies {
        b.x = b.x + dt * b.vx
    }
}
let bodies = [body(0.0, 0.0), body(1.0, 0.5), body(2.5, -0.25)]
for step in 0..int(args()[0]) {
    advance(bodies, 0.01)
}
print(bodies[0].x > -1000.0)
"#;

/// The allocations of one run of `script` for `steps` steps.
fn allocations(script: &str, steps: u64) -> u64 {
    let mut vm = weft_vm::Vm::new();
    weft_stdlib::install(&mut vm).expect("the standard library loads");
    vm.set_output(Box::new(std::io::sink()));
    vm.set_args(vec![steps.to_string()]);
    let before = ALLOCATIONS.with(Cell::get);
    vm.run_script("float_loop.weft", script, Path::new(".")).expect("the loop runs");
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn a_float_only_loop_allocates_nothing_per_step() {
    let (small, large) = (allocations(FLOAT_LOOP, 1_000), allocations(FLOAT_LOOP, 20_000));
    // The larger run takes 19,000 steps more; a single allocation per step
    // would show as 19,000 more.
    assert!(large <= small + 100, "{small} allocations for 1,000 steps, {large} for 20,000");
}

#[test]
fn nbody_allocates_nothing_per_step() {
    let nbody = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/nbody/nbody.weft"))
        .expect("bench/nbody/nbody.weft is readable");
    let (small, large) = (allocations(&nbody, 100), allocations(&nbody, 5_000));
    assert!(large <= small + 100, "{small} allocations for 100 steps, {large} for 5,000");
}

/// `records`' shape: a small map made and dropped every iteration.
const RECORD_LOOP: &str = r#"
let total = 0
for i in 0..int(args()[0]) {
    let p = ["x": i, "y": i * 2, "name": "p"]
    total += p.x + p.y
}
print(total)
"#;

#[test]
fn records_made_and_dropped_come_from_the_pool() {
    // Each collection refills the pool with the tables it frees; the heap
    // counts a table as the pool does, so all that the next cycle makes fit
    // in it. Only the first cycle, before any collection, allocates them.
    let (small, large) = (allocations(RECORD_LOOP, 100_000), allocations(RECORD_LOOP, 400_000));
    assert!(large <= small + 1_000, "{small} allocations for 100,000 records, {large} for 400,000");
}
