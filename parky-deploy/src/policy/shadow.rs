//! Shadow mode: automatic rollbacks recorded instead of executed, a ledger of those decisions,
//! and the "two weeks without a false positive" rule for switching an environment to enforce.
//!
//! Each environment is in [`EnforcementMode::Enforce`] (automatic rollbacks are executed) or
//! [`EnforcementMode::Shadow`] (the canary plan records the rollback it would have made as
//! [`EventKind::RollbackShadowed`](crate::policy::canary::EventKind::RollbackShadowed) and
//! carries on). The controller appends every automatic rollback decision, enforced or shadowed,
//! to a [`ShadowLedger`]; people mark the wrong ones as false positives; [`ShadowLedger::report`]
//! says per environment whether enforcing is safe.
//!
//! # The two-week rule, exactly
//!
//! At the evaluation time `now`, an environment is **ready to enforce** when
//!
//! 1. it is in shadow mode at `now`, and has been since `shadow_since` (its last switch to
//!    shadow at or before `now`) with `shadow_since + 14 days ≤ now`; and
//! 2. no decision marked false positive was *made* in the last 14 days: for every false
//!    positive decision at time `t ≤ now`, `t + 14 days ≤ now`. The decision time counts, not
//!    the time it was marked: marking an old decision does not restart the clock, but the
//!    report is recomputed from the ledger, so a late mark can delay readiness.
//!
//! Both conditions are "a time plus 14 days has passed", so the date the rule is (or will be)
//! met is `max(shadow_since, last false positive) + 14 days`, reported as
//! [`EnvironmentReport::ready_at`]; it assumes no new false positive and is `None` when the
//! environment is not in shadow mode.
//!
//! At least one decision is **not** required: a judge that never fired in two weeks produced no
//! false positive, and requiring a (true) rollback would keep healthy services in shadow
//! forever. The report shows the number of decisions in the window so that a reviewer can see
//! how much evidence there is. Decisions and mode changes later than `now` are ignored, so a
//! report can be computed for any past date.
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use parky_deploy::policy::shadow::{Enforcement, EnforcementMode, ShadowLedger};
//!
//! # fn main() -> Result<(), parky_deploy::DeployError> {
//! let day = |d: u32| Utc.with_ymd_and_hms(2025, 3, d, 9, 0, 0).unwrap();
//! let mut ledger = ShadowLedger::new();
//! ledger.set_mode("production", EnforcementMode::Shadow, day(1));
//! let id = ledger.record("production", day(3), "v2".into(), Enforcement::Shadowed, vec![]);
//! ledger.mark_false_positive(id, day(4), "deploy-time cold start")?;
//! let report = ledger.report(day(10));
//! // Shadow since 1 March, false positive on 3 March: ready on 3 + 14 = 17 March.
//! assert_eq!(report.environments[0].ready_at, Some(day(17)));
//! assert!(!report.environments[0].ready);
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::error::DeployError;
use crate::model::VersionId;

/// How long an environment must be in shadow, and free of false positives, before enforcing.
pub const SHADOW_PERIOD_DAYS: i64 = 14;

/// Whether automatic rollbacks are executed in an environment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnforcementMode {
    /// Automatic rollbacks are executed.
    #[default]
    Enforce,
    /// Automatic rollbacks are only recorded.
    Shadow,
}

impl fmt::Display for EnforcementMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EnforcementMode::Enforce => "enforce",
            EnforcementMode::Shadow => "shadow",
        })
    }
}

/// The modes per environment as written in a config file, e.g.
/// `{"default": "enforce", "environments": {"production": "shadow"}}`; validate it into an
/// [`EnforcementPolicy`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnforcementConfig {
    /// The mode of environments not listed (default `enforce`).
    pub default: EnforcementMode,
    /// The mode per environment name.
    pub environments: BTreeMap<String, EnforcementMode>,
}

