//! Host objects: values whose data is a Rust type, such as a stream, a
//! process or a listener, or a type an embedding host registers. A class
//! is registered once per Rust type with its name and methods
//! ([`Vm::register_class`](crate::Vm::register_class)); scripts see the
//! name in `type(v)` and in errors, call the methods like any others, and
//! compare objects by identity. The collector frees an unreachable object
//! by dropping its data, so a stream nobody can reach closes its file.

use crate::value::Value;
use std::any::{Any, TypeId};

/// The data of a host object. Its methods are registered with its class;
/// these hooks say how it shows and what it holds.
pub trait Object: Any + Send {
    /// What `print` shows after the class name: `<stream file "a.txt">`.
    fn describe(&self) -> String {
        String::new()
    }

    /// `obj.name` read as a field; `None` when it has no such field.
    fn field(&self, name: &str) -> Option<Value> {
        let _ = name;
        None
    }

    /// Every value it holds, for the collector: a value it holds but does
    /// not list here may be freed under it.
    fn trace(&self, out: &mut Vec<Value>) {
        let _ = out;
    }

    /// Bytes it holds outside the heap, counted against the heap limit.
    fn bytes(&self) -> usize {
        0
    }

    /// Its owner ended: the nursery block or task it was tied to with
    /// [`Ctx::own`](crate::Ctx::own) finished, normally, by an error or by
    /// cancellation (a child process is killed here). Called once.
    fn on_owner_end(&mut self) {}

    /// Whether it no longer needs its owner's end (a child process that
    /// has exited and been reaped): a long-lived owner then lets go of it
    /// early, so that owning in a loop keeps memory flat. Asked now and
    /// then, never after `on_owner_end`.
    fn done_with_owner(&mut self) -> bool {
        false
    }
}

/// A host object on the heap: its class, by index, and its data.
pub struct HostObj {
    pub(crate) class: u32,
    pub(crate) data: Box<dyn Object>,
}

impl HostObj {
    /// The data, if it is a `T`.
    pub(crate) fn downcast_mut<T: Object>(&mut self) -> Option<&mut T> {
        let any: &mut dyn Any = self.data.as_mut();
        any.downcast_mut::<T>()
    }

    pub(crate) fn downcast_ref<T: Object>(&self) -> Option<&T> {
        let any: &dyn Any = self.data.as_ref();
        any.downcast_ref::<T>()
    }
}

/// A new object of `data` on `heap`; `None` if `T` is not a registered
/// class.
pub(crate) fn new_object<T: Object>(code: &crate::Code, heap: &mut crate::Heap, data: T) -> Option<Value> {
    let class = code.class_of::<T>()?;
    Some(Value::Object(heap.new_object(HostObj { class, data: Box::new(data) })))
}

/// A registered class: its name, Rust type and method table.
pub(crate) struct Class {
    pub(crate) name: std::sync::Arc<str>,
    pub(crate) type_id: TypeId,
    pub(crate) methods: Vec<Option<crate::code::Method>>,
    /// Its `<next>` native, which `for v in obj` calls: kept apart so a
    /// loop step looks up no name.
    pub(crate) iter: Option<u32>,
}
