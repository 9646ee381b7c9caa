//! The canary plan and its state machine, as pure functions of the state, the time and a
//! judge's verdict.
//!
//! A [`CanaryPlan`] walks the new version through traffic steps (default 1 → 10 → 50 → 100 %).
//! A controller (a cron job, a Worker's alarm) calls [`CanaryPlan::tick`] every interval with
//! the current time and a [`Check`] (the judge's [`Verdict`] plus the requests the canary
//! served since its step started), executes the returned [`Action`]s on the platform in order,
//! and persists the returned [`CanaryState`] only once they succeeded. Manual commands go
//! through [`CanaryPlan::command`]. Nothing here reads a clock or does I/O.
//!
//! # Rules
//!
//! - **Steps.** Strictly increasing percentages in 1–100 that end at 100, with at least one
//!   step below 100. Every step below 100 is a [`TrafficSplit`] with the canary at that share;
//!   reaching 100 is the promotion ([`Action::Promote`]). Steps are never skipped, except by
//!   the explicit [`Command::PromoteFull`].
//! - **Advancing.** In [`Phase::Progressing`] a step advances on a tick whose verdict is
//!   [`Verdict::Pass`], once its bake time has elapsed since the step started **and** the
//!   canary served at least `min_requests` during the step ([`Check::canary_requests`]).
//! - **Failed checks** are counted cumulatively over the whole attempt, as Flagger counts them:
//!   a passing check does not reset the count. A failed check never lets the canary move
//!   forward in the same tick; when the count reaches `failure_threshold` the canary rolls
//!   back ([`RollbackCause::FailedChecks`]). Failed checks also count while paused.
//! - **Inconclusive** verdicts (not enough data) hold the step and are never counted.
//! - **Progress deadline.** When a step has not advanced within `progress_deadline` of its
//!   start (or of the last resume), the canary is **rolled back**, as Flagger does, not merely
//!   aborted: its phase becomes [`Phase::RolledBack`] with [`RollbackCause::ProgressDeadline`]
//!   and a [`Command::Retry`] can restart it. The deadline does not run while paused.
//! - **Rollback** always sends 100 % of the traffic back to the stable version
//!   ([`Action::Rollback`]); the phase is [`Phase::RollingBack`] until the next tick confirms
//!   it ([`Phase::RolledBack`], or [`Phase::Aborted`] for a manual abort), or until
//!   [`CanaryPlan::complete_rollback`] does (the controller calls it right after carrying
//!   out an operator's abort, so an abort completes at once). Likewise
//!   [`Phase::Promoting`] becomes [`Phase::Succeeded`] on the next tick: since the controller
//!   persists a state only after executing its actions, the next tick means they were applied.
//! - **Shadow mode** ([`EnforcementMode::Shadow`], see [`crate::policy::shadow`]): an automatic
//!   rollback (failed checks or deadline) is not executed; the plan records
//!   [`EventKind::RollbackShadowed`] instead, restarts the failed-check count and the deadline
//!   clock, and keeps holding the step (a failing check still never moves the canary forward).
//!   Manual commands (abort included) are always enforced.
//! - **Plan edits.** The state stores the canary's traffic weight, not a step index: a plan
//!   changed in the middle of a rollout continues at its first step above the current weight.
//! - **Terminal phases** ([`Phase::Succeeded`], [`Phase::RolledBack`], [`Phase::Aborted`])
//!   ignore ticks; only [`Command::Retry`] leaves the latter two (back to
//!   [`Phase::Initializing`], attempt + 1, failed checks 0).
//!
//! # Phases × inputs
//!
//! | phase | input | next phase | actions |
//! |---|---|---|---|
//! | Initializing | tick (any verdict) | Progressing at the first step | `SetTraffic(first)`, `Record(StepStarted)` |
//! | Progressing | tick Pass, baked, enough requests | Progressing at the next step, or Promoting | `SetTraffic(next)` or `Promote`, `Record` |
//! | Progressing | tick Pass not ready / Inconclusive, before the deadline | Progressing (hold) | none |
//! | Progressing | tick Fail below the threshold | Progressing (hold) | `Record(CheckFailed)` |
//! | Progressing, Paused | tick Fail reaching the threshold | RollingBack (shadow: same phase) | `Record(CheckFailed)`, `Rollback`, `Record(RollbackStarted)` (shadow: `Record(RollbackShadowed)`) |
//! | Progressing | tick without advancing, deadline passed | RollingBack (shadow: same phase) | `Rollback`, `Record(RollbackStarted)` (shadow: `Record(RollbackShadowed)`) |
//! | Paused | tick Pass / Inconclusive / Fail below the threshold | Paused | `Record(CheckFailed)` for a Fail |
//! | Promoting | tick | Succeeded | `Record(Succeeded)` |
//! | RollingBack | tick | RolledBack (Aborted after an abort) | `Record(RolledBack)` |
//! | Succeeded, RolledBack, Aborted | tick | unchanged | none |
//! | Initializing, Progressing, Paused | PromoteStep | next step (Paused stays Paused), or Promoting | `SetTraffic(next)` or `Promote`, `Record` |
//! | Initializing, Progressing, Paused | PromoteFull | Promoting | `Promote`, `Record(PromotionStarted)` |
//! | Progressing | Pause | Paused | `Record(Paused)` |
//! | Paused | Resume | Progressing, deadline clock restarted | `Record(Resumed)` |
//! | Initializing, Progressing, Paused | Abort | RollingBack | `Rollback`, `Record(RollbackStarted)` |
//! | RolledBack, Aborted | Retry | Initializing | `Record(Retried)` |
//!
//! Pause on Paused, Resume on Progressing and Abort on RollingBack, RolledBack or Aborted are
//! accepted and change nothing; any other command is refused with
//! [`DeployError::CommandNotAllowed`].
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use parky_deploy::model::{TrafficSplit, VersionId};
//! use parky_deploy::policy::canary::{Action, CanaryConfig, CanaryPlan, CanaryState, Check, Phase};
//! use parky_deploy::policy::judge::Verdict;
//!
//! # fn main() -> Result<(), parky_deploy::DeployError> {
//! let plan = CanaryPlan::try_from(CanaryConfig::default())?; // 1, 10, 50, 100; bake 5m
//! let t0 = Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap();
//! let state = CanaryState::new("v1".into(), "v2".into(), t0)?;
//! let (state, actions) = plan.tick(state, t0, &Check::new(Verdict::Pass, 0));
//! assert_eq!(state.phase(), Phase::Progressing);
//! assert_eq!(
//!     actions[0],
//!     Action::SetTraffic(TrafficSplit { stable: "v1".into(), canary: Some(("v2".into(), 1)) })
//! );
//! // Five minutes later with 1000 requests on the canary, the check passes: 10 %.
//! let (state, _) = plan.tick(state, t0 + Duration::minutes(5), &Check::new(Verdict::Pass, 1000));
//! assert_eq!(state.weight(), 10);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::DeployError;
use crate::model::{TrafficSplit, VersionId};
use crate::policy::judge::Verdict;
use crate::policy::shadow::EnforcementMode;

