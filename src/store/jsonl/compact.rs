//! `recorders.jsonl` rewritten with the latest beat of each recorder, once heartbeats have made
//! it large: every writer beats every few seconds for as long as it runs, and only each
//! recorder's last line is ever read.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Deserialize;

use super::io_err;
use super::lines::scan_lines;
use super::read::keep_latest;
use super::write::sync_dir;
use crate::error::StoreError;

/// The size past which `recorders.jsonl` is compacted (about 5,000 beats).
pub(super) const RECORDERS_COMPACT_AT: u64 = 1024 * 1024;

/// What compaction reads of a beat: whose it is.
#[derive(Deserialize)]
struct Whose<'a> {
    #[serde(borrow)]
    recorder_id: std::borrow::Cow<'a, str>,
}

/// Rewrites the file at `path` with the last line of each recorder, in the order recorders
/// first appear, atomically: written to `recorders.jsonl.tmp`, `fsync`ed, renamed over the file,
/// and the directory `fsync`ed. Lines skipped by reads (cut short) are left out; a corrupt line
/// is an error, and the file is left as it was. Returns how many lines it kept.
pub(super) fn compact_recorders(path: &Path) -> Result<usize, StoreError> {
    let mut latest: Vec<Vec<u8>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    scan_lines(path, |_, line| {
        let whose: Whose<'_> = serde_json::from_slice(line)?;
        // A recorder's latest beat is its last line.
        let id = whose.recorder_id.into_owned();
        keep_latest(&mut index, &mut latest, id, line.to_vec(), |_, _| true);
        Ok(())
    })?;
    let tmp = path.with_extension("jsonl.tmp");
    let written = (|| {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        let mut out = BufWriter::new(file);
        for line in &latest {
            out.write_all(line)?;
            out.write_all(b"\n")?;
        }
        out.into_inner()?.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(path, "compact", e));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        sync_dir(dir)?;
    }
    Ok(latest.len())
}
