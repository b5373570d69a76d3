//! The concurrency instructions and their bookkeeping: spawning into a
//! nursery, closing nurseries and cancel scopes, `select`, and what happens
//! when a task finishes. The loop that picks tasks to run is
//! `Vm::schedule`; the state shared with blocking natives is in `sched`.

use crate::channel;
use crate::error::Throw;
use crate::heap::Outcome;
use crate::sched::{Event, NurseryId, Reg, Resume, TaskId, Via};
use crate::task::Task;
use crate::trace::TraceEntry;
use crate::value::Value;
use crate::{Code, Runtime};

/// If `v` is a cancellation the runtime raised: the scope that absorbs it
/// (`None` for one that no scope absorbs, as from `join` on a cancelled
/// task). An error a script made with kind "Cancelled" is not one.
pub fn cancelled_scope(rt: &Runtime, v: Value) -> Option<Option<u32>> {
    match v {
        Value::Error(e) => rt.heap.error(e).cancellation,
        _ => None,
    }
}

/// Records on a new error the chain of spawn sites that led to the task
/// raising it.
pub fn note_spawn_chain(code: &Code, rt: &mut Runtime, e: crate::value::Ref) {
    let mut chain = Vec::new();
    let mut task = rt.sched.tasks.get(rt.sched.current).map(|_| rt.sched.current);
    while let Some(id) = task {
        let Some(meta) = rt.sched.tasks.get(id) else { break };
        let Some(site) = meta.spawned_at else { break };
        chain.extend(code.site_entry(site));
        task = meta.parent.get();
        if chain.len() > 100 {
            break;
        }
    }
    rt.heap.error_mut(e).spawned_at = chain;
}

/// Roughly what a live task costs outside the heap's objects: its records,
/// registers and first frame.
const TASK_BYTES: usize = 512;

/// Starts a task calling `callee(args)` in the nursery `nursery`.
pub fn spawn(
    code: &Code,
    rt: &mut Runtime,
    nursery: Value,
    callee: Value,
    args: &[Value],
    site: Option<crate::code::Site>,
) -> Result<Value, Throw> {
    let Value::Nursery(h) = nursery else {
        return Err(Throw::type_error(format!("cannot spawn into {}", nursery.type_name())));
    };
    let nid = rt.heap.nursery(h);
    let Some(n) = rt.sched.nurseries.get(nid) else {
        return Err(Throw::new("NurseryClosed", "cannot spawn into a nursery that has finished"));
    };
    let (scope, owner) = (n.scope, n.owner);
    if !matches!(callee, Value::Func(_) | Value::Native(_)) {
        return Err(Throw::type_error(format!("cannot spawn {}: it is not a function", callee.type_name())));
    }
    if args.len() > 200 {
        return Err(Throw::new("ArityError", "too many arguments to spawn"));
    }
    // The spawning task counts against the task limit, and its context
    // is copied: it needs its record.
    rt.sched.attach();
    if rt.sched.tasks.len() >= rt.sched.max_tasks {
        return Err(crate::limits::task_limit(rt.sched.max_tasks));
    }
    // Live tasks count against the heap limit before one more exists, so
    // a script spawning without end meets OutOfMemory between collections
    // too (which then count each task's real size).
    let tasks = (rt.sched.tasks.len() + 1).saturating_mul(TASK_BYTES);
    if rt.heap.object_bytes().saturating_add(tasks) > rt.heap.limit() {
        let message =
            format!("{} live tasks fill the heap's limit of {} MiB", rt.sched.tasks.len(), rt.heap.limit() >> 20);
        return Err(Throw::new("OutOfMemory", message));
    }
    let mut task = Box::new(Task::new());
    // Room for exactly the first call: a task that never calls deeper (a
    // sleeper, a worker loop) never grows its registers, and a sleeping
    // task stays small.
    let first_frame = match callee {
        Value::Func(r) => 1 + code.protos[rt.heap.closure(r).proto as usize].regs as usize,
        _ => 1 + args.len(),
    };
    task.stack.reserve_exact(first_frame.max(1 + args.len()));
    task.frames.reserve_exact(1);
    task.stack.push(callee);
    task.stack.extend_from_slice(args);
    task.start = Some(args.len() as u8);
    let context = match rt.sched.meta(rt.sched.current).context() {
        Value::Map(m) => {
            let copy = rt.heap.map(m).clone();
            Value::Map(rt.heap.new_map(copy))
        }
        other => other,
    };
    let id = rt.sched.add_task(task, Some(scope), Some(nid));
    let handle = rt.heap.new_task(id);
    let meta = rt.sched.meta_mut(id);
    meta.handle = Some(handle);
    meta.spawned_at = site;
    meta.parent = Some(owner).into();
    if let Value::Map(_) = context {
        meta.rare_mut().context = context;
    }
    rt.sched.nurseries.get_mut(nid).expect("checked").live += 1;
    Ok(Value::Task(handle))
}

