//! Latency histograms with Prometheus `histogram_quantile` semantics, and latency objectives.
//!
//! A [`Histogram`] counts observations (seconds) in buckets with fixed, sorted upper bounds,
//! exactly like a Prometheus classic histogram: an observation `v` lands in the first bucket
//! whose upper bound `le` satisfies `v <= le`, and the last bucket is always `+Inf` (implicit;
//! it may also be given explicitly). [`Histogram::quantile`] reproduces PromQL's
//! `histogram_quantile` (`bucketQuantile` in `promql/quantile.go`) operation for operation, so
//! `parky` and a Prometheus server report the same p99 for the same bucket counts; an
//! integration test checks this against `promtool`.
//!
//! A [`LatencyObjective`] ("99 % of requests faster than 300 ms") turns a histogram into a
//! compliance ratio, a met / not met decision and an error-budget burn rate.
//!
//! ```
//! use parky_slo::latency::{Histogram, LatencyObjective};
//!
//! # fn main() -> Result<(), parky_slo::error::SloError> {
//! let mut latency = Histogram::web_latency();
//! for seconds in [0.012, 0.080, 0.120, 0.250, 0.900] {
//!     latency.observe(seconds)?;
//! }
//! let objective = LatencyObjective::new(0.99, 0.3)?;
//! let report = objective.evaluate(&latency)?;
//! assert_eq!(report.good, 4);
//! assert_eq!(report.met, Some(false));
//! assert!(latency.p99() > 0.75);
//! # Ok(())
//! # }
//! ```

use serde::{Deserialize, Serialize};

use crate::error::SloError;
use crate::objective::allowed_bad_ratio_of;

/// Bucket upper bounds (seconds) of the official Prometheus client libraries' default
/// histogram (`prometheus.DefBuckets`). Use them to merge with, or compare to, what most
/// services already export.
pub const PROMETHEUS_DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A finer layout (seconds) for the p99 of web traffic: 25–50 ms steps between 50 ms and
/// 300 ms, where web p99 objectives usually sit, so a p99 there is interpolated over a narrow
/// bucket, and the thresholds commonly used in latency objectives (100, 200, 250, 300, 500 ms,
/// 1 s) are bucket bounds, which [`LatencyObjective`] needs for an exact count.
pub const WEB_LATENCY_BUCKETS: [f64; 20] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5,
    2.0, 2.5, 5.0, 10.0,
];

/// A latency histogram: fixed, strictly increasing finite bucket upper bounds (seconds) plus the
/// implicit `+Inf` bucket, and the number of observations in each bucket.
///
/// The total number of observations always fits a `u64`: an input or an operation whose
/// counts would add up to more ([`Histogram::from_counts`], [`Histogram::from_cumulative`],
/// [`Histogram::observe`], [`Histogram::merge`]) is refused with [`SloError::CountOverflow`],
/// never answered with saturated, wrong quantiles. Equality compares bounds and counts.
///
/// It serializes as `{"bounds": [...finite bounds...], "counts": [...one per bucket, +Inf
/// last...]}` (per-bucket, not cumulative, counts), and deserializing validates both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "HistogramSnapshot", into = "HistogramSnapshot")]
pub struct Histogram {
    /// Finite upper bounds, strictly increasing. The `+Inf` bound is implicit.
    bounds: Vec<f64>,
    /// Per-bucket (not cumulative) counts; always `bounds.len() + 1` entries, `+Inf` last.
    counts: Vec<u64>,
    /// The sum of `counts`, which never exceeds `u64::MAX`.
    total: u64,
}

/// The serialized form of a [`Histogram`]; converted through the validating constructor.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistogramSnapshot {
    bounds: Vec<f64>,
    counts: Vec<u64>,
}

impl TryFrom<HistogramSnapshot> for Histogram {
    type Error = SloError;

    fn try_from(snapshot: HistogramSnapshot) -> Result<Self, Self::Error> {
        Histogram::from_counts(&snapshot.bounds, &snapshot.counts)
    }
}

impl From<Histogram> for HistogramSnapshot {
    fn from(histogram: Histogram) -> Self {
        HistogramSnapshot {
            bounds: histogram.bounds,
            counts: histogram.counts,
        }
    }
}

impl Default for Histogram {
    /// An empty histogram with the Prometheus client default buckets
    /// ([`PROMETHEUS_DEFAULT_BUCKETS`]), so it lines up with what services already export.
    fn default() -> Self {
        Self::prometheus_default()
    }
}

