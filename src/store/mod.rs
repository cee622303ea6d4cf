//! Where records go: the [`ExecutionRecordStore`] trait and the stores this crate ships.
//!
//! | store | feature | what for |
//! |---|---|---|
//! | `SqliteStore` | `sqlite` (default) | the embedded default: one file, WAL, batched transactions |
//! | `JsonLinesStore` | `jsonl` | append-only files per table, easy to ship to a lake |
//! | `PostgresStore` | `postgres` | a shared store for a team, on a PostgreSQL server: one transaction per batch, TLS, reconnects after an outage |
//! | [`InMemoryStore`] | always | tests and embedding |
//!
//! A store is named by a [`StoreUrl`] (`sqlite:PATH`, `jsonl:DIR`, `postgres://…`, `memory:`);
//! every store is read back through [`RecordReader`].

#[cfg(feature = "jsonl")]
mod jsonl;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_filter;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_schema;
#[cfg(feature = "sqlite")]
mod sqlite;
mod url;

#[cfg(feature = "jsonl")]
pub use jsonl::JsonLinesStore;
pub use memory::InMemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{
    PostgresStore, PostgresStoreBuilder, DEFAULT_APPLICATION_NAME, POSTGRES_SCHEMA_VERSION,
};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteStore, SQLITE_SCHEMA_VERSION};
pub use url::{PostgresUrl, RedactedStoreUrl, StoreUrl, StoreUrlError};

use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::record::{EntityKind, ExecutionRecord, RecorderHeartbeat, RunStatus};

/// A `u64` (a duration in milliseconds) as an SQL `BIGINT`, saturating.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// What an SQL store says of a schema written by a newer release than this one, which reads up
/// to `supported`; `None` when this release reads `version`.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn newer_schema(version: i64, supported: i64) -> Option<String> {
    (version > supported).then(|| {
        format!(
            "schema version {version} was written by a newer tracing-etl \
             (this one reads up to {supported})"
        )
    })
}

/// A destination for execution records.
///
/// The background writer owns the store and is its only caller: methods are never called
/// concurrently, which is why they take `&mut self`. A store that can update keeps one row per
/// entity (an end record always wins over a start record, see
/// [`ExecutionRecord::supersedes`]); an append-only store keeps every record.
///
/// Methods must not block forever: a store talking to a server sets timeouts. An error is not
/// fatal — the writer keeps the records, reports the error and retries the same batch with
/// back-off — so a store must leave itself usable after a failed call (roll back a half-written
/// transaction, reconnect on the next call, …) and writing the same batch twice must leave the
/// same state as writing it once.
///
/// # Example
///
/// A store that prints every record (a real one would write to a database or a file):
///
/// ```
/// use tracing_etl::{ExecutionRecord, ExecutionRecordStore, StoreError};
///
/// #[derive(Debug)]
/// struct Stdout;
///
/// impl ExecutionRecordStore for Stdout {
///     fn write_batch(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
///         for record in records {
///             println!("{} {} {}", record.kind(), record.event(), record.status());
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait ExecutionRecordStore: Send + 'static {
    /// Writes a batch of records, in order: the one method a store must implement. Stores that
    /// can should do it in one transaction: the writer hands over everything it has queued in
    /// one call. When it returns `Ok`, the records are the store's: the writer counts them as
    /// written and keeps no copy.
    fn write_batch(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError>;

    /// Writes one record: a batch of one.
    fn write_record(&mut self, record: &ExecutionRecord) -> Result<(), StoreError> {
        self.write_batch(std::slice::from_ref(record))
    }

    /// Whether the store keeps one row per entity (it updates the row in place, as SQL stores
    /// do) rather than every record (as append-only stores do).
    ///
    /// When it does, the writer leaves out of a batch the start record of an entity whose end
    /// record is in the same batch: the end record supersedes it in the same transaction, so the
    /// store ends up as if both were written. Entities still open when a batch is written keep
    /// their start record (status `running`). The default is `false`: every record is written.
    fn keeps_one_row_per_entity(&self) -> bool {
        false
    }

    /// Records a writer's heartbeat (one row per `recorder_id`, replaced by each beat), so that
    /// readers can tell runs still being recorded from runs abandoned by a dead process.
    ///
    /// The default ignores heartbeats: a store that cannot keep them loses only that
    /// distinction.
    fn write_heartbeat(&mut self, heartbeat: &RecorderHeartbeat) -> Result<(), StoreError> {
        let _ = heartbeat;
        Ok(())
    }

    /// Makes every record written so far durable (fsync, commit, …).
    ///
    /// The default does nothing, for stores whose writes are durable when they return.
    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl<S: ExecutionRecordStore + ?Sized> ExecutionRecordStore for Box<S> {
    fn write_record(&mut self, record: &ExecutionRecord) -> Result<(), StoreError> {
        (**self).write_record(record)
    }

    fn write_batch(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        (**self).write_batch(records)
    }

    fn keeps_one_row_per_entity(&self) -> bool {
        (**self).keeps_one_row_per_entity()
    }

    fn write_heartbeat(&mut self, heartbeat: &RecorderHeartbeat) -> Result<(), StoreError> {
        (**self).write_heartbeat(heartbeat)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        (**self).flush()
    }
}

/// Which rows a [`RecordReader`] returns. The default matches every row, oldest first.
///
/// ```
/// use tracing_etl::{RunStatus, store::RunFilter};
///
/// let failed_today = RunFilter::default()
///     .status(RunStatus::Failed)
///     .since(chrono::Utc::now() - chrono::Duration::hours(24))
///     .newest_first()
///     .limit(20);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunFilter {
    /// Only rows of this run id.
    pub run_id: Option<String>,
    /// Only rows whose run id starts with this text.
    pub run_id_prefix: Option<String>,
    /// Only rows of this attempt.
    pub attempt: Option<u32>,
    /// Only rows with this status.
    pub status: Option<RunStatus>,
    /// Only rows of this pipeline/process/step name.
    pub name: Option<String>,
    /// Only rows that started at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Newest first (by `started_at`) instead of oldest first.
    pub newest_first: bool,
    /// At most this many rows.
    pub limit: Option<usize>,
}

