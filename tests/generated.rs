//! Programs made by a grammar-aware generator, whose checks are invariants
//! rather than recorded outputs:
//! - arithmetic, comparisons, `and`/`or`, calls and loops over random
//!   expressions give what a model of the language's rules computes here
//!   (floor division, `Overflow`, `ZeroDivision`, short-circuits);
//! - every message sent on a channel is received exactly once, whatever
//!   the capacities, the sleeps and the number of producers and consumers;
//! - every `finally` runs when a `timeout` or a failing sibling cancels its
//!   task, and the failure reaches the parent;
//! - the same seed gives the same output, byte for byte;
//! - a host's `vm.call` of the program made a function prints and ends as
//!   the program run by the scheduler does. Such a call runs directly,
//!   with no scheduling record, until something needs one
//!   (`Scheduler::attach`): a wait, a spawn or a cancel scope that missed
//!   it would show here as another output or an `Internal` error.
//!
//! The generator is seeded, so a failure names the seed that makes the
//! program again (`WEFT_GEN_SEED=N cargo test --test generated` runs one).

use std::fmt::Write;
use std::process::Command;
use weft::{Error, Value, Vm};

#[path = "common/output.rs"]
mod output;
use output::Output;

/// How many programs a run makes and checks.
const PROGRAMS: u64 = 300;

struct Rng(u64);

impl Rng {
    /// splitmix64.
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What an expression gives under the language's rules: a value, or the
/// kind of the error it raises.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    Int(i64),
    Bool(bool),
    Error(&'static str),
}

/// An expression's text and what it gives.
struct Expr {
    text: String,
    outcome: Outcome,
}

struct Gen {
    rng: Rng,
    /// Variables in scope, with their values.
    vars: Vec<(String, i64)>,
}

impl Gen {
    fn int_leaf(&mut self) -> Expr {
        if !self.vars.is_empty() && self.rng.chance(50) {
            let (name, value) = self.vars[self.rng.below(self.vars.len() as u64) as usize].clone();
            return Expr { text: name, outcome: Outcome::Int(value) };
        }
        let n = match self.rng.below(10) {
            0 => i64::MAX - self.rng.range(0, 3),
            // i64::MIN itself has no literal: its digits overflow before the minus.
            1 => i64::MIN + self.rng.range(1, 3),
            2 => 0,
            _ => self.rng.range(-50, 50),
        };
        // A negative literal in parentheses: `- -3` is no literal.
        let text = if n < 0 { format!("({n})") } else { n.to_string() };
        Expr { text, outcome: Outcome::Int(n) }
    }

    fn int_expr(&mut self, depth: u32) -> Expr {
        if depth == 0 || self.rng.chance(25) {
            return self.int_leaf();
        }
        match self.rng.below(8) {
            0 => {
                let a = self.int_expr(depth - 1);
                let outcome = match a.outcome {
                    Outcome::Int(x) => x.checked_neg().map_or(Outcome::Error("Overflow"), Outcome::Int),
                    other => other,
                };
                Expr { text: format!("-({})", a.text), outcome }
            }
            1 => {
                let (a, b) = (self.int_expr(depth - 1), self.int_expr(depth - 1));
                let outcome = left_first(a.outcome, b.outcome, |x, y| Outcome::Int(x.min(y)));
                Expr { text: format!("min({}, {})", a.text, b.text), outcome }
            }
            _ => {
                let (a, b) = (self.int_expr(depth - 1), self.int_expr(depth - 1));
                let ops = ["+", "-", "*", "//", "%"];
                let op = ops[self.rng.below(ops.len() as u64) as usize];
                let outcome = left_first(a.outcome, b.outcome, |x, y| arith(op, x, y));
                Expr { text: format!("({} {op} {})", a.text, b.text), outcome }
            }
        }
    }

