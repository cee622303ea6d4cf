//! The columns of the three record tables, described once.
//!
//! Each entry of [`COLUMNS`] says what a column is called, what type it has (which each store
//! maps to its own types), which tables have it and since which schema version, whether it may
//! be NULL, and how to get its value from an [`ExecutionRecord`] and set it back when reading a
//! row. The SQL stores' DDL, migrations, upserts, selects and bindings, the JSON Lines lines
//! and the records' `serde` form (which the command-line tool prints) all come from this table,
//! in its order: adding a column is one entry here (with its field on the record) and, for the
//! SQL stores, a [`SCHEMA_VERSION`] bump.

use chrono::{DateTime, Utc};

use super::{EntityKind, ExecutionRecord, RootCause, RunContext, RunStatus};

/// The schema version of the SQL stores that this table describes: the highest `since` of any
/// column. Both SQL stores write it (`SQLITE_SCHEMA_VERSION`, `POSTGRES_SCHEMA_VERSION`).
///
/// - 1: the first release.
/// - 2: `last_attempt` on `process_runs` and `step_runs` (every record carries its run's).
pub(crate) const SCHEMA_VERSION: u32 = 2;

/// What a column holds; each store maps it to a type of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnType {
    /// Text.
    Text,
    /// The record's [`EventName`](super::EventName) as text.
    Event,
    /// A [`RunStatus`] as text.
    Status,
    /// A count (attempt, milliseconds): non-negative, 64 bits in SQL.
    Integer,
    /// A bool.
    Bool,
    /// A point in time (UTC).
    Time,
}

/// A column's value in a record, as a store writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    Null,
    Text(&'a str),
    Integer(u64),
    Bool(bool),
    Time(DateTime<Utc>),
}

/// A column's value as a store read it, to set on a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cell {
    Null,
    Text(String),
    /// Wide enough for what any store keeps (`i64` in SQL, `u64` in JSON).
    Integer(i128),
    Bool(bool),
    Time(DateTime<Utc>),
}

/// One column of the record tables.
#[derive(Debug)]
pub(crate) struct Column {
    /// Its name in every store (table column, JSON key).
    pub(crate) name: &'static str,
    pub(crate) ty: ColumnType,
    /// Per kind, in [`EntityKind`] order: the schema version that added the column to that
    /// kind's table, 0 where the table has no such column.
    since: [u32; 3],
    /// Per kind: whether the column is never NULL (and must be present when a record is read).
    required: [bool; 3],
    /// What rows written before the column existed hold (`ADD COLUMN … DEFAULT`), and what a
    /// record read from them gets; `None`: NULL.
    pub(crate) default: Option<Value<'static>>,
    /// The value of a record.
    pub(crate) get: fn(&ExecutionRecord) -> Value<'_>,
    /// Sets the value read from a store on a record; the error says what is wrong with it.
    pub(crate) set: fn(&mut ExecutionRecord, Cell) -> Result<(), String>,
}

impl Column {
    /// Whether `kind`'s table has this column (in the current schema).
    pub(crate) fn has(&self, kind: EntityKind) -> bool {
        self.since[kind.index()] > 0
    }

    /// Whether `kind`'s table has this column in schema `version`.
    pub(crate) fn in_schema(&self, kind: EntityKind, version: u32) -> bool {
        let since = self.since[kind.index()];
        since > 0 && since <= version
    }

    /// The schema version that added this column to `kind`'s table (0: never).
    pub(crate) fn since(&self, kind: EntityKind) -> u32 {
        self.since[kind.index()]
    }

    /// Whether the column is never NULL in `kind`'s table.
    pub(crate) fn required(&self, kind: EntityKind) -> bool {
        self.required[kind.index()]
    }
}

/// The columns of `kind`'s table in the current schema, in table order.
pub(crate) fn of(kind: EntityKind) -> impl Iterator<Item = &'static Column> + Clone {
    COLUMNS.iter().filter(move |c| c.has(kind))
}

/// The columns of `kind`'s table in schema `version`, in table order.
pub(crate) fn in_schema(
    kind: EntityKind,
    version: u32,
) -> impl Iterator<Item = &'static Column> + Clone {
    COLUMNS.iter().filter(move |c| c.in_schema(kind, version))
}

/// The column called `name`, with its index in [`COLUMNS`].
pub(crate) fn named(name: &str) -> Option<(usize, &'static Column)> {
    COLUMNS.iter().enumerate().find(|(_, c)| c.name == name)
}

