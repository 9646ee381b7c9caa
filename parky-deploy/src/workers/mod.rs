//! Cloudflare Workers Versions & Deployments: the [`WorkersApi`] trait, its data types,
//! wrangler's rollback rule, and two implementations.
//!
//! # Model
//!
//! A Worker *script* has immutable *versions* (code + configuration + secrets) and a
//! history of *deployments*. A deployment uses the `percentage` strategy and routes
//! traffic to one or two versions whose shares sum to 100; the newest deployment is the one
//! serving traffic. A canary is a two-version deployment; promoting or rolling back is a new
//! deployment.
//!
//! # Implementations
//!
//! - [`WorkersClient`] (feature `http`): the Cloudflare v4 REST API over reqwest (rustls).
//! - [`WorkersSimulator`]: the embedded default, in memory and deterministic, with
//!   per-version error rates and p99 latencies, a seeded traffic window for canary judges,
//!   and scriptable failures.
//!
//! # Shared logic
//!
//! Written once, on top of the trait, so every implementation behaves the same:
//! [`rollback`] (wrangler's target rule: [`rollback_target`]) and
//! [`WorkersApi::current_split`] ([`split_from_deployments`]).

#[cfg(feature = "http")]
mod http;
mod simulator;

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::DeployError;
use crate::model::{TrafficSplit, VersionId};

#[cfg(feature = "http")]
pub(crate) use http::{bearer_header, retry_after};
#[cfg(feature = "http")]
pub use http::{WorkersClient, CLOUDFLARE_API_BASE, MAX_PAGES};
pub use simulator::{
    Operation, VersionBehaviour, VersionSample, WindowSample, WorkersSimulator, MAX_WINDOW_REQUESTS,
};

/// Cloudflare's error code when a deployment is refused because secrets changed since the
/// target version was deployed (wrangler: `CANNOT_ROLLBACK_WITH_MODIFIED_SECERT_CODE`).
/// Sending the same request with `?force=true` deploys anyway.
pub const SECRETS_CHANGED_CODE: i64 = 10220;

/// The longest `workers/message` annotation Cloudflare accepts on a new deployment, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 100;

/// The message [`rollback`] uses when none is given (wrangler's default).
pub const DEFAULT_ROLLBACK_MESSAGE: &str = "Rollback";

/// An uploaded version of a Worker (an item of "List Versions" / the result of "Get Version
/// Detail").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerVersion {
    /// The version id (a UUID on Cloudflare).
    pub id: VersionId,
    /// Cloudflare's sequential version number, if given.
    pub number: Option<u64>,
    /// When it was uploaded (`metadata.created_on`), if given.
    pub created_on: Option<DateTime<Utc>>,
    /// Who uploaded it (`metadata.author_email`).
    pub author_email: Option<String>,
    /// Where it came from (`metadata.source`: `wrangler`, `api`, `dash`, …).
    pub source: Option<String>,
    /// `annotations["workers/message"]`.
    pub message: Option<String>,
    /// `annotations["workers/tag"]`.
    pub tag: Option<String>,
    /// `annotations["workers/triggered_by"]` (`upload`, `secret`, …).
    pub triggered_by: Option<String>,
}

impl WorkerVersion {
    /// A version with only its id set.
    pub fn new(id: VersionId) -> Self {
        WorkerVersion {
            id,
            number: None,
            created_on: None,
            author_email: None,
            source: None,
            message: None,
            tag: None,
            triggered_by: None,
        }
    }
}

/// One version's share of a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentVersion {
    /// The version.
    pub version_id: VersionId,
    /// Its share of traffic in percent (Cloudflare: 0.01–100).
    pub percentage: f64,
}

/// A deployment: which versions served traffic, in what shares, from when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// The deployment id (a UUID on Cloudflare).
    pub id: String,
    /// When it was created.
    pub created_on: DateTime<Utc>,
    /// Where it came from (`api`, `wrangler`, `dash`, …).
    pub source: String,
    /// The strategy; `percentage` is the only one Cloudflare documents.
    pub strategy: String,
    /// The versions and their shares.
    pub versions: Vec<DeploymentVersion>,
    /// `annotations["workers/message"]`.
    pub message: Option<String>,
    /// `annotations["workers/triggered_by"]` (`deployment`, `rollback`, `secret`, …).
    pub triggered_by: Option<String>,
    /// Who created it.
    pub author_email: Option<String>,
}

