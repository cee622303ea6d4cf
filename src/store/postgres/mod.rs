//! [`PostgresStore`]: a shared store on a PostgreSQL server.
//!
//! - `builder`: [`PostgresStoreBuilder`] and the settings it resolves to;
//! - `tls`: TLS by `sslmode`;
//! - `connection`: the private runtime, connecting, running a call, telling a lost connection;
//! - `schema`: the tables, their DDL, the schema version and migrations;
//! - `write`: batches reduced to one record per entity, upserts with one array per column;
//! - `read`: filters in SQL, rows back to records.

mod builder;
mod connection;
mod read;
mod schema;
mod tls;
mod write;

use std::fmt;
use std::time::Duration;

use tokio_postgres::Row;

use crate::error::StoreError;
use crate::record::{columns, ExecutionRecord, RecorderHeartbeat};
use crate::store::ExecutionRecordStore;

use crate::store::runtime::Rt;
pub use builder::PostgresStoreBuilder;
use builder::{Mode, Settings};
use connection::{connect, connection_lost, perform, Fail, Live, Op};
use write::Batch;

/// The schema version this release writes (the `version` column of the `tracing_etl_schema`
/// table in the store's schema).
///
/// A schema with a lower version is migrated in place on [`connect`](PostgresStore::connect)
/// (and read as it is by [`connect_read_only`](PostgresStore::connect_read_only)); one with a
/// higher version is refused with [`StoreError::InvalidData`] rather than misread.
///
/// - 1: the first release.
/// - 2: `process_runs` and `step_runs` have `last_attempt` (set from their pipeline run by
///   the migration).
/// - 3: `status` may be `cancelled` (the `CHECK` constraints are widened).
/// - 4: the indexes reads need (created by the migration, which drops those they replace).
pub const POSTGRES_SCHEMA_VERSION: i32 = columns::SCHEMA_VERSION as i32;

/// The `application_name` the store's connections report (in `pg_stat_activity`) unless the
/// connection string or [`PostgresStoreBuilder::application_name`] names another.
pub const DEFAULT_APPLICATION_NAME: &str = "tracing-etl";

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
///   certificate and host name. For a private CA, name its PEM file as libpq does,
///   `sslrootcert=/path/ca.pem` (`sslrootcert=system`: the default roots): only the CA
///   certificates in it are trusted, and a missing or unreadable file is an error when the
///   store opens. For client certificates, pass your own [`rustls::ClientConfig`] to
///   [`PostgresStoreBuilder::tls_config`].
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
/// use tracing_etl::{ExecutionRecordsLayer, PostgresStore, store::{RecordReader, RunFilter}};
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
        PostgresStoreBuilder::new(url.into())
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

    /// The schema version of the tables on the current connection (connecting if needed).
    fn schema_version_in_use(&mut self) -> Result<u32, StoreError> {
        self.ensure_connected()?;
        Ok(self
            .live
            .as_ref()
            .map_or(columns::SCHEMA_VERSION, |l| l.version))
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
    fn keeps_one_row_per_entity(&self) -> bool {
        true
    }

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
