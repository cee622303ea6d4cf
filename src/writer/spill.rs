//! The spill history: a [`JsonLinesStore`] directory (`spill-<recorder_id>/` in the spill
//! directory) holding the records a failing store has not taken yet, written through the JSON
//! Lines store's own writer and read back from the front, in the order they were written.
//!
//! The store's files keep each table's order; the order across the tables (a pipeline's start,
//! its steps, its end) is in one more file, [`ORDER_FILE`]: a byte per record, the kind of the
//! next line to take ([`kind_byte`]), written before the lines and cut back with them. While the
//! writer reads the history back it keeps that order in memory too, run-length encoded. Another
//! program reads the directory as any JSON Lines history (`tracing-etl runs --store jsonl:DIR`,
//! which ignores the order file), and [`replay_spill`](super::replay_spill) copies it into a
//! store in the order of the order file.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeSeed;

use crate::error::StoreError;
use crate::record::{EntityKind, ExecutionRecord, RecordSeed};
use crate::store::jsonl::JsonLinesStore;
use crate::store::ExecutionRecordStore;

/// Records gathered before they are written to the history (one write per file for them).
pub(super) const SPILL_BATCH: usize = 256;

/// The file of a spill history that says in which order its lines were written.
pub(crate) const ORDER_FILE: &str = "order";

/// The byte of [`ORDER_FILE`] that stands for a record of `kind`: `p`, `r` (a process run) or
/// `s`.
pub(super) fn kind_byte(kind: EntityKind) -> u8 {
    match kind {
        EntityKind::Pipeline => b'p',
        EntityKind::Process => b'r',
        EntityKind::Step => b's',
    }
}

/// The kind a byte of [`ORDER_FILE`] stands for.
pub(super) fn byte_kind(byte: u8) -> Option<EntityKind> {
    EntityKind::ALL.into_iter().find(|&k| kind_byte(k) == byte)
}

/// A failed write to the history: the error, and the records it carried, given back.
pub(super) type WriteFailed = (StoreError, Vec<ExecutionRecord>);

/// A failed read-back.
pub(super) enum ReadError {
    /// Writing out the records still buffered failed (see [`WriteFailed`]).
    Write(StoreError, Vec<ExecutionRecord>),
    /// Reading failed; this many records are lost (the files were changed under the writer).
    Read(StoreError, u64),
}

/// A JSON Lines history of [`ExecutionRecord`]s, appended to at the back and read from the
/// front. Its files hold whole lines only: records are gathered in memory and written
/// [`SPILL_BATCH`] at a time by [`JsonLinesStore::write_batch`], which cuts a failed write back
/// off every file; the records of a failed write are given back.
#[derive(Debug)]
pub(super) struct SpillHistory {
    dir: PathBuf,
    store: JsonLinesStore,
    /// [`ORDER_FILE`], its length, and whether a failed write is still to be cut off it.
    order_file: File,
    order_len: u64,
    order_cut: bool,
    /// Per kind, in [`EntityKind::ALL`] order: a reader of its file from the first line this
    /// history wrote.
    readers: Vec<TableReader>,
    /// The kinds of the records written and not read back, oldest first, with how many in a
    /// row: the order across the files.
    order: VecDeque<(EntityKind, u64)>,
    /// Records in the files, and records read back.
    written: u64,
    read: u64,
    /// Records written since [`take_committed`](Self::take_committed) last asked.
    committed: u64,
    /// Records not written yet (given back should the write fail).
    buffered: Vec<ExecutionRecord>,
}

/// One file of the history, read from the front.
#[derive(Debug)]
struct TableReader {
    path: PathBuf,
    reader: BufReader<File>,
    line: Vec<u8>,
}

impl SpillHistory {
    /// Opens the history in `dir`, creating it. Reading back starts at the current end of its
    /// files: its name is the writer's own, so they are new, but nothing already there (should
    /// the directory exist) is taken for this writer's records.
    pub(super) fn create(dir: &Path) -> Result<Self, StoreError> {
        Self::open(dir, VecDeque::new(), 0, false)
    }

