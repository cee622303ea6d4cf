//! Replaying a spill file into a store once it is back.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::StoreError;
use crate::record::ExecutionRecord;
use crate::store::ExecutionRecordStore;

/// Records written per batch while replaying.
const REPLAY_BATCH: usize = 4096;

/// What [`replay_spill_report`] did with a spill file.
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

/// Writes the records of a spill file into `store`, in order, and flushes it; returns how many
/// it wrote. [`replay_spill_report`] without the report: a skipped line is printed on stderr as
/// a warning (`tracing-etl: warning: …`).
///
/// When the store is still unavailable as the program ends, the writer leaves the records it
/// could not write in its spill file (the path is reported on stderr and by
/// [`WriterGuard::shutdown`](crate::WriterGuard::shutdown)'s error). Replay it once the store is
/// back, then delete the file. Replaying twice is harmless: stores keep one row per entity, or
/// fold duplicates when read.
///
/// ```no_run
/// # fn main() -> Result<(), tracing_etl::StoreError> {
/// let mut store = tracing_etl::SqliteStore::open("tracing-etl.db")?;
/// let written = tracing_etl::writer::replay_spill("/tmp/tracing-etl-spill/0193….jsonl", &mut store)?;
/// println!("{written} records recovered");
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

/// Writes the records of a spill file into `store`, in order, and flushes it, like
/// [`replay_spill`], returning what it wrote and what it skipped.
///
/// A spill file whose writer was killed (`kill -9`, a crash, a power loss) may end in a line
/// cut short. As the [`JsonLinesStore`](crate::JsonLinesStore)'s reader does, such a line is
/// skipped with a warning — the last line of the file whatever is wrong with it, or a line cut
/// short (a prefix of a record, or the zeros a crash can leave) with more lines after it — and
/// every record around it is replayed. Any other line that is not a record (the file was
/// tampered with, or is not a spill file) is an [`StoreError::InvalidData`] naming the file and
/// line, and nothing after it is written.
pub fn replay_spill_report<S: ExecutionRecordStore + ?Sized>(
    path: impl AsRef<Path>,
    store: &mut S,
) -> Result<SpillReplay, StoreError> {
    let path = path.as_ref();
    let name = || path.display().to_string();
    let mut reader = BufReader::new(File::open(path).map_err(|e| StoreError::io(name(), e))?);
    let mut batch: Vec<ExecutionRecord> = Vec::with_capacity(REPLAY_BATCH);
    let mut replay = SpillReplay::default();
    let mut line = Vec::new();
    let mut number = 0u64;
    // A line that did not parse (its number, the error, whether it looks cut short), judged
    // once we know whether another line follows it.
    let mut bad: Option<(u64, serde_json::Error, bool)> = None;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| StoreError::io(name(), e))?;
        if n == 0 {
            break;
        }
        number += 1;
        while let Some(b'\n' | b'\r') = line.last() {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Some((at, error, cut)) = bad.take() {
            if !cut {
                return Err(StoreError::invalid_data(
                    format!("{}:{at}", name()),
                    format!("not an execution record: {error}"),
                ));
            }
            replay.warnings.push(format!(
                "{}:{at}: skipped a line cut short by an interrupted write ({error})",
                name()
            ));
        }
        match serde_json::from_slice::<ExecutionRecord>(&line) {
            Ok(record) => {
                batch.push(record);
                if batch.len() == REPLAY_BATCH {
                    store.write_batch(&batch)?;
                    replay.records += batch.len() as u64;
                    batch.clear();
                }
            }
            Err(error) => {
                let cut = cut_short(&error, &line);
                bad = Some((number, error, cut));
            }
        }
    }
    if let Some((at, error, _)) = bad {
        replay.warnings.push(format!(
            "{}:{at}: skipped the last line, cut short by an interrupted write ({error})",
            name()
        ));
    }
    store.write_batch(&batch)?;
    replay.records += batch.len() as u64;
    store.flush()?;
    Ok(replay)
}

/// Whether a line that failed to parse looks like a write cut short: the error is the end of
/// the input (a prefix of a record), or the line is only the zeros a crash can leave.
fn cut_short(error: &serde_json::Error, line: &[u8]) -> bool {
    error.is_eof() || line.iter().all(|&b| b == 0 || b.is_ascii_whitespace())
}
