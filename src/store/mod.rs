//! Where records go: the [`ExecutionRecordStore`] trait and the stores this crate ships.
//!
//! | store | feature | what for |
//! |---|---|---|
//! | `SqliteStore` | `sqlite` (default) | the embedded default: one file, WAL, batched transactions |
//! | `JsonLinesStore` | `jsonl` | append-only files per table, easy to ship to a lake |
//! | `PostgresStore` | `postgres` | a shared store for a team, on a PostgreSQL server: one transaction per batch, TLS, reconnects after an outage |
//! | `DeltaStore` | `delta` | three Delta Lake tables for a lakehouse (Spark, Databricks, Polars, DuckDB): append-only, one commit per flush |
//! | [`InMemoryStore`] | always | tests and embedding |
//!
//! A store is named by a [`StoreUrl`] (`sqlite:PATH`, `jsonl:DIR`, `postgres://…`, `delta:DIR`,
//! `memory:`);
//! every store is read back through [`RecordReader`].

#[cfg(feature = "delta")]
mod delta;
// Always built: the writer's spill history is a JSON Lines history. Public with `jsonl`.
#[cfg_attr(not(feature = "jsonl"), allow(dead_code, unreachable_pub))]
pub(crate) mod jsonl;
mod memory;
mod open_later;
mod outline;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "postgres", feature = "delta"))]
mod runtime;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_filter;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_schema;
#[cfg(feature = "sqlite")]
mod sqlite;
mod url;

#[cfg(feature = "delta")]
pub use delta::{
    Compaction, DeltaStore, TableCompaction, DEFAULT_COMMIT_INTERVAL, DEFAULT_MAX_PENDING_ROWS,
    TARGET_FILE_SIZE,
};
#[cfg(feature = "jsonl")]
pub use jsonl::{JsonLinesStore, ReadWarning};
pub use memory::InMemoryStore;
pub(crate) use open_later::OpenLater;
pub use outline::{summarize_by_streaming, RecordOutline, Summarize};
#[cfg(feature = "postgres")]
pub use postgres::{
    PostgresStore, PostgresStoreBuilder, DEFAULT_APPLICATION_NAME, POSTGRES_SCHEMA_VERSION,
};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteStore, SQLITE_SCHEMA_VERSION};
pub use url::{PostgresUrl, RedactedStoreUrl, StoreUrl, StoreUrlError};

use std::ops::ControlFlow;

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

