//! `parky deploy …` and `parky canary …`: deploy plans (dry run), the auto-rollback ledger and
//! the canary controller's state file.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parky_core::{Clock, SystemClock};
use parky_deploy::controller::{
    CanaryController, CanaryMetrics, ControllerSettings, Recovery, SimulatedMetrics, SkipReason,
    TickOutcome,
};
use parky_deploy::model::{TrafficSplit, VersionId};
use parky_deploy::plan::{check_secrets, DeployPlan, EnvSecrets};
use parky_deploy::policy::canary::{Action, CanaryPlan};
use parky_deploy::policy::judge::SloJudge;
use parky_deploy::policy::shadow::{DecisionId, Enforcement, EnforcementMode};
use parky_deploy::workers::{DeploymentRequest, VersionBehaviour, WorkersApi, WorkersSimulator};
use parky_deploy::DeployError;
use serde_json::json;

use crate::args::{
    AutorollbackMarkArgs, AutorollbackReportArgs, CanaryStatusArgs, CanaryTickArgs, DemoOutput,
    DeployPlanArgs,
};
use crate::error::CliError;
use crate::render::{self, Table};

/// The Worker script the simulated canary runs on (as in `examples/canary_cron.rs`).
pub(crate) const SIMULATED_SCRIPT: &str = "demo-worker";
/// The environment name the simulated controller records decisions under.
pub(crate) const SIMULATED_ENVIRONMENT: &str = "production";
/// Simulated requests per tick window.
const SIMULATED_REQUESTS: u64 = 200_000;

/// `parky deploy plan`: the dry run, with the missing secrets marked (not fatal).
pub(crate) fn plan(args: &DeployPlanArgs, out: &mut impl Write) -> Result<(), CliError> {
    let text = std::fs::read_to_string(&args.plan).map_err(|source| CliError::Io {
        path: args.plan.clone(),
        source,
    })?;
    let plan = DeployPlan::from_yaml(&text).map_err(|err| CliError::Flag {
        flag: "--plan",
        reason: format!("{}: {err}", args.plan.display()),
    })?;
    writeln!(out, "{}", plan.dry_run())?;
    match check_secrets(&plan, &EnvSecrets) {
        Ok(()) => writeln!(out, "secrets: all present in the environment")?,
        Err(DeployError::MissingSecrets { missing }) => {
            writeln!(
                out,
                "secrets: {} missing from the environment (a run would stop before deploying anything):",
                missing.len()
            )?;
            for (service, name) in &missing {
                writeln!(out, "  MISSING {name} (service {service})")?;
            }
        }
        Err(other) => return Err(other.into()),
    }
    Ok(())
}

/// Fails with the OS error, naming the file, unless `path` exists: opening the controller
/// would otherwise create an empty state file.
fn require_state(path: &Path) -> Result<(), CliError> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|source| CliError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// A simulator serving `v1` (healthy) and `v2` (healthy, or failing 5 % when `bad`).
fn simulator(bad: bool) -> Result<WorkersSimulator, DeployError> {
    let simulator = WorkersSimulator::new();
    let p99 = Duration::from_millis(120);
    simulator.upload_version(
        SIMULATED_SCRIPT,
        "v1".into(),
        VersionBehaviour::healthy(p99),
    );
    let canary = if bad {
        VersionBehaviour::new(0.05, p99)?
    } else {
        VersionBehaviour::healthy(p99)
    };
    simulator.upload_version(SIMULATED_SCRIPT, "v2".into(), canary);
    Ok(simulator)
}

/// Opens the controller over the simulator. Reading the state and marking decisions never
/// call the platform, so the simulator stands in for it there.
fn open_controller(
    path: &Path,
    simulator: &WorkersSimulator,
    seed: u64,
) -> Result<CanaryController, CliError> {
    let metrics: Arc<dyn CanaryMetrics> = Arc::new(SimulatedMetrics::new(
        simulator.clone(),
        SIMULATED_REQUESTS,
        seed,
    ));
    Ok(CanaryController::open(
        path,
        ControllerSettings::new(SIMULATED_SCRIPT, SIMULATED_ENVIRONMENT)
            .with_holder(format!("parky-cli-{}", std::process::id())),
        Arc::new(simulator.clone()),
        metrics,
        Arc::new(SloJudge::default()),
    )?)
}

