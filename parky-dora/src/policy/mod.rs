//! Pure calculators: the four keys over a window, and their classification.
//!
//! Nothing here does I/O, runs async code or reads a clock: the window and the history are
//! inputs, and the same inputs always give the same figures.
//!
//! # What counts
//!
//! - **Environment**: only deployments to [`KeysPolicy::environment`] (default
//!   `production`) count; **pending** deployments are counted nowhere (their commits, like
//!   those of failed ones, ship with the next success). A deployment is *in
//!   the window* when `since ≤ at < until`.
//! - **Deployment frequency** ([`DeploymentFrequency`]): successful deployments in the window
//!   per day and per week (the window's length measured on the local wall clock, see
//!   [`Window`]), and days with a deployment per week: distinct local dates with at least one
//!   success, divided by the window's length in weeks (for a window of whole weeks: the mean
//!   over its weeks of each week's count of days with a deployment).
//! - **Lead time for changes** ([`LeadTime`]): per change, from its commit time
//!   ([`LeadTimeStart`]: committer date by default; author date or pull request merge time on
//!   request) to the first *successful* deployment, to the environment, that contains it.
//!   "Contains" follows [`crate::model`]: a deployment contains its `commits` and its head
//!   `commit`, and, history being linear per service, the commits of the failed deployments
//!   of the same service before it since the last success. A change shipped by several
//!   deployments counts once, at the first success. Only changes whose shipping deployment is
//!   in the window count. A change dated after its shipping deployment (clock skew, or a
//!   commit pushed after the deployment: a counting defect reported against fourkeys) is
//!   excluded and counted in [`LeadTime::skewed`], never a negative duration. Median, p75 and
//!   p90 follow the convention of [`stats`].
//! - **Change failure rate** ([`ChangeFailureRate`]): failed ÷ completed deployments in the
//!   window. Failed: outcome `Failure`, or at least one incident links to it. Each failed
//!   deployment counts once however many incidents (or copies of one incident) link to it —
//!   the other fourkeys defect. Incidents without a deployment are counted apart, not in the
//!   rate. No completed deployment: the rate is `None`, not NaN.
//! - **Failed deployment recovery time** ([`RecoveryTime`]): per failed deployment in the
//!   window, to the latest `resolved_at` of its linked incidents (all must be resolved) or,
//!   with no incident, to the next successful deployment of the same service and environment.
//!   Unrecovered failures are counted, not guessed. Median (with p75 and p90).
//! - **Weeks** ([`WeeklyKeys`]): the same figures per local week, Monday 00:00 in the
//!   window's time zone (Asia/Tokyo for the handbook), for the trend.
//!
//! [`classify`](mod@classify) places the figures in the clusters of a State of DevOps report
//! and documents the rules, including the overall class.

pub mod classify;
pub mod keys;
pub mod stats;
pub mod window;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::DoraError;

pub use classify::{
    classify, classify_keys, Classification, Cluster, ClusterProfile, Measurements, ReportYear,
};
pub use keys::{
    compute, ChangeFailureRate, DeploymentFrequency, FourKeys, LeadTime, RecoveryTime, WeeklyKeys,
};
pub use stats::DurationSummary;
pub use window::Window;

/// The handbook's time zone.
pub const DEFAULT_TZ: &str = "Asia/Tokyo";

/// The production environment's default name.
pub const DEFAULT_ENVIRONMENT: &str = "production";

/// Which timestamp of a change starts its lead time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadTimeStart {
    /// The committer date (DORA's "code committed"); the default.
    #[default]
    Committed,
    /// The author date (when the change was first written; survives rebases).
    Authored,
    /// The pull request's merge time (changes without one are counted in
    /// [`LeadTime::missing_start`]).
    Merged,
}

/// The settings of a computation as written in a file or on a command line.
///
/// `tz` defaults to `Asia/Tokyo`, `environment` to `production`, `lead_time_from` to
/// `committed`. Validated into a [`KeysPolicy`] with `KeysPolicy::try_from`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// First instant of the window (inclusive).
    pub since: DateTime<Utc>,
    /// End of the window (exclusive).
    pub until: DateTime<Utc>,
    /// IANA time zone of the calendar (days, weeks starting Monday 00:00).
    #[serde(default = "default_tz")]
    pub tz: String,
    /// The production environment's name.
    #[serde(default = "default_environment")]
    pub environment: String,
    /// Which timestamp starts a lead time.
    #[serde(default)]
    pub lead_time_from: LeadTimeStart,
}

fn default_tz() -> String {
    DEFAULT_TZ.to_owned()
}

fn default_environment() -> String {
    DEFAULT_ENVIRONMENT.to_owned()
}

/// Validated settings of a computation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysPolicy {
    /// The window and its time zone.
    pub window: Window,
    /// The production environment's name.
    pub environment: String,
    /// Which timestamp starts a lead time.
    pub lead_time_from: LeadTimeStart,
}

impl KeysPolicy {
    /// A policy for `window`, the `production` environment and commit times.
    #[must_use]
    pub fn new(window: Window) -> Self {
        Self {
            window,
            environment: DEFAULT_ENVIRONMENT.to_owned(),
            lead_time_from: LeadTimeStart::default(),
        }
    }
}

/// Parse an IANA time zone name.
///
/// # Errors
/// [`DoraError::InvalidConfig`] naming `tz`.
pub fn parse_tz(name: &str) -> Result<Tz, DoraError> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| DoraError::InvalidConfig {
            field: "tz".to_owned(),
            reason: format!("`{name}` is not an IANA time zone name (e.g. Asia/Tokyo)"),
        })
}

impl TryFrom<KeysConfig> for KeysPolicy {
    type Error = DoraError;

    fn try_from(config: KeysConfig) -> Result<Self, DoraError> {
        let tz = parse_tz(&config.tz)?;
        let window = Window::new(config.since, config.until, tz)?;
        if config.environment.trim().is_empty() {
            return Err(DoraError::InvalidConfig {
                field: "environment".to_owned(),
                reason: "must not be empty".to_owned(),
            });
        }
        Ok(Self {
            window,
            environment: config.environment,
            lead_time_from: config.lead_time_from,
        })
    }
}
