//! Medians and percentiles of durations: [`DurationSummary`] and the quantile convention.
//!
//! # Convention
//!
//! Quantiles use linear interpolation between order statistics, the definition numbered 7 by
//! Hyndman and Fan (1996): for a sorted sample `x[0] ≤ … ≤ x[n-1]` and a probability `p`,
//! `h = (n - 1) · p`, and the quantile is `x[⌊h⌋] + (h - ⌊h⌋) · (x[⌊h⌋ + 1] - x[⌊h⌋])`.
//! It is the default of R's `quantile`, NumPy's `percentile` and DuckDB's `quantile_cont`,
//! so the figures here can be checked against a DuckDB query over the same data (the
//! benchmark does exactly that). For `p = 0.5` it is the textbook median: the middle value of
//! an odd-sized sample, the mean of the two middle values of an even-sized one.
//!
//! The arithmetic is exact: samples are integer nanoseconds, `p` is a fraction (1/2, 3/4,
//! 9/10), and only the final interpolated value is rounded to the nearest nanosecond (halves
//! up). No floating point is involved, so the result does not depend on the order of the
//! input or on the platform.

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

/// Median, 75th and 90th percentile of a sample of durations (see the module docs for the
/// convention).
///
/// In JSON the durations are numbers of seconds (fractions to the nanosecond):
/// `{"count": 4, "median": 5400.0, "p75": 7200.0, "p90": 9000.0}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurationSummary {
    /// How many durations the sample has (at least one).
    pub count: usize,
    /// The median (type 7 quantile at 0.5).
    #[serde(with = "seconds")]
    pub median: TimeDelta,
    /// The 75th percentile (type 7).
    #[serde(with = "seconds")]
    pub p75: TimeDelta,
    /// The 90th percentile (type 7).
    #[serde(with = "seconds")]
    pub p90: TimeDelta,
}

impl DurationSummary {
    /// Summarise `sample` (any order); `None` when it is empty.
    #[must_use]
    pub fn of(sample: &[TimeDelta]) -> Option<Self> {
        let mut nanos: Vec<i128> = sample.iter().map(|d| nanos_of(*d)).collect();
        nanos.sort_unstable();
        Some(Self {
            count: nanos.len(),
            median: from_nanos(quantile_sorted(&nanos, 1, 2)?),
            p75: from_nanos(quantile_sorted(&nanos, 3, 4)?),
            p90: from_nanos(quantile_sorted(&nanos, 9, 10)?),
        })
    }
}

/// The type 7 quantile at `num / den` of an ascending `sorted` sample; `None` when it is empty
/// or `num / den` is not in `[0, 1]`.
#[must_use]
pub fn quantile_sorted(sorted: &[i128], num: u32, den: u32) -> Option<i128> {
    if den == 0 || num > den {
        return None;
    }
    let last = sorted.len().checked_sub(1)?;
    // h = (n - 1) · num / den, split into its integer part and remainder (over den).
    let scaled = (last as u128) * u128::from(num);
    let den = u128::from(den);
    let lo = usize::try_from(scaled / den).ok()?;
    let rem = scaled % den;
    let low = *sorted.get(lo)?;
    if rem == 0 {
        return Some(low);
    }
    let high = *sorted.get(lo + 1)?;
    // high ≥ low (sorted), so the step is non-negative; round half up.
    let step = (high - low) * (rem as i128);
    let den = den as i128;
    Some(low + (step + den / 2) / den)
}

/// A duration as integer nanoseconds (never overflows: i128 holds any `TimeDelta`).
#[must_use]
pub(crate) fn nanos_of(d: TimeDelta) -> i128 {
    // `subsec_nanos` has the sign of the duration, so the sum is exact.
    i128::from(d.num_seconds()) * 1_000_000_000 + i128::from(d.subsec_nanos())
}

