//! Host channels (`Vm::channel`) from both sides: every message shape
//! round trip, `for` and `select` over a host channel fed by host
//! threads, the deadlock rule while a host end lives and after the last
//! one goes, back pressure both ways, no message lost or duplicated when
//! receiving tasks are cancelled mid-receive, and waits that leave
//! nothing behind.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};
use weft::{ChannelError, Error, HostChannel, Message, Vm};

#[path = "common/output.rs"]
mod output;
use output::Output;

fn vm(virtual_time: bool) -> (Vm, Output) {
    let out = Output::default();
    let vm = Vm::builder().virtual_time(virtual_time).seed(1).output(out.clone()).build().expect("a VM");
    (vm, out)
}

#[test]
fn every_message_shape_round_trips_through_a_script() -> Result<(), Error> {
    let (mut vm, _) = vm(false);
    let (to_script, inbox) = vm.channel::<Message>(4);
    let (from_script, outbox) = vm.channel::<Message>(4);
    vm.set_global("inbox", inbox)?;
    vm.set_global("outbox", outbox)?;
    let shapes = vec![
        Message::Nil,
        Message::Bool(true),
        Message::Int(-42),
        Message::Int(i64::MAX),
        Message::Float(2.5),
        Message::Str("héllo, wörld".into()),
        Message::Str(String::new()),
        Message::List(vec![]),
        Message::List(vec![Message::Int(1), Message::Str("two".into()), Message::List(vec![Message::Nil])]),
        Message::Map(vec![]),
        Message::Map(vec![
            (Message::Str("name".into()), Message::Str("job".into())),
            (Message::Int(7), Message::List(vec![Message::Bool(false)])),
            (Message::Bool(true), Message::Map(vec![(Message::Str("deep".into()), Message::Float(0.5))])),
            (Message::Nil, Message::Nil),
        ]),
    ];
    let expected = shapes.clone();
    let host = thread::spawn(move || {
        let mut got = Vec::new();
        for m in shapes {
            to_script.send(m).expect("the script receives");
            got.push(from_script.recv().expect("the script echoes"));
        }
        drop(to_script);
        assert_eq!(from_script.recv(), Err(ChannelError::Closed), "the script closed its outbox");
        got
    });
    vm.exec("for m in inbox { outbox.send(m) }\noutbox.close()")?;
    let got = host.join().expect("the host thread");
    assert_eq!(got, expected);
    Ok(())
}

#[test]
fn host_types_convert_both_ways() -> Result<(), Error> {
    let (mut vm, _) = vm(false);
    let (lists, script_lists) = vm.channel::<Vec<i64>>(1);
    let (maps, script_maps) = vm.channel::<HashMap<String, Vec<String>>>(1);
    let (sorted, script_sorted) = vm.channel::<BTreeMap<String, f64>>(1);
    let (tuples, script_tuples) = vm.channel::<(String, i64, bool)>(1);
    let (options, script_options) = vm.channel::<Option<String>>(2);
    vm.set_global("lists", script_lists)?;
    vm.set_global("maps", script_maps)?;
    vm.set_global("sorted", script_sorted)?;
    vm.set_global("tuples", script_tuples)?;
    vm.set_global("options", script_options)?;
    lists.send(vec![1, 2, 3])?;
    tuples.send(("job".to_string(), 3, true))?;
    vm.exec(
        r#"
let xs = lists.recv()
lists.send(xs.map(fn(x) { return x * 10 }))
let t = tuples.recv()
tuples.send([t[0].upper(), t[1] + 1, not t[2]])
maps.send(["a": ["b", "c"], "d": []])
sorted.send(["z": 1, "a": 2.5])
options.send(nil)
options.send("some")
"#,
    )?;
    assert_eq!(lists.recv()?, [10, 20, 30]);
    assert_eq!(tuples.recv()?, ("JOB".to_string(), 4, false));
    let map = maps.recv()?;
    assert_eq!((map["a"].clone(), map["d"].len()), (vec!["b".to_string(), "c".to_string()], 0));
    assert_eq!(sorted.recv()?.into_iter().collect::<Vec<_>>(), [("a".to_string(), 2.5), ("z".to_string(), 1.0)]);
    assert_eq!(options.recv()?, None);
    assert_eq!(options.recv()?, Some("some".to_string()));
    // A message of another shape is refused by the host's type, named.
    vm.exec("lists.send(\"not a list\")")?;
    assert_eq!(lists.recv(), Err(ChannelError::WrongType { expected: "a list", found: "string" }));
    Ok(())
}

