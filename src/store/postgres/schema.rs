//! The schema: the entity tables and their columns, the DDL, the schema version, migrations,
//! and the statement texts built from the schema name.

use std::time::Duration;

use tokio_postgres::Client;

use super::builder::Settings;
use super::connection::{within, Fail};
#[cfg(doc)]
use super::write::row_values;
use super::write::upsert_sql;
use super::POSTGRES_SCHEMA_VERSION;
use crate::record::{EntityKind, EventName};
use crate::store::newer_schema;

/// A column's SQL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ty {
    Text,
    BigInt,
    Bool,
    Time,
}

impl Ty {
    pub(super) const fn sql(self) -> &'static str {
        match self {
            Ty::Text => "text",
            Ty::BigInt => "bigint",
            Ty::Bool => "boolean",
            Ty::Time => "timestamptz",
        }
    }
}

/// One of the three entity tables: its columns (in the order of [`row_values`]) and its key.
#[derive(Debug)]
pub(super) struct Table {
    pub(super) kind: EntityKind,
    pub(super) key: &'static [&'static str],
    pub(super) columns: &'static [(&'static str, Ty)],
    pub(super) start: EventName,
    pub(super) end: EventName,
}

pub(super) const PIPELINES: Table = Table {
    kind: EntityKind::Pipeline,
    key: &["run_id", "attempt"],
    columns: &[
        ("run_id", Ty::Text),
        ("attempt", Ty::BigInt),
        ("event", Ty::Text),
        ("correlation_id", Ty::Text),
        ("last_attempt", Ty::Bool),
        ("pipeline", Ty::Text),
        ("started_at", Ty::Time),
        ("status", Ty::Text),
        ("duration_ms", Ty::BigInt),
        ("error", Ty::Text),
        ("error_type", Ty::Text),
        ("error_message", Ty::Text),
        ("failed_step_run_id", Ty::Text),
        ("failed_step", Ty::Text),
        ("trace_id", Ty::Text),
        ("span_id", Ty::Text),
        ("recorder_id", Ty::Text),
    ],
    start: EventName::PipelineStart,
    end: EventName::PipelineEnd,
};

pub(super) const PROCESSES: Table = Table {
    kind: EntityKind::Process,
    key: &["process_run_id"],
    columns: &[
        ("process_run_id", Ty::Text),
        ("event", Ty::Text),
        ("run_id", Ty::Text),
        ("correlation_id", Ty::Text),
        ("attempt", Ty::BigInt),
        ("process", Ty::Text),
        ("started_at", Ty::Time),
        ("status", Ty::Text),
        ("duration_ms", Ty::BigInt),
        ("error", Ty::Text),
        ("error_type", Ty::Text),
        ("error_message", Ty::Text),
        ("failed_step_run_id", Ty::Text),
        ("failed_step", Ty::Text),
        ("trace_id", Ty::Text),
        ("span_id", Ty::Text),
        ("recorder_id", Ty::Text),
    ],
    start: EventName::ProcessStart,
    end: EventName::ProcessEnd,
};

pub(super) const STEPS: Table = Table {
    kind: EntityKind::Step,
    key: &["step_run_id"],
    columns: &[
        ("step_run_id", Ty::Text),
        ("event", Ty::Text),
        ("run_id", Ty::Text),
        ("correlation_id", Ty::Text),
        ("attempt", Ty::BigInt),
        ("step", Ty::Text),
        ("process_run_id", Ty::Text),
        ("started_at", Ty::Time),
        ("status", Ty::Text),
        ("duration_ms", Ty::BigInt),
        ("error", Ty::Text),
        ("error_type", Ty::Text),
        ("error_message", Ty::Text),
        ("trace_id", Ty::Text),
        ("span_id", Ty::Text),
        ("recorder_id", Ty::Text),
    ],
    start: EventName::StepStart,
    end: EventName::StepEnd,
};

pub(super) const TABLES: [&Table; 3] = [&PIPELINES, &PROCESSES, &STEPS];

const RECORDER_COLUMNS: &str =
    "recorder_id, host, pid, started_at, last_beat_at, beat_interval_ms, stopped_at";

/// Version 1 of the schema; `{schema}` is the quoted schema name. The columns match [`Table`].
/// Statuses are indexed only for the rows people look up by status (running and failed ones):
/// most rows end `success`, and leaving them out keeps the index small and writes cheap.
pub(super) const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS {schema}.pipeline_runs (
    run_id             text        NOT NULL,
    attempt            bigint      NOT NULL,
    event              text        NOT NULL CHECK (event IN ('pipeline_start', 'pipeline_end')),
    correlation_id     text,
    last_attempt       boolean     NOT NULL,
    pipeline           text        NOT NULL,
    started_at         timestamptz NOT NULL,
    status             text        NOT NULL CHECK (status IN ('running', 'success', 'failed')),
    duration_ms        bigint,
    error              text,
    error_type         text,
    error_message      text,
    failed_step_run_id text,
    failed_step        text,
    trace_id           text,
    span_id            text,
    recorder_id        text,
    PRIMARY KEY (run_id, attempt)
);
CREATE INDEX IF NOT EXISTS pipeline_runs_started_at ON {schema}.pipeline_runs (started_at);
CREATE INDEX IF NOT EXISTS pipeline_runs_unfinished ON {schema}.pipeline_runs (status)
    WHERE status <> 'success';
