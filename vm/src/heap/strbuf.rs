//! Long strings that grow by appending, and the read-only view every
//! string gives its readers.
//!
//! A string `a + b` at least [`LONG_STR`] bytes long is not interned: its
//! text lives in a [`StrBuf`], a growable buffer (its own heap object) that
//! several strings share, each viewing a prefix of it. When `a` ends where
//! its buffer ends, `a + b` appends `b` to the buffer (amortised O(1) per
//! byte, the capacity doubling) and makes a new string viewing the longer
//! prefix: Go's `append` on slices, applied to immutable strings. Bytes
//! below a string's length are never changed, so `a` still reads as it
//! did; a string that does not end at its buffer's end is copied instead.
//! So `s += piece` in a loop is linear overall.
//!
//! This file never interns, hashes or compares strings: the heap does
//! that (see `Heap::str_eq` and `Heap::key`).

/// Strings made by `+` this long or longer are views of a [`StrBuf`]. Below
/// it they are interned, so that `==` on them stays a compare of refs.
/// Measured on bench/strings_maps: interning pays for itself only on short
/// keys, and 64 bytes keeps every key and name of a usual script interned.
pub const LONG_STR: usize = 64;

/// How many characters apart the marks of non-ASCII text are: finding a
/// character walks at most this many.
pub(crate) const MARK_EVERY: usize = 64;

/// The growable text of long strings, shared by the strings viewing it.
pub struct StrBuf {
    pub(crate) text: String,
    /// `marks[k]` is the byte offset of character `k * MARK_EVERY`,
    /// extended as text is appended.
    pub(crate) marks: Vec<u32>,
    /// The length of `text` in characters.
    pub(crate) chars: u32,
}

impl StrBuf {
    /// A buffer holding `text`, with room for `capacity` bytes.
    pub(crate) fn new(text: &str, chars: usize, capacity: usize) -> StrBuf {
        let mut buf = StrBuf { text: String::with_capacity(capacity.max(text.len())), marks: Vec::new(), chars: 0 };
        buf.push(text, chars);
        buf
    }

    /// Appends `piece`, `chars` characters long, and marks its characters.
    pub(crate) fn push(&mut self, piece: &str, chars: usize) {
        let base = self.text.len();
        let first = self.chars as usize;
        if chars == piece.len() {
            // ASCII: character `i` of the piece is at byte `i`.
            let mut next = first.next_multiple_of(MARK_EVERY);
            while next < first + chars {
                self.marks.push((base + next - first) as u32);
                next += MARK_EVERY;
            }
        } else {
            let skip = (MARK_EVERY - first % MARK_EVERY) % MARK_EVERY;
            for (at, _) in piece.char_indices().skip(skip).step_by(MARK_EVERY) {
                self.marks.push((base + at) as u32);
            }
        }
        self.text.push_str(piece);
        self.chars += chars as u32;
    }

    /// What the buffer costs, as the heap counts it.
    pub(crate) fn bytes(&self) -> usize {
        self.text.capacity() + 4 * self.marks.capacity()
    }
}

/// A string as its readers see it: its text, and what finds its `i`th
/// character without a walk from the start.
#[derive(Clone, Copy)]
pub struct StrView<'a> {
    text: &'a str,
    /// The length in characters, when known.
    chars: Option<usize>,
    /// The byte offset of every `MARK_EVERY`th character, or empty.
    marks: &'a [u32],
}

impl<'a> StrView<'a> {
    pub(crate) fn new(text: &'a str, chars: Option<usize>, marks: &'a [u32]) -> StrView<'a> {
        StrView { text, chars, marks }
    }

    /// The text.
    #[inline]
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Length in characters; equal to the byte length for ASCII text.
    pub fn chars(&self) -> usize {
        self.chars.unwrap_or_else(|| self.text.chars().count())
    }

    /// Whether the text is all ASCII.
    pub fn is_ascii(&self) -> bool {
        match self.chars {
            Some(chars) => chars == self.text.len(),
            None => self.text.is_ascii(),
        }
    }

    /// The byte offset of character `i` (the length for `i` at the end):
    /// O(1) for ASCII, a walk of at most `MARK_EVERY` characters for
    /// marked text.
    pub fn byte_offset(&self, i: usize) -> usize {
        let text = self.text;
        if self.is_ascii() {
            return i.min(text.len());
        }
        let (from, skip) = match self.marks {
            [] => (0, i),
            marks => {
                let k = (i / MARK_EVERY).min(marks.len() - 1);
                (marks[k] as usize, i - k * MARK_EVERY)
            }
        };
        text[from..].char_indices().nth(skip).map_or(text.len(), |(at, _)| from + at)
    }

    /// The index of the character starting at byte `at`, or of the one
    /// `at` falls in.
    pub fn char_index(&self, at: usize) -> usize {
        if self.is_ascii() {
            return at;
        }
        match self.marks {
            [] => self.text[..at].chars().count(),
            marks => {
                let k = marks.partition_point(|&m| m as usize <= at) - 1;
                let from = marks[k] as usize;
                k * MARK_EVERY + self.text[from..at].chars().count()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_made_by_appending_match_marks_made_at_once() {
        let pieces = ["ab", "é", "😀x", &"y".repeat(70), "ü", &"€".repeat(130), "z"];
        let mut grown = StrBuf::new("", 0, 0);
        let mut whole = String::new();
        for piece in pieces {
            grown.push(piece, piece.chars().count());
            whole.push_str(piece);
            let at_once: Vec<u32> = whole.char_indices().step_by(MARK_EVERY).map(|(at, _)| at as u32).collect();
            assert_eq!(grown.marks, at_once, "after {piece:?}");
            assert_eq!(grown.chars as usize, whole.chars().count());
        }
    }
}
