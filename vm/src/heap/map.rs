//! A map's table: entries in insertion order, found through a hash index
//! of their positions (CPython's compact dict). Removing a key leaves a
//! hole that iteration skips, so removal costs O(1) and keeps the order of
//! the rest; the holes are squeezed out once they are three positions in
//! four.
//! Positions are stable between squeezes, which is what field hints
//! (`Heap::field_at_hint`) and `for` loops rely on.
//!
//! An int key that sits at its own position, counted from a base (key `k`
//! at position `k - base`, as `m[i] = v` for `i` in `0..n` leaves every
//! key), is found there without hashing and is kept out of the hash index,
//! as Lua's array part holds such keys. The base is set by the first int
//! key of an empty table and again at each squeeze.
//!
//! A table whose keys are all in place keeps its values alone, without
//! their keys, in an array part of 16-byte slots: half the memory of an
//! entry, as Lua's array part. It is the table's whole content: the first
//! key that is not in place (or a removed key that comes back, which goes
//! last) moves every value into entries at the same positions, and it
//! stays so until the table is emptied. Its holes are squeezed out once
//! they are seven positions in eight: then it takes the bytes entries
//! with three holes in four take. Removal leaves its room alone, as Lua's
//! tables keep theirs, so that a table emptied and filled again does not
//! grow again: the collector gives it back ([`MapTable::trim`]).
//!
//! A table of up to [`SMALL`] entries has no hash index at all: a lookup
//! compares its keys one by one, and building one (a record) allocates
//! nothing but its entries.

use super::FxBuild;
use crate::value::{Key, Ref, Value};
use hashbrown::HashTable;
use std::hash::BuildHasher;

/// The entries of a Weft map, in insertion order.
///
/// The table fills a heap slot: its entries' vector in place, and what
/// else it keeps in a box, made the first time it needs one. A record
/// never does, so a field read goes from the map's slot to its entries,
/// as Lua's goes from a table to its nodes.
#[derive(Clone, Default)]
pub struct MapTable {
    /// Entries, with `None` where one was removed; empty, without room,
    /// while an array part holds the table.
    entries: Vec<Option<(Key, Value)>>,
    /// `None` until the table needs more than its entries (an index, an
    /// array part, a hole, an int key, more than [`SMALL`] entries): until
    /// then it has no index, its live entries are all of them, and its
    /// base is 0. Made by [`MapTable::rest_mut`] before anything changes
    /// the entries but the adding of a key that keeps it so.
    rest: Option<Box<Rest>>,
}

/// What a table keeps besides its entries, once it needs it.
#[derive(Clone, Default)]
struct Rest {
    /// The index of the entries, or the array part in their stead.
    part: Part,
    /// How many entries are live: `entries.len()` (or the array part's)
    /// less the holes.
    live: usize,
    /// The int key whose place is position 0.
    base: i64,
}

/// The part of a table without a box: an empty index.
static NO_PART: Part = Part::Index(HashTable::new());

/// The box of a table whose box was made: `$table.rest`, borrowed alone,
/// so that its entries may be borrowed beside it.
macro_rules! rest {
    ($table:expr) => {
        $table.rest.as_deref_mut().expect("a table's box is made before it is changed")
    };
}

/// What a table keeps beside its entries. One or the other: an array part
/// needs no index, as every key in it is in place. (The two share their
/// room, so a table is no larger for having an array part.)
#[derive(Clone)]
enum Part {
    /// The position in `entries` of every live entry that is not in place
    /// (see [`MapTable::in_place`]), by its key's hash.
    Index(HashTable<u32>),
    /// The values of int keys `base..base + len`, with `None` where one
    /// was removed: never with a hole at its end, and empty only in a table
    /// that removals emptied, which keeps its room until the collector
    /// trims it (its base is set again by the next key).
    Array(Vec<Option<Value>>),
}

impl Default for Part {
    fn default() -> Part {
        Part::Index(HashTable::new())
    }
}

/// The most entries (holes included) a table keeps without a hash index:
/// a search compares them one by one, as cheap as hashing the key for so
/// few, and building a small map allocates no index.
pub(crate) const SMALL: usize = 8;

fn hash(k: &Key) -> u64 {
    FxBuild::default().hash_one(k)
}

/// Whether a table with `holes` holes among its positions and `live`
/// entries is due a squeeze: past three holes per entry (plus slack), so a
/// loop steps over at most three holes per entry.
#[inline(always)]
fn too_many_holes(holes: usize, live: usize) -> bool {
    holes > 3 * live + 8
}

/// As [`too_many_holes`], for an array part: past seven holes per value.
/// Its slots are half the size of entries, so it then takes what entries
/// with three holes per entry take (and no index).
#[inline(always)]
fn too_many_array_holes(holes: usize, live: usize) -> bool {
    holes > 7 * live + 8
}

/// Whether room for `capacity` positions (entries, array slots or index
/// places) is more than a table with `live` of them in use should keep:
/// past four times that (plus slack). It then keeps twice that.
#[inline(always)]
fn too_much_room(capacity: usize, live: usize) -> bool {
    capacity > 4 * live + 16
}

/// The key of position `at` of an array part whose first key is `base`.
#[inline(always)]
fn array_key(base: i64, at: usize) -> Key {
    Key::Int(base.wrapping_add(at as i64))
}

/// The entries of an array part, at their positions (`None` at a hole).
fn array_entries(base: i64, array: &[Option<Value>]) -> impl Iterator<Item = Option<(Key, Value)>> + '_ {
    array.iter().enumerate().map(move |(at, v)| v.map(|v| (array_key(base, at), v)))
}

/// Whether `k` at position `at` is in place for `base`.
#[inline(always)]
fn in_place(base: i64, k: &Key, at: usize) -> bool {
    matches!(k, Key::Int(i) if i.wrapping_sub(base) as u64 as usize == at)
}

