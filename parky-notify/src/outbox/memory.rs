//! The in-memory [`Outbox`]: the embedded default and the reference model for tests.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    add, from_micros, from_nanos, to_micros, to_nanos, Acked, Claim, DeadLetter, Enqueued, EntryId,
    EntryState, Failed, IdempotencyKey, Lease, Next, Outbox, OutboxCounts, PendingEntry,
};
use crate::error::NotifyError;
use crate::message::Message;
use crate::pipeline::PipelineSnapshot;

/// The name used for this store in errors.
const FILE: &str = "<memory>";

/// An [`Outbox`] kept in process memory: nothing survives a restart. Use it where losing
/// queued notifications on a crash is acceptable, and as the model the SQLite store is
/// checked against. Cloning is not offered; share it behind an `Arc`.
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last_id: i64,
    keys: HashMap<IdempotencyKey, i64>,
    live: BTreeMap<i64, Row>,
    dead: BTreeMap<i64, DeadRow>,
    pipeline: Option<PipelineSnapshot>,
}

/// Times are microseconds since the epoch, as in the SQLite store.
#[derive(Debug, Clone)]
struct Row {
    message: Message,
    attempts: u32,
    next_attempt_at: i64,
    lease_until: Option<i64>,
    last_error: Option<String>,
    last_delay_ns: Option<i64>,
    enqueued_at: i64,
    delivered_at: Option<i64>,
}

#[derive(Debug, Clone)]
struct DeadRow {
    message: Message,
    attempts: u32,
    reason: String,
    last_error: Option<String>,
    enqueued_at: i64,
    died_at: i64,
}

impl MemoryOutbox {
    /// An empty outbox.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every mutation below completes before the guard is dropped and none of them can
        // panic halfway, so a poisoned lock still guards a consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn time(micros: i64, id: i64) -> Result<DateTime<Utc>, NotifyError> {
    from_micros(micros).ok_or_else(|| NotifyError::OutboxCorruptRow {
        file: FILE.to_owned(),
        table: "outbox",
        id,
        reason: format!("timestamp {micros} is out of range"),
    })
}

fn not_found(id: i64) -> NotifyError {
    NotifyError::OutboxEntryNotFound {
        file: FILE.to_owned(),
        id,
    }
}

fn is_due(row: &Row, now: i64) -> bool {
    row.delivered_at.is_none()
        && row.next_attempt_at <= now
        && row.lease_until.is_none_or(|until| until <= now)
}

/// Stores `messages` (skipping known keys), due at `now`.
fn insert(state: &mut State, messages: &[Message], now: DateTime<Utc>) -> Vec<Enqueued> {
    let now = to_micros(now);
    let mut answers = Vec::with_capacity(messages.len());
    for message in messages {
        let key = IdempotencyKey::of(message);
        if let Some(&id) = state.keys.get(&key) {
            answers.push(Enqueued::Duplicate(EntryId(id)));
            continue;
        }
        state.last_id = state.last_id.saturating_add(1);
        let id = state.last_id;
        state.keys.insert(key, id);
        state.live.insert(
            id,
            Row {
                message: message.clone(),
                attempts: 0,
                next_attempt_at: now,
                lease_until: None,
                last_error: None,
                last_delay_ns: None,
                enqueued_at: now,
                delivered_at: None,
            },
        );
        answers.push(Enqueued::New(EntryId(id)));
    }
    answers
}

impl Outbox for MemoryOutbox {
    fn enqueue_batch(
        &self,
        messages: &[Message],
        now: DateTime<Utc>,
    ) -> Result<Vec<Enqueued>, NotifyError> {
        Ok(insert(&mut self.lock(), messages, now))
    }

    fn enqueue_with_state(
        &self,
        messages: &[Message],
        pipeline: &PipelineSnapshot,
        now: DateTime<Utc>,
    ) -> Result<Vec<Enqueued>, NotifyError> {
        let mut state = self.lock();
        let answers = insert(&mut state, messages, now);
        state.pipeline = Some(pipeline.clone());
        Ok(answers)
    }

