//! [`SqliteStore`]: the embedded default store, one SQLite file in WAL mode.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{
    named_params, params, CachedStatement, Connection, OpenFlags, Row, ToSql, Transaction,
};

use crate::error::StoreError;
use crate::record::{
    rfc3339, EntityKind, ExecutionRecord, PipelineRunRecord, ProcessRunRecord, RecorderHeartbeat,
    RunStatus, StepRunRecord,
};
use crate::store::sql_filter::{self, Bound, Dialect};
use crate::store::{clamp_i64, newer_schema, ExecutionRecordStore, RecordReader, RunFilter};

/// The schema version this release writes (`PRAGMA user_version` of the database file).
///
/// A file with a lower version is migrated on open; a file with a higher one is refused with
/// [`StoreError::InvalidData`] rather than misread.
pub const SQLITE_SCHEMA_VERSION: i64 = 1;

/// WAL pages (4 KiB) after which a commit checkpoints the WAL into the database file.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 10_000;

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS pipeline_runs (
    run_id             TEXT    NOT NULL,
    attempt            INTEGER NOT NULL,
    event              TEXT    NOT NULL,
    correlation_id     TEXT,
    last_attempt       INTEGER NOT NULL,
    pipeline           TEXT    NOT NULL,
    started_at         TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    duration_ms        INTEGER,
    error              TEXT,
    error_type         TEXT,
    error_message      TEXT,
    failed_step_run_id TEXT,
    failed_step        TEXT,
    trace_id           TEXT,
    span_id            TEXT,
    recorder_id        TEXT,
    PRIMARY KEY (run_id, attempt)
);
CREATE INDEX IF NOT EXISTS pipeline_runs_started_at ON pipeline_runs (started_at);
CREATE INDEX IF NOT EXISTS pipeline_runs_status ON pipeline_runs (status);
CREATE TABLE IF NOT EXISTS process_runs (
    process_run_id     TEXT    NOT NULL PRIMARY KEY,
    event              TEXT    NOT NULL,
    run_id             TEXT    NOT NULL,
    correlation_id     TEXT,
    attempt            INTEGER NOT NULL,
    process            TEXT    NOT NULL,
    started_at         TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    duration_ms        INTEGER,
    error              TEXT,
    error_type         TEXT,
    error_message      TEXT,
    failed_step_run_id TEXT,
    failed_step        TEXT,
    trace_id           TEXT,
    span_id            TEXT,
    recorder_id        TEXT
);
CREATE INDEX IF NOT EXISTS process_runs_run ON process_runs (run_id, attempt);
CREATE INDEX IF NOT EXISTS process_runs_status ON process_runs (status);
CREATE TABLE IF NOT EXISTS step_runs (
    step_run_id        TEXT    NOT NULL PRIMARY KEY,
    event              TEXT    NOT NULL,
    run_id             TEXT    NOT NULL,
    correlation_id     TEXT,
    attempt            INTEGER NOT NULL,
    step               TEXT    NOT NULL,
    process_run_id     TEXT,
    started_at         TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    duration_ms        INTEGER,
    error              TEXT,
    error_type         TEXT,
    error_message      TEXT,
    trace_id           TEXT,
    span_id            TEXT,
    recorder_id        TEXT
);
CREATE INDEX IF NOT EXISTS step_runs_run ON step_runs (run_id, attempt);
CREATE INDEX IF NOT EXISTS step_runs_status ON step_runs (status);
CREATE TABLE IF NOT EXISTS recorders (
    recorder_id        TEXT    NOT NULL PRIMARY KEY,
    host               TEXT    NOT NULL,
    pid                INTEGER NOT NULL,
    started_at         TEXT    NOT NULL,
    last_beat_at       TEXT    NOT NULL,
    beat_interval_ms   INTEGER NOT NULL,
    stopped_at         TEXT
);
";

const UPSERT_RECORDER: &str = "
INSERT INTO recorders (recorder_id, host, pid, started_at, last_beat_at, beat_interval_ms,
    stopped_at)
