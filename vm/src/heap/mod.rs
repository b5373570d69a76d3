//! The heap: an arena of objects named by [`Ref`] indexes, with a free list,
//! the string interner, and the allocation accounting that decides when the
//! collector runs. Allocation never collects: collection happens only
//! between instructions, when every live value is in a root (see `gc.rs`),
//! so natives may allocate freely.

pub(crate) mod gc;
pub(crate) mod handle;
mod map;
mod pool;
mod strbuf;

use crate::error::Throw;
use crate::trace::TraceEntry;
use crate::value::{Key, Ref, Value};
use hashbrown::HashTable;
use pool::Pool;
use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};
use std::num::NonZeroU32;
use strbuf::MARK_EVERY;
pub use strbuf::{StrBuf, StrView, LONG_STR};

/// The hasher of the interner and of maps' indexes.
pub(crate) type FxBuild = rustc_hash::FxBuildHasher;
pub use map::MapTable;

/// What one entry of a map's capacity costs, as the heap counts it: an
/// entry and its share of the index. A slot of an array part (16 bytes)
/// is counted the same, which errs on the side of collecting early.
pub(crate) const MAP_ENTRY_BYTES: usize = 40;

/// What a map costs besides its entries and its slot: what its table
/// keeps in a box once it needs one (see [`MapTable`]). Counted as the
/// pool counts a spare table, so that the tables a loop makes between two
/// collections fit in the pool the sweep fills.
pub(crate) const MAP_TABLE_BYTES: usize = MapTable::BOXED_BYTES;

/// What a map with room for `capacity` entries costs, as the heap counts
/// it: its table and its entries.
pub(crate) const fn map_size(capacity: usize) -> usize {
    MAP_TABLE_BYTES + capacity * MAP_ENTRY_BYTES
}

/// A string object. Strings are immutable; those shorter than
/// [`LONG_STR`] bytes, and those made whole rather than by `+`, are
/// interned.
pub struct StrObj {
    text: Text,
    /// The interner's hash, cut to 32 bits (the interner is fed the same
    /// 32 bits when it rehashes), so that a string fits a small slot. For
    /// a view of a buffer it is computed when first needed, and 0 until
    /// then.
    hash: Cell<u32>,
    /// Where this string was last found as a key of a map: maps built the
    /// same way (records) keep a key at the same position, so field access
    /// tries there before it hashes.
    field_hint: Cell<u32>,
}

/// Most strings a script makes are short (keys, names, numbers): those
/// live in the object itself, with no allocation and no pointer to chase.
enum Text {
    Inline {
        len: u8,
        bytes: [u8; INLINE_TEXT],
    },
    /// ASCII text, or text of at most `MARK_EVERY` characters. `chars` is
    /// the length in characters, or `u32::MAX` when it does not fit (then
    /// counted when asked).
    Heap {
        chars: u32,
        text: Box<str>,
    },
    /// Longer text that is not all ASCII: with marks, so that finding its
    /// `i`th character is not a walk from the start.
    Marked {
        chars: u32,
        marked: Box<Marked>,
    },
    /// A long string made by `+`: the first `len` bytes (`chars`
    /// characters) of the buffer `buf`, an `Obj::StrBuf`. Not interned
    /// unless it was used as a map key (see `Heap::key`).
    View {
        len: u32,
        chars: u32,
        buf: Ref,
    },
}

/// Text with the byte offset of every `MARK_EVERY`th character.
struct Marked {
    text: Box<str>,
    /// `marks[k]` is the byte offset of character `k * MARK_EVERY`.
    marks: Box<[u32]>,
}

/// The longest text kept inline, so that `Text` is 24 bytes.
const INLINE_TEXT: usize = 22;

impl StrObj {
    fn new(text: &str, hash: u32) -> StrObj {
        let text = if text.len() <= INLINE_TEXT {
            let mut bytes = [0; INLINE_TEXT];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            Text::Inline { len: text.len() as u8, bytes }
        } else {
            let chars = text.chars().count();
            match (u32::try_from(chars), u32::try_from(text.len())) {
                (Ok(count), Ok(_)) if chars != text.len() && chars > MARK_EVERY => {
                    let marks = text.char_indices().step_by(MARK_EVERY).map(|(at, _)| at as u32).collect();
                    Text::Marked { chars: count, marked: Box::new(Marked { text: text.into(), marks }) }
                }
                (count, _) => Text::Heap { chars: count.unwrap_or(u32::MAX), text: text.into() },
            }
        };
        StrObj { text, hash: Cell::new(hash), field_hint: Cell::new(0) }
    }

    /// The buffer this string views, if it views one.
    pub(crate) fn buffer(&self) -> Option<Ref> {
        match self.text {
            Text::View { buf, .. } => Some(buf),
            _ => None,
        }
    }

    /// Whether this string views a buffer: then it may not be interned,
    /// and its equals are found by content.
    #[inline]
    fn is_view(&self) -> bool {
        matches!(self.text, Text::View { .. })
    }
}

/// The text of string `s`, whose buffer (if it views one) is in `slots`.
#[inline]
fn view_in<'a>(slots: &'a [Obj], s: &'a StrObj) -> StrView<'a> {
    match &s.text {
        // SAFETY: the bytes were copied from a `str`, whole.
        Text::Inline { len, bytes } => {
            StrView::new(unsafe { std::str::from_utf8_unchecked(&bytes[..*len as usize]) }, None, &[])
        }
        Text::Heap { chars, text } => StrView::new(text, (*chars != u32::MAX).then_some(*chars as usize), &[]),
        Text::Marked { chars, marked } => StrView::new(&marked.text, Some(*chars as usize), &marked.marks),
        Text::View { len, chars, buf } => match &slots[buf.index()] {
            Obj::StrBuf(b) => {
                let (len, chars) = (*len as usize, *chars as usize);
                // The marks of the characters before `chars`; the rest
                // belong to longer strings on the same buffer.
                let marks = &b.marks[..chars.div_ceil(MARK_EVERY).min(b.marks.len())];
                StrView::new(&b.text[..len], Some(chars), marks)
            }
            _ => corrupt("string buffer"),
        },
    }
}

/// A closure: a function and the cells it captured.
pub struct Closure {
    /// The function, by index into the loaded code.
    pub(crate) proto: u32,
    pub(crate) captures: Captures,
}

/// A closure's captured cells. Most closures capture one variable or none:
/// those hold it inline, with no allocation of its own.
pub(crate) enum Captures {
    /// No captured variables.
    None,
    /// One, inline.
    One(Value),
    /// Two or more.
    Many(Box<[Value]>),
}

impl Captures {
    /// Capture `i`, which the compiler numbered.
    #[inline(always)]
    pub(crate) fn get(&self, i: usize) -> Value {
        match self {
            Captures::One(v) if i == 0 => *v,
            Captures::Many(values) => values[i],
            _ => corrupt("capture"),
        }
    }

    /// Every captured cell, for the collector.
    pub(crate) fn as_slice(&self) -> &[Value] {
        match self {
            Captures::None => &[],
            Captures::One(v) => std::slice::from_ref(v),
            Captures::Many(values) => values,
        }
    }
}

/// An error value: `e.kind`, `e.message`, `e.trace`, `e.others`.
pub struct ErrorObj {
    /// `e.kind`: a string, the kind's name (`"ValueError"`).
    pub kind: Value,
    /// `e.message`: usually a string, but any value `error()` was given.
    pub message: Value,
    /// Where it was thrown, innermost frame first; empty until thrown.
    pub trace: Vec<TraceEntry>,
    /// Further errors of a failed nursery.
    pub others: Vec<Value>,
    /// Set by the runtime on the cancellations it raises, with the cancel
    /// scope that absorbs each (none for `join` on a cancelled task). A
    /// script's own error of kind "Cancelled" has none: it is a failure.
    pub cancellation: Option<Option<u32>>,
    /// The spawn sites of the failing task and its ancestors, innermost first.
    pub spawned_at: Vec<TraceEntry>,
    /// Extra lines for the report (a deadlock's list of blocked tasks).
    pub details: Option<String>,
}

