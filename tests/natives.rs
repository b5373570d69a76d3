//! The native protocol, from a host's side: typed natives and the errors
//! their conversions raise, natives that keep state, and natives that call
//! back into Weft and resume (continuations), including callbacks that
//! block, throw, are cancelled, or run the collector.

use std::path::Path;
use std::sync::{Arc, Mutex};
use weft_vm::{Callable, Ctx, Failure, ListRef, MapRef, NativeResult, Throw, TypeTag, Value, Vm};

#[path = "common/output.rs"]
mod output;
use output::Output;

/// A VM with the standard library and `print` captured.
fn vm() -> (Vm, Output) {
    let mut vm = Vm::new();
    weft_stdlib::install(&mut vm).expect("the standard library loads");
    vm.configure_scheduler(Some(3), true);
    let out = Output::default();
    vm.set_output(Box::new(out.clone()));
    (vm, out)
}

fn run(vm: &mut Vm, out: &Output, script: &str) -> String {
    if let Err(failure) = vm.run_script("host.weft", script, Path::new(".")) {
        panic!("the script failed: {failure:?}");
    }
    out.text()
}

fn failure(vm: &mut Vm, script: &str) -> weft_vm::RuntimeError {
    match vm.run_script("host.weft", script, Path::new(".")) {
        Err(Failure::Runtime(e)) => e,
        other => panic!("expected a runtime error, got {other:?}"),
    }
}

/// `each_slowly(xs, f)`: calls `f(x)` for every item of a copy of `xs`,
/// from Rust, one continuation after another; gives the number of calls.
/// The copy lives only in what the native keeps.
fn each_slowly(cx: &mut Ctx, xs: ListRef, f: Callable) -> NativeResult {
    let items = cx.list(xs).to_vec();
    let copy = cx.new_list(items);
    step(cx, Value::Nil, &mut vec![copy, f.into(), Value::Int(0)])
}

fn step(cx: &mut Ctx, _result: Value, keep: &mut Vec<Value>) -> NativeResult {
    let (xs, f, Value::Int(i)) = (keep[0], keep[1], keep[2]) else { return Err(Throw::internal("kept").into()) };
    let xs = ListRef::of(xs).ok_or_else(|| Throw::internal("a list"))?;
    let Some(&x) = cx.list(xs).get(i as usize) else { return Ok(Value::Int(i)) };
    keep[2] = Value::Int(i + 1);
    cx.call(f, &[x], std::mem::take(keep), step)
}

#[test]
fn typed_natives_convert_and_check_their_arguments() {
    let (mut vm, out) = vm();
    vm.register("add", |a: i64, b: i64| a + b);
    vm.register("scale", |x: f64, by: Option<f64>| x * by.unwrap_or(2.0));
    vm.register("shout", |cx: &mut Ctx, s: String| cx.string(&s.to_uppercase()));
    let text = run(&mut vm, &out, "print(add(2, 3), scale(1), scale(1, 3), shout(\"hi\"))");
    assert_eq!(text, "5 2.0 3.0 HI\n");

    let e = failure(&mut vm, "add(1, \"2\")");
    assert_eq!((e.kind.as_str(), e.message.as_str()), ("TypeError", "add: argument 2 must be an int, not string"));
    // A direct call with the wrong count is a compile error; through a
    // value it is checked when it runs.
    match vm.run_script("host.weft", "add(1)", Path::new(".")) {
        Err(Failure::Compile { report, .. }) => {
            assert!(report.contains("`add` takes 2 arguments but 1 was given"), "{report}");
            assert!(report.contains("add(an int, an int)"), "{report}");
        }
        other => panic!("expected a compile error, got {other:?}"),
    }
    let e = failure(&mut vm, "let f = add\nf(1)");
    assert_eq!((e.kind.as_str(), e.message.as_str()), ("ArityError", "add takes 2 arguments, but 1 was given"));
    let e = failure(&mut vm, "let g = scale\ng()");
    assert_eq!(e.message, "scale takes 1 to 2 arguments, but 0 were given");
    // A method counts its arguments without the receiver.
    let e = failure(&mut vm, "[].insert(\"a\", 1)");
    assert_eq!(e.message, "insert: argument 1 must be an int, not string");
}

#[test]
fn a_native_closure_keeps_its_own_state() {
    let (mut vm, out) = vm();
    let count = Arc::new(Mutex::new(0));
    let counter = count.clone();
    vm.register("tick", move || {
        let mut n = counter.lock().expect("not poisoned");
        *n += 1;
        *n
    });
    assert_eq!(run(&mut vm, &out, "tick()\ntick()\nprint(tick())"), "3\n");
    assert_eq!(*count.lock().expect("not poisoned"), 3);
}

