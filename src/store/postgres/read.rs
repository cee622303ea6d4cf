//! Reads: a [`RunFilter`] turned into SQL with bound parameters, and rows mapped back to
//! records.

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::connection::{Fail, Op};
use super::PostgresStore;
use crate::error::StoreError;
use crate::record::columns;
use crate::record::{EntityKind, ExecutionRecord, RecorderHeartbeat};
use crate::store::sql_filter::{self, Bound, Dialect};
use crate::store::sql_schema::{self, RowError, SqlRow};
use crate::store::{RecordReader, RunFilter};

impl RecordReader for PostgresStore {
    /// The rows of `kind`'s table that `filter` selects, in its order; the filter is applied in
    /// SQL, every value bound. The columns are those of the schema's version.
    fn read_records(
        &mut self,
        kind: EntityKind,
        filter: &RunFilter,
    ) -> Result<Vec<ExecutionRecord>, StoreError> {
        let (clauses, values) = sql_filter::clauses::<Postgres>(kind, filter, columns::key(kind));
        let version = self.schema_version_in_use()?;
        let sql = format!("{}{clauses}", self.settings.sql.select(kind, version));
        let params: Vec<Box<dyn ToSql + Sync + Send + '_>> = values
            .into_iter()
            .map(|value| -> Box<dyn ToSql + Sync + Send + '_> {
                match value {
                    Bound::Text(text) => Box::new(text),
                    Bound::Integer(n) => Box::new(n),
                    Bound::Time(t) => Box::new(t),
                }
            })
            .collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
        let what = format!("read {}", kind.table());
        let rows = self.call(&what, Op::Query(&sql, &refs))?;
        rows.iter()
            .map(|row| record_from_row(kind, version, row))
            .collect::<Result<Vec<_>, Fail>>()
            .map_err(|fail| self.settings.error(&what, fail))
    }

    fn read_recorders(&mut self) -> Result<Vec<RecorderHeartbeat>, StoreError> {
        let sql = self.settings.sql.select_recorders.clone();
        let rows = self.call("read recorders", Op::Query(&sql, &[]))?;
        rows.iter()
            .map(recorder_from_row)
            .collect::<Result<Vec<_>, Fail>>()
            .map_err(|fail| self.settings.error("read recorders", fail))
    }
}

/// PostgreSQL's way of writing a filter: `$N` placeholders.
struct Postgres;

impl Dialect for Postgres {
    fn placeholder(n: usize) -> String {
        format!("${n}")
    }

    fn starts_with(placeholder: &str) -> String {
        format!("left(run_id, char_length({placeholder}::text)) = {placeholder}::text")
    }
}

fn get_u32(row: &Row, col: &str) -> Result<u32, Fail> {
    let v: i64 = row.try_get(col)?;
    u32::try_from(v).map_err(|_| Fail::Invalid(format!("column {col}: {v} is out of range")))
}

fn get_duration(row: &Row, col: &str) -> Result<Option<u64>, Fail> {
    let v: Option<i64> = row.try_get(col)?;
    Ok(v.map(|v| u64::try_from(v).unwrap_or(0)))
}

/// The record of a row of `kind`'s table, selected with the columns of schema `version`.
fn record_from_row(kind: EntityKind, version: u32, row: &Row) -> Result<ExecutionRecord, Fail> {
    sql_schema::record_from_row(kind, version, &PgRow(row)).map_err(|e| match e {
        RowError::Store(e) => Fail::Pg(e),
        RowError::Value { column, message } => Fail::Invalid(format!("column {column}: {message}")),
    })
}

struct PgRow<'a>(&'a Row);

impl SqlRow for PgRow<'_> {
    type Error = tokio_postgres::Error;

    fn text(&self, i: usize) -> Result<Option<String>, Self::Error> {
        self.0.try_get(i)
    }

    fn integer(&self, i: usize) -> Result<Option<i64>, Self::Error> {
        self.0.try_get(i)
    }

    fn boolean(&self, i: usize) -> Result<Option<bool>, Self::Error> {
        self.0.try_get(i)
    }

    fn time(&self, i: usize) -> Result<Option<DateTime<Utc>>, Self::Error> {
        self.0.try_get(i)
    }
}

fn recorder_from_row(row: &Row) -> Result<RecorderHeartbeat, Fail> {
    Ok(RecorderHeartbeat {
        recorder_id: row.try_get("recorder_id")?,
        host: row.try_get("host")?,
        pid: get_u32(row, "pid")?,
        started_at: row.try_get("started_at")?,
        last_beat_at: row.try_get("last_beat_at")?,
        beat_interval_ms: get_duration(row, "beat_interval_ms")?.unwrap_or(0),
        stopped_at: row.try_get("stopped_at")?,
    })
}
