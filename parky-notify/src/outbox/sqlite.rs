//! The SQLite [`Outbox`]: durable across crashes and shareable between processes.
//!
//! # Schema (version 1, `PRAGMA user_version = 1`)
//!
//! ```sql
//! CREATE TABLE outbox (
//!     id              INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused
//!     receiver        TEXT    NOT NULL,
//!     dedup_key       TEXT    NOT NULL,
//!     sequence        INTEGER NOT NULL,  -- the u64 stored bit for bit as i64
//!     message         TEXT    NOT NULL,  -- the Message as JSON
//!     attempts        INTEGER NOT NULL DEFAULT 0,  -- claims so far
//!     next_attempt_at INTEGER NOT NULL,  -- µs since the Unix epoch
//!     lease_until     INTEGER,           -- µs; NULL unless handed out and not settled
//!     last_error      TEXT,
//!     last_delay_ns   INTEGER,           -- the delay before the next attempt
//!     enqueued_at     INTEGER NOT NULL,  -- µs
//!     delivered_at    INTEGER,           -- µs; NULL until acked
//!     UNIQUE (receiver, dedup_key, sequence)
//! );
//! CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE delivered_at IS NULL;
//! CREATE INDEX outbox_delivered ON outbox (delivered_at) WHERE delivered_at IS NOT NULL;
//! CREATE TABLE dead_letters (
//!     id          INTEGER PRIMARY KEY,   -- the id it had in `outbox`
//!     receiver    TEXT    NOT NULL,
//!     dedup_key   TEXT    NOT NULL,
//!     sequence    INTEGER NOT NULL,
//!     message     TEXT    NOT NULL,
//!     attempts    INTEGER NOT NULL,
//!     reason      TEXT    NOT NULL,
//!     last_error  TEXT,
//!     enqueued_at INTEGER NOT NULL,
//!     died_at     INTEGER NOT NULL,
//!     UNIQUE (receiver, dedup_key, sequence)
//! );
//! ```
//!
//! The database runs in WAL mode (readers never block the writer; a crash never tears a
//! commit). Every operation is one transaction; those that write start with
//! `BEGIN IMMEDIATE`, so two processes claiming at once are serialised by SQLite's write
//! lock and never hand out the same entry. A `busy_timeout` (5 s by default) makes a second
//! writer wait instead of failing. Schema changes are migrations keyed by `user_version`,
//! applied on open in one transaction; a file from a newer version is refused.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};

use super::{
    add, from_micros, from_nanos, to_micros, to_nanos, Acked, Claim, DeadLetter, Enqueued, EntryId,
    EntryState, Failed, IdempotencyKey, Lease, Next, Outbox, OutboxCounts, PendingEntry,
};
use crate::error::NotifyError;
use crate::message::Message;

/// The newest schema version this build writes and reads.
const SCHEMA_VERSION: i64 = 1;

/// Migration `n` (0-based) takes the schema from version `n` to `n + 1`.
const MIGRATIONS: [&str; 1] = ["
CREATE TABLE IF NOT EXISTS outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    receiver        TEXT    NOT NULL,
    dedup_key       TEXT    NOT NULL,
    sequence        INTEGER NOT NULL,
    message         TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    last_error      TEXT,
    last_delay_ns   INTEGER,
    enqueued_at     INTEGER NOT NULL,
    delivered_at    INTEGER,
    UNIQUE (receiver, dedup_key, sequence)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_attempt_at, id) WHERE delivered_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_delivered ON outbox (delivered_at) WHERE delivered_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS dead_letters (
    id          INTEGER PRIMARY KEY,
    receiver    TEXT    NOT NULL,
    dedup_key   TEXT    NOT NULL,
    sequence    INTEGER NOT NULL,
    message     TEXT    NOT NULL,
    attempts    INTEGER NOT NULL,
    reason      TEXT    NOT NULL,
    last_error  TEXT,
    enqueued_at INTEGER NOT NULL,
    died_at     INTEGER NOT NULL,
    UNIQUE (receiver, dedup_key, sequence)
);
"];

