//! The lines of a JSON Lines file, read one at a time: blank lines skipped, a line cut short by
//! an interrupted write skipped with a [`ReadWarning`], any other unreadable line an error.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::io_err;
use crate::error::StoreError;

/// Read buffer per file.
const READ_BUFFER: usize = 64 * 1024;

/// A line of a JSON Lines file that a read skipped: one cut short by an interrupted write (a
/// program killed while writing it), or a last line still being written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadWarning {
    /// The file.
    pub path: PathBuf,
    /// The line's number, counting from 1.
    pub line: u64,
    /// Whether it was the last line of the file (the next writer has not sealed it with a
    /// newline and written on).
    pub last: bool,
    /// Why it could not be read (the JSON error).
    pub reason: String,
}

impl fmt::Display for ReadWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.last {
            true => {
                "skipped an unreadable last line, probably a write cut short or still in progress"
            }
            false => "skipped an incomplete line left by an interrupted write",
        };
        write!(
            f,
            "{} line {}: {what} ({})",
            self.path.display(),
            self.line,
            self.reason
        )
    }
}

/// Where a line is in its file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LineAt {
    /// Byte offset of its first byte.
    pub(super) offset: u64,
    /// Its length, without the newline.
    pub(super) len: usize,
    /// Its number, counting from 1.
    pub(super) number: u64,
}

/// The non-blank lines of one file, each handed to a parser, streaming. A missing file has no
/// lines.
#[derive(Debug)]
pub(crate) struct Lines {
    source: Source,
    /// Whether the lines end where the file ends (else a line is judged as one with others
    /// after it).
    to_file_end: bool,
    line: Vec<u8>,
    /// A line read ahead (to judge the one before it), and where it is.
    ahead: Option<LineAt>,
    ahead_line: Vec<u8>,
    warnings: Vec<ReadWarning>,
}

#[derive(Debug)]
struct Source {
    path: PathBuf,
    /// `None`: the file does not exist.
    reader: Option<BufReader<File>>,
    offset: u64,
    /// Lines end at this offset.
    end: u64,
    number: u64,
}

impl Source {
    /// Reads the next non-blank line into `line`, without its newline.
    fn read_line(&mut self, line: &mut Vec<u8>) -> Result<Option<LineAt>, StoreError> {
        let Some(reader) = &mut self.reader else {
            return Ok(None);
        };
        loop {
            if self.offset >= self.end {
                return Ok(None);
            }
            line.clear();
            let n = reader
                .read_until(b'\n', line)
                .map_err(|e| io_err(&self.path, "read", e))?;
            if n == 0 {
                return Ok(None);
            }
            let at = self.offset;
            self.offset += n as u64;
            self.number += 1;
            // Without its newline: a line cut short inside a string then sealed by the next
            // writer's newline must read as incomplete, not as a string with a control
            // character.
            while let Some(b'\n' | b'\r') = line.last() {
                line.pop();
            }
            if !line.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some(LineAt {
                    offset: at,
                    len: line.len(),
                    number: self.number,
                }));
            }
        }
    }
}

