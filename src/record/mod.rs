//! Execution records: what the layer writes for every pipeline, process and step.
//!
//! One record type, [`ExecutionRecord`], for the three kinds of entity (its [`EntityKind`] is
//! data, as an OpenTelemetry `SpanData` carries its span kind), made of the parts the kinds
//! share: the [`RunContext`] the entity belongs to, its [`Outcome`] (status, duration,
//! [`ErrorDetails`]) and, for pipelines and processes, the [`RootCause`] of a failure.
//!
//! Stores keep the records as the tables `pipeline_runs`, `process_runs` and `step_runs`, with
//! the field names of the Python `ExecutionRecordsObserver` this crate ports as columns (plus
//! `trace_id`/`span_id`, the OpenTelemetry span of the entity as lower-case hex when exported,
//! `last_attempt` and `recorder_id`); the columns are described once, in `columns`.
//!
//! Every entity produces a *start* record ([`Phase::Start`], event `*_start`, status
//! [`RunStatus::Running`], no duration) when its span opens and an *end* record
//! ([`Phase::End`], `*_end`) when its span closes. Stores that can update keep one row per
//! entity — an end record always wins over a start record, whatever order they arrive in (see
//! [`ExecutionRecord::supersedes`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod build;
pub(crate) mod columns;
pub(crate) mod rfc3339;
mod serde_impl;

#[cfg(test)]
pub(crate) use serde_impl::Columns;
pub(crate) use serde_impl::RecordSeed;

/// Status of a run of a pipeline, process or step.
///
/// Serialised lower-case: `"running"`, `"success"`, `"failed"`, `"cancelled"`. New statuses
/// may be added: a `match` needs a catch-all arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RunStatus {
    /// The entity has started and not ended (or its process died before it ended).
    Running,
    /// The entity ended without an error.
    Success,
    /// The entity, or an entity inside it, recorded an error or panicked.
    Failed,
    /// The entity's future was dropped before it completed (a timeout, `select!`, an aborted
    /// task): only for entities that track their completion (see
    /// [`guide::conventions`](crate::guide::conventions)), and only when nothing failed them.
    Cancelled,
}

impl RunStatus {
    /// Every status.
    pub const ALL: [RunStatus; 4] = [
        RunStatus::Running,
        RunStatus::Success,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ];

    /// The lower-case name used in stores and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Success => "success",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

/// Which end of an entity's life a record was written at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The span opened: the entity is running.
    Start,
    /// The span closed: the entity ended.
    End,
}

impl Phase {
    /// Whether a record of this phase replaces one of `existing` (of the same entity) in a
    /// store that keeps one row per entity: an end record replaces anything, a start record
    /// only another start record. So an end record that overtakes its start record is never
    /// overwritten.
    pub const fn supersedes(self, existing: Phase) -> bool {
        matches!(self, Phase::End) || matches!(existing, Phase::Start)
    }
}

/// The lifecycle event a record was written for: its kind and phase, as one name.
///
/// Serialised as in the seed: `"pipeline_start"`, `"pipeline_end"`, `"process_start"`,
/// `"process_end"`, `"step_start"`, `"step_end"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventName {
    /// A pipeline span opened.
    PipelineStart,
    /// A pipeline span closed.
    PipelineEnd,
    /// A process span opened.
    ProcessStart,
    /// A process span closed.
    ProcessEnd,
    /// A step span opened.
    StepStart,
    /// A step span closed.
    StepEnd,
}

impl EventName {
    /// Every event.
    pub const ALL: [EventName; 6] = [
        EventName::PipelineStart,
        EventName::PipelineEnd,
        EventName::ProcessStart,
        EventName::ProcessEnd,
        EventName::StepStart,
        EventName::StepEnd,
    ];

