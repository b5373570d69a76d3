//! List methods implemented natively. The ones that call back into Weft
//! (`map`, `filter`, `reduce`, `each`, `sort_by`) live in the prelude so
//! that their callbacks may block.

use crate::args::*;
use crate::string::{join_values, slice_bounds};
use std::cmp::Ordering;
use weft_vm::{fmt, ops, Ctx, Heap, NativeResult, Ref, Throw, TypeTag, Value, Vm};

pub fn install(vm: &mut Vm) {
    let methods: [(&str, weft_vm::NativeFn); 13] = [
        ("len", len),
        ("push", push),
        ("pop", pop),
        ("insert", insert),
        ("remove", remove),
        ("contains", contains),
        ("index_of", index_of),
        ("slice", slice),
        ("reverse", reverse),
        ("sort", sort),
        ("join", join),
        ("extend", extend),
        ("clear", clear),
    ];
    for (name, f) in methods {
        vm.register_method(TypeTag::List, name, f);
    }
}

fn receiver(args: &[Value]) -> Ref {
    match args[0] {
        Value::List(r) => r,
        _ => unreachable!("list methods are only called on lists"),
    }
}

fn len(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("len", args, 0)?;
    Ok(Value::Int(cx.rt.heap.list(receiver(args)).len() as i64))
}

/// `xs.push(a, b, ...)` appends each argument.
fn push(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    if args.len() < 2 {
        return Err(arity_error("push", "at least 1", 0));
    }
    cx.rt.heap.list_mut(receiver(args)).extend_from_slice(&args[1..]);
    cx.rt.heap.grew((args.len() - 1) * std::mem::size_of::<Value>());
    Ok(Value::Nil)
}

/// `xs.extend(ys)` appends every item of `ys`.
fn extend(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("extend", args, 1)?;
    let other = list_arg("extend", &args[1..], 0)?;
    let items = cx.rt.heap.list(other).clone();
    cx.rt.heap.grew(items.len() * std::mem::size_of::<Value>());
    cx.rt.heap.list_mut(receiver(args)).extend(items);
    Ok(Value::Nil)
}

fn clear(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("clear", args, 0)?;
    cx.rt.heap.list_mut(receiver(args)).clear();
    Ok(Value::Nil)
}

fn pop(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("pop", args, 0)?;
    cx.rt.heap.list_mut(receiver(args)).pop().ok_or_else(|| Throw::index_error("pop from an empty list"))
}

/// `xs.insert(i, x)` puts `x` before the item at `i` (`len` appends).
fn insert(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("insert", args, 2)?;
    let i = int_arg("insert", &args[1..], 0)?;
    let list = cx.rt.heap.list_mut(receiver(args));
    let len = list.len();
    let at = if i == len as i64 { Some(len) } else { ops::index(i, len) };
    let at = at.ok_or_else(|| Throw::index_error(format!("insert: index {i} out of range for length {len}")))?;
    list.insert(at, args[2]);
    cx.rt.heap.grew(std::mem::size_of::<Value>());
    Ok(Value::Nil)
}

/// `xs.remove(i)` removes and returns the item at `i`.
fn remove(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("remove", args, 1)?;
    let i = int_arg("remove", &args[1..], 0)?;
    let list = cx.rt.heap.list_mut(receiver(args));
    let len = list.len();
    let at = ops::index(i, len)
        .ok_or_else(|| Throw::index_error(format!("remove: index {i} out of range for length {len}")))?;
    Ok(list.remove(at))
}

fn position(heap: &Heap, list: Ref, x: Value) -> Option<usize> {
    heap.list(list).iter().position(|&v| fmt::equal(heap, v, x))
}

fn contains(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("contains", args, 1)?;
    Ok(Value::Bool(position(&cx.rt.heap, receiver(args), args[1]).is_some()))
}

/// The index of the first item equal to `x`, or nil.
fn index_of(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("index_of", args, 1)?;
    Ok(position(&cx.rt.heap, receiver(args), args[1]).map_or(Value::Nil, |i| Value::Int(i as i64)))
}

/// A new list of the items from `a` up to (not including) `b`.
fn slice(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    let list = receiver(args);
    let (start, end) = slice_bounds("slice", args, cx.rt.heap.list(list).len())?;
    let items = cx.rt.heap.list(list)[start..end].to_vec();
    Ok(cx.list(items))
}

/// Reverses in place and returns the list.
fn reverse(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("reverse", args, 0)?;
    cx.rt.heap.list_mut(receiver(args)).reverse();
    Ok(args[0])
}

/// Sorts in place, stably, in natural order: numbers with numbers, strings
/// with strings (nan after every other number). Returns the list.
fn sort(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("sort", args, 0)?;
    let list = receiver(args);
    let mut items = std::mem::take(cx.rt.heap.list_mut(list));
    let result = sort_values(&cx.rt.heap, &mut items);
    *cx.rt.heap.list_mut(list) = items;
    result.map(|()| args[0])
}

fn sort_values(heap: &Heap, items: &mut [Value]) -> Result<(), Throw> {
    let numbers = items.iter().all(|v| matches!(v, Value::Int(_) | Value::Float(_)));
    let strings = items.iter().all(|v| matches!(v, Value::Str(_)));
    if !numbers && !strings {
        let class = |v: Value| match v {
            Value::Int(_) | Value::Float(_) => 0,
            Value::Str(_) => 1,
            _ => 2,
        };
        let first = items[0];
        let other = items.iter().copied().find(|&v| class(v) != class(first) || class(v) == 2).unwrap_or(first);
        return Err(Throw::type_error(format!(
            "sort: cannot compare {} with {}",
            first.type_name(),
            other.type_name()
        )));
    }
    if items.iter().all(|v| matches!(v, Value::Int(_))) {
        items.sort_by_key(|v| match v {
            Value::Int(n) => *n,
            _ => unreachable!("checked above"),
        });
        return Ok(());
    }
    // A total order, so that the sort is well defined even with nan.
    let is_nan = |v: &Value| matches!(v, Value::Float(x) if x.is_nan());
    items.sort_by(|a, b| match (is_nan(a), is_nan(b)) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => fmt::compare(heap, *a, *b).unwrap_or(Ordering::Equal),
    });
    Ok(())
}

/// `xs.join(sep)`: the items' `str` forms with `sep` between them.
fn join(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    method_arity("join", args, 1)?;
    let sep = str_arg(cx, "join", &args[1..], 0)?;
    let items = cx.rt.heap.list(receiver(args)).clone();
    let out = join_values(cx, items, &sep);
    Ok(cx.string(&out))
}