fn error_of<T: std::fmt::Debug>(result: Result<T, Error>) -> (String, String) {
    let error = result.expect_err("an error");
    (error.kind().to_string(), error.message().to_string())
}

#[test]
fn what_cannot_cross_is_a_type_error_naming_the_send() -> Result<(), Error> {
    let (mut vm, _) = vm(false);
    let (_host, script_end) = vm.channel::<Message>(4);
    vm.set_global("out", script_end)?;
    for (value, what) in [
        ("fn() {}", "a value of type fn"),
        ("chan()", "a value of type channel"),
        ("[1, [spawn {}]]", "a value of type task"),
    ] {
        let (kind, message) = error_of(vm.exec(&format!("out.send({value})")));
        assert_eq!(kind, "TypeError");
        assert!(message.starts_with(&format!("send on a host channel: {what} cannot cross")), "{message}");
    }
    let (kind, message) = error_of(vm.exec("let loop = []\nloop.push(loop)\nout.send(loop)"));
    assert_eq!(kind, "TypeError");
    assert!(message.contains("nested too deeply"), "{message}");
    // Caught in the script like any error; the channel still works.
    vm.exec("try { out.send(print) } catch e { out.send(e.kind) }")?;
    assert_eq!(_host.recv()?, Message::Str("TypeError".into()));
    Ok(())
}

#[test]
fn a_for_loop_fed_by_a_host_thread_ends_when_the_host_drops_its_end() -> Result<(), Error> {
    let (mut vm, out) = vm(false);
    let (jobs, script_end) = vm.channel::<i64>(2);
    vm.set_global("jobs", script_end)?;
    let feeder = thread::spawn(move || {
        for i in 1..=1000 {
            jobs.send(i).expect("the script receives");
        }
        // `jobs` dropped: the loop drains the queue, then ends.
    });
    vm.exec("let total = 0\nlet count = 0\nfor n in jobs { total += n\ncount += 1 }\nprint(count, total)")?;
    feeder.join().expect("the feeder");
    assert_eq!(out.text(), "1000 500500\n");
    Ok(())
}

#[test]
fn select_takes_a_host_channel_a_script_channel_and_a_timeout() -> Result<(), Error> {
    let (mut vm, out) = vm(false);
    let (host, script_end) = vm.channel::<String>(1);
    vm.set_global("from_host", script_end)?;
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(150));
        host.send("from the host".to_string()).expect("sent");
        // Kept alive until the script is done with it.
        thread::sleep(Duration::from_millis(400));
    });
    vm.exec(
        r#"
let local = chan()
spawn { sleep(0.05); local.send("local") }
let order = []
for _ in 0..3 {
    select {
        recv from_host as v { order.push(v) }
        recv local as v { order.push(v) }
        after 0.3 { order.push("timeout") }
    }
}
print(order.join(", "))
"#,
    )?;
    sender.join().expect("the sender");
    assert_eq!(out.text(), "local, from the host, timeout\n");
    Ok(())
}

#[test]
fn a_send_case_of_a_select_waits_for_room_the_host_makes() -> Result<(), Error> {
    let (mut vm, out) = vm(false);
    let (host, script_end) = vm.channel::<i64>(1);
    vm.set_global("to_host", script_end)?;
    let receiver = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        let got: Vec<i64> = std::iter::from_fn(|| host.recv().ok()).collect();
        got
    });
    vm.exec(
        r#"
to_host.send(1)
select {
    send to_host, 2 { print("sent once the host made room") }
    after 5 { print("timed out") }
}
to_host.close()
"#,
    )?;
    assert_eq!(receiver.join().expect("the receiver"), [1, 2]);
    assert_eq!(out.text(), "sent once the host made room\n");
    Ok(())
}

#[test]
fn a_task_waiting_on_a_host_channel_is_not_deadlocked_while_a_host_end_lives() -> Result<(), Error> {
    // On the virtual clock: the clock moves with real time while the
    // script waits on the host, instead of the run being a deadlock.
    let (mut vm, out) = vm(true);
    let (host, script_end) = vm.channel::<i64>(1);
    vm.set_global("ch", script_end)?;
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        host.send(7).expect("sent");
    });
    vm.exec("let v = ch.recv()\nprint(v, now() >= 0.15)")?;
    sender.join().expect("the sender");
    assert_eq!(out.text(), "7 true\n");
    Ok(())
}

