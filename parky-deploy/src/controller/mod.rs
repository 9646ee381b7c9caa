//! The canary controller: a [`CanaryPlan`] driven by a cron job (every 5 minutes by default),
//! with its state in one SQLite file, a lease so that only one run acts at a time, and
//! crash recovery from the platform's actual traffic split.
//!
//! # One tick
//!
//! [`CanaryController::tick`] at `now`:
//!
//! 1. **Lease** — in one `BEGIN IMMEDIATE` transaction: if another holder's lease is
//!    unexpired, return [`TickOutcome::Skipped`] with [`SkipReason::Busy`] and write nothing;
//!    if a tick already completed in this **slot** (`floor(now / interval)`), return
//!    [`SkipReason::AlreadyTicked`]; otherwise take the lease until `now + lease_ttl`.
//! 2. **Reconcile** — read the platform's split ([`WorkersApi::current_split`]) and compare it
//!    with the state. A platform change is always written down as a *pending intent* (the
//!    split before, the split asked for, and the state to save) before the API call, and
//!    cleared in the same transaction as the state that follows it. A pending intent found
//!    here means a run died between the two: if the platform serves the intent's target, the
//!    change happened, so the intent's state is **adopted** (journal `recovered`; when that
//!    run was this slot's tick, the tick is complete and nothing more is done); if it still
//!    serves the split before, the change never happened and the intent is dropped (journal
//!    `intent_discarded`) and planned again. Any other split is [`DeployError::TrafficDrift`]:
//!    someone changed it by hand, and the controller refuses to act (an operator's
//!    [`Command::Abort`] still goes through). Terminal canaries are not compared: the platform
//!    has moved on.
//! 3. **Judge** — while the canary is progressing or paused, [`CanaryMetrics::window`] gives
//!    the canary's and the baseline's traffic over the last interval (from the step start if
//!    later), the [`CanaryJudge`] gives the verdict, and the canary's requests are summed per
//!    step across ticks for [`Check::canary_requests`].
//! 4. **Plan** — [`CanaryPlan::tick`] gives the next state and the actions.
//! 5. **Act** — `SetTraffic`, `Promote` and `Rollback` become one
//!    [`WorkersApi::create_deployment`] each (skipped when the platform already serves that
//!    split); automatic rollbacks, enforced or shadowed ([`EventKind::RollbackShadowed`], which
//!    the plan emits instead of a rollback in [`EnforcementMode::Shadow`]), are appended to the
//!    [`ShadowLedger`].
//! 6. **Save** — the new state, ledger and tick slot are written, the intent cleared and the
//!    lease released, in one transaction, and only while this controller still holds the
//!    lease ([`DeployError::LeaseLost`] otherwise).
//!
//! An API or metrics error leaves the canary state as it was and does not use up the slot,
//! so the next run (even in the same slot) retries; a failed `create_deployment` keeps its
//! intent, so a request that did reach the platform before the error is adopted, not
//! repeated. Commands ([`CanaryController::command`], [`CanaryController::start`],
//! [`CanaryController::mark_false_positive`]) take the same lease (refused with
//! [`DeployError::LeaseBusy`]), reconcile the same way, and never use up a tick slot. An
//! abort completes in the command itself: once the platform serves the stable version
//! again, the canary is recorded as aborted ([`CanaryPlan::complete_rollback`]) without
//! waiting for a tick. Every deployment created is journaled
//! ([`JOURNAL_DEPLOYMENT_CREATED`]).
//!
//! The state file records the Worker script a canary was started on; a tick or command of a
//! controller opened for another script is refused ([`DeployError::WrongScript`]) before
//! the platform is called. (Files from before version 2 did not record it: their canary is
//! not checked until its next start.)
//!
//! # Schema (`PRAGMA user_version = 2`, WAL)
//!
//! ```sql
//! CREATE TABLE canary (                -- exactly one row, id = 1
//!     id            INTEGER PRIMARY KEY CHECK (id = 1),
//!     plan          TEXT,              -- {"config": CanaryConfig, "mode": "enforce"|"shadow"}
//!     state         TEXT,              -- CanaryState as JSON
//!     ledger        TEXT    NOT NULL,  -- ShadowLedger as JSON
//!     pending       TEXT,              -- the pending intent, NULL when none
//!     step_requests TEXT,              -- {"attempt", "step_started_at", "requests"}
//!     last_slot     INTEGER,           -- floor(unix ms / interval ms) of the last completed tick
//!     updated_at    INTEGER,           -- unix ms
//!     script        TEXT               -- the Worker script of the last start (version 2)
//! );
//! CREATE TABLE lease (                 -- exactly one row, id = 1
//!     id         INTEGER PRIMARY KEY CHECK (id = 1),
//!     holder     TEXT,                 -- NULL when free
//!     expires_at INTEGER               -- unix ms
//! );
//! CREATE TABLE journal (               -- what the controller did beyond the state machine
//!     id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, holder TEXT NOT NULL,
//!     kind TEXT NOT NULL, detail TEXT NOT NULL
//! );
//! ```
//!
//! A version 1 file is migrated when a controller opens it (read-only views read it as it
//! is). A file written by a newer schema is refused ([`DeployError::StateSchemaTooNew`]);
//! another application's SQLite database is refused as such
//! ([`DeployError::NotAStateFile`]), whatever its `user_version`. SQLite
//! calls block the calling thread briefly (the file is local and every transaction is
//! short); the lease, not SQLite's write lock, is held across the API calls.
//!
//! ```no_run
//! use std::sync::Arc;
//! use parky_core::{Clock, SystemClock};
//! use parky_deploy::controller::{CanaryController, ControllerSettings, SimulatedMetrics};
//! use parky_deploy::policy::judge::SloJudge;
//! use parky_deploy::workers::WorkersSimulator;
//!
//! # async fn run() -> Result<(), parky_deploy::DeployError> {
//! let simulator = WorkersSimulator::new();
//! let controller = CanaryController::open(
//!     "canary.db",
//!     ControllerSettings::new("my-worker", "production"),
//!     Arc::new(simulator.clone()),
//!     Arc::new(SimulatedMetrics::new(simulator, 200_000, 7)),
//!     Arc::new(SloJudge::default()),
//! )?;
//! let outcome = controller.tick(SystemClock.now()).await?;
//! println!("{outcome:?}");
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "http")]
mod analytics;
mod metrics;
mod store;

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::DeployError;
use crate::model::{TrafficSplit, VersionId};
use crate::policy::canary::{
    Action, CanaryPlan, CanaryState, Check, Command, EventKind, Phase, RollbackCause,
};
use crate::policy::judge::{CanaryJudge, Verdict};
use crate::policy::shadow::{
    DecisionId, Enforcement, EnforcementMode, FalsePositive, ShadowLedger,
};
use crate::workers::{DeploymentRequest, WorkersApi};

