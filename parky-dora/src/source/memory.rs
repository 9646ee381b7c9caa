//! [`MemorySource`]: a [`DeliveryHistory`] held in memory, filtered by the [`Query`].
//!
//! The embedded default source: tests, the demo and anything that already has its records
//! (a JSON file, the canary controller's ledger) use it. The other sources collect a wider
//! history and pass it through the same selection ([`select`]), so every source answers a
//! [`Query`] by the same rules:
//!
//! 1. **Deployments**: those to `query.environment` with `since <= at < until` (the window),
//!    plus, for each service, the deployments just before `since` back to and including the
//!    last [`Success`](DeploymentOutcome::Success) one. A commit first carried by a failed or
//!    pending deployment before the window is shipped by the first successful deployment
//!    after it, possibly inside the window; the calculators need that chain to see it.
//! 2. **Changes**: every change whose commit one of those deployments lists in `commits`,
//!    whenever it was committed. Changes nothing selected contains are left out.
//! 3. **Incidents**: those opened in the window, and those linked to a deployment in the
//!    window (an incident opened before `since` about a deployment in the window cannot
//!    exist, but one linked by id is kept whatever its dates).
//!
//! Output is sorted (deployments by time, service and id; changes by committer date and
//! commit; incidents by opening time and id) so equal inputs give equal outputs.

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;

use super::{DeliverySource, Query};
use crate::error::DoraError;
use crate::model::{DeliveryHistory, Deployment, DeploymentOutcome};

/// A [`DeliverySource`] over a [`DeliveryHistory`] held in memory.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use parky_dora::model::{DeliveryHistory, Deployment, DeploymentOutcome};
/// use parky_dora::source::{memory::MemorySource, DeliverySource, Query};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), parky_dora::DoraError> {
/// let at = Utc.with_ymd_and_hms(2024, 6, 3, 9, 0, 0).single().unwrap_or_default();
/// let history = DeliveryHistory {
///     deployments: vec![Deployment {
///         id: "d1".into(),
///         service: "api".into(),
///         environment: "production".into(),
///         commit: "abc".into(),
///         at,
///         outcome: DeploymentOutcome::Success,
///         commits: vec!["abc".into()],
///     }],
///     ..DeliveryHistory::default()
/// };
/// let source = MemorySource::new(history);
/// let query = Query {
///     since: at - chrono::Duration::days(7),
///     until: at + chrono::Duration::days(1),
///     environment: "production".into(),
/// };
/// assert_eq!(source.collect(&query).await?.deployments.len(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemorySource {
    history: DeliveryHistory,
}

impl MemorySource {
    /// A source answering every query from `history`.
    #[must_use]
    pub fn new(history: DeliveryHistory) -> Self {
        Self { history }
    }

    /// The whole history held, unfiltered.
    #[must_use]
    pub fn history(&self) -> &DeliveryHistory {
        &self.history
    }
}

impl From<DeliveryHistory> for MemorySource {
    fn from(history: DeliveryHistory) -> Self {
        Self::new(history)
    }
}

#[async_trait]
impl DeliverySource for MemorySource {
    async fn collect(&self, query: &Query) -> Result<DeliveryHistory, DoraError> {
        select(&self.history, query)
    }
}

/// Check that a query's window is not empty or reversed.
pub(crate) fn check_query(query: &Query) -> Result<(), DoraError> {
    if query.since >= query.until {
        return Err(DoraError::InvalidConfig {
            field: "since".to_owned(),
            reason: format!(
                "the window must be non-empty: since {} is not before until {}",
                query.since.to_rfc3339(),
                query.until.to_rfc3339()
            ),
        });
    }
    if query.environment.trim().is_empty() {
        return Err(DoraError::InvalidConfig {
            field: "environment".to_owned(),
            reason: "must not be empty".to_owned(),
        });
    }
    Ok(())
}