    fn bool_expr(&mut self, depth: u32) -> Expr {
        if depth == 0 || self.rng.chance(40) {
            let (a, b) = (self.int_expr(depth.saturating_sub(1)), self.int_expr(depth.saturating_sub(1)));
            let ops = ["<", "<=", "==", "!=", ">", ">="];
            let op = ops[self.rng.below(ops.len() as u64) as usize];
            let outcome = left_first(a.outcome, b.outcome, |x, y| {
                Outcome::Bool(match op {
                    "<" => x < y,
                    "<=" => x <= y,
                    "==" => x == y,
                    "!=" => x != y,
                    ">" => x > y,
                    _ => x >= y,
                })
            });
            return Expr { text: format!("({} {op} {})", a.text, b.text), outcome };
        }
        match self.rng.below(3) {
            0 => {
                let a = self.bool_expr(depth - 1);
                let outcome = match a.outcome {
                    Outcome::Bool(b) => Outcome::Bool(!b),
                    other => other,
                };
                Expr { text: format!("(not {})", a.text), outcome }
            }
            n => {
                let and = n == 1;
                let (a, b) = (self.bool_expr(depth - 1), self.bool_expr(depth - 1));
                // The right side runs only when the left does not decide.
                let outcome = match a.outcome {
                    Outcome::Bool(x) if x != and => Outcome::Bool(x),
                    Outcome::Bool(_) => b.outcome,
                    other => other,
                };
                Expr { text: format!("({} {} {})", a.text, if and { "and" } else { "or" }, b.text), outcome }
            }
        }
    }

    /// A check that `e` gives what the model says, as Weft statements.
    fn check(&self, out: &mut String, case: usize, e: &Expr) {
        match e.outcome {
            Outcome::Int(n) => {
                let n = int_literal(n);
                let _ = writeln!(out, "assert(({}) == {n}, \"case {case}: \" + str({}))", e.text, e.text);
            }
            Outcome::Bool(b) => {
                let _ = writeln!(out, "assert(({}) == {b}, \"case {case}\")", e.text);
            }
            Outcome::Error(kind) => {
                let _ = writeln!(
                    out,
                    "try {{\n    let got = {}\n    assert(false, \"case {case}: no error, got \" + str(got))\n}} \
                     catch e {{\n    assert(e.kind == \"{kind}\", \"case {case}: \" + str(e))\n}}",
                    e.text
                );
            }
        }
    }

    /// Variables, then expressions checked directly, inside a function,
    /// and accumulated by a loop.
    fn arithmetic(&mut self, out: &mut String, part: usize) {
        self.vars.clear();
        for i in 0..self.rng.range(1, 4) {
            let leaf = self.int_leaf();
            let Outcome::Int(value) = leaf.outcome else { unreachable!("leaves are ints") };
            let name = format!("v{part}_{i}");
            let _ = writeln!(out, "let {name} = {}", leaf.text);
            self.vars.push((name, value));
        }
        for case in 0..self.rng.range(3, 10) as usize {
            let e = if self.rng.chance(30) { self.bool_expr(3) } else { self.int_expr(4) };
            self.check(out, part * 100 + case, &e);
        }
        // The same expression over parameters, through a call.
        let saved = std::mem::take(&mut self.vars);
        self.vars = vec![("a".into(), self.rng.range(-20, 20)), ("b".into(), self.rng.range(-20, 20))];
        let body = self.int_expr(3);
        let (a, b) = (self.vars[0].1, self.vars[1].1);
        let _ = writeln!(out, "fn f{part}(a, b) {{ return {} }}", body.text);
        let call = Expr { text: format!("f{part}({a}, {b})"), outcome: body.outcome };
        self.check(out, part * 100 + 99, &call);
        self.vars = saved;
        // A loop summing small terms: no overflow, so the model is a sum.
        let n = self.rng.range(0, 30);
        let (k, c) = (self.rng.range(-5, 5), self.rng.range(-100, 100));
        let expected: i64 = (0..n).map(|i| i * k + c).sum();
        let _ = writeln!(
            out,
            "let sum{part} = 0\nfor i in 0..{n} {{ sum{part} += i * ({k}) + ({c}) }}\n\
             assert(sum{part} == {expected}, \"loop {part}: \" + str(sum{part}))"
        );
    }

