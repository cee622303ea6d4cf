//! A store named by its URL (`--store URL`, `TRACING_ETL_STORE`) — SQLite, JSON Lines and
//! PostgreSQL on the real server — in the `tracing-etl` tool and the `etl_job` example: histories
//! recorded through `StoreUrl::open`, the same answers as through the older options, and bad or
//! conflicting names as one line on stderr with exit status 2.

use crate::{cli_support, pg_support};

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;
use cli_support::{bare_cli, json, nightly, weekly};
use pg_support::TestSchema;
use tracing_etl::{
    store::{PostgresUrl, RecordReader, RunFilter},
    ExecutionRecordsLayer, RunStatus, StoreUrl,
};
use tracing_subscriber::prelude::*;

/// Records three runs (one failed) through the store `url` names, opened by `StoreUrl::open`.
fn record(url: &StoreUrl) {
    // A store deadline a busy test machine cannot reach: no outage is expected here.
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .store_deadline(std::time::Duration::from_secs(60))
        .build(url.open().unwrap());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        nightly("alpha-0001", 1, true).unwrap_err();
        nightly("alpha-0001", 2, false).unwrap();
        weekly("beta-0001");
    });
    let stats = guard.shutdown().unwrap();
    assert_eq!((stats.dropped, stats.store_errors), (0, 0));
}

