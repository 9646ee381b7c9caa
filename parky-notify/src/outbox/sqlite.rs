//! The SQLite [`Outbox`]: durable across crashes and shareable between processes.
//!
//! # Schema (version 2, `PRAGMA user_version = 2`)
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
//! -- version 2
//! CREATE TABLE pipeline_state (      -- at most one row: the pipeline's state
//!     id       INTEGER PRIMARY KEY CHECK (id = 1),
//!     version  INTEGER NOT NULL,     -- the snapshot format (SNAPSHOT_VERSION)
//!     state    TEXT    NOT NULL,     -- the PipelineSnapshot as JSON
//!     saved_at INTEGER NOT NULL      -- µs
//! );
//! CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
//!     -- 'owner_salt': 32 random bytes (SQLite's randomblob), made once per file
//! CREATE TABLE receiver_owners (     -- which target each receiver name is bound to
//!     receiver    TEXT    PRIMARY KEY,
//!     fingerprint TEXT    NOT NULL,  -- hex SHA-256 of tag, salt and target; never the target
//!     bound_at    INTEGER NOT NULL   -- µs
//! );
//! ```
//!
//! Receiver owners: see [`SqliteOutbox::bind`].
//!
//! The file's `PRAGMA application_id` is [`APPLICATION_ID`] (0 in files written before it
//! was set). Before writing anything, opening checks that the file is empty or an outbox: a
//! file with another `application_id`, with tables an outbox does not have (a canary state
//! file, any other database) or without the tables of its `user_version` is refused with
//! [`NotifyError::NotAnOutbox`] and left untouched.
//!
//! The database runs in WAL mode (readers never block the writer; a crash never tears a
//! commit). Every operation is one transaction; those that write start with
//! `BEGIN IMMEDIATE`, so two processes claiming at once are serialised by SQLite's write
//! lock and never hand out the same entry. A `busy_timeout` (5 s by default) makes a second
//! writer wait instead of failing. Schema changes are migrations keyed by `user_version`,
//! applied on open in one transaction; a file from a newer version is refused.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};

use super::{
    add, from_micros, from_nanos, to_micros, to_nanos, Acked, Claim, DeadLetter, Enqueued, EntryId,
    EntryState, Failed, IdempotencyKey, Lease, Next, Outbox, OutboxCounts, PendingEntry,
    ReceiverTarget,
};
use crate::error::NotifyError;
use crate::message::Message;
use crate::pipeline::{PipelineSnapshot, SNAPSHOT_VERSION};

/// The newest schema version this build writes and reads.
const SCHEMA_VERSION: i64 = 2;

/// `PRAGMA application_id` of a Parky outbox file: the ASCII bytes `PKYO`. Set on files this
/// build creates or migrates; files written before it have 0, which is still accepted.
pub const APPLICATION_ID: i32 = 0x504B_594F;

/// The tables each schema version adds (version `v` has those of `TABLES[..v]`): a file
/// with any other table is not an outbox.
const TABLES: [&[&str]; 2] = [
    &["outbox", "dead_letters"],
    &["pipeline_state", "meta", "receiver_owners"],
];

