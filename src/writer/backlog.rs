//! The records a failing store has not taken yet: the oldest in memory, the rest spilled to a
//! local JSON Lines file, so that a long outage neither loses records nor blocks the program.
//!
//! Oldest first, a backlog is: `head` (memory), then the spill file's records not read back
//! yet, then `tail` (memory). The tail is used only once the spill file has failed (its disk
//! is full): the records after the failure wait behind those the file holds, so the order is
//! kept whatever fails. A spill file's write that fails is undone (the file is cut back to its
//! last whole line) and the records it carried join the tail: a spill file only ever holds
//! whole lines, and nothing it was given is lost.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::StoreError;
use crate::record::ExecutionRecord;

/// Bytes of spill lines gathered before they are written to the file.
const SPILL_BUFFER: usize = 64 * 1024;

/// Records waiting for the store, oldest first (see the module docs).
#[derive(Debug)]
pub(super) struct Backlog {
    head: VecDeque<ExecutionRecord>,
    tail: VecDeque<ExecutionRecord>,
    memory_limit: usize,
    /// Where to spill; `None` when spilling is off.
    spill_path: Option<PathBuf>,
    spill: Option<SpillFile>,
    /// The spill file failed (disk full, …): no more spilling until it holds nothing unwritten.
    spill_broken: bool,
    /// How many records at the front of what the writer holds (the batch in the store's hands,
    /// then `head`) were read back from the spill file: while any is unwritten, the file stays.
    spill_backed: u64,
    /// Lines of the spill file over the writer's life (a whole line written to it each).
    spilled_total: u64,
    /// Spill lines that could not be read back (the file was changed under the writer).
    lost: u64,
}

