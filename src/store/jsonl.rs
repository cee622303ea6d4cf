//! [`JsonLinesStore`]: append-only JSON Lines files, one per table, in a directory.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::hash::Hash;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::StoreError;
use crate::record::{
    EntityKind, ExecutionRecord, PipelineRunRecord, ProcessRunRecord, RecorderHeartbeat,
    StepRunRecord,
};
use crate::store::{ExecutionRecordStore, RecordReader, RunFilter};

/// Bytes buffered per file before they are written to it (whole lines at a time).
const WRITE_BUFFER: usize = 256 * 1024;

/// Read buffer per file.
const READ_BUFFER: usize = 64 * 1024;

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
/// | `pipeline_runs.jsonl` | [`PipelineRunRecord`] |
/// | `process_runs.jsonl` | [`ProcessRunRecord`] |
/// | `step_runs.jsonl` | [`StepRunRecord`] |
/// | `recorders.jsonl` | [`RecorderHeartbeat`] (every beat of every writer) |
///
/// Each line is one JSON object with the record's own field names (`event`, `run_id`,
/// `started_at`, `status`, …), exactly as the record types serialise with `serde`. Nothing is
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
/// assert_eq!(runs[0].pipeline, "nightly");
/// assert_eq!(runs[0].status, RunStatus::Success);
/// assert_eq!(reader.step_runs()?[0].step, "load");
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

#[derive(Debug)]
struct Writer {
    files: [TableFile; 4],
    /// Files were created in the directory: their entries are made durable at the next flush.
    dir_unsynced: bool,
    /// The directory itself was created: so is its entry in its parent.
    parent_unsynced: bool,
}

/// One file open for appending, with its buffer of whole lines not yet written.
#[derive(Debug)]
struct TableFile {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    /// The file ends with an incomplete line: the next write starts with a newline.
    needs_newline: bool,
    /// Written to since the last `sync_data`.
    unsynced: bool,
    /// A failed write could not be undone yet: cut the file back to this length (and restore
    /// `needs_newline`) before writing.
    rollback_to: Option<Undo>,
}

/// How to undo a write: the file's length and `needs_newline` before it.
#[derive(Debug, Clone, Copy)]
struct Undo {
    len: u64,
    needs_newline: bool,
}

impl TableFile {
    fn open(path: PathBuf) -> Result<(Self, bool), StoreError> {
        let existed = path.exists();
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| io_err(&path, "open for appending", e))?;
        let needs_newline = ends_without_newline(&path)?;
        let table = TableFile {
            path,
            file,
            buf: Vec::with_capacity(WRITE_BUFFER + WRITE_BUFFER / 4),
            needs_newline,
            unsynced: false,
            rollback_to: None,
        };
        Ok((table, !existed))
    }

    /// Appends one record as a line to the buffer.
    fn push<T: Serialize>(&mut self, value: &T) -> Result<(), serde_json::Error> {
        serde_json::to_writer(&mut self.buf, value)?;
        self.buf.push(b'\n');
        Ok(())
    }

    /// Writes the buffer to the file (the caller empties it) and returns how to undo that. On
    /// failure the file is cut back to its length before the write, and the buffer is kept.
    fn write_buffer(&mut self) -> Result<Option<Undo>, StoreError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        self.undo_failed_write()?;
        let before = Undo {
            len: self
                .file
                .metadata()
                .map_err(|e| io_err(&self.path, "read length", e))?
                .len(),
            needs_newline: self.needs_newline,
        };
        let written = (|| {
            if self.needs_newline {
                self.file.write_all(b"\n")?;
            }
            self.file.write_all(&self.buf)
        })();
        self.unsynced = true;
        match written {
            Ok(()) => {
                self.needs_newline = false;
                Ok(Some(before))
            }
            Err(e) => {
                self.rollback_to = Some(before);
                // Best effort now; retried before the next write otherwise.
                let _ = self.undo_failed_write();
                Err(io_err(&self.path, "append", e))
            }
        }
    }

    /// Cuts away what a failed write left, so that no partial line stays in the middle.
    fn undo_failed_write(&mut self) -> Result<(), StoreError> {
        if let Some(undo) = self.rollback_to {
            self.file
                .set_len(undo.len)
                .map_err(|e| io_err(&self.path, "undo a failed append", e))?;
            self.needs_newline = undo.needs_newline;
            self.rollback_to = None;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        if self.unsynced {
            self.file
                .sync_data()
                .map_err(|e| io_err(&self.path, "fsync", e))?;
            self.unsynced = false;
        }
        Ok(())
    }
}

