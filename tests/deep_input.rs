//! Deeply nested and very long input through `weft::Vm` on an ordinary
//! 2 MiB thread (a host's default; the command line runs on the main
//! thread, usually 8 MiB): each program either runs or is refused with a
//! compile error, and the host process never dies of a stack overflow in
//! the front end.

use std::thread;

/// The stack size of a host thread that did not ask for more.
const HOST_STACK: usize = 2 << 20;

/// Evaluates `code` in a fresh VM on a 2 MiB thread: the value of its last
/// expression as text (an int as digits), or the error's kind and message.
fn eval_on_small_stack(code: String) -> Result<String, String> {
    thread::Builder::new()
        .stack_size(HOST_STACK)
        .spawn(move || {
            let mut vm = weft::Vm::builder().output(std::io::sink()).build().expect("a VM");
            match vm.eval::<weft::Value>(&code) {
                Ok(weft::Value::Int(n)) => Ok(n.to_string()),
                Ok(weft::Value::Bool(b)) => Ok(b.to_string()),
                Ok(v) => Ok(format!("{v:?}")),
                Err(e) => Err(format!("{}: {}", e.kind(), e.message())),
            }
        })
        .expect("a thread")
        .join()
        .expect("the thread ended without panicking")
}

/// `count` copies of `piece`.
fn many(piece: &str, count: usize) -> String {
    piece.repeat(count)
}

fn assert_refused(result: Result<String, String>) {
    match result {
        Err(e) => assert!(e.contains("nest") || e.contains("too"), "an unexpected error: {e}"),
        Ok(v) => panic!("expected a compile error, got the value {v}"),
    }
}

#[test]
fn a_sum_of_200_000_terms_runs() {
    let code = format!("1{}", many(" + 1", 199_999));
    assert_eq!(eval_on_small_stack(code), Ok("200000".into()));
}

#[test]
fn a_long_chain_of_every_left_associative_operator_runs() {
    for (op, expect) in [("-", "-99998"), ("*", "1"), ("//", "1"), ("%", "0"), ("and", "true"), ("or", "true")] {
        let first = if op == "and" || op == "or" { "true" } else { "1" };
        let code = format!("{first}{}", many(&format!(" {op} {first}"), 99_999));
        assert_eq!(eval_on_small_stack(code), Ok(expect.into()), "a chain of {op}");
    }
}

#[test]
fn a_long_chain_of_powers_runs_or_is_refused() {
    let code = format!("1{}", many(" ** 1", 100_000));
    let result = eval_on_small_stack(code);
    if result.is_err() {
        assert_refused(result);
    }
}

#[test]
fn a_string_built_from_100_000_pieces_runs() {
    let code = format!("len(\"a\"{})", many(" + \"a\"", 99_999));
    assert_eq!(eval_on_small_stack(code), Ok("100000".into()));
}

#[test]
fn long_prefix_chains_are_refused() {
    assert_refused(eval_on_small_stack(format!("{}1", many("-", 100_000))));
    assert_refused(eval_on_small_stack(format!("{}true", many("not ", 100_000))));
}

#[test]
fn a_long_chain_of_nots_in_a_condition_runs_or_is_refused() {
    for (code, expect) in [
        (format!("let x = if {}true {{ 1 }} else {{ 2 }}\nx", many("not ", 100_000)), "1"),
        (format!("let n = 0\nwhile {}false {{ n += 1\nbreak }}\nn", many("not ", 100_001)), "1"),
    ] {
        let result = eval_on_small_stack(code);
        if result.is_err() {
            assert_refused(result);
        } else {
            assert_eq!(result, Ok(expect.into()));
        }
    }
}

#[test]
fn long_postfix_chains_run_or_are_refused() {
    for code in [
        format!("let f = fn() {{ return f }}\nf{}\n1", many("()", 100_000)),
        format!("let xs = [0]\nxs{}", many("[0]", 100_000)),
        format!("let m = [\"a\": 1]\nm{}", many(".a", 100_000)),
        format!("\"a\"{}", many(".upper()", 100_000)),
    ] {
        let result = eval_on_small_stack(code);
        if result.is_err() {
            assert_refused(result);
        }
    }
}

#[test]
fn a_long_else_if_chain_runs_or_is_refused() {
    let code =
        format!("let x = 0\nif false {{ x = 1 }}{} else {{ x = 2 }}\nx", many(" else if false { x = 1 }", 50_000));
    let result = eval_on_small_stack(code);
    if result.is_err() {
        assert_refused(result);
    } else {
        assert_eq!(result, Ok("2".into()));
    }
}

/// Brackets nest at most `MAX_NESTING` deep (the lexer refuses more): every
/// kind of bracket nested just under that limit is compiled or refused
/// cleanly on a host's stack.
#[test]
fn every_kind_of_bracket_nested_to_the_limit_is_compiled_or_refused() {
    let deep = weft_lang::lexer::MAX_NESTING - 2;
    let cases = [
        format!("{}1{}", many("(", deep), many(")", deep)),
        format!("{}{}", many("[", deep), many("]", deep)),
        format!("let m = {}1{}", many("[\"k\": ", deep), many("]", deep)),
        format!("let f = fn(x) {{ return x }}\n{}1{}", many("f(", deep), many(")", deep)),
        format!("{}1{}", many("fn() { return ", deep), many("}", deep)),
        format!("{}1{}", many("if true { ", deep), many("}", deep)),
        format!("let x = {}1{}", many("if true { ", deep), many(" } else { 0 }", deep)),
        format!("{}{}", many("while true { ", deep), many("break }\n", deep)),
        format!("{}{}", many("try { ", deep), many("} catch e { }", deep)),
        format!("{}{}", many("nursery { ", deep), many("}", deep)),
        format!("{}1{}", many("\"${", deep / 2), many("}\"", deep / 2)),
    ];
    for code in cases {
        let result = eval_on_small_stack(code.clone());
        if let Err(e) = &result {
            assert!(e.contains("nest") || e.contains("too"), "{}...: an unexpected error: {e}", &code[..40]);
        }
    }
}
