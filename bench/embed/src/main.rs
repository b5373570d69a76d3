//! Measures what embedding costs in Weft, in Lua 5.4 (through mlua) and in
//! Rhai, with the same work and the same sizes in each engine:
//!
//! - `call`: one call from Rust of a script function `add(a, b)` with two
//!   ints and a typed int result, the function kept as a handle the way a
//!   host keeps one (Weft: a rooted `weft::Function`; mlua: a
//!   `mlua::Function`; Rhai: `Engine::call_fn` on a compiled `AST` with a
//!   kept `Scope`). Weft also times the call by the global's name
//!   (`call_by_name`), which looks the name up on every call.
//! - `native_loop` and `inline_loop`: a script loop of N iterations doing
//!   `s = add(s, i)` with `add` a typed two-int native registered by the
//!   host, and the same loop with `s = s + i`. Their difference per
//!   iteration is the cost of one call from the script into Rust.
//! - `chan_in` and `chan_out`: N ints from a host thread to the script
//!   over a bounded channel, and N from the script to a host thread. mlua
//!   and Rhai use a crossbeam channel reached through registered natives,
//!   the way a host of those engines does it; Weft uses its host channels
//!   (`vm.channel::<i64>(capacity)`).
//!
//! - `new_vm`: an engine made with its standard library, one small script
//!   run in it (`1 + 2`), and the engine dropped: what a host pays for a
//!   fresh, isolated engine per job.
//!
//! The call, loop and new_vm rows are timed in the thread's CPU time, the channel
//! rows (two threads) by the wall clock. Every run checks the script's
//! result against the one computed here.
//! The runs of all engines alternate (run 1 of each, then run 2 of each,
//! ...), so that drift in the machine's speed touches every engine alike,
//! and each line reports the median of the runs.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The clock of the single-threaded rows: the thread's CPU time, which
/// other processes on a busy machine do not inflate. The channel rows,
/// whose work spans two threads, are timed by the wall clock.
type CpuClock = cpu_time::ThreadTime;

/// The capacity of every channel of the channel rows.
const CAPACITY: usize = 64;

/// How many operations each row does in one run.
#[derive(Clone, Copy)]
struct Sizes {
    calls: i64,
    iterations: i64,
    messages: i64,
    vms: i64,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Engine {
    Weft,
    Mlua,
    Rhai,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Weft => "weft",
            Engine::Mlua => "mlua",
            Engine::Rhai => "rhai",
        }
    }
}

/// One measured row: its name, what one operation is, and which size it
/// runs at.
struct Row {
    name: &'static str,
    unit: &'static str,
    size: fn(Sizes) -> i64,
}

const ROWS: &[Row] = &[
    Row { name: "call", unit: "call", size: |s| s.calls },
    Row { name: "call_by_name", unit: "call", size: |s| s.calls },
    Row { name: "native_loop", unit: "iteration", size: |s| s.iterations },
    Row { name: "inline_loop", unit: "iteration", size: |s| s.iterations },
    Row { name: "chan_in", unit: "message", size: |s| s.messages },
    Row { name: "chan_out", unit: "message", size: |s| s.messages },
    Row { name: "new_vm", unit: "engine", size: |s| s.vms },
];

/// Runs one row once in one engine: `Ok(None)` if the engine has no such
/// row, or the time the N operations took.
fn measure(engine: Engine, row: &str, n: i64) -> Result<Option<Duration>, String> {
    match engine {
        Engine::Weft => weft_side::measure(row, n),
        Engine::Mlua => mlua_side::measure(row, n),
        Engine::Rhai => rhai_side::measure(row, n),
    }
}

/// Checks a script's result against the expected one.
fn check(what: &str, got: i64, want: i64) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: the script computed {got}, expected {want}"))
    }
}