VALUES (:recorder_id, :host, :pid, :started_at, :last_beat_at, :beat_interval_ms, :stopped_at)
ON CONFLICT (recorder_id) DO UPDATE SET
    host = excluded.host, pid = excluded.pid, started_at = excluded.started_at,
    last_beat_at = excluded.last_beat_at, beat_interval_ms = excluded.beat_interval_ms,
    stopped_at = excluded.stopped_at";

// An end record replaces anything; a start record only another start record
// (`ExecutionRecord::supersedes`).
const UPSERT_PIPELINE: &str = "
INSERT INTO pipeline_runs (run_id, attempt, event, correlation_id, last_attempt, pipeline,
    started_at, status, duration_ms, error, error_type, error_message, failed_step_run_id,
    failed_step, trace_id, span_id, recorder_id)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
ON CONFLICT (run_id, attempt) DO UPDATE SET
    event = excluded.event, correlation_id = excluded.correlation_id,
    last_attempt = excluded.last_attempt, pipeline = excluded.pipeline,
    started_at = excluded.started_at, status = excluded.status,
    duration_ms = excluded.duration_ms, error = excluded.error,
    error_type = excluded.error_type, error_message = excluded.error_message,
    failed_step_run_id = excluded.failed_step_run_id, failed_step = excluded.failed_step,
    trace_id = excluded.trace_id, span_id = excluded.span_id,
    recorder_id = excluded.recorder_id
WHERE excluded.event = 'pipeline_end' OR pipeline_runs.event = 'pipeline_start'";

const UPSERT_PROCESS: &str = "
INSERT INTO process_runs (process_run_id, event, run_id, correlation_id, attempt, process,
    started_at, status, duration_ms, error, error_type, error_message, failed_step_run_id,
    failed_step, trace_id, span_id, recorder_id)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
ON CONFLICT (process_run_id) DO UPDATE SET
    event = excluded.event, run_id = excluded.run_id, correlation_id = excluded.correlation_id,
    attempt = excluded.attempt, process = excluded.process, started_at = excluded.started_at,
    status = excluded.status, duration_ms = excluded.duration_ms, error = excluded.error,
    error_type = excluded.error_type, error_message = excluded.error_message,
    failed_step_run_id = excluded.failed_step_run_id, failed_step = excluded.failed_step,
    trace_id = excluded.trace_id, span_id = excluded.span_id,
    recorder_id = excluded.recorder_id
WHERE excluded.event = 'process_end' OR process_runs.event = 'process_start'";

const UPSERT_STEP: &str = "
INSERT INTO step_runs (step_run_id, event, run_id, correlation_id, attempt, step,
    process_run_id, started_at, status, duration_ms, error, error_type, error_message,
    trace_id, span_id, recorder_id)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
ON CONFLICT (step_run_id) DO UPDATE SET
    event = excluded.event, run_id = excluded.run_id, correlation_id = excluded.correlation_id,
    attempt = excluded.attempt, step = excluded.step, process_run_id = excluded.process_run_id,
    started_at = excluded.started_at, status = excluded.status,
    duration_ms = excluded.duration_ms, error = excluded.error,
    error_type = excluded.error_type, error_message = excluded.error_message,
    trace_id = excluded.trace_id, span_id = excluded.span_id,
    recorder_id = excluded.recorder_id
WHERE excluded.event = 'step_end' OR step_runs.event = 'step_start'";