#[cfg(feature = "http")]
pub use analytics::{
    WorkersAnalytics, ANALYTICS_ROW_LIMIT, CANARY_WINDOW_QUERY, CLOUDFLARE_GRAPHQL_ENDPOINT,
};
pub use metrics::{CanaryMetrics, SimulatedMetrics, WindowTraffic};
use store::{Begin, Intent, Note, PlanRecord, Purpose, Record, StepRequests, Store};

/// The default tick interval (and slot length): 5 minutes, a cron job's `*/5`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// The default lease: 4 minutes, shorter than the interval so that a run that died leaves
/// the lease free for the next cron run.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(240);

/// How long a transaction waits for another connection's SQLite write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Which Worker, which environment, who is asking, and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerSettings {
    /// The Worker script the canary runs on.
    pub script: String,
    /// The environment name in the [`ShadowLedger`], e.g. `production`.
    pub environment: String,
    /// This controller's lease holder id; unique per process by default
    /// (`pid<process id>-<n>`).
    pub holder: String,
    /// The tick interval; ticks in the same `floor(now / interval)` slot act once.
    pub interval: Duration,
    /// How long a taken lease lasts if its holder never releases it (it died).
    pub lease_ttl: Duration,
}

static INSTANCE: AtomicU64 = AtomicU64::new(0);

impl ControllerSettings {
    /// Settings for `script` in `environment` with the defaults: a per-process holder id,
    /// [`DEFAULT_INTERVAL`] and [`DEFAULT_LEASE_TTL`].
    pub fn new(script: impl Into<String>, environment: impl Into<String>) -> Self {
        let n = INSTANCE.fetch_add(1, Ordering::Relaxed);
        Self {
            script: script.into(),
            environment: environment.into(),
            holder: format!("pid{}-{n}", std::process::id()),
            interval: DEFAULT_INTERVAL,
            lease_ttl: DEFAULT_LEASE_TTL,
        }
    }

