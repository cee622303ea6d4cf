//! [`PostgresStore`]: a shared store on a PostgreSQL server.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::StoreError;
use crate::record::{
    EntityKey, EntityKind, EventName, ExecutionRecord, PipelineRunRecord, ProcessRunRecord,
    RecorderHeartbeat, RunStatus, StepRunRecord,
};
use crate::store::{ExecutionRecordStore, RecordReader, RunFilter};

/// The schema version this release writes (the `version` column of the `tracing_etl_schema`
/// table in the store's schema).
///
/// A schema with a lower version is migrated on [`connect`](PostgresStore::connect); one with a
/// higher version is refused with [`StoreError::InvalidData`] rather than misread.
pub const POSTGRES_SCHEMA_VERSION: i32 = 1;

/// The `application_name` the store's connections report (in `pg_stat_activity`) unless the
/// connection string or [`PostgresStoreBuilder::application_name`] names another.
pub const DEFAULT_APPLICATION_NAME: &str = "tracing-etl";

const DEFAULT_SCHEMA: &str = "public";
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How much longer than the server's statement timeout the client waits for an answer before
/// it drops the connection (a server that hangs without cancelling anything).
const CLIENT_GRACE: Duration = Duration::from_secs(5);
/// Rows per `INSERT … SELECT FROM unnest(…)` statement: each column is one array parameter, so
/// there is no parameter limit to stay under; this only bounds the size of one message.
const ROWS_PER_STATEMENT: usize = 10_000;
/// Identifiers longer than this are silently truncated by PostgreSQL (`NAMEDATALEN - 1`).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// A column's SQL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Text,
    BigInt,
    Bool,
    Time,
}

impl Ty {
    const fn sql(self) -> &'static str {
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
struct Table {
    kind: EntityKind,
    key: &'static [&'static str],
    columns: &'static [(&'static str, Ty)],
    start: EventName,
    end: EventName,
}