impl Backlog {
    pub(super) fn new(memory_limit: usize, spill_path: Option<PathBuf>) -> Self {
        Backlog {
            head: VecDeque::new(),
            tail: VecDeque::new(),
            memory_limit: memory_limit.max(1),
            spill_path,
            spill: None,
            spill_broken: false,
            spill_backed: 0,
            spilled_total: 0,
            lost: 0,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records waiting: in memory and in the spill file, not yet read back.
    pub(super) fn len(&self) -> u64 {
        (self.head.len() + self.tail.len()) as u64 + self.unread()
    }

    /// Records in the spill file (or on their way to it) not yet read back.
    fn unread(&self) -> u64 {
        self.spill.as_ref().map_or(0, SpillFile::unread)
    }

    pub(super) fn spill_path(&self) -> Option<&Path> {
        self.spill_path.as_deref()
    }

    /// Lines written to the spill file over the writer's life.
    pub(super) fn spilled_total(&self) -> u64 {
        self.spilled_total
    }

    /// Spill lines lost since the last call: they could not be read back.
    pub(super) fn take_lost(&mut self) -> u64 {
        std::mem::take(&mut self.lost)
    }

    /// Whether the backlog takes more records. When it does not, the writer leaves records in
    /// the queue, and the layer's back-pressure applies.
    pub(super) fn has_room(&self) -> bool {
        let spilling = self.spill_path.is_some() && !self.spill_broken;
        spilling || self.head.len() + self.tail.len() < self.memory_limit
    }

    /// Adds the newest record: to memory while there is room and nothing is spilled, else to
    /// the spill file. Returns the spill file's error when it fails (the record, and the
    /// records the failed write carried, are then kept in memory).
    pub(super) fn push(&mut self, record: ExecutionRecord) -> Result<(), StoreError> {
        if !self.tail.is_empty() {
            self.tail.push_back(record);
            return Ok(());
        }
        let spill_holds = self.unread() > 0;
        if !spill_holds && self.head.len() < self.memory_limit {
            self.head.push_back(record);
            return Ok(());
        }
        let path = match &self.spill_path {
            Some(path) if !self.spill_broken => path,
            _ => {
                match spill_holds {
                    true => self.tail.push_back(record),
                    false => self.head.push_back(record),
                }
                return Ok(());
            }
        };
        let spill = match &mut self.spill {
            Some(spill) => spill,
            None => match SpillFile::create(path) {
                Ok(spill) => self.spill.insert(spill),
                Err(e) => {
                    self.spill_broken = true;
                    self.head.push_back(record);
                    return Err(StoreError::io(path.display().to_string(), e));
                }
            },
        };
        let appended = spill.append(record);
        self.settle_spill(appended)
    }

    /// Gives back records the store did not take: they are the oldest again.
    pub(super) fn restore(&mut self, records: Vec<ExecutionRecord>) {
        for record in records.into_iter().rev() {
            self.head.push_front(record);
        }
    }

    /// Takes the oldest records, at most `max`, reading them back from the spill file when
    /// memory has none. Give them back with [`restore`](Self::restore) if the store does not
    /// take them, or [`confirm`](Self::confirm) that it did.
    pub(super) fn take_oldest(&mut self, max: usize) -> Result<Vec<ExecutionRecord>, StoreError> {
        if self.head.is_empty() && self.unread() > 0 {
            self.read_back(max)?;
        }
        if self.head.is_empty() && self.unread() == 0 {
            // The spill file has given back everything it holds: what waited behind it is next.
            std::mem::swap(&mut self.head, &mut self.tail);
        }
        let n = self.head.len().min(max);
        Ok(self.head.drain(..n).collect())
    }

    /// The store took the `n` records taken last. Removes the spill file once it holds
    /// nothing the store has not taken.
    pub(super) fn confirm(&mut self, n: usize) {
        self.spill_backed = self.spill_backed.saturating_sub(n as u64);
        if self.spill_backed == 0 && self.unread() == 0 {
            if let Some(spill) = self.spill.take() {
                spill.remove();
            }
            self.spill_broken = false;
        }
    }

    /// Makes the spill file durable (written and fsynced).
    pub(super) fn sync(&mut self) -> Result<(), StoreError> {
        let Some(spill) = &mut self.spill else {
            return Ok(());
        };
        let synced = spill.sync();
        self.settle_spill(synced)
    }

    /// Moves everything waiting — `first` (the batch the store still holds), then the backlog in
    /// order — into the spill file, durably: at shutdown, when the store is still failing, so
    /// that the records outlive the process. Returns how many records the file then holds, or
    /// the error that kept them from it.
    pub(super) fn spill_everything(
        &mut self,
        first: &[ExecutionRecord],
    ) -> Result<u64, StoreError> {
        let waiting = first.len() as u64 + self.len();
        let Some(path) = self.spill_path.clone() else {
            return match waiting {
                0 => Ok(0),
                _ => Err(StoreError::io(
                    "spill file",
                    io::Error::other("spilling is off (WriterConfig::without_spill)"),
                )),
            };
        };
        if waiting == 0 {
            return Ok(0);
        }
        let io_err = |e| StoreError::io(path.display().to_string(), e);
        let in_place = first.is_empty()
            && self.head.is_empty()
            && self.tail.is_empty()
            && self.spill.as_ref().is_some_and(|s| s.read == 0);
        if in_place {
            // The file holds only records still waiting, in order: make it durable.
            self.sync()?;
            return Ok(self.unread());
        }
        // Records read back from the file, or kept in memory, go around what it holds: write
        // everything, in order, to a fresh file that replaces it.
        let fresh_path = path.with_extension("jsonl.tmp");
        let written = write_fresh(&fresh_path, first, self)
            .and_then(|n| std::fs::rename(&fresh_path, &path).map(|()| n))
            .map_err(io_err);
        let n = match written {
            Ok(n) => n,
            Err(e) => {
                let _ = std::fs::remove_file(&fresh_path);
                return Err(e);
            }
        };
        self.head.clear();
        self.tail.clear();
        // The old file's name is the fresh file's now: only close it.
        self.spill = None;
        self.spill = Some(SpillFile::reopen(&path, n).map_err(io_err)?);
        Ok(n)
    }

    fn read_back(&mut self, max: usize) -> Result<(), StoreError> {
        let Some(spill) = &mut self.spill else {
            return Ok(());
        };
        let path = spill.path.display().to_string();
        let before = self.head.len();
        let read = spill.read_into(&mut self.head, max);
        self.spill_backed += (self.head.len() - before) as u64;
        match read {
            Ok(()) => Ok(()),
            Err(ReadError::Write(e, records)) => {
                self.spill_broken = true;
                for record in records.into_iter().rev() {
                    self.tail.push_front(record);
                }
                Err(StoreError::io(path, e))
            }
            Err(ReadError::Read(e, lost)) => {
                self.lost += lost;
                Err(StoreError::io(path, e))
            }
        }
    }

    /// After a spill write: counts what reached the file, or, when it failed, keeps the records
    /// it carried in memory, behind what the file holds.
    fn settle_spill(&mut self, result: Result<(), WriteFailed>) -> Result<(), StoreError> {
        let Some(spill) = &mut self.spill else {
            return Ok(());
        };
        self.spilled_total += spill.take_committed();
        match result {
            Ok(()) => Ok(()),
            Err((e, records)) => {
                self.spill_broken = true;
                for record in records.into_iter().rev() {
                    self.tail.push_front(record);
                }
                Err(StoreError::io(spill.path.display().to_string(), e))
            }
        }
    }
}

/// Writes `first`, then everything `backlog` holds, in order, to a new file at `path`, synced;
/// returns how many records it wrote.
fn write_fresh(path: &Path, first: &[ExecutionRecord], backlog: &mut Backlog) -> io::Result<u64> {
    let mut out = io::BufWriter::with_capacity(SPILL_BUFFER, create_file(path)?);
    let mut line = Vec::new();
    let mut n = 0u64;
    for record in first.iter().chain(&backlog.head) {
        write_line(&mut out, &mut line, record)?;
        n += 1;
    }
    if let Some(spill) = &mut backlog.spill {
        n += spill.copy_unread_to(&mut out)?;
        for record in &spill.buffered {
            write_line(&mut out, &mut line, record)?;
            n += 1;
        }
    }
    for record in &backlog.tail {
        write_line(&mut out, &mut line, record)?;
        n += 1;
    }
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    Ok(n)
}

/// Writes `record` as one line, serialised into `line` (a buffer reused between calls).
fn write_line(
    out: &mut impl Write,
    line: &mut Vec<u8>,
    record: &ExecutionRecord,
) -> io::Result<()> {
    line.clear();
    serde_json::to_writer(&mut *line, record)?;
    line.push(b'\n');
    out.write_all(line)
}

fn create_file(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)
}

/// A failed write to the spill file: the error, and the records it carried, given back.
type WriteFailed = (io::Error, Vec<ExecutionRecord>);

/// A failed read-back.
enum ReadError {
    /// Writing out the lines still buffered failed (see [`WriteFailed`]).
    Write(io::Error, Vec<ExecutionRecord>),
    /// Reading failed; this many lines are lost (the file was changed under the writer).
    Read(io::Error, u64),
}

/// An append-only JSON Lines file of [`ExecutionRecord`]s, read back from the front. It holds
/// whole lines only: lines are gathered in memory and written a buffer at a time, and a write
/// that fails is cut back off the file and its records given back.
#[derive(Debug)]
struct SpillFile {
    path: PathBuf,
    file: File,
    reader: BufReader<File>,
    /// Whole lines in the file, and its length in bytes.
    lines: u64,
    len: u64,
    /// Lines written since [`take_committed`](Self::take_committed) last asked.
    committed: u64,
    /// Lines read back.
    read: u64,
    /// Lines not written yet, and their records (given back should the write fail).
    buf: Vec<u8>,
    buffered: Vec<ExecutionRecord>,
    line: Vec<u8>,
}

impl SpillFile {
    /// Creates the spill file at `path`, empty (its name is the writer's own: no other writer
    /// uses it, and this writer removes it once the store has taken everything).
    fn create(path: &Path) -> io::Result<Self> {
        let file = create_file(path)?;
        Self::with_file(path, file, 0, 0)
    }