impl MapTable {
    /// The bytes a table keeps in its box, once it has one.
    pub(crate) const BOXED_BYTES: usize = std::mem::size_of::<Rest>();

    /// An empty table with room for `n` entries.
    pub fn with_capacity(n: usize) -> MapTable {
        let rest =
            (n > SMALL).then(|| Box::new(Rest { part: Part::Index(HashTable::with_capacity(n)), live: 0, base: 0 }));
        MapTable { entries: Vec::with_capacity(n), rest }
    }

    /// Its index or array part.
    #[inline(always)]
    fn part(&self) -> &Part {
        match &self.rest {
            Some(rest) => &rest.part,
            None => &NO_PART,
        }
    }

    /// How many entries are live.
    #[inline(always)]
    fn live(&self) -> usize {
        match &self.rest {
            Some(rest) => rest.live,
            None => self.entries.len(),
        }
    }

    /// The int key whose place is position 0.
    #[inline(always)]
    fn base(&self) -> i64 {
        self.rest.as_ref().map_or(0, |rest| rest.base)
    }

    /// Its box, made now if it has none (from what a table without one
    /// holds: its entries, all live, and no index).
    fn rest_mut(&mut self) -> &mut Rest {
        let live = self.entries.len();
        self.rest.get_or_insert_with(|| Box::new(Rest { part: Part::default(), live, base: 0 }))
    }

    /// Whether the entries are few enough to be searched one by one: the
    /// index is built only past [`SMALL`] entries.
    #[inline(always)]
    fn small(&self) -> bool {
        self.entries.len() <= SMALL
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.live()
    }

    /// Whether it holds no keys.
    pub fn is_empty(&self) -> bool {
        self.live() == 0
    }

    /// Empties it, keeping the room of its entries and of its index (not
    /// of an array part). Without an index to keep, it keeps no box.
    pub fn clear(&mut self) {
        self.entries.clear();
        match self.rest.as_deref_mut() {
            Some(Rest { part: Part::Index(index), live, base }) if index.capacity() > 0 => {
                index.clear();
                (*live, *base) = (0, 0);
            }
            _ => self.rest = None,
        }
    }

    /// Whether a new key would make it grow: its room is taken, by live
    /// entries and holes. (The part not in use has no room.)
    pub fn is_full(&self) -> bool {
        match self.part() {
            Part::Index(_) => self.entries.len() == self.entries.capacity(),
            Part::Array(array) => array.len() == array.capacity(),
        }
    }

    /// How many entries it has room for before it grows. (The part not
    /// in use has no room.)
    pub fn capacity(&self) -> usize {
        match self.part() {
            Part::Index(_) => self.entries.capacity(),
            Part::Array(array) => array.capacity(),
        }
    }

    /// The room of its entries if it has no array part: what a pool of
    /// tables for records can reuse.
    pub(crate) fn entries_capacity(&self) -> usize {
        match self.part() {
            Part::Index(_) => self.entries.capacity(),
            Part::Array(_) => 0,
        }
    }

    /// Whether the array part holds the table.
    #[inline(always)]
    fn is_array(&self) -> bool {
        matches!(self.part(), Part::Array(_))
    }

    /// The array part: empty if it has none.
    #[inline(always)]
    fn array(&self) -> &[Option<Value>] {
        match self.part() {
            Part::Array(array) => array,
            Part::Index(_) => &[],
        }
    }

    /// Where int key `i` sits if it is in place; past the end for a key
    /// no position can hold (wrapping keeps that one comparison).
    #[inline(always)]
    fn place(&self, i: i64) -> usize {
        i.wrapping_sub(self.base()) as u64 as usize
    }

    /// Whether `k` at position `at` is in place: found there, not indexed.
    #[inline(always)]
    fn in_place(&self, k: &Key, at: usize) -> bool {
        in_place(self.base(), k, at)
    }

    /// The position of int key `i` among the entries if it is in place.
    #[inline(always)]
    fn position_in_place(&self, i: i64) -> Option<usize> {
        let at = self.place(i);
        match self.entries.get(at) {
            Some(Some((Key::Int(k), _))) if *k == i => Some(at),
            _ => None,
        }
    }

    /// The position of `k`: in place without a search, or anywhere else.
    fn position(&self, k: &Key) -> Option<usize> {
        if self.is_array() {
            let Key::Int(i) = *k else { return None };
            let at = self.place(i);
            return self.array().get(at)?.as_ref().map(|_| at);
        }
        if let Key::Int(i) = *k {
            if let Some(at) = self.position_in_place(i) {
                return Some(at);
            }
        }
        self.position_out_of_place(k)
    }

    /// The position of `k`, which is not in place: one by one in a small
    /// table, else through the index.
    fn position_out_of_place(&self, k: &Key) -> Option<usize> {
        if self.small() {
            return self.scan(k);
        }
        // An array part holds no key out of place.
        let Part::Index(index) = self.part() else { return None };
        if index.is_empty() {
            return None;
        }
        let entries = &self.entries;
        let found = index.find(hash(k), |&at| entries[at as usize].as_ref().is_some_and(|(key, _)| key == k));
        found.map(|&at| at as usize)
    }

    /// The position of `k` in a small table, comparing key by key.
    fn scan(&self, k: &Key) -> Option<usize> {
        self.entries.iter().position(|e| matches!(e, Some((key, _)) if key == k))
    }

    /// The value of int key `i` if it sits in place: no hashing. `None`
    /// says only that it is not in place; [`MapTable::get`] knows whether
    /// it is there.
    #[inline(always)]
    pub fn get_in_place(&self, i: i64) -> Option<&Value> {
        if let Part::Array(array) = self.part() {
            return array.get(self.place(i))?.as_ref();
        }
        let at = self.position_in_place(i)?;
        self.entries[at].as_ref().map(|(_, v)| v)
    }

