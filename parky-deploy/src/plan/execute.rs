//! Running a [`DeployPlan`]: the [`Deployer`], [`Prober`] and [`Sleeper`] traits, the
//! [`Executor`] and its [`RunReport`].

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parky_core::Clock;

use super::config::{DeployPlan, ServiceSpec, SmokeTest};
use super::secrets::{check_secrets, SecretStore};
use crate::error::DeployError;
use crate::model::VersionId;
use crate::recorder::{DeployRecorder, DeploymentId, DeploymentState, NewDeployment, StatusUpdate};

/// Deploys one service, or puts its previous version back.
#[async_trait]
pub trait Deployer: Send + Sync + fmt::Debug {
    /// Deploy `service` (its [`DeployStep`](super::DeployStep)); returns the version now live.
    ///
    /// # Errors
    /// Any [`DeployError`]; the executor then rolls back what it already deployed.
    async fn deploy(&self, service: &ServiceSpec) -> Result<VersionId, DeployError>;

    /// Put the version that was live before the last [`deploy`](Deployer::deploy) of
    /// `service` back.
    ///
    /// # Errors
    /// Any [`DeployError`]; the executor reports it and goes on rolling back the others.
    async fn rollback(&self, service: &ServiceSpec) -> Result<(), DeployError>;
}

/// The result of one smoke-test attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeResult {
    /// The expected status came back.
    Passed,
    /// Anything else: another status, a timeout, a connection failure.
    Failed {
        /// What happened, e.g. `HTTP 503, expected 200`.
        reason: String,
    },
}

/// Runs one smoke-test attempt. It never retries or waits itself: the [`Executor`] does.
#[async_trait]
pub trait Prober: Send + Sync + fmt::Debug {
    /// One attempt of `test` against `service`, within `test.timeout`.
    async fn probe(&self, service: &str, test: &SmokeTest) -> ProbeResult;
}

// Waits between smoke-test attempts go through `parky-core`'s `Sleeper` (injected so tests
// never sleep); `ManualSleeper` moves a `ManualClock` instead.
pub use parky_core::{ManualSleeper, Sleeper};

/// A poisoned lock still guards a valid value (every mutation here is a single push or
/// insert), so recovering it is sound and avoids a panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What happened to one service at one moment of a run.
#[derive(Debug, Clone, PartialEq)]
pub enum StepEvent {
    /// The deploy succeeded.
    Deployed {
        /// The version now live.
        version: VersionId,
    },
    /// The deploy failed; the run stops and rolls back.
    DeployFailed {
        /// Why.
        error: DeployError,
    },
    /// One smoke-test attempt (1-based).
    SmokeAttempt {
        /// Which attempt.
        attempt: u32,
        /// Its result.
        result: ProbeResult,
    },
    /// The smoke test passed.
    SmokePassed {
        /// After how many attempts.
        attempts: u32,
    },
    /// Every attempt failed; the run stops and rolls back (this service included).
    SmokeFailed {
        /// How many attempts were made.
        attempts: u32,
        /// The last attempt's reason.
        reason: String,
    },
    /// The service was rolled back.
    RolledBack,
    /// The rollback failed; the service may still run the new version.
    RollbackFailed {
        /// Why.
        error: DeployError,
    },
    /// The run stopped before this service was started.
    NotStarted,
    /// The [`DeployRecorder`] refused a record; the run went on.
    RecordFailed {
        /// Why.
        error: DeployError,
    },
}

/// One line of a [`RunReport`].
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// When (from the executor's clock).
    pub at: DateTime<Utc>,
    /// The service.
    pub service: String,
    /// What happened.
    pub event: StepEvent,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// Every service deployed and passed its smoke test.
    Deployed,
    /// `failed` failed; every service deployed before it (and it, if its deploy had
    /// succeeded) was rolled back.
    RolledBack {
        /// The service that failed.
        failed: String,
    },
    /// `failed` failed and some rollbacks failed too: `still_deployed` may run the new
    /// version.
    RollbackIncomplete {
        /// The service that failed.
        failed: String,
        /// The services whose rollback failed, in rollback order.
        still_deployed: Vec<String>,
    },
}

/// Everything a run did, in order, and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// Every step, in the order it happened.
    pub steps: Vec<StepReport>,
    /// How the run ended.
    pub outcome: RunOutcome,
}

impl RunReport {
    /// Whether every service is deployed.
    #[must_use]
    pub fn is_success(&self) -> bool {
        self.outcome == RunOutcome::Deployed
    }