#[test]
fn a_native_loops_over_a_callback_that_blocks() {
    let (mut vm, out) = vm();
    vm.register("each_slowly", each_slowly);
    // Each callback sleeps; another task runs meanwhile, so the native is
    // suspended across real waits, not only calls.
    let script = r#"
let seen = []
nursery {
    spawn {
        for i in 0..3 {
            sleep(1.5)
            seen.push("other " + str(i))
        }
    }
    let n = each_slowly([1, 2, 3], fn(x) {
        sleep(1.25)
        seen.push("item " + str(x))
    })
    seen.push("calls " + str(n))
}
print(seen.join(", "))
print(now())
"#;
    let text = run(&mut vm, &out, script);
    assert_eq!(text, "item 1, other 0, item 2, other 1, item 3, calls 3, other 2\n4.5\n");
}

#[test]
fn an_error_in_a_callback_unwinds_through_the_native() {
    let (mut vm, out) = vm();
    vm.register("each_slowly", each_slowly);
    let script = r#"
fn check(x) {
    if x == 2 { throw error("Bad", "two") }
}
try {
    each_slowly([1, 2, 3], check)
} catch e {
    print(e.kind, e.message)
}
# The native is gone from the task: a second run starts afresh.
print(each_slowly([1], fn(x) { return x }))
"#;
    assert_eq!(run(&mut vm, &out, script), "Bad two\n1\n");
    // Uncaught, the trace shows the callback, the native by the name it
    // was registered under, and the script's call.
    let e = failure(&mut vm, "each_slowly([1], fn(x) { throw error(\"Bad\", \"no\") })");
    assert_eq!(e.kind, "Bad");
    assert!(e.trace.iter().all(|line| !line.contains("<native>")), "{:?}", e.trace);
    assert_eq!(e.trace.len(), 3, "{:?}", e.trace);
    assert!(e.trace[0].starts_with("<fn> at "), "{:?}", e.trace);
    assert_eq!(e.trace[1], "each_slowly (builtin)");
    assert!(e.trace[2].starts_with("<main> at "), "{:?}", e.trace);
}

#[test]
fn a_task_cancelled_in_a_callback_unwinds_and_runs_its_finally() {
    let (mut vm, out) = vm();
    vm.register("each_slowly", each_slowly);
    let script = r#"
nursery as n {
    spawn {
        try {
            each_slowly([1, 2, 3], fn(x) { sleep(10) })
        } finally {
            print("cleaned up at", now())
        }
    }
    sleep(15)
    n.cancel()
}
"#;
    assert_eq!(run(&mut vm, &out, script), "cleaned up at 15.0\n");
}

#[test]
fn kept_values_survive_collections_while_the_callback_runs() {
    let (mut vm, out) = vm();
    vm.set_heap_limit(64 << 20);
    vm.register("each_slowly", each_slowly);
    // The list exists only in the native's keep; each callback allocates
    // enough garbage for several collections.
    let script = r#"
let total = 0
each_slowly([[1, 2], [3, 4], [5, 6]].map(fn(p) { return p[0] + p[1] }), fn(x) {
    let junk = []
    for i in 0..20000 { junk.push([i, str(i)]) }
    total += x
})
print(total)
"#;
    assert_eq!(run(&mut vm, &out, script), "21\n");
}

#[test]
fn natives_that_call_natives_and_deep_callbacks_stay_off_the_rust_stack() {
    let (mut vm, out) = vm();
    vm.register("apply", |cx: &mut Ctx, f: Callable, x: Value| cx.call(f, &[x], vec![], |_, r, _| Ok(r)));
    // A native whose callee is a native: resolved in a loop.
    assert_eq!(run(&mut vm, &out, "print(apply(str, 5))"), "5\n");
    // Script -> native -> script -> native ...: a StackOverflow, not a
    // crash of the host.
    let e = failure(&mut vm, "fn down(n) { return apply(down, n + 1) }\ndown(0)");
    assert_eq!(e.kind, "StackOverflow");
}

