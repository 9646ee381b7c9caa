//! One canary tick, for a cron job that runs every 5 minutes:
//!
//! ```text
//! */5 * * * *  canary_cron /var/lib/parky/canary.db
//! ```
//!
//! Usage: `canary_cron <state.db> [--now <RFC 3339>] [--bad] [--shadow]`
//!
//! - `<state.db>`: the controller's SQLite state file (created on first use). It holds the
//!   canary, its plan, the shadow ledger and the lease, so overlapping runs are safe: the
//!   second prints `skipped: busy`, and a second run in the same 5-minute slot prints
//!   `skipped: already ticked`.
//! - `--now`: tick at this time instead of the system clock (to walk through a rollout by
//!   hand: `--now 2025-03-01T12:00:00Z`, then `12:05`, `12:10`, …).
//! - `--bad`: the simulated canary fails 5 % of its requests (it gets rolled back);
//! - `--shadow`: start the canary in shadow mode (the rollback is only recorded).
//!
//! By default it drives the embedded [`WorkersSimulator`]: stable version `v1`, canary `v2`,
//! 200 000 simulated requests per window. The simulator lives in memory, so each run rebuilds
//! the platform with the split the state file expects (a real platform keeps it).
//!
//! # Plugging in Cloudflare
//!
//! Replace the simulator with the Cloudflare client (feature `http`) and the simulated
//! metrics with a [`CanaryMetrics`] over your analytics (per-version request and error counts,
//! e.g. Workers Analytics Engine or Prometheus):
//!
//! ```ignore
//! let token = SecretString::from(std::env::var("CLOUDFLARE_API_TOKEN")?);
//! let account = std::env::var("CLOUDFLARE_ACCOUNT_ID")?;
//! let script = std::env::var("CLOUDFLARE_WORKER_SCRIPT")?;
//! let api = Arc::new(WorkersClient::new(CLOUDFLARE_API_BASE, &account, token)?);
//! let controller = CanaryController::open(
//!     path,
//!     ControllerSettings::new(script, "production"),
//!     api,
//!     Arc::new(MyAnalyticsMetrics::new(/* … */)),
//!     Arc::new(SloJudge::default()),
//! )?;
//! ```
//!
//! The canary itself is started once with `CanaryController::start` (the `parky` CLI does
//! this); this example starts `v2` when the state file has none.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parky_core::{Clock, SystemClock};
use parky_deploy::controller::{
    CanaryController, CanaryMetrics, ControllerSettings, SimulatedMetrics, SkipReason, TickOutcome,
};
use parky_deploy::model::VersionId;
use parky_deploy::policy::canary::CanaryPlan;
use parky_deploy::policy::judge::SloJudge;
use parky_deploy::policy::shadow::EnforcementMode;
use parky_deploy::workers::{DeploymentRequest, VersionBehaviour, WorkersApi, WorkersSimulator};
use parky_deploy::DeployError;

const SCRIPT: &str = "demo-worker";

struct Args {
    path: String,
    now: Option<DateTime<Utc>>,
    bad: bool,
    shadow: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let (mut now, mut bad, mut shadow) = (None, false, false);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--now" => {
                let text = args.next().ok_or("--now needs a time")?;
                let at = DateTime::parse_from_rfc3339(&text)
                    .map_err(|e| format!("--now {text}: {e}"))?;
                now = Some(at.with_timezone(&Utc));
            }
            "--bad" => bad = true,
            "--shadow" => shadow = true,
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other if path.is_none() => path = Some(other.to_owned()),
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    Ok(Args {
        path: path.ok_or("usage: canary_cron <state.db> [--now <RFC 3339>] [--bad] [--shadow]")?,
        now,
        bad,
        shadow,
    })
}

async fn run(args: Args) -> Result<String, DeployError> {
    let now = args.now.unwrap_or_else(|| SystemClock.now());
    let simulator = WorkersSimulator::new();
    let p99 = Duration::from_millis(120);
    simulator.upload_version(SCRIPT, "v1".into(), VersionBehaviour::healthy(p99));
    let canary = if args.bad {
        VersionBehaviour::new(0.05, p99)?
    } else {
        VersionBehaviour::healthy(p99)
    };
    simulator.upload_version(SCRIPT, "v2".into(), canary);
    let metrics: Arc<dyn CanaryMetrics> = Arc::new(SimulatedMetrics::new(
        simulator.clone(),
        200_000,
        now.timestamp().unsigned_abs(),
    ));
    let controller = CanaryController::open(
        &args.path,
        ControllerSettings::new(SCRIPT, "production"),
        Arc::new(simulator.clone()),
        metrics,
        Arc::new(SloJudge::default()),
    )?;

    // Rebuild the in-memory platform: the split the state file expects.
    let status = controller.status()?;
    let split = match (&status.pending, &status.state) {
        (Some(pending), _) => pending.clone(),
        (None, Some(state)) => state.traffic(),
        (None, None) => parky_deploy::model::TrafficSplit::all_on("v1".into()),
    };
    simulator
        .create_deployment(SCRIPT, &DeploymentRequest::from_split(&split))
        .await?;

    if status.state.is_none() {
        let mode = if args.shadow {
            EnforcementMode::Shadow
        } else {
            EnforcementMode::Enforce
        };
        let plan = CanaryPlan::default().with_mode(mode);
        controller.start(now, &plan, VersionId::from("v2")).await?;
        println!("started canary v2 against v1 ({mode} mode)");
    }

    Ok(match controller.tick(now).await? {
        TickOutcome::Skipped(SkipReason::Busy { holder, until }) => {
            format!("skipped: busy (controller {holder} holds the lease until {until})")
        }
        TickOutcome::Skipped(SkipReason::AlreadyTicked { slot }) => {
            format!("skipped: already ticked in slot {slot}")
        }
        TickOutcome::Skipped(SkipReason::NoCanary) => "skipped: no canary".to_owned(),
        TickOutcome::Ticked(report) => {
            let mut text = format!(
                "ticked at {now}: {} at {}% (deployments: {})",
                report.phase,
                report.weight,
                if report.deployments.is_empty() {
                    "none".to_owned()
                } else {
                    report.deployments.join(", ")
                }
            );
            if let Some(recovery) = &report.recovery {
                text.push_str(&format!("\n  recovered: {recovery:?}"));
            }
            for action in &report.actions {
                text.push_str(&format!("\n  {action}"));
            }
            for id in &report.decisions {
                text.push_str(&format!("\n  shadow ledger decision {id}"));
            }
            text
        }
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("canary tick failed: {error}");
            ExitCode::FAILURE
        }
    }
}
