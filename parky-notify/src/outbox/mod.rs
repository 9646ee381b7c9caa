//! The durable outbox: every notification is written down *before* it is sent and settled
//! only *after* its receiver accepted it.
//!
//! # Life of an entry
//!
//! ```text
//!  enqueue ──► pending ──claim──► in flight ──ack──► delivered (tombstone, keeps the key)
//!                ▲  ▲                 │  │
//!                │  └──fail (retry)───┘  └──fail (permanent / attempts exhausted)──► dead letter
//!                │  └──lease expired (sender crashed)                                   │
//!                └──────────────────────────── requeue ◄────────────────────────────────┘
//! ```
//!
//! - [`Outbox::enqueue`] / [`Outbox::enqueue_batch`] store a [`Message`] under its
//!   [`IdempotencyKey`] `(receiver, dedup_key, sequence)`. Enqueuing the same key again keeps
//!   the one entry (pending, delivered or dead) and answers [`Enqueued::Duplicate`].
//! - [`Outbox::claim_due`] hands out entries whose next attempt time has come, each with a
//!   [`Lease`] that expires. While the lease runs nobody else gets the entry; once it has
//!   expired (the sender crashed or hung) the entry is due again. Every claim counts as an
//!   attempt, so a message that crashes its sender still runs out of attempts.
//! - [`Outbox::ack`] marks the entry delivered. It is kept as a tombstone so that a late
//!   duplicate enqueue is still recognised, until [`Outbox::purge_delivered`] drops it.
//! - [`Outbox::fail`] records the error text and applies a [`Next`] step computed by the pure
//!   [`next_step`] from parky-core's [`RetryPolicy`]: retry at a time (the receiver's
//!   `Retry-After` when it gave one, else the backoff), or move to the dead letters.
//! - [`Outbox::requeue`] / [`Outbox::requeue_all`] put dead letters back, due now, with a
//!   fresh attempt count.
//!
//! [`deliver_due`] is the delivery step: it claims due entries, hands each to the [`Deliver`]
//! registered for its receiver, then acks or fails it.
//!
//! # Guarantees, and what is not guaranteed
//!
//! - **No loss.** An entry leaves the pending set only through `ack` (the receiver accepted
//!   it), a dead letter (kept, listed and requeueable) or an explicit purge of delivered
//!   tombstones. A crash anywhere between enqueue and ack leaves the entry pending; after its
//!   lease expires it is claimed and sent again.
//! - **At-least-once, not exactly-once.** A crash after the receiver accepted a message but
//!   before the ack was committed makes the message go out again. No outbox can close that
//!   gap on its own: the two writes (the receiver's and ours) are not one transaction. The
//!   duplicate carries the same `dedup_key` and `sequence`, so a receiver that deduplicates
//!   (PagerDuty's Events API v2 `dedup_key`, a webhook consumer keying on them) shows it once;
//!   a Discord or Slack webhook has no such key and **will show the message twice**. The
//!   window is one HTTP round trip plus one small commit per message.
//! - **No concurrent double hand-out.** While a lease runs the entry is given to no other
//!   claimer, across threads and, for [`SqliteOutbox`], across processes (claims run in
//!   `BEGIN IMMEDIATE` transactions). A sender slower than its lease can overlap with the
//!   next claimer; [`deliver_due`] therefore skips entries whose lease has already run out.
//! - **Acked entries are never handed out again**, and a stale lease cannot undo an ack.
//!
//! # Why the trait is synchronous
//!
//! SQLite is a synchronous library: every call blocks on local disk I/O for microseconds to
//! milliseconds and never on the network. An async trait would only hide that blocking (or
//! force a `spawn_blocking` per call and a `'static` copy of every argument). The trait stays
//! sync, and the async part is only [`deliver_due`], which calls the outbox between sends.
//! Under a busy multi-threaded runtime, call `deliver_due` from a task that may block briefly,
//! or wrap the outbox in `spawn_blocking`.
//!
//! # Time
//!
//! Times are passed in as `now` (read them from a [`parky_core::Clock`]); the stores keep them
//! as whole microseconds since the Unix epoch, so a delay is effectively rounded down to the
//! microsecond. Both stores do the same, which keeps them interchangeable.

mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parky_core::{Clock, Decision, Failure, GiveUpReason, RetryPolicy, Retryable};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::NotifyError;
use crate::message::Message;
use crate::pipeline::PipelineSnapshot;
use crate::policy::strategy::add;
use crate::receiver::Notifier;
use secrecy::SecretString;

