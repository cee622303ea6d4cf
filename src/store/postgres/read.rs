//! Reads: a [`RunFilter`] turned into SQL with bound parameters, and rows mapped back to
//! records.

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::connection::{Fail, Op};
use super::PostgresStore;
use crate::error::StoreError;
use crate::record::columns::{self, Cell, ColumnType};
use crate::record::{EntityKind, ExecutionRecord, RecorderHeartbeat};
use crate::store::sql_filter::{self, Bound, Dialect};
use crate::store::sql_schema::{self, RowError};
use crate::store::RunFilter;

impl PostgresStore {
    /// Reads the rows of `kind`'s table that `filter` selects, in its order; the filter is
    /// applied in SQL, every value bound. The columns are those of the schema's version.
    pub(super) fn select(
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
    let read = |i: usize, ty: ColumnType| -> Result<Cell, tokio_postgres::Error> {
        Ok(match ty {
            ColumnType::Text | ColumnType::Event | ColumnType::Status => row
                .try_get::<_, Option<String>>(i)?
                .map_or(Cell::Null, Cell::Text),
            ColumnType::Integer => row
                .try_get::<_, Option<i64>>(i)?
                .map_or(Cell::Null, |n| Cell::Integer(n.into())),
            ColumnType::Bool => row
                .try_get::<_, Option<bool>>(i)?
                .map_or(Cell::Null, Cell::Bool),
            ColumnType::Time => row
                .try_get::<_, Option<chrono::DateTime<chrono::Utc>>>(i)?
                .map_or(Cell::Null, Cell::Time),
        })
    };
    sql_schema::record_from_row(kind, version, read).map_err(|e| match e {
        RowError::Store(e) => Fail::Pg(e),
        RowError::Value { column, message } => Fail::Invalid(format!("column {column}: {message}")),
    })
}

pub(super) fn recorder_from_row(row: &Row) -> Result<RecorderHeartbeat, Fail> {
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
