//! [`WorkersSimulator`]: an in-memory, deterministic [`WorkersApi`] with traffic.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parky_core::{ApiError, Clock, ManualClock};
use parky_slo::policy::rollback::TrafficSample;
use rand::{Rng, RngExt};

use super::{Deployment, DeploymentRequest, DeploymentVersion, WorkerVersion, WorkersApi};
use crate::error::DeployError;
use crate::model::{TrafficSplit, VersionId};

/// The service name in the simulator's [`ApiError`]s.
const SERVICE: &str = "workers-simulator";

/// The most requests one [`WorkersSimulator::simulate_window`] call simulates (one random
/// draw or two per request).
pub const MAX_WINDOW_REQUESTS: u64 = 10_000_000;

/// How a version behaves under traffic in the simulator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VersionBehaviour {
    error_rate: f64,
    p99: Duration,
}

impl VersionBehaviour {
    /// Each request fails with probability `error_rate` (0–1); the version's p99 latency is
    /// `p99`.
    ///
    /// # Errors
    /// [`DeployError::InvalidConfig`] (field `error_rate`) when the rate is not within 0–1.
    pub fn new(error_rate: f64, p99: Duration) -> Result<Self, DeployError> {
        if !(0.0..=1.0).contains(&error_rate) {
            return Err(DeployError::InvalidConfig {
                field: "error_rate".to_owned(),
                reason: format!("{error_rate} is not within 0–1"),
            });
        }
        Ok(Self { error_rate, p99 })
    }

    /// A version that never fails, with this p99.
    pub fn healthy(p99: Duration) -> Self {
        Self {
            error_rate: 0.0,
            p99,
        }
    }

    /// The probability that a request fails.
    pub fn error_rate(&self) -> f64 {
        self.error_rate
    }

    /// The p99 latency.
    pub fn p99(&self) -> Duration {
        self.p99
    }
}

/// What one version served during a simulated window.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionSample {
    /// The version.
    pub version: VersionId,
    /// Requests, errors and p99 (the version's configured p99; `None` when it served no
    /// request), in the shape the canary judge takes.
    pub sample: TrafficSample,
}

/// What the stable version and the canary served during a simulated window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSample {
    /// The stable version (the judge's baseline).
    pub stable: VersionSample,
    /// The canary, if the split has one.
    pub canary: Option<VersionSample>,
}

/// A [`WorkersApi`] call, to script failures with [`WorkersSimulator::fail_next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// [`WorkersApi::list_versions`].
    ListVersions,
    /// [`WorkersApi::get_version`].
    GetVersion,
    /// [`WorkersApi::list_deployments`] (and so [`WorkersApi::current_split`]).
    ListDeployments,
    /// [`WorkersApi::create_deployment`].
    CreateDeployment,
}

#[derive(Debug, Clone)]
struct SimVersion {
    version: WorkerVersion,
    behaviour: VersionBehaviour,
    /// How many secret changes the script had when this version was uploaded.
    secret_epoch: usize,
}

#[derive(Debug, Default)]
struct Script {
    /// Upload order (oldest first).
    versions: Vec<SimVersion>,
    /// Creation order (oldest first).
    deployments: Vec<Deployment>,
    /// Names of changed secrets, in order.
    secret_changes: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    scripts: BTreeMap<String, Script>,
    failures: BTreeMap<Operation, VecDeque<DeployError>>,
    calls: Vec<Operation>,
    last_time: Option<DateTime<Utc>>,
    deployments_created: u64,
}