/// The default traffic steps, in percent of requests on the canary.
pub const DEFAULT_STEPS: [u8; 4] = [1, 10, 50, 100];

/// At most this many events are kept in [`CanaryState::history`]; older ones are dropped so a
/// persisted state stays bounded however often a canary is retried.
pub const HISTORY_LIMIT: usize = 500;

/// A canary plan as written in a config file; validate it into a [`CanaryPlan`] with
/// `CanaryPlan::try_from`. Missing fields take the defaults.
///
/// ```
/// use parky_deploy::policy::canary::{CanaryConfig, CanaryPlan};
///
/// let config: CanaryConfig = serde_json::from_str(
///     r#"{"steps": [5, 25, 100], "bake_time": "10m", "failure_threshold": 2}"#,
/// ).unwrap();
/// let plan = CanaryPlan::try_from(config).unwrap();
/// assert_eq!(plan.steps(), &[5, 25, 100]);
/// assert_eq!(plan.bake_time().as_secs(), 600);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CanaryConfig {
    /// Canary traffic steps in percent: strictly increasing, each 1–100, ending at 100, with at
    /// least one step below 100 (default `[1, 10, 50, 100]`).
    pub steps: Vec<u32>,
    /// How long each step runs before it may advance, e.g. `"5m"`, `"1h 30m"` (default `"5m"`).
    pub bake_time: String,
    /// Requests the canary must serve during a step before it may advance (default 1000; 0
    /// disables the gate).
    pub min_requests: u64,
    /// Failed checks (cumulative over the attempt) that roll the canary back; at least 1
    /// (default 3).
    pub failure_threshold: u32,
    /// A step that has not advanced this long after it started (or after a resume) rolls the
    /// canary back; longer than `bake_time` (default `"30m"`).
    pub progress_deadline: String,
}

impl Default for CanaryConfig {
    fn default() -> Self {
        Self {
            steps: DEFAULT_STEPS.iter().map(|&s| u32::from(s)).collect(),
            bake_time: "5m".to_owned(),
            min_requests: 1000,
            failure_threshold: 3,
            progress_deadline: "30m".to_owned(),
        }
    }
}

/// A validated canary plan; build it from a [`CanaryConfig`]. See the module docs for the
/// rules it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanaryPlan {
    steps: Vec<u8>,
    bake_time: Duration,
    min_requests: u64,
    failure_threshold: u32,
    progress_deadline: Duration,
    mode: EnforcementMode,
}

impl Default for CanaryPlan {
    /// The plan of [`CanaryConfig::default`]: steps 1, 10, 50, 100; bake 5 min; 1000 requests
    /// per step; 3 failed checks; deadline 30 min; enforcing.
    fn default() -> Self {
        Self {
            steps: DEFAULT_STEPS.to_vec(),
            bake_time: Duration::from_secs(300),
            min_requests: 1000,
            failure_threshold: 3,
            progress_deadline: Duration::from_secs(1800),
            mode: EnforcementMode::Enforce,
        }
    }
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> DeployError {
    DeployError::InvalidConfig {
        field: field.into(),
        reason: reason.into(),
    }
}

fn parse_duration(field: &str, text: &str) -> Result<Duration, DeployError> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        invalid(
            field,
            format!("`{text}` is not a duration like \"5m\": {e}"),
        )
    })
}

impl TryFrom<CanaryConfig> for CanaryPlan {
    type Error = DeployError;

