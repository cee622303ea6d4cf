//! Summaries of many records: a reader hands over the outline of every record (identity,
//! status, timing, no texts) and then only the records the summary asks for, so that a run of
//! a million steps is summed up without each of its rows being read whole.

use std::ops::ControlFlow;

use chrono::{DateTime, Utc};

use super::{RecordReader, RunFilter};
use crate::error::StoreError;
use crate::record::{EntityKind, ExecutionRecord, RunStatus};

/// What a summary of many records needs of each: which entity it is, where it ran, how it
/// ended and when, without its texts (names, errors) or its other columns.
///
/// An outline is the latest row of its entity, as [`RecordReader::for_each_record`] would
/// hand over the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordOutline<'a> {
    /// The entity's own id ([`ExecutionRecord::entity_id`]); for a pipeline run, its run id.
    pub id: Option<&'a str>,
    /// The process run the entity belongs to, if any.
    pub process_run_id: Option<&'a str>,
    /// The entity's status.
    pub status: RunStatus,
    /// When the entity started.
    pub started_at: DateTime<Utc>,
    /// How long it ran, once it ended.
    pub duration_ms: Option<u64>,
}

impl<'a> RecordOutline<'a> {
    /// The outline of `record`.
    pub fn of(record: &'a ExecutionRecord) -> Self {
        RecordOutline {
            id: match record.kind {
                EntityKind::Pipeline => Some(record.run.run_id.as_str()),
                _ => record.entity_id(),
            },
            process_run_id: record.process_run_id.as_deref(),
            status: record.outcome.status,
            started_at: record.started_at,
            duration_ms: record.outcome.duration_ms,
        }
    }
}

/// A summary of records, as [`RecordReader::summarize_records`] fills it: first the outline of
/// every record, numbered in the filter's order, and the summary says of each whether it wants
/// the record whole; then the records it asked for, each with its outline's number.
///
/// A store may hand over a record right after its outline, or all the asked-for records after
/// the last outline, in any order: a summary keeps what it needs by number, and drops a
/// record it no longer needs (say, a step that was among the ten slowest when its outline came
/// but was pushed out by slower ones).
pub trait Summarize {
    /// Takes the outline of record `index` (0, 1, … in the filter's order); `true` asks for
    /// the record whole.
    fn outline(&mut self, index: u64, outline: RecordOutline<'_>) -> bool;

    /// Takes record `index`, whose outline was asked for.
    fn record(&mut self, index: u64, record: ExecutionRecord);
}

/// [`RecordReader::summarize_records`] for any reader: every record read whole through
/// [`for_each_record`](RecordReader::for_each_record), each outline followed by its record
/// when it is asked for.
pub fn summarize_by_streaming<R: RecordReader + ?Sized>(
    reader: &mut R,
    kind: EntityKind,
    filter: &RunFilter,
    summary: &mut dyn Summarize,
) -> Result<(), StoreError> {
    let mut index = 0;
    reader.for_each_record(kind, filter, &mut |record| {
        if summary.outline(index, RecordOutline::of(&record)) {
            summary.record(index, record);
        }
        index += 1;
        ControlFlow::Continue(())
    })
}