/// SQLite's `synchronous` setting: how hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Synchronous {
    /// `FULL`: every commit is on disk before it returns; survives power loss. The default.
    #[default]
    Full,
    /// `NORMAL`: in WAL mode, commits survive a crash of the process but the last ones may be
    /// rolled back by a power loss or OS crash. Faster for small transactions.
    Normal,
}

/// The SQLite-backed [`Outbox`].
///
/// One connection per value, behind a mutex; open one per process (or more: they coordinate
/// through SQLite's locks).
#[derive(Debug)]
pub struct SqliteOutbox {
    file: String,
    connection: Mutex<Connection>,
}

impl SqliteOutbox {
    /// Open (creating if needed) the outbox database at `path`, in WAL mode with
    /// `synchronous = FULL`, creating or migrating the schema.
    ///
    /// # Errors
    /// [`NotifyError::OutboxStorage`] (naming the path) if the file cannot be opened, is not a
    /// SQLite database, or the schema cannot be created;
    /// [`NotifyError::OutboxSchemaTooNew`] if a newer version wrote it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, NotifyError> {
        Self::open_with(path, Synchronous::Full, Duration::from_secs(5))
    }

    /// [`SqliteOutbox::open`] with an explicit `synchronous` level and the time to wait for
    /// another writer's lock before failing.
    ///
    /// # Errors
    /// As [`SqliteOutbox::open`].
    pub fn open_with(
        path: impl AsRef<Path>,
        synchronous: Synchronous,
        busy_timeout: Duration,
    ) -> Result<Self, NotifyError> {
        let path: PathBuf = path.as_ref().to_path_buf();
        let file = path.display().to_string();
        let connection = Connection::open(&path).map_err(storage(&file, "open"))?;
        let outbox = Self {
            file,
            connection: Mutex::new(connection),
        };
        outbox.configure(synchronous, busy_timeout, true)?;
        Ok(outbox)
    }

    /// A private in-memory SQLite database (no WAL, nothing durable): for tests that want the
    /// SQLite code paths without a file.
    ///
    /// # Errors
    /// As [`SqliteOutbox::open`].
    pub fn open_in_memory() -> Result<Self, NotifyError> {
        let file = String::from(":memory:");
        let connection = Connection::open_in_memory().map_err(storage(&file, "open"))?;
        let outbox = Self {
            file,
            connection: Mutex::new(connection),
        };
        outbox.configure(Synchronous::Full, Duration::from_secs(5), false)?;
        Ok(outbox)
    }

    /// The database file, as shown in errors.
    #[must_use]
    pub fn file(&self) -> &str {
        &self.file
    }

    fn configure(
        &self,
        synchronous: Synchronous,
        busy_timeout: Duration,
        wal: bool,
    ) -> Result<(), NotifyError> {
        let mut connection = self.lock();
        let err = storage(&self.file, "open");
        connection.busy_timeout(busy_timeout).map_err(&err)?;
        if wal {
            let mode: String = connection
                .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
                .map_err(&err)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(NotifyError::OutboxStorage {
                    file: self.file.clone(),
                    operation: "open",
                    message: format!("could not switch to WAL mode (journal mode is {mode:?})"),
                });
            }
        }
        let level = match synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        connection
            .pragma_update(None, "synchronous", level)
            .map_err(&err)?;
        let migrate = storage(&self.file, "migrate schema");
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&migrate)?;
        let found: i64 = tx
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(&migrate)?;
        if found > SCHEMA_VERSION {
            return Err(NotifyError::OutboxSchemaTooNew {
                file: self.file.clone(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        let start = usize::try_from(found.max(0)).unwrap_or(MIGRATIONS.len());
        for migration in MIGRATIONS.iter().skip(start) {
            tx.execute_batch(migration).map_err(&migrate)?;
        }
        if found != SCHEMA_VERSION {
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(&migrate)?;
        }
        tx.commit().map_err(&migrate)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held would have dropped its open transaction, which
        // rolls back; the connection itself stays usable.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Run `body` in one `BEGIN IMMEDIATE` transaction, committed if it returns `Ok`.
    /// SQLite keeps writing to a file that was deleted or replaced while it was open, and
    /// nothing would be durable any more: refuse every transaction once the path no longer
    /// names a regular file.
    fn check_file(&self, operation: &'static str) -> Result<(), NotifyError> {
        if self.file == ":memory:" {
            return Ok(());
        }
        match std::fs::metadata(&self.file) {
            Ok(meta) if meta.is_file() => Ok(()),
            Ok(_) => Err(NotifyError::OutboxStorage {
                file: self.file.clone(),
                operation,
                message: "the outbox path is no longer a regular file (replaced while open)"
                    .to_owned(),
            }),
            Err(e) => Err(NotifyError::OutboxStorage {
                file: self.file.clone(),
                operation,
                message: format!("the outbox file is gone (deleted while open?): {e}"),
            }),
        }
    }

    fn write<T>(
        &self,
        operation: &'static str,
        body: impl FnOnce(&Transaction<'_>, &Context<'_>) -> Result<T, NotifyError>,
    ) -> Result<T, NotifyError> {
        self.check_file(operation)?;
        let mut connection = self.lock();
        let ctx = Context {
            file: &self.file,
            operation,
        };
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(ctx.err())?;
        let value = body(&tx, &ctx)?;
        tx.commit().map_err(ctx.err())?;
        Ok(value)
    }

    /// Run `body` in one read transaction (a consistent snapshot).
    fn read<T>(
        &self,
        operation: &'static str,
        body: impl FnOnce(&Transaction<'_>, &Context<'_>) -> Result<T, NotifyError>,
    ) -> Result<T, NotifyError> {
        self.check_file(operation)?;
        let mut connection = self.lock();
        let ctx = Context {
            file: &self.file,
            operation,
        };
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(ctx.err())?;
        let value = body(&tx, &ctx)?;
        tx.commit().map_err(ctx.err())?;
        Ok(value)
    }
}

fn storage<'a>(
    file: &'a str,
    operation: &'static str,
) -> impl Fn(rusqlite::Error) -> NotifyError + 'a {
    move |error| NotifyError::OutboxStorage {
        file: file.to_owned(),
        operation,
        message: error.to_string(),
    }
}

/// Which file and operation errors are about.
struct Context<'a> {
    file: &'a str,
    operation: &'static str,
}