    /// # Errors
    /// [`DeployError::InvalidConfig`] naming the first invalid field, e.g. `steps[2]`.
    fn try_from(config: CanaryConfig) -> Result<Self, Self::Error> {
        if config.steps.is_empty() {
            return Err(invalid("steps", "needs at least one step"));
        }
        let mut steps = Vec::with_capacity(config.steps.len());
        for (i, &step) in config.steps.iter().enumerate() {
            let field = format!("steps[{i}]");
            let percent = match u8::try_from(step) {
                Ok(p) if (1..=100).contains(&p) => p,
                _ => {
                    return Err(invalid(
                        field,
                        format!("{step} is not a percentage in 1-100"),
                    ))
                }
            };
            if let Some(&previous) = steps.last() {
                if percent <= previous {
                    return Err(invalid(
                        field,
                        format!(
                            "{percent} must be greater than the step before it ({previous}): \
                             steps are strictly increasing"
                        ),
                    ));
                }
            }
            steps.push(percent);
        }
        if steps.last() != Some(&100) {
            return Err(invalid(
                format!("steps[{}]", steps.len() - 1),
                "the last step must be 100 (the promotion)",
            ));
        }
        if steps.len() < 2 {
            return Err(invalid(
                "steps",
                "needs at least one canary step below 100 (only 100 is a plain deploy)",
            ));
        }
        let bake_time = parse_duration("bake_time", &config.bake_time)?;
        let progress_deadline = parse_duration("progress_deadline", &config.progress_deadline)?;
        if progress_deadline <= bake_time {
            return Err(invalid(
                "progress_deadline",
                format!(
                    "{} must be longer than bake_time ({}), or no step could ever advance",
                    humantime::format_duration(progress_deadline),
                    humantime::format_duration(bake_time)
                ),
            ));
        }
        if config.failure_threshold == 0 {
            return Err(invalid("failure_threshold", "must be at least 1"));
        }
        Ok(Self {
            steps,
            bake_time,
            min_requests: config.min_requests,
            failure_threshold: config.failure_threshold,
            progress_deadline,
            mode: EnforcementMode::Enforce,
        })
    }
}

/// The phase of a canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Created (or retried); no traffic on the canary yet. The next tick starts the first step.
    Initializing,
    /// Running a step; ticks judge it and advance it.
    Progressing,
    /// Held by an operator: no advancing and no progress deadline, but failed checks still
    /// count and still roll back at the threshold.
    Paused,
    /// `Promote` was issued (100 % on the canary); the next tick confirms: `Succeeded`.
    Promoting,
    /// Terminal: the canary is the new stable version.
    Succeeded,
    /// `Rollback` was issued (100 % on the stable version); the next tick confirms:
    /// `RolledBack`, or `Aborted` after an abort.
    RollingBack,
    /// Terminal (until a retry): rolled back automatically, by failed checks or the deadline.
    RolledBack,
    /// Terminal (until a retry): rolled back by an operator's abort.
    Aborted,
}

impl Phase {
    /// Whether ticks leave this phase unchanged: `Succeeded`, `RolledBack`, `Aborted`.
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::RolledBack | Phase::Aborted)
    }

    fn name(self) -> &'static str {
        match self {
            Phase::Initializing => "initializing",
            Phase::Progressing => "progressing",
            Phase::Paused => "paused",
            Phase::Promoting => "promoting",
            Phase::Succeeded => "succeeded",
            Phase::RollingBack => "rolling_back",
            Phase::RolledBack => "rolled_back",
            Phase::Aborted => "aborted",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a canary was (or, in shadow mode, would have been) rolled back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackCause {
    /// Failed checks reached the plan's threshold.
    FailedChecks,
    /// A step did not advance within the progress deadline.
    ProgressDeadline,
    /// An operator aborted the canary.
    Aborted,
}

/// What a tick is fed: the judge's verdict and the canary's traffic during the current step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// The judge's verdict over the controller's analysis window.
    pub verdict: Verdict,
    /// Requests the canary served since the current step started
    /// ([`CanaryState::step_started_at`]); compared with the plan's `min_requests`.
    pub canary_requests: u64,
}

impl Check {
    /// A check with `verdict` and `canary_requests`.
    pub fn new(verdict: Verdict, canary_requests: u64) -> Self {
        Self {
            verdict,
            canary_requests,
        }
    }
}

/// A manual command from an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Advance one step now, ignoring bake time, minimum requests and failed checks (from the
    /// last step below 100: promote). A paused canary stays paused at the new step.
    PromoteStep,
    /// Promote to 100 % now, skipping the remaining steps.
    PromoteFull,
    /// Stop advancing (and stop the progress deadline); failed checks still count.
    Pause,
    /// Continue a paused canary; the progress deadline restarts from now.
    Resume,
    /// Roll back to the stable version now (enforced even in shadow mode).
    Abort,
    /// Restart a rolled-back or aborted canary from its first step.
    Retry,
}

impl Command {
    fn name(self) -> &'static str {
        match self {
            Command::PromoteStep => "promote",
            Command::PromoteFull => "fully promote",
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Abort => "abort",
            Command::Retry => "retry",
        }
    }
}

/// What the controller must do on the platform, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Route traffic as given (the canary at a step below 100 %).
    SetTraffic(TrafficSplit),
    /// Put 100 % of the traffic on this (the canary) version.
    Promote(VersionId),
    /// Put 100 % of the traffic back on the stable version `to`.
    Rollback {
        /// The stable version.
        to: VersionId,
    },
    /// Record this event (deploy log, GitHub deployment status, notification, shadow ledger).
    Record(Event),
}

/// For people: `set traffic: 90% v1 + 10% v2`, `promote v2 to 100%`, `roll back: 100% to v1`,
/// or the recorded event's text.
impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::SetTraffic(split) => write!(f, "set traffic: {split}"),
            Action::Promote(version) => write!(f, "promote {version} to 100%"),
            Action::Rollback { to } => write!(f, "roll back: 100% to {to}"),
            Action::Record(event) => write!(f, "{}", event.kind),
        }
    }
}

/// Something that happened to a canary; kept in [`CanaryState::history`] and emitted as
/// [`Action::Record`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// When it happened (the `now` of the tick or command).
    pub at: DateTime<Utc>,
    /// The attempt it belongs to (1, then + 1 per retry).
    pub attempt: u32,
    /// What happened.
    pub kind: EventKind,
}