pub use memory::MemoryOutbox;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteOutbox, Synchronous, APPLICATION_ID};

/// The identifier of an outbox entry. It is assigned on enqueue, never reused, and kept when
/// the entry moves to the dead letters and back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntryId(pub i64);

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What makes two messages "the same notification": receiver, `dedup_key` and `sequence`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IdempotencyKey {
    /// [`Message::receiver`].
    pub receiver: String,
    /// [`Message::dedup_key`].
    pub dedup_key: String,
    /// [`Message::sequence`].
    pub sequence: u64,
}

impl IdempotencyKey {
    /// The key of `message`.
    #[must_use]
    pub fn of(message: &Message) -> Self {
        Self {
            receiver: message.receiver.clone(),
            dedup_key: message.dedup_key.clone(),
            sequence: message.sequence,
        }
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}#{}", self.receiver, self.dedup_key, self.sequence)
    }
}

/// The answer of [`Outbox::enqueue`] for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Enqueued {
    /// A new entry was written.
    New(EntryId),
    /// An entry with the same [`IdempotencyKey`] exists already (pending, in flight, delivered
    /// or dead); nothing was written.
    Duplicate(EntryId),
}

impl Enqueued {
    /// The entry's id, new or existing.
    #[must_use]
    pub fn id(self) -> EntryId {
        match self {
            Enqueued::New(id) | Enqueued::Duplicate(id) => id,
        }
    }
}

/// The right to settle one claimed entry: the entry, which attempt this is, and until when
/// nobody else will be given it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease {
    id: EntryId,
    attempt: u32,
    until: DateTime<Utc>,
}

impl Lease {
    pub(crate) fn new(id: EntryId, attempt: u32, until: DateTime<Utc>) -> Self {
        Self { id, attempt, until }
    }

    /// The claimed entry.
    #[must_use]
    pub fn id(&self) -> EntryId {
        self.id
    }

    /// The 1-based attempt number this claim is (every claim counts, including claims whose
    /// sender crashed).
    #[must_use]
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// When the lease expires and the entry becomes due for other claimers.
    #[must_use]
    pub fn until(&self) -> DateTime<Utc> {
        self.until
    }
}

/// One entry handed out by [`Outbox::claim_due`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Settle the entry with it ([`Outbox::ack`], [`Outbox::fail`]).
    pub lease: Lease,
    /// The notification to send.
    pub message: Message,
    /// The delay that preceded this attempt, if it came from a failure (for decorrelated
    /// jitter).
    pub previous_delay: Option<Duration>,
    /// The error text of the previous failed attempt, if any.
    pub last_error: Option<String>,
}

/// An entry not yet delivered, as listed by [`Outbox::pending`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    /// Its id.
    pub id: EntryId,
    /// The notification.
    pub message: Message,
    /// How many times it has been handed out.
    pub attempts: u32,
    /// Not to be handed out before this instant.
    pub next_attempt_at: DateTime<Utc>,
    /// The expiry of the latest lease, while one is outstanding.
    pub lease_until: Option<DateTime<Utc>>,
    /// The error text of the latest failed attempt.
    pub last_error: Option<String>,
    /// When it was first enqueued.
    pub enqueued_at: DateTime<Utc>,
}

impl PendingEntry {
    /// Whether a sender holds a lease on it at `now`.
    #[must_use]
    pub fn is_in_flight(&self, now: DateTime<Utc>) -> bool {
        self.lease_until.is_some_and(|until| until > now)
    }
}

/// An entry that was given up on, as listed by [`Outbox::dead_letters`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Its id (the same it had while pending).
    pub id: EntryId,
    /// The notification.
    pub message: Message,
    /// How many times it had been handed out.
    pub attempts: u32,
    /// Why it was given up on, e.g. `the error is not retryable`.
    pub reason: String,
    /// The error text of the last failed attempt.
    pub last_error: Option<String>,
    /// When it was first enqueued.
    pub enqueued_at: DateTime<Utc>,
    /// When it was moved to the dead letters.
    pub died_at: DateTime<Utc>,
}

/// Where an entry is, as answered by [`Outbox::state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryState {
    /// Waiting for its next attempt (or due now).
    Pending,
    /// Handed out under a lease that has not expired.
    InFlight,
    /// Acked: the receiver accepted it.
    Delivered,
    /// In the dead letters.
    Dead,
}