/// How a task ended, as its handle reports it.
#[derive(Clone, Copy, Debug)]
pub enum Outcome {
    /// Not finished yet.
    Running,
    /// Returned this value.
    Returned(Value),
    /// Failed with this error.
    Failed(Value),
    /// Was cancelled.
    Cancelled,
}

/// A task handle: the task's id in the scheduler and, once it has
/// finished, how it ended.
pub struct TaskObj {
    /// The task's id in the scheduler.
    pub id: u32,
    /// How it ended, once it has.
    pub outcome: Outcome,
}

/// A heap slot: a free slot, or an object of one of the types that live
/// on the heap. Every slot is as large as the largest variant (40 bytes).
pub(crate) enum Obj {
    /// A free slot: the next in the free list, and the generation the
    /// slot's next object gets (as `generations` has it), kept here too
    /// so that allocating reads one cache line, not two.
    Free {
        next: Option<u32>,
        generation: NonZeroU32,
    },
    Str(StrObj),
    /// The text of long strings made by `+`, shared by the strings that
    /// view it. No value names it.
    StrBuf(Box<StrBuf>),
    List(Vec<Value>),
    /// A list of at most [`INLINE_ITEMS`] items, made by a literal, held
    /// in its slot: no buffer to allocate, free or chase. It becomes a
    /// `List` when first changed (see `Heap::list_mut`).
    SmallList {
        len: u8,
        items: [Value; INLINE_ITEMS],
    },
    // The table fills the slot: its entries in place, the rest boxed.
    Map(MapTable),
    Range {
        start: i64,
        end: i64,
        inclusive: bool,
    },
    Func(Closure),
    Cell(Value),
    Error(Box<ErrorObj>),
    Task(TaskObj),
    Chan(Box<crate::channel::Channel>),
    /// A nursery handle: the nursery's id in the scheduler.
    Nursery(u32),
    Object(Box<crate::object::HostObj>),
}

/// The most items a list literal keeps in its slot (`Obj::SmallList`):
/// what fits in the 40 bytes every slot has.
pub(crate) const INLINE_ITEMS: usize = 2;

/// The capacity a small list's items move to when it is first changed:
/// what a `Vec` grows to at its first push.
const SPILL_CAPACITY: usize = 4;

/// The heap of one VM: every object scripts and natives make, the string
/// interner, and the accounting that schedules collections and enforces
/// the memory limit. Objects are named by [`Ref`]s, checked (for values
/// from outside) with [`Heap::holds`].
pub struct Heap {
    /// The arena. Mark bits live apart, in `marks`, so that a slot is only
    /// as large as the largest object.
    slots: Vec<Obj>,
    /// One mark bit per slot, set while collecting.
    marks: Vec<u64>,
    /// Each slot's generation, bumped when its object is freed (see
    /// [`Ref`]): apart from the slots, which stay 40 bytes, and read only
    /// when allocating, freeing and checking a value from the host.
    generations: Vec<NonZeroU32>,
    free: Option<u32>,
    interned: HashTable<Ref>,
    hasher: FxBuild,
    /// Where `concat` copies the piece it appends, reused.
    scratch: String,
    /// Bytes `concat` has copied and hashed: the work of building strings
    /// with `+`, which tests count to show it linear.
    concat_work: u64,
    /// Bytes allocated since the last collection, roughly.
    pub(crate) debt: usize,
    /// Bytes that make the next collection due.
    pub(crate) threshold: usize,
    /// Live objects after the last collection.
    pub(crate) live: usize,
    /// Approximate bytes held by live objects, for the heap cap.
    pub(crate) bytes: usize,
    /// Bytes the scheduler holds outside the objects (tasks, frames and
    /// registers, cancel scopes, timers), as of the last collection: they
    /// count against the limit too.
    runtime_bytes: usize,
    /// The buffers of small lists and the tables of small maps the sweep
    /// freed, for new ones to reuse. Its bytes count against the limit.
    pool: Pool,
    /// The collector's work list, empty between collections (see `gc.rs`).
    pub(crate) gray: Vec<Ref>,
    /// The most bytes the heap may hold: past it, scripts get `OutOfMemory`
    /// instead of the process dying when the system refuses an allocation.
    pub(crate) limit: usize,
    /// Live bytes past which the next `OutOfMemory` is raised: the limit,
    /// then a quarter more after each report, so that a script handling the
    /// error can run its `catch` and `finally` blocks; back to the limit
    /// once a collection finds the heap under it.
    report_at: usize,
    /// Collect at every safe point (`WEFT_GC_STRESS=1`), to flush out values
    /// that are live but not rooted.
    stress: bool,
}

/// Whether `WEFT_GC_STRESS=1` asks for a collection at every safe point.
fn gc_stress() -> bool {
    std::env::var_os("WEFT_GC_STRESS").is_some_and(|v| v == "1")
}

/// The default heap limit: half the machine's memory (or 4 GiB where it
/// cannot be read), leaving room for the collector's slack and the rest of
/// the system. Read once per process: every VM made after the first
/// would otherwise open and parse `/proc/meminfo` again.
pub fn default_limit() -> usize {
    static LIMIT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib.saturating_mul(1024))
        });
        total.map_or(4 << 30, |bytes| bytes / 2)
    })
}

/// The smallest amount of allocation between two collections.
const MIN_THRESHOLD: usize = 4 << 20;

/// The most bytes of spare list buffers and map tables a small heap
/// keeps: what it allocates between two collections, so that the lists
/// and records a loop makes and drops all come from the pool; what a heap
/// holds stays flat within that however long a program churns them.
const POOL_FLOOR: usize = MIN_THRESHOLD;

impl Default for Heap {
    fn default() -> Self {
        Heap::new()
    }
}

impl Heap {
    /// An empty heap with no limit (collecting at every safe point under
    /// `WEFT_GC_STRESS=1`).
    pub fn new() -> Heap {
        let mut heap = Heap {
            slots: Vec::new(),
            marks: Vec::new(),
            generations: Vec::new(),
            free: None,
            interned: HashTable::new(),
            hasher: FxBuild::default(),
            scratch: String::new(),
            concat_work: 0,
            debt: 0,
            threshold: if gc_stress() { 0 } else { MIN_THRESHOLD },
            live: 0,
            bytes: 0,
            runtime_bytes: 0,
            pool: Pool::new(),
            gray: Vec::new(),
            limit: usize::MAX,
            report_at: usize::MAX,
            stress: gc_stress(),
        };
        heap.trim_pool();
        heap
    }

    /// A heap that holds at most `limit` bytes.
    pub fn with_limit(limit: usize) -> Heap {
        let mut heap = Heap::new();
        heap.set_limit(limit);
        heap
    }

