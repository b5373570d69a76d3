//! Map methods: `len keys values items has get remove`. Maps keep their
//! insertion order; removing a key keeps the order of the rest.

use weft_lang::bytecode::BuiltinMethod;
use weft_vm::{Ctx, Key, MapRef, NativeResult, Throw, TypeTag, Value, Vm};

pub fn install(vm: &mut Vm) {
    let map = TypeTag::Map;
    vm.register_method(map, "len", |cx: &mut Ctx, m: MapRef| cx.map(m).len() as i64);
    vm.register_method(map, "keys", |cx: &mut Ctx, m: MapRef| {
        let keys = cx.map(m).keys().map(|k| k.value()).collect();
        cx.new_list(keys)
    });
    vm.register_method(map, "values", |cx: &mut Ctx, m: MapRef| {
        let values = cx.map(m).values().copied().collect();
        cx.new_list(values)
    });
    vm.register_method(map, "items", items);
    vm.register_method(map, "has", |cx: &mut Ctx, m: MapRef, k: Value| {
        let k = key(cx, k)?;
        Ok::<_, Throw>(cx.map(m).contains_key(&k))
    });
    // `m.get(k)` or `m.get(k, default)`: never raises `KeyError`.
    vm.register_method(map, "get", |cx: &mut Ctx, m: MapRef, k: Value, default: Option<Value>| {
        let k = key(cx, k)?;
        Ok::<_, Throw>(cx.map(m).get(&k).copied().or(default).unwrap_or_default())
    });
    vm.register_builtin_method(BuiltinMethod::Remove, remove);
}

/// The key for a value, to look up, or a `TypeError` naming the method.
fn key(cx: &Ctx, v: Value) -> Result<Key, Throw> {
    cx.heap().find_key(v).ok_or_else(|| {
        Throw::type_error(format!("{}: map keys are nil, bool, int or string, not {}", cx.name(), v.type_name()))
    })
}

/// `m.remove(k)` removes a key and gives its value: `KeyError` when it is
/// absent, unless a default is given (`m.remove(k, default)`, nil too).
fn remove(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    cx.arity(args, 2, 3)?;
    let m: MapRef = cx.arg(args, 0)?;
    let k = match args[1] {
        Value::Int(i) => Key::Int(i),
        v => key(cx, v)?,
    };
    let removed = cx.map_mut(m).remove(&k);
    match (removed, args.get(2)) {
        (Some(v), _) => Ok(v),
        (None, Some(&default)) => Ok(default),
        (None, None) => Err(weft_vm::ops::missing_key(cx.heap(), cx.map(m), args[1]).into()),
    }
}

/// A list of `[key, value]` pairs.
fn items(cx: &mut Ctx, m: MapRef) -> Value {
    let pairs: Vec<(Key, Value)> = cx.map(m).iter().map(|(k, v)| (k, *v)).collect();
    let items = pairs.into_iter().map(|(k, v)| cx.new_list(vec![k.value(), v])).collect();
    cx.new_list(items)
}