impl Lines {
    /// The lines of the file at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_range(path, 0..u64::MAX)
    }

    /// The lines of the file at `path` that start in `range` (which starts at the start of a
    /// line), numbered from 1 at the range's start.
    pub(crate) fn open_range(path: &Path, range: Range<u64>) -> Result<Self, StoreError> {
        let reader = match File::open(path) {
            Ok(mut file) => {
                if range.start > 0 {
                    file.seek(SeekFrom::Start(range.start))
                        .map_err(|e| io_err(path, "seek", e))?;
                }
                Some(BufReader::with_capacity(READ_BUFFER, file))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(path, "open", e)),
        };
        Ok(Lines {
            source: Source {
                path: path.to_path_buf(),
                reader,
                offset: range.start,
                end: range.end,
                number: 0,
            },
            to_file_end: range.end == u64::MAX,
            line: Vec::new(),
            ahead: None,
            ahead_line: Vec::new(),
            warnings: Vec::new(),
        })
    }

    /// The lines read so far.
    pub(crate) fn lines_read(&self) -> u64 {
        self.source.number
    }

    /// The next line `parse` takes; `None` at the end of the file. A line `parse` rejects is
    /// skipped with a warning when it is the last line, or an incomplete line followed by
    /// others (a write cut short, then a new writer started on a fresh line); otherwise it is
    /// a [`StoreError::InvalidData`] naming the file and line.
    pub(crate) fn next<T>(
        &mut self,
        mut parse: impl FnMut(LineAt, &[u8]) -> serde_json::Result<T>,
    ) -> Result<Option<T>, StoreError> {
        loop {
            let at = match self.ahead.take() {
                Some(at) => {
                    std::mem::swap(&mut self.line, &mut self.ahead_line);
                    at
                }
                None => match self.source.read_line(&mut self.line)? {
                    Some(at) => at,
                    None => return Ok(None),
                },
            };
            let error = match parse(at, &self.line) {
                Ok(value) => return Ok(Some(value)),
                Err(e) => e,
            };
            let incomplete =
                error.is_eof() || self.line.iter().all(|&b| b == 0 || b.is_ascii_whitespace());
            let reason = describe(&error);
            self.ahead = self.source.read_line(&mut self.ahead_line)?;
            let last = self.ahead.is_none() && self.to_file_end;
            if !last && !incomplete {
                return Err(StoreError::invalid_data(
                    format!("{} line {}", self.source.path.display(), at.number),
                    format!("corrupt record: {reason}"),
                ));
            }
            self.warnings.push(ReadWarning {
                path: self.source.path.clone(),
                line: at.number,
                last,
                reason,
            });
        }
    }

    /// The warnings of the lines skipped so far.
    pub(crate) fn take_warnings(&mut self) -> Vec<ReadWarning> {
        std::mem::take(&mut self.warnings)
    }
}

/// Calls `parse` on every non-blank line of the file at `path`, as [`Lines::next`] reads them;
/// returns the warnings.
pub(super) fn scan_lines(
    path: &Path,
    parse: impl FnMut(LineAt, &[u8]) -> serde_json::Result<()>,
) -> Result<Vec<ReadWarning>, StoreError> {
    scan_range(path, 0..u64::MAX, parse).map(|(warnings, _)| warnings)
}

/// [`scan_lines`] of the lines that start in `range` (see [`Lines::open_range`]); returns the
/// warnings and the number of lines read.
pub(super) fn scan_range(
    path: &Path,
    range: Range<u64>,
    mut parse: impl FnMut(LineAt, &[u8]) -> serde_json::Result<()>,
) -> Result<(Vec<ReadWarning>, u64), StoreError> {
    let mut lines = Lines::open_range(path, range)?;
    while lines.next(&mut parse)?.is_some() {}
    Ok((lines.take_warnings(), lines.lines_read()))
}

/// The file at `path` cut into up to `parts` ranges of about equal size, each starting at the
/// start of a line: `[0, b1)`, `[b1, b2)`, …, `[bk, u64::MAX)`.
pub(super) fn split_at_lines(path: &Path, parts: u64) -> Result<Vec<Range<u64>>, StoreError> {
    let len = std::fs::metadata(path)
        .map_err(|e| io_err(path, "stat", e))?
        .len();
    let mut file = BufReader::new(File::open(path).map_err(|e| io_err(path, "open", e))?);
    let mut starts = vec![0u64];
    let mut skipped = Vec::new();
    for i in 1..parts {
        let guess = len / parts * i;
        if guess <= *starts.last().unwrap_or(&0) {
            continue;
        }
        file.seek(SeekFrom::Start(guess))
            .map_err(|e| io_err(path, "seek", e))?;
        skipped.clear();
        let n = file
            .read_until(b'\n', &mut skipped)
            .map_err(|e| io_err(path, "read", e))?;
        let start = guess + n as u64;
        if start < len && start > *starts.last().unwrap_or(&0) {
            starts.push(start);
        }
    }
    let mut ends: Vec<u64> = starts[1..].to_vec();
    ends.push(u64::MAX);
    Ok(starts.into_iter().zip(ends).map(|(s, e)| s..e).collect())
}

/// A JSON error without serde_json's "at line 1" (each line is parsed on its own).
pub(super) fn describe(e: &serde_json::Error) -> String {
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
