//! Canary rollouts with SLO-driven automatic rollback, a Cloudflare Workers Versions &
//! Deployments client with an embedded simulator, and ordered multi-service deploys with
//! smoke tests and reverse-order rollback.
//!
//! # Design
//!
//! The decisions are pure and the outside systems sit behind traits, so the same rollout
//! logic runs in a cron job, in a test on simulated traffic, or in a Worker:
//!
//! ```text
//! cron tick ─► controller::CanaryController (SQLite state file, lease, crash reconciliation)
//!                ├─ WorkersApi::current_split   the platform's split, checked against the state
//!                ├─ CanaryMetrics::window       canary vs baseline over the last interval
//!                ├─ CanaryJudge::judge          → Verdict (Pass / Fail / Inconclusive)
//!                ├─ CanaryPlan::tick            → next CanaryState + Actions (pure)
//!                └─ WorkersApi::create_deployment per SetTraffic / Promote / Rollback,
//!                   ShadowLedger for every automatic rollback decision
//! ```
//!
//! - **State machine** ([`policy::canary`]): a [`CanaryPlan`] (steps, default 1 → 10 → 50 →
//!   100 %, a bake time, minimum requests per step, a failure threshold counted cumulatively
//!   as Flagger counts it, a progress deadline) turns a [`CanaryState`], the time and a
//!   [`Check`] into the next state and the [`Action`]s to apply, in order. Operators' commands
//!   (promote, pause, resume, abort, retry) go through [`CanaryPlan::command`]. No clock, no
//!   I/O, never panics; a canary never skips a step or moves forward after a failed check.
//! - **Judge** ([`policy::judge`]): the [`CanaryJudge`] trait and its default [`SloJudge`],
//!   `parky-slo`'s rollback rule (the canary's error burn rate at least 3 × the baseline's, or
//!   its p99 at least 2 ×, and never on too little data), mapped to a [`Verdict`].
//! - **Shadow mode** ([`policy::shadow`]): in [`EnforcementMode::Shadow`] an automatic
//!   rollback is recorded, not executed. The [`ShadowLedger`] keeps every decision, people
//!   mark false positives, and its report applies the handbook's rule for switching an
//!   environment to enforce: two weeks in shadow without a false positive.
//! - **Workers platform** ([`workers`]): the narrow [`workers::WorkersApi`] trait (list
//!   versions and deployments, create a percentage deployment, read the current split), with
//!   [`workers::WorkersClient`] over Cloudflare's v4 REST API (feature `http`; the token is a
//!   secret, never in `Debug`, errors or logs) and [`workers::WorkersSimulator`], the
//!   embedded default: in memory, deterministic, with per-version error rates and p99s, a
//!   seeded traffic window and scriptable failures. Wrangler's rollback rule
//!   ([`workers::rollback`]) is written once on top of the trait.
//! - **Ordered plans** ([`plan`]): a YAML file of services with `depends_on`, `secrets`, a
//!   deploy and rollback command and an HTTP smoke test, validated into a
//!   [`plan::DeployPlan`] in dependency order. The [`plan::Executor`] checks every secret up
//!   front, deploys and smoke-tests one service after the other, and on the first failure
//!   rolls back what it deployed, newest first. Real adapters: `plan::CommandDeployer`
//!   (feature `process`: argv child processes, no shell, with a timeout) and
//!   `plan::HttpProber` (feature `http`); scripted ones record every call for tests and
//!   `--dry-run`.
//! - **Recorders** ([`recorder`]): every deploy recorded with GitHub's deployment and
//!   deployment-status vocabulary, which `parky-dora` counts later, through the
//!   [`recorder::DeployRecorder`] trait: `recorder::GitHubRecorder` (feature `http`),
//!   `recorder::FileRecorder` (JSON lines, feature `file`, the embedded default) and
//!   [`recorder::MemoryRecorder`].
//! - **Cron controller** (`controller`, feature `sqlite`): one tick per interval (5 minutes)
//!   with the canary, its plan, the shadow ledger and a journal in one SQLite file. A lease
//!   makes overlapping runs safe (the second one skips), a slot number makes two runs in
//!   the same interval act once, and every platform change is written down as a pending
//!   intent before the API call, so that a run that crashed in between is reconciled from
//!   the platform's actual split: adopted if the change happened, planned again if not, and
//!   a split changed by hand is refused as drift. The judge's numbers come from a
//!   `CanaryMetrics` source: `controller::WorkersAnalytics` over Cloudflare's GraphQL
//!   Analytics (`workersInvocationsAdaptive`, per Worker version; features `sqlite` and
//!   `http`) or `controller::SimulatedMetrics` over the simulator.
//!
//! Errors are one enum, [`DeployError`], with structured variants (the field of an invalid
//! config, the HTTP status and Cloudflare error code, the missing secrets) and
//! [`DeployError::is_retryable`] / [`DeployError::retry_after`]; nothing here retries or
//! sleeps on its own.
//!
//! # Features
//!
//! All four are on by default. With `--no-default-features` the crate is the pure state
//! machine, judge, shadow ledger, plan validation, scripted adapters, the simulator and the
//! memory recorder, without reqwest, tokio or SQLite.
//!
//! | feature | adds |
//! |---|---|
//! | `http` | `workers::WorkersClient`, `controller::WorkersAnalytics`, `plan::HttpProber` and `plan::TokioSleeper`, `recorder::GitHubRecorder` (reqwest with rustls, tokio); implies `process` |
//! | `process` | `plan::CommandDeployer` (tokio's child processes) |
//! | `file` | `recorder::FileRecorder` |
//! | `sqlite` | the `controller` module (rusqlite, SQLite bundled) |
//!
//! # Dependencies and why
//!
//! - `parky-slo`: the canary-vs-baseline rollback rule behind [`SloJudge`] and its
//!   `TrafficSample`; `parky-core`: the `Clock`, typed HTTP API errors with `Retry-After`,
//!   secret redaction and `SecretString` (from `secrecy`) for API tokens.
//! - `serde`, `serde_json`: the documented JSON shapes (Cloudflare, GitHub, the persisted
//!   canary state); `serde_yaml_ng`: the plan file (the maintained fork of the archived
//!   `serde_yaml`, with line and column in errors); `url`: smoke-test URLs checked at load.
//! - `chrono`: instants passed into the state machine and RFC 3339 in every API;
//!   `humantime`: durations written as `5m` or `1h 30m` in configs and reports.
//! - `thiserror`: [`DeployError`]; `tracing`: logs (the CLI installs the subscriber);
//!   `async-trait`: the async traits, as everywhere in the workspace.
//! - `rand`: the simulator's seeded traffic (reproducible runs).
//! - `reqwest` with rustls and `tokio` (features `http`, `process`): the HTTP clients, the
//!   smoke-test sleeper and the deploy commands' child processes; `rusqlite` (feature
//!   `sqlite`, SQLite bundled, so no system library): the controller's state file.
//!
//! # Example
//!
//! A canary of `v2` driven by the pure plan, its actions applied to the embedded Workers
//! simulator: three passing checks take it through 1, 10 and 50 % to 100 %. Then `v3`
//! fails its checks at 1 % and, at the third failed check (the default threshold), all the
//! traffic goes back to `v2`.
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use parky_deploy::model::TrafficSplit;
//! use parky_deploy::workers::{
//!     DeploymentRequest, VersionBehaviour, WorkersApi, WorkersSimulator,
//! };
//! use parky_deploy::{Action, CanaryPlan, CanaryState, Check, Phase, Verdict};
//!
//! # fn main() -> Result<(), parky_deploy::DeployError> {
//! let workers = WorkersSimulator::new();
//! for id in ["v1", "v2", "v3"] {
//!     let healthy = VersionBehaviour::healthy(std::time::Duration::from_millis(20));
//!     workers.upload_version("shop", id.into(), healthy);
//! }
//! block_on(workers.create_deployment("shop", &DeploymentRequest::all_on("v1".into())))?;
//!
//! // What the controller does with the plan's actions.
//! let apply = |actions: &[Action]| -> Result<(), parky_deploy::DeployError> {
//!     for action in actions {
//!         let request = match action {
//!             Action::SetTraffic(split) => DeploymentRequest::from_split(split),
//!             Action::Promote(version) => DeploymentRequest::all_on(version.clone()),
//!             Action::Rollback { to } => DeploymentRequest::all_on(to.clone()),
//!             Action::Record(_) => continue,
//!         };
//!         block_on(workers.create_deployment("shop", &request))?;
//!     }
//!     Ok(())
//! };
//!
//! let plan = CanaryPlan::default(); // 1, 10, 50, 100 %; bake 5 min; 1000 requests; 3 failures
//! let t0 = Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap();
//! let pass = Check::new(Verdict::Pass, 5_000);
//! let mut state = CanaryState::new("v1".into(), "v2".into(), t0)?;
//! let mut weights = Vec::new();
//! for minutes in [0, 5, 10, 15] {
//!     let (next, actions) = plan.tick(state, t0 + Duration::minutes(minutes), &pass);
//!     apply(&actions)?;
//!     weights.push(next.weight());
//!     state = next;
//! }
//! assert_eq!(weights, [1, 10, 50, 100]);
//! assert_eq!(state.phase(), Phase::Promoting); // the next tick confirms it
//! let (state, _) = plan.tick(state, t0 + Duration::minutes(20), &pass);
//! assert_eq!(state.phase(), Phase::Succeeded);
//! assert_eq!(workers.split("shop")?, TrafficSplit::all_on("v2".into()));
//!
//! // v3 burns the error budget: failed checks hold it at 1 %, the third rolls it back.
//! let t1 = t0 + Duration::hours(1);
//! let fail = Check::new(Verdict::fail("error burn rate 12.0 × the baseline's"), 5_000);
//! let state = CanaryState::new("v2".into(), "v3".into(), t1)?;
//! let (mut state, actions) = plan.tick(state, t1, &pass);
//! apply(&actions)?;
//! assert_eq!(workers.split("shop")?.canary_percent(), 1);
//! for minutes in [5, 10, 15] {
//!     let (next, actions) = plan.tick(state, t1 + Duration::minutes(minutes), &fail);
//!     apply(&actions)?;
//!     state = next;
//! }
//! assert_eq!(state.phase(), Phase::RollingBack);
//! assert_eq!(state.failed_checks(), 3);
//! assert_eq!(workers.split("shop")?, TrafficSplit::all_on("v2".into()));
//! # Ok(())
//! # }
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     // The simulator does no I/O: a bare current-thread runtime is enough.
//! #     tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(f)
//! # }
//! ```
//!
//! The `parky` command line wires this together: `parky canary start|tick|status|promote|
//! pause|resume|abort` runs the controller on the simulator (`--simulate`) or on Cloudflare,
//! and `parky deploy plan|run|rollback` runs ordered plans and Worker rollbacks (see the
//! repository's `docs/runbook.md`).

#[cfg(feature = "sqlite")]
pub mod controller;
pub mod error;
pub mod model;
pub mod plan;
pub mod policy;
pub mod recorder;
pub mod workers;

pub use error::DeployError;
pub use policy::canary::{Action, CanaryConfig, CanaryPlan, CanaryState, Check, Command, Phase};
pub use policy::judge::{CanaryJudge, SloJudge, Verdict};
pub use policy::shadow::{EnforcementMode, ShadowLedger};
