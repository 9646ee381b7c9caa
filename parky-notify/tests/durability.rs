//! What survives a restart of the service, and whose messages an outbox file delivers.
//!
//! The service runs over a SQLite outbox file and a `ManualClock`; "stopping" it drops the
//! service and every handle on the file, "restarting" opens the file again and resumes
//! (`Service::resume`), as `parky notify serve` does. No test sleeps. Expected titles follow
//! the pipeline's documented format `[<severity>] [FIRING:<n>] <alertname>`, and digest
//! titles `[P3] Digest: <n> notifications`; instants are worked out in the comments.

#![cfg(all(feature = "server", feature = "sqlite"))]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use parky_core::{Backoff, Clock, Jitter, ManualClock, RetryPolicy, SystemClock};
use parky_notify::outbox::{DeliveryPolicy, Outbox, ReceiverTarget, SqliteOutbox, Synchronous};
use parky_notify::pipeline::{Pipeline, TimedAlert};
use parky_notify::policy::strategy::SeverityStrategy;
use parky_notify::receiver::{MemoryNotifier, Notifier};
use parky_notify::server::Service;
use parky_notify::wiring::wire_receivers;
use parky_notify::{Message, MessageStatus, NotifyError, NotifyPolicy, Severity};

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    // A valid UTC date and time is never ambiguous.
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single().unwrap()
}

/// Monday 2024-06-03 10:00:00 UTC.
fn t0() -> DateTime<Utc> {
    utc(2024, 6, 3, 10, 0, 0)
}

fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

fn delivery_policy() -> DeliveryPolicy {
    // Valid constants: base ≤ cap and at least one attempt.
    let backoff = Backoff::new(
        Duration::from_secs(1),
        Duration::from_secs(10),
        Jitter::Full,
    )
    .unwrap();
    DeliveryPolicy::new(RetryPolicy::new(5, backoff, Duration::from_secs(60)).unwrap())
}

/// One in-memory receiver `ops`, grouped by alertname: group_wait 30 s, group_interval 5 m,
/// repeat_interval 4 h.
const ROUTING: &str = r#"
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers: [{name: ops}]
"#;

/// P2 held outside Monday–Friday 09:00–18:00 UTC; P3 in a digest at 09:30 UTC.
const STRATEGY: &str = r#"
severities:
  P2:
    quiet_hours:
      timezone: UTC
      working_hours: [{weekdays: ["monday:friday"], start: "09:00", end: "18:00"}]
  P3:
    digest: {timezone: UTC, at: "09:30"}
"#;

fn alert(name: &str, severity: &str, starts: DateTime<Utc>) -> TimedAlert {
    TimedAlert::new([("alertname", name), ("severity", severity)], starts)
        .ending_at(utc(2030, 1, 1, 0, 0, 0))
}

/// A running `parky notify serve`, in process: the service and what its receiver got.
struct Running {
    service: Service,
    recorder: Arc<MemoryNotifier>,
}

/// Opens the outbox file and resumes the service from it (a start or a restart).
fn start(path: &Path, clock: &ManualClock) -> Running {
    start_with(SqliteOutbox::open(path).unwrap(), clock)
}

fn start_with(outbox: SqliteOutbox, clock: &ManualClock) -> Running {
    let policy = NotifyPolicy::from_yaml(ROUTING).unwrap();
    let strategy = SeverityStrategy::from_yaml(STRATEGY).unwrap();
    let recorder = Arc::new(MemoryNotifier::new("ops"));
    let mut notifiers: BTreeMap<String, Arc<dyn Notifier>> = BTreeMap::new();
    notifiers.insert("ops".into(), recorder.clone());
    let service = Service::resume(
        Pipeline::new(policy, strategy).unwrap(),
        Arc::new(outbox),
        notifiers,
        Arc::new(clock.clone()),
        delivery_policy(),
    )
    .unwrap()
    .with_rng_seed(7);
    Running { service, recorder }
}

impl Running {
    /// One round at the clock's time; returns the messages the receiver got in it.
    async fn round(&self, clock: &ManualClock) -> Vec<Message> {
        let before = self.recorder.sent().len();
        self.service.run_once(clock.now()).await.unwrap();
        self.recorder.sent()[before..].to_vec()
    }
}