    /// With this lease holder id.
    #[must_use]
    pub fn with_holder(mut self, holder: impl Into<String>) -> Self {
        self.holder = holder.into();
        self
    }

    /// With this tick interval.
    #[must_use]
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// With this lease duration.
    #[must_use]
    pub fn with_lease_ttl(mut self, lease_ttl: Duration) -> Self {
        self.lease_ttl = lease_ttl;
        self
    }

    fn interval_ms(&self) -> Result<i64, DeployError> {
        match i64::try_from(self.interval.as_millis()) {
            Ok(ms) if ms >= 1 => Ok(ms),
            _ => Err(DeployError::InvalidConfig {
                field: "interval".to_owned(),
                reason: format!(
                    "{} is not between 1 ms and i64::MAX ms",
                    humantime::format_duration(self.interval)
                ),
            }),
        }
    }

    fn validate(&self) -> Result<(), DeployError> {
        let invalid = |field: &str, reason: &str| DeployError::InvalidConfig {
            field: field.to_owned(),
            reason: reason.to_owned(),
        };
        if self.script.trim().is_empty() {
            return Err(invalid("script", "a Worker script name is required"));
        }
        if self.environment.trim().is_empty() {
            return Err(invalid("environment", "an environment name is required"));
        }
        if self.holder.trim().is_empty() {
            return Err(invalid("holder", "a lease holder id is required"));
        }
        self.interval_ms()?;
        if self.lease_ttl.is_zero() {
            return Err(invalid("lease_ttl", "must be longer than zero"));
        }
        Ok(())
    }
}

/// Why a tick did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Another controller holds the lease until `until`.
    Busy {
        /// Its holder id.
        holder: String,
        /// When its lease expires.
        until: DateTime<Utc>,
    },
    /// A tick already completed in this slot.
    AlreadyTicked {
        /// The slot, `floor(unix ms / interval ms)`.
        slot: i64,
    },
    /// No canary was started in this state file.
    NoCanary,
}

/// How a run reconciled a pending intent left by a run that died.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// The platform already served the intent's target split: its state was adopted, the
    /// deployment was not repeated.
    Adopted {
        /// The split adopted.
        split: TrafficSplit,
        /// When the dead run planned it.
        planned_at: DateTime<Utc>,
    },
    /// The platform still served the split from before: the change never happened; it was
    /// dropped and planned again.
    Discarded {
        /// The split that was never applied.
        split: TrafficSplit,
        /// When the dead run planned it.
        planned_at: DateTime<Utc>,
    },
}

/// What a tick or a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// A pending intent found and reconciled first, if any.
    pub recovery: Option<Recovery>,
    /// The state machine's actions, in order.
    pub actions: Vec<Action>,
    /// Ids of the deployments created on the platform, in order.
    pub deployments: Vec<String>,
    /// Decisions appended to the shadow ledger.
    pub decisions: Vec<DecisionId>,
    /// The canary's phase now.
    pub phase: Phase,
    /// The canary's traffic weight now.
    pub weight: u8,
    /// The split the platform serves now.
    pub traffic: TrafficSplit,
}

/// The outcome of [`CanaryController::tick`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickOutcome {
    /// Nothing was done.
    Skipped(SkipReason),
    /// The tick ran and was saved.
    Ticked(Box<Report>),
}

/// What the state file holds, read in one snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerStatus {
    /// The plan of the current canary.
    pub plan: Option<CanaryPlan>,
    /// The current canary.
    pub state: Option<CanaryState>,
    /// Every automatic rollback decision so far.
    pub ledger: ShadowLedger,
    /// The slot of the last completed tick.
    pub last_slot: Option<i64>,
    /// Who holds the lease, and until when.
    pub lease: Option<(String, DateTime<Utc>)>,
    /// The target split of a pending intent (a run died, or an API call failed, after
    /// planning it).
    pub pending: Option<TrafficSplit>,
    /// The Worker script the canary was started on (`None` before the first start, and for
    /// canaries started by a build that did not record it).
    pub script: Option<String>,
}

/// The journal kind of a deployment the controller created on the platform (detail:
/// `<deployment id>: <split> (<message>)`), one line per deployment.
pub const JOURNAL_DEPLOYMENT_CREATED: &str = "deployment_created";