    /// The event of a record of `kind` written at `phase`.
    pub const fn new(kind: EntityKind, phase: Phase) -> Self {
        match (kind, phase) {
            (EntityKind::Pipeline, Phase::Start) => EventName::PipelineStart,
            (EntityKind::Pipeline, Phase::End) => EventName::PipelineEnd,
            (EntityKind::Process, Phase::Start) => EventName::ProcessStart,
            (EntityKind::Process, Phase::End) => EventName::ProcessEnd,
            (EntityKind::Step, Phase::Start) => EventName::StepStart,
            (EntityKind::Step, Phase::End) => EventName::StepEnd,
        }
    }

    /// The kind of entity of the event.
    pub const fn kind(self) -> EntityKind {
        match self {
            EventName::PipelineStart | EventName::PipelineEnd => EntityKind::Pipeline,
            EventName::ProcessStart | EventName::ProcessEnd => EntityKind::Process,
            EventName::StepStart | EventName::StepEnd => EntityKind::Step,
        }
    }

    /// The phase of the event.
    pub const fn phase(self) -> Phase {
        match self {
            EventName::PipelineStart | EventName::ProcessStart | EventName::StepStart => {
                Phase::Start
            }
            EventName::PipelineEnd | EventName::ProcessEnd | EventName::StepEnd => Phase::End,
        }
    }

    /// The snake-case name used in stores.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventName::PipelineStart => "pipeline_start",
            EventName::PipelineEnd => "pipeline_end",
            EventName::ProcessStart => "process_start",
            EventName::ProcessEnd => "process_end",
            EventName::StepStart => "step_start",
            EventName::StepEnd => "step_end",
        }
    }

    /// `true` for the `*_end` events.
    pub const fn is_end(self) -> bool {
        matches!(self.phase(), Phase::End)
    }

    /// Whether a record with this event replaces one with `existing` (of the same entity): see
    /// [`Phase::supersedes`].
    pub const fn supersedes(self, existing: EventName) -> bool {
        self.phase().supersedes(existing.phase())
    }
}

/// `Display` (the name, padded as asked) and `FromStr` (from the name) of the enums named in
/// stores, from their `as_str` and `ALL`.
macro_rules! named {
    ($($ty:ident: $what:literal),* $(,)?) => {$(
        display_as_str!($ty);

        impl std::str::FromStr for $ty {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $ty::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| UnknownName::new($what, s))
            }
        }
    )*};
}

named!(RunStatus: "run status", EventName: "event name", EntityKind: "entity kind");

/// A string that is not the name of any [`RunStatus`], [`EventName`] or [`EntityKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownName {
    what: &'static str,
    value: String,
}

impl UnknownName {
    fn new(what: &'static str, value: &str) -> Self {
        Self {
            what,
            value: value.to_owned(),
        }
    }
}

/// Which of the three kinds of entity a record is of, and so which table it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    /// `pipeline_runs`.
    Pipeline,
    /// `process_runs`.
    Process,
    /// `step_runs`.
    Step,
}

impl EntityKind {
    /// The three kinds, in table order.
    pub const ALL: [EntityKind; 3] = [EntityKind::Pipeline, EntityKind::Process, EntityKind::Step];

    /// `"pipeline"`, `"process"` or `"step"`: the value of the `etl.kind` attribute, and the
    /// name of the column that holds the entity's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            EntityKind::Pipeline => "pipeline",
            EntityKind::Process => "process",
            EntityKind::Step => "step",
        }
    }

    /// The table name: `pipeline_runs`, `process_runs` or `step_runs`.
    pub const fn table(self) -> &'static str {
        match self {
            EntityKind::Pipeline => "pipeline_runs",
            EntityKind::Process => "process_runs",
            EntityKind::Step => "step_runs",
        }
    }

    /// 0, 1 or 2, in table order.
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

/// The run an entity belongs to: processes and steps inherit it from their nearest pipeline
/// ancestor (as the seed's `RunContext`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunContext {
    /// Id of the pipeline run (`etl.run_id`, or a fresh UUID v7).
    pub run_id: String,
    /// Optional correlation id (`etl.correlation_id`).
    pub correlation_id: Option<String>,
    /// Attempt number, ≥ 1 (`etl.attempt`, default 1).
    pub attempt: u32,
    /// Whether this is the last attempt the caller will make (`etl.last_attempt`, default true).
    pub last_attempt: bool,
}

