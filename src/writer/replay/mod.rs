//! Replaying a spill history into a store once it is back: a copy from one store to another.
//!
//! A writer spills to `spill-<recorder_id>/`, a JSON Lines history (the directory a
//! [`JsonLinesStore`](crate::JsonLinesStore) reads and writes: `tracing-etl runs --store
//! jsonl:DIR` shows what it holds). Replaying reads every record of it, line by line, and writes
//! them into the store with `write_batch`. The one-file spill files of earlier releases
//! (`spill-<recorder_id>.jsonl`) still replay, through [`single_file`].

mod single_file;

use std::path::Path;

use serde::de::DeserializeSeed;

use super::spill::{byte_kind, ORDER_FILE};
use crate::error::StoreError;
use crate::record::{EntityKind, ExecutionRecord, RecordSeed};
use crate::store::jsonl::{JsonLinesStore, Lines};
use crate::store::ExecutionRecordStore;

/// Records written per batch while replaying.
const REPLAY_BATCH: usize = 4096;

/// What [`replay_spill_report`] did with a spill history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpillReplay {
    /// Records written into the store.
    pub records: u64,
    /// Lines skipped, one warning each, naming the file and line: a line cut short by a
    /// writer that was killed while writing it (always the last line of a file this crate
    /// wrote).
    pub warnings: Vec<String>,
}

/// Writes the records of a spill history into `store`, in order, and flushes it; returns how
/// many it wrote. [`replay_spill_report`] without the report: a skipped line is printed on
/// stderr as a warning (`tracing-etl: warning: …`).
///
/// When the store is still unavailable as the program ends, the writer leaves the records it
/// could not write in its spill history, the directory `spill-<recorder_id>` in the spill
/// directory (the path is reported on stderr and by
/// [`WriterGuard::shutdown`](crate::WriterGuard::shutdown)'s error). Replay it once the store is
/// back, then delete it ([`remove_spill`]). Replaying twice is harmless: stores keep one row
/// per entity, or fold duplicates when read.
///
/// `path` is a spill history (a directory), or a spill file of an earlier release (a file).
///
/// ```no_run
/// # fn main() -> Result<(), tracing_etl::StoreError> {
/// let mut store = tracing_etl::SqliteStore::open("tracing-etl.db")?;
/// let spill = "/tmp/tracing-etl-spill/spill-0193…";
/// let written = tracing_etl::writer::replay_spill(spill, &mut store)?;
/// println!("{written} records recovered");
/// tracing_etl::writer::remove_spill(spill)?;
/// # Ok(()) }
/// ```
pub fn replay_spill<S: ExecutionRecordStore + ?Sized>(
    path: impl AsRef<Path>,
    store: &mut S,
) -> Result<u64, StoreError> {
    let replay = replay_spill_report(path, store)?;
    for warning in &replay.warnings {
        eprintln!("tracing-etl: warning: {warning}");
    }
    Ok(replay.records)
}

/// Writes the records of a spill history into `store` and flushes it, like [`replay_spill`],
/// returning what it wrote and what it skipped.
///
/// The records are written in the order the writer spilled them, which the history's `order`
/// file keeps across its tables (a byte per record: `p`, `r` or `s`, the table of the next
/// line). A JSON Lines history without one — any other, say — is copied table by table, each
/// in file order, so every entity's start still comes before its end. A spill history whose writer was killed (`kill -9`, a crash, a power
/// loss) may end in a line cut short. As the [`JsonLinesStore`](crate::JsonLinesStore)'s
/// reader does, such a line is skipped with a warning — the last line of a file whatever is
/// wrong with it, or a line cut short (a prefix of a record, or the zeros a crash can leave)
/// with more lines after it — and every record around it is replayed. Any other line that is
/// not a record (the file was tampered with, or is not a spill history) is an
/// [`StoreError::InvalidData`] naming the file and line, and nothing after it is written.
pub fn replay_spill_report<S: ExecutionRecordStore + ?Sized>(
    path: impl AsRef<Path>,
    store: &mut S,
) -> Result<SpillReplay, StoreError> {
    let path = path.as_ref();
    if !path.is_dir() {
        return single_file::replay(path, store);
    }
    let history = JsonLinesStore::open_read_only(path)?;
    let mut tables = Vec::with_capacity(EntityKind::ALL.len());
    for kind in EntityKind::ALL {
        tables.push((kind, Lines::open(&history.table_path(kind))?));
    }
    let mut replay = SpillReplay::default();
    let mut batch: Vec<ExecutionRecord> = Vec::with_capacity(REPLAY_BATCH);
    let mut add = |record: ExecutionRecord, replay: &mut SpillReplay| {
        batch.push(record);
        if batch.len() == REPLAY_BATCH {
            store.write_batch(&batch)?;
            replay.records += batch.len() as u64;
            batch.clear();
        }
        Ok::<(), StoreError>(())
    };
    // In the order the writer wrote them; then whatever the order file does not name (a
    // history without one is copied table by table).
    for kind in read_order(path)? {
        if let Some(record) = next_record(&mut tables[kind.index()])? {
            add(record, &mut replay)?;
        }
    }
    for table in &mut tables {
        while let Some(record) = next_record(table)? {
            add(record, &mut replay)?;
        }
    }
    for (_, lines) in &mut tables {
        replay
            .warnings
            .extend(lines.take_warnings().iter().map(ToString::to_string));
    }
    store.write_batch(&batch)?;
    replay.records += batch.len() as u64;
    store.flush()?;
    Ok(replay)
}

/// The next record of a table of a spill history.
fn next_record(
    (kind, lines): &mut (EntityKind, Lines),
) -> Result<Option<ExecutionRecord>, StoreError> {
    let seed = RecordSeed { kind: Some(*kind) };
    lines.next(|_, line| seed.deserialize(&mut serde_json::Deserializer::from_slice(line)))
}

/// The kinds of the records of the spill history in `dir`, in the order the writer wrote them,
/// from its [`ORDER_FILE`]; none if it has no such file.
fn read_order(dir: &Path) -> Result<Vec<EntityKind>, StoreError> {
    let path = dir.join(ORDER_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(format!("read {}", path.display()), e)),
    };
    bytes
        .iter()
        .enumerate()
        .map(|(i, &byte)| {
            byte_kind(byte).ok_or_else(|| {
                StoreError::invalid_data(
                    format!("{} byte {}", path.display(), i + 1),
                    format!("not the kind of a record: {byte:#04x}"),
                )
            })
        })
        .collect()
}

/// Removes a spill history (its directory) or a spill file of an earlier release, once
/// replayed.
pub fn remove_spill(path: impl AsRef<Path>) -> Result<(), StoreError> {
    let path = path.as_ref();
    let removed = match path.is_dir() {
        true => std::fs::remove_dir_all(path),
        false => std::fs::remove_file(path),
    };
    removed.map_err(|e| StoreError::io(format!("remove {}", path.display()), e))
}
