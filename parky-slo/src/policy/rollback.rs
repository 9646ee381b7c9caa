//! The auto-rollback rule for canaries, as a pure function.
//!
//! A canary is compared with its baseline over the same window; each side reports its requests,
//! its errors and (optionally) its p99 latency. The handbook's rule, with the factors
//! configurable:
//!
//! - **errors**: roll back when the canary's error burn rate is at least `error_burn_factor`
//!   (default 3) times the baseline's **and** at least `min_burn_rate` (default 1.0, i.e. the
//!   canary's error ratio reaches the whole error budget `1 − objective`). The floor matters when
//!   the baseline has no errors: `3 × 0 = 0` would otherwise roll back on a single error. A
//!   canary without any error is never rolled back by this rule.
//! - **latency**: roll back when the canary's p99 is at least `latency_factor` (default 2) times
//!   the baseline's.
//! - **not enough data**: when either side served fewer than `min_requests` (default 1000), the
//!   verdict is [`Verdict::NotEnoughData`], never [`Verdict::Rollback`].
//!
//! Burn rate here is `error ratio ÷ (1 − objective)` on each side; the ratio of the two burn
//! rates therefore does not depend on the objective, only the floor does.
//!
//! Edge cases, as an SRE would expect them:
//! - a missing p99 (`None`, or NaN as `histogram_quantile` returns for an empty histogram) on
//!   either side skips the latency rule, and so does a baseline p99 of 0 (the ratio is
//!   undefined); the verdict says which ([`LatencySkip`]);
//! - impossible samples (more errors than requests, a negative or infinite p99) are an error,
//!   not a verdict;
//! - the budget `1 − objective` is computed in decimal
//!   ([`crate::objective::allowed_bad_ratio_of`]), so 1 error in 1000 requests at 99.9 % is a
//!   burn rate of exactly 1.0; comparisons at a threshold still tolerate a relative 1e-9, so a
//!   value that is on the threshold in decimal but not in binary (a canary burn rate of
//!   3 × a baseline's, say) counts as reaching it.
//!
//! ```
//! use parky_slo::policy::rollback::{RollbackConfig, RollbackPolicy, TrafficSample, Verdict};
//!
//! # fn main() -> Result<(), parky_slo::error::SloError> {
//! let policy = RollbackPolicy::try_from(RollbackConfig::default())?;
//! let baseline = TrafficSample { requests: 10_000, errors: 5, p99_seconds: Some(0.2) };
//! let canary = TrafficSample { requests: 2_000, errors: 4, p99_seconds: Some(0.25) };
//! // Error ratios 0.0005 and 0.002: burn rates 0.5 and 2.0, ratio 4 ≥ 3 and 2.0 ≥ 1.0.
//! let verdict = policy.verdict(&baseline, &canary)?;
//! assert!(matches!(verdict, Verdict::Rollback { .. }));
//! # Ok(())
//! # }
//! ```

use serde::{Deserialize, Serialize};

use crate::error::SloError;
use crate::objective::allowed_bad_ratio_of;

/// Relative tolerance of the threshold comparisons (see the module docs).
const RELATIVE_TOLERANCE: f64 = 1e-9;

/// `value >= threshold`, counting values within a relative [`RELATIVE_TOLERANCE`] below the
/// threshold as reaching it.
fn reaches(value: f64, threshold: f64) -> bool {
    value >= threshold - RELATIVE_TOLERANCE * threshold.abs()
}

/// The rollback rule as written in a config file; validate it into a [`RollbackPolicy`] with
/// `RollbackPolicy::try_from`. Missing fields take the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RollbackConfig {
    /// Availability objective the error budget comes from, strictly between 0 and 1
    /// (default 0.999).
    pub objective: f64,
    /// Roll back when the canary's error burn rate is at least this many times the baseline's;
    /// finite, at least 1 (default 3).
    pub error_burn_factor: f64,
    /// Roll back when the canary's p99 is at least this many times the baseline's; finite, at
    /// least 1 (default 2).
    pub latency_factor: f64,
    /// The error rule also needs the canary's burn rate to be at least this; finite, at least 0
    /// (default 1.0: the canary's error ratio reaches the whole budget).
    pub min_burn_rate: f64,
    /// Fewer requests than this on either side means "not enough data"; at least 1
    /// (default 1000, the request count in which a 99.9 % objective allows one error).
    pub min_requests: u64,
}

