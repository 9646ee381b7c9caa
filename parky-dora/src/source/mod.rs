//! Where delivery history comes from: the [`DeliverySource`] trait and its implementations.
//!
//! - [`memory::MemorySource`]: a history held in memory (the embedded default; tests, demo).
//! - `git::GitHistory` (feature `git`): release tags of a local repository are the
//!   production deployments, commits the changes, failures inferred by documented rules.
//! - `github::GitHubSource` (feature `github`): GitHub deployments and their statuses (or
//!   releases), compare between consecutive deployments, merged pull requests, issues
//!   labelled as incidents, over the REST API.
//!
//! Every source answers a [`Query`] with the selection rules of [`memory::select`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::DoraError;
use crate::model::DeliveryHistory;

#[cfg(feature = "git")]
pub mod git;
#[cfg(feature = "github")]
pub mod github;
pub mod memory;

/// What to collect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// First instant of the window (inclusive).
    pub since: DateTime<Utc>,
    /// End of the window (exclusive).
    pub until: DateTime<Utc>,
    /// The production environment's name (deployments to other environments are ignored).
    pub environment: String,
}

/// A source of deployments, changes and incidents.
///
/// A source returns the deployments in `[since, until)`, the deployments just before `since`
/// that the calculators need to know what those deployments newly shipped, every change those
/// deployments contain (even when it was committed before `since`), and the incidents opened
/// in the window or linked to its deployments.
#[async_trait]
pub trait DeliverySource: Send + Sync {
    /// Collect the history for `query`.
    ///
    /// # Errors
    /// A [`DoraError`] naming the operation, file or field that failed.
    async fn collect(&self, query: &Query) -> Result<DeliveryHistory, DoraError>;
}
