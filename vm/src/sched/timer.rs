//! The clock and the deadline heap. Every sleep, `select` `after` case
//! and `timeout` deadline is one entry of one min-heap, as in Trio.
//!
//! A timer that is no longer wanted (its sleeper was woken another way,
//! its `timeout` block finished) is cancelled by key: it leaves the table
//! of live timers at once and its heap entry becomes stale. Stale entries
//! are dropped when they reach the top, and the whole heap is rebuilt when
//! they outnumber live ones by more than `SLACK`, so the heap holds at
//! most `2 * live + SLACK` entries whatever a loop does (pinned by
//! `tests/waits.rs`: `timeout_loop_keeps_no_timers`).

use super::{Slab, TaskId, Via};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::num::NonZeroU32;
use std::time::Instant;

/// Stale heap entries tolerated beyond the live count before a rebuild.
const SLACK: usize = 64;

/// What a timer does when it comes due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerKind {
    /// Wake a sleeping task (or a `select` through its `after` case).
    Wake { task: TaskId, token: u64, via: Via },
    /// Cancel a `timeout` scope.
    Deadline { scope: u32 },
}

/// Names a timer, to cancel it. The serial's low bits tell a reused slot
/// apart: a key is held only while its timer is pending (whoever holds it
/// gives it up when the timer fires or is cancelled), so it never meets a
/// slot reused four billion times over. They are never zero (see
/// [`low_bits`]), so an `Option<TimerKey>` takes eight bytes, as a key
/// does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerKey {
    slot: u32,
    serial: NonZeroU32,
}

/// A serial's low 32 bits, with `u32::MAX` standing in for zero.
fn low_bits(serial: u64) -> NonZeroU32 {
    NonZeroU32::new(serial as u32).unwrap_or(NonZeroU32::MAX)
}

struct Live {
    serial: u64,
    kind: TimerKind,
}

/// The deadline heap with its table of live timers.
#[derive(Default)]
pub struct Timers {
    /// `(due time in nanoseconds, serial, slot)`: earliest first, and in
    /// order of creation among equal times.
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
    live: Slab<Live>,
    serial: u64,
}

impl Timers {
    /// Adds a timer due at `at` nanoseconds on the scheduler clock.
    pub fn add(&mut self, at: u64, kind: TimerKind) -> TimerKey {
        self.serial += 1;
        let serial = self.serial;
        let slot = self.live.insert(Live { serial, kind });
        self.heap.push(Reverse((at, serial, slot)));
        TimerKey { slot, serial: low_bits(serial) }
    }

    /// Cancels a timer; a timer that already fired or was cancelled is
    /// left alone.
    pub fn cancel(&mut self, key: TimerKey) {
        if self.live.get(key.slot).is_some_and(|t| low_bits(t.serial) == key.serial) {
            self.live.remove(key.slot);
            if self.heap.len() > 2 * self.live.len() + SLACK {
                let live = &self.live;
                self.heap.retain(|Reverse((_, serial, slot))| live.get(*slot).is_some_and(|t| t.serial == *serial));
            }
        }
    }

    fn is_live(&self, serial: u64, slot: u32) -> bool {
        self.live.get(slot).is_some_and(|t| t.serial == serial)
    }

    /// When the earliest live timer is due, if any.
    pub fn next_due(&mut self) -> Option<u64> {
        while let Some(&Reverse((at, serial, slot))) = self.heap.peek() {
            if self.is_live(serial, slot) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Removes and returns the earliest live timer due by `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<TimerKind> {
        while let Some(&Reverse((at, serial, slot))) = self.heap.peek() {
            if !self.is_live(serial, slot) {
                self.heap.pop();
                continue;
            }
            if at > now {
                return None;
            }
            self.heap.pop();
            return self.live.remove(slot).map(|t| t.kind);
        }
        None
    }

    /// Whether no timer is pending, live or stale (cheap: no clock read
    /// is needed then).
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Live timers.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Heap entries, live and stale.
    pub fn entries(&self) -> usize {
        self.heap.len()
    }

    /// Bytes held, for the heap limit.
    pub fn bytes(&self) -> usize {
        self.heap.capacity() * std::mem::size_of::<(u64, u64, u32)>()
            + self.live.capacity() * std::mem::size_of::<Option<Live>>()
    }
}

/// Real or virtual time, in nanoseconds since the scheduler started.
pub struct Clock {
    pub virtual_time: bool,
    now_virtual: u64,
    start: Instant,
}

impl Clock {
    pub fn new(virtual_time: bool) -> Clock {
        Clock { virtual_time, now_virtual: 0, start: Instant::now() }
    }

    pub fn nanos(&self) -> u64 {
        if self.virtual_time {
            self.now_virtual
        } else {
            self.start.elapsed().as_nanos() as u64
        }
    }

    /// Seconds since the start.
    pub fn now(&self) -> f64 {
        self.nanos() as f64 / 1e9
    }

    /// Moves virtual time forward to `at` (never back).
    pub fn jump_to(&mut self, at: u64) {
        self.now_virtual = self.now_virtual.max(at);
    }
}

/// Nanoseconds from now for a delay in seconds: negative and nan are
/// zero, infinity is as far as the clock goes.
pub fn delay_nanos(seconds: f64) -> u64 {
    if seconds.is_finite() && seconds > 0.0 {
        (seconds * 1e9).min(1e18) as u64
    } else if seconds > 0.0 {
        u64::MAX / 2
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wake(task: u32) -> TimerKind {
        TimerKind::Wake { task, token: 0, via: Via::Call }
    }

    #[test]
    fn fires_in_time_order_then_creation_order() {
        let mut t = Timers::default();
        t.add(20, wake(1));
        t.add(10, wake(2));
        t.add(10, wake(3));
        assert_eq!(t.pop_due(15), Some(wake(2)));
        assert_eq!(t.pop_due(15), Some(wake(3)));
        assert_eq!(t.pop_due(15), None);
        assert_eq!(t.next_due(), Some(20));
    }

    #[test]
    fn cancelled_timers_never_fire_and_the_heap_stays_bounded() {
        let mut t = Timers::default();
        let keep = t.add(5, wake(0));
        for i in 0..if cfg!(miri) { 1_000 } else { 100_000 } {
            let key = t.add(1_000_000 + i, wake(1));
            t.cancel(key);
            t.cancel(key); // twice is harmless
        }
        assert_eq!(t.len(), 1);
        assert!(t.entries() <= 2 + SLACK, "{} entries for one live timer", t.entries());
        assert_eq!(t.pop_due(u64::MAX / 4), Some(wake(0)));
        assert_eq!(t.pop_due(u64::MAX / 4), None);
        t.cancel(keep); // already fired
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn a_reused_slot_is_not_cancelled_by_an_old_key() {
        let mut t = Timers::default();
        let old = t.add(1, wake(1));
        t.cancel(old);
        let new = t.add(2, wake(2));
        t.cancel(old);
        assert_eq!(t.next_due(), Some(2));
        t.cancel(new);
        assert_eq!(t.next_due(), None);
    }
}