impl Default for RollbackConfig {
    fn default() -> Self {
        Self {
            objective: 0.999,
            error_burn_factor: 3.0,
            latency_factor: 2.0,
            min_burn_rate: 1.0,
            min_requests: 1000,
        }
    }
}

/// A validated rollback rule (see the module docs); build it from a [`RollbackConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RollbackPolicy {
    config: RollbackConfig,
}

impl Default for RollbackPolicy {
    /// The handbook defaults of [`RollbackConfig::default`].
    fn default() -> Self {
        Self {
            config: RollbackConfig::default(),
        }
    }
}

fn invalid(field: &str, reason: String) -> SloError {
    SloError::InvalidConfig {
        field: field.to_owned(),
        reason,
    }
}

impl TryFrom<RollbackConfig> for RollbackPolicy {
    type Error = SloError;

    /// # Errors
    /// [`SloError::InvalidConfig`] naming the first invalid field.
    fn try_from(config: RollbackConfig) -> Result<Self, Self::Error> {
        let RollbackConfig {
            objective,
            error_burn_factor,
            latency_factor,
            min_burn_rate,
            min_requests,
        } = config;
        if !(objective > 0.0 && objective < 1.0) {
            return Err(invalid(
                "objective",
                format!("{objective} must be strictly between 0 and 1"),
            ));
        }
        for (field, factor) in [
            ("error_burn_factor", error_burn_factor),
            ("latency_factor", latency_factor),
        ] {
            if !(factor.is_finite() && factor >= 1.0) {
                return Err(invalid(
                    field,
                    format!(
                        "{factor} must be a finite number >= 1 (below 1 a canary better than \
                         its baseline would be rolled back)"
                    ),
                ));
            }
        }
        if !(min_burn_rate.is_finite() && min_burn_rate >= 0.0) {
            return Err(invalid(
                "min_burn_rate",
                format!("{min_burn_rate} must be a finite number >= 0"),
            ));
        }
        if min_requests == 0 {
            return Err(invalid(
                "min_requests",
                "must be at least 1 (an empty side has no error ratio)".to_owned(),
            ));
        }
        Ok(Self { config })
    }
}

/// What one side (canary or baseline) served over the comparison window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficSample {
    /// Requests served.
    pub requests: u64,
    /// Requests that failed (at most `requests`).
    pub errors: u64,
    /// The p99 latency in seconds, if known. `None` or NaN skips the latency rule.
    pub p99_seconds: Option<f64>,
}

/// Which side of the comparison a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The currently deployed version.
    Baseline,
    /// The new version under test.
    Canary,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Baseline => "baseline",
            Side::Canary => "canary",
        }
    }
}

/// A side that served fewer requests than the policy's minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Shortfall {
    /// The side that is short.
    pub side: Side,
    /// Requests it served.
    pub requests: u64,
    /// Requests the policy needs before judging.
    pub min_requests: u64,
}

/// Why the latency rule was not evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencySkip {
    /// The baseline's p99 is missing (or NaN).
    BaselineP99Missing,
    /// The canary's p99 is missing (or NaN).
    CanaryP99Missing,
    /// The baseline's p99 is 0, so no ratio can be formed.
    BaselineP99Zero,
}

