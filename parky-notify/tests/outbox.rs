//! Integration tests of the durable outbox: both stores, the delivery step, a real crash of
//! a sender process, storage errors, and a property test that the in-memory model and SQLite
//! agree and never lose a message.
//!
//! Expected schedules are computed by hand in comments from parky-core's documented backoff
//! formula (full jitter: `random_between(0, min(cap, base * 2^n))` with the multiply-shift map
//! `lo + ((hi - lo + 1) * r) >> 64`).

#![cfg(feature = "sqlite")]

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::io::Write;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use parky_core::{Backoff, Clock, Jitter, ManualClock, RetryPolicy, Retryable};
use parky_notify::outbox::{
    deliver_due, next_step, Acked, Claim, Deliver, DeliveryPolicy, DeliveryReport, Enqueued,
    EntryId, EntryState, Failed, IdempotencyKey, MemoryOutbox, Next, Outbox, OutboxCounts,
    SqliteOutbox,
};
use parky_notify::receiver::{Delivery, MemoryNotifier, Notifier};
use parky_notify::{Message, MessageStatus, NotifyError, Severity};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// 2024-05-01T12:00:00Z, the start of every manual clock here.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).single().unwrap()
}

fn at_ms(ms: i64) -> DateTime<Utc> {
    t0() + chrono::TimeDelta::milliseconds(ms)
}

fn message(receiver: &str, dedup_key: &str, sequence: u64) -> Message {
    Message {
        receiver: receiver.to_owned(),
        dedup_key: dedup_key.to_owned(),
        sequence,
        severity: Severity::P1,
        status: MessageStatus::Firing,
        title: format!("[P1] {dedup_key}"),
        summary: String::from("error rate above budget"),
        fields: Vec::new(),
        mentions: Vec::new(),
        url: None,
        source: String::from("test"),
        timestamp: t0(),
    }
}

/// A "random" source that always returns the same word.
#[derive(Debug)]
struct FixedRng(u64);

impl rand::TryRng for FixedRng {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok((self.0 >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        dst.fill(0);
        Ok(())
    }
}

const HALF: u64 = 1 << 63;

/// Drive a future that never waits on I/O (every deliverer here answers at once).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000 {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
    }
    panic!("the future did not complete: a test deliverer must answer at once");
}

/// Max 4 attempts, full jitter from 1 s up to 60 s, waits up to 60 s.
fn retry_policy() -> RetryPolicy {
    let backoff = Backoff::new(
        Duration::from_secs(1),
        Duration::from_secs(60),
        Jitter::Full,
    )
    .unwrap();
    RetryPolicy::new(4, backoff, Duration::from_secs(60)).unwrap()
}

fn delivery_policy() -> DeliveryPolicy {
    DeliveryPolicy {
        retry: retry_policy(),
        lease: Duration::from_secs(30),
        batch: 50,
    }
}

/// A failure as a receiver would report it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MockError {
    retryable: bool,
    retry_after: Option<Duration>,
    text: &'static str,
}

impl MockError {
    fn transient(text: &'static str) -> Self {
        Self {
            retryable: true,
            retry_after: None,
            text,
        }
    }
    fn permanent(text: &'static str) -> Self {
        Self {
            retryable: false,
            retry_after: None,
            text,
        }
    }
    fn wait(secs: u64) -> Self {
        Self {
            retryable: true,
            retry_after: Some(Duration::from_secs(secs)),
            text: "HTTP 429 Too Many Requests",
        }
    }
}

impl fmt::Display for MockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

impl Retryable for MockError {
    fn is_retryable(&self) -> bool {
        self.retryable
    }
    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

/// A deliverer answering from a script (then `Ok`), recording every send.
#[derive(Debug, Default)]
struct Scripted {
    script: Mutex<VecDeque<Result<(), MockError>>>,
    sent: Mutex<Vec<IdempotencyKey>>,
}

impl Scripted {
    fn new(script: impl IntoIterator<Item = Result<(), MockError>>) -> Self {
        Self {
            script: Mutex::new(script.into_iter().collect()),
            sent: Mutex::default(),
        }
    }
    fn sent(&self) -> Vec<IdempotencyKey> {
        self.sent.lock().unwrap().clone()
    }
}

impl Deliver for Scripted {
    type Error = MockError;
    fn deliver<'a>(
        &'a self,
        message: &'a Message,
    ) -> impl Future<Output = Result<(), MockError>> + Send + 'a {
        self.sent.lock().unwrap().push(IdempotencyKey::of(message));
        let answer = self.script.lock().unwrap().pop_front().unwrap_or(Ok(()));
        std::future::ready(answer)
    }
}

fn receivers(d: Scripted) -> HashMap<String, Scripted> {
    HashMap::from([(String::from("pager"), d)])
}

fn deliver(
    outbox: &dyn Outbox,
    clock: &ManualClock,
    receivers: &HashMap<String, Scripted>,
) -> DeliveryReport {
    block_on(deliver_due(
        outbox,
        clock,
        receivers,
        &delivery_policy(),
        &mut FixedRng(HALF),
    ))
    .unwrap()
}

/// Run `check` against a fresh in-memory store and a fresh SQLite file.
fn both(check: impl Fn(&dyn Outbox, &str)) {
    check(&MemoryOutbox::new(), "memory");
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteOutbox::open(dir.path().join("outbox.db")).unwrap();
    check(&sqlite, "sqlite");
}

