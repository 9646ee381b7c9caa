//! `parky deploy …` and `parky canary …`: deploy plans (dry run), the auto-rollback ledger and
//! the canary controller's state file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parky_core::{Clock, SecretString, SystemClock};
use parky_deploy::controller::{
    CanaryController, CanaryMetrics, ControllerSettings, MarkOutcome, Recovery, Report,
    SimulatedMetrics, SkipReason, StateFile, TickOutcome, WorkersAnalytics, DEFAULT_INTERVAL,
    JOURNAL_DEPLOYMENT_CREATED,
};
use parky_deploy::model::{TrafficSplit, VersionId};
use parky_deploy::plan::{
    check_secrets, shell_join, shell_quote, CommandDeployer, DeployPlan, Deployer, EnvSecrets,
    Executor, HttpProber, TokioSleeper,
};
use parky_deploy::policy::canary::{CanaryPlan, CanaryState, Command};
use parky_deploy::policy::judge::SloJudge;
use parky_deploy::policy::shadow::{DecisionId, Enforcement, EnforcementMode};
use parky_deploy::workers::{
    rollback as workers_rollback, DeploymentRequest, RollbackOptions, VersionBehaviour, WorkersApi,
    WorkersClient, WorkersSimulator,
};
use parky_deploy::DeployError;
use serde_json::json;
use tokio::runtime::Runtime;

use crate::args::{
    AutorollbackMarkArgs, AutorollbackReportArgs, CanaryCommandArgs, CanaryStartArgs,
    CanaryStatusArgs, CanaryTickArgs, DemoOutput, DeployPlanArgs, DeployRollbackArgs,
    DeployRunArgs, PlatformArgs,
};
use crate::error::CliError;
use crate::render::{self, Table};

/// The environment variable the Cloudflare API token is read from.
pub(crate) const TOKEN_ENV: &str = "CLOUDFLARE_API_TOKEN";

/// The Worker script the simulated canary runs on (as in `examples/canary_cron.rs`).
pub(crate) const SIMULATED_SCRIPT: &str = "demo-worker";
/// The environment name the simulated controller records decisions under.
pub(crate) const SIMULATED_ENVIRONMENT: &str = "production";
/// Simulated requests per tick window.
const SIMULATED_REQUESTS: u64 = 200_000;

