//! The embedding API from a host's side: typed eval, calls and globals,
//! conversions and their errors, kept functions, blocking host functions
//! and their cancellation.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft::{Error, Function, Value, Vm};

#[test]
fn results_convert_to_the_rust_types_hosts_use() -> Result<(), Error> {
    let mut vm = Vm::new()?;
    assert_eq!(vm.eval::<i64>("40 + 2")?, 42);
    assert_eq!(vm.eval::<i32>("-7")?, -7);
    assert_eq!(vm.eval::<u8>("255")?, 255);
    assert_eq!(vm.eval::<f64>("1.5 * 2")?, 3.0);
    assert!(vm.eval::<bool>("1 < 2")?);
    assert_eq!(vm.eval::<String>("\"a\" + \"b\"")?, "ab");
    assert_eq!(vm.eval::<Option<i64>>("nil")?, None);
    assert_eq!(vm.eval::<Option<i64>>("3")?, Some(3));
    assert_eq!(vm.eval::<Vec<i64>>("[1, 2, 3]")?, [1, 2, 3]);
    assert_eq!(vm.eval::<(String, i64)>("[\"x\", 1]")?, ("x".to_string(), 1));
    let map: HashMap<String, Vec<String>> = vm.eval("[\"a\": [\"b\"], \"c\": []]")?;
    assert_eq!(map["a"], ["b"]);
    let sorted: BTreeMap<String, f64> = vm.eval("[\"z\": 1, \"a\": 2.5]")?;
    assert_eq!(sorted.keys().collect::<Vec<_>>(), ["a", "z"]);
    vm.eval::<()>("let unit = [1]")?;
    assert!(matches!(vm.eval::<Value>("nil")?, Value::Nil));
    Ok(())
}

#[test]
fn a_result_of_the_wrong_type_is_a_type_error_naming_both_types() -> Result<(), Error> {
    let mut vm = Vm::new()?;
    let error = vm.eval::<i64>("\"forty\"").unwrap_err();
    assert_eq!((error.kind(), error.message()), ("TypeError", "eval: expected an int, not string"));
    let error = vm.eval::<u8>("256").unwrap_err();
    assert_eq!(error.message(), "eval: expected an int that fits in u8, not int");
    let error = vm.eval::<HashMap<String, i64>>("[1: 2]").unwrap_err();
    assert_eq!(error.message(), "eval: expected a map of strings, not map");
    vm.exec("fn name() { return 7 }")?;
    let error = vm.call::<String>("name", ()).unwrap_err();
    assert_eq!(error.message(), "call of name: expected a string, not int");
    Ok(())
}

#[test]
fn calls_from_the_host_take_tuples_and_may_block() -> Result<(), Error> {
    let mut vm = Vm::builder().virtual_time(true).seed(1).build()?;
    vm.exec("fn describe(name, n, tags) { sleep(60)\nreturn name + \":\" + str(n) + \":\" + tags.join(\",\") }")?;
    let got: String = vm.call("describe", ("job", 3, vec!["a", "b"]))?;
    assert_eq!(got, "job:3:a,b");
    // Every argument a native takes is checked, naming the function and
    // the position.
    vm.register("add", |a: i64, b: i64| a + b);
    assert_eq!(vm.call::<i64>("add", (1, 2))?, 3);
    let error = vm.call::<i64>("add", (1, "two")).unwrap_err();
    assert_eq!(error.kind(), "TypeError");
    assert!(error.message().contains("add: argument 2 must be an int, not string"), "{error}");
    let error = vm.call::<i64>("add", (1,)).unwrap_err();
    assert_eq!(error.kind(), "ArityError");
    let error = vm.call::<()>("no_such_function", ()).unwrap_err();
    assert_eq!(error.kind(), "ValueError");
    Ok(())
}

#[test]
fn kept_functions_outlive_collections_and_many_calls() -> Result<(), Error> {
    let mut vm = Vm::new()?;
    let scale: Function = vm.eval("let k = 3\nfn(x) { return [x * k, x] }")?;
    for i in 0..2000 {
        let (scaled, same): (i64, i64) = vm.call(&scale, (i,))?;
        assert_eq!((scaled, same), (3 * i, i));
        if i % 500 == 0 {
            vm.exec("for j in 0..20000 { let junk = [j, str(j)] }")?;
        }
    }
    // A kept function can be handed back to scripts.
    vm.set_global("scale", scale.clone())?;
    assert_eq!(vm.eval::<Vec<i64>>("scale(2)")?, [6, 2]);
    Ok(())
}

#[test]
fn globals_are_read_and_written_with_conversions() -> Result<(), Error> {
    let mut vm = Vm::new()?;
    vm.set_global("names", vec!["b", "a"])?;
    vm.set_global("limits", HashMap::from([("max".to_string(), 10_i64)]))?;
    vm.exec("names.sort()\nlet total = limits.max + names.len()")?;
    assert_eq!(vm.get_global::<Vec<String>>("names")?, ["a", "b"]);
    assert_eq!(vm.get_global::<i64>("total")?, 12);
    assert_eq!(vm.get_global::<String>("missing").unwrap_err().kind(), "ValueError");
    Ok(())
}