const PIPELINES: Table = Table {
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

const PROCESSES: Table = Table {
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

const STEPS: Table = Table {
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

const TABLES: [&Table; 3] = [&PIPELINES, &PROCESSES, &STEPS];

const RECORDER_COLUMNS: &str =
    "recorder_id, host, pid, started_at, last_beat_at, beat_interval_ms, stopped_at";

/// Version 1 of the schema; `{schema}` is the quoted schema name. The columns match [`Table`].
/// Statuses are indexed only for the rows people look up by status (running and failed ones):
/// most rows end `success`, and leaving them out keeps the index small and writes cheap.
const SCHEMA_V1: &str = "
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

/// A shared store on a PostgreSQL server: tables `pipeline_runs`, `process_runs`, `step_runs`
/// and `recorders` in one schema (`public` unless [`PostgresStoreBuilder::schema`] names
/// another), one row per entity.
///
/// - **Schema.** [`connect`](Self::connect) creates the schema and its tables if needed and
///   migrates older versions ([`POSTGRES_SCHEMA_VERSION`], kept in the table
///   `tracing_etl_schema`), under an advisory lock so that programs starting together do not
///   race. When the version is current it runs no DDL at all, so a role with only `SELECT`,
///   `INSERT` and `UPDATE` on tables a DBA created works.
///   [`connect_read_only`](Self::connect_read_only) creates nothing and fails when the tables
///   are missing.
/// - **Writes.** Each batch is one transaction: the batch is reduced to one record per entity
///   (an end record wins over a start record, [`ExecutionRecord::supersedes`]), then each table
///   gets one `INSERT … SELECT FROM unnest($1, $2, …) ON CONFLICT … DO UPDATE … WHERE` statement
///   whose parameters are one array per column: every value is bound, none is ever spliced into
///   SQL, and the `WHERE` keeps a stored end record from being replaced by a start record that
///   arrives late. Writing the same batch twice leaves the same rows. Times are `timestamptz`
///   (PostgreSQL keeps microseconds: nanoseconds are cut); NUL characters, which PostgreSQL
///   text cannot hold, become U+FFFD.
/// - **TLS.** `sslmode` in the connection string decides: `disable` never encrypts; `prefer`
///   (the default) uses TLS when the server offers it *and* its certificate verifies against
///   the Mozilla roots (`webpki-roots`), else connects unencrypted, as libpq's `prefer` falls
///   back; `require` (also spelled `verify-ca` or `verify-full`) insists on TLS with a verified
///   certificate and host name. For a private CA or client certificates, pass your own
///   [`rustls::ClientConfig`] to [`PostgresStoreBuilder::tls_config`].
/// - **Timeouts.** Connecting gives up after the connect timeout (10 s); every statement runs
///   with the server's `statement_timeout` (30 s), and the client abandons a call whose answer
///   has not come 5 s after that, dropping the connection — so a call never blocks forever.
/// - **Failures.** A failed batch is rolled back and the store stays usable: after a lost
///   connection (server restart, `pg_terminate_backend`, timeout), the next call connects
///   again. The background writer retries failed batches, so nothing is lost to an outage.
/// - Connections identify themselves as `application_name = 'tracing-etl'`
///   ([`DEFAULT_APPLICATION_NAME`]) unless told otherwise.
///
/// The store runs its own small `tokio` runtime on the calling thread; its methods block. They
/// may be called from async code (they then wait on a thread of their own), but are best kept
/// off async worker threads, as the record writer does.
///
/// ```no_run
/// use std::time::Duration;
/// use tracing_etl::{ExecutionRecordsLayer, PostgresStore, RecordReader, RunFilter};
/// use tracing_subscriber::prelude::*;
///
/// let store = PostgresStore::builder("postgres://etl@db.internal/warehouse?sslmode=require")
///     .schema("etl")
///     .connect_timeout(Duration::from_secs(5))
///     .statement_timeout(Duration::from_secs(10))
///     .connect()?;
/// let (layer, guard) = ExecutionRecordsLayer::new(store);
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
///     let _run = tracing::info_span!("nightly", etl.pipeline = "nightly").entered();
/// });
/// drop(guard); // every record is in the database now
///
/// let mut reader = PostgresStore::builder("host=db.internal user=etl dbname=warehouse")
///     .schema("etl")
///     .connect_read_only()?;
/// let latest = reader.read_pipelines(&RunFilter::default().newest_first().limit(10))?;
/// # Ok::<(), tracing_etl::StoreError>(())
/// ```
pub struct PostgresStore {
    settings: Settings,
    live: Option<Live>,
    runtime: Rt,
}

/// Options for [`PostgresStore`]: schema, timeouts, TLS, application name.
///
/// ```no_run
/// # use std::time::Duration;
/// # use tracing_etl::PostgresStore;
/// let store = PostgresStore::builder("host=localhost user=etl dbname=warehouse")
///     .schema("etl")
///     .statement_timeout(Duration::from_secs(10))
///     .application_name("nightly-loader")
///     .connect()?;
/// # Ok::<(), tracing_etl::StoreError>(())
/// ```
#[derive(Clone)]
pub struct PostgresStoreBuilder {
    url: String,
    schema: String,
    connect_timeout: Option<Duration>,
    statement_timeout: Duration,
    application_name: Option<String>,
    tls: Option<rustls::ClientConfig>,
}

impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connection string may hold a password: not shown.
        f.debug_struct("PostgresStoreBuilder")
            .field("schema", &self.schema)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("application_name", &self.application_name)
            .field("custom_tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl PostgresStoreBuilder {
    /// The schema that holds the tables (default `public`). The name is taken as it is, case
    /// included (it is always quoted in SQL): `"etl"`, `"Team ETL"`. It must be 1 to 63 bytes
    /// without NUL characters; [`connect`](Self::connect) creates it if it does not exist.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// How long to wait for a connection (per host listed), default 10 s or the connection
    /// string's `connect_timeout`.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// The server's `statement_timeout` for the store's statements (default 30 s, at least
    /// 1 ms). The client gives up on a call 5 s after that and drops its connection.
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The `application_name` of the store's connections, as `pg_stat_activity` shows it
    /// (default: the connection string's, else `tracing-etl`).
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }

    /// The TLS configuration to use instead of the default (Mozilla roots, no client
    /// certificate): a private CA, client certificates, … It is used whenever `sslmode` is not
    /// `disable`.
    pub fn tls_config(mut self, config: rustls::ClientConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Connects, creates the schema and tables if needed and migrates older ones.
    pub fn connect(self) -> Result<PostgresStore, StoreError> {
        PostgresStore::open(self, Mode::ReadWrite)
    }

    /// Connects for reading only: nothing is created or changed (the session is
    /// `default_transaction_read_only`), and missing tables are an error. The `tracing-etl`
    /// command-line tool reads this way.
    pub fn connect_read_only(self) -> Result<PostgresStore, StoreError> {
        PostgresStore::open(self, Mode::ReadOnly)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    ReadWrite,
    ReadOnly,
}

/// TLS for a connection, by `sslmode`.
#[derive(Clone)]
enum Tls {
    Off,
    Rustls(MakeRustlsConnect),
}

/// Everything needed to (re)connect, and the SQL that depends on the schema name.
struct Settings {
    config: Config,
    tls: Tls,
    mode: Mode,
    schema: String,
    statement_timeout: Duration,
    connect_deadline: Duration,
    /// `user@host:port/dbname, schema "…"`, for error messages (no password).
    target: String,
    sql: Sql,
}

/// Statement texts, built once from the quoted schema name.
#[derive(Debug)]
struct Sql {
    /// The quoted schema name.
    schema: String,
    upserts: [String; 3],
    upsert_recorder: String,
    selects: [String; 3],
    select_recorders: String,
}

/// A connection and what was prepared on it.
struct Live {
    client: Client,
    task: JoinHandle<()>,
    prepared: Option<Prepared>,
}

struct Prepared {
    upserts: [Statement; 3],
    upsert_recorder: Statement,
}

/// Why a call failed, before it gets its context.
#[derive(Debug)]
enum Fail {
    Pg(tokio_postgres::Error),
    /// No answer within the client's deadline.
    Timeout(Duration),
    Invalid(String),
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.settings.target)
            .field("mode", &self.settings.mode)
            .field("connected", &self.live.is_some())
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the server named by `url` and brings the tables in schema `public` up to
    /// date (see [`builder`](Self::builder) for the options).
    ///
    /// `url` is a libpq-style connection string: `postgres://user:pass@host:5432/db?sslmode=require`
    /// or `host=localhost user=etl dbname=warehouse sslmode=disable`.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder(url).connect()
    }

    /// Connects for reading the tables in schema `public`, creating nothing; missing tables
    /// are an error.
    pub fn connect_read_only(url: &str) -> Result<Self, StoreError> {
        Self::builder(url).connect_read_only()
    }

    /// A builder for a store on the server named by `url`, to set the schema, timeouts, TLS.
    pub fn builder(url: impl Into<String>) -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            url: url.into(),
            schema: DEFAULT_SCHEMA.to_owned(),
            connect_timeout: None,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            application_name: None,
            tls: None,
        }
    }

    /// The schema holding the tables, unquoted.
    pub fn schema(&self) -> &str {
        &self.settings.schema
    }

    /// Whether the store was opened with [`connect_read_only`](Self::connect_read_only).
    pub fn is_read_only(&self) -> bool {
        self.settings.mode == Mode::ReadOnly
    }

    fn open(builder: PostgresStoreBuilder, mode: Mode) -> Result<Self, StoreError> {
        let settings = Settings::new(builder, mode)?;
        let runtime = Rt::new().map_err(|e| {
            StoreError::io(format!("{}: start the client runtime", settings.target), e)
        })?;
        let mut store = PostgresStore {
            settings,
            live: None,
            runtime,
        };
        store.ensure_connected()?;
        Ok(store)
    }

    /// Connects (again) unless the current connection is alive.
    fn ensure_connected(&mut self) -> Result<(), StoreError> {
        if self.live.as_ref().is_some_and(|l| !l.client.is_closed()) {
            return Ok(());
        }
        self.disconnect();
        let settings = &self.settings;
        match self.runtime.block_on(connect(settings)) {
            Ok(live) => {
                self.live = Some(live);
                Ok(())
            }
            Err(fail) => Err(settings.error("connect", fail)),
        }
    }

    /// Drops the connection, if any; the next call connects again.
    fn disconnect(&mut self) {
        if let Some(live) = self.live.take() {
            live.task.abort();
        }
    }

    /// Runs `op` on a live connection; a failure that leaves the connection unusable drops it.
    fn call(&mut self, what: &str, op: Op<'_>) -> Result<Vec<Row>, StoreError> {
        self.ensure_connected()?;
        let result = match self.live.as_mut() {
            Some(live) => self.runtime.block_on(perform(live, &self.settings, op)),
            None => Err(Fail::Invalid("not connected".into())),
        };
        result.map_err(|fail| {
            let broken = match (&fail, self.live.as_ref()) {
                (Fail::Pg(e), Some(live)) => connection_lost(e) || live.client.is_closed(),
                _ => true,
            };
            if broken {
                self.disconnect();
            }
            self.settings.error(what, fail)
        })
    }

    fn select<T>(
        &mut self,
        kind: EntityKind,
        filter: &RunFilter,
        map: fn(&Row) -> Result<T, Fail>,
    ) -> Result<Vec<T>, StoreError> {
        let table = table(kind);
        let mut sql = self.settings.sql.selects[kind_index(kind)].clone();
        sql.push_str(" WHERE true");
        let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        let mut bind = |value: Box<dyn ToSql + Sync + Send>| {
            params.push(value);
            format!("${}", params.len())
        };
        if let Some(run_id) = &filter.run_id {
            let p = bind(Box::new(run_id.clone()));
            sql.push_str(&format!(" AND run_id = {p}"));
        }
        if let Some(prefix) = &filter.run_id_prefix {
            // Not LIKE: `%` and `_` in the prefix are literal.
            let p = bind(Box::new(prefix.clone()));
            sql.push_str(&format!(
                " AND left(run_id, char_length({p}::text)) = {p}::text"
            ));
        }
        if let Some(attempt) = filter.attempt {
            let p = bind(Box::new(i64::from(attempt)));
            sql.push_str(&format!(" AND attempt = {p}"));
        }
        if let Some(status) = filter.status {
            let p = bind(Box::new(status.as_str()));
            sql.push_str(&format!(" AND status = {p}"));
        }
        if let Some(name) = &filter.name {
            // The column is the entity kind's name (`pipeline`, `process`, `step`).
            let p = bind(Box::new(name.clone()));
            sql.push_str(&format!(" AND {} = {p}", kind.as_str()));
        }
        if let Some(since) = filter.since {
            let p = bind(Box::new(since));
            sql.push_str(&format!(" AND started_at >= {p}"));
        }
        let order = if filter.newest_first { "DESC" } else { "ASC" };
        sql.push_str(&format!(" ORDER BY started_at {order}"));
        for key in table.key {
            sql.push_str(&format!(", {key} {order}"));
        }
        if let Some(limit) = filter.limit {
            let p = bind(Box::new(i64::try_from(limit).unwrap_or(i64::MAX)));
            sql.push_str(&format!(" LIMIT {p}"));
        }
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

impl Drop for PostgresStore {
    fn drop(&mut self) {
        if let Some(live) = self.live.take() {
            // Dropping the client makes the connection send `Terminate` and close: let it, for
            // a moment, so the server sees a clean goodbye.
            drop(live.client);
            self.runtime.finish(live.task, Duration::from_secs(1));
        }
    }
}

impl ExecutionRecordStore for PostgresStore {
    fn write_record(&mut self, record: &ExecutionRecord) -> Result<(), StoreError> {
        self.write_batch(std::slice::from_ref(record))
    }

    fn write_batch(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let batch = Batch::new(records);
        self.call("write records", Op::Write(&batch)).map(drop)
    }

    fn write_heartbeat(&mut self, heartbeat: &RecorderHeartbeat) -> Result<(), StoreError> {
        self.call("write heartbeat", Op::Heartbeat(heartbeat))
            .map(drop)
    }
}

impl RecordReader for PostgresStore {
    fn read_pipelines(&mut self, filter: &RunFilter) -> Result<Vec<PipelineRunRecord>, StoreError> {
        self.select(EntityKind::Pipeline, filter, pipeline_from_row)
    }

    fn read_processes(&mut self, filter: &RunFilter) -> Result<Vec<ProcessRunRecord>, StoreError> {
        self.select(EntityKind::Process, filter, process_from_row)
    }

    fn read_steps(&mut self, filter: &RunFilter) -> Result<Vec<StepRunRecord>, StoreError> {
        self.select(EntityKind::Step, filter, step_from_row)
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

impl Settings {
    fn new(builder: PostgresStoreBuilder, mode: Mode) -> Result<Self, StoreError> {
        let schema = builder.schema;
        let quoted = quote_identifier(&schema).map_err(|message| {
            StoreError::invalid_data(format!("postgres store schema {schema:?}"), message)
        })?;
        let mut config =
            Config::from_str(&libpq_sslmode(&builder.url)).map_err(|e| StoreError::Postgres {
                context: "postgres store: read the connection string".into(),
                source: e,
            })?;
        if let Some(timeout) = builder.connect_timeout {
            config.connect_timeout(timeout);
        } else if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if let Some(name) = &builder.application_name {
            config.application_name(name);
        } else if config.get_application_name().is_none() {
            config.application_name(DEFAULT_APPLICATION_NAME);
        }
        let per_host = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let hosts = u32::try_from(config.get_hosts().len().max(1)).unwrap_or(u32::MAX);
        // Per host tried, TCP and TLS, and once more for `prefer`'s unencrypted fallback.
        let connect_deadline =
            per_host.saturating_mul(hosts.saturating_mul(2)) + Duration::from_secs(1);
        let tls = match config.get_ssl_mode() {
            SslMode::Disable => Tls::Off,
            _ => Tls::Rustls(MakeRustlsConnect::new(match builder.tls {
                Some(tls) => tls,
                None => default_tls_config().map_err(|e| StoreError::Other(Box::new(e)))?,
            })),
        };
        let target = format!("postgres store {}, schema {quoted}", describe(&config));
        Ok(Settings {
            config,
            tls,
            mode,
            schema,
            statement_timeout: builder.statement_timeout,
            connect_deadline,
            target,
            sql: Sql::new(quoted),
        })
    }

    /// How long the client waits for one statement's answer.
    fn client_deadline(&self) -> Duration {
        self.statement_timeout + CLIENT_GRACE
    }

    fn error(&self, what: &str, fail: Fail) -> StoreError {
        let context = format!("{}: {what}", self.target);
        match fail {
            Fail::Pg(source) => StoreError::Postgres { context, source },
            Fail::Timeout(limit) => StoreError::io(
                context,
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer from the server within {limit:?}; connection dropped"),
                ),
            ),
            Fail::Invalid(message) => StoreError::invalid_data(context, message),
        }
    }
}

impl Sql {
    fn new(schema: String) -> Self {
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

/// `INSERT INTO t (cols) SELECT * FROM unnest($1::type[], …) ON CONFLICT (key) DO UPDATE SET …
/// WHERE` the incoming record supersedes the stored one.
fn upsert_sql(schema: &str, table: &Table) -> String {
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

fn table(kind: EntityKind) -> &'static Table {
    TABLES[kind_index(kind)]
}

fn kind_index(kind: EntityKind) -> usize {
    match kind {
        EntityKind::Pipeline => 0,
        EntityKind::Process => 1,
        EntityKind::Step => 2,
    }
}

/// Quotes `name` as an SQL identifier (`"name"`, inner quotes doubled), or says why it cannot be
/// one.
fn quote_identifier(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("a schema name cannot be empty".into());
    }
    if name.len() > MAX_IDENTIFIER_BYTES {
        return Err(format!(
            "a schema name has at most {MAX_IDENTIFIER_BYTES} bytes (this one has {})",
            name.len()
        ));
    }
    if name.contains('\0') {
        return Err("a schema name cannot contain NUL characters".into());
    }
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// libpq's `sslmode=verify-ca` and `verify-full`, which `tokio-postgres` does not parse, are
/// `require` here: `require` verifies the certificate and the host name.
fn libpq_sslmode(url: &str) -> String {
    url.replace("sslmode=verify-full", "sslmode=require")
        .replace("sslmode=verify-ca", "sslmode=require")
}

/// TLS with the Mozilla roots and the `ring` provider (not the process default, which a program
/// may not have installed).
fn default_tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// `user@host:port/dbname` (several hosts comma-separated), never the password.
fn describe(config: &Config) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) if name.contains(':') => format!("[{name}]:{port}"),
                Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    let hosts = if hosts.is_empty() {
        "localhost:5432".to_owned()
    } else {
        hosts.join(",")
    };
    let user = config.get_user().unwrap_or("");
    let dbname = config.get_dbname().unwrap_or(user);
    if user.is_empty() {
        format!("{hosts}/{dbname}")
    } else {
        format!("{user}@{hosts}/{dbname}")
    }
}

/// Whether an error means the connection is gone (or no longer trustworthy).
fn connection_lost(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.code() {
        // Class 08 (connection exception), 57P0x (shutdown, terminated by an administrator).
        Some(code) => {
            code.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                ]
                .contains(code)
        }
        // Not a server error: I/O, protocol, TLS — start afresh.
        None => true,
    }
}

/// Whether a connection failed in the TLS handshake (a certificate that does not verify, a
/// protocol mismatch), as opposed to reaching the server, authenticating, …
fn tls_failed(error: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
            {
                return true;
            }
        }
        source = cause.source();
    }
    false
}