    /// As [`MapTable::get_in_place`], for writing the value.
    #[inline(always)]
    pub fn get_in_place_mut(&mut self, i: i64) -> Option<&mut Value> {
        let at = self.place(i);
        if self.is_array() {
            let Part::Array(array) = &mut rest!(self).part else { return None };
            return array.get_mut(at)?.as_mut();
        }
        let at = self.position_in_place(i)?;
        self.entries[at].as_mut().map(|(_, v)| v)
    }

    /// The value of `k`.
    pub fn get(&self, k: &Key) -> Option<&Value> {
        self.get_full(k).map(|(_, _, v)| v)
    }

    /// The position, key and value of `k`.
    pub fn get_full(&self, k: &Key) -> Option<(usize, Key, &Value)> {
        let at = self.position(k)?;
        self.get_index(at).map(|(key, value)| (at, key, value))
    }

    /// Whether it holds `k`.
    pub fn contains_key(&self, k: &Key) -> bool {
        self.position(k).is_some()
    }

    /// The key at position `at` of the array part.
    #[inline(always)]
    fn array_key(&self, at: usize) -> Key {
        array_key(self.base(), at)
    }

    /// The entry at position `at`: `None` past the end or at a hole.
    #[inline(always)]
    pub fn get_index(&self, at: usize) -> Option<(Key, &Value)> {
        match self.entries.get(at) {
            Some(entry) => entry.as_ref().map(|(k, v)| (*k, v)),
            None => self.array().get(at)?.as_ref().map(|v| (self.array_key(at), v)),
        }
    }

    /// The value of string key `name` if it is the key at position `at`:
    /// the test of a field hint. Only the entries hold string keys (an
    /// array part's are ints), and a hole's tag is a tag no key has, so
    /// one compare of the tag finds a string key.
    #[inline(always)]
    pub fn str_at(&self, at: usize, name: Ref) -> Option<&Value> {
        match self.entries.get(at) {
            Some(Some((Key::Str(k), v))) if *k == name => Some(v),
            _ => None,
        }
    }

    /// As [`MapTable::str_at`], for writing the value.
    #[inline(always)]
    pub fn str_at_mut(&mut self, at: usize, name: Ref) -> Option<&mut Value> {
        match self.entries.get_mut(at) {
            Some(Some((Key::Str(k), v))) if *k == name => Some(v),
            _ => None,
        }
    }

    /// As [`MapTable::get_index`], for writing the value.
    #[inline(always)]
    pub fn get_index_mut(&mut self, at: usize) -> Option<(Key, &mut Value)> {
        let key = self.array_key(at);
        match (self.entries.get_mut(at), self.rest.as_deref_mut()) {
            (Some(entry), _) => entry.as_mut().map(|(k, v)| (*k, v)),
            (None, Some(Rest { part: Part::Array(array), .. })) => array.get_mut(at)?.as_mut().map(|v| (key, v)),
            (None, _) => None,
        }
    }

    /// The first entry at position `at` or after, with its position: how
    /// a loop steps over the holes.
    pub fn next_from(&self, at: usize) -> Option<(usize, Key, &Value)> {
        if self.is_array() {
            let rest = self.array().get(at..)?;
            let (i, v) = rest.iter().enumerate().find_map(|(i, v)| v.as_ref().map(|v| (i, v)))?;
            return Some((at + i, self.array_key(at + i), v));
        }
        let rest = self.entries.get(at..)?;
        rest.iter().enumerate().find_map(|(i, e)| e.as_ref().map(|(k, v)| (at + i, *k, v)))
    }

    /// Adds int key `i` as the last entry when that is its place, the
    /// table has room for it, and every key is in place (so `i` is surely
    /// new): no hashing, no allocation. False when it did nothing.
    #[inline(always)]
    pub fn push_in_place(&mut self, i: i64, v: &Value) -> bool {
        let place = self.place(i);
        let all_in_place = match self.rest.as_deref_mut() {
            Some(rest @ Rest { part: Part::Array(_), .. }) => {
                let Part::Array(array) = &mut rest.part else { return false };
                let at = array.len();
                if at == array.capacity() || place != at {
                    return false;
                }
                array.push(Some(Value::load(v)));
                rest.live += 1;
                return true;
            }
            Some(Rest { part: Part::Index(index), .. }) => index.is_empty(),
            // A table without a box is small: see below.
            None => return false,
        };
        let at = self.entries.len();
        // A small table has no index to say that every key is in place, and
        // the entry that ends its smallness builds the index.
        if at == self.entries.capacity() || self.small() || !all_in_place || place != at {
            return false;
        }
        self.entries.push(Some((Key::Int(i), Value::load(v))));
        rest!(self).live += 1;
        true
    }

    /// Adds `k`, which is not an int, as the last entry of a small table
    /// with room for it: a record being built. False when it did nothing
    /// (a larger table, no room, an int key, or `k` already there).
    /// Inlined where a map literal is built, so that the key goes from
    /// registers into its entry: passed to [`MapTable::insert`], it goes
    /// through the stack as two words and comes back as one 16-byte load,
    /// which waits for the stores.
    #[inline(always)]
    pub(crate) fn push_small(&mut self, k: Key, v: Value) -> bool {
        let at = self.entries.len();
        if at >= SMALL || at == self.entries.capacity() || self.is_array() || matches!(k, Key::Int(_)) {
            return false;
        }
        if self.scan(&k).is_some() {
            return false;
        }
        self.entries.push(Some((k, v)));
        if let Some(rest) = self.rest.as_deref_mut() {
            rest.live += 1;
        }
        true
    }

    /// Sets `k` to `v`; the old value, if `k` was there.
    pub fn insert(&mut self, k: Key, v: Value) -> Option<Value> {
        self.insert_full(k, v).1
    }

