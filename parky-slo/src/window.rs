//! Windowed good/total request counters with bounded memory.
//!
//! A [`WindowedCounter`] keeps a ring of time buckets at a fixed resolution (default one
//! minute) covering a horizon (the SLO period, or the longest alert window if longer). Bucket
//! `b` holds the requests with `b × resolution ≤ timestamp_ms < (b + 1) × resolution`.
//!
//! * **Hot path.** The bucket being filled (the *open* bucket) lives in two `u64` registers
//!   with its `[start, end)` bounds cached, so recording an event in it is two comparisons and
//!   two additions: no division, no allocation.
//! * **Closing.** When time reaches the open bucket's end it is *closed*: written to the ring,
//!   and the running sum of every registered window is updated (the closed bucket enters, the
//!   bucket that falls out of the window leaves). Window sums cover closed buckets only: after
//!   closing up to boundary `t`, a window of `k` buckets sums the buckets in `[t − k × r, t)`.
//! * **Late events** (older than the open bucket but within the horizon) are added to their
//!   closed bucket and to the running sums of the windows that contain it, and counted as
//!   [`WindowedCounter::late`]: whoever evaluated the windows when that bucket closed did not
//!   see them. Events older than the horizon, or outside the years 0000–9999, are counted as
//!   [`WindowedCounter::dropped`].
//! * **Memory.** Closed buckets are stored as two `u32` counts (8 bytes a bucket). Counts
//!   stay exact beyond `u32`: the first bucket that overflows allocates a side table holding
//!   the high 32 bits of every slot (8 more bytes a bucket), freed again once no bucket in the
//!   horizon needs it. A 30-day horizon at one-minute resolution is 43 200 buckets: 345 600
//!   bytes of ring, 691 200 bytes in the worst case (over 4.29 billion requests in a single
//!   minute), plus a few hundred bytes, whatever the traffic (see
//!   [`WindowedCounter::memory_bytes`]).
//! * **Gaps** longer than the horizon reset the ring at once instead of closing every empty
//!   bucket; an empty counter jumps over any gap in O(1).

use std::time::Duration;

use serde::Serialize;

use crate::error::SloError;
use crate::objective::{duration_label, MAX_PERIOD};

/// The default bucket resolution: one minute.
pub const DEFAULT_RESOLUTION: Duration = Duration::from_secs(60);
/// The most buckets a counter may hold (2²⁴ ≈ 16.8 M, 128 MiB of ring); e.g. one year at
/// two-second resolution.
pub const MAX_BUCKETS: u64 = 1 << 24;
/// The earliest accepted timestamp: 0000-01-01T00:00:00Z, in milliseconds since the epoch.
pub const MIN_TIMESTAMP_MS: i64 = -62_167_219_200_000;
/// The latest accepted timestamp: 9999-12-31T23:59:59.999Z, in milliseconds since the epoch.
/// Both bounds keep every bucket boundary printable as an RFC 3339 timestamp.
pub const MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999;

/// Good and total request counts. `bad = total − good`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Counts {
    /// Requests that counted as good.
    pub good: u64,
    /// All requests.
    pub total: u64,
}

impl Counts {
    /// Requests that counted as bad (`total − good`, never negative).
    pub fn bad(&self) -> u64 {
        self.total.saturating_sub(self.good)
    }

    /// The share of bad requests, `None` with zero traffic.
    pub fn error_ratio(&self) -> Option<f64> {
        (self.total > 0).then(|| self.bad() as f64 / self.total as f64)
    }

    fn wrapping_add(self, other: Counts) -> Counts {
        Counts {
            good: self.good.wrapping_add(other.good),
            total: self.total.wrapping_add(other.total),
        }
    }

    fn wrapping_sub(self, other: Counts) -> Counts {
        Counts {
            good: self.good.wrapping_sub(other.good),
            total: self.total.wrapping_sub(other.total),
        }
    }
}

/// The low 32 bits of a closed bucket's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct BucketLow {
    good: u32,
    total: u32,
}

/// The high 32 bits of a closed bucket's counts, for the rare bucket that overflows `u32`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct BucketHigh {
    good: u32,
    total: u32,
}

/// A running sum over the last `buckets` closed buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WindowSum {
    duration: Duration,
    buckets: usize,
    counts: Counts,
}