/// The `new_vm` row in one engine: `n` times, `make_and_eval` makes an
/// engine, evaluates `1 + 2` in it and drops it.
fn new_vms(
    what: &str,
    n: i64,
    mut make_and_eval: impl FnMut() -> Result<i64, String>,
) -> Result<Option<Duration>, String> {
    let start = CpuClock::now();
    let mut total = 0i64;
    for _ in 0..n {
        total += make_and_eval()?;
    }
    let took = start.elapsed();
    check(what, total, 3 * n)?;
    Ok(Some(took))
}

/// 0 + 1 + ... + (n - 1): what the loops and the channel rows add up.
fn triangle(n: i64) -> i64 {
    n * (n - 1) / 2
}

/// The host's side of `call`: `n` calls of `add(i, 1)`, whose results sum
/// to this.
fn call_total(n: i64) -> i64 {
    triangle(n) + n
}

mod weft_side {
    //! Weft through the `weft` crate's embedding API.

    use super::*;

    const ADD: &str = "fn add(a, b) { return a + b }";

    const LOOPS: &str = r#"
fn native_loop(n) {
    let s = 0
    for i in 0..n { s = add(s, i) }
    return s
}
fn inline_loop(n) {
    let s = 0
    for i in 0..n { s = s + i }
    return s
}
"#;

    fn err(e: weft::Error) -> String {
        e.to_string()
    }

    pub fn measure(row: &str, n: i64) -> Result<Option<Duration>, String> {
        match row {
            "call" => {
                let mut vm = weft::Vm::new().map_err(err)?;
                vm.exec(ADD).map_err(err)?;
                let add: weft::Function = vm.get_global("add").map_err(err)?;
                let start = CpuClock::now();
                let mut total = 0i64;
                for i in 0..n {
                    total += vm.call::<i64>(&add, (black_box(i), 1)).map_err(err)?;
                }
                let took = start.elapsed();
                check("weft call", total, call_total(n))?;
                Ok(Some(took))
            }
            "call_by_name" => {
                let mut vm = weft::Vm::new().map_err(err)?;
                vm.exec(ADD).map_err(err)?;
                let start = CpuClock::now();
                let mut total = 0i64;
                for i in 0..n {
                    total += vm.call::<i64>("add", (black_box(i), 1)).map_err(err)?;
                }
                let took = start.elapsed();
                check("weft call_by_name", total, call_total(n))?;
                Ok(Some(took))
            }
            "native_loop" | "inline_loop" => {
                let mut vm = weft::Vm::new().map_err(err)?;
                // Natives are registered before the code that calls them
                // is compiled.
                vm.register("add", |a: i64, b: i64| a + b);
                vm.exec(LOOPS).map_err(err)?;
                let start = CpuClock::now();
                let total: i64 = vm.call(row, (n,)).map_err(err)?;
                let took = start.elapsed();
                check(&format!("weft {row}"), total, triangle(n))?;
                Ok(Some(took))
            }
            "chan_in" | "chan_out" => channels(row, n),
            "new_vm" => new_vms("weft new_vm", n, || {
                let mut vm = weft::Vm::new().map_err(err)?;
                vm.eval::<i64>(black_box("1 + 2")).map_err(err)
            }),
            _ => Ok(None),
        }
    }

    /// The channel rows over Weft's host channels: the host end's `send`
    /// and `recv` block the host thread, never the VM's other tasks.
    fn channels(row: &str, n: i64) -> Result<Option<Duration>, String> {
        let mut vm = weft::Vm::new().map_err(err)?;
        let (host_end, script_end) = vm.channel::<i64>(CAPACITY);
        if row == "chan_in" {
            vm.set_global("jobs", script_end).map_err(err)?;
            vm.exec("fn drain(n) {\n    let s = 0\n    for i in 0..n { s = s + jobs.recv() }\n    return s\n}")
                .map_err(err)?;
            let start = Instant::now();
            let producer = std::thread::spawn(move || {
                for i in 0..n {
                    host_end.send(i).expect("the script receives every job");
                }
            });
            let total: i64 = vm.call("drain", (n,)).map_err(err)?;
            let took = start.elapsed();
            producer.join().map_err(|_| "the producer thread panicked".to_string())?;
            check("weft chan_in", total, triangle(n))?;
            Ok(Some(took))
        } else {
            vm.set_global("results", script_end).map_err(err)?;
            vm.exec("fn fill(n) {\n    for i in 0..n { results.send(i) }\n}").map_err(err)?;
            let start = Instant::now();
            let consumer = std::thread::spawn(move || {
                let mut total = 0i64;
                for _ in 0..n {
                    total += host_end.recv().expect("the script sends every result");
                }
                total
            });
            vm.call::<()>("fill", (n,)).map_err(err)?;
            let total = consumer.join().map_err(|_| "the consumer thread panicked".to_string())?;
            let took = start.elapsed();
            check("weft chan_out", total, triangle(n))?;
            Ok(Some(took))
        }
    }
}