    /// Sets `k` to `v` and gives its position and old value. A new key
    /// goes last.
    #[inline]
    pub fn insert_full(&mut self, k: Key, v: Value) -> (usize, Option<Value>) {
        let at = self.entries.len();
        // A table this small (a record being built, say) finds a key by a
        // scan wherever it sits, in place or not. (An array part has no
        // entries: its keys are set in `insert_in_array`.)
        let found = if at < SMALL { self.scan(&k) } else { self.position(&k) };
        if let Some(found) = found {
            let slot = self.entries[found].as_mut().map(|(_, value)| value);
            return (found, slot.map(|value| std::mem::replace(value, v)));
        }
        // A small table without a box keeps without one for a new key that
        // is not an int: a record being built or grown.
        if self.rest.is_none() && at < SMALL && !matches!(k, Key::Int(_)) {
            self.entries.push(Some((k, v)));
            return (at, None);
        }
        self.rest_mut();
        // No entries: the table is empty, or the array part holds it.
        if at == 0 {
            if let Key::Int(i) = k {
                if let Some(done) = self.insert_in_array(i, v) {
                    return done;
                }
            }
            if self.is_array() {
                self.spill();
                return self.insert_full(k, v);
            }
        }
        if let (0, Key::Int(i)) = (at, k) {
            rest!(self).base = i;
        }
        self.entries.push(Some((k, v)));
        rest!(self).live += 1;
        if at == SMALL {
            self.reindex();
        } else if at > SMALL && !self.in_place(&k, at) {
            let entries = &self.entries;
            let rehash = |&i: &u32| entries[i as usize].as_ref().map_or(0, |(k, _)| hash(k));
            if let Part::Index(index) = &mut rest!(self).part {
                index.insert_unique(hash(&k), at as u32, rehash);
            }
        }
        (at, None)
    }

    /// Sets int key `i` in the array part if it can hold it: the table is
    /// the array part, or it is empty and has no room for entries. `None`
    /// when it cannot: the key's place is before the first or too far past
    /// the last, or it is a removed key coming back (it goes last, after
    /// the keys added since).
    #[inline]
    fn insert_in_array(&mut self, i: i64, v: Value) -> Option<(usize, Option<Value>)> {
        if !self.is_array() {
            if !self.entries.is_empty() || self.entries.capacity() > 0 {
                return None;
            }
            rest!(self).part = Part::Array(Vec::with_capacity(1));
        }
        let at = self.place(i);
        let rest = rest!(self);
        let live = rest.live;
        let Part::Array(array) = &mut rest.part else { return None };
        if array.is_empty() {
            // The first key (of a new table, or of one that removals
            // emptied and that kept its room): its place is position 0.
            rest.base = i;
            array.push(Some(v));
            rest.live = 1;
            return Some((0, None));
        }
        if at >= array.len() {
            // A key past the end goes last, as a new key should, so holes
            // may come before it: as many as a squeeze would leave.
            if too_many_array_holes(at - live, live + 1) {
                return None;
            }
            array.resize(at, None);
            array.push(Some(v));
            rest.live += 1;
            return Some((at, None));
        }
        let old = array.get_mut(at)?.as_mut()?;
        Some((at, Some(std::mem::replace(old, v))))
    }

    /// Moves the array part into entries at the same positions, keys
    /// and all: for a key the array part cannot hold. Every key stays in
    /// place, so none goes into the index. Holes past what entries keep
    /// are squeezed out (an array part keeps more).
    #[cold]
    #[inline(never)]
    fn spill(&mut self) {
        if self.live() == 0 {
            // An emptied array part: nothing to move, no room to keep.
            *self = MapTable::default();
            return;
        }
        let Part::Array(array) = std::mem::take(&mut rest!(self).part) else { return };
        let mut entries = Vec::with_capacity(array.capacity());
        entries.extend(array_entries(self.base(), &array));
        self.entries = entries;
        if too_many_holes(self.entries.len() - self.live(), self.live()) {
            self.squeeze();
        } else {
            self.reindex();
        }
    }

    /// Removes `k` from the array part and gives its value.
    fn remove_from_array(&mut self, k: &Key) -> Option<Value> {
        let Key::Int(i) = *k else { return None };
        let at = self.place(i);
        let rest = rest!(self);
        let Part::Array(array) = &mut rest.part else { return None };
        let slot = array.get_mut(at)?;
        let value = (*slot)?;
        // Not `take`, which builds its `None` on the stack and copies it
        // over the slot, stalling on the store of its tag.
        *slot = None;
        rest.live -= 1;
        let live = rest.live;
        if live == 0 {
            // The room stays, for the table to be filled again.
            array.clear();
            return Some(value);
        }
        // Holes at the end go at once, so that a key removed from the end
        // and added again is still in place.
        while let Some(None) = array.last() {
            array.pop();
        }
        if too_many_array_holes(array.len() - live, live) {
            self.squeeze_array();
        }
        Some(value)
    }

    /// Drops the holes at the front of the array part, which leaves the
    /// rest in place (a queue); if it is still seven holes in eight,
    /// moves it into entries and squeezes them. The array's room stays
    /// until the collector trims it.
    #[cold]
    #[inline(never)]
    fn squeeze_array(&mut self) {
        let rest = rest!(self);
        let (live, base) = (rest.live, rest.base);
        let Part::Array(array) = &mut rest.part else { return };
        let front = array.iter().take_while(|v| v.is_none()).count();
        if too_many_array_holes(array.len() - front - live, live) {
            let mut entries = Vec::with_capacity(2 * live);
            entries.extend(array_entries(base, array).filter(Option::is_some));
            self.entries = entries;
            rest!(self).part = Part::default();
            self.squeeze();
            return;
        }
        array.drain(..front);
        rest.base = base.wrapping_add(front as i64);
    }

    /// Gives back the room an array part kept as its keys were removed:
    /// down to twice what they take once it has over four times that, or
    /// all of it once the table is empty. The collector calls it on every
    /// table it marks. No key moves, so positions stay as loops and field
    /// hints know them.
    pub(crate) fn trim(&mut self) {
        let Some(rest) = self.rest.as_deref_mut() else { return };
        let live = rest.live;
        let Part::Array(array) = &mut rest.part else { return };
        if live == 0 {
            *self = MapTable::default();
        } else if too_much_room(array.capacity(), live) {
            array.shrink_to(2 * live);
        }
    }

