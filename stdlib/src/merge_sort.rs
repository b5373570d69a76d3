//! A stable merge sort that stops at every comparison: it never compares
//! anything itself, but says which two items it needs compared and takes
//! the answer, so the caller may compare by any means, one that can fail
//! included (`<` on keys of two types raises a TypeError), and stop at the
//! first error. Its comparisons, and their order, are those of the
//! bottom-up merge sort of the prelude's `sort_by`, so `sort_by_key`
//! compares keys exactly as `sort_by` with `fn(a, b) => a < b` would, and
//! an inconsistent order still ends with every item in place.

/// Where a sort stands: the run width of the current pass, the merge of
/// two runs under way, and which buffer holds the pass's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MergeSort {
    n: usize,
    width: usize,
    lo: usize,
    mid: usize,
    hi: usize,
    /// The next item of the left run, of the right run, and the next
    /// place in the output.
    i: usize,
    j: usize,
    k: usize,
    /// The pass reads from the second buffer and writes to the first.
    flipped: bool,
    merging: bool,
}

impl MergeSort {
    /// A sort of `n` items, which both buffers hold when it starts.
    pub fn new(n: usize) -> MergeSort {
        MergeSort { n, width: 1, lo: 0, mid: 0, hi: 0, i: 0, j: 0, k: 0, flipped: false, merging: false }
    }

    /// Runs until a comparison is needed, and returns the two items
    /// `(b, a)`: is `b` strictly before `a`? Answer with
    /// [`answer`](MergeSort::answer). `None` when the sort is done (see
    /// [`sorted`](MergeSort::sorted)). `one` and `two` are the buffers,
    /// each `n` long.
    pub fn next_pair<T: Copy>(&mut self, one: &mut [T], two: &mut [T]) -> Option<(T, T)> {
        loop {
            if self.merging {
                let (src, dst) = self.buffers(one, two);
                if self.i < self.mid && self.j < self.hi {
                    return Some((src[self.j], src[self.i]));
                }
                // One run is used up: the rest of the other follows as it is.
                let rest_left = self.mid - self.i;
                dst[self.k..self.k + rest_left].copy_from_slice(&src[self.i..self.mid]);
                self.k += rest_left;
                dst[self.k..self.hi].copy_from_slice(&src[self.j..self.hi]);
                self.merging = false;
                self.lo = self.hi;
                if self.lo >= self.n {
                    self.flipped = !self.flipped;
                    self.width *= 2;
                    self.lo = 0;
                }
                continue;
            }
            if self.width >= self.n {
                return None;
            }
            self.mid = (self.lo + self.width).min(self.n);
            self.hi = (self.mid + self.width).min(self.n);
            (self.i, self.j, self.k) = (self.lo, self.mid, self.lo);
            self.merging = true;
        }
    }

    /// Takes the answer to the last [`next_pair`](MergeSort::next_pair):
    /// `b_first` when `b` goes strictly before `a`. Otherwise the left
    /// item goes first, which keeps equal items in order.
    pub fn answer<T: Copy>(&mut self, b_first: bool, one: &mut [T], two: &mut [T]) {
        let (i, j, k) = (self.i, self.j, self.k);
        let (src, dst) = self.buffers(one, two);
        if b_first {
            dst[k] = src[j];
            self.j += 1;
        } else {
            dst[k] = src[i];
            self.i += 1;
        }
        self.k += 1;
    }

    /// The sorted items, once [`next_pair`](MergeSort::next_pair) has
    /// returned `None`.
    pub fn sorted<'a, T>(&self, one: &'a [T], two: &'a [T]) -> &'a [T] {
        if self.flipped {
            two
        } else {
            one
        }
    }

    /// The pass's input and output.
    fn buffers<'a, T>(&self, one: &'a mut [T], two: &'a mut [T]) -> (&'a mut [T], &'a mut [T]) {
        if self.flipped {
            (two, one)
        } else {
            (one, two)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sorts `items` by `less`, counting the comparisons.
    fn sort(items: &[(i32, usize)], less: impl Fn(i32, i32) -> bool) -> (Vec<(i32, usize)>, usize) {
        let (mut one, mut two) = (items.to_vec(), items.to_vec());
        let mut m = MergeSort::new(items.len());
        let mut asked = 0;
        while let Some((b, a)) = m.next_pair(&mut one, &mut two) {
            asked += 1;
            m.answer(less(b.0, a.0), &mut one, &mut two);
        }
        (m.sorted(&one, &two).to_vec(), asked)
    }

    #[test]
    fn sorts_stably_at_every_length() {
        let mut seed = 7u64;
        for n in 0..70 {
            let items: Vec<(i32, usize)> = (0..n)
                .map(|i| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (((seed >> 33) % 5) as i32, i)
                })
                .collect();
            let mut expected = items.clone();
            expected.sort_by_key(|p| p.0);
            let (got, asked) = sort(&items, |a, b| a < b);
            assert_eq!(got, expected, "n = {n}");
            // A merge sort's bound: n * ceil(log2 n) comparisons at most.
            let log = usize::BITS - n.saturating_sub(1).leading_zeros();
            assert!(asked <= n * log as usize, "n = {n}: {asked} comparisons");
        }
    }

    #[test]
    fn an_inconsistent_comparator_still_ends_with_every_item() {
        let items: Vec<(i32, usize)> = (0..50).map(|i| (i % 7, i as usize)).collect();
        let (got, _) = sort(&items, |_, _| true);
        let mut seen: Vec<usize> = got.iter().map(|p| p.1).collect();
        seen.sort();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
    }
}
