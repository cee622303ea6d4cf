//! Choosing and opening the store named on the command line.
//!
//! The store is a [`StoreUrl`] (`sqlite:PATH`, `jsonl:DIR`, `postgres://…?schema=NAME`), named
//! by `--store URL` or by one of the older options, each of which stands for a URL: `--db PATH`
//! for `sqlite:PATH`, `--jsonl DIR` for `jsonl:DIR`, `--postgres URL` (a libpq connection URL
//! or `key=value` string) with `--pg-schema NAME` for a PostgreSQL URL with `schema=NAME`. The
//! store qualifies every table with that schema, so `options=-csearch_path=…` in the URL does
//! not choose it.
//!
//! Without any of these options, the environment chooses: `TRACING_ETL_STORE`, or
//! `TRACING_ETL_POSTGRES` (with `TRACING_ETL_PG_SCHEMA`), or `TRACING_ETL_DB`, else the default
//! SQLite file. Two of them set is an error rather than a guess, and so is a schema named twice
//! in ways that disagree.
//!
//! Every store kind is one arm of [`open`]; a kind this build lacks is a one-line error. Every
//! store implements the same [`RecordReader`] and [`ExecutionRecordStore`] traits, so supporting
//! one is one arm.

use std::ffi::OsString;

use tracing_etl::{
    store::{PostgresUrl, RecordReader},
    ExecutionRecordStore, StoreUrl,
};

use crate::args::StoreArgs;
use crate::error::CliError;

/// The default store, when no option or variable names one.
pub(crate) const DEFAULT_DB: &str = "tracing-etl.db";

/// The store the options name, else the one the environment names.
pub(crate) fn from_args(args: &StoreArgs) -> Result<StoreUrl, CliError> {
    choose(args, |name| {
        std::env::var_os(name).filter(|v| !v.is_empty())
    })
}

/// Where a PostgreSQL URL came from, for the schema rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    /// `--store` or `TRACING_ETL_STORE`: the URL names its schema itself.
    ByUrl,
    /// `--postgres` or `TRACING_ETL_POSTGRES`: `--pg-schema` / `TRACING_ETL_PG_SCHEMA` may name
    /// it.
    ByConnectionString,
}

/// [`from_args`] with the environment read through `env`.
fn choose(args: &StoreArgs, env: impl Fn(&str) -> Option<OsString>) -> Result<StoreUrl, CliError> {
    let url = |source: &str, text: &str| {
        text.parse::<StoreUrl>()
            .map_err(|e| CliError::new(format!("{source}: {e}")))
    };
    let connection_string = |source: &str, text: &str| {
        PostgresUrl::from_connection_string(text)
            .map_err(|e| CliError::new(format!("{source}: {e}")))
    };
    let (store, named) = if let Some(text) = &args.store {
        (url("--store", text)?, Named::ByUrl)
    } else if let Some(dir) = &args.jsonl {
        (StoreUrl::JsonLines(dir.clone()), Named::ByUrl)
    } else if let Some(path) = &args.db {
        (StoreUrl::Sqlite(path.clone()), Named::ByUrl)
    } else if let Some(text) = &args.postgres {
        (
            StoreUrl::Postgres(connection_string("--postgres", text)?),
            Named::ByConnectionString,
        )
    } else {
        let set: Vec<&str> = [
            "TRACING_ETL_STORE",
            "TRACING_ETL_POSTGRES",
            "TRACING_ETL_DB",
        ]
        .into_iter()
        .filter(|name| env(name).is_some())
        .collect();
        match set[..] {
            [] => (StoreUrl::Sqlite(DEFAULT_DB.into()), Named::ByUrl),
            ["TRACING_ETL_STORE"] => {
                let text = env_text(&env, "TRACING_ETL_STORE")?.unwrap_or_default();
                (url("TRACING_ETL_STORE", &text)?, Named::ByUrl)
            }
            ["TRACING_ETL_POSTGRES"] => {
                let text = env_text(&env, "TRACING_ETL_POSTGRES")?.unwrap_or_default();
                (
                    StoreUrl::Postgres(connection_string("TRACING_ETL_POSTGRES", &text)?),
                    Named::ByConnectionString,
                )
            }
            // TRACING_ETL_DB
            [_] => {
                let path = env("TRACING_ETL_DB").unwrap_or_default();
                (StoreUrl::Sqlite(path.into()), Named::ByUrl)
            }
            ["TRACING_ETL_POSTGRES", "TRACING_ETL_DB"] => {
                return Err(CliError::new(
                    "both TRACING_ETL_POSTGRES and TRACING_ETL_DB are set: \
                     pass --postgres URL or --db PATH to choose",
                ))
            }
            [first, second, ..] => {
                return Err(CliError::new(format!(
                    "both {first} and {second} are set: pass --store URL to choose"
                )))
            }
        }
    };
    match store {
        StoreUrl::Postgres(pg) => Ok(StoreUrl::Postgres(schema(pg, named, args, &env)?)),
        other if args.pg_schema.is_some() => Err(CliError::new(format!(
            "--pg-schema names the schema of a PostgreSQL run history, and the store is {}: \
             pass --postgres URL or set TRACING_ETL_POSTGRES",
            other.redacted()
        ))),
        other => Ok(other),
    }
}