/// `parky deploy plan`: the dry run, with the missing secrets marked (not fatal).
pub(crate) fn plan(args: &DeployPlanArgs, out: &mut impl Write) -> Result<(), CliError> {
    let plan = read_plan(&args.plan)?;
    writeln!(out, "{}", plan.dry_run())?;
    workdir_line(&args.plan, out)?;
    secrets_lines(&plan, out)
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

/// The state file opened read-only (it must exist and be a Parky state file).
fn open_read_only(path: &Path) -> Result<StateFile, CliError> {
    require_state(path)?;
    Ok(StateFile::open(path)?)
}

/// A simulator for `script` serving `sim.split`, with `sim.stable` and `sim.canary` uploaded:
/// healthy, or the canary failing 5 % of its requests when `bad`. `runtime` runs the set-up
/// deployment (the command's own runtime, built once).
///
/// The simulator is rebuilt on every run, so its deployment id counter continues from
/// `created`, the deployments the state file records: the deployment that sets up the split
/// takes number `created + 1` (the id of the last recorded deployment, which serves that
/// split; 1 for a new file) and the run's own deployments the numbers after it, so ids are
/// distinct across the runs of one state file and the same for the same history.
fn simulator(
    runtime: &Runtime,
    script: &str,
    sim: &Simulated,
    bad: bool,
    created: u64,
) -> Result<WorkersSimulator, CliError> {
    let simulator = WorkersSimulator::new().with_deployments_created(created);
    let p99 = Duration::from_millis(120);
    simulator.upload_version(script, sim.stable.clone(), VersionBehaviour::healthy(p99));
    let behaviour = if bad {
        VersionBehaviour::new(0.05, p99)?
    } else {
        VersionBehaviour::healthy(p99)
    };
    simulator.upload_version(script, sim.canary.clone(), behaviour);
    runtime.block_on(
        simulator.create_deployment(script, &DeploymentRequest::from_split(&sim.split)),
    )?;
    Ok(simulator)
}

/// The platform a canary command acts on, and the metrics its ticks are judged on.
struct Platform {
    script: String,
    api: Arc<dyn WorkersApi>,
    metrics: Arc<dyn CanaryMetrics>,
}

/// The Cloudflare API token from the environment, as a secret (never printed).
fn token() -> Result<SecretString, CliError> {
    match std::env::var(TOKEN_ENV) {
        Ok(token) if !token.trim().is_empty() => Ok(SecretString::from(token)),
        _ => Err(CliError::Flag {
            flag: "--account-id",
            reason: format!(
                "{TOKEN_ENV} is not set: export a Cloudflare API token (Workers Scripts: Edit; Account Analytics: Read for ticks)"
            ),
        }),
    }
}

/// The real Cloudflare platform of `--account-id`: the Workers API and its GraphQL analytics.
fn cloudflare(args: &PlatformArgs, account_id: &str) -> Result<Platform, CliError> {
    let script = args.script.clone().ok_or(CliError::Flag {
        flag: "--script",
        reason: "required with --account-id (the Worker to canary)".to_owned(),
    })?;
    let token = token()?;
    let api = WorkersClient::new(&args.api_base, account_id, token.clone())?;
    let endpoint = format!("{}/graphql", args.api_base.trim_end_matches('/'));
    let metrics = WorkersAnalytics::new(&endpoint, account_id, token)?;
    Ok(Platform {
        script,
        api: Arc::new(api),
        metrics: Arc::new(metrics),
    })
}

/// The simulated Worker of a canary: its versions and the split it serves.
#[derive(Clone)]
struct Simulated {
    stable: VersionId,
    canary: VersionId,
    split: TrafficSplit,
}

/// What a simulated platform needs from the state file, read in one opening of it.
struct Recorded {
    /// The Worker as the last canary leaves it: its versions, and the split of a pending
    /// change if one is recorded, else the state's (`None` for a new file or no canary).
    simulated: Option<Simulated>,
    /// The deployments the controller journaled (0 for a new file).
    deployments: u64,
    /// The Worker script the last canary was started on, when the file records it.
    script: Option<String>,
}

/// What the state file at `path` records for the simulator (nothing when it does not exist).
fn recorded(path: &Path) -> Result<Recorded, CliError> {
    if !path.exists() {
        return Ok(Recorded {
            simulated: None,
            deployments: 0,
            script: None,
        });
    }
    let file = StateFile::open(path)?;
    let status = file.status()?;
    let count = file
        .journal()?
        .iter()
        .filter(|entry| entry.kind == JOURNAL_DEPLOYMENT_CREATED)
        .count();
    Ok(Recorded {
        simulated: status.state.map(|state: CanaryState| Simulated {
            stable: state.stable().clone(),
            canary: state.canary().clone(),
            split: status.pending.unwrap_or_else(|| state.traffic()),
        }),
        deployments: u64::try_from(count).unwrap_or(u64::MAX),
        script: status.script,
    })
}

/// The simulated platform: the simulator serving `sim` after `deployments` recorded ones,
/// judged on seeded simulated traffic. The Worker is `--script`, else the one the state file
/// records, else `demo-worker`; a `--script` other than the recorded one is refused by the
/// controller.
fn simulated_platform(
    runtime: &Runtime,
    args: &PlatformArgs,
    sim: &Simulated,
    recorded: &Recorded,
    seed: u64,
) -> Result<Platform, CliError> {
    let script = args
        .script
        .clone()
        .or_else(|| recorded.script.clone())
        .unwrap_or_else(|| SIMULATED_SCRIPT.to_owned());
    let simulator = simulator(runtime, &script, sim, args.bad, recorded.deployments)?;
    let metrics = SimulatedMetrics::new(simulator.clone(), SIMULATED_REQUESTS, seed);
    Ok(Platform {
        script,
        api: Arc::new(simulator),
        metrics: Arc::new(metrics),
    })
}

/// The enforcement mode of a canary started with or without `--shadow`.
fn enforcement_mode(shadow: bool) -> EnforcementMode {
    if shadow {
        EnforcementMode::Shadow
    } else {
        EnforcementMode::Enforce
    }
}

/// Opens the controller for `platform` on the state file.
fn open_controller(
    path: &Path,
    platform: &Platform,
    environment: &str,
) -> Result<CanaryController, CliError> {
    Ok(CanaryController::open(
        path,
        ControllerSettings::new(platform.script.clone(), environment)
            .with_holder(format!("parky-cli-{}", std::process::id())),
        platform.api.clone(),
        platform.metrics.clone(),
        Arc::new(SloJudge::default()),
    )?)
}

fn opt_time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(|| "-".to_owned(), render::time)
}