// ---------------------------------------------------------------------------------------------
// Idempotent enqueue
// ---------------------------------------------------------------------------------------------

#[test]
fn enqueuing_the_same_message_twice_keeps_one() {
    both(|outbox, store| {
        let m = message("pager", "HighErrorRate/api", 1);
        assert_eq!(
            outbox.enqueue(&m, t0()).unwrap(),
            Enqueued::New(EntryId(1)),
            "{store}"
        );
        assert_eq!(
            outbox.enqueue(&m, t0()).unwrap(),
            Enqueued::Duplicate(EntryId(1))
        );
        // A different sequence or receiver is a different notification; a duplicate inside
        // one batch is kept once too.
        let batch = [
            message("pager", "HighErrorRate/api", 2),
            message("chat", "HighErrorRate/api", 1),
            message("pager", "HighErrorRate/api", 2),
        ];
        assert_eq!(
            outbox.enqueue_batch(&batch, t0()).unwrap(),
            [
                Enqueued::New(EntryId(2)),
                Enqueued::New(EntryId(3)),
                Enqueued::Duplicate(EntryId(2))
            ]
        );
        assert_eq!(outbox.pending().unwrap().len(), 3);

        // Still one after delivery: the delivered tombstone remembers the key.
        let claims = outbox.claim_due(t0(), Duration::from_secs(30), 10).unwrap();
        outbox
            .ack_batch(&claims.iter().map(|c| c.lease).collect::<Vec<_>>(), t0())
            .unwrap();
        assert_eq!(
            outbox.enqueue(&m, t0()).unwrap(),
            Enqueued::Duplicate(EntryId(1))
        );
        assert_eq!(
            outbox.state(&IdempotencyKey::of(&m), t0()).unwrap(),
            Some(EntryState::Delivered)
        );
        assert!(outbox
            .claim_due(at_ms(86_400_000), Duration::from_secs(30), 10)
            .unwrap()
            .is_empty());

        // Purging tombstones forgets the keys (documented): the message is new again.
        assert_eq!(outbox.purge_delivered(at_ms(1)).unwrap(), 3);
        assert_eq!(outbox.enqueue(&m, t0()).unwrap(), Enqueued::New(EntryId(4)));
    });
}

// ---------------------------------------------------------------------------------------------
// Retry schedule, dead letters, Retry-After, requeue
// ---------------------------------------------------------------------------------------------

#[test]
fn hand_computed_schedule_then_dead_letter_after_max_attempts() {
    both(|outbox, store| {
        let clock = ManualClock::new(t0());
        let m = message("pager", "DiskFull/db1", 7);
        outbox.enqueue(&m, clock.now()).unwrap();
        let errors = (0..4).map(|_| Err(MockError::transient("HTTP 503 Service Unavailable")));
        let rx = receivers(Scripted::new(errors));

        // Full jitter with r = 2^63 gives floor((t + 1ns) / 2) for t = 1s * 2^(attempt - 1):
        //   attempt 1 fails at T0        -> t = 1s -> 0.5s -> next at T0 + 0.5s
        //   attempt 2 fails at T0 + 0.5s -> t = 2s -> 1s   -> next at T0 + 1.5s
        //   attempt 3 fails at T0 + 1.5s -> t = 4s -> 2s   -> next at T0 + 3.5s
        //   attempt 4 fails at T0 + 3.5s -> 4 of 4 attempts made -> dead letter.
        let expected_next = [500, 1_500, 3_500];
        for (attempt, next_ms) in expected_next.into_iter().enumerate() {
            let report = deliver(outbox, &clock, &rx);
            assert_eq!(report.claimed, 1, "{store}: attempt {}", attempt + 1);
            assert_eq!(report.retried, 1);
            let pending = outbox.pending().unwrap();
            assert_eq!(pending[0].next_attempt_at, at_ms(next_ms), "{store}");
            assert_eq!(pending[0].attempts, u32::try_from(attempt + 1).unwrap());
            assert_eq!(
                pending[0].last_error.as_deref(),
                Some("HTTP 503 Service Unavailable")
            );
            // One microsecond early: not due yet.
            clock.set(at_ms(next_ms) - chrono::TimeDelta::microseconds(1));
            assert_eq!(deliver(outbox, &clock, &rx).claimed, 0, "{store}");
            clock.set(at_ms(next_ms));
        }
        let report = deliver(outbox, &clock, &rx);
        assert_eq!(report.dead_lettered, 1, "{store}");
        assert!(outbox.pending().unwrap().is_empty());
        let dead = outbox.dead_letters().unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].message, m);
        assert_eq!(dead[0].attempts, 4);
        assert_eq!(dead[0].reason, "gave up after 4 attempts");
        assert_eq!(
            dead[0].last_error.as_deref(),
            Some("HTTP 503 Service Unavailable")
        );
        assert_eq!(dead[0].died_at, at_ms(3_500));
        assert_eq!(rx["pager"].sent().len(), 4);
    });
}