#[test]
fn after_the_last_host_end_is_dropped_a_blocked_receiver_sees_the_channel_closed() -> Result<(), Error> {
    let (mut vm, out) = vm(true);
    let (host, script_end) = vm.channel::<i64>(4);
    vm.set_global("ch", script_end)?;
    let second = host.clone();
    host.send(1)?;
    let dropper = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        drop(host);
        thread::sleep(Duration::from_millis(100));
        second.send(2).expect("one end still lives");
        drop(second);
    });
    let start = Instant::now();
    vm.exec(
        r#"
print(ch.recv(), ch.recv())
try { ch.recv() } catch e { print(e.kind, e.message) }
try { ch.send(3) } catch e { print(e.kind, e.message) }
"#,
    )?;
    dropper.join().expect("the dropper");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(out.text(), "1 2\nChannelClosed channel is closed\nChannelClosed send on a closed channel\n");
    // Once closed and drained, a task blocked on it forever would be a
    // deadlock like any other; here nothing blocks.
    let (kind, _) = error_of(vm.exec("let c = chan()\nc.recv()"));
    assert_eq!(kind, "Deadlock");
    Ok(())
}

#[test]
fn closing_from_the_script_closes_for_the_host() -> Result<(), Error> {
    let (mut vm, _) = vm(false);
    let (host, script_end) = vm.channel::<i64>(4);
    vm.set_global("ch", script_end)?;
    vm.exec("ch.send(1)\nch.send(2)\nch.close()")?;
    assert!(host.is_closed());
    assert_eq!(host.send(3), Err(ChannelError::Closed));
    assert_eq!(host.recv(), Ok(1));
    assert_eq!(host.try_recv(), Ok(2));
    assert_eq!(host.recv(), Err(ChannelError::Closed));
    Ok(())
}

#[test]
fn back_pressure_holds_both_ways() -> Result<(), Error> {
    // Host to script: two messages fit, the third waits for the script.
    let (mut vm, out) = vm(false);
    let (to_script, inbox) = vm.channel::<i64>(2);
    let (to_host, outbox) = vm.channel::<i64>(2);
    vm.set_global("inbox", inbox)?;
    vm.set_global("outbox", outbox)?;
    to_script.send(1)?;
    to_script.send(2)?;
    assert_eq!(to_script.try_send(3), Err(ChannelError::Full));
    assert_eq!(to_script.send_timeout(3, Duration::from_millis(20)), Err(ChannelError::Timeout));
    assert_eq!(vm.eval::<i64>("inbox.len()")?, 2);
    assert_eq!(vm.eval::<i64>("inbox.recv()")?, 1);
    to_script.try_send(3)?;
    // Script to host: the script's third send parks until the host
    // receives.
    let mut vm_thread_out = out.clone();
    let script = thread::spawn(move || {
        let result = vm.exec("for i in 0..5 { outbox.send(i) }\nprint(\"all sent\")\noutbox.close()");
        let _ = vm_thread_out.flush();
        result.map(|_| vm)
    });
    thread::sleep(Duration::from_millis(150));
    assert_eq!(to_host.len(), 2, "two sent, the third waits for room");
    assert_eq!(out.text(), "");
    let got: Vec<i64> = std::iter::from_fn(|| to_host.recv().ok()).collect();
    assert_eq!(got, [0, 1, 2, 3, 4]);
    let mut vm = script.join().expect("the script thread")?;
    assert_eq!(out.text(), "all sent\n");
    assert_eq!(vm.eval::<Vec<i64>>("[inbox.recv(), inbox.recv()]")?, [2, 3]);
    Ok(())
}