/// `parky deploy autorollback report`.
pub(crate) fn autorollback_report(
    args: &AutorollbackReportArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let ledger = open_read_only(&args.state)?.status()?.ledger;
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
    let none = format!("no decisions recorded in {}", args.state.display());
    if report.environments.is_empty() {
        writeln!(out, "{none}")?;
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
    if made.is_empty() {
        writeln!(out, "{none}")?;
        return Ok(());
    }
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
    // Refuse a file that is not a state file before opening it read-write.
    StateFile::open(&args.state)?;
    // Marking never calls the platform: an empty simulator stands in for it.
    let simulator = WorkersSimulator::new();
    let platform = Platform {
        script: SIMULATED_SCRIPT.to_owned(),
        api: Arc::new(simulator.clone()),
        metrics: Arc::new(SimulatedMetrics::new(simulator, SIMULATED_REQUESTS, 0)),
    };
    let controller = open_controller(&args.state, &platform, SIMULATED_ENVIRONMENT)?;
    let now = args.now.unwrap_or_else(|| SystemClock.now());
    let outcome = crate::runtime()?.block_on(controller.mark_false_positive(
        now,
        DecisionId(args.id),
        &args.note,
    ))?;
    match outcome {
        MarkOutcome::Marked => writeln!(out, "decision {} marked as a false positive", args.id)?,
        MarkOutcome::AlreadyMarked(first) => {
            write!(
                out,
                "decision {} was already marked as a false positive at {}",
                args.id,
                render::time(first.marked_at)
            )?;
            if !first.note.is_empty() {
                write!(out, " ({})", first.note)?;
            }
            writeln!(out, "; the first mark is kept, nothing changed")?;
        }
    }
    Ok(())
}

/// `parky canary status`: read-only.
pub(crate) fn canary_status(args: &CanaryStatusArgs, out: &mut impl Write) -> Result<(), CliError> {
    let status = open_read_only(&args.state)?.status()?;
    writeln!(out, "state file: {}", args.state.display())?;
    match &status.state {
        None => writeln!(out, "canary: none")?,
        Some(state) => {
            writeln!(out, "phase: {}", state.phase())?;
            writeln!(out, "weight: {}%", state.weight())?;
            writeln!(out, "stable: {}", state.stable())?;
            writeln!(out, "canary: {}", state.canary())?;
            writeln!(out, "traffic: {}", state.traffic())?;
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
            if let Some(event) = state.history().last() {
                writeln!(
                    out,
                    "last event: {} at {}",
                    event.kind,
                    render::time(event.at)
                )?;
            }
        }
    }
    let last_slot = status.last_slot.map_or_else(
        || "none".to_owned(),
        |slot| {
            let interval_ms = i64::try_from(DEFAULT_INTERVAL.as_millis()).unwrap_or(i64::MAX);
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
        writeln!(out, "pending traffic change: {}", pending)?;
    }
    writeln!(
        out,
        "rollback decisions: {}",
        status.ledger.decisions().len()
    )?;
    Ok(())
}

/// The lines under a tick's or a command's headline.
fn report_lines(report: &Report, out: &mut impl Write) -> Result<(), CliError> {
    match &report.recovery {
        Some(Recovery::Adopted { split, planned_at }) => writeln!(
            out,
            "  recovered: adopted {} (planned at {} by a run that died)",
            split,
            render::time(*planned_at)
        )?,
        Some(Recovery::Discarded { split, planned_at }) => writeln!(
            out,
            "  recovered: discarded {} (planned at {}, never applied)",
            split,
            render::time(*planned_at)
        )?,
        None => {}
    }
    for action in &report.actions {
        writeln!(out, "  {}", action)?;
    }
    for id in &report.deployments {
        writeln!(out, "  deployment {id} created")?;
    }
    for id in &report.decisions {
        writeln!(out, "  auto-rollback decision {id} recorded")?;
    }
    if report.actions.is_empty() && report.recovery.is_none() {
        writeln!(out, "  no change")?;
    }
    Ok(())
}

/// A report as JSON.
fn report_json(report: &Report) -> serde_json::Value {
    let recovery = report.recovery.as_ref().map(|r| match r {
        Recovery::Adopted { split, planned_at } => {
            json!({"kind": "adopted", "traffic": split, "planned_at": planned_at})
        }
        Recovery::Discarded { split, planned_at } => {
            json!({"kind": "discarded", "traffic": split, "planned_at": planned_at})
        }
    });
    json!({
        "phase": report.phase.to_string(),
        "weight": report.weight,
        "traffic": report.traffic,
        "recovery": recovery,
        "actions": report.actions,
        "deployments": report.deployments,
        "decisions": report.decisions.iter().map(|d| d.0).collect::<Vec<_>>(),
    })
}

fn write_json(out: &mut impl Write, value: &serde_json::Value) -> Result<(), CliError> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// The platform of a command on an existing canary: the simulator rebuilt from the state
/// file, or Cloudflare.
fn platform_for_state(
    runtime: &Runtime,
    args: &PlatformArgs,
    state: &Path,
    seed: u64,
) -> Result<Platform, CliError> {
    match &args.account_id {
        Some(account_id) => cloudflare(args, account_id),
        None => {
            let recorded = recorded(state)?;
            let sim = recorded
                .simulated
                .as_ref()
                .ok_or_else(|| DeployError::NoCanary {
                    path: state.display().to_string(),
                })?;
            simulated_platform(runtime, args, sim, &recorded, seed)
        }
    }
}

/// `parky canary tick`: one tick, as `examples/canary_cron.rs` does.
pub(crate) fn canary_tick(args: &CanaryTickArgs, out: &mut impl Write) -> Result<(), CliError> {
    let now = args.now.unwrap_or_else(|| SystemClock.now());
    let seed = now.timestamp().unsigned_abs();
    let runtime = crate::runtime()?;
    let mut started = None;
    let platform = match &args.platform.account_id {
        Some(account_id) => cloudflare(&args.platform, account_id)?,
        None => {
            let recorded = recorded(&args.state)?;
            let sim = match &recorded.simulated {
                Some(sim) => sim.clone(),
                None => {
                    // A new simulated canary: v2 against v1.
                    started = Some(enforcement_mode(args.shadow));
                    Simulated {
                        stable: VersionId::from("v1"),
                        canary: VersionId::from("v2"),
                        split: TrafficSplit::all_on(VersionId::from("v1")),
                    }
                }
            };
            simulated_platform(&runtime, &args.platform, &sim, &recorded, seed)?
        }
    };
    let controller = open_controller(&args.state, &platform, &args.platform.environment)?;
    if let Some(mode) = started {
        let plan = CanaryPlan::default().with_mode(mode);
        runtime.block_on(controller.start(now, &plan, VersionId::from("v2")))?;
        if args.output == DemoOutput::Text {
            writeln!(out, "started canary v2 against v1 ({mode} mode)")?;
        }
    }
    let outcome = runtime.block_on(controller.tick(now))?;
    if args.output == DemoOutput::Json {
        let value = match &outcome {
            TickOutcome::Skipped(reason) => {
                let reason = match reason {
                    SkipReason::Busy { holder, until } => {
                        json!({"skipped": "busy", "holder": holder, "until": until})
                    }
                    SkipReason::AlreadyTicked { slot } => {
                        json!({"skipped": "already_ticked", "slot": slot})
                    }
                    SkipReason::NoCanary => json!({"skipped": "no_canary"}),
                };
                json!({"at": now, "started": started.map(|m| m.to_string()), "tick": reason})
            }
            TickOutcome::Ticked(report) => json!({
                "at": now,
                "started": started.map(|m| m.to_string()),
                "tick": report_json(report),
            }),
        };
        return write_json(out, &value);
    }
    match outcome {
        TickOutcome::Skipped(SkipReason::Busy { holder, until }) => writeln!(
            out,
            "skipped: busy (controller {holder} holds the lease until {})",
            render::time(until)
        )?,
        TickOutcome::Skipped(SkipReason::AlreadyTicked { slot }) => {
            writeln!(out, "skipped: already ticked in slot {slot}")?;
        }
        TickOutcome::Skipped(SkipReason::NoCanary) => {
            writeln!(
                out,
                "skipped: no canary (start one with `parky canary start`)"
            )?;
        }
        TickOutcome::Ticked(report) => {
            writeln!(
                out,
                "ticked at {}: {} at {}% ({})",
                render::time(now),
                report.phase,
                report.weight,
                report.traffic
            )?;
            report_lines(&report, out)?;
        }
    }
    Ok(())
}

/// `parky canary start`.
pub(crate) fn canary_start(args: &CanaryStartArgs, out: &mut impl Write) -> Result<(), CliError> {
    let now = args.now.unwrap_or_else(|| SystemClock.now());
    let canary = VersionId::from(args.canary.as_str());
    let runtime = crate::runtime()?;
    let platform = match &args.platform.account_id {
        Some(account_id) => cloudflare(&args.platform, account_id)?,
        None => {
            let recorded = recorded(&args.state)?;
            let split = match &recorded.simulated {
                // A finished canary left the platform on `split`; the new one starts there.
                Some(previous) => {
                    if let Some(stable) = &args.stable {
                        if previous.split != TrafficSplit::all_on(VersionId::from(stable.as_str()))
                        {
                            return Err(CliError::Flag {
                                flag: "--stable",
                                reason: format!(
                                    "the simulated Worker in {} serves {}",
                                    args.state.display(),
                                    previous.split
                                ),
                            });
                        }
                    }
                    previous.split.clone()
                }
                None => {
                    TrafficSplit::all_on(VersionId::from(args.stable.as_deref().unwrap_or("v1")))
                }
            };
            let sim = Simulated {
                stable: split.stable.clone(),
                canary: canary.clone(),
                split,
            };
            simulated_platform(&runtime, &args.platform, &sim, &recorded, 0)?
        }
    };
    let mode = enforcement_mode(args.shadow);
    let controller = open_controller(&args.state, &platform, &args.platform.environment)?;
    let plan = CanaryPlan::default().with_mode(mode);
    runtime.block_on(controller.start(now, &plan, canary.clone()))?;
    let status = controller.status()?;
    let stable = status
        .state
        .as_ref()
        .map_or_else(String::new, |s| s.stable().to_string());
    if args.output == DemoOutput::Json {
        return write_json(
            out,
            &json!({
                "command": "start",
                "at": now,
                "script": platform.script,
                "stable": stable,
                "canary": canary,
                "mode": mode.to_string(),
                "steps": plan.steps(),
                "phase": status.state.as_ref().map(|s| s.phase().to_string()),
            }),
        );
    }
    writeln!(
        out,
        "started canary {canary} against {stable} on {} at {} ({mode} mode)",
        platform.script,
        render::time(now)
    )?;
    writeln!(
        out,
        "  steps {:?}, bake {} each; the next tick puts {}% on {canary}",
        plan.steps(),
        humantime::format_duration(plan.bake_time()),
        plan.steps().first().copied().unwrap_or(0)
    )?;
    Ok(())
}

fn command_name(command: Command) -> &'static str {
    match command {
        Command::PromoteStep => "promote",
        Command::PromoteFull => "promote --full",
        Command::Pause => "pause",
        Command::Resume => "resume",
        Command::Abort => "abort",
        Command::Retry => "retry",
    }
}

/// `parky canary promote|pause|resume|abort`.
pub(crate) fn canary_command(
    args: &CanaryCommandArgs,
    command: Command,
    out: &mut impl Write,
) -> Result<(), CliError> {
    require_state(&args.state)?;
    let now = args.now.unwrap_or_else(|| SystemClock.now());
    let runtime = crate::runtime()?;
    let platform = platform_for_state(&runtime, &args.platform, &args.state, 0)?;
    let controller = open_controller(&args.state, &platform, &args.platform.environment)?;
    let before = controller.status()?.state;
    let report = runtime.block_on(controller.command(now, command))?;
    let name = command_name(command);
    if args.output == DemoOutput::Json {
        let mut value = report_json(&report);
        value["command"] = json!(name);
        value["at"] = json!(now);
        value["before"] = json!(before.as_ref().map(|s| json!({
            "phase": s.phase().to_string(),
            "weight": s.weight(),
        })));
        return write_json(out, &value);
    }
    let was = before.as_ref().map_or_else(
        || "-".to_owned(),
        |s| format!("{} at {}%", s.phase(), s.weight()),
    );
    writeln!(
        out,
        "{name}: {was} -> {} at {}% ({})",
        report.phase, report.weight, report.traffic
    )?;
    report_lines(&report, out)?;
    Ok(())
}

/// `parky deploy run`.
pub(crate) fn run(args: &DeployRunArgs, out: &mut impl Write) -> Result<(), CliError> {
    let plan = read_plan(&args.plan)?;
    if args.dry_run {
        writeln!(out, "{}", plan.dry_run())?;
        workdir_line(&args.plan, out)?;
        secrets_lines(&plan, out)?;
        writeln!(out, "dry run: nothing was run")?;
        return Ok(());
    }
    let base = plan_dir(&args.plan);
    let executor = Executor::new(
        Arc::new(CommandDeployer::new(base).redacting_secrets_of(&plan)),
        Arc::new(HttpProber::new()?),
        Arc::new(TokioSleeper),
        Arc::new(SystemClock),
    );
    let report = crate::runtime()?.block_on(executor.run(&plan, &EnvSecrets))?;
    writeln!(out, "{report}")?;
    report.into_result()?;
    Ok(())
}

/// `parky deploy rollback`.
pub(crate) fn rollback(args: &DeployRollbackArgs, out: &mut impl Write) -> Result<(), CliError> {
    if let (Some(path), Some(name)) = (&args.plan, &args.service) {
        let plan = read_plan(path)?;
        let service = plan.service(name).ok_or_else(|| CliError::Flag {
            flag: "--service",
            reason: format!("{}: no service {name:?} in the plan", path.display()),
        })?;
        let Some(step) = &service.rollback else {
            return Err(CliError::Flag {
                flag: "--service",
                reason: format!(
                    "{}: services.{name}.rollback is not set: the plan has no rollback command for it",
                    path.display()
                ),
            });
        };
        let command = shell_join(&step.command);
        let workdir = step
            .workdir
            .as_deref()
            .map_or_else(String::new, |dir| format!(" (in {})", shell_quote(dir)));
        if args.dry_run {
            writeln!(out, "would run: {command}{workdir}")?;
            workdir_line(path, out)?;
            return Ok(());
        }
        let deployer = CommandDeployer::new(plan_dir(path)).redacting_secrets_of(&plan);
        crate::runtime()?.block_on(deployer.rollback(service))?;
        writeln!(
            out,
            "rolled back service {name}: {command}{workdir} succeeded"
        )?;
        return Ok(());
    }
    let script = args.script.clone().ok_or(CliError::Flag {
        flag: "--script",
        reason: "give --script (a Worker) or --plan and --service".to_owned(),
    })?;
    let options = RollbackOptions {
        version: args.to.as_deref().map(VersionId::from),
        message: args.message.clone(),
        force: args.force,
    };
    let runtime = crate::runtime()?;
    let api: Arc<dyn WorkersApi> = match (&args.account_id, args.simulate) {
        (Some(account_id), false) => {
            Arc::new(WorkersClient::new(&args.api_base, account_id, token()?)?)
        }
        (None, true) => {
            let simulator = WorkersSimulator::new();
            for version in &args.simulated_history {
                let version = VersionId::from(version.trim());
                simulator.upload_version(
                    &script,
                    version.clone(),
                    VersionBehaviour::healthy(Duration::from_millis(120)),
                );
                runtime.block_on(
                    simulator.create_deployment(&script, &DeploymentRequest::all_on(version)),
                )?;
            }
            Arc::new(simulator)
        }
        // Refused by the flags already (`--script` requires one of them, and they conflict).
        _ => {
            return Err(CliError::Flag {
                flag: "--script",
                reason: "one of --simulate or --account-id is required with --script".to_owned(),
            })
        }
    };
    let before = runtime.block_on(api.current_split(&script))?;
    let outcome = runtime.block_on(workers_rollback(api.as_ref(), &script, &options))?;
    writeln!(
        out,
        "rolled back Worker {script}: {} -> 100% {}",
        before, outcome.version
    )?;
    match &outcome.from_deployment {
        Some(from) => writeln!(
            out,
            "  target: the newest earlier deployment that ran one version at 100% ({from})"
        )?,
        None => writeln!(out, "  target: --to {}", outcome.version)?,
    }
    writeln!(
        out,
        "  deployment {} created ({})",
        outcome.deployment.id,
        outcome
            .deployment
            .message
            .as_deref()
            .unwrap_or("no message")
    )?;
    Ok(())
}

fn read_plan(path: &Path) -> Result<DeployPlan, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    DeployPlan::from_yaml(&text).map_err(|err| CliError::Flag {
        flag: "--plan",
        reason: format!("{}: {err}", path.display()),
    })
}

/// The one rule for showing where a plan's commands run: `(in <workdir>)` exactly as the
/// plan writes it, relative to the plan file's directory, which this line names (commands
/// without a `workdir` run in that directory).
fn workdir_line(plan: &Path, out: &mut impl Write) -> Result<(), CliError> {
    let dir = plan_dir(plan);
    writeln!(
        out,
        "workdirs are relative to the plan file's directory: {}",
        shell_quote(&dir.to_string_lossy())
    )?;
    Ok(())
}

/// The plan file's directory (`workdir`s are relative to it).
fn plan_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The secret check, as lines (missing secrets are listed, not fatal).
fn secrets_lines(plan: &DeployPlan, out: &mut impl Write) -> Result<(), CliError> {
    match check_secrets(plan, &EnvSecrets) {
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