/// The embedded Workers platform: versions, deployment history, traffic split, and
/// per-version behaviour, all in memory and deterministic.
///
/// - [`upload_version`](Self::upload_version) adds a version with a [`VersionBehaviour`];
///   [`WorkersApi::create_deployment`] validates like Cloudflare and appends to the history
///   (deployment ids are UUID-shaped counters; `created_on` comes from the clock, forced
///   strictly increasing).
/// - [`simulate_window`](Self::simulate_window) sends `n` requests through the current
///   split and returns per-version counts for a canary judge; with the same seed and state
///   it returns the same sample.
/// - [`fail_next`](Self::fail_next) scripts the error of a future call (a 5xx on the next
///   create, a 429 with `Retry-After`, …) for crash and retry tests;
///   [`calls`](Self::calls) records every call.
/// - [`change_secret`](Self::change_secret) mimics Cloudflare's code 10220: deploying a
///   version uploaded before a secret change, that the current deployment does not already
///   run, needs `force`.
#[derive(Clone)]
pub struct WorkersSimulator {
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for WorkersSimulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("WorkersSimulator");
        // `try_lock`: formatting while the state is locked must not deadlock.
        if let Ok(state) = self.state.try_lock() {
            out.field("scripts", &state.scripts.keys().collect::<Vec<_>>())
                .field("calls", &state.calls.len());
        }
        out.finish_non_exhaustive()
    }
}

impl Default for WorkersSimulator {
    fn default() -> Self {
        Self::new()
    }
}

impl WorkersSimulator {
    /// An empty platform whose clock stays at the Unix epoch (timestamps then advance by
    /// one microsecond per event).
    pub fn new() -> Self {
        Self {
            state: Arc::new(Mutex::new(State::default())),
            clock: Arc::new(ManualClock::at_epoch()),
        }
    }

