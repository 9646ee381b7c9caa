//! `parky demo`: the ops cycle told end to end on a seeded, simulated service, with no network
//! and no account. Each stage is one crate at work; later crates add their stage here.
//!
//! Stage 1 (parky-slo): a week of traffic with a fast incident and a slow burn streams into the
//! burn-rate evaluator, which pages on the first and opens a ticket for the second.

mod canary;
mod dora;
mod notify;
mod traffic;

use std::io::Write;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parky_slo::evaluator::{AlertPhase, AlertTransition, SloEvaluator, SloStatus};
use parky_slo::objective::{duration_label, Objective, THIRTY_DAYS};
use parky_slo::policy::alert::AlertPolicy;
use serde::Serialize;

use crate::args::{DemoArgs, DemoOutput};
use crate::error::CliError;
use crate::render;
use crate::slo::timeline_table;
use traffic::{Incident, Scenario};

/// Monday 5 October 2026, 00:00 UTC: the start of the simulated 30 days.
const START_MS: i64 = 1_791_158_400_000;
const DAY_MINUTES: i64 = 1_440;

/// Thirty simulated days, one whole SLO period: ~432,000 requests a day, 0.02 % errors at rest
/// (a fifth of a 99.9 % budget), then in the fourth week a fast incident on Tuesday 27 October
/// and a slow burn from Thursday 29 to Saturday 31 October.
pub(crate) fn scenario() -> Scenario {
    Scenario {
        start_ms: START_MS,
        minutes: 30 * DAY_MINUTES,
        mean_requests_per_minute: 300.0,
        baseline_error_ratio: 0.0002,
        incidents: vec![
            Incident {
                name: "fast incident: 15 % errors for 10 minutes",
                start_minute: 22 * DAY_MINUTES + 14 * 60,
                minutes: 10,
                error_ratio: 0.15,
            },
            Incident {
                name: "slow burn: 0.2 % errors (2x the budget rate) for 2 days",
                start_minute: 24 * DAY_MINUTES,
                minutes: 2 * DAY_MINUTES,
                error_ratio: 0.002,
            },
        ],
    }
}

/// What the SLO stage found.
#[derive(Debug, Serialize)]
pub(crate) struct SloStage {
    /// The scripted incidents, with their start and end.
    pub(crate) incidents: Vec<IncidentSummary>,
    /// The SLO at the end of the 30 days.
    pub(crate) status: SloStatus,
    /// Alerts that fired and resolved.
    pub(crate) timeline: Vec<AlertTransition>,
}

/// One scripted incident.
#[derive(Debug, Serialize)]
pub(crate) struct IncidentSummary {
    /// What happened.
    pub(crate) name: &'static str,
    /// When it started.
    pub(crate) start: DateTime<Utc>,
    /// When it ended.
    pub(crate) end: DateTime<Utc>,
}

/// The whole demo, as printed with `--output json`.
#[derive(Debug, Serialize)]
pub(crate) struct Demo {
    /// The seed of the simulated traffic.
    pub(crate) seed: u64,
    /// Stage 1: error budget and burn-rate alerts.
    pub(crate) slo: SloStage,
    /// Stage 2: the alerts routed by severity and delivered.
    pub(crate) notify: notify::NotifyStage,
    /// Stage 3: a canary rolled back on its error burn rate.
    pub(crate) canary: canary::CanaryStage,
    /// Stage 4: the month's deployments and the rollback in the four DORA keys.
    pub(crate) dora: dora::DoraStage,
}

fn minute_time(scenario: &Scenario, minute: i64) -> DateTime<Utc> {
    let ms = scenario.start_ms + minute * 60_000;
    // The scenario's times are fixed dates in 2026, well inside chrono's range.
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Runs stage 1 on `scenario` with `seed`.
pub(crate) fn slo_stage(scenario: &Scenario, seed: u64) -> Result<SloStage, CliError> {
    let objective = Objective::new(0.999, THIRTY_DAYS)?;
    let policy = AlertPolicy::workbook(objective)?;
    let mut evaluator = SloEvaluator::new(policy, Duration::from_secs(60))?;
    for event in scenario.requests(seed) {
        evaluator.record_event(&event);
    }
    let status = evaluator.status(scenario.start_ms + scenario.minutes * 60_000);
    let incidents = scenario
        .incidents
        .iter()
        .map(|i| IncidentSummary {
            name: i.name,
            start: minute_time(scenario, i.start_minute),
            end: minute_time(scenario, i.start_minute + i.minutes),
        })
        .collect();
    Ok(SloStage {
        incidents,
        status,
        timeline: evaluator.take_timeline(),
    })
}

/// The first page of the timeline: when it fired and, if it did, when it resolved.
fn first_page(timeline: &[AlertTransition]) -> Option<(DateTime<Utc>, Option<DateTime<Utc>>)> {
    let page = |t: &&AlertTransition, phase: AlertPhase| {
        t.severity == parky_slo::policy::alert::Severity::Page && t.state == phase
    };
    let fired = timeline.iter().find(|t| page(t, AlertPhase::Firing))?;
    let resolved = timeline
        .iter()
        .find(|t| t.at_ms >= fired.at_ms && page(t, AlertPhase::Resolved))
        .and_then(|t| DateTime::from_timestamp_millis(t.at_ms));
    Some((DateTime::from_timestamp_millis(fired.at_ms)?, resolved))
}

/// Runs every stage; the file receivers write into `out_dir`.
pub(crate) fn build(seed: u64, out_dir: &std::path::Path) -> Result<Demo, CliError> {
    let scenario = scenario();
    let slo = slo_stage(&scenario, seed)?;
    let end = minute_time(&scenario, scenario.minutes);
    let notify = notify::notify_stage(&slo.timeline, end, out_dir)?;
    // The next deploy, the Wednesday morning after the simulated month.
    let canary = canary::canary_stage(end + chrono::Duration::hours(9), seed)?;
    let dora = dora::dora_stage(first_page(&slo.timeline), &canary, seed, out_dir)?;
    Ok(Demo {
        seed,
        slo,
        notify,
        canary,
        dora,
    })
}

/// `parky demo`.
pub(crate) fn run(args: &DemoArgs, out: &mut impl Write) -> Result<(), CliError> {
    let out_dir = args
        .out_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("parky-demo"));
    let demo = build(args.seed, &out_dir)?;
    match args.output {
        DemoOutput::Json => {
            serde_json::to_writer_pretty(&mut *out, &demo)?;
            writeln!(out)?;
        }
        DemoOutput::Text => out.write_all(text(&demo).as_bytes())?,
    }
    Ok(())
}

