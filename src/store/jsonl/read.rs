//! Reads: the lines of a file folded into the latest record per entity, lines cut short by an
//! interrupted write skipped with a warning, any other unreadable line an error.
//!
//! Records are read in two passes, so that memory grows with the entities read, not with
//! their lines or their text: the first reads only what identifies each line (entity, phase,
//! start time, status, duration) and keeps, per entity, where its latest line is (a big file in
//! parts, on threads); the second reads those lines alone, in the filter's order, and hands
//! each record over as it is read. A summary gets its outlines from the first pass, and the
//! second reads only the lines it asks for.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::fs::File;
use std::hash::{BuildHasher, Hash};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::ops::Range;

use chrono::{DateTime, Utc};
use serde::de::DeserializeSeed;
use serde::Deserialize;

use super::lines::{describe, scan_lines, scan_range, split_at_lines, LineAt, ReadWarning};
use super::{io_err, JsonLinesStore, Table};
use crate::error::StoreError;
use crate::record::{
    rfc3339, EntityKind, EventName, ExecutionRecord, Phase, RecordSeed, RunStatus,
};
use crate::store::{summarize_by_streaming, RecordOutline, RecordVisit, RunFilter, Summarize};

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
        let path = self.path(table);
        let mut rows: Vec<T> = Vec::new();
        let mut index: FastMap<K, usize> = FastMap::default();
        let warnings = scan_lines(&path, |_, line| {
            let record = parse(line)?;
            if keep(&record) {
                let k = key(&record);
                keep_latest(&mut index, &mut rows, k, record, &supersedes);
            }
            Ok(())
        })?;
        self.add_warnings(warnings);
        Ok(rows)
    }

    /// Hands `read` the latest record of every entity of its kind that passes its filter, in
    /// the filter's order (by start time, entities first seen first among equal times), until
    /// it wants no more.
    pub(super) fn for_each_latest(&mut self, mut read: RecordVisit<'_>) -> Result<(), StoreError> {
        let (kind, filter) = (read.kind, read.filter);
        let index = self.index_latest(kind, filter, false)?;
        if index.latest.is_empty() {
            return Ok(());
        }
        let mut lines = LatestLines::open(&self.path(Table::of(kind)), kind)?;
        let mut count = 0usize;
        for l in &index.latest {
            if filter.limit.is_some_and(|limit| count >= limit) {
                break;
            }
            let record = lines.read(&l.at)?;
            if !filter.matches_record(&record) {
                continue;
            }
            count += 1;
            if read.visit(record).is_break() {
                break;
            }
        }
        Ok(())
    }

    /// [`RecordReader::summarize_records`](crate::store::RecordReader::summarize_records):
    /// the outlines come from the first pass, and the second reads only the lines `summary`
    /// asks for, in file order. A filter by name (a column the first pass does not read) reads
    /// every record whole instead.
    pub(super) fn summarize_latest(
        &mut self,
        kind: EntityKind,
        filter: &RunFilter,
        summary: &mut dyn Summarize,
    ) -> Result<(), StoreError> {
        if filter.name.is_some() {
            return summarize_by_streaming(self, kind, filter, summary);
        }
        let index = self.index_latest(kind, filter, true)?;
        let mut wanted: Vec<(u64, &LineAt)> = Vec::new();
        let passing = index.latest.iter().filter(|l| {
            filter.status.is_none_or(|s| s == l.status)
                && filter.since.is_none_or(|s| l.started_at >= s)
        });
        for (n, l) in (0u64..).zip(passing.take(filter.limit.unwrap_or(usize::MAX))) {
            let outline = RecordOutline {
                id: match l.run.as_deref() {
                    Some((run_id, _)) => Some(run_id),
                    None => l.id.as_deref().filter(|id| !id.is_empty()),
                },
                process_run_id: index.processes.get(l.process as usize).map(|p| &**p),
                status: l.status,
                started_at: l.started_at,
                duration_ms: l.duration_ms,
            };
            if summary.outline(n, outline) {
                wanted.push((n, &l.at));
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        wanted.sort_unstable_by_key(|(_, at)| at.offset);
        let mut lines = LatestLines::open(&self.path(Table::of(kind)), kind)?;
        for (n, at) in wanted {
            summary.record(n, lines.read(at)?);
        }
        Ok(())
    }

    /// The first pass over `kind`'s file: where the latest line of each entity of `filter`'s
    /// runs is, with what ordering and outlines need of it, in the filter's order (stable:
    /// entities first seen first among equal start times; pipeline runs by run id and attempt).
    /// With `ids`, each entry keeps its entity's id.
    ///
    /// A big file is read in parts on threads of their own (one per core, up to
    /// [`MAX_THREADS`]), each part folded on its own and the folds joined in file order, which
    /// gives the fold of the whole file. When a part meets a line it cannot read, the file is
    /// read again in one part, so that the error names the line as a read in one part does.
    fn index_latest(
        &mut self,
        kind: EntityKind,
        filter: &RunFilter,
        ids: bool,
    ) -> Result<LatestIndex, StoreError> {
        let size = std::fs::metadata(self.path(Table::of(kind))).map_or(0, |m| m.len());
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS));
        let parts = if size >= PARALLEL_BYTES { threads } else { 1 };
        self.index_latest_in(kind, filter, ids, parts as u64)
    }

    /// [`index_latest`](Self::index_latest) in up to `parts` parts.
    fn index_latest_in(
        &mut self,
        kind: EntityKind,
        filter: &RunFilter,
        ids: bool,
        parts: u64,
    ) -> Result<LatestIndex, StoreError> {
        let path = self.path(Table::of(kind));
        let size = std::fs::metadata(&path).map_or(0, |m| m.len());
        let parts: Vec<Range<u64>> = if parts > 1 {
            split_at_lines(&path, parts)?
        } else {
            std::iter::once(0..u64::MAX).collect()
        };
        // Sized for the file (or part), so that a big run's index does not grow by doubling,
        // but no more than a big run needs: the filter may select a few of the file's entities.
        let estimate = size / BYTES_PER_ENTITY / parts.len() as u64;
        let estimate =
            usize::try_from(estimate).map_or(RESERVED_ENTITIES, |n| n.min(RESERVED_ENTITIES));
        let scan = |range: Range<u64>| {
            let mut fold = Fold::new(kind, filter, estimate);
            let (warnings, lines) = scan_range(&path, range, |at, line| fold.line(at, line))?;
            Ok::<_, StoreError>((fold, warnings, lines))
        };
        let (fold, warnings) = if parts.len() == 1 {
            let (fold, warnings, _) = scan(0..u64::MAX)?;
            (fold, warnings)
        } else {
            let folded: Vec<Result<_, StoreError>> = std::thread::scope(|threads| {
                let parts: Vec<_> = parts
                    .into_iter()
                    .map(|range| threads.spawn(|| scan(range)))
                    .collect();
                parts
                    .into_iter()
                    .map(|part| {
                        part.join().unwrap_or_else(|_| {
                            Err(StoreError::invalid_data(
                                path.display().to_string(),
                                "a reading thread panicked",
                            ))
                        })
                    })
                    .collect()
            });
            if folded.iter().any(Result::is_err) {
                let (fold, warnings, _) = scan(0..u64::MAX)?;
                (fold, warnings)
            } else {
                let mut folded = folded.into_iter().flatten();
                let (mut fold, mut warnings, mut lines) = folded
                    .next()
                    .unwrap_or_else(|| (Fold::new(kind, filter, 0), Vec::new(), 0));
                for (later, more, n) in folded {
                    fold.append(later, lines);
                    warnings.extend(more.into_iter().map(|mut w| {
                        w.line += lines;
                        w
                    }));
                    lines += n;
                }
                (fold, warnings)
            }
        };
        self.add_warnings(warnings);
        let Fold {
            mut latest,
            index,
            processes,
            ..
        } = fold;
        if ids && kind != EntityKind::Pipeline {
            for (id, i) in index {
                latest[i].id = Some(id);
            }
        } else {
            drop(index);
        }
        latest.sort_by(|a, b| (a.started_at, &a.run).cmp(&(b.started_at, &b.run)));
        if filter.newest_first {
            latest.reverse();
        }
        Ok(LatestIndex {
            latest,
            processes: processes.names,
        })
    }

    /// Reports the warnings not reported before (see
    /// [`with_read_warning_callback`](JsonLinesStore::with_read_warning_callback)).
    fn add_warnings(&mut self, warnings: Vec<ReadWarning>) {
        for warning in warnings {
            if self.warned.insert((warning.path.clone(), warning.line)) {
                match &self.on_warning {
                    Some(callback) => callback(&warning),
                    None => tracing::warn!(target: "tracing_etl", "{warning}"),
                }
            }
        }
    }
}