impl RunContext {
    /// Attempt 1 of run `run_id`, the last, without a correlation id.
    pub fn new(run_id: impl Into<String>) -> Self {
        RunContext {
            run_id: run_id.into(),
            correlation_id: None,
            attempt: 1,
            last_attempt: true,
        }
    }

    /// This context with `correlation_id`.
    #[must_use]
    pub fn with_correlation_id(mut self, correlation_id: impl Into<String>) -> Self {
        self.correlation_id = Some(correlation_id.into());
        self
    }

    /// This context as attempt `attempt`, the last one or not.
    #[must_use]
    pub fn with_attempt(mut self, attempt: u32, last_attempt: bool) -> Self {
        self.attempt = attempt;
        self.last_attempt = last_attempt;
        self
    }
}

/// How an entity ended, or that it has not: status, duration and error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outcome {
    /// Status at the time of the record.
    pub status: RunStatus,
    /// Milliseconds from open to close (monotonic clock); `None` while running, and for an
    /// entity nobody saw end (one reaped as abandoned).
    pub duration_ms: Option<u64>,
    /// The error that failed the entity: for a step its first error, for a process or pipeline
    /// the root cause's (see [`ExecutionRecord::root_cause`]) or its own. Empty otherwise.
    pub error: ErrorDetails,
}

impl Outcome {
    /// Status `running`, no duration, no error.
    pub fn running() -> Self {
        Outcome {
            status: RunStatus::Running,
            duration_ms: None,
            error: ErrorDetails::default(),
        }
    }
}

/// What is known of an error: the columns `error`, `error_type` and `error_message`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorDetails {
    /// Human-readable message (column `error_message`): `Display`, or an `error.message` /
    /// `exception.message` field.
    pub message: Option<String>,
    /// Type of the error (column `error_type`): an `error.type` / `exception.type` field, or
    /// the best the layer could derive.
    pub type_name: Option<String>,
    /// Full form (column `error`): the `error` field as recorded, `Debug` where given.
    pub full: Option<String>,
}

impl ErrorDetails {
    /// An error with a message, and nothing else known.
    pub fn new(message: impl Into<String>) -> Self {
        ErrorDetails {
            message: Some(message.into()),
            type_name: None,
            full: None,
        }
    }

    setters! {
        /// These details with the error's type.
        #[must_use]
        pub fn with_type(type_name: impl Into<String>) => type_name = Some(type_name.into());

        /// These details with the error's full form.
        #[must_use]
        pub fn with_full(full: impl Into<String>) => full = Some(full.into());
    }

    /// Whether nothing is known: no message, type or full form.
    pub fn is_empty(&self) -> bool {
        self.message.is_none() && self.type_name.is_none() && self.full.is_none()
    }
}

/// How much data an entity read and wrote, and which datasets: the columns `rows_in`,
/// `rows_out`, `inputs` and `outputs` (`etl.rows_in`, `etl.rows_out`, `etl.inputs`,
/// `etl.outputs` on its span, see [`guide::conventions`](crate::guide::conventions)).
///
/// Everything is optional: rows not given are `None` (NULL in the stores, absent from JSON),
/// datasets not given are empty lists. Dataset names are free text, typically a URI
/// (`postgres://warehouse/sales.orders`, `s3://bucket/key`) or a path, kept in the order they
/// were given, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Volume {
    /// Rows the entity read (column `rows_in`).
    pub rows_in: Option<u64>,
    /// Rows the entity wrote (column `rows_out`).
    pub rows_out: Option<u64>,
    /// Datasets the entity read from (column `inputs`).
    pub inputs: Vec<String>,
    /// Datasets the entity wrote to (column `outputs`).
    pub outputs: Vec<String>,
}

impl Volume {
    /// Nothing known: no rows, no datasets.
    pub fn new() -> Self {
        Volume::default()
    }

    /// Whether nothing is known: no rows and no datasets.
    pub fn is_empty(&self) -> bool {
        self.rows_in.is_none()
            && self.rows_out.is_none()
            && self.inputs.is_empty()
            && self.outputs.is_empty()
    }

