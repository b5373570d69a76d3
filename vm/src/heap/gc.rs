//! The tracing collector: mark from the roots, then sweep the arena.
//! Cycles are reclaimed like any other garbage. Marking uses an explicit
//! work list, so a million-long chain of lists does not recurse in Rust.
//!
//! It runs only at safe points chosen by the scheduler, between
//! instructions, when every value a script can still reach is in a root:
//! globals, constants, method tables, and every task's registers.

use crate::heap::{size_of_obj, small_list_items, Heap, Obj, Outcome};
use crate::task::Task;
use crate::value::{Key, Value};
use crate::{sched, Throw};

/// Marks everything reachable from `roots` and frees the rest.
pub fn collect(heap: &mut Heap, roots: impl IntoIterator<Item = Value>) -> usize {
    // The work list is kept from one collection to the next: freeing it
    // after each sweep made the allocator merge every small chunk freed
    // since (`malloc_consolidate`), a cost per object.
    let mut gray = std::mem::take(&mut heap.gray);
    gray.clear();
    gray.extend(roots.into_iter().filter_map(Value::as_ref));
    // What host objects hold, reused from one object to the next.
    let mut held = Vec::new();
    // Bytes held by what is marked, counted while its slot is at hand, so
    // that the sweep need not read the slots of live objects.
    let mut bytes = 0;
    while let Some(r) = gray.pop() {
        if !heap.mark(r) {
            continue;
        }
        let obj = heap.get_mut(r);
        // A table that removals shrank gives back its room here, not as its
        // keys go (see `MapTable::trim`).
        if let Obj::Map(map) = obj {
            map.trim();
        }
        let obj = &*obj;
        bytes += size_of_obj(obj);
        match obj {
            Obj::List(items) => gray.extend(items.iter().filter_map(|v| v.as_ref())),
            small @ Obj::SmallList { .. } => gray.extend(small_list_items(small).iter().filter_map(|v| v.as_ref())),
            Obj::Map(map) => {
                for (k, v) in map.iter() {
                    if let Key::Str(s) = k {
                        gray.push(s);
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
            Obj::Object(o) => {
                held.clear();
                o.data.trace(&mut held);
                gray.extend(held.iter().filter_map(|v| v.as_ref()));
            }
            Obj::Str(s) => gray.extend(s.buffer()),
            Obj::Free { .. } | Obj::StrBuf(_) | Obj::Range { .. } | Obj::Nursery(_) => {}
        }
    }
    // A work list a deep structure made large is not kept.
    if gray.capacity() <= MAX_KEPT_GRAY {
        heap.gray = gray;
    }
    heap.sweep(bytes)
}

/// The largest marking work list kept between collections (64 KiB).
const MAX_KEPT_GRAY: usize = 8 << 10;

/// The roots the VM holds: globals, constants, every task and what it
/// waits on, nurseries' pending errors.
impl crate::Vm {
    /// Collects garbage; `tasks` are the tasks not otherwise reachable.
    pub(crate) fn collect(&mut self, tasks: &mut [&mut Task]) {
        for task in tasks.iter_mut() {
            // Registers above the top frame are dead: drop them so they do
            // not keep garbage alive.
            let top = task
                .frames
                .last()
                .map(|f| f.base as usize + self.code.protos[f.proto as usize].regs as usize)
                .unwrap_or(0);
            let len = task.stack.len();
            task.stack[top.min(len)..].fill(Value::Nil);
        }
        let consts = self.code.protos.iter().flat_map(|p| p.consts.iter().copied());
        let mut roots: Vec<Value> =
            self.rt.globals.iter().copied().chain(consts).chain(tasks.iter().flat_map(|t| t.roots())).collect();
        roots.extend(self.rt.roots.lock().values());
        let sched = &self.rt.sched;
        for (_, meta) in sched.tasks.iter() {
            if let Some(task) = &meta.task {
                roots.extend(task.roots());
            }
            if let Some(rare) = &meta.rare {
                roots.push(rare.context);
                roots.extend(rare.owned.values().iter().copied());
            }
            roots.extend(meta.handle.map(Value::Task));
            match &meta.resume {
                sched::Resume::Value(v) | sched::Resume::Select(_, v) => roots.push(*v),
                sched::Resume::Raise(throw) => {
                    if let Throw::Value(v) = **throw {
                        roots.push(v);
                    }
                }
                _ => {}
            }
            // What a parked task waits on stays alive while it waits.
            roots.extend(meta.regs.as_slice().iter().filter_map(|reg| match *reg {
                sched::Reg::Recv(ch) | sched::Reg::Send(ch) => Some(Value::Chan(ch)),
                sched::Reg::Join(t) => Some(Value::Task(t)),
                sched::Reg::Timer(_) | sched::Reg::Nursery(_) | sched::Reg::Io(..) | sched::Reg::Job(_) => None,
            }));
        }
        for (_, n) in sched.nurseries.iter() {
            roots.extend(n.first_error);
            roots.extend(n.cancel_error);
            roots.extend(n.others.iter().copied());
            roots.extend(n.handle.map(Value::Nursery));
            roots.extend(n.owned.values().iter().copied());
        }
        roots.extend(sched.host.owned.values().iter().copied());
        // The scheduler's own memory counts against the heap limit too.
        let running: usize = tasks.iter().map(|t| t.bytes()).sum();
        let runtime_bytes = self.rt.sched.bytes(running);
        collect(&mut self.rt.heap, roots);
        self.rt.heap.set_runtime_bytes(runtime_bytes);
    }
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
    fn a_ref_kept_past_its_collection_is_stale_once_its_slot_is_reused() {
        let mut heap = Heap::new();
        let old = heap.new_list(vec![Value::Int(1)]);
        assert!(heap.holds(Value::List(old)) && !heap.is_stale(old));
        collect(&mut heap, []);
        let new = heap.new_list(vec![Value::Int(2)]);
        assert_eq!(new.index(), old.index(), "the freed slot is reused");
        assert_ne!(new, old);
        assert!(heap.is_stale(old) && !heap.holds(Value::List(old)));
        assert!(heap.holds(Value::List(new)));
        // Kept across further collections, the new list stays valid.
        collect(&mut heap, [Value::List(new)]);
        assert!(heap.holds(Value::List(new)) && heap.list(new)[0].as_f64() == Some(2.0));
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
