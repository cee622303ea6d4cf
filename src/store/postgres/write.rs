//! Writes: a batch reduced to one record per entity, then per table one upsert whose parameters
//! are one array per column; heartbeats.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;
use tokio_postgres::Statement;

use super::builder::Settings;
use super::connection::{within, Fail, Live};
use super::schema::{kind_index, Table, Ty, TABLES};
#[cfg(doc)]
use super::schema::{PIPELINES, PROCESSES, STEPS};
use crate::record::{EntityKey, ExecutionRecord, RecorderHeartbeat};
use crate::store::clamp_i64;

/// Rows per `INSERT … SELECT FROM unnest(…)` statement: each column is one array parameter, so
/// there is no parameter limit to stay under; this only bounds the size of one message.
const ROWS_PER_STATEMENT: usize = 10_000;

/// The write statements, prepared on a connection.
pub(super) struct Prepared {
    upserts: [Statement; 3],
    upsert_recorder: Statement,
}

/// `INSERT INTO t (cols) SELECT * FROM unnest($1::type[], …) ON CONFLICT (key) DO UPDATE SET …
/// WHERE` the incoming record supersedes the stored one.
pub(super) fn upsert_sql(schema: &str, table: &Table) -> String {
    let names: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
    let arrays: Vec<String> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, (_, ty))| format!("${}::{}[]", i + 1, ty.sql()))
        .collect();
    let sets: Vec<String> = names
        .iter()
        .filter(|name| !table.key.contains(name))
        .map(|name| format!("{name} = excluded.{name}"))
        .collect();
    // An end record replaces anything; a start record only another start record.
    format!(
        "INSERT INTO {schema}.{} AS t ({})
         SELECT * FROM unnest({})
         ON CONFLICT ({}) DO UPDATE SET {}
         WHERE excluded.event = '{}' OR t.event = '{}'",
        table.kind.table(),
        names.join(", "),
        arrays.join(", "),
        table.key.join(", "),
        sets.join(", "),
        table.end.as_str(),
        table.start.as_str(),
    )
}

/// Writes a batch in one transaction: one statement per table and chunk of rows.
pub(super) async fn write_batch(
    live: &mut Live,
    settings: &Settings,
    batch: &Batch<'_>,
    limit: Duration,
) -> Result<(), Fail> {
    let statements = prepare(live, settings, limit).await?.upserts.clone();
    let tx = within(limit, live.client.transaction()).await?;
    for (table, records) in TABLES.iter().zip(&batch.tables) {
        let statement = &statements[kind_index(table.kind)];
        for chunk in records.chunks(ROWS_PER_STATEMENT) {
            let columns = Columns::new(table, chunk);
            let params = columns.params();
            within(limit, tx.execute(statement, &params)).await?;
        }
    }
    // Dropping an uncommitted transaction (on any error above) rolls it back.
    within(limit, tx.commit()).await?;
    Ok(())
}

/// Replaces the recorder's row with `beat`.
pub(super) async fn write_heartbeat(
    live: &mut Live,
    settings: &Settings,
    beat: &RecorderHeartbeat,
    limit: Duration,
) -> Result<(), Fail> {
    let prepared = prepare(live, settings, limit).await?;
    let statement = prepared.upsert_recorder.clone();
    let pid = i64::from(beat.pid);
    let interval = clamp_i64(beat.beat_interval_ms);
    let recorder_id = without_nul(&beat.recorder_id);
    let host = without_nul(&beat.host);
    within(
        limit,
        live.client.execute(
            &statement,
            &[
                &recorder_id,
                &host,
                &pid,
                &beat.started_at,
                &beat.last_beat_at,
                &interval,
                &beat.stopped_at,
            ],
        ),
    )
    .await?;
    Ok(())
}