    setters! {
        /// This volume with `rows` read.
        #[must_use]
        pub fn with_rows_in(rows: u64) => rows_in = Some(rows);

        /// This volume with `rows` written.
        #[must_use]
        pub fn with_rows_out(rows: u64) => rows_out = Some(rows);
    }

    /// This volume with `dataset` among its inputs (once).
    #[must_use]
    pub fn with_input(mut self, dataset: impl Into<String>) -> Self {
        push_dataset(&mut self.inputs, dataset.into());
        self
    }

    /// This volume with `dataset` among its outputs (once).
    #[must_use]
    pub fn with_output(mut self, dataset: impl Into<String>) -> Self {
        push_dataset(&mut self.outputs, dataset.into());
        self
    }
}

/// Adds `dataset` to `list` unless it is there already.
pub(crate) fn push_dataset(list: &mut Vec<String>, dataset: String) {
    if !list.contains(&dataset) {
        list.push(dataset);
    }
}

/// The first step that failed inside a pipeline or process: columns `failed_step_run_id` and
/// `failed_step`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RootCause {
    /// `step_run_id` of the step.
    pub step_run_id: String,
    /// Name of the step.
    pub step: String,
}

impl RootCause {
    /// Step `step` with id `step_run_id`.
    pub fn new(step_run_id: impl Into<String>, step: impl Into<String>) -> Self {
        RootCause {
            step_run_id: step_run_id.into(),
            step: step.into(),
        }
    }
}

/// The record of one run of a pipeline, process or step, at its start or its end.
///
/// Keyed in stores by `(run_id, attempt)` for pipelines, `process_run_id` for processes and
/// `step_run_id` for steps (see [`key`](Self::key)). Made by the layer, or by hand with
/// [`pipeline_start`](Self::pipeline_start), [`process_start`](Self::process_start) or
/// [`step_start`](Self::step_start) and the `with_*` methods: the type is `#[non_exhaustive]`,
/// so that a field added later is not a breaking change.
///
/// Serialised (`serde`) as one flat object: `kind`, then the columns of the record's table
/// under their seed names (`event`, `run_id`, `correlation_id`, `attempt`, …, `started_at` as
/// RFC 3339, `status`, `duration_ms`, `error`, `error_type`, `error_message`, …), as the JSON
/// Lines store writes them (without `kind`, which is the file). The [`Volume`] columns
/// (`rows_in`, `rows_out` integers, `inputs`, `outputs` arrays of strings) are left out while
/// not given, so that a record without them has the form earlier releases wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecutionRecord {
    /// Pipeline, process or step.
    pub kind: EntityKind,
    /// Written when the span opened or when it closed; with the kind, the record's
    /// [`event`](Self::event).
    pub phase: Phase,
    /// The run the entity belongs to.
    pub run: RunContext,
    /// Name of the pipeline, process or step (column `pipeline`, `process` or `step`).
    pub name: String,
    /// For a process its own id (UUID v7); for a step the id of the nearest enclosing process,
    /// if any; `None` for a pipeline.
    pub process_run_id: Option<String>,
    /// For a step its id (UUID v7); `None` otherwise.
    pub step_run_id: Option<String>,
    /// When the span opened.
    pub started_at: DateTime<Utc>,
    /// Status, duration and error at the time of the record.
    pub outcome: Outcome,
    /// For a failed pipeline or process, the first step that failed inside it, when the
    /// failure came from a step. Steps have none (stores do not keep it for them).
    pub root_cause: Option<RootCause>,
    /// OpenTelemetry trace id (hex) of the exported span.
    pub trace_id: Option<String>,
    /// OpenTelemetry span id (hex) of the exported span.
    pub span_id: Option<String>,
    /// Id of the writer that recorded the entity (see [`RecorderHeartbeat`]), which tells a
    /// live run from one whose process died.
    pub recorder_id: Option<String>,
    /// Rows read and written, and the datasets read and written, as far as given.
    pub volume: Volume,
}

