//! Every fast case of the interpreter loop is checked against the full
//! instruction: the whole script suite runs twice, once normally and once
//! with `WEFT_SLOW_PATH=1` (every instruction through the slow path), and
//! both runs must print the same thing and end the same way. A fast case
//! that differs from the slow one (an overflow missed, a type confused, a
//! jump taken the wrong way) shows here, as a collection the collector
//! should not have made shows in the GC stress test.

mod common;

#[test]
fn the_slow_path_alone_runs_the_suite_the_same() {
    let files = common::suite(&[]);
    assert!(files.len() > 200, "found {} scripts", files.len());
    let differ = common::differences(&files, "WEFT_SLOW_PATH");
    assert!(differ.is_empty(), "{} scripts differ:\n{}", differ.len(), differ.join("\n"));
}