/// The store's private current-thread runtime: it drives the connection while a call waits.
struct Rt(Option<Runtime>);

impl Rt {
    fn new() -> std::io::Result<Self> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| Rt(Some(rt)))
    }

    /// Runs `future` to completion. From inside another runtime (async code), where a runtime
    /// cannot be entered, it runs on a scoped thread instead.
    fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        let Some(runtime) = self.0.as_ref() else {
            unreachable!("the runtime lives as long as the store");
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return runtime.block_on(future);
        }
        std::thread::scope(
            |scope| match scope.spawn(|| runtime.block_on(future)).join() {
                Ok(output) => output,
                Err(panic) => std::panic::resume_unwind(panic),
            },
        )
    }

    /// Lets `task` finish for at most `limit` (outside async code).
    fn finish(&self, task: JoinHandle<()>, limit: Duration) {
        if tokio::runtime::Handle::try_current().is_err() {
            if let Some(runtime) = self.0.as_ref() {
                let _ = runtime.block_on(async move { tokio::time::timeout(limit, task).await });
                return;
            }
        }
        task.abort();
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            // Safe in async code too, where an ordinary drop of a runtime panics.
            runtime.shutdown_background();
        }
    }
}

/// Awaits `future` for at most `limit`.
async fn within<T, F>(limit: Duration, future: F) -> Result<T, Fail>
where
    F: Future<Output = Result<T, tokio_postgres::Error>>,
{
    match tokio::time::timeout(limit, future).await {
        Ok(result) => result.map_err(Fail::Pg),
        Err(_) => Err(Fail::Timeout(limit)),
    }
}

