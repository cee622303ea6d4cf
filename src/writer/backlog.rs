//! The records a failing store has not taken yet: the oldest in memory, the rest spilled to a
//! local JSON Lines file, so that a long outage neither loses records nor blocks the program.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::StoreError;
use crate::record::ExecutionRecord;

/// Records waiting for the store, oldest first: up to `memory_limit` in memory, then in the
/// spill file. Once anything is spilled, newer records go to the file too, so the order is kept.
#[derive(Debug)]
pub(super) struct Backlog {
    memory: VecDeque<ExecutionRecord>,
    memory_limit: usize,
    /// Where to spill; `None` when spilling is off.
    spill_path: Option<PathBuf>,
    spill: Option<SpillFile>,
    /// The spill file failed (disk full, …): keep to memory until it is empty again.
    spill_broken: bool,
}

impl Backlog {
    pub(super) fn new(memory_limit: usize, spill_path: Option<PathBuf>) -> Self {
        Backlog {
            memory: VecDeque::new(),
            memory_limit: memory_limit.max(1),
            spill_path,
            spill: None,
            spill_broken: false,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.memory.is_empty() && self.spilled() == 0
    }

    /// Records in memory and not yet read back from the spill file.
    pub(super) fn len(&self) -> u64 {
        self.memory.len() as u64 + self.spilled()
    }

    /// Records in the spill file not yet read back.
    pub(super) fn spilled(&self) -> u64 {
        self.spill.as_ref().map_or(0, |s| s.written - s.read)
    }

    pub(super) fn spill_path(&self) -> Option<&Path> {
        self.spill_path.as_deref()
    }

    /// Whether the backlog takes more records. When it does not, the writer leaves records in
    /// the queue, and the layer's back-pressure applies.
    pub(super) fn has_room(&self) -> bool {
        let spilling = self.spill_path.is_some() && !self.spill_broken;
        spilling || self.memory.len() < self.memory_limit
    }

    /// Adds the newest record. Returns whether it was spilled, or the spill file's error (the
    /// record is then kept in memory).
    pub(super) fn push(&mut self, record: ExecutionRecord) -> Result<bool, StoreError> {
        let must_spill = self.spilled() > 0 || self.memory.len() >= self.memory_limit;
        if !must_spill || self.spill_broken {
            self.memory.push_back(record);
            return Ok(false);
        }
        let Some(path) = &self.spill_path else {
            self.memory.push_back(record);
            return Ok(false);
        };
        let appended = match &mut self.spill {
            Some(spill) => spill.append(&record),
            None => SpillFile::create(path).and_then(|mut spill| {
                spill.append(&record)?;
                self.spill = Some(spill);
                Ok(())
            }),
        };
        match appended {
            Ok(()) => Ok(true),
            Err(e) => {
                self.spill_broken = true;
                self.memory.push_back(record);
                Err(StoreError::io(path.display().to_string(), e))
            }
        }
    }

    /// The oldest records, at most `max`, reading them back from the spill file when memory is
    /// empty. They stay in the backlog until [`consume`](Self::consume)d.
    pub(super) fn oldest(&mut self, max: usize) -> Result<&[ExecutionRecord], StoreError> {
        if self.memory.is_empty() {
            self.read_back(max)?;
        }
        let n = self.memory.len().min(max);
        Ok(&self.memory.make_contiguous()[..n])
    }

    /// Removes the `n` oldest records (the store took them).
    pub(super) fn consume(&mut self, n: usize) {
        self.memory.drain(..n.min(self.memory.len()));
        if self.memory.is_empty() && self.spilled() == 0 {
            self.spill_broken = false;
            if let Some(spill) = self.spill.take() {
                spill.remove();
            }
        }
    }

    /// Makes the spill file durable (flush and fsync).
    pub(super) fn sync(&mut self) -> Result<(), StoreError> {
        match (&mut self.spill, &self.spill_path) {
            (Some(spill), Some(path)) => spill
                .sync()
                .map_err(|e| StoreError::io(path.display().to_string(), e)),
            _ => Ok(()),
        }
    }

    /// Moves every record still in memory to the end of the spill file — at shutdown, when the
    /// store is still failing, so they outlive the process. Returns how many records the file
    /// then holds for the store, or the error that kept them in memory.
    pub(super) fn spill_everything(&mut self) -> Result<u64, StoreError> {
        let Some(path) = self.spill_path.clone() else {
            return Ok(0);
        };
        if self.memory.is_empty() {
            self.sync()?;
            return Ok(self.spilled());
        }
        let io_err = |e| StoreError::io(path.display().to_string(), e);
        // The file keeps order: records read back from it and still in memory go before what
        // it holds, so write everything to a fresh file in order.
        let mut fresh = SpillFile::create(&path.with_extension("jsonl.tmp")).map_err(io_err)?;
        for record in &self.memory {
            fresh.append(record).map_err(io_err)?;
        }
        if let Some(old) = &mut self.spill {
            old.copy_unread_to(&mut fresh).map_err(io_err)?;
        }
        fresh.sync().map_err(io_err)?;
        std::fs::rename(&fresh.path, &path).map_err(io_err)?;
        fresh.path = path;
        self.memory.clear();
        self.spill = Some(fresh);
        Ok(self.spilled())
    }

    fn read_back(&mut self, max: usize) -> Result<(), StoreError> {
        let (Some(spill), Some(path)) = (&mut self.spill, &self.spill_path) else {
            return Ok(());
        };
        spill
            .read_into(&mut self.memory, max)
            .map_err(|e| StoreError::io(path.display().to_string(), e))
    }
}

/// An append-only JSON Lines file of [`ExecutionRecord`]s, read back from the front.
#[derive(Debug)]
struct SpillFile {
    path: PathBuf,
    writer: BufWriter<File>,
    reader: BufReader<File>,
    /// Records appended / read back.
    written: u64,
    read: u64,
    line: String,
}

impl SpillFile {
    /// Creates the spill file at `path`, empty (its name is the writer's own: no other writer
    /// uses it, and this writer removes it once the store has taken everything).
    fn create(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)?;
        // A descriptor of its own, for reading back from the front.
        let reader = BufReader::new(File::open(path)?);
        Ok(SpillFile {
            path: path.to_path_buf(),
            writer: BufWriter::with_capacity(64 * 1024, file),
            reader,
            written: 0,
            read: 0,
            line: String::new(),
        })
    }