    /// The spill file at `path`, just written with `lines` records, none read back.
    fn reopen(path: &Path, lines: u64) -> io::Result<Self> {
        let mut file = OpenOptions::new().write(true).open(path)?;
        let len = file.seek(SeekFrom::End(0))?;
        Self::with_file(path, file, lines, len)
    }

    fn with_file(path: &Path, file: File, lines: u64, len: u64) -> io::Result<Self> {
        // A descriptor of its own, for reading back from the front.
        let reader = BufReader::new(File::open(path)?);
        Ok(SpillFile {
            path: path.to_path_buf(),
            file,
            reader,
            lines,
            len,
            committed: 0,
            read: 0,
            buf: Vec::with_capacity(SPILL_BUFFER),
            buffered: Vec::new(),
            line: Vec::new(),
        })
    }

    /// Records not read back yet, in the file or buffered for it.
    fn unread(&self) -> u64 {
        self.lines - self.read + self.buffered.len() as u64
    }

    fn take_committed(&mut self) -> u64 {
        std::mem::take(&mut self.committed)
    }

    fn append(&mut self, record: ExecutionRecord) -> Result<(), WriteFailed> {
        let start = self.buf.len();
        if let Err(e) = serde_json::to_writer(&mut self.buf, &record) {
            // Not expected of a record; it waits in memory, behind the lines buffered.
            self.buf.truncate(start);
            return Err((e.into(), vec![record]));
        }
        self.buf.push(b'\n');
        self.buffered.push(record);
        if self.buf.len() >= SPILL_BUFFER {
            self.write_out()?;
        }
        Ok(())
    }

