//! Deploy records: the [`DeployRecorder`] trait and its implementations.
//!
//! # Design
//!
//! A deployment is recorded once when it starts ([`DeployRecorder::start`] → a
//! [`DeploymentId`]) and then once per state change ([`DeployRecorder::status`]: queued,
//! in progress, success, failure, inactive, …). Those records are what `parky-dora` counts
//! later (deployment frequency, change failure rate), so every implementation keeps the same
//! vocabulary: GitHub's deployment and deployment-status fields.
//!
//! | recorder | where the records go | feature |
//! |---|---|---|
//! | [`GitHubRecorder`] | GitHub's REST API: `POST /repos/{owner}/{repo}/deployments` and `POST …/deployments/{id}/statuses` | `http` |
//! | [`FileRecorder`] | a JSON-lines file (the embedded default) | `file` |
//! | [`MemoryRecorder`] | memory (tests, dry runs) | always |
//!
//! Recorders never retry or sleep on their own: a failed call returns a
//! [`DeployError`] whose [`DeployError::is_retryable`] and [`DeployError::retry_after`] tell
//! the caller what to do.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::DeployError;

#[cfg(feature = "file")]
mod file;
#[cfg(feature = "http")]
mod github;

#[cfg(feature = "file")]
pub use file::{FileRecorder, RecordLine};
#[cfg(feature = "http")]
pub use github::{GitHubRecorder, API_VERSION, MEDIA_TYPE};

/// The identifier of a recorded deployment: GitHub's numeric deployment `id` (as text), or
/// the file recorder's sequence number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeploymentId(pub String);

impl fmt::Display for DeploymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A deployment about to start: the fields of GitHub's "Create a deployment" request.
///
/// Optional fields left `None` are not sent, so GitHub applies its documented defaults
/// (`environment: production`, `auto_merge: true`, all status contexts required, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDeployment {
    /// The ref to deploy: a branch, tag or commit SHA.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// The target environment (`production`, `staging`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// A short description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether GitHub may merge the default branch into `git_ref` first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_merge: Option<bool>,
    /// The commit status contexts that must be `success`; `Some(vec![])` skips the check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_contexts: Option<Vec<String>>,
    /// Extra JSON for the deployment system (e.g. `{"service": "public"}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
    /// Whether the environment is specific to this deployment and goes away later.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transient_environment: Option<bool>,
    /// Whether end users interact with the environment directly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub production_environment: Option<bool>,
}

impl NewDeployment {
    /// A deployment of `git_ref` with every optional field unset.
    #[must_use]
    pub fn new(git_ref: impl Into<String>) -> Self {
        Self {
            git_ref: git_ref.into(),
            environment: None,
            description: None,
            auto_merge: None,
            required_contexts: None,
            payload: None,
            transient_environment: None,
            production_environment: None,
        }
    }
}

/// The state of a deployment status, as GitHub names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    /// Waiting to start.
    Queued,
    /// Pending (GitHub's older "not started" state).
    Pending,
    /// Running.
    InProgress,
    /// Finished and healthy.
    Success,
    /// Finished and failed (the change failed: counts towards the change failure rate).
    Failure,
    /// The deployment system itself failed.
    Error,
    /// Superseded or rolled back; no longer live.
    Inactive,
}

impl DeploymentState {
    /// GitHub's spelling: `queued`, `pending`, `in_progress`, `success`, `failure`,
    /// `error`, `inactive`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Pending => "pending",
            Self::InProgress => "in_progress",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Error => "error",
            Self::Inactive => "inactive",
        }
    }
}

impl fmt::Display for DeploymentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state change: the fields of GitHub's "Create a deployment status" request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// The new state.
    pub state: DeploymentState,
    /// A short description (GitHub keeps at most 140 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The full URL of the deployment's output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_url: Option<String>,
    /// The URL of the deployed environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_url: Option<String>,
    /// Whether GitHub marks earlier successful deployments of the same environment
    /// inactive (GitHub's default: `true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_inactive: Option<bool>,
}

impl StatusUpdate {
    /// A change to `state` with every optional field unset.
    #[must_use]
    pub fn new(state: DeploymentState) -> Self {
        Self {
            state,
            description: None,
            log_url: None,
            environment_url: None,
            auto_inactive: None,
        }
    }

