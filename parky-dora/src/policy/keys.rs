//! The four keys over a window: [`compute`] and its result, [`FourKeys`].

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::stats::{option_seconds, DurationSummary};
use super::{KeysPolicy, LeadTimeStart};
use crate::error::DoraError;
use crate::model::{Change, DeliveryHistory, Deployment, DeploymentOutcome, Incident};

/// The four keys of one window, with the weekly series behind them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FourKeys {
    /// Deployment frequency.
    pub deployment_frequency: DeploymentFrequency,
    /// Lead time for changes.
    pub lead_time: LeadTime,
    /// Change failure rate.
    pub change_failure_rate: ChangeFailureRate,
    /// Failed deployment recovery time.
    pub recovery_time: RecoveryTime,
    /// One entry per local week the window touches, oldest first.
    pub weeks: Vec<WeeklyKeys>,
}

/// Successful production deployments over the window.
///
/// `per_day` = `successful` / `days`; `per_week` = 7 · `per_day`; `deploy_days_per_week` =
/// `deploy_days` / (`days` / 7), which for a window of whole weeks is the average over its
/// weeks of the number of distinct local days with at least one successful deployment (the
/// measure fourkeys' dashboard uses to tell "daily" from "weekly" teams).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentFrequency {
    /// Successful deployments to the environment in the window.
    pub successful: u64,
    /// The window's length in days, on the local wall clock.
    pub days: f64,
    /// Successful deployments per day.
    pub per_day: f64,
    /// Successful deployments per week.
    pub per_week: f64,
    /// Distinct local dates with at least one successful deployment.
    pub deploy_days: u64,
    /// Days with a deployment per week (see the type's docs).
    pub deploy_days_per_week: f64,
}

/// Lead time for changes: from each change's start (see [`LeadTimeStart`]) to the first
/// successful deployment that contains it, for the changes whose shipping deployment is in the
/// window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadTime {
    /// Which timestamp of a change starts its lead time.
    pub from: LeadTimeStart,
    /// Median, p75 and p90 of the measured lead times; `None` when none was measured.
    pub summary: Option<DurationSummary>,
    /// Changes shipped in the window whose start is after their shipping deployment (clock
    /// skew, or a commit pushed after the deployment): excluded, never a negative duration.
    pub skewed: u64,
    /// Commits shipped in the window that the history has no [`Change`] for.
    pub unknown_commits: u64,
    /// Changes shipped in the window that lack the chosen start (no `merged_at`).
    pub missing_start: u64,
}

/// Change failure rate: failed ÷ completed deployments in the window.
///
/// A deployment is *failed* when its outcome is [`DeploymentOutcome::Failure`] or at least one
/// incident links to it; it counts once however many incidents link to it. *Completed* means
/// success or failure (pending ones are not counted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeFailureRate {
    /// Failed deployments in the window.
    pub failed: u64,
    /// Completed deployments in the window.
    pub completed: u64,
    /// `failed / completed`; `None` when no deployment completed.
    pub rate: Option<f64>,
    /// Failed deployments whose outcome was `Failure`.
    pub failed_by_outcome: u64,
    /// Failed deployments reported successful but linked to an incident.
    pub failed_by_incident: u64,
    /// Incidents opened in the window with no deployment: reported, not in the rate.
    pub incidents_without_deployment: u64,
    /// Incidents opened in the window naming a deployment the history does not have.
    pub incidents_with_unknown_deployment: u64,
}

/// Failed deployment recovery time, per failed deployment in the window: from the deployment
/// to the latest `resolved_at` of its incidents (all resolved), or, with no incident, to the
/// next successful deployment of the same service and environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryTime {
    /// Median, p75 and p90 of the recovery times; `None` when no failure recovered.
    pub summary: Option<DurationSummary>,
    /// Failed deployments not recovered: an incident still open, or no later success.
    pub unrecovered: u64,
    /// Failed deployments whose recovery is dated before the deployment: excluded.
    pub skewed: u64,
}

