//! A map's table: entries in insertion order, found through a hash index
//! of their positions (CPython's compact dict). Removing a key leaves a
//! hole that iteration skips, so removal costs O(1) and keeps the order of
//! the rest; the holes are squeezed out once they outnumber the entries.
//! Positions are stable between squeezes, which is what field hints
//! (`Heap::field_at_hint`) and `for` loops rely on.

use super::FxBuild;
use crate::value::{Key, Value};
use hashbrown::HashTable;
use std::hash::BuildHasher;

/// The entries of a Weft map, in insertion order.
#[derive(Clone, Default)]
pub struct MapTable {
    /// Entries, with `None` where one was removed.
    entries: Vec<Option<(Key, Value)>>,
    /// The position in `entries` of every live entry, by its key's hash.
    index: HashTable<u32>,
    /// How many entries are live: `entries.len()` less the holes.
    live: usize,
}

/// The most entries (holes included) a table keeps without a hash index:
/// a search compares them one by one, as cheap as hashing the key for so
/// few, and building a small map allocates no index.
pub(crate) const SMALL: usize = 8;

fn hash(k: &Key) -> u64 {
    FxBuild::default().hash_one(k)
}

impl MapTable {
    /// An empty table with room for `n` entries.
    pub fn with_capacity(n: usize) -> MapTable {
        let index = if n > SMALL { HashTable::with_capacity(n) } else { HashTable::new() };
        MapTable { entries: Vec::with_capacity(n), index, live: 0 }
    }

    /// Whether the entries are few enough to be searched one by one: the
    /// index is built only past [`SMALL`] entries.
    #[inline(always)]
    fn small(&self) -> bool {
        self.entries.len() <= SMALL
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether it holds no keys.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Empties it, keeping its room.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.index.clear();
        self.live = 0;
    }

    /// How many entries it has room for before it grows.
    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    fn position(&self, k: &Key) -> Option<usize> {
        if self.small() {
            return self.entries.iter().position(|e| matches!(e, Some((key, _)) if key == k));
        }
        let entries = &self.entries;
        let found = self.index.find(hash(k), |&at| entries[at as usize].as_ref().is_some_and(|(key, _)| key == k));
        found.map(|&at| at as usize)
    }

    /// The value of `k`.
    pub fn get(&self, k: &Key) -> Option<&Value> {
        self.get_full(k).map(|(_, _, v)| v)
    }

    /// The position, key and value of `k`.
    pub fn get_full(&self, k: &Key) -> Option<(usize, &Key, &Value)> {
        let at = self.position(k)?;
        let (key, value) = self.entries[at].as_ref()?;
        Some((at, key, value))
    }

    /// Whether it holds `k`.
    pub fn contains_key(&self, k: &Key) -> bool {
        self.position(k).is_some()
    }

    /// The entry at position `at`: `None` past the end or at a hole.
    #[inline(always)]
    pub fn get_index(&self, at: usize) -> Option<(&Key, &Value)> {
        self.entries.get(at)?.as_ref().map(|(k, v)| (k, v))
    }

    /// As [`MapTable::get_index`], for writing the value.
    #[inline(always)]
    pub fn get_index_mut(&mut self, at: usize) -> Option<(&Key, &mut Value)> {
        self.entries.get_mut(at)?.as_mut().map(|(k, v)| (&*k, v))
    }

    /// The first entry at position `at` or after, with its position: how
    /// a loop steps over the holes.
    pub fn next_from(&self, at: usize) -> Option<(usize, &Key, &Value)> {
        let rest = self.entries.get(at..)?;
        rest.iter().enumerate().find_map(|(i, e)| e.as_ref().map(|(k, v)| (at + i, k, v)))
    }

    /// Sets `k` to `v`; the old value, if `k` was there.
    pub fn insert(&mut self, k: Key, v: Value) -> Option<Value> {
        self.insert_full(k, v).1
    }

    /// Sets `k` to `v` and gives its position and old value. A new key
    /// goes last.
    pub fn insert_full(&mut self, k: Key, v: Value) -> (usize, Option<Value>) {
        if let Some(at) = self.position(&k) {
            let slot = self.entries[at].as_mut().map(|(_, value)| value);
            return (at, slot.map(|value| std::mem::replace(value, v)));
        }
        let at = self.entries.len();
        self.entries.push(Some((k, v)));
        self.live += 1;
        if at == SMALL {
            self.reindex();
        } else if at > SMALL {
            let entries = &self.entries;
            let rehash = |&i: &u32| entries[i as usize].as_ref().map_or(0, |(k, _)| hash(k));
            self.index.insert_unique(hash(&k), at as u32, rehash);
        }
        (at, None)
    }

    /// Removes `k` and gives its value; the others keep their order.
    pub fn remove(&mut self, k: &Key) -> Option<Value> {
        let at = if self.small() {
            self.position(k)?
        } else {
            let entries = &self.entries;
            let found =
                self.index.find_entry(hash(k), |&at| entries[at as usize].as_ref().is_some_and(|(key, _)| key == k));
            found.ok()?.remove().0 as usize
        };
        let (_, value) = self.entries[at].take()?;
        self.live -= 1;
        let holes = self.entries.len() - self.live;
        if holes > self.live + 8 {
            self.squeeze();
        }
        Some(value)
    }

    /// Drops the holes, and indexes the entries at their new positions.
    /// A table that shrank a long way gives its room back.
    fn squeeze(&mut self) {
        self.entries.retain(Option::is_some);
        if self.entries.capacity() > 4 * self.live + 16 {
            self.entries.shrink_to(2 * self.live);
        }
        self.reindex();
    }