    /// Sets the most bytes the heap may hold.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
        self.report_at = limit;
        self.trim_pool();
    }

    /// Whether enough has been allocated that the collector should run at
    /// the next safe point.
    #[inline(always)]
    pub fn gc_due(&self) -> bool {
        self.debt >= self.threshold
    }

    /// Whether the live objects and the scheduler's structures outgrew
    /// [`Heap::limit`] at the last collection, and that has not been
    /// reported yet.
    pub fn over_limit(&self) -> bool {
        self.in_use() > self.report_at
    }

    /// Notes that [`Heap::over_limit`] was reported as an error.
    pub fn reported_over_limit(&mut self) {
        self.report_at = self.in_use().saturating_add(self.limit / 4);
    }

    /// Bytes counted against the limit: live objects and the runtime's
    /// structures, as of the last collection, and the spare list buffers
    /// the heap keeps.
    pub fn in_use(&self) -> usize {
        self.bytes.saturating_add(self.runtime_bytes).saturating_add(self.pool.bytes())
    }

    /// Records what the scheduler holds (at each collection).
    pub(crate) fn set_runtime_bytes(&mut self, bytes: usize) {
        self.runtime_bytes = bytes;
        self.trim_pool();
        if self.in_use() <= self.limit {
            self.report_at = self.limit;
        }
    }

    /// The most bytes the heap may hold.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Fails with `OutOfMemory` if building an object of `bytes` more
    /// would take the heap past its limit: checked before an allocation
    /// whose size a script controls (`xs + xs` in a loop doubles), so that
    /// the script gets an error instead of the system refusing the memory.
    pub fn check_room(&self, bytes: usize, what: &str) -> Result<(), Throw> {
        if bytes > self.room() {
            let mib = |n: usize| n >> 20;
            return Err(Throw::new(
                "OutOfMemory",
                format!(
                    "{what} needs {} MiB; the heap holds {} MiB of its {} MiB",
                    mib(bytes),
                    mib(self.in_use()),
                    mib(self.limit)
                ),
            ));
        }
        Ok(())
    }

    /// Bytes the heap may still take before its limit, as of the last
    /// collection: the most a text being built may grow to.
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.in_use())
    }

    /// Bytes held by the live objects alone, as of the last collection.
    pub fn object_bytes(&self) -> usize {
        self.bytes
    }

    /// The number of objects in the arena, live or free.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn alloc(&mut self, obj: Obj, size: usize) -> Ref {
        self.alloc_inline(obj, size)
    }

    /// [`Heap::alloc`], inlined where an object is made often enough that
    /// building it straight in its slot, not on the stack first, pays.
    #[inline(always)]
    fn alloc_inline(&mut self, obj: Obj, size: usize) -> Ref {
        self.debt += size + std::mem::size_of::<Obj>();
        match self.free {
            Some(i) => {
                let slot = &mut self.slots[i as usize];
                let generation = match *slot {
                    Obj::Free { next, generation } => {
                        self.free = next;
                        // A free slot holds nothing to drop: with no call
                        // into the drop glue between, the object is built
                        // straight in its slot rather than on the stack.
                        std::mem::forget(std::mem::replace(slot, obj));
                        generation
                    }
                    // The free list only holds free slots.
                    _ => {
                        self.free = None;
                        *slot = obj;
                        self.generations[i as usize]
                    }
                };
                Ref::new(i, generation)
            }
            None => {
                self.slots.push(obj);
                Ref::new(self.slot_pushed(), NonZeroU32::MIN)
            }
        }
    }

    /// Gives the slot just pushed at the end its generation and its mark,
    /// and its index.
    #[inline(always)]
    fn slot_pushed(&mut self) -> u32 {
        self.generations.push(NonZeroU32::MIN);
        if self.slots.len() > self.marks.len() * 64 {
            self.marks.push(0);
        }
        self.slots.len() as u32 - 1
    }

    /// A free slot, taken off the free list or made at the end, and its
    /// generation.
    #[inline(always)]
    fn take_free_slot(&mut self) -> (u32, NonZeroU32) {
        if let Some(i) = self.free {
            // The free list only holds free slots; if not, it is dropped.
            if let Obj::Free { next, generation } = self.slots[i as usize] {
                self.free = next;
                return (i, generation);
            }
            self.free = None;
        }
        self.push_free_slot()
    }

    /// A new free slot at the end, and its generation.
    fn push_free_slot(&mut self) -> (u32, NonZeroU32) {
        self.slots.push(Obj::Free { next: None, generation: NonZeroU32::MIN });
        (self.slot_pushed(), NonZeroU32::MIN)
    }

    // ----- strings ---------------------------------------------------------

    /// The 32-bit hash a string keeps (see `StrObj::hash`).
    fn hash_str(&self, s: &str) -> u32 {
        let mut h = self.hasher.build_hasher();
        h.write(s.as_bytes());
        (h.finish() >> 32) as u32
    }

    /// The interned string with this text, made if needed.
    pub fn intern(&mut self, s: &str) -> Ref {
        let hash = self.hash_str(s);
        if let Some(r) = self.find_interned(s, hash) {
            return r;
        }
        let obj = StrObj::new(s, hash);
        let r = self.alloc(Obj::Str(obj), s.len());
        self.add_interned(r, hash);
        r
    }

    /// The interned string with text `s` (whose hash is `hash`), if any.
    fn find_interned(&self, s: &str, hash: u32) -> Option<Ref> {
        let slots = &self.slots;
        let found = self.interned.find(table_hash(hash), |r| match &slots[r.index()] {
            Obj::Str(o) => view_in(slots, o).text() == s,
            _ => false,
        });
        found.copied()
    }

    fn add_interned(&mut self, r: Ref, hash: u32) {
        let slots = &self.slots;
        self.interned.insert_unique(table_hash(hash), r, |r| match &slots[r.index()] {
            Obj::Str(o) => table_hash(o.hash.get()),
            _ => 0,
        });
    }

    /// The hash of string `r`, computed once for a view of a buffer.
    fn str_hash(&self, r: Ref) -> u32 {
        let obj = self.str_raw(r);
        match obj.hash.get() {
            0 if obj.is_view() => {
                let hash = self.hash_str(self.str(r));
                obj.hash.set(hash);
                hash
            }
            hash => hash,
        }
    }

    /// `a + b` for two strings. Below [`LONG_STR`] bytes the result is
    /// interned; longer, it views a buffer, which `a`'s own buffer is when
    /// `a` ends where that buffer ends (the text is appended in place),
    /// and a new copy otherwise.
    pub fn concat(&mut self, a: Ref, b: Ref) -> Result<Ref, Throw> {
        let (a_len, b_len) = (self.str(a).len(), self.str(b).len());
        let len = a_len + b_len;
        if len < LONG_STR || u32::try_from(len).is_err() {
            self.check_room(len, "a string of that length")?;
            // Copied once, then hashed to intern it.
            self.concat_work += 2 * len as u64;
            let mut s = String::with_capacity(len);
            s.push_str(self.str(a));
            s.push_str(self.str(b));
            return Ok(self.intern_string(s));
        }
        // The piece is copied out first: it may view the very buffer it is
        // appended to (`s + s`).
        let mut piece = std::mem::take(&mut self.scratch);
        piece.clear();
        piece.push_str(self.str(b));
        let piece_chars = self.str_obj(b).chars();
        let buf = match self.str_raw(a).text {
            Text::View { len, buf, .. } if self.buf(buf).text.len() == len as usize => buf,
            _ => {
                self.check_room(len, "a string of that length")?;
                let a_text = self.str_obj(a);
                let new = StrBuf::new(a_text.text(), a_text.chars(), len);
                self.concat_work += a_len as u64;
                let size = new.bytes();
                self.alloc(Obj::StrBuf(Box::new(new)), size)
            }
        };
        let before = self.buf(buf).bytes();
        let spare = self.buf(buf).text.capacity() - a_len;
        if spare < b_len {
            // The buffer doubles, as a `String` does, and its text moves.
            self.check_room(before.max(len), "a string of that length")?;
            self.concat_work += a_len as u64;
        }
        // The piece is copied twice: out, then in.
        self.concat_work += 2 * b_len as u64;
        let grown = match self.get_mut(buf) {
            Obj::StrBuf(text) => {
                text.push(&piece, piece_chars);
                text.bytes() - before
            }
            _ => corrupt("string buffer"),
        };
        self.grew(grown);
        self.scratch = piece;
        let chars = self.buf(buf).chars;
        let view =
            StrObj { text: Text::View { len: len as u32, chars, buf }, hash: Cell::new(0), field_hint: Cell::new(0) };
        Ok(self.alloc(Obj::Str(view), 0))
    }

    /// Bytes copied and hashed by `+` on strings so far: the work of
    /// building strings, which tests count to show it linear.
    pub fn concat_work(&self) -> u64 {
        self.concat_work
    }

    fn buf(&self, r: Ref) -> &StrBuf {
        match self.get(r) {
            Obj::StrBuf(b) => b,
            _ => corrupt("string buffer"),
        }
    }

    /// Whether strings `a` and `b` have the same text: the same ref, or,
    /// when either views a buffer (not interned), the same bytes.
    #[inline]
    pub fn str_eq(&self, a: Ref, b: Ref) -> bool {
        a == b || self.str_eq_by_content(a, b)
    }

    fn str_eq_by_content(&self, a: Ref, b: Ref) -> bool {
        let (x, y) = (self.str_raw(a), self.str_raw(b));
        if !x.is_view() && !y.is_view() {
            // Both interned, and distinct.
            return false;
        }
        let (hx, hy) = (x.hash.get(), y.hash.get());
        if hx != 0 && hy != 0 && hx != hy {
            return false;
        }
        self.str(a) == self.str(b)
    }

    /// The interned string equal to `r`: `r` itself unless it views a
    /// buffer; then the interned one with its text, which `r` becomes when
    /// there is none. Map keys are such strings, so that equal strings
    /// are equal keys.
    #[inline]
    fn canonical(&mut self, r: Ref) -> Ref {
        if !self.str_raw(r).is_view() {
            return r;
        }
        self.canonical_view(r)
    }

    /// [`Heap::canonical`] of a string that views a buffer.
    #[inline(never)]
    fn canonical_view(&mut self, r: Ref) -> Ref {
        let hash = self.str_hash(r);
        if let Some(found) = self.find_interned(self.str(r), hash) {
            return found;
        }
        self.add_interned(r, hash);
        r
    }

    /// As [`Heap::canonical`], without adding `r`: a string with no
    /// interned equal is no map's key, so `r` itself is then as good.
    fn find_canonical(&self, r: Ref) -> Ref {
        if !self.str_raw(r).is_view() {
            return r;
        }
        self.find_interned(self.str(r), self.str_hash(r)).unwrap_or(r)
    }

    /// A value as a map key, to store: nil, bools, ints, strings, and
    /// integral floats (as the equal int, since `1 == 1.0`). A string is
    /// keyed by its interned equal, made if needed.
    pub fn key(&mut self, v: Value) -> Option<Key> {
        match v {
            Value::Str(r) => Some(Key::Str(self.canonical(r))),
            _ => crate::fmt::key_of_scalar(v),
        }
    }

    /// A value as a map key, to look up: as [`Heap::key`], but it adds
    /// nothing to the interner.
    pub fn find_key(&self, v: Value) -> Option<Key> {
        match v {
            Value::Str(r) => Some(Key::Str(self.find_canonical(r))),
            _ => crate::fmt::key_of_scalar(v),
        }
    }

    /// Like [`intern`](Self::intern) for an owned string.
    pub fn intern_string(&mut self, s: String) -> Ref {
        self.intern(&s)
    }

    pub(crate) fn str_value(&mut self, s: &str) -> Value {
        Value::Str(self.intern(s))
    }

    // ----- allocation ------------------------------------------------------

    pub(crate) fn new_list(&mut self, items: Vec<Value>) -> Ref {
        let size = items.capacity() * std::mem::size_of::<Value>();
        self.alloc(Obj::List(items), size)
    }

    /// A new list of a copy of `items`: a list literal. Up to
    /// [`INLINE_ITEMS`] items live in the list's slot; more go to a spare
    /// buffer of exactly that capacity when the pool keeps one. Never
    /// inlined: the interpreter loop calls it, and would only grow.
    #[inline(never)]
    pub(crate) fn new_list_from(&mut self, items: &[Value]) -> Ref {
        let inline = match *items {
            [] => [Value::Nil; INLINE_ITEMS],
            [a] => [a, Value::Nil],
            [a, b] => [a, b],
            _ => return self.new_list_in_buffer(items),
        };
        self.alloc_inline(Obj::SmallList { len: items.len() as u8, items: inline }, 0)
    }

    /// A new list of a copy of `items`, in a buffer of its own.
    fn new_list_in_buffer(&mut self, items: &[Value]) -> Ref {
        let mut buffer = self.pool.take(items.len()).unwrap_or_else(|| Vec::with_capacity(items.len()));
        buffer.extend_from_slice(items);
        self.new_list(buffer)
    }

    /// Bytes held by the spare list buffers, and how many there are.
    pub fn pooled(&self) -> (usize, usize) {
        (self.pool.bytes(), self.pool.count())
    }

    /// A new map of `table`.
    pub(crate) fn new_map(&mut self, table: MapTable) -> Ref {
        let size = map_size(table.capacity());
        self.alloc(Obj::Map(table), size)
    }

    /// A new map of the keys and values that alternate in `pairs`: a map
    /// literal. The error is the first key that can be no map key (a
    /// list, say). Never inlined, as [`Heap::new_list_from`].
    #[inline(never)]
    pub(crate) fn new_map_from(&mut self, pairs: &[Value]) -> Result<Ref, Value> {
        let m = self.new_empty_map(pairs.len() / 2);
        for pair in pairs.chunks_exact(2) {
            let k = self.key(pair[0]).ok_or(pair[0])?;
            let table = self.map_mut(m);
            if !table.push_small(k, pair[1]) {
                table.insert(k, pair[1]);
            }
        }
        Ok(m)
    }

    /// A new empty map with room for `capacity` entries: a spare table
    /// if the pool keeps one, swapped into the free slot word by word. A
    /// table built elsewhere and moved in would be copied through the
    /// stack, and the copy's loads would wait on the stores just made.
    #[inline(always)]
    fn new_empty_map(&mut self, capacity: usize) -> Ref {
        self.debt += map_size(capacity) + std::mem::size_of::<Obj>();
        let (i, generation) = self.take_free_slot();
        let slot = &mut self.slots[i as usize];
        if !self.pool.swap_map(capacity, slot) {
            *slot = Obj::Map(MapTable::with_capacity(capacity));
        }
        Ref::new(i, generation)
    }

    pub(crate) fn new_range(&mut self, start: i64, end: i64, inclusive: bool) -> Ref {
        self.alloc(Obj::Range { start, end, inclusive }, 0)
    }

    pub(crate) fn new_closure(&mut self, proto: u32, captures: Captures) -> Ref {
        let size = match &captures {
            Captures::Many(values) => values.len() * std::mem::size_of::<Value>(),
            _ => 0,
        };
        self.alloc(Obj::Func(Closure { proto, captures }), size)
    }

    pub(crate) fn new_cell(&mut self, v: Value) -> Ref {
        self.alloc(Obj::Cell(v), 0)
    }

    pub(crate) fn new_error(&mut self, kind: &str, message: &str) -> Ref {
        let kind = Value::Str(self.intern(kind));
        let message = Value::Str(self.intern(message));
        self.new_error_value(kind, message)
    }

    pub(crate) fn new_error_value(&mut self, kind: Value, message: Value) -> Ref {
        let obj = ErrorObj {
            kind,
            message,
            trace: Vec::new(),
            others: Vec::new(),
            cancellation: None,
            spawned_at: Vec::new(),
            details: None,
        };
        self.alloc(Obj::Error(Box::new(obj)), 64)
    }

    pub(crate) fn new_task(&mut self, id: u32) -> Ref {
        self.alloc(Obj::Task(TaskObj { id, outcome: Outcome::Running }), 0)
    }

    pub(crate) fn new_chan(&mut self, chan: crate::channel::Channel) -> Ref {
        self.alloc(Obj::Chan(Box::new(chan)), 128)
    }

    pub(crate) fn new_nursery(&mut self, id: u32) -> Ref {
        self.alloc(Obj::Nursery(id), 0)
    }

    pub(crate) fn task(&self, r: Ref) -> &TaskObj {
        match self.get(r) {
            Obj::Task(t) => t,
            _ => corrupt("task"),
        }
    }

    pub(crate) fn task_mut(&mut self, r: Ref) -> &mut TaskObj {
        match self.get_mut(r) {
            Obj::Task(t) => t,
            _ => corrupt("task"),
        }
    }

    pub(crate) fn chan(&self, r: Ref) -> &crate::channel::Channel {
        match self.get(r) {
            Obj::Chan(c) => c,
            _ => corrupt("channel"),
        }
    }

    pub(crate) fn chan_mut(&mut self, r: Ref) -> &mut crate::channel::Channel {
        match self.get_mut(r) {
            Obj::Chan(c) => c,
            _ => corrupt("channel"),
        }
    }

    pub(crate) fn new_object(&mut self, obj: crate::object::HostObj) -> Ref {
        let bytes = obj.data.bytes();
        self.alloc(Obj::Object(Box::new(obj)), 32 + bytes)
    }

    pub(crate) fn object(&self, r: Ref) -> &crate::object::HostObj {
        match self.get(r) {
            Obj::Object(o) => o,
            _ => corrupt("object"),
        }
    }

    pub(crate) fn object_mut(&mut self, r: Ref) -> &mut crate::object::HostObj {
        match self.get_mut(r) {
            Obj::Object(o) => o,
            _ => corrupt("object"),
        }
    }

    pub(crate) fn nursery(&self, r: Ref) -> u32 {
        match self.get(r) {
            Obj::Nursery(id) => *id,
            _ => corrupt("nursery"),
        }
    }

    /// Counts bytes a container grew by outside of `alloc`.
    pub fn grew(&mut self, bytes: usize) {
        self.debt += bytes;
    }

    // ----- access ----------------------------------------------------------

    /// Whether `v` names a live object of its own type (always, for values
    /// that name no object): a check for values that come from outside.
    /// A value kept past the collection that freed its object is refused
    /// even when a new object of the same type has taken its slot: the
    /// slot's generation has moved on (see [`Heap::is_stale`]).
    pub fn holds(&self, v: Value) -> bool {
        let Some(r) = v.as_ref() else { return true };
        let Some(obj) = self.slots.get(r.index()) else { return false };
        !self.is_stale(r)
            && matches!(
                (v, obj),
                (Value::Str(_), Obj::Str(_))
                    | (Value::List(_), Obj::List(_) | Obj::SmallList { .. })
                    | (Value::Map(_), Obj::Map(_))
                    | (Value::Range(_), Obj::Range { .. })
                    | (Value::Func(_), Obj::Func(_))
                    | (Value::Error(_), Obj::Error(_))
                    | (Value::Task(_), Obj::Task(_))
                    | (Value::Chan(_), Obj::Chan(_))
                    | (Value::Nursery(_), Obj::Nursery(_))
                    | (Value::Cell(_), Obj::Cell(_))
                    | (Value::Object(_), Obj::Object(_))
            )
    }

    /// Whether `r` names an object that was collected: its slot has been
    /// freed since `r` was made (and may hold another object now).
    pub fn is_stale(&self, r: Ref) -> bool {
        self.generations.get(r.index()).is_none_or(|&g| g != r.generation())
    }

    #[inline(always)]
    pub(crate) fn get(&self, r: Ref) -> &Obj {
        &self.slots[r.index()]
    }

    #[inline(always)]
    pub(crate) fn get_mut(&mut self, r: Ref) -> &mut Obj {
        &mut self.slots[r.index()]
    }

    /// The text of string `r`.
    #[inline]
    pub fn str(&self, r: Ref) -> &str {
        self.str_obj(r).text()
    }

    /// String `r` with what finds its characters by index.
    #[inline]
    pub fn str_obj(&self, r: Ref) -> StrView<'_> {
        view_in(&self.slots, self.str_raw(r))
    }

    /// String `r`, with its length in characters and character offsets.
    #[inline]
    fn str_raw(&self, r: Ref) -> &StrObj {
        match self.get(r) {
            Obj::Str(s) => s,
            _ => corrupt("string"),
        }
    }

    /// The items of list `r`.
    #[inline]
    pub fn list(&self, r: Ref) -> &[Value] {
        match self.get(r) {
            Obj::List(v) => v,
            // Out of line, so that the common case stays as short as it
            // was before lists could live in their slots: `sort_by`'s
            // loops, which index lists with buffers, were 5% slower with
            // both cases inline.
            obj => small_list_items(obj),
        }
    }

    /// List `r`'s buffer, to change its items in place, if it has one
    /// (a list held in its slot has none): one look-up, for the loop.
    #[inline(always)]
    pub(crate) fn list_buffer_mut(&mut self, r: Ref) -> Option<&mut Vec<Value>> {
        match self.get_mut(r) {
            Obj::List(v) => Some(v),
            _ => None,
        }
    }

    /// List `r`'s items to change, as a `Vec`: a list held in its slot
    /// moves to a buffer of its own first.
    #[inline]
    pub(crate) fn list_mut(&mut self, r: Ref) -> &mut Vec<Value> {
        if !matches!(self.get(r), Obj::List(_)) {
            self.spill(r);
        }
        match self.get_mut(r) {
            Obj::List(v) => v,
            _ => corrupt("list"),
        }
    }

    /// Appends `v` to list `r` if its buffer has room, so that nothing
    /// grows and nothing is charged; `false` (and nothing done) otherwise,
    /// a list held in its slot included.
    #[inline(always)]
    pub(crate) fn push_in_place(&mut self, r: Ref, v: Value) -> bool {
        match self.get_mut(r) {
            Obj::List(items) if items.len() < items.capacity() => {
                items.push(v);
                true
            }
            _ => false,
        }
    }

    /// Moves small list `r`'s items out of its slot into a buffer.
    #[cold]
    fn spill(&mut self, r: Ref) {
        let slot = self.get_mut(r);
        if let Obj::SmallList { len, items } = slot {
            let mut buffer = Vec::with_capacity(SPILL_CAPACITY);
            buffer.extend_from_slice(&items[..*len as usize]);
            *slot = Obj::List(buffer);
            self.grew(SPILL_CAPACITY * std::mem::size_of::<Value>());
        }
    }

    /// The items of list `r`, which `list_mut` has given a buffer.
    pub(crate) fn list_vec(&self, r: Ref) -> &Vec<Value> {
        match self.get(r) {
            Obj::List(v) => v,
            _ => corrupt("list with a buffer"),
        }
    }

    /// The entries of map `r`.
    #[inline]
    pub fn map(&self, r: Ref) -> &MapTable {
        match self.get(r) {
            Obj::Map(m) => m,
            _ => corrupt("map"),
        }
    }

    /// The value of field `name` of map `m`, if it sits where `name` was
    /// last found in a map (see [`Heap::find_field`]): no hashing.
    #[inline(always)]
    pub fn field_at_hint(&self, m: Ref, name: Ref) -> Option<&Value> {
        self.field_at(m, name, self.field_hint(name))
    }

    /// As [`Heap::field_at_hint`], for writing.
    #[inline(always)]
    pub fn field_at_hint_mut(&mut self, m: Ref, name: Ref) -> Option<&mut Value> {
        let hint = self.field_hint(name);
        self.field_at_mut(m, name, hint)
    }

    /// The value of field `name` of map `m`, if it sits at position `at`.
    #[inline(always)]
    pub(crate) fn field_at(&self, m: Ref, name: Ref, at: u32) -> Option<&Value> {
        self.map(m).str_at(at as usize, name)
    }

    /// As [`Heap::field_at`], for writing.
    #[inline(always)]
    pub(crate) fn field_at_mut(&mut self, m: Ref, name: Ref, at: u32) -> Option<&mut Value> {
        self.map_mut(m).str_at_mut(at as usize, name)
    }

    /// Where field name `name` was last found in a map (see
    /// [`Heap::find_field`]).
    #[inline(always)]
    pub(crate) fn field_hint(&self, name: Ref) -> u32 {
        self.str_raw(name).field_hint.get()
    }

    /// Looks field `name` of map `m` up by hash, and remembers its position
    /// for [`Heap::field_at_hint`] (in the string, where a reader that
    /// changes nothing in the heap may leave it too).
    pub fn find_field(&self, m: Ref, name: Ref) -> Option<Value> {
        let (at, _, &v) = self.map(m).get_full(&Key::Str(self.find_canonical(name)))?;
        self.remember_field(name, at);
        Some(v)
    }

    /// Sets field `name` of map `m`, and remembers its position for
    /// [`Heap::field_at_hint`].
    pub fn set_field(&mut self, m: Ref, name: Ref, v: Value) -> Result<(), Throw> {
        let key = Key::Str(self.canonical(name));
        let at = self.map_insert(m, key, v)?;
        self.remember_field(name, at);
        Ok(())
    }

    /// Sets `k` to `v` in map `m`, and returns the entry's position. A new
    /// key that makes the table grow is charged to the heap first: past
    /// the limit it is `OutOfMemory`, not a table the system cannot give.
    pub fn map_insert(&mut self, m: Ref, k: Key, v: Value) -> Result<usize, Throw> {
        let map = self.map(m);
        let capacity = map.capacity();
        if map.is_full() && !map.contains_key(&k) {
            self.check_room(capacity.max(4) * MAP_ENTRY_BYTES, "a map of that size")?;
        }
        let map = self.map_mut(m);
        let (at, _) = map.insert_full(k, v);
        let grown = map.capacity().saturating_sub(capacity);
        self.grew(grown * MAP_ENTRY_BYTES);
        Ok(at)
    }

    fn remember_field(&self, name: Ref, at: usize) {
        if let Obj::Str(s) = self.get(name) {
            s.field_hint.set(at as u32);
        }
    }

    #[inline]
    pub(crate) fn map_mut(&mut self, r: Ref) -> &mut MapTable {
        match self.get_mut(r) {
            Obj::Map(m) => m,
            _ => corrupt("map"),
        }
    }

    #[inline]
    pub(crate) fn closure(&self, r: Ref) -> &Closure {
        match self.get(r) {
            Obj::Func(c) => c,
            _ => corrupt("function"),
        }
    }

    #[inline]
    pub(crate) fn cell(&self, r: Ref) -> Value {
        match self.get(r) {
            Obj::Cell(v) => *v,
            _ => corrupt("cell"),
        }
    }

    #[inline]
    pub(crate) fn set_cell(&mut self, r: Ref, v: Value) {
        match self.get_mut(r) {
            Obj::Cell(c) => *c = v,
            _ => corrupt("cell"),
        }
    }

    /// Range `r` as its start, its end and whether the end is included.
    pub fn range(&self, r: Ref) -> (i64, i64, bool) {
        match self.get(r) {
            Obj::Range { start, end, inclusive } => (*start, *end, *inclusive),
            _ => corrupt("range"),
        }
    }

    pub(crate) fn error(&self, r: Ref) -> &ErrorObj {
        match self.get(r) {
            Obj::Error(e) => e,
            _ => corrupt("error"),
        }
    }

    pub(crate) fn error_mut(&mut self, r: Ref) -> &mut ErrorObj {
        match self.get_mut(r) {
            Obj::Error(e) => e,
            _ => corrupt("error"),
        }
    }

    // ----- collection support (used by gc.rs) -------------------------------

    /// Marks `r`; false if it was marked already.
    pub(crate) fn mark(&mut self, r: Ref) -> bool {
        let (word, bit) = (r.index() / 64, 1u64 << (r.index() % 64));
        let was = self.marks[word] & bit != 0;
        self.marks[word] |= bit;
        !was
    }

    /// Frees every unmarked object and clears the marks; `bytes` is what
    /// the marked objects hold. Returns the number of live objects.
    pub(crate) fn sweep(&mut self, bytes: usize) -> usize {
        let mut live = 0;
        // The free list's head, kept here for the loop: stored into the
        // heap after each slot, as a tag and an index, and loaded back
        // whole for the next, it made every freed slot wait on the store.
        let mut free = self.free;
        for word_at in 0..self.marks.len() {
            let word = self.marks[word_at];
            live += word.count_ones() as usize;
            // Sixty-four live objects in a row: nothing to read.
            if word == u64::MAX {
                continue;
            }
            let start = word_at * 64;
            let end = (start + 64).min(self.slots.len());
            for i in start..end {
                if word & (1 << (i - start)) != 0 {
                    continue;
                }
                free = self.free_slot(i, free);
            }
        }
        self.free = free;
        self.marks.fill(0);
        self.live = live;
        self.bytes = bytes;
        self.debt = 0;
        self.trim_pool();
        if self.in_use() <= self.limit {
            self.report_at = self.limit;
        }
        // Collect again after as much allocation as is live (the heap then
        // at most doubles), but before the limit is passed.
        self.threshold = bytes.min(self.limit.saturating_sub(self.in_use())).max(MIN_THRESHOLD);
        if self.stress {
            self.threshold = 0;
        }
        live
    }

    /// Frees the object in slot `i`, if it holds one, for the sweep, onto
    /// the free list whose head is `free`; gives the new head.
    #[inline(always)]
    fn free_slot(&mut self, i: usize, free: Option<u32>) -> Option<u32> {
        let slot = &mut self.slots[i];
        if matches!(slot, Obj::Free { .. }) {
            return free;
        }
        // Refs kept past this collection no longer match the slot. A
        // slot reused 2^32 times comes back to a generation it had:
        // a stale ref that old would pass the check.
        let generation = NonZeroU32::new(self.generations[i].get().wrapping_add(1)).unwrap_or(NonZeroU32::MIN);
        self.generations[i] = generation;
        let old = std::mem::replace(slot, Obj::Free { next: free, generation });
        match old {
            Obj::Str(s) => {
                // A view of a buffer is in the interner only if it was
                // used as a key; its hash is then the one it was filed by.
                if let Ok(entry) = self.interned.find_entry(table_hash(s.hash.get()), |r| r.index() == i) {
                    entry.remove();
                }
            }
            // Kept for the next list of its size, under the bound the
            // last collection set.
            Obj::List(items) => self.pool.give(items),
            map @ Obj::Map(_) => self.pool.give_map(map),
            // Nothing to drop: no call into the drop glue.
            small @ (Obj::SmallList { .. } | Obj::Range { .. } | Obj::Cell(_) | Obj::Nursery(_)) => {
                std::mem::forget(small)
            }
            other => drop(other),
        }
        Some(i as u32)
    }
}

