//! [`JsonLinesStore`]: append-only JSON Lines files, one per table, in a directory.
//!
//! - `write`: each batch written through to its files in one append of whole lines per file,
//!   undone when a write fails, `fsync`ed on flush;
//! - `read`: lines folded into the latest record per entity, incomplete lines skipped with a
//!   warning.

mod compact;
mod line;
mod lines;
mod read;
mod write;

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::StoreError;
use crate::record::{EntityKind, ExecutionRecord, RecorderHeartbeat};
use crate::store::{
    existing_dir, ExecutionRecordStore, RecordReader, RecordVisit, RunFilter, Summarize,
};

pub(crate) use lines::Lines;
pub use lines::ReadWarning;
use write::Writer;

/// The four files of a store, in [`Table`] order.
const FILE_NAMES: [&str; 4] = [
    "pipeline_runs.jsonl",
    "process_runs.jsonl",
    "step_runs.jsonl",
    "recorders.jsonl",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Pipelines = 0,
    Processes = 1,
    Steps = 2,
    Recorders = 3,
}

impl Table {
    fn of(kind: EntityKind) -> Table {
        match kind {
            EntityKind::Pipeline => Table::Pipelines,
            EntityKind::Process => Table::Processes,
            EntityKind::Step => Table::Steps,
        }
    }

    fn file_name(self) -> &'static str {
        FILE_NAMES[self as usize]
    }
}

/// An append-only store: one [JSON Lines](https://jsonlines.org) file per table in a directory,
/// easy to tail, grep, `jq` and ship to a data lake.
///
/// | file | one line per |
/// |---|---|
/// | `pipeline_runs.jsonl` | [`ExecutionRecord`] of a pipeline |
/// | `process_runs.jsonl` | [`ExecutionRecord`] of a process |
/// | `step_runs.jsonl` | [`ExecutionRecord`] of a step |
/// | `recorders.jsonl` | [`RecorderHeartbeat`] (each beat of each writer; past 1 MiB, rewritten with the latest of each) |
///
/// Each line is one JSON object of the record's columns under their seed names (`event`,
/// `run_id`, `started_at`, `status`, …), as records serialise with `serde` but without `kind`
/// (the file says it). Lines written by earlier releases read as they were written; a column
/// they lack gets its default (`last_attempt`, on process and step lines before 0.2: `true`),
/// and keys written by a later release are ignored. Nothing in
/// the record files is ever rewritten: an entity has a start line (`*_start`, `running`) and, once its span closes,
/// an end line (`*_end`). Reading folds the lines into the current state of each entity —
/// pipelines keyed by `(run_id, attempt)`, processes by `process_run_id`, steps by
/// `step_run_id`, an end record winning over a start record (see
/// [`ExecutionRecord::supersedes`]) — so a line written twice changes nothing that is read back.
/// That is why a batch the writer retries after a failure is harmless even in the rare case
/// where part of it had already reached a file.
///
/// # Durability and crashes
///
/// [`write_batch`](ExecutionRecordStore::write_batch) writes the batch through to the files
/// before it returns — the lines of each file appended in one write — so a batch the store
/// accepted is in the files, not in a buffer that a later failure could lose; the writer hands
/// over everything it has queued in one batch, so a busy job still makes few, large writes.
/// [`flush`](ExecutionRecordStore::flush) (the record writer flushes every 200 ms by default)
/// `fsync`s the files written since the previous flush. Heartbeats are written at once, so
/// readers can tell live runs from abandoned ones. A write that fails, or is cut short (a full
/// disk), is undone in every file of the batch (each is cut back to where it was) and is the
/// batch's error: the writer keeps the batch (outage buffer, spill file) and retries it, and the
/// retry appends it exactly once. Files are opened in append mode and never truncated
/// otherwise: reopening a directory adds to it. Another process appending to the same
/// directory now and then — such as `tracing-etl reap` — does not split lines on a local file
/// system; one program recording into a directory at a time is the intended use.
///
/// A program killed in the middle of a write can leave an incomplete last line. Readers skip it
/// with a [`ReadWarning`], given to the callback of
/// [`with_read_warning_callback`](Self::with_read_warning_callback) (without one, a `tracing`
/// WARN event with target `tracing_etl`); the next writer starts on a fresh line, and readers keep skipping the
/// incomplete line with a warning. Any other line that cannot be read, in the middle of a file,
/// is a [`StoreError::InvalidData`] naming the file and line.
///
/// ```
/// use tracing_etl::store::{RecordReader, RunFilter};
/// use tracing_etl::{ExecutionRecordsLayer, JsonLinesStore, RunStatus};
/// use tracing_subscriber::prelude::*;
///
/// #[tracing::instrument(fields(etl.pipeline = "nightly"))]
/// fn run() {
///     load();
/// }
///
/// #[tracing::instrument(fields(etl.step))]
/// fn load() {}
///
/// # let tmp = tempfile::tempdir().unwrap();
/// # let dir = tmp.path().join("runs");
/// let store = JsonLinesStore::open(&dir)?; // creates the directory
/// let (layer, guard) = ExecutionRecordsLayer::new(store);
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), run);
/// drop(guard); // writes and fsyncs every queued record
///
/// // A start and an end line per entity.
/// let lines = std::fs::read_to_string(dir.join("step_runs.jsonl"))?;
/// assert_eq!(lines.lines().count(), 2);
///
/// // Read back: one record per entity, in its latest state.
/// let mut reader = JsonLinesStore::open_read_only(&dir)?;
/// let runs = reader.read_pipelines(&RunFilter::default())?;
/// assert_eq!(runs[0].name, "nightly");
/// assert_eq!(runs[0].outcome.status, RunStatus::Success);
/// assert_eq!(reader.read_steps(&RunFilter::default())?[0].name, "load");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JsonLinesStore {
    dir: PathBuf,
    /// The open files; `None` when opened read-only.
    writer: Option<Writer>,
    /// The lines skipped with a warning so far (file and line), each reported once.
    warned: HashSet<(PathBuf, u64)>,
    /// Where warnings go; `None`: `tracing` WARN events.
    on_warning: Option<ReadWarningCallback>,
}

