//! The blocking-work pool and the I/O driver from a host: runtimes sharing
//! a pool and a driver (on two threads, in turns on one thread, one
//! dropped while another polls, idle ones using no CPU), blocking natives
//! that park only their task, and cancelled pool waits that end at once. Host objects tied to an owner (`Ctx::own`):
//! told when it ends, in flat memory. And what needs the CLI from outside:
//! a child outliving its script, a peer resetting mid-read, an idle
//! server's CPU time.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft::{Ctx, NativeResult, Value, Vm};
use weft_vm::Pool;

/// A native that sleeps `ms` on the pool and returns `ms`.
fn nap(cx: &mut Ctx, ms: i64) -> NativeResult {
    cx.blocking("nap", vec![], move || {
        std::thread::sleep(Duration::from_millis(ms as u64));
        Box::new(move |_, _| Ok(Value::Int(ms)))
    })
}

fn vm_with_nap() -> Vm {
    let mut vm = weft::new_vm().expect("the standard library loads");
    vm.register("nap", nap);
    vm
}

#[test]
fn two_runtimes_share_one_pool() {
    let pool = Pool::new(2);
    let runs: Vec<_> = (0..2)
        .map(|i| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let mut vm = weft::new_vm().expect("the standard library loads");
                vm.set_pool(pool);
                let script = format!(
                    r#"
                    let path = "/tmp/weft-tests-shared-pool-{i}-" + str(read_file("/proc/self/stat").split(" ")[0])
                    for k in 0..50 {{
                        write_file(path, str(k))
                        assert(read_file(path) == str(k), "read back")
                    }}
                    remove(path)
                    "#
                );
                vm.run_script("shared.weft", &script, Path::new(".")).map(|_| ()).map_err(|f| format!("{f:?}"))
            })
        })
        .collect();
    for run in runs {
        run.join().expect("the thread ends").expect("the script runs");
    }
    assert!(pool.threads() <= 2, "{} workers for a pool of 2", pool.threads());
}

#[test]
fn blocking_natives_park_only_their_task() {
    let mut vm = vm_with_nap();
    let start = Instant::now();
    let script = "nursery { for i in 0..4 { spawn nap(300) } }";
    vm.run_script("naps.weft", script, Path::new(".")).expect("the script runs");
    // One after another they would take 1.2 s.
    assert!(start.elapsed() < Duration::from_millis(1100), "took {:?}", start.elapsed());
}

#[test]
fn a_cancelled_pool_wait_ends_at_once() {
    let mut vm = vm_with_nap();
    let start = Instant::now();
    let script = r#"
        let caught = nil
        try { timeout 0.05 { nap(3000) } } catch e { caught = e.kind }
        assert(caught == "Timeout", "timed out")
    "#;
    vm.run_script("cancel.weft", script, Path::new(".")).expect("the script runs");
    assert!(start.elapsed() < Duration::from_millis(2500), "took {:?}", start.elapsed());
}

#[test]
fn a_panicking_blocking_native_fails_its_call_only() {
    let mut vm = weft::new_vm().expect("the standard library loads");
    vm.register("boom", |cx: &mut Ctx| -> NativeResult { cx.blocking("boom", vec![], || panic!("the host broke")) });
    let script = r#"
        let caught = nil
        try { boom() } catch e { caught = e.message }
        assert(caught == "boom panicked: the host broke", caught)
        assert(read_file("/proc/self/stat") != "", "the pool still works")
    "#;
    vm.run_script("panic.weft", script, Path::new(".")).expect("the script runs");
}

/// A host object that counts how often its owner ended, and says it no
/// longer needs its owner when `done`.
struct Token {
    ended: Arc<AtomicUsize>,
    done: bool,
}

impl weft_vm::Object for Token {
    fn on_owner_end(&mut self) {
        self.ended.fetch_add(1, Ordering::SeqCst);
    }
    fn done_with_owner(&mut self) -> bool {
        self.done
    }
}