/// Connects, sets up the session and checks (read-only) or migrates (read-write) the schema.
async fn connect(settings: &Settings) -> Result<Live, Fail> {
    let (client, task) = match tokio::time::timeout(settings.connect_deadline, open(settings)).await
    {
        Ok(result) => result?,
        Err(_) => return Err(Fail::Timeout(settings.connect_deadline)),
    };
    let mut live = Live {
        client,
        task,
        prepared: None,
    };
    let limit = settings.client_deadline();
    let statement_timeout = format!("{}ms", settings.statement_timeout.as_millis().max(1));
    let idle_timeout = format!("{}ms", settings.client_deadline().as_millis() * 2);
    let read_only = if settings.mode == Mode::ReadOnly {
        "on"
    } else {
        "off"
    };
    within(
        limit,
        live.client.execute(
            "SELECT set_config('statement_timeout', $1, false),
                    set_config('idle_in_transaction_session_timeout', $2, false),
                    set_config('default_transaction_read_only', $3, false)",
            &[&statement_timeout, &idle_timeout, &read_only],
        ),
    )
    .await?;
    match settings.mode {
        Mode::ReadOnly => check_tables(&live.client, settings, limit).await?,
        Mode::ReadWrite => migrate(&mut live.client, settings, limit).await?,
    }
    Ok(live)
}