#[test]
fn permanent_error_goes_straight_to_dead_letters() {
    both(|outbox, store| {
        let clock = ManualClock::new(t0());
        outbox
            .enqueue(&message("pager", "k", 1), clock.now())
            .unwrap();
        let rx = receivers(Scripted::new([Err(MockError::permanent(
            "HTTP 400 invalid routing key",
        ))]));
        let report = deliver(outbox, &clock, &rx);
        assert_eq!(report.dead_lettered, 1, "{store}");
        let dead = outbox.dead_letters().unwrap();
        assert_eq!(dead[0].attempts, 1);
        assert_eq!(dead[0].reason, "the error is not retryable");
        assert_eq!(
            dead[0].last_error.as_deref(),
            Some("HTTP 400 invalid routing key")
        );
        let key = IdempotencyKey::of(&message("pager", "k", 1));
        assert_eq!(
            outbox.state(&key, clock.now()).unwrap(),
            Some(EntryState::Dead)
        );
        // A dead letter still counts as "the same message": no duplicate enqueue.
        assert_eq!(
            outbox
                .enqueue(&message("pager", "k", 1), clock.now())
                .unwrap(),
            Enqueued::Duplicate(dead[0].id)
        );
    });
}

#[test]
fn retry_after_is_honoured_and_too_long_a_wait_gives_up() {
    both(|outbox, store| {
        let clock = ManualClock::new(t0());
        outbox
            .enqueue(&message("pager", "k", 1), clock.now())
            .unwrap();
        // The backoff alone would say 0.5 s; the receiver asked for 42 s, within the 60 s
        // maximum wait, so the next attempt is at T0 + 42 s exactly.
        let rx = receivers(Scripted::new([
            Err(MockError::wait(42)),
            Err(MockError::wait(120)),
        ]));
        deliver(outbox, &clock, &rx);
        assert_eq!(
            outbox.pending().unwrap()[0].next_attempt_at,
            at_ms(42_000),
            "{store}"
        );
        clock.set(at_ms(41_999));
        assert_eq!(deliver(outbox, &clock, &rx).claimed, 0);
        clock.set(at_ms(42_000));
        // Now it asks for 120 s > 60 s: the policy gives up rather than retry early.
        assert_eq!(deliver(outbox, &clock, &rx).dead_lettered, 1);
        assert_eq!(
            outbox.dead_letters().unwrap()[0].reason,
            "the receiver asked to wait 120s, more than the maximum wait of 60s"
        );
    });
}

#[test]
fn requeue_by_id_and_all() {
    both(|outbox, store| {
        let clock = ManualClock::new(t0());
        let batch: Vec<Message> = (1..=3).map(|s| message("pager", "k", s)).collect();
        outbox.enqueue_batch(&batch, clock.now()).unwrap();
        let rx = receivers(Scripted::new(
            (0..3).map(|_| Err(MockError::permanent("HTTP 404"))),
        ));
        assert_eq!(deliver(outbox, &clock, &rx).dead_lettered, 3, "{store}");

        assert!(matches!(
            outbox.requeue(EntryId(99), clock.now()),
            Err(NotifyError::OutboxEntryNotFound { id: 99, .. })
        ));
        clock.set(at_ms(60_000));
        outbox.requeue(EntryId(2), clock.now()).unwrap();
        let pending = outbox.pending().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!((pending[0].id, pending[0].attempts), (EntryId(2), 0));
        assert_eq!(pending[0].next_attempt_at, at_ms(60_000));
        assert_eq!(outbox.requeue_all(clock.now()).unwrap(), 2);
        assert!(outbox.dead_letters().unwrap().is_empty());

        // The script is used up: everything goes through now, each exactly once more.
        assert_eq!(deliver(outbox, &clock, &rx).delivered, 3);
        assert_eq!(
            outbox.counts(clock.now()).unwrap(),
            OutboxCounts {
                delivered: 3,
                ..OutboxCounts::default()
            }
        );
        assert_eq!(rx["pager"].sent().len(), 6);
    });
}

#[test]
fn a_receiver_without_a_notifier_is_a_dead_letter() {
    both(|outbox, store| {
        let clock = ManualClock::new(t0());
        outbox
            .enqueue(&message("removed-team", "k", 1), clock.now())
            .unwrap();
        let report = deliver(outbox, &clock, &receivers(Scripted::default()));
        assert_eq!(report.dead_lettered, 1, "{store}");
        assert_eq!(
            outbox.dead_letters().unwrap()[0].last_error.as_deref(),
            Some("no notifier is configured for receiver \"removed-team\"")
        );
    });
}

