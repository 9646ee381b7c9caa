//! Stage 4 (parky-dora): the month's releases, the page of stage 1 and the canary of stage 3
//! become a delivery history, and the four keys of those five Tokyo weeks are reported.

use chrono::{DateTime, Duration, TimeZone, Utc};
use parky_dora::model::{Change, DeliveryHistory, Deployment, DeploymentOutcome, Incident};
use parky_dora::policy::{parse_tz, KeysPolicy, Window};
use parky_dora::report::{DoraReport, ReportOptions};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use super::canary::CanaryStage;
use crate::error::CliError;

const SERVICE: &str = "shop-api";
const ENVIRONMENT: &str = "production";

/// The releases of the simulated month before the canary: Tuesdays and Thursdays at
/// 11:00 Tokyo time (02:00 UTC), v36 to v41, none in the week of the incident.
const RELEASES: [(&str, u32, u32); 6] = [
    ("v36", 10, 6),
    ("v37", 10, 8),
    ("v38", 10, 13),
    ("v39", 10, 15),
    ("v40", 10, 20),
    ("v41", 10, 22),
];

/// What stage 4 built and found.
#[derive(Debug, serde::Serialize)]
pub(crate) struct DoraStage {
    /// The delivery history the report was computed from (also written to the output
    /// directory for `parky dora report --history`).
    pub(crate) history: DeliveryHistory,
    /// The report.
    pub(crate) report: DoraReport,
    /// Where the history was written.
    pub(crate) history_file: std::path::PathBuf,
}

fn flag(reason: String) -> CliError {
    CliError::Flag {
        flag: "--seed",
        reason,
    }
}

/// Three to five commits per release, each committed 1 to 72 hours before it (seeded).
fn changes_before(at: DateTime<Utc>, release: &str, rng: &mut Xoshiro256PlusPlus) -> Vec<Change> {
    let n = rng.random_range(3..=5);
    (0..n)
        .map(|i| {
            let committed = at - Duration::minutes(rng.random_range(60..=72 * 60));
            Change {
                commit: format!("{release}-{i}"),
                authored_at: committed - Duration::minutes(rng.random_range(0..=240)),
                committed_at: committed,
                pull_request: None,
                merged_at: None,
            }
        })
        .collect()
}

/// Builds the history from the canary stage and the page of stage 1, and reports on the five
/// weeks from Monday 5 October 2026 00:00 Asia/Tokyo.
pub(crate) fn dora_stage(
    page: Option<(DateTime<Utc>, Option<DateTime<Utc>>)>,
    canary: &CanaryStage,
    seed: u64,
    out_dir: &std::path::Path,
) -> Result<DoraStage, CliError> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut history = DeliveryHistory::default();
    for (version, month, day) in RELEASES {
        let at = Utc
            .with_ymd_and_hms(2026, month, day, 2, 0, 0)
            .single()
            .ok_or_else(|| flag(format!("no such date 2026-{month}-{day}")))?;
        let changes = changes_before(at, version, &mut rng);
        history.deployments.push(Deployment {
            id: version.to_owned(),
            service: SERVICE.to_owned(),
            environment: ENVIRONMENT.to_owned(),
            commit: String::new(),
            at,
            outcome: DeploymentOutcome::Success,
            commits: changes.iter().map(|c| c.commit.clone()).collect(),
        });
        history.changes.extend(changes);
    }

    // The canary: deployed at its first tick, failed, and recovered when the rollback put
    // the stable version back at 100 %.
    let start = canary
        .ticks
        .first()
        .map(|t| t.at)
        .ok_or_else(|| flag("the canary stage ran no tick".to_owned()))?;
    let failed_check = canary
        .ticks
        .iter()
        .find(|t| t.verdict.starts_with("FAIL"))
        .map(|t| t.at);
    let rollback = canary
        .ticks
        .iter()
        .find(|t| t.phase == "rolling_back" || t.phase == "rolled_back")
        .map(|t| t.at);
    let rolled_back = canary.outcome == "rolled_back";
    let changes = changes_before(start, &canary.canary, &mut rng);
    history.deployments.push(Deployment {
        id: canary.canary.clone(),
        service: SERVICE.to_owned(),
        environment: ENVIRONMENT.to_owned(),
        commit: String::new(),
        at: start,
        outcome: if rolled_back {
            DeploymentOutcome::Failure
        } else {
            DeploymentOutcome::Success
        },
        commits: changes.iter().map(|c| c.commit.clone()).collect(),
    });
    history.changes.extend(changes);
    if let (true, Some(opened)) = (rolled_back, failed_check) {
        history.incidents.push(Incident {
            id: format!("canary-{}", canary.canary),
            opened_at: opened,
            resolved_at: rollback,
            deployment: Some(canary.canary.clone()),
        });
    }
    // The page of stage 1: no deployment was traced to it.
    if let Some((opened, resolved)) = page {
        history.incidents.push(Incident {
            id: "page-ErrorBudgetBurn".to_owned(),
            opened_at: opened,
            resolved_at: resolved,
            deployment: None,
        });
    }

    let tz = parse_tz("Asia/Tokyo").map_err(|e| CliError::Dora(Box::new(e)))?;
    // Monday 5 October 2026 00:00 JST = Sunday 4 October 15:00 UTC; five weeks.
    let since = Utc
        .with_ymd_and_hms(2026, 10, 4, 15, 0, 0)
        .single()
        .ok_or_else(|| flag("window".to_owned()))?;
    let window = Window::new(since, since + Duration::weeks(5), tz)
        .map_err(|e| CliError::Dora(Box::new(e)))?;
    let options = ReportOptions {
        title: format!("DORA four keys: {SERVICE}"),
        trend_weeks: std::num::NonZeroUsize::new(5).unwrap_or(std::num::NonZeroUsize::MIN),
        ..ReportOptions::default()
    };
    let report = DoraReport::build(&history, &KeysPolicy::new(window), &options)
        .map_err(|e| CliError::Dora(Box::new(e)))?;

    std::fs::create_dir_all(out_dir).map_err(|e| CliError::Io {
        path: out_dir.to_owned(),
        source: e,
    })?;
    let history_file = out_dir.join("delivery-history.json");
    let json = serde_json::to_vec_pretty(&history).map_err(CliError::Json)?;
    std::fs::write(&history_file, json).map_err(|e| CliError::Io {
        path: history_file.clone(),
        source: e,
    })?;
    Ok(DoraStage {
        history,
        report,
        history_file,
    })
}