/// Everything the rule measured, for the deploy controller's log.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Measurements {
    /// Baseline error ratio ÷ (1 − objective).
    pub baseline_burn_rate: f64,
    /// Canary error ratio ÷ (1 − objective).
    pub canary_burn_rate: f64,
    /// Canary burn rate ÷ baseline burn rate; `None` when the baseline has no errors.
    pub error_burn_ratio: Option<f64>,
    /// The baseline's p99 in seconds, if known.
    pub baseline_p99_seconds: Option<f64>,
    /// The canary's p99 in seconds, if known.
    pub canary_p99_seconds: Option<f64>,
    /// Canary p99 ÷ baseline p99; `None` when the latency rule was skipped.
    pub latency_ratio: Option<f64>,
    /// Why the latency rule was skipped, if it was.
    pub latency_skipped: Option<LatencySkip>,
}

/// One rule that fired.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum RollbackReason {
    /// The canary burns error budget at least `factor` times as fast as the baseline, and at
    /// least `min_burn_rate`.
    ErrorBurnRate {
        /// The canary's burn rate.
        canary_burn_rate: f64,
        /// The baseline's burn rate.
        baseline_burn_rate: f64,
        /// Their ratio; `None` when the baseline has no errors.
        ratio: Option<f64>,
        /// The configured `error_burn_factor`.
        factor: f64,
        /// The configured `min_burn_rate`.
        min_burn_rate: f64,
    },
    /// The canary's p99 is at least `factor` times the baseline's.
    Latency {
        /// The canary's p99 in seconds.
        canary_p99_seconds: f64,
        /// The baseline's p99 in seconds.
        baseline_p99_seconds: f64,
        /// Their ratio.
        ratio: f64,
        /// The configured `latency_factor`.
        factor: f64,
    },
}

/// The outcome of comparing a canary with its baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// No rule fired: the canary is as healthy as its baseline and may proceed.
    Promote {
        /// What was measured.
        measurements: Measurements,
    },
    /// At least one rule fired: roll the canary back.
    Rollback {
        /// Every rule that fired (never empty).
        reasons: Vec<RollbackReason>,
        /// What was measured.
        measurements: Measurements,
    },
    /// A side served fewer requests than the minimum; wait for more traffic.
    NotEnoughData {
        /// The sides that are short (one or both).
        shortfalls: Vec<Shortfall>,
    },
}

