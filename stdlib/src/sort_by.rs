//! `sort_by`, in front of the prelude's `list_sort_by`. A comparator that
//! is a leaf (`fn(a, b) => a < b`, `fn(a, b) => a.key > b.key`: one step
//! on its parameters, see `Ctx::leaf`), or of a few straight-line steps
//! that read and compare without calling (a tie-break on a second field,
//! see `Ctx::straight`), is run here, in Rust, with the merges of the
//! prelude's sort and its comparisons in their order (`merge_sort.rs`).
//! Any other comparator goes to the prelude, where each comparison is a
//! call that may block, yield or throw. So does one of those that meets a
//! pair it cannot answer (a `<` that would raise, a missing field): the
//! prelude sorts from the start, where that pair's comparison is a call.
//! Such a comparator has no effect and gives what the call gives, so the
//! comparisons made here and made again there, in the same order, give
//! the same answers, and the sort ends as if the prelude had made it all.
//!
//! Here a comparison is the leaf's step and a turn of a merge loop in
//! Rust, where through the prelude it is a turn of a merge loop in Weft
//! around the leaf call. Like `sort` and `sort_by_key`'s sort of the keys,
//! it runs in one step: other tasks go on when it ends.

use crate::merge_sort::MergeSort;
use std::sync::{Arc, OnceLock};
use weft_vm::{Callable, Ctx, Handle, ListRef, NativeResult, Throw, TypeTag, Value, Vm};

const NAME: &str = "list.sort_by";

/// Registers lists' `sort_by`, which hands what it does not sort itself to
/// `prelude_sort`, the prelude's `list_sort_by` once it is loaded.
pub fn install(vm: &mut Vm, prelude_sort: Arc<OnceLock<Handle>>) {
    vm.register_method(TypeTag::List, "sort_by", move |cx: &mut Ctx, args: &[Value]| sort_by(cx, args, &prelude_sort));
}

/// `xs.sort_by(less)`: sorts in place, stably, `less(a, b)` saying when a
/// goes before b. Returns the list.
fn sort_by(cx: &mut Ctx, args: &[Value], prelude_sort: &OnceLock<Handle>) -> NativeResult {
    if args.len() != 2 {
        return Err(Throw::arity(NAME, "1", args.len().saturating_sub(1)).into());
    }
    let (list, less) = (args[0], args[1]);
    let xs = ListRef::of(list).ok_or_else(|| Throw::type_error(format!("{NAME} is a method of lists")))?;
    // Each kind of comparator with a loop of its own: the one-step leaf's
    // is the tightest, and a test of the kind at every comparison cost
    // `sort` 1.15x its time.
    let sorted = if let Some(leaf) = cx.leaf(less, 2) {
        sort_natively(cx, cx.list(xs), |b, a| cx.call_leaf(leaf, &[b, a]))?
    } else if let Some(straight) = cx.straight(less, 2) {
        sort_natively(cx, cx.list(xs), |b, a| cx.call_straight(straight, &[b, a]))?
    } else {
        None
    };
    if let Some(sorted) = sorted {
        let mut items = cx.list_mut(xs);
        items.clear();
        items.extend_from_slice(&sorted);
        return Ok(list);
    }
    let handle = prelude_sort.get().ok_or_else(|| Throw::internal("list.sort_by: the prelude is not loaded"))?;
    let f = Callable::of(cx.value(handle)?).ok_or_else(|| Throw::internal("list.sort_by: not a function"))?;
    cx.call(f, &[list, less], vec![], |_, sorted, _| Ok(sorted))
}

/// `items` sorted by `less(b, a)`, the comparator's answer without a call;
/// `None` at the first pair it cannot answer. Out of line, each kind's
/// loop a function of its own, as tight as when there was one kind.
#[inline(never)]
fn sort_natively(
    cx: &Ctx,
    items: &[Value],
    mut less: impl FnMut(Value, Value) -> Option<Value>,
) -> Result<Option<Vec<Value>>, Throw> {
    // The two buffers of the merges, as the task's memory.
    cx.check_room(2 * std::mem::size_of_val(items), NAME)?;
    let mut one = items.to_vec();
    let mut two = one.clone();
    let mut merge = MergeSort::new(one.len());
    let done = merge.run(&mut one, &mut two, |b, a| less(b, a).map(Value::truthy));
    Ok(done.then(|| merge.into_sorted(one, two)))
}