/// Keeps `value` as the row of `key` in `rows`: a new row at the end (`index` says where), or
/// in place of the row of that key when `supersedes(value, row)`.
pub(super) fn keep_latest<K: Eq + Hash, T, S: BuildHasher>(
    index: &mut std::collections::HashMap<K, usize, S>,
    rows: &mut Vec<T>,
    key: K,
    value: T,
    supersedes: impl FnOnce(&T, &T) -> bool,
) {
    match index.entry(key) {
        Entry::Occupied(slot) => {
            let row = &mut rows[*slot.get()];
            if supersedes(&value, row) {
                *row = value;
            }
        }
        Entry::Vacant(slot) => {
            slot.insert(rows.len());
            rows.push(value);
        }
    }
}

/// Files of at least this many bytes are read in parts on threads of their own…
const PARALLEL_BYTES: u64 = 64 << 20;
/// … by up to this many threads.
const MAX_THREADS: usize = 4;

/// The first pass reserves room for one entity per this many bytes of the file (a start and
/// an end line of a step are about 900 bytes)…
const BYTES_PER_ENTITY: u64 = 1024;
/// … up to this many entities.
const RESERVED_ENTITIES: usize = 1 << 18;

/// The read buffer of the second pass, which reads the latest line of each entity.
const SECOND_PASS_BUFFER: usize = 256 * 1024;