    fn append(&mut self, record: &ExecutionRecord) -> io::Result<()> {
        serde_json::to_writer(&mut self.writer, record)?;
        self.writer.write_all(b"\n")?;
        self.written += 1;
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.writer.flush()?;
        self.writer.get_ref().sync_data()
    }

    /// Reads up to `max` records into `out`. A line that does not parse (the file was tampered
    /// with) is an error and is skipped next time.
    fn read_into(&mut self, out: &mut VecDeque<ExecutionRecord>, max: usize) -> io::Result<()> {
        self.writer.flush()?;
        while out.len() < max && self.read < self.written {
            self.line.clear();
            if self.reader.read_line(&mut self.line)? == 0 {
                // Fewer lines than counted: the file was truncated under us.
                self.read = self.written;
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "spill file is shorter than what was written to it",
                ));
            }
            self.read += 1;
            match serde_json::from_str(self.line.trim_end()) {
                Ok(record) => out.push_back(record),
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        }
        Ok(())
    }

    fn copy_unread_to(&mut self, to: &mut SpillFile) -> io::Result<()> {
        let mut records = VecDeque::new();
        while self.read < self.written {
            records.clear();
            self.read_into(&mut records, 4096)?;
            for record in &records {
                to.append(record)?;
            }
        }
        Ok(())
    }

    fn remove(self) {
        let SpillFile { path, writer, .. } = self;
        drop(writer);
        let _ = std::fs::remove_file(path);
    }
}
