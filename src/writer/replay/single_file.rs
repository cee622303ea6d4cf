//! The spill file of earlier releases: one file, `spill-<recorder_id>.jsonl`, one record a line
//! with its `kind` key, in the order the writer took them. Kept so that such files still replay;
//! writers now spill to a JSON Lines history (see [`super`]).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::{SpillReplay, REPLAY_BATCH};
use crate::error::StoreError;
use crate::record::ExecutionRecord;
use crate::store::ExecutionRecordStore;

/// Writes the records of the one-file spill file at `path` into `store`, in order, and
/// flushes it.
pub(super) fn replay<S: ExecutionRecordStore + ?Sized>(
    path: &Path,
    store: &mut S,
) -> Result<SpillReplay, StoreError> {
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