/// How many entries are in each [`EntryState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct OutboxCounts {
    /// Pending, not leased.
    pub pending: usize,
    /// Leased, lease not expired.
    pub in_flight: usize,
    /// Delivered tombstones (not yet purged).
    pub delivered: usize,
    /// Dead letters.
    pub dead: usize,
}

/// What [`Outbox::fail`] should do with the entry; computed by [`next_step`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Next {
    /// Hand it out again at `at`, which is `delay` after the failure.
    RetryAt {
        /// The next attempt time.
        at: DateTime<Utc>,
        /// The delay that led to it (kept for decorrelated jitter).
        delay: Duration,
    },
    /// Move it to the dead letters.
    DeadLetter {
        /// Why, in words (shown by [`Outbox::dead_letters`]).
        reason: String,
    },
}

/// The answer of [`Outbox::ack`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Acked {
    /// The entry is now delivered.
    Delivered,
    /// It had been acked before (by this or another lease); nothing changed.
    AlreadyDelivered,
}

/// The answer of [`Outbox::fail`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failed {
    /// The entry will be handed out again at this instant.
    Scheduled(DateTime<Utc>),
    /// The entry moved to the dead letters.
    DeadLettered,
    /// The lease no longer owns the entry (it expired and the entry was claimed again, was
    /// already settled, or acked); nothing changed.
    Stale,
}

/// Durable storage of notifications between "decided to notify" and "the receiver accepted".
///
/// Implementations: [`SqliteOutbox`] (durable, shared between processes) and [`MemoryOutbox`]
/// (the embedded default and the reference model in tests). Both behave identically for the
/// same calls; a property test checks it. The trait is synchronous on purpose, see the
/// [module documentation](self).
pub trait Outbox: Send + Sync {
    /// Store `messages` in one transaction (all or none), each due at `now`. Duplicates of an
    /// existing key, or of an earlier message of the same batch, are not written.
    ///
    /// # Errors
    /// A storage error; then nothing of the batch was written.
    fn enqueue_batch(
        &self,
        messages: &[Message],
        now: DateTime<Utc>,
    ) -> Result<Vec<Enqueued>, NotifyError>;

    /// Store one message, due at `now`. See [`Outbox::enqueue_batch`].
    ///
    /// # Errors
    /// A storage error; then nothing was written.
    fn enqueue(&self, message: &Message, now: DateTime<Utc>) -> Result<Enqueued, NotifyError> {
        let mut answers = self.enqueue_batch(std::slice::from_ref(message), now)?;
        answers.pop().ok_or_else(|| NotifyError::OutboxStorage {
            file: String::from("<outbox>"),
            operation: "enqueue",
            message: String::from("the store answered an empty batch"),
        })
    }

    /// Hand out up to `limit` entries that are due at `now` (next attempt time reached, no
    /// unexpired lease), oldest due first, each leased until `now + lease`. Each claim
    /// increments the entry's attempt count.
    ///
    /// # Errors
    /// A storage error or a corrupt row; then nothing was claimed.
    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Claim>, NotifyError>;

    /// Record that the receiver accepted the leased entry. Accepted even if the lease has
    /// expired meanwhile (the message did go out); an entry already in the dead letters is
    /// brought back as delivered.
    ///
    /// # Errors
    /// [`NotifyError::OutboxEntryNotFound`] if the entry does not exist (any more), or a
    /// storage error.
    fn ack(&self, lease: &Lease, now: DateTime<Utc>) -> Result<Acked, NotifyError> {
        let mut answers = self.ack_batch(std::slice::from_ref(lease), now)?;
        answers.pop().ok_or_else(|| NotifyError::OutboxStorage {
            file: String::from("<outbox>"),
            operation: "ack",
            message: String::from("the store answered an empty batch"),
        })
    }

    /// [`Outbox::ack`] for many leases in one transaction.
    ///
    /// # Errors
    /// As [`Outbox::ack`]; then nothing of the batch was recorded.
    fn ack_batch(&self, leases: &[Lease], now: DateTime<Utc>) -> Result<Vec<Acked>, NotifyError>;

    /// Record a failed attempt with its `error` text and apply `next`. Only the current lease
    /// may do this; a stale one gets [`Failed::Stale`] and changes nothing.
    ///
    /// # Errors
    /// [`NotifyError::OutboxEntryNotFound`] if the entry does not exist (any more), or a
    /// storage error.
    fn fail(
        &self,
        lease: &Lease,
        error: &str,
        next: &Next,
        now: DateTime<Utc>,
    ) -> Result<Failed, NotifyError>;

