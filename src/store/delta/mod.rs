//! [`DeltaStore`]: the run history as three Delta Lake tables under a root directory.
//!
//! - `schema`: the tables' Delta and Arrow schemas, from the column table;
//! - `table`: one table, loaded for appending (without its file list) and for reading;
//! - `write`: records to record batches, batches to one Parquet file per date and one commit;
//! - `log`: commits, and the checkpoints that keep loading a table cheap;
//! - `read`: Parquet files back to records, folded into the latest row per entity;
//! - `compact`: the small files of each date rewritten as one;
//! - `heartbeat`: one JSON file per recorder beside the tables;
//! - `location`: the root, a directory or an S3 prefix, and the tables' URLs in it.

mod compact;
mod heartbeat;
mod location;
mod log;
mod read;
mod schema;
mod table;
mod write;

#[cfg(feature = "delta-s3")]
use std::collections::HashMap;
use std::path::Path;

pub use compact::{TableCompaction, TARGET_FILE_SIZE};

use crate::error::StoreError;
use crate::record::{EntityKind, ExecutionRecord, RecorderHeartbeat};
use crate::store::runtime::Rt;
use crate::store::{existing_dir, ExecutionRecordStore, RecordReader, RecordVisit, RunFilter};
use location::Root;
use read::Fold;
use table::Table;

/// Any error of the Delta, Arrow, Parquet or object store libraries, before it gets its context.
type DeltaError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Rows a table keeps in memory before it commits them without waiting for a flush.
pub const DEFAULT_MAX_PENDING_ROWS: usize = 256 * 1024;