mod mlua_side {
    //! Lua 5.4 through mlua, used as its documentation shows.

    use super::*;
    use mlua::{Function, Lua};

    const LOOPS: &str = r#"
function native_loop(n)
    local s = 0
    for i = 0, n - 1 do s = add(s, i) end
    return s
end
function inline_loop(n)
    local s = 0
    for i = 0, n - 1 do s = s + i end
    return s
end
function drain(n)
    local s = 0
    for i = 0, n - 1 do s = s + recv() end
    return s
end
function fill(n)
    for i = 0, n - 1 do send(i) end
end
"#;

    fn err(e: mlua::Error) -> String {
        e.to_string()
    }

    pub fn measure(row: &str, n: i64) -> Result<Option<Duration>, String> {
        if row == "new_vm" {
            return new_vms("mlua new_vm", n, || Lua::new().load(black_box("return 1 + 2")).eval::<i64>().map_err(err));
        }
        let lua = Lua::new();
        match row {
            "call" => {
                lua.load("function add(a, b) return a + b end").exec().map_err(err)?;
                let add: Function = lua.globals().get("add").map_err(err)?;
                let start = CpuClock::now();
                let mut total = 0i64;
                for i in 0..n {
                    total += add.call::<i64>((black_box(i), 1)).map_err(err)?;
                }
                let took = start.elapsed();
                check("mlua call", total, call_total(n))?;
                Ok(Some(took))
            }
            "native_loop" | "inline_loop" => {
                let add = lua.create_function(|_, (a, b): (i64, i64)| Ok(a + b)).map_err(err)?;
                lua.globals().set("add", add).map_err(err)?;
                lua.load(LOOPS).exec().map_err(err)?;
                let f: Function = lua.globals().get(row).map_err(err)?;
                let start = CpuClock::now();
                let total: i64 = f.call(n).map_err(err)?;
                let took = start.elapsed();
                check(&format!("mlua {row}"), total, triangle(n))?;
                Ok(Some(took))
            }
            "chan_in" => {
                let (tx, rx) = crossbeam_channel::bounded::<i64>(CAPACITY);
                let recv = lua
                    .create_function(move |_, ()| rx.recv().map_err(|e| mlua::Error::runtime(e.to_string())))
                    .map_err(err)?;
                lua.globals().set("recv", recv).map_err(err)?;
                lua.load(LOOPS).exec().map_err(err)?;
                let drain: Function = lua.globals().get("drain").map_err(err)?;
                let start = Instant::now();
                let producer = std::thread::spawn(move || {
                    for i in 0..n {
                        tx.send(i).expect("the script receives every job");
                    }
                });
                let total: i64 = drain.call(n).map_err(err)?;
                let took = start.elapsed();
                producer.join().map_err(|_| "the producer thread panicked".to_string())?;
                check("mlua chan_in", total, triangle(n))?;
                Ok(Some(took))
            }
            "chan_out" => {
                let (tx, rx) = crossbeam_channel::bounded::<i64>(CAPACITY);
                let send = lua
                    .create_function(move |_, x: i64| tx.send(x).map_err(|e| mlua::Error::runtime(e.to_string())))
                    .map_err(err)?;
                lua.globals().set("send", send).map_err(err)?;
                lua.load(LOOPS).exec().map_err(err)?;
                let fill: Function = lua.globals().get("fill").map_err(err)?;
                let start = Instant::now();
                let consumer = std::thread::spawn(move || (0..n).map(|_| rx.recv().unwrap_or(0)).sum::<i64>());
                fill.call::<()>(n).map_err(err)?;
                let total = consumer.join().map_err(|_| "the consumer thread panicked".to_string())?;
                let took = start.elapsed();
                check("mlua chan_out", total, triangle(n))?;
                Ok(Some(took))
            }
            _ => Ok(None),
        }
    }
}