#[test]
fn receiver_notifiers_plug_in_directly() {
    /// A receiver whose own rate limiter asks to wait 7 s (a retryable `NotifyError`).
    #[derive(Debug)]
    struct Throttling;

    #[async_trait::async_trait]
    impl Notifier for Throttling {
        fn name(&self) -> &str {
            "chat"
        }
        async fn send(&self, _message: &Message) -> Result<Delivery, NotifyError> {
            Err(NotifyError::Throttled {
                receiver: String::from("chat"),
                retry_after: Duration::from_secs(7),
            })
        }
    }

    both(|outbox, store| {
        let clock = ManualClock::new(t0());
        let pager = Arc::new(MemoryNotifier::new("pager"));
        let notifiers: HashMap<String, Arc<dyn Notifier>> = HashMap::from([
            (
                String::from("pager"),
                Arc::clone(&pager) as Arc<dyn Notifier>,
            ),
            (
                String::from("chat"),
                Arc::new(Throttling) as Arc<dyn Notifier>,
            ),
        ]);
        let batch = [message("pager", "k", 1), message("chat", "k", 1)];
        outbox.enqueue_batch(&batch, clock.now()).unwrap();
        let report = block_on(deliver_due(
            outbox,
            &clock,
            &notifiers,
            &delivery_policy(),
            &mut FixedRng(HALF),
        ))
        .unwrap();
        assert_eq!((report.delivered, report.retried), (1, 1), "{store}");
        assert_eq!(pager.sent(), [batch[0].clone()]);
        // The throttled one waits exactly the 7 s the receiver asked for.
        let pending = outbox.pending().unwrap();
        assert_eq!(pending[0].message, batch[1]);
        assert_eq!(pending[0].next_attempt_at, at_ms(7_000));
        assert!(pending[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("rate limited"));
    });
}

// ---------------------------------------------------------------------------------------------
// Leases
// ---------------------------------------------------------------------------------------------

#[test]
fn leases_expire_and_stale_leases_cannot_undo_progress() {
    both(|outbox, store| {
        let lease = Duration::from_secs(30);
        outbox.enqueue(&message("pager", "k", 1), t0()).unwrap();
        let first = outbox.claim_due(t0(), lease, 10).unwrap();
        assert_eq!(first.len(), 1, "{store}");
        assert_eq!(first[0].lease.attempt(), 1);
        assert_eq!(first[0].lease.until(), at_ms(30_000));
        let key = IdempotencyKey::of(&first[0].message);
        assert_eq!(
            outbox.state(&key, at_ms(1)).unwrap(),
            Some(EntryState::InFlight)
        );
        // Nobody else gets it while the lease runs...
        assert!(outbox
            .claim_due(at_ms(29_999), lease, 10)
            .unwrap()
            .is_empty());
        // ...and it is due again once it expired (the first sender crashed or hangs).
        let second = outbox.claim_due(at_ms(30_000), lease, 10).unwrap();
        assert_eq!(second[0].lease.attempt(), 2);

        // The first sender wakes up and reports a failure: stale, ignored.
        let next = Next::RetryAt {
            at: at_ms(31_000),
            delay: Duration::from_secs(1),
        };
        assert_eq!(
            outbox
                .fail(&first[0].lease, "late", &next, at_ms(30_500))
                .unwrap(),
            Failed::Stale
        );
        // An ack from the stale lease is accepted (the message did go out)...
        assert_eq!(
            outbox.ack(&first[0].lease, at_ms(30_600)).unwrap(),
            Acked::Delivered
        );
        // ...and the current holder can neither fail it nor get it delivered twice.
        assert_eq!(
            outbox
                .fail(&second[0].lease, "x", &next, at_ms(30_700))
                .unwrap(),
            Failed::Stale
        );
        assert_eq!(
            outbox.ack(&second[0].lease, at_ms(30_800)).unwrap(),
            Acked::AlreadyDelivered
        );
        assert!(outbox
            .claim_due(at_ms(999_999), lease, 10)
            .unwrap()
            .is_empty());
        let bogus = outbox.claim_due(t0(), lease, 0).unwrap();
        assert!(bogus.is_empty());
    });
}

#[test]
fn a_message_that_keeps_crashing_its_sender_is_dead_lettered_without_another_send() {
    both(|outbox, store| {
        let clock = ManualClock::new(t0());
        outbox
            .enqueue(&message("pager", "poison", 1), clock.now())
            .unwrap();
        // Four claims whose senders "crashed" (no ack, no fail), 30 s apart.
        for n in 0..4 {
            clock.set(at_ms(n * 30_000));
            assert_eq!(
                outbox
                    .claim_due(clock.now(), Duration::from_secs(30), 10)
                    .unwrap()
                    .len(),
                1
            );
        }
        clock.set(at_ms(120_000));
        let rx = receivers(Scripted::default());
        let report = deliver(outbox, &clock, &rx);
        assert_eq!(report.dead_lettered, 1, "{store}");
        assert!(rx["pager"].sent().is_empty());
        assert!(outbox.dead_letters().unwrap()[0]
            .reason
            .starts_with("handed out 5 times"));
    });
}

#[test]
fn concurrent_claimers_never_share_an_entry() {
    const N: u64 = 300;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.db");
    let a = SqliteOutbox::open(&path).unwrap();
    let b = SqliteOutbox::open(&path).unwrap();
    let memory = MemoryOutbox::new();
    let batch: Vec<Message> = (0..N).map(|s| message("pager", "load", s)).collect();
    a.enqueue_batch(&batch, t0()).unwrap();
    memory.enqueue_batch(&batch, t0()).unwrap();

    let pairs: [(&dyn Outbox, &dyn Outbox); 2] = [(&a, &b), (&memory, &memory)];
    for (first, second) in pairs {
        let claimed: Mutex<Vec<EntryId>> = Mutex::default();
        std::thread::scope(|scope| {
            for outbox in [first, second, first, second] {
                let claimed = &claimed;
                scope.spawn(move || loop {
                    let claims = outbox.claim_due(t0(), Duration::from_secs(60), 7).unwrap();
                    if claims.is_empty() {
                        break;
                    }
                    let leases: Vec<_> = claims.iter().map(|c| c.lease).collect();
                    outbox.ack_batch(&leases, t0()).unwrap();
                    claimed
                        .lock()
                        .unwrap()
                        .extend(leases.iter().map(|l| l.id()));
                });
            }
        });
        let claimed = claimed.into_inner().unwrap();
        let unique: BTreeSet<EntryId> = claimed.iter().copied().collect();
        assert_eq!(claimed.len(), unique.len(), "an entry was handed out twice");
        assert_eq!(unique.len(), usize::try_from(N).unwrap());
        // Acked entries are never handed out again, however late it gets.
        assert!(first
            .claim_due(at_ms(10_000_000), Duration::from_secs(60), 1000)
            .unwrap()
            .is_empty());
        assert_eq!(
            first.counts(t0()).unwrap().delivered,
            usize::try_from(N).unwrap()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A real crash: a child process is killed between the send and the ack
// ---------------------------------------------------------------------------------------------

const CRASH_DB: &str = "PARKY_OUTBOX_CRASH_DB";
const CRASH_LOG: &str = "PARKY_OUTBOX_CRASH_LOG";

/// Appends every send to a log file (flushed to disk before answering) and, when told to,
/// aborts the process right after recording the send of one sequence number.
#[derive(Debug)]
struct LoggingReceiver {
    log: std::path::PathBuf,
    abort_after: Option<u64>,
}

impl Deliver for LoggingReceiver {
    type Error = MockError;
    fn deliver<'a>(
        &'a self,
        message: &'a Message,
    ) -> impl Future<Output = Result<(), MockError>> + Send + 'a {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        writeln!(file, "{}", IdempotencyKey::of(message)).unwrap();
        file.sync_all().unwrap();
        if self.abort_after == Some(message.sequence) {
            // The receiver has accepted the message; the sender dies before its ack.
            std::process::abort();
        }
        std::future::ready(Ok(()))
    }
}

fn crash_batch() -> Vec<Message> {
    (1..=6)
        .map(|s| message("pager", "OutboxCrash", s))
        .collect()
}

/// The child's side of `crash_between_send_and_ack_loses_nothing`; does nothing unless the
/// parent set the environment.
#[test]
fn crash_child() {
    let (Ok(db), Ok(log)) = (std::env::var(CRASH_DB), std::env::var(CRASH_LOG)) else {
        return;
    };
    let outbox = SqliteOutbox::open(&db).unwrap();
    let clock = ManualClock::new(t0());
    outbox.enqueue_batch(&crash_batch(), clock.now()).unwrap();
    let rx = BTreeMap::from([(
        String::from("pager"),
        LoggingReceiver {
            log: log.into(),
            abort_after: Some(4),
        },
    )]);
    // Claims all six (leased until T0 + 30 s), sends and acks 1 to 3, sends 4 and dies.
    let _ = block_on(deliver_due(
        &outbox,
        &clock,
        &rx,
        &delivery_policy(),
        &mut FixedRng(HALF),
    ));
    unreachable!("the receiver aborts the process while sending sequence 4");
}

#[test]
fn crash_between_send_and_ack_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outbox.db");
    let log = dir.path().join("sent.log");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--test-threads=1", "--nocapture"])
        .env(CRASH_DB, &db)
        .env(CRASH_LOG, &log)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child must have died: {status:?}");
    let sent_by_child = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        sent_by_child.lines().collect::<Vec<_>>(),
        [
            "pager/OutboxCrash#1",
            "pager/OutboxCrash#2",
            "pager/OutboxCrash#3",
            "pager/OutboxCrash#4"
        ]
    );

    // Restart: a new process opens the same file.
    let outbox = SqliteOutbox::open(&db).unwrap();
    let clock = ManualClock::new(at_ms(10_000));
    // 1-3 acked; 4 (sent, not acked) and 5-6 (never sent) still leased by the dead child.
    assert_eq!(
        outbox.counts(clock.now()).unwrap(),
        OutboxCounts {
            in_flight: 3,
            delivered: 3,
            ..OutboxCounts::default()
        }
    );
    let rx = BTreeMap::from([(
        String::from("pager"),
        LoggingReceiver {
            log: log.clone(),
            abort_after: None,
        },
    )]);
    let run = |clock: &ManualClock| {
        block_on(deliver_due(
            &outbox,
            clock,
            &rx,
            &delivery_policy(),
            &mut FixedRng(HALF),
        ))
        .unwrap()
    };
    // Before the child's leases expire nothing is handed out again.
    assert_eq!(run(&clock).claimed, 0);
    clock.set(at_ms(30_000));
    let report = run(&clock);
    assert_eq!((report.claimed, report.delivered), (3, 3));

    let sent = std::fs::read_to_string(&log).unwrap();
    let mut times_sent: BTreeMap<&str, usize> = BTreeMap::new();
    for line in sent.lines() {
        *times_sent.entry(line).or_default() += 1;
    }
    // (a) Nothing lost: every message reached the receiver, whether the crash came before
    // its send (5, 6) or between its send and its ack (4).
    assert_eq!(times_sent.len(), 6);
    // Acked messages were never sent again; the one in the send→ack gap went out twice with
    // the same dedup key and sequence: at-least-once. A deduplicating receiver (PagerDuty's
    // dedup_key) shows it once; a Discord webhook would show it twice.
    assert_eq!(
        times_sent.values().copied().collect::<Vec<_>>(),
        [1, 1, 1, 2, 1, 1]
    );
    let incidents: BTreeSet<&str> = sent.lines().collect();
    assert_eq!(incidents.len(), 6);

    assert_eq!(
        outbox.counts(clock.now()).unwrap(),
        OutboxCounts {
            delivered: 6,
            ..OutboxCounts::default()
        }
    );
    // (c) The producer re-enqueuing after its own restart changes nothing.
    assert!(outbox
        .enqueue_batch(&crash_batch(), clock.now())
        .unwrap()
        .iter()
        .all(|e| matches!(e, Enqueued::Duplicate(_))));
    // (b) Acked entries are never handed out again.
    clock.set(at_ms(86_400_000));
    assert_eq!(run(&clock).claimed, 0);
}

