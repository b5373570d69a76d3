//! Spare list buffers and map tables. When the sweep frees a small list,
//! its buffer (emptied, its capacity kept) goes here, filed by capacity; a
//! list literal of that many items takes one back instead of calling the
//! allocator. A program that makes and drops small lists in a loop
//! (trees of `[left, right]`) then pays no `malloc` or `free` per list
//! once its first collection has run. Small maps' tables (records) are
//! kept the same way, with their entries' buffers.
//!
//! The pool is bounded in bytes, and the bound is set at each collection
//! from what is live (see `Heap::sweep`): it is trimmed to it there, so
//! what it holds shrinks again when the program's heap does. Its bytes
//! count against the heap limit like the objects' (`Heap::in_use`).

use super::map::SMALL;
use super::Obj;
use crate::value::Value;

/// The largest capacity kept: list literals longer than this are rare.
pub(crate) const MAX_POOLED: usize = 16;

/// What one spare buffer of `capacity` items costs: its items, and its
/// entry in the pool's stack.
pub(crate) const fn entry_bytes(capacity: usize) -> usize {
    capacity * std::mem::size_of::<Value>() + std::mem::size_of::<Vec<Value>>()
}

/// What one spare map table with room for `capacity` entries costs: its
/// entries, and the map object the pool keeps it in.
pub(crate) const fn map_bytes(capacity: usize) -> usize {
    super::map_size(capacity) + std::mem::size_of::<Obj>()
}

/// What the pool keeps: an emptied list buffer or map table, filed by
/// its capacity.
trait Spare {
    fn capacity(&self) -> usize;
    /// Empties it, keeping its room.
    fn empty(&mut self);
    /// What one kept with room for `capacity` costs.
    fn bytes(capacity: usize) -> usize;
}

impl Spare for Vec<Value> {
    fn capacity(&self) -> usize {
        self.capacity()
    }

    fn empty(&mut self) {
        self.clear();
    }

    fn bytes(capacity: usize) -> usize {
        entry_bytes(capacity)
    }
}

/// A spare map table is kept in the object that will hold it, so that a
/// new map's slot takes it by one swap (see [`Pool::swap_map`]).
impl Spare for Obj {
    fn capacity(&self) -> usize {
        match self {
            Obj::Map(table) => table.entries_capacity(),
            _ => 0,
        }
    }

    fn empty(&mut self) {
        if let Obj::Map(table) = self {
            table.clear();
        }
    }

    fn bytes(capacity: usize) -> usize {
        map_bytes(capacity)
    }
}

/// Spares of one kind with capacity 1 to `N`: `classes[c - 1]` holds those
/// of capacity exactly `c`. The pool keeps the count of bytes.
struct Classes<T, const N: usize> {
    classes: [Vec<T>; N],
}

impl<T: Spare, const N: usize> Classes<T, N> {
    fn new() -> Self {
        Classes { classes: std::array::from_fn(|_| Vec::new()) }
    }

    #[inline]
    fn take(&mut self, capacity: usize, bytes: &mut usize) -> Option<T> {
        let spare = self.classes.get_mut(capacity.wrapping_sub(1))?.pop()?;
        *bytes -= T::bytes(capacity);
        Some(spare)
    }

    #[inline]
    fn give(&mut self, mut spare: T, bytes: &mut usize, cap: usize) {
        let capacity = spare.capacity();
        let Some(class) = self.classes.get_mut(capacity.wrapping_sub(1)) else { return };
        let after = *bytes + T::bytes(capacity);
        if after <= cap {
            spare.empty();
            class.push(spare);
            *bytes = after;
        }
    }

    /// Frees spares, the largest first, until `bytes` is at most `cap`;
    /// then gives back the stacks' spare room.
    fn trim(&mut self, bytes: &mut usize, cap: usize) {
        for capacity in (1..=N).rev() {
            let class = &mut self.classes[capacity - 1];
            while *bytes > cap && class.pop().is_some() {
                *bytes -= T::bytes(capacity);
            }
            if class.capacity() > 2 * class.len() + 64 {
                class.shrink_to(class.len());
            }
        }
    }

    fn count(&self) -> usize {
        self.classes.iter().map(Vec::len).sum()
    }
}

/// Empty list buffers of capacity 1 to [`MAX_POOLED`], and empty map
/// tables with room for 1 to [`SMALL`] entries, by capacity.
pub(crate) struct Pool {
    lists: Classes<Vec<Value>, MAX_POOLED>,
    maps: Classes<Obj, SMALL>,
    /// Bytes the spares hold, with their entries (see [`entry_bytes`] and
    /// [`map_bytes`]).
    bytes: usize,
    /// The most `bytes` may be: set at each collection.
    cap: usize,
}

impl Pool {
    /// An empty pool that keeps nothing until its first [`Pool::trim`].
    pub(crate) fn new() -> Pool {
        Pool { lists: Classes::new(), maps: Classes::new(), bytes: 0, cap: 0 }
    }

    /// A spare empty buffer of capacity exactly `capacity`, if one is kept.
    #[inline]
    pub(crate) fn take(&mut self, capacity: usize) -> Option<Vec<Value>> {
        self.lists.take(capacity, &mut self.bytes)
    }

    /// Keeps `buffer`, emptied, if its capacity is pooled and there is
    /// room under the bound; drops it otherwise.
    #[inline]
    pub(crate) fn give(&mut self, buffer: Vec<Value>) {
        self.lists.give(buffer, &mut self.bytes, self.cap)
    }

    /// Swaps a spare map with room for exactly `capacity` entries into
    /// `slot`, if one is kept. `slot` must be free: what it held owns
    /// nothing, and is not dropped.
    #[inline(always)]
    pub(crate) fn swap_map(&mut self, capacity: usize, slot: &mut Obj) -> bool {
        let Some(class) = self.maps.classes.get_mut(capacity.wrapping_sub(1)) else { return false };
        let Some(spare) = class.last_mut() else { return false };
        std::mem::swap(slot, spare);
        // What the slot held is free, and owns nothing to drop.
        std::mem::forget(class.pop());
        self.bytes -= map_bytes(capacity);
        true
    }

    /// Keeps `map`'s table, emptied, if it has room for at most [`SMALL`]
    /// entries (so no hash index) and there is room under the bound; drops
    /// it otherwise. Given as the whole object the sweep took out of its
    /// slot: taken out of it and wrapped again, the table would be copied
    /// through the stack 8 bytes off, and wait on its own stores.
    #[inline]
    pub(crate) fn give_map(&mut self, map: Obj) {
        self.maps.give(map, &mut self.bytes, self.cap)
    }

    /// Sets the bound to `cap` bytes and frees buffers and tables until the
    /// pool is under it, the largest first; then gives back the stacks'
    /// spare room, so that a pool that was once large does not stay so.
    pub(crate) fn trim(&mut self, cap: usize) {
        self.cap = cap;
        self.lists.trim(&mut self.bytes, cap);
        self.maps.trim(&mut self.bytes, cap);
    }

    /// Bytes held by the spare buffers and tables.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The number of spare buffers and tables.
    pub(crate) fn count(&self) -> usize {
        self.lists.count() + self.maps.count()
    }
}
