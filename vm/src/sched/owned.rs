//! Host objects tied to an owner. A native calls [`Ctx::own`](crate::Ctx::own)
//! to tie a host object (a child process) to the innermost nursery block
//! open in the running task, or to the task itself outside any; when that
//! owner ends, normally, by an error or by cancellation, each object's
//! [`Object::on_owner_end`](crate::Object::on_owner_end) runs (the child is
//! killed and reaped). The list is a root while its owner lives. Whenever
//! it doubles it is pruned of the objects that no longer need their owner
//! ([`Object::done_with_owner`](crate::Object::done_with_owner)), so owning
//! in a loop under a long-lived owner keeps memory flat. In a session
//! with background tasks (the REPL), the top level of an entry owns for
//! the whole session, as a script's top level owns until the script ends.

use super::{NurseryId, Scheduler, TaskId, TaskMeta};
use crate::heap::Heap;
use crate::value::Value;

/// What a nursery block or a task owns.
#[derive(Default)]
pub struct Owned {
    items: Vec<Value>,
    /// The length at which the list is pruned next.
    prune_at: usize,
}

/// The shortest list ever pruned: below it, pruning costs more than it
/// saves.
const FIRST_PRUNE: usize = 16;

impl Owned {
    /// The objects owned, for the collector.
    pub fn values(&self) -> &[Value] {
        &self.items
    }

    fn push(&mut self, heap: &mut Heap, v: Value) {
        if self.items.len() >= self.prune_at.max(FIRST_PRUNE) {
            self.items.retain(|v| match *v {
                Value::Object(r) => !heap.object_mut(r).data.done_with_owner(),
                _ => false,
            });
            self.prune_at = self.items.len() * 2;
        }
        self.items.push(v);
    }

    /// The owner ended: tells every object, and lets go of them.
    fn end(self, heap: &mut Heap) {
        for v in self.items {
            if let Value::Object(r) = v {
                heap.object_mut(r).data.on_owner_end();
            }
        }
    }
}

/// Who owns what a native ties to the running task.
enum Owner {
    Nursery(NurseryId),
    Task(TaskId),
    Session,
}

impl Scheduler {
    /// The innermost nursery block open in the running task, else the task
    /// (the session, for the top level of a session's entry).
    fn current_owner(&self) -> Owner {
        let id = self.current;
        let nursery = self.meta(id).scopes.iter().rev().find_map(|s| self.scopes.get(s).and_then(|s| s.nursery()));
        match nursery {
            Some(n) => Owner::Nursery(n),
            None if id == self.main && self.host.is_session() => Owner::Session,
            None => Owner::Task(id),
        }
    }

    /// Ties host object `v` to the running task's current owner.
    pub(crate) fn own(&mut self, heap: &mut Heap, v: Value) {
        self.attach();
        match self.current_owner() {
            Owner::Nursery(n) => self.nurseries.get_mut(n).expect("an open nursery").owned.push(heap, v),
            Owner::Task(t) => self.meta_mut(t).rare_mut().owned.push(heap, v),
            Owner::Session => self.host.owned.push(heap, v),
        }
    }

    /// Nursery `nid` closed: its objects' owner ended.
    pub(crate) fn end_nursery_owned(&mut self, heap: &mut Heap, nid: NurseryId) {
        if let Some(n) = self.nurseries.get_mut(nid) {
            std::mem::take(&mut n.owned).end(heap);
        }
    }

    /// A task ended (its record `meta` already taken out): ends what it
    /// owns, and what any nursery block it left open owns. Call before
    /// its scopes are removed.
    pub(crate) fn end_task_owned(&mut self, heap: &mut Heap, meta: &mut TaskMeta) {
        for scope in meta.scopes.iter().rev() {
            if let Some(nid) = self.scopes.get(scope).and_then(|s| s.nursery()) {
                self.end_nursery_owned(heap, nid);
            }
        }
        if let Some(rare) = &mut meta.rare {
            std::mem::take(&mut rare.owned).end(heap);
        }
    }

    /// The run ended: every owner still alive ends with it, the session
    /// included.
    pub(crate) fn end_all_owned(&mut self, heap: &mut Heap) {
        // What a host call that ran directly leaves: nothing to look at.
        if self.host.owned.items.is_empty() && self.tasks.len() == 0 && self.nurseries.len() == 0 {
            return;
        }
        std::mem::take(&mut self.host.owned).end(heap);
        let nurseries: Vec<NurseryId> = self.nurseries.iter().map(|(id, _)| id).collect();
        for nid in nurseries {
            self.end_nursery_owned(heap, nid);
        }
        for meta in self.tasks.values_mut() {
            if let Some(rare) = &mut meta.rare {
                std::mem::take(&mut rare.owned).end(heap);
            }
        }
    }

    /// Objects owned, by every owner.
    pub(crate) fn owned_count(&self) -> usize {
        let tasks: usize = self.tasks.iter().filter_map(|(_, m)| m.rare.as_ref()).map(|r| r.owned.items.len()).sum();
        self.host.owned.items.len() + tasks + self.nurseries.iter().map(|(_, n)| n.owned.items.len()).sum::<usize>()
    }
}