/// The record every read of a record of `kind` starts from: the columns read then replace
/// everything in it (optional columns a store did not have keep it empty).
pub(crate) fn blank(kind: EntityKind) -> ExecutionRecord {
    ExecutionRecord::started(
        kind,
        RunContext::new(""),
        String::new(),
        DateTime::default(),
    )
}

/// `value` as a store reads it back.
pub(crate) fn cell(value: Value<'_>) -> Cell {
    match value {
        Value::Null => Cell::Null,
        Value::Text(text) => Cell::Text(text.to_owned()),
        Value::Integer(n) => Cell::Integer(n.into()),
        Value::Bool(b) => Cell::Bool(b),
        Value::Time(t) => Cell::Time(t),
    }
}

/// The key columns of `kind`'s table.
pub(crate) const fn key(kind: EntityKind) -> &'static [&'static str] {
    match kind {
        EntityKind::Pipeline => &["run_id", "attempt"],
        EntityKind::Process => &["process_run_id"],
        EntityKind::Step => &["step_run_id"],
    }
}

/// Every table, since the first schema.
const ALL: [u32; 3] = [1, 1, 1];
/// Pipelines and processes (the root cause).
const NOT_STEPS: [u32; 3] = [1, 1, 0];
const ALWAYS: [bool; 3] = [true; 3];
const NULLABLE: [bool; 3] = [false; 3];

