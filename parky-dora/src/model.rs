//! Plain data of software delivery: deployments, changes and incidents.
//!
//! In JSON, unknown fields are refused (a typo such as `resolvd_at` must not silently drop
//! a value and change the figures).
//!
//! Sources ([`crate::source`]) produce a [`DeliveryHistory`]; the calculators in
//! [`crate::policy`] read it and never do I/O.
//!
//! ## What "contains" means
//! A [`Deployment`] lists the commits it shipped *that the previous deployment of the same
//! service and environment had not shipped* (`commits`; for a git history, the commits of
//! `git log previous_tag..tag`). History per service and environment is taken as linear: a
//! deployment contains everything an earlier deployment of the same service and environment
//! contained. So a commit first carried by a failed deployment is shipped by the next
//! successful one, and its lead time ends there.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A commit identifier (a full or abbreviated SHA, compared as written).
pub type CommitId = String;

/// The outcome of a deployment as the platform reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentOutcome {
    /// The deployment finished and served traffic.
    Success,
    /// The deployment failed or had to be rolled back (a failed change).
    Failure,
    /// Still running, or its outcome was never reported: counted in no key; its commits ship
    /// with the next successful deployment of the same service and environment.
    Pending,
}

/// One deployment of one service to one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// Stable identifier (a GitHub deployment id, a tag name, a canary run id).
    pub id: String,
    /// The service (repository, Worker script) deployed.
    pub service: String,
    /// The environment, e.g. `production`.
    pub environment: String,
    /// The commit that was deployed (the head of the release).
    pub commit: CommitId,
    /// When the deployment finished (or was created, when the source knows no more).
    pub at: DateTime<Utc>,
    /// How it ended.
    pub outcome: DeploymentOutcome,
    /// Commits this deployment shipped that the previous deployment of the same service and
    /// environment had not (see the module docs).
    #[serde(default)]
    pub commits: Vec<CommitId>,
}

/// One change: a commit, with the pull request that merged it when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// The commit.
    pub commit: CommitId,
    /// Author date (when the change was first written).
    pub authored_at: DateTime<Utc>,
    /// Committer date (when it was committed in its final form; rebases and squash merges
    /// move it).
    pub committed_at: DateTime<Utc>,
    /// The pull request that merged it, when known.
    #[serde(default)]
    pub pull_request: Option<u64>,
    /// When that pull request was merged, when known.
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
}

/// An incident: production impact, possibly caused by a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// Stable identifier (an issue number, a pager incident id).
    pub id: String,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// When it was resolved; `None` while open.
    #[serde(default)]
    pub resolved_at: Option<DateTime<Utc>>,
    /// The [`Deployment::id`] that caused it, when known.
    #[serde(default)]
    pub deployment: Option<String>,
}

/// Everything the calculators need, as a source collected it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryHistory {
    /// Deployments, in any order.
    pub deployments: Vec<Deployment>,
    /// Changes, in any order; each commit at most once.
    pub changes: Vec<Change>,
    /// Incidents, in any order.
    pub incidents: Vec<Incident>,
}