    /// Producers and consumers over one channel: every value arrives once.
    /// Prints the order of arrival, which the seed decides.
    fn messages(&mut self, out: &mut String, part: usize) {
        let producers = self.rng.range(1, 4);
        let consumers = self.rng.range(1, 4);
        let per = self.rng.range(0, 20);
        let capacity = self.rng.range(0, 3);
        let pause =
            if self.rng.chance(50) { format!("sleep({}.0 / 100)", self.rng.range(0, 3)) } else { "yield()".into() };
        let _ = writeln!(
            out,
            "let ch{part} = chan({capacity})\nlet got{part} = []\nnursery {{
    spawn {{
        nursery as n {{
            for p in 0..{producers} {{
                n.spawn(fn(p) {{
                    for i in 0..{per} {{
                        {pause}
                        ch{part}.send(p * 1000 + i)
                    }}
                }}, p)
            }}
        }}
        ch{part}.close()
    }}
    for q in 0..{consumers} {{
        spawn {{ for v in ch{part} {{ got{part}.push(v) }} }}
    }}
}}
print(\"order {part}:\", got{part})
let want{part} = []
for p in 0..{producers} {{ for i in 0..{per} {{ want{part}.push(p * 1000 + i) }} }}
assert(got{part}.sort() == want{part}, \"messages {part}: \" + str(got{part}))"
        );
    }

    /// Tasks cancelled by a timeout or by a failing sibling: every
    /// `finally` runs, and the failure reaches the parent.
    fn cancellation(&mut self, out: &mut String, part: usize) {
        let tasks = self.rng.range(1, 6);
        let limit = self.rng.range(1, 5);
        let by_timeout = self.rng.chance(50);
        let _ = writeln!(out, "let entered{part} = 0\nlet finished{part} = 0");
        let sleeper = format!(
            "spawn {{ try {{ entered{part} += 1\n sleep({}) }} finally {{ finished{part} += 1 }} }}",
            limit + self.rng.range(1, 10)
        );
        let kind = if by_timeout { "Timeout" } else { "Boom" };
        let failing = if by_timeout {
            String::new()
        } else {
            format!("spawn {{ sleep({limit})\n throw error(\"Boom\", \"part {part}\") }}")
        };
        let open = if by_timeout { format!("timeout {limit} {{") } else { "{".into() };
        let _ = writeln!(
            out,
            "try {{
    {open}
        nursery {{
            for t in 0..{tasks} {{ {sleeper} }}
            {failing}
        }}
    }}
    assert(false, \"cancellation {part}: nothing failed\")
}} catch e {{
    assert(e.kind == \"{kind}\", \"cancellation {part}: \" + str(e))
}}
assert(entered{part} == {tasks} and finished{part} == {tasks}, \"finally {part}: \" + str([entered{part}, finished{part}]))
print(\"cancelled {part} at\", now())"
        );
    }

    fn program(&mut self) -> String {
        let mut out = String::new();
        for part in 0..self.rng.range(1, 5) as usize {
            match self.rng.below(3) {
                0 => self.arithmetic(&mut out, part),
                1 => self.messages(&mut out, part),
                _ => self.cancellation(&mut out, part),
            }
        }
        out.push_str("print(\"done\")\n");
        out
    }
}

/// `n` as Weft source: i64::MIN has no literal of its own.
fn int_literal(n: i64) -> String {
    if n == i64::MIN {
        format!("({} - 1)", i64::MIN + 1)
    } else {
        n.to_string()
    }
}

/// `f` of two int operands, evaluated left to right: the first error wins.
fn left_first(a: Outcome, b: Outcome, f: impl FnOnce(i64, i64) -> Outcome) -> Outcome {
    match (a, b) {
        (Outcome::Error(k), _) | (Outcome::Int(_), Outcome::Error(k)) => Outcome::Error(k),
        (Outcome::Int(x), Outcome::Int(y)) => f(x, y),
        _ => unreachable!("int expressions give ints"),
    }
}

/// `x op y` on ints as Weft computes it: checked, with floor division.
fn arith(op: &str, x: i64, y: i64) -> Outcome {
    let result = match op {
        "+" => x.checked_add(y),
        "-" => x.checked_sub(y),
        "*" => x.checked_mul(y),
        _ if y == 0 => return Outcome::Error("ZeroDivision"),
        "//" => x.checked_div(y).map(|q| if (x % y != 0) && ((x < 0) != (y < 0)) { q - 1 } else { q }),
        _ => x.checked_rem(y).map(|r| if r != 0 && ((r < 0) != (y < 0)) { r + y } else { r }),
    };
    result.map_or(Outcome::Error("Overflow"), Outcome::Int)
}

fn run(path: &std::path::Path, seed: u64) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["--virtual-time", "--seed", &seed.to_string()])
        .arg(path)
        .output()
        .expect("weft runs");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into())
}