/// Every column of the three tables, in the order of the JSON Lines lines (and of the SQL
/// tables, after their key columns).
pub(crate) static COLUMNS: [Column; 21] = [
    Column {
        name: "event",
        ty: ColumnType::Event,
        since: ALL,
        required: ALWAYS,
        default: None,
        get: |r| Value::Text(r.event().as_str()),
        set: |r, cell| {
            let event: super::EventName = parse(text(cell)?)?;
            r.kind = event.kind();
            r.phase = event.phase();
            Ok(())
        },
    },
    Column {
        name: "run_id",
        ty: ColumnType::Text,
        since: ALL,
        required: ALWAYS,
        default: None,
        get: |r| Value::Text(&r.run.run_id),
        set: |r, cell| {
            r.run.run_id = text(cell)?;
            Ok(())
        },
    },
    Column {
        name: "correlation_id",
        ty: ColumnType::Text,
        since: ALL,
        required: NULLABLE,
        default: None,
        get: |r| optional(&r.run.correlation_id),
        set: |r, cell| {
            r.run.correlation_id = optional_text(cell)?;
            Ok(())
        },
    },
    Column {
        name: "attempt",
        ty: ColumnType::Integer,
        since: ALL,
        required: ALWAYS,
        default: None,
        get: |r| Value::Integer(r.run.attempt.into()),
        set: |r, cell| {
            let n = integer(cell)?.ok_or("is null")?;
            r.run.attempt = u32::try_from(n).map_err(|_| format!("{n} is out of range"))?;
            Ok(())
        },
    },
    Column {
        name: "last_attempt",
        ty: ColumnType::Bool,
        // Processes and steps carry their run's since version 2.
        since: [1, 2, 2],
        required: ALWAYS,
        default: Some(Value::Bool(true)),
        get: |r| Value::Bool(r.run.last_attempt),
        set: |r, cell| match cell {
            Cell::Bool(b) => {
                r.run.last_attempt = b;
                Ok(())
            }
            other => Err(mismatch("a bool", &other)),
        },
    },
    Column {
        name: "step_run_id",
        ty: ColumnType::Text,
        since: [0, 0, 1],
        required: [false, false, true],
        default: None,
        get: |r| optional(&r.step_run_id),
        set: |r, cell| {
            r.step_run_id = optional_text(cell)?;
            Ok(())
        },
    },
    Column {
        name: "pipeline",
        ty: ColumnType::Text,
        since: [1, 0, 0],
        required: ALWAYS,
        default: None,
        get: |r| Value::Text(&r.name),
        set: set_name,
    },
    Column {
        name: "process",
        ty: ColumnType::Text,
        since: [0, 1, 0],
        required: ALWAYS,
        default: None,
        get: |r| Value::Text(&r.name),
        set: set_name,
    },
    Column {
        name: "step",
        ty: ColumnType::Text,
        since: [0, 0, 1],
        required: ALWAYS,
        default: None,
        get: |r| Value::Text(&r.name),
        set: set_name,
    },
    Column {
        name: "process_run_id",
        ty: ColumnType::Text,
        since: [0, 1, 1],
        // A process's own id; a step's process, if any.
        required: [false, true, false],
        default: None,
        get: |r| optional(&r.process_run_id),
        set: |r, cell| {
            r.process_run_id = optional_text(cell)?;
            Ok(())
        },
    },
    Column {
        name: "started_at",
        ty: ColumnType::Time,
        since: ALL,
        required: ALWAYS,
        default: None,
        get: |r| Value::Time(r.started_at),
        set: |r, cell| match cell {
            Cell::Time(t) => {
                r.started_at = t;
                Ok(())
            }
            other => Err(mismatch("a time", &other)),
        },
    },
    Column {
        name: "status",
        ty: ColumnType::Status,
        since: ALL,
        required: ALWAYS,
        default: None,
        get: |r| Value::Text(r.outcome.status.as_str()),
        set: |r, cell| {
            r.outcome.status = parse::<RunStatus>(text(cell)?)?;
            Ok(())
        },
    },
    Column {
        name: "duration_ms",
        ty: ColumnType::Integer,
        since: ALL,
        required: NULLABLE,
        default: None,
        get: |r| r.outcome.duration_ms.map_or(Value::Null, Value::Integer),
        // A negative count (not one this crate writes) reads as 0.
        set: |r, cell| {
            r.outcome.duration_ms = integer(cell)?.map(|n| u64::try_from(n).unwrap_or(0));
            Ok(())
        },
    },
    Column {
        name: "error",
        ty: ColumnType::Text,
        since: ALL,
        required: NULLABLE,
        default: None,
        get: |r| optional(&r.outcome.error.full),
        set: |r, cell| {
            r.outcome.error.full = optional_text(cell)?;
            Ok(())
        },
    },
    Column {
        name: "error_type",
        ty: ColumnType::Text,
        since: ALL,
        required: NULLABLE,
        default: None,
        get: |r| optional(&r.outcome.error.type_name),
        set: |r, cell| {
            r.outcome.error.type_name = optional_text(cell)?;
            Ok(())
        },
    },
    Column {
        name: "error_message",
        ty: ColumnType::Text,
        since: ALL,
        required: NULLABLE,
        default: None,
        get: |r| optional(&r.outcome.error.message),
        set: |r, cell| {
            r.outcome.error.message = optional_text(cell)?;
            Ok(())
        },
    },
    Column {
        name: "failed_step_run_id",
        ty: ColumnType::Text,
        since: NOT_STEPS,
        required: NULLABLE,
        default: None,
        get: |r| root_cause(r, |c| &c.step_run_id),
        set: |r, cell| set_root_cause(r, cell, |c| &mut c.step_run_id),
    },
    Column {
        name: "failed_step",
        ty: ColumnType::Text,
        since: NOT_STEPS,
        required: NULLABLE,
        default: None,
        get: |r| root_cause(r, |c| &c.step),
        set: |r, cell| set_root_cause(r, cell, |c| &mut c.step),
    },
    Column {
        name: "trace_id",
        ty: ColumnType::Text,
        since: ALL,
        required: NULLABLE,
        default: None,
        get: |r| optional(&r.trace_id),
        set: |r, cell| {
            r.trace_id = optional_text(cell)?;
            Ok(())
        },
    },
    Column {
        name: "span_id",
        ty: ColumnType::Text,
        since: ALL,
        required: NULLABLE,
        default: None,
        get: |r| optional(&r.span_id),
        set: |r, cell| {
            r.span_id = optional_text(cell)?;
            Ok(())
        },
    },
    Column {
        name: "recorder_id",
        ty: ColumnType::Text,
        since: ALL,
        required: NULLABLE,
        default: None,
        get: |r| optional(&r.recorder_id),
        set: |r, cell| {
            r.recorder_id = optional_text(cell)?;
            Ok(())
        },
    },
];

fn optional(text: &Option<String>) -> Value<'_> {
    text.as_deref().map_or(Value::Null, Value::Text)
}

fn root_cause(r: &ExecutionRecord, part: fn(&RootCause) -> &String) -> Value<'_> {
    r.root_cause
        .as_ref()
        .map_or(Value::Null, |c| Value::Text(part(c)))
}

/// Sets one part of the root cause; the other part of a root cause known by one part only is
/// empty.
fn set_root_cause(
    r: &mut ExecutionRecord,
    cell: Cell,
    part: fn(&mut RootCause) -> &mut String,
) -> Result<(), String> {
    if let Some(text) = optional_text(cell)? {
        let cause = r
            .root_cause
            .get_or_insert_with(|| RootCause::new(String::new(), String::new()));
        *part(cause) = text;
    }
    Ok(())
}

fn set_name(r: &mut ExecutionRecord, cell: Cell) -> Result<(), String> {
    r.name = text(cell)?;
    Ok(())
}