#[test]
fn a_loop_of_continuations_runs_in_flat_memory() {
    let bytes = |n: usize| {
        let (mut vm, out) = vm();
        vm.register("each_slowly", each_slowly);
        // Less the spare buffers, which are bounded whatever runs.
        vm.register("heap_bytes", |cx: &mut Ctx| (cx.stats().heap_bytes - cx.stats().spare_bytes) as i64);
        let script = format!(
            "let xs = []\nfor i in 0..1000 {{ xs.push(i) }}\nlet peak = 0\nfor r in 0..{n} {{\n    each_slowly(xs, fn(x) {{ if x == 999 {{ peak = max(peak, heap_bytes()) }} }})\n}}\nprint(peak)\n"
        );
        run(&mut vm, &out, &script).trim().parse::<i64>().expect("a count")
    };
    let (small, large) = (bytes(5), bytes(50));
    assert!(large <= small + (256 << 10), "{small} bytes after 5 rounds, {large} after 50");
}

#[test]
fn handles_hold_values_that_nothing_else_does() {
    let (mut vm, out) = vm();
    let kept: Arc<Mutex<Vec<weft_vm::Handle>>> = Default::default();
    let store = kept.clone();
    vm.register("remember", move |cx: &mut Ctx, v: Value| store.lock().expect("not poisoned").push(cx.root(v)));
    let load = kept.clone();
    vm.register("recall", move |cx: &mut Ctx, i: i64| {
        let kept = load.lock().expect("not poisoned");
        let h = kept.get(i as usize).ok_or_else(|| Throw::index_error("no such handle"))?;
        cx.value(h)
    });
    let script = r#"
remember([1, "two", ["three": 3]])
remember("four " + str(4))
for i in 0..50000 { let junk = [i, str(i)] }
print(recall(0)[2].three, recall(1))
"#;
    assert_eq!(run(&mut vm, &out, script), "3 four 4\n");
    // Read from the host after the run, after more collections.
    let junk = "for i in 0..50000 { let junk = [i, str(i)] }";
    vm.run_script("junk.weft", junk, Path::new(".")).expect("runs");
    let handles = kept.lock().expect("not poisoned");
    assert_eq!(vm.get::<String>(&handles[1]).expect("a string"), "four 4");
    let e = vm.get::<i64>(&handles[1]).expect_err("not an int");
    assert!(matches!(e, Throw::Error { ref message, .. } if message == "expected an int, not string"), "{e:?}");
    // Another VM refuses them.
    let (other, _) = self::vm();
    assert!(other.value(&handles[0]).is_err());
}

#[test]
fn a_value_from_another_vm_is_refused() {
    let (mut b, _) = vm();
    // A native of another VM, past the natives this one has.
    let foreign = Value::Native(10_000);
    assert!(b.register_value("stolen", foreign).is_err());
    assert!(b.root(foreign).is_err());
}

/// A host type as a class of objects: made by a native, changed by
/// another, named in `type()`, refused by name when the wrong value comes.
struct Counter {
    count: i64,
    label: Value,
}

impl weft_vm::Object for Counter {
    fn describe(&self) -> String {
        format!("at {}", self.count)
    }
    fn field(&self, name: &str) -> Option<Value> {
        (name == "label").then_some(self.label)
    }
    fn trace(&self, out: &mut Vec<Value>) {
        out.push(self.label);
    }
}

#[test]
fn host_classes_make_objects_with_methods_fields_and_typed_errors() {
    let (mut vm, out) = vm();
    vm.register_class::<Counter>("counter");
    vm.register("counter", |cx: &mut Ctx, label: Value| cx.new_object(Counter { count: 0, label }));
    vm.register("bump", |cx: &mut Ctx, c: Value| -> Result<i64, Throw> {
        let counter = cx.object_mut::<Counter>(0, c)?;
        counter.count += 1;
        Ok(counter.count)
    });
    vm.register_class_method::<Counter, _>("peek", |cx: &mut Ctx, c: Value| -> Result<i64, Throw> {
        Ok(cx.object::<Counter>(0, c)?.count)
    });
    let script = r#"
        # The label lives only in the object: a collection must keep it.
        let c = counter("clicks" + str(1))
        bump(c)
        let junk = []
        for i in 0..200000 { junk = [str(i) + "x"] }
        bump(c)
        print(type(c), c, c.peek(), c.label)
        try { bump(5) } catch e { print(e) }
        try { bump(stdin) } catch e { print(e) }
    "#;
    let printed = run(&mut vm, &out, script);
    assert_eq!(
        printed,
        "counter <counter at 2> 2 clicks1\n\
         TypeError: bump: argument 1 must be a counter, not int\n\
         TypeError: bump: argument 1 must be a counter, not stream\n"
    );
}

