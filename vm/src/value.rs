//! The value type: 16 bytes, `Copy`, with the type in the tag so that
//! arithmetic and type checks never touch the heap. Heap objects are named
//! by a [`Ref`], an index into the [`Heap`](crate::heap::Heap) arena; a
//! `Value` holding a `Ref` is kept alive by the collector as long as it is
//! reachable from a root.

use std::mem::MaybeUninit;
use std::num::{NonZeroU32, NonZeroU64};

/// A handle to a heap object: its slot in the arena, and the slot's
/// generation when the object was made. The heap bumps a slot's
/// generation when it frees the slot, so a `Ref` kept past the collection
/// that freed its object no longer matches the slot, even once a new
/// object of the same type fills it: values that come from the host are
/// checked so ([`Heap::holds`](crate::heap::Heap::holds)). Refs held by
/// scripts are roots and never go stale, so the interpreter never reads
/// the generation.
///
/// One 64-bit word, the generation in the high half and the slot in the
/// low: in a [`Value`] it sits where an int does, so a value is still 16
/// bytes, and comparing two refs is one comparison. Generations are never
/// zero, so an `Option<Ref>` (a call frame's closure) is 8 bytes too.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(transparent)]
pub struct Ref(NonZeroU64);

impl Ref {
    /// A ref of no object: every object's generation is at least one, and
    /// this ref's is zero, so it equals no ref the heap hands out.
    pub(crate) const NONE: Ref = match NonZeroU64::new(u32::MAX as u64) {
        Some(bits) => Ref(bits),
        None => unreachable!(),
    };

    /// The ref of the object in slot `index`, made in generation `generation`.
    #[inline(always)]
    pub(crate) fn new(index: u32, generation: NonZeroU32) -> Ref {
        let bits = (u64::from(generation.get()) << 32) | u64::from(index);
        // Never zero (the generation, in the high half, is not), so the
        // fallback is never taken.
        Ref(NonZeroU64::new(bits).unwrap_or(NonZeroU64::MAX))
    }

    /// The object's slot in the heap's arena.
    #[inline(always)]
    pub fn index(self) -> usize {
        self.0.get() as u32 as usize
    }

    /// The generation of the slot the object was made in.
    #[inline(always)]
    pub(crate) fn generation(self) -> NonZeroU32 {
        // Never zero: `new` put a generation there.
        NonZeroU32::new((self.0.get() >> 32) as u32).unwrap_or(NonZeroU32::MIN)
    }
}

impl std::fmt::Debug for Ref {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ref({}@{})", self.index(), self.generation())
    }
}

impl std::hash::Hash for Ref {
    /// Hashes the slot alone: two equal refs have the same slot, and two
    /// live objects never share one, so the generation adds nothing (and
    /// a map key costs one word to hash, as before generations).
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u32(self.index() as u32);
    }
}

const TAG_NIL: u64 = 0;
const TAG_BOOL: u64 = 1;
const TAG_INT: u64 = 2;
const TAG_FLOAT: u64 = 3;
const TAG_STR: u64 = 4;
const TAG_LIST: u64 = 5;
const TAG_MAP: u64 = 6;
const TAG_RANGE: u64 = 7;
const TAG_FUNC: u64 = 8;
const TAG_NATIVE: u64 = 9;
const TAG_ERROR: u64 = 10;
const TAG_TASK: u64 = 11;
const TAG_CHAN: u64 = 12;
const TAG_NURSERY: u64 = 13;
const TAG_CELL: u64 = 14;
const TAG_OBJECT: u64 = 15;