    /// The run's failure as an error ([`DeployError::RunFailed`]), or `Ok` when every
    /// service is deployed.
    ///
    /// # Errors
    /// [`DeployError::RunFailed`] naming the failed service and any service left deployed.
    pub fn into_result(self) -> Result<Self, DeployError> {
        let rolled_back = self.rolled_back();
        match &self.outcome {
            RunOutcome::Deployed => Ok(self),
            RunOutcome::RolledBack { failed } => Err(DeployError::RunFailed {
                failed: failed.clone(),
                rolled_back,
                still_deployed: Vec::new(),
            }),
            RunOutcome::RollbackIncomplete {
                failed,
                still_deployed,
            } => Err(DeployError::RunFailed {
                failed: failed.clone(),
                rolled_back,
                still_deployed: still_deployed.clone(),
            }),
        }
    }

    /// The services rolled back, in rollback order.
    #[must_use]
    pub fn rolled_back(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter(|step| step.event == StepEvent::RolledBack)
            .map(|step| step.service.clone())
            .collect()
    }
}

impl fmt::Display for StepEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Deployed { version } => write!(f, "deployed {version}"),
            Self::DeployFailed { error } => write!(f, "deploy failed: {error}"),
            Self::SmokeAttempt {
                attempt,
                result: ProbeResult::Passed,
            } => write!(f, "smoke test attempt {attempt}: passed"),
            Self::SmokeAttempt {
                attempt,
                result: ProbeResult::Failed { reason },
            } => write!(f, "smoke test attempt {attempt}: {reason}"),
            Self::SmokePassed { attempts } => {
                write!(f, "smoke test passed after {attempts} attempt(s)")
            }
            Self::SmokeFailed { attempts, reason } => {
                write!(f, "smoke test failed after {attempts} attempt(s): {reason}")
            }
            Self::RolledBack => f.write_str("rolled back"),
            Self::RollbackFailed { error } => write!(f, "rollback failed: {error}"),
            Self::NotStarted => f.write_str("not started"),
            Self::RecordFailed { error } => write!(f, "deploy record failed: {error}"),
        }
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.steps {
            writeln!(
                f,
                "{} {}: {}",
                step.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                step.service,
                step.event
            )?;
        }
        match &self.outcome {
            RunOutcome::Deployed => write!(f, "result: every service deployed"),
            RunOutcome::RolledBack { failed } if self.rolled_back().is_empty() => write!(
                f,
                "result: {failed} failed; nothing was deployed before it, nothing to roll back"
            ),
            RunOutcome::RolledBack { failed } => {
                write!(f, "result: {failed} failed; rolled back")
            }
            RunOutcome::RollbackIncomplete {
                failed,
                still_deployed,
            } => write!(
                f,
                "result: {failed} failed; rollback INCOMPLETE for {}",
                still_deployed.join(", ")
            ),
        }
    }
}

/// Runs a [`DeployPlan`]: secrets first, then each service in order (deploy, then smoke
/// test with retries); on the first failure, roll back in reverse order.
///
/// - Before anything starts, [`check_secrets`] must pass.
/// - A service whose deploy fails is not rolled back (nothing was deployed); a service
///   whose smoke test fails is (it was deployed), before the ones deployed earlier.
/// - Rollbacks go on after a failed rollback; the outcome names what may still run.
/// - Waits between smoke-test attempts go through the [`Sleeper`]; report times come from
///   the [`Clock`].
/// - With a [`DeployRecorder`], each service gets a deployment record: `in_progress` when
///   its deploy starts, `success` after its smoke test, `failure` if it fails, `inactive`
///   when it is rolled back. A refused record is reported ([`StepEvent::RecordFailed`])
///   and does not stop the run.
#[derive(Clone)]
pub struct Executor {
    deployer: Arc<dyn Deployer>,
    prober: Arc<dyn Prober>,
    sleeper: Arc<dyn Sleeper>,
    clock: Arc<dyn Clock>,
    recorder: Option<(Arc<dyn DeployRecorder>, NewDeployment)>,
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("deployer", &self.deployer)
            .field("prober", &self.prober)
            .field("sleeper", &self.sleeper)
            .field("recorder", &self.recorder)
            .finish_non_exhaustive()
    }
}

