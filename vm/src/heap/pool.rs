//! Spare list buffers. When the sweep frees a small list, its buffer
//! (emptied, its capacity kept) goes here, filed by capacity; a list
//! literal of that many items takes one back instead of calling the
//! allocator. A program that makes and drops small lists in a loop
//! (trees of `[left, right]`) then pays no `malloc` or `free` per list
//! once its first collection has run.
//!
//! The pool is bounded in bytes, and the bound is set at each collection
//! from what is live (see `Heap::sweep`): it is trimmed to it there, so
//! what it holds shrinks again when the program's heap does. Its bytes
//! count against the heap limit like the objects' (`Heap::in_use`).

use crate::value::Value;

/// The largest capacity kept: list literals longer than this are rare.
pub(crate) const MAX_POOLED: usize = 16;

/// What one spare buffer of `capacity` items costs: its items, and its
/// entry in the pool's stack.
pub(crate) const fn entry_bytes(capacity: usize) -> usize {
    capacity * std::mem::size_of::<Value>() + std::mem::size_of::<Vec<Value>>()
}

/// Empty list buffers of capacity 1 to [`MAX_POOLED`], by capacity.
pub(crate) struct ListPool {
    /// `classes[c - 1]`: empty buffers of capacity exactly `c`.
    classes: [Vec<Vec<Value>>; MAX_POOLED],
    /// Bytes the buffers hold, with their entries (see [`entry_bytes`]).
    bytes: usize,
    /// The most `bytes` may be: set at each collection.
    cap: usize,
}

impl ListPool {
    /// An empty pool that keeps nothing until its first [`ListPool::trim`].
    pub(crate) fn new() -> ListPool {
        ListPool { classes: Default::default(), bytes: 0, cap: 0 }
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

    /// Sets the bound to `cap` bytes and frees buffers until the pool is
    /// under it, the largest first; then gives back the stacks' spare
    /// room, so that a pool that was once large does not stay so.
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
    }

    /// Bytes held by the spare buffers.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The number of spare buffers.
    pub(crate) fn count(&self) -> usize {
        self.classes.iter().map(Vec::len).sum()
    }
}