impl RunFilter {
    /// Only rows of `run_id`.
    pub fn run_id(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = Some(run_id.into());
        self
    }

    /// Only rows whose run id starts with `prefix`.
    pub fn run_id_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.run_id_prefix = Some(prefix.into());
        self
    }

    /// Only rows of `attempt`.
    pub fn attempt(mut self, attempt: u32) -> Self {
        self.attempt = Some(attempt);
        self
    }

    /// Only rows with `status`.
    pub fn status(mut self, status: RunStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Only rows named `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Only rows started at or after `since`.
    pub fn since(mut self, since: DateTime<Utc>) -> Self {
        self.since = Some(since);
        self
    }

    /// Newest first.
    pub fn newest_first(mut self) -> Self {
        self.newest_first = true;
        self
    }

    /// At most `limit` rows.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Whether a row with these values passes the filter (for stores that filter in memory).
    pub fn matches(
        &self,
        run_id: &str,
        attempt: u32,
        status: RunStatus,
        name: &str,
        started_at: DateTime<Utc>,
    ) -> bool {
        self.matches_run(run_id, attempt)
            && self.status.is_none_or(|s| s == status)
            && self.name.as_deref().is_none_or(|n| n == name)
            && self.since.is_none_or(|s| started_at >= s)
    }

    /// Whether `record` passes the filter (for stores that filter in memory).
    pub fn matches_record(&self, record: &ExecutionRecord) -> bool {
        self.matches(
            &record.run.run_id,
            record.run.attempt,
            record.outcome.status,
            &record.name,
            record.started_at,
        )
    }

    /// Whether a row of this run and attempt passes the run id, prefix and attempt parts of the
    /// filter: the fields fixed when an entity opens, which a store that folds records can check
    /// before folding.
    pub fn matches_run(&self, run_id: &str, attempt: u32) -> bool {
        self.run_id.as_deref().is_none_or(|r| r == run_id)
            && self
                .run_id_prefix
                .as_deref()
                .is_none_or(|p| run_id.starts_with(p))
            && self.attempt.is_none_or(|a| a == attempt)
    }

    /// Sorts rows by `started_at` in the filter's order and applies its limit (for stores that
    /// filter in memory).
    pub fn order_and_limit<T>(&self, rows: &mut Vec<T>, started_at: impl Fn(&T) -> DateTime<Utc>) {
        rows.sort_by_key(|r| started_at(r));
        if self.newest_first {
            rows.reverse();
        }
        if let Some(limit) = self.limit {
            rows.truncate(limit);
        }
    }
}

/// Reading records back from a store: what the `tracing-etl` command-line tool and tests use.
///
/// Each method returns the current row of every entity that passes the filter (for append-only
/// stores: the latest record per entity, an end record winning over a start record). A store
/// implements [`read_records`](Self::read_records) and [`read_recorders`](Self::read_recorders);
/// the others read one kind each.
pub trait RecordReader {
    /// Records of `kind` (`filter`'s `name` is the pipeline, process or step name).
    fn read_records(
        &mut self,
        kind: EntityKind,
        filter: &RunFilter,
    ) -> Result<Vec<ExecutionRecord>, StoreError>;

    /// Pipeline runs.
    fn read_pipelines(&mut self, filter: &RunFilter) -> Result<Vec<ExecutionRecord>, StoreError> {
        self.read_records(EntityKind::Pipeline, filter)
    }

    /// Process runs.
    fn read_processes(&mut self, filter: &RunFilter) -> Result<Vec<ExecutionRecord>, StoreError> {
        self.read_records(EntityKind::Process, filter)
    }

    /// Step runs.
    fn read_steps(&mut self, filter: &RunFilter) -> Result<Vec<ExecutionRecord>, StoreError> {
        self.read_records(EntityKind::Step, filter)
    }

    /// The latest heartbeat of every writer that recorded into the store.
    fn read_recorders(&mut self) -> Result<Vec<RecorderHeartbeat>, StoreError>;
}