/// Opens the connection with the TLS `sslmode` asks for and spawns its driver.
async fn open(settings: &Settings) -> Result<(Client, JoinHandle<()>), tokio_postgres::Error> {
    match &settings.tls {
        Tls::Off => open_with(&settings.config, NoTls).await,
        Tls::Rustls(tls) => match open_with(&settings.config, tls.clone()).await {
            // `prefer`: a server whose certificate does not verify is used unencrypted, as
            // libpq's `prefer` falls back to an unencrypted connection.
            Err(e) if settings.config.get_ssl_mode() == SslMode::Prefer && tls_failed(&e) => {
                let mut plain = settings.config.clone();
                plain.ssl_mode(SslMode::Disable);
                open_with(&plain, NoTls).await
            }
            other => other,
        },
    }
}

async fn open_with<T>(
    config: &Config,
    tls: T,
) -> Result<(Client, JoinHandle<()>), tokio_postgres::Error>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config.connect(tls).await?;
    let task = tokio::spawn(async move {
        // Its errors reach the client as a closed connection.
        let _ = connection.await;
    });
    Ok((client, task))
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
    if version > POSTGRES_SCHEMA_VERSION {
        return Err(Fail::Invalid(format!(
            "schema version {version} was written by a newer tracing-etl \
             (this one reads up to {POSTGRES_SCHEMA_VERSION})"
        )));
    }
    Ok(())
}

