//! The session, from a host's side: code evaluated in parts sees what the
//! parts before it defined, files run into it leave their functions for
//! the host, and globals pass between host and script.

use weft_vm::{Failure, Value, Vm};

fn vm() -> Vm {
    let mut vm = Vm::new();
    weft_stdlib::install(&mut vm).expect("the standard library loads");
    vm.configure_scheduler(Some(1), true);
    vm.set_output(Box::new(std::io::sink()));
    vm
}

fn int(v: Value) -> i64 {
    match v {
        Value::Int(i) => i,
        other => panic!("expected an int, got {other:?}"),
    }
}

#[test]
fn definitions_last_between_pieces() {
    let mut vm = vm();
    assert!(matches!(vm.eval("<1>", "let n = 2"), Ok(Value::Nil)));
    vm.eval("<2>", "fn twice(x) { return x * n }").unwrap();
    vm.eval("<3>", "n = 5").unwrap();
    assert_eq!(int(vm.eval("<4>", "twice(4)").unwrap()), 20);
    // A `let` again rebinds the same name.
    vm.eval("<5>", "let n = 10").unwrap();
    assert_eq!(int(vm.eval("<6>", "twice(4)").unwrap()), 40);
}

#[test]
fn a_failed_piece_leaves_the_session_usable() {
    let mut vm = vm();
    vm.eval("<1>", "let kept = 7").unwrap();
    assert!(matches!(vm.eval("<2>", "let = oops"), Err(Failure::Compile { .. })));
    match vm.eval("<3>", "[1][5]") {
        Err(Failure::Runtime(e)) => assert_eq!(e.kind, "IndexError"),
        other => panic!("expected an IndexError, got {other:?}"),
    }
    assert_eq!(int(vm.eval("<4>", "kept + 1").unwrap()), 8);
}

#[test]
fn a_piece_that_spawns_waits_for_its_tasks() {
    let mut vm = vm();
    vm.eval("<1>", "let results = chan(2)").unwrap();
    let v = vm.eval("<2>", "spawn { sleep(5)\nresults.send(1) }\nspawn { results.send(2) }\nnow()").unwrap();
    assert!(matches!(v, Value::Float(t) if t == 0.0));
    assert_eq!(int(vm.eval("<3>", "results.recv() + results.recv()").unwrap()), 3);
    assert!(matches!(vm.eval("<4>", "now()").unwrap(), Value::Float(t) if t == 5.0));
}

#[test]
fn globals_pass_both_ways() {
    let mut vm = vm();
    vm.set_global("limit", Value::Int(3)).unwrap();
    vm.eval("<1>", "let doubled = limit * 2").unwrap();
    assert_eq!(int(vm.global("doubled").unwrap()), 6);
    assert!(matches!(vm.global("len"), Some(Value::Native(_))), "builtins are globals too");
    assert!(vm.global("nowhere").is_none());
    assert_eq!(vm.session_names().collect::<Vec<_>>(), ["limit", "doubled"]);
}

#[test]
fn a_file_run_into_the_session_leaves_its_functions() {
    let dir = std::env::temp_dir().join(format!("weft-session-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("helper.weft"), "fn triple(x) { return x * 3 }\n").unwrap();
    std::fs::write(
        dir.join("main.weft"),
        "import \"helper.weft\" as h\nlet scale = 2\nfn scaled(x) { return h.triple(x) * scale }\n",
    )
    .unwrap();
    let mut vm = vm();
    vm.run_file(dir.join("main.weft")).unwrap();
    assert_eq!(int(vm.eval("<1>", "scaled(5)").unwrap()), 30);
    assert_eq!(int(vm.global("scale").unwrap()), 2);
    match vm.run_file(dir.join("missing.weft")) {
        Err(Failure::Runtime(e)) => {
            assert_eq!(e.kind, "IOError");
            assert!(e.message.contains("missing.weft"), "{}", e.message);
        }
        other => panic!("expected an IOError, got {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