/// Validates bucket bounds: every bound is a number, all but an optional trailing `+Inf` are
/// finite, and they strictly increase. Returns the finite bounds (without `+Inf`).
fn validate_bounds(bounds: &[f64]) -> Result<Vec<f64>, SloError> {
    let finite = match bounds.split_last() {
        Some((last, rest)) if *last == f64::INFINITY => rest,
        _ => bounds,
    };
    for (i, &bound) in finite.iter().enumerate() {
        if !bound.is_finite() {
            return Err(SloError::InvalidConfig {
                field: format!("buckets[{i}]"),
                reason: format!(
                    "bucket bound {bound} must be finite (only the last bound may be +Inf)"
                ),
            });
        }
        if let Some(&previous) = i.checked_sub(1).and_then(|p| finite.get(p)) {
            if bound <= previous {
                return Err(SloError::InvalidConfig {
                    field: format!("buckets[{i}]"),
                    reason: format!(
                        "bucket bounds must strictly increase, but {bound} follows {previous}"
                    ),
                });
            }
        }
    }
    Ok(finite.to_vec())
}

impl Histogram {
    /// An empty histogram with the given bucket upper bounds in seconds.
    ///
    /// Bounds must be finite and strictly increasing; a trailing `f64::INFINITY` is accepted and
    /// means the same as leaving it out (the `+Inf` bucket always exists). Zero and negative
    /// bounds are valid, as in Prometheus. An empty list is valid too and gives a histogram with
    /// only the `+Inf` bucket, whose quantiles are all NaN.
    ///
    /// # Errors
    /// [`SloError::InvalidConfig`] naming the offending `buckets[i]`.
    pub fn new(bounds: &[f64]) -> Result<Self, SloError> {
        Ok(Self::empty(validate_bounds(bounds)?))
    }

    /// An empty histogram over already valid finite `bounds`.
    fn empty(bounds: Vec<f64>) -> Self {
        let counts = vec![0; bounds.len() + 1];
        Self {
            bounds,
            counts,
            total: 0,
        }
    }

    /// An empty histogram with [`PROMETHEUS_DEFAULT_BUCKETS`].
    pub fn prometheus_default() -> Self {
        Self::empty(PROMETHEUS_DEFAULT_BUCKETS.to_vec())
    }

    /// An empty histogram with [`WEB_LATENCY_BUCKETS`].
    pub fn web_latency() -> Self {
        Self::empty(WEB_LATENCY_BUCKETS.to_vec())
    }

    /// A histogram from bounds (as in [`Histogram::new`]) and per-bucket (not cumulative)
    /// counts, one per finite bound plus one for `+Inf`, `+Inf` last.
    ///
    /// # Errors
    /// [`SloError::InvalidConfig`] naming `buckets[i]` or `counts` (wrong length);
    /// [`SloError::CountOverflow`] naming `counts` when they add up to more than `u64::MAX`.
    pub fn from_counts(bounds: &[f64], counts: &[u64]) -> Result<Self, SloError> {
        let bounds = validate_bounds(bounds)?;
        if counts.len() != bounds.len() + 1 {
            return Err(SloError::InvalidConfig {
                field: "counts".to_owned(),
                reason: format!(
                    "expected {} bucket counts ({} finite bounds and +Inf), got {}",
                    bounds.len() + 1,
                    bounds.len(),
                    counts.len()
                ),
            });
        }
        let total = counts
            .iter()
            .try_fold(0_u64, |total, &count| total.checked_add(count))
            .ok_or_else(|| SloError::CountOverflow {
                field: "counts".to_owned(),
            })?;
        Ok(Self {
            bounds,
            counts: counts.to_vec(),
            total,
        })
    }

    /// A histogram from bounds (as in [`Histogram::new`]) and cumulative counts as Prometheus
    /// exposes them (`_bucket{le="…"}`), one per finite bound plus the `+Inf` total, last.
    ///
    /// # Errors
    /// [`SloError::InvalidConfig`] naming `buckets[i]`, `cumulative` (wrong length) or
    /// `cumulative[i]` (a count smaller than the one before it). (Non-decreasing cumulative
    /// counts always total at most their last entry, so they cannot overflow; the check of
    /// [`Histogram::from_counts`] still applies and would name `cumulative`.)
    pub fn from_cumulative(bounds: &[f64], cumulative: &[u64]) -> Result<Self, SloError> {
        let mut counts = Vec::with_capacity(cumulative.len());
        let mut previous = 0_u64;
        for (i, &total) in cumulative.iter().enumerate() {
            let Some(in_bucket) = total.checked_sub(previous) else {
                return Err(SloError::InvalidConfig {
                    field: format!("cumulative[{i}]"),
                    reason: format!(
                        "cumulative counts must not decrease, but {total} follows {previous}"
                    ),
                });
            };
            counts.push(in_bucket);
            previous = total;
        }
        Self::from_counts(bounds, &counts).map_err(|error| match error {
            SloError::InvalidConfig { field, reason } if field == "counts" => {
                SloError::InvalidConfig {
                    field: "cumulative".to_owned(),
                    reason,
                }
            }
            SloError::CountOverflow { .. } => SloError::CountOverflow {
                field: "cumulative".to_owned(),
            },
            other => other,
        })
    }