/// The key that identifies an entity in its table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKey {
    /// `(run_id, attempt)` of a pipeline run.
    Pipeline(String, u32),
    /// `process_run_id` of a process run.
    Process(String),
    /// `step_run_id` of a step run.
    Step(String),
}

impl ExecutionRecord {
    /// The kind of entity (the table the record belongs to).
    pub fn kind(&self) -> EntityKind {
        self.kind
    }

    /// The lifecycle event of the record: its kind and phase.
    pub fn event(&self) -> EventName {
        EventName::new(self.kind, self.phase)
    }

    /// The status carried by the record.
    pub fn status(&self) -> RunStatus {
        self.outcome.status
    }

    /// The run id the record belongs to.
    pub fn run_id(&self) -> &str {
        &self.run.run_id
    }

    /// The entity's own id: `process_run_id` of a process, `step_run_id` of a step (`None` for
    /// a pipeline, keyed by run id and attempt).
    pub fn entity_id(&self) -> Option<&str> {
        match self.kind {
            EntityKind::Pipeline => None,
            EntityKind::Process => self.process_run_id.as_deref(),
            EntityKind::Step => self.step_run_id.as_deref(),
        }
    }

    /// The key of the entity in its table (a missing id counts as empty).
    pub fn key(&self) -> EntityKey {
        let id = || self.entity_id().unwrap_or_default().to_owned();
        match self.kind {
            EntityKind::Pipeline => EntityKey::Pipeline(self.run.run_id.clone(), self.run.attempt),
            EntityKind::Process => EntityKey::Process(id()),
            EntityKind::Step => EntityKey::Step(id()),
        }
    }

    /// `failed_step` of the record: the name of its [`root_cause`](Self::root_cause).
    pub fn failed_step(&self) -> Option<&str> {
        self.root_cause.as_ref().map(|c| c.step.as_str())
    }

    /// `failed_step_run_id` of the record: the id of its [`root_cause`](Self::root_cause).
    pub fn failed_step_run_id(&self) -> Option<&str> {
        self.root_cause.as_ref().map(|c| c.step_run_id.as_str())
    }

    /// `rows_in` of the record: the rows the entity read, if given.
    pub fn rows_in(&self) -> Option<u64> {
        self.volume.rows_in
    }

    /// `rows_out` of the record: the rows the entity wrote, if given.
    pub fn rows_out(&self) -> Option<u64> {
        self.volume.rows_out
    }

    /// `inputs` of the record: the datasets the entity read from (empty if none given).
    pub fn inputs(&self) -> &[String] {
        &self.volume.inputs
    }

    /// `outputs` of the record: the datasets the entity wrote to (empty if none given).
    pub fn outputs(&self) -> &[String] {
        &self.volume.outputs
    }

    /// Whether this record replaces `existing` (a record of the same entity) in a store that
    /// keeps one row per entity: see [`Phase::supersedes`].
    pub fn supersedes(&self, existing: &ExecutionRecord) -> bool {
        self.phase.supersedes(existing.phase)
    }
}

/// The heartbeat of a record writer: who is recording, and whether it is still alive.
///
/// Every writer beats into its store (table `recorders`) when it starts, every
/// `beat_interval_ms` while it runs, and once more with `stopped_at` when it shuts down. An
/// entity still `running` whose recorder has stopped, or has not beaten for a few intervals, was
/// abandoned by a process that crashed or was killed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecorderHeartbeat {
    /// Id of the writer (UUID v7), the `recorder_id` of the records it writes.
    pub recorder_id: String,
    /// Host name of the machine the writer runs on.
    pub host: String,
    /// Process id of the writer's process.
    pub pid: u32,
    /// When the writer started.
    pub started_at: DateTime<Utc>,
    /// The latest beat.
    pub last_beat_at: DateTime<Utc>,
    /// How often the writer beats, in milliseconds.
    pub beat_interval_ms: u64,
    /// When the writer shut down cleanly; `None` while it runs (or if it died).
    pub stopped_at: Option<DateTime<Utc>>,
}

