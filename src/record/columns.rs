//! The columns of the three record tables, described once.
//!
//! Each entry of [`COLUMNS`] says what a column is called, what type it has (which each store
//! maps to its own types), which tables have it and since which schema version, whether it may
//! be NULL, and how to get its value from an [`ExecutionRecord`] and set it back when reading a
//! row. The SQL stores' DDL, migrations, upserts, selects and bindings, the JSON Lines lines
//! and the records' `serde` form (which the command-line tool prints) all come from this table,
//! in its order: adding a column is one entry here (with its field on the record) and, for the
//! SQL stores, a [`SCHEMA_VERSION`] bump.

// What serves only the stores whose feature is off is unused in that build.
#![cfg_attr(
    not(all(feature = "sqlite", feature = "postgres", feature = "jsonl")),
    allow(dead_code)
)]

use std::sync::LazyLock;

use chrono::{DateTime, Utc};

use super::{EntityKind, EventName, ExecutionRecord, RootCause, RunContext};

/// The schema version of the SQL stores that this table describes: the highest `since` of any
/// column, or of a change to the values a column may hold. Both SQL stores write it
/// (`SQLITE_SCHEMA_VERSION`, `POSTGRES_SCHEMA_VERSION`).
///
/// - 1: the first release.
/// - 2: `last_attempt` on `process_runs` and `step_runs` (every record carries its run's).
/// - 3: `status` may be `cancelled` ([`CANCELLED_SINCE`]): PostgreSQL's `CHECK` constraint on
///   it is widened, and a release that does not know the status refuses the newer schema
///   rather than failing on its first cancelled row.
/// - 4: the indexes reads need ([`INDEXES_SINCE`]): pipelines by start time, by name and by
///   status then start time; processes and steps by run, attempt and start time.
/// - 5: the volume columns ([`VOLUME_SINCE`]) `rows_in`, `rows_out`, `inputs` and `outputs` on
///   every table, NULL in rows written before.
pub(crate) const SCHEMA_VERSION: u32 = 5;

/// The schema version from which every table has the volume columns.
pub(crate) const VOLUME_SINCE: u32 = 5;

/// The schema version from which the tables have the indexes of schema version 4.
pub(crate) const INDEXES_SINCE: u32 = 4;

/// The schema version from which `status` may be `cancelled`.
pub(crate) const CANCELLED_SINCE: u32 = 3;

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
    /// A list of texts (dataset names): an array in JSON, a JSON array as text in the SQL and
    /// Delta stores. Never empty: an empty list is NULL.
    List,
}