// ---------------------------------------------------------------------------------------------
// SQLite specifics and storage errors
// ---------------------------------------------------------------------------------------------

#[test]
fn sqlite_schema_is_versioned_in_wal_mode_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.db");
    {
        let outbox = SqliteOutbox::open(&path).unwrap();
        outbox
            .enqueue(&message("pager", "k", u64::MAX), t0())
            .unwrap();
        assert_eq!(outbox.file(), path.display().to_string());
    }
    let raw = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!((version, mode.as_str()), (2, "wal"));
    drop(raw);
    // Reopening (the migration is a no-op now) keeps the entry, u64::MAX sequence included.
    let outbox = SqliteOutbox::open(&path).unwrap();
    let pending = outbox.pending().unwrap();
    assert_eq!(pending[0].message.sequence, u64::MAX);
    assert_eq!(
        outbox
            .enqueue(&message("pager", "k", u64::MAX), t0())
            .unwrap(),
        Enqueued::Duplicate(EntryId(1))
    );
}

#[test]
fn corrupt_row_is_reported_with_path_table_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.db");
    let outbox = SqliteOutbox::open(&path).unwrap();
    outbox.enqueue(&message("pager", "k", 1), t0()).unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute("UPDATE outbox SET message = '{not json' WHERE id = 1", [])
        .unwrap();
    drop(raw);

    let err = outbox
        .claim_due(t0(), Duration::from_secs(30), 10)
        .unwrap_err();
    let file = path.display().to_string();
    assert!(
        matches!(&err, NotifyError::OutboxCorruptRow { file: f, table: "outbox", id: 1, .. } if *f == file),
        "{err:?}"
    );
    assert!(err.to_string().contains(&file), "{err}");
    assert!(err.to_string().contains("not valid JSON"), "{err}");
    assert!(outbox.pending().is_err());
    // The failed claim rolled back: the entry was not marked as handed out.
    let raw = rusqlite::Connection::open(&path).unwrap();
    let attempts: i64 = raw
        .query_row("SELECT attempts FROM outbox WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(attempts, 0);
    raw.execute(
        "UPDATE outbox SET next_attempt_at = 'soon' WHERE id = 1",
        [],
    )
    .unwrap();
    drop(raw);
    assert!(matches!(
        outbox.pending().unwrap_err(),
        NotifyError::OutboxCorruptRow { id: 1, .. }
    ));
}

