//! Service level objectives and their error budgets.
//!
//! An [`Objective`] is a target share of good requests (e.g. `0.999`) over a rolling period
//! (30 days, 28 days or any custom [`Duration`]). Its [`ErrorBudget`] is the share of requests
//! allowed to be bad, `1 − target`, computed in decimal (see [`allowed_bad_ratio_of`]) so that
//! 99.9 % allows exactly `0.001` and not the `0.0010000000000000009` of `1.0 - 0.999`. A [`BurnRate`] says how fast the budget is being spent:
//! `observed error ratio ÷ (1 − target)`; a burn rate of 1 spends exactly the whole budget in
//! one period.
//!
//! Everything here is pure arithmetic on counts; nothing returns NaN: zero traffic is a burn
//! rate of 0 and a consumed budget of 0.

use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::error::SloError;

/// Thirty days, the most common SLO period.
pub const THIRTY_DAYS: Duration = Duration::from_secs(30 * 24 * 3600);
/// Twenty-eight days: four whole weeks, so every period holds the same number of weekends.
pub const TWENTY_EIGHT_DAYS: Duration = Duration::from_secs(28 * 24 * 3600);
/// The longest period an [`Objective`] accepts (3660 days, about ten years).
pub const MAX_PERIOD: Duration = Duration::from_secs(3660 * 24 * 3600);

/// A service level objective: at least `target` of the requests over the rolling `period` are
/// good.
///
/// Serializes as `{"target": 0.999, "period": "30d"}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Objective {
    target: f64,
    #[serde(serialize_with = "serialize_duration_label")]
    period: Duration,
}

impl Objective {
    /// Validates and builds an objective.
    ///
    /// # Errors
    /// [`SloError::InvalidConfig`] naming `objective` when `target` is not a number strictly
    /// between 0 and 1, or `period` when the period is zero or longer than [`MAX_PERIOD`].
    pub fn new(target: f64, period: Duration) -> Result<Self, SloError> {
        // `!(a < x && x < b)` also refuses NaN.
        if !(0.0 < target && target < 1.0) {
            return Err(SloError::InvalidConfig {
                field: "objective".to_owned(),
                reason: format!("{target} is not strictly between 0 and 1 (e.g. 0.999)"),
            });
        }
        if period.is_zero() || period > MAX_PERIOD {
            return Err(SloError::InvalidConfig {
                field: "period".to_owned(),
                reason: format!(
                    "{} is not in (0, {}]",
                    duration_label(period),
                    duration_label(MAX_PERIOD)
                ),
            });
        }
        Ok(Self { target, period })
    }

    /// An objective over a rolling [`THIRTY_DAYS`] period.
    ///
    /// # Errors
    /// As [`Objective::new`].
    pub fn thirty_days(target: f64) -> Result<Self, SloError> {
        Self::new(target, THIRTY_DAYS)
    }

    /// An objective over a rolling [`TWENTY_EIGHT_DAYS`] period.
    ///
    /// # Errors
    /// As [`Objective::new`].
    pub fn twenty_eight_days(target: f64) -> Result<Self, SloError> {
        Self::new(target, TWENTY_EIGHT_DAYS)
    }

    /// The target share of good requests, strictly between 0 and 1.
    pub fn target(&self) -> f64 {
        self.target
    }

    /// The rolling period the objective is measured over.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The error budget of this objective: the allowed bad ratio `1 − target`, computed in
    /// decimal by [`allowed_bad_ratio_of`] (99.9 % gives the `f64` nearest `0.001`).
    pub fn error_budget(&self) -> ErrorBudget {
        ErrorBudget {
            allowed_bad_ratio: allowed_bad_ratio_of(self.target),
        }
    }

