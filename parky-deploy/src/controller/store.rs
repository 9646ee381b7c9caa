//! The controller's SQLite state file: one canary row, one lease row and a journal.
//!
//! See the [module docs](super) for the schema. Every method is one transaction; those that
//! write start with `BEGIN IMMEDIATE`, so two controllers on the same file are serialised by
//! SQLite's write lock and the lease check and the lease write cannot interleave.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OpenFlags, Transaction, TransactionBehavior};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::JournalEntry;
use crate::error::DeployError;
use crate::model::TrafficSplit;
use crate::policy::canary::{Action, CanaryConfig, CanaryPlan, CanaryState};
use crate::policy::shadow::{EnforcementMode, ShadowLedger};

/// Checks that `connection` is a Parky state file (`user_version` 1 to [`SCHEMA_VERSION`]
/// with the `canary` and `lease` tables) or, when `may_create`, a database with no tables
/// at all (a new or empty file, which the caller then migrates). Reads only.
fn identify(connection: &Connection, path: &str, may_create: bool) -> Result<(), DeployError> {
    let not_ours = |reason: String| DeployError::NotAStateFile {
        path: path.to_owned(),
        reason,
    };
    let version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => {
                not_ours("it is not an SQLite database".to_owned())
            }
            _ => DeployError::StateStore {
                path: path.to_owned(),
                operation: "read the schema version".to_owned(),
                reason: e.to_string(),
            },
        })?;
    let tables: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| row.get(0))?
                .collect::<Result<Vec<String>, _>>()
        })
        .map_err(|e| DeployError::StateStore {
            path: path.to_owned(),
            operation: "list the tables".to_owned(),
            reason: e.to_string(),
        })?;
    // Another application's database (its own `user_version`, none of our tables) is not a
    // newer state file: say what it is.
    let ours = ["canary", "lease", "journal"];
    if version != 0 && !tables.is_empty() && !tables.iter().any(|t| ours.contains(&t.as_str())) {
        return Err(not_ours(format!(
            "it is another SQLite database (tables: {})",
            tables.join(", ")
        )));
    }
    if version > SCHEMA_VERSION {
        return Err(DeployError::StateSchemaTooNew {
            path: path.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == 0 {
        return match (tables.is_empty(), may_create) {
            (true, true) => Ok(()),
            (true, false) => Err(not_ours(
                "it is empty (no canary was ever started with it)".to_owned(),
            )),
            (false, _) => Err(not_ours(format!(
                "it is another SQLite database (tables: {})",
                tables.join(", ")
            ))),
        };
    }
    let missing: Vec<&str> = ours
        .into_iter()
        .filter(|t| !tables.iter().any(|have| have == t))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(not_ours(format!(
            "schema version {version} but no {} table",
            missing.join(", ")
        )))
    }
}

/// The newest schema version this build writes and reads.
pub(super) const SCHEMA_VERSION: i64 = 2;

/// Migrations, applied in order from the file's `user_version`: version 1 is the first
/// schema, version 2 records the canary's Worker script.
const MIGRATIONS: [&str; 2] = [
    "
CREATE TABLE canary (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    plan          TEXT,              -- JSON PlanRecord; NULL before the first start
    state         TEXT,              -- JSON CanaryState; NULL before the first start
    ledger        TEXT    NOT NULL,  -- JSON ShadowLedger
    pending       TEXT,              -- JSON Intent: a platform change under way
    step_requests TEXT,              -- JSON StepRequests
    last_slot     INTEGER,           -- floor(unix ms / interval ms) of the last completed tick
    updated_at    INTEGER            -- unix ms of the last write
);
INSERT INTO canary (id, ledger) VALUES (1, '{}');
CREATE TABLE lease (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    holder     TEXT,                 -- NULL when free
    expires_at INTEGER               -- unix ms; NULL when free
);
INSERT INTO lease (id) VALUES (1);
CREATE TABLE journal (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,         -- unix ms
    holder TEXT    NOT NULL,
    kind   TEXT    NOT NULL,         -- e.g. recovered, intent_discarded, api_error
    detail TEXT    NOT NULL
);
",
    "
ALTER TABLE canary ADD COLUMN script TEXT;  -- the Worker script of the last start
",
];

/// The plan as persisted: its config (re-validated on load) and its enforcement mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PlanRecord {
    pub(super) config: CanaryConfig,
    pub(super) mode: EnforcementMode,
}

