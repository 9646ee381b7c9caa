//! [`DoraReport`]: the four keys of a window with their classes, a weekly trend and notes,
//! rendered as text, Markdown, JSON, a Discord message or an SVG chart.
//!
//! # JSON
//!
//! [`DoraReport::to_json`] writes the report as it is serialized by serde (and
//! [`serde_json::from_str`] reads it back). Instants are RFC 3339 in UTC, dates `YYYY-MM-DD`
//! (local to `window.tz`), durations numbers of seconds, rates fractions in `[0, 1]`, classes
//! `"elite"`, `"high"`, `"medium"` or `"low"` (`null` when the key had no value), `null` where
//! nothing was measured:
//!
//! ```json
//! {
//!   "title": "DORA four keys",
//!   "window": {"since": "2024-06-02T15:00:00Z", "until": "2024-06-30T15:00:00Z",
//!              "tz": "Asia/Tokyo", "days": 28.0},
//!   "environment": "production",
//!   "year": 2024,
//!   "source": "Accelerate State of DevOps Report 2024 (DORA, Google Cloud)",
//!   "deployment_frequency": {"successful": 35, "days": 28.0, "per_day": 1.25,
//!       "per_week": 8.75, "deploy_days": 18, "deploy_days_per_week": 4.5, "class": "elite"},
//!   "lead_time": {"from": "committed",
//!       "summary": {"count": 42, "median": 18720.0, "p75": 93600.0, "p90": 259200.0},
//!       "skewed": 1, "unknown_commits": 0, "missing_start": 0, "class": "elite"},
//!   "change_failure_rate": {"failed": 2, "completed": 16, "rate": 0.125,
//!       "failed_by_outcome": 1, "failed_by_incident": 1, "incidents_without_deployment": 1,
//!       "incidents_with_unknown_deployment": 0, "class": "high"},
//!   "recovery_time": {"summary": {"count": 2, "median": 10800.0, "p75": 12600.0,
//!       "p90": 13680.0}, "unrecovered": 0, "skewed": 0, "class": "high"},
//!   "overall": "high",
//!   "keys_classified": 4,
//!   "trend": [{"week": "2024-06-03", "days": 7, "deployments": 10, "deploy_days": 5,
//!       "changes": 12, "lead_time_median": 18000.0, "failed": 1, "completed": 11,
//!       "change_failure_rate": 0.0909, "recovery_median": 10800.0}],
//!   "notes": ["1 change is dated after the deployment that shipped it (clock skew, or pushed after the deployment): left out of lead time.",
//!             "1 incident is linked to no deployment: not in the change failure rate."]
//! }
//! ```
//!
//! - `deployment_frequency`, `lead_time`, `change_failure_rate`, `recovery_time`: the fields
//!   of [`DeploymentFrequency`], [`LeadTime`], [`ChangeFailureRate`] and [`RecoveryTime`], plus
//!   `class`.
//! - `notes`: sentences for a reader (see [`DoraReport::notes`]).
//! - `overall`: the worst key class; `keys_classified`: how many keys had a value.
//! - `trend`: the last [`ReportOptions::trend_weeks`] weeks of [`WeeklyKeys`], oldest first.

mod discord;
mod svg;
mod text;

use std::num::NonZeroUsize;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::DoraError;
use crate::model::DeliveryHistory;
use crate::policy::classify::{classify_keys, Cluster, ReportYear};
use crate::policy::{
    compute, ChangeFailureRate, DeploymentFrequency, FourKeys, KeysPolicy, LeadTime, RecoveryTime,
    WeeklyKeys,
};

pub use discord::{DISCORD_SOURCE, DISCORD_TITLE_PREFIX};
pub use text::format_duration;

/// How to build a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOptions {
    /// The heading, e.g. the team or repository. Default `DORA four keys`.
    pub title: String,
    /// Whose clusters classify the keys. Default 2024.
    pub year: ReportYear,
    /// How many of the window's last weeks the trend shows. Default 12.
    pub trend_weeks: NonZeroUsize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            title: "DORA four keys".to_owned(),
            year: ReportYear::default(),
            trend_weeks: NonZeroUsize::new(12).unwrap_or(NonZeroUsize::MIN),
        }
    }
}

/// The window of a report, as written in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportWindow {
    /// First instant (inclusive).
    pub since: DateTime<Utc>,
    /// End (exclusive).
    pub until: DateTime<Utc>,
    /// IANA name of the time zone of days and weeks.
    pub tz: String,
    /// Length in days, on the local wall clock.
    pub days: f64,
}

/// A key's figures and its class (`None` when the key had no value to classify).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classed<T> {
    /// The figures.
    #[serde(flatten)]
    pub value: T,
    /// The class.
    pub class: Option<Cluster>,
}

/// The four keys of a window, classified, with their weekly trend. See the module docs for
/// the JSON shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoraReport {
    /// The heading.
    pub title: String,
    /// The window.
    pub window: ReportWindow,
    /// The environment counted.
    pub environment: String,
    /// The report year of the clusters.
    pub year: ReportYear,
    /// The title of that report.
    pub source: String,
    /// Deployment frequency and its class.
    pub deployment_frequency: Classed<DeploymentFrequency>,
    /// Lead time for changes and its class.
    pub lead_time: Classed<LeadTime>,
    /// Change failure rate and its class.
    pub change_failure_rate: Classed<ChangeFailureRate>,
    /// Failed deployment recovery time and its class.
    pub recovery_time: Classed<RecoveryTime>,
    /// The overall class: the worst of the key classes.
    pub overall: Cluster,
    /// How many keys had a value to classify (1 to 4).
    pub keys_classified: usize,
    /// The last weeks of the window, oldest first.
    pub trend: Vec<WeeklyKeys>,
    /// What a reader should know about the figures, one sentence each (skewed lead times,
    /// commits without a change record, incidents without a deployment, unrecovered
    /// failures); empty when all is clean. The counts are also in the keys' fields.
    pub notes: Vec<String>,
}