/// The map of the first pass. Keys are ids read from the file; `foldhash`'s seeds are random
/// per map, so a file cannot be made to collide its keys ahead of time.
type FastMap<K, V> = foldhash::HashMap<K, V>;

/// What the first pass found: the entities' latest lines, in the filter's order, and the
/// process ids they name.
#[derive(Debug)]
struct LatestIndex {
    latest: Vec<Latest>,
    processes: Vec<Box<str>>,
}

/// An entity's latest line so far, and what ordering and outlines need of it.
#[derive(Debug)]
struct Latest {
    at: LineAt,
    phase: Phase,
    status: RunStatus,
    started_at: DateTime<Utc>,
    duration_ms: Option<u64>,
    /// For a pipeline run: its run id and attempt (boxed: most entries are steps').
    run: Option<Box<(Box<str>, u32)>>,
    /// The entity's id, when the index keeps ids.
    id: Option<Box<str>>,
    /// Its process run id, as an index into [`LatestIndex::processes`] ([`NO_PROCESS`]: none).
    process: u32,
}

/// [`Latest::process`] of an entity outside a process.
const NO_PROCESS: u32 = u32::MAX;

/// The process run ids of a first pass, each kept once: a run's steps name few processes.
#[derive(Debug, Default)]
struct Interned {
    index: FastMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Interned {
    /// The number of `name` ([`NO_PROCESS`] for none, and for names past the 4 billionth).
    fn id(&mut self, name: Option<&str>) -> u32 {
        let Some(name) = name else {
            return NO_PROCESS;
        };
        if let Some(&n) = self.index.get(name) {
            return n;
        }
        let Some(n) = u32::try_from(self.names.len())
            .ok()
            .filter(|&n| n != NO_PROCESS)
        else {
            return NO_PROCESS;
        };
        self.index.insert(name.into(), n);
        self.names.push(name.into());
        n
    }
}

/// The first pass's fold of lines (of a file, or of a part of it) into the latest line per
/// entity of the filter's runs, in first-seen order.
struct Fold<'f> {
    kind: EntityKind,
    filter: &'f RunFilter,
    latest: Vec<Latest>,
    index: FastMap<Box<str>, usize>,
    processes: Interned,
}

impl<'f> Fold<'f> {
    fn new(kind: EntityKind, filter: &'f RunFilter, capacity: usize) -> Self {
        Fold {
            kind,
            filter,
            latest: Vec::with_capacity(capacity),
            index: FastMap::with_capacity_and_hasher(capacity, Default::default()),
            processes: Interned::default(),
        }
    }

    /// Folds in the line at `at`.
    fn line(&mut self, at: LineAt, line: &[u8]) -> serde_json::Result<()> {
        let head: Head<'_> = serde_json::from_slice(line)?;
        let filter = self.filter;
        if !filter.matches_run(&head.run_id, head.attempt)
            || !filter.matches_position(head.started_at, &head.run_id, head.attempt)
        {
            return Ok(());
        }
        let here = Latest {
            at,
            phase: head.event.phase(),
            status: head.status,
            started_at: head.started_at,
            duration_ms: head.duration_ms.map(|n| u64::try_from(n).unwrap_or(0)),
            run: (self.kind == EntityKind::Pipeline)
                .then(|| Box::new((head.run_id.clone().into(), head.attempt))),
            id: None,
            process: self.processes.id(head.process_run_id.as_deref()),
        };
        self.keep(head.key(self.kind), here);
        Ok(())
    }

