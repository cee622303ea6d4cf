//! [`JsonLinesStore`]: append-only JSON Lines files, one per table, in a directory.
//!
//! - `write`: lines buffered per file, written in chunks of whole lines, undone when a write
//!   fails, `fsync`ed on flush;
//! - `read`: lines folded into the latest record per entity, incomplete lines skipped with a
//!   warning.

mod line;
mod read;
mod write;

use std::io;
use std::path::{Path, PathBuf};

use crate::error::StoreError;
use serde::de::DeserializeSeed;

use crate::record::{EntityKind, ExecutionRecord, RecordSeed, RecorderHeartbeat};
use crate::store::{ExecutionRecordStore, RecordReader, RunFilter};

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
/// | `recorders.jsonl` | [`RecorderHeartbeat`] (every beat of every writer) |
///
/// Each line is one JSON object of the record's columns under their seed names (`event`,
/// `run_id`, `started_at`, `status`, …), as records serialise with `serde` but without `kind`
/// (the file says it). Lines written by earlier releases read as they were written; a column
/// they lack gets its default (`last_attempt`, on process and step lines before 0.2: `true`),
/// and keys written by a later release are ignored. Nothing is
/// ever rewritten: an entity has a start line (`*_start`, `running`) and, once its span closes,
/// an end line (`*_end`). Reading folds the lines into the current state of each entity —
/// pipelines keyed by `(run_id, attempt)`, processes by `process_run_id`, steps by
/// `step_run_id`, an end record winning over a start record (see
/// [`ExecutionRecord::supersedes`]) — so a line written twice changes nothing that is read back.
/// That is why a batch the writer retries after a failure is harmless even in the rare case
/// where part of it had already reached a file.
///
/// # Durability and crashes
///
/// Lines are buffered in memory and written to the files in large chunks of whole lines, and at
/// the latest on [`flush`](ExecutionRecordStore::flush) (the record writer flushes every 200 ms
/// by default), which also `fsync`s the files written since the previous flush. Heartbeats are
/// written at once, so readers can tell live runs from abandoned ones. A write that fails is
/// undone (the file is cut back to where it was), so the store stays usable and the writer's
/// retry does not leave a broken line behind. Files are opened in append mode and never
/// truncated otherwise: reopening a directory adds to it. Each chunk is whole lines appended in
/// one write, so another process appending to the same directory now and then — such as
/// `tracing-etl reap` — does not split lines on a local file system; one program recording
/// into a directory at a time is the intended use.
///
/// A program killed in the middle of a write can leave an incomplete last line. Readers skip it
/// with a warning ([`read_warnings`](Self::read_warnings), and a `tracing` WARN event with target
/// `tracing_etl`); the next writer starts on a fresh line, and readers keep skipping the
/// incomplete line with a warning. Any other line that cannot be read, in the middle of a file,
/// is a [`StoreError::InvalidData`] naming the file and line.
///
/// ```
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
/// let runs = reader.pipeline_runs()?;
/// assert_eq!(runs[0].name, "nightly");
/// assert_eq!(runs[0].outcome.status, RunStatus::Success);
/// assert_eq!(reader.step_runs()?[0].name, "load");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct JsonLinesStore {
    dir: PathBuf,
    /// The open files; `None` when opened read-only.
    writer: Option<Writer>,
    /// Every distinct warning of the reads so far.
    warnings: Vec<String>,
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
            warnings: Vec::new(),
        })
    }

    /// Opens an existing store for reading only: a missing directory is an error, and nothing
    /// is ever created or written (the command-line tool reads this way). Missing files read as
    /// empty tables. Writing to a store opened this way fails.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        let meta = std::fs::metadata(&dir).map_err(|e| io_err(&dir, "open", e))?;
        if !meta.is_dir() {
            return Err(StoreError::invalid_data(
                format!("json lines store {}", dir.display()),
                "not a directory",
            ));
        }
        Ok(JsonLinesStore {
            dir,
            writer: None,
            warnings: Vec::new(),
        })
    }

    /// The directory of the store.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every distinct warning of the reads so far: incomplete lines that were skipped, each
    /// naming its file and line. A read also emits each new warning as a `tracing` WARN event
    /// with target `tracing_etl`.
    pub fn read_warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Forgets the warnings of earlier reads (a later read reports them again).
    pub fn clear_read_warnings(&mut self) {
        self.warnings.clear();
    }

    /// Every pipeline run in its latest state, oldest first.
    pub fn pipeline_runs(&mut self) -> Result<Vec<ExecutionRecord>, StoreError> {
        self.read_pipelines(&RunFilter::default())
    }

    /// Every process run in its latest state, oldest first.
    pub fn process_runs(&mut self) -> Result<Vec<ExecutionRecord>, StoreError> {
        self.read_processes(&RunFilter::default())
    }

    /// Every step run in its latest state, oldest first.
    pub fn step_runs(&mut self) -> Result<Vec<ExecutionRecord>, StoreError> {
        self.read_steps(&RunFilter::default())
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
}

impl RecordReader for JsonLinesStore {
    fn read_records(
        &mut self,
        kind: EntityKind,
        filter: &RunFilter,
    ) -> Result<Vec<ExecutionRecord>, StoreError> {
        let seed = RecordSeed { kind: Some(kind) };
        let mut rows = self.fold(
            Table::of(kind),
            |line| seed.deserialize(&mut serde_json::Deserializer::from_slice(line)),
            |r: &ExecutionRecord| filter.matches_run(&r.run.run_id, r.run.attempt),
            ExecutionRecord::key,
            ExecutionRecord::supersedes,
        )?;
        rows.retain(|r| filter.matches_record(r));
        filter.order_and_limit(&mut rows, |r| r.started_at);
        Ok(rows)
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

    /// Writes every buffered line and `fsync`s (`sync_data`) the files written since the last
    /// flush (and, on Unix, the directory and its parent after `open` created them).
    fn flush(&mut self) -> Result<(), StoreError> {
        let dir = self.dir.clone();
        self.writer()?.flush(&dir)
    }
}

impl Drop for JsonLinesStore {
    /// Writes what is still buffered (without `fsync`; call `flush` for that). Errors are
    /// ignored: a store dropped without a flush makes no promise.
    fn drop(&mut self) {
        if let Some(writer) = &mut self.writer {
            let _ = writer.write_buffers();
        }
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
