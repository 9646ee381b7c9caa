//! Throughput of the SQLite outbox: enqueue, claim and ack of a batch of notifications in a
//! temporary directory, with batched commits (one transaction per step per batch) and
//! `synchronous = FULL` (every commit on disk).
//!
//! Run with `cargo bench -p parky-notify --bench outbox`. The goal is at least 10,000
//! notifications per second; criterion reports it as elements per second.
//!
//! Every step `expect`s success: a failed or lossy round must abort the run rather than
//! produce a figure.

use std::hint::black_box;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use criterion::{criterion_main, BatchSize, Criterion, Throughput};
use parky_notify::outbox::{Outbox, SqliteOutbox, Synchronous};
use parky_notify::{Message, MessageStatus, Severity};

/// Notifications per batch (one enqueue, one claim and one ack transaction each).
const BATCH: usize = 500;

fn now() -> DateTime<Utc> {
    // A fixed, valid instant: 2024-05-01T12:00:00Z.
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

fn batch(round: u64) -> Vec<Message> {
    (0..BATCH as u64)
        .map(|i| Message {
            receiver: String::from("pager"),
            dedup_key: format!("HighErrorRate/api-{round}"),
            sequence: i,
            severity: Severity::P1,
            status: MessageStatus::Firing,
            title: String::from("[P1] HighErrorRate: api"),
            summary: String::from("5xx ratio 2.3% over 5m, burning the 30-day budget 14x"),
            fields: Vec::new(),
            mentions: vec![String::from("@here")],
            url: Some(String::from("https://runbooks.example/high-error-rate")),
            source: String::from("bench"),
            timestamp: now(),
        })
        .collect()
}

/// Enqueue, claim and ack one batch; returns how many were acked.
fn round_trip(outbox: &SqliteOutbox, messages: &[Message]) -> usize {
    let lease = Duration::from_secs(60);
    let enqueued = outbox.enqueue_batch(messages, now()).expect("enqueue");
    assert_eq!(enqueued.len(), messages.len());
    let claims = outbox.claim_due(now(), lease, BATCH).expect("claim");
    let leases: Vec<_> = claims.iter().map(|c| c.lease).collect();
    outbox.ack_batch(&leases, now()).expect("ack").len()
}

fn enqueue_claim_ack(c: &mut Criterion) {
    let mut group = c.benchmark_group("outbox_sqlite");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(8));
    for (name, synchronous) in [("full", Synchronous::Full), ("normal", Synchronous::Normal)] {
        let dir = tempfile::tempdir().expect("temp dir");
        let outbox = SqliteOutbox::open_with(
            dir.path().join("outbox.db"),
            synchronous,
            Duration::from_secs(5),
        )
        .expect("open");

        // Setup check: ten rounds go through with nothing lost or left behind.
        let mut round = 0u64;
        for _ in 0..10 {
            assert_eq!(round_trip(&outbox, &batch(round)), BATCH);
            round += 1;
        }
        let counts = outbox.counts(now()).expect("counts");
        assert_eq!(counts.delivered, 10 * BATCH);
        assert_eq!(counts.pending + counts.in_flight + counts.dead, 0);

        group.bench_function(format!("enqueue_claim_ack_batch{BATCH}_sync_{name}"), |b| {
            b.iter_batched(
                || {
                    round += 1;
                    batch(round)
                },
                |messages| {
                    let acked = round_trip(&outbox, &messages);
                    assert_eq!(acked, BATCH, "a notification was lost");
                    black_box(acked)
                },
                BatchSize::PerIteration,
            );
        });

        // Everything enqueued during the measurement was delivered too: rounds 0-9 above, then
        // rounds 11, 12, … up to `round` (the setup closure increments before building), so
        // `round` batches in all.
        let counts = outbox.counts(now()).expect("counts");
        assert_eq!(
            counts.delivered,
            usize::try_from(round).unwrap_or(0) * BATCH
        );
        assert_eq!(counts.pending + counts.in_flight + counts.dead, 0);
    }
    group.finish();
}

/// The benchmark group (criterion's entry point).
fn benches() {
    let mut criterion = Criterion::default().configure_from_args();
    enqueue_claim_ack(&mut criterion);
}

criterion_main!(benches);