/// The keys of one local week (Monday 00:00 to the next Monday 00:00 in the window's time
/// zone), limited to the part of the week inside the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeeklyKeys {
    /// The week's Monday (local date).
    pub week: NaiveDate,
    /// How many of the week's days are inside the window (7 except at a ragged edge).
    pub days: u32,
    /// Successful deployments.
    pub deployments: u64,
    /// Distinct local days with a successful deployment.
    pub deploy_days: u32,
    /// Changes whose lead time was measured (shipped this week).
    pub changes: u64,
    /// Median lead time of those changes.
    #[serde(with = "option_seconds")]
    pub lead_time_median: Option<TimeDelta>,
    /// Failed deployments.
    pub failed: u64,
    /// Completed deployments.
    pub completed: u64,
    /// `failed / completed`, `None` when none completed.
    pub change_failure_rate: Option<f64>,
    /// Median recovery time of this week's failed deployments that recovered.
    #[serde(with = "option_seconds")]
    pub recovery_median: Option<TimeDelta>,
}

/// Compute the four keys of `history` under `policy`.
///
/// Only deployments to `policy.environment` count; pending ones are ignored. See the
/// [`crate::policy`] docs for every rule.
///
/// # Errors
/// [`DoraError::InvalidHistory`] when two deployments share an id, or one commit has two
/// different [`Change`] records.
pub fn compute(history: &DeliveryHistory, policy: &KeysPolicy) -> Result<FourKeys, DoraError> {
    let (changes, known_ids) = validate(history)?;
    let window = &policy.window;

    // Deployments to the environment, in time order (ties by id, for determinism). Pending
    // ones count nowhere, but their commits, like those of failed ones, are shipped by the
    // next success (history is linear per service).
    let mut deployments: Vec<&Deployment> = history
        .deployments
        .iter()
        .filter(|d| d.environment == policy.environment)
        .collect();
    deployments.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
    // For each deployment, the time of the next success of its service after it: one pass
    // from the end, so that recovery times cost O(n) and not O(failures × deployments).
    let mut next_success: Vec<Option<DateTime<Utc>>> = vec![None; deployments.len()];
    let mut later_success: HashMap<&str, DateTime<Utc>> = HashMap::default();
    for (i, d) in deployments.iter().enumerate().rev() {
        next_success[i] = later_success.get(d.service.as_str()).copied();
        if d.outcome == DeploymentOutcome::Success {
            later_success.insert(d.service.as_str(), d.at);
        }
    }

    let incidents = IncidentIndex::new(&history.incidents);

    // Weekly accumulators, one per week the window touches.
    let mut weeks: BTreeMap<NaiveDate, WeekAcc> = window
        .weeks()
        .into_iter()
        .map(|(monday, days)| {
            (
                monday,
                WeekAcc {
                    days,
                    ..WeekAcc::default()
                },
            )
        })
        .collect();

    // Which successful deployment ships each commit first, under the linear-history rule:
    // commits of failed deployments are carried to the next success of the same service.
    let mut shipped: HashSet<&str> =
        HashSet::with_capacity_and_hasher(changes.len(), Default::default());
    let mut carried: HashMap<&str, Vec<&str>> = HashMap::default();
    let mut lead = LeadAcc::default();
    for d in &deployments {
        // An empty id stands for an unknown commit: it names nothing to ship.
        let own = d
            .commits
            .iter()
            .map(String::as_str)
            .chain([d.commit.as_str()])
            .filter(|c| !c.is_empty());
        if d.outcome != DeploymentOutcome::Success {
            carried.entry(d.service.as_str()).or_default().extend(own);
            continue;
        }
        let contained: Vec<&str> = carried
            .remove(d.service.as_str())
            .unwrap_or_default()
            .into_iter()
            .chain(own)
            .collect();
        let inside = window.contains(d.at);
        let mut week = if inside {
            weeks.get_mut(&window.week_of(d.at))
        } else {
            None
        };
        for commit in contained {
            if !shipped.insert(commit) || !inside {
                continue;
            }
            let Some(change) = changes.get(commit) else {
                lead.unknown_commits += 1;
                continue;
            };
            let Some(start) = start_of(change, policy.lead_time_from) else {
                lead.missing_start += 1;
                continue;
            };
            let lead_time = d.at - start;
            if lead_time < TimeDelta::zero() {
                lead.skewed += 1;
                continue;
            }
            lead.sample.push(lead_time);
            if let Some(week) = week.as_deref_mut() {
                week.lead_times.push(lead_time);
            }
        }
    }

    // Frequency, failures and recoveries over the deployments inside the window.
    let mut successful = 0_u64;
    let mut deploy_days: HashSet<NaiveDate> = HashSet::default();
    let mut cfr = CfrAcc::default();
    let mut recovery = RecoveryAcc::default();
    for (i, d) in deployments.iter().enumerate() {
        if d.outcome == DeploymentOutcome::Pending || !window.contains(d.at) {
            continue;
        }
        let mut week = weeks.get_mut(&window.week_of(d.at));
        let linked = incidents.linked(&d.id);
        let failed = d.outcome == DeploymentOutcome::Failure || linked.is_some();
        if let Some(w) = week.as_deref_mut() {
            w.completed += 1;
        }
        if d.outcome == DeploymentOutcome::Success {
            successful += 1;
            let day = window.local_date(d.at);
            deploy_days.insert(day);
            if let Some(w) = week.as_deref_mut() {
                w.deployments += 1;
                w.deploy_days.insert(day);
            }
        }
        cfr.completed += 1;
        if !failed {
            continue;
        }
        cfr.failed += 1;
        if d.outcome == DeploymentOutcome::Failure {
            cfr.by_outcome += 1;
        } else {
            cfr.by_incident += 1;
        }
        if let Some(w) = week.as_deref_mut() {
            w.failed += 1;
        }
        let recovered_at = match linked {
            None => next_success.get(i).copied().flatten(),
            Some(linked) => latest_resolution(linked.values()),
        };
        match recovered_at {
            None => recovery.unrecovered += 1,
            Some(at) if at < d.at => recovery.skewed += 1,
            Some(at) => {
                recovery.sample.push(at - d.at);
                if let Some(w) = week {
                    w.recoveries.push(at - d.at);
                }
            }
        }
    }

    // Incidents that do not point at a deployment of the history.
    let mut seen: HashSet<&str> = HashSet::default();
    for incident in &history.incidents {
        if !window.contains(incident.opened_at) || !seen.insert(incident.id.as_str()) {
            continue;
        }
        match &incident.deployment {
            None => cfr.without_deployment += 1,
            Some(id) if !known_ids.contains(id.as_str()) => cfr.unknown_deployment += 1,
            Some(_) => {}
        }
    }

    let days = window.length_days();
    Ok(FourKeys {
        deployment_frequency: DeploymentFrequency {
            successful,
            days,
            per_day: successful as f64 / days,
            per_week: successful as f64 * 7.0 / days,
            deploy_days: deploy_days.len() as u64,
            deploy_days_per_week: deploy_days.len() as f64 / (days / 7.0),
        },
        lead_time: LeadTime {
            from: policy.lead_time_from,
            summary: DurationSummary::of(&lead.sample),
            skewed: lead.skewed,
            unknown_commits: lead.unknown_commits,
            missing_start: lead.missing_start,
        },
        change_failure_rate: ChangeFailureRate {
            failed: cfr.failed,
            completed: cfr.completed,
            rate: ratio(cfr.failed, cfr.completed),
            failed_by_outcome: cfr.by_outcome,
            failed_by_incident: cfr.by_incident,
            incidents_without_deployment: cfr.without_deployment,
            incidents_with_unknown_deployment: cfr.unknown_deployment,
        },
        recovery_time: RecoveryTime {
            summary: DurationSummary::of(&recovery.sample),
            unrecovered: recovery.unrecovered,
            skewed: recovery.skewed,
        },
        weeks: weeks
            .into_iter()
            .map(|(week, acc)| WeeklyKeys {
                week,
                days: acc.days,
                deployments: acc.deployments,
                deploy_days: u32::try_from(acc.deploy_days.len()).unwrap_or(u32::MAX),
                changes: acc.lead_times.len() as u64,
                lead_time_median: DurationSummary::of(&acc.lead_times).map(|s| s.median),
                failed: acc.failed,
                completed: acc.completed,
                change_failure_rate: ratio(acc.failed, acc.completed),
                recovery_median: DurationSummary::of(&acc.recoveries).map(|s| s.median),
            })
            .collect(),
    })
}