impl PlanRecord {
    pub(super) fn from_plan(plan: &CanaryPlan) -> Self {
        Self {
            config: CanaryConfig {
                steps: plan.steps().iter().map(|&s| u32::from(s)).collect(),
                bake_time: humantime::format_duration(plan.bake_time()).to_string(),
                min_requests: plan.min_requests(),
                failure_threshold: plan.failure_threshold(),
                progress_deadline: humantime::format_duration(plan.progress_deadline()).to_string(),
            },
            mode: plan.mode(),
        }
    }

    pub(super) fn to_plan(&self) -> Result<CanaryPlan, DeployError> {
        Ok(CanaryPlan::try_from(self.config.clone())?.with_mode(self.mode))
    }
}

/// Requests the canary served during its current step, as summed over the controller's
/// windows; reset whenever the step (its start time or the attempt) changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StepRequests {
    pub(super) attempt: u32,
    pub(super) step_started_at: DateTime<Utc>,
    pub(super) requests: u64,
}

impl StepRequests {
    /// The count for `state`'s step: this one if it is the same step, else zero.
    pub(super) fn for_state(this: Option<&Self>, state: &CanaryState) -> Self {
        match this {
            Some(s)
                if s.attempt == state.attempt() && s.step_started_at == state.step_started_at() =>
            {
                s.clone()
            }
            _ => Self {
                attempt: state.attempt(),
                step_started_at: state.step_started_at(),
                requests: 0,
            },
        }
    }
}

/// A platform change under way, written before the API call and cleared with the state write
/// that follows it. A run that dies in between leaves it behind for the next run to reconcile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Intent {
    /// The split the platform served before the change.
    pub(super) from: TrafficSplit,
    /// The split the change asks for.
    pub(super) target: TrafficSplit,
    /// The canary state to save once the platform serves `target`.
    pub(super) state: CanaryState,
    /// The transition's actions (their records still go to the ledger on adoption).
    pub(super) actions: Vec<Action>,
    /// The step's request count that goes with `state`.
    pub(super) step: StepRequests,
    /// The tick slot of the run that planned it (`None` for a command).
    pub(super) slot: Option<i64>,
    /// When it was planned.
    pub(super) planned_at: DateTime<Utc>,
}

/// The canary row, decoded.
#[derive(Debug, Clone, Default)]
pub(super) struct Record {
    pub(super) plan: Option<PlanRecord>,
    pub(super) state: Option<CanaryState>,
    pub(super) ledger: ShadowLedger,
    pub(super) pending: Option<Intent>,
    pub(super) step: Option<StepRequests>,
    pub(super) last_slot: Option<i64>,
    /// The Worker script the canary was started on (`None` before the first start, and in
    /// files of schema version 1).
    pub(super) script: Option<String>,
}

impl Record {
    /// Records that the tick of `slot` completed; `last_slot` only ever grows.
    pub(super) fn complete_slot(&mut self, slot: i64) {
        self.last_slot = Some(self.last_slot.map_or(slot, |last| last.max(slot)));
    }
}

/// The lease row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LeaseRow {
    pub(super) holder: Option<String>,
    pub(super) expires_at: Option<DateTime<Utc>>,
}

/// One journal line to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Note {
    pub(super) kind: &'static str,
    pub(super) detail: String,
}