    /// Records one observation in seconds, in the first bucket whose upper bound is `>=` it
    /// (`+Inf` for anything above the last finite bound, including `f64::INFINITY`).
    ///
    /// # Errors
    /// [`SloError::InvalidObservation`] for NaN, which belongs to no bucket;
    /// [`SloError::CountOverflow`] naming `observations` when the histogram already holds
    /// `u64::MAX` observations. The histogram is left unchanged.
    pub fn observe(&mut self, seconds: f64) -> Result<(), SloError> {
        if seconds.is_nan() {
            return Err(SloError::InvalidObservation { value: seconds });
        }
        let Some(total) = self.total.checked_add(1) else {
            return Err(SloError::CountOverflow {
                field: "observations".to_owned(),
            });
        };
        // First bucket whose bound is >= seconds; `bounds.len()` (the +Inf bucket) when none.
        let index = self.bounds.partition_point(|&bound| bound < seconds);
        if let Some(count) = self.counts.get_mut(index) {
            // No bucket exceeds the total, which was below u64::MAX: this never saturates.
            *count = count.saturating_add(1);
            self.total = total;
        }
        Ok(())
    }

    /// Adds `other`'s counts into this histogram (e.g. several instances, or consecutive
    /// windows). Merging is associative and commutative.
    ///
    /// # Errors
    /// [`SloError::BucketLayoutMismatch`] when the bounds differ; [`SloError::CountOverflow`]
    /// naming `merge` when the two totals add up to more than `u64::MAX`. `self` is left
    /// unchanged.
    pub fn merge(&mut self, other: &Histogram) -> Result<(), SloError> {
        if self.bounds != other.bounds {
            let index = self
                .bounds
                .iter()
                .zip(&other.bounds)
                .position(|(a, b)| a != b)
                .unwrap_or(self.bounds.len().min(other.bounds.len()));
            return Err(SloError::BucketLayoutMismatch { index });
        }
        let Some(total) = self.total.checked_add(other.total) else {
            return Err(SloError::CountOverflow {
                field: "merge".to_owned(),
            });
        };
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            // Each sum is at most the sum of the totals, checked above.
            *mine = mine.saturating_add(*theirs);
        }
        self.total = total;
        Ok(())
    }

    /// The finite bucket upper bounds in seconds (the `+Inf` bound is implicit).
    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// Per-bucket counts, one per finite bound and then the `+Inf` bucket.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Cumulative counts as Prometheus exposes them: entry `i` is the number of observations
    /// `<=` bound `i`; the last entry (`le="+Inf"`) is the total.
    pub fn cumulative_counts(&self) -> Vec<u64> {
        self.counts
            .iter()
            .scan(0_u64, |total, &count| {
                // Never saturates: the total of all buckets fits a u64.
                *total = total.saturating_add(count);
                Some(*total)
            })
            .collect()
    }

    /// The total number of observations (the `+Inf` cumulative count).
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The number of observations `<=` `threshold_seconds`, or `None` when the threshold is not
    /// one of the bucket bounds (`f64::INFINITY` counts as the `+Inf` bound).
    pub fn count_at_or_below(&self, threshold_seconds: f64) -> Option<u64> {
        if threshold_seconds == f64::INFINITY {
            return Some(self.count());
        }
        let index = self.bounds.iter().position(|&b| b == threshold_seconds)?;
        self.cumulative_counts().get(index).copied()
    }

    /// The `q`-quantile, computed exactly like PromQL `histogram_quantile(q, …)`.
    ///
    /// Returns an `f64` (not an `Option`) because that is what Prometheus returns, NaN
    /// included:
    /// - `q` NaN → NaN; `q < 0` → `-Inf`; `q > 1` → `+Inf`;
    /// - fewer than 2 buckets (only `+Inf`) or no observations → NaN;
    /// - otherwise `rank = q × total`, and `b` is the first bucket whose cumulative count is
    ///   `>= rank`:
    ///   - `b` is the `+Inf` bucket → the largest finite bound;
    ///   - `b` is the first bucket and its bound is `<= 0` → that bound;
    ///   - else linear interpolation from the previous bound (0 for the first bucket) to `b`'s
    ///     bound by `(rank − previous cumulative) ÷ count in b`. With `q = 0` and an empty
    ///     first bucket this is `0 ÷ 0`, i.e. NaN, exactly as in Prometheus.
    pub fn quantile(&self, q: f64) -> f64 {
        if q.is_nan() {
            return f64::NAN;
        }
        if q < 0.0 {
            return f64::NEG_INFINITY;
        }
        if q > 1.0 {
            return f64::INFINITY;
        }
        let cumulative = self.cumulative_counts();
        // Split off the +Inf bucket; `finite` lines up with `self.bounds`.
        let Some((&observations, finite)) = cumulative.split_last() else {
            return f64::NAN;
        };
        // Fewer than 2 buckets: `finite` (and `self.bounds`) is empty.
        let Some(&highest_bound) = self.bounds.last() else {
            return f64::NAN;
        };
        if observations == 0 {
            return f64::NAN;
        }
        // Same operations, in the same order and precision, as Prometheus.
        let mut rank = q * observations as f64;
        let b = finite.partition_point(|&count| (count as f64) < rank);
        let (Some(&bucket_end), Some(&bucket_cumulative)) = (self.bounds.get(b), finite.get(b))
        else {
            // `b == finite.len()`: the rank falls into the +Inf bucket.
            return highest_bound;
        };
        if b == 0 && bucket_end <= 0.0 {
            return bucket_end;
        }
        let mut bucket_start = 0.0;
        let mut count = bucket_cumulative as f64;
        if let Some(previous) = b.checked_sub(1) {
            if let (Some(&start), Some(&previous_cumulative)) =
                (self.bounds.get(previous), finite.get(previous))
            {
                bucket_start = start;
                count -= previous_cumulative as f64;
                rank -= previous_cumulative as f64;
            }
        }
        bucket_start + (bucket_end - bucket_start) * (rank / count)
    }

    /// The median, `quantile(0.5)`.
    pub fn p50(&self) -> f64 {
        self.quantile(0.5)
    }

    /// The 90th percentile, `quantile(0.9)`.
    pub fn p90(&self) -> f64 {
        self.quantile(0.9)
    }

    /// The 99th percentile, `quantile(0.99)`.
    pub fn p99(&self) -> f64 {
        self.quantile(0.99)
    }
}