/// The embedded default store: tables `pipeline_runs`, `process_runs` and `step_runs` in one
/// SQLite file, one row per entity.
///
/// The file is opened in WAL mode with `synchronous = NORMAL`, and readers such as the
/// `tracing-etl` command-line tool never block the writer. Each batch is one transaction. The
/// schema is created on open and versioned with `PRAGMA user_version` ([`SQLITE_SCHEMA_VERSION`]).
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
/// let runs = SqliteStore::open(&path)?.pipeline_runs()?;
/// assert_eq!(runs[0].pipeline, "nightly");
/// # Ok::<(), tracing_etl::StoreError>(())
/// ```
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating it if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path).map_err(|e| sqlite_err(&path, "open", e))?;
        let mut store = SqliteStore { conn, path };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// Opens an existing database for reading only: a missing file is an error, not a new
    /// empty database, and nothing is written (the command-line tool reads this way).
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags)
            .map_err(|e| sqlite_err(&path, "open read-only", e))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| sqlite_err(&path, "set busy timeout", e))?;
        let store = SqliteStore { conn, path };
        let version = store.schema_version()?;
        if version == 0 {
            return Err(StoreError::invalid_data(
                store.path.display().to_string(),
                "not a tracing-etl database (no schema)",
            ));
        }
        store.check_version(version)?;
        Ok(store)
    }

    /// The path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
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

    fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| sqlite_err(&self.path, "read schema version", e))
    }

    fn check_version(&self, version: i64) -> Result<(), StoreError> {
        check_version(&self.path, version)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| sqlite_err(&path, "begin migration", e))?;
        let version: i64 = tx
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| sqlite_err(&path, "read schema version", e))?;
        check_version(&path, version)?;
        if version < 1 {
            tx.execute_batch(SCHEMA_V1)
                .map_err(|e| sqlite_err(&path, "create schema", e))?;
        }
        tx.pragma_update(None, "user_version", SQLITE_SCHEMA_VERSION)
            .map_err(|e| sqlite_err(&path, "write schema version", e))?;
        tx.commit()
            .map_err(|e| sqlite_err(&path, "commit migration", e))
    }

    /// Every pipeline run, oldest first.
    pub fn pipeline_runs(&self) -> Result<Vec<PipelineRunRecord>, StoreError> {
        self.select(
            EntityKind::Pipeline,
            &RunFilter::default(),
            pipeline_from_row,
        )
    }

    /// Every process run, oldest first.
    pub fn process_runs(&self) -> Result<Vec<ProcessRunRecord>, StoreError> {
        self.select(EntityKind::Process, &RunFilter::default(), process_from_row)
    }

    /// Every step run, oldest first.
    pub fn step_runs(&self) -> Result<Vec<StepRunRecord>, StoreError> {
        self.select(EntityKind::Step, &RunFilter::default(), step_from_row)
    }

    /// The rows of `kind`'s table that pass `filter`, every value bound as a parameter.
    fn select<T>(
        &self,
        kind: EntityKind,
        filter: &RunFilter,
        map: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let (clauses, values) = sql_filter::clauses::<Sqlite>(kind, filter, &["rowid"]);
        let sql = format!("SELECT * FROM {}{clauses}", kind.table());
        let params: Vec<Box<dyn ToSql + '_>> = values
            .into_iter()
            .map(|value| -> Box<dyn ToSql + '_> {
                match value {
                    Bound::Text(text) => Box::new(text),
                    Bound::Integer(n) => Box::new(n),
                    // Stored as RFC 3339 text with nanoseconds, whose text order is time order.
                    Bound::Time(t) => Box::new(timestamp(&t)),
                }
            })
            .collect();
        let path = &self.path;
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| sqlite_err(path, "prepare query", e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params.iter()), map)
            .map_err(|e| sqlite_err(path, "query", e))?;
        rows.collect::<rusqlite::Result<Vec<T>>>()
            .map_err(|e| sqlite_err(path, "read row", e))
    }

    /// The underlying connection, for queries this API does not offer.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

impl RecordReader for SqliteStore {
    fn read_pipelines(&mut self, filter: &RunFilter) -> Result<Vec<PipelineRunRecord>, StoreError> {
        self.select(EntityKind::Pipeline, filter, pipeline_from_row)
    }

    fn read_processes(&mut self, filter: &RunFilter) -> Result<Vec<ProcessRunRecord>, StoreError> {
        self.select(EntityKind::Process, filter, process_from_row)
    }