/// Opens a nursery in the running task and returns its handle.
pub fn nursery_enter(rt: &mut Runtime) -> Value {
    let scope = rt.sched.push_scope(false);
    let owner = rt.sched.current;
    let (_, handle) = new_nursery(rt, scope, owner, false);
    Value::Nursery(handle)
}

/// A nursery over cancel scope `scope`, owned by task `owner` (none for
/// a host's supervising nursery), with its handle.
pub(crate) fn new_nursery(
    rt: &mut Runtime,
    scope: u32,
    owner: TaskId,
    supervised: bool,
) -> (NurseryId, crate::value::Ref) {
    let id = rt.sched.nurseries.insert(crate::sched::Nursery {
        scope,
        owner,
        live: 0,
        first_error: None,
        others: Vec::new(),
        waiting: None,
        handle: None,
        cancel_error: None,
        supervised,
        owned: Default::default(),
    });
    if let Some(s) = rt.sched.scopes.get_mut(scope) {
        s.set_nursery(id);
    }
    let handle = rt.heap.new_nursery(id);
    rt.sched.nurseries.get_mut(id).expect("just made").handle = Some(handle);
    (id, handle)
}

/// Records an error a nursery's body or task ended with: the first real
/// failure cancels the nursery; `Cancelled` errors are not failures.
fn nursery_failed(rt: &mut Runtime, nid: NurseryId, error: Value, from_body: bool) {
    let Some((scope, supervised)) = rt.sched.nurseries.get(nid).map(|n| (n.scope, n.supervised)) else { return };
    let cancellation = cancelled_scope(rt, error);
    if supervised {
        // A host's nursery: the failure waits for the host to report it,
        // and the siblings go on.
        if cancellation.is_none() {
            rt.sched.nurseries.get_mut(nid).expect("live").others.push(error);
        }
        return;
    }
    let heap = &mut rt.heap;
    match cancellation {
        Some(Some(s)) if s == scope => {}
        Some(_) => {
            if from_body {
                // Cancelled by an enclosing scope: re-raise it once the tasks are done.
                let n = rt.sched.nurseries.get_mut(nid).expect("live");
                n.cancel_error.get_or_insert(error);
                rt.sched.cancel(heap, scope);
            }
        }
        None => {
            let n = rt.sched.nurseries.get_mut(nid).expect("live");
            // One error object raised again by a task that joined the
            // failed one is one failure, not two.
            let same = |v: &Value| matches!((v, error), (Value::Error(a), Value::Error(b)) if *a == b);
            if n.first_error.is_none() {
                n.first_error = Some(error);
            } else if !n.first_error.iter().chain(n.others.iter()).any(same) {
                n.others.push(error);
            }
            rt.sched.cancel(heap, scope);
        }
    }
}

/// Closes a nursery: true when done, false when the task must park until
/// its children finish. Raises the nursery's first failure.
pub fn nursery_exit(rt: &mut Runtime, handle: Value, thrown: Value) -> Result<bool, Throw> {
    let Value::Nursery(h) = handle else { unreachable!("a nursery register holds its handle") };
    let nid = rt.heap.nursery(h);
    if !matches!(thrown, Value::Nil) {
        nursery_failed(rt, nid, thrown, true);
    }
    let n = rt.sched.nurseries.get(nid).expect("open nursery");
    if n.live > 0 {
        rt.sched.park_on_nursery(nid);
        return Ok(false);
    }
    rt.sched.end_nursery_owned(&mut rt.heap, nid);
    let n = rt.sched.nurseries.remove(nid).expect("open nursery");
    rt.sched.pop_scope();
    if let Some(first) = n.first_error {
        if let Value::Error(e) = first {
            rt.heap.error_mut(e).others.extend(n.others);
        }
        return Err(Throw::Value(first));
    }
    if let Some(cancel) = n.cancel_error {
        return Err(Throw::Value(cancel));
    }
    Ok(true)
}

/// Opens a `timeout` (or, with `shield`, a shield) scope.
pub fn scope_enter(rt: &mut Runtime, seconds: Value, shield: bool) -> Result<(), Throw> {
    if shield {
        rt.sched.push_scope(true);
        return Ok(());
    }
    let secs = match seconds {
        Value::Int(i) => i as f64,
        Value::Float(x) if !x.is_nan() => x,
        Value::Float(_) => return Err(Throw::value_error("timeout needs a number of seconds, not nan")),
        v => return Err(Throw::type_error(format!("timeout needs a number of seconds, not {}", v.type_name()))),
    };
    let scope = rt.sched.push_scope(false);
    rt.sched.set_deadline(scope, secs);
    Ok(())
}