/// Windowed good/total counters over a ring of time buckets (see the [module docs](self)).
///
/// Equality compares the whole state (configuration, ring, open bucket, sums, late and dropped
/// counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowedCounter {
    resolution_ms: i64,
    /// Closed buckets `open_bucket − n ..= open_bucket − 1`; bucket `b` lives in slot `b mod n`.
    ring: Vec<BucketLow>,
    /// High halves of the counts of each slot; empty while no bucket in the ring overflows
    /// `u32`, else as long as `ring`.
    high: Vec<BucketHigh>,
    /// Slots with a non-zero high half.
    high_slots: usize,
    /// Registered windows, ascending by length.
    windows: Vec<WindowSum>,
    /// The sum of the whole ring.
    stored: Counts,
    started: bool,
    /// Absolute number of the open bucket (meaningful once started).
    open_bucket: i64,
    /// `open_bucket mod n`, kept incrementally.
    open_slot: usize,
    /// Bounds of the open bucket, `[open_start_ms, open_end_ms)`. Before the first event they
    /// are `[i64::MAX, i64::MIN)`, which no timestamp falls into.
    open_start_ms: i64,
    open_end_ms: i64,
    open: Counts,
    dropped: u64,
    /// Requests added to an already closed bucket.
    late: u64,
}

impl WindowedCounter {
    /// A counter with buckets of `resolution` covering `horizon`, keeping running sums for
    /// each of `windows` (duplicates are kept once).
    ///
    /// # Errors
    /// [`SloError::InvalidConfig`] naming `resolution` when it is zero, not a whole number of
    /// milliseconds, longer than `horizon`, or so fine that the horizon needs more than
    /// [`MAX_BUCKETS`] buckets; `horizon` when it is longer than
    /// [`MAX_PERIOD`] or not a whole multiple of the resolution;
    /// `windows[i]` when a window is zero, longer than the horizon, or not a whole multiple of
    /// the resolution.
    pub fn new(
        resolution: Duration,
        horizon: Duration,
        windows: &[Duration],
    ) -> Result<Self, SloError> {
        if horizon > MAX_PERIOD {
            return Err(SloError::InvalidConfig {
                field: "horizon".to_owned(),
                reason: format!(
                    "{} is longer than the longest supported period {}",
                    duration_label(horizon),
                    duration_label(MAX_PERIOD)
                ),
            });
        }
        let resolution_ms = resolution.as_millis();
        if resolution_ms == 0 || resolution.subsec_nanos() % 1_000_000 != 0 || resolution > horizon
        {
            return Err(SloError::InvalidConfig {
                field: "resolution".to_owned(),
                reason: format!(
                    "{} must be a non-zero whole number of milliseconds, at most the horizon {}",
                    duration_label(resolution),
                    duration_label(horizon)
                ),
            });
        }
        let buckets_of = |duration: Duration| -> Option<u64> {
            let ms = duration.as_millis();
            (duration.subsec_nanos() % 1_000_000 == 0 && ms % resolution_ms == 0)
                .then(|| u64::try_from(ms / resolution_ms).ok())
                .flatten()
        };
        let Some(horizon_buckets) = buckets_of(horizon) else {
            return Err(SloError::InvalidConfig {
                field: "horizon".to_owned(),
                reason: format!(
                    "{} is not a whole multiple of the resolution {}",
                    duration_label(horizon),
                    duration_label(resolution)
                ),
            });
        };
        if horizon_buckets > MAX_BUCKETS {
            return Err(SloError::InvalidConfig {
                field: "resolution".to_owned(),
                reason: format!(
                    "{} buckets of {} would cover {}; at most {MAX_BUCKETS} are allowed",
                    horizon_buckets,
                    duration_label(resolution),
                    duration_label(horizon)
                ),
            });
        }
        let mut sums: Vec<WindowSum> = Vec::with_capacity(windows.len());
        for (index, window) in windows.iter().enumerate() {
            match buckets_of(*window) {
                Some(buckets) if buckets > 0 && buckets <= horizon_buckets => {
                    sums.push(WindowSum {
                        duration: *window,
                        // Bounded by MAX_BUCKETS (2^24), so it fits any usize.
                        buckets: buckets as usize,
                        counts: Counts::default(),
                    })
                }
                _ => {
                    return Err(SloError::InvalidConfig {
                        field: format!("windows[{index}]"),
                        reason: format!(
                            "{} must be a non-zero whole multiple of the resolution {}, at most \
                             the horizon {}",
                            duration_label(*window),
                            duration_label(resolution),
                            duration_label(horizon)
                        ),
                    })
                }
            }
        }
        sums.sort_by_key(|window| window.buckets);
        sums.dedup_by_key(|window| window.buckets);
        Ok(Self {
            // resolution ≤ horizon ≤ MAX_PERIOD (about 3.2e11 ms) always fits an i64.
            resolution_ms: i64::try_from(resolution_ms).unwrap_or(i64::MAX),
            // horizon_buckets ≤ MAX_BUCKETS = 2^24 fits any usize.
            ring: vec![BucketLow::default(); horizon_buckets as usize],
            high: Vec::new(),
            high_slots: 0,
            windows: sums,
            stored: Counts::default(),
            started: false,
            open_bucket: 0,
            open_slot: 0,
            open_start_ms: i64::MAX,
            open_end_ms: i64::MIN,
            open: Counts::default(),
            dropped: 0,
            late: 0,
        })
    }