    /// The history in `dir`, whose files hold `written` records, none read back, in `order`.
    fn open(
        dir: &Path,
        order: VecDeque<(EntityKind, u64)>,
        written: u64,
        from_start: bool,
    ) -> Result<Self, StoreError> {
        let store = JsonLinesStore::open(dir)?;
        let order_path = dir.join(ORDER_FILE);
        let order_err =
            |e| StoreError::io(format!("spill history {}: open", order_path.display()), e);
        let order_file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&order_path)
            .map_err(order_err)?;
        let order_len = order_file.metadata().map_err(order_err)?.len();
        let readers = EntityKind::ALL
            .iter()
            .map(|&kind| TableReader::open(store.table_path(kind), from_start))
            .collect::<Result<_, _>>()?;
        Ok(SpillHistory {
            dir: dir.to_path_buf(),
            store,
            order_file,
            order_len,
            order_cut: false,
            readers,
            order,
            written,
            read: 0,
            committed: 0,
            buffered: Vec::with_capacity(SPILL_BATCH),
        })
    }

    /// Records not read back yet, in the files or buffered for them.
    pub(super) fn unread(&self) -> u64 {
        self.written - self.read + self.buffered.len() as u64
    }

    /// Whether no record has been read back yet.
    pub(super) fn nothing_read(&self) -> bool {
        self.read == 0
    }

    pub(super) fn take_committed(&mut self) -> u64 {
        std::mem::take(&mut self.committed)
    }

    pub(super) fn append(&mut self, record: ExecutionRecord) -> Result<(), WriteFailed> {
        self.buffered.push(record);
        if self.buffered.len() >= SPILL_BATCH {
            self.write_out()?;
        }
        Ok(())
    }

    /// Writes the buffered records to the files: their kinds to [`ORDER_FILE`], then their
    /// lines. If that fails, every file is cut back to where it was (the store cuts its own),
    /// and the buffered records are given back.
    pub(super) fn write_out(&mut self) -> Result<(), WriteFailed> {
        if self.buffered.is_empty() {
            return Ok(());
        }
        if let Err(e) = self
            .write_order()
            .and_then(|()| self.store.write_batch(&self.buffered))
        {
            self.cut_order();
            return Err((e, std::mem::take(&mut self.buffered)));
        }
        self.order_len += self.buffered.len() as u64;
        let n = self.buffered.len() as u64;
        self.written += n;
        self.committed += n;
        for record in self.buffered.drain(..) {
            match self.order.back_mut() {
                Some((kind, n)) if *kind == record.kind() => *n += 1,
                _ => self.order.push_back((record.kind(), 1)),
            }
        }
        Ok(())
    }

    /// Appends the kinds of the buffered records to [`ORDER_FILE`], after cutting off what a
    /// failed write left.
    fn write_order(&mut self) -> Result<(), StoreError> {
        let path = || self.dir.join(ORDER_FILE).display().to_string();
        if self.order_cut {
            self.order_file.set_len(self.order_len).map_err(|e| {
                StoreError::io(format!("spill history {}: undo a failed append", path()), e)
            })?;
            self.order_cut = false;
        }
        let kinds: Vec<u8> = self.buffered.iter().map(|r| kind_byte(r.kind())).collect();
        self.order_file
            .write_all(&kinds)
            .map_err(|e| StoreError::io(format!("spill history {}: append", path()), e))
    }

    /// Cuts [`ORDER_FILE`] back to its length before the write that failed, now if it can,
    /// else before the next write.
    fn cut_order(&mut self) {
        self.order_cut = self.order_file.set_len(self.order_len).is_err();
    }

    /// Writes out and `fsync`s the files.
    pub(super) fn sync(&mut self) -> Result<(), WriteFailed> {
        self.write_out()?;
        self.store.flush().map_err(|e| (e, Vec::new()))?;
        self.order_file.sync_data().map_err(|e| {
            let path = self.dir.join(ORDER_FILE);
            (
                StoreError::io(format!("spill history {}: fsync", path.display()), e),
                Vec::new(),
            )
        })
    }

    /// Reads up to `max` records into `out`, writing out the buffered records first. A line
    /// that does not parse (the files were changed under the writer) is an error, and skipped.
    pub(super) fn read_into(
        &mut self,
        out: &mut VecDeque<ExecutionRecord>,
        max: usize,
    ) -> Result<(), ReadError> {
        self.write_out()
            .map_err(|(e, records)| ReadError::Write(e, records))?;
        let mut taken = 0;
        while taken < max {
            let Some((kind, left)) = self.order.front_mut() else {
                break;
            };
            let kind = *kind;
            *left -= 1;
            if *left == 0 {
                self.order.pop_front();
            }
            self.read += 1;
            match self.readers[kind.index()].next(kind) {
                Ok(record) => {
                    out.push_back(record);
                    taken += 1;
                }
                Err(NextError::Short(e)) => {
                    // Fewer lines than written: the files were cut under us.
                    let lost = self.written - self.read + 1;
                    self.order.clear();
                    self.read = self.written;
                    return Err(ReadError::Read(e, lost));
                }
                Err(NextError::Bad(e)) => return Err(ReadError::Read(e, 1)),
            }
        }
        Ok(())
    }

    /// Moves `first`, then everything `rest` yields, into a new history at `dir` (which must
    /// not exist), synced; returns it, with nothing read back.
    pub(super) fn write_fresh(
        dir: &Path,
        first: impl IntoIterator<Item = ExecutionRecord>,
        mut rest: impl FnMut(&mut SpillHistory) -> Result<(), StoreError>,
    ) -> Result<Self, StoreError> {
        let mut fresh = Self::open(dir, VecDeque::new(), 0, true)?;
        for record in first {
            fresh.append(record).map_err(|(e, _)| e)?;
        }
        rest(&mut fresh)?;
        fresh.sync().map_err(|(e, _)| e)?;
        Ok(fresh)
    }

    /// Appends, to `to`, every record not read back yet, in order, reading them back a batch at a
    /// time.
    pub(super) fn move_unread_to(&mut self, to: &mut SpillHistory) -> Result<(), StoreError> {
        let mut chunk = VecDeque::with_capacity(SPILL_BATCH);
        while self.unread() > 0 {
            match self.read_into(&mut chunk, SPILL_BATCH) {
                Ok(()) => {}
                Err(ReadError::Write(e, _) | ReadError::Read(e, _)) => return Err(e),
            }
            for record in chunk.drain(..) {
                to.append(record).map_err(|(e, _)| e)?;
            }
        }
        Ok(())
    }

    /// Moves this history, just written by [`write_fresh`](Self::write_fresh), to `dir`,
    /// replacing the history there: the old one is renamed aside, this one renamed in, the old
    /// one removed, and the parent directory `fsync`ed.
    pub(super) fn rename_to(self, dir: &Path) -> Result<Self, StoreError> {
        let SpillHistory {
            dir: from,
            store,
            order_file,
            order,
            written,
            ..
        } = self;
        drop((store, order_file));
        let io_err =
            |what: &str, e| StoreError::io(format!("spill history {}: {what}", dir.display()), e);
        let aside = dir.with_extension("old");
        if dir.exists() {
            remove_dir(&aside).map_err(|e| io_err("remove the previous one", e))?;
            std::fs::rename(dir, &aside).map_err(|e| io_err("rename the previous one", e))?;
        }
        std::fs::rename(&from, dir).map_err(|e| io_err("rename the new one", e))?;
        remove_dir(&aside).map_err(|e| io_err("remove the previous one", e))?;
        sync_parent(dir).map_err(|e| io_err("fsync its directory", e))?;
        Self::open(dir, order, written, true)
    }

    /// Removes the history's directory.
    pub(super) fn remove(self) {
        let SpillHistory {
            dir,
            store,
            order_file,
            ..
        } = self;
        drop((store, order_file));
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Removes `dir` and everything in it; a missing directory is no error.
pub(super) fn remove_dir(dir: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(unix)]
fn sync_parent(dir: &Path) -> io::Result<()> {
    match dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => File::open(parent)?.sync_all(),
        None => Ok(()),
    }
}