/// A VM with `token(done)`, which makes a `Token` and ties it to the
/// running task's owner, and `owned()`: `[objects owned, heap bytes]`.
fn vm_with_tokens(ended: &Arc<AtomicUsize>) -> Vm {
    let mut vm = weft::new_vm().expect("the standard library loads");
    vm.register_class::<Token>("token");
    let ended = ended.clone();
    vm.register("token", move |cx: &mut Ctx, done: bool| -> NativeResult {
        let token = cx.new_object(Token { ended: ended.clone(), done })?;
        cx.own(token)?;
        Ok(token)
    });
    vm.register("owned", |cx: &mut Ctx| -> NativeResult {
        let stats = cx.stats();
        // Less the spare buffers, which are bounded whatever runs.
        let live = stats.heap_bytes - stats.spare_bytes;
        let counts = vec![Value::Int(stats.sched.owned as i64), Value::Int(live as i64)];
        Ok(cx.new_list(counts))
    });
    vm
}

/// Runs `body` with `N` bound to `n`; returns how many owners ended and
/// the peak `[owned, heap bytes]` the script tracked in `peak`.
fn run_owning(body: &str, n: usize) -> (usize, [i64; 2]) {
    let ended = Arc::new(AtomicUsize::new(0));
    let mut vm = vm_with_tokens(&ended);
    let out = Arc::new(std::sync::Mutex::new([0i64; 2]));
    let sink = out.clone();
    vm.register("report", move |_: &mut Ctx, owned: i64, bytes: i64| -> NativeResult {
        *sink.lock().expect("not poisoned") = [owned, bytes];
        Ok(Value::Nil)
    });
    let script = format!(
        "let N = {n}\nlet peak = [0, 0]\nfn track() {{\n    let c = owned()\n    for i in 0..2 {{ peak[i] = max(peak[i], c[i]) }}\n}}\n{body}\nreport(peak[0], peak[1])\n"
    );
    vm.run_script("owning.weft", &script, Path::new(".")).expect("the script runs");
    let peak = *out.lock().expect("not poisoned");
    (ended.load(Ordering::SeqCst), peak)
}

/// Asserts that the peak count of owned objects and the heap stay flat
/// between `n` and `10 * n` rounds of `body`.
fn assert_owning_flat(name: &str, body: &str, n: usize) -> (usize, usize) {
    let (ended_small, small) = run_owning(body, n);
    let (ended_big, big) = run_owning(body, n * 10);
    assert!(big[0] <= 64 && big[0] <= small[0] + 16, "{name}: owned objects grew from {} to {}", small[0], big[0]);
    assert!(big[1] <= small[1] + (1 << 20), "{name}: the heap grew from {} to {} bytes", small[1], big[1]);
    (ended_small, ended_big)
}

#[test]
fn a_nursery_block_ends_what_it_owns_in_flat_memory() {
    let body = "for i in 0..N {\n    nursery { token(false)\n token(false) }\n    track()\n}";
    let (small, big) = assert_owning_flat("nursery blocks", body, 200);
    assert_eq!((small, big), (400, 4000), "each block ends both its tokens once");
}

#[test]
fn a_task_ends_what_it_owns_however_it_ends() {
    let body = "fn fails() {\n    token(false)\n    throw error(\"Oops\", \"fails\")\n}\nfn waits() {\n    token(false)\n    sleep(100)\n}\nfor i in 0..N {\n    nursery { spawn fn() { token(false) }() }\n    try { nursery { spawn fails() } } catch e {}\n    nursery as n {\n        spawn waits()\n        yield()\n        n.cancel()\n    }\n    track()\n}";
    let (small, big) = assert_owning_flat("tasks", body, 100);
    assert_eq!((small, big), (300, 3000), "returned, failed and cancelled tasks each end their token once");
}

#[test]
fn a_long_lived_owner_lets_go_of_what_no_longer_needs_it() {
    let body = "for i in 0..N {\n    token(true)\n    track()\n}";
    let (small, big) = assert_owning_flat("one owner", body, 500);
    // Tokens let go of early are never told; the last few end with the run.
    assert!(small < 64 && big < 64, "{small} and {big} tokens were still owned at the end");
}

/// Runs `weft -e code` and returns its output.
fn weft_e(code: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_weft")).args(["-e", code]).output().expect("weft runs")
}

#[test]
fn a_child_of_the_main_task_ends_with_the_script_however_it_ends() {
    let start = "let p = spawn_process(\"sleep\", [\"100\"])\nprint(p.pid())\n";
    for (how, end) in [("returns", ""), ("fails", "throw error(\"Oops\", \"x\")"), ("exits", "exit(3)")] {
        let out = weft_e(&format!("{start}{end}"));
        let text = String::from_utf8_lossy(&out.stdout);
        let pid: u32 = text.trim().parse().unwrap_or_else(|_| panic!("{how}: no pid in {text:?}"));
        // Killed and reaped by the script: an orphan would live on under
        // init, and a zombie would keep its /proc entry.
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "the child of a script that {how} is still there");
    }
}

