//! Ordered multi-service deploys: a YAML plan of services with dependencies, secrets, a
//! deploy step and a smoke test each; validated into a [`DeployPlan`] in dependency order;
//! run by an [`Executor`] that rolls back in reverse order on the first failure.
//!
//! # Design
//!
//! - **Pure:** [`DeployPlan::from_yaml`] / [`TryFrom<PlanConfig>`](DeployPlan) validate the
//!   file and fix the order; [`DeployPlan::dry_run`] is the `--dry-run` view (a [`DryRun`]
//!   that prints with `Display`, commands shell-quoted by [`shell_join`] so that a line can
//!   be pasted into a shell, and `workdir`s as the plan writes them, relative to the plan
//!   file's directory); [`check_secrets`] lists every missing secret.
//! - **I/O behind traits:** a [`Deployer`] (deploy, roll back), a [`Prober`] (one smoke-test
//!   attempt), a [`Sleeper`] (the wait between attempts), a [`SecretStore`] (which secret
//!   names exist) and, optionally, a [`DeployRecorder`](crate::recorder::DeployRecorder).
//!   Real ones: `CommandDeployer` (feature `process`: runs `deploy.command` and
//!   `rollback.command` as child processes, argv without a shell, with a timeout),
//!   [`HttpProber`], [`TokioSleeper`] (feature `http`), [`EnvSecrets`]. Scripted
//!   ones for tests and rehearsals: [`ScriptedDeployer`], [`ScriptedProber`],
//!   [`ManualSleeper`], [`SecretNames`], all logging to one [`CallLog`].
//! - **Time** comes from an injected [`parky_core::Clock`] (report timestamps) and the
//!   [`Sleeper`]; nothing here sleeps on its own.
//!
//! # Plan format
//!
//! ```yaml
//! services:
//!   - name: store-sync                 # unique; letters, digits, -, _, .
//!     secrets: [CLOUDFLARE_API_TOKEN, STORE_SYNC_KEY]   # names only, checked up front
//!     deploy:
//!       command: [npx, wrangler, deploy]                 # program + arguments, no shell
//!       workdir: workers/store-sync                      # optional, relative to the plan
//!       timeout: 5m                                      # optional, default 10m
//!     rollback:                                          # optional, same fields as deploy
//!       command: [npx, wrangler, rollback, --message, "parky: store-sync rollback"]
//!       workdir: workers/store-sync
//!     smoke_test:                                        # optional
//!       url: https://store-sync.example.com/healthz      # http(s), GET
//!       expect_status: 200                               # default 200
//!       timeout: 5s                                      # per attempt, default 10s
//!       retries: 3                                       # extra attempts, default 0
//!       interval: 10s                                    # between attempts, default 5s
//!   - name: public
//!     depends_on: [store-sync]                           # deployed (and smoke-tested) first
//!     deploy: { command: [npx, wrangler, deploy] }
//! ```
//!
//! Unknown fields are refused. Validation errors name the field:
//! `services.admin.depends_on[0]: unknown service "pubic"`,
//! `services[3].name: duplicate service "admin" (first at services[1])`,
//! `services.a.depends_on: dependency cycle a → b → a`.
//!
//! # Order
//!
//! Topological over `depends_on`; ties (several services ready at once) go in file order.
//!
//! # Failure and rollback
//!
//! Secrets are checked before anything starts ([`DeployError::MissingSecrets`](crate::DeployError::MissingSecrets) lists every
//! missing one). Then each service is deployed and smoke-tested (up to `retries + 1`
//! attempts, `interval` apart). On the first deploy error or failed smoke test the run
//! stops, and the services already deployed are rolled back in reverse order — the failed
//! service first if its deploy had succeeded (its smoke test failed). The [`RunReport`]
//! lists every step.
//!
//! ```
//! use std::sync::Arc;
//! use parky_core::ManualClock;
//! use parky_deploy::plan::{
//!     CallLog, DeployPlan, Executor, ManualSleeper, ScriptedDeployer, ScriptedProber, SecretNames,
//! };
//!
//! # fn main() -> Result<(), parky_deploy::DeployError> {
//! let plan = DeployPlan::from_yaml(
//!     "services:\n  - name: admin\n    depends_on: [public]\n    deploy: {command: [deploy-admin]}\n  - name: public\n    secrets: [API_TOKEN]\n    deploy: {command: [deploy-public]}\n",
//! )?;
//! let names: Vec<&str> = plan.services().iter().map(|s| s.name.as_str()).collect();
//! assert_eq!(names, ["public", "admin"]);
//! println!("{}", plan.dry_run());
//!
//! let clock = ManualClock::at_epoch();
//! let log = CallLog::new();
//! let executor = Executor::new(
//!     Arc::new(ScriptedDeployer::new(log.clone())),
//!     Arc::new(ScriptedProber::new(log.clone())),
//!     Arc::new(ManualSleeper::new(clock.clone())),
//!     Arc::new(clock),
//! );
//! let secrets = SecretNames::new(["API_TOKEN"]);
//! let report = block_on(executor.run(&plan, &secrets))?;
//! assert!(report.is_success());
//! # Ok(())
//! # }
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     // A bare current-thread runtime always builds; the scripted adapters need no I/O.
//! #     tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(f)
//! # }
//! ```

#[cfg(feature = "process")]
mod command;
mod config;
mod execute;
#[cfg(feature = "http")]
mod http;
mod secrets;
mod shell;

#[cfg(feature = "process")]
pub use command::{CommandDeployer, STDERR_TAIL_BYTES, UNREPORTED_VERSION};
pub use config::{
    DeployPlan, DeployStep, DeployStepConfig, DryRun, PlanConfig, PlannedStep, ServiceConfig,
    ServiceSpec, SmokeTest, SmokeTestConfig, DEFAULT_COMMAND_TIMEOUT, MAX_RETRIES,
};
pub use execute::{
    Call, CallLog, Deployer, Executor, ManualSleeper, ProbeResult, Prober, RunOutcome, RunReport,
    ScriptedDeployer, ScriptedProber, Sleeper, StepEvent, StepReport,
};
#[cfg(feature = "http")]
pub use http::{HttpProber, TokioSleeper};
pub use secrets::{check_secrets, EnvSecrets, SecretNames, SecretStore};
pub use shell::{shell_join, shell_quote};
