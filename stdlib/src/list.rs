//! List methods implemented natively. The ones that call back into Weft
//! (`map`, `filter`, `reduce`, `each`, `sort_by`) live in the prelude so
//! that their callbacks may block; `sort_by_key` is a native over
//! continuations, in `sort_by_key.rs`, and `sort_by` has a native in
//! front, in `sort_by.rs`, that sorts with a leaf comparator itself.

use crate::string::{join_values, slice_bounds};
use std::cmp::Ordering;
use weft_lang::bytecode::BuiltinMethod;
use weft_vm::{fmt, ops, Ctx, Heap, ListRef, NativeResult, Throw, TypeTag, Value, Vm};

pub fn install(vm: &mut Vm) {
    let list = TypeTag::List;
    vm.register_method(list, "len", |cx: &mut Ctx, xs: ListRef| cx.list(xs).len() as i64);
    vm.register_builtin_method(BuiltinMethod::Push, push);
    vm.register_method(list, "pop", |cx: &mut Ctx, xs: ListRef| {
        cx.list_mut(xs).pop().ok_or_else(|| Throw::index_error("pop from an empty list"))
    });
    vm.register_method(list, "insert", insert);
    vm.register_method(list, "remove", remove);
    vm.register_method(list, "contains", |cx: &mut Ctx, xs: ListRef, x: Value| position(cx, xs, x).is_some());
    vm.register_method(list, "index_of", |cx: &mut Ctx, xs: ListRef, x: Value| position(cx, xs, x).map(|i| i as i64));
    vm.register_method(list, "slice", slice);
    vm.register_method(list, "reverse", |cx: &mut Ctx, xs: ListRef| {
        cx.list_mut(xs).reverse();
        xs
    });
    vm.register_method(list, "sort", sort);
    vm.register_method(list, "join", |cx: &mut Ctx, xs: ListRef, sep: String| {
        let items = cx.list(xs).to_vec();
        join_values(cx, &items, &sep)
    });
    vm.register_method(list, "extend", |cx: &mut Ctx, xs: ListRef, ys: ListRef| {
        let items = cx.list(ys).to_vec();
        cx.list_mut(xs).extend(items);
    });
    vm.register_method(list, "clear", |cx: &mut Ctx, xs: ListRef| cx.list_mut(xs).clear());
}

/// `xs.push(a, b, ...)` appends each argument.
fn push(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    cx.arity(args, 2, usize::MAX)?;
    let xs: ListRef = cx.arg(args, 0)?;
    cx.list_mut(xs).extend_from_slice(&args[1..]);
    Ok(Value::Nil)
}

/// `xs.insert(i, x)` puts `x` before the item at `i` (`len` appends).
fn insert(cx: &mut Ctx, xs: ListRef, i: i64, x: Value) -> Result<(), Throw> {
    let mut list = cx.list_mut(xs);
    let len = list.len();
    let at = if i == len as i64 { Some(len) } else { ops::index(i, len) };
    let at = at.ok_or_else(|| Throw::index_error(format!("insert: index {i} out of range for length {len}")))?;
    list.insert(at, x);
    Ok(())
}

/// `xs.remove(i)` removes and returns the item at `i`.
fn remove(cx: &mut Ctx, xs: ListRef, i: i64) -> Result<Value, Throw> {
    let mut list = cx.list_mut(xs);
    let len = list.len();
    let at = ops::index(i, len)
        .ok_or_else(|| Throw::index_error(format!("remove: index {i} out of range for length {len}")))?;
    Ok(list.remove(at))
}

fn position(cx: &Ctx, xs: ListRef, x: Value) -> Option<usize> {
    let heap = cx.heap();
    cx.list(xs).iter().position(|&v| fmt::equal(heap, v, x))
}

/// A new list of the items from `a` up to (not including) `b`.
fn slice(cx: &mut Ctx, xs: ListRef, start: i64, end: Option<i64>) -> Value {
    let (start, end) = slice_bounds(start, end, cx.list(xs).len());
    let items = cx.list(xs)[start..end].to_vec();
    cx.new_list(items)
}

/// Sorts in place, stably, in natural order: numbers with numbers, strings
/// with strings (nan after every other number). Returns the list.
fn sort(cx: &mut Ctx, xs: ListRef) -> Result<ListRef, Throw> {
    let mut items = cx.list(xs).to_vec();
    sort_values(cx.heap(), &mut items)?;
    cx.list_mut(xs).copy_from_slice(&items);
    Ok(xs)
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
            _ => 0,
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
