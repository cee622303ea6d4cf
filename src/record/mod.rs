//! Execution records: what the layer writes for every pipeline, process and step.
//!
//! Field names and meanings follow the Python `ExecutionRecordsObserver` this crate ports, plus
//! `trace_id`/`span_id` (the OpenTelemetry span of the entity, as lower-case hex, when exported)
//! and `last_attempt` on pipelines.
//!
//! Every entity produces a *start* record (`*_start`, status [`RunStatus::Running`], no duration)
//! when its span opens and an *end* record (`*_end`) when its span closes. Stores that can update
//! keep one row per entity — an end record always wins over a start record, whatever order they
//! arrive in (see [`ExecutionRecord::supersedes`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Status of a run of a pipeline, process or step.
///
/// Serialised lower-case: `"running"`, `"success"`, `"failed"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// The entity has started and not ended (or its process died before it ended).
    Running,
    /// The entity ended without an error.
    Success,
    /// The entity, or an entity inside it, recorded an error or panicked.
    Failed,
}

impl RunStatus {
    /// The lower-case name used in stores and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Success => "success",
            RunStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for RunStatus {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "running" => Ok(RunStatus::Running),
            "success" => Ok(RunStatus::Success),
            "failed" => Ok(RunStatus::Failed),
            other => Err(UnknownName::new("run status", other)),
        }
    }
}

/// The lifecycle event a record was written for.
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
        matches!(
            self,
            EventName::PipelineEnd | EventName::ProcessEnd | EventName::StepEnd
        )
    }

    /// Whether a record with this event replaces one with `existing` (of the same entity) in a
    /// store that keeps one row per entity: an end record replaces anything, a start record only
    /// another start record. So an end record that overtakes its start record is never
    /// overwritten.
    pub const fn supersedes(self, existing: EventName) -> bool {
        self.is_end() || !existing.is_end()
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for EventName {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pipeline_start" => EventName::PipelineStart,
            "pipeline_end" => EventName::PipelineEnd,
            "process_start" => EventName::ProcessStart,
            "process_end" => EventName::ProcessEnd,
            "step_start" => EventName::StepStart,
            "step_end" => EventName::StepEnd,
            other => return Err(UnknownName::new("event name", other)),
        })
    }
}

/// A string that is not the name of any [`RunStatus`] or [`EventName`].
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

/// The run an entity belongs to: inherited by processes and steps from their nearest pipeline
/// ancestor (and `process_run_id` from the nearest process ancestor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunContext {
    /// Id of the pipeline run (`etl.run_id`, or a fresh UUID v7).
    pub run_id: String,
    /// Optional correlation id (`etl.correlation_id`).
    pub correlation_id: Option<String>,
    /// Attempt number, ≥ 1 (`etl.attempt`, default 1).
    pub attempt: u32,
    /// Whether this is the last attempt the caller will make (`etl.last_attempt`, default true).
    pub last_attempt: bool,
    /// Id of the nearest enclosing process run, if any.
    pub process_run_id: Option<String>,
}

/// The record of one run of a pipeline.
///
/// Keyed by `(run_id, attempt)` in stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineRunRecord {
    /// `pipeline_start` or `pipeline_end`.
    pub event: EventName,
    /// Id of the run.
    pub run_id: String,
    /// Correlation id given by the caller, if any.
    pub correlation_id: Option<String>,
    /// Attempt number, ≥ 1.
    pub attempt: u32,
    /// Whether the caller marked this attempt as its last.
    pub last_attempt: bool,
    /// Pipeline name.
    pub pipeline: String,
    /// When the pipeline span opened.
    #[serde(serialize_with = "rfc3339::serialize")]
    pub started_at: DateTime<Utc>,
    /// Status at the time of the record.
    pub status: RunStatus,
    /// Milliseconds from open to close (monotonic clock); `None` while running.
    pub duration_ms: Option<u64>,
    /// Full form of the root-cause error (the `error` field as recorded).
    pub error: Option<String>,
    /// Type of the root-cause error.
    pub error_type: Option<String>,
    /// Human-readable message of the root-cause error.
    pub error_message: Option<String>,
    /// `step_run_id` of the first failed step (the root cause).
    pub failed_step_run_id: Option<String>,
    /// Name of the first failed step (the root cause).
    pub failed_step: Option<String>,
    /// OpenTelemetry trace id (hex) of the exported span.
    pub trace_id: Option<String>,
    /// OpenTelemetry span id (hex) of the exported span.
    pub span_id: Option<String>,
    /// Id of the writer that recorded the entity (see [`RecorderHeartbeat`]), which tells a
    /// live run from one whose process died.
    pub recorder_id: Option<String>,
}