impl Deployment {
    /// The version, if this deployment sends all traffic to a single version (one entry at
    /// exactly 100 %).
    pub fn single_version(&self) -> Option<&VersionId> {
        match self.versions.as_slice() {
            [only] if only.percentage == 100.0 => Some(&only.version_id),
            _ => None,
        }
    }
}

/// A new deployment with the `percentage` strategy; check it with
/// [`DeploymentRequest::validate`] (every [`WorkersApi::create_deployment`] does, before
/// sending anything).
///
/// Rules (Cloudflare's "Create Deployment"): one or two distinct versions, each with a whole
/// percentage of 1–100, summing to exactly 100; an optional message of at most
/// [`MAX_MESSAGE_BYTES`] bytes (`annotations["workers/message"]`). `force` adds
/// `?force=true`, which deploys even when Cloudflare would refuse because secrets changed
/// ([`SECRETS_CHANGED_CODE`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRequest {
    /// The versions and their whole-percent shares, in the order they are sent.
    pub versions: Vec<(VersionId, u8)>,
    /// The `workers/message` annotation.
    pub message: Option<String>,
    /// Send `?force=true`.
    pub force: bool,
}

impl DeploymentRequest {
    /// All traffic on `version`.
    pub fn all_on(version: VersionId) -> Self {
        DeploymentRequest {
            versions: vec![(version, 100)],
            message: None,
            force: false,
        }
    }

    /// `canary_percent` of traffic on `canary`, the rest on `stable` (stable listed first).
    /// A share of 0 or 100 is refused by [`validate`](Self::validate); use
    /// [`all_on`](Self::all_on) instead.
    pub fn split(stable: VersionId, canary: VersionId, canary_percent: u8) -> Self {
        DeploymentRequest {
            versions: vec![
                (stable, 100_u8.saturating_sub(canary_percent)),
                (canary, canary_percent),
            ],
            message: None,
            force: false,
        }
    }

    /// The deployment that serves `split` (stable first, then the canary if any).
    pub fn from_split(split: &TrafficSplit) -> Self {
        match &split.canary {
            None => Self::all_on(split.stable.clone()),
            Some((canary, percent)) => Self::split(split.stable.clone(), canary.clone(), *percent),
        }
    }

