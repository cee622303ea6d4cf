//! [`SqliteStore`]: the embedded default store, one SQLite file in WAL mode.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{named_params, CachedStatement, Connection, OpenFlags, Row, ToSql, Transaction};

use crate::error::StoreError;
use crate::record::columns::{self, Column, ColumnType, Value};
use crate::record::rfc3339::{self, Fraction};
use crate::record::{EntityKind, ExecutionRecord, RecorderHeartbeat};
use crate::store::sql_filter::{self, Bound};
use crate::store::sql_schema::{self, RowError, SqlDialect, SqlRow};
use crate::store::{
    clamp_i64, newer_schema, ExecutionRecordStore, RecordReader, RecordVisit, RunFilter,
};

/// The schema version this release writes (`PRAGMA user_version` of the database file).
///
/// A file with a lower version is migrated on [`open`](SqliteStore::open) (and read as it is
/// by [`open_read_only`](SqliteStore::open_read_only)); a file with a higher one is refused
/// with [`StoreError::InvalidData`] rather than misread.
///
/// - 1: the first release.
/// - 2: `process_runs` and `step_runs` have `last_attempt` (set from their pipeline run by
///   the migration).
/// - 3: `status` may be `cancelled`.
/// - 4: the indexes reads need (created by the migration, which drops those they replace).
pub const SQLITE_SCHEMA_VERSION: i64 = columns::SCHEMA_VERSION as i64;

/// The page cache of a read-only connection, as SQLite's `cache_size` takes it: negative, in
/// KiB (64 MiB).
const READ_CACHE_KIB: i64 = -64 * 1024;

/// WAL pages (4 KiB) after which a commit checkpoints the WAL into the database file.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 10_000;

/// The table of writer heartbeats.
const RECORDERS: &str = "
CREATE TABLE IF NOT EXISTS recorders (
    recorder_id        TEXT    NOT NULL PRIMARY KEY,
    host               TEXT    NOT NULL,
    pid                INTEGER NOT NULL,
    started_at         TEXT    NOT NULL,
    last_beat_at       TEXT    NOT NULL,
    beat_interval_ms   INTEGER NOT NULL,
    stopped_at         TEXT
)";

/// The current schema, for a new database: the record tables, their indexes, `recorders`.
fn schema() -> String {
    let mut sql = String::new();
    for kind in EntityKind::ALL {
        let table = kind.table();
        sql.push_str(&sql_schema::create_table::<Sqlite>(kind, table));
        sql.push_str(";\n");
        sql.push_str(&indexes(kind));
    }
    sql.push_str(RECORDERS);
    sql
}

/// The rows of a table that started at the same time come in the order they were inserted
/// (pipeline runs: by run id and attempt, [`sql_schema::order_ties`]).
const TIE_BREAKERS: &[&str] = &["rowid"];

/// The `CREATE INDEX IF NOT EXISTS` statements of `kind`'s table.
fn indexes(kind: EntityKind) -> String {
    let table = kind.table();
    sql_schema::create_indexes(kind, table, table, TIE_BREAKERS, "status", None)
}

/// What a migration to `version` does besides adding the columns it adds.
fn migration_extras(version: u32) -> Vec<String> {
    match version {
        // Processes and steps of a run that was not the last attempt say so.
        2 => ["process_runs", "step_runs"]
            .map(|table| {
                format!(
                    "UPDATE {table} SET last_attempt = 0 WHERE EXISTS (SELECT 1 FROM pipeline_runs p
                         WHERE p.run_id = {table}.run_id AND p.attempt = {table}.attempt
                         AND NOT p.last_attempt)"
                )
            })
            .to_vec(),
        // The indexes that reads need replace those they make redundant.
        columns::INDEXES_SINCE => EntityKind::ALL
            .map(|kind| {
                sql_schema::drop_replaced_indexes(kind, kind.table(), "", "status") + &indexes(kind)
            })
            .to_vec(),
        _ => Vec::new(),
    }
}

const UPSERT_RECORDER: &str = "
INSERT INTO recorders (recorder_id, host, pid, started_at, last_beat_at, beat_interval_ms,
    stopped_at)