/// The record of one run of a process inside a pipeline run.
///
/// Keyed by `process_run_id` in stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRunRecord {
    /// `process_start` or `process_end`.
    pub event: EventName,
    /// Id of the pipeline run this process belongs to.
    pub run_id: String,
    /// Correlation id of the run.
    pub correlation_id: Option<String>,
    /// Attempt number of the run.
    pub attempt: u32,
    /// Id of this process run (UUID v7).
    pub process_run_id: String,
    /// Process name.
    pub process: String,
    /// When the process span opened.
    #[serde(serialize_with = "rfc3339::serialize")]
    pub started_at: DateTime<Utc>,
    /// Status at the time of the record.
    pub status: RunStatus,
    /// Milliseconds from open to close (monotonic clock); `None` while running.
    pub duration_ms: Option<u64>,
    /// Full form of the root-cause error.
    pub error: Option<String>,
    /// Type of the root-cause error.
    pub error_type: Option<String>,
    /// Human-readable message of the root-cause error.
    pub error_message: Option<String>,
    /// `step_run_id` of the first failed step inside this process.
    pub failed_step_run_id: Option<String>,
    /// Name of the first failed step inside this process.
    pub failed_step: Option<String>,
    /// OpenTelemetry trace id (hex) of the exported span.
    pub trace_id: Option<String>,
    /// OpenTelemetry span id (hex) of the exported span.
    pub span_id: Option<String>,
    /// Id of the writer that recorded the entity (see [`RecorderHeartbeat`]), which tells a
    /// live run from one whose process died.
    pub recorder_id: Option<String>,
}

/// The record of one run of a step.
///
/// Keyed by `step_run_id` in stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRunRecord {
    /// `step_start` or `step_end`.
    pub event: EventName,
    /// Id of the pipeline run this step belongs to.
    pub run_id: String,
    /// Correlation id of the run.
    pub correlation_id: Option<String>,
    /// Attempt number of the run.
    pub attempt: u32,
    /// Id of this step run (UUID v7).
    pub step_run_id: String,
    /// Step name.
    pub step: String,
    /// When the step span opened.
    #[serde(serialize_with = "rfc3339::serialize")]
    pub started_at: DateTime<Utc>,
    /// Status at the time of the record.
    pub status: RunStatus,
    /// Milliseconds from open to close (monotonic clock); `None` while running.
    pub duration_ms: Option<u64>,
    /// Full form of the step's first error (the `error` field as recorded, `Debug` where given).
    pub error: Option<String>,
    /// Id of the nearest enclosing process run, if any.
    pub process_run_id: Option<String>,
    /// Type of the step's first error.
    pub error_type: Option<String>,
    /// Human-readable message of the step's first error.
    pub error_message: Option<String>,
    /// OpenTelemetry trace id (hex) of the exported span.
    pub trace_id: Option<String>,
    /// OpenTelemetry span id (hex) of the exported span.
    pub span_id: Option<String>,
    /// Id of the writer that recorded the entity (see [`RecorderHeartbeat`]), which tells a
    /// live run from one whose process died.
    pub recorder_id: Option<String>,
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

/// Which of the three tables a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    /// `pipeline_runs`.
    Pipeline,
    /// `process_runs`.
    Process,
    /// `step_runs`.
    Step,
}