    /// How long until the budget is exhausted if it keeps burning at `burn_rate`:
    /// `budget_remaining × period ÷ burn_rate`.
    ///
    /// `budget_remaining` is the remaining share of the budget (1 = untouched, as returned by
    /// [`ErrorBudget::remaining`]). Returns `Some(Duration::ZERO)` when the budget is already
    /// gone (`budget_remaining ≤ 0`, whatever the burn rate), `None` when it is never
    /// exhausted at this pace (burn rate 0, or a time too long for a [`Duration`]) and when
    /// `budget_remaining` is NaN.
    pub fn time_to_exhaustion(
        &self,
        budget_remaining: f64,
        burn_rate: BurnRate,
    ) -> Option<Duration> {
        if budget_remaining.is_nan() {
            return None;
        }
        if budget_remaining <= 0.0 {
            return Some(Duration::ZERO);
        }
        if burn_rate.0 <= 0.0 {
            return None;
        }
        let seconds = budget_remaining * self.period.as_secs_f64() / burn_rate.0;
        Duration::try_from_secs_f64(seconds).ok()
    }
}

/// The error budget of an [`Objective`]: the share of requests allowed to be bad over the
/// period, `1 − target`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ErrorBudget {
    allowed_bad_ratio: f64,
}

impl ErrorBudget {
    /// The allowed bad ratio, `1 − target` (e.g. `0.001` for a 99.9 % objective, the `f64`
    /// nearest 0.001 exactly: see [`allowed_bad_ratio_of`]).
    pub fn allowed_bad_ratio(&self) -> f64 {
        self.allowed_bad_ratio
    }

    /// The burn rate of `bad` bad requests out of `total`: `(bad ÷ total) ÷ (1 − target)`.
    ///
    /// Zero traffic is a burn rate of 0 (never NaN). `bad` larger than `total` is read as
    /// `total` (all requests bad).
    pub fn burn_rate(&self, bad: u64, total: u64) -> BurnRate {
        if total == 0 {
            return BurnRate::ZERO;
        }
        let error_ratio = bad.min(total) as f64 / total as f64;
        BurnRate(error_ratio / self.allowed_bad_ratio)
    }

    /// The burn rate of a constant error ratio (`0.1` = 10 % of requests bad):
    /// `error_ratio ÷ (1 − target)`. Ratios outside `[0, 1]` are clamped into it and NaN
    /// counts as 0.
    pub fn burn_rate_of_ratio(&self, error_ratio: f64) -> BurnRate {
        let clamped = if error_ratio.is_nan() {
            0.0
        } else {
            error_ratio.clamp(0.0, 1.0)
        };
        BurnRate(clamped / self.allowed_bad_ratio)
    }

    /// The share of the budget consumed by `bad` bad requests out of `total` over the
    /// period: `bad ÷ ((1 − target) × total)`. 1 means the whole budget is spent; values above
    /// 1 mean it is overspent.
    ///
    /// With zero traffic nothing has been consumed: returns 0. The value equals the burn rate
    /// over the whole period.
    pub fn consumed(&self, bad: u64, total: u64) -> f64 {
        if total == 0 {
            return 0.0;
        }
        bad.min(total) as f64 / (self.allowed_bad_ratio * total as f64)
    }

    /// The share of the budget left: `1 − consumed`. Negative when the budget is overspent
    /// (reported as is, so an overspend shows how far over it is); 1 with zero traffic.
    pub fn remaining(&self, bad: u64, total: u64) -> f64 {
        1.0 - self.consumed(bad, total)
    }
}

/// How fast an error budget is being spent: observed error ratio ÷ allowed error ratio.
///
/// 1 spends exactly the whole budget in one period; 14.4 spends 2 % of a 30-day budget in one
/// hour. Always finite and non-negative. Serializes as a bare number.
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct BurnRate(f64);

impl BurnRate {
    /// No budget being spent.
    pub const ZERO: BurnRate = BurnRate(0.0);

    /// Wraps a burn rate computed elsewhere; `None` unless it is finite and non-negative.
    pub fn new(value: f64) -> Option<Self> {
        (value.is_finite() && value >= 0.0).then_some(Self(value))
    }

    /// The burn rate as a number.
    pub fn value(self) -> f64 {
        self.0
    }
}

