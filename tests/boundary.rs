//! The embedding boundary holds: a bug inside the VM (here, a native that
//! panics) comes back to the host as an `Internal` failure instead of
//! unwinding through it, and a bad request from the host is an error:
//! a value kept past the collection that freed its object among them,
//! even once a new object of the same type has taken its slot.

use std::path::Path;
use weft_vm::{Ctx, ErrorKind, Failure, NativeResult, Throw, Value, Vm};

fn boom(_: &mut Ctx, _: &[Value]) -> NativeResult {
    panic!("a native broke")
}

fn internal(_: &mut Ctx, _: &[Value]) -> NativeResult {
    Err(Throw::internal("a native found the heap in a state it cannot be in").into())
}

fn runtime_error(result: Result<Value, Failure>) -> weft_vm::RuntimeError {
    match result {
        Err(Failure::Runtime(e)) => e,
        other => panic!("expected a runtime failure, got {other:?}"),
    }
}

#[test]
fn a_panic_inside_the_vm_is_an_internal_failure_and_the_host_goes_on() {
    let mut vm = Vm::new();
    vm.register("boom", boom);
    let e = runtime_error(vm.run_script("host.weft", "boom()", Path::new(".")));
    assert_eq!(e.kind, "Internal");
    assert!(e.message.contains("a native broke") && e.message.contains("please report"), "{}", e.message);
    // The VM's state cannot be trusted after that: it refuses to run again.
    let again = runtime_error(vm.run_script("host.weft", "let x = 1", Path::new(".")));
    assert_eq!(again.kind, "Internal");
    // A fresh VM works.
    let mut fresh = Vm::new();
    assert!(fresh.run_script("host.weft", "let x = 1", Path::new(".")).is_ok());
}

#[test]
fn an_internal_error_raised_by_a_native_is_reported_as_one() {
    let mut vm = Vm::new();
    vm.register("internal", internal);
    let e = runtime_error(vm.run_script("host.weft", "internal()", Path::new(".")));
    assert_eq!(e.kind, ErrorKind::Internal.name());
    assert!(e.message.contains("please report"), "{}", e.message);
}

#[test]
fn running_a_function_that_was_never_loaded_is_an_error() {
    let mut vm = Vm::new();
    let e = runtime_error(vm.run_proto(12_345));
    assert_eq!(e.kind, "ValueError");
}

#[test]
fn only_a_top_level_function_runs_as_one() {
    // Every function loaded, run as a top level: the trampoline, a
    // function taking arguments and one capturing a variable are refused
    // with a ValueError, never an internal error.
    let mut vm = Vm::new();
    let script = "fn add(a, b) { return a + b }\nfn counter() { let n = 0\nreturn fn() { n += 1\nreturn n } }";
    vm.run_script("host.weft", script, Path::new(".")).unwrap();
    let mut refused = 0;
    for index in 0..8 {
        match vm.run_proto(index) {
            Ok(_) => {}
            Err(Failure::Runtime(e)) if e.kind == "ValueError" => refused += 1,
            Err(other) => panic!("function {index}: {other:?}"),
        }
    }
    // The trampoline, `add`, the closure in `counter`, and the indexes past the last.
    assert!(refused >= 3, "{refused} refused");
}

fn value_error(result: Result<(), Throw>) -> String {
    match result {
        Err(Throw::Error { kind: ErrorKind::ValueError, message }) => message,
        other => panic!("expected a ValueError, got {other:?}"),
    }
}

#[test]
fn a_stale_value_is_refused_even_when_a_list_fills_its_slot_again() {
    let mut vm = Vm::new();
    let stale = vm.eval("make.weft", "[1, 2, 3]").expect("runs");
    let Value::List(old) = stale else { panic!("expected a list, got {stale:?}") };
    // Lists made by the host (no collection runs between host calls)
    // make the arena far larger than one collection's allowance fills:
    // the junk below then never reaches the end of the free list where
    // the list's slot is, whatever each list costs.
    for i in 0..1_000_000 {
        vm.with_ctx(|cx| cx.new_list(vec![Value::Int(i)]));
    }
    // Nothing roots the list: enough allocation for collections frees it.
    let junk = "for i in 0..200000 { let junk = [i, [i]] }";
    vm.run_script("junk.weft", junk, Path::new(".")).expect("runs");
    // Make lists (no collection runs between host calls) until one takes
    // the freed slot: the free list hands every freed slot out in turn.
    let fresh = (0..10_000_000)
        .map(|i| vm.with_ctx(|cx| cx.new_list(vec![Value::Int(i)])))
        .find(|v| v.as_ref().map(|r| r.index()) == Some(old.index()))
        .expect("the freed slot is reused");
    assert!(matches!(fresh, Value::List(_)), "a list fills the slot again");
    // Kept alive through the collections the calls below may run.
    let _kept = vm.root(fresh).expect("the new list is live");
    assert_ne!(format!("{fresh:?}"), format!("{stale:?}"), "the new ref is of a later generation");

    // Every way in from the host refuses the stale value, in release too.
    let message = value_error(vm.root(stale).map(drop));
    assert!(message.starts_with("stale value: the list it named was collected"), "{message}");
    value_error(vm.register_value("old", stale));
    value_error(vm.set_global("old", stale));
    assert_eq!(vm.convert::<Vec<i64>>(stale), None);
    assert_eq!(vm.type_name(stale), "list");
    vm.eval("f.weft", "fn first(xs) { return xs[0] }").expect("runs");
    let first = vm.global("first").expect("defined");
    match vm.call_value(first, &[stale]) {
        Err(Failure::Runtime(e)) => {
            assert_eq!(e.kind, "ValueError");
            assert!(e.message.starts_with("stale value"), "{}", e.message);
        }
        other => panic!("expected a runtime failure, got {other:?}"),
    }

    // The new list is the one the slot holds, and it works.
    assert_eq!(vm.convert::<Vec<i64>>(fresh).map(|xs| xs.len()), Some(1));
    assert!(matches!(vm.call_value(first, &[fresh]), Ok(Value::Int(_))));
}