/// The write statements, prepared once per connection.
async fn prepare<'l>(
    live: &'l mut Live,
    settings: &Settings,
    limit: Duration,
) -> Result<&'l Prepared, Fail> {
    let prepared = match live.prepared.take() {
        Some(prepared) => prepared,
        None => {
            let sql = &settings.sql;
            let client = &live.client;
            let pipelines = within(limit, client.prepare(&sql.upserts[0])).await?;
            let processes = within(limit, client.prepare(&sql.upserts[1])).await?;
            let steps = within(limit, client.prepare(&sql.upserts[2])).await?;
            let recorder = within(limit, client.prepare(&sql.upsert_recorder)).await?;
            Prepared {
                upserts: [pipelines, processes, steps],
                upsert_recorder: recorder,
            }
        }
    };
    Ok(live.prepared.insert(prepared))
}

/// A batch reduced to one record per entity — the one a row would end up with had the records
/// been written one by one — per table, in key order (so concurrent writers lock rows in the
/// same order). One `INSERT … ON CONFLICT` statement cannot touch the same row twice.
pub(super) struct Batch<'r> {
    tables: [Vec<&'r ExecutionRecord>; 3],
}

impl<'r> Batch<'r> {
    pub(super) fn new(records: &'r [ExecutionRecord]) -> Self {
        let mut latest: BTreeMap<EntityKey, &'r ExecutionRecord> = BTreeMap::new();
        for record in records {
            match latest.entry(record.key()) {
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(record);
                }
                std::collections::btree_map::Entry::Occupied(mut slot) => {
                    if record.supersedes(slot.get()) {
                        slot.insert(record);
                    }
                }
            }
        }
        let mut tables: [Vec<&'r ExecutionRecord>; 3] = Default::default();
        for record in latest.into_values() {
            tables[kind_index(record.kind())].push(record);
        }
        Batch { tables }
    }
}

/// One value of a row, typed as its column.
pub(super) enum Val<'r> {
    Text(Option<Cow<'r, str>>),
    Int(Option<i64>),
    Bool(bool),
    Time(DateTime<Utc>),
}

/// One array parameter: a column of a chunk of rows.
enum Column<'r> {
    Text(Vec<Option<Cow<'r, str>>>),
    Int(Vec<Option<i64>>),
    Bool(Vec<bool>),
    Time(Vec<DateTime<Utc>>),
}

struct Columns<'r>(Vec<Column<'r>>);