    fn read_steps(&mut self, filter: &RunFilter) -> Result<Vec<StepRunRecord>, StoreError> {
        self.select(EntityKind::Step, filter, step_from_row)
    }

    fn read_recorders(&mut self) -> Result<Vec<RecorderHeartbeat>, StoreError> {
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
                    beat_interval_ms: get_duration_col(row, "beat_interval_ms")?.unwrap_or(0),
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
        upsert_all(&tx, records).map_err(|e| sqlite_err(&path, "write records", e))?;
        tx.commit()
            .map_err(|e| sqlite_err(&path, "commit records", e))
    }
}

/// Upserts every record, each statement prepared once per batch and its values bound by
/// position.
fn upsert_all(tx: &Transaction<'_>, records: &[ExecutionRecord]) -> rusqlite::Result<()> {
    let mut pipelines = None;
    let mut processes = None;
    let mut steps = None;
    let mut time = String::with_capacity(32);
    for record in records {
        match record {
            ExecutionRecord::Pipeline(r) => {
                let stmt = prepared(tx, &mut pipelines, UPSERT_PIPELINE)?;
                timestamp_into(&r.started_at, &mut time);
                stmt.execute(params![
                    r.run_id,
                    r.attempt,
                    r.event.as_str(),
                    r.correlation_id,
                    r.last_attempt,
                    r.pipeline,
                    time,
                    r.status.as_str(),
                    r.duration_ms.map(clamp_i64),
                    r.error,
                    r.error_type,
                    r.error_message,
                    r.failed_step_run_id,
                    r.failed_step,
                    r.trace_id,
                    r.span_id,
                    r.recorder_id,
                ])?;
            }
            ExecutionRecord::Process(r) => {
                let stmt = prepared(tx, &mut processes, UPSERT_PROCESS)?;
                timestamp_into(&r.started_at, &mut time);
                stmt.execute(params![
                    r.process_run_id,
                    r.event.as_str(),
                    r.run_id,
                    r.correlation_id,
                    r.attempt,
                    r.process,
                    time,
                    r.status.as_str(),
                    r.duration_ms.map(clamp_i64),
                    r.error,
                    r.error_type,
                    r.error_message,
                    r.failed_step_run_id,
                    r.failed_step,
                    r.trace_id,
                    r.span_id,
                    r.recorder_id,
                ])?;
            }
            ExecutionRecord::Step(r) => {
                let stmt = prepared(tx, &mut steps, UPSERT_STEP)?;
                timestamp_into(&r.started_at, &mut time);
                stmt.execute(params![
                    r.step_run_id,
                    r.event.as_str(),
                    r.run_id,
                    r.correlation_id,
                    r.attempt,
                    r.step,
                    r.process_run_id,
                    time,
                    r.status.as_str(),
                    r.duration_ms.map(clamp_i64),
                    r.error,
                    r.error_type,
                    r.error_message,
                    r.trace_id,
                    r.span_id,
                    r.recorder_id,
                ])?;
            }
        }
    }
    Ok(())
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
    let mut buf = [0u8; 30];
    match rfc3339::format(t, rfc3339::Fraction::Nanos, &mut buf) {
        Some(text) => out.push_str(text),
        None => out.push_str(&t.to_rfc3339_opts(SecondsFormat::Nanos, true)),
    }
}

fn conversion_error(
    idx: &str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, {
        let msg = format!("column {idx}: {e}");
        msg.into()
    })
}

fn get_time(row: &Row<'_>, col: &str) -> rusqlite::Result<DateTime<Utc>> {
    let text: String = row.get(col)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| conversion_error(col, e))
}

fn get_parsed<T: std::str::FromStr>(row: &Row<'_>, col: &str) -> rusqlite::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: String = row.get(col)?;
    text.parse().map_err(|e| conversion_error(col, e))
}

fn get_optional_time(row: &Row<'_>, col: &str) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let text: Option<String> = row.get(col)?;
    text.map(|text| {
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| conversion_error(col, e))
    })
    .transpose()
}