/// The flush interval the store asks of a writer whose interval was not set
/// ([`ExecutionRecordStore::preferred_flush_interval`]): a commit, and so a file per table and
/// day, at most every 30 s.
pub const DEFAULT_COMMIT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// The run history as the Delta Lake tables `pipeline_runs`, `process_runs` and `step_runs`
/// under a root directory, as the Python observer this crate ports writes them: readable by
/// Spark, Databricks, Polars, DuckDB and the `deltalake` Python package.
///
/// # Tables
///
/// Each table has the columns of its [`ExecutionRecord`]s under their seed names, typed as
/// Delta types: `started_at` a `timestamp` (UTC, microseconds), `duration_ms` a `long`,
/// `attempt` an `int` (an attempt above `i32::MAX` is stored as `i32::MAX`), `last_attempt` a
/// `boolean`, every other column a `string` — `event` (`pipeline_start`, `pipeline_end`, …),
/// `status`, the error and root-cause columns, `trace_id`, `span_id` and `recorder_id`
/// included. A column is nullable where the record's field is optional. Every table is
/// partitioned by `started_date`, the UTC date of `started_at` (a `date`), so a reader that
/// filters on it reads only those days' files.
///
/// # Append-only: the latest row per key
///
/// Nothing is ever rewritten (an update would need a MERGE): an entity has a start row
/// (`*_start`, `running`) and, once its span closes, an end row (`*_end`). Readers take the
/// latest row per key — pipelines by `(run_id, attempt)`, processes by `process_run_id`, steps
/// by `step_run_id` — an end row winning over a start row
/// ([`ExecutionRecord::supersedes`]), as [`RecordReader`] here does; the guide on stores gives
/// the SQL view for Spark and DuckDB. A row written twice changes nothing that is read back,
/// so a batch the writer retries after a failure is harmless.
/// [`keeps_one_row_per_entity`](ExecutionRecordStore::keeps_one_row_per_entity) is `false`.
///
/// # Commits and durability
///
/// [`write_batch`](ExecutionRecordStore::write_batch) only converts the records to Arrow
/// batches in memory; [`flush`](ExecutionRecordStore::flush) writes each table's pending rows
/// as one Parquet file per `started_date` and commits them in one Delta commit per table (a
/// table that has more than [`DEFAULT_MAX_PENDING_ROWS`] pending rows commits at once). The
/// store asks the record writer to flush every [`DEFAULT_COMMIT_INTERVAL`] (30 s;
/// [`with_commit_interval`](Self::with_commit_interval) changes it, an explicit
/// `WriterConfig::with_flush_interval` overrides it) rather than the writer's usual 200 ms, so
/// that a long job leaves one file per table and 30 s, not one per record. The durability
/// window is that interval, against a kill as well as a power loss: until a commit, rows are
/// only in this process's memory. An explicit flush (`guard.flush()`) and the writer's
/// shutdown commit at once. A failed flush keeps the rows and the writer retries it; Parquet
/// files a failed commit left behind belong to no version and are ignored by every reader
/// (`VACUUM` deletes them). A Delta checkpoint follows every tenth commit of the tables the
/// store creates (the table's `delta.checkpointInterval`), so that loading a table stays cheap
/// however long it has been recorded into (the guide on stores has the details).
///
/// Small files still add up over months (one per table, date and flush): run
/// [`compact`](Self::compact) (or `tracing-etl compact --store delta:DIR`) daily or weekly; it
/// rewrites each date's small files as one, in one commit per table, while writers keep
/// appending.
///
/// # Heartbeats
///
/// Each recorder's latest heartbeat is the JSON file `_recorders/<id in hex>.json` in the root
/// (replaced by every beat: a commit per beat would be the small-files pattern the tables
/// avoid), outside the three tables.
///
/// # Location
///
/// The root is a local directory (created if needed) or, with the `delta-s3` feature, a
/// prefix of an S3 bucket ([`open_s3`](Self::open_s3)); each table is the folder of its name in
/// it. A root that cannot be written is a [`StoreError`] from `open` or `flush` (for the
/// writer, an outage it retries), never a panic.
///
/// ```
/// use tracing_etl::store::{RecordReader, RunFilter};
/// use tracing_etl::{DeltaStore, ExecutionRecordsLayer, RunStatus};
/// use tracing_subscriber::prelude::*;
///
/// #[tracing::instrument(fields(etl.pipeline = "nightly"))]
/// fn run() {}
///
/// # let tmp = tempfile::tempdir().unwrap();
/// # let root = tmp.path().join("lake");
/// let store = DeltaStore::open(&root)?; // creates the three tables
/// let (layer, guard) = ExecutionRecordsLayer::new(store);
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), run);
/// drop(guard); // commits every queued record
///
/// let mut reader = DeltaStore::open_read_only(&root)?;
/// let runs = reader.read_pipelines(&RunFilter::default())?;
/// assert_eq!(runs[0].outcome.status, RunStatus::Success);
/// assert!(root.join("pipeline_runs/_delta_log").is_dir());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DeltaStore {
    root: Root,
    runtime: Rt,
    /// Per kind, in [`EntityKind`] order.
    tables: [Table; 3],
    read_only: bool,
    max_pending_rows: usize,
    commit_interval: std::time::Duration,
}