/// A native over an `Rc` runs on the thread that registered it; after the
/// VM moves to another thread, calling it is a clean error, and dropping
/// the VM there leaks it rather than touch the `Rc` off its thread.
#[test]
fn local_natives_run_only_on_their_own_thread() {
    use std::rc::Rc;
    let counter = Rc::new(std::cell::Cell::new(0i64));
    let held = counter.clone();
    let (mut vm, _out) = vm();
    vm.register_local("bump", move |_cx: &mut Ctx, _args: &[Value]| {
        held.set(held.get() + 1);
        Ok(Value::Int(held.get()))
    });
    vm.run_script("host.weft", "bump()\nbump()", Path::new(".")).unwrap();
    assert_eq!(counter.get(), 2);
    let elsewhere = std::thread::spawn(move || {
        let refused = match vm.run_script("host.weft", "bump()", Path::new(".")) {
            Err(Failure::Runtime(e)) => format!("{}: {}", e.kind, e.message),
            other => format!("{other:?}"),
        };
        drop(vm);
        refused
    });
    let refused = elsewhere.join().expect("no panic on the other thread");
    assert_eq!(refused, "ThreadError: bump was registered with register_local on another thread, and runs only there");
    assert_eq!(counter.get(), 2, "the closure never ran off its thread");
    assert_eq!(Rc::strong_count(&counter), 2, "dropped off its thread, the closure leaks instead");
}

#[test]
fn local_natives_drop_on_their_own_thread() {
    let counter = std::rc::Rc::new(0);
    let held = counter.clone();
    let (mut vm, _out) = vm();
    vm.register_local("peek", move |_cx: &mut Ctx, _args: &[Value]| Ok(Value::Int(*held)));
    drop(vm);
    assert_eq!(std::rc::Rc::strong_count(&counter), 1);
}

#[test]
fn a_host_native_named_like_a_builtin_is_called_as_any_native() {
    // `sqrt(x)` compiles to the builtin's own instruction, which computes
    // the standard `sqrt` only while the global holds it: a host's own
    // `sqrt`, registered after the standard library, is called instead.
    let (mut vm, out) = vm();
    let text = run(&mut vm, &out, "print(sqrt(16.0), len([1, 2]), max(1, 2))");
    assert_eq!(text, "4.0 2 2\n");
    vm.register("sqrt", |x: f64| x * 10.0);
    vm.register("len", |_: Value| 7i64);
    vm.register("max", |a: i64, b: i64| a - b);
    let text = run(&mut vm, &out, "print(sqrt(16.0), len([1, 2]), max(1, 2))");
    assert_eq!(text, "4.0 2 2\n160.0 7 -1\n");
}

#[test]
fn host_methods_named_push_and_remove_are_called_as_any_method() {
    // `xs.push(x)` and `m.remove(k)` compile to instructions that append and
    // remove in the loop only while lists' `push` and maps' `remove` are the
    // standard library's: a host's own, registered after them, are called
    // instead, also by code compiled before.
    let (mut vm, out) = vm();
    let script =
        "let xs = []\nlet m = [1: 10, 2: 20]\nfn add(x) { return xs.push(x) }\nfn take(k) { return m.remove(k) }";
    vm.eval("<host>", script).unwrap();
    vm.eval("<host>", "print(add(1), xs, take(1), m)").unwrap();
    assert_eq!(out.text(), "nil [1] 10 [2: 20]\n");
    vm.register_method(TypeTag::List, "push", |cx: &mut Ctx, xs: ListRef, x: i64| cx.list(xs).len() as i64 + x * 100);
    vm.register_method(TypeTag::Map, "remove", |_cx: &mut Ctx, _m: MapRef, k: i64| k * 1000);
    vm.eval("<host>", "print(add(2), xs, take(2), m)").unwrap();
    assert_eq!(out.text(), "nil [1] 10 [2: 20]\n201 [1] 2000 [2: 20]\n");
}

#[test]
fn a_push_written_in_weft_is_called_as_any_method() {
    // A script method behind `push` runs in a frame of its own, may block,
    // and its result goes where the call's would.
    let (mut vm, out) = vm();
    let prelude = "fn slow_push(xs, x) {\n    sleep(0)\n    return len(xs) * 100 + x\n}";
    vm.load_prelude(prelude, &[(TypeTag::List, "push", "slow_push")]).unwrap();
    vm.eval("<host>", "let xs = [1, 2]\nlet i = 7\nlet r = xs.push(i)\nprint(r, xs, [3].push(i + 1))").unwrap();
    assert_eq!(out.text(), "207 [1, 2] 108\n");
}