/// Apply the selection rules of the module docs to `history`.
///
/// # Errors
/// [`DoraError::InvalidConfig`] naming `since` when `since >= until`, or `environment` when
/// it is empty.
pub fn select(history: &DeliveryHistory, query: &Query) -> Result<DeliveryHistory, DoraError> {
    check_query(query)?;

    // Per service, in time order (ties by id, so the order is total).
    let mut by_service: BTreeMap<&str, Vec<&Deployment>> = BTreeMap::new();
    for deployment in &history.deployments {
        if deployment.environment == query.environment && deployment.at < query.until {
            by_service
                .entry(deployment.service.as_str())
                .or_default()
                .push(deployment);
        }
    }
    let mut deployments: Vec<Deployment> = Vec::new();
    let mut window_ids: HashSet<&str> = HashSet::new();
    for list in by_service.values_mut() {
        list.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
        let first_in_window = list.partition_point(|d| d.at < query.since);
        // Walk back from just before the window to the last successful deployment.
        for deployment in list[..first_in_window].iter().rev() {
            deployments.push((*deployment).clone());
            if deployment.outcome == DeploymentOutcome::Success {
                break;
            }
        }
        // The rest is the window: `since <= at` here, and only `at < until` was gathered.
        for deployment in &list[first_in_window..] {
            window_ids.insert(deployment.id.as_str());
            deployments.push((*deployment).clone());
        }
    }
    deployments.sort_by(|a, b| {
        a.at.cmp(&b.at)
            .then_with(|| a.service.cmp(&b.service))
            .then_with(|| a.id.cmp(&b.id))
    });

    let shipped: HashSet<&str> = deployments
        .iter()
        .flat_map(|d| d.commits.iter().chain([&d.commit]).map(String::as_str))
        .collect();
    let mut seen = HashSet::new();
    let mut changes: Vec<_> = history
        .changes
        .iter()
        .filter(|c| shipped.contains(c.commit.as_str()) && seen.insert(c.commit.as_str()))
        .cloned()
        .collect();
    changes.sort_by(|a, b| {
        a.committed_at
            .cmp(&b.committed_at)
            .then_with(|| a.commit.cmp(&b.commit))
    });

    let mut incidents: Vec<_> = history
        .incidents
        .iter()
        .filter(|i| {
            (i.opened_at >= query.since && i.opened_at < query.until)
                || i.deployment
                    .as_deref()
                    .is_some_and(|d| window_ids.contains(d))
        })
        .cloned()
        .collect();
    incidents.sort_by(|a, b| a.opened_at.cmp(&b.opened_at).then_with(|| a.id.cmp(&b.id)));

    Ok(DeliveryHistory {
        deployments,
        changes,
        incidents,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Change, Incident};
    use chrono::{DateTime, TimeZone, Utc};

    fn day(d: u32) -> DateTime<Utc> {
        // unwrap: June 2024 has days 1..=30, and the tests only use those.
        Utc.with_ymd_and_hms(2024, 6, d, 12, 0, 0).single().unwrap()
    }

    fn deployment(id: &str, service: &str, d: u32, outcome: DeploymentOutcome) -> Deployment {
        Deployment {
            id: id.to_owned(),
            service: service.to_owned(),
            environment: "production".to_owned(),
            commit: format!("c-{id}"),
            at: day(d),
            outcome,
            commits: vec![format!("c-{id}")],
        }
    }

    fn change(commit: &str, d: u32) -> Change {
        Change {
            commit: commit.to_owned(),
            authored_at: day(d),
            committed_at: day(d),
            pull_request: None,
            merged_at: None,
        }
    }

    fn incident(id: &str, d: u32, deployment: Option<&str>) -> Incident {
        Incident {
            id: id.to_owned(),
            opened_at: day(d),
            resolved_at: None,
            deployment: deployment.map(str::to_owned),
        }
    }

    fn query(since: u32, until: u32) -> Query {
        Query {
            since: day(since),
            until: day(until),
            environment: "production".to_owned(),
        }
    }

    fn ids(history: &DeliveryHistory) -> Vec<&str> {
        history.deployments.iter().map(|d| d.id.as_str()).collect()
    }

    #[tokio::test]
    async fn window_plus_chain_back_to_last_success() {
        use DeploymentOutcome::{Failure, Pending, Success};
        let mut staging = deployment("s1", "api", 11, Success);
        staging.environment = "staging".to_owned();
        let history = DeliveryHistory {
            deployments: vec![
                deployment("a1", "api", 1, Success),
                deployment("a2", "api", 2, Success),
                deployment("a3", "api", 3, Failure),
                deployment("a4", "api", 4, Pending),
                deployment("a5", "api", 10, Success),
                deployment("a6", "api", 20, Success),
                deployment("w1", "web", 5, Failure),
                deployment("w2", "web", 12, Success),
                staging,
            ],
            changes: vec![
                change("c-a1", 1),
                change("c-a2", 2),
                change("c-a3", 3),
                change("c-a4", 4),
                change("c-a5", 9),
                change("c-w1", 5),
                change("c-w2", 11),
                change("c-a6", 19),
            ],
            incidents: vec![
                incident("i-before", 3, Some("a3")),
                incident("i-in", 10, None),
                incident("i-linked-late", 25, Some("w2")),
                incident("i-after", 21, Some("a6")),
            ],
        };
        let source = MemorySource::new(history);
        // Window [June 10, June 15): a5, w2 in it. Before it, api walks back a4 (pending),
        // a3 (failure), a2 (success, stop); web walks back w1 (failure), then nothing.
        let got = source.collect(&query(10, 15)).await.unwrap();
        assert_eq!(ids(&got), ["a2", "a3", "a4", "w1", "a5", "w2"]);
        let commits: Vec<&str> = got.changes.iter().map(|c| c.commit.as_str()).collect();
        assert_eq!(commits, ["c-a2", "c-a3", "c-a4", "c-w1", "c-a5", "c-w2"]);
        // i-in opened in the window; i-linked-late links to w2 (in the window); i-before
        // links to a3 (before the window) and i-after to a6 (after it).
        let incidents: Vec<&str> = got.incidents.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(incidents, ["i-in", "i-linked-late"]);
    }

    #[tokio::test]
    async fn other_environment_and_empty_window() {
        let history = DeliveryHistory {
            deployments: vec![deployment("a1", "api", 1, DeploymentOutcome::Success)],
            ..DeliveryHistory::default()
        };
        let source = MemorySource::from(history);
        let mut q = query(1, 2);
        q.environment = "staging".to_owned();
        assert_eq!(
            source.collect(&q).await.unwrap(),
            DeliveryHistory::default()
        );
        let err = source.collect(&query(2, 2)).await.unwrap_err();
        assert!(matches!(err, DoraError::InvalidConfig { ref field, .. } if field == "since"));
        let mut q = query(1, 2);
        q.environment = " ".to_owned();
        let err = source.collect(&q).await.unwrap_err();
        assert!(
            matches!(err, DoraError::InvalidConfig { ref field, .. } if field == "environment")
        );
    }

    #[tokio::test]
    async fn until_is_exclusive_and_duplicates_are_dropped() {
        let history = DeliveryHistory {
            deployments: vec![
                deployment("a1", "api", 1, DeploymentOutcome::Success),
                deployment("a2", "api", 2, DeploymentOutcome::Success),
            ],
            changes: vec![change("c-a1", 1), change("c-a1", 1)],
            incidents: Vec::new(),
        };
        let got = MemorySource::new(history)
            .collect(&query(1, 2))
            .await
            .unwrap();
        assert_eq!(ids(&got), ["a1"]);
        assert_eq!(got.changes.len(), 1);
    }
}