#[test]
fn host_errors_become_catchable_script_errors() -> Result<(), Error> {
    let mut vm = Vm::new()?;
    vm.register("parse", |s: String| s.parse::<i64>().map_err(|e| format!("parse: {e}")));
    vm.register("strict", |n: i64| if n > 0 { Ok(n) } else { Err(Error::new("ValueError", "strict: not positive")) });
    let caught: Vec<String> = vm.eval(
        "let seen = []\ntry { parse(\"x\") } catch e { seen.push(e.kind) }\ntry { strict(0) } catch e { seen.push(e.kind + \" \" + e.message) }\nseen",
    )?;
    assert_eq!(caught, ["Error", "ValueError strict: not positive"]);
    Ok(())
}

#[test]
fn two_tasks_calling_a_blocking_host_function_overlap() -> Result<(), Error> {
    let mut vm = Vm::builder().pool_threads(4).build()?;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    vm.register_blocking("lookup", move |key: String| {
        counted.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(200));
        format!("<{key}>")
    });
    vm.exec("fn both() { let a = spawn lookup(\"a\")\nlet b = spawn lookup(\"b\")\nreturn a.join() + b.join() }")?;
    let start = Instant::now();
    let got: String = vm.call("both", ())?;
    let took = start.elapsed();
    assert_eq!(got, "<a><b>");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(took >= Duration::from_millis(200) && took < Duration::from_millis(350), "took {took:?}");
    Ok(())
}

#[test]
fn a_cancelled_blocking_call_ends_its_wait_at_once() -> Result<(), Error> {
    let mut vm = Vm::new()?;
    let finished = Arc::new(AtomicUsize::new(0));
    let done = finished.clone();
    vm.register_blocking("slow", move || {
        std::thread::sleep(Duration::from_millis(500));
        done.fetch_add(1, Ordering::SeqCst);
        Ok::<i64, String>(1)
    });
    let start = Instant::now();
    let timed_out: bool =
        vm.eval("let r = false\ntry { timeout 0.05 { slow() } } catch e { r = e.kind == \"Timeout\" }\nr")?;
    assert!(timed_out);
    assert!(start.elapsed() < Duration::from_millis(400), "the wait ended at once: {:?}", start.elapsed());
    // The late result is dropped; the VM runs on.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(finished.load(Ordering::SeqCst), 1);
    assert_eq!(vm.eval::<i64>("slow() + 1")?, 2);
    Ok(())
}

#[test]
fn blocking_host_functions_check_their_arguments_first() -> Result<(), Error> {
    let mut vm = Vm::new()?;
    vm.register_blocking("pair", |a: i64, b: String| format!("{a}{b}"));
    assert_eq!(vm.eval::<String>("pair(1, \"x\")")?, "1x");
    let error = vm.exec("pair(\"1\", \"x\")").unwrap_err();
    assert!(error.message().contains("pair: argument 1 must be an int, not string"), "{error}");
    assert_eq!(vm.exec("pair(1)").unwrap_err().kind(), "ArityError");
    Ok(())
}

#[test]
fn errors_carry_the_spawn_chain_and_the_cli_report() -> Result<(), Error> {
    let mut vm = Vm::new()?;
    let error = vm.exec("fn work() { return 1 / 0 }\nlet t = spawn work()\nt.join()").unwrap_err();
    assert_eq!(error.kind(), "ZeroDivision");
    assert!(!error.trace().is_empty());
    assert_eq!(error.spawn_chain().len(), 1, "{error}");
    assert!(error.spawn_chain()[0].contains("<eval>:2"), "{:?}", error.spawn_chain());
    assert!(error.to_string().contains("in task spawned at"), "{error}");
    let compile = vm.exec("let = 1").unwrap_err();
    assert_eq!(compile.kind(), "CompileError");
    let exit = vm.exec("exit(3)").unwrap_err();
    assert_eq!((exit.kind(), exit.exit_status()), ("Exit", Some(3)));
    Ok(())
}

#[test]
fn another_thread_stops_a_running_script() -> Result<(), Error> {
    let mut vm = Vm::new()?;
    let stop = vm.interrupt_handle();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        stop.interrupt();
    });
    let start = Instant::now();
    let error = vm.exec("let cleaned = false\ntry { while true {} } finally { cleaned = true }").unwrap_err();
    watchdog.join().expect("the watchdog ran");
    assert_eq!(error.kind(), "Interrupted");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(vm.get_global::<bool>("cleaned")?, "finally blocks ran as the run unwound");
    assert_eq!(vm.eval::<i64>("2 * 3")?, 6);
    Ok(())
}