fn mismatch(expected: &str, found: &Cell) -> String {
    let found = match found {
        Cell::Null => "null",
        Cell::Text(_) => "text",
        Cell::Integer(_) => "an integer",
        Cell::Bool(_) => "a bool",
        Cell::Time(_) => "a time",
    };
    format!("expected {expected}, found {found}")
}

fn optional_text(cell: Cell) -> Result<Option<String>, String> {
    match cell {
        Cell::Null => Ok(None),
        Cell::Text(text) => Ok(Some(text)),
        other => Err(mismatch("text", &other)),
    }
}

fn text(cell: Cell) -> Result<String, String> {
    optional_text(cell)?.ok_or_else(|| "is null".to_owned())
}

fn integer(cell: Cell) -> Result<Option<i128>, String> {
    match cell {
        Cell::Null => Ok(None),
        Cell::Integer(n) => Ok(Some(n)),
        other => Err(mismatch("an integer", &other)),
    }
}

fn parse<T: std::str::FromStr>(text: String) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e: T::Err| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorDetails, Phase, RunContext};

    #[test]
    fn names_are_unique_and_every_table_has_its_key_and_name() {
        for (i, c) in COLUMNS.iter().enumerate() {
            assert_eq!(named(c.name).map(|(j, _)| j), Some(i), "{}", c.name);
            assert!(
                EntityKind::ALL.iter().any(|&k| c.has(k)),
                "{} is in no table",
                c.name
            );
            assert!(
                EntityKind::ALL
                    .iter()
                    .all(|&k| c.since(k) <= SCHEMA_VERSION),
                "{}",
                c.name
            );
        }
        for kind in EntityKind::ALL {
            for name in key(kind).iter().chain([&kind.as_str()]) {
                let (_, c) = named(name).unwrap();
                assert!(c.in_schema(kind, 1) && c.required(kind), "{kind} {name}");
            }
        }
        assert!(COLUMNS.iter().any(|c| EntityKind::ALL
            .iter()
            .any(|&k| c.since(k) == SCHEMA_VERSION)));
    }

    #[test]
    fn added_columns_that_cannot_be_null_have_a_default() {
        for c in &COLUMNS {
            for kind in EntityKind::ALL {
                if c.since(kind) > 1 && c.required(kind) {
                    assert!(c.default.is_some(), "{kind} {}", c.name);
                }
            }
        }
    }

    #[test]
    fn every_value_read_back_gives_the_record() {
        let now = Utc::now();
        let records = [
            ExecutionRecord::pipeline_start("r", "nightly", now)
                .with_run(
                    RunContext::new("r")
                        .with_correlation_id("c")
                        .with_attempt(3, false),
                )
                .with_error(ErrorDetails::new("m").with_type("T").with_full("F"))
                .with_root_cause(RootCause::new("s1", "load"))
                .with_trace("t", "s")
                .with_recorder_id("w")
                .ended(RunStatus::Failed, 12),
            ExecutionRecord::process_start("r", "p1", "extract", now),
            ExecutionRecord::step_start("r", "s1", "load", now)
                .with_process_run_id("p1")
                .with_run(RunContext::new("r").with_attempt(2, false))
                .ended(RunStatus::Success, 3),
        ];
        for record in records {
            let mut read = blank(EntityKind::Pipeline);
            for c in of(record.kind) {
                (c.set)(&mut read, cell((c.get)(&record))).unwrap();
            }
            assert_eq!(read, record);
            assert_eq!(read.phase, record.phase);
        }
        // A process read from a row: phase and kind come from its event.
        let mut r = ExecutionRecord::pipeline_start("", "", now);
        (COLUMNS[0].set)(&mut r, Cell::Text("process_end".into())).unwrap();
        assert_eq!((r.kind, r.phase), (EntityKind::Process, Phase::End));
    }

    #[test]
    fn bad_values_are_errors() {
        let mut r = ExecutionRecord::pipeline_start("", "", Utc::now());
        let set =
            |name: &str, r: &mut ExecutionRecord, cell: Cell| (named(name).unwrap().1.set)(r, cell);
        assert!(set("attempt", &mut r, Cell::Integer(-1)).is_err());
        assert!(set("attempt", &mut r, Cell::Integer(1 << 40)).is_err());
        assert!(set("status", &mut r, Cell::Text("done".into())).is_err());
        assert!(set("run_id", &mut r, Cell::Null).is_err());
        assert!(set("event", &mut r, Cell::Integer(1)).is_err());
        set("duration_ms", &mut r, Cell::Integer(-5)).unwrap();
        assert_eq!(r.outcome.duration_ms, Some(0));
    }
}