impl Context<'_> {
    fn err(&self) -> impl Fn(rusqlite::Error) -> NotifyError + '_ {
        storage(self.file, self.operation)
    }

    fn corrupt(&self, table: &'static str, id: i64, reason: impl Into<String>) -> NotifyError {
        NotifyError::OutboxCorruptRow {
            file: self.file.to_owned(),
            table,
            id,
            reason: reason.into(),
        }
    }

    fn not_found(&self, id: i64) -> NotifyError {
        NotifyError::OutboxEntryNotFound {
            file: self.file.to_owned(),
            id,
        }
    }

    /// Column `index` of a row of `table` whose id is `id`; a type mismatch is a corrupt row.
    fn column<T: rusqlite::types::FromSql>(
        &self,
        row: &Row<'_>,
        table: &'static str,
        id: i64,
        index: usize,
    ) -> Result<T, NotifyError> {
        row.get(index).map_err(|error| match error {
            rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..) => {
                self.corrupt(table, id, format!("column {index}: {error}"))
            }
            other => self.err()(other),
        })
    }

    fn time(
        &self,
        table: &'static str,
        id: i64,
        micros: i64,
    ) -> Result<DateTime<Utc>, NotifyError> {
        from_micros(micros)
            .ok_or_else(|| self.corrupt(table, id, format!("timestamp {micros} is out of range")))
    }

    fn message(&self, table: &'static str, id: i64, json: &str) -> Result<Message, NotifyError> {
        serde_json::from_str(json)
            .map_err(|error| self.corrupt(table, id, format!("message is not valid JSON: {error}")))
    }

    fn attempts(&self, table: &'static str, id: i64, attempts: i64) -> Result<u32, NotifyError> {
        u32::try_from(attempts).map_err(|_| {
            self.corrupt(
                table,
                id,
                format!("attempt count {attempts} is out of range"),
            )
        })
    }
}