/// A column's value in a record, as a store writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    Null,
    Text(&'a str),
    Integer(u64),
    Bool(bool),
    Time(DateTime<Utc>),
    /// Not empty (an empty list is `Null`).
    List(&'a [String]),
}

impl<'a> Value<'a> {
    /// The text, or a list as the text of a JSON array (how the stores that keep text keep
    /// it); `None` for NULL (or another type).
    pub(crate) fn text_or_json(self) -> Option<std::borrow::Cow<'a, str>> {
        match self {
            Value::Text(text) => Some(std::borrow::Cow::Borrowed(text)),
            Value::List(list) => Some(std::borrow::Cow::Owned(list_json(list))),
            _ => None,
        }
    }

    /// The text, unless NULL (or not text).
    pub(crate) fn text(self) -> Option<&'a str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The count, unless NULL (or not a count).
    pub(crate) fn integer(self) -> Option<u64> {
        match self {
            Value::Integer(n) => Some(n),
            _ => None,
        }
    }

    /// The bool, unless NULL (or not a bool).
    pub(crate) fn boolean(self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The time, unless NULL (or not a time).
    pub(crate) fn time(self) -> Option<DateTime<Utc>> {
        match self {
            Value::Time(t) => Some(t),
            _ => None,
        }
    }
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
    List(Vec<String>),
}

/// `list` as the text of a JSON array of strings.
pub(crate) fn list_json(list: &[String]) -> String {
    // A list of strings always serialises.
    serde_json::to_string(list).unwrap_or_default()
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
    /// Whether the JSON forms (JSON Lines lines, the records' `serde` form) leave the column
    /// out while it is NULL, so that records that do not use it keep the form of earlier
    /// releases.
    pub(crate) sparse: bool,
    /// Where the value is in a record.
    field: Field,
}

type Record = ExecutionRecord;

/// Where a column's value is in a record.
#[derive(Debug)]
enum Field {
    /// A text field.
    Text(fn(&Record) -> &String, fn(&mut Record) -> &mut String),
    /// An optional text field: NULL when `None`.
    Optional(
        fn(&Record) -> &Option<String>,
        fn(&mut Record) -> &mut Option<String>,
    ),
    /// Anything else: the value of a record, and how to set it from what a store read (the
    /// error says what is wrong with it).
    Other(
        fn(&Record) -> Value<'_>,
        fn(&mut Record, Cell) -> Result<(), String>,
    ),
}

impl Column {
    /// A text column, in every table where it is.
    const fn text(
        name: &'static str,
        since: [u32; 3],
        get: fn(&Record) -> &String,
        get_mut: fn(&mut Record) -> &mut String,
    ) -> Self {
        let field = Field::Text(get, get_mut);
        Column::new(name, ColumnType::Text, since, ALWAYS, field)
    }

    /// An optional text column, NULL where it is not `required`.
    const fn optional(
        name: &'static str,
        since: [u32; 3],
        required: [bool; 3],
        get: fn(&Record) -> &Option<String>,
        get_mut: fn(&mut Record) -> &mut Option<String>,
    ) -> Self {
        let field = Field::Optional(get, get_mut);
        Column::new(name, ColumnType::Text, since, required, field)
    }

    const fn new(
        name: &'static str,
        ty: ColumnType,
        since: [u32; 3],
        required: [bool; 3],
        field: Field,
    ) -> Self {
        Column {
            name,
            ty,
            since,
            required,
            default: None,
            sparse: false,
            field,
        }
    }

    /// This column, left out of the JSON forms while NULL.
    const fn sparse(mut self) -> Self {
        self.sparse = true;
        self
    }

    /// This column, with what rows written before it existed hold.
    const fn with_default(mut self, default: Value<'static>) -> Self {
        self.default = Some(default);
        self
    }

    /// The column's value in `record`.
    #[inline]
    pub(crate) fn get<'r>(&self, record: &'r Record) -> Value<'r> {
        match self.field {
            Field::Text(get, _) => Value::Text(get(record)),
            Field::Optional(get, _) => get(record).as_deref().map_or(Value::Null, Value::Text),
            Field::Other(get, _) => get(record),
        }
    }

    /// Sets the column's value read from a store on `record`; the error says what is wrong
    /// with it.
    pub(crate) fn set(&self, record: &mut Record, cell: Cell) -> Result<(), String> {
        match self.field {
            Field::Text(_, get_mut) => *get_mut(record) = text(cell)?,
            Field::Optional(_, get_mut) => *get_mut(record) = optional_text(cell)?,
            Field::Other(_, set) => set(record, cell)?,
        }
        Ok(())
    }

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
pub(crate) fn of(kind: EntityKind) -> impl ExactSizeIterator<Item = &'static Column> + Clone {
    /// Per kind, once: the writers go through them for every record.
    static BY_KIND: LazyLock<[Vec<&'static Column>; 3]> = LazyLock::new(|| {
        EntityKind::ALL.map(|kind| COLUMNS.iter().filter(|c| c.has(kind)).collect())
    });
    BY_KIND[kind.index()].iter().copied()
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
        Value::List(list) => Cell::List(list.to_vec()),
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
/// One table, since the first schema.
const PIPELINES: [u32; 3] = [1, 0, 0];
const PROCESSES: [u32; 3] = [0, 1, 0];
const STEPS: [u32; 3] = [0, 0, 1];
/// Every table, since the volume columns.
const ALL_SINCE_VOLUME: [u32; 3] = [VOLUME_SINCE; 3];
/// Pipelines and processes (the root cause).
const NOT_STEPS: [u32; 3] = [1, 1, 0];
const ALWAYS: [bool; 3] = [true; 3];
const NULLABLE: [bool; 3] = [false; 3];