/// The seeds of the programs a run makes: `WEFT_GEN_SEED`, or them all.
fn seeds() -> Vec<u64> {
    match std::env::var("WEFT_GEN_SEED") {
        Ok(seed) => vec![seed.parse().expect("WEFT_GEN_SEED is a number")],
        Err(_) => (1..=PROGRAMS).collect(),
    }
}

/// In a VM with virtual time and `seed`, defines `main` as the body of
/// `program`, then starts it with `start`: what it printed, and how it
/// ended (an error's kind and message).
fn main_in_vm(
    program: &str,
    seed: u64,
    start: impl FnOnce(&mut Vm) -> Result<(), Error>,
) -> (String, Result<(), String>) {
    let out = Output::default();
    let mut vm = Vm::builder().virtual_time(true).seed(seed).output(out.clone()).build().expect("a VM");
    vm.exec(&format!("fn main() {{\n{program}}}\n")).expect("main is defined");
    let ended = start(&mut vm).map_err(|e| format!("{}: {}", e.kind(), e.message()));
    (out.text(), ended)
}

#[test]
fn generated_programs_keep_their_invariants() {
    let dir = std::env::temp_dir().join(format!("weft-generated-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let mut failures = Vec::new();
    for seed in seeds() {
        let program = Gen { rng: Rng(seed), vars: Vec::new() }.program();
        let path = dir.join(format!("gen_{seed}.weft"));
        std::fs::write(&path, &program).expect("the program is written");
        let first = run(&path, seed);
        let again = run(&path, seed);
        let ok = first.0 == Some(0) && first.1.ends_with("done\n") && first.2.is_empty();
        if !ok {
            failures.push(format!("seed {seed} failed ({:?}):\n{}\n--- program ---\n{program}", first.0, first.2));
        } else if first != again {
            failures.push(format!("seed {seed} differs between two runs:\n{}\n---\n{}", first.1, again.1));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{} of the generated programs failed:\n{}", failures.len(), failures.join("\n\n"));
}

#[test]
fn generated_programs_called_by_the_host_end_as_when_run() {
    let mut failures = Vec::new();
    let mut direct = 0;
    for seed in seeds() {
        let program = Gen { rng: Rng(seed), vars: Vec::new() }.program();
        let run = main_in_vm(&program, seed, |vm| vm.exec("main()"));
        let mut ran_directly = false;
        let called = main_in_vm(&program, seed, |vm| {
            let before = vm.direct_calls();
            let ended = vm.call::<Value>("main", ()).map(drop);
            ran_directly = vm.direct_calls() > before;
            ended
        });
        direct += usize::from(ran_directly);
        if run.1.is_err() || !run.0.ends_with("done\n") {
            failures.push(format!("seed {seed} failed as a function ({:?}):\n{}", run.1, run.0));
        } else if called != run {
            failures.push(format!(
                "seed {seed}: called by the host {:?}\n{}\n--- run by the scheduler {:?}\n{}\n--- program ---\n{program}",
                called.1, called.0, run.1, run.0
            ));
        }
    }
    assert!(failures.is_empty(), "{} of the generated programs differ:\n{}", failures.len(), failures.join("\n\n"));
    // Programs of arithmetic alone never need the scheduler: the calls of
    // those run directly from start to end, and the others attach midway.
    if std::env::var("WEFT_GEN_SEED").is_err() {
        assert!(direct > 0, "no call ran directly from start to end");
    }
}

#[test]
fn the_model_of_arithmetic_is_the_languages() {
    // Pins the model itself against a few results the language guide shows.
    assert_eq!(arith("//", -7, 2), Outcome::Int(-4));
    assert_eq!(arith("%", -7, 3), Outcome::Int(2));
    assert_eq!(arith("%", 7, -3), Outcome::Int(-2));
    assert_eq!(arith("//", i64::MIN, -1), Outcome::Error("Overflow"));
    assert_eq!(arith("%", 1, 0), Outcome::Error("ZeroDivision"));
    assert_eq!(arith("+", i64::MAX, 1), Outcome::Error("Overflow"));
}
