//! Collection must be invisible to scripts. Runs every script under
//! `tests/` twice, once with `WEFT_GC_STRESS=1` (a collection at every
//! safe point), and checks that both runs print the same thing and end the
//! same way: a value the collector did not see as live, or a collection
//! that moved a task in the run queue or let a cancellation in, would show
//! here.

mod common;

/// Scripts too heavy to collect at every safe point: each allocates
/// hundreds of megabytes, or many thousands of frames, on purpose, or
/// holds a real-time bound over a thousand tasks, or needs tens of
/// thousands of calls from a native over a large heap (a collection after
/// each).
const HEAVY: &[&str] = &[
    "concurrency/many_tasks.weft",
    "concurrency/sort_by_key_preempted.weft",
    "errors/out_of_memory.weft",
    "errors/sort_by_key_stack_overflow.weft",
    "errors/stack_overflow_caught.weft",
    "errors/stack_overflow_through_finally.weft",
    "http/server_robust.weft",
    "io/process_thousand.weft",
    "language/deep_and_cyclic_values.weft",
    "language/gc_reclaims_cycles.weft",
    "limits/channel_buffer_counts_against_the_heap.weft",
    "limits/map_counts_against_the_heap.weft",
    "limits/task_stacks_count_against_the_heap.weft",
    "limits/tasks_count_against_the_heap.weft",
    "limits/text_of_shared_lists_is_bounded.weft",
];

#[test]
fn collecting_at_every_safe_point_changes_nothing() {
    let files = common::suite(HEAVY);
    assert!(files.len() > 200, "found {} scripts", files.len());
    let differ = common::differences(&files, "WEFT_GC_STRESS");
    assert!(differ.is_empty(), "{} scripts differ:\n{}", differ.len(), differ.join("\n"));
}
