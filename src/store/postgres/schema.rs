//! The schema: the record tables' DDL (from the column table), the schema version, migrations,
//! and the statement texts built from the schema name.

use std::time::Duration;

use tokio_postgres::Client;

use super::builder::Settings;
use super::connection::{within, Fail};
use super::write::upsert_sql;
use super::POSTGRES_SCHEMA_VERSION;
use crate::record::columns::{self, Column, ColumnType, Value, CANCELLED_SINCE, INDEXES_SINCE};
use crate::record::{EntityKind, EventName, Phase, RunStatus};
use crate::store::newer_schema;
use crate::store::sql_schema::{self, SqlDialect};

/// PostgreSQL's types and constraints.
pub(super) struct Postgres;

impl SqlDialect for Postgres {
    fn column_type(ty: ColumnType) -> &'static str {
        match ty {
            // Lists as the text of a JSON array (`inputs::jsonb` reads them as JSON).
            ColumnType::Text | ColumnType::Event | ColumnType::Status | ColumnType::List => "text",
            ColumnType::Integer => "bigint",
            ColumnType::Bool => "boolean",
            ColumnType::Time => "timestamptz",
        }
    }

    /// Events and statuses are one of their names.
    fn check(kind: EntityKind, column: &Column) -> Option<String> {
        let names: Vec<&str> = match column.ty {
            ColumnType::Event => [Phase::Start, Phase::End]
                .map(|phase| EventName::new(kind, phase).as_str())
                .to_vec(),
            ColumnType::Status => return Some(status_check()),
            _ => return None,
        };
        let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
        Some(format!("{} IN ({})", column.name, quoted.join(", ")))
    }

    fn literal(value: Value<'_>) -> String {
        match value {
            Value::Null => "NULL".into(),
            Value::Text(text) => format!("'{}'", text.replace('\'', "''")),
            Value::Integer(n) => crate::store::clamp_i64(n).to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Time(t) => format!("'{}'", t.to_rfc3339()),
            Value::List(list) => format!("'{}'", columns::list_json(list).replace('\'', "''")),
        }
    }
}

/// The recorders table; `{schema}` is the quoted schema name.
const RECORDERS: &str = "
CREATE TABLE IF NOT EXISTS {schema}.recorders (
    recorder_id        text        NOT NULL PRIMARY KEY,
    host               text        NOT NULL,
    pid                bigint      NOT NULL,
    started_at         timestamptz NOT NULL,
    last_beat_at       timestamptz NOT NULL,
    beat_interval_ms   bigint      NOT NULL,
    stopped_at         timestamptz
)";

const RECORDER_COLUMNS: &str =
    "recorder_id, host, pid, started_at, last_beat_at, beat_interval_ms, stopped_at";

/// The current schema in `schema` (quoted), for a schema without tables. Statuses are indexed
/// only for the rows people look up by status (running and failed ones): most rows end
/// `success`, and leaving them out keeps the index small and writes cheap.
fn create_schema(schema: &str) -> String {
    let mut sql = String::new();
    for kind in EntityKind::ALL {
        let name = kind.table();
        let table = format!("{schema}.{name}");
        sql.push_str(&sql_schema::create_table::<Postgres>(kind, &table));
        sql.push_str(";\n");
        sql.push_str(&indexes(kind, &table));
    }
    sql.push_str(&RECORDERS.replace("{schema}", schema));
    sql
}

/// The `CREATE INDEX IF NOT EXISTS` statements of `kind`'s table `table` (qualified): rows
/// that started at the same time are read by their key.
fn indexes(kind: EntityKind, table: &str) -> String {
    let unfinished = Some("status <> 'success'");
    let key = crate::record::columns::key(kind);
    sql_schema::create_indexes(kind, kind.table(), table, key, "unfinished", unfinished)
}

/// What a migration of `schema` (quoted) to `version` does besides adding the columns it adds.
fn migration_extras(schema: &str, version: u32) -> Vec<String> {
    match version {
        // Processes and steps of a run that was not the last attempt say so.
        2 => ["process_runs", "step_runs"]
            .map(|table| {
                format!(
                    "UPDATE {schema}.{table} t SET last_attempt = false
                     FROM {schema}.pipeline_runs p
                     WHERE p.run_id = t.run_id AND p.attempt = t.attempt AND NOT p.last_attempt"
                )
            })
            .to_vec(),
        // `cancelled` joins the statuses: the CHECK constraint that the column was created
        // with (named by PostgreSQL's default, `<table>_status_check`) is replaced.
        CANCELLED_SINCE => EntityKind::ALL
            .map(|kind| {
                let name = kind.table();
                let check = status_check();
                format!(
                    "ALTER TABLE {schema}.{name} DROP CONSTRAINT IF EXISTS {name}_status_check,
                     ADD CONSTRAINT {name}_status_check CHECK ({check})"
                )
            })
            .to_vec(),
        // The indexes that reads need replace those they make redundant.
        INDEXES_SINCE => EntityKind::ALL
            .map(|kind| {
                let name = kind.table();
                let schema_dot = format!("{schema}.");
                sql_schema::drop_replaced_indexes(kind, name, &schema_dot, "unfinished")
                    + &indexes(kind, &format!("{schema}.{name}"))
            })
            .to_vec(),
        _ => Vec::new(),
    }
}