#[test]
fn a_stdin_read_cancelled_mid_wait_lets_the_script_go_on_and_loses_nothing() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    // stdin is a pipe the test keeps open: the read really waits.
    let script = r#"
        let ticks = 0
        nursery as n {
            spawn fn() { while true { sleep(0.01)
                ticks += 1 } }()
            try { timeout 0.3 { read_line() } } catch e { print(e.kind) }
            n.cancel()
        }
        print("went on", ticks > 5)
        print("then read", read_line())
        print("at the end", read_line())
    "#;
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["-e", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("weft runs");
    let mut stdin = child.stdin.take().expect("a pipe");
    let mut lines = BufReader::new(child.stdout.take().expect("a pipe")).lines();
    let mut next = || lines.next().expect("a line").expect("text");
    assert_eq!(next(), "Timeout");
    assert_eq!(next(), "went on true", "other tasks ran while the read waited");
    // The read the timeout abandoned is still under way: the line it
    // brings goes to the next reader.
    stdin.write_all(b"late\n").expect("the script reads");
    assert_eq!(next(), "then read late");
    drop(stdin);
    assert_eq!(next(), "at the end nil");
    assert!(child.wait().expect("it ends").success());
}

/// CPU time (user + system) of process `pid` so far, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process is alive");
    // Fields after the command name, which may hold spaces: utime and
    // stime are the 14th and 15th fields, in clock ticks of 1/100 s.
    let rest = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks as f64 / 100.0
}

#[test]
fn an_idle_server_uses_no_cpu() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    // A listener waiting in accept, and one connection open, idle, on
    // each side: every task waits on the reactor.
    let script = r#"
        let l = net.listen("127.0.0.1", 0)
        nursery {
            spawn fn() { let c = l.accept()
                c.read_line() }()
            let c = net.connect("127.0.0.1", l.port())
            spawn fn() { l.accept() }()
            print("ready")
            c.read_line()
        }
    "#;
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["-e", script])
        .stdout(Stdio::piped())
        .spawn()
        .expect("weft runs");
    let mut lines = BufReader::new(child.stdout.take().expect("a pipe")).lines();
    assert_eq!(lines.next().expect("a line").expect("text"), "ready");
    let before = cpu_seconds(child.id());
    std::thread::sleep(Duration::from_millis(1000));
    let used = cpu_seconds(child.id()) - before;
    child.kill().expect("it can be killed");
    let _ = child.wait();
    assert!(used < 0.2, "an idle server used {used:.2} s of CPU in one second");
}

#[test]
fn a_task_waiting_on_io_is_described_by_what_it_waits_on() {
    let mut vm = weft::new_vm().expect("the standard library loads");
    let seen = Arc::new(std::sync::Mutex::new((0, 0, Vec::new())));
    let sink = seen.clone();
    vm.register("waits", move |cx: &mut Ctx, port: i64, pid: i64| -> NativeResult {
        *sink.lock().expect("not poisoned") = (port, pid, cx.task_waits());
        Ok(Value::Nil)
    });
    let script = r#"
        let l = net.listen("127.0.0.1", 0)
        nursery as n {
            spawn fn() { let c = l.accept()
                c.read_line() }()
            spawn fn() { net.connect("127.0.0.1", l.port()).read_line() }()
            spawn exec("sleep", ["30"])
            # Its outputs closed, exec waits for the child itself.
            spawn exec("sh", ["-c", "exec >&- 2>&-; sleep 30"])
            let p = spawn_process("sleep", ["30"])
            spawn fn() { p.wait() }()
            sleep(0.5)
            waits(l.port(), p.pid())
            n.cancel()
        }
    "#;
    let start = Instant::now();
    vm.run_script("waits.weft", script, Path::new(".")).expect("the script runs");
    assert!(start.elapsed() < Duration::from_secs(20), "the cancelled exec took {:?}", start.elapsed());
    let (port, pid, waits) = seen.lock().expect("not poisoned").clone();
    let has = |text: &str| waits.iter().any(|w| w.contains(text));
    assert!(has(&format!("waiting on read on connection to 127.0.0.1:{port}")), "{waits:#?}");
    assert!(has("waiting on read on stdout of \"sleep\""), "{waits:#?}");
    assert!(has("waiting on exec of \"sh\""), "{waits:#?}");
    assert!(has(&format!("waiting on wait for process \"sleep\" (pid {pid})")), "{waits:#?}");
    assert!(has("task spawned at waits.weft:7:13: waiting on"), "{waits:#?}");
}