    /// Writes the buffered lines to the file. If that fails, cuts the file back to its last
    /// whole line and gives the buffered records back.
    fn write_out(&mut self) -> Result<(), WriteFailed> {
        if self.buf.is_empty() {
            return Ok(());
        }
        match self.file.write_all(&self.buf) {
            Ok(()) => {
                self.len += self.buf.len() as u64;
                let n = self.buffered.len() as u64;
                self.lines += n;
                self.committed += n;
                self.buf.clear();
                self.buffered.clear();
                Ok(())
            }
            Err(e) => {
                // Undo the part that was written (a device that cannot be cut, /dev/full for
                // one, has nothing to undo: nothing was written).
                let _ = self.file.set_len(self.len);
                let _ = self.file.seek(SeekFrom::Start(self.len));
                self.buf.clear();
                Err((e, std::mem::take(&mut self.buffered)))
            }
        }
    }

    fn sync(&mut self) -> Result<(), WriteFailed> {
        self.write_out()?;
        self.file.sync_data().map_err(|e| (e, Vec::new()))
    }

    /// Reads up to `max` records into `out`, writing out the buffered lines first. A line that
    /// does not parse (the file was changed under the writer) is an error, and skipped.
    fn read_into(
        &mut self,
        out: &mut VecDeque<ExecutionRecord>,
        max: usize,
    ) -> Result<(), ReadError> {
        self.write_out()
            .map_err(|(e, records)| ReadError::Write(e, records))?;
        let mut taken = 0;
        while taken < max && self.read < self.lines {
            self.line.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.line)
                .map_err(|e| ReadError::Read(e, 0))?;
            if n == 0 || self.line.last() != Some(&b'\n') {
                // Fewer lines than written: the file was cut under us.
                let lost = self.lines - self.read;
                self.read = self.lines;
                return Err(ReadError::Read(
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "spill file is shorter than what was written to it",
                    ),
                    lost,
                ));
            }
            self.read += 1;
            match serde_json::from_slice(&self.line) {
                Ok(record) => {
                    out.push_back(record);
                    taken += 1;
                }
                Err(e) => {
                    return Err(ReadError::Read(
                        io::Error::new(io::ErrorKind::InvalidData, e),
                        1,
                    ))
                }
            }
        }
        Ok(())
    }

    /// Copies the lines not read back yet (written ones only) to `to`; returns how many.
    fn copy_unread_to(&mut self, to: &mut impl Write) -> io::Result<u64> {
        let n = self.lines - self.read;
        if n == 0 {
            return Ok(0);
        }
        // The file from where the reader is (the end of the last line read back) to the end
        // of its last whole line.
        let offset = self.reader.stream_position()?;
        let mut rest = File::open(&self.path)?;
        rest.seek(SeekFrom::Start(offset))?;
        io::copy(&mut rest.take(self.len - offset), to)?;
        Ok(n)
    }

    fn remove(self) {
        let SpillFile { path, file, .. } = self;
        drop(file);
        let _ = std::fs::remove_file(path);
    }
}
