//! Reads: the lines of a file folded into the latest record per entity, lines cut short by an
//! interrupted write skipped with a warning, any other unreadable line an error.
//!
//! Records are read in two passes, so that memory grows with the entities read, not with
//! their lines or their text: the first reads only what identifies each line (entity, phase,
//! start time) and keeps, per entity, where its latest line is; the second reads those lines
//! alone, in the filter's order, and hands each record over as it is read.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fs::File;
use std::hash::Hash;
use std::io::{BufReader, Read, Seek, SeekFrom};

use chrono::{DateTime, Utc};
use serde::de::DeserializeSeed;
use serde::Deserialize;

use super::lines::{describe, scan_lines, LineAt, ReadWarning};
use super::{io_err, JsonLinesStore, Table};
use crate::error::StoreError;
use crate::record::{EntityKind, EventName, Phase, RecordSeed};
use crate::store::RecordVisit;

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
        let mut index: HashMap<K, usize> = HashMap::new();
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
        let path = self.path(Table::of(kind));
        let mut latest: Vec<Latest> = Vec::new();
        let mut index: HashMap<Box<str>, usize> = HashMap::new();
        let warnings = scan_lines(&path, |at, line| {
            let head: Head<'_> = serde_json::from_slice(line)?;
            if !filter.matches_run(&head.run_id, head.attempt)
                || !filter.matches_position(head.started_at, &head.run_id, head.attempt)
            {
                return Ok(());
            }
            let phase = head.event.phase();
            let here = Latest {
                at,
                phase,
                started_at: head.started_at,
                // Pipeline runs that started at the same time come by run id and attempt.
                run: (kind == EntityKind::Pipeline)
                    .then(|| (head.run_id.clone().into(), head.attempt)),
            };
            keep_latest(&mut index, &mut latest, head.key(kind), here, |new, old| {
                new.phase.supersedes(old.phase)
            });
            Ok(())
        })?;
        self.add_warnings(warnings);
        drop(index);
        // Stable: entities first seen first among equal start times (pipeline runs: by run id
        // and attempt).
        latest.sort_by(|a, b| (a.started_at, &a.run).cmp(&(b.started_at, &b.run)));
        if filter.newest_first {
            latest.reverse();
        }
        if latest.is_empty() {
            return Ok(());
        }
        // Buffered: the lines of a run come mostly in file order, so that most moves to the
        // next line stay within the buffer instead of costing a seek and a read each.
        let file = File::open(&path).map_err(|e| io_err(&path, "open", e))?;
        let mut file = BufReader::with_capacity(SECOND_PASS_BUFFER, file);
        let mut at = 0u64;
        let seed = RecordSeed { kind: Some(kind) };
        let mut line = Vec::new();
        let mut count = 0usize;
        for l in latest {
            if filter.limit.is_some_and(|limit| count >= limit) {
                break;
            }
            line.resize(l.at.len, 0);
            let moved = match i64::try_from(l.at.offset).ok().zip(i64::try_from(at).ok()) {
                Some((to, from)) => file.seek_relative(to - from),
                None => file.seek(SeekFrom::Start(l.at.offset)).map(drop),
            };
            moved
                .and_then(|_| file.read_exact(&mut line))
                .map_err(|e| io_err(&path, "read", e))?;
            at = l.at.offset + l.at.len as u64;
            let record = seed
                .deserialize(&mut serde_json::Deserializer::from_slice(&line))
                .map_err(|e| {
                    StoreError::invalid_data(
                        format!("{} line {}", path.display(), l.at.number),
                        format!("corrupt record: {}", describe(&e)),
                    )
                })?;
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
pub(super) fn keep_latest<K: Eq + Hash, T>(
    index: &mut HashMap<K, usize>,
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

/// The read buffer of the second pass, which reads the latest line of each entity.
const SECOND_PASS_BUFFER: usize = 256 * 1024;

/// An entity's latest line so far, and what ordering needs of it.
#[derive(Debug)]
struct Latest {
    at: LineAt,
    phase: Phase,
    started_at: DateTime<Utc>,
    /// For a pipeline run: its run id and attempt.
    run: Option<(Box<str>, u32)>,
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
    started_at: DateTime<Utc>,
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
    fn key(&self, kind: EntityKind) -> Box<str> {
        let id = |id: &Option<Cow<'_, str>>| id.as_deref().unwrap_or_default().into();
        match kind {
            EntityKind::Pipeline => format!("{}\0{}", self.attempt, self.run_id).into(),
            EntityKind::Process => id(&self.process_run_id),
            EntityKind::Step => id(&self.step_run_id),
        }
    }
}
