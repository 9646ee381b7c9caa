//! Judging a canary against its baseline: the [`CanaryJudge`] trait and its default,
//! [`SloJudge`], built on `parky-slo`'s rollback rule.
//!
//! A judge compares what the canary and the baseline served over the same window and answers
//! with a [`Verdict`]:
//!
//! | `parky-slo` verdict | [`Verdict`] |
//! |---|---|
//! | `Promote` (no rule fired) | [`Verdict::Pass`] |
//! | `Rollback` (error burn ≥ 3 × baseline and ≥ the floor, or p99 ≥ 2 × baseline) | [`Verdict::Fail`], one reason per rule |
//! | `NotEnoughData` (a side below the minimum sample) | [`Verdict::Inconclusive`] |
//! | an impossible sample (more errors than requests, a negative p99) | [`Verdict::Inconclusive`] |
//!
//! An impossible sample is a metrics problem, not evidence against the canary, so it holds the
//! step rather than failing it; if it persists, the plan's progress deadline rolls back.
//!
//! ```
//! use parky_deploy::policy::judge::{CanaryJudge, SloJudge, TrafficSample, Verdict};
//!
//! let judge = SloJudge::default();
//! let baseline = TrafficSample { requests: 10_000, errors: 10, p99_seconds: Some(0.2) };
//! let canary = TrafficSample { requests: 2_000, errors: 2, p99_seconds: Some(0.21) };
//! // Burn rates 1.0 and 1.0: ratio 1 < 3; p99 ratio 1.05 < 2.
//! assert_eq!(judge.judge(&canary, &baseline), Verdict::Pass);
//! ```

use std::fmt;

use parky_slo::policy::rollback::{self, RollbackPolicy, RollbackReason, Side};
use serde::{Deserialize, Serialize};

pub use parky_slo::policy::rollback::TrafficSample;

/// The outcome of one canary check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The canary is as healthy as its baseline.
    Pass,
    /// The canary is worse than its baseline; the check counts as failed.
    Fail {
        /// Human-readable reasons, one per rule that fired (never empty from [`SloJudge`]).
        reasons: Vec<String>,
    },
    /// Not enough (or no usable) data to judge: the step holds, no check is counted.
    Inconclusive {
        /// Why the check could not be judged.
        reason: String,
    },
}

impl Verdict {
    /// A failed verdict with one reason.
    pub fn fail(reason: impl Into<String>) -> Self {
        Verdict::Fail {
            reasons: vec![reason.into()],
        }
    }

    /// An inconclusive verdict.
    pub fn inconclusive(reason: impl Into<String>) -> Self {
        Verdict::Inconclusive {
            reason: reason.into(),
        }
    }
}

/// Decides whether a canary is healthy compared with its baseline over the same window.
///
/// Implementations are pure (no I/O); the controller fetches both samples. Any
/// `Fn(&TrafficSample, &TrafficSample) -> Verdict + Send + Sync` closure is a judge too, which
/// helps in tests.
pub trait CanaryJudge: Send + Sync {
    /// Judges `canary` against `baseline`. Never panics.
    fn judge(&self, canary: &TrafficSample, baseline: &TrafficSample) -> Verdict;
}

impl<F> CanaryJudge for F
where
    F: Fn(&TrafficSample, &TrafficSample) -> Verdict + Send + Sync,
{
    fn judge(&self, canary: &TrafficSample, baseline: &TrafficSample) -> Verdict {
        self(canary, baseline)
    }
}

/// The default judge: `parky-slo`'s [`RollbackPolicy`] (error burn ≥ 3 × baseline with a
/// floor, p99 ≥ 2 × baseline, at least 1000 requests on each side by default), mapped as in
/// the module docs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SloJudge {
    policy: RollbackPolicy,
}

impl SloJudge {
    /// A judge applying `policy`.
    pub fn new(policy: RollbackPolicy) -> Self {
        Self { policy }
    }

    /// The rollback rule applied.
    pub fn policy(&self) -> &RollbackPolicy {
        &self.policy
    }
}

