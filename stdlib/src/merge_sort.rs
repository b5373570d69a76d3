//! A stable merge sort that compares nothing itself: it asks its caller
//! about each pair, so the caller may compare by any means, one that can
//! fail included (`<` on keys of two types raises a TypeError), and stop
//! at the first pair it cannot answer. Its comparisons, and their order,
//! are those of the prelude's `sort_by`, so `sort_by_key` compares keys
//! exactly as `sort_by` with `fn(a, b) => a < b` would, `sort_by` may
//! sort natively what the prelude would sort, and an inconsistent order
//! still ends with every item in place.
//!
//! Both make the merges of a bottom-up merge sort: runs of one item
//! merged in pairs, then runs of two, four, ... Runs of one and two are
//! merged pass by pass along the list; runs of four and longer in the
//! order a top-down sort merges them, each as soon as its two halves are
//! sorted, so that a merge reads items sorted a moment before and still
//! in the caches.

/// Runs narrower than this are merged pass by pass, wider ones depth
/// first, a block of twice this many items at a time.
const DEPTH_FIRST_WIDTH: usize = 4;

/// Where a sort stands: the merge under way and its run width, and how
/// far the depth-first merges have come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MergeSort {
    n: usize,
    width: usize,
    /// The end of the last block of `2 * DEPTH_FIRST_WIDTH` items begun.
    /// A depth-first merge ends here, or at `n` once this is past it.
    block_end: usize,
    mid: usize,
    hi: usize,
    /// The next item of the left run, of the right run, and the next
    /// place in the output.
    i: usize,
    j: usize,
    k: usize,
    merging: bool,
}

impl MergeSort {
    /// A sort of `n` items, which both buffers hold when it starts.
    pub fn new(n: usize) -> MergeSort {
        let mut sort = MergeSort { n, width: 1, block_end: 0, mid: 0, hi: 0, i: 0, j: 0, k: 0, merging: false };
        if n > 1 {
            sort.start_merge(0);
        }
        sort
    }

