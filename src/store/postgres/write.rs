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
use super::schema::Postgres;
use crate::record::columns::{self, ColumnType, Value};
use crate::record::{EntityKey, EntityKind, ExecutionRecord, RecorderHeartbeat};
use crate::store::clamp_i64;
use crate::store::sql_schema::{self, SqlDialect};

/// Rows per `INSERT … SELECT FROM unnest(…)` statement: each column is one array parameter, so
/// there is no parameter limit to stay under; this only bounds the size of one message.
const ROWS_PER_STATEMENT: usize = 10_000;

/// The write statements, prepared on a connection.
pub(super) struct Prepared {
    upserts: [Statement; 3],
    upsert_recorder: Statement,
}

/// `INSERT INTO t (cols) SELECT * FROM unnest($1::type[], …) ON CONFLICT (key) DO UPDATE SET …
/// WHERE` the incoming record supersedes the stored one: the columns of `kind` in table order.
pub(super) fn upsert_sql(schema: &str, kind: EntityKind) -> String {
    let arrays: Vec<String> = columns::of(kind)
        .enumerate()
        .map(|(i, c)| format!("${}::{}[]", i + 1, Postgres::column_type(c.ty)))
        .collect();
    format!(
        "INSERT INTO {schema}.{} AS t ({})
         SELECT * FROM unnest({})
         ON CONFLICT ({}) DO UPDATE SET {}
         WHERE {}",
        kind.table(),
        sql_schema::column_list(kind, columns::SCHEMA_VERSION),
        arrays.join(", "),
        columns::key(kind).join(", "),
        sql_schema::update_set(kind),
        sql_schema::supersedes(kind, "t"),
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
    for (kind, records) in EntityKind::ALL.into_iter().zip(&batch.tables) {
        let statement = &statements[kind.index()];
        for chunk in records.chunks(ROWS_PER_STATEMENT) {
            let columns = Columns::new(kind, chunk);
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
            tables[record.kind.index()].push(record);
        }
        Batch { tables }
    }
}

/// One array parameter: a column of a chunk of rows.
enum Column<'r> {
    Text(Vec<Option<Cow<'r, str>>>),
    Int(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
    Time(Vec<Option<DateTime<Utc>>>),
}

struct Columns<'r>(Vec<Column<'r>>);

impl<'r> Columns<'r> {
    /// The columns of `kind`'s table, in table order, for `records` (all of that kind).
    fn new(kind: EntityKind, records: &[&'r ExecutionRecord]) -> Self {
        let columns = columns::of(kind)
            .map(|c| {
                let values = records.iter().map(|r| c.get(r));
                match c.ty {
                    ColumnType::Text | ColumnType::Event | ColumnType::Status => {
                        Column::Text(values.map(|v| v.text().map(without_nul)).collect())
                    }
                    // JSON escapes NUL characters: nothing to replace.
                    ColumnType::List => Column::Text(values.map(Value::text_or_json).collect()),
                    ColumnType::Integer => {
                        Column::Int(values.map(|v| v.integer().map(clamp_i64)).collect())
                    }
                    ColumnType::Bool => Column::Bool(values.map(Value::boolean).collect()),
                    ColumnType::Time => Column::Time(values.map(Value::time).collect()),
                }
            })
            .collect();
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
    use super::super::schema::Sql;
    use super::*;

    #[test]
    fn upserts_have_one_array_per_column_and_keep_end_records() {
        let sql = Sql::new("\"s\"".into());
        let [pipelines, processes, steps] = &sql.upserts;
        assert!(pipelines.contains("$21::text[]"));
        assert!(!pipelines.contains("$22"));
        assert!(steps.contains("$21::text[]") && !steps.contains("$22"));
        assert!(steps.contains("$18::bigint[], $19::bigint[], $20::text[]"));
        assert!(steps.contains("::boolean[]"));
        assert!(pipelines.contains("ON CONFLICT (run_id, attempt)"));
        assert!(!pipelines.contains("attempt = excluded.attempt"));
        assert!(
            processes.contains("WHERE excluded.event = 'process_end' OR t.event = 'process_start'")
        );
    }

    #[test]
    fn columns_follow_the_table() {
        let now = Utc::now();
        let step = ExecutionRecord::step_start("r", "s\0", "load", now)
            .ended(crate::RunStatus::Success, 4);
        let columns = Columns::new(EntityKind::Step, &[&step]);
        assert_eq!(columns.0.len(), columns::of(EntityKind::Step).count());
        let texts: Vec<_> = columns
            .0
            .iter()
            .filter_map(|c| match c {
                Column::Text(v) => v[0].clone(),
                _ => None,
            })
            .collect();
        assert!(texts.iter().any(|t| t == "s\u{FFFD}"), "{texts:?}");
        assert!(texts.iter().any(|t| t == "step_end"), "{texts:?}");
    }
}