VALUES (:recorder_id, :host, :pid, :started_at, :last_beat_at, :beat_interval_ms, :stopped_at)
ON CONFLICT (recorder_id) DO UPDATE SET
    host = excluded.host, pid = excluded.pid, started_at = excluded.started_at,
    last_beat_at = excluded.last_beat_at, beat_interval_ms = excluded.beat_interval_ms,
    stopped_at = excluded.stopped_at";

/// `INSERT … ON CONFLICT (key) DO UPDATE SET …` of a record of `kind`, its values bound by
/// position in table order; the stored row is replaced only by a record that supersedes it.
fn upsert(kind: EntityKind) -> String {
    let table = kind.table();
    let placeholders: Vec<String> = (1..=columns::of(kind).count())
        .map(|n| format!("?{n}"))
        .collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {} WHERE {}",
        sql_schema::column_list(kind, columns::SCHEMA_VERSION),
        placeholders.join(", "),
        columns::key(kind).join(", "),
        sql_schema::update_set(kind),
        sql_schema::supersedes(kind, table),
    )
}

/// The embedded default store: tables `pipeline_runs`, `process_runs` and `step_runs` in one
/// SQLite file, one row per entity.
///
/// The file is opened in WAL mode with `synchronous = NORMAL`, and readers such as the
/// `tracing-etl` command-line tool never block the writer. Each batch is one transaction. The
/// schema is created on open and versioned with `PRAGMA user_version` ([`SQLITE_SCHEMA_VERSION`]);
/// a file written by an earlier release is migrated in place on open.
///
/// Durability: a committed batch is in the WAL file, and survives the process being killed at
/// any point after the commit. It survives a power loss or an OS crash once the WAL has been
/// synced to disk, which `synchronous = NORMAL` leaves to checkpoints: [`flush`] runs one (a
/// passive checkpoint: it syncs the WAL, copies it into the database file and syncs that), and
/// the writer flushes at most `flush_interval` (200 ms by default) after writing. A reader in
/// the middle of a read can hold part of a checkpoint back; the next flush finishes it.
///
/// [`flush`]: ExecutionRecordStore::flush
///
/// ```
/// use tracing_etl::store::{RecordReader, RunFilter};
/// use tracing_etl::{ExecutionRecordsLayer, SqliteStore};
/// use tracing_subscriber::prelude::*;
///
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("runs.db");
/// let store = SqliteStore::open(&path)?;
/// let (layer, guard) = ExecutionRecordsLayer::new(store);
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
///     let _run = tracing::info_span!("nightly", etl.pipeline = "nightly").entered();
/// });
/// drop(guard);
///
/// let runs = SqliteStore::open(&path)?.read_pipelines(&RunFilter::default())?;
/// assert_eq!(runs[0].name, "nightly");
/// # Ok::<(), tracing_etl::StoreError>(())
/// ```
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    /// The schema version of the file (older than this release's only when read-only).
    version: u32,
    /// The upsert of each kind, in [`EntityKind`] order.
    upserts: [String; 3],
}

