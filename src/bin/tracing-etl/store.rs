//! Opening the store named on the command line.
//!
//! Every store kind is one arm of [`open`]; a kind this build lacks is a one-line error. Every
//! store implements the same [`RecordReader`] and [`ExecutionRecordStore`] traits, so supporting
//! one is one arm.
//!
//! PostgreSQL: `--postgres URL` takes a libpq-style connection string (URL or `key=value`) and
//! `--pg-schema NAME` (default `public`) the schema holding the tables. The store qualifies
//! every table with that schema, so `options=-csearch_path=…` in the URL does not choose it.

use std::path::PathBuf;

use tracing_etl::{ExecutionRecordStore, RecordReader};

use crate::args::StoreArgs;
use crate::error::CliError;

/// The default SQLite file, when neither `--db` nor `TRACING_ETL_DB` names one.
pub(crate) const DEFAULT_DB: &str = "tracing-etl.db";

/// Which store to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreSelection {
    /// `--db PATH`, `TRACING_ETL_DB` or the default file.
    Sqlite(PathBuf),
    /// `--jsonl DIR`.
    JsonLines(PathBuf),
    /// `--postgres URL` and `--pg-schema NAME`.
    Postgres {
        /// The connection string.
        url: String,
        /// The schema holding the tables.
        schema: String,
    },
}

impl StoreSelection {
    pub(crate) fn from_args(args: &StoreArgs) -> Self {
        if let Some(dir) = &args.jsonl {
            return StoreSelection::JsonLines(dir.clone());
        }
        if let Some(url) = &args.postgres {
            return StoreSelection::Postgres {
                url: url.clone(),
                schema: args.pg_schema.clone(),
            };
        }
        let path = args.db.clone().unwrap_or_else(|| {
            std::env::var_os("TRACING_ETL_DB")
                .filter(|v| !v.is_empty())
                .map_or_else(|| PathBuf::from(DEFAULT_DB), PathBuf::from)
        });
        StoreSelection::Sqlite(path)
    }
}

/// What the command will do with the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Only read (every command but `reap`): nothing is created or written.
    Read,
    /// Read and write end records (`reap`). The store must already exist.
    Write,
}

/// A store the tool can read and, for `reap`, write to.
pub(crate) trait Store: RecordReader + ExecutionRecordStore {}

impl<T: RecordReader + ExecutionRecordStore> Store for T {}

/// Opens the selected store. A store that does not exist is an error, never a new empty one.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "jsonl", feature = "postgres")),
    allow(unused_variables)
)]
pub(crate) fn open(selection: &StoreSelection, access: Access) -> Result<Box<dyn Store>, CliError> {
    match selection {
        #[cfg(feature = "sqlite")]
        StoreSelection::Sqlite(path) => open_sqlite(path, access),
        #[cfg(not(feature = "sqlite"))]
        StoreSelection::Sqlite(_) => unsupported("SQLite", "sqlite"),
        #[cfg(feature = "jsonl")]
        StoreSelection::JsonLines(dir) => jsonl::open(dir, access),
        #[cfg(not(feature = "jsonl"))]
        StoreSelection::JsonLines(_) => unsupported("JSON Lines", "jsonl"),
        #[cfg(feature = "postgres")]
        StoreSelection::Postgres { url, schema } => open_postgres(url, schema, access),
        #[cfg(not(feature = "postgres"))]
        StoreSelection::Postgres { .. } => unsupported("PostgreSQL", "postgres"),
    }
}

#[cfg(not(all(feature = "sqlite", feature = "jsonl", feature = "postgres")))]
fn unsupported(store: &str, feature: &str) -> Result<Box<dyn Store>, CliError> {
    Err(CliError::new(format!(
        "this build has no {store} store support (feature `{feature}`)"
    )))
}

