//! Opening the store named on the command line.
//!
//! Every store kind is one arm of [`open`]; a kind this build lacks is a one-line error. Every
//! store implements the same [`RecordReader`] and [`ExecutionRecordStore`] traits, so supporting
//! one is one arm.
//!
//! PostgreSQL: `--postgres URL` takes a libpq-style connection string (URL or `key=value`) and
//! `--pg-schema NAME` (default `public`) the schema holding the tables. The store qualifies
//! every table with that schema, so `options=-csearch_path=…` in the URL does not choose it.
//!
//! Without any of `--db`, `--jsonl` and `--postgres`, the environment chooses:
//! `TRACING_ETL_POSTGRES` (with `TRACING_ETL_PG_SCHEMA`) or `TRACING_ETL_DB`, else the default
//! SQLite file. Both set is an error rather than a guess.

use std::ffi::OsString;
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
    /// The store the options name, else the one the environment names.
    pub(crate) fn from_args(args: &StoreArgs) -> Result<Self, CliError> {
        Self::choose(args, |name| {
            std::env::var_os(name).filter(|v| !v.is_empty())
        })
    }

    /// [`from_args`](Self::from_args) with the environment read through `env`.
    fn choose(args: &StoreArgs, env: impl Fn(&str) -> Option<OsString>) -> Result<Self, CliError> {
        let named = args.db.is_some() || args.jsonl.is_some() || args.postgres.is_some();
        let postgres = match &args.postgres {
            Some(url) => Some(url.clone()),
            None if !named => env_text(&env, "TRACING_ETL_POSTGRES")?,
            None => None,
        };
        if postgres.is_none() && args.pg_schema.is_some() {
            return Err(CliError::new(
                "--pg-schema names the schema of a PostgreSQL run history: \
                 pass --postgres URL or set TRACING_ETL_POSTGRES",
            ));
        }
        if let Some(dir) = &args.jsonl {
            return Ok(StoreSelection::JsonLines(dir.clone()));
        }
        if let Some(url) = postgres {
            if !named && env("TRACING_ETL_DB").is_some() {
                return Err(CliError::new(
                    "both TRACING_ETL_POSTGRES and TRACING_ETL_DB are set: \
                     pass --postgres URL or --db PATH to choose",
                ));
            }
            let schema = match &args.pg_schema {
                Some(schema) => schema.clone(),
                None => env_text(&env, "TRACING_ETL_PG_SCHEMA")?.unwrap_or_else(|| "public".into()),
            };
            return Ok(StoreSelection::Postgres { url, schema });
        }
        let path = args.db.clone().unwrap_or_else(|| {
            env("TRACING_ETL_DB").map_or_else(|| PathBuf::from(DEFAULT_DB), PathBuf::from)
        });
        Ok(StoreSelection::Sqlite(path))
    }
}

/// The environment variable `name` as text, when set; text that is not UTF-8 is an error.
fn env_text(
    env: &impl Fn(&str) -> Option<OsString>,
    name: &str,
) -> Result<Option<String>, CliError> {
    env(name)
        .map(|value| {
            value
                .into_string()
                .map_err(|_| CliError::new(format!("{name} is not valid UTF-8")))
        })
        .transpose()
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
        EntityKind, ExecutionRecord, ExecutionRecordStore, JsonLinesStore, RecordReader,
        RecorderHeartbeat, RunFilter, StoreError,
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
        fn read_records(
            &mut self,
            kind: EntityKind,
            filter: &RunFilter,
        ) -> Result<Vec<ExecutionRecord>, StoreError> {
            let result = self.store.read_records(kind, filter);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(
        db: Option<&str>,
        jsonl: Option<&str>,
        postgres: Option<&str>,
        schema: Option<&str>,
    ) -> StoreArgs {
        StoreArgs {
            db: db.map(PathBuf::from),
            jsonl: jsonl.map(PathBuf::from),
            postgres: postgres.map(str::to_owned),
            pg_schema: schema.map(str::to_owned),
        }
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    fn postgres(url: &str, schema: &str) -> StoreSelection {
        StoreSelection::Postgres {
            url: url.into(),
            schema: schema.into(),
        }
    }

    #[test]
    fn options_win_over_the_environment() {
        let vars = [
            ("TRACING_ETL_POSTGRES", "host=env"),
            ("TRACING_ETL_PG_SCHEMA", "etl"),
        ];
        let chosen = |a| StoreSelection::choose(&a, env(&vars)).unwrap();
        assert_eq!(
            chosen(args(Some("a.db"), None, None, None)),
            StoreSelection::Sqlite("a.db".into())
        );
        assert_eq!(
            chosen(args(None, Some("dir"), None, None)),
            StoreSelection::JsonLines("dir".into())
        );
        assert_eq!(
            chosen(args(None, None, Some("host=flag"), None)),
            postgres("host=flag", "etl")
        );
        assert_eq!(
            chosen(args(None, None, Some("host=flag"), Some("s"))),
            postgres("host=flag", "s")
        );
    }

    #[test]
    fn the_environment_chooses_when_no_option_does() {
        let choose = |a, vars: &[(&str, &str)]| StoreSelection::choose(&a, env(vars));
        let none = || args(None, None, None, None);
        assert_eq!(
            choose(none(), &[]).unwrap(),
            StoreSelection::Sqlite(DEFAULT_DB.into())
        );
        assert_eq!(
            choose(none(), &[("TRACING_ETL_DB", "x.db")]).unwrap(),
            StoreSelection::Sqlite("x.db".into())
        );
        assert_eq!(
            choose(none(), &[("TRACING_ETL_POSTGRES", "host=env")]).unwrap(),
            postgres("host=env", "public")
        );
        assert_eq!(
            choose(
                args(None, None, None, Some("s")),
                &[
                    ("TRACING_ETL_POSTGRES", "host=env"),
                    ("TRACING_ETL_PG_SCHEMA", "etl")
                ]
            )
            .unwrap(),
            postgres("host=env", "s")
        );
        // An option naming another store leaves TRACING_ETL_POSTGRES aside.
        assert_eq!(
            choose(
                args(Some("a.db"), None, None, None),
                &[
                    ("TRACING_ETL_POSTGRES", "host=env"),
                    ("TRACING_ETL_DB", "x.db")
                ]
            )
            .unwrap(),
            StoreSelection::Sqlite("a.db".into())
        );
    }

    #[test]
    fn contradictions_are_errors() {
        let choose = |a, vars: &[(&str, &str)]| {
            StoreSelection::choose(&a, env(vars))
                .unwrap_err()
                .to_string()
        };
        let err = choose(
            args(None, None, None, None),
            &[
                ("TRACING_ETL_POSTGRES", "host=env"),
                ("TRACING_ETL_DB", "x.db"),
            ],
        );
        assert!(
            err.contains("both TRACING_ETL_POSTGRES and TRACING_ETL_DB"),
            "{err}"
        );
        let err = choose(args(None, None, None, Some("etl")), &[]);
        assert!(err.contains("--pg-schema"), "{err}");
        let err = choose(
            args(Some("a.db"), None, None, Some("etl")),
            &[("TRACING_ETL_POSTGRES", "h")],
        );
        assert!(err.contains("--pg-schema"), "{err}");
    }
}