/// Migration `n` (0-based) takes the schema from version `n` to `n + 1`.
const MIGRATIONS: [&str; 2] = [
    "
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
",
    "
CREATE TABLE IF NOT EXISTS pipeline_state (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  INTEGER NOT NULL,
    state    TEXT    NOT NULL,
    saved_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('owner_salt', randomblob(32));
CREATE TABLE IF NOT EXISTS receiver_owners (
    receiver    TEXT    PRIMARY KEY,
    fingerprint TEXT    NOT NULL,
    bound_at    INTEGER NOT NULL
);
",
];

/// What [`inspect`] found in a file that is empty or an outbox.
#[derive(Debug, Clone, Copy)]
struct Found {
    /// `PRAGMA user_version`, from 0 to [`SCHEMA_VERSION`].
    version: i64,
    /// `PRAGMA application_id`: 0 or [`APPLICATION_ID`].
    application_id: i32,
}

/// Reads (never writes) the header and table list of `connection`'s database and refuses a
/// file that is neither empty nor a Parky outbox this build can read.
fn inspect(connection: &Connection, file: &str) -> Result<Found, NotifyError> {
    let err = storage(file, "open");
    let not_ours = |reason: String| NotifyError::NotAnOutbox {
        file: file.to_owned(),
        reason,
    };
    let version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(&err)?;
    let application_id: i32 = connection
        .query_row("PRAGMA application_id", [], |row| row.get(0))
        .map_err(&err)?;
    let tables: Vec<String> = connection
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND substr(name, 1, 7) <> 'sqlite_' ORDER BY name",
        )
        .and_then(|mut statement| {
            statement
                .query_map([], |row| row.get(0))?
                .collect::<Result<Vec<String>, _>>()
        })
        .map_err(&err)?;
    if application_id != 0 && application_id != APPLICATION_ID {
        return Err(not_ours(format!(
            "it is another application's SQLite database (application_id {application_id:#010x}){}",
            some_tables(&tables)
        )));
    }
    let known = |t: &String| TABLES.iter().flat_map(|v| v.iter()).any(|k| k == t);
    if tables.iter().any(|t| !known(t)) {
        return Err(not_ours(format!(
            "it is another SQLite database{}",
            some_tables(&tables)
        )));
    }
    if version > SCHEMA_VERSION {
        return Err(NotifyError::OutboxSchemaTooNew {
            file: file.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < 0 {
        return Err(not_ours(format!("its schema version is {version}")));
    }
    if tables.is_empty() {
        return if version == 0 {
            Ok(Found {
                version,
                application_id,
            })
        } else {
            Err(not_ours(format!(
                "schema version {version} but it has no tables"
            )))
        };
    }
    // Version 0 with tables (written before user_version was set): needs at least `outbox`;
    // the first migration creates what is missing.
    let expected = if version == 0 {
        &["outbox"][..]
    } else {
        &[][..]
    };
    let missing: Vec<&str> = TABLES[..usize::try_from(version).unwrap_or(0)]
        .iter()
        .flat_map(|v| v.iter().copied())
        .chain(expected.iter().copied())
        .filter(|t| !tables.iter().any(|have| have == t))
        .collect();
    if !missing.is_empty() {
        return Err(not_ours(format!(
            "schema version {version} but no {} table{}",
            missing.join(", "),
            some_tables(&tables)
        )));
    }
    Ok(Found {
        version,
        application_id,
    })
}

/// ` (tables: a, b, c, …)`: the first few tables of a refused file.
fn some_tables(tables: &[String]) -> String {
    const SHOWN: usize = 5;
    if tables.is_empty() {
        return String::new();
    }
    let mut list = tables
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if tables.len() > SHOWN {
        list.push_str(&format!(", and {} more", tables.len() - SHOWN));
    }
    format!(" (tables: {list})")
}

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
    /// After [`SqliteOutbox::bind`]: the fingerprint of each receiver's target.
    owners: Mutex<Option<BTreeMap<String, String>>>,
}

impl SqliteOutbox {
    /// Open (creating if needed) the outbox database at `path`, in WAL mode with
    /// `synchronous = FULL`, creating or migrating the schema.
    ///
    /// # Errors
    /// [`NotifyError::OutboxStorage`] (naming the path) if the file cannot be opened, is not a
    /// SQLite database, or the schema cannot be created;
    /// [`NotifyError::NotAnOutbox`] if it is a non-empty SQLite database that is not an
    /// outbox (nothing is written to it then);
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
            owners: Mutex::new(None),
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
            owners: Mutex::new(None),
        };
        outbox.configure(Synchronous::Full, Duration::from_secs(5), false)?;
        Ok(outbox)
    }

    /// The database file, as shown in errors.
    #[must_use]
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Binds each receiver name of `targets` to its target in this file and makes this
    /// handle check the binding in every later enqueue and claim.
    ///
    /// Entries name their receiver, and two configurations can give the same name to
    /// different targets. [`SqliteOutbox::bind`] ties each receiver name of the file to one
    /// target, by fingerprint ([`ReceiverTarget::fingerprint`] with the file's salt; the URL or
    /// key itself is never stored):
    ///
    /// - a receiver the file does not know yet is bound to the caller's target;
    /// - a receiver bound to the same target is fine;
    /// - a receiver bound to another target is rebound only when the file holds nothing
    ///   undelivered for it (no pending entry, no dead letter, and the stored pipeline state
    ///   names it nowhere); otherwise `bind` fails with [`NotifyError::OutboxOwnerMismatch`],
    ///   naming the file and the receiver, and changes nothing.
    ///
    /// A bound handle keeps checking inside every transaction, so that another process that
    /// rebinds a receiver meanwhile cannot make it deliver foreign entries: `enqueue` refuses
    /// messages for a receiver now bound to another target, and `claim_due` hands out only
    /// entries of receivers bound to this handle's targets (or bound to nobody); entries of
    /// receivers bound elsewhere, including receivers this configuration does not have, are
    /// left pending for their owner. A handle that was never bound (`parky notify outbox
    /// list` / `retry`, tests) sees and claims every entry, as before version 2.
    ///
    /// # Errors
    /// [`NotifyError::OutboxOwnerMismatch`] naming the file and the first receiver bound to
    /// another target while the file holds undelivered notifications for it (then nothing
    /// was bound); a storage error or a corrupt stored pipeline state.
    pub fn bind(
        &self,
        targets: &BTreeMap<String, ReceiverTarget>,
        now: DateTime<Utc>,
    ) -> Result<(), NotifyError> {
        let now = to_micros(now);
        let owners = self.write("bind receivers", |tx, ctx| {
            let salt: Vec<u8> = tx
                .query_row(
                    "SELECT value FROM meta WHERE key = 'owner_salt'",
                    [],
                    |row| row.get(0),
                )
                .map_err(ctx.err())?;
            let ours: BTreeMap<String, String> = targets
                .iter()
                .map(|(name, target)| (name.clone(), target.fingerprint(&salt)))
                .collect();
            let stored = stored_owners(tx, ctx)?;
            let in_state = load_snapshot(tx, ctx)?
                .map(|s| s.receivers())
                .unwrap_or_default();
            for (receiver, fingerprint) in &ours {
                match stored.get(receiver) {
                    Some(theirs) if theirs == fingerprint => {}
                    Some(_) => {
                        let held = undelivered(tx, ctx, receiver, in_state.contains(receiver))?;
                        if let Some(undelivered) = held {
                            return Err(NotifyError::OutboxOwnerMismatch {
                                file: ctx.file.to_owned(),
                                receiver: receiver.clone(),
                                undelivered,
                            });
                        }
                        tx.execute(
                            "UPDATE receiver_owners SET fingerprint = ?2, bound_at = ?3 \
                             WHERE receiver = ?1",
                            params![receiver, fingerprint, now],
                        )
                        .map_err(ctx.err())?;
                    }
                    None => {
                        tx.execute(
                            "INSERT INTO receiver_owners (receiver, fingerprint, bound_at) \
                             VALUES (?1, ?2, ?3)",
                            params![receiver, fingerprint, now],
                        )
                        .map_err(ctx.err())?;
                    }
                }
            }
            Ok(ours)
        })?;
        *self.owners.lock().unwrap_or_else(PoisonError::into_inner) = Some(owners);
        Ok(())
    }

    /// The receivers this handle was bound to, with their fingerprints.
    fn owners(&self) -> Option<BTreeMap<String, String>> {
        self.owners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
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
        // Before the first write (switching to WAL rewrites the header): refuse a file that
        // is not ours.
        inspect(&connection, &self.file)?;
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
        // Again under the write lock: another process may have created the schema meanwhile.
        let found = inspect(&tx, &self.file)?;
        let start = usize::try_from(found.version).unwrap_or(MIGRATIONS.len());
        for migration in MIGRATIONS.iter().skip(start) {
            tx.execute_batch(migration).map_err(&migrate)?;
        }
        if found.version != SCHEMA_VERSION {
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(&migrate)?;
        }
        if found.application_id != APPLICATION_ID {
            tx.pragma_update(None, "application_id", APPLICATION_ID)
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

    /// Run `body` in one `BEGIN IMMEDIATE` transaction, committed if it returns `Ok`.
    fn write<T>(
        &self,
        operation: &'static str,
        body: impl FnOnce(&Transaction<'_>, &Context<'_>) -> Result<T, NotifyError>,
    ) -> Result<T, NotifyError> {
        self.transaction(TransactionBehavior::Immediate, operation, body)
    }

    /// Run `body` in one read transaction (a consistent snapshot).
    fn read<T>(
        &self,
        operation: &'static str,
        body: impl FnOnce(&Transaction<'_>, &Context<'_>) -> Result<T, NotifyError>,
    ) -> Result<T, NotifyError> {
        self.transaction(TransactionBehavior::Deferred, operation, body)
    }

    fn transaction<T>(
        &self,
        behavior: TransactionBehavior,
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
            .transaction_with_behavior(behavior)
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

/// Every receiver's bound fingerprint.
fn stored_owners(
    tx: &Transaction<'_>,
    ctx: &Context<'_>,
) -> Result<BTreeMap<String, String>, NotifyError> {
    let mut select = tx
        .prepare("SELECT receiver, fingerprint FROM receiver_owners")
        .map_err(ctx.err())?;
    let rows = select
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .map_err(ctx.err())?;
    rows.collect::<Result<_, _>>().map_err(ctx.err())
}

/// What the file holds undelivered for `receiver`, in words, or `None` when nothing.
fn undelivered(
    tx: &Transaction<'_>,
    ctx: &Context<'_>,
    receiver: &str,
    in_state: bool,
) -> Result<Option<String>, NotifyError> {
    let pending: i64 = tx
        .query_row(
            "SELECT COUNT(*) FROM outbox WHERE receiver = ?1 AND delivered_at IS NULL",
            [receiver],
            |row| row.get(0),
        )
        .map_err(ctx.err())?;
    let dead: i64 = tx
        .query_row(
            "SELECT COUNT(*) FROM dead_letters WHERE receiver = ?1",
            [receiver],
            |row| row.get(0),
        )
        .map_err(ctx.err())?;
    let mut parts = Vec::new();
    if pending > 0 {
        parts.push(format!("{pending} pending"));
    }
    if dead > 0 {
        parts.push(format!("{dead} dead"));
    }
    let mut text = match parts.len() {
        0 => String::new(),
        _ => format!("{} notifications", parts.join(" and ")),
    };
    if in_state {
        if !text.is_empty() {
            text.push_str(" and ");
        }
        text.push_str("alerts or notifications in the stored pipeline state");
    }
    Ok((!text.is_empty()).then_some(text))
}

/// The stored pipeline state, decoded.
fn load_snapshot(
    tx: &Transaction<'_>,
    ctx: &Context<'_>,
) -> Result<Option<PipelineSnapshot>, NotifyError> {
    let table = "pipeline_state";
    let row: Option<(i64, String)> = tx
        .query_row(
            "SELECT version, state FROM pipeline_state WHERE id = 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(ctx.err())?;
    let Some((version, json)) = row else {
        return Ok(None);
    };
    if version != i64::from(SNAPSHOT_VERSION) {
        return Err(ctx.corrupt(
            table,
            1,
            format!(
                "pipeline state format version {version} is not supported (this build reads \
                 version {SNAPSHOT_VERSION})"
            ),
        ));
    }
    let snapshot: PipelineSnapshot = serde_json::from_str(&json).map_err(|error| {
        ctx.corrupt(
            table,
            1,
            format!("the pipeline state is not valid: {error}"),
        )
    })?;
    Ok(Some(snapshot))
}

/// Store `messages`, skipping known keys. With `owners` (a bound handle), a message for a
/// receiver bound to another target refuses the whole batch, and a message for one of
/// `owners` not bound yet binds it.
fn insert_messages(
    tx: &Transaction<'_>,
    ctx: &Context<'_>,
    messages: &[Message],
    now: i64,
    owners: Option<&BTreeMap<String, String>>,
) -> Result<Vec<Enqueued>, NotifyError> {
    if let Some(ours) = owners {
        let stored = stored_owners(tx, ctx)?;
        let receivers: BTreeSet<&str> = messages.iter().map(|m| m.receiver.as_str()).collect();
        for receiver in receivers {
            let Some(fingerprint) = ours.get(receiver) else {
                continue;
            };
            match stored.get(receiver) {
                Some(theirs) if theirs == fingerprint => {}
                Some(_) => {
                    let held = undelivered(tx, ctx, receiver, false)?;
                    return Err(NotifyError::OutboxOwnerMismatch {
                        file: ctx.file.to_owned(),
                        receiver: receiver.to_owned(),
                        undelivered: held.unwrap_or_else(|| {
                            String::from("a binding made by another process since this one started")
                        }),
                    });
                }
                None => {
                    tx.execute(
                        "INSERT INTO receiver_owners (receiver, fingerprint, bound_at) \
                         VALUES (?1, ?2, ?3)",
                        params![receiver, fingerprint, now],
                    )
                    .map_err(ctx.err())?;
                }
            }
        }
    }
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
            serde_json::to_string(message).map_err(|error| encode(ctx, "message", &error))?;
        let (receiver, dedup_key, sequence) = key_params(&key);
        insert
            .execute(params![receiver, dedup_key, sequence, json, now])
            .map_err(ctx.err())?;
        answers.push(Enqueued::New(EntryId(tx.last_insert_rowid())));
    }
    Ok(answers)
}

fn encode(ctx: &Context<'_>, what: &str, error: &serde_json::Error) -> NotifyError {
    NotifyError::OutboxStorage {
        file: ctx.file.to_owned(),
        operation: ctx.operation,
        message: format!("cannot encode the {what} as JSON: {error}"),
    }
}

impl Outbox for SqliteOutbox {
    fn enqueue_batch(
        &self,
        messages: &[Message],
        now: DateTime<Utc>,
    ) -> Result<Vec<Enqueued>, NotifyError> {
        let now = to_micros(now);
        let owners = self.owners();
        self.write("enqueue", |tx, ctx| {
            insert_messages(tx, ctx, messages, now, owners.as_ref())
        })
    }

    fn enqueue_with_state(
        &self,
        messages: &[Message],
        state: &PipelineSnapshot,
        now: DateTime<Utc>,
    ) -> Result<Vec<Enqueued>, NotifyError> {
        let now = to_micros(now);
        let owners = self.owners();
        self.write("enqueue and save the pipeline state", |tx, ctx| {
            let answers = insert_messages(tx, ctx, messages, now, owners.as_ref())?;
            let json = serde_json::to_string(state)
                .map_err(|error| encode(ctx, "pipeline state", &error))?;
            tx.execute(
                "INSERT INTO pipeline_state (id, version, state, saved_at) VALUES (1, ?1, ?2, ?3) \
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version, \
                 state = excluded.state, saved_at = excluded.saved_at",
                params![state.version(), json, now],
            )
            .map_err(ctx.err())?;
            Ok(answers)
        })
    }

    fn load_state(&self) -> Result<Option<PipelineSnapshot>, NotifyError> {
        self.read("load the pipeline state", load_snapshot)
    }

    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Claim>, NotifyError> {
        let until = to_micros(add(now, lease));
        let now = to_micros(now);
        let owners = self.owners();
        self.write("claim due entries", |tx, ctx| {
            // A bound handle leaves alone the entries of receivers bound to other targets.
            let foreign: BTreeSet<String> = match &owners {
                None => BTreeSet::new(),
                Some(ours) => stored_owners(tx, ctx)?
                    .into_iter()
                    .filter(|(receiver, theirs)| ours.get(receiver) != Some(theirs))
                    .map(|(receiver, _)| receiver)
                    .collect(),
            };
            let mut select = tx
                .prepare(
                    "SELECT id, attempts, message, last_error, last_delay_ns, receiver FROM outbox \
                     WHERE delivered_at IS NULL AND next_attempt_at <= ?1 \
                     AND (lease_until IS NULL OR lease_until <= ?1) \
                     ORDER BY next_attempt_at, id",
                )
                .map_err(ctx.err())?;
            let mut rows = select.query(params![now]).map_err(ctx.err())?;
            let mut claims = Vec::new();
            while let Some(row) = rows.next().map_err(ctx.err())? {
                if claims.len() >= limit {
                    break;
                }
                let id: i64 = row.get(0).map_err(ctx.err())?;
                let receiver: String = ctx.column(row, "outbox", id, 5)?;
                if foreign.contains(&receiver) {
                    continue;
                }
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