    /// Runs until a comparison is needed, and returns the two items
    /// `(b, a)`: is `b` strictly before `a`? The merge under way then
    /// stands at them (`i`, `j`). `None` when the sort is done.
    fn next_pair<T: Copy>(&mut self, one: &mut [T], two: &mut [T]) -> Option<(T, T)> {
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
                if self.width < DEPTH_FIRST_WIDTH {
                    // Pass by pass: the next run along, or the next pass.
                    if self.hi < self.n {
                        self.start_merge(self.hi);
                        continue;
                    }
                    self.width *= 2;
                    if self.width < DEPTH_FIRST_WIDTH.min(self.n) {
                        self.start_merge(0);
                        continue;
                    }
                } else {
                    // The run twice as wide, if it ends at this block; once
                    // the blocks are past the end, the last run of each width.
                    self.width *= 2;
                    let run = 2 * self.width;
                    if self.width < self.n && (self.block_end >= self.n || self.block_end.is_multiple_of(run)) {
                        self.start_merge((self.hi - 1) / run * run);
                        continue;
                    }
                }
            }
            // The next block, from runs of `DEPTH_FIRST_WIDTH`.
            if self.block_end >= self.n || DEPTH_FIRST_WIDTH >= self.n {
                return None;
            }
            self.width = DEPTH_FIRST_WIDTH;
            self.block_end += 2 * DEPTH_FIRST_WIDTH;
            self.start_merge(self.block_end - 2 * DEPTH_FIRST_WIDTH);
        }
    }

    /// Starts merging the run of `2 * width` items from `lo`, cut short
    /// at `n`.
    fn start_merge(&mut self, lo: usize) {
        self.mid = (lo + self.width).min(self.n);
        self.hi = (lo + 2 * self.width).min(self.n);
        (self.i, self.j, self.k) = (lo, self.mid, lo);
        self.merging = true;
    }

    /// Runs the sort to its end, asking `b_first(b, a)` for each
    /// comparison: is `b` strictly before `a`? When it is not, the left
    /// item goes first, which keeps equal items in order. `one` and `two`
    /// are the buffers, each `n` long, both holding the items at the
    /// start; [`into_sorted`](MergeSort::into_sorted) gives the one
    /// sorted at the end. False, the sort left where it stands, at the
    /// first comparison `b_first` does not answer.
    pub fn run<T: Copy>(
        &mut self,
        one: &mut [T],
        two: &mut [T],
        mut b_first: impl FnMut(T, T) -> Option<bool>,
    ) -> bool {
        while self.next_pair(one, two).is_some() {
            let (mid, hi) = (self.mid, self.hi);
            let (mut i, mut j, mut k) = (self.i, self.j, self.k);
            let (src, dst) = self.buffers(one, two);
            while i < mid && j < hi {
                let Some(first) = b_first(src[j], src[i]) else {
                    (self.i, self.j, self.k) = (i, j, k);
                    return false;
                };
                if first {
                    dst[k] = src[j];
                    j += 1;
                } else {
                    dst[k] = src[i];
                    i += 1;
                }
                k += 1;
            }
            (self.i, self.j, self.k) = (i, j, k);
        }
        true
    }

    /// The buffer that holds the items sorted, once
    /// [`run`](MergeSort::run) has run to the end: the input a merge of the
    /// next width would read.
    pub fn into_sorted<T>(self, one: Vec<T>, two: Vec<T>) -> Vec<T> {
        if self.reads_two() {
            two
        } else {
            one
        }
    }

    /// The merge's input and output.
    fn buffers<'a, T>(&self, one: &'a mut [T], two: &'a mut [T]) -> (&'a mut [T], &'a mut [T]) {
        if self.reads_two() {
            (two, one)
        } else {
            (one, two)
        }
    }

    /// Runs of one are read from the first buffer and merged into the
    /// second, runs of two from the second into the first, and so on.
    fn reads_two(&self) -> bool {
        self.width.trailing_zeros() % 2 == 1
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
        assert!(m.run(&mut one, &mut two, |b, a| {
            asked += 1;
            Some(less(b.0, a.0))
        }));
        (m.into_sorted(one, two), asked)
    }

    #[test]
    fn stops_at_a_comparison_not_answered() {
        for n in [2, 3, 5, 8, 9, 31, 64, 100, 257, 1000] {
            let items: Vec<(i32, usize)> = (0..n).map(|i| (((i * 7919) % 13) as i32, i)).collect();
            let (_, asked) = sort(&items, |a, b| a < b);
            let (mut one, mut two) = (items.clone(), items.clone());
            let mut m = MergeSort::new(n);
            let mut answers = asked - 1;
            let mut last = None;
            let finished = m.run(&mut one, &mut two, |b, a| {
                last = Some((b, a));
                answers = answers.checked_sub(1)?;
                Some(b.0 < a.0)
            });
            assert!(!finished, "n = {n}");
            // The last comparison was asked and not answered.
            assert!(last.is_some() && answers == 0, "n = {n}");
        }
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

    /// The merges of a bottom-up merge sort, as a sort would make them
    /// that merged runs of one and two pass by pass, then made the rest
    /// top-down: the run of `2^level` items from `lo` is its two halves
    /// sorted, then merged from `bufs[(level - 1) % 2]` into
    /// `bufs[level % 2]`. Returns the pairs compared, as item positions
    /// `(b, a)`.
    fn reference(items: &[(i32, usize)]) -> Vec<(usize, usize)> {
        fn merge(bufs: &mut [Vec<(i32, usize)>; 2], lo: usize, level: u32, asked: &mut Vec<(usize, usize)>) {
            let n = bufs[0].len();
            let width = 1 << (level - 1);
            let src = bufs[(level as usize - 1) % 2].clone();
            let dst = &mut bufs[level as usize % 2];
            let (mid, hi) = ((lo + width).min(n), (lo + 2 * width).min(n));
            let (mut i, mut j) = (lo, mid);
            for slot in &mut dst[lo..hi] {
                let right = j < hi
                    && (i == mid || {
                        asked.push((src[j].1, src[i].1));
                        src[j].0 < src[i].0
                    });
                *slot = if right { src[j] } else { src[i] };
                (i, j) = if right { (i, j + 1) } else { (i + 1, j) };
            }
        }
        fn sort(bufs: &mut [Vec<(i32, usize)>; 2], lo: usize, level: u32, asked: &mut Vec<(usize, usize)>) {
            if level <= 2 || lo >= bufs[0].len() {
                return;
            }
            let width = 1 << (level - 1);
            sort(bufs, lo, level - 1, asked);
            sort(bufs, lo + width, level - 1, asked);
            merge(bufs, lo, level, asked);
        }
        let n = items.len();
        let mut bufs = [items.to_vec(), items.to_vec()];
        let levels = n.next_power_of_two().trailing_zeros();
        let mut asked = Vec::new();
        for level in 1..=levels.min(2) {
            for lo in (0..n).step_by(1 << level) {
                merge(&mut bufs, lo, level, &mut asked);
            }
        }
        sort(&mut bufs, 0, levels, &mut asked);
        asked
    }

    #[test]
    fn compares_in_the_reference_order() {
        for n in (0..70).chain([255, 256, 257, 1000]) {
            let items: Vec<(i32, usize)> = (0..n).map(|i| (((i * 7919) % 13) as i32, i)).collect();
            let (mut one, mut two) = (items.clone(), items.clone());
            let mut m = MergeSort::new(n);
            let mut asked = Vec::new();
            assert!(m.run(&mut one, &mut two, |b, a| {
                asked.push((b.1, a.1));
                Some(b.0 < a.0)
            }));
            assert_eq!(asked, reference(&items), "n = {n}");
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