/// The kinds of [`Event`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// A step started: the canary now gets `weight` % of the traffic.
    StepStarted {
        /// Index of the step in the plan.
        step: usize,
        /// The canary's share in percent.
        weight: u8,
        /// Whether an operator forced it ([`Command::PromoteStep`]).
        manual: bool,
    },
    /// A check failed.
    CheckFailed {
        /// The canary's share when it failed.
        weight: u8,
        /// Failed checks so far in this attempt, this one included.
        failed_checks: u32,
        /// The plan's threshold.
        threshold: u32,
        /// The judge's reasons.
        reasons: Vec<String>,
    },
    /// An operator paused the canary.
    Paused,
    /// An operator resumed the canary.
    Resumed,
    /// The canary is being promoted to 100 %.
    PromotionStarted {
        /// Whether an operator forced it.
        manual: bool,
    },
    /// The promotion is done.
    Succeeded,
    /// A rollback to the stable version was issued.
    RollbackStarted {
        /// Why.
        cause: RollbackCause,
        /// The canary's share when it was rolled back.
        weight: u8,
        /// The judge's reasons of the last failed check, or the deadline or abort.
        reasons: Vec<String>,
    },
    /// Shadow mode: the rollback that would have been issued, and was not.
    RollbackShadowed {
        /// Why it would have rolled back.
        cause: RollbackCause,
        /// The canary's share at the time (unchanged).
        weight: u8,
        /// As for `RollbackStarted`.
        reasons: Vec<String>,
    },
    /// The rollback is done.
    RolledBack {
        /// Why it happened.
        cause: RollbackCause,
    },
    /// An operator restarted the canary.
    Retried {
        /// The new attempt number.
        attempt: u32,
    },
}

impl fmt::Display for RollbackCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RollbackCause::FailedChecks => "failed checks",
            RollbackCause::ProgressDeadline => "progress deadline passed",
            RollbackCause::Aborted => "aborted by an operator",
        })
    }
}

/// `; reasons: a; b`, or nothing without reasons.
fn reasons_text(reasons: &[String]) -> String {
    if reasons.is_empty() {
        String::new()
    } else {
        format!(": {}", reasons.join("; "))
    }
}

impl fmt::Display for EventKind {
    /// One line for people, e.g. `step 2 started: 10% on the canary` or
    /// `check failed (2 of 3) at 10%: error burn 12.0x baseline`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::StepStarted {
                step,
                weight,
                manual,
            } => write!(
                f,
                "step {} started: {weight}% on the canary{}",
                step + 1,
                if *manual { " (by an operator)" } else { "" }
            ),
            EventKind::CheckFailed {
                weight,
                failed_checks,
                threshold,
                reasons,
            } => write!(
                f,
                "check failed ({failed_checks} of {threshold}) at {weight}%{}",
                reasons_text(reasons)
            ),
            EventKind::Paused => f.write_str("paused"),
            EventKind::Resumed => f.write_str("resumed"),
            EventKind::PromotionStarted { manual } => write!(
                f,
                "promotion to 100% started{}",
                if *manual { " (by an operator)" } else { "" }
            ),
            EventKind::Succeeded => f.write_str("promotion done: the canary serves 100%"),
            EventKind::RollbackStarted {
                cause,
                weight,
                reasons,
            } => {
                // An abort's only reason repeats its cause.
                let reasons = if *cause == RollbackCause::Aborted {
                    String::new()
                } else {
                    reasons_text(reasons)
                };
                write!(f, "rollback started at {weight}% ({cause}){reasons}")
            }
            EventKind::RollbackShadowed {
                cause,
                weight,
                reasons,
            } => write!(
                f,
                "shadow mode: would have rolled back at {weight}% ({cause}){}",
                reasons_text(reasons)
            ),
            EventKind::RolledBack { cause } => {
                write!(f, "rolled back: the stable version serves 100% ({cause})")
            }
            EventKind::Retried { attempt } => write!(f, "retried: attempt {attempt}"),
        }
    }
}

/// The persisted state of one canary (serde); every field is checked when it is deserialized,
/// so a state that does not fit its phase cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StateFields")]
pub struct CanaryState {
    stable: VersionId,
    canary: VersionId,
    phase: Phase,
    weight: u8,
    step_started_at: DateTime<Utc>,
    progress_at: DateTime<Utc>,
    failed_checks: u32,
    rollback_cause: Option<RollbackCause>,
    attempt: u32,
    history: Vec<Event>,
}

/// The serialized fields of a [`CanaryState`], before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFields {
    stable: VersionId,
    canary: VersionId,
    phase: Phase,
    weight: u8,
    step_started_at: DateTime<Utc>,
    progress_at: DateTime<Utc>,
    failed_checks: u32,
    rollback_cause: Option<RollbackCause>,
    attempt: u32,
    history: Vec<Event>,
}