    fn load_state(&self) -> Result<Option<PipelineSnapshot>, NotifyError> {
        Ok(self.lock().pipeline.clone())
    }

    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Claim>, NotifyError> {
        let until = to_micros(add(now, lease));
        let now = to_micros(now);
        let mut state = self.lock();
        let mut due: Vec<(i64, i64)> = state
            .live
            .iter()
            .filter(|(_, row)| is_due(row, now))
            .map(|(&id, row)| (row.next_attempt_at, id))
            .collect();
        due.sort_unstable();
        due.truncate(limit);
        let mut claims = Vec::with_capacity(due.len());
        for (_, id) in due {
            let Some(row) = state.live.get_mut(&id) else {
                continue;
            };
            row.attempts = row.attempts.saturating_add(1);
            row.lease_until = Some(until);
            let previous_delay = match row.last_delay_ns {
                Some(ns) => Some(from_nanos(ns).ok_or_else(|| NotifyError::OutboxCorruptRow {
                    file: FILE.to_owned(),
                    table: "outbox",
                    id,
                    reason: format!("negative delay {ns}"),
                })?),
                None => None,
            };
            claims.push(Claim {
                lease: Lease::new(EntryId(id), row.attempts, time(until, id)?),
                message: row.message.clone(),
                previous_delay,
                last_error: row.last_error.clone(),
            });
        }
        Ok(claims)
    }

    fn ack_batch(&self, leases: &[Lease], now: DateTime<Utc>) -> Result<Vec<Acked>, NotifyError> {
        let now = to_micros(now);
        let mut state = self.lock();
        // Check first, so that an unknown id leaves the whole batch unrecorded.
        for lease in leases {
            let id = lease.id().0;
            if !state.live.contains_key(&id) && !state.dead.contains_key(&id) {
                return Err(not_found(id));
            }
        }
        let mut answers = Vec::with_capacity(leases.len());
        for lease in leases {
            let id = lease.id().0;
            if let Some(dead) = state.dead.remove(&id) {
                state.live.insert(
                    id,
                    Row {
                        message: dead.message,
                        attempts: dead.attempts,
                        next_attempt_at: dead.died_at,
                        lease_until: None,
                        last_error: dead.last_error,
                        last_delay_ns: None,
                        enqueued_at: dead.enqueued_at,
                        delivered_at: Some(now),
                    },
                );
                answers.push(Acked::Delivered);
            } else if let Some(row) = state.live.get_mut(&id) {
                if row.delivered_at.is_some() {
                    answers.push(Acked::AlreadyDelivered);
                } else {
                    row.delivered_at = Some(now);
                    row.lease_until = None;
                    answers.push(Acked::Delivered);
                }
            }
        }
        Ok(answers)
    }

    fn fail(
        &self,
        lease: &Lease,
        error: &str,
        next: &Next,
        now: DateTime<Utc>,
    ) -> Result<Failed, NotifyError> {
        let now = to_micros(now);
        let id = lease.id().0;
        let mut state = self.lock();
        let Some(row) = state.live.get_mut(&id) else {
            return if state.dead.contains_key(&id) {
                Ok(Failed::Stale)
            } else {
                Err(not_found(id))
            };
        };
        if row.delivered_at.is_some()
            || row.lease_until.is_none()
            || row.attempts != lease.attempt()
        {
            return Ok(Failed::Stale);
        }
        match next {
            Next::RetryAt { at, delay } => {
                row.last_error = Some(error.to_owned());
                row.lease_until = None;
                row.next_attempt_at = to_micros(*at);
                row.last_delay_ns = Some(to_nanos(*delay));
                Ok(Failed::Scheduled(time(row.next_attempt_at, id)?))
            }
            Next::DeadLetter { reason } => {
                let Some(row) = state.live.remove(&id) else {
                    return Err(not_found(id));
                };
                state.dead.insert(
                    id,
                    DeadRow {
                        message: row.message,
                        attempts: row.attempts,
                        reason: reason.clone(),
                        last_error: Some(error.to_owned()),
                        enqueued_at: row.enqueued_at,
                        died_at: now,
                    },
                );
                Ok(Failed::DeadLettered)
            }
        }
    }