impl RecorderHeartbeat {
    /// Whether the writer was alive at `now`: not stopped, and beaten within three intervals
    /// (at least `min_grace`, to absorb clock skew and slow stores).
    pub fn is_alive(&self, now: DateTime<Utc>, min_grace: std::time::Duration) -> bool {
        if self.stopped_at.is_some() {
            return false;
        }
        let grace = std::time::Duration::from_millis(self.beat_interval_ms.saturating_mul(3))
            .max(min_grace);
        let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        now.signed_duration_since(self.last_beat_at) <= grace
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_serialise_exactly_as_chrono_does() {
        use chrono::TimeZone;

        let mut cases: Vec<DateTime<Utc>> = vec![
            Utc::now(),
            Utc.timestamp_opt(0, 0).unwrap(),
            Utc.timestamp_opt(1_700_000_000, 120_000_000).unwrap(),
            Utc.timestamp_opt(1_700_000_000, 120_500_000).unwrap(),
            Utc.timestamp_opt(1_700_000_000, 7).unwrap(),
            Utc.timestamp_opt(1_700_000_000, 999_999_999).unwrap(),
            // A leap second.
            Utc.timestamp_opt(1_483_228_799, 1_500_000_000).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(33, 3, 3, 3, 3, 3).unwrap(),
        ];
        // A deterministic spread of seconds and fractions.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = (x % 400_000_000_000) as i64 - 62_000_000_000;
            let nanos = match x % 4 {
                0 => 0,
                1 => (x >> 20) as u32 % 1000 * 1_000_000,
                2 => (x >> 20) as u32 % 1_000_000 * 1000,
                _ => (x >> 20) as u32 % 1_000_000_000,
            };
            cases.push(Utc.timestamp_opt(secs, nanos).unwrap());
        }
        for t in cases {
            let mut buf = [0u8; 30];
            let ours = match rfc3339::format(&t, rfc3339::Fraction::Auto, &mut buf) {
                Some(text) => format!("\"{text}\""),
                None => serde_json::to_string(&t).unwrap(),
            };
            assert_eq!(ours, serde_json::to_string(&t).unwrap(), "{t:?}");
            let nanos = t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            if (0..=9999).contains(&chrono::Datelike::year(&t)) {
                // Read back as chrono reads it, with every number of fraction digits.
                let text: String = serde_json::from_str(&ours).unwrap();
                assert_eq!(rfc3339::parse(&text).unwrap(), t, "{text}");
                assert_eq!(rfc3339::parse(&nanos).unwrap(), t, "{nanos}");
                for digits in 1..=9 {
                    let text = format!("{}Z", &nanos[..nanos.len() - 10 + digits]);
                    let chrono = text.parse::<DateTime<chrono::FixedOffset>>().unwrap();
                    assert_eq!(rfc3339::parse(&text).unwrap(), chrono, "{text}");
                }
            }
            match rfc3339::format(&t, rfc3339::Fraction::Nanos, &mut buf) {
                Some(text) => assert_eq!(text, nanos, "{t:?}"),
                None => assert!(nanos.starts_with(['+', '-']), "{t:?}: {nanos}"),
            }
        }
    }

    #[test]
    fn status_and_event_serialise_as_in_the_seed() {
        assert_eq!(
            serde_json::to_string(&RunStatus::Failed).unwrap(),
            "\"failed\""
        );
        assert_eq!(
            serde_json::to_string(&EventName::PipelineStart).unwrap(),
            "\"pipeline_start\""
        );
        for e in EventName::ALL {
            assert_eq!(e.as_str().parse::<EventName>().unwrap(), e);
            assert_eq!(
                serde_json::to_string(&e).unwrap(),
                format!("\"{}\"", e.as_str())
            );
            assert_eq!(EventName::new(e.kind(), e.phase()), e);
        }
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>().unwrap(), s);
        }
        for k in EntityKind::ALL {
            assert_eq!(k.as_str().parse::<EntityKind>().unwrap(), k);
        }
        let e = "nope".parse::<RunStatus>().unwrap_err();
        assert_eq!(e.to_string(), "unknown run status \"nope\"");
    }
}
