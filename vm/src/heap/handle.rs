//! Rooted handles: how a host, or a native, keeps a Weft value beyond the
//! call that produced it.
//!
//! A bare [`Value`] is valid until the collector next runs (between
//! instructions of a running script): it names a heap slot, which the
//! collector frees and reuses once nothing reachable holds it. A
//! [`Handle`] is a root: the collector keeps its value, and everything the
//! value reaches, alive until the handle is dropped. Dropping needs no
//! access to the VM (the table is shared), so a handle may live in a
//! native's captured state or in any host structure. As mlua's registry
//! keys and piccolo's stashed values do.
//!
//! ```
//! use weft_vm::{Handle, Value, Vm};
//! use std::sync::{Arc, Mutex};
//!
//! let mut vm = Vm::new();
//! // A native that remembers a value across calls keeps a handle, not the
//! // value: the list survives every collection until it is replaced.
//! let kept: Arc<Mutex<Option<Handle>>> = Default::default();
//! let (store, load) = (kept.clone(), kept.clone());
//! vm.register("remember", move |cx: &mut weft_vm::Ctx, v: Value| {
//!     *store.lock().unwrap() = Some(cx.root(v));
//! });
//! vm.register("recall", move |cx: &mut weft_vm::Ctx| {
//!     load.lock().unwrap().as_ref().map(|h| cx.value(h)).transpose()
//! });
//! let script = "remember(\"kept\" + \"1\")\nfor i in 0..100000 { let junk = [i] }\nrecall()";
//! vm.run_script("a.weft", script, ".".as_ref()).unwrap();
//! let handle = kept.lock().unwrap().take().unwrap();
//! assert_eq!(vm.get::<String>(&handle).unwrap(), "kept1");
//! ```

use crate::value::Value;
use std::sync::{Arc, Mutex, MutexGuard};

/// The roots handles hold, shared between a VM and its handles.
#[derive(Default)]
pub(crate) struct Roots {
    slots: Vec<Option<Value>>,
    free: Vec<u32>,
}

impl Roots {
    /// Every value a handle holds, for the collector.
    pub(crate) fn values(&self) -> impl Iterator<Item = Value> + '_ {
        self.slots.iter().flatten().copied()
    }

    /// Slots held, in use or free: at most the most handles ever alive at
    /// once.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.slots.len()
    }
}

/// A table of roots, one per VM.
#[derive(Clone, Default)]
pub(crate) struct RootTable(Arc<Mutex<Roots>>);

impl RootTable {
    /// Locks the table. A panic while it was held cannot leave it half
    /// changed (every change is one assignment), so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Roots> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Roots `v` until the returned handle is dropped.
    pub(crate) fn root(&self, v: Value) -> Handle {
        let mut roots = self.lock();
        let index = match roots.free.pop() {
            Some(i) => {
                roots.slots[i as usize] = Some(v);
                i
            }
            None => {
                roots.slots.push(Some(v));
                (roots.slots.len() - 1) as u32
            }
        };
        Handle { index, value: v, table: self.clone() }
    }

    /// The value `h` holds, if `h` belongs to this table. Read from the
    /// handle, without a lock: a slot's value never changes while its
    /// handle lives.
    pub(crate) fn get(&self, h: &Handle) -> Option<Value> {
        Arc::ptr_eq(&self.0, &h.table.0).then_some(h.value)
    }
}

/// A value kept alive for as long as the handle lives. Made by
/// [`Vm::root`](crate::Vm::root) or [`Ctx::root`](crate::Ctx::root); read
/// back with [`Vm::get`](crate::Vm::get), [`Vm::value`](crate::Vm::value)
/// or [`Ctx::value`](crate::Ctx::value). A handle names a value of one VM:
/// another VM refuses it.
pub struct Handle {
    index: u32,
    /// The value its slot holds, kept here too so that reading it takes
    /// no lock of the shared table.
    value: Value,
    table: RootTable,
}

impl Clone for Handle {
    /// Another root of the same value.
    fn clone(&self) -> Handle {
        self.table.root(self.value)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let mut roots = self.table.lock();
        if let Some(slot) = roots.slots.get_mut(self.index as usize) {
            *slot = None;
            roots.free.push(self.index);
        }
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handle({})", self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_handles_give_their_slots_back() {
        let table = RootTable::default();
        for round in [100, 1000] {
            let handles: Vec<Handle> = (0..round).map(|i| table.root(Value::Int(i))).collect();
            assert!(matches!(table.get(&handles[7]), Some(Value::Int(7))));
            drop(handles);
            assert_eq!(table.lock().values().count(), 0);
        }
        // Slots are reused: the table is as large as the most handles alive at once.
        assert_eq!(table.lock().capacity(), 1000);
    }

    #[test]
    fn a_handle_of_another_table_is_refused() {
        let (a, b) = (RootTable::default(), RootTable::default());
        let h = a.root(Value::Int(1));
        assert!(b.get(&h).is_none());
        assert!(matches!(a.get(&h.clone()), Some(Value::Int(1))));
    }
}