    /// Every entry not yet delivered nor dead (including in-flight ones), by id.
    ///
    /// # Errors
    /// A storage error or a corrupt row.
    fn pending(&self) -> Result<Vec<PendingEntry>, NotifyError>;

    /// Every dead letter, by id.
    ///
    /// # Errors
    /// A storage error or a corrupt row.
    fn dead_letters(&self) -> Result<Vec<DeadLetter>, NotifyError>;

    /// Move dead letter `id` back to pending, due at `now`, with its attempt count reset.
    ///
    /// # Errors
    /// [`NotifyError::OutboxEntryNotFound`] if there is no dead letter `id`, or a storage
    /// error.
    fn requeue(&self, id: EntryId, now: DateTime<Utc>) -> Result<(), NotifyError>;

    /// Move every dead letter back to pending, due at `now`; returns how many.
    ///
    /// # Errors
    /// A storage error; then nothing moved.
    fn requeue_all(&self, now: DateTime<Utc>) -> Result<usize, NotifyError>;

    /// Where the entry with `key` is at `now`, or `None` if it was never enqueued (or its
    /// delivered tombstone was purged).
    ///
    /// # Errors
    /// A storage error.
    fn state(
        &self,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
    ) -> Result<Option<EntryState>, NotifyError>;

    /// How many entries are in each state at `now`.
    ///
    /// # Errors
    /// A storage error.
    fn counts(&self, now: DateTime<Utc>) -> Result<OutboxCounts, NotifyError>;

    /// Drop delivered tombstones acked before `before`; returns how many. After this, the
    /// same keys can be enqueued (and sent) again.
    ///
    /// # Errors
    /// A storage error.
    fn purge_delivered(&self, before: DateTime<Utc>) -> Result<usize, NotifyError>;

    /// [`Outbox::enqueue_batch`] and, in the same transaction, replace the stored pipeline
    /// state with `state`: either both are written or neither. A [`Pipeline`] that hands
    /// its messages to the outbox this way can always be restored to a state consistent
    /// with the outbox's contents (see [`crate::server::Service`]).
    ///
    /// [`Pipeline`]: crate::pipeline::Pipeline
    ///
    /// # Errors
    /// A storage error; then nothing was written.
    fn enqueue_with_state(
        &self,
        messages: &[Message],
        state: &PipelineSnapshot,
        now: DateTime<Utc>,
    ) -> Result<Vec<Enqueued>, NotifyError>;

    /// The pipeline state stored last by [`Outbox::enqueue_with_state`], if any.
    ///
    /// # Errors
    /// A storage error, or a stored state that cannot be decoded or was written in a newer
    /// format (naming the file).
    fn load_state(&self) -> Result<Option<PipelineSnapshot>, NotifyError>;
}

/// What a receiver delivers to, as secret material (its URLs, routing keys or file paths):
/// the identity an outbox file binds each receiver name to (see
/// [`SqliteOutbox::bind`](crate::outbox::SqliteOutbox::bind)). Only a salted SHA-256
/// fingerprint of it is ever stored; `Debug` shows `[REDACTED]`.
#[derive(Clone)]
pub struct ReceiverTarget(SecretString);

impl fmt::Debug for ReceiverTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReceiverTarget([REDACTED])")
    }
}

impl ReceiverTarget {
    /// A target described by `parts` (e.g. the kind of each integration and its URL or key),
    /// in order. Parts are length-prefixed, so no two different lists describe the same
    /// target.
    #[must_use]
    pub fn from_parts<I, S>(parts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut text = String::new();
        for part in parts {
            let part = part.as_ref();
            text.push_str(&part.len().to_string());
            text.push(':');
            text.push_str(part);
            text.push(';');
        }
        Self(SecretString::from(text))
    }