#[test]
fn unreadable_database_file_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, "this is not a SQLite database\n".repeat(200)).unwrap();
    let err = SqliteOutbox::open(&garbage).unwrap_err();
    match &err {
        NotifyError::OutboxStorage {
            file,
            operation,
            message,
        } => {
            assert_eq!(file, &garbage.display().to_string());
            assert_eq!(*operation, "open");
            assert!(message.contains("not a database"), "{message}");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err.to_string().contains(&garbage.display().to_string()));

    // A directory where the file should be.
    let err = SqliteOutbox::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, NotifyError::OutboxStorage { file, .. } if *file == dir.path().display().to_string()),
        "{err:?}"
    );
    // A missing parent directory.
    assert!(SqliteOutbox::open(dir.path().join("missing/outbox.db")).is_err());
}

#[test]
fn a_foreign_sqlite_file_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(raw);
    let before = std::fs::read(&path).unwrap();
    let err = SqliteOutbox::open(&path).unwrap_err();
    let file = path.display().to_string();
    assert_eq!(
        err,
        NotifyError::NotAnOutbox {
            file: file.clone(),
            reason: "it is another SQLite database (tables: t)".to_owned(),
        }
    );
    assert_eq!(
        err.to_string(),
        format!("`{file}` is not a Parky outbox: it is another SQLite database (tables: t)")
    );
    // Not one byte written: no WAL switch, no schema, no user_version.
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["other.db"]);
}