fn opt_time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(|| "-".to_owned(), render::time)
}

fn split_text(split: &TrafficSplit) -> String {
    match &split.canary {
        None => format!("100% {}", split.stable),
        Some((canary, weight)) => format!(
            "{}% {} + {weight}% {canary}",
            100u8.saturating_sub(*weight),
            split.stable
        ),
    }
}

/// `parky deploy autorollback report`.
pub(crate) fn autorollback_report(
    args: &AutorollbackReportArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    require_state(&args.state)?;
    let controller = open_controller(&args.state, &simulator(false)?, 0)?;
    let ledger = controller.status()?.ledger;
    let now = args.at.unwrap_or_else(|| SystemClock.now());
    let report = ledger.report(now);
    // The report is as of `now`; the table lists the same decisions (none made after it).
    let made: Vec<_> = ledger.decisions().iter().filter(|d| d.at <= now).collect();
    if args.output == DemoOutput::Json {
        let document = json!({ "report": report, "decisions": made });
        serde_json::to_writer_pretty(&mut *out, &document)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "auto-rollback ledger as of {}", render::time(now))?;
    if report.environments.is_empty() {
        writeln!(out, "no decisions recorded")?;
        return Ok(());
    }
    let mut envs = Table::new(&[
        "environment",
        "mode",
        "decisions",
        "shadowed",
        "enforced",
        "false positives",
        "ready to enforce",
    ]);
    for env in &report.environments {
        let ready = match (env.ready, env.ready_at) {
            (true, _) => "yes".to_owned(),
            (false, Some(at)) => format!("from {}", render::time(at)),
            (false, None) => "-".to_owned(),
        };
        envs.row(vec![
            env.environment.clone(),
            env.mode.map_or_else(|| "-".to_owned(), |m| m.to_string()),
            env.decisions.to_string(),
            env.shadowed.to_string(),
            env.enforced.to_string(),
            env.false_positives.to_string(),
            ready,
        ]);
    }
    out.write_all(envs.text("").as_bytes())?;
    writeln!(out)?;
    let mut decisions = Table::new(&[
        "id",
        "at",
        "environment",
        "canary",
        "enforcement",
        "false positive",
        "reasons",
    ]);
    for d in made {
        let enforcement = match d.enforcement {
            Enforcement::Enforced => "enforced",
            Enforcement::Shadowed => "shadowed",
        };
        let false_positive = match &d.false_positive {
            None => "-".to_owned(),
            Some(fp) if fp.note.is_empty() => format!("yes ({})", render::time(fp.marked_at)),
            Some(fp) => format!("yes ({}: {})", render::time(fp.marked_at), fp.note),
        };
        decisions.row(vec![
            d.id.to_string(),
            render::time(d.at),
            d.environment.clone(),
            d.canary.to_string(),
            enforcement.to_owned(),
            false_positive,
            d.reasons.join("; "),
        ]);
    }
    out.write_all(decisions.text("").as_bytes())?;
    Ok(())
}

/// `parky deploy autorollback mark`.
pub(crate) fn autorollback_mark(
    args: &AutorollbackMarkArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    require_state(&args.state)?;
    let controller = open_controller(&args.state, &simulator(false)?, 0)?;
    let now = SystemClock.now();
    crate::runtime()?.block_on(controller.mark_false_positive(
        now,
        DecisionId(args.id),
        &args.note,
    ))?;
    writeln!(out, "decision {} marked as a false positive", args.id)?;
    Ok(())
}