impl Writer {
    /// Writes every non-empty buffer (without syncing). Buffers written are emptied; a failure
    /// leaves the failed file as it was and its buffer full, to be written next time.
    fn write_buffers(&mut self) -> Result<(), StoreError> {
        let mut result = Ok(());
        for file in &mut self.files {
            match file.write_buffer() {
                Ok(_) => file.buf.clear(),
                Err(e) => {
                    if result.is_ok() {
                        result = Err(e);
                    }
                }
            }
        }
        result
    }

    /// Adds `records` to the buffers and writes the full ones, all or nothing: after an error
    /// the files and buffers are as they were before the call.
    fn append(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        let marks = self.files.each_ref().map(|f| f.buf.len());
        let serialised = records.iter().try_for_each(|record| {
            let file = &mut self.files[Table::of(record.kind()) as usize];
            match record {
                ExecutionRecord::Pipeline(r) => file.push(r),
                ExecutionRecord::Process(r) => file.push(r),
                ExecutionRecord::Step(r) => file.push(r),
            }
            .map_err(|e| (file.path.clone(), e))
        });
        if let Err((path, e)) = serialised {
            self.truncate_buffers(&marks);
            return Err(StoreError::Json {
                context: format!("json lines store {}: serialise record", path.display()),
                source: e,
            });
        }
        // Write the full buffers; should one fail, undo the others so that the writer's retry
        // of this batch appends it exactly once.
        let mut written: Vec<(usize, Undo)> = Vec::new();
        for (i, file) in self.files.iter_mut().enumerate() {
            if file.buf.len() < WRITE_BUFFER {
                continue;
            }
            match file.write_buffer() {
                Ok(Some(before)) => written.push((i, before)),
                Ok(None) => {}
                Err(e) => {
                    for (i, before) in written {
                        let file = &mut self.files[i];
                        file.rollback_to = Some(before);
                        // An undo that fails now is retried before the next write.
                        let _ = file.undo_failed_write();
                    }
                    self.truncate_buffers(&marks);
                    return Err(e);
                }
            }
        }
        for (i, _) in written {
            self.files[i].buf.clear();
        }
        Ok(())
    }

    fn truncate_buffers(&mut self, marks: &[usize; 4]) {
        for (file, &mark) in self.files.iter_mut().zip(marks) {
            file.buf.truncate(mark);
        }
    }
}