/// Integer nanoseconds back to a duration, saturating at `TimeDelta`'s range (interpolated
/// values lie between two durations, so saturation never happens in practice).
#[must_use]
pub(crate) fn from_nanos(n: i128) -> TimeDelta {
    let secs = n.div_euclid(1_000_000_000);
    let sub = n.rem_euclid(1_000_000_000);
    let (Ok(secs), Ok(sub)) = (i64::try_from(secs), u32::try_from(sub)) else {
        return if n < 0 {
            TimeDelta::MIN
        } else {
            TimeDelta::MAX
        };
    };
    TimeDelta::new(secs, sub).unwrap_or(if n < 0 {
        TimeDelta::MIN
    } else {
        TimeDelta::MAX
    })
}

/// Serde for a [`TimeDelta`] as a number of seconds (fractions to the nanosecond).
pub mod seconds {
    use chrono::TimeDelta;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialize `d` as seconds.
    ///
    /// # Errors
    /// Those of the serializer.
    pub fn serialize<S: Serializer>(d: &TimeDelta, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(super::super::window::seconds_f64(*d))
    }

    /// Read seconds back into a duration (rounded to the nanosecond).
    ///
    /// # Errors
    /// A number that is not finite or out of a `TimeDelta`'s range.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TimeDelta, D::Error> {
        let secs = f64::deserialize(d)?;
        from_seconds(secs)
            .ok_or_else(|| serde::de::Error::custom(format!("{secs} is not a duration in seconds")))
    }

    /// Seconds to a duration; `None` when not finite or out of range.
    #[must_use]
    pub fn from_seconds(secs: f64) -> Option<TimeDelta> {
        if !secs.is_finite() || secs.abs() > 9.0e15 {
            return None;
        }
        let whole = secs.floor();
        let nanos = ((secs - whole) * 1e9).round();
        // `whole` is an integer below 9e15 in magnitude and `nanos` in [0, 1e9]: both fit.
        TimeDelta::new(whole as i64, 0)?.checked_add(&TimeDelta::nanoseconds(nanos as i64))
    }
}

/// Serde for an optional [`TimeDelta`] as a number of seconds or `null`.
pub mod option_seconds {
    use chrono::TimeDelta;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialize `d` as seconds, or `null`.
    ///
    /// # Errors
    /// Those of the serializer.
    pub fn serialize<S: Serializer>(d: &Option<TimeDelta>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::seconds::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    /// Read seconds or `null`.
    ///
    /// # Errors
    /// A number that is not a valid duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TimeDelta>, D::Error> {
        match Option::<f64>::deserialize(d)? {
            None => Ok(None),
            Some(secs) => super::seconds::from_seconds(secs).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!("{secs} is not a duration in seconds"))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type7_by_hand() {
        // [1, 2, 3, 4]: h(0.5) = 1.5 → 2.5; h(0.75) = 2.25 → 3.25; h(0.9) = 2.7 → 3.7.
        let s = [1_000, 2_000, 3_000, 4_000];
        assert_eq!(quantile_sorted(&s, 1, 2), Some(2_500));
        assert_eq!(quantile_sorted(&s, 3, 4), Some(3_250));
        assert_eq!(quantile_sorted(&s, 9, 10), Some(3_700));
        // One value: every quantile is that value.
        assert_eq!(quantile_sorted(&[7], 9, 10), Some(7));
        assert_eq!(quantile_sorted(&[], 1, 2), None);
        assert_eq!(quantile_sorted(&[1], 3, 2), None);
        // Rounding: [0, 1] at 0.5 is 0.5 ns → rounds up to 1.
        assert_eq!(quantile_sorted(&[0, 1], 1, 2), Some(1));
    }

    #[test]
    fn seconds_round_trip() {
        let d = TimeDelta::milliseconds(-1_500);
        assert_eq!(nanos_of(d), -1_500_000_000);
        assert_eq!(from_nanos(nanos_of(d)), d);
        assert_eq!(seconds::from_seconds(-1.5), Some(d));
        assert_eq!(seconds::from_seconds(f64::NAN), None);
    }
}