    /// The same update with a description.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

/// One entry of the `errors` array of GitHub's 422 "Validation Failed" reply
/// (`{"resource": "Deployment", "field": "ref", "code": "invalid"}` or
/// `{"resource": "Deployment", "code": "custom", "message": "…"}`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GitHubFieldError {
    /// The resource, e.g. `Deployment`.
    #[serde(default)]
    pub resource: Option<String>,
    /// The field, e.g. `ref`.
    #[serde(default)]
    pub field: Option<String>,
    /// GitHub's code: `missing`, `missing_field`, `invalid`, `already_exists`, `unprocessable`,
    /// `custom`.
    #[serde(default)]
    pub code: Option<String>,
    /// A message (GitHub sends one with `custom`).
    #[serde(default)]
    pub message: Option<String>,
}

impl fmt::Display for GitHubFieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match (&self.resource, &self.field) {
            (Some(resource), Some(field)) => format!("{resource}.{field}"),
            (Some(resource), None) => resource.clone(),
            (None, Some(field)) => field.clone(),
            (None, None) => String::from("request"),
        };
        write!(f, "{target}")?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

/// Records deployments and their state changes.
///
/// Implementations are `Send + Sync` (shared as `Arc<dyn DeployRecorder>`), never panic and
/// never retry on their own.
#[async_trait]
pub trait DeployRecorder: Send + Sync + fmt::Debug {
    /// Record that `deployment` of `service` starts; returns its id.
    ///
    /// # Errors
    /// A [`DeployError`] when the record cannot be written; see
    /// [`DeployError::is_retryable`].
    async fn start(
        &self,
        service: &str,
        deployment: &NewDeployment,
    ) -> Result<DeploymentId, DeployError>;

    /// Record a state change of the deployment `id`.
    ///
    /// # Errors
    /// A [`DeployError`] when the record cannot be written.
    async fn status(&self, id: &DeploymentId, update: &StatusUpdate) -> Result<(), DeployError>;
}

#[async_trait]
impl<R: DeployRecorder + ?Sized> DeployRecorder for std::sync::Arc<R> {
    async fn start(
        &self,
        service: &str,
        deployment: &NewDeployment,
    ) -> Result<DeploymentId, DeployError> {
        (**self).start(service, deployment).await
    }

    async fn status(&self, id: &DeploymentId, update: &StatusUpdate) -> Result<(), DeployError> {
        (**self).status(id, update).await
    }
}

/// One call seen by a [`MemoryRecorder`].
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// [`DeployRecorder::start`], with the id handed out.
    Start {
        /// The id returned.
        id: DeploymentId,
        /// The service.
        service: String,
        /// The deployment.
        deployment: NewDeployment,
    },
    /// [`DeployRecorder::status`].
    Status {
        /// The deployment.
        id: DeploymentId,
        /// The change.
        update: StatusUpdate,
    },
}

/// A [`DeployRecorder`] that keeps every call in memory; ids are `1`, `2`, … .
#[derive(Debug, Default)]
pub struct MemoryRecorder {
    calls: Mutex<Vec<Recorded>>,
}

impl MemoryRecorder {
    /// An empty recorder.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the calls so far, oldest first.
    #[must_use]
    pub fn calls(&self) -> Vec<Recorded> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Recorded>> {
        // A poisoned lock still holds a valid Vec (each push is complete), so recovering it
        // is sound and avoids a panic.
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl DeployRecorder for MemoryRecorder {
    async fn start(
        &self,
        service: &str,
        deployment: &NewDeployment,
    ) -> Result<DeploymentId, DeployError> {
        let mut calls = self.lock();
        let started = calls
            .iter()
            .filter(|c| matches!(c, Recorded::Start { .. }))
            .count();
        let id = DeploymentId((started + 1).to_string());
        calls.push(Recorded::Start {
            id: id.clone(),
            service: service.to_owned(),
            deployment: deployment.clone(),
        });
        Ok(id)
    }

    async fn status(&self, id: &DeploymentId, update: &StatusUpdate) -> Result<(), DeployError> {
        self.lock().push(Recorded::Status {
            id: id.clone(),
            update: update.clone(),
        });
        Ok(())
    }
}