impl std::fmt::Display for BurnRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// `1 − target` without floating-point noise: the complement of the target's decimal
/// digits, rounded once to the nearest `f64`.
///
/// `1.0 - 0.999` in binary is `0.0010000000000000009`, which turns 1 bad request in 1000 into
/// a burn rate of `0.9999999999999991` and shows as budget figures like `499.99999999999955`.
/// The target the user wrote is a decimal, and Rust prints every `f64` as the shortest decimal
/// that reads back as the same `f64` (`0.999` for 0.999). This function takes those digits,
/// computes `1 − target` exactly in decimal (`1 − 0.999 = 0.001`) and parses the result, so
/// 99.9 % gives exactly the `f64` nearest 0.001, 99.999 % the one nearest 0.00001, and so on
/// for any number of nines. (Rounding the binary difference to 12 significant digits would not
/// do: `1.0 - 0.99999` is `9.99999999995449e-6`, wrong in the 12th digit, and for 13 nines the
/// difference is off in the 4th digit.)
///
/// The result never differs from the exact `1 − target` of the `f64` by more than half a unit
/// in the last place of `target`: it is only the decimal the `f64` stands for. For a `target`
/// outside `(0, 1)` (never the case for a validated [`Objective`]) it returns `1.0 - target`.
pub fn allowed_bad_ratio_of(target: f64) -> f64 {
    let fallback = 1.0 - target;
    if !(0.0 < target && target < 1.0) {
        return fallback;
    }
    // `Display` of an `f64` never uses an exponent: a target in (0, 1) prints as `0.ddd…`,
    // its shortest round-trip digits, the last one not 0.
    let text = target.to_string();
    let Some(fraction) = text.strip_prefix("0.") else {
        return fallback;
    };
    if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return fallback;
    }
    // 10^n − D for the n fraction digits D: the nines' complement of each digit, plus one.
    let mut digits: Vec<u8> = fraction.bytes().map(|b| b'9' - b + b'0').collect();
    for digit in digits.iter_mut().rev() {
        if *digit == b'9' {
            *digit = b'0';
        } else {
            *digit += 1;
            break;
        }
    }
    let complement = format!("0.{}", String::from_utf8_lossy(&digits));
    match complement.parse::<f64>() {
        Ok(ratio) if ratio > 0.0 && ratio < 1.0 => ratio,
        _ => fallback,
    }
}

/// A compact, exact label for a duration: `30d`, `1h`, `5m`, `1h30m`, `1s500ms`, `0s`.
/// Sub-millisecond parts are not shown.
pub fn duration_label(duration: Duration) -> String {
    let mut ms = duration.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut label = String::new();
    for (unit_ms, suffix) in [
        (86_400_000u128, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
        (1, "ms"),
    ] {
        let count = ms / unit_ms;
        if count > 0 {
            label.push_str(&count.to_string());
            label.push_str(suffix);
            ms -= count * unit_ms;
        }
    }
    label
}

/// Serializes a [`Duration`] as its [`duration_label`].
pub(crate) fn serialize_duration_label<S: Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&duration_label(*duration))
}