/// CPU time (user + system) of the calling thread so far, in seconds.
fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("the thread has a stat");
    let rest = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks as f64 / 100.0
}

/// A VM on `driver` and `pool`, with `announce(port)` sending `port` to
/// the returned receiver.
fn vm_on(driver: &weft::Driver, pool: &Pool) -> (weft::Vm, std::sync::mpsc::Receiver<i64>) {
    let mut vm = weft::Vm::builder().driver(driver.clone()).pool(pool.clone()).build().expect("the VM builds");
    let (tx, rx) = std::sync::mpsc::channel();
    vm.register("announce", move |port: i64| {
        let _ = tx.send(port);
    });
    (vm, rx)
}

/// An echo server and its client in one script: 200 lines each way over
/// loopback, and files written and read back on the pool.
const ECHO_BOTH_WAYS: &str = r#"
    let l = net.listen("127.0.0.1", 0)
    let got = []
    nursery {
        spawn fn() {
            let c = l.accept()
            for line in c { c.write(line + "\n") }
        }()
        let c = net.connect("127.0.0.1", l.port())
        for i in 0..200 {
            c.write(str(i) + "\n")
            got.push(c.read_line())
        }
        c.close()
    }
    assert(got[0] == "0" and got[199] == "199" and len(got) == 200, "every line came back")
    let path = "/tmp/weft-tests-driver-" + read_file("/proc/self/stat").split(" ")[0] + "-" + str(random())
    write_file(path, "kept")
    assert(read_file(path) == "kept", "read back")
    remove(path)
"#;

#[test]
fn two_runtimes_on_two_threads_share_one_driver_and_one_pool() {
    let (driver, pool) = (weft::Driver::new(), Pool::new(2));
    let runs: Vec<_> = (0..2)
        .map(|i| {
            let (driver, pool) = (driver.clone(), pool.clone());
            std::thread::spawn(move || {
                let (mut vm, _) = vm_on(&driver, &pool);
                let script = format!("{ECHO_BOTH_WAYS}\nassert({i} < 2, \"ran\")");
                vm.run_script("echo.weft", &script, Path::new(".")).map(|_| ()).map_err(|f| format!("{f:?}"))
            })
        })
        .collect();
    let start = Instant::now();
    for run in runs {
        run.join().expect("the thread ends").expect("the script runs");
    }
    assert!(start.elapsed() < Duration::from_secs(30), "took {:?}", start.elapsed());
    assert_eq!(driver.runtimes(), 0, "each VM left the driver when dropped");
    assert!(pool.threads() <= 2);
}

#[test]
fn two_runtimes_on_one_thread_take_turns_on_one_driver() {
    let (driver, pool) = (weft::Driver::new(), Pool::new(2));
    let (mut server, _) = vm_on(&driver, &pool);
    let (mut client, _) = vm_on(&driver, &pool);
    server.set_background_spawns(true);
    client.set_background_spawns(true);
    // The server's socket events are seen by whichever VM polls, and
    // reach the server only through its inbox when the client polled.
    let port: i64 = server
        .eval(
            r#"let l = net.listen("127.0.0.1", 0)
            spawn { let c = l.accept()
                for line in c { c.write(line + "!\n") } }
            l.port()"#,
        )
        .expect("the server starts");
    client
        .exec(&format!(
            r#"let replies = []
            spawn {{
                let c = net.connect("127.0.0.1", {port})
                for i in 0..50 {{
                    c.write(str(i) + "\n")
                    replies.push(c.read_line())
                }}
                c.close()
            }}"#
        ))
        .expect("the client starts");
    let start = Instant::now();
    let mut turns = 0;
    loop {
        let more = client.run_for(Duration::from_millis(5)).expect("the client runs");
        server.run_for(Duration::from_millis(5)).expect("the server runs");
        turns += 1;
        if !more {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "stuck after {turns} turns");
    }
    let replies: Vec<String> = client.eval("replies").expect("a list of strings");
    assert_eq!(replies.len(), 50);
    assert_eq!((replies[0].as_str(), replies[49].as_str()), ("0!", "49!"));
    // The client closed: the server's task ends at end of input.
    while server.run_for(Duration::from_millis(5)).expect("the server runs") {
        assert!(start.elapsed() < Duration::from_secs(30), "the server did not see the end");
    }
}