    /// Records one request. O(1); the common case (an event in the open bucket) is two
    /// comparisons and two additions.
    #[inline]
    pub fn record(&mut self, timestamp_ms: i64, good: bool) {
        if timestamp_ms >= self.open_start_ms && timestamp_ms < self.open_end_ms {
            // Wrapping: 2^64 requests in one bucket would take centuries at any rate.
            self.open.total = self.open.total.wrapping_add(1);
            self.open.good = self.open.good.wrapping_add(u64::from(good));
        } else {
            self.record_counts(timestamp_ms, u64::from(good), u64::from(!good));
        }
    }

    /// Records `good` good and `bad` bad requests at once (e.g. from an aggregated source),
    /// with the same rules as [`WindowedCounter::record`] (requests for a closed bucket count
    /// as [`WindowedCounter::late`]). Counts saturate at `u64::MAX`.
    pub fn record_counts(&mut self, timestamp_ms: i64, good: u64, bad: u64) {
        let counts = Counts {
            good,
            total: good.saturating_add(bad),
        };
        if !(MIN_TIMESTAMP_MS..=MAX_TIMESTAMP_MS).contains(&timestamp_ms) {
            self.dropped = self.dropped.saturating_add(counts.total);
            return;
        }
        let bucket = timestamp_ms.div_euclid(self.resolution_ms);
        if !self.started || bucket > self.open_bucket {
            self.advance_to_bucket(bucket);
        }
        self.add_at_bucket(bucket, counts, true);
    }

    /// Closes every bucket that ends at or before `timestamp_ms` (which is clamped into the
    /// accepted range). Starts an unstarted counter with an empty open bucket at that time.
    pub fn advance_to(&mut self, timestamp_ms: i64) {
        let timestamp_ms = timestamp_ms.clamp(MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS);
        self.advance_to_bucket(timestamp_ms.div_euclid(self.resolution_ms));
    }

    /// Merges the counts of `other` (sharded collection) into `self`.
    ///
    /// `self` first advances to the later of the two open buckets; then every bucket of
    /// `other` still inside `self`'s horizon is added to the same bucket of `self` (and its
    /// window sums), older buckets of `other` expire as they would have, and the late and
    /// dropped counts add up (a merged bucket is not itself a late event: each shard saw its
    /// own events in the order it got them). With equal configurations the merge is
    /// commutative and associative.
    ///
    /// # Errors
    /// [`SloError::ResolutionMismatch`] when the resolutions differ.
    pub fn merge(&mut self, other: &WindowedCounter) -> Result<(), SloError> {
        if self.resolution_ms != other.resolution_ms {
            return Err(SloError::ResolutionMismatch {
                left_ms: self.resolution_ms,
                right_ms: other.resolution_ms,
            });
        }
        self.dropped = self.dropped.saturating_add(other.dropped);
        self.late = self.late.saturating_add(other.late);
        if !other.started {
            return Ok(());
        }
        let target = if self.started {
            self.open_bucket.max(other.open_bucket)
        } else {
            other.open_bucket
        };
        self.advance_to_bucket(target);
        let n = other.ring.len() as i64;
        for age in 1..=n {
            let bucket = other.open_bucket - age;
            let counts = other.bucket_counts(bucket);
            if counts.total > 0 || counts.good > 0 {
                self.add_at_bucket(bucket, counts, false);
            }
        }
        self.add_at_bucket(other.open_bucket, other.open, false);
        Ok(())
    }