impl SqliteStore {
    /// Opens (creating it if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path).map_err(|e| sqlite_err(&path, "open", e))?;
        let mut store = SqliteStore::new(conn, path);
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// Opens an existing database for reading only: a missing file is an error, not a new
    /// empty database, and nothing is written (the command-line tool reads this way). A file of
    /// an earlier schema version is read as it is.
    ///
    /// A file without any table yet — empty, or being created by a writer that has not
    /// committed its schema — reads as an empty history. A database with tables but no
    /// tracing-etl schema, or a file that is no database, is an error.
    ///
    /// A history in a directory this process cannot write (another user's, a read-only mount)
    /// is read too: when SQLite cannot create the WAL index (`-shm`) beside it and no writer
    /// has the file open (there is no `-wal` file), the file is read as immutable.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let store = match Self::open_read_only_as(&path, &path) {
            Err(StoreError::Sqlite { source, .. }) if needs_immutable(&path, &source) => {
                Self::open_read_only_as(&path, &immutable_uri(&path)?)?
            }
            other => other?,
        };
        Ok(store)
    }

    /// [`open_read_only`](Self::open_read_only) of `path`, opened as `name` (the path or a
    /// `file:` URI).
    fn open_read_only_as(path: &Path, name: &Path) -> Result<Self, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(name, flags)
            .map_err(|e| sqlite_err(path, "open read-only", e))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| sqlite_err(path, "set busy timeout", e))?;
        // A read of a file from before schema version 4 (which a read-only open leaves without
        // the indexes in start order) sorts by start time: a bigger page cache lets the sorter
        // keep more of a big run in memory instead of temporary files (see BENCHMARKS.md). It
        // grows only as used.
        conn.pragma_update(None, "cache_size", READ_CACHE_KIB)
            .map_err(|e| sqlite_err(path, "set cache size", e))?;
        // Both in one statement, so from one snapshot of a file being created.
        let (version, tables): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT user_version FROM pragma_user_version), \
                        (SELECT count(*) FROM sqlite_master)",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(|e| sqlite_err(path, "read schema version", e))?;
        let mut store = SqliteStore::new(conn, path.to_path_buf());
        store.version = match (version, tables) {
            // Nothing created yet: an empty history.
            (0, 0) => 0,
            (0, _) => {
                return Err(StoreError::invalid_data(
                    path.display().to_string(),
                    "not a tracing-etl database (tables, but no tracing-etl schema)",
                ))
            }
            (version, _) => check_version(path, version)?,
        };
        Ok(store)
    }

    fn new(conn: Connection, path: PathBuf) -> Self {
        SqliteStore {
            conn,
            path,
            version: columns::SCHEMA_VERSION,
            upserts: EntityKind::ALL.map(upsert),
        }
    }

    /// The path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the file ([`SQLITE_SCHEMA_VERSION`] once opened for writing).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| sqlite_err(&self.path, "read schema version", e))
    }

    fn configure(&self) -> Result<(), StoreError> {
        let path = &self.path;
        self.conn
            .busy_timeout(Duration::from_secs(5))
            .map_err(|e| sqlite_err(path, "set busy timeout", e))?;
        self.conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| sqlite_err(path, "enable WAL", e))?;
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| sqlite_err(path, "set synchronous", e))?;
        // Checkpoint (and fsync) every ~40 MB of WAL rather than every 4 MB: with
        // `synchronous = NORMAL` the checkpoint is the only fsync, and on slow disks each one
        // stalls the writer for as long as a few thousand rows take to write.
        self.conn
            .pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
            .map_err(|e| sqlite_err(path, "set WAL checkpoint size", e))?;
        Ok(())
    }

    /// Creates the schema in a new file, or migrates an older one in place: in one transaction,
    /// the columns each later version added (with their defaults) and what else it changed;
    /// and creates any index of the current schema that is missing.
    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| sqlite_err(&path, "begin migration", e))?;
        let version: i64 = tx
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| sqlite_err(&path, "read schema version", e))?;
        let version = check_version(&path, version)?;
        if version == 0 {
            tx.execute_batch(&schema())
                .map_err(|e| sqlite_err(&path, "create schema", e))?;
        } else {
            for to in sql_schema::versions_after(version) {
                let added = EntityKind::ALL
                    .iter()
                    .flat_map(|&k| sql_schema::added_columns::<Sqlite>(k, k.table(), to));
                for sql in added.chain(migration_extras(to)) {
                    tx.execute_batch(&sql).map_err(|e| {
                        sqlite_err(&path, &format!("migrate to schema version {to}"), e)
                    })?;
                }
            }
        }
        // The indexes, whatever became of them since (`IF NOT EXISTS`: nothing to do when
        // they are there).
        for kind in EntityKind::ALL {
            tx.execute_batch(&indexes(kind))
                .map_err(|e| sqlite_err(&path, "create indexes", e))?;
        }
        tx.pragma_update(None, "user_version", SQLITE_SCHEMA_VERSION)
            .map_err(|e| sqlite_err(&path, "write schema version", e))?;
        tx.commit()
            .map_err(|e| sqlite_err(&path, "commit migration", e))?;
        self.version = columns::SCHEMA_VERSION;
        Ok(())
    }

    /// The `SELECT` of the rows of `kind`'s table that pass `filter`, and its parameters.
    fn query<'a>(
        &self,
        kind: EntityKind,
        filter: &'a RunFilter,
    ) -> (String, Vec<Box<dyn ToSql + 'a>>) {
        let (clauses, values) = sql_filter::clauses(kind, filter, TIE_BREAKERS, '?');
        let sql = format!(
            "SELECT {} FROM {}{clauses}",
            sql_schema::column_list(kind, self.version),
            kind.table()
        );
        let params = values
            .into_iter()
            .map(|value| -> Box<dyn ToSql + 'a> {
                match value {
                    Bound::Text(text) => Box::new(text),
                    Bound::Integer(n) => Box::new(n),
                    // Stored as RFC 3339 text with nanoseconds, whose text order is time order.
                    Bound::Time(t) => Box::new(timestamp(&t)),
                }
            })
            .collect();
        (sql, params)
    }

    /// The underlying connection, for queries this API does not offer.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

