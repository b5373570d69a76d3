//! `s += piece` in a loop does linear work, counted: the script builds a
//! string at two sizes and reports the bytes `+` copied and hashed (the
//! heap's count, read through `Ctx::stats`). Ten times the length must
//! cost about ten times the work, where a copy per append would cost a
//! hundred times. Pieces of one byte and of several non-ASCII characters,
//! and appends to a string that stopped ending its buffer, are all counted.

use std::path::Path;
use weft_vm::{Ctx, Value, Vm};

#[path = "common/output.rs"]
mod output;
use output::Output;

/// Runs `body` with `N` bound to `n` and returns the work `+` did and the
/// last line the script printed.
fn work(body: &str, n: usize) -> (u64, String) {
    let mut vm = Vm::new();
    weft_stdlib::install(&mut vm).expect("the standard library loads");
    vm.register("concat_work", |cx: &mut Ctx| Value::Int(cx.stats().concat_work as i64));
    let out = Output::default();
    vm.set_output(Box::new(out.clone()));
    let script = format!("let N = {n}\nlet before = concat_work()\n{body}\nprint(concat_work() - before)\n");
    if let Err(failure) = vm.run_script("concat.weft", &script, Path::new(".")) {
        panic!("the script failed: {failure:?}");
    }
    let text = out.text();
    let mut lines = text.lines().rev();
    let work = lines.next().expect("the work line").parse().expect("a count");
    (work, lines.next().unwrap_or_default().to_string())
}

/// Asserts that ten times `n` costs at most twelve times the work, and
/// that both runs printed what `expect` says for their size.
fn assert_linear(name: &str, body: &str, n: usize, expect: impl Fn(usize) -> String) {
    let (small, printed_small) = work(body, n);
    let (large, printed_large) = work(body, n * 10);
    assert_eq!(printed_small, expect(n), "{name} at {n}");
    assert_eq!(printed_large, expect(n * 10), "{name} at {}", n * 10);
    assert!(small > 0, "{name}: no work counted");
    assert!(large <= 12 * small, "{name}: {small} bytes of work at {n}, {large} at {}", n * 10);
}

#[test]
fn appending_one_byte_at_a_time_is_linear() {
    let body = "let s = \"\"\nfor i in 0..N { s += \"x\" }\nprint(len(s), s == \"x\".repeat(N))";
    assert_linear("s += \"x\"", body, 20_000, |n| format!("{n} true"));
}

#[test]
fn appending_non_ascii_pieces_is_linear_and_indexes_stay_right() {
    let body =
        "let s = \"\"\nfor i in 0..N { s += \"é😀\" + str(i % 10) }\nprint(len(s), s[len(s) - 2], s[3 * 777 + 1])";
    assert_linear("s += non-ASCII", body, 10_000, |n| format!("{} 😀 😀", 3 * n));
}

#[test]
fn appending_to_two_strings_in_turn_is_linear() {
    // Each string ends its own buffer, so both keep appending in place.
    let body = "let a = \"\"\nlet b = \"\"\nfor i in 0..N { a += \"ab\"\nb += \"cd\" }\nprint(len(a) + len(b))";
    assert_linear("two strings", body, 10_000, |n| format!("{}", 4 * n));
}
