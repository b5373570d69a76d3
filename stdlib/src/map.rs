//! Map methods: `len keys values items has get remove`. Maps keep their
//! insertion order; removing a key keeps the order of the rest.

use crate::args::*;
use weft_vm::{fmt, Ctx, Key, NativeResult, Ref, Throw, TypeTag, Value, Vm};

pub fn install(vm: &mut Vm) {
    let methods: [(&str, weft_vm::NativeFn); 7] = [
        ("len", len),
        ("keys", keys),
        ("values", values),
        ("items", items),
        ("has", has),
        ("get", get),
        ("remove", remove),
    ];
    for (name, f) in methods {
        vm.register_method(TypeTag::Map, name, f);
    }
}

fn receiver(args: &[Value]) -> Ref {
    match args[0] {
        Value::Map(r) => r,
        _ => unreachable!("map methods are only called on maps"),
    }
}

/// The key for a value, or a `TypeError` naming the method.
fn key(name: &str, v: Value) -> Result<Key, Throw> {
    fmt::key(v).ok_or_else(|| {
        Throw::type_error(format!("{name}: map keys are nil, bool, int or string, not {}", v.type_name()))
    })
}

fn len(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("len", args, 0)?;
    Ok(Value::Int(cx.rt.heap.map(receiver(args)).len() as i64))
}

fn keys(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("keys", args, 0)?;
    let keys = cx.rt.heap.map(receiver(args)).keys().map(|k| k.value()).collect();
    Ok(cx.list(keys))
}

fn values(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("values", args, 0)?;
    let values = cx.rt.heap.map(receiver(args)).values().copied().collect();
    Ok(cx.list(values))
}

/// A list of `[key, value]` pairs.
fn items(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("items", args, 0)?;
    let pairs: Vec<(Key, Value)> = cx.rt.heap.map(receiver(args)).iter().map(|(k, v)| (*k, *v)).collect();
    let items = pairs.into_iter().map(|(k, v)| cx.list(vec![k.value(), v])).collect();
    Ok(cx.list(items))
}

fn has(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("has", args, 1)?;
    let k = key("has", args[1])?;
    Ok(Value::Bool(cx.rt.heap.map(receiver(args)).contains_key(&k)))
}

/// `m.get(k)` or `m.get(k, default)`: never raises `KeyError`.
fn get(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity_between("get", args, 1, 2)?;
    let k = key("get", args[1])?;
    let default = args.get(2).copied().unwrap_or(Value::Nil);
    Ok(cx.rt.heap.map(receiver(args)).get(&k).copied().unwrap_or(default))
}

/// Removes a key and returns its value, or nil when it was absent.
fn remove(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("remove", args, 1)?;
    let k = key("remove", args[1])?;
    Ok(cx.rt.heap.map_mut(receiver(args)).shift_remove(&k).unwrap_or(Value::Nil))
}