impl CanaryJudge for SloJudge {
    fn judge(&self, canary: &TrafficSample, baseline: &TrafficSample) -> Verdict {
        match self.policy.verdict(baseline, canary) {
            Ok(rollback::Verdict::Promote { .. }) => Verdict::Pass,
            Ok(rollback::Verdict::Rollback { reasons, .. }) => Verdict::Fail {
                reasons: reasons.iter().map(|r| ReasonText(r).to_string()).collect(),
            },
            Ok(rollback::Verdict::NotEnoughData { shortfalls }) => Verdict::Inconclusive {
                reason: shortfalls
                    .iter()
                    .map(|s| {
                        format!(
                            "{} served {} requests, needs {}",
                            side_name(s.side),
                            s.requests,
                            s.min_requests
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            },
            Err(error) => Verdict::Inconclusive {
                reason: error.to_string(),
            },
        }
    }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Baseline => "baseline",
        Side::Canary => "canary",
    }
}

/// Formats a `parky-slo` rollback reason for people.
struct ReasonText<'a>(&'a RollbackReason);

impl fmt::Display for ReasonText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self.0 {
            RollbackReason::ErrorBurnRate {
                canary_burn_rate,
                baseline_burn_rate,
                factor,
                min_burn_rate,
                ..
            } => write!(
                f,
                "error burn rate {canary_burn_rate:.3} >= {factor} x baseline \
                 {baseline_burn_rate:.3} (and >= {min_burn_rate})"
            ),
            RollbackReason::Latency {
                canary_p99_seconds,
                baseline_p99_seconds,
                factor,
                ..
            } => write!(
                f,
                "p99 {canary_p99_seconds:.3}s >= {factor} x baseline {baseline_p99_seconds:.3}s"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parky_slo::policy::rollback::RollbackConfig;

    fn sample(requests: u64, errors: u64, p99: Option<f64>) -> TrafficSample {
        TrafficSample {
            requests,
            errors,
            p99_seconds: p99,
        }
    }

    #[test]
    fn error_burn_fails_with_the_numbers() {
        // Baseline 5/10 000 = 0.0005 → burn 0.5; canary 4/2000 = 0.002 → burn 2.0;
        // 2.0 ≥ 3 × 0.5 = 1.5 and ≥ 1.0 → fail. p99 0.25 < 2 × 0.2 → no latency reason.
        let verdict =
            SloJudge::default().judge(&sample(2_000, 4, Some(0.25)), &sample(10_000, 5, Some(0.2)));
        assert_eq!(
            verdict,
            Verdict::Fail {
                reasons: vec!["error burn rate 2.000 >= 3 x baseline 0.500 (and >= 1)".to_owned()]
            }
        );
    }

    #[test]
    fn latency_fails_and_argument_order_is_canary_first() {
        // Canary p99 0.5 ≥ 2 × 0.25 → fail; swapped, 0.25 < 2 × 0.5 → pass.
        let judge = SloJudge::default();
        let slow = sample(2_000, 0, Some(0.5));
        let fast = sample(10_000, 0, Some(0.25));
        assert_eq!(
            judge.judge(&slow, &fast),
            Verdict::fail("p99 0.500s >= 2 x baseline 0.250s")
        );
        assert_eq!(judge.judge(&fast, &slow), Verdict::Pass);
    }

    #[test]
    fn small_samples_are_inconclusive() {
        let verdict = SloJudge::default().judge(&sample(999, 500, None), &sample(10, 0, None));
        assert_eq!(
            verdict,
            Verdict::inconclusive(
                "baseline served 10 requests, needs 1000; canary served 999 requests, needs 1000"
            )
        );
    }

    #[test]
    fn impossible_samples_are_inconclusive_not_failures() {
        let verdict =
            SloJudge::default().judge(&sample(2_000, 2_001, None), &sample(10_000, 0, None));
        assert!(
            matches!(&verdict, Verdict::Inconclusive { reason } if reason.contains("canary.errors")),
            "{verdict:?}"
        );
    }

    #[test]
    fn configured_policy_and_closures() {
        let policy = RollbackPolicy::try_from(RollbackConfig {
            min_requests: 10,
            ..RollbackConfig::default()
        })
        .expect("valid config");
        let judge = SloJudge::new(policy);
        assert_eq!(judge.policy().config().min_requests, 10);
        assert_eq!(
            judge.judge(&sample(10, 0, None), &sample(10, 0, None)),
            Verdict::Pass
        );
        let always_fail = |_: &TrafficSample, _: &TrafficSample| Verdict::fail("scripted");
        let boxed: Box<dyn CanaryJudge> = Box::new(always_fail);
        assert_eq!(
            boxed.judge(&sample(1, 0, None), &sample(1, 0, None)),
            Verdict::fail("scripted")
        );
    }
}