/// A latency objective: "`target` of requests complete in at most `threshold_seconds`", e.g.
/// 99 % faster than 300 ms is `LatencyObjective::new(0.99, 0.3)`.
///
/// A request is good when its latency is `<=` the threshold (Prometheus' `le`). Counting from a
/// histogram is exact only when the threshold is a bucket bound, so [`LatencyObjective::evaluate`]
/// requires it to be one instead of interpolating.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyObjective {
    target: f64,
    threshold_seconds: f64,
}

/// The result of evaluating a [`LatencyObjective`] against a histogram.
///
/// The ratio fields are `None` when there were no observations: there is nothing to judge, and
/// no budget was burnt.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyCompliance {
    /// Total number of observations.
    pub total: u64,
    /// Observations at or below the threshold.
    pub good: u64,
    /// Observations above the threshold (`total − good`).
    pub bad: u64,
    /// `good ÷ total`.
    pub compliance: Option<f64>,
    /// Whether `compliance >= target`.
    pub met: Option<bool>,
    /// `(bad ÷ total) ÷ (1 − target)`: 1.0 spends the error budget exactly over the window,
    /// as for availability objectives.
    pub burn_rate: Option<f64>,
}

impl LatencyObjective {
    /// An objective that `target` (a fraction in the open interval (0, 1)) of requests take at
    /// most `threshold_seconds` (finite, > 0).
    ///
    /// # Errors
    /// [`SloError::InvalidConfig`] naming `target` or `threshold_seconds`.
    pub fn new(target: f64, threshold_seconds: f64) -> Result<Self, SloError> {
        if !(target > 0.0 && target < 1.0) {
            return Err(SloError::InvalidConfig {
                field: "target".to_owned(),
                reason: format!("{target} must be a fraction strictly between 0 and 1"),
            });
        }
        if !(threshold_seconds.is_finite() && threshold_seconds > 0.0) {
            return Err(SloError::InvalidConfig {
                field: "threshold_seconds".to_owned(),
                reason: format!("{threshold_seconds} must be a finite number of seconds above 0"),
            });
        }
        Ok(Self {
            target,
            threshold_seconds,
        })
    }