impl JsonLinesStore {
    /// Opens the store in `dir` for writing (and reading), creating the directory and its files
    /// if needed. Existing files are appended to.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        let dir_existed = dir.is_dir();
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, "create directory", e))?;
        let mut created = !dir_existed;
        let mut open = |table: Table| {
            let (file, new) = TableFile::open(dir.join(table.file_name()))?;
            created |= new;
            Ok(file)
        };
        let files = [
            open(Table::Pipelines)?,
            open(Table::Processes)?,
            open(Table::Steps)?,
            open(Table::Recorders)?,
        ];
        Ok(JsonLinesStore {
            dir,
            writer: Some(Writer {
                files,
                dir_unsynced: created,
                parent_unsynced: !dir_existed,
            }),
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
    pub fn pipeline_runs(&mut self) -> Result<Vec<PipelineRunRecord>, StoreError> {
        self.read_pipelines(&RunFilter::default())
    }

    /// Every process run in its latest state, oldest first.
    pub fn process_runs(&mut self) -> Result<Vec<ProcessRunRecord>, StoreError> {
        self.read_processes(&RunFilter::default())
    }

    /// Every step run in its latest state, oldest first.
    pub fn step_runs(&mut self) -> Result<Vec<StepRunRecord>, StoreError> {
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

    /// Reads `table`, folding its lines into the latest record per key (an end record winning
    /// over a start record), keeping only records that pass `keep`, in first-seen order.
    fn fold<T, K>(
        &mut self,
        table: Table,
        keep: impl Fn(&T) -> bool,
        key: impl Fn(&T) -> K,
        supersedes: impl Fn(&T, &T) -> bool,
    ) -> Result<Vec<T>, StoreError>
    where
        T: DeserializeOwned,
        K: Eq + Hash,
    {
        // Lines still buffered by this store are part of what it has been given.
        if let Some(writer) = &mut self.writer {
            writer.write_buffers()?;
        }
        let path = self.path(table);
        let mut rows: Vec<T> = Vec::new();
        let mut index: HashMap<K, usize> = HashMap::new();
        let warnings = scan_lines(&path, |line| {
            let record: T = serde_json::from_slice(line)?;
            if keep(&record) {
                match index.entry(key(&record)) {
                    Entry::Occupied(slot) => {
                        let row = &mut rows[*slot.get()];
                        if supersedes(&record, row) {
                            *row = record;
                        }
                    }
                    Entry::Vacant(slot) => {
                        slot.insert(rows.len());
                        rows.push(record);
                    }
                }
            }
            Ok(())
        })?;
        for warning in warnings {
            if !self.warnings.contains(&warning) {
                tracing::warn!(target: "tracing_etl", "{warning}");
                self.warnings.push(warning);
            }
        }
        Ok(rows)
    }
}

/// Whether the fields fixed when an entity opens (its run and attempt) pass `filter`: records
/// failing this are dropped before folding, which keeps reads of one run small.
fn run_matches(filter: &RunFilter, run_id: &str, attempt: u32) -> bool {
    filter.run_id.as_deref().is_none_or(|r| r == run_id)
        && filter
            .run_id_prefix
            .as_deref()
            .is_none_or(|p| run_id.starts_with(p))
        && filter.attempt.is_none_or(|a| a == attempt)
}

fn end_wins(new_is_end: bool, existing_is_end: bool) -> bool {
    // As `ExecutionRecord::supersedes`.
    new_is_end || !existing_is_end
}

impl RecordReader for JsonLinesStore {
    fn read_pipelines(&mut self, filter: &RunFilter) -> Result<Vec<PipelineRunRecord>, StoreError> {
        let mut rows = self.fold(
            Table::Pipelines,
            |r: &PipelineRunRecord| run_matches(filter, &r.run_id, r.attempt),
            |r| (r.run_id.clone(), r.attempt),
            |new, old| end_wins(new.event.is_end(), old.event.is_end()),
        )?;
        rows.retain(|r| filter.matches(&r.run_id, r.attempt, r.status, &r.pipeline, r.started_at));
        filter.order_and_limit(&mut rows, |r| r.started_at);
        Ok(rows)
    }

    fn read_processes(&mut self, filter: &RunFilter) -> Result<Vec<ProcessRunRecord>, StoreError> {
        let mut rows = self.fold(
            Table::Processes,
            |r: &ProcessRunRecord| run_matches(filter, &r.run_id, r.attempt),
            |r| r.process_run_id.clone(),
            |new, old| end_wins(new.event.is_end(), old.event.is_end()),
        )?;
        rows.retain(|r| filter.matches(&r.run_id, r.attempt, r.status, &r.process, r.started_at));
        filter.order_and_limit(&mut rows, |r| r.started_at);
        Ok(rows)
    }

    fn read_steps(&mut self, filter: &RunFilter) -> Result<Vec<StepRunRecord>, StoreError> {
        let mut rows = self.fold(
            Table::Steps,
            |r: &StepRunRecord| run_matches(filter, &r.run_id, r.attempt),
            |r| r.step_run_id.clone(),
            |new, old| end_wins(new.event.is_end(), old.event.is_end()),
        )?;
        rows.retain(|r| filter.matches(&r.run_id, r.attempt, r.status, &r.step, r.started_at));
        filter.order_and_limit(&mut rows, |r| r.started_at);
        Ok(rows)
    }

    fn read_recorders(&mut self) -> Result<Vec<RecorderHeartbeat>, StoreError> {
        // The latest beat of each recorder is its last line.
        let mut rows = self.fold(
            Table::Recorders,
            |_: &RecorderHeartbeat| true,
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
        let file = &mut self.writer()?.files[Table::Recorders as usize];
        let mark = file.buf.len();
        file.push(heartbeat).map_err(|e| StoreError::Json {
            context: format!(
                "json lines store {}: serialise heartbeat",
                file.path.display()
            ),
            source: e,
        })?;
        match file.write_buffer() {
            Ok(_) => {
                file.buf.clear();
                Ok(())
            }
            Err(e) => {
                file.buf.truncate(mark);
                Err(e)
            }
        }
    }

    /// Writes every buffered line and `fsync`s (`sync_data`) the files written since the last
    /// flush (and, on Unix, the directory and its parent after `open` created them).
    fn flush(&mut self) -> Result<(), StoreError> {
        let dir = self.dir.clone();
        let writer = self.writer()?;
        writer.write_buffers()?;
        for file in &mut writer.files {
            file.sync()?;
        }
        if writer.dir_unsynced {
            sync_dir(&dir)?;
            writer.dir_unsynced = false;
        }
        if writer.parent_unsynced {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
            writer.parent_unsynced = false;
        }
        Ok(())
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

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, "fsync directory", e))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// Whether the file at `path` is non-empty and its last byte is not a newline.
fn ends_without_newline(path: &Path) -> Result<bool, StoreError> {
    let mut file = File::open(path).map_err(|e| io_err(path, "open", e))?;
    let len = file
        .metadata()
        .map_err(|e| io_err(path, "read length", e))?
        .len();
    if len == 0 {
        return Ok(false);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))
        .and_then(|_| file.read_exact(&mut last))
        .map_err(|e| io_err(path, "read last byte", e))?;
    Ok(last[0] != b'\n')
}

/// A line that could not be parsed, judged once we know whether another line follows it.
struct BadLine {
    number: u64,
    error: String,
    /// Looks like a write cut short: a prefix of a JSON value, or zeros a crash left.
    incomplete: bool,
}

/// Calls `parse` on every non-blank line of the file at `path`, streaming. A missing file has
/// no lines. A line `parse` rejects is skipped with a warning when it is the last line, or an
/// incomplete line followed by others (a write cut short, then a new writer started on a fresh
/// line); otherwise it is an [`StoreError::InvalidData`] naming the file and line. Returns the
/// warnings.
fn scan_lines(
    path: &Path,
    mut parse: impl FnMut(&[u8]) -> Result<(), serde_json::Error>,
) -> Result<Vec<String>, StoreError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(path, "open", e)),
    };
    let mut reader = BufReader::with_capacity(READ_BUFFER, file);
    let mut line = Vec::new();
    let mut number = 0u64;
    let mut bad: Option<BadLine> = None;
    let mut warnings = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| io_err(path, "read", e))?;
        if n == 0 {
            break;
        }
        number += 1;
        // Without its newline: a line cut short inside a string then sealed by the next
        // writer's newline must read as incomplete, not as a string with a control character.
        while let Some(b'\n' | b'\r') = line.last() {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Some(bad) = bad.take() {
            if !bad.incomplete {
                return Err(StoreError::invalid_data(
                    format!("{} line {}", path.display(), bad.number),
                    format!("corrupt record: {}", bad.error),
                ));
            }
            warnings.push(format!(
                "{} line {}: skipped an incomplete line left by an interrupted write ({})",
                path.display(),
                bad.number,
                bad.error
            ));
        }
        if let Err(e) = parse(&line) {
            let incomplete = e.is_eof() || line.iter().all(|&b| b == 0 || b.is_ascii_whitespace());
            bad = Some(BadLine {
                number,
                error: describe(&e),
                incomplete,
            });
        }
    }
    if let Some(bad) = bad {
        warnings.push(format!(
            "{} line {}: skipped an unreadable last line, probably a write cut short or still \
             in progress ({})",
            path.display(),
            bad.number,
            bad.error
        ));
    }
    Ok(warnings)
}