/// A value: a 64-bit tag, then an 8-byte payload. The layout is pinned
/// (`repr(u64)`, every tag explicit) for `Value::copy`, which copies a
/// value as those two words. A whole-word tag costs no room (the payload
/// is aligned to 8 anyway) and lets every value be written, read and
/// copied as two 8-byte words, with no branch on the tag.
#[derive(Clone, Copy, Debug, Default)]
#[repr(u64)]
pub enum Value {
    /// `nil`, the default.
    #[default]
    Nil = TAG_NIL,
    /// `true` or `false`.
    Bool(bool) = TAG_BOOL,
    /// A 64-bit signed int.
    Int(i64) = TAG_INT,
    /// A 64-bit float.
    Float(f64) = TAG_FLOAT,
    /// A string. Interned (equal strings have equal refs) unless it is a
    /// long string made by `+`: compare with `Heap::str_eq`.
    Str(Ref) = TAG_STR,
    /// A list.
    List(Ref) = TAG_LIST,
    /// A map, in insertion order.
    Map(Ref) = TAG_MAP,
    /// A range, `a..b` or `a..=b`.
    Range(Ref) = TAG_RANGE,
    /// A script function (a closure).
    Func(Ref) = TAG_FUNC,
    /// A native function, by index into the VM's native table.
    Native(u32) = TAG_NATIVE,
    /// An error value, from `error()` or raised by the runtime.
    Error(Ref) = TAG_ERROR,
    /// A task handle, from `spawn`.
    Task(Ref) = TAG_TASK,
    /// A channel, from `chan()`.
    Chan(Ref) = TAG_CHAN,
    /// A nursery handle, from `nursery as n`.
    Nursery(Ref) = TAG_NURSERY,
    /// A captured local's box. Never visible to scripts: only registers of
    /// captured locals and closures' captures hold one.
    Cell(Ref) = TAG_CELL,
    /// A host object: a stream, a process, a listener, or a type a host
    /// registered (see [`Object`](crate::Object)).
    Object(Ref) = TAG_OBJECT,
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
            | Value::Cell(r)
            | Value::Object(r) => Some(r),
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
            // Its class names it: see `Heap::type_name`.
            Value::Object(_) => "object",
        }
    }

    /// Copies the value at `from` to `to` as its two words, tag and
    /// payload, each with an 8-byte load. Values are written that way (the
    /// tag word, then the payload), and one 16-byte load of a value just
    /// written so misses the CPU's store forwarding and stalls, as the
    /// compiler's own copies of this enum would.
    ///
    /// # Safety
    /// `from` must point to a valid value and `to` to writable memory for one.
    #[inline(always)]
    pub(crate) unsafe fn copy(from: *const Value, to: *mut Value) {
        let (from, to) = (from.cast::<MaybeUninit<u64>>(), to.cast::<MaybeUninit<u64>>());
        // SAFETY: `Value` is `repr(u64)`: each variant is a `repr(C)`
        // struct of a `u64` tag and its payload, which lies in the next 8
        // bytes (a `Ref`, an `i64` and an `f64` fill them; a bool or a
        // native's `u32` is at their start). Copying both words as they
        // are, uninitialized payload bytes included (`MaybeUninit`),
        // copies the value. The loads are volatile so that the compiler
        // cannot merge them back into one wide load.
        unsafe {
            to.write(std::ptr::read_volatile(from));
            to.add(1).write(std::ptr::read_volatile(from.add(1)));
        }
    }

    /// The value `from` refers to, read as [`Value::copy`] reads it, a word
    /// at a time: for a value just written (by the instruction before),
    /// which a plain copy would read with one 16-byte load and stall on.
    #[inline(always)]
    pub(crate) fn load(from: &Value) -> Value {
        let mut to = MaybeUninit::<Value>::uninit();
        // SAFETY: `from` is a valid value and `to` has room for one; once
        // `copy` has copied both words, `to` holds the value.
        unsafe {
            Value::copy(from, to.as_mut_ptr());
            to.assume_init()
        }
    }

    /// Writes `Value::Bool(b)` to `to` as two whole words: the tag, then
    /// the payload with the bool in its first byte and zeroes after. As
    /// the compiler writes it, the bool is one byte, and [`Value::copy`]'s
    /// 8-byte load of the payload just after (a comparison's result
    /// returned at once, `fn(a, b) => a < b`) could not be forwarded
    /// from that store and waited for it.
    #[inline(always)]
    pub(crate) fn store_bool(to: &mut Value, b: bool) {
        let to = (to as *mut Value).cast::<u64>();
        // SAFETY: `Value` is `repr(u64)` (see `Value::copy`): `Bool` is the
        // tag word `TAG_BOOL`, then the bool in the first byte of the
        // payload word, whose other bytes are padding. `to` is a valid,
        // writable value, 8-aligned, with room for both words, and what
        // they hold afterwards is that variant: its tag, and a first
        // byte (by address, so at any byte order) of 0 or 1.
        unsafe {
            to.write(TAG_BOOL);
            to.add(1).write(u64::from_ne_bytes([b as u8, 0, 0, 0, 0, 0, 0, 0]));
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

/// A map key: the hashable values. A string key is the interned string
/// with its text (see `Heap::key`), so a key holds only the string's ref
/// and hashing it never reads the heap.
///
/// The tag is a whole word, as `Value`'s is (it costs no room beside the
/// 8-byte payload): a map's entry is an `Option<(Key, Value)>`, and with
/// the key's tag the wider niche, a hole is a tag no key has, so one
/// compare of the tag tells a string key from a hole and from every other
/// key (see `MapTable::get_index`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum Key {
    /// `nil`.
    Nil,
    /// `true` or `false`.
    Bool(bool),
    /// An int.
    Int(i64),
    /// An interned string: make one with `Heap::key` or `Heap::intern`.
    Str(Ref),
}

impl Key {
    /// The key as a value.
    pub fn value(self) -> Value {
        match self {
            Key::Nil => Value::Nil,
            Key::Bool(b) => Value::Bool(b),
            Key::Int(i) => Value::Int(i),
            Key::Str(r) => Value::Str(r),
        }
    }
}

// A generation in every ref must not make values larger: registers,
// lists and maps are arrays of them.
const _: () = assert!(std::mem::size_of::<Value>() == 16);
const _: () = assert!(std::mem::size_of::<Key>() == 16);
const _: () = assert!(std::mem::size_of::<Ref>() == 8 && std::mem::align_of::<Ref>() == 8);
const _: () = assert!(std::mem::size_of::<Option<Ref>>() == 8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
        assert_eq!(std::mem::size_of::<Key>(), 16);
    }

    #[test]
    fn copies_keep_every_kind_of_value() {
        let generation = |g| NonZeroU32::new(g).expect("not zero");
        let r = Ref::new(u32::MAX - 1, generation(7));
        let values = [
            Value::Nil,
            Value::Bool(true),
            Value::Bool(false),
            Value::Int(-7),
            Value::Float(2.5),
            Value::Str(Ref::new(3, generation(u32::MAX))),
            Value::List(r),
            Value::Map(r),
            Value::Range(r),
            Value::Func(r),
            Value::Native(9),
            Value::Error(r),
            Value::Task(r),
            Value::Chan(r),
            Value::Nursery(r),
            Value::Cell(Ref::new(u32::MAX, generation(1))),
            Value::Object(r),
        ];
        for v in values {
            // The tag `copy` reads is the one this exhaustive match names,
            // so a new variant cannot compile here without a look at `copy`.
            let expected = match v {
                Value::Nil => TAG_NIL,
                Value::Bool(_) => TAG_BOOL,
                Value::Int(_) => TAG_INT,
                Value::Float(_) => TAG_FLOAT,
                Value::Str(_) => TAG_STR,
                Value::List(_) => TAG_LIST,
                Value::Map(_) => TAG_MAP,
                Value::Range(_) => TAG_RANGE,
                Value::Func(_) => TAG_FUNC,
                Value::Native(_) => TAG_NATIVE,
                Value::Error(_) => TAG_ERROR,
                Value::Task(_) => TAG_TASK,
                Value::Chan(_) => TAG_CHAN,
                Value::Nursery(_) => TAG_NURSERY,
                Value::Cell(_) => TAG_CELL,
                Value::Object(_) => TAG_OBJECT,
            };
            // SAFETY: the first word of a `repr(u64)` enum is its tag.
            let tag = unsafe { *(&v as *const Value).cast::<u64>() };
            assert_eq!(tag, expected, "{v:?}");
            let mut out = Value::Int(0);
            // SAFETY: both point to values.
            unsafe { Value::copy(&v, &mut out) };
            assert_eq!(format!("{v:?}"), format!("{out:?}"));
            assert_eq!(v.as_ref(), out.as_ref(), "the generation is copied too");
            let loaded = Value::load(&v);
            assert_eq!(format!("{v:?}"), format!("{loaded:?}"));
            assert_eq!(v.as_ref(), loaded.as_ref());
        }
    }

    #[test]
    fn bools_stored_as_words_are_bools() {
        for b in [false, true] {
            let mut v = Value::Int(-1);
            Value::store_bool(&mut v, b);
            assert!(matches!(v, Value::Bool(x) if x == b), "{v:?}");
            assert_eq!(v.truthy(), b);
        }
    }

    #[test]
    fn only_nil_and_false_are_falsy() {
        assert!(!Value::Nil.truthy());
        assert!(!Value::Bool(false).truthy());
        assert!(Value::Int(0).truthy());
        assert!(Value::Float(0.0).truthy());
    }
}