impl Executor {
    /// An executor with these adapters.
    #[must_use]
    pub fn new(
        deployer: Arc<dyn Deployer>,
        prober: Arc<dyn Prober>,
        sleeper: Arc<dyn Sleeper>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            deployer,
            prober,
            sleeper,
            clock,
            recorder: None,
        }
    }

    /// Record each service's deployment with `recorder`, using `template` (ref,
    /// environment, …) for every service.
    #[must_use]
    pub fn with_recorder(
        mut self,
        recorder: Arc<dyn DeployRecorder>,
        template: NewDeployment,
    ) -> Self {
        self.recorder = Some((recorder, template));
        self
    }

    /// Run `plan`.
    ///
    /// # Errors
    /// [`DeployError::MissingSecrets`] (nothing was started). Failures after the start are
    /// not errors: they are in the [`RunReport`].
    pub async fn run(
        &self,
        plan: &DeployPlan,
        secrets: &dyn SecretStore,
    ) -> Result<RunReport, DeployError> {
        check_secrets(plan, secrets)?;
        let mut steps = Vec::new();
        // Services deployed so far, with their record ids, in deploy order.
        let mut deployed: Vec<(&ServiceSpec, Option<DeploymentId>)> = Vec::new();
        let mut failure: Option<(usize, String)> = None;

        for (i, service) in plan.services().iter().enumerate() {
            let record = self.record_start(service, &mut steps).await;
            match self.deployer.deploy(service).await {
                Ok(version) => {
                    self.push(&mut steps, service, StepEvent::Deployed { version });
                }
                Err(error) => {
                    let description = error.to_string();
                    self.push(&mut steps, service, StepEvent::DeployFailed { error });
                    self.record_status(
                        service,
                        &record,
                        DeploymentState::Failure,
                        description,
                        &mut steps,
                    )
                    .await;
                    failure = Some((i, service.name.clone()));
                    break;
                }
            }
            deployed.push((service, record.clone()));
            if let Some(test) = &service.smoke_test {
                if let Err(reason) = self.smoke_test(service, test, &mut steps).await {
                    self.record_status(
                        service,
                        &record,
                        DeploymentState::Failure,
                        reason,
                        &mut steps,
                    )
                    .await;
                    failure = Some((i, service.name.clone()));
                    break;
                }
            }
            self.record_status(
                service,
                &record,
                DeploymentState::Success,
                "deployed and smoke-tested".to_owned(),
                &mut steps,
            )
            .await;
        }

        let Some((failed_at, failed)) = failure else {
            return Ok(RunReport {
                steps,
                outcome: RunOutcome::Deployed,
            });
        };
        for service in plan.services().iter().skip(failed_at + 1) {
            self.push(&mut steps, service, StepEvent::NotStarted);
        }
        let mut still_deployed = Vec::new();
        for (service, record) in deployed.iter().rev() {
            match self.deployer.rollback(service).await {
                Ok(()) => {
                    self.push(&mut steps, service, StepEvent::RolledBack);
                    self.record_status(
                        service,
                        record,
                        DeploymentState::Inactive,
                        format!("rolled back: {failed} failed"),
                        &mut steps,
                    )
                    .await;
                }
                Err(error) => {
                    self.push(&mut steps, service, StepEvent::RollbackFailed { error });
                    still_deployed.push(service.name.clone());
                }
            }
        }
        let outcome = if still_deployed.is_empty() {
            RunOutcome::RolledBack { failed }
        } else {
            RunOutcome::RollbackIncomplete {
                failed,
                still_deployed,
            }
        };
        Ok(RunReport { steps, outcome })
    }

    /// Up to `retries + 1` attempts, waiting `interval` between them. `Err` carries the last
    /// reason.
    async fn smoke_test(
        &self,
        service: &ServiceSpec,
        test: &SmokeTest,
        steps: &mut Vec<StepReport>,
    ) -> Result<(), String> {
        let attempts = test.attempts();
        let mut last = String::new();
        for attempt in 1..=attempts {
            let result = self.prober.probe(&service.name, test).await;
            let passed = result == ProbeResult::Passed;
            if let ProbeResult::Failed { reason } = &result {
                last.clone_from(reason);
            }
            self.push(steps, service, StepEvent::SmokeAttempt { attempt, result });
            if passed {
                self.push(steps, service, StepEvent::SmokePassed { attempts: attempt });
                return Ok(());
            }
            if attempt < attempts {
                self.sleeper.sleep(test.interval).await;
            }
        }
        self.push(
            steps,
            service,
            StepEvent::SmokeFailed {
                attempts,
                reason: last.clone(),
            },
        );
        Err(last)
    }

    fn push(&self, steps: &mut Vec<StepReport>, service: &ServiceSpec, event: StepEvent) {
        steps.push(StepReport {
            at: self.clock.now(),
            service: service.name.clone(),
            event,
        });
    }

    async fn record_start(
        &self,
        service: &ServiceSpec,
        steps: &mut Vec<StepReport>,
    ) -> Option<DeploymentId> {
        let (recorder, template) = self.recorder.as_ref()?;
        match recorder.start(&service.name, template).await {
            Ok(id) => {
                let update = StatusUpdate::new(DeploymentState::InProgress);
                if let Err(error) = recorder.status(&id, &update).await {
                    self.push(steps, service, StepEvent::RecordFailed { error });
                }
                Some(id)
            }
            Err(error) => {
                self.push(steps, service, StepEvent::RecordFailed { error });
                None
            }
        }
    }

    async fn record_status(
        &self,
        service: &ServiceSpec,
        id: &Option<DeploymentId>,
        state: DeploymentState,
        description: String,
        steps: &mut Vec<StepReport>,
    ) {
        let (Some((recorder, _)), Some(id)) = (&self.recorder, id) else {
            return;
        };
        // GitHub keeps at most 140 characters of a status description.
        let description: String = description.chars().take(140).collect();
        let update = StatusUpdate::new(state).with_description(description);
        if let Err(error) = recorder.status(id, &update).await {
            self.push(steps, service, StepEvent::RecordFailed { error });
        }
    }
}