impl Heap {
    /// Bounds the spare list buffers and map tables by what is live: as
    /// many bytes as the live objects hold (about what the program
    /// allocates before the next collection, which the buffers are for),
    /// at least [`POOL_FLOOR`], and never more than half the room left
    /// under the limit, so that spare buffers alone never make the heap
    /// report `OutOfMemory`.
    fn trim_pool(&mut self) {
        let room = self.limit.saturating_sub(self.bytes.saturating_add(self.runtime_bytes));
        self.pool.trim(self.bytes.max(POOL_FLOOR).min(room / 2));
    }
}

/// A string's 32-bit hash spread over the 64 bits the interner's table
/// reads: it takes its control bytes from the top bits.
fn table_hash(hash: u32) -> u64 {
    (hash as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

pub(crate) fn size_of_obj(obj: &Obj) -> usize {
    std::mem::size_of::<Obj>()
        + match obj {
            Obj::Str(s) => match &s.text {
                Text::Inline { .. } => 0,
                Text::Heap { text, .. } => text.len(),
                Text::Marked { marked, .. } => marked.text.len() + 4 * marked.marks.len(),
                Text::View { .. } => 0,
            },
            Obj::StrBuf(b) => b.bytes(),
            Obj::List(v) => v.capacity() * std::mem::size_of::<Value>(),
            Obj::Map(m) => map_size(m.capacity()),
            Obj::Func(c) => match &c.captures {
                Captures::Many(values) => values.len() * std::mem::size_of::<Value>(),
                _ => 0,
            },
            Obj::Error(_) => 64,
            Obj::Chan(c) => 128 + c.bytes(),
            Obj::Object(o) => 32 + o.data.bytes(),
            _ => 0,
        }
}

/// The items of a small list (`Heap::list` for a list held in its slot,
/// and the marker).
#[inline(never)]
pub(crate) fn small_list_items(obj: &Obj) -> &[Value] {
    match obj {
        Obj::SmallList { len, items } => &items[..*len as usize],
        _ => corrupt("list"),
    }
}

/// A `Ref` pointing at the wrong kind of object: the VM broke its own
/// invariant. This is an interpreter bug, not a user error.
#[cold]
#[inline(never)]
fn corrupt(what: &str) -> ! {
    panic!("internal error: heap object is not a {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_slots_are_forty_bytes() {
        // Every object costs a slot this size: keep it small.
        assert_eq!(std::mem::size_of::<Obj>(), 40);
        assert_eq!(std::mem::size_of::<StrObj>(), 32);
    }

    #[test]
    fn characters_are_found_by_index_in_every_kind_of_text() {
        let mut heap = Heap::new();
        let texts = [
            "ascii only, longer than the inline limit".to_string(),
            "é".repeat(10),
            "ü".repeat(64),
            "aé😀".repeat(70),
            format!("{}{}", "x".repeat(200), "ß".repeat(3)),
            "ab€".repeat(1000),
        ];
        for text in &texts {
            let r = heap.intern(text);
            let obj = heap.str_obj(r);
            let starts: Vec<usize> = text.char_indices().map(|(at, _)| at).chain([text.len()]).collect();
            for (i, &at) in starts.iter().enumerate() {
                assert_eq!(obj.byte_offset(i), at, "byte of character {i} of {text:?}");
                assert_eq!(obj.char_index(at), i, "character at byte {at} of {text:?}");
            }
            assert_eq!(obj.byte_offset(starts.len() + 5), text.len(), "past the end is the end");
        }
    }

    /// `s + piece` over and over, as `s += piece` in a loop does.
    fn built(heap: &mut Heap, piece: &str, times: usize) -> Ref {
        let piece = heap.intern(piece);
        let mut s = heap.intern("");
        for _ in 0..times {
            s = heap.concat(s, piece).expect("room");
        }
        s
    }

    #[test]
    fn appending_shares_one_buffer_and_keeps_every_prefix() {
        let mut heap = Heap::new();
        let piece = heap.intern("aé");
        let mut s = heap.intern("");
        let mut all = Vec::new();
        for _ in 0..200 {
            s = heap.concat(s, piece).expect("room");
            all.push(s);
        }
        for (i, &r) in all.iter().enumerate() {
            let want = "aé".repeat(i + 1);
            assert_eq!(heap.str(r), want, "prefix {i} unchanged");
            let view = heap.str_obj(r);
            assert_eq!(view.chars(), 2 * (i + 1));
            for (k, (at, _)) in want.char_indices().enumerate() {
                assert_eq!(view.byte_offset(k), at);
                assert_eq!(view.char_index(at), k);
            }
        }
        // One buffer for all the long ones: the strings past LONG_STR.
        let bufs: std::collections::HashSet<Ref> = all.iter().filter_map(|&r| heap.str_raw(r).buffer()).collect();
        assert_eq!(bufs.len(), 1);
        // A string that no longer ends its buffer is copied, and both
        // results keep their own text.
        let middle = all[100];
        let x = heap.intern("x");
        let y = heap.intern("y");
        let (mx, my) = (heap.concat(middle, x).expect("room"), heap.concat(middle, y).expect("room"));
        assert_eq!(heap.str(mx), format!("{}x", "aé".repeat(101)));
        assert_eq!(heap.str(my), format!("{}y", "aé".repeat(101)));
        assert_ne!(heap.str_raw(mx).buffer(), heap.str_raw(my).buffer());
        // `s + s` appends a copy of itself.
        let twice = heap.concat(s, s).expect("room");
        assert_eq!(heap.str(twice), "aé".repeat(400));
    }

    #[test]
    fn long_strings_are_equal_and_one_key_by_content() {
        let mut heap = Heap::new();
        let whole = heap.intern(&"ab".repeat(100));
        let by_twos = built(&mut heap, "ab", 100);
        let by_fours = built(&mut heap, "abab", 50);
        let other = built(&mut heap, "ba", 100);
        assert_ne!(whole, by_twos);
        assert!(heap.str_eq(whole, by_twos) && heap.str_eq(by_twos, by_fours) && heap.str_eq(by_fours, whole));
        assert!(!heap.str_eq(by_twos, other));
        let keys: Vec<Key> =
            [by_twos, by_fours, whole].iter().map(|&r| heap.key(Value::Str(r)).expect("a key")).collect();
        assert!(keys.iter().all(|&k| k == keys[0]), "{keys:?}");
        assert_eq!(heap.find_key(Value::Str(by_fours)), Some(keys[0]));
        // A string never used as a key is found as itself, and is no key.
        assert_eq!(heap.find_key(Value::Str(other)), Some(Key::Str(other)));
    }

    #[test]
    fn building_by_appending_is_linear() {
        let work = |n: usize| {
            let mut heap = Heap::new();
            built(&mut heap, "x", n);
            heap.concat_work()
        };
        let (small, large) = (work(10_000), work(100_000));
        // Ten times the length, about ten times the work (a quadratic
        // build would do a hundred times).
        assert!(large < 12 * small, "{small} then {large}");
    }

    /// Makes `n` three-item lists (two would live in their slots), none
    /// kept, collecting whenever the heap asks to as a script's loop would;
    /// returns the most bytes the pool of spare buffers held.
    fn churn_lists(heap: &mut Heap, n: usize, kept: Value) -> usize {
        let mut most = 0;
        for i in 0..n {
            heap.new_list_from(&[Value::Int(i as i64), Value::Nil, Value::Nil]);
            if heap.gc_due() {
                gc::collect(heap, [kept]);
                most = most.max(heap.pooled().0);
            }
        }
        gc::collect(heap, [kept]);
        most.max(heap.pooled().0)
    }

    /// Makes `n` three-field maps as a map literal does, collecting when
    /// due with `kept` as the root; gives the most the pool held.
    fn churn_maps(heap: &mut Heap, n: usize, kept: Value) -> usize {
        let names = ["x", "y", "name"].map(|name| heap.intern(name));
        let mut most = 0;
        for i in 0..n {
            let m = heap.new_empty_map(3);
            for name in names {
                heap.map_mut(m).insert(Key::Str(name), Value::Int(i as i64));
            }
            if heap.gc_due() {
                gc::collect(heap, [kept]);
                most = most.max(heap.pooled().0);
            }
        }
        gc::collect(heap, [kept]);
        most.max(heap.pooled().0)
    }

    #[test]
    fn a_map_with_holes_is_charged_before_it_grows() {
        let mut heap = Heap::with_limit(1 << 20);
        let m = heap.new_map(MapTable::default());
        let mut i = 0;
        while heap.map(m).capacity() < 16_384 || !heap.map(m).is_full() {
            heap.map_insert(m, Key::Int(i), Value::Nil).expect("under the limit");
            i += 1;
        }
        // The collection counts the table's room as held.
        gc::collect(&mut heap, [Value::Map(m)]);
        // A hole: fewer keys than room, but the room is taken.
        heap.map_mut(m).remove(&Key::Int(i / 2));
        assert!(heap.map(m).len() < heap.map(m).capacity());
        // The next key doubles the table past the limit: refused first.
        assert!(heap.map_insert(m, Key::Int(i), Value::Nil).is_err());
        assert_eq!(heap.map(m).capacity(), 16_384);
    }

    #[test]
    fn a_collection_takes_back_the_room_removals_left() {
        // Room a map kept as its keys were removed counts as held until a
        // collection trims it, at two sizes.
        for n in [10_000, 100_000] {
            let mut heap = Heap::new();
            let m = heap.new_map(MapTable::default());
            for i in 0..n {
                heap.map_insert(m, Key::Int(i), Value::Int(i)).expect("no limit");
            }
            gc::collect(&mut heap, [Value::Map(m)]);
            let full = heap.bytes;
            for i in 0..n - 10 {
                heap.map_mut(m).remove(&Key::Int(i));
            }
            assert!(heap.map(m).capacity() as i64 >= n, "removal kept the room");
            gc::collect(&mut heap, [Value::Map(m)]);
            assert!(heap.map(m).capacity() <= 64, "{} slots of room for 10 keys", heap.map(m).capacity());
            assert!(heap.bytes < full / 10, "{} bytes held, {full} when full", heap.bytes);
            for i in n - 10..n {
                assert!(heap.map_mut(m).remove(&Key::Int(i)).is_some());
            }
            gc::collect(&mut heap, [Value::Map(m)]);
            assert_eq!(heap.map(m).capacity(), 0);
        }
    }

    #[test]
    fn spare_map_tables_are_reused_and_bounded_whatever_the_garbage() {
        let most = |n| churn_maps(&mut Heap::new(), n, Value::Nil);
        let (small, large) = (most(200_000), most(1_000_000));
        assert!(small > 0, "freed small tables are kept for reuse");
        assert_eq!(small, large, "five times the garbage, the same spare tables");
        assert!(large <= POOL_FLOOR, "{large}");
        let mut heap = Heap::new();
        churn_maps(&mut heap, 5_000, Value::Nil);
        let (bytes, count) = heap.pooled();
        assert_eq!(count, 5_000);
        let m = heap.new_empty_map(3);
        assert!(heap.map(m).is_empty() && heap.map(m).capacity() == 3);
        assert_eq!(heap.pooled(), (bytes - pool::map_bytes(3), count - 1));
        // No spare table with room for 9: a new one, the pool unchanged.
        heap.new_empty_map(9);
        assert_eq!(heap.pooled().1, count - 1);
        // A table with an array part (int keys in place) has no entries'
        // room for a record to reuse: the pool does not keep it.
        let mut ints = MapTable::with_capacity(0);
        for i in 0..3 {
            ints.insert(Key::Int(i), Value::Int(i));
        }
        assert!(ints.capacity() > 0);
        heap.pool.give_map(Obj::Map(ints));
        assert_eq!(heap.pooled().1, count - 1);
    }

    #[test]
    fn short_list_literals_live_in_their_slots_until_changed() {
        let mut heap = Heap::new();
        let inner = heap.new_list_from(&[Value::Int(7)]);
        let pair = heap.new_list_from(&[Value::List(inner), Value::Int(2)]);
        assert!(matches!(heap.get(pair), Obj::SmallList { len: 2, .. }));
        assert_eq!(heap.list(inner).len(), 1);
        let empty = heap.new_list_from(&[]);
        assert_eq!(heap.list(empty).len(), 0);
        // What a slot holds is marked: the inner list lives on.
        gc::collect(&mut heap, [Value::List(pair)]);
        assert!(heap.holds(Value::List(inner)) && heap.list(inner)[0].as_f64() == Some(7.0));
        // Changed, it moves to a buffer and keeps its items and identity.
        heap.list_mut(pair).push(Value::Int(3));
        assert!(matches!(heap.get(pair), Obj::List(_)));
        let read: Vec<Option<f64>> = heap.list(pair)[1..].iter().map(|v| v.as_f64()).collect();
        assert_eq!(read, [Some(2.0), Some(3.0)]);
        assert!(matches!(heap.list(pair)[0], Value::List(r) if r == inner));
    }

    #[test]
    fn spare_list_buffers_are_bounded_whatever_the_garbage() {
        let most = |n| churn_lists(&mut Heap::new(), n, Value::Nil);
        let (small, large) = (most(300_000), most(1_500_000));
        assert!(small > 0, "freed buffers are kept for reuse");
        // Five times the garbage, the same spare buffers: the bound, set
        // by what is live, not by what was made.
        assert_eq!(small, large);
        assert!(large <= POOL_FLOOR, "{large}");
    }

    #[test]
    fn a_new_list_takes_a_spare_buffer_and_in_use_counts_them() {
        let mut heap = Heap::new();
        churn_lists(&mut heap, 5_000, Value::Nil);
        let (bytes, count) = heap.pooled();
        assert_eq!(count, 5_000);
        assert!(heap.in_use() >= bytes, "spare buffers count against the limit");
        let r = heap.new_list_from(&[Value::Int(1), Value::Int(2), Value::Int(3)]);
        assert_eq!(heap.pooled(), (bytes - pool::entry_bytes(3), count - 1));
        let read: Vec<Option<f64>> = heap.list(r).iter().map(|v| v.as_f64()).collect();
        assert_eq!(read, [Some(1.0), Some(2.0), Some(3.0)]);
        // No spare buffer of capacity 4: a new one, and the pool unchanged.
        heap.new_list_from(&[Value::Nil; 4]);
        assert_eq!(heap.pooled().1, count - 1);
    }

    #[test]
    fn spare_list_buffers_shrink_with_the_live_heap() {
        let mut heap = Heap::new();
        let n = if cfg!(miri) { 2_000 } else { 200_000 };
        let items: Vec<Value> =
            (0..n).map(|i| Value::List(heap.new_list_from(&[Value::Int(i), Value::Nil, Value::Nil]))).collect();
        let root = Value::List(heap.new_list(items));
        // As much garbage again while the big tree is live: a big pool.
        let while_live = churn_lists(&mut heap, n as usize, root);
        assert!(while_live <= heap.object_bytes(), "{while_live} above the live {}", heap.object_bytes());
        // Dropped: the next collection trims the pool to the bound of an
        // empty heap.
        gc::collect(&mut heap, []);
        let after = heap.pooled().0;
        assert!(after <= POOL_FLOOR, "{after}");
        if !cfg!(miri) {
            assert!(after < while_live, "{after} not below {while_live}");
        }
    }

    #[test]
    fn spare_list_buffers_never_take_the_heap_past_its_limit() {
        let limit = 6 << 20;
        let mut heap = Heap::with_limit(limit);
        let items: Vec<Value> =
            (0..40_000).map(|i| Value::List(heap.new_list_from(&[Value::Int(i), Value::Nil, Value::Nil]))).collect();
        let root = Value::List(heap.new_list(items));
        for _ in 0..5 {
            churn_lists(&mut heap, 50_000, root);
            assert!(heap.in_use() <= limit, "{} past {limit}", heap.in_use());
            assert!(!heap.over_limit());
            assert!(heap.pooled().0 <= (limit - heap.object_bytes()) / 2);
        }
    }

    #[test]
    fn short_and_long_strings_read_back() {
        let mut heap = Heap::new();
        for text in ["", "a", "héllo", "exactly twenty-two b!!", "twenty-three bytes long", &"ü".repeat(40)] {
            let r = heap.intern(text);
            assert_eq!(heap.str(r), text);
            assert_eq!(heap.str_obj(r).chars(), text.chars().count());
            assert_eq!(heap.str_obj(r).is_ascii(), text.is_ascii());
            assert_eq!(heap.intern(text), r, "interned once");
        }
    }
}
