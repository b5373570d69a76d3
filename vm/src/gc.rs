//! The tracing collector: mark from the roots, then sweep the arena.
//! Cycles are reclaimed like any other garbage. Marking uses an explicit
//! work list, so a million-long chain of lists does not recurse in Rust.
//!
//! It runs only at safe points chosen by the scheduler, between
//! instructions, when every value a script can still reach is in a root:
//! globals, constants, method tables, and every task's registers.

use crate::heap::{Heap, Obj, Outcome};
use crate::value::{Key, Ref, Value};

/// Marks everything reachable from `roots` and frees the rest.
pub fn collect(heap: &mut Heap, roots: impl IntoIterator<Item = Value>) -> usize {
    let mut gray: Vec<Ref> = roots.into_iter().filter_map(Value::as_ref).collect();
    while let Some(r) = gray.pop() {
        if !heap.mark(r) {
            continue;
        }
        match heap.get(r) {
            Obj::List(items) => gray.extend(items.iter().filter_map(|v| v.as_ref())),
            Obj::Map(map) => {
                for (k, v) in map.iter() {
                    if let Key::Str(s) = k {
                        gray.push(*s);
                    }
                    gray.extend(v.as_ref());
                }
            }
            Obj::Func(c) => gray.extend(c.captures.as_slice().iter().filter_map(|v| v.as_ref())),
            Obj::Cell(v) => gray.extend(v.as_ref()),
            Obj::Task(t) => match t.outcome {
                Outcome::Returned(v) | Outcome::Failed(v) => gray.extend(v.as_ref()),
                Outcome::Running | Outcome::Cancelled => {}
            },
            Obj::Chan(c) => gray.extend(c.values().filter_map(|v| v.as_ref())),
            Obj::Error(e) => {
                gray.extend(e.kind.as_ref());
                gray.extend(e.message.as_ref());
                gray.extend(e.others.iter().filter_map(|v| v.as_ref()));
            }
            Obj::Free { .. } | Obj::Str(_) | Obj::Range { .. } | Obj::Nursery(_) => {}
        }
    }
    heap.sweep()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_reclaimed() {
        let mut heap = Heap::new();
        let a = heap.new_list(Vec::new());
        let b = heap.new_list(vec![Value::List(a)]);
        heap.list_mut(a).push(Value::List(b));
        let kept = heap.new_list(vec![Value::Int(1)]);
        let live = collect(&mut heap, [Value::List(kept)]);
        assert_eq!(live, 1);
        assert_eq!(heap.list(kept).len(), 1);
    }

    #[test]
    fn freed_strings_leave_the_interner() {
        let mut heap = Heap::new();
        let s = heap.intern("temporary");
        collect(&mut heap, []);
        let again = heap.intern("temporary");
        assert_eq!(heap.str(again), "temporary");
        let _ = s;
    }

    #[test]
    fn long_chains_do_not_recurse() {
        let mut heap = Heap::new();
        let mut head = Value::Nil;
        // Smaller under Miri, which interprets every step.
        let n = if cfg!(miri) { 2_000 } else { 1_000_000 };
        for _ in 0..n {
            head = Value::List(heap.new_list(vec![head]));
        }
        assert_eq!(collect(&mut heap, [head]), n);
    }
}