impl Note {
    pub(super) fn new(kind: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

/// What [`Store::begin`] found.
#[derive(Debug)]
pub(super) enum Begin {
    /// Another holder's lease is unexpired; nothing was written.
    Busy {
        holder: String,
        until: DateTime<Utc>,
    },
    /// A tick already completed in this slot; nothing was written.
    AlreadyTicked { slot: i64 },
    /// A tick completed in a later slot than this one (time went backwards); nothing was
    /// written.
    Behind { last_slot: i64 },
    /// A tick found no canary; nothing was written.
    NoCanary,
    /// The lease is ours until `now + ttl`; the row as it was.
    Acquired(Box<Record>),
}

/// Whether [`Store::begin`] is for a tick (in this slot) or for a command.
#[derive(Debug, Clone, Copy)]
pub(super) enum Purpose {
    Tick { slot: i64 },
    Command,
}

/// The SQLite file behind one controller.
#[derive(Debug)]
pub(super) struct Store {
    path: String,
    /// The file's schema version (a read-only store of an older file is not migrated).
    version: i64,
    connection: Mutex<Connection>,
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl Store {
    /// Opens (creating if needed) the file at `path` in WAL mode and migrates its schema.
    pub(super) fn open(path: &Path, busy_timeout: Duration) -> Result<Self, DeployError> {
        let shown = path.display().to_string();
        let err = |operation: &str| {
            let path = shown.clone();
            let operation = operation.to_owned();
            move |e: rusqlite::Error| DeployError::StateStore {
                path: path.clone(),
                operation: operation.clone(),
                reason: e.to_string(),
            }
        };
        let mut connection = Connection::open(path).map_err(err("open"))?;
        connection.busy_timeout(busy_timeout).map_err(err("open"))?;
        // Before anything is written (WAL, tables): refuse a file that is not ours.
        identify(&connection, &shown, true)?;
        let mode: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(err("switch to WAL"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(DeployError::StateStore {
                path: shown,
                operation: "switch to WAL".to_owned(),
                reason: format!("journal mode is {mode:?}"),
            });
        }
        connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(err("open"))?;
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err("migrate schema"))?;
        let found: i64 = tx
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(err("migrate schema"))?;
        if found > SCHEMA_VERSION {
            return Err(DeployError::StateSchemaTooNew {
                path: shown,
                found,
                supported: SCHEMA_VERSION,
            });
        }
        let start = usize::try_from(found.max(0)).unwrap_or(MIGRATIONS.len());
        for migration in MIGRATIONS.iter().skip(start) {
            tx.execute_batch(migration).map_err(err("migrate schema"))?;
        }
        if found != SCHEMA_VERSION {
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(err("migrate schema"))?;
        }
        tx.commit().map_err(err("migrate schema"))?;
        Ok(Self {
            path: shown,
            version: SCHEMA_VERSION,
            connection: Mutex::new(connection),
        })
    }

    /// Opens an existing state file read-only: nothing is created, migrated or written, and
    /// a file that is not a Parky state file is refused ([`DeployError::NotAStateFile`]).
    pub(super) fn open_read_only(path: &Path, busy_timeout: Duration) -> Result<Self, DeployError> {
        let shown = path.display().to_string();
        let err = |operation: &'static str| {
            let path = shown.clone();
            move |e: rusqlite::Error| DeployError::StateStore {
                path: path.clone(),
                operation: operation.to_owned(),
                reason: e.to_string(),
            }
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let connection = Connection::open_with_flags(path, flags).map_err(err("open read-only"))?;
        connection
            .busy_timeout(busy_timeout)
            .map_err(err("open read-only"))?;
        identify(&connection, &shown, false)?;
        let version = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(err("read the schema version"))?;
        Ok(Self {
            path: shown,
            version,
            connection: Mutex::new(connection),
        })
    }

    /// The file, as shown in errors.
    pub(super) fn path(&self) -> &str {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held dropped its open transaction, which rolled back;
        // the connection itself stays usable.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn error(&self, operation: &str, reason: impl ToString) -> DeployError {
        DeployError::StateStore {
            path: self.path.clone(),
            operation: operation.to_owned(),
            reason: reason.to_string(),
        }
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction, committed if it returns `Ok`.
    fn write<T>(
        &self,
        operation: &str,
        body: impl FnOnce(&Transaction<'_>) -> Result<T, DeployError>,
    ) -> Result<T, DeployError> {
        let mut connection = self.lock();
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.error(operation, e))?;
        let value = body(&tx)?;
        tx.commit().map_err(|e| self.error(operation, e))?;
        Ok(value)
    }

    fn decode<T: DeserializeOwned>(
        &self,
        column: &str,
        text: Option<String>,
    ) -> Result<Option<T>, DeployError> {
        text.map(|t| {
            serde_json::from_str(&t).map_err(|e| self.error(&format!("decode canary.{column}"), e))
        })
        .transpose()
    }

    fn encode<T: Serialize>(&self, column: &str, value: &T) -> Result<String, DeployError> {
        serde_json::to_string(value).map_err(|e| self.error(&format!("encode canary.{column}"), e))
    }

    fn read_record(&self, tx: &Transaction<'_>, operation: &str) -> Result<Record, DeployError> {
        type Row = (
            Option<String>,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
        );
        // Version 1 files (read-only, not migrated) have no `script` column.
        let query = if self.version >= 2 {
            "SELECT plan, state, ledger, pending, step_requests, last_slot, script FROM canary WHERE id = 1"
        } else {
            "SELECT plan, state, ledger, pending, step_requests, last_slot, NULL FROM canary WHERE id = 1"
        };
        let row: Row = tx
            .query_row(query, [], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .map_err(|e| self.error(operation, e))?;
        let (plan, state, ledger, pending, step, last_slot, script) = row;
        Ok(Record {
            plan: self.decode("plan", plan)?,
            state: self.decode("state", state)?,
            ledger: self.decode("ledger", Some(ledger))?.unwrap_or_default(),
            pending: self.decode("pending", pending)?,
            step: self.decode("step_requests", step)?,
            last_slot,
            script,
        })
    }

    fn read_lease(&self, tx: &Transaction<'_>, operation: &str) -> Result<LeaseRow, DeployError> {
        let (holder, expires_at): (Option<String>, Option<i64>) = tx
            .query_row(
                "SELECT holder, expires_at FROM lease WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.error(operation, e))?;
        Ok(LeaseRow {
            holder,
            expires_at: expires_at.map(from_millis),
        })
    }

    fn append(
        &self,
        tx: &Transaction<'_>,
        operation: &str,
        now: DateTime<Utc>,
        holder: &str,
        notes: &[Note],
    ) -> Result<(), DeployError> {
        for note in notes {
            tx.execute(
                "INSERT INTO journal (at, holder, kind, detail) VALUES (?1, ?2, ?3, ?4)",
                params![millis(now), holder, note.kind, note.detail],
            )
            .map_err(|e| self.error(operation, e))?;
        }
        Ok(())
    }

    /// Fails with [`DeployError::LeaseLost`] unless `holder` holds the lease.
    fn ensure_holder(
        &self,
        tx: &Transaction<'_>,
        operation: &str,
        holder: &str,
    ) -> Result<(), DeployError> {
        let lease = self.read_lease(tx, operation)?;
        if lease.holder.as_deref() == Some(holder) {
            Ok(())
        } else {
            Err(DeployError::LeaseLost {
                holder: holder.to_owned(),
            })
        }
    }

    /// In one transaction: refuse if another holder's lease is unexpired at `now`; for a
    /// tick, refuse when there is no canary or a tick already completed in the slot;
    /// otherwise take the lease until `now + ttl` and return the row.
    pub(super) fn begin(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
        purpose: Purpose,
    ) -> Result<Begin, DeployError> {
        let operation = "take the lease";
        self.write(operation, |tx| {
            let lease = self.read_lease(tx, operation)?;
            if let (Some(other), Some(until)) = (&lease.holder, lease.expires_at) {
                if other != holder && until > now {
                    return Ok(Begin::Busy {
                        holder: other.clone(),
                        until,
                    });
                }
            }
            let record = self.read_record(tx, operation)?;
            if let Purpose::Tick { slot } = purpose {
                if record.state.is_none() {
                    return Ok(Begin::NoCanary);
                }
                match record.last_slot {
                    Some(last) if last == slot => return Ok(Begin::AlreadyTicked { slot }),
                    Some(last) if last > slot => return Ok(Begin::Behind { last_slot: last }),
                    _ => {}
                }
            }
            let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
            let until = now
                .checked_add_signed(ttl)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            tx.execute(
                "UPDATE lease SET holder = ?1, expires_at = ?2 WHERE id = 1",
                params![holder, millis(until)],
            )
            .map_err(|e| self.error(operation, e))?;
            if let Some(previous) = lease.holder.filter(|p| p != holder) {
                let note = Note::new(
                    "lease_taken_over",
                    format!(
                        "lease of `{previous}` expired at {}",
                        lease
                            .expires_at
                            .map_or_else(|| "?".to_owned(), |t| t.to_rfc3339())
                    ),
                );
                self.append(tx, operation, now, holder, &[note])?;
            }
            Ok(Begin::Acquired(Box::new(record)))
        })
    }

    /// Saves `intent` (a platform change about to be made) while `holder` holds the lease.
    pub(super) fn write_intent(&self, holder: &str, intent: &Intent) -> Result<(), DeployError> {
        let operation = "save the planned change";
        self.write(operation, |tx| {
            self.ensure_holder(tx, operation, holder)?;
            let pending = self.encode("pending", intent)?;
            tx.execute(
                "UPDATE canary SET pending = ?1, updated_at = ?2 WHERE id = 1",
                params![pending, millis(intent.planned_at)],
            )
            .map_err(|e| self.error(operation, e))?;
            Ok(())
        })
    }

    /// In one transaction, while `holder` holds the lease: writes the whole row (`last_slot`
    /// only ever grows), appends `notes` and releases the lease.
    pub(super) fn commit(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        record: &Record,
        notes: &[Note],
    ) -> Result<(), DeployError> {
        let operation = "save the canary";
        self.write(operation, |tx| {
            self.ensure_holder(tx, operation, holder)?;
            let plan = record
                .plan
                .as_ref()
                .map(|p| self.encode("plan", p))
                .transpose()?;
            let state = record
                .state
                .as_ref()
                .map(|s| self.encode("state", s))
                .transpose()?;
            let ledger = self.encode("ledger", &record.ledger)?;
            let pending = record
                .pending
                .as_ref()
                .map(|p| self.encode("pending", p))
                .transpose()?;
            let step = record
                .step
                .as_ref()
                .map(|s| self.encode("step_requests", s))
                .transpose()?;
            tx.execute(
                "UPDATE canary SET plan = ?1, state = ?2, ledger = ?3, pending = ?4,
                     step_requests = ?5, script = ?8,
                     last_slot = CASE WHEN ?6 IS NULL THEN last_slot
                                      ELSE max(coalesce(last_slot, ?6), ?6) END,
                     updated_at = ?7
                 WHERE id = 1",
                params![
                    plan,
                    state,
                    ledger,
                    pending,
                    step,
                    record.last_slot,
                    millis(now),
                    record.script
                ],
            )
            .map_err(|e| self.error(operation, e))?;
            self.append(tx, operation, now, holder, notes)?;
            tx.execute(
                "UPDATE lease SET holder = NULL, expires_at = NULL WHERE id = 1",
                [],
            )
            .map_err(|e| self.error(operation, e))?;
            Ok(())
        })
    }

    /// Releases `holder`'s lease (if it still holds it) and appends `notes`; nothing else.
    pub(super) fn release(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        notes: &[Note],
    ) -> Result<(), DeployError> {
        let operation = "release the lease";
        self.write(operation, |tx| {
            self.append(tx, operation, now, holder, notes)?;
            tx.execute(
                "UPDATE lease SET holder = NULL, expires_at = NULL WHERE id = 1 AND holder = ?1",
                params![holder],
            )
            .map_err(|e| self.error(operation, e))?;
            Ok(())
        })
    }

    /// The row and the lease, read in one snapshot.
    pub(super) fn snapshot(&self) -> Result<(Record, LeaseRow), DeployError> {
        let operation = "read the canary";
        let mut connection = self.lock();
        let tx = connection
            .transaction()
            .map_err(|e| self.error(operation, e))?;
        let record = self.read_record(&tx, operation)?;
        let lease = self.read_lease(&tx, operation)?;
        tx.commit().map_err(|e| self.error(operation, e))?;
        Ok((record, lease))
    }

    /// Every journal line, oldest first.
    pub(super) fn journal(&self) -> Result<Vec<JournalEntry>, DeployError> {
        let operation = "read the journal";
        let connection = self.lock();
        let mut statement = connection
            .prepare("SELECT id, at, holder, kind, detail FROM journal ORDER BY id")
            .map_err(|e| self.error(operation, e))?;
        let rows = statement
            .query_map([], |r| {
                Ok(JournalEntry {
                    id: r.get(0)?,
                    at: from_millis(r.get(1)?),
                    holder: r.get(2)?,
                    kind: r.get(3)?,
                    detail: r.get(4)?,
                })
            })
            .map_err(|e| self.error(operation, e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(operation, e))
    }

    /// The lease row on its own (for tests of the module).
    #[cfg(test)]
    pub(super) fn lease(&self) -> Result<LeaseRow, DeployError> {
        Ok(self.snapshot()?.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> DateTime<Utc> {
        from_millis(1_700_000_000_000 + ms)
    }

    #[test]
    fn lease_is_exclusive_until_it_expires() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.db");
        let a = Store::open(&path, Duration::from_secs(5)).expect("open a");
        let b = Store::open(&path, Duration::from_secs(5)).expect("open b");
        let ttl = Duration::from_secs(60);
        assert!(matches!(
            a.begin("a", t(0), ttl, Purpose::Command).expect("a"),
            Begin::Acquired(_)
        ));
        match b.begin("b", t(59_999), ttl, Purpose::Command).expect("b") {
            Begin::Busy { holder, until } => {
                assert_eq!(holder, "a");
                assert_eq!(until, t(60_000));
            }
            other => panic!("expected busy, got {other:?}"),
        }
        // At the expiry instant the lease is free (expires_at > now is required to be busy).
        assert!(matches!(
            b.begin("b", t(60_000), ttl, Purpose::Command).expect("b"),
            Begin::Acquired(_)
        ));
        // `a` lost it: its commit is refused and writes nothing.
        let error = a
            .commit("a", t(61_000), &Record::default(), &[])
            .unwrap_err();
        assert_eq!(error, DeployError::LeaseLost { holder: "a".into() });
        assert_eq!(b.lease().expect("lease").holder.as_deref(), Some("b"));
        let journal = b.journal().expect("journal");
        assert_eq!(journal.len(), 1);
        assert_eq!(journal[0].kind, "lease_taken_over");
    }

    #[test]
    fn schema_is_versioned_and_newer_files_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.db");
        drop(Store::open(&path, Duration::from_secs(1)).expect("open"));
        let connection = Connection::open(&path).expect("raw open");
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);
        let mode: String = connection
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "wal");
        connection
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("bump");
        drop(connection);
        let error = Store::open(&path, Duration::from_secs(1)).unwrap_err();
        assert!(matches!(
            error,
            DeployError::StateSchemaTooNew { found: 3, .. }
        ));
    }

    #[test]
    fn a_version_1_file_is_read_as_it_is_and_migrated_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.db");
        drop(Store::open(&path, Duration::from_secs(1)).expect("open"));
        // Turn it back into a version 1 file: no `script` column.
        let connection = Connection::open(&path).expect("raw open");
        connection
            .execute_batch("ALTER TABLE canary DROP COLUMN script; PRAGMA user_version = 1;")
            .expect("downgrade");
        drop(connection);
        let read_only = Store::open_read_only(&path, Duration::from_secs(1)).expect("read-only");
        assert_eq!(read_only.version, 1);
        assert_eq!(read_only.snapshot().expect("snapshot").0.script, None);
        drop(read_only);
        let store = Store::open(&path, Duration::from_secs(1)).expect("migrate");
        assert_eq!(store.version, SCHEMA_VERSION);
        assert_eq!(store.snapshot().expect("snapshot").0.script, None);
        let version: i64 = Connection::open(&path)
            .expect("raw open")
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, 2);
    }
}
