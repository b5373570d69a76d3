//! `sort_by_key`, a native driven over continuations (`Ctx::call`): it
//! asks for one key at a time and is resumed with it, its whole state in
//! the call's kept values (rooted while the key function runs), so the key
//! function may block, yield, throw or be cancelled as anywhere else; a
//! trace of an error it raises shows it under `list.sort_by_key
//! (builtin)`. Once every key is known it sorts in Rust, comparing keys as
//! `<` does: one call per item, where a sort in Weft made a call per
//! comparison (see docs/performance.md).
//!
//! It sorts a copy of the items the list holds when it starts, calling the
//! key function once for each, and leaves the list holding exactly the
//! sorted copy, whatever the key function did to the list meanwhile.
//!
//! The other list methods that call back (`map`, `filter`, `reduce`,
//! `each`, and `sort_by` with a comparator that is no leaf) run in
//! `prelude.weft`: there a Weft loop calls a Weft function per item for
//! less than a native's round trip through a continuation costs.

use crate::merge_sort::MergeSort;
use weft_vm::{ops, Callable, Ctx, ListRef, NativeResult, Throw, TypeTag, Value, Vm};

pub fn install(vm: &mut Vm) {
    vm.register_method(TypeTag::List, "sort_by_key", sort_by_key);
}

const NAME: &str = "list.sort_by_key";

// Kept values: the list, the key function, the position of the next item
// and the number of items, then the items, then the keys computed so far.

const LIST: usize = 0;
const FUNC: usize = 1;
const NEXT: usize = 2;
const COUNT: usize = 3;
/// Where the copy of the items starts.
const ITEMS: usize = 4;

/// Leaves `xs` holding exactly `sorted`, whatever the callbacks did to it.
fn put_back(cx: &mut Ctx, xs: ListRef, sorted: &[Value]) {
    let mut list = cx.list_mut(xs);
    list.clear();
    list.extend_from_slice(sorted);
}

/// `xs.sort_by_key(key)`: sorts in place, stably, by `key(x)`, calling
/// `key` once per item, then comparing the keys as `<` does. Returns the
/// list.
fn sort_by_key(cx: &mut Ctx, args: &[Value]) -> NativeResult {
    if args.len() != 2 {
        return Err(Throw::arity(NAME, "1", args.len().saturating_sub(1)).into());
    }
    let xs = ListRef::of(args[0]).ok_or_else(|| Throw::type_error(format!("{NAME} is a method of lists")))?;
    let key = Callable::of(args[1])
        .ok_or_else(|| {
            Throw::type_error(format!("{NAME}: argument 1 must be a function, not {}", cx.type_name(args[1])))
        })?
        .value();
    let items = cx.list(xs);
    let n = items.len();
    if n == 0 {
        return Ok(xs.into());
    }
    // The items and their keys while the keys are computed, as the
    // task's memory.
    cx.check_room(2 * n * std::mem::size_of::<Value>(), NAME)?;
    let mut keep = Vec::with_capacity(ITEMS + 2 * n);
    keep.extend([xs.into(), key, Value::Int(1), Value::Int(n as i64)]);
    keep.extend_from_slice(items);
    let first = keep[ITEMS];
    cx.call(key, &[first], keep, sort_by_key_then)
}

/// `key(x)` has answered for the item before `keep[NEXT]`.
fn sort_by_key_then(cx: &mut Ctx, k: Value, keep: &mut Vec<Value>) -> NativeResult {
    keep.push(k);
    let (Value::Int(next), Value::Int(n)) = (keep[NEXT], keep[COUNT]) else {
        return Err(Throw::internal("list.sort_by_key lost its place").into());
    };
    let (next, n) = (next as usize, n as usize);
    if next < n {
        let x = keep[ITEMS + next];
        keep[NEXT] = Value::Int(next as i64 + 1);
        let key = keep[FUNC];
        return cx.call(key, &[x], std::mem::take(keep), sort_by_key_then);
    }
    if keep.len() != ITEMS + 2 * n {
        return Err(Throw::internal("list.sort_by_key lost its keys").into());
    }
    let (items, keys) = keep[ITEMS..].split_at(n);
    let order = order_by_keys(cx, keys)?;
    let sorted: Vec<Value> = order.iter().map(|&i| items[i]).collect();
    let xs = ListRef::of(keep[LIST]).ok_or_else(|| Throw::internal("list.sort_by_key lost its list"))?;
    put_back(cx, xs, &sorted);
    Ok(xs.into())
}

/// The positions of `keys` in sorted order, stably, comparing keys as
/// `<` does: the comparisons, in the order, that the prelude's `sort_by`
/// makes, so the first pair that `<` refuses raises the same error.
fn order_by_keys(cx: &Ctx, keys: &[Value]) -> Result<Vec<usize>, Throw> {
    let mut one: Vec<usize> = (0..keys.len()).collect();
    let mut two = one.clone();
    let mut merge = MergeSort::new(keys.len());
    let mut refused = None;
    merge.run(&mut one, &mut two, |b, a| match ops::less(cx.heap(), keys[b], keys[a], false) {
        Ok(b_first) => Some(b_first),
        Err(e) => {
            refused = Some(e);
            None
        }
    });
    match refused {
        Some(e) => Err(e),
        None => Ok(merge.into_sorted(one, two)),
    }
}