    /// Keeps `here` as the latest line of `key`, unless the line kept supersedes it.
    fn keep(&mut self, key: Cow<'_, str>, here: Latest) {
        match self.index.get(&*key) {
            Some(&i) => {
                let row = &mut self.latest[i];
                if here.phase.supersedes(row.phase) {
                    *row = here;
                }
            }
            None => {
                self.index
                    .insert(key.into_owned().into_boxed_str(), self.latest.len());
                self.latest.push(here);
            }
        }
    }

    /// Folds in `later`, the fold of the lines after this fold's `lines` lines.
    fn append(&mut self, later: Fold<'_>, lines: u64) {
        let mut keys: Vec<Option<Box<str>>> = Vec::new();
        keys.resize_with(later.latest.len(), || None);
        for (key, i) in later.index {
            keys[i] = Some(key);
        }
        for (mut here, key) in later.latest.into_iter().zip(keys) {
            here.at.number += lines;
            let process = later.processes.names.get(here.process as usize);
            here.process = self.processes.id(process.map(|p| &**p));
            let key = key.map_or(Cow::Borrowed(""), |k| Cow::Owned(k.into_string()));
            self.keep(key, here);
        }
    }
}

/// The second pass: the latest lines of entities, read by where the first pass found them.
/// Buffered: the lines of a run come mostly in file order, so that most moves to the next line
/// stay within the buffer instead of costing a seek and a read each.
struct LatestLines {
    path: std::path::PathBuf,
    file: BufReader<File>,
    at: u64,
    line: Vec<u8>,
    seed: RecordSeed,
}

impl LatestLines {
    fn open(path: &std::path::Path, kind: EntityKind) -> Result<Self, StoreError> {
        let file = File::open(path).map_err(|e| io_err(path, "open", e))?;
        Ok(LatestLines {
            path: path.to_path_buf(),
            file: BufReader::with_capacity(SECOND_PASS_BUFFER, file),
            at: 0,
            line: Vec::new(),
            seed: RecordSeed { kind: Some(kind) },
        })
    }

    /// The record of the line at `at`.
    fn read(&mut self, at: &LineAt) -> Result<ExecutionRecord, StoreError> {
        self.line.resize(at.len, 0);
        let moved = match i64::try_from(at.offset)
            .ok()
            .zip(i64::try_from(self.at).ok())
        {
            Some((to, from)) => self.file.seek_relative(to - from),
            None => self.file.seek(SeekFrom::Start(at.offset)).map(drop),
        };
        moved
            .and_then(|_| self.file.read_exact(&mut self.line))
            .map_err(|e| io_err(&self.path, "read", e))?;
        self.at = at.offset + at.len as u64;
        self.seed
            .deserialize(&mut serde_json::Deserializer::from_slice(&self.line))
            .map_err(|e| {
                StoreError::invalid_data(
                    format!("{} line {}", self.path.display(), at.number),
                    format!("corrupt record: {}", describe(&e)),
                )
            })
    }
}

/// What the first pass reads of a line: what identifies its entity, its phase and its start.
/// Every other column is skipped unread.
#[derive(Debug, Deserialize)]
struct Head<'a> {
    #[serde(deserialize_with = "event_name")]
    event: EventName,
    #[serde(borrow)]
    run_id: Cow<'a, str>,
    attempt: u32,
    #[serde(borrow, default)]
    process_run_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    step_run_id: Option<Cow<'a, str>>,
    #[serde(deserialize_with = "rfc3339::deserialize")]
    started_at: DateTime<Utc>,
    status: RunStatus,
    #[serde(default)]
    duration_ms: Option<i64>,
}

/// An event name read as the full record reads it (with its error message).
fn event_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<EventName, D::Error> {
    let name = Cow::<'de, str>::deserialize(d)?;
    name.parse().map_err(serde::de::Error::custom)
}

