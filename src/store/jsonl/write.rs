//! Writes: each batch written through to its files before `write_batch` returns, in one
//! append of whole lines per file; a failed or short write cut back so that every file ends at
//! a line boundary and the writer's retry appends the batch exactly once; `fsync` on flush.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::compact::{compact_recorders, RECORDERS_COMPACT_AT};
use super::{io_err, line, Table};
use crate::error::StoreError;
use crate::record::{ExecutionRecord, RecorderHeartbeat};

/// The capacity a file's scratch buffer may keep between batches: what a writer's full batch
/// of steps needs (4,096 lines of a few hundred bytes), so that the buffer is not grown again,
/// page by page, for every batch; a larger batch (long error texts) grows it for that batch
/// only.
const SCRATCH_CAPACITY: usize = 4 * 1024 * 1024;

/// The files of a store opened for writing.
#[derive(Debug)]
pub(super) struct Writer {
    files: [TableFile; 4],
    /// `recorders.jsonl` is compacted once it is this large.
    compact_recorders_at: u64,
    /// Files were created in the directory: their entries are made durable at the next flush.
    dir_unsynced: bool,
    /// The directory itself was created: so is its entry in its parent.
    parent_unsynced: bool,
}

/// One file open for appending, with the lines of the batch being written.
#[derive(Debug)]
struct TableFile {
    path: PathBuf,
    file: File,
    /// The lines of the current batch; empty between calls.
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
            buf: Vec::new(),
            needs_newline,
            unsynced: false,
            rollback_to: None,
        };
        Ok((table, !existed))
    }

    /// Appends `value` as a line to the buffer (heartbeats; records go through [`line`]).
    fn push<T: Serialize>(&mut self, value: &T) -> Result<(), serde_json::Error> {
        serde_json::to_writer(&mut self.buf, value)?;
        self.buf.push(b'\n');
        Ok(())
    }

    /// Empties the buffer, giving back what a large batch made it grow by.
    fn clear(&mut self) {
        self.buf.clear();
        self.buf.shrink_to(SCRATCH_CAPACITY);
    }

    /// Appends the buffer to the file and returns how to undo that (`None`: nothing to write).
    /// On failure, a short write included, the file is cut back to its length before the
    /// write. The caller empties the buffer.
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
                self.undo(before);
                Err(io_err(&self.path, "append", e))
            }
        }
    }

    /// Cuts the file back to `before`, now if it can, else before the next write.
    fn undo(&mut self, before: Undo) {
        self.rollback_to = Some(before);
        let _ = self.undo_failed_write();
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
    /// Opens the four files in `dir` for appending, creating them if needed. `dir_existed`:
    /// whether the directory was there before the store was opened (else its entry in its
    /// parent is made durable at the first flush too).
    pub(super) fn open(dir: &Path, dir_existed: bool) -> Result<Self, StoreError> {
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
        Ok(Writer {
            files,
            compact_recorders_at: RECORDERS_COMPACT_AT,
            dir_unsynced: created,
            parent_unsynced: !dir_existed,
        })
    }

    /// Writes `records` to their files, all or nothing: when this returns `Ok` every line is in
    /// its file (`fsync`ed by the next [`flush`](Self::flush)); after an error every file is
    /// cut back to where it was, so that the writer's retry appends the batch exactly once.
    pub(super) fn append(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        let serialised = records.iter().try_for_each(|record| {
            let file = &mut self.files[Table::of(record.kind()) as usize];
            line::write_line(record, &mut file.buf).map_err(|e| (file.path.clone(), e))
        });
        let result = match serialised {
            Err((path, e)) => Err(StoreError::Json {
                context: format!("json lines store {}: serialise record", path.display()),
                source: e,
            }),
            Ok(()) => self.write_all_buffers(),
        };
        for file in &mut self.files {
            file.clear();
        }
        result
    }

    /// Writes every buffer to its file; should one fail, undoes the others.
    fn write_all_buffers(&mut self) -> Result<(), StoreError> {
        let mut written: Vec<(usize, Undo)> = Vec::new();
        for i in 0..self.files.len() {
            match self.files[i].write_buffer() {
                Ok(Some(before)) => written.push((i, before)),
                Ok(None) => {}
                Err(e) => {
                    for (i, before) in written {
                        self.files[i].undo(before);
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Appends `heartbeat` to `recorders.jsonl` and writes it to the file at once. Past
    /// [`RECORDERS_COMPACT_AT`] bytes, the file is then rewritten with the latest beat of each
    /// recorder (see [`compact_recorders`]); should that fail, the beat is written all the same
    /// and the error returned.
    pub(super) fn write_heartbeat(
        &mut self,
        heartbeat: &RecorderHeartbeat,
    ) -> Result<(), StoreError> {
        self.append_heartbeat(heartbeat)?;
        let file = &mut self.files[Table::Recorders as usize];
        let len = file
            .file
            .metadata()
            .map_err(|e| io_err(&file.path, "read length", e))?
            .len();
        if len < self.compact_recorders_at {
            return Ok(());
        }
        // Written out and synced first: nothing of the old file is lost if the rename is not.
        file.sync()?;
        compact_recorders(&file.path)?;
        let (compacted, _) = TableFile::open(file.path.clone())?;
        *file = compacted;
        self.dir_unsynced = true;
        Ok(())
    }

    fn append_heartbeat(&mut self, heartbeat: &RecorderHeartbeat) -> Result<(), StoreError> {
        let file = &mut self.files[Table::Recorders as usize];
        let result = match file.push(heartbeat) {
            Err(e) => Err(StoreError::Json {
                context: format!(
                    "json lines store {}: serialise heartbeat",
                    file.path.display()
                ),
                source: e,
            }),
            Ok(()) => file.write_buffer().map(drop),
        };
        file.clear();
        result
    }

    /// `fsync`s the files written since the last flush, and `dir` and its parent when
    /// [`open`](Self::open) created them. A cut-back left pending by a failed write is made
    /// first, so that what is made durable ends at a line boundary.
    pub(super) fn flush(&mut self, dir: &Path) -> Result<(), StoreError> {
        for file in &mut self.files {
            file.undo_failed_write()?;
            file.sync()?;
        }
        if self.dir_unsynced {
            sync_dir(dir)?;
            self.dir_unsynced = false;
        }
        if self.parent_unsynced {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
            self.parent_unsynced = false;
        }
        Ok(())
    }
}

#[cfg(unix)]
pub(super) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, "fsync directory", e))
}

#[cfg(not(unix))]
pub(super) fn sync_dir(_dir: &Path) -> Result<(), StoreError> {
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

#[cfg(test)]
mod tests {
    use super::super::JsonLinesStore;
    use super::*;
    use crate::record::RunStatus;
    use crate::store::{ExecutionRecordStore, RecordReader, RunFilter};

    fn records(n: usize) -> Vec<ExecutionRecord> {
        (0..n)
            .flat_map(|i| {
                let run_id = format!("run-{i}");
                let started_at = chrono::Utc::now();
                let step =
                    ExecutionRecord::step_start(&run_id, format!("step-{i}"), "load", started_at)
                        .ended(RunStatus::Success, 1);
                let pipeline = ExecutionRecord::pipeline_start(run_id, "nightly", started_at)
                    .ended(RunStatus::Success, 2);
                [pipeline, step]
            })
            .collect()
    }

    fn line_count(path: &Path) -> usize {
        std::fs::read_to_string(path).unwrap().lines().count()
    }

    #[test]
    fn a_batch_is_in_its_files_when_write_batch_returns() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = JsonLinesStore::open(tmp.path()).unwrap();
        store.write_batch(&records(3)).unwrap();
        // No flush, no drop: the lines are in the files already.
        assert_eq!(line_count(&tmp.path().join("pipeline_runs.jsonl")), 3);
        assert_eq!(line_count(&tmp.path().join("step_runs.jsonl")), 3);
        let writer = store.writer.as_ref().unwrap();
        assert!(writer.files.iter().all(|f| f.buf.is_empty()));
    }

    #[test]
    fn a_failed_batch_is_undone_in_every_file_and_its_retry_lands_once() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = JsonLinesStore::open(tmp.path()).unwrap();
        let small = records(3);
        store.write_batch(&small).unwrap();
        let big = records(2000);
        let steps_path = tmp.path().join("step_runs.jsonl");
        let pipelines_path = tmp.path().join("pipeline_runs.jsonl");
        let (pipelines_len, steps_len) = (
            std::fs::metadata(&pipelines_path).unwrap().len(),
            std::fs::metadata(&steps_path).unwrap().len(),
        );

        // The steps file cannot be written to: the pipelines file, written first, is cut back.
        let steps = Table::Steps as usize;
        let good = std::mem::replace(
            &mut store.writer.as_mut().unwrap().files[steps].file,
            File::open(&steps_path).unwrap(),
        );
        let err = store.write_batch(&big).unwrap_err();
        assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("step_runs.jsonl"), "{err}");
        assert_eq!(
            std::fs::metadata(&pipelines_path).unwrap().len(),
            pipelines_len
        );
        assert_eq!(std::fs::metadata(&steps_path).unwrap().len(), steps_len);
        let writer = store.writer.as_ref().unwrap();
        assert!(writer.files.iter().all(|f| f.buf.is_empty()));

        // The store recovers; the retried batch is written exactly once, after the first one.
        store.writer.as_mut().unwrap().files[steps].file = good;
        store.write_batch(&big).unwrap();
        store.flush().unwrap();
        assert_eq!(line_count(&pipelines_path), 2003);
        assert_eq!(line_count(&steps_path), 2003);
        // The first batch's runs are run-0..run-2 again: one record each.
        let runs = store.read_pipelines(&RunFilter::default()).unwrap();
        assert_eq!(runs.len(), 2000);
        assert!(store.warned.is_empty());
    }

    #[test]
    fn recorders_jsonl_keeps_the_latest_beat_of_each_recorder_once_it_grows() {
        use crate::store::RecordReader;
        let tmp = tempfile::tempdir().unwrap();
        let mut store = JsonLinesStore::open(tmp.path()).unwrap();
        store.writer.as_mut().unwrap().compact_recorders_at = 4096;
        let start = chrono::Utc::now();
        let beat = |recorder: usize, n: i64| RecorderHeartbeat {
            recorder_id: format!("recorder-{recorder}"),
            host: "host".into(),
            pid: 7,
            started_at: start,
            last_beat_at: start + chrono::Duration::seconds(n),
            beat_interval_ms: 5000,
            stopped_at: None,
        };
        for n in 0..200 {
            for recorder in 0..3 {
                store.write_heartbeat(&beat(recorder, n)).unwrap();
            }
        }
        let path = tmp.path().join("recorders.jsonl");
        let lines = line_count(&path);
        // Compacted to 3 lines, then appended to until past 4096 bytes again.
        assert!(lines < 60, "{lines} lines");
        assert!(std::fs::metadata(&path).unwrap().len() < 4096 + 512);
        assert!(!tmp.path().join("recorders.jsonl.tmp").exists());
        let recorders = store.read_recorders().unwrap();
        assert_eq!(recorders.len(), 3);
        for (i, r) in recorders.iter().enumerate() {
            assert_eq!(r.recorder_id, format!("recorder-{i}"));
            assert_eq!(r.last_beat_at, start + chrono::Duration::seconds(199));
        }
        // Beats after a compaction land in the new file.
        store.write_heartbeat(&beat(3, 0)).unwrap();
        assert_eq!(store.read_recorders().unwrap().len(), 4);
        assert_eq!(line_count(&path), lines + 1);
    }
}