CREATE TABLE IF NOT EXISTS {schema}.process_runs (
    process_run_id     text        NOT NULL PRIMARY KEY,
    event              text        NOT NULL CHECK (event IN ('process_start', 'process_end')),
    run_id             text        NOT NULL,
    correlation_id     text,
    attempt            bigint      NOT NULL,
    process            text        NOT NULL,
    started_at         timestamptz NOT NULL,
    status             text        NOT NULL CHECK (status IN ('running', 'success', 'failed')),
    duration_ms        bigint,
    error              text,
    error_type         text,
    error_message      text,
    failed_step_run_id text,
    failed_step        text,
    trace_id           text,
    span_id            text,
    recorder_id        text
);
CREATE INDEX IF NOT EXISTS process_runs_run ON {schema}.process_runs (run_id, attempt);
CREATE INDEX IF NOT EXISTS process_runs_unfinished ON {schema}.process_runs (status)
    WHERE status <> 'success';
CREATE TABLE IF NOT EXISTS {schema}.step_runs (
    step_run_id        text        NOT NULL PRIMARY KEY,
    event              text        NOT NULL CHECK (event IN ('step_start', 'step_end')),
    run_id             text        NOT NULL,
    correlation_id     text,
    attempt            bigint      NOT NULL,
    step               text        NOT NULL,
    process_run_id     text,
    started_at         timestamptz NOT NULL,
    status             text        NOT NULL CHECK (status IN ('running', 'success', 'failed')),
    duration_ms        bigint,
    error              text,
    error_type         text,
    error_message      text,
    trace_id           text,
    span_id            text,
    recorder_id        text
);
CREATE INDEX IF NOT EXISTS step_runs_run ON {schema}.step_runs (run_id, attempt);
CREATE INDEX IF NOT EXISTS step_runs_unfinished ON {schema}.step_runs (status)
    WHERE status <> 'success';
CREATE TABLE IF NOT EXISTS {schema}.recorders (
    recorder_id        text        NOT NULL PRIMARY KEY,
    host               text        NOT NULL,
    pid                bigint      NOT NULL,
    started_at         timestamptz NOT NULL,
    last_beat_at       timestamptz NOT NULL,
    beat_interval_ms   bigint      NOT NULL,
    stopped_at         timestamptz
);
";

/// The table that holds the schema version: one row.
const VERSION_TABLE: &str = "tracing_etl_schema";

/// Statement texts, built once from the quoted schema name.
#[derive(Debug)]
pub(super) struct Sql {
    /// The quoted schema name.
    pub(super) schema: String,
    pub(super) upserts: [String; 3],
    pub(super) upsert_recorder: String,
    pub(super) selects: [String; 3],
    pub(super) select_recorders: String,
}

impl Sql {
    pub(super) fn new(schema: String) -> Self {
        let upserts = TABLES.map(|t| upsert_sql(&schema, t));
        let selects = TABLES.map(|t| {
            let columns: Vec<&str> = t.columns.iter().map(|(name, _)| *name).collect();
            format!(
                "SELECT {} FROM {schema}.{}",
                columns.join(", "),
                t.kind.table()
            )
        });
        let upsert_recorder = format!(
            "INSERT INTO {schema}.recorders ({RECORDER_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (recorder_id) DO UPDATE SET
                 host = excluded.host, pid = excluded.pid, started_at = excluded.started_at,
                 last_beat_at = excluded.last_beat_at,
                 beat_interval_ms = excluded.beat_interval_ms, stopped_at = excluded.stopped_at"
        );
        let select_recorders = format!(
            "SELECT {RECORDER_COLUMNS} FROM {schema}.recorders ORDER BY started_at, recorder_id"
        );
        Sql {
            schema,
            upserts,
            upsert_recorder,
            selects,
            select_recorders,
        }
    }

    /// `"schema".table`, quoted, as text for `to_regclass`.
    fn regclass(&self, table: &str) -> String {
        format!("{}.{table}", self.schema)
    }
}

pub(super) fn table(kind: EntityKind) -> &'static Table {
    TABLES[kind_index(kind)]
}

pub(super) fn kind_index(kind: EntityKind) -> usize {
    match kind {
        EntityKind::Pipeline => 0,
        EntityKind::Process => 1,
        EntityKind::Step => 2,
    }
}

/// The schema version recorded in the schema, `None` when there is no version table.
async fn read_version(
    client: &Client,
    settings: &Settings,
    limit: Duration,
) -> Result<Option<i32>, Fail> {
    let sql = &settings.sql;
    let exists = within(
        limit,
        client.query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&sql.regclass(VERSION_TABLE)],
        ),
    )
    .await?;
    if !exists.try_get::<_, bool>(0)? {
        return Ok(None);
    }
    select_version(client, settings, limit).await
}