/// Closes the innermost cancel scope. An expired timeout raises `Timeout`
/// unless the body failed with some other error.
pub fn scope_exit(rt: &mut Runtime, thrown: Value, failed: bool) -> Result<(), Throw> {
    let Some((id, scope)) = rt.sched.pop_scope() else { return Ok(()) };
    let timeout = || Throw::new("Timeout", "the timeout expired before the block finished");
    if failed {
        return match cancelled_scope(rt, thrown) {
            Some(_) if scope.expired => Err(timeout()),
            Some(Some(s)) if s == id => Ok(()),
            _ => Err(Throw::Value(thrown)),
        };
    }
    if scope.expired {
        return Err(timeout());
    }
    Ok(())
}

const RECV: i64 = 0;
const SEND: i64 = 1;
const JOIN: i64 = 2;
const AFTER: i64 = 3;

/// Runs a `select` over the case operands (`[operand, sent value]` pairs).
/// Returns the chosen case and its value, or parks the task and gives
/// `None`.
pub fn select(rt: &mut Runtime, operands: &[Value], kinds: i64) -> Result<Option<(u16, Value)>, Throw> {
    if let Some(scope) = rt.sched.cancelled(rt.sched.current) {
        return Err(Throw::Cancelled(Some(scope)));
    }
    let count = operands.len() / 2;
    let kind = |i: usize| (kinds >> (2 * i)) & 3;
    let has_default = (kinds >> 62) & 1 == 1;
    let mut ready = Vec::new();
    for i in 0..count {
        let operand = operands[2 * i];
        let is_ready = match (kind(i), operand) {
            (RECV, Value::Chan(ch)) => channel::recv_ready(rt, ch),
            (SEND, Value::Chan(ch)) => channel::send_ready(rt, ch),
            (JOIN, Value::Task(t)) => !matches!(rt.heap.task(t).outcome, Outcome::Running),
            (AFTER, Value::Float(x)) if x.is_nan() => {
                // As `sleep(nan)` and `timeout nan` do.
                return Err(Throw::value_error(format!(
                    "select case {}: after needs a number of seconds, not nan",
                    i + 1
                )));
            }
            (AFTER, Value::Int(_) | Value::Float(_)) => operand.as_f64().is_some_and(|s| s <= 0.0),
            (k, v) => {
                let want = ["a channel", "a channel", "a task", "a number of seconds"][k as usize];
                return Err(Throw::type_error(format!("select case {} needs {want}, not {}", i + 1, v.type_name())));
            }
        };
        if is_ready {
            ready.push(i);
        }
    }
    // A host thread may take what a host channel's case saw ready before
    // the case runs: then another ready case is tried, and if none is
    // left, the task parks as if none had been ready.
    while !ready.is_empty() {
        let i = ready.swap_remove(rt.sched.rng.below(ready.len() as u64) as usize);
        let value = match (kind(i), operands[2 * i]) {
            (RECV, Value::Chan(ch)) => match channel::try_recv(rt, ch)? {
                Some(v) => v,
                None => continue,
            },
            (SEND, Value::Chan(ch)) => {
                if !channel::try_send(rt, ch, operands[2 * i + 1])? {
                    continue;
                }
                Value::Nil
            }
            (JOIN, Value::Task(t)) => join_result(rt, t)?,
            _ => Value::Nil,
        };
        return Ok(Some((i as u16, value)));
    }
    if has_default {
        return Ok(Some((count as u16, Value::Nil)));
    }
    // One wait with a registration per case: whichever case wakes the
    // task, the wake's abort unregisters all the others.
    for i in 0..count {
        let event = match (kind(i), operands[2 * i]) {
            (RECV, Value::Chan(ch)) => Event::Recv(ch),
            (SEND, Value::Chan(ch)) => Event::Send(ch, operands[2 * i + 1]),
            (JOIN, Value::Task(t)) => Event::Join(t),
            (_, v) => Event::After(v.as_f64().unwrap_or(0.0)),
        };
        rt.sched.register(&mut rt.heap, event, Via::Case(i as u16));
    }
    rt.sched.park(true);
    Ok(None)
}

/// The result of a finished task, or its error.
pub fn join_result(rt: &Runtime, t: crate::value::Ref) -> Result<Value, Throw> {
    match rt.heap.task(t).outcome {
        Outcome::Returned(v) => Ok(v),
        Outcome::Failed(e) => Err(Throw::Value(e)),
        Outcome::Cancelled => Err(Throw::Cancelled(None)),
        Outcome::Running => unreachable!("checked by the caller"),
    }
}