#[cfg(not(unix))]
fn sync_parent(_dir: &Path) -> io::Result<()> {
    Ok(())
}

enum NextError {
    /// The file ends before the line expected.
    Short(StoreError),
    /// The line is not a record.
    Bad(StoreError),
}

impl TableReader {
    /// A reader of the file at `path`, at its start or at its end.
    fn open(path: PathBuf, from_start: bool) -> Result<Self, StoreError> {
        let io_err = |e| StoreError::io(format!("spill history {}: open", path.display()), e);
        let mut file = File::open(&path).map_err(io_err)?;
        if !from_start {
            file.seek(SeekFrom::End(0)).map_err(io_err)?;
        }
        Ok(TableReader {
            path,
            reader: BufReader::new(file),
            line: Vec::new(),
        })
    }

    /// The next record of the file (blank lines skipped).
    fn next(&mut self, kind: EntityKind) -> Result<ExecutionRecord, NextError> {
        let context = |what: &str| format!("spill history {}: {what}", self.path.display());
        loop {
            self.line.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.line)
                .map_err(|e| NextError::Short(StoreError::io(context("read"), e)))?;
            if n == 0 || self.line.last() != Some(&b'\n') {
                return Err(NextError::Short(StoreError::io(
                    context("read"),
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file is shorter than what was written to it",
                    ),
                )));
            }
            if !self.line.iter().all(u8::is_ascii_whitespace) {
                break;
            }
        }
        RecordSeed { kind: Some(kind) }
            .deserialize(&mut serde_json::Deserializer::from_slice(&self.line))
            .map_err(|e| {
                NextError::Bad(StoreError::invalid_data(
                    context("read back"),
                    e.to_string(),
                ))
            })
    }
}