/// Every column of the three tables, in the order of the JSON Lines lines (and of the SQL
/// tables, after their key columns).
#[rustfmt::skip]
pub(crate) static COLUMNS: [Column; 25] = [
    Column::new("event", ColumnType::Event, ALL, ALWAYS, Field::Other(
        |r| Value::Text(r.event().as_str()),
        |r, cell| {
            let event: EventName = parse(text(cell)?)?;
            (r.kind, r.phase) = (event.kind(), event.phase());
            Ok(())
        },
    )),
    Column::text("run_id", ALL, |r| &r.run.run_id, |r| &mut r.run.run_id),
    Column::optional("correlation_id", ALL, NULLABLE,
        |r| &r.run.correlation_id, |r| &mut r.run.correlation_id),
    Column::new("attempt", ColumnType::Integer, ALL, ALWAYS, Field::Other(
        |r| Value::Integer(r.run.attempt.into()),
        |r, cell| {
            let n = integer(cell)?.ok_or("is null")?;
            r.run.attempt = u32::try_from(n).map_err(|_| format!("{n} is out of range"))?;
            Ok(())
        },
    )),
    // Processes and steps carry their run's since version 2.
    Column::new("last_attempt", ColumnType::Bool, [1, 2, 2], ALWAYS, Field::Other(
        |r| Value::Bool(r.run.last_attempt),
        |r, cell| {
            r.run.last_attempt = boolean(cell)?;
            Ok(())
        },
    ))
    .with_default(Value::Bool(true)),
    Column::optional("step_run_id", STEPS, ALWAYS, |r| &r.step_run_id, |r| &mut r.step_run_id),
    Column::text("pipeline", PIPELINES, |r| &r.name, |r| &mut r.name),
    Column::text("process", PROCESSES, |r| &r.name, |r| &mut r.name),
    Column::text("step", STEPS, |r| &r.name, |r| &mut r.name),
    // A process's own id; a step's process, if any.
    Column::optional("process_run_id", [0, 1, 1], [false, true, false],
        |r| &r.process_run_id, |r| &mut r.process_run_id),
    Column::new("started_at", ColumnType::Time, ALL, ALWAYS, Field::Other(
        |r| Value::Time(r.started_at),
        |r, cell| {
            r.started_at = time(cell)?;
            Ok(())
        },
    )),
    Column::new("status", ColumnType::Status, ALL, ALWAYS, Field::Other(
        |r| Value::Text(r.outcome.status.as_str()),
        |r, cell| {
            r.outcome.status = parse(text(cell)?)?;
            Ok(())
        },
    )),
    // A negative count (not one this crate writes) reads as 0.
    Column::new("duration_ms", ColumnType::Integer, ALL, NULLABLE, Field::Other(
        |r| r.outcome.duration_ms.map_or(Value::Null, Value::Integer),
        |r, cell| {
            r.outcome.duration_ms = integer(cell)?.map(|n| u64::try_from(n).unwrap_or(0));
            Ok(())
        },
    )),
    Column::optional("error", ALL, NULLABLE,
        |r| &r.outcome.error.full, |r| &mut r.outcome.error.full),
    Column::optional("error_type", ALL, NULLABLE,
        |r| &r.outcome.error.type_name, |r| &mut r.outcome.error.type_name),
    Column::optional("error_message", ALL, NULLABLE,
        |r| &r.outcome.error.message, |r| &mut r.outcome.error.message),
    Column::new("failed_step_run_id", ColumnType::Text, NOT_STEPS, NULLABLE, Field::Other(
        |r| root_cause(r, |c| &c.step_run_id),
        |r, cell| set_root_cause(r, cell, |c| &mut c.step_run_id),
    )),
    Column::new("failed_step", ColumnType::Text, NOT_STEPS, NULLABLE, Field::Other(
        |r| root_cause(r, |c| &c.step),
        |r, cell| set_root_cause(r, cell, |c| &mut c.step),
    )),
    Column::optional("trace_id", ALL, NULLABLE, |r| &r.trace_id, |r| &mut r.trace_id),
    Column::optional("span_id", ALL, NULLABLE, |r| &r.span_id, |r| &mut r.span_id),
    Column::optional("recorder_id", ALL, NULLABLE, |r| &r.recorder_id, |r| &mut r.recorder_id),
    Column::new("rows_in", ColumnType::Integer, ALL_SINCE_VOLUME, NULLABLE, Field::Other(
        |r| r.volume.rows_in.map_or(Value::Null, Value::Integer),
        |r, cell| set_rows(&mut r.volume.rows_in, cell),
    ))
    .sparse(),
    Column::new("rows_out", ColumnType::Integer, ALL_SINCE_VOLUME, NULLABLE, Field::Other(
        |r| r.volume.rows_out.map_or(Value::Null, Value::Integer),
        |r, cell| set_rows(&mut r.volume.rows_out, cell),
    ))
    .sparse(),
    Column::new("inputs", ColumnType::List, ALL_SINCE_VOLUME, NULLABLE, Field::Other(
        |r| list_value(&r.volume.inputs),
        |r, cell| set_list(&mut r.volume.inputs, cell),
    ))
    .sparse(),
    Column::new("outputs", ColumnType::List, ALL_SINCE_VOLUME, NULLABLE, Field::Other(
        |r| list_value(&r.volume.outputs),
        |r, cell| set_list(&mut r.volume.outputs, cell),
    ))
    .sparse(),
];

/// A row count read from a store: NULL is none; a negative count (not one this crate
/// writes) is an error.
fn set_rows(rows: &mut Option<u64>, cell: Cell) -> Result<(), String> {
    *rows = match integer(cell)? {
        None => None,
        Some(n) => Some(u64::try_from(n).map_err(|_| format!("{n} is not a row count"))?),
    };
    Ok(())
}