/// Parses a p99 into "known" or "missing"; an impossible value is an error.
fn known_p99(side: Side, p99: Option<f64>) -> Result<Option<f64>, SloError> {
    match p99 {
        None => Ok(None),
        Some(v) if v.is_nan() => Ok(None),
        Some(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
        Some(v) => Err(SloError::InvalidSample {
            field: format!("{}.p99_seconds", side.name()),
            reason: format!("{v} is not a latency (must be finite and >= 0)"),
        }),
    }
}

impl RollbackPolicy {
    /// The validated configuration.
    pub fn config(&self) -> &RollbackConfig {
        &self.config
    }

    /// Compares `canary` with `baseline` (same window) and decides; see the module docs for
    /// the rules and edge cases.
    ///
    /// # Errors
    /// [`SloError::InvalidSample`] naming e.g. `canary.errors` when a side reports more errors
    /// than requests, or a p99 that is negative or infinite. Never panics.
    pub fn verdict(
        &self,
        baseline: &TrafficSample,
        canary: &TrafficSample,
    ) -> Result<Verdict, SloError> {
        let config = &self.config;
        for (side, sample) in [(Side::Baseline, baseline), (Side::Canary, canary)] {
            if sample.errors > sample.requests {
                return Err(SloError::InvalidSample {
                    field: format!("{}.errors", side.name()),
                    reason: format!(
                        "{} errors out of {} requests",
                        sample.errors, sample.requests
                    ),
                });
            }
        }
        let baseline_p99 = known_p99(Side::Baseline, baseline.p99_seconds)?;
        let canary_p99 = known_p99(Side::Canary, canary.p99_seconds)?;

        let shortfalls: Vec<Shortfall> = [(Side::Baseline, baseline), (Side::Canary, canary)]
            .into_iter()
            .filter(|(_, sample)| sample.requests < config.min_requests)
            .map(|(side, sample)| Shortfall {
                side,
                requests: sample.requests,
                min_requests: config.min_requests,
            })
            .collect();
        if !shortfalls.is_empty() {
            tracing::debug!(?shortfalls, "canary verdict: not enough data");
            return Ok(Verdict::NotEnoughData { shortfalls });
        }

        // Both sides have >= min_requests >= 1 requests, so the divisions are finite.
        // 1 − objective in decimal: 0.001 exactly for 0.999 (see `allowed_bad_ratio_of`).
        let budget = allowed_bad_ratio_of(config.objective);
        let burn_rate =
            |sample: &TrafficSample| (sample.errors as f64 / sample.requests as f64) / budget;
        let baseline_burn_rate = burn_rate(baseline);
        let canary_burn_rate = burn_rate(canary);
        let error_burn_ratio =
            (baseline_burn_rate > 0.0).then(|| canary_burn_rate / baseline_burn_rate);

        let (latency_ratio, latency_skipped) = match (baseline_p99, canary_p99) {
            (None, _) => (None, Some(LatencySkip::BaselineP99Missing)),
            (_, None) => (None, Some(LatencySkip::CanaryP99Missing)),
            (Some(b), Some(_)) if b <= 0.0 => (None, Some(LatencySkip::BaselineP99Zero)),
            (Some(b), Some(c)) => (Some(c / b), None),
        };
        let measurements = Measurements {
            baseline_burn_rate,
            canary_burn_rate,
            error_burn_ratio,
            baseline_p99_seconds: baseline_p99,
            canary_p99_seconds: canary_p99,
            latency_ratio,
            latency_skipped,
        };

        let mut reasons = Vec::new();
        if canary.errors > 0
            && reaches(
                canary_burn_rate,
                config.error_burn_factor * baseline_burn_rate,
            )
            && reaches(canary_burn_rate, config.min_burn_rate)
        {
            reasons.push(RollbackReason::ErrorBurnRate {
                canary_burn_rate,
                baseline_burn_rate,
                ratio: error_burn_ratio,
                factor: config.error_burn_factor,
                min_burn_rate: config.min_burn_rate,
            });
        }
        if let (Some(b), Some(c), Some(ratio)) = (baseline_p99, canary_p99, latency_ratio) {
            if reaches(c, config.latency_factor * b) {
                reasons.push(RollbackReason::Latency {
                    canary_p99_seconds: c,
                    baseline_p99_seconds: b,
                    ratio,
                    factor: config.latency_factor,
                });
            }
        }

        let verdict = if reasons.is_empty() {
            Verdict::Promote { measurements }
        } else {
            Verdict::Rollback {
                reasons,
                measurements,
            }
        };
        tracing::debug!(?verdict, "canary verdict");
        Ok(verdict)
    }
}

/// Free-function form of [`RollbackPolicy::verdict`]: compares `canary` with `baseline`.
///
/// # Errors
/// As [`RollbackPolicy::verdict`].
pub fn verdict(
    policy: &RollbackPolicy,
    baseline: &TrafficSample,
    canary: &TrafficSample,
) -> Result<Verdict, SloError> {
    policy.verdict(baseline, canary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(requests: u64, errors: u64, p99: Option<f64>) -> TrafficSample {
        TrafficSample {
            requests,
            errors,
            p99_seconds: p99,
        }
    }

    fn judge(baseline: TrafficSample, canary: TrafficSample) -> Verdict {
        RollbackPolicy::default()
            .verdict(&baseline, &canary)
            .expect("valid samples")
    }

    fn rule_names(verdict: &Verdict) -> Vec<&'static str> {
        match verdict {
            Verdict::Rollback { reasons, .. } => reasons
                .iter()
                .map(|r| match r {
                    RollbackReason::ErrorBurnRate { .. } => "errors",
                    RollbackReason::Latency { .. } => "latency",
                })
                .collect(),
            Verdict::Promote { .. } => vec!["promote"],
            Verdict::NotEnoughData { .. } => vec!["not enough data"],
        }
    }

    /// The verdict table with the default policy (objective 0.999, budget 0.001, error factor 3,
    /// latency factor 2, min burn rate 1.0, min requests 1000).
    #[test]
    fn verdict_table() {
        let cases: [(&str, TrafficSample, TrafficSample, &[&str]); 12] = [
            // Baseline 10/10000 = 0.001 → burn 1; canary 6/2000 = 0.003 → burn 3 = 3 × 1
            // exactly, and 3 ≥ 1.0 → errors fire.
            (
                "error ratio exactly 3x",
                sample(10_000, 10, Some(0.2)),
                sample(2_000, 6, Some(0.2)),
                &["errors"],
            ),
            // Canary 5/2000 = 0.0025 → burn 2.5 < 3 → promote.
            (
                "error ratio 2.5x",
                sample(10_000, 10, Some(0.2)),
                sample(2_000, 5, Some(0.2)),
                &["promote"],
            ),
            // p99 0.4 = 2 × 0.2 exactly → latency fires.
            (
                "p99 exactly 2x",
                sample(10_000, 10, Some(0.2)),
                sample(2_000, 0, Some(0.4)),
                &["latency"],
            ),
            // p99 0.399 = 1.995 × 0.2 → promote.
            (
                "p99 just under 2x",
                sample(10_000, 10, Some(0.2)),
                sample(2_000, 0, Some(0.399)),
                &["promote"],
            ),
            // Both rules: burn 5/1 and p99 0.6/0.2 = 3.
            (
                "both rules",
                sample(10_000, 10, Some(0.2)),
                sample(2_000, 10, Some(0.6)),
                &["errors", "latency"],
            ),
            // Baseline 0 errors → burn 0; canary 1/1000 = 0.001 → burn 1.0 (on the floor,
            // with 1 − 0.999 inexact in binary) and ≥ 3 × 0 → errors fire.
            (
                "zero baseline errors, canary at the floor",
                sample(10_000, 0, Some(0.2)),
                sample(1_000, 1, Some(0.2)),
                &["errors"],
            ),
            // Canary 1/2000 = 0.0005 → burn 0.5 < floor 1.0 → promote although 0.5 ≥ 3 × 0.
            (
                "zero baseline errors, canary below the floor",
                sample(10_000, 0, Some(0.2)),
                sample(2_000, 1, Some(0.2)),
                &["promote"],
            ),
            // Neither side has errors: 0 ≥ 3 × 0 but the canary has no errors → promote.
            (
                "no errors anywhere",
                sample(10_000, 0, Some(0.2)),
                sample(2_000, 0, Some(0.2)),
                &["promote"],
            ),
            // Canary 999 requests < 1000 → not enough data, although 500 errors.
            (
                "canary below min requests",
                sample(10_000, 10, Some(0.2)),
                sample(999, 500, Some(5.0)),
                &["not enough data"],
            ),
            // Baseline 999 requests < 1000 → not enough data.
            (
                "baseline below min requests",
                sample(999, 0, Some(0.2)),
                sample(5_000, 500, Some(5.0)),
                &["not enough data"],
            ),
            // Missing canary p99: latency skipped; errors 6/2000 → burn 3 → still fires.
            (
                "missing canary p99",
                sample(10_000, 10, Some(0.2)),
                sample(2_000, 6, None),
                &["errors"],
            ),
            // NaN baseline p99 (an empty histogram) → latency skipped → promote.
            (
                "NaN baseline p99",
                sample(10_000, 10, Some(f64::NAN)),
                sample(2_000, 0, Some(9.0)),
                &["promote"],
            ),
        ];
        for (name, baseline, canary, expected) in cases {
            let verdict = judge(baseline, canary);
            assert_eq!(rule_names(&verdict), expected, "{name}: {verdict:?}");
        }
    }

    #[test]
    fn verdict_carries_the_measurements() {
        // Baseline 10/10000 → burn 1; canary 6/2000 → burn 3; ratio 3; p99 ratio 0.5/0.25 = 2.
        let verdict = judge(sample(10_000, 10, Some(0.25)), sample(2_000, 6, Some(0.5)));
        let Verdict::Rollback {
            reasons,
            measurements,
        } = verdict
        else {
            panic!("expected a rollback, got {verdict:?}");
        };
        assert_eq!(reasons.len(), 2);
        assert!((measurements.baseline_burn_rate - 1.0).abs() < 1e-9);
        assert!((measurements.canary_burn_rate - 3.0).abs() < 1e-9);
        assert!((measurements.error_burn_ratio.expect("baseline errors") - 3.0).abs() < 1e-9);
        assert_eq!(measurements.latency_ratio, Some(2.0));
        assert_eq!(measurements.latency_skipped, None);
        let json = serde_json::to_value(Verdict::Rollback {
            reasons,
            measurements,
        })
        .expect("serializes");
        assert_eq!(json["verdict"], "rollback");
        assert_eq!(json["reasons"][0]["rule"], "error_burn_rate");
        assert_eq!(json["reasons"][1]["rule"], "latency");
        assert_eq!(json["measurements"]["latency_ratio"], 2.0);
    }

    #[test]
    fn one_error_in_a_thousand_is_burn_rate_exactly_one() {
        // Budget 1 − 0.999 = 0.001 (decimal). Canary 1/1000 = 0.001 → 0.001 ÷ 0.001 = 1.0
        // exactly, the default floor; baseline 10/10 000 = 0.001 → 1.0 too.
        let verdict = judge(sample(10_000, 10, None), sample(1_000, 1, None));
        let measurements = match verdict {
            Verdict::Promote { measurements } | Verdict::Rollback { measurements, .. } => {
                measurements
            }
            other => panic!("expected a judged verdict, got {other:?}"),
        };
        assert_eq!(measurements.canary_burn_rate, 1.0);
        assert_eq!(measurements.baseline_burn_rate, 1.0);
        assert_eq!(measurements.error_burn_ratio, Some(1.0));
    }

    #[test]
    fn skipped_latency_and_shortfalls_are_reported() {
        let verdict = judge(sample(10_000, 0, Some(0.0)), sample(2_000, 0, Some(1.0)));
        let Verdict::Promote { measurements } = verdict else {
            panic!("expected promote, got {verdict:?}");
        };
        assert_eq!(
            measurements.latency_skipped,
            Some(LatencySkip::BaselineP99Zero)
        );
        assert_eq!(measurements.error_burn_ratio, None);

        let verdict = judge(sample(10, 0, None), sample(20, 0, None));
        assert_eq!(
            verdict,
            Verdict::NotEnoughData {
                shortfalls: vec![
                    Shortfall {
                        side: Side::Baseline,
                        requests: 10,
                        min_requests: 1000
                    },
                    Shortfall {
                        side: Side::Canary,
                        requests: 20,
                        min_requests: 1000
                    },
                ]
            }
        );
        let json = serde_json::to_value(&verdict).expect("serializes");
        assert_eq!(json["verdict"], "not_enough_data");
        assert_eq!(json["shortfalls"][1]["side"], "canary");
    }

    #[test]
    fn configurable_factors() {
        // Error factor 2: canary burn 2 (4/2000 = 0.002) vs baseline 1 → ratio 2 ≥ 2 fires.
        // Latency factor 1.5: 0.3 ≥ 1.5 × 0.2 = 0.3 fires.
        let policy = RollbackPolicy::try_from(RollbackConfig {
            error_burn_factor: 2.0,
            latency_factor: 1.5,
            ..RollbackConfig::default()
        })
        .expect("valid");
        let verdict = policy
            .verdict(&sample(10_000, 10, Some(0.2)), &sample(2_000, 4, Some(0.3)))
            .expect("valid samples");
        assert_eq!(rule_names(&verdict), ["errors", "latency"]);
    }

    #[test]
    fn invalid_config_names_the_field() {
        let base = RollbackConfig::default();
        for (config, field) in [
            (
                RollbackConfig {
                    objective: 1.0,
                    ..base
                },
                "objective",
            ),
            (
                RollbackConfig {
                    objective: f64::NAN,
                    ..base
                },
                "objective",
            ),
            (
                RollbackConfig {
                    error_burn_factor: 0.5,
                    ..base
                },
                "error_burn_factor",
            ),
            (
                RollbackConfig {
                    error_burn_factor: f64::INFINITY,
                    ..base
                },
                "error_burn_factor",
            ),
            (
                RollbackConfig {
                    latency_factor: f64::NAN,
                    ..base
                },
                "latency_factor",
            ),
            (
                RollbackConfig {
                    min_burn_rate: -1.0,
                    ..base
                },
                "min_burn_rate",
            ),
            (
                RollbackConfig {
                    min_requests: 0,
                    ..base
                },
                "min_requests",
            ),
        ] {
            match RollbackPolicy::try_from(config) {
                Err(SloError::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
                other => panic!("expected InvalidConfig for {field}, got {other:?}"),
            }
        }
        let parsed: RollbackConfig =
            serde_json::from_str(r#"{"error_burn_factor": 4}"#).expect("parses");
        assert_eq!(parsed.error_burn_factor, 4.0);
        assert_eq!(parsed.min_requests, 1000);
        assert!(serde_json::from_str::<RollbackConfig>(r#"{"factor": 4}"#).is_err());
    }

    #[test]
    fn impossible_samples_are_errors() {
        let policy = RollbackPolicy::default();
        let ok = sample(10_000, 10, Some(0.2));
        for (baseline, canary, field) in [
            (ok, sample(10, 11, None), "canary.errors"),
            (sample(10, 11, None), ok, "baseline.errors"),
            (ok, sample(2_000, 1, Some(-0.1)), "canary.p99_seconds"),
            (
                sample(2_000, 1, Some(f64::INFINITY)),
                ok,
                "baseline.p99_seconds",
            ),
        ] {
            match verdict(&policy, &baseline, &canary) {
                Err(SloError::InvalidSample { field: f, .. }) => assert_eq!(f, field),
                other => panic!("expected InvalidSample for {field}, got {other:?}"),
            }
        }
    }

    fn any_sample() -> impl Strategy<Value = TrafficSample> {
        (
            0_u64..5_000,
            0_u64..5_000,
            prop_oneof![
                Just(None),
                Just(Some(f64::NAN)),
                Just(Some(0.0)),
                (0.0..10.0_f64).prop_map(Some),
                proptest::num::f64::ANY.prop_map(Some),
            ],
        )
            .prop_map(|(requests, errors, p99_seconds)| TrafficSample {
                requests,
                errors,
                p99_seconds,
            })
    }

    proptest! {
        #[test]
        fn never_rolls_back_below_min_requests(
            baseline in any_sample(),
            canary in any_sample(),
            min_requests in 1_u64..6_000,
            error_burn_factor in 1.0..10.0_f64,
            latency_factor in 1.0..10.0_f64,
            min_burn_rate in 0.0..10.0_f64,
        ) {
            let policy = RollbackPolicy::try_from(RollbackConfig {
                min_requests,
                error_burn_factor,
                latency_factor,
                min_burn_rate,
                ..RollbackConfig::default()
            }).expect("valid config");
            let result = policy.verdict(&baseline, &canary);
            if baseline.requests < min_requests || canary.requests < min_requests {
                prop_assert!(
                    !matches!(result, Ok(Verdict::Rollback { .. })),
                    "{result:?}"
                );
            }
        }

        #[test]
        fn more_canary_errors_never_turn_a_rollback_into_a_promote(
            errors in 0_u64..2_000,
            extra in 0_u64..2_000,
        ) {
            let policy = RollbackPolicy::default();
            let baseline = sample(10_000, 10, None);
            let fewer = policy.verdict(&baseline, &sample(4_000, errors, None));
            let more = policy.verdict(&baseline, &sample(4_000, errors + extra, None));
            if matches!(fewer, Ok(Verdict::Rollback { .. })) {
                prop_assert!(matches!(more, Ok(Verdict::Rollback { .. })), "{more:?}");
            }
        }
    }
}