impl std::fmt::Debug for DeltaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaStore")
            .field("root", &self.root.to_string())
            .field("read_only", &self.read_only)
            .field(
                "pending_rows",
                &self
                    .tables
                    .iter()
                    .map(|t| t.pending_rows)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// What [`DeltaStore::compact`] did, per table in [`EntityKind`] order.
pub type Compaction = [TableCompaction; 3];

impl DeltaStore {
    /// Opens the store under `root` for writing (and reading), creating the directory and the
    /// three tables if needed. An existing table must have every column of this release's
    /// schema that cannot be NULL; the nullable columns it lacks (the volume columns of a table
    /// written by an earlier release) are added to it, in one schema commit per table, and
    /// read as NULL in the rows written before.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, StoreError> {
        let root = root.as_ref().to_path_buf();
        std::fs::create_dir_all(&root).map_err(|e| io_err(&root, "create directory", e))?;
        let root = std::fs::canonicalize(&root).map_err(|e| io_err(&root, "open", e))?;
        DeltaStore::new(Root::Dir(root), false)?.create_tables()
    }

    /// Opens the store under the S3 prefix `url` (`s3://BUCKET/PREFIX`, or `s3a://`) for writing
    /// (and reading), creating the three tables if needed. The object store is configured as
    /// deltalake configures it: `options` (keys as in the `AWS_*` variables, e.g.
    /// `AWS_ENDPOINT_URL`, `AWS_REGION`), then the `AWS_*` environment, then the AWS SDK's
    /// credential chain. Several writers need a commit protocol S3 agrees on: by default a
    /// conditional put (`conditional_put=etag`, which S3 and most S3-compatible servers
    /// support); `AWS_S3_LOCKING_PROVIDER=dynamodb` with `DELTA_DYNAMO_TABLE_NAME` uses a
    /// DynamoDB lock table instead (see the guide on stores).
    #[cfg(feature = "delta-s3")]
    #[cfg_attr(docsrs, doc(cfg(feature = "delta-s3")))]
    pub fn open_s3(url: &str, options: &HashMap<String, String>) -> Result<Self, StoreError> {
        let root = DeltaStore::s3_root(url, options)?;
        DeltaStore::new(root, false)?.create_tables()
    }

    /// Opens an existing store under the S3 prefix `url` for reading only, configured as
    /// [`open_s3`](Self::open_s3): a prefix that holds nothing is an error, nothing is ever
    /// created or written, and a table not created yet reads as empty.
    #[cfg(feature = "delta-s3")]
    #[cfg_attr(docsrs, doc(cfg(feature = "delta-s3")))]
    pub fn open_s3_read_only(
        url: &str,
        options: &HashMap<String, String>,
    ) -> Result<Self, StoreError> {
        let root = DeltaStore::s3_root(url, options)?;
        let store = DeltaStore::new(root, true)?;
        if let Root::Object {
            url,
            store: objects,
            ..
        } = &store.root
        {
            let listed = store
                .runtime
                .block_on(objects.list_with_delimiter(None))
                .map_err(|e| StoreError::Delta {
                    context: format!("delta store {url}: list"),
                    source: Box::new(e),
                })?;
            if listed.objects.is_empty() && listed.common_prefixes.is_empty() {
                return Err(StoreError::invalid_data(
                    format!("delta store {url}"),
                    "no Delta tables here: the prefix holds nothing",
                ));
            }
        }
        Ok(store)
    }

    /// The root and object store of `url`. Built outside the runtime: deltalake may resolve
    /// AWS credentials on a runtime of its own.
    #[cfg(feature = "delta-s3")]
    fn s3_root(url: &str, options: &HashMap<String, String>) -> Result<Root, StoreError> {
        let url = location::s3_url(url)?;
        let store = deltalake::logstore::store_for(&url, options.clone()).map_err(|e| {
            StoreError::Delta {
                context: format!("delta store {url}: configure the object store"),
                source: Box::new(e),
            }
        })?;
        Ok(Root::Object {
            url,
            options: options.clone(),
            store,
        })
    }

    /// Loads or creates the three tables.
    fn create_tables(mut self) -> Result<Self, StoreError> {
        for table in &mut self.tables {
            table.open_for_writing(&self.runtime)?;
        }
        Ok(self)
    }

    /// Opens an existing store for reading only: a missing root is an error, nothing is ever
    /// created or written (the command-line tool reads this way), and a table not created yet
    /// reads as empty. Writing to a store opened this way fails.
    pub fn open_read_only(root: impl AsRef<Path>) -> Result<Self, StoreError> {
        let root = root.as_ref().to_path_buf();
        existing_dir("delta store", &root)?;
        let root = std::fs::canonicalize(&root).map_err(|e| io_err(&root, "open", e))?;
        DeltaStore::new(Root::Dir(root), true)
    }

    fn new(root: Root, read_only: bool) -> Result<Self, StoreError> {
        let runtime = Rt::with_worker("tracing-etl-delta")
            .map_err(|e| StoreError::io(format!("delta store {root}: start its runtime"), e))?;
        let table = |kind: EntityKind| {
            Ok::<_, StoreError>(Table::new(kind, root.table_url(kind)?, root.options()))
        };
        let tables = [
            table(EntityKind::Pipeline)?,
            table(EntityKind::Process)?,
            table(EntityKind::Step)?,
        ];
        Ok(DeltaStore {
            root,
            runtime,
            tables,
            read_only,
            max_pending_rows: DEFAULT_MAX_PENDING_ROWS,
            commit_interval: DEFAULT_COMMIT_INTERVAL,
        })
    }

    /// Commits a table on its own once it has more than `rows` pending (default
    /// [`DEFAULT_MAX_PENDING_ROWS`]): the bound on the memory rows take between flushes.
    pub fn with_max_pending_rows(mut self, rows: usize) -> Self {
        self.max_pending_rows = rows.max(1);
        self
    }

    /// The flush interval the store asks of its writer (default [`DEFAULT_COMMIT_INTERVAL`]):
    /// the durability window, and one commit (one file per table and day) per interval. A
    /// writer whose `flush_interval` was set explicitly keeps its own.
    pub fn with_commit_interval(mut self, interval: std::time::Duration) -> Self {
        self.commit_interval = interval;
        self
    }

    /// The root directory (canonical), `None` for an object store root.
    pub fn root(&self) -> Option<&Path> {
        self.root.dir()
    }

    /// The root as a URL: `file:///…/` for a directory, `s3://BUCKET/PREFIX/` for S3.
    pub fn location(&self) -> String {
        self.root
            .url()
            .map(String::from)
            .unwrap_or_else(|_| self.root.to_string())
    }

    /// The number of active data files of each table (in [`EntityKind`] order), at its latest
    /// version.
    pub fn data_files(&mut self) -> Result<[usize; 3], StoreError> {
        let mut counts = [0; 3];
        for (count, table) in counts.iter_mut().zip(&mut self.tables) {
            table.refresh_files(&self.runtime)?;
            if let Some(delta) = table.files() {
                *count = read::data_files(delta)
                    .map_err(|e| table.error("list files", e))?
                    .len();
            }
        }
        Ok(counts)
    }

    /// Commits what is pending, then rewrites the small files (under [`TARGET_FILE_SIZE`]) of
    /// every date that has more than one as one file, in one commit per table that leaves the
    /// rows as they were (`dataChange: false`, as Delta's `OPTIMIZE` records it). Writers may
    /// keep appending meanwhile: their new files are not touched. The files it replaces stay
    /// on disk for readers of older versions until a `VACUUM` deletes them.
    pub fn compact(&mut self) -> Result<Compaction, StoreError> {
        self.writable()?;
        self.commit_pending()?;
        let mut report = Compaction::default();
        for (out, table) in report.iter_mut().zip(&mut self.tables) {
            *out = table.compact(&self.runtime)?;
        }
        Ok(report)
    }

    fn writable(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::io(
                format!("delta store {}: write", self.root),
                std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "store opened read-only",
                ),
            ));
        }
        Ok(())
    }

    /// Commits every table's pending rows. A table whose commit fails keeps them (the tables
    /// committed before it do not).
    fn commit_pending(&mut self) -> Result<(), StoreError> {
        for table in &mut self.tables {
            table.commit(&self.runtime)?;
        }
        Ok(())
    }
}