/// The changes by commit and the set of deployment ids of `history`, or an error for a
/// history the calculators cannot read unambiguously.
#[allow(clippy::type_complexity)]
fn validate(
    history: &DeliveryHistory,
) -> Result<(HashMap<&str, &Change>, HashSet<&str>), DoraError> {
    let mut ids: HashSet<&str> =
        HashSet::with_capacity_and_hasher(history.deployments.len(), Default::default());
    for d in &history.deployments {
        if !ids.insert(d.id.as_str()) {
            return Err(DoraError::InvalidHistory {
                reason: format!("two deployments have the id `{}`", d.id),
            });
        }
    }
    let mut changes: HashMap<&str, &Change> =
        HashMap::with_capacity_and_hasher(history.changes.len(), Default::default());
    for c in &history.changes {
        if let Some(previous) = changes.insert(c.commit.as_str(), c) {
            if previous != c {
                return Err(DoraError::InvalidHistory {
                    reason: format!("commit `{}` has two different change records", c.commit),
                });
            }
        }
    }
    Ok((changes, ids))
}

fn start_of(change: &Change, from: LeadTimeStart) -> Option<DateTime<Utc>> {
    match from {
        LeadTimeStart::Committed => Some(change.committed_at),
        LeadTimeStart::Authored => Some(change.authored_at),
        LeadTimeStart::Merged => change.merged_at,
    }
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// The latest resolution of `incidents`, `None` if any is still open.
fn latest_resolution<'a>(
    incidents: impl IntoIterator<Item = &'a LinkedIncident>,
) -> Option<DateTime<Utc>> {
    incidents
        .into_iter()
        .map(|i| i.resolved_at)
        .try_fold(None, |latest: Option<DateTime<Utc>>, r| {
            r.map(|r| Some(latest.map_or(r, |l| l.max(r))))
        })
        .flatten()
}