/// `u64` stored bit for bit in SQLite's signed 64-bit integer (reversible, keeps equality).
fn seq_to_sql(sequence: u64) -> i64 {
    i64::from_ne_bytes(sequence.to_ne_bytes())
}

fn key_params(key: &IdempotencyKey) -> (&str, &str, i64) {
    (&key.receiver, &key.dedup_key, seq_to_sql(key.sequence))
}

/// The id of the entry with `key` in `table`, if any.
fn find(
    tx: &Transaction<'_>,
    ctx: &Context<'_>,
    table: &'static str,
    key: &IdempotencyKey,
) -> Result<Option<i64>, NotifyError> {
    let sql = match table {
        "dead_letters" => {
            "SELECT id FROM dead_letters WHERE receiver = ?1 AND dedup_key = ?2 AND sequence = ?3"
        }
        _ => "SELECT id FROM outbox WHERE receiver = ?1 AND dedup_key = ?2 AND sequence = ?3",
    };
    let (receiver, dedup_key, sequence) = key_params(key);
    tx.query_row(sql, params![receiver, dedup_key, sequence], |row| {
        row.get(0)
    })
    .optional()
    .map_err(ctx.err())
}

impl Outbox for SqliteOutbox {
    fn enqueue_batch(
        &self,
        messages: &[Message],
        now: DateTime<Utc>,
    ) -> Result<Vec<Enqueued>, NotifyError> {
        let now = to_micros(now);
        self.write("enqueue", |tx, ctx| {
            let mut insert = tx
                .prepare(
                    "INSERT INTO outbox (receiver, dedup_key, sequence, message, next_attempt_at, \
                     enqueued_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                )
                .map_err(ctx.err())?;
            let mut answers = Vec::with_capacity(messages.len());
            for message in messages {
                let key = IdempotencyKey::of(message);
                if let Some(id) = find(tx, ctx, "outbox", &key)? {
                    answers.push(Enqueued::Duplicate(EntryId(id)));
                    continue;
                }
                if let Some(id) = find(tx, ctx, "dead_letters", &key)? {
                    answers.push(Enqueued::Duplicate(EntryId(id)));
                    continue;
                }
                let json =
                    serde_json::to_string(message).map_err(|error| NotifyError::OutboxStorage {
                        file: ctx.file.to_owned(),
                        operation: ctx.operation,
                        message: format!("cannot encode the message as JSON: {error}"),
                    })?;
                let (receiver, dedup_key, sequence) = key_params(&key);
                insert
                    .execute(params![receiver, dedup_key, sequence, json, now])
                    .map_err(ctx.err())?;
                answers.push(Enqueued::New(EntryId(tx.last_insert_rowid())));
            }
            Ok(answers)
        })
    }

    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Claim>, NotifyError> {
        let until = to_micros(add(now, lease));
        let now = to_micros(now);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write("claim due entries", |tx, ctx| {
            let mut select = tx
                .prepare(
                    "SELECT id, attempts, message, last_error, last_delay_ns FROM outbox \
                     WHERE delivered_at IS NULL AND next_attempt_at <= ?1 \
                     AND (lease_until IS NULL OR lease_until <= ?1) \
                     ORDER BY next_attempt_at, id LIMIT ?2",
                )
                .map_err(ctx.err())?;
            let mut rows = select.query(params![now, limit]).map_err(ctx.err())?;
            let mut claims = Vec::new();
            while let Some(row) = rows.next().map_err(ctx.err())? {
                let id: i64 = row.get(0).map_err(ctx.err())?;
                let attempts: i64 = ctx.column(row, "outbox", id, 1)?;
                let attempt = ctx.attempts("outbox", id, attempts)?.saturating_add(1);
                let json: String = ctx.column(row, "outbox", id, 2)?;
                let last_error: Option<String> = ctx.column(row, "outbox", id, 3)?;
                let delay: Option<i64> = ctx.column(row, "outbox", id, 4)?;
                let previous_delay = match delay {
                    Some(ns) => Some(from_nanos(ns).ok_or_else(|| {
                        ctx.corrupt("outbox", id, format!("negative delay {ns}"))
                    })?),
                    None => None,
                };
                claims.push(Claim {
                    lease: Lease::new(EntryId(id), attempt, ctx.time("outbox", id, until)?),
                    message: ctx.message("outbox", id, &json)?,
                    previous_delay,
                    last_error,
                });
            }
            drop(rows);
            let mut update = tx
                .prepare("UPDATE outbox SET attempts = ?2, lease_until = ?3 WHERE id = ?1")
                .map_err(ctx.err())?;
            for claim in &claims {
                update
                    .execute(params![claim.lease.id().0, claim.lease.attempt(), until])
                    .map_err(ctx.err())?;
            }
            Ok(claims)
        })
    }

    fn ack_batch(&self, leases: &[Lease], now: DateTime<Utc>) -> Result<Vec<Acked>, NotifyError> {
        let now = to_micros(now);
        self.write("ack", |tx, ctx| {
            let mut mark = tx
                .prepare(
                    "UPDATE outbox SET delivered_at = ?2, lease_until = NULL \
                     WHERE id = ?1 AND delivered_at IS NULL",
                )
                .map_err(ctx.err())?;
            let mut answers = Vec::with_capacity(leases.len());
            for lease in leases {
                let id = lease.id().0;
                if mark.execute(params![id, now]).map_err(ctx.err())? == 1 {
                    answers.push(Acked::Delivered);
                    continue;
                }
                let exists: Option<i64> = tx
                    .query_row("SELECT id FROM outbox WHERE id = ?1", [id], |row| {
                        row.get(0)
                    })
                    .optional()
                    .map_err(ctx.err())?;
                if exists.is_some() {
                    answers.push(Acked::AlreadyDelivered);
                    continue;
                }
                // Dead meanwhile (a later claim failed for good), yet this send went through:
                // bring it back as delivered.
                let revived = tx
                    .execute(
                        "INSERT INTO outbox (id, receiver, dedup_key, sequence, message, attempts, \
                         next_attempt_at, last_error, enqueued_at, delivered_at) \
                         SELECT id, receiver, dedup_key, sequence, message, attempts, died_at, \
                         last_error, enqueued_at, ?2 FROM dead_letters WHERE id = ?1",
                        params![id, now],
                    )
                    .map_err(ctx.err())?;
                if revived == 0 {
                    return Err(ctx.not_found(id));
                }
                tx.execute("DELETE FROM dead_letters WHERE id = ?1", [id])
                    .map_err(ctx.err())?;
                answers.push(Acked::Delivered);
            }
            Ok(answers)
        })
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
        self.write("record a failed attempt", |tx, ctx| {
            let current: Option<(i64, Option<i64>, Option<i64>)> = tx
                .query_row(
                    "SELECT attempts, lease_until, delivered_at FROM outbox WHERE id = ?1",
                    [id],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()
                .map_err(ctx.err())?;
            let Some((attempts, lease_until, delivered_at)) = current else {
                let dead: Option<i64> = tx
                    .query_row("SELECT id FROM dead_letters WHERE id = ?1", [id], |row| {
                        row.get(0)
                    })
                    .optional()
                    .map_err(ctx.err())?;
                return match dead {
                    Some(_) => Ok(Failed::Stale),
                    None => Err(ctx.not_found(id)),
                };
            };
            if delivered_at.is_some()
                || lease_until.is_none()
                || attempts != i64::from(lease.attempt())
            {
                return Ok(Failed::Stale);
            }
            match next {
                Next::RetryAt { at, delay } => {
                    let at_micros = to_micros(*at);
                    tx.execute(
                        "UPDATE outbox SET last_error = ?2, lease_until = NULL, \
                         next_attempt_at = ?3, last_delay_ns = ?4 WHERE id = ?1",
                        params![id, error, at_micros, to_nanos(*delay)],
                    )
                    .map_err(ctx.err())?;
                    Ok(Failed::Scheduled(ctx.time("outbox", id, at_micros)?))
                }
                Next::DeadLetter { reason } => {
                    tx.execute(
                        "INSERT INTO dead_letters (id, receiver, dedup_key, sequence, message, \
                         attempts, reason, last_error, enqueued_at, died_at) \
                         SELECT id, receiver, dedup_key, sequence, message, attempts, ?2, ?3, \
                         enqueued_at, ?4 FROM outbox WHERE id = ?1",
                        params![id, reason, error, now],
                    )
                    .map_err(ctx.err())?;
                    tx.execute("DELETE FROM outbox WHERE id = ?1", [id])
                        .map_err(ctx.err())?;
                    Ok(Failed::DeadLettered)
                }
            }
        })
    }

    fn pending(&self) -> Result<Vec<PendingEntry>, NotifyError> {
        self.read("list pending entries", |tx, ctx| {
            let mut select = tx
                .prepare(
                    "SELECT id, message, attempts, next_attempt_at, lease_until, last_error, \
                     enqueued_at FROM outbox WHERE delivered_at IS NULL ORDER BY id",
                )
                .map_err(ctx.err())?;
            let mut rows = select.query([]).map_err(ctx.err())?;
            let mut entries = Vec::new();
            while let Some(row) = rows.next().map_err(ctx.err())? {
                let id: i64 = row.get(0).map_err(ctx.err())?;
                let json: String = ctx.column(row, "outbox", id, 1)?;
                let attempts: i64 = ctx.column(row, "outbox", id, 2)?;
                let next_attempt_at: i64 = ctx.column(row, "outbox", id, 3)?;
                let lease_until: Option<i64> = ctx.column(row, "outbox", id, 4)?;
                let enqueued_at: i64 = ctx.column(row, "outbox", id, 6)?;
                entries.push(PendingEntry {
                    id: EntryId(id),
                    message: ctx.message("outbox", id, &json)?,
                    attempts: ctx.attempts("outbox", id, attempts)?,
                    next_attempt_at: ctx.time("outbox", id, next_attempt_at)?,
                    lease_until: lease_until.map(|t| ctx.time("outbox", id, t)).transpose()?,
                    last_error: ctx.column(row, "outbox", id, 5)?,
                    enqueued_at: ctx.time("outbox", id, enqueued_at)?,
                });
            }
            Ok(entries)
        })
    }

    fn dead_letters(&self) -> Result<Vec<DeadLetter>, NotifyError> {
        self.read("list dead letters", |tx, ctx| {
            let mut select = tx
                .prepare(
                    "SELECT id, message, attempts, reason, last_error, enqueued_at, died_at \
                     FROM dead_letters ORDER BY id",
                )
                .map_err(ctx.err())?;
            let mut rows = select.query([]).map_err(ctx.err())?;
            let mut letters = Vec::new();
            while let Some(row) = rows.next().map_err(ctx.err())? {
                let table = "dead_letters";
                let id: i64 = row.get(0).map_err(ctx.err())?;
                let json: String = ctx.column(row, table, id, 1)?;
                let attempts: i64 = ctx.column(row, table, id, 2)?;
                let enqueued_at: i64 = ctx.column(row, table, id, 5)?;
                let died_at: i64 = ctx.column(row, table, id, 6)?;
                letters.push(DeadLetter {
                    id: EntryId(id),
                    message: ctx.message(table, id, &json)?,
                    attempts: ctx.attempts(table, id, attempts)?,
                    reason: ctx.column(row, table, id, 3)?,
                    last_error: ctx.column(row, table, id, 4)?,
                    enqueued_at: ctx.time(table, id, enqueued_at)?,
                    died_at: ctx.time(table, id, died_at)?,
                });
            }
            Ok(letters)
        })
    }

    fn requeue(&self, id: EntryId, now: DateTime<Utc>) -> Result<(), NotifyError> {
        let now = to_micros(now);
        self.write("requeue a dead letter", |tx, ctx| {
            let moved = revive(tx, ctx, Some(id.0), now)?;
            if moved == 0 {
                return Err(ctx.not_found(id.0));
            }
            Ok(())
        })
    }

    fn requeue_all(&self, now: DateTime<Utc>) -> Result<usize, NotifyError> {
        let now = to_micros(now);
        self.write("requeue dead letters", |tx, ctx| revive(tx, ctx, None, now))
    }

    fn state(
        &self,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
    ) -> Result<Option<EntryState>, NotifyError> {
        let now = to_micros(now);
        self.read("look up an entry", |tx, ctx| {
            let (receiver, dedup_key, sequence) = key_params(key);
            let live: Option<(Option<i64>, Option<i64>)> = tx
                .query_row(
                    "SELECT lease_until, delivered_at FROM outbox \
                     WHERE receiver = ?1 AND dedup_key = ?2 AND sequence = ?3",
                    params![receiver, dedup_key, sequence],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(ctx.err())?;
            if let Some((lease_until, delivered_at)) = live {
                return Ok(Some(if delivered_at.is_some() {
                    EntryState::Delivered
                } else if lease_until.is_some_and(|until| until > now) {
                    EntryState::InFlight
                } else {
                    EntryState::Pending
                }));
            }
            Ok(find(tx, ctx, "dead_letters", key)?.map(|_| EntryState::Dead))
        })
    }

    fn counts(&self, now: DateTime<Utc>) -> Result<OutboxCounts, NotifyError> {
        let now = to_micros(now);
        self.read("count entries", |tx, ctx| {
            let (pending, in_flight, delivered): (i64, i64, i64) = tx
                .query_row(
                    "SELECT \
                     COALESCE(SUM(delivered_at IS NULL AND (lease_until IS NULL OR lease_until <= ?1)), 0), \
                     COALESCE(SUM(delivered_at IS NULL AND lease_until > ?1), 0), \
                     COALESCE(SUM(delivered_at IS NOT NULL), 0) FROM outbox",
                    [now],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .map_err(ctx.err())?;
            let dead: i64 = tx
                .query_row("SELECT COUNT(*) FROM dead_letters", [], |row| row.get(0))
                .map_err(ctx.err())?;
            let size = |n: i64| usize::try_from(n).unwrap_or(0);
            Ok(OutboxCounts {
                pending: size(pending),
                in_flight: size(in_flight),
                delivered: size(delivered),
                dead: size(dead),
            })
        })
    }

    fn purge_delivered(&self, before: DateTime<Utc>) -> Result<usize, NotifyError> {
        let before = to_micros(before);
        self.write("purge delivered entries", |tx, ctx| {
            tx.execute(
                "DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?1",
                [before],
            )
            .map_err(ctx.err())
        })
    }
}

/// Move dead letter `id` (or all of them) back to `outbox`, due at `now`, attempts reset.
fn revive(
    tx: &Transaction<'_>,
    ctx: &Context<'_>,
    id: Option<i64>,
    now: i64,
) -> Result<usize, NotifyError> {
    let insert = "INSERT INTO outbox (id, receiver, dedup_key, sequence, message, attempts, \
                  next_attempt_at, last_error, enqueued_at) \
                  SELECT id, receiver, dedup_key, sequence, message, 0, ?1, last_error, \
                  enqueued_at FROM dead_letters";
    match id {
        Some(id) => {
            let moved = tx
                .execute(&format!("{insert} WHERE id = ?2"), params![now, id])
                .map_err(ctx.err())?;
            tx.execute("DELETE FROM dead_letters WHERE id = ?1", [id])
                .map_err(ctx.err())?;
            Ok(moved)
        }
        None => {
            let moved = tx.execute(insert, [now]).map_err(ctx.err())?;
            tx.execute("DELETE FROM dead_letters", [])
                .map_err(ctx.err())?;
            Ok(moved)
        }
    }
}