#[tokio::test]
async fn an_alert_waiting_for_group_wait_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let clock = ManualClock::new(t0());
    let first = start(&path, &clock);
    // Received at 10:00:00: the group flushes at 10:00:30 (group_wait 30 s).
    let stored = first
        .service
        .ingest([alert("HighLatency", "critical", t0())], clock.now())
        .unwrap();
    assert_eq!(stored, 1);
    clock.set(t0() + secs(10));
    assert!(first.round(&clock).await.is_empty());
    // Stopped 20 s before group_wait ends.
    drop(first);

    let second = start(&path, &clock);
    assert_eq!(second.service.pipeline_counts(), (1, 0));
    clock.set(t0() + secs(29));
    assert!(second.round(&clock).await.is_empty());
    clock.set(t0() + secs(30));
    let sent = second.round(&clock).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].title, "[P0] [FIRING:1] HighLatency");
    assert_eq!(sent[0].dedup_key, r#"{}:{alertname="HighLatency"}|ops"#);
    assert_eq!(sent[0].sequence, 1);
    assert_eq!(sent[0].status, MessageStatus::Firing);
    // The next group_interval flushes (10:05:30, 10:10:30, …) have nothing new, and the
    // 4 h repeat is not due before 14:00:30.
    clock.set(t0() + secs(3600));
    assert!(second.round(&clock).await.is_empty());
    drop(second);

    // A third start, after the notification went out, does not send it again.
    let third = start(&path, &clock);
    clock.set(t0() + secs(2 * 3600));
    assert!(third.round(&clock).await.is_empty());
    assert_eq!(third.service.outbox().pending().unwrap().len(), 0);
}

#[tokio::test]
async fn a_p2_held_for_quiet_hours_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    // Monday 20:00 UTC, after working hours.
    let monday_evening = utc(2024, 6, 3, 20, 0, 0);
    let clock = ManualClock::new(monday_evening);
    let first = start(&path, &clock);
    first
        .service
        .ingest(
            [alert("QueueBacklog", "warning", monday_evening)],
            clock.now(),
        )
        .unwrap();
    // Flushed at 20:00:30 and held until the next working window.
    clock.set(monday_evening + secs(30));
    assert!(first.round(&clock).await.is_empty());
    assert_eq!(first.service.pipeline_counts(), (1, 1));
    drop(first);

    let second = start(&path, &clock);
    assert_eq!(second.service.pipeline_counts(), (1, 1));
    // Released Tuesday 2024-06-04 09:00:00 UTC, not a second earlier.
    clock.set(utc(2024, 6, 4, 8, 59, 59));
    assert!(second.round(&clock).await.is_empty());
    clock.set(utc(2024, 6, 4, 9, 0, 0));
    let sent = second.round(&clock).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].title, "[P2] [FIRING:1] QueueBacklog");
    assert_eq!(sent[0].severity, Severity::P2);
    assert_eq!(sent[0].sequence, 1);
    // The repeat is not due before 09:00 + 4 h: nothing more in the next hour.
    clock.set(utc(2024, 6, 4, 10, 0, 0));
    assert!(second.round(&clock).await.is_empty());
    assert_eq!(second.service.pipeline_counts(), (1, 0));
}

#[tokio::test]
async fn a_p3_waiting_for_the_digest_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let clock = ManualClock::new(t0());
    let first = start(&path, &clock);
    first
        .service
        .ingest([alert("CertExpiresSoon", "info", t0())], clock.now())
        .unwrap();
    // Flushed at 10:00:30 into the digest due at the next 09:30 UTC: Tuesday 2024-06-04.
    clock.set(t0() + secs(30));
    assert!(first.round(&clock).await.is_empty());
    assert_eq!(first.service.pipeline_counts(), (1, 1));
    drop(first);

    let second = start(&path, &clock);
    clock.set(utc(2024, 6, 4, 9, 29, 59));
    assert!(second.round(&clock).await.is_empty());
    clock.set(utc(2024, 6, 4, 9, 30, 0));
    let sent = second.round(&clock).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].title, "[P3] Digest: 1 notifications");
    assert_eq!(sent[0].dedup_key, "digest|P3|ops");
    assert_eq!(sent[0].sequence, 1);
    assert_eq!(sent[0].timestamp, utc(2024, 6, 4, 9, 30, 0));
    assert_eq!(second.service.pipeline_counts(), (1, 0));
}

#[tokio::test]
async fn a_crash_between_tick_and_commit_loses_nothing_and_sends_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let clock = ManualClock::new(t0());
    // No busy wait: a locked database fails the write at once.
    let outbox = SqliteOutbox::open_with(&path, Synchronous::Full, Duration::ZERO).unwrap();
    let first = start_with(outbox, &clock);
    first
        .service
        .ingest([alert("HighLatency", "critical", t0())], clock.now())
        .unwrap();
    // Another process holds the write lock when the group flushes at 10:00:30: the tick
    // released the message, but neither it nor the new state reached the file.
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    clock.set(t0() + secs(30));
    assert!(first.service.run_once(clock.now()).await.is_err());
    assert!(first.recorder.sent().is_empty());
    // The process dies with the message in memory.
    drop(first);
    other.execute_batch("ROLLBACK").unwrap();
    drop(other);

    // The stored state is the one from before the tick: the restart releases the same
    // message (same dedup_key and sequence), once.
    let second = start(&path, &clock);
    clock.set(t0() + secs(31));
    let sent = second.round(&clock).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].title, "[P0] [FIRING:1] HighLatency");
    assert_eq!(sent[0].sequence, 1);
    clock.set(t0() + secs(600));
    assert!(second.round(&clock).await.is_empty());
}