#[test]
fn a_runtime_dropped_while_another_polls_takes_its_sources_with_it() {
    let (driver, pool) = (weft::Driver::new(), Pool::new(2));
    let (mut server, announced) = vm_on(&driver, &pool);
    // Serves two clients, one after the other, then ends.
    let serving = std::thread::spawn(move || {
        let script = r#"
            let l = net.listen("127.0.0.1", 0)
            announce(l.port())
            for i in 0..2 {
                let c = l.accept()
                try { for line in c { c.write(line + "\n") } } catch e { }
            }
        "#;
        server.run_script("server.weft", script, Path::new(".")).map(|_| ()).map_err(|f| format!("{f:?}"))
    });
    let port = announced.recv_timeout(Duration::from_secs(30)).expect("the server listens");
    {
        // This VM's sockets and a listener of its own are registered with
        // the shared poll; it goes away with data still in flight.
        let (mut gone, _) = vm_on(&driver, &pool);
        gone.exec(&format!(
            r#"let mine = net.listen("127.0.0.1", 0)
            let peer = net.connect("127.0.0.1", mine.port())
            let c = net.connect("127.0.0.1", {port})
            c.write("hello\n")
            assert(c.read_line() == "hello", "echoed")
            c.write("never read\n")
            peer.write("pending")"#
        ))
        .expect("the first client runs");
        assert_eq!(driver.runtimes(), 2);
    }
    assert_eq!(driver.runtimes(), 1, "the dropped VM left the driver");
    // A new VM on the same driver gets a new number: no event of the
    // dropped one reaches it.
    let (mut next, _) = vm_on(&driver, &pool);
    let echoed: Vec<String> = next
        .eval(&format!(
            r#"let c = net.connect("127.0.0.1", {port})
            let got = []
            for i in 0..20 {{
                c.write("line " + str(i) + "\n")
                got.push(c.read_line())
            }}
            c.close()
            got"#
        ))
        .expect("the second client runs");
    assert_eq!(echoed.len(), 20);
    assert_eq!(echoed[19], "line 19");
    serving.join().expect("the server thread ends").expect("the server ends well");
}

#[test]
fn idle_runtimes_sharing_a_driver_use_no_cpu() {
    let (driver, pool) = (weft::Driver::new(), Pool::new(2));
    // One waits on a socket with no timer at all; the other on a socket
    // under a timeout: whichever leads, the other parks.
    let scripts = [
        r#"let l = net.listen("127.0.0.1", 0)
        let c = net.connect("127.0.0.1", l.port())
        announce(0)
        c.read_line()"#,
        r#"let l = net.listen("127.0.0.1", 0)
        let c = net.connect("127.0.0.1", l.port())
        announce(0)
        let kind = nil
        try { timeout 1.5 { c.read_line() } } catch e { kind = e.kind }
        assert(kind == "Timeout", "timed out")"#,
    ];
    let mut interrupts = Vec::new();
    let mut runs = Vec::new();
    for script in scripts {
        let (mut vm, announced) = vm_on(&driver, &pool);
        interrupts.push(vm.interrupt_handle());
        runs.push((
            std::thread::spawn(move || {
                let before = thread_cpu_seconds();
                let result = vm.run_script("idle.weft", script, Path::new("."));
                (thread_cpu_seconds() - before, result.map(|_| ()).map_err(|f| format!("{f:?}")))
            }),
            announced,
        ));
    }
    for (_, announced) in &runs {
        announced.recv_timeout(Duration::from_secs(30)).expect("the script started");
    }
    let mut runs = runs.into_iter().map(|(run, _)| run);
    let (forever, timed) = (runs.next().expect("two runs"), runs.next().expect("two runs"));
    let (used, result) = timed.join().expect("the timed run ends");
    result.expect("the timeout ends the run");
    assert!(used < 0.3, "a runtime idle for 1.5 s used {used:.2} s of CPU");
    // The other waits for good, and only an interrupt wakes it.
    interrupts[0].interrupt();
    let (used, result) = forever.join().expect("the interrupted run ends");
    assert!(matches!(result, Err(ref e) if e.contains("Interrupted")), "{result:?}");
    assert!(used < 0.3, "a runtime idle for 1.5 s used {used:.2} s of CPU");
}