fn io_err(path: &Path, what: &str, source: std::io::Error) -> StoreError {
    StoreError::io(format!("delta store {}: {what}", path.display()), source)
}

impl RecordReader for DeltaStore {
    /// The latest row of every entity of the kind read that passes the filter, in its order.
    /// The latest row per key is only known once every file of the table was read, so the rows
    /// that pass are collected before the first is visited (memory grows with them, not with
    /// the table).
    fn visit_records(&mut self, read: RecordVisit<'_>) -> Result<(), StoreError> {
        let rows = self.latest_rows(read.kind, read.filter)?;
        read.visit_all(rows);
        Ok(())
    }

    fn read_records(
        &mut self,
        kind: EntityKind,
        filter: &RunFilter,
    ) -> Result<Vec<ExecutionRecord>, StoreError> {
        self.latest_rows(kind, filter)
    }

    fn read_recorders(&mut self) -> Result<Vec<RecorderHeartbeat>, StoreError> {
        match &self.root {
            Root::Dir(dir) => heartbeat::read(dir),
            #[cfg(feature = "delta-s3")]
            Root::Object { url, store, .. } => self
                .runtime
                .block_on(heartbeat::read_objects(store.as_ref(), url.as_str())),
        }
    }
}

impl DeltaStore {
    /// The latest row of every entity of `kind` that passes `filter`, in its order.
    fn latest_rows(
        &mut self,
        kind: EntityKind,
        filter: &RunFilter,
    ) -> Result<Vec<ExecutionRecord>, StoreError> {
        let runtime = &self.runtime;
        let table = &mut self.tables[kind.index()];
        let keep = |r: &ExecutionRecord| filter.matches_run(&r.run.run_id, r.run.attempt);
        let mut fold = Fold::new(kind);
        table.refresh_files(runtime)?;
        if let Some(delta) = table.files() {
            let files = read::data_files(delta).map_err(|e| table.error("list files", e))?;
            let since = filter.since.map(|t| write::epoch_days(t.date_naive()));
            for file in files {
                // A date before `since` holds no row that passes.
                if since.is_some_and(|since| file.date.is_some_and(|date| date < since)) {
                    continue;
                }
                let batches = runtime
                    .block_on(read::read_file(delta, &file))
                    .map_err(|e| table.error(&format!("read {}", file.path), e))?;
                let place = format!("delta table {} file {}", table.url, file.path);
                for batch in &batches {
                    fold.add(batch, &place, keep)?;
                }
            }
        }
        // Rows not committed yet are the newest.
        let place = format!("delta table {} (pending rows)", table.url);
        for batch in &table.pending {
            fold.add(batch, &place, keep)?;
        }
        let mut rows = fold.into_rows();
        rows.retain(|r| filter.matches_record(r));
        filter.order_and_limit(&mut rows, |r| (r.started_at, &r.run.run_id, r.run.attempt));
        Ok(rows)
    }
}

