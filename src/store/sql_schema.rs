//! The record tables in SQL, from the column table: `CREATE TABLE`, the `ALTER TABLE` of a
//! migration, column lists, the `SET` and `WHERE` of an upsert, and rows read back into
//! records. Shared by the SQL stores, which differ in their column types, constraints and
//! literals ([`SqlDialect`]), their placeholders and their statements around these parts.

use chrono::{DateTime, Utc};

use crate::record::columns::{self, Cell, Column, ColumnType, Value, SCHEMA_VERSION};
use crate::record::{EntityKind, ExecutionRecord, Phase};

/// What differs between the SQL dialects in the schema.
pub(crate) trait SqlDialect {
    /// The type of a column of type `ty`.
    fn column_type(ty: ColumnType) -> &'static str;

    /// A `CHECK` constraint of `column` in `kind`'s table, when the dialect writes them.
    fn check(kind: EntityKind, column: &Column) -> Option<String> {
        let _ = (kind, column);
        None
    }

    /// `value` as an SQL literal (a column default).
    fn literal(value: Value<'_>) -> String;
}

/// `name type [NOT NULL] [DEFAULT …] [CHECK (…)]`: `column` in `kind`'s table; the default
/// where the column was added to the table by a migration.
pub(crate) fn column_definition<D: SqlDialect>(kind: EntityKind, column: &Column) -> String {
    let mut text = format!("{:<18} {}", column.name, D::column_type(column.ty));
    if column.required(kind) {
        text.push_str(" NOT NULL");
    }
    // What rows from before the column was added to the table hold: part of the column in a
    // new table too, so that a migrated table and a new one are the same.
    if let Some(default) = column.default.filter(|_| column.since(kind) > 1) {
        text.push_str(&format!(" DEFAULT {}", D::literal(default)));
    }
    if let Some(check) = D::check(kind, column) {
        text.push_str(&format!(" CHECK ({check})"));
    }
    text
}

/// `CREATE TABLE IF NOT EXISTS table (…)` for `kind` in the current schema: the key columns
/// first, then the others in table order.
pub(crate) fn create_table<D: SqlDialect>(kind: EntityKind, table: &str) -> String {
    let key = columns::key(kind);
    let keyed = key
        .iter()
        .filter_map(|name| columns::named(name).map(|(_, c)| c));
    let others = columns::of(kind).filter(|c| !key.contains(&c.name));
    let mut lines: Vec<String> = keyed
        .chain(others)
        .map(|c| {
            let mut line = format!("    {}", column_definition::<D>(kind, c));
            if key == [c.name] {
                line.push_str(" PRIMARY KEY");
            }
            line
        })
        .collect();
    if key.len() > 1 {
        lines.push(format!("    PRIMARY KEY ({})", key.join(", ")));
    }
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (\n{}\n)",
        lines.join(",\n")
    )
}

/// The `ALTER TABLE table ADD COLUMN …` statements that bring `kind`'s table from schema
/// `version - 1` to `version`.
pub(crate) fn added_columns<D: SqlDialect>(
    kind: EntityKind,
    table: &str,
    version: u32,
) -> Vec<String> {
    columns::of(kind)
        .filter(|c| c.since(kind) == version)
        .map(|c| {
            format!(
                "ALTER TABLE {table} ADD COLUMN {}",
                column_definition::<D>(kind, c)
            )
        })
        .collect()
}

/// The schema versions a migration from `version` goes through, in order.
pub(crate) fn versions_after(version: u32) -> std::ops::RangeInclusive<u32> {
    (version + 1)..=SCHEMA_VERSION
}