    /// Set the `workers/message` annotation.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Set `force` (deploy even if secrets changed since a target version was deployed).
    #[must_use]
    pub fn with_force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Check the rules in the type's docs.
    ///
    /// # Errors
    /// [`DeployError::InvalidDeployment`] naming the field: `versions` (none, more than two,
    /// the same version twice, shares not summing to 100), `versions[i].version_id` (empty),
    /// `versions[i].percentage` (0 or above 100), `message` (too long).
    pub fn validate(&self) -> Result<(), DeployError> {
        let invalid =
            |field: String, reason: String| DeployError::InvalidDeployment { field, reason };
        if self.versions.is_empty() || self.versions.len() > 2 {
            return Err(invalid(
                "versions".to_owned(),
                format!(
                    "a deployment has one or two versions, not {}",
                    self.versions.len()
                ),
            ));
        }
        let mut seen = BTreeSet::new();
        let mut sum = 0_u32;
        for (i, (version, percent)) in self.versions.iter().enumerate() {
            if version.0.trim().is_empty() {
                return Err(invalid(
                    format!("versions[{i}].version_id"),
                    "empty".to_owned(),
                ));
            }
            if !seen.insert(version) {
                return Err(invalid(
                    "versions".to_owned(),
                    format!("version {version} is listed twice"),
                ));
            }
            if *percent == 0 || *percent > 100 {
                return Err(invalid(
                    format!("versions[{i}].percentage"),
                    format!("{percent} is not within 1–100"),
                ));
            }
            sum += u32::from(*percent);
        }
        if sum != 100 {
            return Err(invalid(
                "versions".to_owned(),
                format!("percentages sum to {sum}, not 100"),
            ));
        }
        if let Some(message) = &self.message {
            if message.len() > MAX_MESSAGE_BYTES {
                return Err(invalid(
                    "message".to_owned(),
                    format!(
                        "{} bytes; Cloudflare accepts at most {MAX_MESSAGE_BYTES}",
                        message.len()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The Workers Versions & Deployments operations the canary controller needs.
///
/// Every method takes the Worker's script name; the account is the implementation's. No
/// method retries or sleeps: use [`DeployError::is_retryable`] and
/// [`DeployError::retry_after`] with a `parky_core::RetryPolicy`.
#[async_trait]
pub trait WorkersApi: Send + Sync {
    /// Every deployable version of `script` (all pages), newest first as the API lists them.
    async fn list_versions(&self, script: &str) -> Result<Vec<WorkerVersion>, DeployError>;

    /// One version of `script`.
    async fn get_version(
        &self,
        script: &str,
        version: &VersionId,
    ) -> Result<WorkerVersion, DeployError>;

    /// The deployments of `script` as the API lists them (the first is the one serving
    /// traffic).
    async fn list_deployments(&self, script: &str) -> Result<Vec<Deployment>, DeployError>;

    /// Create a deployment; `request` is validated first and nothing is sent if it is
    /// invalid.
    ///
    /// # Errors
    /// [`DeployError::InvalidDeployment`] before sending; [`DeployError::WorkersSecretsChanged`]
    /// when Cloudflare wants `force`; otherwise the implementation's API errors.
    async fn create_deployment(
        &self,
        script: &str,
        request: &DeploymentRequest,
    ) -> Result<Deployment, DeployError>;

    /// The traffic split of the latest deployment (see [`split_from_deployments`]).
    ///
    /// # Errors
    /// [`DeployError::NoDeployment`] when `script` has none; the errors of
    /// [`list_deployments`](Self::list_deployments).
    async fn current_split(&self, script: &str) -> Result<TrafficSplit, DeployError> {
        let deployments = self.list_deployments(script).await?;
        split_from_deployments(script, &deployments)
    }
}

/// Deployments newest first (by `created_on`, ties in listed order).
fn newest_first(deployments: &[Deployment]) -> Vec<&Deployment> {
    let mut sorted: Vec<&Deployment> = deployments.iter().collect();
    sorted.sort_by_key(|d| std::cmp::Reverse(d.created_on));
    sorted
}

/// Wrangler's default rollback target: sort the deployments newest first, skip the newest
/// (the one serving traffic), and take the first that ran a single version at 100 %.
///
/// Returns that deployment and its version, or `None` (wrangler: "Could not find stable
/// Worker Version to rollback to").
pub fn rollback_target(deployments: &[Deployment]) -> Option<(&Deployment, &VersionId)> {
    newest_first(deployments)
        .into_iter()
        .skip(1)
        .find_map(|d| d.single_version().map(|v| (d, v)))
}

/// The [`TrafficSplit`] of the latest deployment in `deployments`.
///
/// A single version is `all_on`. With two versions, the *stable* one is the version that
/// served alone or alongside another in the newest earlier deployment containing exactly one
/// of the two; if no earlier deployment decides, the larger share is stable, and on a tie the
/// first listed. The canary's share is rounded to a whole percent and kept within 1–99
/// (Cloudflare allows 0.01 steps; a [`TrafficSplit`] counts whole percents).
///
/// # Errors
/// [`DeployError::NoDeployment`] for an empty history;
/// [`DeployError::WorkersMalformedReply`] when the latest deployment has no version or more
/// than two.
pub fn split_from_deployments(
    script: &str,
    deployments: &[Deployment],
) -> Result<TrafficSplit, DeployError> {
    let sorted = newest_first(deployments);
    let Some((latest, earlier)) = sorted.split_first() else {
        return Err(DeployError::NoDeployment {
            script: script.to_owned(),
        });
    };
    match latest.versions.as_slice() {
        [only] => Ok(TrafficSplit::all_on(only.version_id.clone())),
        [a, b] => {
            let decided = earlier.iter().find_map(|d| {
                let has = |v: &VersionId| d.versions.iter().any(|x| &x.version_id == v);
                match (has(&a.version_id), has(&b.version_id)) {
                    (true, false) => Some(true),
                    (false, true) => Some(false),
                    _ => None,
                }
            });
            let a_is_stable = decided.unwrap_or(a.percentage >= b.percentage);
            let (stable, canary) = if a_is_stable { (a, b) } else { (b, a) };
            let percent = canary.percentage.round().clamp(1.0, 99.0);
            // `percent` is within 1–99 after the clamp (NaN aside, which `as` maps to 0).
            let percent = (percent as u8).clamp(1, 99);
            Ok(TrafficSplit {
                stable: stable.version_id.clone(),
                canary: Some((canary.version_id.clone(), percent)),
            })
        }
        other => Err(DeployError::WorkersMalformedReply {
            operation: format!("read the traffic split of {script}"),
            status: 200,
            reason: format!(
                "deployment {} has {} versions; Cloudflare allows one or two",
                latest.id,
                other.len()
            ),
        }),
    }
}

/// How [`rollback`] deploys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollbackOptions {
    /// Roll back to this version instead of wrangler's default target.
    pub version: Option<VersionId>,
    /// The deployment message; [`DEFAULT_ROLLBACK_MESSAGE`] when `None`.
    pub message: Option<String>,
    /// Deploy even if secrets changed since the target version was deployed.
    pub force: bool,
}

/// What [`rollback`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackOutcome {
    /// The version now serving all traffic.
    pub version: VersionId,
    /// The earlier deployment the target was taken from (`None` for an explicit version).
    pub from_deployment: Option<String>,
    /// The deployment created.
    pub deployment: Deployment,
}

/// Roll `script` back the way `wrangler rollback` does: deploy the target version to 100 %
/// (the explicit [`RollbackOptions::version`], else [`rollback_target`] of
/// [`WorkersApi::list_deployments`]) with the message, through
/// [`WorkersApi::create_deployment`]. Works with any [`WorkersApi`].
///
/// Unlike wrangler, nothing is asked interactively: when Cloudflare refuses because secrets
/// changed, the [`DeployError::WorkersSecretsChanged`] is returned (it lists the secrets'
/// names) and the caller decides whether to call again with `force`.
///
/// # Errors
/// [`DeployError::NoRollbackTarget`]; the errors of the two calls.
pub async fn rollback<A: WorkersApi + ?Sized>(
    api: &A,
    script: &str,
    options: &RollbackOptions,
) -> Result<RollbackOutcome, DeployError> {
    let (version, from_deployment) = match &options.version {
        Some(version) => (version.clone(), None),
        None => {
            let deployments = api.list_deployments(script).await?;
            let (deployment, version) =
                rollback_target(&deployments).ok_or_else(|| DeployError::NoRollbackTarget {
                    script: script.to_owned(),
                })?;
            (version.clone(), Some(deployment.id.clone()))
        }
    };
    let message = options
        .message
        .clone()
        .unwrap_or_else(|| DEFAULT_ROLLBACK_MESSAGE.to_owned());
    let request = DeploymentRequest::all_on(version.clone())
        .with_message(message)
        .with_force(options.force);
    tracing::info!(script, %version, force = options.force, "rolling back");
    let deployment = api.create_deployment(script, &request).await?;
    Ok(RollbackOutcome {
        version,
        from_deployment,
        deployment,
    })
}

/// The changed secrets' names in a 10220 error message, read as wrangler reads them: the
/// comma-separated list after "The following secrets have changed:". Empty when the message
/// does not have that marker (Cloudflare does not document the message's exact wording).
pub fn changed_secrets(message: &str) -> Vec<String> {
    const MARKER: &str = "The following secrets have changed:";
    message
        .find(MARKER)
        .map(|at| &message[at + MARKER.len()..])
        .map(|rest| {
            rest.split(',')
                .map(|s| s.trim().trim_end_matches('.').trim())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(id: &str, secs: i64, versions: &[(&str, f64)]) -> Deployment {
        Deployment {
            id: id.to_owned(),
            // unwrap: small offsets from the epoch are valid instants.
            created_on: DateTime::from_timestamp(secs, 0).unwrap(),
            source: "api".to_owned(),
            strategy: "percentage".to_owned(),
            versions: versions
                .iter()
                .map(|(v, p)| DeploymentVersion {
                    version_id: VersionId::from(*v),
                    percentage: *p,
                })
                .collect(),
            message: None,
            triggered_by: None,
            author_email: None,
        }
    }

    #[test]
    fn validation_names_the_field() {
        let field = |r: DeploymentRequest| match r.validate() {
            Err(DeployError::InvalidDeployment { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let a = VersionId::from("a");
        let b = VersionId::from("b");
        assert!(DeploymentRequest::all_on(a.clone()).validate().is_ok());
        assert!(DeploymentRequest::split(a.clone(), b.clone(), 10)
            .validate()
            .is_ok());
        assert_eq!(
            field(DeploymentRequest::split(a.clone(), b.clone(), 0)),
            "versions[1].percentage"
        );
        assert_eq!(
            field(DeploymentRequest::split(a.clone(), a.clone(), 10)),
            "versions"
        );
        let mut r = DeploymentRequest::all_on(a.clone());
        r.versions[0].1 = 90;
        assert_eq!(field(r), "versions");
        let r = DeploymentRequest {
            versions: vec![],
            message: None,
            force: false,
        };
        assert_eq!(field(r), "versions");
        let r = DeploymentRequest {
            versions: vec![(a.clone(), 50), (b.clone(), 30), ("c".into(), 20)],
            message: None,
            force: false,
        };
        assert_eq!(field(r), "versions");
        let r = DeploymentRequest {
            versions: vec![(a.clone(), 200), (b.clone(), 56)],
            message: None,
            force: false,
        };
        assert_eq!(field(r), "versions[0].percentage");
        assert_eq!(
            field(DeploymentRequest::all_on("".into())),
            "versions[0].version_id"
        );
        assert_eq!(
            field(DeploymentRequest::all_on(a.clone()).with_message("x".repeat(101))),
            "message"
        );
        assert!(DeploymentRequest::all_on(a)
            .with_message("x".repeat(100))
            .validate()
            .is_ok());
    }

    #[test]
    fn rollback_target_follows_wrangler() {
        // Listed out of order on purpose: the rule sorts by created_on.
        let history = vec![
            deployment("d1", 10, &[("v1", 100.0)]),
            deployment("d4", 40, &[("v2", 90.0), ("v3", 10.0)]),
            deployment("d2", 20, &[("v2", 100.0)]),
            deployment("d3", 30, &[("v1", 50.0), ("v2", 50.0)]),
        ];
        let (d, v) = rollback_target(&history).unwrap();
        // d4 is current; d3 split; d2 ran v2 alone.
        assert_eq!((d.id.as_str(), v.0.as_str()), ("d2", "v2"));
        // The current deployment is never the target, even at 100 %.
        let history = vec![deployment("only", 1, &[("v1", 100.0)])];
        assert!(rollback_target(&history).is_none());
        assert!(rollback_target(&[]).is_none());
    }

    #[test]
    fn split_uses_history_to_tell_stable_from_canary() {
        let history = vec![
            deployment("d2", 20, &[("v2", 60.0), ("v1", 40.0)]),
            deployment("d1", 10, &[("v1", 100.0)]),
        ];
        let split = split_from_deployments("w", &history).unwrap();
        assert_eq!(split.stable, VersionId::from("v1"));
        assert_eq!(split.canary, Some((VersionId::from("v2"), 60)));
        // No deciding history: the larger share is stable; 0.01 % rounds up to 1 %.
        let history = vec![deployment("d", 1, &[("v9", 0.01), ("v1", 99.99)])];
        let split = split_from_deployments("w", &history).unwrap();
        assert_eq!(split.stable, VersionId::from("v1"));
        assert_eq!(split.canary_percent(), 1);
        assert!(matches!(
            split_from_deployments("w", &[]),
            Err(DeployError::NoDeployment { .. })
        ));
    }

    #[test]
    fn changed_secrets_reads_wranglers_marker() {
        assert_eq!(
            changed_secrets("A secret has changed since this version was active. The following secrets have changed: API_KEY, DB_PASSWORD"),
            vec!["API_KEY".to_owned(), "DB_PASSWORD".to_owned()]
        );
        assert!(changed_secrets("something else").is_empty());
        assert!(changed_secrets("The following secrets have changed:").is_empty());
    }
}
