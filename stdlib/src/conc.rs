//! Concurrency builtins: channels, sleeping and the clock, task and
//! nursery handles, task-local context. Every operation that may block
//! first checks for cancellation (a checkpoint), then either completes at
//! once or parks the task with `cx.park(event)`, to be woken by the
//! scheduler.

use weft_vm::{Callable, ChanRef, Ctx, Event, Key, NativeResult, NurseryRef, TaskRef, Throw, TypeTag, Value, Vm};

pub fn install(vm: &mut Vm) {
    vm.register("chan", chan);
    vm.register("sleep", |cx: &mut Ctx, s: f64| {
        let s = seconds(cx, s)?;
        cx.checkpoint()?;
        cx.park(Event::After(s.max(0.0)))
    });
    vm.register("yield", |cx: &mut Ctx| {
        cx.checkpoint()?;
        cx.park(Event::After(0.0))
    });
    vm.register("now", |cx: &mut Ctx| cx.now());
    vm.register("time", || {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        since.as_secs_f64()
    });
    vm.register("context_get", |cx: &mut Ctx, k: Value| {
        let k = context_key(cx, k)?;
        Ok::<_, Throw>(cx.context().and_then(|m| cx.map(m).get(&k).copied()).unwrap_or_default())
    });
    vm.register("context_set", |cx: &mut Ctx, k: Value, v: Value| {
        let k = context_key(cx, k)?;
        // Stored: keyed by the string's interned equal, made if needed.
        let k = cx.key(k.value()).unwrap_or(k);
        let map = cx.context_or_new();
        cx.map_mut(map).insert(k, v);
        Ok::<_, Throw>(())
    });

    let chan = TypeTag::Chan;
    vm.register_method(chan, "send", |cx: &mut Ctx, ch: ChanRef, v: Value| {
        cx.checkpoint()?;
        if cx.try_send(ch, v)? {
            return Ok(Value::Nil);
        }
        cx.park(Event::Send(ch.into(), v))
    });
    vm.register_method(chan, "recv", |cx: &mut Ctx, ch: ChanRef| {
        cx.checkpoint()?;
        if let Some(v) = cx.try_recv(ch)? {
            return Ok(v);
        }
        cx.park(Event::Recv(ch.into()))
    });
    vm.register_method(chan, "close", |cx: &mut Ctx, ch: ChanRef| cx.close(ch));
    vm.register_method(chan, "len", |cx: &mut Ctx, ch: ChanRef| cx.chan(ch).len() as i64);
    vm.register_method(chan, "cap", |cx: &mut Ctx, ch: ChanRef| cx.chan(ch).cap() as i64);

    let task = TypeTag::Task;
    vm.register_method(task, "join", join);
    vm.register_method(task, "cancel", |cx: &mut Ctx, t: TaskRef| cx.cancel_task(t));
    vm.register_method(task, "done", |cx: &mut Ctx, t: TaskRef| cx.task_result(t).is_some());

    let nursery = TypeTag::Nursery;
    vm.register_method(nursery, "spawn", nursery_spawn);
    vm.register_method(nursery, "cancel", |cx: &mut Ctx, n: NurseryRef| cx.cancel_nursery(n));
}

fn chan(cx: &mut Ctx, cap: Option<i64>) -> Result<ChanRef, Throw> {
    let cap = cap.unwrap_or(0);
    let cap = usize::try_from(cap)
        .map_err(|_| Throw::value_error(format!("chan: capacity must not be negative, got {cap}")))?;
    Ok(cx.new_chan(cap))
}

fn seconds(cx: &Ctx, s: f64) -> Result<f64, Throw> {
    if s.is_nan() {
        return Err(Throw::value_error(format!("{}: seconds must be a number, not nan", cx.name())));
    }
    Ok(s)
}

fn context_key(cx: &Ctx, k: Value) -> Result<Key, Throw> {
    cx.heap().find_key(k).ok_or_else(|| {
        let name = cx.name();
        Throw::type_error(format!("{name}: a key must be nil, a bool, an int or a string, not {}", k.type_name()))
    })
}

fn join(cx: &mut Ctx, t: TaskRef) -> NativeResult {
    cx.checkpoint()?;
    if let Some(result) = cx.task_result(t) {
        return Ok(result?);
    }
    if cx.is_current_task(t) {
        return Err(Throw::new("Deadlock", "a task cannot join itself").into());
    }
    cx.park(Event::Join(t.into()))
}

fn nursery_spawn(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    cx.arity(args, 2, usize::MAX)?;
    let n: NurseryRef = cx.arg(args, 0)?;
    let f = match Callable::of(args[1]) {
        Some(f) => f,
        None => {
            return Err(Throw::type_error(format!("cannot spawn {}: it is not a function", args[1].type_name())).into())
        }
    };
    Ok(cx.spawn(n, f, &args[2..])?.into())
}