    /// Indexes every entry at its position, or drops the index of a table
    /// small enough to go without.
    fn reindex(&mut self) {
        if self.small() {
            self.index = HashTable::new();
            return;
        }
        let entries = &self.entries;
        let rehash = |&at: &u32| entries[at as usize].as_ref().map_or(0, |(k, _)| hash(k));
        self.index = HashTable::with_capacity(self.live);
        for (at, entry) in entries.iter().enumerate() {
            if let Some((k, _)) = entry {
                self.index.insert_unique(hash(k), at as u32, rehash);
            }
        }
    }

    /// The entries in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { entries: self.entries.iter(), left: self.live }
    }

    /// The keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Key> + ExactSizeIterator + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// The values in order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator + '_ {
        self.iter().map(|(_, v)| v)
    }
}

/// The entries of a [`MapTable`] in order, holes skipped.
pub struct Iter<'a> {
    entries: std::slice::Iter<'a, Option<(Key, Value)>>,
    /// Live entries not yet given.
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Key, &'a Value);

    fn next(&mut self) -> Option<Self::Item> {
        let (k, v) = self.entries.by_ref().flatten().next()?;
        self.left -= 1;
        Some((k, v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let (k, v) = self.entries.by_ref().rev().flatten().next()?;
        self.left -= 1;
        Some((k, v))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl std::fmt::Debug for MapTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(m: &MapTable) -> Vec<i64> {
        m.keys().map(|k| if let Key::Int(i) = k { *i } else { -1 }).collect()
    }

    #[test]
    fn removal_keeps_the_order_and_squeezes_the_holes() {
        let mut m = MapTable::default();
        for i in 0..100 {
            assert!(m.insert(Key::Int(i), Value::Int(i * 10)).is_none());
        }
        assert!(matches!(m.insert(Key::Int(5), Value::Nil), Some(Value::Int(50))));
        for i in (0..100).filter(|i| i % 3 != 0) {
            assert!(m.remove(&Key::Int(i)).is_some());
        }
        assert!(m.remove(&Key::Int(1)).is_none());
        assert_eq!(keys(&m), (0..100).filter(|i| i % 3 == 0).collect::<Vec<_>>());
        assert_eq!(m.len(), 34);
        // Holes beyond the live entries (plus slack) were squeezed out.
        assert!(m.entries.len() <= 2 * m.len() + 9, "{} entries for {} keys", m.entries.len(), m.len());
        for i in (0..100).filter(|i| i % 3 == 0) {
            assert!(matches!(m.get(&Key::Int(i)), Some(Value::Int(v)) if *v == i * 10));
        }
        // A key added again goes last.
        m.insert(Key::Int(1), Value::Nil);
        assert_eq!(keys(&m).last(), Some(&1));
    }

    #[test]
    fn small_tables_go_without_an_index_and_agree_with_a_plain_list() {
        // Random inserts, overwrites and removals over few keys, so that the
        // table crosses `SMALL` both ways, checked after every step against
        // a list of pairs in order.
        let mut m = MapTable::with_capacity(3);
        let mut model: Vec<(Key, i64)> = Vec::new();
        let mut x: u64 = 11;
        let (mut was_small, mut crossings) = (true, 0);
        for step in 0..20_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let k = Key::Int((x >> 33) as i64 % 14);
            if (x >> 20).is_multiple_of(3) {
                let found = model.iter().position(|(key, _)| *key == k);
                let removed = m.remove(&k).map(|v| if let Value::Int(v) = v { v } else { -1 });
                assert_eq!(removed, found.map(|at| model.remove(at).1), "step {step}");
            } else {
                m.insert(k, Value::Int(step));
                match model.iter_mut().find(|(key, _)| *key == k) {
                    Some(pair) => pair.1 = step,
                    None => model.push((k, step)),
                }
            }
            let pairs: Vec<(Key, i64)> =
                m.iter().map(|(k, v)| (*k, if let Value::Int(v) = v { *v } else { -1 })).collect();
            assert_eq!(pairs, model, "step {step}");
            assert_eq!(m.small(), m.index.capacity() == 0, "step {step}: the index exists past SMALL entries");
            crossings += usize::from(m.small() != was_small);
            was_small = m.small();
            for (k, _) in &model {
                assert!(m.get(k).is_some(), "step {step}");
            }
        }
        assert!(crossings > 100, "{crossings} crossings of SMALL");
        assert!(MapTable::with_capacity(SMALL).index.capacity() == 0, "a small literal allocates no index");
    }

    #[test]
    fn a_loop_steps_over_holes() {
        let mut m = MapTable::default();
        for i in 0..6 {
            m.insert(Key::Int(i), Value::Int(i));
        }
        m.remove(&Key::Int(2));
        m.remove(&Key::Int(3));
        let mut seen = Vec::new();
        let mut at = 0;
        while let Some((pos, k, _)) = m.next_from(at) {
            seen.push(*k);
            at = pos + 1;
        }
        assert_eq!(seen, [Key::Int(0), Key::Int(1), Key::Int(4), Key::Int(5)]);
        assert!(m.get_index(2).is_none(), "a hole has no entry");
    }

    #[test]
    fn removing_in_a_loop_costs_constant_time_each() {
        // A queue used as a map: add at the back, remove at the front. With
        // removal that shifts the rest this is quadratic; here the table
        // stays small and each step is O(1) amortised.
        let mut m = MapTable::default();
        for i in 0..if cfg!(miri) { 2_000 } else { 200_000 } {
            m.insert(Key::Int(i), Value::Int(i));
            if i >= 10 {
                assert!(m.remove(&Key::Int(i - 10)).is_some());
            }
        }
        assert_eq!(m.len(), 10);
        assert!(m.entries.len() <= 40);
    }
}