/// The run ids and attempts of `runs --json`, newest first.
fn runs(cmd: &mut Command) -> Vec<(String, u64)> {
    json(cmd.args(["runs", "--json"]), 0)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["run_id"].as_str().unwrap().to_owned(),
                r["attempt"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn expected_runs() -> Vec<(String, u64)> {
    [("beta-0001", 1), ("alpha-0001", 2), ("alpha-0001", 1)]
        .map(|(id, attempt)| (id.to_owned(), attempt))
        .to_vec()
}

/// Runs `cmd`, expects exit status 2, nothing on stdout and one line on stderr; returns it.
fn fails(cmd: &mut Command) -> String {
    let out = cmd.assert().code(2).get_output().clone();
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// The test server as a store URL with `schema` (from the connection string the PostgreSQL
/// tests use, which may be in `key=value` form).
fn pg_store_url(schema: &str) -> String {
    let pg = PostgresUrl::from_connection_string(&pg_support::url()).unwrap();
    StoreUrl::Postgres(pg.with_schema(schema)).to_string()
}

#[test]
fn store_urls_name_sqlite_and_json_lines_histories() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.db");
    let sqlite = StoreUrl::Sqlite(db.clone());
    record(&sqlite);
    let jsonl_dir = dir.path().join("history");
    let jsonl = StoreUrl::JsonLines(jsonl_dir.clone());
    record(&jsonl);

    for url in [&sqlite, &jsonl] {
        let text = url.to_string();
        assert_eq!(
            runs(bare_cli().args(["--store", &text])),
            expected_runs(),
            "{text}"
        );
        assert_eq!(
            runs(bare_cli().env("TRACING_ETL_STORE", &text)),
            expected_runs(),
            "{text}"
        );
    }
    // The older options name the same stores.
    assert_eq!(runs(bare_cli().arg("--db").arg(&db)), expected_runs());
    assert_eq!(
        runs(bare_cli().arg("--jsonl").arg(&jsonl_dir)),
        expected_runs()
    );

    // A path relative to the working directory; the scheme in any case.
    let run = json(
        bare_cli().current_dir(dir.path()).args([
            "--store",
            "SQLite:runs.db",
            "show",
            "alpha",
            "--json",
        ]),
        0,
    );
    assert_eq!(
        (run["run_id"].as_str(), run["attempt"].as_u64()),
        (Some("alpha-0001"), Some(2))
    );
    let failures = json(
        bare_cli().current_dir(dir.path()).args([
            "--store",
            "jsonl:history",
            "failures",
            "--json",
            "--all-attempts",
        ]),
        1,
    );
    assert_eq!(failures[0]["failed_step"], "parse");
    // `--store` wins over the environment.
    assert_eq!(
        runs(
            bare_cli()
                .env("TRACING_ETL_STORE", "jsonl:/nonexistent")
                .env("TRACING_ETL_DB", "/nonexistent.db")
                .arg("--store")
                .arg(sqlite.to_string())
        ),
        expected_runs()
    );
}

#[test]
fn a_store_url_names_the_postgres_history_and_its_schema() {
    let schema = TestSchema::new("cliurl");
    let url = pg_store_url(&schema.name);
    record(&url.parse().unwrap());

    assert_eq!(runs(bare_cli().args(["--store", &url])), expected_runs());
    assert_eq!(
        runs(bare_cli().env("TRACING_ETL_STORE", &url)),
        expected_runs()
    );
    // TRACING_ETL_PG_SCHEMA may repeat the URL's schema.
    assert_eq!(
        runs(
            bare_cli()
                .env("TRACING_ETL_PG_SCHEMA", &schema.name)
                .args(["--store", &url])
        ),
        expected_runs()
    );
    let postgresql = url.replacen("postgres://", "postgresql://", 1);
    assert_eq!(
        runs(bare_cli().args(["--store", &postgresql])),
        expected_runs()
    );
    let run = json(
        bare_cli().args(["--store", &url, "show", "alpha", "--json"]),
        0,
    );
    assert_eq!(run["attempt"], 2);
    assert_eq!(run["status"], "success");

    // `reap` writes through the same URL.
    let reaped = json(bare_cli().args(["--store", &url, "reap", "--json"]), 0);
    assert!(reaped.as_array().unwrap().is_empty(), "{reaped:#}");
}

#[test]
fn a_postgres_store_url_with_a_missing_schema_creates_nothing() {
    let mut schema = TestSchema::new("cliurlnone");
    let url = pg_store_url(&schema.name);
    for command in [&["runs"][..], &["reap"]] {
        let err = fails(bare_cli().args(["--store", &url]).args(command));
        assert!(err.contains("no tracing-etl tables"), "{err}");
        assert!(err.contains(&schema.name), "{err}");
        assert!(!schema.exists(), "{command:?} created the schema");
    }
    // A schema named twice, in ways that disagree.
    let err = fails(bare_cli().args(["--store", &url, "--pg-schema", "etl", "runs"]));
    assert!(err.contains("a store URL names its schema itself"), "{err}");
    let err = fails(
        bare_cli()
            .env(
                "TRACING_ETL_STORE",
                "postgres://etl:s3cret@127.0.0.1:1/test?schema=a",
            )
            .env("TRACING_ETL_PG_SCHEMA", "b")
            .arg("runs"),
    );
    assert!(err.contains("TRACING_ETL_PG_SCHEMA"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    // Nothing listens on port 1; the password is not shown.
    let err = fails(bare_cli().args([
        "--store",
        "postgres://postgres:s3cret@127.0.0.1:1/test?schema=etl",
        "runs",
    ]));
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn bad_or_conflicting_store_names_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cli = || {
        let mut cmd = bare_cli();
        cmd.current_dir(dir.path());
        cmd
    };

    // No scheme: the hint says what to write.
    let err = fails(cli().args(["--store", "runs.db", "runs"]));
    assert!(err.starts_with("tracing-etl: --store: "), "{err}");
    assert!(err.contains("\"sqlite:runs.db\""), "{err}");
    let err = fails(cli().env("TRACING_ETL_STORE", "mysql://db/etl").arg("runs"));
    assert!(err.starts_with("tracing-etl: TRACING_ETL_STORE: "), "{err}");
    assert!(err.contains("unknown store URL scheme `mysql:`"), "{err}");
    assert!(err.contains("jsonl:DIR"), "{err}");
    for (url, expected) in [
        ("sqlite:", "missing"),
        ("sqlite:///runs.db", "`//` form"),
        ("postgres:db", "`//`"),
        ("memory:", "holds no run history"),
    ] {
        let err = fails(cli().args(["--store", url, "runs"]));
        assert!(err.contains(expected), "{url}: {err}");
    }

    // Stores that do not exist are not created.
    let err = fails(cli().args(["--store", "sqlite:missing.db", "reap"]));
    assert!(
        err.starts_with("tracing-etl: no run history at missing.db"),
        "{err}"
    );
    assert!(!dir.path().join("missing.db").exists());
    let err = fails(cli().args(["--store", "jsonl:missing", "runs"]));
    assert!(err.contains("no such directory"), "{err}");
    assert!(!dir.path().join("missing").exists());
    // The wrong kind for what is there.
    std::fs::create_dir(dir.path().join("a-dir")).unwrap();
    let err = fails(cli().args(["--store", "sqlite:a-dir", "runs"]));
    assert!(
        err.contains("is a directory") && err.contains("jsonl:DIR"),
        "{err}"
    );

    // Two variables naming stores.
    let err = fails(
        cli()
            .env("TRACING_ETL_STORE", "sqlite:a.db")
            .env("TRACING_ETL_DB", "b.db")
            .arg("runs"),
    );
    assert!(
        err.contains("both TRACING_ETL_STORE and TRACING_ETL_DB"),
        "{err}"
    );
    let err = fails(
        cli()
            .env("TRACING_ETL_STORE", "sqlite:a.db")
            .env("TRACING_ETL_POSTGRES", "host=h")
            .arg("runs"),
    );
    assert!(
        err.contains("both TRACING_ETL_STORE and TRACING_ETL_POSTGRES"),
        "{err}"
    );
    let err = fails(cli().args(["--store", "sqlite:a.db", "--pg-schema", "etl", "runs"]));
    assert!(err.contains("--pg-schema"), "{err}");

    // Two options naming stores: clap's usage error, exit status 2.
    for other in [
        ["--db", "a.db"],
        ["--jsonl", "dir"],
        ["--postgres", "host=h"],
    ] {
        let out = cli()
            .args(["--store", "sqlite:a.db"])
            .args(other)
            .arg("runs")
            .assert()
            .code(2)
            .get_output()
            .clone();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("cannot be used with"), "{other:?}: {err}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only a-dir"
    );

    // The help says how to name a store.
    let out = cli().arg("--help").assert().success();
    let help = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(help.contains("--store <URL>"), "{help}");
    assert!(help.contains("sqlite:PATH, jsonl:DIR"), "{help}");
    assert!(help.contains("TRACING_ETL_STORE"), "{help}");
}

/// The `etl_job` example that `cargo test` builds (`target/<profile>/examples/etl_job`),
/// reading `examples/data/orders.csv` and writing in `dir`.
fn etl_job(dir: &Path) -> StdCommand {
    etl_job_reading(dir, "orders.csv")
}

/// [`etl_job`] reading `examples/data/{input}`.
fn etl_job_reading(dir: &Path, input: &str) -> StdCommand {
    let binary = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("examples")
        .join(format!("etl_job{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: `cargo test` builds it (or `cargo build --example etl_job`)",
        binary.display()
    );
    let mut cmd = StdCommand::new(binary);
    for (name, _) in std::env::vars() {
        if name.starts_with("OTEL_") || name.starts_with("TRACING_ETL_") {
            cmd.env_remove(name);
        }
    }
    let input = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/data")
        .join(input);
    cmd.current_dir(dir)
        .env("RUST_LOG", "off")
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(dir.join("daily_sales.csv"));
    cmd
}

/// Runs the example; returns its exit status, stdout and stderr.
fn run(cmd: &mut StdCommand) -> (Option<i32>, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the example with `--run-id run_id`, expects success, checks the summary it printed and
/// returns stdout.
fn job_succeeds(cmd: &mut StdCommand, run_id: &str) -> String {
    let (code, out, err) = run(cmd.args(["--run-id", run_id]));
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.starts_with(&format!("run {run_id}  daily_sales  success")),
        "{out}"
    );
    assert!(out.contains("    aggregate    success"), "{out}");
    out
}

/// The pipeline row of `run_id` in `reader`.
fn pipeline_status(mut reader: impl RecordReader, run_id: &str) -> RunStatus {
    let rows = reader
        .read_pipelines(&RunFilter::default().run_id(run_id))
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows[0].status()
}

#[test]
fn the_example_writes_to_the_store_its_url_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();

    // The default: tracing-etl.db in the working directory, as before.
    let out = job_succeeds(&mut etl_job(path), "run-default");
    assert!(out.contains("run history: sqlite:tracing-etl.db"), "{out}");
    let db = tracing_etl::SqliteStore::open_read_only(path.join("tracing-etl.db")).unwrap();
    assert_eq!(pipeline_status(db, "run-default"), RunStatus::Success);

    let out = job_succeeds(
        etl_job(path).args(["--store", "jsonl:history"]),
        "run-jsonl",
    );
    assert!(out.contains("run history: jsonl:history"), "{out}");
    let jsonl = tracing_etl::JsonLinesStore::open_read_only(path.join("history")).unwrap();
    assert_eq!(pipeline_status(jsonl, "run-jsonl"), RunStatus::Success);

    let out = job_succeeds(
        etl_job(path).env("TRACING_ETL_STORE", "sqlite:env.db"),
        "run-env",
    );
    assert!(out.contains("run history: sqlite:env.db"), "{out}");
    assert!(path.join("env.db").exists());

    // The older option, and its variable.
    job_succeeds(etl_job(path).args(["--db", "old.db"]), "run-db");
    job_succeeds(etl_job(path).env("TRACING_ETL_DB", "old.db"), "run-db-env");
    let mut old = tracing_etl::SqliteStore::open_read_only(path.join("old.db")).unwrap();
    assert_eq!(old.read_pipelines(&RunFilter::default()).unwrap().len(), 2);
    // An option given on the command line wins over the other's variable.
    job_succeeds(
        etl_job(path)
            .env("TRACING_ETL_DB", "old.db")
            .args(["--store", "sqlite:new.db"]),
        "run-flag",
    );
    assert!(path.join("new.db").exists());

    let out = job_succeeds(etl_job(path).args(["--store", "memory:"]), "run-memory");
    assert!(out.contains("run history: memory:"), "{out}");

    // A failed run: the summary names the root cause, read back from the store.
    let (code, out, err) = run(etl_job_reading(path, "orders_bad.csv").args([
        "--store",
        "jsonl:history",
        "--run-id",
        "run-bad",
    ]));
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("failed step: validate"), "{out}");
}

#[test]
fn the_example_writes_to_a_postgres_store_url() {
    let schema = TestSchema::new("exampleurl");
    let url = pg_store_url(&schema.name);
    let dir = tempfile::tempdir().unwrap();
    let out = job_succeeds(etl_job(dir.path()).args(["--store", &url]), "run-pg");
    assert!(out.contains(&format!("schema={}", schema.name)), "{out}");
    assert_eq!(
        pipeline_status(schema.reader(), "run-pg"),
        RunStatus::Success
    );
    assert_eq!(
        schema
            .reader()
            .read_steps(&RunFilter::default())
            .unwrap()
            .len(),
        5
    );
}

#[test]
fn the_example_refuses_a_store_named_twice_or_badly() {
    let dir = tempfile::tempdir().unwrap();
    let mut both_options = etl_job(dir.path());
    both_options.args(["--store", "sqlite:a.db", "--db", "b.db"]);
    let mut both_variables = etl_job(dir.path());
    both_variables
        .env("TRACING_ETL_STORE", "sqlite:a.db")
        .env("TRACING_ETL_DB", "b.db");
    let mut no_scheme = etl_job(dir.path());
    no_scheme.args(["--store", "runs.db"]);
    for (mut cmd, expected) in [
        (both_options, "--store and --db both name the run history"),
        (
            both_variables,
            "both TRACING_ETL_STORE and TRACING_ETL_DB are set",
        ),
        (no_scheme, "\"sqlite:runs.db\""),
    ] {
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, Some(2), "{out}{err}");
        assert!(out.is_empty(), "{out}");
        assert!(
            err.starts_with("etl_job: ") && err.contains(expected),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing created"
    );
}