impl RecordReader for SqliteStore {
    /// Hands over each row of the kind's table that passes the filter, as the cursor reads it,
    /// every value bound as a parameter.
    fn visit_records(&mut self, mut read: RecordVisit<'_>) -> Result<(), StoreError> {
        if self.version == 0 {
            // A history with no schema yet (read-only): nothing recorded.
            return Ok(());
        }
        let kind = read.kind;
        let (sql, params) = self.query(kind, read.filter);
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| sqlite_err(path, "prepare query", e))?;
        let version = self.version;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(|e| sqlite_err(path, "query", e))?;
        while let Some(row) = rows.next().map_err(|e| sqlite_err(path, "read row", e))? {
            let record =
                record_from_row(kind, version, row).map_err(|e| sqlite_err(path, "read row", e))?;
            if read.visit(record).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn read_recorders(&mut self) -> Result<Vec<RecorderHeartbeat>, StoreError> {
        if self.version == 0 {
            return Ok(Vec::new());
        }
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT * FROM recorders ORDER BY started_at")
            .map_err(|e| sqlite_err(path, "prepare query", e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok(RecorderHeartbeat {
                    recorder_id: row.get("recorder_id")?,
                    host: row.get("host")?,
                    pid: row.get("pid")?,
                    started_at: get_time(row, "started_at")?,
                    last_beat_at: get_time(row, "last_beat_at")?,
                    beat_interval_ms: row
                        .get::<_, i64>("beat_interval_ms")
                        .map(|v| u64::try_from(v).unwrap_or(0))?,
                    stopped_at: get_optional_time(row, "stopped_at")?,
                })
            })
            .map_err(|e| sqlite_err(path, "query", e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| sqlite_err(path, "read row", e))
    }
}

impl ExecutionRecordStore for SqliteStore {
    fn keeps_one_row_per_entity(&self) -> bool {
        true
    }

    fn write_heartbeat(&mut self, heartbeat: &RecorderHeartbeat) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(UPSERT_RECORDER)
            .and_then(|mut stmt| {
                stmt.execute(named_params! {
                    ":recorder_id": heartbeat.recorder_id,
                    ":host": heartbeat.host,
                    ":pid": heartbeat.pid,
                    ":started_at": timestamp(&heartbeat.started_at),
                    ":last_beat_at": timestamp(&heartbeat.last_beat_at),
                    ":beat_interval_ms": clamp_i64(heartbeat.beat_interval_ms),
                    ":stopped_at": heartbeat.stopped_at.as_ref().map(timestamp),
                })
            })
            .map(drop)
            .map_err(|e| sqlite_err(&self.path, "write heartbeat", e))
    }

    fn write_record(&mut self, record: &ExecutionRecord) -> Result<(), StoreError> {
        self.write_batch(std::slice::from_ref(record))
    }

    /// A passive WAL checkpoint: syncs the WAL, copies it into the database file and syncs that,
    /// without waiting for readers.
    fn flush(&mut self) -> Result<(), StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(|e| sqlite_err(&self.path, "checkpoint", e))
    }

    fn write_batch(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| sqlite_err(&path, "begin transaction", e))?;
        upsert_all(&tx, &self.upserts, records)
            .map_err(|e| sqlite_err(&path, "write records", e))?;
        tx.commit()
            .map_err(|e| sqlite_err(&path, "commit records", e))
    }
}