/// Ends task `id`: records its outcome on its handle, wakes its joiners and
/// tells its nursery.
pub fn finish(rt: &mut Runtime, id: TaskId, result: Result<Value, Value>) {
    let Some(mut meta) = rt.sched.tasks.remove(id) else { return };
    rt.sched.end_task_owned(&mut rt.heap, &mut meta);
    for scope in meta.scopes.iter().rev() {
        rt.sched.remove_scope(scope);
    }
    let outcome = match result {
        Ok(v) => Outcome::Returned(v),
        Err(e) if cancelled_scope(rt, e).is_some() => Outcome::Cancelled,
        Err(e) => Outcome::Failed(e),
    };
    if let Some(h) = meta.handle {
        rt.heap.task_mut(h).outcome = outcome;
    }
    for (w, ()) in meta.rare.as_mut().map(|r| r.joiners.take_all()).unwrap_or_default() {
        let resume = match outcome {
            Outcome::Returned(v) => w.via.resume(v),
            Outcome::Failed(e) => Resume::raise(Throw::Value(e)),
            _ => Resume::raise(Throw::Cancelled(None)),
        };
        rt.sched.wake(&mut rt.heap, w.task, w.token, resume);
    }
    if let Some(nid) = meta.nursery.get() {
        if let Outcome::Failed(e) = outcome {
            nursery_failed(rt, nid, e, false);
        }
        if let Some(n) = rt.sched.nurseries.get_mut(nid) {
            n.live -= 1;
            if n.live == 0 {
                if let Some(token) = n.waiting.take() {
                    let owner = n.owner;
                    rt.sched.wake(&mut rt.heap, owner, token, Resume::Retry);
                }
            }
        }
    }
}

/// What a parked task waits on, for deadlock reports.
pub fn describe_wait(code: &Code, rt: &Runtime, meta: &crate::sched::TaskMeta) -> String {
    let chan_site = |ch: crate::value::Ref| match &rt.heap.chan(ch).made_at {
        Some(site) => format!(" made at {}", location(code, site)),
        None if rt.heap.chan(ch).is_host() => " shared with the host".to_string(),
        None => String::new(),
    };
    let describe = |reg: &Reg| match *reg {
        Reg::Recv(ch) => Some(format!("recv on channel{}", chan_site(ch))),
        Reg::Send(ch) => Some(format!("send on channel{}", chan_site(ch))),
        Reg::Join(t) => {
            let id = rt.heap.task(t).id;
            Some(match rt.sched.tasks.get(id).and_then(|m| m.spawned_at).and_then(|s| code.site_entry(s)) {
                Some(site) => format!("join on task spawned at {}", location(code, &site)),
                None => "join on a task".to_string(),
            })
        }
        // A select's `after` cases are timers: left out.
        Reg::Timer(_) => None,
        Reg::Nursery(_) => Some("its nursery's tasks to finish".to_string()),
        Reg::Io(slot, direction) => Some(
            rt.sched.port.reactor.as_ref().map_or_else(|| "a source".into(), |r| r.describe(slot as usize, direction)),
        ),
        Reg::Job(key) => {
            Some(rt.sched.port.job_what(key).map_or_else(|| "blocking work".to_string(), |w| w.to_string()))
        }
    };
    let regs = meta.regs.as_slice();
    if !meta.selecting {
        return regs.first().map_or_else(String::new, |r| describe(r).unwrap_or_else(|| "sleep".to_string()));
    }
    let cases: Vec<String> = regs.iter().filter_map(describe).collect();
    if cases.is_empty() {
        return "select with no case that can become ready".to_string();
    }
    format!("select: {}", cases.join(", "))
}

/// A parked task and what it waits on, as reports word it:
/// `task spawned at a.weft:3:5: waiting on read on connection to 127.0.0.1:80`.
pub fn describe_task(code: &Code, rt: &Runtime, meta: &crate::sched::TaskMeta) -> String {
    format!("{}: waiting on {}", task_name(code, meta), describe_wait(code, rt, meta))
}

/// How reports name a task: by its spawn site, or as the main task.
pub fn task_name(code: &Code, meta: &crate::sched::TaskMeta) -> String {
    match meta.spawned_at.and_then(|s| code.site_entry(s)) {
        Some(site) => format!("task spawned at {}", location(code, &site)),
        None => "main task".to_string(),
    }
}

/// `file:line:col` of a site.
pub fn location(code: &Code, site: &TraceEntry) -> String {
    match code.files.get(site.file as usize) {
        Some(f) => {
            let (line, col) = f.line_col(site.span.start);
            format!("{}:{line}:{col}", f.name)
        }
        None => "?".to_string(),
    }
}