/// One incident linked to a deployment, duplicates (same id) merged: resolved only if every
/// record of it says so, at the latest of their resolutions.
#[derive(Debug, Clone)]
struct LinkedIncident {
    resolved_at: Option<DateTime<Utc>>,
}

/// Incidents by the deployment they name, each incident id once per deployment.
#[derive(Debug, Default)]
struct IncidentIndex<'a> {
    by_deployment: HashMap<&'a str, BTreeMap<&'a str, LinkedIncident>>,
}

impl<'a> IncidentIndex<'a> {
    fn new(incidents: &'a [Incident]) -> Self {
        let mut by_deployment: HashMap<&str, BTreeMap<&str, LinkedIncident>> = HashMap::default();
        for incident in incidents {
            let Some(deployment) = incident.deployment.as_deref() else {
                continue;
            };
            by_deployment
                .entry(deployment)
                .or_default()
                .entry(incident.id.as_str())
                .and_modify(|merged| {
                    merged.resolved_at = match (merged.resolved_at, incident.resolved_at) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        _ => None,
                    };
                })
                .or_insert(LinkedIncident {
                    resolved_at: incident.resolved_at,
                });
        }
        Self { by_deployment }
    }

    /// The incidents linked to `deployment` by id; `None` when there is none (a deployment
    /// in the index always has at least one).
    fn linked(&self, deployment: &str) -> Option<&BTreeMap<&'a str, LinkedIncident>> {
        self.by_deployment.get(deployment)
    }
}

#[derive(Debug, Default)]
struct WeekAcc {
    days: u32,
    deployments: u64,
    deploy_days: HashSet<NaiveDate>,
    lead_times: Vec<TimeDelta>,
    failed: u64,
    completed: u64,
    recoveries: Vec<TimeDelta>,
}

#[derive(Debug, Default)]
struct LeadAcc {
    sample: Vec<TimeDelta>,
    skewed: u64,
    unknown_commits: u64,
    missing_start: u64,
}

#[derive(Debug, Default)]
struct CfrAcc {
    failed: u64,
    completed: u64,
    by_outcome: u64,
    by_incident: u64,
    without_deployment: u64,
    unknown_deployment: u64,
}

#[derive(Debug, Default)]
struct RecoveryAcc {
    sample: Vec<TimeDelta>,
    unrecovered: u64,
    skewed: u64,
}