/// A line of the controller's journal: what it did beyond the state machine (`recovered`,
/// `intent_discarded`, `lease_taken_over`, `canary_started`, `command`, `false_positive`,
/// `error`) and the deployments it created ([`JOURNAL_DEPLOYMENT_CREATED`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// Its sequence number.
    pub id: i64,
    /// When it was written.
    pub at: DateTime<Utc>,
    /// Which controller wrote it.
    pub holder: String,
    /// What kind of entry.
    pub kind: String,
    /// Details for people.
    pub detail: String,
}

/// What [`CanaryController::mark_false_positive`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkOutcome {
    /// The decision is now marked as a false positive.
    Marked,
    /// The decision was already marked; the first mark is kept (here) and nothing changed.
    AlreadyMarked(FalsePositive),
}

/// The start of tick slot `slot` for slots of `interval_ms`.
fn slot_start(slot: i64, interval_ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(slot.saturating_mul(interval_ms))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn status_of(store: &Store) -> Result<ControllerStatus, DeployError> {
    let (record, lease) = store.snapshot()?;
    Ok(ControllerStatus {
        plan: record.plan.as_ref().map(PlanRecord::to_plan).transpose()?,
        state: record.state,
        ledger: record.ledger,
        last_slot: record.last_slot,
        lease: lease.holder.zip(lease.expires_at),
        pending: record.pending.map(|p| p.target),
        script: record.script,
    })
}

/// A controller's state file opened **read-only**, for reports (`canary status`, `deploy
/// autorollback report`): it never creates, migrates or writes the file, takes no lease,
/// and refuses a file that is not a Parky canary state file
/// ([`DeployError::NotAStateFile`], naming the file).
#[derive(Debug)]
pub struct StateFile {
    store: Store,
}

impl StateFile {
    /// Opens the existing state file at `path` read-only.
    ///
    /// # Errors
    /// [`DeployError::NotAStateFile`] for another SQLite database, an empty file or a file
    /// that is not SQLite; [`DeployError::StateSchemaTooNew`];
    /// [`DeployError::StateStore`] when it cannot be opened (missing, unreadable).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DeployError> {
        Ok(Self {
            store: Store::open_read_only(path.as_ref(), BUSY_TIMEOUT)?,
        })
    }

    /// What the file holds, in one snapshot.
    ///
    /// # Errors
    /// The state file's errors (including a plan that no longer validates).
    pub fn status(&self) -> Result<ControllerStatus, DeployError> {
        status_of(&self.store)
    }

    /// The journal, oldest first.
    ///
    /// # Errors
    /// The state file's errors.
    pub fn journal(&self) -> Result<Vec<JournalEntry>, DeployError> {
        self.store.journal()
    }
}

/// A canary on one Worker, driven by ticks and commands; see the [module docs](self).
pub struct CanaryController {
    settings: ControllerSettings,
    interval_ms: i64,
    store: Store,
    api: Arc<dyn WorkersApi>,
    metrics: Arc<dyn CanaryMetrics>,
    judge: Arc<dyn CanaryJudge>,
}

impl fmt::Debug for CanaryController {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanaryController")
            .field("settings", &self.settings)
            .field("store", &self.store.path())
            .finish_non_exhaustive()
    }
}

/// What a run does after reconciling.
enum Op {
    Tick,
    Command(Command),
    Start { plan: CanaryPlan, canary: VersionId },
}

/// `v1 90% + v2 10%`, for people.
fn split_text(split: &TrafficSplit) -> String {
    match &split.canary {
        None => format!("{} 100%", split.stable),
        Some((canary, percent)) => format!(
            "{} {}% + {canary} {percent}%",
            split.stable,
            100_u8.saturating_sub(*percent)
        ),
    }
}

/// The split a platform action asks for, and its deployment message.
fn desired_split(action: &Action) -> Option<(TrafficSplit, String)> {
    match action {
        Action::SetTraffic(split) => Some((
            split.clone(),
            format!("parky canary: {}% on the canary", split.canary_percent()),
        )),
        Action::Promote(version) => Some((
            TrafficSplit::all_on(version.clone()),
            "parky canary: promoted".to_owned(),
        )),
        Action::Rollback { to } => Some((
            TrafficSplit::all_on(to.clone()),
            "parky canary: rolled back".to_owned(),
        )),
        Action::Record(_) => None,
    }
}

