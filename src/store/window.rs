//! The sliding-window arithmetic every store shares (the Lua scripts implement the same).
//!
//! A window of length `W` is cut into [`SUB_BUCKETS`] buckets of width `w = ceil(W / B)`. The
//! count of a window is the sum of every bucket that overlaps `[now - W, now]`, *including the
//! partly expired oldest one, counted in full*. So the count is never below the true number of
//! admitted events in any window of length `W` ending now, and admitting only while
//! `count < limit` never lets more than `limit` events into any window. The price: a sender may
//! be refused up to one bucket width (a tenth of the window) before the exact answer would let
//! them send. Memory is at most `B + 1` (bucket, count) pairs, whatever the limit.

/// Buckets per window: the edge of a window is at most `W / SUB_BUCKETS` early.
pub const SUB_BUCKETS: u64 = 10;

/// Width of one bucket of a window of `window_ms`.
pub fn bucket_width(window_ms: u64) -> u64 {
    window_ms.div_ceil(SUB_BUCKETS).max(1)
}

/// Whether an event at `at_ms` still counts in a window of `window_ms` at `now_ms`: its bucket
/// overlaps the window (the oldest bucket counts in full).
pub fn counts(at_ms: u64, now_ms: u64, window_ms: u64) -> bool {
    let width = bucket_width(window_ms);
    at_ms / width >= (now_ms / width).saturating_sub(SUB_BUCKETS)
}

/// Counts events in sub-buckets; a few pairs of memory, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlidingCounter {
    buckets: Vec<(u64, u32)>,
}

impl SlidingCounter {
    /// Drops buckets that no longer overlap the window and returns the count.
    pub fn count(&mut self, now_ms: u64, window_ms: u64) -> u64 {
        let width = bucket_width(window_ms);
        let oldest_counted = (now_ms / width).saturating_sub(SUB_BUCKETS);
        self.buckets.retain(|&(index, _)| index >= oldest_counted);
        self.buckets.iter().map(|&(_, n)| u64::from(n)).sum()
    }

    /// Milliseconds until the count drops below `limit` (0 if it already is).
    /// Call right after [`count`](Self::count) with the same `now_ms`.
    pub fn retry_after(&self, now_ms: u64, window_ms: u64, limit: u64) -> u64 {
        let width = bucket_width(window_ms);
        let mut remaining: u64 = self.buckets.iter().map(|&(_, n)| u64::from(n)).sum();
        for &(index, n) in &self.buckets {
            if remaining < limit {
                break;
            }
            remaining -= u64::from(n);
            if remaining < limit {
                // Bucket `index` stops counting once the current bucket is `index + B + 1`.
                return ((index + SUB_BUCKETS + 1) * width).saturating_sub(now_ms);
            }
        }
        0
    }

    /// Records `n` events at `at_ms` (usually now; a restored earlier time goes in its place).
    pub fn add(&mut self, at_ms: u64, window_ms: u64, n: u32) {
        let index = at_ms / bucket_width(window_ms);
        match self.buckets.iter().rposition(|&(i, _)| i <= index) {
            Some(p) if self.buckets[p].0 == index => {
                self.buckets[p].1 = self.buckets[p].1.saturating_add(n);
            }
            Some(p) => self.buckets.insert(p + 1, (index, n)),
            None => self.buckets.insert(0, (index, n)),
        }
    }

    /// Takes back `n` events recorded at `at_ms` (a reservation released).
    pub fn remove(&mut self, at_ms: u64, window_ms: u64, n: u32) {
        let index = at_ms / bucket_width(window_ms);
        if let Some(position) = self.buckets.iter().position(|&(i, _)| i == index) {
            let count = &mut self.buckets[position].1;
            *count = count.saturating_sub(n);
            if *count == 0 {
                self.buckets.remove(position);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u64 = 10_000;

    /// Admits at `now` if the count is below `limit`, like every store does.
    fn try_admit(counter: &mut SlidingCounter, now: u64, limit: u64) -> bool {
        let admitted = counter.count(now, W) < limit;
        if admitted {
            counter.add(now, W, 1);
        }
        admitted
    }

    #[test]
    fn admits_exactly_the_limit_then_refuses() {
        let mut counter = SlidingCounter::default();
        let admitted = (0..40)
            .filter(|i| try_admit(&mut counter, 1_000_000 + i * 10, 30))
            .count();
        assert_eq!(admitted, 30);
    }

    #[test]
    fn never_admits_more_than_the_limit_in_any_window() {
        // A steady sender probing every 137 ms for a minute: check every window of length W.
        let mut counter = SlidingCounter::default();
        let mut admitted_at = Vec::new();
        let start = 5_000_003;
        for i in 0..440 {
            let now = start + i * 137;
            if try_admit(&mut counter, now, 7) {
                admitted_at.push(now);
            }
        }
        for &t in &admitted_at {
            let in_window = admitted_at
                .iter()
                .filter(|&&u| u > t.saturating_sub(W) && u <= t)
                .count();
            assert!(
                in_window <= 7,
                "{in_window} admitted in the window ending {t}"
            );
        }
        // ... and it is not far below the exact rate: at least 7 per 1.1 W.
        assert!(
            admitted_at.len() >= 7 * 5,
            "only {} admitted",
            admitted_at.len()
        );
    }

    #[test]
    fn retry_after_is_when_the_oldest_bucket_leaves() {
        let mut counter = SlidingCounter::default();
        let now = 1_000_000; // bucket index 1000 of width 1000
        for _ in 0..3 {
            counter.add(now, W, 1);
        }
        assert_eq!(counter.count(now + 500, W), 3);
        // Bucket 1000 counts until the current bucket is 1011, i.e. t = 1_011_000.
        assert_eq!(counter.retry_after(now + 500, W, 3), 1_011_000 - 1_000_500);
        assert_eq!(counter.count(1_010_999, W), 3);
        assert_eq!(counter.count(1_011_000, W), 0);
        assert_eq!(counter.retry_after(now, W, 5), 0);
    }

    #[test]
    fn memory_does_not_grow_with_the_limit() {
        let mut counter = SlidingCounter::default();
        for i in 0..100_000u64 {
            counter.count(i * 7, W);
            counter.add(i * 7, W, 1);
        }
        assert!(counter.buckets.len() <= SUB_BUCKETS as usize + 1);
    }

    #[test]
    fn a_released_event_is_taken_back() {
        let mut counter = SlidingCounter::default();
        counter.add(42_000, W, 1);
        counter.add(43_500, W, 1);
        counter.remove(42_000, W, 1);
        assert_eq!(counter.count(43_500, W), 1);
        counter.remove(43_500, W, 1);
        assert!(counter.is_empty());
    }
}