    /// The fingerprint of this target under `salt`: the lowercase hex SHA-256 of a fixed
    /// domain tag, the salt and the target. Without the salt (random per outbox file) it
    /// cannot be compared against guesses made elsewhere.
    #[must_use]
    pub fn fingerprint(&self, salt: &[u8]) -> String {
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        hash.update(b"parky-notify receiver target v1\0");
        hash.update(u64::try_from(salt.len()).unwrap_or(u64::MAX).to_be_bytes());
        hash.update(salt);
        hash.update(secrecy::ExposeSecret::expose_secret(&self.0).as_bytes());
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What the outbox does after a failed attempt, per `policy` (pure: no I/O, randomness passed
/// in).
///
/// The attempt number is the claim's ([`Lease::attempt`]); the error's retryability and
/// `Retry-After` come from [`Retryable`]. [`RetryPolicy::decide`] then rules: a permanent
/// error or the last attempt goes to the dead letters; a `Retry-After` within the policy's
/// maximum wait is used as is; else the backoff for that attempt (with the claim's previous
/// delay for decorrelated jitter). The next attempt time saturates at the largest instant.
#[must_use]
pub fn next_step<E, R>(
    policy: &RetryPolicy,
    claim: &Claim,
    error: &E,
    now: DateTime<Utc>,
    rng: &mut R,
) -> Next
where
    E: Retryable + ?Sized,
    R: Rng + ?Sized,
{
    let failure =
        Failure::from_error(claim.lease.attempt(), error).with_previous_delay(claim.previous_delay);
    match policy.decide(&failure, rng) {
        Decision::Retry { after, .. } => Next::RetryAt {
            at: add(now, after),
            delay: after,
        },
        Decision::GiveUp(reason) => Next::DeadLetter {
            reason: give_up_text(reason),
        },
    }
}

fn give_up_text(reason: GiveUpReason) -> String {
    match reason {
        GiveUpReason::NotRetryable => String::from("the error is not retryable"),
        GiveUpReason::AttemptsExhausted { attempts } => {
            format!("gave up after {attempts} attempts")
        }
        GiveUpReason::RetryAfterTooLong {
            retry_after,
            max_wait,
        } => format!(
            "the receiver asked to wait {}s, more than the maximum wait of {}s",
            retry_after.as_secs_f64(),
            max_wait.as_secs_f64()
        ),
    }
}

/// An instant as whole microseconds since the Unix epoch (every `DateTime<Utc>` fits).
pub(crate) fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The inverse of [`to_micros`]; `None` outside chrono's range.
pub(crate) fn from_micros(micros: i64) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_micros(micros)
}

/// A duration as nanoseconds, saturating at `i64::MAX` (about 292 years).
pub(crate) fn to_nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The inverse of [`to_nanos`]; negative values (only from a corrupt row) are `None`.
pub(crate) fn from_nanos(nanos: i64) -> Option<Duration> {
    u64::try_from(nanos).ok().map(Duration::from_nanos)
}

/// A destination [`deliver_due`] can hand a message to.
///
/// Implement it for a receiver integration (or adapt one): resolve with `Ok(())` only once the
/// service has accepted the message (HTTP 2xx), with an error otherwise. The error says
/// whether retrying can help and whether the service asked to wait ([`Retryable`]); its
/// `Display` text is stored with the entry.
pub trait Deliver: Send + Sync {
    /// The failure type.
    type Error: Retryable + fmt::Display;

    /// Send `message`.
    fn deliver<'a>(
        &'a self,
        message: &'a Message,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a;
}

/// Every receiver integration ([`Notifier`]: Discord, Slack, PagerDuty, webhooks, files, the
/// in-memory recorder, `Arc<dyn Notifier>`) is a [`Deliver`]: the [`Delivery`](crate::receiver::Delivery)
/// receipt is dropped, the [`NotifyError`] kept (with its `is_retryable` and `retry_after`).
impl<N: Notifier + ?Sized> Deliver for N {
    type Error = NotifyError;

    fn deliver<'a>(
        &'a self,
        message: &'a Message,
    ) -> impl Future<Output = Result<(), NotifyError>> + Send + 'a {
        let sent = self.send(message);
        async move { sent.await.map(|_| ()) }
    }
}

/// Finds the [`Deliver`] for a receiver name (implemented for `HashMap` and `BTreeMap` keyed
/// by receiver name).
pub trait Receivers: Send + Sync {
    /// The deliverer type.
    type Target: Deliver;

    /// The deliverer registered for `receiver`, if any.
    fn lookup(&self, receiver: &str) -> Option<&Self::Target>;
}

impl<D: Deliver, S: BuildHasher + Send + Sync> Receivers for HashMap<String, D, S> {
    type Target = D;

    fn lookup(&self, receiver: &str) -> Option<&D> {
        self.get(receiver)
    }
}

impl<D: Deliver> Receivers for BTreeMap<String, D> {
    type Target = D;

    fn lookup(&self, receiver: &str) -> Option<&D> {
        self.get(receiver)
    }
}