impl ExecutionRecordStore for DeltaStore {
    /// Converts the records to one Arrow batch per table, to be committed by the next
    /// [`flush`](Self::flush) (or at once when a table has more than its maximum pending rows;
    /// if that commit fails, the table does not keep the batch and the call fails, so that the
    /// writer keeps it through the outage).
    fn write_batch(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        self.writable()?;
        for table in &mut self.tables {
            let of_kind: Vec<&ExecutionRecord> =
                records.iter().filter(|r| r.kind == table.kind).collect();
            if of_kind.is_empty() {
                continue;
            }
            let batch = write::record_batch(table.kind, &of_kind)
                .map_err(|e| table.error("convert records", e))?;
            let rows = batch.num_rows();
            table.pending_rows += rows;
            table.pending.push(batch);
            if table.pending_rows > self.max_pending_rows {
                if let Err(e) = table.commit(&self.runtime) {
                    // The writer keeps this batch and retries it (or spills it): the store
                    // keeps no more than its bound meanwhile.
                    table.pending.pop();
                    table.pending_rows -= rows;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Replaces the recorder's heartbeat file at once (readers judge liveness by it).
    fn write_heartbeat(&mut self, heartbeat: &RecorderHeartbeat) -> Result<(), StoreError> {
        self.writable()?;
        match &self.root {
            Root::Dir(dir) => heartbeat::write(dir, heartbeat),
            #[cfg(feature = "delta-s3")]
            Root::Object { url, store, .. } => self.runtime.block_on(heartbeat::write_object(
                store.as_ref(),
                url.as_str(),
                heartbeat,
            )),
        }
    }

    /// Commits every table's pending rows: one Parquet file per `started_date` and one Delta
    /// commit per table.
    fn flush(&mut self) -> Result<(), StoreError> {
        self.writable()?;
        self.commit_pending()
    }

    /// The commit interval ([`with_commit_interval`](Self::with_commit_interval)).
    fn preferred_flush_interval(&self) -> Option<std::time::Duration> {
        Some(self.commit_interval)
    }
}

impl Drop for DeltaStore {
    /// Commits what is still pending. Errors are ignored: a store dropped without a flush
    /// makes no promise.
    fn drop(&mut self) {
        if !self.read_only {
            let _ = self.commit_pending();
        }
    }
}