fn get_duration_col(row: &Row<'_>, col: &str) -> rusqlite::Result<Option<u64>> {
    let v: Option<i64> = row.get(col)?;
    Ok(v.map(|v| u64::try_from(v).unwrap_or(0)))
}

fn get_duration(row: &Row<'_>) -> rusqlite::Result<Option<u64>> {
    get_duration_col(row, "duration_ms")
}

/// SQLite's way of writing a filter: numbered `?N` placeholders.
struct Sqlite;

impl Dialect for Sqlite {
    fn placeholder(n: usize) -> String {
        format!("?{n}")
    }

    fn starts_with(placeholder: &str) -> String {
        format!("substr(run_id, 1, length({placeholder})) = {placeholder}")
    }
}

fn get_status(row: &Row<'_>) -> rusqlite::Result<RunStatus> {
    get_parsed(row, "status")
}

fn pipeline_from_row(row: &Row<'_>) -> rusqlite::Result<PipelineRunRecord> {
    Ok(PipelineRunRecord {
        event: get_parsed(row, "event")?,
        run_id: row.get("run_id")?,
        correlation_id: row.get("correlation_id")?,
        attempt: row.get("attempt")?,
        last_attempt: row.get("last_attempt")?,
        pipeline: row.get("pipeline")?,
        started_at: get_time(row, "started_at")?,
        status: get_status(row)?,
        duration_ms: get_duration(row)?,
        error: row.get("error")?,
        error_type: row.get("error_type")?,
        error_message: row.get("error_message")?,
        failed_step_run_id: row.get("failed_step_run_id")?,
        failed_step: row.get("failed_step")?,
        trace_id: row.get("trace_id")?,
        span_id: row.get("span_id")?,
        recorder_id: row.get("recorder_id")?,
    })
}

fn process_from_row(row: &Row<'_>) -> rusqlite::Result<ProcessRunRecord> {
    Ok(ProcessRunRecord {
        event: get_parsed(row, "event")?,
        run_id: row.get("run_id")?,
        correlation_id: row.get("correlation_id")?,
        attempt: row.get("attempt")?,
        process_run_id: row.get("process_run_id")?,
        process: row.get("process")?,
        started_at: get_time(row, "started_at")?,
        status: get_status(row)?,
        duration_ms: get_duration(row)?,
        error: row.get("error")?,
        error_type: row.get("error_type")?,
        error_message: row.get("error_message")?,
        failed_step_run_id: row.get("failed_step_run_id")?,
        failed_step: row.get("failed_step")?,
        trace_id: row.get("trace_id")?,
        span_id: row.get("span_id")?,
        recorder_id: row.get("recorder_id")?,
    })
}

fn step_from_row(row: &Row<'_>) -> rusqlite::Result<StepRunRecord> {
    Ok(StepRunRecord {
        event: get_parsed(row, "event")?,
        run_id: row.get("run_id")?,
        correlation_id: row.get("correlation_id")?,
        attempt: row.get("attempt")?,
        step_run_id: row.get("step_run_id")?,
        step: row.get("step")?,
        started_at: get_time(row, "started_at")?,
        status: get_status(row)?,
        duration_ms: get_duration(row)?,
        error: row.get("error")?,
        process_run_id: row.get("process_run_id")?,
        error_type: row.get("error_type")?,
        error_message: row.get("error_message")?,
        trace_id: row.get("trace_id")?,
        span_id: row.get("span_id")?,
        recorder_id: row.get("recorder_id")?,
    })
}

fn check_version(path: &Path, version: i64) -> Result<(), StoreError> {
    match newer_schema(version, SQLITE_SCHEMA_VERSION) {
        Some(message) => Err(StoreError::invalid_data(
            path.display().to_string(),
            message,
        )),
        None => Ok(()),
    }
}

fn sqlite_err(path: &Path, what: &str, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        context: format!("sqlite store {}: {what}", path.display()),
        source,
    }
}