/// One call to a scripted adapter, for asserting the exact sequence of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// [`Deployer::deploy`] of the service.
    Deploy(String),
    /// [`Prober::probe`] of the service.
    Probe(String),
    /// [`Deployer::rollback`] of the service.
    Rollback(String),
}

/// A shared, ordered log of [`Call`]s (clones share it).
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<Call>>>);

impl CallLog {
    /// An empty log.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The calls so far, in order.
    #[must_use]
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.0).clone()
    }

    fn push(&self, call: Call) {
        lock(&self.0).push(call);
    }
}

/// A [`Deployer`] that succeeds unless told otherwise and logs every call. The n-th deploy
/// (1-based, over all services) returns version `<service>@<n>`.
#[derive(Debug, Default)]
pub struct ScriptedDeployer {
    log: CallLog,
    deploy_failures: BTreeMap<String, String>,
    rollback_failures: BTreeMap<String, String>,
    deploys: Mutex<u64>,
}

impl ScriptedDeployer {
    /// A deployer logging to `log`.
    #[must_use]
    pub fn new(log: CallLog) -> Self {
        Self {
            log,
            ..Self::default()
        }
    }

    /// Make every deploy of `service` fail with `reason`.
    #[must_use]
    pub fn fail_deploy(mut self, service: &str, reason: &str) -> Self {
        self.deploy_failures
            .insert(service.to_owned(), reason.to_owned());
        self
    }

    /// Make every rollback of `service` fail with `reason`.
    #[must_use]
    pub fn fail_rollback(mut self, service: &str, reason: &str) -> Self {
        self.rollback_failures
            .insert(service.to_owned(), reason.to_owned());
        self
    }
}

#[async_trait]
impl Deployer for ScriptedDeployer {
    async fn deploy(&self, service: &ServiceSpec) -> Result<VersionId, DeployError> {
        self.log.push(Call::Deploy(service.name.clone()));
        if let Some(reason) = self.deploy_failures.get(&service.name) {
            return Err(DeployError::ServiceOperation {
                service: service.name.clone(),
                operation: "deploy".to_owned(),
                reason: reason.clone(),
            });
        }
        let mut count = lock(&self.deploys);
        *count += 1;
        Ok(VersionId(format!("{}@{}", service.name, *count)))
    }

    async fn rollback(&self, service: &ServiceSpec) -> Result<(), DeployError> {
        self.log.push(Call::Rollback(service.name.clone()));
        match self.rollback_failures.get(&service.name) {
            Some(reason) => Err(DeployError::ServiceOperation {
                service: service.name.clone(),
                operation: "rollback".to_owned(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }
}

/// A [`Prober`] that plays scripted results per service and logs every call; a service
/// without (remaining) script passes.
#[derive(Debug, Default)]
pub struct ScriptedProber {
    log: CallLog,
    scripts: Mutex<BTreeMap<String, VecDeque<ProbeResult>>>,
}

impl ScriptedProber {
    /// A prober logging to `log`.
    #[must_use]
    pub fn new(log: CallLog) -> Self {
        Self {
            log,
            scripts: Mutex::default(),
        }
    }

    /// Answer the next probes of `service` with `results`, in order.
    #[must_use]
    pub fn script(self, service: &str, results: impl IntoIterator<Item = ProbeResult>) -> Self {
        lock(&self.scripts)
            .entry(service.to_owned())
            .or_default()
            .extend(results);
        self
    }
}

#[async_trait]
impl Prober for ScriptedProber {
    async fn probe(&self, service: &str, _test: &SmokeTest) -> ProbeResult {
        self.log.push(Call::Probe(service.to_owned()));
        lock(&self.scripts)
            .get_mut(service)
            .and_then(VecDeque::pop_front)
            .unwrap_or(ProbeResult::Passed)
    }
}
