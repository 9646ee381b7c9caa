//! Parky's side of the side-by-side benchmark with DuckDB (`scripts/bench-dora.sh`): reads
//! the CSV files of `dora_gen` into a [`DeliveryHistory`], computes the four keys over a
//! window with [`parky_dora::policy::compute`], and prints the same figures, with the same
//! names, as `scripts/dora_duckdb.py`, plus the load and compute times in seconds.
//!
//! ```text
//! cargo run --release -p parky-dora --example dora_bench -- DIR SINCE UNTIL
//! ```
//!
//! SINCE and UNTIL are Unix seconds; weeks start Monday 00:00 Asia/Tokyo.

use std::error::Error;
use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Utc};
use parky_dora::model::{Change, DeliveryHistory, Deployment, DeploymentOutcome, Incident};
use parky_dora::policy::{compute, parse_tz, KeysPolicy, Window};

fn time(field: &[u8]) -> Result<DateTime<Utc>, Box<dyn Error>> {
    let secs: i64 = std::str::from_utf8(field)?.parse()?;
    DateTime::from_timestamp(secs, 0).ok_or_else(|| format!("{secs} is out of range").into())
}

fn text(field: &[u8]) -> Result<String, Box<dyn Error>> {
    Ok(std::str::from_utf8(field)?.to_owned())
}

fn reader(path: &Path) -> Result<csv::Reader<std::fs::File>, Box<dyn Error>> {
    Ok(csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)?)
}

fn load(dir: &Path) -> Result<DeliveryHistory, Box<dyn Error>> {
    let mut deployments = Vec::new();
    let mut index: rustc_hash::FxHashMap<String, usize> = rustc_hash::FxHashMap::default();
    let mut record = csv::ByteRecord::new();
    let mut r = reader(&dir.join("deployments.csv"))?;
    while r.read_byte_record(&mut record)? {
        let outcome = match &record[5] {
            b"success" => DeploymentOutcome::Success,
            b"failure" => DeploymentOutcome::Failure,
            b"pending" => DeploymentOutcome::Pending,
            other => {
                return Err(format!("unknown outcome {:?}", String::from_utf8_lossy(other)).into())
            }
        };
        let id = text(&record[0])?;
        index.insert(id.clone(), deployments.len());
        deployments.push(Deployment {
            id,
            service: text(&record[1])?,
            environment: text(&record[2])?,
            commit: text(&record[3])?,
            at: time(&record[4])?,
            outcome,
            commits: Vec::new(),
        });
    }
    let mut changes = Vec::new();
    let mut r = reader(&dir.join("changes.csv"))?;
    while r.read_byte_record(&mut record)? {
        let commit = text(&record[0])?;
        let deployment = std::str::from_utf8(&record[3])?;
        let &d = index
            .get(deployment)
            .ok_or_else(|| format!("change {commit}: unknown deployment {deployment}"))?;
        deployments[d].commits.push(commit.clone());
        changes.push(Change {
            commit,
            authored_at: time(&record[1])?,
            committed_at: time(&record[2])?,
            pull_request: None,
            merged_at: None,
        });
    }
    let mut incidents = Vec::new();
    let mut r = reader(&dir.join("incidents.csv"))?;
    while r.read_byte_record(&mut record)? {
        incidents.push(Incident {
            id: text(&record[0])?,
            opened_at: time(&record[1])?,
            resolved_at: if record[2].is_empty() {
                None
            } else {
                Some(time(&record[2])?)
            },
            deployment: if record[3].is_empty() {
                None
            } else {
                Some(text(&record[3])?)
            },
        });
    }
    Ok(DeliveryHistory {
        deployments,
        changes,
        incidents,
    })
}

fn seconds(d: Option<chrono::TimeDelta>) -> Option<f64> {
    d.map(|d| d.num_milliseconds() as f64 / 1000.0)
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: dora_bench DIR SINCE UNTIL";
    let dir = args.next().ok_or(usage)?;
    let since = time(args.next().ok_or(usage)?.as_bytes())?;
    let until = time(args.next().ok_or(usage)?.as_bytes())?;
    let t0 = Instant::now();
    let history = load(Path::new(&dir))?;
    let t1 = Instant::now();
    let policy = KeysPolicy::new(Window::new(since, until, parse_tz("Asia/Tokyo")?)?);
    let keys = compute(&history, &policy)?;
    let t2 = Instant::now();
    let f = &keys.deployment_frequency;
    let lead = &keys.lead_time;
    let cfr = &keys.change_failure_rate;
    let rec = &keys.recovery_time;
    let figures = serde_json::json!({
        "deployments_per_day": f.per_day,
        "deployments_per_week": f.per_week,
        "deploy_days_per_week": f.deploy_days_per_week,
        "successful_deployments": f.successful,
        "completed_deployments": cfr.completed,
        "failed_deployments": cfr.failed,
        "change_failure_rate": cfr.rate,
        "changes": lead.summary.as_ref().map_or(0, |s| s.count),
        "skewed": lead.skewed,
        "lead_time_p50_s": seconds(lead.summary.as_ref().map(|s| s.median)),
        "lead_time_p75_s": seconds(lead.summary.as_ref().map(|s| s.p75)),
        "lead_time_p90_s": seconds(lead.summary.as_ref().map(|s| s.p90)),
        "recovery_median_s": seconds(rec.summary.as_ref().map(|s| s.median)),
        "unrecovered": rec.unrecovered,
        "load_s": (t1 - t0).as_secs_f64(),
        "compute_s": (t2 - t1).as_secs_f64(),
    });
    println!("{}", serde_json::to_string_pretty(&figures)?);
    // The process ends here: freeing twenty million strings one by one (seconds) would be
    // timed as part of the run, and no long-lived program pays it per report.
    std::mem::forget(history);
    Ok(())
}