/// The schema version recorded in the version table, which must exist; `None` when it holds
/// no row.
async fn select_version(
    client: &Client,
    settings: &Settings,
    limit: Duration,
) -> Result<Option<i32>, Fail> {
    let sql = &settings.sql;
    let row = within(
        limit,
        client.query_opt(
            &format!("SELECT max(version) FROM {}.{VERSION_TABLE}", sql.schema),
            &[],
        ),
    )
    .await?;
    Ok(row.and_then(|row| row.get::<_, Option<i32>>(0)))
}

fn check_version(version: i32) -> Result<(), Fail> {
    match newer_schema(version.into(), POSTGRES_SCHEMA_VERSION.into()) {
        Some(message) => Err(Fail::Invalid(message)),
        None => Ok(()),
    }
}

/// For a read-only store: the tables must be there, in a version this release reads.
pub(super) async fn check_tables(
    client: &Client,
    settings: &Settings,
    limit: Duration,
) -> Result<(), Fail> {
    let names = [
        VERSION_TABLE,
        "pipeline_runs",
        "process_runs",
        "step_runs",
        "recorders",
    ];
    let regclasses: Vec<String> = names.iter().map(|t| settings.sql.regclass(t)).collect();
    let row = within(
        limit,
        client.query_one(
            "SELECT array_agg(to_regclass(name) IS NOT NULL ORDER BY n)
             FROM unnest($1::text[]) WITH ORDINALITY AS t(name, n)",
            &[&regclasses],
        ),
    )
    .await?;
    let present: Vec<bool> = row.try_get(0)?;
    if present.iter().all(|p| !p) {
        return Err(Fail::Invalid(format!(
            "no tracing-etl tables in schema {} (nothing has been recorded into it yet)",
            settings.sql.schema
        )));
    }
    let missing: Vec<&str> = names
        .iter()
        .zip(&present)
        .filter(|(_, present)| !**present)
        .map(|(name, _)| *name)
        .collect();
    if !missing.is_empty() {
        return Err(Fail::Invalid(format!(
            "not a complete tracing-etl schema: missing table(s) {}",
            missing.join(", ")
        )));
    }
    // The version table is among those just found.
    match select_version(client, settings, limit).await? {
        Some(version) => check_version(version),
        None => Err(Fail::Invalid("no schema version recorded".into())),
    }
}

/// Creates or migrates the schema. Nothing is done (no DDL, no lock) when it is current.
pub(super) async fn migrate(
    client: &mut Client,
    settings: &Settings,
    limit: Duration,
) -> Result<(), Fail> {
    if let Some(version) = read_version(client, settings, limit).await? {
        check_version(version)?;
        if version == POSTGRES_SCHEMA_VERSION {
            return Ok(());
        }
    }
    let sql = &settings.sql;
    let tx = within(limit, client.transaction()).await?;
    // Programs starting together on a new schema: one migrates, the others wait and find it done.
    within(
        limit,
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            &[&format!("tracing-etl schema {}", sql.schema)],
        ),
    )
    .await?;
    let exists = within(
        limit,
        tx.query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&settings.schema],
        ),
    )
    .await?;
    if !exists.try_get::<_, bool>(0)? {
        within(
            limit,
            tx.batch_execute(&format!("CREATE SCHEMA {}", sql.schema)),
        )
        .await?;
    }
    within(
        limit,
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {}.{VERSION_TABLE} (
                 id          smallint    NOT NULL PRIMARY KEY CHECK (id = 1),
                 version     integer     NOT NULL,
                 migrated_at timestamptz NOT NULL DEFAULT now()
             )",
            sql.schema
        )),
    )
    .await?;
    let row = within(
        limit,
        tx.query_opt(
            &format!(
                "SELECT version FROM {}.{VERSION_TABLE} FOR UPDATE",
                sql.schema
            ),
            &[],
        ),
    )
    .await?;
    let version = row
        .map(|r| r.try_get::<_, i32>(0))
        .transpose()?
        .unwrap_or(0);
    check_version(version)?;
    if version < 1 {
        within(
            limit,
            tx.batch_execute(&SCHEMA_V1.replace("{schema}", &sql.schema)),
        )
        .await?;
    }
    if version < POSTGRES_SCHEMA_VERSION {
        within(
            limit,
            tx.execute(
                &format!(
                    "INSERT INTO {}.{VERSION_TABLE} (id, version, migrated_at) VALUES (1, $1, now())
                     ON CONFLICT (id) DO UPDATE SET version = excluded.version,
                         migrated_at = excluded.migrated_at",
                    sql.schema
                ),
                &[&POSTGRES_SCHEMA_VERSION],
            ),
        )
        .await?;
    }
    within(limit, tx.commit()).await
}