#[tokio::test]
async fn replaying_an_older_state_never_sends_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let clock = ManualClock::new(t0());
    let first = start(&path, &clock);
    first
        .service
        .ingest([alert("HighLatency", "critical", t0())], clock.now())
        .unwrap();
    let before_flush = first.service.outbox().load_state().unwrap().unwrap();
    assert_eq!(before_flush.group_count(), 1);
    clock.set(t0() + secs(30));
    assert_eq!(first.round(&clock).await.len(), 1);
    // Put the state from before the flush back, as if the file had lost the last state
    // write but kept the outbox entry: the restored pipeline makes the same message again.
    first
        .service
        .outbox()
        .enqueue_with_state(&[], &before_flush, clock.now())
        .unwrap();
    drop(first);

    let second = start(&path, &clock);
    clock.set(t0() + secs(31));
    let report = second.service.run_once(clock.now()).await.unwrap();
    // Released again with key (ops, {}:{alertname="HighLatency"}|ops, 1): a duplicate of the
    // delivered entry, so nothing new is written and nothing is sent.
    assert_eq!((report.enqueued, report.duplicates), (0, 1));
    assert!(second.recorder.sent().is_empty());
}

#[tokio::test]
async fn an_idle_service_does_not_rewrite_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let clock = ManualClock::new(t0());
    let running = start(&path, &clock);
    running
        .service
        .ingest([alert("HighLatency", "critical", t0())], clock.now())
        .unwrap();
    let saved_at = || -> i64 {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.query_row("SELECT saved_at FROM pipeline_state", [], |r| r.get(0))
            .unwrap()
    };
    // Saved at the ingest: 10:00:00 UTC = 1 717 408 800 s after the epoch, in µs.
    assert_eq!(saved_at(), 1_717_408_800_000_000);
    // 10:00:10: nothing is due, nothing changed, nothing written.
    clock.set(t0() + secs(10));
    running.round(&clock).await;
    assert_eq!(saved_at(), 1_717_408_800_000_000);
    // 10:00:30: the flush changes the state; written with the message.
    clock.set(t0() + secs(30));
    running.round(&clock).await;
    assert_eq!(saved_at(), 1_717_408_830_000_000);
}

// ---------------------------------------------------------------------------------------
// Owners: an outbox file delivers only to the targets of the configuration that wrote it.
// ---------------------------------------------------------------------------------------

const TOKEN_A: &str = "TOKENAAAA1234567890abcdef";
const TOKEN_B: &str = "TOKENBBBB0987654321fedcba";

fn webhook_config(token: &str) -> String {
    format!(
        "route: {{receiver: ops}}\nreceivers:\n  - name: ops\n    webhook_configs: [{{url: \"http://127.0.0.1:1/hooks/{token}\"}}]\n"
    )
}

fn targets(token: &str) -> BTreeMap<String, ReceiverTarget> {
    let policy = NotifyPolicy::from_yaml(&webhook_config(token)).unwrap();
    wire_receivers(&policy, Path::new("/"), Arc::new(SystemClock))
        .unwrap()
        .targets
}

fn message(sequence: u64) -> Message {
    Message {
        receiver: "ops".into(),
        dedup_key: "k|ops".into(),
        sequence,
        severity: Severity::P1,
        status: MessageStatus::Firing,
        title: format!("[P1] message {sequence}"),
        summary: String::new(),
        fields: Vec::new(),
        mentions: Vec::new(),
        url: None,
        source: "test".into(),
        timestamp: t0(),
    }
}