fn invalid_state(field: &str, reason: impl Into<String>) -> DeployError {
    DeployError::InvalidState {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

impl TryFrom<StateFields> for CanaryState {
    type Error = DeployError;

    fn try_from(f: StateFields) -> Result<Self, Self::Error> {
        if f.stable == f.canary {
            return Err(invalid_state(
                "canary",
                format!("`{}` is also the stable version", f.canary),
            ));
        }
        let weight_ok = match f.phase {
            Phase::Initializing | Phase::RollingBack | Phase::RolledBack | Phase::Aborted => {
                f.weight == 0
            }
            Phase::Progressing | Phase::Paused => (1..=99).contains(&f.weight),
            Phase::Promoting | Phase::Succeeded => f.weight == 100,
        };
        if !weight_ok {
            return Err(invalid_state(
                "weight",
                format!("{} does not fit phase {}", f.weight, f.phase),
            ));
        }
        let cause_ok = match (f.phase, f.rollback_cause) {
            (Phase::RollingBack, Some(_)) => true,
            (Phase::RolledBack, Some(c)) => c != RollbackCause::Aborted,
            (Phase::Aborted, Some(c)) => c == RollbackCause::Aborted,
            (Phase::RollingBack | Phase::RolledBack | Phase::Aborted, None) => false,
            (_, cause) => cause.is_none(),
        };
        if !cause_ok {
            return Err(invalid_state(
                "rollback_cause",
                format!("{:?} does not fit phase {}", f.rollback_cause, f.phase),
            ));
        }
        if f.attempt == 0 {
            return Err(invalid_state("attempt", "attempts count from 1"));
        }
        Ok(Self {
            stable: f.stable,
            canary: f.canary,
            phase: f.phase,
            weight: f.weight,
            step_started_at: f.step_started_at,
            progress_at: f.progress_at,
            failed_checks: f.failed_checks,
            rollback_cause: f.rollback_cause,
            attempt: f.attempt,
            history: f.history,
        })
    }
}

impl CanaryState {
    /// A new canary of `canary` against `stable`, created at `now`, in
    /// [`Phase::Initializing`].
    ///
    /// # Errors
    /// [`DeployError::InvalidState`] (field `canary`) when both versions are the same.
    pub fn new(
        stable: VersionId,
        canary: VersionId,
        now: DateTime<Utc>,
    ) -> Result<Self, DeployError> {
        Self::try_from(StateFields {
            stable,
            canary,
            phase: Phase::Initializing,
            weight: 0,
            step_started_at: now,
            progress_at: now,
            failed_checks: 0,
            rollback_cause: None,
            attempt: 1,
            history: Vec::new(),
        })
    }

    /// The version serving the rest of the traffic, and the rollback target.
    pub fn stable(&self) -> &VersionId {
        &self.stable
    }

    /// The version under test.
    pub fn canary(&self) -> &VersionId {
        &self.canary
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The canary's share of traffic in percent: 0 before the first step and after a rollback,
    /// 100 once promoting.
    pub fn weight(&self) -> u8 {
        self.weight
    }

    /// The index of the current step in `plan`, if the canary is at one of its steps (`None`
    /// before the first step and after a rollback).
    pub fn step(&self, plan: &CanaryPlan) -> Option<usize> {
        if self.weight == 0 {
            return None;
        }
        plan.steps.iter().position(|&s| s == self.weight)
    }

    /// When the current step started (creation or retry time before the first step).
    pub fn step_started_at(&self) -> DateTime<Utc> {
        self.step_started_at
    }

    /// When the canary last made progress (a step started, or it was resumed, or a shadowed
    /// rollback restarted the clock); the progress deadline counts from here.
    pub fn progress_at(&self) -> DateTime<Utc> {
        self.progress_at
    }

    /// Failed checks in this attempt (cumulative; reset by a retry and, in shadow mode, by a
    /// shadowed rollback).
    pub fn failed_checks(&self) -> u32 {
        self.failed_checks
    }

    /// Why the canary is rolling back or was rolled back.
    pub fn rollback_cause(&self) -> Option<RollbackCause> {
        self.rollback_cause
    }

    /// The attempt number: 1, then + 1 per retry.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// What happened so far, oldest first (at most [`HISTORY_LIMIT`] events).
    pub fn history(&self) -> &[Event] {
        &self.history
    }

    /// The traffic split this state stands for.
    pub fn traffic(&self) -> TrafficSplit {
        match self.weight {
            0 => TrafficSplit::all_on(self.stable.clone()),
            100.. => TrafficSplit::all_on(self.canary.clone()),
            w => TrafficSplit {
                stable: self.stable.clone(),
                canary: Some((self.canary.clone(), w)),
            },
        }
    }
}

/// Time from `since` to `now`; zero when `now` is earlier (a clock that went back).
fn elapsed(since: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    now.signed_duration_since(since)
        .to_std()
        .unwrap_or(Duration::ZERO)
}

/// One transition being built.
struct Transition<'a> {
    plan: &'a CanaryPlan,
    state: CanaryState,
    now: DateTime<Utc>,
    actions: Vec<Action>,
}

impl Transition<'_> {
    fn finish(self) -> (CanaryState, Vec<Action>) {
        (self.state, self.actions)
    }

    fn record(&mut self, kind: EventKind) {
        let event = Event {
            at: self.now,
            attempt: self.state.attempt,
            kind,
        };
        if self.state.history.len() >= HISTORY_LIMIT {
            let excess = self.state.history.len() + 1 - HISTORY_LIMIT;
            self.state.history.drain(..excess);
        }
        self.state.history.push(event.clone());
        self.actions.push(Action::Record(event));
    }

    /// Moves to the next step of the plan, or promotes from the last step below 100.
    fn advance(&mut self, manual: bool) {
        let weight = self.state.weight;
        let next = self
            .plan
            .steps
            .iter()
            .copied()
            .enumerate()
            .find(|&(_, s)| s > weight);
        match next {
            Some((step, next)) if next < 100 => {
                self.state.weight = next;
                if self.state.phase == Phase::Initializing {
                    self.state.phase = Phase::Progressing;
                }
                self.state.step_started_at = self.now;
                self.state.progress_at = self.now;
                self.actions.push(Action::SetTraffic(self.state.traffic()));
                self.record(EventKind::StepStarted {
                    step,
                    weight: next,
                    manual,
                });
            }
            // 100 (the plan's last step) or, defensively, nothing left: promote.
            _ => self.promote(manual),
        }
    }

    fn promote(&mut self, manual: bool) {
        self.state.phase = Phase::Promoting;
        self.state.weight = 100;
        self.state.step_started_at = self.now;
        self.state.progress_at = self.now;
        self.actions
            .push(Action::Promote(self.state.canary.clone()));
        self.record(EventKind::PromotionStarted { manual });
    }

    /// An automatic rollback: executed when enforcing, recorded only in shadow mode.
    fn auto_rollback(&mut self, cause: RollbackCause, reasons: Vec<String>) {
        match self.plan.mode {
            EnforcementMode::Enforce => self.rollback(cause, reasons),
            EnforcementMode::Shadow => {
                self.state.failed_checks = 0;
                self.state.progress_at = self.now;
                let weight = self.state.weight;
                self.record(EventKind::RollbackShadowed {
                    cause,
                    weight,
                    reasons,
                });
            }
        }
    }

    fn rollback(&mut self, cause: RollbackCause, reasons: Vec<String>) {
        let weight = self.state.weight;
        self.state.phase = Phase::RollingBack;
        self.state.weight = 0;
        self.state.rollback_cause = Some(cause);
        self.actions.push(Action::Rollback {
            to: self.state.stable.clone(),
        });
        self.record(EventKind::RollbackStarted {
            cause,
            weight,
            reasons,
        });
    }

    /// RollingBack → RolledBack (Aborted after an abort), recording `RolledBack`.
    fn confirm_rollback(&mut self) {
        let cause = self
            .state
            .rollback_cause
            .unwrap_or(RollbackCause::FailedChecks);
        self.state.phase = if cause == RollbackCause::Aborted {
            Phase::Aborted
        } else {
            Phase::RolledBack
        };
        self.state.rollback_cause = Some(cause);
        self.record(EventKind::RolledBack { cause });
    }

    /// Counts a failed check; rolls back (or shadows it) at the threshold. Returns whether
    /// the threshold was reached.
    fn fail(&mut self, reasons: &[String]) -> bool {
        self.state.failed_checks = self.state.failed_checks.saturating_add(1);
        let failed_checks = self.state.failed_checks;
        let threshold = self.plan.failure_threshold;
        self.record(EventKind::CheckFailed {
            weight: self.state.weight,
            failed_checks,
            threshold,
            reasons: reasons.to_vec(),
        });
        if failed_checks >= threshold {
            self.auto_rollback(RollbackCause::FailedChecks, reasons.to_vec());
            true
        } else {
            false
        }
    }

    fn deadline_passed(&self) -> bool {
        elapsed(self.state.progress_at, self.now) >= self.plan.progress_deadline
    }

    fn deadline_rollback(&mut self) {
        let reason = format!(
            "no progress for {} (progress deadline)",
            humantime::format_duration(self.plan.progress_deadline)
        );
        self.auto_rollback(RollbackCause::ProgressDeadline, vec![reason]);
    }
}

impl CanaryPlan {
    /// The traffic steps in percent, ending at 100.
    pub fn steps(&self) -> &[u8] {
        &self.steps
    }

    /// How long each step runs before it may advance.
    pub fn bake_time(&self) -> Duration {
        self.bake_time
    }

    /// Requests the canary must serve during a step before it may advance.
    pub fn min_requests(&self) -> u64 {
        self.min_requests
    }

    /// Failed checks (cumulative over an attempt) that roll the canary back.
    pub fn failure_threshold(&self) -> u32 {
        self.failure_threshold
    }

    /// How long a step may go without advancing before the canary is rolled back.
    pub fn progress_deadline(&self) -> Duration {
        self.progress_deadline
    }

    /// Whether automatic rollbacks are executed or only recorded.
    pub fn mode(&self) -> EnforcementMode {
        self.mode
    }

    /// This plan with automatic rollbacks executed ([`EnforcementMode::Enforce`], the default)
    /// or only recorded ([`EnforcementMode::Shadow`]); take it from
    /// [`crate::policy::shadow::EnforcementPolicy::mode_for`] for the environment.
    #[must_use]
    pub fn with_mode(mut self, mode: EnforcementMode) -> Self {
        self.mode = mode;
        self
    }

    /// One periodic evaluation at `now` with the judge's `check`; returns the next state and
    /// the actions to execute in order. Total: never panics, whatever the inputs (a `now`
    /// earlier than the step start counts as no time elapsed).
    pub fn tick(
        &self,
        state: CanaryState,
        now: DateTime<Utc>,
        check: &Check,
    ) -> (CanaryState, Vec<Action>) {
        let mut t = Transition {
            plan: self,
            state,
            now,
            actions: Vec::new(),
        };
        match t.state.phase {
            // No canary traffic yet: the verdict cannot be about this canary.
            Phase::Initializing => t.advance(false),
            Phase::Progressing => match &check.verdict {
                Verdict::Fail { reasons } => {
                    if !t.fail(reasons) && t.deadline_passed() {
                        t.deadline_rollback();
                    }
                }
                Verdict::Pass if self.step_ready(&t.state, now, check) => t.advance(false),
                Verdict::Pass | Verdict::Inconclusive { .. } => {
                    if t.deadline_passed() {
                        t.deadline_rollback();
                    }
                }
            },
            Phase::Paused => {
                if let Verdict::Fail { reasons } = &check.verdict {
                    t.fail(reasons);
                }
            }
            Phase::Promoting => {
                t.state.phase = Phase::Succeeded;
                t.record(EventKind::Succeeded);
            }
            Phase::RollingBack => t.confirm_rollback(),
            Phase::Succeeded | Phase::RolledBack | Phase::Aborted => {}
        }
        t.finish()
    }

    /// Confirms at `now` a rollback whose traffic the platform is known to serve (all of it
    /// on the stable version): [`Phase::RollingBack`] becomes [`Phase::RolledBack`], or
    /// [`Phase::Aborted`] after an abort, with a `Record(RolledBack)` action, exactly as the
    /// next tick would. A controller that has just carried out an operator's abort calls it
    /// so that the abort completes in the same command. Any other phase is returned
    /// unchanged, with no actions.
    pub fn complete_rollback(
        &self,
        state: CanaryState,
        now: DateTime<Utc>,
    ) -> (CanaryState, Vec<Action>) {
        let mut t = Transition {
            plan: self,
            state,
            now,
            actions: Vec::new(),
        };
        if t.state.phase == Phase::RollingBack {
            t.confirm_rollback();
        }
        t.finish()
    }

    /// Whether the current step has baked and served enough requests to advance.
    fn step_ready(&self, state: &CanaryState, now: DateTime<Utc>, check: &Check) -> bool {
        elapsed(state.step_started_at, now) >= self.bake_time
            && check.canary_requests >= self.min_requests
    }

    /// Applies an operator's `command` at `now`; see the module docs for which phases accept
    /// which command.
    ///
    /// # Errors
    /// [`DeployError::CommandNotAllowed`] when the command does not apply in the current
    /// phase (e.g. resuming a canary that succeeded); the state is then unchanged.
    pub fn command(
        &self,
        state: CanaryState,
        now: DateTime<Utc>,
        command: Command,
    ) -> Result<(CanaryState, Vec<Action>), DeployError> {
        let phase = state.phase;
        let mut t = Transition {
            plan: self,
            state,
            now,
            actions: Vec::new(),
        };
        let live = matches!(
            phase,
            Phase::Initializing | Phase::Progressing | Phase::Paused
        );
        match command {
            Command::PromoteStep if live => t.advance(true),
            Command::PromoteFull if live => t.promote(true),
            Command::Pause if phase == Phase::Progressing => {
                t.state.phase = Phase::Paused;
                t.record(EventKind::Paused);
            }
            Command::Resume if phase == Phase::Paused => {
                t.state.phase = Phase::Progressing;
                t.state.progress_at = now;
                t.record(EventKind::Resumed);
            }
            Command::Abort if live => t.rollback(
                RollbackCause::Aborted,
                vec!["aborted by an operator".to_owned()],
            ),
            Command::Retry if matches!(phase, Phase::RolledBack | Phase::Aborted) => {
                let attempt = t.state.attempt.saturating_add(1);
                t.state.phase = Phase::Initializing;
                t.state.weight = 0;
                t.state.failed_checks = 0;
                t.state.rollback_cause = None;
                t.state.attempt = attempt;
                t.state.step_started_at = now;
                t.state.progress_at = now;
                t.record(EventKind::Retried { attempt });
            }
            // Idempotent repeats: nothing to do.
            Command::Pause if phase == Phase::Paused => {}
            Command::Resume if phase == Phase::Progressing => {}
            Command::Abort
                if matches!(
                    phase,
                    Phase::RollingBack | Phase::RolledBack | Phase::Aborted
                ) => {}
            _ => {
                return Err(DeployError::CommandNotAllowed {
                    command: command.name().to_owned(),
                    phase: phase.to_string(),
                })
            }
        }
        Ok(t.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0)
            .single()
            .expect("valid date")
    }

    fn config_error(config: CanaryConfig) -> (String, String) {
        match CanaryPlan::try_from(config) {
            Err(DeployError::InvalidConfig { field, reason }) => (field, reason),
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn default_config_is_the_default_plan() {
        let plan = CanaryPlan::try_from(CanaryConfig::default()).expect("valid");
        assert_eq!(plan, CanaryPlan::default());
        assert_eq!(plan.steps(), &[1, 10, 50, 100]);
        assert_eq!(plan.bake_time(), Duration::from_secs(300));
        assert_eq!(plan.progress_deadline(), Duration::from_secs(1800));
        assert_eq!(plan.failure_threshold(), 3);
        assert_eq!(plan.min_requests(), 1000);
        assert_eq!(plan.mode(), EnforcementMode::Enforce);
    }

    #[test]
    fn invalid_configs_name_the_field() {
        let base = CanaryConfig::default();
        let cases: Vec<(CanaryConfig, &str, &str)> = vec![
            (
                CanaryConfig {
                    steps: vec![],
                    ..base.clone()
                },
                "steps",
                "at least one step",
            ),
            (
                CanaryConfig {
                    steps: vec![1, 0, 100],
                    ..base.clone()
                },
                "steps[1]",
                "0 is not a percentage",
            ),
            (
                CanaryConfig {
                    steps: vec![1, 10, 300],
                    ..base.clone()
                },
                "steps[2]",
                "300 is not a percentage",
            ),
            (
                CanaryConfig {
                    steps: vec![1, 10, 10, 100],
                    ..base.clone()
                },
                "steps[2]",
                "strictly increasing",
            ),
            (
                CanaryConfig {
                    steps: vec![1, 10, 50],
                    ..base.clone()
                },
                "steps[2]",
                "last step must be 100",
            ),
            (
                CanaryConfig {
                    steps: vec![100],
                    ..base.clone()
                },
                "steps",
                "below 100",
            ),
            (
                CanaryConfig {
                    bake_time: "5 parsecs".to_owned(),
                    ..base.clone()
                },
                "bake_time",
                "not a duration",
            ),
            (
                CanaryConfig {
                    progress_deadline: "soon".to_owned(),
                    ..base.clone()
                },
                "progress_deadline",
                "not a duration",
            ),
            (
                CanaryConfig {
                    progress_deadline: "5m".to_owned(),
                    ..base.clone()
                },
                "progress_deadline",
                "must be longer than bake_time (5m)",
            ),
            (
                CanaryConfig {
                    failure_threshold: 0,
                    ..base.clone()
                },
                "failure_threshold",
                "at least 1",
            ),
        ];
        for (config, field, reason) in cases {
            let (f, r) = config_error(config);
            assert_eq!(f, field);
            assert!(r.contains(reason), "{field}: {r}");
        }
    }

    #[test]
    fn config_parses_humantime_and_refuses_unknown_fields() {
        let config: CanaryConfig = serde_json::from_str(
            r#"{"bake_time": "1h 30m", "progress_deadline": "2h", "min_requests": 0}"#,
        )
        .expect("parses");
        let plan = CanaryPlan::try_from(config).expect("valid");
        assert_eq!(plan.bake_time(), Duration::from_secs(5400));
        assert_eq!(plan.progress_deadline(), Duration::from_secs(7200));
        assert_eq!(plan.min_requests(), 0);
        assert!(serde_json::from_str::<CanaryConfig>(r#"{"threshold": 2}"#).is_err());
    }

    #[test]
    fn same_versions_are_refused() {
        let error = CanaryState::new("v1".into(), "v1".into(), t0()).unwrap_err();
        assert!(matches!(error, DeployError::InvalidState { ref field, .. } if field == "canary"));
    }

    #[test]
    fn persisted_states_are_validated() {
        let plan = CanaryPlan::default();
        let state = CanaryState::new("v1".into(), "v2".into(), t0()).expect("valid");
        let (state, _) = plan.tick(state, t0(), &Check::new(Verdict::Pass, 0));
        let json = serde_json::to_value(&state).expect("serializes");
        assert_eq!(json["phase"], "progressing");
        assert_eq!(json["weight"], 1);
        let back: CanaryState = serde_json::from_value(json.clone()).expect("round-trips");
        assert_eq!(back, state);

        for (field, value, message) in [
            ("weight", serde_json::json!(100), "does not fit phase"),
            (
                "phase",
                serde_json::json!("rolled_back"),
                "does not fit phase",
            ),
            ("attempt", serde_json::json!(0), "attempts count from 1"),
            ("canary", serde_json::json!("v1"), "also the stable"),
        ] {
            let mut bad = json.clone();
            bad[field] = value;
            let error = serde_json::from_value::<CanaryState>(bad).unwrap_err();
            assert!(error.to_string().contains(message), "{field}: {error}");
        }
        let mut rolled_back = json.clone();
        rolled_back["phase"] = serde_json::json!("rolled_back");
        rolled_back["weight"] = serde_json::json!(0);
        rolled_back["rollback_cause"] = serde_json::json!("aborted");
        assert!(serde_json::from_value::<CanaryState>(rolled_back).is_err());
    }

    #[test]
    fn clock_going_back_counts_as_no_time() {
        // Step started at t0; a tick at t0 − 1h sees 0 elapsed: no advance, no deadline.
        let plan = CanaryPlan::default();
        let state = CanaryState::new("v1".into(), "v2".into(), t0()).expect("valid");
        let (state, _) = plan.tick(state, t0(), &Check::new(Verdict::Pass, 0));
        let (state, actions) = plan.tick(
            state,
            t0() - chrono::Duration::hours(1),
            &Check::new(Verdict::Pass, u64::MAX),
        );
        assert_eq!(state.weight(), 1);
        assert!(actions.is_empty());
    }

    #[test]
    fn an_edited_plan_continues_above_the_current_weight() {
        // Running at 10 % under 1/10/50/100; the plan becomes 5/25/100: next is 25 (step 1).
        let old = CanaryPlan::default();
        let state = CanaryState::new("v1".into(), "v2".into(), t0()).expect("valid");
        let state = old.tick(state, t0(), &Check::new(Verdict::Pass, 0)).0;
        let state = old
            .command(state, t0(), Command::PromoteStep)
            .expect("promote")
            .0;
        assert_eq!(state.weight(), 10);
        let new = CanaryPlan::try_from(CanaryConfig {
            steps: vec![5, 25, 100],
            ..CanaryConfig::default()
        })
        .expect("valid");
        assert_eq!(state.step(&new), None);
        let later = t0() + chrono::Duration::minutes(5);
        let (state, actions) = new.tick(state, later, &Check::new(Verdict::Pass, 1000));
        assert_eq!(state.weight(), 25);
        assert_eq!(state.step(&new), Some(1));
        assert_eq!(
            actions.last().map(|a| match a {
                Action::Record(e) => e.kind.clone(),
                other => panic!("expected a record, got {other:?}"),
            }),
            Some(EventKind::StepStarted {
                step: 1,
                weight: 25,
                manual: false
            })
        );
    }

    #[test]
    fn history_is_bounded() {
        let plan = CanaryPlan::default();
        let mut state = CanaryState::new("v1".into(), "v2".into(), t0()).expect("valid");
        for _ in 0..300 {
            state = plan.command(state, t0(), Command::Abort).expect("abort").0;
            state = plan.tick(state, t0(), &Check::new(Verdict::Pass, 0)).0;
            state = plan.command(state, t0(), Command::Retry).expect("retry").0;
        }
        assert_eq!(state.history().len(), HISTORY_LIMIT);
        assert_eq!(state.attempt(), 301);
        assert_eq!(
            state.history().last().map(|e| &e.kind),
            Some(&EventKind::Retried { attempt: 301 })
        );
    }
}