/// What [`JsonLinesStore::with_read_warning_callback`] is given.
type ReadWarningCallback = Arc<dyn Fn(&ReadWarning) + Send + Sync>;

impl fmt::Debug for JsonLinesStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLinesStore")
            .field("dir", &self.dir)
            .field("writer", &self.writer)
            .field("warned", &self.warned.len())
            .field("on_warning", &self.on_warning.is_some())
            .finish()
    }
}

impl JsonLinesStore {
    /// Opens the store in `dir` for writing (and reading), creating the directory and its files
    /// if needed. Existing files are appended to.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        let dir_existed = dir.is_dir();
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, "create directory", e))?;
        let writer = Writer::open(&dir, dir_existed)?;
        Ok(JsonLinesStore {
            dir,
            writer: Some(writer),
            warned: HashSet::new(),
            on_warning: None,
        })
    }

    /// Opens an existing store for reading only: a missing directory is an error, and nothing
    /// is ever created or written (the command-line tool reads this way). Missing files read as
    /// empty tables. Writing to a store opened this way fails.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        existing_dir("json lines store", &dir)?;
        Ok(JsonLinesStore {
            dir,
            writer: None,
            warned: HashSet::new(),
            on_warning: None,
        })
    }

    /// The directory of the store.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Gives each line a read skips — cut short by an interrupted write — to `callback`, once
    /// per line over the store's life, as the read meets it; the read goes on. Without a
    /// callback, each is a `tracing` WARN event with target `tracing_etl`.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use tracing_etl::{store::{ReadWarning, RecordReader}, JsonLinesStore};
    ///
    /// # let tmp = tempfile::tempdir().unwrap();
    /// let skipped = Arc::new(Mutex::new(Vec::new()));
    /// let seen = skipped.clone();
    /// let mut store = JsonLinesStore::open(tmp.path())?.with_read_warning_callback(
    ///     move |w: &ReadWarning| seen.lock().unwrap().push(w.to_string()),
    /// );
    /// std::fs::write(tmp.path().join("step_runs.jsonl"), "{\"event\":\"step_st")?;
    /// assert!(store.read_steps(&Default::default())?.is_empty());
    /// assert!(skipped.lock().unwrap()[0].contains("step_runs.jsonl line 1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_read_warning_callback(
        mut self,
        callback: impl Fn(&ReadWarning) + Send + Sync + 'static,
    ) -> Self {
        self.on_warning = Some(Arc::new(callback));
        self
    }

    fn writer(&mut self) -> Result<&mut Writer, StoreError> {
        match &mut self.writer {
            Some(writer) => Ok(writer),
            None => Err(io_err(
                &self.dir,
                "write",
                io::Error::new(io::ErrorKind::PermissionDenied, "store opened read-only"),
            )),
        }
    }

    fn path(&self, table: Table) -> PathBuf {
        self.dir.join(table.file_name())
    }

    /// The file of `kind`'s records.
    pub(crate) fn table_path(&self, kind: EntityKind) -> PathBuf {
        self.path(Table::of(kind))
    }
}