/// The PostgreSQL store's schema, named once: by the URL's `schema=`, or (for `--postgres` and
/// `TRACING_ETL_POSTGRES` only) by `--pg-schema`, else `TRACING_ETL_PG_SCHEMA`, else `public`.
/// `TRACING_ETL_PG_SCHEMA` set to another schema than the URL's is an error, not a guess.
fn schema(
    pg: PostgresUrl,
    named: Named,
    args: &StoreArgs,
    env: &impl Fn(&str) -> Option<OsString>,
) -> Result<PostgresUrl, CliError> {
    if let Some(flag) = &args.pg_schema {
        return match (named, pg.schema()) {
            (Named::ByUrl, _) => Err(CliError::new(
                "--pg-schema goes with --postgres: a store URL names its schema itself \
                 (postgres://…?schema=NAME)",
            )),
            (Named::ByConnectionString, Some(own)) => Err(CliError::new(format!(
                "both --pg-schema ({flag:?}) and the connection string (schema={own:?}) name \
                 the schema: keep one"
            ))),
            (Named::ByConnectionString, None) => Ok(pg.with_schema(flag.clone())),
        };
    }
    let Some(variable) = env_text(env, "TRACING_ETL_PG_SCHEMA")? else {
        return Ok(pg);
    };
    match (named, pg.schema()) {
        (Named::ByConnectionString, None) => Ok(pg.with_schema(variable)),
        (_, own) if own.unwrap_or("public") == variable => Ok(pg),
        (_, own) => Err(CliError::new(format!(
            "TRACING_ETL_PG_SCHEMA is {variable:?} but the store URL names schema {:?}: \
             a store URL names its schema (postgres://…?schema=NAME); unset \
             TRACING_ETL_PG_SCHEMA or make them agree",
            own.unwrap_or("public")
        ))),
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

/// The store for `access`, once `reader`, opened read-only, has checked it without creating or
/// changing anything: `reader` itself to read; to write, the store `open` opens, `reader`
/// closed first.
fn for_access<R, W, E>(
    access: Access,
    reader: R,
    open: impl FnOnce() -> Result<W, E>,
) -> Result<Box<dyn Store>, CliError>
where
    R: Store + 'static,
    W: Store + 'static,
    CliError: From<E>,
{
    match access {
        Access::Read => Ok(Box::new(reader)),
        Access::Write => {
            drop(reader);
            Ok(Box::new(open()?))
        }
    }
}

/// Opens the store. A store that does not exist is an error, never a new empty one.
pub(crate) fn open(store: &StoreUrl, access: Access) -> Result<Box<dyn Store>, CliError> {
    match store {
        #[cfg(feature = "sqlite")]
        StoreUrl::Sqlite(path) => open_sqlite(path, access),
        #[cfg(feature = "jsonl")]
        StoreUrl::JsonLines(dir) => jsonl::open(dir, access),
        #[cfg(feature = "postgres")]
        StoreUrl::Postgres(pg) => open_postgres(pg, access),
        #[cfg(feature = "delta")]
        StoreUrl::Delta(dir) => open_delta(dir, access),
        #[cfg(feature = "delta-s3")]
        StoreUrl::DeltaS3(url) => open_delta_s3(url, access),
        StoreUrl::Memory => Err(CliError::new(
            "memory: names a new, empty in-memory store, which holds no run history to read: \
             name a SQLite, JSON Lines or PostgreSQL store",
        )),
        other => Err(CliError::new(format!(
            "this build has no support for {} stores",
            other.scheme()
        ))),
    }
}

#[cfg(feature = "sqlite")]
fn open_sqlite(path: &std::path::Path, access: Access) -> Result<Box<dyn Store>, CliError> {
    use tracing_etl::SqliteStore;

    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(CliError::new(format!(
                "{} is a directory, not a SQLite run history \
                 (a JSON Lines history is named jsonl:DIR)",
                path.display()
            )))
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::new(format!(
                "no run history at {}: no such file \
                 (pass --store sqlite:PATH or --db PATH, or set TRACING_ETL_STORE)",
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
    for_access(access, reader, || SqliteStore::open(path))
}

#[cfg(feature = "delta")]
fn open_delta(dir: &std::path::Path, access: Access) -> Result<Box<dyn Store>, CliError> {
    use tracing_etl::DeltaStore;

    // The read-only open refuses a missing root or a file and creates nothing; only then may a
    // command that writes open it for writing.
    let reader = DeltaStore::open_read_only(dir)?;
    for_access(access, reader, || DeltaStore::open(dir))
}

#[cfg(feature = "delta-s3")]
fn open_delta_s3(url: &str, access: Access) -> Result<Box<dyn Store>, CliError> {
    use std::collections::HashMap;
    use tracing_etl::DeltaStore;

    // Configured by the AWS_* environment. The read-only open refuses a prefix that holds
    // nothing and creates nothing.
    let reader = DeltaStore::open_s3_read_only(url, &HashMap::new())?;
    for_access(access, reader, || DeltaStore::open_s3(url, &HashMap::new()))
}

#[cfg(feature = "jsonl")]
mod jsonl {
    //! The JSON Lines store, with the lines it had to skip reported on stderr.

    use std::path::Path;

    use tracing_etl::JsonLinesStore;

    use super::{Access, Store};
    use crate::error::CliError;

    pub(super) fn open(dir: &Path, access: Access) -> Result<Box<dyn Store>, CliError> {
        match std::fs::metadata(dir) {
            Ok(meta) if !meta.is_dir() => {
                return Err(CliError::new(format!(
                    "{} is not a directory, not a JSON Lines run history \
                     (a SQLite history is named sqlite:PATH)",
                    dir.display()
                )))
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CliError::new(format!(
                    "no run history at {}: no such directory",
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
        // The lines it had to skip go to stderr as they appear; the command goes on.
        Ok(Box::new(store.with_read_warning_callback(|warning| {
            crate::output::stderr_line(format_args!("tracing-etl: warning: {warning}"));
        })))
    }
}

/// Opens a PostgreSQL run history. The read-only connection checks that the tables exist
/// without creating anything (a wrong URL or schema must not leave empty tables in someone's
/// database); only then may `reap` connect for writing.
#[cfg(feature = "postgres")]
fn open_postgres(pg: &PostgresUrl, access: Access) -> Result<Box<dyn Store>, CliError> {
    use std::time::Duration;

    // Reads of a long history may take a while; connecting keeps the URL's `connect_timeout`
    // (10 s by default).
    let builder = pg.builder().statement_timeout(Duration::from_secs(60));
    let reader = builder.clone().connect_read_only()?;
    for_access(access, reader, || builder.connect())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// The store options of a command line.
    #[derive(Parser)]
    struct Line {
        #[command(flatten)]
        store: StoreArgs,
    }

    fn args(options: &[&str]) -> StoreArgs {
        let line = std::iter::once("tracing-etl").chain(options.iter().copied());
        Line::try_parse_from(line)
            .unwrap_or_else(|e| panic!("{e}"))
            .store
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    /// The store chosen, as a URL.
    fn chosen(options: &[&str], vars: &[(&str, &str)]) -> String {
        choose(&args(options), env(vars))
            .unwrap_or_else(|e| panic!("{e}"))
            .to_string()
    }

    /// The error.
    fn refused(options: &[&str], vars: &[(&str, &str)]) -> String {
        match choose(&args(options), env(vars)) {
            Ok(store) => panic!("chose {store}"),
            Err(e) => e.to_string(),
        }
    }

    const PG_VARS: [(&str, &str); 2] = [
        ("TRACING_ETL_POSTGRES", "host=env"),
        ("TRACING_ETL_PG_SCHEMA", "etl"),
    ];

    #[test]
    fn options_win_over_the_environment() {
        let vars = [
            ("TRACING_ETL_STORE", "jsonl:env"),
            ("TRACING_ETL_DB", "env.db"),
        ];
        assert_eq!(chosen(&["--db", "a.db"], &vars), "sqlite:a.db");
        assert_eq!(chosen(&["--jsonl", "dir"], &PG_VARS), "jsonl:dir");
        assert_eq!(
            chosen(&["--store", "sqlite:/abs/runs.db"], &vars),
            "sqlite:/abs/runs.db"
        );
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_options_take_their_schema_from_pg_schema_or_the_environment() {
        let flag = ["--postgres", "host=flag"];
        assert_eq!(chosen(&flag, &PG_VARS), "postgres://?host=flag&schema=etl");
        assert_eq!(chosen(&flag, &[]), "postgres://?host=flag");
        assert_eq!(
            chosen(&[&flag[..], &["--pg-schema", "s"]].concat(), &PG_VARS),
            "postgres://?host=flag&schema=s"
        );
        assert_eq!(
            chosen(&["--postgres", "postgres://u@h/d", "--pg-schema", "s"], &[]),
            "postgres://u@h/d?schema=s"
        );
        assert_eq!(chosen(&[], &PG_VARS), "postgres://?host=env&schema=etl");
        // A store URL names its schema; TRACING_ETL_PG_SCHEMA may only agree with it.
        assert_eq!(
            chosen(
                &["--store", "postgres://h/d?schema=etl"],
                &[("TRACING_ETL_PG_SCHEMA", "etl")]
            ),
            "postgres://h/d?schema=etl"
        );
        assert_eq!(
            chosen(
                &["--store", "postgres://h/d"],
                &[("TRACING_ETL_PG_SCHEMA", "public")]
            ),
            "postgres://h/d"
        );
        assert_eq!(
            chosen(&[], &[("TRACING_ETL_STORE", "postgresql://h/d")]),
            "postgresql://h/d"
        );
    }

    #[test]
    fn the_environment_chooses_when_no_option_does() {
        assert_eq!(chosen(&[], &[]), "sqlite:tracing-etl.db");
        assert_eq!(chosen(&[], &[("TRACING_ETL_DB", "x.db")]), "sqlite:x.db");
        assert_eq!(
            chosen(&[], &[("TRACING_ETL_STORE", "jsonl:history")]),
            "jsonl:history"
        );
        // A path with a colon is a path.
        assert_eq!(
            chosen(&[], &[("TRACING_ETL_DB", "jsonl:x")]),
            "sqlite:jsonl:x"
        );
    }

    #[test]
    fn contradictions_are_errors() {
        let postgres = ("TRACING_ETL_POSTGRES", "host=env");
        let db = ("TRACING_ETL_DB", "x.db");
        let store = ("TRACING_ETL_STORE", "sqlite:a.db");
        for vars in [[postgres, db], [store, db], [store, postgres]] {
            let err = refused(&[], &vars);
            let both = format!("both {} and {}", vars[0].0, vars[1].0);
            assert!(err.contains(&both), "{err}");
        }
        let err = refused(&[], &[store, db]);
        assert!(err.contains("--store"), "{err}");
        let schema = ["--pg-schema", "etl"];
        let err = refused(&schema, &[]);
        assert!(err.contains("--pg-schema"), "{err}");
        let err = refused(
            &[&schema[..], &["--db", "a.db"]].concat(),
            &[("TRACING_ETL_POSTGRES", "h")],
        );
        assert!(err.contains("--pg-schema"), "{err}");
        let err = refused(&[&schema[..], &["--store", "jsonl:dir"]].concat(), &[]);
        assert!(err.contains("--pg-schema"), "{err}");
    }

    #[test]
    fn bad_store_urls_say_where_they_came_from() {
        let err = refused(&["--store", "runs.db"], &[]);
        assert!(err.starts_with("--store: "), "{err}");
        assert!(err.contains("sqlite:runs.db"), "{err}");
        let err = refused(&[], &[("TRACING_ETL_STORE", "mysql://h/d")]);
        assert!(err.starts_with("TRACING_ETL_STORE: "), "{err}");
        assert!(err.contains("unknown store URL scheme"), "{err}");
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn a_schema_named_twice_is_an_error() {
        let err = refused(&["--store", "postgres://h/d", "--pg-schema", "etl"], &[]);
        assert!(err.contains("a store URL names its schema itself"), "{err}");
        let err = refused(
            &["--postgres", "postgres://h/d?schema=a", "--pg-schema", "b"],
            &[],
        );
        assert!(err.contains("both --pg-schema"), "{err}");
        let err = refused(
            &["--store", "postgres://u:s3cret@h/d?schema=a"],
            &[("TRACING_ETL_PG_SCHEMA", "b")],
        );
        assert!(err.contains("TRACING_ETL_PG_SCHEMA is \"b\""), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        let err = refused(
            &[],
            &[
                ("TRACING_ETL_STORE", "postgres://h/d"),
                ("TRACING_ETL_PG_SCHEMA", "etl"),
            ],
        );
        assert!(err.contains("\"public\""), "{err}");
    }
}