mod rhai_side {
    //! Rhai's default engine, used as its book shows.

    use super::*;
    use rhai::{Engine, Scope, AST};

    const LOOPS: &str = r#"
fn native_loop(n) {
    let s = 0;
    for i in 0..n { s = add(s, i); }
    s
}
fn inline_loop(n) {
    let s = 0;
    for i in 0..n { s = s + i; }
    s
}
fn drain(n) {
    let s = 0;
    for i in 0..n { s = s + recv(); }
    s
}
fn fill(n) {
    for i in 0..n { send(i); }
}
"#;

    fn err(e: impl std::fmt::Display) -> String {
        e.to_string()
    }

    /// Calls the script's function `name` with `n` and times it.
    fn timed(engine: &Engine, ast: &AST, name: &str, n: i64) -> Result<(i64, Duration), String> {
        let mut scope = Scope::new();
        let start = CpuClock::now();
        let result = engine.call_fn::<i64>(&mut scope, ast, name, (n,)).map_err(err)?;
        Ok((result, start.elapsed()))
    }

    pub fn measure(row: &str, n: i64) -> Result<Option<Duration>, String> {
        let mut engine = Engine::new();
        match row {
            "call" => {
                let ast = engine.compile("fn add(a, b) { a + b }").map_err(err)?;
                let mut scope = Scope::new();
                let start = CpuClock::now();
                let mut total = 0i64;
                for i in 0..n {
                    total += engine.call_fn::<i64>(&mut scope, &ast, "add", (black_box(i), 1_i64)).map_err(err)?;
                }
                let took = start.elapsed();
                check("rhai call", total, call_total(n))?;
                Ok(Some(took))
            }
            "native_loop" | "inline_loop" => {
                engine.register_fn("add", |a: i64, b: i64| a + b);
                let ast = engine.compile(LOOPS).map_err(err)?;
                let (total, took) = timed(&engine, &ast, row, n)?;
                check(&format!("rhai {row}"), total, triangle(n))?;
                Ok(Some(took))
            }
            "chan_in" => {
                let (tx, rx) = crossbeam_channel::bounded::<i64>(CAPACITY);
                engine.register_fn("recv", move || -> Result<i64, Box<rhai::EvalAltResult>> {
                    rx.recv().map_err(|e| e.to_string().into())
                });
                let ast = engine.compile(LOOPS).map_err(err)?;
                let start = Instant::now();
                let producer = std::thread::spawn(move || {
                    for i in 0..n {
                        tx.send(i).expect("the script receives every job");
                    }
                });
                let mut scope = Scope::new();
                let total = engine.call_fn::<i64>(&mut scope, &ast, "drain", (n,)).map_err(err)?;
                let took = start.elapsed();
                producer.join().map_err(|_| "the producer thread panicked".to_string())?;
                check("rhai chan_in", total, triangle(n))?;
                Ok(Some(took))
            }
            "chan_out" => {
                let (tx, rx) = crossbeam_channel::bounded::<i64>(CAPACITY);
                engine.register_fn("send", move |x: i64| -> Result<(), Box<rhai::EvalAltResult>> {
                    tx.send(x).map_err(|e| e.to_string().into())
                });
                let ast = engine.compile(LOOPS).map_err(err)?;
                let start = Instant::now();
                let consumer = std::thread::spawn(move || (0..n).map(|_| rx.recv().unwrap_or(0)).sum::<i64>());
                let mut scope = Scope::new();
                engine.call_fn::<()>(&mut scope, &ast, "fill", (n,)).map_err(err)?;
                let total = consumer.join().map_err(|_| "the consumer thread panicked".to_string())?;
                let took = start.elapsed();
                check("rhai chan_out", total, triangle(n))?;
                Ok(Some(took))
            }
            "new_vm" => new_vms("rhai new_vm", n, || Engine::new().eval::<i64>(black_box("1 + 2")).map_err(err)),
            _ => Ok(None),
        }
    }
}

