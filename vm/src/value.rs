//! The value type: 16 bytes, `Copy`, with the type in the tag so that
//! arithmetic and type checks never touch the heap. Heap objects are named
//! by a [`Ref`], an index into the [`Heap`](crate::heap::Heap) arena; a
//! `Value` holding a `Ref` is kept alive by the collector as long as it is
//! reachable from a root.

/// A handle to a heap object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ref(pub(crate) u32);

impl Ref {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Clone, Copy, Debug, Default)]
#[repr(u8)]
pub enum Value {
    #[default]
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// An interned string: equal strings have equal refs.
    Str(Ref),
    List(Ref),
    Map(Ref),
    Range(Ref),
    Func(Ref),
    /// A native function, by index into the VM's native table.
    Native(u32),
    Error(Ref),
    /// A task handle, from `spawn`.
    Task(Ref),
    /// A channel, from `chan()`.
    Chan(Ref),
    /// A nursery handle, from `nursery as n`.
    Nursery(Ref),
    /// A captured local's box. Never visible to scripts: only registers of
    /// captured locals and closures' captures hold one.
    Cell(Ref),
}

impl Value {
    /// Only `nil` and `false` are falsy.
    #[inline(always)]
    pub fn truthy(self) -> bool {
        !matches!(self, Value::Nil | Value::Bool(false))
    }

    /// The heap object this value refers to, if any.
    #[inline]
    pub fn as_ref(self) -> Option<Ref> {
        match self {
            Value::Str(r)
            | Value::List(r)
            | Value::Map(r)
            | Value::Range(r)
            | Value::Func(r)
            | Value::Error(r)
            | Value::Task(r)
            | Value::Chan(r)
            | Value::Nursery(r)
            | Value::Cell(r) => Some(r),
            Value::Nil | Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Native(_) => None,
        }
    }

    /// The name `type(v)` returns, for the types that need no heap look-up.
    pub fn type_name(self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Range(_) => "range",
            Value::Func(_) | Value::Native(_) => "fn",
            Value::Error(_) => "error",
            Value::Task(_) => "task",
            Value::Chan(_) => "channel",
            Value::Nursery(_) => "nursery",
            Value::Cell(_) => "cell",
        }
    }

    /// A copy read field by field, for a value that was probably just
    /// written: a whole 16-byte load of a value stored as a 1-byte tag and an
    /// 8-byte payload misses the CPU's store forwarding and stalls.
    #[inline(always)]
    pub fn split_copy(&self) -> Value {
        // The payload is read with a volatile load so that the compiler
        // cannot merge the two reads back into one 16-byte copy.
        let payload = || {
            // SAFETY: `Value` is `repr(u8)`, so an `Int` or `Float` is a
            // `repr(C)` struct of the tag and an 8-byte payload at offset 8.
            unsafe { std::ptr::read_volatile((self as *const Value).cast::<u8>().add(8).cast::<u64>()) }
        };
        match self {
            Value::Int(_) => Value::Int(payload() as i64),
            Value::Float(_) => Value::Float(f64::from_bits(payload())),
            v => *v,
        }
    }

    /// The value as a float, for arithmetic on numbers.
    #[inline]
    pub fn as_f64(self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(i as f64),
            Value::Float(x) => Some(x),
            _ => None,
        }
    }
}

/// A map key: the hashable values. Strings are interned, so a key holds
/// only the string's ref and hashing it never reads the heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    Nil,
    Bool(bool),
    Int(i64),
    Str(Ref),
}

impl Key {
    pub fn value(self) -> Value {
        match self {
            Key::Nil => Value::Nil,
            Key::Bool(b) => Value::Bool(b),
            Key::Int(i) => Value::Int(i),
            Key::Str(r) => Value::Str(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
        assert_eq!(std::mem::size_of::<Key>(), 16);
    }

    #[test]
    fn only_nil_and_false_are_falsy() {
        assert!(!Value::Nil.truthy());
        assert!(!Value::Bool(false).truthy());
        assert!(Value::Int(0).truthy());
        assert!(Value::Float(0.0).truthy());
    }
}
