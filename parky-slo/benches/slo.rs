//! Throughput of the windowed counter (events per second into the hot path) and of the
//! streaming SLO evaluator.
//!
//! Realistic traffic: timestamps increasing, 10 000 requests/s, so a one-minute bucket holds
//! 600 000 events and almost every event takes the hot path; 0.1 % of requests are bad.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_main, Criterion, Throughput};
use parky_slo::evaluator::SloEvaluator;
use parky_slo::model::SliEvent;
use parky_slo::objective::{Objective, THIRTY_DAYS};
use parky_slo::policy::alert::{AlertPolicy, WORKBOOK_WINDOWS};
use parky_slo::window::{WindowedCounter, DEFAULT_RESOLUTION};

const EVENTS: usize = 1_000_000;
/// 2024-05-01T00:00:00Z.
const START_MS: i64 = 1_714_521_600_000;

/// `EVENTS` requests at 10 000 requests/s (one every 0.1 ms, so 10 share a millisecond);
/// every 1000th is bad.
fn traffic() -> Vec<(i64, bool)> {
    (0..EVENTS as i64)
        .map(|i| (START_MS + i / 10, i % 1000 != 0))
        .collect()
}

fn counter_throughput(c: &mut Criterion) {
    let traffic = traffic();
    let windows: Vec<Duration> = WORKBOOK_WINDOWS
        .iter()
        .flat_map(|window| [window.long, window.short])
        .chain([THIRTY_DAYS])
        .collect();
    let mut group = c.benchmark_group("windowed_counter");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("record_1m_events_30d_1min", |b| {
        let mut counter = WindowedCounter::new(DEFAULT_RESOLUTION, THIRTY_DAYS, &windows)
            .expect("valid: every window divides by one minute and fits in 30 days");
        let mut offset = 0i64;
        b.iter(|| {
            // Each iteration continues where the last one stopped, so time keeps increasing
            // and buckets keep closing as in production.
            for &(timestamp_ms, good) in &traffic {
                counter.record(black_box(timestamp_ms + offset), black_box(good));
            }
            offset += EVENTS as i64 / 10;
        });
        black_box(counter.window_counts(THIRTY_DAYS));
    });
    group.finish();
}

fn evaluator_throughput(c: &mut Criterion) {
    let traffic: Vec<SliEvent> = traffic()
        .into_iter()
        .map(|(timestamp_ms, good)| SliEvent {
            timestamp_ms,
            good,
            status: Some(if good { 200 } else { 503 }),
            latency_seconds: None,
        })
        .collect();
    let objective = Objective::thirty_days(0.999).expect("0.999 is a valid target");
    let policy = AlertPolicy::workbook(objective).expect("workbook windows fit in 30 days");
    let mut group = c.benchmark_group("slo_evaluator");
    group.throughput(Throughput::Elements(EVENTS as u64));
    for (name, resolution) in [
        ("record_1m_events_1min_resolution", DEFAULT_RESOLUTION),
        ("record_1m_events_1s_resolution", Duration::from_secs(1)),
    ] {
        group.bench_function(name, |b| {
            let mut evaluator = SloEvaluator::new(policy.clone(), resolution)
                .expect("valid: one minute and one second divide every window");
            let mut offset = 0i64;
            b.iter(|| {
                for event in &traffic {
                    evaluator.record(
                        black_box(event.timestamp_ms + offset),
                        black_box(event.good),
                    );
                }
                offset += EVENTS as i64 / 10;
            });
            black_box(evaluator.snapshot());
        });
    }
    group.finish();
}

// `criterion_group!` generates an undocumented `pub fn benches`.
#[allow(missing_docs)]
mod group {
    use criterion::criterion_group;

    criterion_group!(
        benches,
        super::counter_throughput,
        super::evaluator_throughput
    );
}
criterion_main!(group::benches);