/// For a read-only store: the tables must be there, in a version this release reads.
async fn check_tables(client: &Client, settings: &Settings, limit: Duration) -> Result<(), Fail> {
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
    match read_version(client, settings, limit).await? {
        Some(version) => check_version(version),
        None => Err(Fail::Invalid("no schema version recorded".into())),
    }
}

/// Creates or migrates the schema. Nothing is done (no DDL, no lock) when it is current.
async fn migrate(client: &mut Client, settings: &Settings, limit: Duration) -> Result<(), Fail> {
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

/// What a call does on the connection.
enum Op<'a> {
    Write(&'a Batch<'a>),
    Heartbeat(&'a RecorderHeartbeat),
    Query(&'a str, &'a [&'a (dyn ToSql + Sync)]),
}

async fn perform(live: &mut Live, settings: &Settings, op: Op<'_>) -> Result<Vec<Row>, Fail> {
    let limit = settings.client_deadline();
    match op {
        Op::Query(sql, params) => within(limit, live.client.query(sql, params)).await,
        Op::Heartbeat(beat) => {
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
            Ok(Vec::new())
        }
        Op::Write(batch) => {
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
            Ok(Vec::new())
        }
    }
}

/// The write statements, prepared once per connection.
async fn prepare<'l>(
    live: &'l mut Live,
    settings: &Settings,
    limit: Duration,
) -> Result<&'l Prepared, Fail> {
    if live.prepared.is_none() {
        let sql = &settings.sql;
        let client = &live.client;
        let pipelines = within(limit, client.prepare(&sql.upserts[0])).await?;
        let processes = within(limit, client.prepare(&sql.upserts[1])).await?;
        let steps = within(limit, client.prepare(&sql.upserts[2])).await?;
        let recorder = within(limit, client.prepare(&sql.upsert_recorder)).await?;
        live.prepared = Some(Prepared {
            upserts: [pipelines, processes, steps],
            upsert_recorder: recorder,
        });
    }
    match live.prepared.as_ref() {
        Some(prepared) => Ok(prepared),
        None => Err(Fail::Invalid("statements not prepared".into())),
    }
}

/// A batch reduced to one record per entity — the one a row would end up with had the records
/// been written one by one — per table, in key order (so concurrent writers lock rows in the
/// same order). One `INSERT … ON CONFLICT` statement cannot touch the same row twice.
struct Batch<'r> {
    tables: [Vec<&'r ExecutionRecord>; 3],
}

impl<'r> Batch<'r> {
    fn new(records: &'r [ExecutionRecord]) -> Self {
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
enum Val<'r> {
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
fn row_values(record: &ExecutionRecord) -> Vec<Val<'_>> {
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

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
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

fn pipeline_from_row(row: &Row) -> Result<PipelineRunRecord, Fail> {
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

fn process_from_row(row: &Row) -> Result<ProcessRunRecord, Fail> {
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

fn step_from_row(row: &Row) -> Result<StepRunRecord, Fail> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_quoted_or_refused() {
        assert_eq!(quote_identifier("etl").unwrap(), "\"etl\"");
        assert_eq!(
            quote_identifier("a\"; DROP SCHEMA public; --").unwrap(),
            "\"a\"\"; DROP SCHEMA public; --\""
        );
        assert!(quote_identifier("").is_err());
        assert!(quote_identifier("nul\0").is_err());
        assert!(quote_identifier(&"x".repeat(64)).is_err());
        assert!(quote_identifier(&"x".repeat(63)).is_ok());
    }

    #[test]
    fn descriptions_never_show_the_password() {
        let config = Config::from_str("postgres://etl:s3cret@db.example:6543/warehouse").unwrap();
        assert_eq!(describe(&config), "etl@db.example:6543/warehouse");
        let config = Config::from_str("host=a,b port=1,2 user=u password=s3cret").unwrap();
        assert_eq!(describe(&config), "u@a:1,b:2/u");
    }

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
        assert_eq!(
            libpq_sslmode("host=h sslmode=verify-full"),
            "host=h sslmode=require"
        );
    }

    fn sample(kind: EntityKind) -> ExecutionRecord {
        let now = Utc::now();
        match kind {
            EntityKind::Pipeline => PipelineRunRecord {
                event: EventName::PipelineStart,
                run_id: "r".into(),
                correlation_id: None,
                attempt: 1,
                last_attempt: true,
                pipeline: "p".into(),
                started_at: now,
                status: RunStatus::Running,
                duration_ms: None,
                error: None,
                error_type: None,
                error_message: None,
                failed_step_run_id: None,
                failed_step: None,
                trace_id: None,
                span_id: None,
                recorder_id: None,
            }
            .into(),
            EntityKind::Process => ProcessRunRecord {
                event: EventName::ProcessStart,
                run_id: "r".into(),
                correlation_id: None,
                attempt: 1,
                process_run_id: "pr".into(),
                process: "p".into(),
                started_at: now,
                status: RunStatus::Running,
                duration_ms: None,
                error: None,
                error_type: None,
                error_message: None,
                failed_step_run_id: None,
                failed_step: None,
                trace_id: None,
                span_id: None,
                recorder_id: None,
            }
            .into(),
            EntityKind::Step => StepRunRecord {
                event: EventName::StepStart,
                run_id: "r".into(),
                correlation_id: None,
                attempt: 1,
                step_run_id: "s".into(),
                step: "s".into(),
                started_at: now,
                status: RunStatus::Running,
                duration_ms: None,
                error: None,
                process_run_id: None,
                error_type: None,
                error_message: None,
                trace_id: None,
                span_id: None,
                recorder_id: None,
            }
            .into(),
        }
    }
}