    /// Removes `k` and gives its value; the others keep their order.
    pub fn remove(&mut self, k: &Key) -> Option<Value> {
        if self.is_array() {
            return self.remove_from_array(k);
        }
        let in_place = match *k {
            Key::Int(i) => self.position_in_place(i),
            _ => None,
        };
        let small = self.small();
        let at = match (in_place, self.rest.as_deref_mut()) {
            (Some(at), _) => at,
            (None, _) if small => self.scan(k)?,
            (None, Some(Rest { part: Part::Index(index), .. })) if !index.is_empty() => {
                let entries = &self.entries;
                let found =
                    index.find_entry(hash(k), |&at| entries[at as usize].as_ref().is_some_and(|(key, _)| key == k));
                found.ok()?.remove().0 as usize
            }
            (None, _) => return None,
        };
        let (_, value) = self.entries[at]?;
        self.entries[at] = None;
        // A hole: the table needs its box, if it had none.
        self.rest_mut().live -= 1;
        // A squeeze moves the keys left behind a removal out of their
        // places, into the hash index, so it waits until three positions
        // in four are holes: a loop then steps over at most three holes
        // per entry, and the room goes back at about the same point as
        // with an earlier squeeze, which gives it back only past four
        // positions per entry.
        // An emptied table gives its room back, so that the next int key
        // starts an array part.
        let live = self.live();
        if live == 0 {
            *self = MapTable::default();
        } else if too_many_holes(self.entries.len() - live, live) {
            self.squeeze();
        }
        Some(value)
    }

    /// Drops the holes, and indexes the entries at their new positions.
    /// A table that shrank a long way gives its room back.
    #[cold]
    #[inline(never)]
    fn squeeze(&mut self) {
        self.entries.retain(Option::is_some);
        let live = self.live();
        if too_much_room(self.entries.capacity(), live) {
            self.entries.shrink_to(2 * live);
        }
        // The first int key's place is where it now sits: a run of keys
        // removed from the front leaves the rest in place.
        let first_int = self.entries.iter().flatten().enumerate().find_map(|(at, (k, _))| match *k {
            Key::Int(i) => Some((at, i)),
            _ => None,
        });
        if let Some((at, i)) = first_int {
            rest!(self).base = i.wrapping_sub(at as i64);
        }
        self.reindex();
    }

    /// Indexes every entry that is not in place at its position, or drops
    /// the index of a table small enough to go without.
    fn reindex(&mut self) {
        // An array part has no index.
        let rest = rest!(self);
        let base = rest.base;
        let Part::Index(index) = &mut rest.part else { return };
        if self.entries.len() <= SMALL {
            *index = HashTable::new();
            return;
        }
        let entries = &self.entries;
        let rehash = |&at: &u32| entries[at as usize].as_ref().map_or(0, |(k, _)| hash(k));
        let indexed = entries
            .iter()
            .enumerate()
            .filter_map(|(at, e)| e.as_ref().map(|(k, _)| (at, k)))
            .filter(|&(at, k)| !in_place(base, k, at));
        index.clear();
        let wanted = indexed.clone().count();
        if too_much_room(index.capacity(), wanted) {
            index.shrink_to(wanted, rehash);
        }
        index.reserve(wanted, rehash);
        for (at, k) in indexed {
            index.insert_unique(hash(k), at as u32, rehash);
        }
    }

    /// The entries in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            array: self.array().iter().enumerate(),
            base: self.base(),
            entries: self.entries.iter(),
            left: self.live(),
        }
    }

    /// The keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = Key> + ExactSizeIterator + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// The values in order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator + '_ {
        self.iter().map(|(_, v)| v)
    }
}

/// The entries of a [`MapTable`] in order, holes skipped. (Of its array
/// part and its entries, one is empty.)
pub struct Iter<'a> {
    array: std::iter::Enumerate<std::slice::Iter<'a, Option<Value>>>,
    /// The key at position 0 of the array part.
    base: i64,
    entries: std::slice::Iter<'a, Option<(Key, Value)>>,
    /// Live entries not yet given.
    left: usize,
}

