//! Writes: lines buffered per file and written in chunks of whole lines, a failed write undone
//! so that the writer's retry appends a batch exactly once, `fsync` on flush.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{io_err, line, Table};
use crate::error::StoreError;
use crate::record::{ExecutionRecord, RecorderHeartbeat};

/// Bytes buffered per file before they are written to it (whole lines at a time).
const WRITE_BUFFER: usize = 256 * 1024;

/// The files of a store opened for writing.
#[derive(Debug)]
pub(super) struct Writer {
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

    /// Appends `value` as a line to the buffer (heartbeats; records go through [`line`]).
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
            dir_unsynced: created,
            parent_unsynced: !dir_existed,
        })
    }

    /// Writes every non-empty buffer (without syncing). Buffers written are emptied; a failure
    /// leaves the failed file as it was and its buffer full, to be written next time.
    pub(super) fn write_buffers(&mut self) -> Result<(), StoreError> {
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
    pub(super) fn append(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        let marks = self.files.each_ref().map(|f| f.buf.len());
        let serialised = records.iter().try_for_each(|record| {
            let file = &mut self.files[Table::of(record.kind()) as usize];
            line::write_line(record, &mut file.buf).map_err(|e| (file.path.clone(), e))
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

    /// Appends `heartbeat` to `recorders.jsonl` and writes it to the file at once; after an
    /// error the buffer is as it was.
    pub(super) fn write_heartbeat(
        &mut self,
        heartbeat: &RecorderHeartbeat,
    ) -> Result<(), StoreError> {
        let file = &mut self.files[Table::Recorders as usize];
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

    /// Writes every buffer and `fsync`s the files written since the last flush, and `dir` and
    /// its parent when [`open`](Self::open) created them.
    pub(super) fn flush(&mut self, dir: &Path) -> Result<(), StoreError> {
        self.write_buffers()?;
        for file in &mut self.files {
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

#[cfg(test)]
mod tests {
    use super::super::JsonLinesStore;
    use super::*;
    use crate::record::RunStatus;
    use crate::store::ExecutionRecordStore;

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