    /// The counts of a registered window over the closed buckets, `None` if `window` was not
    /// registered.
    pub fn window_counts(&self, window: Duration) -> Option<Counts> {
        self.windows
            .iter()
            .find(|sum| sum.duration == window)
            .map(|sum| sum.counts)
    }

    /// Every registered window with its counts, ascending by length.
    pub fn windows(&self) -> impl Iterator<Item = (Duration, Counts)> + '_ {
        self.windows.iter().map(|sum| (sum.duration, sum.counts))
    }

    /// The counts of the open (not yet closed) bucket.
    pub fn open_counts(&self) -> Counts {
        self.open
    }

    /// The boundary up to which buckets are closed (the start of the open bucket), in
    /// milliseconds since the epoch; `None` before the first event or advance.
    pub fn closed_until_ms(&self) -> Option<i64> {
        self.started.then_some(self.open_start_ms)
    }

    /// Requests refused because they were older than the horizon or outside the years
    /// 0000–9999.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Requests recorded into a bucket that was already closed: older than the open bucket
    /// but within the horizon. They count in the closed bucket and the window sums from then
    /// on, but any evaluation made when that bucket closed did not see them; a non-zero count
    /// means the input is not in time order. Cumulative since the counter was created, like
    /// [`WindowedCounter::dropped`]; [`WindowedCounter::merge`] adds them up.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// The bucket resolution.
    pub fn resolution(&self) -> Duration {
        // resolution_ms is positive (validated in `new`).
        Duration::from_millis(self.resolution_ms.unsigned_abs())
    }

    /// The horizon covered by the closed buckets.
    pub fn horizon(&self) -> Duration {
        self.resolution() * self.ring.len() as u32
    }

    /// Whether the counter holds no request at all (closed or open).
    pub fn is_empty(&self) -> bool {
        self.stored.total == 0 && self.open.total == 0
    }

    /// The memory the counter uses: `size_of::<WindowedCounter>()` plus its heap (the ring,
    /// the window sums and, only while a bucket exceeds `u32`, the side table of high halves).
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.ring.capacity() * std::mem::size_of::<BucketLow>()
            + self.windows.capacity() * std::mem::size_of::<WindowSum>()
            + self.high.capacity() * std::mem::size_of::<BucketHigh>()
    }

    pub(crate) fn is_started(&self) -> bool {
        self.started
    }

    pub(crate) fn open_bucket(&self) -> i64 {
        self.open_bucket
    }

    pub(crate) fn resolution_ms(&self) -> i64 {
        self.resolution_ms
    }

    /// Whether `timestamp_ms` falls into the open bucket (the hot path).
    #[inline]
    pub(crate) fn in_open_bucket(&self, timestamp_ms: i64) -> bool {
        timestamp_ms >= self.open_start_ms && timestamp_ms < self.open_end_ms
    }

    /// Adds one request to the open bucket; only after [`Self::in_open_bucket`] said yes.
    #[inline]
    pub(crate) fn add_to_open(&mut self, good: bool) {
        self.open.total = self.open.total.wrapping_add(1);
        self.open.good = self.open.good.wrapping_add(u64::from(good));
    }

    /// The index of a registered window.
    pub(crate) fn window_index(&self, window: Duration) -> Option<usize> {
        self.windows.iter().position(|sum| sum.duration == window)
    }

    /// The counts of registered window `index` (zero for an unknown index).
    pub(crate) fn window_counts_at(&self, index: usize) -> Counts {
        self.windows
            .get(index)
            .map(|sum| sum.counts)
            .unwrap_or_default()
    }

    /// Closes the open bucket and opens the next one. Does nothing before the first event.
    pub(crate) fn close_open_bucket(&mut self) {
        if !self.started {
            return;
        }
        let n = self.ring.len();
        let bucket = self.open_bucket;
        let slot = self.open_slot;
        // Windows lose the bucket that falls out of them (read before the ring slot of the
        // evicted bucket `bucket − n` is overwritten: a window of n buckets loses exactly it).
        for index in 0..self.windows.len() {
            let k = self.windows[index].buckets;
            let leaving_slot = if slot >= k { slot - k } else { slot + n - k };
            let leaving = self.slot_counts(leaving_slot);
            let sum = &mut self.windows[index];
            sum.counts = sum.counts.wrapping_sub(leaving).wrapping_add(self.open);
        }
        let evicted = self.slot_counts(slot);
        self.stored = self.stored.wrapping_sub(evicted).wrapping_add(self.open);
        self.write_slot(slot, self.open);
        self.open = Counts::default();
        self.open_bucket = bucket + 1;
        self.open_slot = if slot + 1 == n { 0 } else { slot + 1 };
        self.set_open_bounds();
    }

    /// Makes `bucket` the open bucket, closing the ones before it (or resetting when the jump
    /// is longer than the horizon). Starts an unstarted counter.
    fn advance_to_bucket(&mut self, bucket: i64) {
        if !self.started {
            self.started = true;
            self.jump_to(bucket);
            return;
        }
        if bucket <= self.open_bucket {
            return;
        }
        let n = self.ring.len() as i64;
        if self.is_empty() {
            self.jump_to(bucket);
        } else if bucket - self.open_bucket > n {
            // Everything, the open bucket included, leaves the horizon.
            self.ring.fill(BucketLow::default());
            self.high = Vec::new();
            self.high_slots = 0;
            for sum in &mut self.windows {
                sum.counts = Counts::default();
            }
            self.stored = Counts::default();
            self.open = Counts::default();
            self.jump_to(bucket);
        } else {
            while self.open_bucket < bucket {
                self.close_open_bucket();
            }
        }
    }

    /// Moves an empty counter to `bucket` in O(1).
    fn jump_to(&mut self, bucket: i64) {
        self.open_bucket = bucket;
        // rem_euclid of a positive length is in 0..n.
        self.open_slot = bucket.rem_euclid(self.ring.len() as i64) as usize;
        self.set_open_bounds();
    }

    fn set_open_bounds(&mut self) {
        // Buckets stay within the accepted timestamp range plus one resolution (at most a
        // horizon ≤ MAX_BUCKETS × resolution), far inside i64; saturate rather than overflow.
        self.open_start_ms = self.open_bucket.saturating_mul(self.resolution_ms);
        self.open_end_ms = self.open_start_ms.saturating_add(self.resolution_ms);
    }

    /// Adds `counts` to `bucket`: the open bucket, a closed bucket within the horizon (and the
    /// windows containing it), or, when older, lets them expire. `recorded` is true for
    /// recorded requests, which then count as late or dropped; false for merged buckets.
    fn add_at_bucket(&mut self, bucket: i64, counts: Counts, recorded: bool) {
        if bucket == self.open_bucket {
            self.open = Counts {
                good: self.open.good.saturating_add(counts.good),
                total: self.open.total.saturating_add(counts.total),
            };
            return;
        }
        let age = self.open_bucket - bucket;
        let n = self.ring.len() as i64;
        if age <= 0 {
            // Newer buckets are opened by the callers first; nothing else to do.
            return;
        }
        if age > n {
            if recorded {
                self.dropped = self.dropped.saturating_add(counts.total);
            }
            return;
        }
        if recorded {
            // A recorded (not merged) request for a closed bucket.
            self.late = self.late.saturating_add(counts.total);
        }
        let slot = bucket.rem_euclid(n) as usize;
        let before = self.slot_counts(slot);
        let after = Counts {
            good: before.good.saturating_add(counts.good),
            total: before.total.saturating_add(counts.total),
        };
        self.write_slot(slot, after);
        let delta = after.wrapping_sub(before);
        self.stored = self.stored.wrapping_add(delta);
        for sum in &mut self.windows {
            if age <= sum.buckets as i64 {
                sum.counts = sum.counts.wrapping_add(delta);
            }
        }
    }

    /// The full counts of a closed bucket by absolute number (zero outside the ring).
    fn bucket_counts(&self, bucket: i64) -> Counts {
        let age = self.open_bucket - bucket;
        let n = self.ring.len() as i64;
        if age <= 0 || age > n {
            return Counts::default();
        }
        self.slot_counts(bucket.rem_euclid(n) as usize)
    }

    /// The full counts stored in `slot`.
    #[inline]
    fn slot_counts(&self, slot: usize) -> Counts {
        let low = self.ring.get(slot).copied().unwrap_or_default();
        let mut counts = Counts {
            good: u64::from(low.good),
            total: u64::from(low.total),
        };
        if let Some(high) = self.high.get(slot) {
            counts.good |= u64::from(high.good) << 32;
            counts.total |= u64::from(high.total) << 32;
        }
        counts
    }

    /// Stores `counts` in `slot`, spilling high halves into the
    /// side table.
    fn write_slot(&mut self, slot: usize, counts: Counts) {
        if let Some(low) = self.ring.get_mut(slot) {
            // Truncation keeps the low 32 bits; the high 32 bits go to the side table.
            *low = BucketLow {
                good: counts.good as u32,
                total: counts.total as u32,
            };
        }
        let high = BucketHigh {
            good: (counts.good >> 32) as u32,
            total: (counts.total >> 32) as u32,
        };
        let zero = BucketHigh::default();
        if self.high.is_empty() {
            if high == zero {
                return;
            }
            self.high = vec![zero; self.ring.len()];
        }
        let Some(stored) = self.high.get_mut(slot) else {
            return;
        };
        let was_zero = *stored == zero;
        *stored = high;
        match (was_zero, high == zero) {
            (true, false) => self.high_slots += 1,
            (false, true) => self.high_slots = self.high_slots.saturating_sub(1),
            _ => {}
        }
        if self.high_slots == 0 {
            // Nothing overflows any more: give the memory back.
            self.high = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn counter() -> WindowedCounter {
        WindowedCounter::new(SECOND, Duration::from_secs(10), &[SECOND * 3, SECOND * 10]).unwrap()
    }

    #[test]
    fn windows_cover_closed_buckets() {
        let mut counter = counter();
        for second in 0..5 {
            counter.record(second * 1000, true);
            counter.record(second * 1000 + 999, second % 2 == 0);
        }
        // Closed buckets 1, 2, 3 (bucket 4 is open): good 1+2+1, total 6.
        assert_eq!(
            counter.window_counts(SECOND * 3),
            Some(Counts { good: 4, total: 6 })
        );
        counter.advance_to(5000);
        // Buckets 2, 3, 4: good 2+1+2, total 6.
        assert_eq!(
            counter.window_counts(SECOND * 3),
            Some(Counts { good: 5, total: 6 })
        );
        assert_eq!(
            counter.window_counts(SECOND * 10),
            Some(Counts { good: 8, total: 10 })
        );
        assert_eq!(counter.closed_until_ms(), Some(5000));
    }

    #[test]
    fn late_events_and_drops() {
        let mut counter = counter();
        counter.record(20_000, true);
        counter.record(19_500, false); // late, in the 3 s and 10 s windows
        counter.record(12_000, false); // late, only in the 10 s window
        counter.record(9_999, false); // older than the horizon [10 s, 20 s)
        assert_eq!(
            counter.window_counts(SECOND * 3),
            Some(Counts { good: 0, total: 1 })
        );
        assert_eq!(
            counter.window_counts(SECOND * 10),
            Some(Counts { good: 0, total: 2 })
        );
        assert_eq!(counter.dropped(), 1);
        // 19 500 and 12 000 went into closed buckets (the open one is [20 s, 21 s)); 9 999 is
        // dropped, not late.
        assert_eq!(counter.late(), 2);
        counter.record(i64::MAX, true);
        assert_eq!(counter.dropped(), 2);
        assert_eq!(counter.late(), 2);
    }

    #[test]
    fn late_counts_requests_for_closed_buckets_only() {
        let mut counter = counter();
        // Open bucket [5 s, 6 s) after these two.
        counter.record(1_000, true);
        counter.record(5_000, true);
        assert_eq!(counter.late(), 0);
        // The open bucket itself, earlier within it: not late.
        counter.record(5_500, false);
        counter.record(5_000, true);
        assert_eq!(counter.late(), 0);
        // Buckets 4 s, 1 s and 0 s (age 1, 4 and 5 of a 10-bucket horizon [−5 s, 5 s)) are
        // closed: 1 + 1 + (2 good + 3 bad) = 7 late requests.
        counter.record(4_999, false);
        counter.record(1_200, true);
        counter.record_counts(0, 2, 3);
        assert_eq!(counter.late(), 7);
        // Older than the horizon: dropped, not late. Bucket −5 s is the oldest kept (age 10).
        counter.record(-5_001, true);
        counter.record(-5_000, true);
        assert_eq!((counter.late(), counter.dropped()), (8, 1));
        // They are in the sums: the 10 s window [−5 s, 5 s) holds 1 (−5 s) + 5 (0 s) +
        // 2 (1 s) + 1 (4 s) = 9 requests, 1 + 2 + 2 + 0 = 5 good.
        assert_eq!(
            counter.window_counts(SECOND * 10),
            Some(Counts { good: 5, total: 9 })
        );
    }

    #[test]
    fn merge_adds_late_counts() {
        let mut left = counter();
        left.record(3_000, true);
        left.record(2_000, true); // late: 1
        let mut right = counter();
        right.record(9_000, true);
        right.record(8_000, false);
        right.record(7_000, false); // late: 2
        let mut merged = left.clone();
        merged.merge(&right).unwrap();
        // 1 + 2: the merged buckets of `left` (older than `right`'s open bucket) add no more.
        assert_eq!(merged.late(), 3);
        let mut other_way = right.clone();
        other_way.merge(&left).unwrap();
        assert_eq!(other_way.late(), 3);
        assert_eq!(merged, other_way);
    }

    #[test]
    fn long_gap_resets_and_short_gap_slides() {
        let mut counter = counter();
        counter.record(0, false);
        counter.advance_to(5_000);
        assert_eq!(counter.window_counts(SECOND * 10).unwrap().total, 1);
        counter.advance_to(10_999);
        assert_eq!(counter.window_counts(SECOND * 10).unwrap().total, 1);
        counter.advance_to(11_000);
        assert_eq!(counter.window_counts(SECOND * 10).unwrap().total, 0);
        counter.record(50_000, true);
        counter.advance_to(1_000_000_000);
        assert!(counter.window_counts(SECOND * 10).unwrap().total == 0 && counter.is_empty());
    }

    #[test]
    fn counts_above_u32_stay_exact() {
        let mut counter = counter();
        counter.record_counts(0, 3_000_000_000, 3_000_000_001);
        counter.record_counts(0, 1, 0);
        counter.advance_to(1_000);
        counter.record_counts(500, 2_000_000_000, 0); // late, overflows the stored u32 again
        let expected = Counts {
            good: 5_000_000_001,
            total: 8_000_000_002,
        };
        assert_eq!(counter.window_counts(SECOND * 3), Some(expected));
        counter.advance_to(3_000);
        assert_eq!(counter.window_counts(SECOND * 3), Some(expected));
        counter.advance_to(4_000);
        assert_eq!(counter.window_counts(SECOND * 3), Some(Counts::default()));
        assert_eq!(counter.window_counts(SECOND * 10), Some(expected));
        counter.advance_to(11_000);
        assert!(counter.is_empty());
        assert!(counter.high.is_empty() && counter.high_slots == 0);
    }

    #[test]
    fn refuses_bad_configuration() {
        let error = WindowedCounter::new(Duration::ZERO, SECOND, &[]).unwrap_err();
        assert!(error.to_string().contains("`resolution`"));
        let error = WindowedCounter::new(SECOND * 2, SECOND * 5, &[]).unwrap_err();
        assert!(error.to_string().contains("`horizon`"));
        let error = WindowedCounter::new(SECOND, SECOND * 10, &[SECOND, SECOND * 11]).unwrap_err();
        assert!(error.to_string().contains("`windows[1]`"));
        let error =
            WindowedCounter::new(Duration::from_millis(1), Duration::from_secs(86_400), &[])
                .unwrap_err();
        assert!(error.to_string().contains("`resolution`"));
    }

    #[test]
    fn merge_requires_same_resolution() {
        let mut left = counter();
        let right = WindowedCounter::new(SECOND * 2, SECOND * 10, &[]).unwrap();
        assert!(matches!(
            left.merge(&right),
            Err(SloError::ResolutionMismatch { .. })
        ));
    }
}