#[test]
fn outbox_tables_beside_foreign_ones_or_a_foreign_application_id_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // An outbox whose file also holds a canary controller's tables.
    let mixed = dir.path().join("mixed.db");
    drop(SqliteOutbox::open(&mixed).unwrap());
    let raw = rusqlite::Connection::open(&mixed).unwrap();
    raw.execute_batch(
        "CREATE TABLE canary (id INTEGER); CREATE TABLE lease (id INTEGER);
         CREATE TABLE journal (id INTEGER); CREATE TABLE zz (id INTEGER);",
    )
    .unwrap();
    drop(raw);
    assert_eq!(
        SqliteOutbox::open(&mixed).unwrap_err(),
        NotifyError::NotAnOutbox {
            file: mixed.display().to_string(),
            reason: "it is another SQLite database (tables: canary, dead_letters, journal, \
                     lease, meta, and 4 more)"
                .to_owned(),
        }
    );
    // Another application's file, even without tables.
    let foreign = dir.path().join("foreign.db");
    let raw = rusqlite::Connection::open(&foreign).unwrap();
    raw.pragma_update(None, "application_id", 0x0F05_5112)
        .unwrap();
    drop(raw);
    let before = std::fs::read(&foreign).unwrap();
    assert_eq!(
        SqliteOutbox::open(&foreign).unwrap_err(),
        NotifyError::NotAnOutbox {
            file: foreign.display().to_string(),
            reason: "it is another application's SQLite database (application_id 0x0f055112)"
                .to_owned(),
        }
    );
    assert_eq!(std::fs::read(&foreign).unwrap(), before);
    // A user_version without tables is not ours either.
    let versioned = dir.path().join("versioned.db");
    let raw = rusqlite::Connection::open(&versioned).unwrap();
    raw.pragma_update(None, "user_version", 1).unwrap();
    drop(raw);
    assert_eq!(
        SqliteOutbox::open(&versioned).unwrap_err(),
        NotifyError::NotAnOutbox {
            file: versioned.display().to_string(),
            reason: "schema version 1 but it has no tables".to_owned(),
        }
    );
}

#[test]
fn new_and_empty_files_get_the_application_id_and_old_outboxes_are_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let read = |path: &std::path::Path| -> (i64, i32, Vec<String>) {
        let raw = rusqlite::Connection::open(path).unwrap();
        let version = raw
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        let id = raw
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .unwrap();
        let mut stmt = raw
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        let tables = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<Vec<String>, _>>()
            .unwrap();
        (version, id, tables)
    };
    let v2_tables = [
        "dead_letters",
        "meta",
        "outbox",
        "pipeline_state",
        "receiver_owners",
        "sqlite_sequence",
    ];
    // "PKYO" in ASCII.
    assert_eq!(parky_notify::outbox::APPLICATION_ID, 0x504B_594F);
    // A new file, and an existing empty (0-byte) file.
    let new = dir.path().join("new.db");
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    for path in [&new, &empty] {
        drop(SqliteOutbox::open(path).unwrap());
        let (version, id, tables) = read(path);
        assert_eq!((version, id), (2, 0x504B_594F));
        assert_eq!(tables, v2_tables);
    }
    // A version-1 outbox written before the application id existed: migrated, entry kept.
    let old = dir.path().join("old.db");
    {
        let outbox = SqliteOutbox::open(&old).unwrap();
        outbox.enqueue(&message("pager", "k", 7), t0()).unwrap();
    }
    let raw = rusqlite::Connection::open(&old).unwrap();
    raw.execute_batch(
        "DROP TABLE pipeline_state; DROP TABLE meta; DROP TABLE receiver_owners;
         PRAGMA user_version = 1; PRAGMA application_id = 0;",
    )
    .unwrap();
    drop(raw);
    assert_eq!(read(&old).0, 1);
    let outbox = SqliteOutbox::open(&old).unwrap();
    assert_eq!(outbox.pending().unwrap()[0].message.sequence, 7);
    drop(outbox);
    let (version, id, tables) = read(&old);
    assert_eq!((version, id), (2, 0x504B_594F));
    assert_eq!(tables, v2_tables);
    // A version-2 outbox without the application id (written before it existed) still opens.
    let raw = rusqlite::Connection::open(&old).unwrap();
    raw.pragma_update(None, "application_id", 0).unwrap();
    drop(raw);
    let outbox = SqliteOutbox::open(&old).unwrap();
    assert_eq!(outbox.pending().unwrap().len(), 1);
    drop(outbox);
    assert_eq!(read(&old).1, 0x504B_594F);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.db");
    drop(SqliteOutbox::open(&path).unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", 7).unwrap();
    drop(raw);
    assert!(matches!(
        SqliteOutbox::open(&path).unwrap_err(),
        NotifyError::OutboxSchemaTooNew {
            found: 7,
            supported: 2,
            ..
        }
    ));
}

#[test]
fn extreme_times_do_not_panic() {
    both(|outbox, store| {
        let max = DateTime::<Utc>::MAX_UTC;
        outbox.enqueue(&message("pager", "k", 1), max).unwrap();
        let claims = outbox.claim_due(max, Duration::MAX, 10).unwrap();
        // Stored times are whole microseconds: the lease ends at the last representable
        // microsecond.
        let max_micros = DateTime::from_timestamp_micros(max.timestamp_micros()).unwrap();
        assert_eq!(claims[0].lease.until(), max_micros, "{store}");
        let next = next_step(
            &retry_policy(),
            &claims[0],
            &MockError::transient("x"),
            max,
            &mut FixedRng(HALF),
        );
        assert!(matches!(next, Next::RetryAt { at, .. } if at == max));
        assert!(matches!(
            outbox.fail(&claims[0].lease, "x", &next, max).unwrap(),
            Failed::Scheduled(_)
        ));
    });
}