impl DoraReport {
    /// Compute, classify and assemble the report of `history`.
    ///
    /// # Errors
    /// Those of [`compute`] (an inconsistent history).
    pub fn build(
        history: &DeliveryHistory,
        policy: &KeysPolicy,
        options: &ReportOptions,
    ) -> Result<Self, DoraError> {
        let keys = compute(history, policy)?;
        Ok(Self::from_keys(keys, policy, options))
    }

    /// Assemble the report of already computed `keys`.
    #[must_use]
    pub fn from_keys(keys: FourKeys, policy: &KeysPolicy, options: &ReportOptions) -> Self {
        let classes = classify_keys(&keys, options.year);
        let FourKeys {
            deployment_frequency,
            lead_time,
            change_failure_rate,
            recovery_time,
            mut weeks,
        } = keys;
        let notes = notes(&lead_time, &change_failure_rate, &recovery_time);
        let skip = weeks.len().saturating_sub(options.trend_weeks.get());
        let trend = weeks.split_off(skip);
        Self {
            title: options.title.clone(),
            window: ReportWindow {
                since: policy.window.since(),
                until: policy.window.until(),
                tz: policy.window.tz().name().to_owned(),
                days: policy.window.length_days(),
            },
            environment: policy.environment.clone(),
            year: options.year,
            source: options.year.source().to_owned(),
            deployment_frequency: Classed {
                value: deployment_frequency,
                class: Some(classes.deployment_frequency),
            },
            lead_time: Classed {
                value: lead_time,
                class: classes.lead_time,
            },
            change_failure_rate: Classed {
                value: change_failure_rate,
                class: classes.change_failure_rate,
            },
            recovery_time: Classed {
                value: recovery_time,
                class: classes.recovery_time,
            },
            overall: classes.overall,
            keys_classified: classes.keys_classified(),
            trend,
            notes,
        }
    }

    /// The report as pretty-printed JSON (see the module docs).
    ///
    /// # Errors
    /// [`DoraError::Render`] if serialization fails (it does not for these types).
    pub fn to_json(&self) -> Result<String, DoraError> {
        serde_json::to_string_pretty(self).map_err(|e| DoraError::Render {
            format: "json".to_owned(),
            reason: e.to_string(),
        })
    }

    /// The report as plain text for a terminal.
    #[must_use]
    pub fn to_text(&self) -> String {
        text::render_text(self)
    }

    /// The report as GitHub-flavoured Markdown.
    #[must_use]
    pub fn to_markdown(&self) -> String {
        text::render_markdown(self)
    }

    /// The report as a [`parky_notify::Message`] for the Discord receiver `receiver`; see
    /// [`DoraReport::to_discord_payloads`] for the request bodies.
    #[must_use]
    pub fn to_discord_message(&self, receiver: &str) -> parky_notify::Message {
        discord::message(self, receiver)
    }

    /// The Discord "Execute Webhook" bodies of the report, rendered by
    /// [`parky_notify::receiver::discord::render`], so that every Discord limit (title,
    /// description, fields, 6,000 characters per message) is enforced.
    #[must_use]
    pub fn to_discord_payloads(
        &self,
        receiver: &str,
    ) -> Vec<parky_notify::receiver::discord::WebhookPayload> {
        parky_notify::receiver::discord::render(&self.to_discord_message(receiver))
    }

    /// The weekly trend of the four keys as an SVG chart: four panels, one per key.
    ///
    /// # Errors
    /// [`DoraError::Render`] if drawing fails.
    pub fn to_svg(&self) -> Result<String, DoraError> {
        svg::render(self)
    }
}

/// The notes of a report, one sentence each (empty when all is clean).
fn notes(lt: &LeadTime, cfr: &ChangeFailureRate, rt: &RecoveryTime) -> Vec<String> {
    let mut notes = Vec::new();
    if cfr.completed == 0 {
        notes.push(
            "No completed deployment to the environment in the window: check the environment \
             name, the tag pattern or the source before reading the classes."
                .to_owned(),
        );
    }
    let mut note = |n: u64, one: &str, many: &str| {
        if n > 0 {
            notes.push(format!("{n} {}", if n == 1 { one } else { many }));
        }
    };
    note(
        lt.skewed,
        "change is dated after the deployment that shipped it (clock skew, or pushed after the deployment): left out of lead time.",
        "changes are dated after the deployment that shipped them (clock skew, or pushed after the deployment): left out of lead time.",
    );
    note(
        lt.unknown_commits,
        "shipped commit has no change record: left out of lead time.",
        "shipped commits have no change record: left out of lead time.",
    );
    note(
        lt.missing_start,
        "shipped change has no merge time: left out of lead time.",
        "shipped changes have no merge time: left out of lead time.",
    );
    note(
        cfr.incidents_without_deployment,
        "incident is linked to no deployment: not in the change failure rate.",
        "incidents are linked to no deployment: not in the change failure rate.",
    );
    note(
        cfr.incidents_with_unknown_deployment,
        "incident names a deployment that is not in the history.",
        "incidents name deployments that are not in the history.",
    );
    note(
        rt.unrecovered,
        "failed deployment has not recovered (open incident or no later success): not in the recovery time.",
        "failed deployments have not recovered (open incident or no later success): not in the recovery time.",
    );
    note(
        rt.skewed,
        "failed deployment is dated after its recovery: left out of the recovery time.",
        "failed deployments are dated after their recovery: left out of the recovery time.",
    );
    notes
}