/// For a read-only open of a store kept in a directory: that `dir`, the root of the store
/// `store` names (`json lines store`, `delta store`), is there and is a directory.
#[cfg_attr(not(any(feature = "jsonl", feature = "delta")), allow(dead_code))]
pub(crate) fn existing_dir(store: &str, dir: &std::path::Path) -> Result<(), StoreError> {
    let meta = std::fs::metadata(dir)
        .map_err(|e| StoreError::io(format!("{store} {}: open", dir.display()), e))?;
    if !meta.is_dir() {
        return Err(StoreError::invalid_data(
            format!("{store} {}", dir.display()),
            "not a directory",
        ));
    }
    Ok(())
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
    /// written and keeps no copy. So a store returns `Ok` only for records it has written
    /// (committed, or in its files, durable at the next [`flush`](Self::flush)), never for
    /// records it merely buffered, which a later failure could lose with no one left to retry
    /// them; a batch it could not write in full is an error, with nothing of it left behind
    /// that a retry would duplicate.
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

    /// The interval between flushes this store asks of a writer whose
    /// [`flush_interval`](crate::writer::WriterConfig::with_flush_interval) was not set: a store
    /// whose every flush leaves a file behind (Delta Lake) asks for a long one. An explicit
    /// setting wins. The default, `None`, leaves the writer's (200 ms).
    fn preferred_flush_interval(&self) -> Option<std::time::Duration> {
        None
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

    fn preferred_flush_interval(&self) -> Option<std::time::Duration> {
        (**self).preferred_flush_interval()
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
    /// Only rows of one of these run ids (none for an empty list): one read for the rows of
    /// several runs, such as the later attempts of each run on a page. The SQL stores bind one
    /// value per id, so keep the list to a page's worth (hundreds, not hundreds of thousands).
    pub run_ids: Option<Vec<String>>,
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
    /// Only rows strictly before this position in start order: a keyset bound, with which a
    /// list read newest first goes on from its last row without reading the rows before it.
    pub before: Option<RunPosition>,
}

/// Where a row stands in start order: by `started_at`, then (for rows that started at the
/// same time) by run id and attempt. Pipeline runs are read in this order in every store, so
/// that [`RunFilter::before`] pages through them; processes and steps of one run attempt
/// share its run id and attempt, and are ordered among equal start times as each store keeps
/// them.
///
/// ```
/// use tracing_etl::store::{RunFilter, RunPosition};
///
/// let last_of_page = RunPosition::new(chrono::Utc::now(), "run-17", 1);
/// let next_page = RunFilter::default().newest_first().before(last_of_page).limit(50);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunPosition {
    /// When the row started.
    pub started_at: DateTime<Utc>,
    /// Its run id.
    pub run_id: String,
    /// Its attempt.
    pub attempt: u32,
}

impl RunPosition {
    /// The position of a row that started at `started_at` in attempt `attempt` of `run_id`.
    pub fn new(started_at: DateTime<Utc>, run_id: impl Into<String>, attempt: u32) -> Self {
        Self {
            started_at,
            run_id: run_id.into(),
            attempt,
        }
    }

    /// The position of `record`.
    pub fn of(record: &ExecutionRecord) -> Self {
        Self::new(
            record.started_at,
            record.run.run_id.clone(),
            record.run.attempt,
        )
    }

    /// Whether a row at these values comes strictly before this position.
    pub fn is_after(&self, started_at: DateTime<Utc>, run_id: &str, attempt: u32) -> bool {
        (started_at, run_id, attempt) < (self.started_at, self.run_id.as_str(), self.attempt)
    }
}

/// Setters of the filter's conditions that hold one value: `field(value: T)` sets the field to
/// `Some(value)`, with `value` converted into the field's type.
macro_rules! setters {
    ($($(#[doc = $doc:literal])+ $field:ident($value:ident: $ty:ty);)+) => {$(
        $(#[doc = $doc])+
        pub fn $field(mut self, $value: $ty) -> Self {
            self.$field = Some($value.into());
            self
        }
    )+};
}

impl RunFilter {
    setters! {
        /// Only rows of `run_id`.
        run_id(run_id: impl Into<String>);
        /// Only rows whose run id starts with `prefix`.
        run_id_prefix(prefix: impl Into<String>);
        /// Only rows of `attempt`.
        attempt(attempt: u32);
        /// Only rows with `status`.
        status(status: RunStatus);
        /// Only rows named `name`.
        name(name: impl Into<String>);
        /// Only rows started at or after `since`.
        since(since: DateTime<Utc>);
        /// At most `limit` rows.
        limit(limit: usize);
        /// Only rows strictly before `position` in start order (see [`RunPosition`]).
        before(position: RunPosition);
    }

    /// Only rows of one of `run_ids` (see [`RunFilter::run_ids`](Self#structfield.run_ids)).
    pub fn run_ids<I, S>(mut self, run_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.run_ids = Some(run_ids.into_iter().map(Into::into).collect());
        self
    }

    /// Newest first.
    pub fn newest_first(mut self) -> Self {
        self.newest_first = true;
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
            && self.matches_position(started_at, run_id, attempt)
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

    /// Whether a row of this run and attempt passes the run id, run ids, prefix and attempt
    /// parts of the filter: the fields fixed when an entity opens, which a store that folds
    /// records can check before folding.
    pub fn matches_run(&self, run_id: &str, attempt: u32) -> bool {
        self.run_id.as_deref().is_none_or(|r| r == run_id)
            && self
                .run_ids
                .as_deref()
                .is_none_or(|ids| ids.iter().any(|r| r == run_id))
            && self
                .run_id_prefix
                .as_deref()
                .is_none_or(|p| run_id.starts_with(p))
            && self.attempt.is_none_or(|a| a == attempt)
    }

    /// Whether a row that started at `started_at`, of `run_id`'s attempt `attempt`, passes the
    /// [`before`](Self::before) bound: the fields a store that folds records has on the first
    /// line of an entity.
    pub fn matches_position(&self, started_at: DateTime<Utc>, run_id: &str, attempt: u32) -> bool {
        self.before
            .as_ref()
            .is_none_or(|b| b.is_after(started_at, run_id, attempt))
    }

    /// Sorts rows in start order ([`RunPosition`]: `position` gives a row's start time, run id
    /// and attempt; rows equal in all three keep their order), in the filter's direction, and
    /// applies its limit (for stores that filter in memory).
    pub fn order_and_limit<T, F>(&self, rows: &mut Vec<T>, position: F)
    where
        F: for<'a> Fn(&'a T) -> (DateTime<Utc>, &'a str, u32),
    {
        rows.sort_by(|a, b| position(a).cmp(&position(b)));
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
/// implements [`visit_records`](Self::visit_records) and
/// [`read_recorders`](Self::read_recorders); callers read through
/// [`for_each_record`](Self::for_each_record), and the methods that return a `Vec` are built on
/// it.
///
/// [`for_each_record`](Self::for_each_record) streams: a store hands over one record at a time
/// and holds no more than a batch of rows (SQL stores) or a small index entry per entity of the
/// filter's runs (JSON Lines), so that a run of a million steps can be read, counted or printed
/// without holding it all.
///
/// ```
/// use std::ops::ControlFlow;
/// use tracing_etl::{record::EntityKind, store::{RecordReader, RunFilter}, InMemoryStore};
///
/// fn failed_steps(reader: &mut dyn RecordReader, run_id: &str) -> usize {
///     let mut failed = 0;
///     let filter = RunFilter::default().run_id(run_id);
///     reader
///         .for_each_record(EntityKind::Step, &filter, &mut |step| {
///             failed += usize::from(step.outcome.status == tracing_etl::RunStatus::Failed);
///             ControlFlow::Continue(())
///         })
///         .unwrap();
///     failed
/// }
/// assert_eq!(failed_steps(&mut InMemoryStore::new(), "r1"), 0);
/// ```
pub trait RecordReader {
    /// Hands every record of `read.kind` that passes `read.filter` to
    /// [`read.visit`](RecordVisit::visit), in the filter's order, until it returns
    /// [`ControlFlow::Break`]: what a store implements for
    /// [`for_each_record`](Self::for_each_record).
    fn visit_records(&mut self, read: RecordVisit<'_>) -> Result<(), StoreError>;

    /// Calls `visit` with every record of `kind` that passes `filter`, in the filter's order,
    /// until `visit` returns [`ControlFlow::Break`] (`filter`'s `name` is the pipeline, process
    /// or step name).
    fn for_each_record(
        &mut self,
        kind: EntityKind,
        filter: &RunFilter,
        visit: &mut dyn FnMut(ExecutionRecord) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.visit_records(RecordVisit {
            kind,
            filter,
            visitor: visit,
        })
    }

    /// Records of `kind` (`filter`'s `name` is the pipeline, process or step name), collected
    /// from [`for_each_record`](Self::for_each_record).
    fn read_records(
        &mut self,
        kind: EntityKind,
        filter: &RunFilter,
    ) -> Result<Vec<ExecutionRecord>, StoreError> {
        let mut rows = Vec::new();
        self.for_each_record(kind, filter, &mut |record| {
            rows.push(record);
            ControlFlow::Continue(())
        })?;
        Ok(rows)
    }

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

    /// Sums up the records of `kind` that pass `filter`: `summary` gets the
    /// [outline](RecordOutline) of each, in the filter's order, and then each record it asked
    /// for whole (see [`Summarize`]).
    ///
    /// The provided method reads every record whole
    /// ([`summarize_by_streaming`]); a store that can read outlines for less (fewer columns
    /// from a server, a line read in part) overrides it, so that a summary of a million steps
    /// costs a million outlines and a few records.
    fn summarize_records(
        &mut self,
        kind: EntityKind,
        filter: &RunFilter,
        summary: &mut dyn Summarize,
    ) -> Result<(), StoreError> {
        summarize_by_streaming(self, kind, filter, summary)
    }

    /// The latest heartbeat of every writer that recorded into the store.
    fn read_recorders(&mut self) -> Result<Vec<RecorderHeartbeat>, StoreError>;
}

/// One read of [`RecordReader::for_each_record`], as a store's
/// [`visit_records`](RecordReader::visit_records) gets it: which records, and the visitor they
/// are handed to.
///
/// ```
/// use tracing_etl::store::{RecordReader, RecordVisit};
/// use tracing_etl::{record::RecorderHeartbeat, ExecutionRecord, StoreError};
///
/// /// A store that holds its latest rows in a `Vec`.
/// #[derive(Debug)]
/// struct Rows(Vec<ExecutionRecord>);
///
/// impl RecordReader for Rows {
///     fn visit_records(&mut self, read: RecordVisit<'_>) -> Result<(), StoreError> {
///         let mut rows: Vec<ExecutionRecord> = self
///             .0
///             .iter()
///             .filter(|r| r.kind == read.kind && read.filter.matches_record(r))
///             .cloned()
///             .collect();
///         read.filter
///             .order_and_limit(&mut rows, |r| (r.started_at, &r.run.run_id, r.run.attempt));
///         read.visit_all(rows);
///         Ok(())
///     }
///
///     fn read_recorders(&mut self) -> Result<Vec<RecorderHeartbeat>, StoreError> {
///         Ok(Vec::new())
///     }
/// }
/// ```
pub struct RecordVisit<'a> {
    /// The kind of entity read.
    pub kind: EntityKind,
    /// Which records, in which order (its `name` is the pipeline, process or step name).
    pub filter: &'a RunFilter,
    visitor: &'a mut dyn FnMut(ExecutionRecord) -> ControlFlow<()>,
}

impl RecordVisit<'_> {
    /// Hands `record` over; [`ControlFlow::Break`] when no more records are wanted.
    pub fn visit(&mut self, record: ExecutionRecord) -> ControlFlow<()> {
        (self.visitor)(record)
    }

    /// Hands `records` over in turn, until no more are wanted: for a store that has the rows
    /// of the read in hand before it hands over the first.
    pub fn visit_all(mut self, records: impl IntoIterator<Item = ExecutionRecord>) {
        for record in records {
            if self.visit(record).is_break() {
                break;
            }
        }
    }
}

impl std::fmt::Debug for RecordVisit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordVisit")
            .field("kind", &self.kind)
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}