// ---------------------------------------------------------------------------------------------
// Property: any interleaving keeps every message somewhere, and both stores agree
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Enqueue(Vec<u8>),
    Claim { limit: usize, lease_secs: u64 },
    Ack(usize),
    Fail { claim: usize, error: u8 },
    Requeue(usize),
    RequeueAll,
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => proptest::collection::vec(0u8..8, 1..4).prop_map(Op::Enqueue),
        3 => (0usize..4, 1u64..20).prop_map(|(limit, lease_secs)| Op::Claim { limit, lease_secs }),
        2 => any::<usize>().prop_map(Op::Ack),
        2 => (any::<usize>(), 0u8..4).prop_map(|(claim, error)| Op::Fail { claim, error }),
        1 => any::<usize>().prop_map(Op::Requeue),
        1 => Just(Op::RequeueAll),
        2 => (0u64..15_000).prop_map(Op::Advance),
    ]
}

fn universe(i: u8) -> Message {
    message(
        if i % 2 == 0 { "pager" } else { "chat" },
        "prop",
        u64::from(i / 2),
    )
}

fn error_kind(kind: u8) -> MockError {
    match kind {
        0 => MockError::permanent("HTTP 400"),
        1 => MockError::wait(5),
        2 => MockError::wait(600),
        _ => MockError::transient("HTTP 502"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn stores_agree_and_never_lose_a_message(ops in proptest::collection::vec(op(), 1..40)) {
        let model = MemoryOutbox::new();
        let sqlite = SqliteOutbox::open_in_memory().unwrap();
        let stores: [&dyn Outbox; 2] = [&model, &sqlite];
        let policy = retry_policy();
        let mut now = t0();
        let mut claims: Vec<Claim> = Vec::new();
        let mut enqueued: BTreeSet<IdempotencyKey> = BTreeSet::new();
        for op in ops {
            match op {
                Op::Enqueue(indexes) => {
                    let batch: Vec<Message> = indexes.into_iter().map(universe).collect();
                    enqueued.extend(batch.iter().map(IdempotencyKey::of));
                    let answers = stores.map(|s| s.enqueue_batch(&batch, now).unwrap());
                    prop_assert_eq!(&answers[0], &answers[1]);
                }
                Op::Claim { limit, lease_secs } => {
                    let got = stores.map(|s| s.claim_due(now, Duration::from_secs(lease_secs), limit).unwrap());
                    prop_assert_eq!(&got[0], &got[1]);
                    let [first, _] = got;
                    claims.extend(first);
                }
                Op::Ack(i) if !claims.is_empty() => {
                    let lease = claims[i % claims.len()].lease;
                    let got = stores.map(|s| s.ack(&lease, now).unwrap());
                    prop_assert_eq!(got[0], got[1]);
                }
                Op::Fail { claim, error } if !claims.is_empty() => {
                    let claim = &claims[claim % claims.len()];
                    let error = error_kind(error);
                    let next = next_step(&policy, claim, &error, now, &mut FixedRng(HALF));
                    let got = stores.map(|s| s.fail(&claim.lease, error.text, &next, now).unwrap());
                    prop_assert_eq!(got[0], got[1]);
                }
                Op::Requeue(i) => {
                    let dead = model.dead_letters().unwrap();
                    if !dead.is_empty() {
                        let id = dead[i % dead.len()].id;
                        for store in stores {
                            store.requeue(id, now).unwrap();
                        }
                    }
                }
                Op::RequeueAll => {
                    let got = stores.map(|s| s.requeue_all(now).unwrap());
                    prop_assert_eq!(got[0], got[1]);
                }
                Op::Advance(ms) => now += chrono::TimeDelta::milliseconds(i64::try_from(ms).unwrap()),
                Op::Ack(_) | Op::Fail { .. } => {}
            }
            // Never lost: every message ever enqueued is pending, in flight, delivered or dead,
            // in both stores alike, and the counts add up.
            for key in &enqueued {
                let states = stores.map(|s| s.state(key, now).unwrap());
                prop_assert!(states[0].is_some(), "{} was lost", key);
                prop_assert_eq!(states[0], states[1]);
            }
            let counts = stores.map(|s| s.counts(now).unwrap());
            prop_assert_eq!(counts[0], counts[1]);
            let c = counts[0];
            prop_assert_eq!(c.pending + c.in_flight + c.delivered + c.dead, enqueued.len());
            prop_assert_eq!(model.pending().unwrap(), sqlite.pending().unwrap());
            prop_assert_eq!(model.dead_letters().unwrap(), sqlite.dead_letters().unwrap());
        }
    }
}

#[test]
fn a_deleted_outbox_file_is_refused_not_written_in_vain() {
    // SQLite would keep writing to the unlinked file; every later transaction must fail
    // instead, naming the file, so that /healthz and the sender notice.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let outbox = SqliteOutbox::open(&path).unwrap();
    let now = chrono::Utc::now();
    assert!(outbox.counts(now).is_ok());
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let err = outbox.counts(now).unwrap_err().to_string();
    assert!(
        err.contains("outbox.sqlite") && err.contains("gone"),
        "{err}"
    );
    // Replaced by a directory: refused as well.
    std::fs::create_dir(&path).unwrap();
    let err = outbox.counts(now).unwrap_err().to_string();
    assert!(err.contains("no longer a regular file"), "{err}");
}
