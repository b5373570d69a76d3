//! The embedding boundary holds: a bug inside the VM (here, a native that
//! panics) comes back to the host as an `Internal` failure instead of
//! unwinding through it, and a bad request from the host is an error.

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