impl RecordReader for JsonLinesStore {
    /// Two passes over the kind's file: the first keeps, per entity of the filter's runs, where
    /// its latest line is (a few dozen bytes each); the second reads those lines alone, in the
    /// filter's order, each record handed over as it is read.
    fn visit_records(&mut self, read: RecordVisit<'_>) -> Result<(), StoreError> {
        self.for_each_latest(read)
    }

    /// The outlines come from the first pass (which reads them anyway), and the second reads
    /// only the lines the summary asks for.
    fn summarize_records(
        &mut self,
        kind: EntityKind,
        filter: &RunFilter,
        summary: &mut dyn Summarize,
    ) -> Result<(), StoreError> {
        self.summarize_latest(kind, filter, summary)
    }

    fn read_recorders(&mut self) -> Result<Vec<RecorderHeartbeat>, StoreError> {
        // The latest beat of each recorder is its last line.
        let mut rows = self.fold(
            Table::Recorders,
            |line| serde_json::from_slice::<RecorderHeartbeat>(line),
            |_| true,
            |r| r.recorder_id.clone(),
            |_, _| true,
        )?;
        rows.sort_by_key(|r| r.started_at);
        Ok(rows)
    }
}

impl ExecutionRecordStore for JsonLinesStore {
    fn write_record(&mut self, record: &ExecutionRecord) -> Result<(), StoreError> {
        self.write_batch(std::slice::from_ref(record))
    }

    fn write_batch(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        self.writer()?.append(records)
    }

    /// Appends the beat to `recorders.jsonl` and writes it to the file at once (readers judge
    /// liveness by it); it is `fsync`ed with the next flush.
    fn write_heartbeat(&mut self, heartbeat: &RecorderHeartbeat) -> Result<(), StoreError> {
        self.writer()?.write_heartbeat(heartbeat)
    }

    /// `fsync`s (`sync_data`) the files written since the last flush (and, on Unix, the
    /// directory and its parent after `open` created them): the lines are in the files since
    /// their `write_batch` returned.
    fn flush(&mut self) -> Result<(), StoreError> {
        let dir = self.dir.clone();
        self.writer()?.flush(&dir)
    }
}

fn io_err(path: &Path, what: &str, source: io::Error) -> StoreError {
    StoreError::io(
        format!("json lines store {}: {what}", path.display()),
        source,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_files_follow_the_entity_tables() {
        for kind in [EntityKind::Pipeline, EntityKind::Process, EntityKind::Step] {
            assert_eq!(
                Table::of(kind).file_name(),
                format!("{}.jsonl", kind.table())
            );
        }
        assert_eq!(Table::Recorders.file_name(), "recorders.jsonl");
    }
}
