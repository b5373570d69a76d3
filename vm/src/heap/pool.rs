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

use super::map::{MapTable, SMALL};
use crate::value::Value;

/// The largest capacity kept: list literals longer than this are rare.
pub(crate) const MAX_POOLED: usize = 16;

/// What one spare buffer of `capacity` items costs: its items, and its
/// entry in the pool's stack.
pub(crate) const fn entry_bytes(capacity: usize) -> usize {
    capacity * std::mem::size_of::<Value>() + std::mem::size_of::<Vec<Value>>()
}

/// What one spare map table with room for `capacity` entries costs.
pub(crate) const fn map_bytes(capacity: usize) -> usize {
    std::mem::size_of::<MapTable>() + capacity * super::MAP_ENTRY_BYTES + std::mem::size_of::<Box<MapTable>>()
}

/// Empty list buffers of capacity 1 to [`MAX_POOLED`], and empty map
/// tables with room for 1 to [`SMALL`] entries, by capacity.
pub(crate) struct Pool {
    /// `classes[c - 1]`: empty buffers of capacity exactly `c`.
    classes: [Vec<Vec<Value>>; MAX_POOLED],
    /// `maps[c - 1]`: empty tables with room for exactly `c` entries.
    /// Boxed: the box is what a map's slot holds, reused with the table.
    #[allow(clippy::vec_box)]
    maps: [Vec<Box<MapTable>>; SMALL],
    /// Bytes the buffers hold, with their entries (see [`entry_bytes`]).
    bytes: usize,
    /// The most `bytes` may be: set at each collection.
    cap: usize,
}

impl Pool {
    /// An empty pool that keeps nothing until its first [`Pool::trim`].
    pub(crate) fn new() -> Pool {
        Pool { classes: Default::default(), maps: Default::default(), bytes: 0, cap: 0 }
    }

    /// A spare empty buffer of capacity exactly `capacity`, if one is kept.
    #[inline]
    pub(crate) fn take(&mut self, capacity: usize) -> Option<Vec<Value>> {
        let class = self.classes.get_mut(capacity.wrapping_sub(1))?;
        let buffer = class.pop()?;
        self.bytes -= entry_bytes(capacity);
        Some(buffer)
    }

    /// Keeps `buffer`, emptied, if its capacity is pooled and there is
    /// room under the bound; drops it otherwise.
    #[inline]
    pub(crate) fn give(&mut self, mut buffer: Vec<Value>) {
        let capacity = buffer.capacity();
        let Some(class) = self.classes.get_mut(capacity.wrapping_sub(1)) else { return };
        let bytes = self.bytes + entry_bytes(capacity);
        if bytes <= self.cap {
            buffer.clear();
            class.push(buffer);
            self.bytes = bytes;
        }
    }

    /// A spare empty map table with room for exactly `capacity` entries,
    /// if one is kept.
    #[inline]
    pub(crate) fn take_map(&mut self, capacity: usize) -> Option<Box<MapTable>> {
        let class = self.maps.get_mut(capacity.wrapping_sub(1))?;
        let table = class.pop()?;
        self.bytes -= map_bytes(capacity);
        Some(table)
    }

    /// Keeps `table`, emptied, if it has room for at most [`SMALL`]
    /// entries (so no hash index) and there is room under the bound; drops
    /// it otherwise.
    #[inline]
    pub(crate) fn give_map(&mut self, mut table: Box<MapTable>) {
        let capacity = table.capacity();
        let Some(class) = self.maps.get_mut(capacity.wrapping_sub(1)) else { return };
        let bytes = self.bytes + map_bytes(capacity);
        if bytes <= self.cap {
            table.clear();
            class.push(table);
            self.bytes = bytes;
        }
    }

    /// Sets the bound to `cap` bytes and frees buffers and tables until the
    /// pool is under it, the largest first; then gives back the stacks'
    /// spare room, so that a pool that was once large does not stay so.
    pub(crate) fn trim(&mut self, cap: usize) {
        self.cap = cap;
        for capacity in (1..=MAX_POOLED).rev() {
            let class = &mut self.classes[capacity - 1];
            while self.bytes > cap && class.pop().is_some() {
                self.bytes -= entry_bytes(capacity);
            }
            if class.capacity() > 2 * class.len() + 64 {
                class.shrink_to(class.len());
            }
        }
        for capacity in (1..=SMALL).rev() {
            let class = &mut self.maps[capacity - 1];
            while self.bytes > cap && class.pop().is_some() {
                self.bytes -= map_bytes(capacity);
            }
            if class.capacity() > 2 * class.len() + 64 {
                class.shrink_to(class.len());
            }
        }
    }

    /// Bytes held by the spare buffers.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The number of spare buffers and tables.
    pub(crate) fn count(&self) -> usize {
        self.classes.iter().map(Vec::len).sum::<usize>() + self.maps.iter().map(Vec::len).sum::<usize>()
    }
}
