//! The records a failing store has not taken yet: the oldest in memory, the rest spilled to a
//! local JSON Lines history, so that a long outage neither loses records nor blocks the program.
//!
//! Oldest first, a backlog is: `head` (memory), then the spill history's records not read back
//! yet, then `tail` (memory). The tail is used only once the spill history has failed (its disk
//! is full): the records after the failure wait behind those the history holds, so the order is
//! kept whatever fails. A spill write that fails is undone (every file is cut back to its last
//! whole line) and the records it carried join the tail: a spill history only ever holds whole
//! lines, and nothing it was given is lost.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};

use super::spill::{remove_dir, ReadError, SpillHistory, WriteFailed};
use crate::error::StoreError;
use crate::record::ExecutionRecord;

/// Records waiting for the store, oldest first (see the module docs).
#[derive(Debug)]
pub(super) struct Backlog {
    head: VecDeque<ExecutionRecord>,
    tail: VecDeque<ExecutionRecord>,
    memory_limit: usize,
    /// Where to spill; `None` when spilling is off.
    spill_path: Option<PathBuf>,
    spill: Option<SpillHistory>,
    /// The spill history failed (disk full, …): no more spilling until it holds nothing unwritten.
    spill_broken: bool,
    /// How many records at the front of what the writer holds (the batch in the store's hands,
    /// then `head`) were read back from the spill history: while any is unwritten, the history stays.
    spill_backed: u64,
    /// Records written to the spill history over the writer's life.
    spilled_total: u64,
    /// Spill lines that could not be read back (its files were changed under the writer).
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

    /// Records waiting: in memory and in the spill history, not yet read back.
    pub(super) fn len(&self) -> u64 {
        (self.head.len() + self.tail.len()) as u64 + self.unread()
    }

    /// Records in the spill history (or on their way to it) not yet read back.
    fn unread(&self) -> u64 {
        self.spill.as_ref().map_or(0, SpillHistory::unread)
    }

    pub(super) fn spill_path(&self) -> Option<&Path> {
        self.spill_path.as_deref()
    }

    /// Records written to the spill history over the writer's life.
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
    /// the spill history. Returns the spill history's error when it fails (the record, and the
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
            None => match SpillHistory::create(path) {
                Ok(spill) => self.spill.insert(spill),
                Err(e) => {
                    self.spill_broken = true;
                    self.head.push_back(record);
                    return Err(e);
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

    /// Takes the oldest records, at most `max`, reading them back from the spill history when
    /// memory has none. Give them back with [`restore`](Self::restore) if the store does not
    /// take them, or [`confirm`](Self::confirm) that it did.
    pub(super) fn take_oldest(&mut self, max: usize) -> Result<Vec<ExecutionRecord>, StoreError> {
        if self.head.is_empty() && self.unread() > 0 {
            self.read_back(max)?;
        }
        if self.head.is_empty() && self.unread() == 0 {
            // The spill history has given back everything it holds: what waited behind it is next.
            std::mem::swap(&mut self.head, &mut self.tail);
        }
        let n = self.head.len().min(max);
        Ok(self.head.drain(..n).collect())
    }

    /// The store took the `n` records taken last. Removes the spill history once it holds
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

    /// Makes the spill history durable (written and fsynced).
    pub(super) fn sync(&mut self) -> Result<(), StoreError> {
        let Some(spill) = &mut self.spill else {
            return Ok(());
        };
        let synced = spill.sync();
        self.settle_spill(synced)
    }

    /// Moves everything waiting — `first` (the batch the store still holds), then the backlog in
    /// order — into the spill history, durably: at shutdown, when the store is still failing, so
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
                    "spill history",
                    io::Error::other("spilling is off (WriterConfig::without_spill)"),
                )),
            };
        };
        if waiting == 0 {
            return Ok(0);
        }
        let in_place = first.is_empty()
            && self.head.is_empty()
            && self.tail.is_empty()
            && self.spill.as_ref().is_some_and(SpillHistory::nothing_read);
        if in_place {
            // The history holds only records still waiting, in order: make it durable.
            self.sync()?;
            return Ok(self.unread());
        }
        // Records read back from the history, or kept in memory, go around what it holds:
        // write everything, in order, to a fresh history that replaces it.
        let fresh_dir = path.with_extension("tmp");
        let _ = remove_dir(&fresh_dir);
        let head = std::mem::take(&mut self.head);
        let tail = std::mem::take(&mut self.tail);
        let mut spill = self.spill.take();
        let written = SpillHistory::write_fresh(
            &fresh_dir,
            first.iter().cloned().chain(head.iter().cloned()),
            |fresh| {
                if let Some(spill) = &mut spill {
                    spill.move_unread_to(fresh)?;
                }
                for record in &tail {
                    fresh.append(record.clone()).map_err(|(e, _)| e)?;
                }
                Ok(())
            },
        )
        .and_then(|fresh| {
            if let Some(old) = spill.take() {
                // Only close it: its directory is replaced by the fresh one's.
                drop(old);
            }
            fresh.rename_to(&path)
        });
        match written {
            Ok(fresh) => {
                let n = fresh.unread();
                self.spill = Some(fresh);
                Ok(n)
            }
            Err(e) => {
                let _ = remove_dir(&fresh_dir);
                self.head = head;
                self.tail = tail;
                Err(e)
            }
        }
    }

    fn read_back(&mut self, max: usize) -> Result<(), StoreError> {
        let Some(spill) = &mut self.spill else {
            return Ok(());
        };
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
                Err(e)
            }
            Err(ReadError::Read(e, lost)) => {
                self.lost += lost;
                Err(e)
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
                Err(e)
            }
        }
    }
}