    /// Stamp versions and deployments with this clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Continue the deployment id counter as if `count` deployments had already been
    /// created: the next one is number `count + 1`
    /// (`00000000-0000-4000-8000-<number as 12 hex digits>`). A simulator rebuilt for each
    /// run of a command (as `parky canary … --simulate` does from its state file) passes the
    /// number of deployments recorded so far, so ids stay distinct across runs.
    #[must_use]
    pub fn with_deployments_created(self, count: u64) -> Self {
        self.lock().deployments_created = count;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters to a simulator; keep going with the data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stamp(&self, state: &mut State) -> DateTime<Utc> {
        let now = self.clock.now();
        let at = match state.last_time {
            Some(last) if now <= last => last + chrono::Duration::microseconds(1),
            _ => now,
        };
        state.last_time = Some(at);
        at
    }

    /// Upload `id` to `script` (created if new) with `behaviour`; returns the version as the
    /// API would list it. Uploading an existing id replaces its behaviour only.
    pub fn upload_version(
        &self,
        script: &str,
        id: VersionId,
        behaviour: VersionBehaviour,
    ) -> WorkerVersion {
        let mut state = self.lock();
        let created_on = self.stamp(&mut state);
        let entry = state.scripts.entry(script.to_owned()).or_default();
        if let Some(existing) = entry.versions.iter_mut().find(|v| v.version.id == id) {
            existing.behaviour = behaviour;
            return existing.version.clone();
        }
        let version = WorkerVersion {
            number: Some(entry.versions.len() as u64 + 1),
            created_on: Some(created_on),
            source: Some("api".to_owned()),
            triggered_by: Some("upload".to_owned()),
            ..WorkerVersion::new(id)
        };
        entry.versions.push(SimVersion {
            version: version.clone(),
            behaviour,
            secret_epoch: entry.secret_changes.len(),
        });
        version
    }

    /// Change `version`'s behaviour (a regression appearing mid-canary).
    ///
    /// # Errors
    /// The simulator's 404 when the script or version is unknown.
    pub fn set_behaviour(
        &self,
        script: &str,
        version: &VersionId,
        behaviour: VersionBehaviour,
    ) -> Result<(), DeployError> {
        let mut state = self.lock();
        let found = state
            .scripts
            .get_mut(script)
            .and_then(|s| s.versions.iter_mut().find(|v| &v.version.id == version));
        match found {
            Some(v) => {
                v.behaviour = behaviour;
                Ok(())
            }
            None => Err(not_found(
                &format!("set behaviour of {version} in {script}"),
                "version not found",
            )),
        }
    }

    /// Record that secret `name` of `script` changed: versions uploaded before now need
    /// `force` to be deployed again (unless the current deployment already runs them).
    pub fn change_secret(&self, script: &str, name: &str) {
        let mut state = self.lock();
        state
            .scripts
            .entry(script.to_owned())
            .or_default()
            .secret_changes
            .push(name.to_owned());
    }

    /// Make the next call of `operation` fail with `error` (queued: several calls fail in
    /// order).
    pub fn fail_next(&self, operation: Operation, error: DeployError) {
        self.lock()
            .failures
            .entry(operation)
            .or_default()
            .push_back(error);
    }

    /// A Cloudflare-like HTTP failure for [`fail_next`](Self::fail_next): `status` with
    /// `message`, and a `Retry-After` wait if given (e.g. 503, or 429 with 30 s).
    pub fn http_failure(
        operation: Operation,
        status: u16,
        message: &str,
        retry_after: Option<Duration>,
    ) -> DeployError {
        DeployError::WorkersApi {
            operation: format!("{operation:?} (scripted)"),
            source: Box::new(
                ApiError::status(SERVICE, status, message).with_retry_after(retry_after),
            ),
        }
    }

    /// Every call made so far, in order (including failed ones).
    pub fn calls(&self) -> Vec<Operation> {
        self.lock().calls.clone()
    }

    /// The deployments of `script`, oldest first.
    pub fn history(&self, script: &str) -> Vec<Deployment> {
        self.lock()
            .scripts
            .get(script)
            .map(|s| s.deployments.clone())
            .unwrap_or_default()
    }

    /// The current split of `script`, without going through the (failable) API.
    ///
    /// # Errors
    /// [`DeployError::NoDeployment`].
    pub fn split(&self, script: &str) -> Result<TrafficSplit, DeployError> {
        let history = self.history(script);
        super::split_from_deployments(script, &history)
    }

    /// Send `requests` requests through `script`'s current split: each goes to the canary
    /// with probability (canary share ÷ 100) and fails with its version's error rate. The
    /// p99 of a version that served requests is its configured p99.
    ///
    /// Deterministic for a given random source: pass e.g.
    /// `rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed)`.
    ///
    /// # Errors
    /// [`DeployError::NoDeployment`]; [`DeployError::InvalidConfig`] (field `requests`) above
    /// [`MAX_WINDOW_REQUESTS`]; the simulator's 404 if a deployed version is unknown.
    pub fn simulate_window<R: Rng + ?Sized>(
        &self,
        script: &str,
        requests: u64,
        rng: &mut R,
    ) -> Result<WindowSample, DeployError> {
        if requests > MAX_WINDOW_REQUESTS {
            return Err(DeployError::InvalidConfig {
                field: "requests".to_owned(),
                reason: format!("{requests} is above {MAX_WINDOW_REQUESTS}"),
            });
        }
        let split = self.split(script)?;
        let behaviour = |version: &VersionId| -> Result<VersionBehaviour, DeployError> {
            self.lock()
                .scripts
                .get(script)
                .and_then(|s| s.versions.iter().find(|v| &v.version.id == version))
                .map(|v| v.behaviour)
                .ok_or_else(|| {
                    not_found(
                        &format!("simulate traffic of {script}"),
                        "deployed version not found",
                    )
                })
        };
        let stable_behaviour = behaviour(&split.stable)?;
        let canary = match &split.canary {
            Some((id, percent)) => Some((id.clone(), f64::from(*percent) / 100.0, behaviour(id)?)),
            None => None,
        };
        let (mut stable_counts, mut canary_counts) = ((0_u64, 0_u64), (0_u64, 0_u64));
        for _ in 0..requests {
            let to_canary = match &canary {
                Some((_, share, _)) => rng.random::<f64>() < *share,
                None => false,
            };
            let (counts, error_rate) = match (&canary, to_canary) {
                (Some((_, _, b)), true) => (&mut canary_counts, b.error_rate),
                _ => (&mut stable_counts, stable_behaviour.error_rate),
            };
            counts.0 += 1;
            if rng.random::<f64>() < error_rate {
                counts.1 += 1;
            }
        }
        let sample = |version: VersionId, (requests, errors): (u64, u64), b: VersionBehaviour| {
            VersionSample {
                version,
                sample: TrafficSample {
                    requests,
                    errors,
                    p99_seconds: (requests > 0).then_some(b.p99.as_secs_f64()),
                },
            }
        };
        Ok(WindowSample {
            stable: sample(split.stable, stable_counts, stable_behaviour),
            canary: canary.map(|(id, _, b)| sample(id, canary_counts, b)),
        })
    }

    /// Record the call; return the scripted failure if one is queued.
    fn enter(&self, operation: Operation) -> Result<(), DeployError> {
        let mut state = self.lock();
        state.calls.push(operation);
        match state
            .failures
            .get_mut(&operation)
            .and_then(VecDeque::pop_front)
        {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

fn not_found(operation: &str, message: &str) -> DeployError {
    DeployError::WorkersApi {
        operation: operation.to_owned(),
        source: Box::new(ApiError::status(SERVICE, 404, message)),
    }
}

#[async_trait]
impl WorkersApi for WorkersSimulator {
    async fn list_versions(&self, script: &str) -> Result<Vec<WorkerVersion>, DeployError> {
        self.enter(Operation::ListVersions)?;
        let state = self.lock();
        let script = state
            .scripts
            .get(script)
            .ok_or_else(|| not_found(&format!("list versions of {script}"), "script not found"))?;
        // Newest first, as Cloudflare lists them.
        Ok(script
            .versions
            .iter()
            .rev()
            .map(|v| v.version.clone())
            .collect())
    }

    async fn get_version(
        &self,
        script: &str,
        version: &VersionId,
    ) -> Result<WorkerVersion, DeployError> {
        self.enter(Operation::GetVersion)?;
        self.lock()
            .scripts
            .get(script)
            .and_then(|s| s.versions.iter().find(|v| &v.version.id == version))
            .map(|v| v.version.clone())
            .ok_or_else(|| {
                not_found(
                    &format!("get version {version} of {script}"),
                    "version not found",
                )
            })
    }

    async fn list_deployments(&self, script: &str) -> Result<Vec<Deployment>, DeployError> {
        self.enter(Operation::ListDeployments)?;
        let state = self.lock();
        let script = state.scripts.get(script).ok_or_else(|| {
            not_found(&format!("list deployments of {script}"), "script not found")
        })?;
        // Newest first: the first is the one serving traffic.
        Ok(script.deployments.iter().rev().cloned().collect())
    }

    async fn create_deployment(
        &self,
        script: &str,
        request: &DeploymentRequest,
    ) -> Result<Deployment, DeployError> {
        request.validate()?;
        self.enter(Operation::CreateDeployment)?;
        let operation = format!("create deployment of {script}");
        let mut state = self.lock();
        let at = self.stamp(&mut state);
        state.deployments_created += 1;
        let number = state.deployments_created;
        let entry = state
            .scripts
            .get_mut(script)
            .ok_or_else(|| not_found(&operation, "script not found"))?;
        let current: Vec<VersionId> = entry
            .deployments
            .last()
            .map(|d| d.versions.iter().map(|v| v.version_id.clone()).collect())
            .unwrap_or_default();
        for (id, _) in &request.versions {
            let version = entry
                .versions
                .iter()
                .find(|v| &v.version.id == id)
                .ok_or_else(|| not_found(&operation, "version not found"))?;
            let changed =
                &entry.secret_changes[version.secret_epoch.min(entry.secret_changes.len())..];
            if !request.force && !changed.is_empty() && !current.contains(id) {
                let message = format!(
                    "A secret has changed since this version was active. The following secrets have changed: {}",
                    changed.join(", ")
                );
                return Err(DeployError::WorkersSecretsChanged {
                    operation,
                    secrets: changed.to_vec(),
                    source: Box::new(
                        ApiError::status(SERVICE, 400, message)
                            .with_code(super::SECRETS_CHANGED_CODE),
                    ),
                });
            }
        }
        let deployment = Deployment {
            id: format!("00000000-0000-4000-8000-{number:012x}"),
            created_on: at,
            source: "api".to_owned(),
            strategy: "percentage".to_owned(),
            versions: request
                .versions
                .iter()
                .map(|(id, percent)| DeploymentVersion {
                    version_id: id.clone(),
                    percentage: f64::from(*percent),
                })
                .collect(),
            message: request.message.clone(),
            triggered_by: Some("deployment".to_owned()),
            author_email: None,
        };
        entry.deployments.push(deployment.clone());
        Ok(deployment)
    }
}
