//! Concurrency builtins: channels, sleeping and the clock, task and
//! nursery handles, task-local context. Every operation that may block
//! first checks for cancellation (a checkpoint), then either completes at
//! once or parks the task with `cx.park(event)`, to be woken by the
//! scheduler.

use crate::args::*;
use weft_vm::channel;
use weft_vm::heap::Outcome;
use weft_vm::sched::Event;
use weft_vm::{conc, fmt, Ctx, NativeResult, Throw, TypeTag, Value, Vm};

pub fn install(vm: &mut Vm) {
    vm.register("chan", chan);
    vm.register("sleep", sleep);
    vm.register("yield", yield_now);
    vm.register("now", now);
    vm.register("time", time);
    vm.register("context_get", context_get);
    vm.register("context_set", context_set);
    vm.register_method(TypeTag::Chan, "send", send);
    vm.register_method(TypeTag::Chan, "recv", recv);
    vm.register_method(TypeTag::Chan, "close", close);
    vm.register_method(TypeTag::Chan, "len", chan_len);
    vm.register_method(TypeTag::Chan, "cap", chan_cap);
    vm.register_method(TypeTag::Task, "join", join);
    vm.register_method(TypeTag::Task, "cancel", task_cancel);
    vm.register_method(TypeTag::Task, "done", task_done);
    vm.register_method(TypeTag::Nursery, "spawn", nursery_spawn);
    vm.register_method(TypeTag::Nursery, "cancel", nursery_cancel);
}

fn chan(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity_between("chan", args, 0, 1)?;
    let cap = match args.first() {
        None => 0,
        Some(_) => {
            let n = int_arg("chan", args, 0)?;
            usize::try_from(n)
                .map_err(|_| Throw::value_error(format!("chan: capacity must not be negative, got {n}")))?
        }
    };
    let site = cx.site();
    Ok(Value::Chan(cx.heap().new_chan(channel::Channel::new(cap, site))))
}

fn seconds(name: &str, args: &[Value]) -> Result<f64, Throw> {
    let s = num_arg(name, args, 0)?;
    if s.is_nan() {
        return Err(Throw::value_error(format!("{name}: seconds must be a number, not nan")));
    }
    Ok(s)
}

fn sleep(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("sleep", args, 1)?;
    let s = seconds("sleep", args)?;
    cx.checkpoint()?;
    Err(cx.park(Event::After(s.max(0.0))))
}

fn yield_now(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("yield", args, 0)?;
    cx.checkpoint()?;
    Err(cx.park(Event::After(0.0)))
}

fn now(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("now", args, 0)?;
    Ok(Value::Float(cx.now()))
}

fn time(_cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("time", args, 0)?;
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Ok(Value::Float(since.as_secs_f64()))
}

fn context_get(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("context_get", args, 1)?;
    let Some(key) = fmt::key(args[0]) else {
        return Err(Throw::type_error(format!(
            "context_get: a key must be nil, a bool, an int or a string, not {}",
            args[0].type_name()
        )));
    };
    match cx.context() {
        Some(m) => Ok(cx.rt.heap.map(m).get(&key).copied().unwrap_or(Value::Nil)),
        None => Ok(Value::Nil),
    }
}

fn context_set(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("context_set", args, 2)?;
    let Some(key) = fmt::key(args[0]) else {
        return Err(Throw::type_error(format!(
            "context_set: a key must be nil, a bool, an int or a string, not {}",
            args[0].type_name()
        )));
    };
    let map = cx.context_or_new();
    cx.rt.heap.map_mut(map).insert(key, args[1]);
    Ok(Value::Nil)
}

fn chan_arg(name: &str, args: &[Value]) -> Result<weft_vm::Ref, Throw> {
    match args[0] {
        Value::Chan(r) => Ok(r),
        v => Err(Throw::type_error(format!("{name}: expected a channel, not {}", v.type_name()))),
    }
}

fn send(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("send", &args[1..], 1)?;
    let ch = chan_arg("send", args)?;
    cx.checkpoint()?;
    if channel::try_send(cx.rt, ch, args[1])? {
        return Ok(Value::Nil);
    }
    Err(cx.park(Event::Send(ch, args[1])))
}

fn recv(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("recv", &args[1..], 0)?;
    let ch = chan_arg("recv", args)?;
    cx.checkpoint()?;
    if let Some(v) = channel::try_recv(cx.rt, ch)? {
        return Ok(v);
    }
    Err(cx.park(Event::Recv(ch)))
}

fn close(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("close", &args[1..], 0)?;
    let ch = chan_arg("close", args)?;
    channel::close(cx.rt, ch);
    Ok(Value::Nil)
}

fn chan_len(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("len", &args[1..], 0)?;
    let ch = chan_arg("len", args)?;
    Ok(Value::Int(cx.rt.heap.chan(ch).buf.len() as i64))
}

fn chan_cap(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("cap", &args[1..], 0)?;
    let ch = chan_arg("cap", args)?;
    Ok(Value::Int(cx.rt.heap.chan(ch).cap as i64))
}

fn task_arg(name: &str, args: &[Value]) -> Result<weft_vm::Ref, Throw> {
    match args[0] {
        Value::Task(r) => Ok(r),
        v => Err(Throw::type_error(format!("{name}: expected a task, not {}", v.type_name()))),
    }
}

fn join(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("join", &args[1..], 0)?;
    let t = task_arg("join", args)?;
    cx.checkpoint()?;
    let task = cx.rt.heap.task(t);
    if !matches!(task.outcome, Outcome::Running) {
        return conc::join_result(cx.rt, t);
    }
    if cx.is_current_task(t) {
        return Err(Throw::new("Deadlock", "a task cannot join itself"));
    }
    Err(cx.park(Event::Join(t)))
}

fn task_cancel(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("cancel", &args[1..], 0)?;
    let t = task_arg("cancel", args)?;
    cx.cancel_task(t);
    Ok(Value::Nil)
}

fn task_done(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("done", &args[1..], 0)?;
    let t = task_arg("done", args)?;
    Ok(Value::Bool(!matches!(cx.rt.heap.task(t).outcome, Outcome::Running)))
}

fn nursery_spawn(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    if args.len() < 2 {
        return Err(arity_error("spawn", "at least 1", args.len() - 1));
    }
    let site = cx.site();
    conc::spawn(cx.code, cx.rt, args[0], args[1], &args[2..], site)
}

fn nursery_cancel(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    arity("cancel", &args[1..], 0)?;
    let Value::Nursery(h) = args[0] else { return Err(Throw::type_error("cancel: expected a nursery")) };
    cx.cancel_nursery(h);
    Ok(Value::Nil)
}