/// Serializes an optional [`Duration`] as seconds (a number, millisecond precision) or `null`.
pub(crate) fn serialize_optional_seconds<S: Serializer>(
    duration: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match duration {
        Some(duration) => serializer.serialize_some(&(duration.as_millis() as f64 / 1000.0)),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_target_and_period() {
        for bad in [0.0, 1.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
            assert!(Objective::thirty_days(bad).is_err(), "{bad}");
        }
        let error = Objective::new(0.99, Duration::ZERO).unwrap_err();
        assert!(error.to_string().contains("`period`"), "{error}");
        assert!(Objective::new(0.99, MAX_PERIOD + Duration::from_secs(1)).is_err());
        assert!(Objective::new(0.99, Duration::from_secs(7 * 86_400)).is_ok());
    }

    #[test]
    fn burn_rate_budget_and_exhaustion() {
        let objective = Objective::thirty_days(0.999).unwrap();
        let budget = objective.error_budget();
        // 10 bad of 1000 = 1 % errors against 0.1 % allowed: burn rate 10.
        assert!((budget.burn_rate(10, 1000).value() - 10.0).abs() < 1e-9);
        assert_eq!(budget.burn_rate(0, 0), BurnRate::ZERO);
        assert_eq!(budget.consumed(0, 0), 0.0);
        assert_eq!(budget.remaining(0, 0), 1.0);
        // 1 bad of 2000 = 0.05 % errors: half the budget.
        assert!((budget.consumed(1, 2000) - 0.5).abs() < 1e-9);
        // Half the budget left at burn rate 2: half a period / 2 = 7.5 days.
        let left = objective
            .time_to_exhaustion(0.5, BurnRate::new(2.0).unwrap())
            .unwrap();
        assert_eq!(left, Duration::from_secs(15 * 86_400 / 2));
        assert_eq!(objective.time_to_exhaustion(0.5, BurnRate::ZERO), None);
        assert_eq!(
            objective.time_to_exhaustion(-0.2, BurnRate::ZERO),
            Some(Duration::ZERO)
        );
        assert_eq!(objective.time_to_exhaustion(f64::NAN, BurnRate::ZERO), None);
        assert_eq!(BurnRate::new(f64::NAN), None);
        assert_eq!(BurnRate::new(-1.0), None);
    }

    #[test]
    fn allowed_bad_ratio_is_the_decimal_complement() {
        // 1 − 0.999 = 0.001 in decimal; the binary difference is 0.0010000000000000009.
        assert_eq!(1.0 - 0.999, 0.0010000000000000009);
        let budget = Objective::thirty_days(0.999).unwrap().error_budget();
        assert_eq!(budget.allowed_bad_ratio(), 0.001);
        // 1 bad of 1000 is an error ratio of 0.001, exactly the budget: burn rate 1.
        assert_eq!(budget.burn_rate(1, 1000).value(), 1.0);
        // 3 bad of 10 000: 3 ÷ (0.001 × 10 000) = 3 ÷ 10 = 0.3 of the budget.
        assert_eq!(budget.consumed(3, 10_000), 0.3);
        // 5 bad of 10: 5 ÷ (0.001 × 10) = 5 ÷ 0.01 = 500 budgets.
        assert_eq!(budget.consumed(5, 10), 500.0);
        assert_eq!(budget.remaining(5, 10), -499.0);
        // 10 bad of 1000 = 1 % against 0.1 %: 10.
        assert_eq!(budget.burn_rate(10, 1000).value(), 10.0);
        // Decimal complements, digit by digit: 1 − 0.9 = 0.1, 1 − 0.95 = 0.05,
        // 1 − 0.99999 = 0.00001 (binary difference 9.99999999995449e-6),
        // 1 − 0.999999 = 0.000001 (binary 1.0000000000287557e-6), thirteen nines → 1e-13
        // (binary 1.000310945187266e-13), 1 − 0.001 = 0.999, 1 − 0.5 = 0.5.
        for (target, expected) in [
            (0.9, 0.1),
            (0.95, 0.05),
            (0.9999, 0.0001),
            (0.99999, 0.00001),
            (0.999999, 0.000001),
            (0.9999999999999, 1e-13),
            (0.001, 0.999),
            (0.5, 0.5),
            (0.123456789, 0.876543211),
        ] {
            assert_eq!(allowed_bad_ratio_of(target), expected, "{target}");
        }
        // The f64 just below 1 prints as sixteen nines: 1e-16 (the binary difference is
        // 2^-53 = 1.1102230246251565e-16, which that decimal stands for).
        assert_eq!(allowed_bad_ratio_of(1.0 - f64::EPSILON / 2.0), 1e-16);
        // Outside (0, 1) it is the plain difference.
        assert_eq!(allowed_bad_ratio_of(1.5), -0.5);
        assert!(allowed_bad_ratio_of(f64::NAN).is_nan());
    }

    #[test]
    fn labels() {
        assert_eq!(duration_label(THIRTY_DAYS), "30d");
        assert_eq!(duration_label(Duration::from_secs(5400)), "1h30m");
        assert_eq!(duration_label(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(duration_label(Duration::ZERO), "0s");
    }
}