/// The names of `kind`'s columns in schema `version`, in table order, comma-separated.
pub(crate) fn column_list(kind: EntityKind, version: u32) -> String {
    columns::in_schema(kind, version)
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `c = excluded.c, …` for every column of `kind` but its key.
pub(crate) fn update_set(kind: EntityKind) -> String {
    let key = columns::key(kind);
    columns::of(kind)
        .filter(|c| !key.contains(&c.name))
        .map(|c| format!("{0} = excluded.{0}", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The condition under which an upsert replaces the stored row `stored` (the table's name or
/// alias): an end record replaces anything, a start record only another start record
/// ([`ExecutionRecord::supersedes`]).
pub(crate) fn supersedes(kind: EntityKind, stored: &str) -> String {
    let end = crate::record::EventName::new(kind, Phase::End);
    let start = crate::record::EventName::new(kind, Phase::Start);
    format!("excluded.event = '{end}' OR {stored}.event = '{start}'")
}

/// Why a row could not be read.
#[derive(Debug)]
pub(crate) enum RowError<E> {
    /// The store could not give a value.
    Store(E),
    /// A value is not one a record can hold.
    Value {
        column: &'static str,
        message: String,
    },
}

/// A row a store read, whose values it gives by index.
pub(crate) trait SqlRow {
    type Error;
    fn text(&self, i: usize) -> Result<Option<String>, Self::Error>;
    fn integer(&self, i: usize) -> Result<Option<i64>, Self::Error>;
    fn boolean(&self, i: usize) -> Result<Option<bool>, Self::Error>;
    fn time(&self, i: usize) -> Result<Option<DateTime<Utc>>, Self::Error>;
}

/// The value at index `i` of `row`, read as type `ty`.
fn cell<R: SqlRow>(row: &R, i: usize, ty: ColumnType) -> Result<Cell, R::Error> {
    Ok(match ty {
        // A list is the text of a JSON array, which the column reads.
        ColumnType::Text | ColumnType::Event | ColumnType::Status | ColumnType::List => {
            row.text(i)?.map_or(Cell::Null, Cell::Text)
        }
        ColumnType::Integer => row
            .integer(i)?
            .map_or(Cell::Null, |n| Cell::Integer(n.into())),
        ColumnType::Bool => row.boolean(i)?.map_or(Cell::Null, Cell::Bool),
        ColumnType::Time => row.time(i)?.map_or(Cell::Null, Cell::Time),
    })
}

/// The record of a row of `kind`'s table in schema `version`, whose columns are those of
/// [`column_list`] in that order. Columns the schema did not have yet get their default.
pub(crate) fn record_from_row<R: SqlRow>(
    kind: EntityKind,
    version: u32,
    row: &R,
) -> Result<ExecutionRecord, RowError<R::Error>> {
    let mut record = columns::blank(kind);
    let mut i = 0;
    for column in columns::of(kind) {
        let cell = if column.in_schema(kind, version) {
            i += 1;
            cell(row, i - 1, column.ty).map_err(RowError::Store)?
        } else {
            match column.default {
                Some(default) => columns::cell(default),
                None => continue,
            }
        };
        column
            .set(&mut record, cell)
            .map_err(|message| RowError::Value {
                column: column.name,
                message,
            })?;
    }
    if record.kind != kind {
        return Err(RowError::Value {
            column: "event",
            message: format!("{} in {}", record.event(), kind.table()),
        });
    }
    Ok(record)
}

/// The columns that order rows of `kind` whose `started_at` is the same: a pipeline run's
/// key (the order a keyset bound of [`RunFilter::before`](super::RunFilter::before) follows),
/// and for processes and steps the store's own tie-breakers (`tie_breakers`, the key or
/// SQLite's `rowid`).
pub(crate) fn order_ties<'a>(kind: EntityKind, tie_breakers: &'a [&'a str]) -> &'a [&'a str] {
    match kind {
        EntityKind::Pipeline => columns::key(kind),
        _ => tie_breakers,
    }
}

/// The indexes of `kind`'s table, as `(name suffix, columns)`, whose last columns are the
/// order of [`order_ties`]: pipelines by start time and by name then start time (the runs
/// pages and `tracing-etl runs`), processes and steps by run, attempt and start time (`show`).
fn indexes(kind: EntityKind, ties: &[&str]) -> Vec<(&'static str, String)> {
    // Every SQLite index ends with the rowid already.
    let ties: Vec<&str> = ties.iter().copied().filter(|c| *c != "rowid").collect();
    let ordered = |prefix: &str| {
        let mut columns = vec![prefix, "started_at"];
        columns.retain(|c| !c.is_empty());
        columns.extend(&ties);
        columns.join(", ")
    };
    match kind {
        EntityKind::Pipeline => vec![("by_start", ordered("")), ("by_name", ordered("pipeline"))],
        _ => vec![("by_run", ordered("run_id, attempt"))],
    }
}

/// `CREATE INDEX IF NOT EXISTS` statements of `kind`'s table `table` (named `name` in index
/// names), for rows read in the order of `tie_breakers` ([`order_ties`]): those of
/// [`indexes`], and one by status (only where `status_filter` holds, when given), which for
/// pipelines goes on by start time so that a status filter reads its page off the index.
pub(crate) fn create_indexes(
    kind: EntityKind,
    name: &str,
    table: &str,
    tie_breakers: &[&str],
    status_index: &str,
    status_filter: Option<&str>,
) -> String {
    let ties = order_ties(kind, tie_breakers);
    let filter = status_filter.map_or(String::new(), |f| format!(" WHERE {f}"));
    let mut sql = String::new();
    for (suffix, columns) in indexes(kind, ties) {
        sql.push_str(&format!(
            "CREATE INDEX IF NOT EXISTS {name}_{suffix} ON {table} ({columns});\n"
        ));
    }
    let (suffix, columns) = match kind {
        EntityKind::Pipeline => ("by_start", format!("status, {}", indexes(kind, ties)[0].1)),
        _ => ("", "status".to_owned()),
    };
    let suffix = if suffix.is_empty() {
        String::new()
    } else {
        format!("_{suffix}")
    };
    sql.push_str(&format!(
        "CREATE INDEX IF NOT EXISTS {name}_{status_index}{suffix} ON {table} ({columns}){filter};\n"
    ));
    sql
}

/// The indexes of schema versions before [`INDEXES_SINCE`](columns::INDEXES_SINCE) that its indexes replace: `DROP
/// INDEX` of each, the index name `name` being `table`'s name in index names and `qualify` the
/// prefix of an index name in a `DROP` (the schema, for PostgreSQL).
pub(crate) fn drop_replaced_indexes(
    kind: EntityKind,
    name: &str,
    qualify: &str,
    status_index: &str,
) -> String {
    let replaced: &[&str] = match kind {
        EntityKind::Pipeline => &["started_at", status_index],
        _ => &["run"],
    };
    replaced
        .iter()
        .map(|suffix| format!("DROP INDEX IF EXISTS {qualify}{name}_{suffix};\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Plain;

    impl SqlDialect for Plain {
        fn column_type(ty: ColumnType) -> &'static str {
            match ty {
                ColumnType::Integer | ColumnType::Bool => "INTEGER",
                _ => "TEXT",
            }
        }

        fn literal(value: Value<'_>) -> String {
            format!("{value:?}")
        }
    }

    #[test]
    fn tables_start_with_their_key() {
        let sql = create_table::<Plain>(EntityKind::Pipeline, "p");
        assert!(
            sql.starts_with("CREATE TABLE IF NOT EXISTS p (\n    run_id             TEXT NOT NULL,\n    attempt            INTEGER NOT NULL,\n    event "),
            "{sql}"
        );
        assert!(
            sql.ends_with(",\n    PRIMARY KEY (run_id, attempt)\n)"),
            "{sql}"
        );
        let sql = create_table::<Plain>(EntityKind::Step, "s");
        assert!(
            sql.contains("(\n    step_run_id        TEXT NOT NULL PRIMARY KEY,\n    event "),
            "{sql}"
        );
        assert!(sql.contains("    process_run_id     TEXT,\n"), "{sql}");
        assert!(!sql.contains("failed_step"), "{sql}");
    }

    #[test]
    fn version_two_adds_last_attempt_to_processes_and_steps() {
        assert_eq!(
            added_columns::<Plain>(EntityKind::Pipeline, "p", 2),
            Vec::<String>::new()
        );
        assert_eq!(
            added_columns::<Plain>(EntityKind::Step, "s", 2),
            ["ALTER TABLE s ADD COLUMN last_attempt       INTEGER NOT NULL DEFAULT Bool(true)"]
        );
        assert!(!column_list(EntityKind::Process, 1).contains("last_attempt"));
        assert!(column_list(EntityKind::Process, 2).contains("last_attempt"));
        assert!(!update_set(EntityKind::Pipeline).contains("attempt = excluded.attempt,"));
        assert!(update_set(EntityKind::Process).contains("attempt = excluded.attempt,"));
    }

    /// A row of values.
    struct Values<'a>(Vec<Value<'a>>);

    impl SqlRow for Values<'_> {
        type Error = ();
        fn text(&self, i: usize) -> Result<Option<String>, ()> {
            Ok(self.0[i].text().map(str::to_owned))
        }
        fn integer(&self, i: usize) -> Result<Option<i64>, ()> {
            Ok(self.0[i].integer().map(|n| n as i64))
        }
        fn boolean(&self, i: usize) -> Result<Option<bool>, ()> {
            Ok(self.0[i].boolean())
        }
        fn time(&self, i: usize) -> Result<Option<DateTime<Utc>>, ()> {
            Ok(self.0[i].time())
        }
    }

    #[test]
    fn rows_of_an_older_schema_get_the_defaults() {
        let now = chrono::Utc::now();
        let record = ExecutionRecord::step_start("r", "s1", "load", now);
        let values: Vec<Value<'_>> = columns::in_schema(EntityKind::Step, 1)
            .map(|c| c.get(&record))
            .collect();
        let row = Values(values);
        assert_eq!(record_from_row(EntityKind::Step, 1, &row).unwrap(), record);
        let err = record_from_row(EntityKind::Process, 1, &row);
        assert!(matches!(err, Err(RowError::Value { .. })), "{err:?}");
    }
}