/// Upserts every record, each kind's statement prepared once per batch and its values bound
/// by position, in table order.
fn upsert_all(
    tx: &Transaction<'_>,
    upserts: &[String; 3],
    records: &[ExecutionRecord],
) -> rusqlite::Result<()> {
    let mut statements: [Option<CachedStatement<'_>>; 3] = Default::default();
    let mut time = String::with_capacity(32);
    for record in records {
        let kind = record.kind.index();
        let stmt = prepared(tx, &mut statements[kind], &upserts[kind])?;
        for (i, column) in columns::of(record.kind).enumerate() {
            bind(stmt, i + 1, column.get(record), &mut time)?;
        }
        stmt.raw_execute()?;
    }
    Ok(())
}

/// Binds `value` to parameter `n` (counting from 1); `time` is scratch space for a timestamp.
fn bind(
    stmt: &mut CachedStatement<'_>,
    n: usize,
    value: Value<'_>,
    time: &mut String,
) -> rusqlite::Result<()> {
    match value {
        Value::Null => stmt.raw_bind_parameter(n, rusqlite::types::Null),
        Value::Text(text) => stmt.raw_bind_parameter(n, text),
        Value::Integer(v) => stmt.raw_bind_parameter(n, clamp_i64(v)),
        Value::Bool(b) => stmt.raw_bind_parameter(n, b),
        Value::Time(t) => {
            timestamp_into(&t, time);
            stmt.raw_bind_parameter(n, time.as_str())
        }
        Value::List(list) => stmt.raw_bind_parameter(n, columns::list_json(list)),
    }
}

/// The statement in `slot`, taken from the connection's cache the first time.
fn prepared<'c, 's>(
    tx: &'c Transaction<'_>,
    slot: &'s mut Option<CachedStatement<'c>>,
    sql: &str,
) -> rusqlite::Result<&'s mut CachedStatement<'c>> {
    if slot.is_none() {
        *slot = Some(tx.prepare_cached(sql)?);
    }
    Ok(slot.as_mut().expect("just prepared"))
}

/// Timestamps are stored as RFC 3339 text with a fixed number of digits, so that text order is
/// time order.
fn timestamp(t: &DateTime<Utc>) -> String {
    let mut text = String::with_capacity(32);
    timestamp_into(t, &mut text);
    text
}

/// [`timestamp`] into `out` (cleared first).
fn timestamp_into(t: &DateTime<Utc>, out: &mut String) {
    out.clear();
    rfc3339::push(t, Fraction::Nanos, out);
}

fn conversion_error(col: &str, e: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("column {col}: {e}").into(),
    )
}

fn parse_time(col: &str, text: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| conversion_error(col, e))
}

fn get_time(row: &Row<'_>, col: &str) -> rusqlite::Result<DateTime<Utc>> {
    let text: String = row.get(col)?;
    parse_time(col, &text)
}

fn get_optional_time(row: &Row<'_>, col: &str) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let text: Option<String> = row.get(col)?;
    text.map(|text| parse_time(col, &text)).transpose()
}

/// The record of a row of `kind`'s table, selected with the columns of schema `version`.
fn record_from_row(
    kind: EntityKind,
    version: u32,
    row: &Row<'_>,
) -> rusqlite::Result<ExecutionRecord> {
    let row = SqliteRow { row, kind, version };
    sql_schema::record_from_row(kind, version, &row).map_err(|e| match e {
        RowError::Store(e) => e,
        RowError::Value { column, message } => conversion_error(column, message),
    })
}

/// A row of `kind`'s table selected with the columns of schema `version`.
struct SqliteRow<'a> {
    row: &'a Row<'a>,
    kind: EntityKind,
    version: u32,
}

impl SqlRow for SqliteRow<'_> {
    type Error = rusqlite::Error;

    fn text(&self, i: usize) -> rusqlite::Result<Option<String>> {
        self.row.get(i)
    }

    fn integer(&self, i: usize) -> rusqlite::Result<Option<i64>> {
        self.row.get(i)
    }

    fn boolean(&self, i: usize) -> rusqlite::Result<Option<bool>> {
        self.row.get(i)
    }

    /// Stored as RFC 3339 text.
    fn time(&self, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
        let name = || {
            columns::in_schema(self.kind, self.version)
                .nth(i)
                .map_or("?", |c: &Column| c.name)
        };
        let text: Option<String> = self.row.get(i)?;
        text.map(|text| parse_time(name(), &text)).transpose()
    }
}