/// Validated modes per environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnforcementPolicy {
    default: EnforcementMode,
    environments: BTreeMap<String, EnforcementMode>,
}

impl TryFrom<EnforcementConfig> for EnforcementPolicy {
    type Error = DeployError;

    /// # Errors
    /// [`DeployError::InvalidConfig`] for an empty or blank environment name
    /// (`environments[""]`).
    fn try_from(config: EnforcementConfig) -> Result<Self, Self::Error> {
        if let Some(name) = config.environments.keys().find(|n| n.trim().is_empty()) {
            return Err(DeployError::InvalidConfig {
                field: format!("environments[{name:?}]"),
                reason: "an environment needs a name".to_owned(),
            });
        }
        Ok(Self {
            default: config.default,
            environments: config.environments,
        })
    }
}

impl EnforcementPolicy {
    /// The mode of `environment` (the default when it is not listed).
    pub fn mode_for(&self, environment: &str) -> EnforcementMode {
        self.environments
            .get(environment)
            .copied()
            .unwrap_or(self.default)
    }
}

/// Whether a rollback decision was executed or only recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    /// The rollback was executed.
    Enforced,
    /// Shadow mode: the rollback was only recorded.
    Shadowed,
}

/// The identifier of a decision in a [`ShadowLedger`] (1, 2, … in recording order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DecisionId(pub u64);

impl fmt::Display for DecisionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A person's judgement that a decision was wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FalsePositive {
    /// When it was marked.
    pub marked_at: DateTime<Utc>,
    /// Why, e.g. "cold start after deploy".
    pub note: String,
}

/// One automatic rollback decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Its id in the ledger.
    pub id: DecisionId,
    /// The environment, e.g. `production`.
    pub environment: String,
    /// When the decision was made.
    pub at: DateTime<Utc>,
    /// The canary version it was about.
    pub canary: VersionId,
    /// The judge's reasons (or the progress deadline).
    pub reasons: Vec<String>,
    /// Executed or only recorded.
    pub enforcement: Enforcement,
    /// Set when someone marked the decision as wrong.
    pub false_positive: Option<FalsePositive>,
}

/// A switch of an environment's mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeChange {
    /// The environment.
    pub environment: String,
    /// When it switched.
    pub at: DateTime<Utc>,
    /// The new mode.
    pub mode: EnforcementMode,
}

/// Rollback decisions and mode changes per environment (pure, serde); see the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShadowLedger {
    decisions: Vec<Decision>,
    mode_changes: Vec<ModeChange>,
}

/// The rule's evaluation for one environment at one time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvironmentReport {
    /// The environment.
    pub environment: String,
    /// Its mode at the evaluation time, if it was ever set.
    pub mode: Option<EnforcementMode>,
    /// Since when it is in shadow mode (`None` unless in shadow mode).
    pub shadow_since: Option<DateTime<Utc>>,
    /// Decisions recorded up to the evaluation time.
    pub decisions: usize,
    /// Of which shadowed.
    pub shadowed: usize,
    /// Of which enforced.
    pub enforced: usize,
    /// Decisions in the last 14 days (`now − 14 days < at ≤ now`).
    pub decisions_last_14_days: usize,
    /// Decisions marked false positive.
    pub false_positives: usize,
    /// The time of the latest decision marked false positive.
    pub last_false_positive: Option<DateTime<Utc>>,
    /// Whether the two-week rule is met: the environment may switch to enforce.
    pub ready: bool,
    /// When the rule is (or will be, without new false positives) met; `None` unless in shadow
    /// mode.
    pub ready_at: Option<DateTime<Utc>>,
}

/// The ledger's report at one time, one entry per environment in name order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerReport {
    /// The evaluation time.
    pub at: DateTime<Utc>,
    /// Per environment.
    pub environments: Vec<EnvironmentReport>,
}