fn file_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        if let Ok(b) = std::fs::read(&name) {
            bytes.extend(b);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn an_outbox_refuses_another_configuration_with_the_same_receiver_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let file = path.display().to_string();
    let now = t0();

    // Configuration A writes a message for `ops` that is not delivered yet.
    let a = SqliteOutbox::open(&path).unwrap();
    a.bind(&targets(TOKEN_A), now).unwrap();
    a.enqueue(&message(1), now).unwrap();

    // Configuration B names another URL `ops`: refused, naming the file and the receiver.
    let b = SqliteOutbox::open(&path).unwrap();
    let err = b.bind(&targets(TOKEN_B), now).unwrap_err();
    match &err {
        NotifyError::OutboxOwnerMismatch {
            file: f,
            receiver,
            undelivered,
        } => {
            assert_eq!(f, &file);
            assert_eq!(receiver, "ops");
            assert_eq!(undelivered, "1 pending notifications");
        }
        other => panic!("expected OutboxOwnerMismatch, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "outbox {file}: receiver \"ops\" of this configuration has another target than the \
             configuration that wrote the file, which still holds 1 pending notifications for \
             it; deliver them with that configuration, or use another outbox file"
        )
    );
    // Listing (an unbound handle) still works.
    assert_eq!(b.pending().unwrap().len(), 1);

    // The normal path: A again (another process, same configuration) binds and delivers.
    let a2 = SqliteOutbox::open(&path).unwrap();
    a2.bind(&targets(TOKEN_A), now).unwrap();
    let claims = a2.claim_due(now, Duration::from_secs(60), 10).unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].message.title, "[P1] message 1");
    a2.ack(&claims[0].lease, now).unwrap();

    // With nothing undelivered for `ops`, B may take the name over (a rotated URL)...
    b.bind(&targets(TOKEN_B), now).unwrap();
    b.enqueue(&message(2), now).unwrap();
    // ...and A's handles, still running, neither write for `ops` nor hand out B's entry.
    assert!(matches!(
        a.enqueue(&message(3), now).unwrap_err(),
        NotifyError::OutboxOwnerMismatch { receiver, .. } if receiver == "ops"
    ));
    assert!(a2
        .claim_due(now, Duration::from_secs(60), 10)
        .unwrap()
        .is_empty());
    let claims = b.claim_due(now, Duration::from_secs(60), 10).unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].message.sequence, 2);

    // No URL or token in the error, the targets' Debug, or anywhere in the file.
    let shown = format!(
        "{err} {err:?} {:?} {:?}",
        targets(TOKEN_A),
        targets(TOKEN_B)
    );
    assert!(shown.contains("[REDACTED]"), "{shown}");
    drop((a, a2, b));
    let bytes = file_bytes(&path);
    assert!(!bytes.is_empty());
    for secret in [TOKEN_A, TOKEN_B, "127.0.0.1:1/hooks"] {
        assert!(!shown.contains(secret), "{shown}");
        assert!(
            !contains(&bytes, secret),
            "{secret} found in the outbox file"
        );
    }
}

#[test]
fn the_pipeline_state_also_holds_a_receiver_to_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let now = t0();
    // A's serve stored a state with an alert waiting for group_wait; its outbox is empty.
    let a = SqliteOutbox::open(&path).unwrap();
    a.bind(&targets(TOKEN_A), now).unwrap();
    let policy = NotifyPolicy::from_yaml(&webhook_config(TOKEN_A)).unwrap();
    let mut pipeline = Pipeline::new(policy, SeverityStrategy::default()).unwrap();
    pipeline.receive(alert("HighLatency", "critical", now), now);
    a.enqueue_with_state(&[], &pipeline.snapshot(), now)
        .unwrap();
    drop(a);

    let b = SqliteOutbox::open(&path).unwrap();
    match b.bind(&targets(TOKEN_B), now).unwrap_err() {
        NotifyError::OutboxOwnerMismatch {
            receiver,
            undelivered,
            ..
        } => {
            assert_eq!(receiver, "ops");
            assert_eq!(
                undelivered,
                "alerts or notifications in the stored pipeline state"
            );
        }
        other => panic!("expected OutboxOwnerMismatch, got {other:?}"),
    }
    // The same configuration resumes it.
    SqliteOutbox::open(&path)
        .unwrap()
        .bind(&targets(TOKEN_A), now)
        .unwrap();
}

#[test]
fn a_bound_outbox_leaves_entries_of_receivers_it_does_not_have() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let now = t0();
    let a = SqliteOutbox::open(&path).unwrap();
    a.bind(&targets(TOKEN_A), now).unwrap();
    a.enqueue(&message(1), now).unwrap();
    // Another configuration without `ops` binds fine and does not claim A's entry (without
    // the binding it would dead-letter it: no notifier for `ops`).
    let other = SqliteOutbox::open(&path).unwrap();
    let mut mine = BTreeMap::new();
    mine.insert("team".to_owned(), ReceiverTarget::from_parts(["file", "-"]));
    other.bind(&mine, now).unwrap();
    assert!(other
        .claim_due(now, Duration::from_secs(60), 10)
        .unwrap()
        .is_empty());
    assert_eq!(
        a.claim_due(now, Duration::from_secs(60), 10).unwrap().len(),
        1
    );
}