/// A JSON error without serde_json's "at line 1" (each line is parsed on its own).
fn describe(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rsplit_once(" at line ") {
        Some((message, _)) => format!("{message}, at column {}", e.column()),
        None => text,
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
    fn describe_drops_the_line_number() {
        let e = serde_json::from_slice::<serde_json::Value>(b"{\"a\": nope}").unwrap_err();
        let text = describe(&e);
        assert!(!text.contains("line"), "{text}");
        assert!(text.starts_with("expected ident, at column "), "{text}");
    }

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

    fn records(n: usize) -> Vec<ExecutionRecord> {
        (0..n)
            .flat_map(|i| {
                let step = StepRunRecord {
                    event: crate::EventName::StepEnd,
                    run_id: format!("run-{i}"),
                    correlation_id: None,
                    attempt: 1,
                    step_run_id: format!("step-{i}"),
                    step: "load".into(),
                    started_at: chrono::Utc::now(),
                    status: crate::RunStatus::Success,
                    duration_ms: Some(1),
                    error: None,
                    process_run_id: None,
                    error_type: None,
                    error_message: None,
                    trace_id: None,
                    span_id: None,
                    recorder_id: None,
                };
                let pipeline = PipelineRunRecord {
                    event: crate::EventName::PipelineEnd,
                    run_id: format!("run-{i}"),
                    correlation_id: None,
                    attempt: 1,
                    last_attempt: true,
                    pipeline: "nightly".into(),
                    started_at: step.started_at,
                    status: crate::RunStatus::Success,
                    duration_ms: Some(2),
                    error: None,
                    error_type: None,
                    error_message: None,
                    failed_step_run_id: None,
                    failed_step: None,
                    trace_id: None,
                    span_id: None,
                    recorder_id: None,
                };
                [pipeline.into(), step.into()]
            })
            .collect()
    }

    fn line_count(path: &Path) -> usize {
        std::fs::read_to_string(path).unwrap().lines().count()
    }

    #[test]
    fn a_failed_batch_is_undone_in_every_file_and_its_retry_lands_once() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = JsonLinesStore::open(tmp.path()).unwrap();
        let small = records(3);
        store.write_batch(&small).unwrap(); // buffered, not written yet
        let big = records(2000); // fills both buffers
        let steps_path = tmp.path().join("step_runs.jsonl");
        let pipelines_path = tmp.path().join("pipeline_runs.jsonl");

        // The steps file cannot be written to: the pipelines file, written first, is cut back.
        let steps = Table::Steps as usize;
        let good = std::mem::replace(
            &mut store.writer.as_mut().unwrap().files[steps].file,
            File::open(&steps_path).unwrap(),
        );
        let err = store.write_batch(&big).unwrap_err();
        assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("step_runs.jsonl"), "{err}");
        assert_eq!(std::fs::metadata(&pipelines_path).unwrap().len(), 0);
        assert_eq!(std::fs::metadata(&steps_path).unwrap().len(), 0);
        let writer = store.writer.as_ref().unwrap();
        let buffered = writer.files.each_ref().map(|f| f.buf.len());
        assert!(
            buffered[0] > 0 && buffered[0] < WRITE_BUFFER,
            "{buffered:?}"
        );

        // The store recovers; the retried batch is written exactly once, after the first one.
        store.writer.as_mut().unwrap().files[steps].file = good;
        store.write_batch(&big).unwrap();
        store.flush().unwrap();
        assert_eq!(line_count(&pipelines_path), 2003);
        assert_eq!(line_count(&steps_path), 2003);
        // The first batch's runs are run-0..run-2 again: one record each.
        let runs = store.pipeline_runs().unwrap();
        assert_eq!(runs.len(), 2000);
        assert!(store.read_warnings().is_empty());
    }
}