impl Head<'_> {
    /// The entity's key in its table, as [`ExecutionRecord::key`](crate::ExecutionRecord::key)
    /// has it (a missing id counts as empty): `(run_id, attempt)` for pipelines, the entity's
    /// own id for the others.
    fn key(&self, kind: EntityKind) -> Cow<'_, str> {
        let id = match kind {
            EntityKind::Pipeline => {
                return format!("{}\0{}", self.attempt, self.run_id).into();
            }
            EntityKind::Process => &self.process_run_id,
            EntityKind::Step => &self.step_run_id,
        };
        Cow::Borrowed(id.as_deref().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::record::ExecutionRecord;
    use crate::store::ExecutionRecordStore;

    /// What an index says of each entity, comparable.
    fn summary(index: &LatestIndex) -> Vec<String> {
        index
            .latest
            .iter()
            .map(|l| {
                let process = index.processes.get(l.process as usize);
                format!(
                    "{} {} {} {:?} {:?} {} {:?} {:?} {:?} {:?}",
                    l.at.offset,
                    l.at.len,
                    l.at.number,
                    l.phase,
                    l.status,
                    l.started_at,
                    l.duration_ms,
                    l.run,
                    l.id,
                    process
                )
            })
            .collect()
    }

    /// Writes `first` to the history in `dir`, appends `raw` to its step file as a killed or
    /// broken writer would, then writes `rest`; the step file's path.
    fn write_around(
        dir: &std::path::Path,
        first: &[ExecutionRecord],
        raw: &[u8],
        rest: &[ExecutionRecord],
    ) -> std::path::PathBuf {
        let mut store = JsonLinesStore::open(dir).unwrap();
        store.write_batch(first).unwrap();
        store.flush().unwrap();
        drop(store);
        let path = dir.join("step_runs.jsonl");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(raw).unwrap();
        drop(file);
        let mut store = JsonLinesStore::open(dir).unwrap();
        store.write_batch(rest).unwrap();
        store.flush().unwrap();
        path
    }

    /// Read in parts, a file's index is the index of a read in one part: the same entities, in
    /// the same order, with the same latest lines (however the parts cut the lines of an
    /// entity), numbers and warnings.
    #[test]
    fn an_index_read_in_parts_is_the_index_read_in_one() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = chrono::DateTime::UNIX_EPOCH + chrono::TimeDelta::days(20_000);
        let mut records = Vec::new();
        for i in 0..600u32 {
            let started = t0 + chrono::TimeDelta::seconds(i64::from(i % 50));
            let run = if i % 11 == 0 { "other" } else { "run" };
            let start = ExecutionRecord::step_start(run, format!("s{}", i % 400), "load", started)
                .with_process_run_id(format!("p{}", i % 4));
            let end = start.clone().ended(RunStatus::Success, u64::from(i));
            match i % 3 {
                0 => records.extend([end, start]),
                1 => records.push(start),
                _ => records.extend([start, end]),
            }
        }
        let (first, rest) = records.split_at(records.len() / 2);
        // A line cut short by a killed writer, sealed by the next one's newline; blank lines.
        let path = write_around(
            dir.path(),
            first,
            b"{\"event\":\"step_start\",\"run_id\":\"ru\n\n  \n",
            rest,
        );
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"{\"event\":\"step_end\",\"ru").unwrap();
        drop(file);

        let warnings = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        for filter in [
            RunFilter::default(),
            RunFilter::default().run_id("run").newest_first(),
        ] {
            let read = |parts: u64| {
                let seen = warnings.clone();
                let mut store = JsonLinesStore::open(dir.path())
                    .unwrap()
                    .with_read_warning_callback(move |w| seen.lock().unwrap().push(w.to_string()));
                let index = store
                    .index_latest_in(EntityKind::Step, &filter, true, parts)
                    .unwrap();
                (
                    summary(&index),
                    std::mem::take(&mut *warnings.lock().unwrap()),
                )
            };
            let (one, one_warnings) = read(1);
            assert_eq!(one_warnings.len(), 2, "{one_warnings:?}");
            assert!(one.len() >= 300, "{}", one.len());
            for parts in 2..=9 {
                assert_eq!(
                    read(parts),
                    (one.clone(), one_warnings.clone()),
                    "{parts} parts"
                );
            }
        }
    }

    /// A line that cannot be read in the middle of a file is the same error read in parts.
    #[test]
    fn a_corrupt_line_is_the_same_error_read_in_parts() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = chrono::DateTime::UNIX_EPOCH;
        let steps: Vec<_> = (0..200)
            .map(|i| ExecutionRecord::step_start("run", format!("s{i}"), "load", t0))
            .collect();
        let corrupt = b"{\"event\":\"step_start\",\"run_id\":7}\n";
        write_around(dir.path(), &steps[..100], corrupt, &steps[100..]);
        let mut store = JsonLinesStore::open(dir.path()).unwrap();
        let filter = RunFilter::default();
        let one = store
            .index_latest_in(EntityKind::Step, &filter, false, 1)
            .unwrap_err()
            .to_string();
        assert!(one.contains("line 101"), "{one}");
        for parts in 2..=5 {
            let error = store
                .index_latest_in(EntityKind::Step, &filter, false, parts)
                .unwrap_err();
            assert_eq!(error.to_string(), one);
        }
    }
}
