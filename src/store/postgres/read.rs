//! Reads: a [`RunFilter`] turned into SQL with bound parameters, and rows mapped back to
//! records.

use std::fmt;
use std::str::FromStr;

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::connection::{Fail, Op};
use super::schema::{kind_index, table};
use super::PostgresStore;
use crate::error::StoreError;
use crate::record::{
    EntityKind, PipelineRunRecord, ProcessRunRecord, RecorderHeartbeat, RunStatus, StepRunRecord,
};
use crate::store::sql_filter::{self, Bound, Dialect};
use crate::store::RunFilter;

impl PostgresStore {
    /// Reads the rows of `kind`'s table that `filter` selects, in its order; the filter is
    /// applied in SQL, every value bound.
    pub(super) fn select<T>(
        &mut self,
        kind: EntityKind,
        filter: &RunFilter,
        map: fn(&Row) -> Result<T, Fail>,
    ) -> Result<Vec<T>, StoreError> {
        let (clauses, values) = sql_filter::clauses::<Postgres>(kind, filter, table(kind).key);
        let sql = format!("{}{clauses}", self.settings.sql.selects[kind_index(kind)]);
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
            .map(map)
            .collect::<Result<Vec<T>, Fail>>()
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

fn get_parsed<T: FromStr>(row: &Row, col: &str) -> Result<T, Fail>
where
    T::Err: fmt::Display,
{
    let text: &str = row.try_get(col)?;
    text.parse()
        .map_err(|e| Fail::Invalid(format!("column {col}: {e}")))
}

pub(super) fn pipeline_from_row(row: &Row) -> Result<PipelineRunRecord, Fail> {
    Ok(PipelineRunRecord {
        event: get_parsed(row, "event")?,
        run_id: row.try_get("run_id")?,
        correlation_id: row.try_get("correlation_id")?,
        attempt: get_u32(row, "attempt")?,
        last_attempt: row.try_get("last_attempt")?,
        pipeline: row.try_get("pipeline")?,
        started_at: row.try_get("started_at")?,
        status: get_parsed::<RunStatus>(row, "status")?,
        duration_ms: get_duration(row, "duration_ms")?,
        error: row.try_get("error")?,
        error_type: row.try_get("error_type")?,
        error_message: row.try_get("error_message")?,
        failed_step_run_id: row.try_get("failed_step_run_id")?,
        failed_step: row.try_get("failed_step")?,
        trace_id: row.try_get("trace_id")?,
        span_id: row.try_get("span_id")?,
        recorder_id: row.try_get("recorder_id")?,
    })
}

pub(super) fn process_from_row(row: &Row) -> Result<ProcessRunRecord, Fail> {
    Ok(ProcessRunRecord {
        event: get_parsed(row, "event")?,
        run_id: row.try_get("run_id")?,
        correlation_id: row.try_get("correlation_id")?,
        attempt: get_u32(row, "attempt")?,
        process_run_id: row.try_get("process_run_id")?,
        process: row.try_get("process")?,
        started_at: row.try_get("started_at")?,
        status: get_parsed(row, "status")?,
        duration_ms: get_duration(row, "duration_ms")?,
        error: row.try_get("error")?,
        error_type: row.try_get("error_type")?,
        error_message: row.try_get("error_message")?,
        failed_step_run_id: row.try_get("failed_step_run_id")?,
        failed_step: row.try_get("failed_step")?,
        trace_id: row.try_get("trace_id")?,
        span_id: row.try_get("span_id")?,
        recorder_id: row.try_get("recorder_id")?,
    })
}

pub(super) fn step_from_row(row: &Row) -> Result<StepRunRecord, Fail> {
    Ok(StepRunRecord {
        event: get_parsed(row, "event")?,
        run_id: row.try_get("run_id")?,
        correlation_id: row.try_get("correlation_id")?,
        attempt: get_u32(row, "attempt")?,
        step_run_id: row.try_get("step_run_id")?,
        step: row.try_get("step")?,
        started_at: row.try_get("started_at")?,
        status: get_parsed(row, "status")?,
        duration_ms: get_duration(row, "duration_ms")?,
        error: row.try_get("error")?,
        process_run_id: row.try_get("process_run_id")?,
        error_type: row.try_get("error_type")?,
        error_message: row.try_get("error_message")?,
        trace_id: row.try_get("trace_id")?,
        span_id: row.try_get("span_id")?,
        recorder_id: row.try_get("recorder_id")?,
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
