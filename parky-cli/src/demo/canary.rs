//! Stage 3 of the demo: a canary of a new Worker version on the in-memory Workers simulator,
//! judged every 5 minutes with parky-slo's rollback rule, rolled back when it burns the error
//! budget faster than the stable version.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parky_core::ManualClock;
use parky_deploy::model::VersionId;
use parky_deploy::policy::canary::{Action, CanaryConfig, CanaryPlan, CanaryState, Check, Phase};
use parky_deploy::policy::judge::{CanaryJudge, SloJudge, Verdict};
use parky_deploy::workers::{DeploymentRequest, VersionBehaviour, WorkersApi, WorkersSimulator};
use parky_slo::policy::rollback::TrafficSample;
use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;
use serde::Serialize;

use crate::error::CliError;

const SCRIPT: &str = "shop-api";
/// Requests per 5-minute window (about 667 a second).
const WINDOW_REQUESTS: u64 = 200_000;
const TICK: Duration = Duration::from_secs(300);

/// One cron tick of the canary.
#[derive(Debug, Serialize)]
pub(crate) struct CanaryTick {
    /// When the tick ran.
    pub(crate) at: DateTime<Utc>,
    /// The canary's traffic share when the tick ran.
    pub(crate) weight: u8,
    /// What the canary served in the last window (absent before any traffic).
    pub(crate) canary: Option<TrafficSample>,
    /// What the stable version served.
    pub(crate) baseline: Option<TrafficSample>,
    /// The judge's verdict, in words.
    pub(crate) verdict: String,
    /// The phase after the tick.
    pub(crate) phase: String,
    /// The Workers API calls the tick made.
    pub(crate) api_calls: Vec<String>,
}

/// What stage 3 did.
#[derive(Debug, Serialize)]
pub(crate) struct CanaryStage {
    /// The stable and the canary version.
    pub(crate) stable: String,
    /// The new version.
    pub(crate) canary: String,
    /// Every tick.
    pub(crate) ticks: Vec<CanaryTick>,
    /// Where it ended.
    pub(crate) outcome: String,
    /// The deployments the simulator saw, oldest first: (time, split).
    pub(crate) deployments: Vec<(DateTime<Utc>, String)>,
}

fn describe(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Pass => "pass".to_owned(),
        Verdict::Fail { reasons } => format!("FAIL: {}", reasons.join("; ")),
        Verdict::Inconclusive { reason } => format!("inconclusive: {reason}"),
    }
}

fn split_text(request: &DeploymentRequest) -> String {
    request
        .versions
        .iter()
        .map(|(v, p)| format!("{v} {p} %"))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// Runs the canary from `start` with `seed`.
pub(crate) fn canary_stage(start: DateTime<Utc>, seed: u64) -> Result<CanaryStage, CliError> {
    let clock = Arc::new(ManualClock::new(start));
    let sim = WorkersSimulator::new().with_clock(clock.clone());
    let (v1, v2) = (VersionId::from("v41"), VersionId::from("v42"));
    // The stable version fails 0.05 % of requests (half the 99.9 % budget rate); v42 is as
    // good at 1 % of the traffic, but its database pool is sized too small: from 10 % on it
    // answers 2 % of its requests with 503.
    sim.upload_version(
        SCRIPT,
        v1.clone(),
        VersionBehaviour::new(0.0005, Duration::from_millis(180))?,
    );
    sim.upload_version(
        SCRIPT,
        v2.clone(),
        VersionBehaviour::new(0.0005, Duration::from_millis(190))?,
    );
    let runtime = crate::runtime()?;
    runtime.block_on(sim.create_deployment(
        SCRIPT,
        &DeploymentRequest::all_on(v1.clone()).with_message("v41 at 100 %"),
    ))?;

    let plan = CanaryPlan::try_from(CanaryConfig {
        failure_threshold: 2,
        ..CanaryConfig::default()
    })?;
    let judge = SloJudge::default();
    let mut state = CanaryState::new(v1.clone(), v2.clone(), start)?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut ticks = Vec::new();
    let mut canary_requests_in_step = 0;
    for n in 0..12 {
        let now = start + chrono::Duration::seconds(300 * n);
        clock.set(now);
        let weight = state.weight();
        let (check, canary, baseline) = if weight == 0 {
            (
                Check::new(Verdict::inconclusive("no canary traffic"), 0),
                None,
                None,
            )
        } else {
            let window = sim.simulate_window(SCRIPT, WINDOW_REQUESTS, &mut rng)?;
            let canary = window.canary.map(|c| c.sample);
            let baseline = window.stable.sample;
            let verdict = match &canary {
                Some(c) => judge.judge(c, &baseline),
                None => Verdict::inconclusive("no canary in the deployment"),
            };
            canary_requests_in_step += canary.as_ref().map_or(0, |c| c.requests);
            (
                Check::new(verdict, canary_requests_in_step),
                canary,
                Some(baseline),
            )
        };
        let verdict = describe(&check.verdict);
        let before_step = state.weight();
        let (next, actions) = plan.tick(state, now, &check);
        state = next;
        if state.weight() != before_step {
            canary_requests_in_step = 0;
        }
        let mut api_calls = Vec::new();
        for action in actions {
            let request = match action {
                Action::SetTraffic(split) => DeploymentRequest::from_split(&split),
                Action::Promote(version) => DeploymentRequest::all_on(version),
                Action::Rollback { to } => DeploymentRequest::all_on(to),
                Action::Record(_) => continue,
            };
            let text = split_text(&request);
            let deployment = runtime.block_on(sim.create_deployment(SCRIPT, &request))?;
            api_calls.push(format!("POST deployments {text} -> {}", deployment.id));
        }
        // The regression shows once v42 takes 10 % of the traffic.
        if state.weight() >= 10 && state.phase() == Phase::Progressing {
            sim.set_behaviour(
                SCRIPT,
                &v2,
                VersionBehaviour::new(0.02, Duration::from_millis(190))?,
            )?;
        }
        ticks.push(CanaryTick {
            at: now,
            weight,
            canary,
            baseline,
            verdict,
            phase: state.phase().to_string(),
            api_calls,
        });
        if state.phase().is_terminal() {
            break;
        }
    }
    let deployments = sim
        .history(SCRIPT)
        .iter()
        .map(|d| {
            let split = d
                .versions
                .iter()
                .map(|v| format!("{} {} %", v.version_id, v.percentage))
                .collect::<Vec<_>>()
                .join(" + ");
            (d.created_on, split)
        })
        .collect();
    Ok(CanaryStage {
        stable: v1.to_string(),
        canary: v2.to_string(),
        outcome: state.phase().to_string(),
        ticks,
        deployments,
    })
}

/// Burn rate of a sample against the judge's 99.9 % objective, for display.
pub(crate) fn burn(sample: &TrafficSample) -> f64 {
    let target = SloJudge::default().policy().config().objective;
    let budget = parky_slo::objective::allowed_bad_ratio_of(target);
    if sample.requests == 0 || budget <= 0.0 {
        return 0.0;
    }
    sample.errors as f64 / sample.requests as f64 / budget
}

/// The tick period, for display.
pub(crate) fn tick_minutes() -> u64 {
    TICK.as_secs() / 60
}