/// The command line's choices.
struct Options {
    engines: Vec<Engine>,
    /// The rows to run: every row if empty.
    rows: Vec<String>,
    runs: usize,
    sizes: Sizes,
    markdown: bool,
}

const USAGE: &str =
    "usage: weft-bench-embed [--engine weft,mlua,rhai] [--rows call,...] [--runs N] [--calls N] [--iterations N] \
[--messages N] [--vms N] [--quick] [--markdown]";

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        engines: vec![Engine::Weft, Engine::Mlua, Engine::Rhai],
        rows: Vec::new(),
        runs: 5,
        sizes: Sizes { calls: 1_000_000, iterations: 10_000_000, messages: 1_000_000, vms: 1_000 },
        markdown: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |what: &str| args.next().ok_or_else(|| format!("{arg} needs {what}"));
        let mut number = |what: &str| -> Result<i64, String> {
            let text = value(what)?;
            match text.parse::<i64>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("{arg}: expected a positive whole number, not {text:?}")),
            }
        };
        match arg.as_str() {
            "--engine" => {
                let list = value("a list of engines")?;
                options.engines = list
                    .split(',')
                    .map(|name| match name {
                        "weft" => Ok(Engine::Weft),
                        "mlua" | "lua" => Ok(Engine::Mlua),
                        "rhai" => Ok(Engine::Rhai),
                        other => Err(format!("unknown engine {other:?}: expected weft, mlua or rhai")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--rows" => {
                let list = value("a list of rows")?;
                for name in list.split(',') {
                    if !ROWS.iter().any(|row| row.name == name) {
                        let known: Vec<&str> = ROWS.iter().map(|row| row.name).collect();
                        return Err(format!("unknown row {name:?}: expected one of {}", known.join(", ")));
                    }
                    options.rows.push(name.to_string());
                }
            }
            "--runs" => options.runs = number("a count")? as usize,
            "--calls" => options.sizes.calls = number("a count")?,
            "--iterations" => options.sizes.iterations = number("a count")?,
            "--messages" => options.sizes.messages = number("a count")?,
            "--vms" => options.sizes.vms = number("a count")?,
            "--quick" => options.sizes = Sizes { calls: 10_000, iterations: 100_000, messages: 10_000, vms: 100 },
            "--markdown" => options.markdown = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    Ok(options)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[mid]
    } else {
        (xs[mid - 1] + xs[mid]) / 2.0
    }
}

/// The median nanoseconds per operation of every (engine, row) measured.
type Results = BTreeMap<(Engine, &'static str), f64>;

fn run(options: &Options) -> Result<Results, String> {
    let mut samples: BTreeMap<(Engine, &'static str), Vec<f64>> = BTreeMap::new();
    for run in 0..options.runs {
        eprintln!("run {} of {}", run + 1, options.runs);
        for row in ROWS.iter().filter(|row| options.rows.is_empty() || options.rows.iter().any(|r| r == row.name)) {
            let n = (row.size)(options.sizes);
            for &engine in &options.engines {
                if let Some(took) = measure(engine, row.name, n)? {
                    samples.entry((engine, row.name)).or_default().push(took.as_nanos() as f64 / n as f64);
                }
            }
        }
    }
    Ok(samples.into_iter().map(|(key, xs)| (key, median(xs))).collect())
}

/// The rows of the report: the measured ones, then the cost of a native
/// call, the difference of the two loops.
fn report_rows(results: &Results, engine: Engine) -> Vec<(&'static str, &'static str, Option<f64>)> {
    let mut rows: Vec<_> =
        ROWS.iter().map(|row| (row.name, row.unit, results.get(&(engine, row.name)).copied())).collect();
    let native = results.get(&(engine, "native_loop"));
    let inline = results.get(&(engine, "inline_loop"));
    let difference = native.zip(inline).map(|(a, b)| a - b);
    rows.insert(4, ("native_call", "call (native_loop - inline_loop)", difference));
    rows
}

fn print_report(options: &Options, results: &Results) {
    let s = options.sizes;
    println!(
        "sizes: {} calls, {} loop iterations, {} channel messages (capacity {CAPACITY}); median of {} runs",
        s.calls, s.iterations, s.messages, options.runs
    );
    println!();
    for &engine in &options.engines {
        for (name, unit, ns) in report_rows(results, engine) {
            if let Some(ns) = ns {
                println!("{:<5} {:<13} {:>9.1} ns per {unit}", engine.name(), name, ns);
            }
        }
    }
    let weft = report_rows(results, Engine::Weft);
    let peers: Vec<Engine> = options.engines.iter().copied().filter(|&e| e != Engine::Weft).collect();
    if !options.engines.contains(&Engine::Weft) || peers.is_empty() {
        return;
    }
    println!();
    println!("ratios (Weft's time over the other's: below 1, Weft is faster)");
    for (i, (name, _, ns)) in weft.iter().enumerate() {
        let Some(ns) = ns else { continue };
        let mut line = format!("{name:<13}");
        for &peer in &peers {
            // Weft's call through a name has no twin: it compares with
            // the others' one way of calling.
            let theirs = if *name == "call_by_name" {
                results.get(&(peer, "call")).copied()
            } else {
                report_rows(results, peer)[i].2
            };
            match theirs {
                Some(theirs) => line += &format!("  Weft/{} {:>6.2}", peer.name(), ns / theirs),
                None => line += &format!("  Weft/{} {:>6}", peer.name(), "-"),
            }
        }
        println!("{line}");
    }
    if options.markdown {
        print_markdown(options, results);
    }
}

fn print_markdown(options: &Options, results: &Results) {
    let cell = |ns: Option<f64>| ns.map_or("-".to_string(), |ns| format!("{ns:.1}"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.2}", a / b),
        _ => "-".to_string(),
    };
    println!();
    let mut header = "| measurement | unit |".to_string();
    let mut rule = "|---|---|".to_string();
    for engine in &options.engines {
        header += &format!(" {} (ns) |", engine.name());
        rule += "---:|";
    }
    for engine in options.engines.iter().filter(|&&e| e != Engine::Weft) {
        header += &format!(" Weft/{} |", engine.name());
        rule += "---:|";
    }
    println!("{header}\n{rule}");
    let by_engine: BTreeMap<Engine, Vec<_>> = options.engines.iter().map(|&e| (e, report_rows(results, e))).collect();
    for (i, (name, unit, _)) in report_rows(results, Engine::Weft).iter().enumerate() {
        let mut line = format!("| {name} | {unit} |");
        for engine in &options.engines {
            line += &format!(" {} |", cell(by_engine[engine][i].2));
        }
        let weft = by_engine.get(&Engine::Weft).and_then(|rows| rows[i].2);
        for engine in options.engines.iter().filter(|&&e| e != Engine::Weft) {
            let theirs = if *name == "call_by_name" { by_engine[engine][0].2 } else { by_engine[engine][i].2 };
            line += &format!(" {} |", ratio(weft, theirs));
        }
        println!("{line}");
    }
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(results) => {
            print_report(&options, &results);
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("weft-bench-embed: {message}");
            ExitCode::FAILURE
        }
    }
}