impl ShadowLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `environment` is in `mode` from `at` on. Repeating the current mode is
    /// recorded too and restarts nothing: only switches to shadow start the shadow period.
    pub fn set_mode(&mut self, environment: &str, mode: EnforcementMode, at: DateTime<Utc>) {
        self.mode_changes.push(ModeChange {
            environment: environment.to_owned(),
            at,
            mode,
        });
    }

    /// Appends a decision and returns its id (one more than the largest id so far).
    pub fn record(
        &mut self,
        environment: &str,
        at: DateTime<Utc>,
        canary: VersionId,
        enforcement: Enforcement,
        reasons: Vec<String>,
    ) -> DecisionId {
        let next = self
            .decisions
            .iter()
            .map(|d| d.id.0)
            .max()
            .map_or(1, |max| max.saturating_add(1));
        let id = DecisionId(next);
        self.decisions.push(Decision {
            id,
            environment: environment.to_owned(),
            at,
            canary,
            reasons,
            enforcement,
            false_positive: None,
        });
        id
    }

    /// Marks decision `id` as a false positive. Marking it again keeps the first mark.
    ///
    /// # Errors
    /// [`DeployError::UnknownDecision`] when no decision has this id.
    pub fn mark_false_positive(
        &mut self,
        id: DecisionId,
        at: DateTime<Utc>,
        note: &str,
    ) -> Result<(), DeployError> {
        let decision = self
            .decisions
            .iter_mut()
            .find(|d| d.id == id)
            .ok_or(DeployError::UnknownDecision { id: id.0 })?;
        if decision.false_positive.is_none() {
            decision.false_positive = Some(FalsePositive {
                marked_at: at,
                note: note.to_owned(),
            });
        }
        Ok(())
    }

    /// Every decision, in recording order.
    pub fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    /// Every mode change, in recording order.
    pub fn mode_changes(&self) -> &[ModeChange] {
        &self.mode_changes
    }

    /// The mode of `environment` at `at` and since when it has been in that mode without
    /// interruption, if it was ever set by then.
    fn mode_at(
        &self,
        environment: &str,
        at: DateTime<Utc>,
    ) -> Option<(EnforcementMode, DateTime<Utc>)> {
        let mut changes: Vec<&ModeChange> = self
            .mode_changes
            .iter()
            .filter(|c| c.environment == environment && c.at <= at)
            .collect();
        // Stable sort: equal times keep recording order, the later record wins.
        changes.sort_by_key(|c| c.at);
        let mode = changes.last()?.mode;
        let since = changes
            .iter()
            .rev()
            .take_while(|c| c.mode == mode)
            .last()
            .map_or(at, |c| c.at);
        Some((mode, since))
    }

    /// Evaluates the two-week rule for every environment seen in the ledger at `now`.
    pub fn report(&self, now: DateTime<Utc>) -> LedgerReport {
        let period = TimeDelta::days(SHADOW_PERIOD_DAYS);
        let mut names: Vec<&str> = self
            .mode_changes
            .iter()
            .map(|c| c.environment.as_str())
            .chain(self.decisions.iter().map(|d| d.environment.as_str()))
            .collect();
        names.sort_unstable();
        names.dedup();
        let environments = names
            .into_iter()
            .map(|environment| {
                let decisions: Vec<&Decision> = self
                    .decisions
                    .iter()
                    .filter(|d| d.environment == environment && d.at <= now)
                    .collect();
                let count =
                    |e: Enforcement| decisions.iter().filter(|d| d.enforcement == e).count();
                let last_false_positive = decisions
                    .iter()
                    .filter(|d| d.false_positive.is_some())
                    .map(|d| d.at)
                    .max();
                let window_start = now.checked_sub_signed(period);
                let decisions_last_14_days = decisions
                    .iter()
                    .filter(|d| window_start.is_none_or(|start| d.at > start))
                    .count();
                let mode = self.mode_at(environment, now);
                let shadow_since = match mode {
                    Some((EnforcementMode::Shadow, since)) => Some(since),
                    _ => None,
                };
                // max(shadow_since, last false positive) + 14 days; None if unrepresentable.
                let ready_at = shadow_since.and_then(|since| {
                    last_false_positive
                        .map_or(since, |fp| fp.max(since))
                        .checked_add_signed(period)
                });
                EnvironmentReport {
                    environment: environment.to_owned(),
                    mode: mode.map(|(m, _)| m),
                    shadow_since,
                    decisions: decisions.len(),
                    shadowed: count(Enforcement::Shadowed),
                    enforced: count(Enforcement::Enforced),
                    decisions_last_14_days,
                    false_positives: decisions
                        .iter()
                        .filter(|d| d.false_positive.is_some())
                        .count(),
                    last_false_positive,
                    ready: ready_at.is_some_and(|at| at <= now),
                    ready_at,
                }
            })
            .collect();
        LedgerReport {
            at: now,
            environments,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, d, h, 0, 0)
            .single()
            .expect("valid date")
    }

    #[test]
    fn policy_modes_per_environment() {
        let config: EnforcementConfig = serde_json::from_str(
            r#"{"default": "enforce", "environments": {"production": "shadow"}}"#,
        )
        .expect("parses");
        let policy = EnforcementPolicy::try_from(config).expect("valid");
        assert_eq!(policy.mode_for("production"), EnforcementMode::Shadow);
        assert_eq!(policy.mode_for("staging"), EnforcementMode::Enforce);
        assert!(serde_json::from_str::<EnforcementConfig>(r#"{"mode": "shadow"}"#).is_err());
        let blank = EnforcementConfig {
            environments: BTreeMap::from([(" ".to_owned(), EnforcementMode::Shadow)]),
            ..EnforcementConfig::default()
        };
        assert!(matches!(
            EnforcementPolicy::try_from(blank),
            Err(DeployError::InvalidConfig { field, .. }) if field == "environments[\" \"]"
        ));
    }

    #[test]
    fn unknown_decision_is_an_error_and_marks_are_kept() {
        let mut ledger = ShadowLedger::new();
        assert_eq!(
            ledger.mark_false_positive(DecisionId(7), day(1, 0), "x"),
            Err(DeployError::UnknownDecision { id: 7 })
        );
        let id = ledger.record(
            "staging",
            day(1, 0),
            "v2".into(),
            Enforcement::Enforced,
            vec![],
        );
        assert_eq!(id, DecisionId(1));
        ledger
            .mark_false_positive(id, day(2, 0), "first")
            .expect("known");
        ledger
            .mark_false_positive(id, day(3, 0), "second")
            .expect("known");
        assert_eq!(
            ledger.decisions()[0].false_positive,
            Some(FalsePositive {
                marked_at: day(2, 0),
                note: "first".to_owned()
            })
        );
    }

    #[test]
    fn mode_history_and_switch_back() {
        // Shadow 1 Mar, enforce 5 Mar, shadow again 10 Mar 09:00: shadow_since is 10 Mar.
        let mut ledger = ShadowLedger::new();
        ledger.set_mode("production", EnforcementMode::Shadow, day(1, 9));
        ledger.set_mode("production", EnforcementMode::Enforce, day(5, 9));
        ledger.set_mode("production", EnforcementMode::Shadow, day(10, 9));
        ledger.set_mode("production", EnforcementMode::Shadow, day(12, 9)); // repeat
        let at = |d| ledger.report(day(d, 9)).environments[0].clone();
        assert_eq!(at(4).shadow_since, Some(day(1, 9)));
        assert_eq!(at(4).ready_at, Some(day(15, 9)));
        assert_eq!(at(6).mode, Some(EnforcementMode::Enforce));
        assert_eq!(at(6).ready_at, None);
        assert_eq!(at(24).shadow_since, Some(day(10, 9)));
        // 10 Mar + 14 days = 24 Mar 09:00: met exactly then.
        assert!(at(24).ready);
        assert!(!ledger.report(day(24, 8)).environments[0].ready);
    }
}
