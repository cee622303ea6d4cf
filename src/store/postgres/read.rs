//! Reads: a [`RunFilter`](crate::store::RunFilter) turned into SQL with bound parameters, and
//! rows mapped back to records.

use std::collections::HashMap;
use std::ops::ControlFlow;

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::connection::{Fail, Op};
use super::PostgresStore;
use crate::error::StoreError;
use crate::record::columns;
use crate::record::{EntityKind, ExecutionRecord, RecorderHeartbeat, RunStatus};
use crate::store::sql_filter::{self, Bound};
use crate::store::sql_schema::{self, RowError, SqlRow};
use crate::store::{
    summarize_by_streaming, RecordOutline, RecordReader, RecordVisit, RunFilter, Summarize,
};

impl RecordReader for PostgresStore {
    /// The rows of the kind's table that the filter selects, in its order, fetched through a
    /// cursor 5,000 rows at a time in a read-only transaction; the filter is applied in SQL,
    /// every value bound. The columns are those of the schema's version.
    fn visit_records(&mut self, mut read: RecordVisit<'_>) -> Result<(), StoreError> {
        let kind = read.kind;
        let version = self.schema_version_in_use()?;
        let select = self.settings.sql.select(kind, version);
        let what = format!("read {}", kind.table());
        self.read_only(&what, |store| {
            store.fetch_all(&what, &select, kind, read.filter, &mut |row| {
                let record = record_from_row(kind, version, row)?;
                Ok(read.visit(record))
            })
        })
    }

    /// Process and step runs: the outlines are five columns of each row, through a cursor as
    /// [`visit_records`](Self::visit_records) reads; the records asked for are then read by
    /// their ids. Pipeline runs are read whole.
    fn summarize_records(
        &mut self,
        kind: EntityKind,
        filter: &RunFilter,
        summary: &mut dyn Summarize,
    ) -> Result<(), StoreError> {
        if kind == EntityKind::Pipeline {
            return summarize_by_streaming(self, kind, filter, summary);
        }
        let version = self.schema_version_in_use()?;
        let id = columns::key(kind)[0];
        let outlines = format!(
            "SELECT {id}, process_run_id, status, started_at, duration_ms FROM {}.{}",
            self.settings.sql.schema,
            kind.table()
        );
        let what = format!("summarize {}", kind.table());
        self.read_only(&what, |store| {
            let mut wanted: HashMap<String, u64> = HashMap::new();
            let mut n = 0u64;
            store.fetch_all(&what, &outlines, kind, filter, &mut |row| {
                let id: Option<String> = row.try_get(0)?;
                let process: Option<String> = row.try_get(1)?;
                let status: String = row.try_get(2)?;
                let outline = RecordOutline {
                    id: id.as_deref(),
                    process_run_id: process.as_deref(),
                    status: RunStatus::ALL
                        .into_iter()
                        .find(|s| s.as_str() == status)
                        .ok_or_else(|| Fail::Invalid(format!("column status: {status:?}")))?,
                    started_at: row.try_get(3)?,
                    duration_ms: get_duration(row, "duration_ms")?,
                };
                if summary.outline(n, outline) {
                    if let Some(id) = id {
                        wanted.insert(id, n);
                    }
                }
                n += 1;
                Ok(ControlFlow::Continue(()))
            })?;
            let select = format!(
                "{} WHERE {id} = ANY($1)",
                store.settings.sql.select(kind, version)
            );
            let ids: Vec<&String> = wanted.keys().collect();
            for chunk in ids.chunks(FETCH_ROWS) {
                let rows = store.call(&what, Op::Query(&select, &[&chunk]))?;
                for row in &rows {
                    let record = record_from_row(kind, version, row)
                        .map_err(|fail| store.settings.error(&what, fail))?;
                    let at = record.entity_id().and_then(|id| wanted.get(id));
                    if let Some(&n) = at {
                        summary.record(n, record);
                    }
                }
            }
            Ok(())
        })
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
    /// Runs `read` in a read-only transaction.
    fn read_only(
        &mut self,
        what: &str,
        read: impl FnOnce(&mut Self) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.call(what, Op::Execute("BEGIN READ ONLY"))?;
        let result = read(self);
        // Ending the transaction closes the cursor. After a failure the connection may be gone
        // (the next call reconnects); the first error is the one to report.
        let end = self.call(what, Op::Execute("COMMIT"));
        result.and(end.map(drop))
    }

    /// Declares a cursor of `select` (`SELECT … FROM <kind's table>`) with `filter`'s clauses,
    /// in the open transaction, and hands its rows to `row`, a batch fetched at a time, until
    /// they run out or it wants no more.
    fn fetch_all(
        &mut self,
        what: &str,
        select: &str,
        kind: EntityKind,
        filter: &RunFilter,
        row: &mut dyn FnMut(&Row) -> Result<ControlFlow<()>, Fail>,
    ) -> Result<(), StoreError> {
        let (clauses, values) = sql_filter::clauses(kind, filter, columns::key(kind), '$');
        let declare = format!("DECLARE {CURSOR} NO SCROLL CURSOR FOR {select}{clauses}");
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
        self.call(what, Op::Query(&declare, &refs))?;
        let fetch = format!("FETCH {FETCH_ROWS} FROM {CURSOR}");
        loop {
            let rows = self.call(what, Op::Query(&fetch, &[]))?;
            for r in &rows {
                let flow = row(r).map_err(|fail| self.settings.error(what, fail))?;
                if flow.is_break() {
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