impl<'r> Columns<'r> {
    fn new(table: &Table, records: &[&'r ExecutionRecord]) -> Self {
        let n = records.len();
        let mut columns: Vec<Column<'r>> = table
            .columns
            .iter()
            .map(|(_, ty)| match ty {
                Ty::Text => Column::Text(Vec::with_capacity(n)),
                Ty::BigInt => Column::Int(Vec::with_capacity(n)),
                Ty::Bool => Column::Bool(Vec::with_capacity(n)),
                Ty::Time => Column::Time(Vec::with_capacity(n)),
            })
            .collect();
        for record in records {
            for (column, value) in columns.iter_mut().zip(row_values(record)) {
                match (column, value) {
                    (Column::Text(c), Val::Text(v)) => c.push(v),
                    (Column::Int(c), Val::Int(v)) => c.push(v),
                    (Column::Bool(c), Val::Bool(v)) => c.push(v),
                    (Column::Time(c), Val::Time(v)) => c.push(v),
                    _ => unreachable!("row_values follows the table's column types"),
                }
            }
        }
        Columns(columns)
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0
            .iter()
            .map(|column| match column {
                Column::Text(v) => v as &(dyn ToSql + Sync),
                Column::Int(v) => v as &(dyn ToSql + Sync),
                Column::Bool(v) => v as &(dyn ToSql + Sync),
                Column::Time(v) => v as &(dyn ToSql + Sync),
            })
            .collect()
    }
}

/// A record's values in its table's column order ([`PIPELINES`], [`PROCESSES`], [`STEPS`]).
pub(super) fn row_values(record: &ExecutionRecord) -> Vec<Val<'_>> {
    fn text(s: &str) -> Val<'_> {
        Val::Text(Some(without_nul(s)))
    }
    fn opt(s: &Option<String>) -> Val<'_> {
        Val::Text(s.as_deref().map(without_nul))
    }
    fn duration(d: Option<u64>) -> Val<'static> {
        Val::Int(d.map(clamp_i64))
    }
    match record {
        ExecutionRecord::Pipeline(r) => vec![
            text(&r.run_id),
            Val::Int(Some(i64::from(r.attempt))),
            Val::Text(Some(Cow::Borrowed(r.event.as_str()))),
            opt(&r.correlation_id),
            Val::Bool(r.last_attempt),
            text(&r.pipeline),
            Val::Time(r.started_at),
            Val::Text(Some(Cow::Borrowed(r.status.as_str()))),
            duration(r.duration_ms),
            opt(&r.error),
            opt(&r.error_type),
            opt(&r.error_message),
            opt(&r.failed_step_run_id),
            opt(&r.failed_step),
            opt(&r.trace_id),
            opt(&r.span_id),
            opt(&r.recorder_id),
        ],
        ExecutionRecord::Process(r) => vec![
            text(&r.process_run_id),
            Val::Text(Some(Cow::Borrowed(r.event.as_str()))),
            text(&r.run_id),
            opt(&r.correlation_id),
            Val::Int(Some(i64::from(r.attempt))),
            text(&r.process),
            Val::Time(r.started_at),
            Val::Text(Some(Cow::Borrowed(r.status.as_str()))),
            duration(r.duration_ms),
            opt(&r.error),
            opt(&r.error_type),
            opt(&r.error_message),
            opt(&r.failed_step_run_id),
            opt(&r.failed_step),
            opt(&r.trace_id),
            opt(&r.span_id),
            opt(&r.recorder_id),
        ],
        ExecutionRecord::Step(r) => vec![
            text(&r.step_run_id),
            Val::Text(Some(Cow::Borrowed(r.event.as_str()))),
            text(&r.run_id),
            opt(&r.correlation_id),
            Val::Int(Some(i64::from(r.attempt))),
            text(&r.step),
            opt(&r.process_run_id),
            Val::Time(r.started_at),
            Val::Text(Some(Cow::Borrowed(r.status.as_str()))),
            duration(r.duration_ms),
            opt(&r.error),
            opt(&r.error_type),
            opt(&r.error_message),
            opt(&r.trace_id),
            opt(&r.span_id),
            opt(&r.recorder_id),
        ],
    }
}

/// PostgreSQL text cannot hold NUL characters: they become U+FFFD (as the layer does), rather
/// than a batch the server refuses forever.
fn without_nul(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::super::schema::{Sql, SCHEMA_V1};
    use super::*;
    use crate::record::{EntityKind, PipelineRunRecord, ProcessRunRecord, StepRunRecord};

    #[test]
    fn upserts_have_one_array_per_column_and_keep_end_records() {
        let sql = Sql::new("\"s\"".into());
        assert!(sql.upserts[0].contains("$17::text[]"));
        assert!(!sql.upserts[0].contains("$18"));
        assert!(sql.upserts[2].contains("$16::text[]"));
        assert!(sql.upserts[0].contains("ON CONFLICT (run_id, attempt)"));
        assert!(!sql.upserts[0].contains("attempt = excluded.attempt"));
        assert!(sql.upserts[1]
            .contains("WHERE excluded.event = 'process_end' OR t.event = 'process_start'"));
        for table in TABLES {
            assert_eq!(
                table.columns.len(),
                row_values(&sample(table.kind)).len(),
                "{:?}",
                table.kind
            );
            for (name, _) in table.columns {
                assert!(SCHEMA_V1.contains(&format!("    {name} ")), "{name}");
            }
        }
    }

    fn sample(kind: EntityKind) -> ExecutionRecord {
        let now = Utc::now();
        match kind {
            EntityKind::Pipeline => PipelineRunRecord::started("r", "p", now).into(),
            EntityKind::Process => ProcessRunRecord::started("r", "pr", "p", now).into(),
            EntityKind::Step => StepRunRecord::started("r", "s", "s", now).into(),
        }
    }
}