/// `parky canary status`.
pub(crate) fn canary_status(args: &CanaryStatusArgs, out: &mut impl Write) -> Result<(), CliError> {
    require_state(&args.state)?;
    let controller = open_controller(&args.state, &simulator(false)?, 0)?;
    let status = controller.status()?;
    writeln!(out, "state file: {}", args.state.display())?;
    match &status.state {
        None => writeln!(out, "canary: none")?,
        Some(state) => {
            writeln!(out, "phase: {}", state.phase())?;
            writeln!(out, "weight: {}%", state.weight())?;
            writeln!(out, "stable: {}", state.stable())?;
            writeln!(out, "canary: {}", state.canary())?;
            writeln!(out, "traffic: {}", split_text(&state.traffic()))?;
            writeln!(out, "failed checks: {}", state.failed_checks())?;
            if let Some(plan) = &status.plan {
                writeln!(
                    out,
                    "plan: steps {:?}, {} failed checks roll back, {} mode",
                    plan.steps(),
                    plan.failure_threshold(),
                    plan.mode()
                )?;
            }
        }
    }
    let last_slot = status.last_slot.map_or_else(
        || "none".to_owned(),
        |slot| {
            let interval_ms =
                i64::try_from(controller.settings().interval.as_millis()).unwrap_or(i64::MAX);
            let start = chrono::DateTime::from_timestamp_millis(slot.saturating_mul(interval_ms));
            format!("{slot} (from {})", opt_time(start))
        },
    );
    writeln!(out, "last slot: {last_slot}")?;
    match &status.lease {
        None => writeln!(out, "lease: free")?,
        Some((holder, until)) => {
            writeln!(out, "lease: {holder} until {}", render::time(*until))?;
        }
    }
    if let Some(pending) = &status.pending {
        writeln!(out, "pending traffic change: {}", split_text(pending))?;
    }
    writeln!(
        out,
        "rollback decisions: {}",
        status.ledger.decisions().len()
    )?;
    Ok(())
}

fn action_text(action: &Action) -> String {
    match action {
        Action::SetTraffic(split) => format!("set traffic: {}", split_text(split)),
        Action::Promote(version) => format!("promote {version}"),
        Action::Rollback { to } => format!("roll back to {to}"),
        Action::Record(event) => format!("record {:?}", event.kind),
    }
}

/// `parky canary tick --simulate`: one tick, as `examples/canary_cron.rs` does.
pub(crate) fn canary_tick(args: &CanaryTickArgs, out: &mut impl Write) -> Result<(), CliError> {
    let now = args.now.unwrap_or_else(|| SystemClock.now());
    let simulator = simulator(args.bad)?;
    let controller = open_controller(&args.state, &simulator, now.timestamp().unsigned_abs())?;
    let status = controller.status()?;
    // The simulator lives in memory: rebuild the split the state file expects.
    let split = match (&status.pending, &status.state) {
        (Some(pending), _) => pending.clone(),
        (None, Some(state)) => state.traffic(),
        (None, None) => TrafficSplit::all_on("v1".into()),
    };
    let runtime = crate::runtime()?;
    let outcome = runtime.block_on(async {
        simulator
            .create_deployment(SIMULATED_SCRIPT, &DeploymentRequest::from_split(&split))
            .await?;
        if status.state.is_none() {
            let mode = if args.shadow {
                EnforcementMode::Shadow
            } else {
                EnforcementMode::Enforce
            };
            let plan = CanaryPlan::default().with_mode(mode);
            controller.start(now, &plan, VersionId::from("v2")).await?;
            writeln!(out, "started canary v2 against v1 ({mode} mode)").map_err(CliError::from)?;
        }
        controller.tick(now).await.map_err(CliError::from)
    })?;
    match outcome {
        TickOutcome::Skipped(SkipReason::Busy { holder, until }) => writeln!(
            out,
            "skipped: busy (controller {holder} holds the lease until {})",
            render::time(until)
        )?,
        TickOutcome::Skipped(SkipReason::AlreadyTicked { slot }) => {
            writeln!(out, "skipped: already ticked in slot {slot}")?;
        }
        TickOutcome::Skipped(SkipReason::NoCanary) => writeln!(out, "skipped: no canary")?,
        TickOutcome::Ticked(report) => {
            writeln!(
                out,
                "ticked at {}: {} at {}% ({})",
                render::time(now),
                report.phase,
                report.weight,
                split_text(&report.traffic)
            )?;
            match &report.recovery {
                Some(Recovery::Adopted { split, .. }) => {
                    writeln!(out, "  recovered: adopted {}", split_text(split))?;
                }
                Some(Recovery::Discarded { split, .. }) => {
                    writeln!(out, "  recovered: discarded {}", split_text(split))?;
                }
                None => {}
            }
            for action in &report.actions {
                writeln!(out, "  {}", action_text(action))?;
            }
            for id in &report.decisions {
                writeln!(out, "  auto-rollback decision {id} recorded")?;
            }
        }
    }
    Ok(())
}