impl EntityKind {
    /// `"pipeline"`, `"process"` or `"step"`: the value of the `etl.kind` attribute.
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
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Any of the three records, as the layer hands them to a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ExecutionRecord {
    /// A pipeline record.
    Pipeline(PipelineRunRecord),
    /// A process record.
    Process(ProcessRunRecord),
    /// A step record.
    Step(StepRunRecord),
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
    /// The table this record belongs to.
    pub fn kind(&self) -> EntityKind {
        match self {
            ExecutionRecord::Pipeline(_) => EntityKind::Pipeline,
            ExecutionRecord::Process(_) => EntityKind::Process,
            ExecutionRecord::Step(_) => EntityKind::Step,
        }
    }

    /// The lifecycle event of the record.
    pub fn event(&self) -> EventName {
        match self {
            ExecutionRecord::Pipeline(r) => r.event,
            ExecutionRecord::Process(r) => r.event,
            ExecutionRecord::Step(r) => r.event,
        }
    }

    /// The status carried by the record.
    pub fn status(&self) -> RunStatus {
        match self {
            ExecutionRecord::Pipeline(r) => r.status,
            ExecutionRecord::Process(r) => r.status,
            ExecutionRecord::Step(r) => r.status,
        }
    }

    /// The run id the record belongs to.
    pub fn run_id(&self) -> &str {
        match self {
            ExecutionRecord::Pipeline(r) => &r.run_id,
            ExecutionRecord::Process(r) => &r.run_id,
            ExecutionRecord::Step(r) => &r.run_id,
        }
    }

    /// The key of the entity in its table.
    pub fn key(&self) -> EntityKey {
        match self {
            ExecutionRecord::Pipeline(r) => EntityKey::Pipeline(r.run_id.clone(), r.attempt),
            ExecutionRecord::Process(r) => EntityKey::Process(r.process_run_id.clone()),
            ExecutionRecord::Step(r) => EntityKey::Step(r.step_run_id.clone()),
        }
    }

    /// Whether this record replaces `existing` (a record of the same entity) in a store that
    /// keeps one row per entity: see [`EventName::supersedes`].
    pub fn supersedes(&self, existing: &ExecutionRecord) -> bool {
        self.event().supersedes(existing.event())
    }
}

impl From<PipelineRunRecord> for ExecutionRecord {
    fn from(r: PipelineRunRecord) -> Self {
        ExecutionRecord::Pipeline(r)
    }
}

impl From<ProcessRunRecord> for ExecutionRecord {
    fn from(r: ProcessRunRecord) -> Self {
        ExecutionRecord::Process(r)
    }
}

impl From<StepRunRecord> for ExecutionRecord {
    fn from(r: StepRunRecord) -> Self {
        ExecutionRecord::Step(r)
    }
}

/// Timestamps written exactly as `chrono` writes them (RFC 3339, UTC as `Z`), without going
/// through `fmt`: serialising a record is mostly its timestamp otherwise, and the stores write
/// millions of records a second.
mod build;

pub(crate) mod rfc3339 {
    use chrono::{DateTime, Datelike, Timelike, Utc};
    use serde::{Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 30];
        match format(t, Fraction::Auto, &mut buf) {
            Some(text) => s.serialize_str(text),
            None => t.serialize(s),
        }
    }

    /// How many fraction digits to write.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Fraction {
        /// 0, 3, 6 or 9 digits, the fewest that keep the value: `chrono`'s serde format
        /// (`SecondsFormat::AutoSi`).
        Auto,
        /// Always 9 digits, so that text order is time order (`SecondsFormat::Nanos`).
        Nanos,
    }

    /// `t` as chrono writes it with `fraction` digits, or `None` for years it writes with a
    /// sign (outside 0 to 9999).
    pub(crate) fn format<'a>(
        t: &DateTime<Utc>,
        fraction: Fraction,
        buf: &'a mut [u8; 30],
    ) -> Option<&'a str> {
        // The accessors of `DateTime<Utc>` each add the (zero) offset again: read them from
        // the naive date and time once.
        let t = t.naive_utc();
        let year = t.year();
        if !(0..=9999).contains(&year) {
            return None;
        }
        let (mut sec, mut nano) = (t.second(), t.nanosecond());
        if nano >= 1_000_000_000 {
            // A leap second: chrono writes it as second 60.
            sec += 1;
            nano -= 1_000_000_000;
        }
        let two = |buf: &mut [u8], at: usize, v: u32| {
            buf[at] = b'0' + (v / 10 % 10) as u8;
            buf[at + 1] = b'0' + (v % 10) as u8;
        };
        let year = year as u32;
        two(buf, 0, year / 100);
        two(buf, 2, year % 100);
        buf[4] = b'-';
        two(buf, 5, t.month());
        buf[7] = b'-';
        two(buf, 8, t.day());
        buf[10] = b'T';
        two(buf, 11, t.hour());
        buf[13] = b':';
        two(buf, 14, t.minute());
        buf[16] = b':';
        two(buf, 17, sec);
        let mut len = 19;
        let (digits, mut frac) = if fraction == Fraction::Nanos {
            (9, nano)
        } else if nano == 0 {
            (0, 0)
        } else if nano % 1_000_000 == 0 {
            (3, nano / 1_000_000)
        } else if nano % 1_000 == 0 {
            (6, nano / 1_000)
        } else {
            (9, nano)
        };
        if digits > 0 {
            buf[len] = b'.';
            for i in (0..digits).rev() {
                buf[len + 1 + i] = b'0' + (frac % 10) as u8;
                frac /= 10;
            }
            len += 1 + digits;
        }
        buf[len] = b'Z';
        std::str::from_utf8(&buf[..=len]).ok()
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
        for e in [
            EventName::PipelineStart,
            EventName::PipelineEnd,
            EventName::ProcessStart,
            EventName::ProcessEnd,
            EventName::StepStart,
            EventName::StepEnd,
        ] {
            assert_eq!(e.as_str().parse::<EventName>().unwrap(), e);
            assert_eq!(
                serde_json::to_string(&e).unwrap(),
                format!("\"{}\"", e.as_str())
            );
        }
        assert!("nope".parse::<RunStatus>().is_err());
    }
}