fn text(demo: &Demo) -> String {
    let slo = &demo.slo;
    let s = &slo.status;
    let mut out = format!(
        "parky demo: 30 simulated days of a web service (seed {}, no network, no account)\n\n",
        demo.seed
    );
    out.push_str(&format!(
        "1. SLO {} over {}: multi-window, multi-burn-rate alerts (SRE workbook)\n",
        render::percent(s.objective.target(), 1),
        duration_label(s.objective.period())
    ));
    for i in &slo.incidents {
        out.push_str(&format!(
            "   incident  {} -> {}  {}\n",
            render::time(i.start),
            render::time(i.end),
            i.name
        ));
    }
    out.push_str(&format!(
        "   traffic   {} requests, {} bad, SLI {}\n",
        render::count(s.requests),
        render::count(s.bad),
        s.sli
            .map_or_else(|| "-".to_owned(), |v| render::percent(v, 3))
    ));
    out.push_str("   alerts\n");
    out.push_str(&timeline_table(&slo.timeline).text("     "));
    out.push_str(&format!(
        "   budget    {} of the {} error budget spent, {} left\n",
        render::percent(s.budget_consumed, 1),
        duration_label(s.objective.period()),
        render::percent(s.budget_remaining, 1)
    ));

    let n = &demo.notify;
    out.push_str(
        "\n2. Alerts routed by severity: Alertmanager-style routing, P0-P3 strategy \
         (page -> P0 @here, ticket -> P2 in Tokyo working hours), durable outbox\n",
    );
    let mut table = render::Table::new(&[
        "released", "in Tokyo", "receiver", "severity", "status", "title",
    ]);
    for m in &n.sent {
        let mut title = m.title.clone();
        if !m.mentions.is_empty() {
            title = format!("{} {title}", m.mentions.join(" "));
        }
        table.row(vec![
            render::time(m.at),
            m.at.with_timezone(&chrono_tz::Asia::Tokyo)
                .format("%a %H:%M")
                .to_string(),
            m.receiver.clone(),
            m.severity.to_string(),
            match m.status {
                parky_notify::MessageStatus::Firing => "firing".to_owned(),
                parky_notify::MessageStatus::Resolved => "resolved".to_owned(),
            },
            title,
        ]);
    }
    out.push_str(&table.text("     "));
    out.push_str(&format!(
        "   outbox    {} delivered, {} pending -> {}\n",
        n.delivered,
        n.pending,
        n.file.display()
    ));

    let c = &demo.canary;
    out.push_str(&format!(
        "\n3. Canary {} -> {} on the Workers simulator (steps 1/10/50/100 %, judged every {} min: \
         error burn >= 3x or p99 >= 2x the stable version fails a check; 2 failed checks roll back)\n",
        c.stable,
        c.canary,
        canary::tick_minutes()
    ));
    let mut table = render::Table::new(&[
        "tick",
        "canary %",
        "canary req / 5xx / burn",
        "stable burn",
        "verdict",
        "phase",
        "API calls",
    ]);
    for t in &c.ticks {
        table.row(vec![
            render::time(t.at),
            t.weight.to_string(),
            t.canary.as_ref().map_or("-".to_owned(), |s| {
                format!(
                    "{} / {} / {:.1}",
                    render::count(s.requests),
                    render::count(s.errors),
                    canary::burn(s)
                )
            }),
            t.baseline
                .as_ref()
                .map_or("-".to_owned(), |s| format!("{:.1}", canary::burn(s))),
            t.verdict.clone(),
            t.phase.clone(),
            t.api_calls.join("; "),
        ]);
    }
    out.push_str(&table.text("     "));
    out.push_str(&format!("   outcome   {}\n", c.outcome));

    let d = &demo.dora;
    out.push_str(&format!(
        "\n4. DORA four keys of {} releases, the canary and the page ({} deployments, {} \
         changes, {} incidents -> {})\n",
        "shop-api",
        d.history.deployments.len(),
        d.history.changes.len(),
        d.history.incidents.len(),
        d.history_file.display()
    ));
    for line in d.report.to_text().lines().skip(1) {
        if line.is_empty() {
            out.push('\n');
        } else {
            out.push_str(&format!("   {line}\n"));
        }
    }
    out
}