/// The `CHECK` constraint of the `status` column: one of the statuses.
fn status_check() -> String {
    let quoted: Vec<String> = RunStatus::ALL
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("status IN ({})", quoted.join(", "))
}

/// The table that holds the schema version: one row.
const VERSION_TABLE: &str = "tracing_etl_schema";

/// Statement texts, built once from the quoted schema name.
#[derive(Debug)]
pub(super) struct Sql {
    /// The quoted schema name.
    pub(super) schema: String,
    /// Per kind, in [`EntityKind`] order.
    pub(super) upserts: [String; 3],
    pub(super) upsert_recorder: String,
    pub(super) select_recorders: String,
}

impl Sql {
    pub(super) fn new(schema: String) -> Self {
        let upserts = EntityKind::ALL.map(|kind| upsert_sql(&schema, kind));
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
            select_recorders,
        }
    }

    /// `SELECT <the columns of schema version> FROM <kind's table>`.
    pub(super) fn select(&self, kind: EntityKind, version: u32) -> String {
        format!(
            "SELECT {} FROM {}.{}",
            sql_schema::column_list(kind, version),
            self.schema,
            kind.table()
        )
    }

    /// `"schema".table`, quoted, as text for `to_regclass`.
    fn regclass(&self, table: &str) -> String {
        format!("{}.{table}", self.schema)
    }
}

/// The schema version recorded in the schema, `None` when there is no version table or it
/// holds no row.
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

/// The version, which this release reads, or the failure that says it is newer.
fn check_version(version: i32) -> Result<u32, Fail> {
    match newer_schema(version.into(), POSTGRES_SCHEMA_VERSION.into()) {
        Some(message) => Err(Fail::Invalid(message)),
        None => u32::try_from(version).map_err(|_| {
            Fail::Invalid(format!(
                "schema version {version} is not one tracing-etl writes"
            ))
        }),
    }
}

/// For a read-only store: the tables must be there, in a version this release reads (which it
/// returns).
pub(super) async fn check_tables(
    client: &Client,
    settings: &Settings,
    limit: Duration,
) -> Result<u32, Fail> {
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
    // The version table is among those just found: no version is no row.
    match read_version(client, settings, limit).await? {
        Some(version) => check_version(version),
        None => Err(Fail::Invalid("no schema version recorded".into())),
    }
}

/// Creates or migrates the schema, and returns its version (the current one). Nothing is done
/// (no DDL, no lock) when it is current.
pub(super) async fn migrate(
    client: &mut Client,
    settings: &Settings,
    limit: Duration,
) -> Result<u32, Fail> {
    if let Some(version) = read_version(client, settings, limit).await? {
        if check_version(version)? == crate::record::columns::SCHEMA_VERSION {
            return Ok(crate::record::columns::SCHEMA_VERSION);
        }
    }
    let sql = &settings.sql;
    let schema = &sql.schema;
    let tx = within(limit, client.transaction()).await?;
    // Programs starting together on a new schema: one migrates, the others wait and find it done.
    within(
        limit,
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            &[&format!("tracing-etl schema {schema}")],
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
        within(limit, tx.batch_execute(&format!("CREATE SCHEMA {schema}"))).await?;
    }
    within(
        limit,
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {schema}.{VERSION_TABLE} (
                 id          smallint    NOT NULL PRIMARY KEY CHECK (id = 1),
                 version     integer     NOT NULL,
                 migrated_at timestamptz NOT NULL DEFAULT now()
             )"
        )),
    )
    .await?;
    let row = within(
        limit,
        tx.query_opt(
            &format!("SELECT version FROM {schema}.{VERSION_TABLE} FOR UPDATE"),
            &[],
        ),
    )
    .await?;
    let version = row
        .map(|r| r.try_get::<_, i32>(0))
        .transpose()?
        .unwrap_or(0);
    let version = check_version(version)?;
    let mut statements = Vec::new();
    if version == 0 {
        statements.push(create_schema(schema));
    } else {
        for to in sql_schema::versions_after(version) {
            for kind in EntityKind::ALL {
                let table = format!("{schema}.{}", kind.table());
                statements.extend(sql_schema::added_columns::<Postgres>(kind, &table, to));
            }
            statements.extend(migration_extras(schema, to));
        }
    }
    for statement in &statements {
        within(limit, tx.batch_execute(statement)).await?;
    }
    if version < crate::record::columns::SCHEMA_VERSION {
        within(
            limit,
            tx.execute(
                &format!(
                    "INSERT INTO {schema}.{VERSION_TABLE} (id, version, migrated_at) VALUES (1, $1, now())
                     ON CONFLICT (id) DO UPDATE SET version = excluded.version,
                         migrated_at = excluded.migrated_at"
                ),
                &[&POSTGRES_SCHEMA_VERSION],
            ),
        )
        .await?;
    }
    within(limit, tx.commit()).await?;
    Ok(crate::record::columns::SCHEMA_VERSION)
}