/// The no-loss property: two host threads each send 10,000 numbered
/// messages; receiver tasks of which some are cancelled mid-receive (by
/// timeouts and by `cancel`) and others go on pass every number to the
/// host through a results channel, and every number arrives exactly once.
#[test]
fn no_message_is_lost_or_duplicated_when_receivers_are_cancelled() -> Result<(), Error> {
    const N: i64 = 10_000;
    let (mut vm, out) = vm(false);
    let (jobs, script_jobs) = vm.channel::<i64>(16);
    let (results, script_results) = vm.channel::<i64>(16);
    vm.set_global("jobs", script_jobs)?;
    vm.set_global("results", script_results)?;
    let senders: Vec<_> = (0..2)
        .map(|k| {
            let jobs = jobs.clone();
            thread::spawn(move || {
                for i in 0..N {
                    jobs.send(k * N + i).expect("the script receives");
                    // Pauses leave the receivers waiting, for the timeouts
                    // and cancellations to land mid-receive.
                    if i % 50 == 0 {
                        thread::sleep(Duration::from_millis(1));
                    }
                }
            })
        })
        .collect();
    drop(jobs);
    let collector = thread::spawn(move || {
        let mut seen = vec![0u32; 2 * N as usize];
        while let Ok(n) = results.recv() {
            seen[n as usize] += 1;
        }
        seen
    });
    vm.exec(
        r#"
# Passes a received number on; shielded, so that a cancellation that
# lands just after a receive cannot drop what it received.
fn forward(v) { shield { results.send(v) } }

let timeouts = 0
let cancelled = 0

# Receives under short random timeouts: many expire mid-receive.
fn impatient() {
    while true {
        let v = nil
        try {
            timeout random() * 0.002 { v = jobs.recv() }
        } catch e {
            if e.kind == "ChannelClosed" { return }
            if e.kind != "Timeout" { throw e }
            timeouts += 1
        } finally {
            if v != nil { forward(v) }
        }
    }
}

# Receives until cancelled from outside.
fn steady() {
    while true {
        let v = nil
        try {
            v = jobs.recv()
        } catch e {
            if e.kind == "ChannelClosed" { return }
            throw e
        } finally {
            if v != nil { forward(v) }
        }
    }
}

nursery {
    for _ in 0..3 { spawn impatient() }
    spawn steady()
    # Steady receivers, each cancelled at a random moment.
    for _ in 0..20 {
        let t = spawn steady()
        spawn {
            sleep(random() * 0.05)
            t.cancel()
            try { t.join() } catch e { if e.kind == "Cancelled" { cancelled += 1 } }
        }
    }
}
results.close()
print(timeouts > 10, cancelled > 10)
"#,
    )?;
    assert_eq!(out.text(), "true true\n", "receives were cut short by timeouts and cancellations");
    for s in senders {
        s.join().expect("a sender");
    }
    let seen = collector.join().expect("the collector");
    let missing: Vec<usize> = (0..seen.len()).filter(|&i| seen[i] == 0).take(5).collect();
    let doubled: Vec<usize> = (0..seen.len()).filter(|&i| seen[i] > 1).take(5).collect();
    assert!(missing.is_empty(), "never arrived: {missing:?}...");
    assert!(doubled.is_empty(), "arrived twice: {doubled:?}...");
    Ok(())
}

/// The heap's bytes less its spare buffers, which are bounded whatever
/// runs (tested in the heap's own tests): what would show a leak.
fn live_bytes(stats: &weft::runtime::Stats) -> usize {
    stats.heap_bytes - stats.spare_bytes
}

/// Peaks of what a select loop over a host channel leaves: the channel's
/// queue entries, timer entries, host channels watched, heap bytes (less
/// the spare buffers).
fn select_loop_peaks(n: usize) -> [i64; 4] {
    let (mut vm, out) = vm(true);
    vm.register("probe", |cx: &mut weft::Ctx, ch: weft::ChanRef| {
        let stats = cx.stats();
        let counts =
            [cx.chan(ch).queue_entries(), stats.sched.timer_entries, stats.sched.host_channels, live_bytes(&stats)];
        counts.map(|n| n as i64).to_vec()
    });
    let (host, script_end) = vm.channel::<i64>(1);
    vm.set_global("from_host", script_end).expect("set");
    // The host end lives, but sends only now and then: most rounds, the
    // host channel's case and the timer lose to a local channel.
    let feeder = thread::spawn(move || {
        while host.send(1).is_ok() {
            thread::sleep(Duration::from_millis(5));
        }
    });
    let script = format!(
        r#"
let peaks = [0, 0, 0, 0]
let local = chan()
nursery {{
    spawn {{ for i in 0..{n} {{ local.send(i) }} }}
    let done = 0
    while done < {n} {{
        select {{
            recv from_host as v {{ }}
            recv local as v {{ done += 1 }}
            after 3600 {{ }}
        }}
        let counts = probe(from_host)
        for i in 0..4 {{ peaks[i] = max(peaks[i], counts[i]) }}
    }}
}}
from_host.close()
print(peaks.join(" "))
"#
    );
    vm.exec(&script).expect("the loop runs");
    feeder.join().expect("the feeder");
    let text = out.text();
    let numbers: Vec<i64> = text.trim().split(' ').map(|n| n.parse().expect("a count")).collect();
    numbers.try_into().expect("four counts")
}