    /// The fraction of requests that must be fast enough, e.g. 0.99.
    pub fn target(&self) -> f64 {
        self.target
    }

    /// The latency threshold in seconds, e.g. 0.3.
    pub fn threshold_seconds(&self) -> f64 {
        self.threshold_seconds
    }

    /// Counts good (`<=` threshold) and bad observations in `histogram` and derives compliance,
    /// met / not met and the burn rate.
    ///
    /// # Errors
    /// [`SloError::ThresholdNotABucketBound`] (field `threshold_seconds`) when the threshold is
    /// not one of the histogram's bucket bounds, since the count would then be a guess.
    pub fn evaluate(&self, histogram: &Histogram) -> Result<LatencyCompliance, SloError> {
        let good = histogram
            .count_at_or_below(self.threshold_seconds)
            .ok_or_else(|| SloError::ThresholdNotABucketBound {
                field: "threshold_seconds".to_owned(),
                threshold_seconds: self.threshold_seconds,
            })?;
        let total = histogram.count();
        let bad = total.saturating_sub(good);
        let (compliance, met, burn_rate) = if total == 0 {
            (None, None, None)
        } else {
            let compliance = good as f64 / total as f64;
            // 1 − target in decimal (0.01 exactly for 0.99), as for availability objectives.
            let burn_rate = (bad as f64 / total as f64) / allowed_bad_ratio_of(self.target);
            (
                Some(compliance),
                Some(compliance >= self.target),
                Some(burn_rate),
            )
        };
        Ok(LatencyCompliance {
            total,
            good,
            bad,
            compliance,
            met,
            burn_rate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn histogram(bounds: &[f64], counts: &[u64]) -> Histogram {
        // Test inputs are valid layouts by construction.
        Histogram::from_counts(bounds, counts).expect("valid test histogram")
    }

    #[test]
    fn interpolates_inside_a_middle_bucket() {
        // bounds 0.1, 0.2, 0.4, +Inf; counts 10, 20, 10, 0 → cumulative 10, 30, 40, 40.
        // q=0.5: rank = 0.5 × 40 = 20 → first cumulative >= 20 is bucket 1 (0.1, 0.2].
        // 0.1 + (0.2 − 0.1) × ((20 − 10) ÷ 20) = 0.1 + 0.1 × 0.5 = 0.15.
        let h = histogram(&[0.1, 0.2, 0.4], &[10, 20, 10, 0]);
        assert_eq!(h.quantile(0.5), 0.1 + (0.2 - 0.1) * 0.5);
        assert!((h.quantile(0.5) - 0.15).abs() < 1e-15);
        // q=0.9: rank 36 → bucket 2 (0.2, 0.4]: 0.2 + 0.2 × ((36 − 30) ÷ 10) = 0.32.
        assert!((h.p90() - 0.32).abs() < 1e-15);
        // q=1: rank 40 → bucket 2 (cumulative 40 >= 40): 0.2 + 0.2 × (10 ÷ 10) = 0.4.
        assert_eq!(h.quantile(1.0), 0.4);
    }

    #[test]
    fn interpolates_from_zero_in_the_first_bucket() {
        // bounds 1, 2, +Inf; counts 4, 4, 0. q=0.25: rank = 2 → bucket 0,
        // 0 + (1 − 0) × (2 ÷ 4) = 0.5.
        let h = histogram(&[1.0, 2.0], &[4, 4, 0]);
        assert_eq!(h.quantile(0.25), 0.5);
        // q=0: rank 0 → bucket 0: 0 + 1 × (0 ÷ 4) = 0.
        assert_eq!(h.quantile(0.0), 0.0);
    }

    #[test]
    fn a_rank_in_the_inf_bucket_returns_the_highest_finite_bound() {
        // bounds 0.1, 0.5, +Inf; counts 1, 1, 8 → cumulative 1, 2, 10.
        // q=0.5: rank 5 > 2 → +Inf bucket → second-highest bound = 0.5.
        let h = histogram(&[0.1, 0.5], &[1, 1, 8]);
        assert_eq!(h.p50(), 0.5);
        assert_eq!(h.p99(), 0.5);
        // q=0.2: rank 2 → bucket 1 (cumulative 2 >= 2): 0.1 + 0.4 × ((2 − 1) ÷ 1) = 0.5.
        assert_eq!(h.quantile(0.2), 0.1 + (0.5 - 0.1) * 1.0);
    }

    #[test]
    fn a_first_bucket_at_or_below_zero_returns_its_bound() {
        // bounds -0.5, 1, +Inf; counts 3, 2, 0. q=0.5: rank 2.5 <= 3 → bucket 0 with bound
        // -0.5 <= 0 → -0.5 (no interpolation).
        let h = histogram(&[-0.5, 1.0], &[3, 2, 0]);
        assert_eq!(h.p50(), -0.5);
        // q=0.9: rank 4.5 → bucket 1: -0.5 + 1.5 × ((4.5 − 3) ÷ 2) = -0.5 + 1.125 = 0.625.
        assert_eq!(h.p90(), 0.625);
        // bound exactly 0 behaves the same: bounds 0, 1; counts 2, 2 → q=0.25: rank 1 → 0.
        let h = histogram(&[0.0, 1.0], &[2, 2, 0]);
        assert_eq!(h.quantile(0.25), 0.0);
    }

    #[test]
    fn out_of_range_and_nan_quantiles() {
        let h = histogram(&[0.1], &[1, 0]);
        assert_eq!(h.quantile(-0.01), f64::NEG_INFINITY);
        assert_eq!(h.quantile(1.01), f64::INFINITY);
        assert!(h.quantile(f64::NAN).is_nan());
    }

    #[test]
    fn empty_and_single_bucket_histograms_are_nan() {
        assert!(Histogram::default().p99().is_nan());
        assert!(Histogram::web_latency().p50().is_nan());
        let only_inf = histogram(&[], &[7]);
        assert!(only_inf.quantile(0.5).is_nan());
        // The range checks on q come first, as in Prometheus.
        assert_eq!(Histogram::default().quantile(2.0), f64::INFINITY);
        // q=0 with an empty first bucket: 0 × (0 ÷ 0) = NaN, as in Prometheus.
        let h = histogram(&[0.1, 0.2], &[0, 3, 0]);
        assert!(h.quantile(0.0).is_nan());
    }

    #[test]
    fn observe_uses_le_semantics() {
        let mut h = Histogram::new(&[0.1, 0.2, f64::INFINITY]).expect("valid");
        for v in [
            0.05,
            0.1,
            0.1000001,
            0.2,
            5.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            h.observe(v).expect("not NaN");
        }
        // <= 0.1: 0.05, 0.1, -Inf; (0.1, 0.2]: 0.1000001, 0.2; +Inf: 5, +Inf.
        assert_eq!(h.counts(), &[3, 2, 2]);
        assert_eq!(h.cumulative_counts(), vec![3, 5, 7]);
        assert_eq!(h.count(), 7);
        assert!(matches!(
            h.observe(f64::NAN),
            Err(SloError::InvalidObservation { .. })
        ));
        assert_eq!(h.count(), 7);
    }

    #[test]
    fn invalid_layouts_name_the_bucket() {
        for (bounds, field) in [
            (vec![0.1, f64::NAN], "buckets[1]"),
            (vec![0.2, 0.1], "buckets[1]"),
            (vec![0.1, 0.1], "buckets[1]"),
            (vec![f64::INFINITY, 1.0], "buckets[0]"),
            (vec![f64::NEG_INFINITY, 1.0], "buckets[0]"),
        ] {
            match Histogram::new(&bounds) {
                Err(SloError::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{bounds:?}: expected InvalidConfig, got {other:?}"),
            }
        }
        match Histogram::from_counts(&[0.1], &[1]) {
            Err(SloError::InvalidConfig { field, .. }) => assert_eq!(field, "counts"),
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
        match Histogram::from_cumulative(&[0.1, 0.2], &[3, 2, 4]) {
            Err(SloError::InvalidConfig { field, .. }) => assert_eq!(field, "cumulative[1]"),
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
        match Histogram::from_cumulative(&[0.1, 0.2], &[3, 4]) {
            Err(SloError::InvalidConfig { field, .. }) => assert_eq!(field, "cumulative"),
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn cumulative_round_trips() {
        let h = Histogram::from_cumulative(&[0.1, 0.2], &[3, 5, 9]).expect("valid");
        assert_eq!(h.counts(), &[3, 2, 4]);
        assert_eq!(h.cumulative_counts(), vec![3, 5, 9]);
    }

    #[test]
    fn merge_adds_counts_and_refuses_other_layouts() {
        let mut a = histogram(&[0.1, 0.2], &[1, 2, 3]);
        let b = histogram(&[0.1, 0.2], &[10, 20, 30]);
        a.merge(&b).expect("same layout");
        assert_eq!(a.counts(), &[11, 22, 33]);
        let c = histogram(&[0.1, 0.3], &[0, 0, 0]);
        assert!(matches!(
            a.merge(&c),
            Err(SloError::BucketLayoutMismatch { index: 1 })
        ));
        let d = histogram(&[0.1], &[0, 0]);
        assert!(matches!(
            a.merge(&d),
            Err(SloError::BucketLayoutMismatch { index: 1 })
        ));
        assert_eq!(a.counts(), &[11, 22, 33]);
    }

    #[test]
    fn counts_that_overflow_u64_are_refused() {
        // u64::MAX + u64::MAX does not fit a u64: before, the total saturated at u64::MAX and
        // quantile(0.5) interpolated 0.5 in the first bucket instead of failing.
        let overflow = |result: Result<Histogram, SloError>, expected: &str| match result {
            Err(SloError::CountOverflow { field }) => assert_eq!(field, expected),
            other => panic!("expected CountOverflow, got {other:?}"),
        };
        overflow(
            Histogram::from_counts(&[1.0], &[u64::MAX, u64::MAX]),
            "counts",
        );
        overflow(
            Histogram::from_counts(&[1.0, 2.0], &[u64::MAX - 1, 1, 1]),
            "counts",
        );
        // Exactly u64::MAX in all is fine: (u64::MAX − 1) + 1 + 0.
        let full = histogram(&[1.0, 2.0], &[u64::MAX - 1, 1, 0]);
        assert_eq!(full.count(), u64::MAX);
        assert_eq!(
            full.cumulative_counts(),
            vec![u64::MAX - 1, u64::MAX, u64::MAX]
        );
        // The serde path validates through `from_counts`.
        let json = format!(r#"{{"bounds":[1.0],"counts":[{},1]}}"#, u64::MAX);
        assert!(serde_json::from_str::<Histogram>(&json).is_err());

        // observe: the (u64::MAX + 1)-th observation is refused, the histogram unchanged.
        let mut h = full.clone();
        match h.observe(0.5) {
            Err(SloError::CountOverflow { field }) => assert_eq!(field, "observations"),
            other => panic!("expected CountOverflow, got {other:?}"),
        }
        assert_eq!(h, full);

        // merge: u64::MAX + 1 does not fit; both layouts equal, `self` unchanged.
        let mut h = full.clone();
        let one = histogram(&[1.0, 2.0], &[0, 0, 1]);
        match h.merge(&one) {
            Err(SloError::CountOverflow { field }) => assert_eq!(field, "merge"),
            other => panic!("expected CountOverflow, got {other:?}"),
        }
        assert_eq!(h, full);
        let mut empty = Histogram::new(&[1.0, 2.0]).unwrap();
        empty.merge(&full).expect("0 + u64::MAX fits");
        assert_eq!(empty, full);

        // A latency objective over an overflowing input is never evaluated: it cannot be built.
        // A full, valid one counts exactly: u64::MAX − 1 at or below 1 s, 1 above.
        let report = LatencyObjective::new(0.99, 1.0)
            .unwrap()
            .evaluate(&full)
            .unwrap();
        assert_eq!(
            (report.total, report.good, report.bad),
            (u64::MAX, u64::MAX - 1, 1)
        );
    }

    #[test]
    fn serde_round_trip_validates() {
        let h = histogram(&[0.1, 0.2], &[1, 2, 3]);
        let json = serde_json::to_string(&h).expect("serializes");
        assert_eq!(json, r#"{"bounds":[0.1,0.2],"counts":[1,2,3]}"#);
        let back: Histogram = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, h);
        assert!(
            serde_json::from_str::<Histogram>(r#"{"bounds":[0.2,0.1],"counts":[1,2,3]}"#).is_err()
        );
        assert!(serde_json::from_str::<Histogram>(r#"{"bounds":[0.1],"counts":[1,2,3]}"#).is_err());
    }

    #[test]
    fn latency_objective_counts_at_a_bucket_bound() {
        // 1000 requests: 985 <= 0.3 s, 15 slower. compliance = 985 ÷ 1000 = 0.985 < 0.99 → not
        // met; burn rate = (15 ÷ 1000) ÷ (1 − 0.99) = 0.015 ÷ 0.01 = 1.5.
        let mut h = Histogram::web_latency();
        for _ in 0..985 {
            h.observe(0.3).expect("not NaN");
        }
        for _ in 0..15 {
            h.observe(0.31).expect("not NaN");
        }
        let objective = LatencyObjective::new(0.99, 0.3).expect("valid");
        let report = objective.evaluate(&h).expect("0.3 is a bound");
        assert_eq!((report.total, report.good, report.bad), (1000, 985, 15));
        assert_eq!(report.compliance, Some(0.985));
        assert_eq!(report.met, Some(false));
        let burn = report.burn_rate.expect("observations");
        assert!((burn - 1.5).abs() < 1e-12, "{burn}");

        // 995 good of 1000: 0.995 >= 0.99 → met; burn 0.005 ÷ 0.01 = 0.5.
        let h = histogram(&WEB_LATENCY_BUCKETS, &{
            let mut counts = [0; 21];
            counts[10] = 995; // bucket (0.25, 0.3]
            counts[11] = 5; // bucket (0.3, 0.4]
            counts
        });
        let report = objective.evaluate(&h).expect("0.3 is a bound");
        assert_eq!(report.met, Some(true));
        assert!((report.burn_rate.expect("observations") - 0.5).abs() < 1e-12);
    }

    #[test]
    fn latency_objective_errors_and_empty_histograms() {
        let objective = LatencyObjective::new(0.99, 0.3).expect("valid");
        // 0.3 is not among the Prometheus default bounds.
        match objective.evaluate(&Histogram::default()) {
            Err(SloError::ThresholdNotABucketBound { field, .. }) => {
                assert_eq!(field, "threshold_seconds");
            }
            other => panic!("expected ThresholdNotABucketBound, got {other:?}"),
        }
        let report = objective
            .evaluate(&Histogram::web_latency())
            .expect("0.3 is a bound");
        assert_eq!(report.total, 0);
        assert_eq!(
            (report.compliance, report.met, report.burn_rate),
            (None, None, None)
        );
        for (target, threshold, field) in [
            (1.0, 0.3, "target"),
            (0.0, 0.3, "target"),
            (f64::NAN, 0.3, "target"),
            (0.99, 0.0, "threshold_seconds"),
            (0.99, f64::INFINITY, "threshold_seconds"),
            (0.99, f64::NAN, "threshold_seconds"),
        ] {
            match LatencyObjective::new(target, threshold) {
                Err(SloError::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
                other => panic!("expected InvalidConfig, got {other:?}"),
            }
        }
    }

    /// Bucket layouts for the property tests: the two shipped ones and one starting below 0.
    fn layout() -> impl Strategy<Value = Vec<f64>> {
        prop_oneof![
            Just(PROMETHEUS_DEFAULT_BUCKETS.to_vec()),
            Just(WEB_LATENCY_BUCKETS.to_vec()),
            Just(vec![-1.0, 0.0, 0.3, 0.7, 1.1]),
        ]
    }

    fn histogram_for(layout: Vec<f64>) -> impl Strategy<Value = Histogram> {
        let buckets = layout.len() + 1;
        proptest::collection::vec(0_u64..50, buckets)
            .prop_map(move |counts| histogram(&layout, &counts))
    }

    proptest! {
        #[test]
        fn quantile_is_monotonic_in_q(
            h in layout().prop_flat_map(histogram_for),
            q1 in 0.0..=1.0_f64,
            q2 in 0.0..=1.0_f64,
        ) {
            let (low, high) = if q1 <= q2 { (q1, q2) } else { (q2, q1) };
            let (a, b) = (h.quantile(low), h.quantile(high));
            // NaN only for an empty histogram, or q = 0 over an empty first bucket.
            if !a.is_nan() && !b.is_nan() {
                prop_assert!(a <= b, "q {low} → {a}, q {high} → {b}");
            }
        }

        #[test]
        fn merge_is_associative(
            (a, b, c) in layout().prop_flat_map(|l| {
                (histogram_for(l.clone()), histogram_for(l.clone()), histogram_for(l))
            })
        ) {
            let mut left = a.clone();
            left.merge(&b).expect("same layout");
            left.merge(&c).expect("same layout");
            let mut bc = b.clone();
            bc.merge(&c).expect("same layout");
            let mut right = a.clone();
            right.merge(&bc).expect("same layout");
            prop_assert_eq!(left, right);
        }

        #[test]
        fn observe_never_panics(v in proptest::num::f64::ANY) {
            let mut h = Histogram::default();
            let result = h.observe(v);
            prop_assert_eq!(result.is_ok(), !v.is_nan());
            let _ = h.quantile(v);
        }
    }
}