impl<'a> Iter<'a> {
    /// An entry of the array part, with its key; `None` at a hole.
    fn keyed(base: i64, (at, v): (usize, &'a Option<Value>)) -> Option<(Key, &'a Value)> {
        v.as_ref().map(|v| (array_key(base, at), v))
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (Key, &'a Value);

    fn next(&mut self) -> Option<Self::Item> {
        let base = self.base;
        let found = match self.array.by_ref().find_map(|e| Iter::keyed(base, e)) {
            Some(found) => found,
            None => self.entries.by_ref().flatten().next().map(|(k, v)| (*k, v))?,
        };
        self.left -= 1;
        Some(found)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let base = self.base;
        let found = match self.entries.by_ref().rev().flatten().next() {
            Some((k, v)) => (*k, v),
            None => self.array.by_ref().rev().find_map(|e| Iter::keyed(base, e))?,
        };
        self.left -= 1;
        Some(found)
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
        m.keys().map(|k| if let Key::Int(i) = k { i } else { -1 }).collect()
    }

    /// Positions in use, live or holes, in whichever part holds the table.
    fn slots(m: &MapTable) -> usize {
        m.entries.len() + m.array().len()
    }

    /// The most positions a table of `m.len()` keys keeps between
    /// squeezes: three holes per key in entries, seven in an array part
    /// (whose slots are half the size), plus the slack.
    fn most_slots(m: &MapTable) -> usize {
        let per_key = if m.is_array() { 8 } else { 4 };
        per_key * m.len() + 9
    }

    /// The bytes of its room, entries and array part.
    fn room(m: &MapTable) -> usize {
        let array = match m.part() {
            Part::Array(array) => array.capacity(),
            Part::Index(_) => 0,
        };
        m.entries.capacity() * std::mem::size_of::<Option<(Key, Value)>>()
            + array * std::mem::size_of::<Option<Value>>()
    }

    /// The hash index (an array part has none): its length and room.
    fn index(m: &MapTable) -> (usize, usize) {
        match m.part() {
            Part::Index(index) => (index.len(), index.capacity()),
            Part::Array(_) => (0, 0),
        }
    }

    #[test]
    fn a_record_goes_without_a_box_until_it_needs_one() {
        let boxed = |m: &MapTable| m.rest.is_some();
        let mut record = MapTable::with_capacity(3);
        for (k, v) in [(Key::Nil, 1), (Key::Bool(true), 2), (Key::Bool(false), 3)] {
            assert!(record.push_small(k, Value::Int(v)));
        }
        // Fields set again, and new ones up to the small size, by insert.
        record.insert(Key::Nil, Value::Int(4));
        assert!(!boxed(&record) && record.len() == 3);
        // What it does not need a box for reads as a table's would.
        assert!(matches!(record.get(&Key::Nil), Some(&Value::Int(4))));
        assert!(record.get(&Key::Int(0)).is_none() && record.get_in_place(0).is_none());
        // An int key, a hole, or a ninth entry make one.
        let mut ints = record.clone();
        ints.insert(Key::Int(7), Value::Nil);
        assert!(boxed(&ints) && ints.len() == 4);
        let mut holed = record.clone();
        assert!(holed.remove(&Key::Int(3)).is_none() && !boxed(&holed), "nothing removed, no hole");
        assert!(matches!(holed.remove(&Key::Bool(true)), Some(Value::Int(2))));
        assert!(boxed(&holed) && holed.len() == 2);
        check(&holed);
        // Emptied with no index to keep, it lets its box go.
        holed.clear();
        assert!(!boxed(&holed) && holed.is_empty());
        // The box holds the index, once there is one.
        let mut large = MapTable::default();
        for i in 0..=SMALL {
            large.insert(Key::Str(crate::value::Ref::new(i as u32, std::num::NonZeroU32::MIN)), Value::Nil);
        }
        assert!(boxed(&large) && index(&large).0 == SMALL + 1);
        check(&large);
    }

    #[test]
    fn a_string_key_is_found_at_its_position_and_nowhere_else() {
        let name = |i: u32| Ref::new(i, std::num::NonZeroU32::MIN);
        let mut m = MapTable::default();
        for (k, v) in [(Key::Str(name(1)), 1), (Key::Int(1), 2), (Key::Str(name(2)), 3), (Key::Str(name(3)), 4)] {
            m.insert(k, Value::Int(v));
        }
        assert!(matches!(m.str_at(0, name(1)), Some(Value::Int(1))));
        assert!(m.str_at(0, name(2)).is_none(), "another name");
        assert!(m.str_at(1, name(1)).is_none(), "an int key");
        assert!(m.str_at(4, name(1)).is_none(), "past the end");
        assert!(m.str_at(0, Ref::NONE).is_none(), "the ref of no object");
        // A removed key leaves a hole, which holds no key at all.
        assert!(matches!(m.remove(&Key::Str(name(2))), Some(Value::Int(3))));
        assert!(m.str_at(2, name(2)).is_none(), "a hole");
        if let Some(v) = m.str_at_mut(3, name(3)) {
            *v = Value::Int(5);
        }
        assert!(matches!(m.get(&Key::Str(name(3))), Some(Value::Int(5))));
    }

    #[test]
    fn keys_pushed_into_a_small_table_make_what_insert_makes() {
        let (mut pushed, mut inserted) = (MapTable::with_capacity(SMALL), MapTable::with_capacity(SMALL));
        let pairs = [(Key::Nil, 1), (Key::Bool(true), 2), (Key::Nil, 3), (Key::Int(5), 4), (Key::Bool(false), 5)];
        let mut taken = Vec::new();
        for (k, v) in pairs {
            let v = Value::Int(v);
            if pushed.push_small(k, v) {
                taken.push(k);
            } else {
                pushed.insert(k, v);
            }
            inserted.insert(k, v);
        }
        // A key already there and an int key are left to `insert`.
        assert_eq!(taken, [Key::Nil, Key::Bool(true), Key::Bool(false)]);
        check(&pushed);
        let pairs =
            |m: &MapTable| m.iter().map(|(k, v)| (k, if let Value::Int(i) = v { *i } else { -1 })).collect::<Vec<_>>();
        assert_eq!(pairs(&pushed), [(Key::Nil, 3), (Key::Bool(true), 2), (Key::Int(5), 4), (Key::Bool(false), 5)]);
        assert_eq!(pairs(&pushed), pairs(&inserted));
        // Nor does it grow a table, or make one large enough for an index.
        assert!(!MapTable::default().push_small(Key::Nil, Value::Nil), "no room");
        let mut small = MapTable::with_capacity(2 * SMALL);
        for i in 0..SMALL {
            small.insert(Key::Int(i as i64 + 100), Value::Nil);
        }
        assert!(!small.push_small(Key::Nil, Value::Nil));
    }

    #[test]
    fn removal_keeps_the_order_and_squeezes_the_holes() {
        let mut m = MapTable::default();
        for i in 0..100 {
            assert!(m.insert(Key::Int(i), Value::Int(i * 10)).is_none());
        }
        assert!(matches!(m.insert(Key::Int(5), Value::Nil), Some(Value::Int(50))));
        let kept = |i: &i64| i % 10 == 0;
        for i in (0..100).filter(|i| !kept(i)) {
            assert!(m.remove(&Key::Int(i)).is_some());
        }
        assert!(m.remove(&Key::Int(1)).is_none());
        assert_eq!(keys(&m), (0..100).filter(kept).collect::<Vec<_>>());
        assert_eq!(m.len(), 10);
        // Holes past three per live entry (seven in an array part, plus
        // slack) were squeezed out; those after key 90 went at once.
        assert!(slots(&m) < 91, "no squeeze");
        assert!(slots(&m) <= most_slots(&m), "{} slots for {} keys", slots(&m), m.len());
        for i in (0..100).filter(kept) {
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
                m.iter().map(|(k, v)| (k, if let Value::Int(v) = v { *v } else { -1 })).collect();
            assert_eq!(pairs, model, "step {step}");
            assert_eq!(m.small(), index(&m).1 == 0, "step {step}: the index exists past SMALL entries");
            crossings += usize::from(m.small() != was_small);
            was_small = m.small();
            for (k, _) in &model {
                assert!(m.get(k).is_some(), "step {step}");
            }
        }
        assert!(crossings > 100, "{crossings} crossings of SMALL");
        assert!(index(&MapTable::with_capacity(SMALL)).1 == 0, "a small literal allocates no index");
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
            seen.push(k);
            at = pos + 1;
        }
        assert_eq!(seen, [Key::Int(0), Key::Int(1), Key::Int(4), Key::Int(5)]);
        assert!(m.get_index(2).is_none(), "a hole has no entry");
    }

    /// Every live entry is found where `position` says, and the index
    /// holds exactly those that are not in place (none in a small table).
    /// An array part is the whole table, and has no holes at its end.
    fn check(m: &MapTable) {
        // Between squeezes, at most so many holes per key.
        assert!(slots(m) <= most_slots(m), "{} slots for {} keys", slots(m), m.len());
        if m.is_array() {
            assert!(m.entries.is_empty() && m.entries.capacity() == 0);
            // Empty only when the table is, keeping its room.
            assert!(m.is_empty() || m.array().last().is_some_and(Option::is_some), "a hole at the end");
            for at in 0..m.array().len() {
                let key = m.array_key(at);
                let want = m.array()[at].map(|_| at);
                assert_eq!(m.position(&key), want, "{key:?}");
            }
            assert_eq!(m.array().iter().flatten().count(), m.len());
            return;
        }
        let mut indexed = 0;
        for (at, entry) in m.entries.iter().enumerate() {
            let Some((k, _)) = entry else { continue };
            assert_eq!(m.position(k), Some(at), "{k:?}");
            indexed += usize::from(!m.in_place(k, at));
        }
        // A small table has no index.
        assert_eq!(index(m).0, if m.small() { 0 } else { indexed });
        assert_eq!(m.entries.iter().flatten().count(), m.len());
    }

    #[test]
    fn keys_in_place_and_out_agree_with_a_plain_list() {
        // Random inserts, overwrites and removals of int keys (bunched, so
        // that many land in place, with a few far off and a nil), checked
        // against an ordered list of pairs after every step. Spells of
        // mostly removals, which empty the table now and then, alternate
        // with spells of mostly inserts; in the sequential runs those add
        // the keys in order, as a loop does, which keeps an array part.
        for (span, sequential) in [(12, false), (40, false), (300, false), (12, true), (300, true)] {
            let mut m = MapTable::default();
            let mut model: Vec<(Key, i64)> = Vec::new();
            let (mut arrays, mut next) = (0i64, 0);
            let mut x: u64 = 7;
            let mut draw = |n: i64| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (x >> 33) as i64 % n
            };
            let steps = if cfg!(miri) { 500 } else { 20_000i64 };
            for step in 0..steps {
                let removing = draw(8) < if (step / 400) % 2 == 1 { 7 } else { 2 };
                if model.is_empty() {
                    next = draw(span) - 5;
                }
                let k = match draw(if sequential { 1000 } else { 50 }) {
                    0 => Key::Nil,
                    1 => Key::Int(i64::MAX - draw(3)),
                    2 => Key::Int(i64::MIN + draw(3)),
                    _ if sequential && !removing => {
                        next += 1;
                        Key::Int(next - 1)
                    }
                    _ if sequential && !model.is_empty() => model[draw(model.len() as i64) as usize].0,
                    _ => Key::Int(draw(span) - 5),
                };
                let found = model.iter().position(|(key, _)| *key == k);
                if removing {
                    let want = found.map(|at| model.remove(at).1);
                    assert_eq!(m.remove(&k).map(|v| if let Value::Int(i) = v { i } else { -1 }), want);
                } else {
                    // As the interpreter writes `m[i] = v`.
                    let v = Value::Int(step);
                    match k {
                        Key::Int(i) => {
                            if let Some(slot) = m.get_in_place_mut(i) {
                                *slot = v;
                            } else if !m.push_in_place(i, &v) {
                                m.insert(k, v);
                            }
                        }
                        _ => drop(m.insert(k, v)),
                    }
                    match found {
                        Some(at) => model[at].1 = step,
                        None => model.push((k, step)),
                    }
                }
                if step % 97 == 0 || m.len() < 4 {
                    check(&m);
                }
                arrays += i64::from(m.is_array());
                let got: Vec<(Key, i64)> =
                    m.iter().map(|(k, v)| (k, if let Value::Int(i) = v { *i } else { -1 })).collect();
                assert_eq!(got, model, "step {step}");
                let backwards: Vec<Key> = m.keys().rev().collect();
                assert!(backwards.iter().eq(model.iter().rev().map(|(k, _)| k)), "step {step}");
            }
            // Each emptying starts an array part again, which sequential
            // inserts keep.
            assert!(!sequential || arrays * 4 > steps, "{arrays} steps of {steps} with an array part");
        }
    }

    #[test]
    fn int_keys_in_place_take_half_the_room_until_another_key_comes() {
        assert_eq!(std::mem::size_of::<Option<Value>>(), 16);
        let mut m = MapTable::default();
        for i in 10..1010 {
            m.insert(Key::Int(i), Value::Int(i));
        }
        assert!(m.is_array() && m.entries.capacity() == 0, "no array part");
        check(&m);
        // Overwriting, and removing from either end, keep it.
        m.insert(Key::Int(500), Value::Nil);
        for i in (10..20).chain(1000..1010) {
            assert!(matches!(m.remove(&Key::Int(i)), Some(Value::Int(v)) if v == i));
        }
        m.insert(Key::Int(1000), Value::Int(-1));
        assert!(m.is_array());
        check(&m);
        // Positions read and write the array part with their keys.
        let at = m.get_full(&Key::Int(700)).map(|(at, _, _)| at).expect("key 700");
        let (key, slot) = m.get_index_mut(at).expect("a live position");
        assert_eq!(key, Key::Int(700));
        *slot = Value::Int(-700);
        assert!(matches!(m.get_index(at), Some((Key::Int(700), Value::Int(-700)))));
        // A key removed from the middle that comes back goes last, which
        // the array part cannot say: it moves into entries, in order.
        m.remove(&Key::Int(30));
        m.insert(Key::Int(30), Value::Int(30));
        assert!(!m.is_array());
        check(&m);
        let want: Vec<i64> = (20..1001).filter(|&i| i != 30).chain([30]).collect();
        assert_eq!(keys(&m), want);
        assert!(matches!(m.get(&Key::Int(500)), Some(Value::Nil)));
        // Emptied, the next int key starts an array part again.
        for i in want {
            m.remove(&Key::Int(i));
        }
        assert!(m.is_empty() && m.capacity() <= 16);
        let mut m = MapTable::default();
        m.insert(Key::Int(-3), Value::Nil);
        assert!(m.is_array());
        // A string key moves it into entries at the same positions.
        m.insert(Key::Int(-2), Value::Nil);
        let (at, _) = m.insert_full(Key::Nil, Value::Nil);
        assert_eq!((at, m.get_full(&Key::Int(-2)).map(|(at, _, _)| at)), (2, Some(1)));
        check(&m);
    }

    #[test]
    fn emptied_tables_give_their_room_back_at_any_size() {
        // An array part gives its room back when the collector trims the
        // table, as it does each table it marks; entries as they go.
        for n in if cfg!(miri) { [100, 1_000] } else { [100, 100_000] } {
            // In order, shuffled, and added backwards (none in place).
            for order in 0..3 {
                let mut m = MapTable::default();
                let keys: Vec<i64> = match order {
                    0 => (0..n).collect(),
                    1 => (0..n).map(|i| (i * 7919) % n).collect(),
                    _ => (0..n).rev().collect(),
                };
                for &k in &keys {
                    m.insert(Key::Int(k), Value::Int(k));
                }
                check(&m);
                for &k in keys.iter().rev().filter(|k| *k % 2 == 0).chain(keys.iter().filter(|k| *k % 2 == 1)) {
                    assert!(m.remove(&Key::Int(k)).is_some());
                    if m.len() == 10 {
                        m.trim();
                        check(&m);
                        assert!(room(&m) <= 64 * 32, "{} bytes of room for 10 keys", room(&m));
                        assert!(index(&m).1 <= 64, "index room {} for 10 keys", index(&m).1);
                    }
                }
                assert!(m.is_empty() && m.entries.is_empty());
                m.trim();
                assert!(m.capacity() <= 16 && index(&m).1 <= 64);
            }
        }
    }

    #[test]
    fn an_emptied_array_part_keeps_its_room_until_trimmed() {
        for n in [100, 10_000] {
            let mut m = MapTable::default();
            for i in 0..n {
                m.insert(Key::Int(i), Value::Int(i));
            }
            let room_when_full = m.capacity();
            for i in 0..n {
                assert!(matches!(m.remove(&Key::Int(i)), Some(Value::Int(v)) if v == i));
                check(&m);
            }
            assert!(m.is_empty() && m.is_array());
            assert_eq!(m.capacity(), room_when_full, "removal gave room back");
            // Filled again from another first key: in place, no growth.
            for i in 0..n {
                m.insert(Key::Int(i + 5), Value::Int(i));
            }
            check(&m);
            assert!(m.is_array());
            assert_eq!(m.capacity(), room_when_full, "the refill grew the table");
            assert!(matches!(m.get(&Key::Int(5)), Some(Value::Int(0))));
            assert_eq!(keys(&m), (5..n + 5).collect::<Vec<_>>());
            // Half removed, then trimmed: twice the keys' room at most,
            // every key where it was.
            for i in 0..n / 2 {
                m.remove(&Key::Int(i + 5));
            }
            m.trim();
            check(&m);
            assert!(m.capacity() <= room_when_full && slots(&m) <= most_slots(&m));
            assert_eq!(keys(&m), (n / 2 + 5..n + 5).collect::<Vec<_>>());
            // Emptied and trimmed: no room at all, and the next key of
            // another kind starts a table of entries.
            for i in n / 2..n {
                m.remove(&Key::Int(i + 5));
            }
            m.trim();
            assert_eq!(m.capacity(), 0);
            m.insert(Key::Bool(true), Value::Int(1));
            check(&m);
            assert!(!m.is_array() && m.len() == 1);
        }
    }

    #[test]
    fn a_key_of_another_kind_in_an_emptied_array_part() {
        let mut m = MapTable::default();
        for i in 0..100 {
            m.insert(Key::Int(i), Value::Int(i));
        }
        for i in 0..100 {
            m.remove(&Key::Int(i));
        }
        // Not an int key: no array part to spill, and no room kept for it.
        m.insert(Key::Bool(false), Value::Int(7));
        check(&m);
        assert!(!m.is_array() && m.capacity() < 100);
        assert!(matches!(m.get(&Key::Bool(false)), Some(Value::Int(7))));
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
        assert!(slots(&m) <= most_slots(&m), "{} slots for 10 keys", slots(&m));
    }
}