#[test]
fn a_select_loop_over_a_host_channel_runs_in_flat_memory() {
    let a = select_loop_peaks(10_000);
    let b = select_loop_peaks(100_000);
    for (i, what) in ["queue entries", "timer entries", "host channels watched"].iter().enumerate() {
        assert!(b[i] <= 64 && b[i] <= a[i] + 16, "{what} grew from {} to {}", a[i], b[i]);
    }
    assert!(b[2] <= 1, "one host channel at most is watched, not {}", b[2]);
    assert!(b[3] <= a[3] + (1 << 20), "bytes in use grew from {} to {}", a[3], b[3]);
}

#[test]
fn host_ends_are_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone>() {}
    check::<HostChannel<String>>();
    check::<HostChannel<Message>>();
}

#[test]
fn a_host_send_wakes_an_idle_run_for() -> Result<(), Error> {
    let (mut vm, out) = vm(false);
    vm.set_background_spawns(true);
    let (host, script_end) = vm.channel::<String>(1);
    vm.set_global("ch", script_end)?;
    vm.exec("spawn { print(\"got\", ch.recv()) }")?;
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        host.send("hello".to_string()).expect("sent");
        host
    });
    let start = Instant::now();
    // The task waits on the host: the loop sleeps until the send wakes
    // it, and returns once no task is left.
    assert!(!vm.run_for(Duration::from_secs(20)).expect("the loop runs"));
    assert!(start.elapsed() < Duration::from_secs(10), "woken by the send, not the limit");
    drop(sender.join().expect("the sender"));
    assert_eq!(out.text(), "got hello\n");
    Ok(())
}

#[test]
fn a_task_dump_names_a_wait_on_a_host_channel() -> Result<(), Error> {
    let (mut vm, _) = vm(false);
    vm.set_background_spawns(true);
    let (_host, script_end) = vm.channel::<i64>(1);
    vm.set_global("ch", script_end)?;
    vm.exec("spawn { ch.recv() }")?;
    assert!(vm.run_until_idle().expect("the loop runs"), "the task may still be woken by the host");
    let dump = vm.task_dump();
    assert!(dump.contains("waiting on recv on channel shared with the host"), "{dump}");
    Ok(())
}

#[test]
fn a_host_channel_reads_as_a_channel_in_scripts() -> Result<(), Error> {
    let (mut vm, out) = vm(false);
    let (host, script_end) = vm.channel::<i64>(3);
    vm.set_global("ch", script_end)?;
    host.send(1)?;
    vm.exec("print(type(ch), ch, ch.len(), ch.cap())\nch.close()\nprint(ch)")?;
    assert_eq!(out.text(), "channel <channel 1/3> 1 3\n<channel 1/3 closed>\n");
    Ok(())
}

#[test]
fn a_script_end_is_an_argument_of_a_call_too() -> Result<(), Error> {
    let (mut vm, _) = vm(false);
    let (host, script_end) = vm.channel::<i64>(4);
    vm.exec("fn drain(ch, n) { let t = 0\nfor _ in 0..n { t += ch.recv() }\nreturn t }")?;
    for round in 1..=3 {
        for i in 0..4 {
            host.send(round * i)?;
        }
        // Kept by the host and passed by reference, call after call.
        assert_eq!(vm.call::<i64>("drain", (&script_end, 4))?, round * 6);
    }
    Ok(())
}

#[test]
fn a_loop_blocked_on_a_host_channel_ends_when_the_last_host_end_goes() -> Result<(), Error> {
    let (mut vm, out) = vm(true);
    let (host, script_end) = vm.channel::<i64>(1);
    vm.set_global("ch", script_end)?;
    let dropper = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        drop(host);
    });
    // Nothing is ever sent: the loop waits, not deadlocked, until the
    // host end goes, then ends.
    vm.exec("let n = 0\nfor v in ch { n += 1 }\nprint(\"ended after\", n)")?;
    dropper.join().expect("the dropper");
    assert_eq!(out.text(), "ended after 0\n");
    Ok(())
}
