//! Criterion benchmark of `parky_dora::policy::compute`: the four keys over a generated
//! history of 100,000 deployments and 1,000,000 changes (50 services, four years, seed 42;
//! the same shape as `examples/dora_gen.rs`), in memory, so only the calculators are timed.
//!
//! ```text
//! cargo bench -p parky-dora --bench keys
//! ```

use chrono::{DateTime, Utc};
use criterion::{criterion_main, Criterion, Throughput};
use parky_dora::model::{Change, DeliveryHistory, Deployment, DeploymentOutcome, Incident};
use parky_dora::policy::{compute, parse_tz, KeysPolicy, Window};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// Monday 2022-01-03 00:00:00 UTC.
const START: i64 = 1_641_168_000;
const SPAN: i64 = 4 * 365 * 86_400;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).expect("generated times are within chrono's range")
}

fn history(deployments: usize, changes: usize) -> DeliveryHistory {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(42);
    let mut times: Vec<i64> = (0..deployments)
        .map(|_| START + rng.random_range(0..SPAN))
        .collect();
    times.sort_unstable();
    let mut h = DeliveryHistory::default();
    for (i, t) in times.iter().enumerate() {
        let outcome = match rng.random_range(0..100) {
            0..=7 => DeploymentOutcome::Failure,
            8 => DeploymentOutcome::Pending,
            _ => DeploymentOutcome::Success,
        };
        h.deployments.push(Deployment {
            id: format!("d{i}"),
            service: format!("svc{}", rng.random_range(0..50)),
            environment: "production".to_owned(),
            commit: String::new(),
            at: at(*t),
            outcome,
            commits: Vec::new(),
        });
    }
    for c in 0..changes {
        let d = rng.random_range(0..deployments);
        let committed = times[d] - rng.random_range(60..30 * 86_400);
        let commit = format!("c{c}");
        h.deployments[d].commits.push(commit.clone());
        h.changes.push(Change {
            commit,
            authored_at: at(committed),
            committed_at: at(committed),
            pull_request: None,
            merged_at: None,
        });
    }
    for n in 0..deployments / 20 {
        let d = rng.random_range(0..deployments);
        let opened = times[d] + rng.random_range(0..7200);
        h.incidents.push(Incident {
            id: format!("i{n}"),
            opened_at: at(opened),
            resolved_at: Some(at(opened + rng.random_range(60..7 * 86_400))),
            deployment: Some(format!("d{d}")),
        });
    }
    h
}

fn keys(c: &mut Criterion) {
    let h = history(100_000, 1_000_000);
    // Monday 2022-01-03 00:00 Asia/Tokyo and 208 weeks later.
    let tz = parse_tz("Asia/Tokyo").expect("a valid zone");
    let since = at(1_641_135_600);
    let window = Window::new(since, since + chrono::Duration::weeks(208), tz)
        .expect("since is before until");
    let policy = KeysPolicy::new(window);
    let mut group = c.benchmark_group("dora_keys");
    group.sample_size(10);
    group.throughput(Throughput::Elements(h.changes.len() as u64));
    group.bench_function("compute_100k_deployments_1m_changes", |b| {
        b.iter(|| compute(&h, &policy).expect("a consistent history"));
    });
    group.finish();
}

// `criterion_group!` generates an undocumented `pub fn benches`.
#[allow(missing_docs)]
mod group {
    use criterion::criterion_group;

    criterion_group!(benches, super::keys);
}
criterion_main!(group::benches);