/// SQLite's types and literals.
struct Sqlite;

impl SqlDialect for Sqlite {
    fn column_type(ty: ColumnType) -> &'static str {
        match ty {
            // Lists as the text of a JSON array (SQLite's `json_each` reads them).
            ColumnType::Text
            | ColumnType::Event
            | ColumnType::Status
            | ColumnType::Time
            | ColumnType::List => "TEXT",
            ColumnType::Integer | ColumnType::Bool => "INTEGER",
        }
    }

    fn literal(value: Value<'_>) -> String {
        match value {
            Value::Null => "NULL".into(),
            Value::Text(text) => format!("'{}'", text.replace('\'', "''")),
            Value::Integer(n) => clamp_i64(n).to_string(),
            Value::Bool(b) => u8::from(b).to_string(),
            Value::Time(t) => format!("'{}'", timestamp(&t)),
            Value::List(list) => format!("'{}'", columns::list_json(list).replace('\'', "''")),
        }
    }
}

/// The file's version, which this release reads, or the error that says it is newer.
fn check_version(path: &Path, version: i64) -> Result<u32, StoreError> {
    match newer_schema(version, SQLITE_SCHEMA_VERSION) {
        Some(message) => Err(StoreError::invalid_data(
            path.display().to_string(),
            message,
        )),
        None => u32::try_from(version).map_err(|_| {
            StoreError::invalid_data(
                path.display().to_string(),
                format!("schema version {version} is not one tracing-etl writes"),
            )
        }),
    }
}

/// Whether a read-only open of `path` failed only because the WAL index cannot be created in
/// its directory, with no writer around (no `-wal` file): then the file can be read immutable.
fn needs_immutable(path: &Path, error: &rusqlite::Error) -> bool {
    let readonly = matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen)
    );
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    readonly && !Path::new(&wal).exists()
}

/// `file:PATH?immutable=1`, the path percent-encoded where a URI needs it.
fn immutable_uri(path: &Path) -> Result<PathBuf, StoreError> {
    let text = path.to_str().ok_or_else(|| {
        StoreError::invalid_data(
            path.display().to_string(),
            "cannot read a history in a read-only directory from a path that is not UTF-8",
        )
    })?;
    let mut uri = String::from("file:");
    for c in text.chars() {
        match c {
            '%' | '?' | '#' => uri.push_str(&format!("%{:02X}", u32::from(c))),
            c => uri.push(c),
        }
    }
    uri.push_str("?immutable=1");
    Ok(PathBuf::from(uri))
}

fn sqlite_err(path: &Path, what: &str, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        context: format!("sqlite store {}: {what}", path.display()),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RunStatus;

    /// SQLite's plan of the query of `kind` with `filter`, one line per step.
    fn plan(store: &SqliteStore, kind: EntityKind, filter: &RunFilter) -> String {
        let (sql, params) = store.query(kind, filter);
        let mut stmt = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params.iter()), |r| {
                r.get::<_, String>(3)
            })
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn reads_go_through_an_index_in_their_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("h.db")).unwrap();
        let at = Utc::now();
        let page = RunFilter::default().newest_first().limit(50);
        let before = crate::store::RunPosition::new(at, "r", 1);
        let cases = [
            (EntityKind::Pipeline, page.clone(), "pipeline_runs_by_start"),
            (
                EntityKind::Pipeline,
                page.clone().before(before.clone()),
                "pipeline_runs_by_start",
            ),
            (
                EntityKind::Pipeline,
                page.clone().name("load").before(before.clone()),
                "pipeline_runs_by_name",
            ),
            (
                EntityKind::Pipeline,
                page.clone().status(RunStatus::Failed).before(before),
                "pipeline_runs_status_by_start",
            ),
            (
                EntityKind::Process,
                RunFilter::default().run_id("r").attempt(1),
                "process_runs_by_run",
            ),
            (
                EntityKind::Step,
                RunFilter::default().run_id("r").attempt(1),
                "step_runs_by_run",
            ),
        ];
        for (kind, filter, index) in cases {
            let plan = plan(&store, kind, &filter);
            assert!(
                plan.contains(&format!("USING INDEX {index}")),
                "{filter:?}: {plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{filter:?}: {plan}");
        }
    }
}
