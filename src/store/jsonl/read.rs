//! Reads: the lines of a file folded into the latest record per entity, lines cut short by an
//! interrupted write skipped with a warning, any other unreadable line an error.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fs::File;
use std::hash::Hash;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use super::{io_err, JsonLinesStore, Table};
use crate::error::StoreError;

/// Read buffer per file.
const READ_BUFFER: usize = 64 * 1024;

impl JsonLinesStore {
    /// Reads `table`, each line read by `parse`, folding its lines into the latest record per
    /// key (`supersedes` says which of two wins), keeping only records that pass `keep`, in
    /// first-seen order.
    pub(super) fn fold<T, K>(
        &mut self,
        table: Table,
        parse: impl Fn(&[u8]) -> serde_json::Result<T>,
        keep: impl Fn(&T) -> bool,
        key: impl Fn(&T) -> K,
        supersedes: impl Fn(&T, &T) -> bool,
    ) -> Result<Vec<T>, StoreError>
    where
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
            let record = parse(line)?;
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
}