/// A list as a column value: NULL when empty.
fn list_value(list: &[String]) -> Value<'_> {
    if list.is_empty() {
        Value::Null
    } else {
        Value::List(list)
    }
}

/// A list read from a store: NULL is empty; a store that keeps text gives the text of a JSON
/// array of strings.
fn set_list(list: &mut Vec<String>, cell: Cell) -> Result<(), String> {
    *list = match cell {
        Cell::Null => Vec::new(),
        Cell::List(items) => items,
        Cell::Text(text) => serde_json::from_str(&text)
            .map_err(|e| format!("{text:?} is not a JSON array of strings: {e}"))?,
        other => return Err(mismatch("a list of texts", &other)),
    };
    Ok(())
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

fn mismatch(expected: &str, found: &Cell) -> String {
    let found = match found {
        Cell::Null => "null",
        Cell::Text(_) => "text",
        Cell::Integer(_) => "an integer",
        Cell::Bool(_) => "a bool",
        Cell::Time(_) => "a time",
        Cell::List(_) => "a list",
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

fn boolean(cell: Cell) -> Result<bool, String> {
    match cell {
        Cell::Bool(b) => Ok(b),
        other => Err(mismatch("a bool", &other)),
    }
}

fn time(cell: Cell) -> Result<DateTime<Utc>, String> {
    match cell {
        Cell::Time(t) => Ok(t),
        other => Err(mismatch("a time", &other)),
    }
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
    use crate::record::{ErrorDetails, Phase, RunContext, RunStatus, Volume};

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
        assert!(
            [CANCELLED_SINCE, INDEXES_SINCE, VOLUME_SINCE].contains(&SCHEMA_VERSION)
                || COLUMNS.iter().any(|c| EntityKind::ALL
                    .iter()
                    .any(|&k| c.since(k) == SCHEMA_VERSION))
        );
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
                .with_volume(
                    Volume::new()
                        .with_rows_in(7)
                        .with_rows_out(0)
                        .with_input("s3://in/a \"b\"")
                        .with_input("file:///c")
                        .with_output("postgres://dw/t"),
                )
                .ended(RunStatus::Failed, 12),
            ExecutionRecord::process_start("r", "p1", "extract", now)
                .with_volume(Volume::new().with_rows_out(u64::MAX)),
            ExecutionRecord::step_start("r", "s1", "load", now)
                .with_process_run_id("p1")
                .with_run(RunContext::new("r").with_attempt(2, false))
                .ended(RunStatus::Success, 3),
        ];
        for record in records {
            let mut read = blank(EntityKind::Pipeline);
            for c in of(record.kind) {
                c.set(&mut read, cell(c.get(&record))).unwrap();
            }
            assert_eq!(read, record);
            assert_eq!(read.phase, record.phase);
        }
        // A process read from a row: phase and kind come from its event.
        let mut r = ExecutionRecord::pipeline_start("", "", now);
        COLUMNS[0]
            .set(&mut r, Cell::Text("process_end".into()))
            .unwrap();
        assert_eq!((r.kind, r.phase), (EntityKind::Process, Phase::End));
    }

    #[test]
    fn bad_values_are_errors() {
        let mut r = ExecutionRecord::pipeline_start("", "", Utc::now());
        let set =
            |name: &str, r: &mut ExecutionRecord, cell: Cell| named(name).unwrap().1.set(r, cell);
        assert!(set("attempt", &mut r, Cell::Integer(-1)).is_err());
        assert!(set("attempt", &mut r, Cell::Integer(1 << 40)).is_err());
        assert!(set("status", &mut r, Cell::Text("done".into())).is_err());
        assert!(set("run_id", &mut r, Cell::Null).is_err());
        assert!(set("event", &mut r, Cell::Integer(1)).is_err());
        set("duration_ms", &mut r, Cell::Integer(-5)).unwrap();
        assert_eq!(r.outcome.duration_ms, Some(0));
        assert!(set("rows_out", &mut r, Cell::Integer(-1)).is_err());
        assert!(set("inputs", &mut r, Cell::Text("a,b".into())).is_err());
        assert!(set("inputs", &mut r, Cell::Text("[1]".into())).is_err());
        set("inputs", &mut r, Cell::Text(r#"["a","b"]"#.into())).unwrap();
        assert_eq!(r.inputs(), ["a", "b"]);
        set("inputs", &mut r, Cell::Null).unwrap();
        assert!(r.inputs().is_empty());
    }
}