/// Appends the automatic rollback decisions among `actions` to `ledger`.
fn record_decisions(
    ledger: &mut ShadowLedger,
    environment: &str,
    canary: &VersionId,
    actions: &[Action],
) -> Vec<DecisionId> {
    let mut ids = Vec::new();
    for action in actions {
        let Action::Record(event) = action else {
            continue;
        };
        let (enforcement, reasons) = match &event.kind {
            EventKind::RollbackShadowed { reasons, .. } => (Enforcement::Shadowed, reasons),
            EventKind::RollbackStarted { cause, reasons, .. }
                if *cause != RollbackCause::Aborted =>
            {
                (Enforcement::Enforced, reasons)
            }
            _ => continue,
        };
        ids.push(ledger.record(
            environment,
            event.at,
            canary.clone(),
            enforcement,
            reasons.clone(),
        ));
    }
    ids
}

fn last_mode(ledger: &ShadowLedger, environment: &str) -> Option<EnforcementMode> {
    ledger
        .mode_changes()
        .iter()
        .rev()
        .find(|c| c.environment == environment)
        .map(|c| c.mode)
}

impl CanaryController {
    /// Opens (creating if needed) the state file at `path` with the platform `api`, the
    /// `metrics` source and the `judge`.
    ///
    /// # Errors
    /// [`DeployError::InvalidConfig`] naming the invalid setting;
    /// [`DeployError::StateStore`] / [`DeployError::StateSchemaTooNew`] for the file.
    pub fn open(
        path: impl AsRef<Path>,
        settings: ControllerSettings,
        api: Arc<dyn WorkersApi>,
        metrics: Arc<dyn CanaryMetrics>,
        judge: Arc<dyn CanaryJudge>,
    ) -> Result<Self, DeployError> {
        settings.validate()?;
        let interval_ms = settings.interval_ms()?;
        let store = Store::open(path.as_ref(), BUSY_TIMEOUT)?;
        Ok(Self {
            settings,
            interval_ms,
            store,
            api,
            metrics,
            judge,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &ControllerSettings {
        &self.settings
    }

    /// The tick slot of `now`: `floor(unix ms / interval ms)`.
    pub fn slot(&self, now: DateTime<Utc>) -> i64 {
        now.timestamp_millis().div_euclid(self.interval_ms)
    }

    /// One tick at `now`; see the [module docs](self).
    ///
    /// # Errors
    /// The platform's and the metrics source's errors (the state is then unchanged and the
    /// slot not used up); [`DeployError::TrafficDrift`]; [`DeployError::LeaseLost`]; the state
    /// file's errors.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<TickOutcome, DeployError> {
        let slot = self.slot(now);
        let holder = &self.settings.holder;
        let record =
            match self
                .store
                .begin(holder, now, self.settings.lease_ttl, Purpose::Tick { slot })?
            {
                Begin::Busy { holder, until } => {
                    tracing::info!(%holder, %until, "canary tick skipped: lease busy");
                    return Ok(TickOutcome::Skipped(SkipReason::Busy { holder, until }));
                }
                Begin::AlreadyTicked { slot } => {
                    tracing::debug!(slot, "canary tick skipped: slot already ticked");
                    return Ok(TickOutcome::Skipped(SkipReason::AlreadyTicked { slot }));
                }
                Begin::NoCanary => return Ok(TickOutcome::Skipped(SkipReason::NoCanary)),
                Begin::Behind { last_slot } => {
                    return Err(DeployError::TickBeforeLast {
                        path: self.store.path().to_owned(),
                        now,
                        last_tick_slot_start: slot_start(last_slot, self.interval_ms),
                    });
                }
                Begin::Acquired(record) => *record,
            };
        let result = self.run(now, Some(slot), record, Op::Tick).await;
        self.settle(now, result)
            .map(|report| TickOutcome::Ticked(Box::new(report)))
    }

    /// Applies an operator's `command` at `now` (promote a step, promote fully, pause,
    /// resume, abort, retry) through the lease, and carries out its actions.
    ///
    /// # Errors
    /// [`DeployError::LeaseBusy`]; [`DeployError::NoCanary`];
    /// [`DeployError::CommandNotAllowed`]; as for [`tick`](Self::tick).
    pub async fn command(
        &self,
        now: DateTime<Utc>,
        command: Command,
    ) -> Result<Report, DeployError> {
        let record = self.begin_command(now)?;
        let result = self.run(now, None, record, Op::Command(command)).await;
        self.settle(now, result)
    }

    /// Starts a canary of `canary` under `plan` at `now`. The platform must serve a single
    /// version at 100 %, which becomes the stable version; a canary that is not terminal must
    /// not be running. The first tick puts it on the plan's first step.
    ///
    /// # Errors
    /// [`DeployError::LeaseBusy`]; [`DeployError::CommandNotAllowed`] while a canary runs;
    /// [`DeployError::InvalidState`] when the platform serves a split (field `traffic`) or
    /// `canary` is the stable version (field `canary`); as for [`tick`](Self::tick).
    pub async fn start(
        &self,
        now: DateTime<Utc>,
        plan: &CanaryPlan,
        canary: VersionId,
    ) -> Result<Report, DeployError> {
        let record = self.begin_command(now)?;
        let op = Op::Start {
            plan: plan.clone(),
            canary,
        };
        let result = self.run(now, None, record, op).await;
        self.settle(now, result)
    }

    /// Marks ledger decision `id` as a false positive at `now`, through the lease. A
    /// decision already marked keeps its first mark, and the answer says so.
    ///
    /// # Errors
    /// [`DeployError::LeaseBusy`]; [`DeployError::UnknownDecision`]; the state file's errors.
    pub async fn mark_false_positive(
        &self,
        now: DateTime<Utc>,
        id: DecisionId,
        note: &str,
    ) -> Result<MarkOutcome, DeployError> {
        let mut record = self.begin_command(now)?;
        let earlier = record
            .ledger
            .decisions()
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.false_positive.clone());
        let result = match earlier {
            None => Err(DeployError::UnknownDecision { id: id.0 }),
            Some(Some(first)) => self
                .store
                .release(&self.settings.holder, now, &[])
                .map(|()| MarkOutcome::AlreadyMarked(first)),
            Some(None) => record
                .ledger
                .mark_false_positive(id, now, note)
                .and_then(|()| {
                    let note = Note::new("false_positive", format!("decision {id}: {note}"));
                    self.store
                        .commit(&self.settings.holder, now, &record, &[note])
                })
                .map(|()| MarkOutcome::Marked),
        };
        self.settle(now, result)
    }

    /// What the state file holds now.
    ///
    /// # Errors
    /// The state file's errors (including a plan that no longer validates).
    pub fn status(&self) -> Result<ControllerStatus, DeployError> {
        status_of(&self.store)
    }

    /// The journal, oldest first.
    ///
    /// # Errors
    /// The state file's errors.
    pub fn journal(&self) -> Result<Vec<JournalEntry>, DeployError> {
        self.store.journal()
    }

    fn begin_command(&self, now: DateTime<Utc>) -> Result<Record, DeployError> {
        match self.store.begin(
            &self.settings.holder,
            now,
            self.settings.lease_ttl,
            Purpose::Command,
        )? {
            Begin::Acquired(record) => Ok(*record),
            Begin::Busy { holder, until } => Err(DeployError::LeaseBusy { holder, until }),
            // `Purpose::Command` never checks slots or the canary.
            Begin::AlreadyTicked { .. } | Begin::NoCanary | Begin::Behind { .. } => {
                Err(DeployError::StateStore {
                    path: self.store.path().to_owned(),
                    operation: "take the lease".to_owned(),
                    reason: "unexpected answer for a command".to_owned(),
                })
            }
        }
    }

    /// On error, releases the lease (keeping whatever was saved) and journals the error.
    fn settle<T>(
        &self,
        now: DateTime<Utc>,
        result: Result<T, DeployError>,
    ) -> Result<T, DeployError> {
        if let Err(error) = &result {
            // The caller gets the error; logging it louder would show it twice.
            tracing::debug!(%error, "canary run failed; the lease is released");
            let note = Note::new("error", error.to_string());
            if let Err(release) = self.store.release(&self.settings.holder, now, &[note]) {
                tracing::warn!(error = %release, "could not release the canary lease; it expires");
            }
        }
        result
    }

    /// Reconciles, applies `op`, carries out the actions and saves; the lease is held.
    async fn run(
        &self,
        now: DateTime<Utc>,
        tick_slot: Option<i64>,
        mut record: Record,
        op: Op,
    ) -> Result<Report, DeployError> {
        let script = self.settings.script.as_str();
        let environment = self.settings.environment.as_str();
        let holder = self.settings.holder.as_str();
        // A canary is only ever driven on the Worker it was started on; only a new start
        // (once the last canary is over) may move the state file to another Worker.
        let restarting = matches!(op, Op::Start { .. })
            && record
                .state
                .as_ref()
                .is_none_or(|s| s.phase().is_terminal());
        if let Some(recorded) = &record.script {
            if recorded != script && !restarting {
                return Err(DeployError::WrongScript {
                    path: self.store.path().to_owned(),
                    recorded: recorded.clone(),
                    given: script.to_owned(),
                });
            }
        }
        let actual = self.api.current_split(script).await?;
        let mut notes = Vec::new();
        let mut recovery = None;
        let mut decisions = Vec::new();
        let abort = matches!(op, Op::Command(Command::Abort));

        // (c) Reconcile the state with the platform.
        if let Some(state) = record.state.clone() {
            let drift = |expected: &TrafficSplit| DeployError::TrafficDrift {
                script: script.to_owned(),
                expected: split_text(expected),
                actual: split_text(&actual),
            };
            match record.pending.take() {
                Some(intent) if intent.target == actual => {
                    tracing::warn!(split = %split_text(&actual), "adopting a change a dead run made");
                    notes.push(Note::new(
                        "recovered",
                        format!(
                            "the platform already serves {} (planned at {}); adopted without redeploying",
                            split_text(&actual),
                            intent.planned_at.to_rfc3339()
                        ),
                    ));
                    decisions.extend(record_decisions(
                        &mut record.ledger,
                        environment,
                        intent.state.canary(),
                        &intent.actions,
                    ));
                    if let Some(slot) = intent.slot {
                        record.complete_slot(slot);
                    }
                    recovery = Some(Recovery::Adopted {
                        split: intent.target.clone(),
                        planned_at: intent.planned_at,
                    });
                    let completes_this_tick = tick_slot.is_some() && intent.slot == tick_slot;
                    record.state = Some(intent.state);
                    record.step = Some(intent.step);
                    if completes_this_tick {
                        // The dead run was this slot's tick, and its change is in place.
                        self.store.commit(holder, now, &record, &notes)?;
                        return Ok(self.report(
                            &record,
                            recovery,
                            Vec::new(),
                            Vec::new(),
                            decisions,
                            actual,
                        ));
                    }
                }
                Some(intent) if intent.from == actual => {
                    tracing::warn!(split = %split_text(&intent.target), "dropping a change a dead run never made");
                    notes.push(Note::new(
                        "intent_discarded",
                        format!(
                            "the platform still serves {}; the change to {} (planned at {}) never happened",
                            split_text(&actual),
                            split_text(&intent.target),
                            intent.planned_at.to_rfc3339()
                        ),
                    ));
                    recovery = Some(Recovery::Discarded {
                        split: intent.target,
                        planned_at: intent.planned_at,
                    });
                }
                Some(intent) if !abort => return Err(drift(&intent.target)),
                None if !abort && !state.phase().is_terminal() && state.traffic() != actual => {
                    return Err(drift(&state.traffic()));
                }
                Some(_) | None => {}
            }
        }

        // (d, e) Judge and plan, or apply the command.
        let base = record.clone();
        let (mut next, mut actions) = match op {
            Op::Tick => {
                let (plan, state) = self.canary(&record)?;
                let mut step = StepRequests::for_state(record.step.as_ref(), &state);
                let phase = state.phase();
                let check = match (phase, actual.canary.is_some()) {
                    (Phase::Progressing | Phase::Paused, true) => {
                        let interval = chrono::Duration::milliseconds(self.interval_ms);
                        let from = now
                            .checked_sub_signed(interval)
                            .unwrap_or(now)
                            .max(state.step_started_at());
                        let traffic = self.metrics.window(script, &actual, from, now).await?;
                        step.requests = step.requests.saturating_add(traffic.canary.requests);
                        let verdict = self.judge.judge(&traffic.canary, &traffic.baseline);
                        tracing::info!(?verdict, canary = ?traffic.canary, baseline = ?traffic.baseline, "canary judged");
                        Check::new(verdict, step.requests)
                    }
                    _ => Check::new(
                        Verdict::inconclusive(format!("nothing to judge while {phase}")),
                        step.requests,
                    ),
                };
                record.step = Some(step);
                plan.tick(state, now, &check)
            }
            Op::Command(command) => {
                let (plan, state) = self.canary(&record)?;
                notes.push(Note::new("command", format!("{command:?}")));
                plan.command(state, now, command)?
            }
            Op::Start { plan, canary } => {
                if let Some(state) = &record.state {
                    if !state.phase().is_terminal() {
                        return Err(DeployError::CommandNotAllowed {
                            command: "start a canary on".to_owned(),
                            phase: state.phase().to_string(),
                        });
                    }
                }
                if actual.canary.is_some() {
                    return Err(DeployError::InvalidState {
                        field: "traffic".to_owned(),
                        reason: format!(
                            "Worker `{script}` serves {}; a canary starts from one version at 100%",
                            split_text(&actual)
                        ),
                    });
                }
                let state = CanaryState::new(actual.stable.clone(), canary, now)?;
                if last_mode(&record.ledger, environment) != Some(plan.mode()) {
                    record.ledger.set_mode(environment, plan.mode(), now);
                }
                notes.push(Note::new(
                    "canary_started",
                    format!(
                        "{} against {} in {} mode",
                        state.canary(),
                        state.stable(),
                        plan.mode()
                    ),
                ));
                record.plan = Some(PlanRecord::from_plan(&plan));
                record.script = Some(script.to_owned());
                record.step = None;
                (state, Vec::new())
            }
        };
        let step = StepRequests::for_state(record.step.as_ref(), &next);
        decisions.extend(record_decisions(
            &mut record.ledger,
            environment,
            next.canary(),
            &actions,
        ));

        // (f) Carry out the platform actions that change something.
        let mut current = actual.clone();
        let mut changes = Vec::new();
        for action in &actions {
            if let Some((desired, message)) = desired_split(action) {
                if desired != current {
                    changes.push((desired.clone(), message));
                }
                current = desired;
            }
        }
        let mut deployments = Vec::new();
        if let Some((target, _)) = changes.last() {
            let intent = Intent {
                from: actual.clone(),
                target: target.clone(),
                state: next.clone(),
                actions: actions.clone(),
                step: step.clone(),
                slot: tick_slot,
                planned_at: now,
            };
            self.store.write_intent(holder, &intent)?;
            for (desired, message) in &changes {
                let request = DeploymentRequest::from_split(desired).with_message(message.clone());
                tracing::info!(split = %split_text(desired), "deploying");
                match self.api.create_deployment(script, &request).await {
                    Ok(deployment) => {
                        notes.push(Note::new(
                            JOURNAL_DEPLOYMENT_CREATED,
                            format!("{}: {} ({message})", deployment.id, split_text(desired)),
                        ));
                        deployments.push(deployment.id);
                    }
                    Err(error) => {
                        // The canary state stays as it was (after any adoption); the intent
                        // stays so that the next run adopts the change if it did land.
                        let mut kept = base;
                        kept.pending = Some(intent);
                        self.store.commit(holder, now, &kept, &notes)?;
                        return Err(error);
                    }
                }
            }
        }

        // An operator's abort completes now: the platform serves the stable version again,
        // which is all the next tick would have confirmed.
        if abort && next.phase() == Phase::RollingBack && current == next.traffic() {
            if let Some(plan) = &record.plan {
                let (confirmed, more) = plan.to_plan()?.complete_rollback(next, now);
                next = confirmed;
                actions.extend(more);
            }
        }

        // (g) Save the state, the ledger and the slot; release the lease.
        record.state = Some(next);
        record.step = Some(step);
        record.pending = None;
        if let Some(slot) = tick_slot {
            record.complete_slot(slot);
        }
        self.store.commit(holder, now, &record, &notes)?;
        Ok(self.report(&record, recovery, actions, deployments, decisions, current))
    }

    /// The plan and the state of a started canary.
    fn canary(&self, record: &Record) -> Result<(CanaryPlan, CanaryState), DeployError> {
        match (&record.plan, &record.state) {
            (Some(plan), Some(state)) => Ok((plan.to_plan()?, state.clone())),
            _ => Err(DeployError::NoCanary {
                path: self.store.path().to_owned(),
            }),
        }
    }

    fn report(
        &self,
        record: &Record,
        recovery: Option<Recovery>,
        actions: Vec<Action>,
        deployments: Vec<String>,
        decisions: Vec<DecisionId>,
        traffic: TrafficSplit,
    ) -> Report {
        let (phase, weight) = record
            .state
            .as_ref()
            .map_or((Phase::Initializing, 0), |s| (s.phase(), s.weight()));
        Report {
            recovery,
            actions,
            deployments,
            decisions,
            phase,
            weight,
            traffic,
        }
    }
}