/// The knobs of [`deliver_due`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// When to retry and when to give up.
    pub retry: RetryPolicy,
    /// How long a claim is reserved for this sender. Make it longer than a send takes
    /// (HTTP timeout included): a sender slower than its lease may overlap with another.
    pub lease: Duration,
    /// How many entries one call claims at most.
    pub batch: usize,
}

impl DeliveryPolicy {
    /// A policy with `retry`, a 60-second lease and batches of 100.
    #[must_use]
    pub fn new(retry: RetryPolicy) -> Self {
        Self {
            retry,
            lease: Duration::from_secs(60),
            batch: 100,
        }
    }
}

/// What one [`deliver_due`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DeliveryReport {
    /// Entries claimed.
    pub claimed: usize,
    /// Entries the receiver accepted and that were acked.
    pub delivered: usize,
    /// Entries that failed and were scheduled again.
    pub retried: usize,
    /// Entries moved to the dead letters (failed for good, no deliverer for the receiver,
    /// or handed out more often than the policy allows without a recorded result).
    pub dead_lettered: usize,
    /// Entries left alone because their lease ran out before they were sent, or whose
    /// settlement found the lease stale.
    pub skipped: usize,
}

/// The error recorded when no [`Deliver`] is registered for an entry's receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NoDeliverer(String);

impl fmt::Display for NoDeliverer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no notifier is configured for receiver {:?}", self.0)
    }
}

impl Retryable for NoDeliverer {
    fn is_retryable(&self) -> bool {
        false
    }
}

/// The delivery step: claim the entries due now, send each through the [`Deliver`] of its
/// receiver, and ack or fail it.
///
/// Entries are sent one after the other, in claim order, and each is settled (its own
/// commit) right after its send, which keeps the crash window between "accepted by the
/// receiver" and "acked" to one message. Before each send the lease is checked against the
/// clock: an entry whose lease already ran out is left for the next claimer. An entry handed
/// out more than `policy.retry.max_attempts()` times (earlier senders crashed before
/// recording a result) is dead-lettered without being sent again, so a message that crashes
/// its sender cannot loop forever. A receiver without a deliverer is a permanent error.
///
/// # Errors
/// A storage error of the outbox. Entries already settled stay settled; claimed but
/// unsettled ones become due again when their lease expires.
pub async fn deliver_due<O, C, N, R>(
    outbox: &O,
    clock: &C,
    receivers: &N,
    policy: &DeliveryPolicy,
    rng: &mut R,
) -> Result<DeliveryReport, NotifyError>
where
    O: Outbox + ?Sized,
    C: Clock + ?Sized,
    N: Receivers + ?Sized,
    R: Rng + ?Sized,
{
    let mut report = DeliveryReport::default();
    let claims = outbox.claim_due(clock.now(), policy.lease, policy.batch)?;
    report.claimed = claims.len();
    for claim in claims {
        if clock.now() >= claim.lease.until() {
            report.skipped += 1;
            continue;
        }
        if claim.lease.attempt() > policy.retry.max_attempts() {
            let reason = format!(
                "handed out {} times without a recorded result (the sender crashed or lost its \
                 lease each time); the policy allows {} attempts",
                claim.lease.attempt(),
                policy.retry.max_attempts()
            );
            let error = claim.last_error.clone().unwrap_or_else(|| reason.clone());
            let next = Next::DeadLetter { reason };
            tally(
                &mut report,
                outbox.fail(&claim.lease, &error, &next, clock.now())?,
            );
            continue;
        }
        let Some(deliverer) = receivers.lookup(&claim.message.receiver) else {
            let error = NoDeliverer(claim.message.receiver.clone());
            let now = clock.now();
            let next = next_step(&policy.retry, &claim, &error, now, rng);
            tally(
                &mut report,
                outbox.fail(&claim.lease, &error.to_string(), &next, now)?,
            );
            continue;
        };
        match deliverer.deliver(&claim.message).await {
            Ok(()) => {
                outbox.ack(&claim.lease, clock.now())?;
                report.delivered += 1;
            }
            Err(error) => {
                let now = clock.now();
                let next = next_step(&policy.retry, &claim, &error, now, rng);
                tally(
                    &mut report,
                    outbox.fail(&claim.lease, &error.to_string(), &next, now)?,
                );
            }
        }
    }
    Ok(report)
}

fn tally(report: &mut DeliveryReport, failed: Failed) {
    match failed {
        Failed::Scheduled(_) => report.retried += 1,
        Failed::DeadLettered => report.dead_lettered += 1,
        Failed::Stale => report.skipped += 1,
    }
}
