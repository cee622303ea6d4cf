//! Reads: a [`RunFilter`](crate::store::RunFilter) turned into SQL with bound parameters, and
//! rows mapped back to records.

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::connection::{Fail, Op};
use super::PostgresStore;
use crate::error::StoreError;
use crate::record::columns;
use crate::record::{EntityKind, ExecutionRecord, RecorderHeartbeat};
use crate::store::sql_filter::{self, Bound};
use crate::store::sql_schema::{self, RowError, SqlRow};
use crate::store::{RecordReader, RecordVisit};

impl RecordReader for PostgresStore {
    /// The rows of the kind's table that the filter selects, in its order, fetched through a
    /// cursor 5,000 rows at a time in a read-only transaction; the filter is applied in SQL,
    /// every value bound. The columns are those of the schema's version.
    fn visit_records(&mut self, read: RecordVisit<'_>) -> Result<(), StoreError> {
        let kind = read.kind;
        let (clauses, values) = sql_filter::clauses(kind, read.filter, columns::key(kind), '$');
        let version = self.schema_version_in_use()?;
        let sql = format!(
            "DECLARE {CURSOR} NO SCROLL CURSOR FOR {}{clauses}",
            self.settings.sql.select(kind, version)
        );
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
        self.call(&what, Op::Execute("BEGIN READ ONLY"))?;
        let result = self.fetch_all(&what, version, &sql, &refs, read);
        // Ending the transaction closes the cursor. After a failure the connection may be gone
        // (the next call reconnects); the first error is the one to report.
        let end = self.call(&what, Op::Execute("COMMIT"));
        result.and(end.map(drop))
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

/// The cursor of [`RecordReader::for_each_record`].
const CURSOR: &str = "tracing_etl_read";

/// Rows fetched from the cursor at a time.
const FETCH_ROWS: usize = 5_000;

impl PostgresStore {
    /// Declares the cursor `declare` (in the open transaction) and hands its rows to `read`,
    /// a batch at a time, until they run out or it wants no more.
    fn fetch_all(
        &mut self,
        what: &str,
        version: u32,
        declare: &str,
        params: &[&(dyn ToSql + Sync)],
        mut read: RecordVisit<'_>,
    ) -> Result<(), StoreError> {
        self.call(what, Op::Query(declare, params))?;
        let fetch = format!("FETCH {FETCH_ROWS} FROM {CURSOR}");
        loop {
            let rows = self.call(what, Op::Query(&fetch, &[]))?;
            for row in &rows {
                let record = record_from_row(read.kind, version, row)
                    .map_err(|fail| self.settings.error(what, fail))?;
                if read.visit(record).is_break() {
                    return Ok(());
                }
            }
            if rows.len() < FETCH_ROWS {
                return Ok(());
            }
        }
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