    fn pending(&self) -> Result<Vec<PendingEntry>, NotifyError> {
        let state = self.lock();
        state
            .live
            .iter()
            .filter(|(_, row)| row.delivered_at.is_none())
            .map(|(&id, row)| {
                Ok(PendingEntry {
                    id: EntryId(id),
                    message: row.message.clone(),
                    attempts: row.attempts,
                    next_attempt_at: time(row.next_attempt_at, id)?,
                    lease_until: row.lease_until.map(|t| time(t, id)).transpose()?,
                    last_error: row.last_error.clone(),
                    enqueued_at: time(row.enqueued_at, id)?,
                })
            })
            .collect()
    }

    fn dead_letters(&self) -> Result<Vec<DeadLetter>, NotifyError> {
        let state = self.lock();
        state
            .dead
            .iter()
            .map(|(&id, row)| {
                Ok(DeadLetter {
                    id: EntryId(id),
                    message: row.message.clone(),
                    attempts: row.attempts,
                    reason: row.reason.clone(),
                    last_error: row.last_error.clone(),
                    enqueued_at: time(row.enqueued_at, id)?,
                    died_at: time(row.died_at, id)?,
                })
            })
            .collect()
    }

    fn requeue(&self, id: EntryId, now: DateTime<Utc>) -> Result<(), NotifyError> {
        let mut state = self.lock();
        let dead = state.dead.remove(&id.0).ok_or_else(|| not_found(id.0))?;
        state.live.insert(id.0, revive(dead, to_micros(now)));
        Ok(())
    }

    fn requeue_all(&self, now: DateTime<Utc>) -> Result<usize, NotifyError> {
        let now = to_micros(now);
        let mut state = self.lock();
        let dead = std::mem::take(&mut state.dead);
        let count = dead.len();
        for (id, row) in dead {
            state.live.insert(id, revive(row, now));
        }
        Ok(count)
    }

    fn state(
        &self,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
    ) -> Result<Option<EntryState>, NotifyError> {
        let now = to_micros(now);
        let state = self.lock();
        let Some(id) = state.keys.get(key) else {
            return Ok(None);
        };
        if state.dead.contains_key(id) {
            return Ok(Some(EntryState::Dead));
        }
        Ok(state.live.get(id).map(|row| classify(row, now)))
    }

    fn counts(&self, now: DateTime<Utc>) -> Result<OutboxCounts, NotifyError> {
        let now = to_micros(now);
        let state = self.lock();
        let mut counts = OutboxCounts {
            dead: state.dead.len(),
            ..OutboxCounts::default()
        };
        for row in state.live.values() {
            match classify(row, now) {
                EntryState::Pending => counts.pending += 1,
                EntryState::InFlight => counts.in_flight += 1,
                EntryState::Delivered => counts.delivered += 1,
                EntryState::Dead => counts.dead += 1,
            }
        }
        Ok(counts)
    }

    fn purge_delivered(&self, before: DateTime<Utc>) -> Result<usize, NotifyError> {
        let before = to_micros(before);
        let mut state = self.lock();
        let purged: Vec<(i64, IdempotencyKey)> = state
            .live
            .iter()
            .filter(|(_, row)| row.delivered_at.is_some_and(|at| at < before))
            .map(|(&id, row)| (id, IdempotencyKey::of(&row.message)))
            .collect();
        for (id, key) in &purged {
            state.live.remove(id);
            state.keys.remove(key);
        }
        Ok(purged.len())
    }
}

fn classify(row: &Row, now: i64) -> EntryState {
    if row.delivered_at.is_some() {
        EntryState::Delivered
    } else if row.lease_until.is_some_and(|until| until > now) {
        EntryState::InFlight
    } else {
        EntryState::Pending
    }
}

fn revive(dead: DeadRow, now: i64) -> Row {
    Row {
        message: dead.message,
        attempts: 0,
        next_attempt_at: now,
        lease_until: None,
        last_error: dead.last_error,
        last_delay_ns: None,
        enqueued_at: dead.enqueued_at,
        delivered_at: None,
    }
}