#[cfg(feature = "sqlite")]
fn open_sqlite(path: &std::path::Path, access: Access) -> Result<Box<dyn Store>, CliError> {
    use tracing_etl::SqliteStore;

    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(CliError::new(format!(
                "{} is a directory, not a SQLite run history (--db PATH)",
                path.display()
            )))
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::new(format!(
                "no run history at {}: no such file (pass --db PATH or set TRACING_ETL_DB)",
                path.display()
            )))
        }
        Err(e) => {
            return Err(CliError::new(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    }
    // The read-only open checks that this is a tracing-etl database without creating or
    // changing anything; only then may `reap` open it for writing.
    let reader = SqliteStore::open_read_only(path)?;
    match access {
        Access::Read => Ok(Box::new(reader)),
        Access::Write => {
            drop(reader);
            Ok(Box::new(SqliteStore::open(path)?))
        }
    }
}

#[cfg(feature = "jsonl")]
mod jsonl {
    //! The JSON Lines store, with the lines it had to skip reported on stderr.

    use std::io::Write as _;
    use std::path::Path;

    use tracing_etl::{
        ExecutionRecord, ExecutionRecordStore, JsonLinesStore, PipelineRunRecord, ProcessRunRecord,
        RecordReader, RecorderHeartbeat, RunFilter, StepRunRecord, StoreError,
    };

    use super::{Access, Store};
    use crate::error::CliError;

    pub(super) fn open(dir: &Path, access: Access) -> Result<Box<dyn Store>, CliError> {
        match std::fs::metadata(dir) {
            Ok(meta) if !meta.is_dir() => {
                return Err(CliError::new(format!(
                    "{} is not a directory, not a JSON Lines run history (--jsonl DIR)",
                    dir.display()
                )))
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CliError::new(format!(
                    "no run history at {}: no such directory (--jsonl DIR)",
                    dir.display()
                )))
            }
            Err(e) => return Err(CliError::new(format!("cannot read {}: {e}", dir.display()))),
        }
        // Only `reap` writes, and only into a directory that already exists.
        let store = match access {
            Access::Read => JsonLinesStore::open_read_only(dir)?,
            Access::Write => JsonLinesStore::open(dir)?,
        };
        Ok(Box::new(Warned { store, reported: 0 }))
    }

    /// A [`JsonLinesStore`] whose read warnings (incomplete lines skipped) go to stderr as they
    /// appear; the command goes on.
    struct Warned {
        store: JsonLinesStore,
        reported: usize,
    }

    impl Warned {
        fn report<T>(&mut self, result: Result<T, StoreError>) -> Result<T, StoreError> {
            let warnings = self.store.read_warnings();
            let mut stderr = std::io::stderr().lock();
            for warning in &warnings[self.reported.min(warnings.len())..] {
                let _ = writeln!(stderr, "tracing-etl: warning: {warning}");
            }
            self.reported = warnings.len();
            result
        }
    }

    impl RecordReader for Warned {
        fn read_pipelines(
            &mut self,
            filter: &RunFilter,
        ) -> Result<Vec<PipelineRunRecord>, StoreError> {
            let result = self.store.read_pipelines(filter);
            self.report(result)
        }

        fn read_processes(
            &mut self,
            filter: &RunFilter,
        ) -> Result<Vec<ProcessRunRecord>, StoreError> {
            let result = self.store.read_processes(filter);
            self.report(result)
        }

        fn read_steps(&mut self, filter: &RunFilter) -> Result<Vec<StepRunRecord>, StoreError> {
            let result = self.store.read_steps(filter);
            self.report(result)
        }

        fn read_recorders(&mut self) -> Result<Vec<RecorderHeartbeat>, StoreError> {
            let result = self.store.read_recorders();
            self.report(result)
        }
    }

    impl ExecutionRecordStore for Warned {
        fn write_record(&mut self, record: &ExecutionRecord) -> Result<(), StoreError> {
            self.store.write_record(record)
        }

        fn write_batch(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
            self.store.write_batch(records)
        }

        fn write_heartbeat(&mut self, heartbeat: &RecorderHeartbeat) -> Result<(), StoreError> {
            self.store.write_heartbeat(heartbeat)
        }

        fn flush(&mut self) -> Result<(), StoreError> {
            self.store.flush()
        }
    }
}

/// Opens a PostgreSQL run history. The read-only connection checks that the tables exist
/// without creating anything (a wrong URL or schema must not leave empty tables in someone's
/// database); only then may `reap` connect for writing.
#[cfg(feature = "postgres")]
fn open_postgres(url: &str, schema: &str, access: Access) -> Result<Box<dyn Store>, CliError> {
    use std::time::Duration;
    use tracing_etl::PostgresStore;

    // Reads of a long history may take a while; connecting keeps the URL's `connect_timeout`
    // (10 s by default).
    let builder = PostgresStore::builder(url)
        .schema(schema)
        .statement_timeout(Duration::from_secs(60));
    let reader = builder.clone().connect_read_only()?;
    match access {
        Access::Read => Ok(Box::new(reader)),
        Access::Write => {
            drop(reader);
            Ok(Box::new(builder.connect()?))
        }
    }
}
