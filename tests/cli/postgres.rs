//! The `tracing-etl` binary against a PostgreSQL run history (`--postgres URL --pg-schema NAME`)
//! recorded by real runs on the real server: the same answers as from SQLite, and a missing or
//! unreachable store is one line on stderr and exit status 2, with nothing created.

use crate::cli_support;
use crate::pg_support;

use assert_cmd::Command;
use cli_support::{json, nightly, open_stuck, weekly};
use pg_support::{url, TestSchema};
use tracing_etl::{
    store::{RecordReader, RunFilter},
    ExecutionRecordsLayer, RunStatus,
};
use tracing_subscriber::prelude::*;

/// The binary reading `schema`, with a clean environment.
fn cli(schema: &str) -> Command {
    let mut cmd = bare();
    cmd.args(["--postgres", &url(), "--pg-schema", schema]);
    cmd
}

fn bare() -> Command {
    cli_support::bare_cli()
}

/// Runs `f` under the layer writing to `schema`'s store; returns the recorder id.
fn record(schema: &TestSchema, f: impl FnOnce()) -> String {
    // A store deadline a busy test machine cannot reach: no outage is expected here.
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .store_deadline(std::time::Duration::from_secs(60))
        .build(schema.store());
    let recorder_id = guard.handle().recorder_id().to_owned();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
    let stats = guard.shutdown().unwrap();
    assert_eq!((stats.dropped, stats.store_errors), (0, 0));
    recorder_id
}

fn history() -> TestSchema {
    let schema = TestSchema::new("cli");
    record(&schema, || {
        nightly("alpha-0001", 1, true).unwrap_err();
        nightly("alpha-0001", 2, false).unwrap();
        weekly("beta-0001");
        nightly("gamma-0001", 1, true).unwrap_err();
    });
    schema
}

#[test]
fn the_environment_can_name_the_postgres_history() {
    let schema = history();
    let mut cmd = bare();
    cmd.env("TRACING_ETL_POSTGRES", url())
        .env("TRACING_ETL_PG_SCHEMA", &schema.name)
        .args(["runs", "--json"]);
    assert_eq!(json(&mut cmd, 0).as_array().unwrap().len(), 4);

    // `--pg-schema` given on the command line wins over TRACING_ETL_PG_SCHEMA.
    let mut cmd = bare();
    cmd.env("TRACING_ETL_POSTGRES", url())
        .env("TRACING_ETL_PG_SCHEMA", "no_such_schema")
        .args(["--pg-schema", &schema.name, "runs", "--json"]);
    assert_eq!(json(&mut cmd, 0).as_array().unwrap().len(), 4);

    // Both stores named by the environment: an error, not a guess.
    let out = bare()
        .env("TRACING_ETL_POSTGRES", url())
        .env("TRACING_ETL_DB", "elsewhere.db")
        .arg("runs")
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8_lossy(&out);
    assert!(
        err.contains("both TRACING_ETL_POSTGRES and TRACING_ETL_DB"),
        "{err}"
    );
}

#[test]
fn runs_show_and_failures_read_the_postgres_history() {
    let schema = history();

    let runs = json(cli(&schema.name).args(["runs", "--json"]), 0);
    let ids: Vec<(&str, u64)> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["run_id"].as_str().unwrap(),
                r["attempt"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            ("gamma-0001", 1),
            ("beta-0001", 1),
            ("alpha-0001", 2),
            ("alpha-0001", 1)
        ],
        "newest first"
    );
    let failed = json(
        cli(&schema.name).args(["runs", "--json", "--status", "failed", "--limit", "1"]),
        0,
    );
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert_eq!(failed[0]["run_id"], "gamma-0001");
    assert_eq!(failed[0]["failed_step"], "parse");

    // A prefix, the last attempt by default.
    let run = json(cli(&schema.name).args(["show", "alpha", "--json"]), 0);
    assert_eq!(run["run_id"], "alpha-0001");
    assert_eq!(run["attempt"], 2);
    assert_eq!(run["status"], "success");
    let run = json(cli(&schema.name).args(["show", "gamma", "--json"]), 0);
    assert_eq!(run["pipeline"], "nightly");
    assert_eq!(run["status"], "failed");
    let process = &run["processes"][0];
    assert_eq!(process["process"], "extract");
    let steps: Vec<&str> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["read", "parse"]);
    let parse = &run["steps"][1];
    assert_eq!(parse["process_run_id"], process["process_run_id"]);
    assert_eq!(parse["status"], "failed");
    assert_eq!(parse["error_type"], "BadAmount");
    assert_eq!(run["failed_step_run_id"], parse["step_run_id"]);

    // Failures: exit status 1, root causes; alpha-0001 recovered in attempt 2, and is listed
    // only with every attempt.
    let failures = json(cli(&schema.name).args(["failures", "--json"]), 1);
    let ids: Vec<&str> = failures
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gamma-0001"]);
    let failures = json(
        cli(&schema.name).args(["failures", "--json", "--all-attempts"]),
        1,
    );
    let failures = failures.as_array().unwrap();
    let ids: Vec<&str> = failures
        .iter()
        .map(|f| f["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gamma-0001", "alpha-0001"]);
    for f in failures {
        assert_eq!(f["failed_step"], "parse");
        assert_eq!(
            f["error_message"],
            "row 58: amount \"twelve\" is not a number"
        );
    }

    // Tables for people.
    let out = cli(&schema.name).arg("runs").assert().success();
    let out = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(out.lines().next().unwrap().contains("RUN ID"), "{out}");
    assert_eq!(out.lines().count(), 5, "{out}");
}

#[test]
fn running_and_reap_work_on_postgres() {
    let schema = TestSchema::new("clireap");
    record(&schema, || nightly("done", 1, false).unwrap());
    // A run whose program went away with its spans open.
    let (layer, guard) = ExecutionRecordsLayer::new(schema.store());
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let spans = tracing::dispatcher::with_default(&dispatch, || open_stuck("stuck-1", true));
    guard.shutdown().unwrap();
    drop(spans);

    let running = json(cli(&schema.name).args(["running", "--json"]), 0);
    assert_eq!(running.as_array().unwrap().len(), 3, "{running:#}");

    let reaped = json(cli(&schema.name).args(["reap", "--json"]), 0);
    assert_eq!(reaped.as_array().unwrap().len(), 3, "{reaped:#}");
    let mut reader = schema.reader();
    let run = reader
        .read_pipelines(&RunFilter::default().run_id("stuck-1"))
        .unwrap();
    assert_eq!(run[0].outcome.status, RunStatus::Failed);
    assert!(reader
        .read_steps(&RunFilter::default().status(RunStatus::Running))
        .unwrap()
        .is_empty());
    let running = json(cli(&schema.name).args(["running", "--json"]), 0);
    assert!(running.as_array().unwrap().is_empty(), "{running:#}");
}

/// Runs the binary, expects exit status 2 and a one-line message, and returns it.
fn fails(cmd: &mut Command) -> String {
    let out = cmd.assert().code(2).get_output().clone();
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("tracing-etl: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn a_missing_or_unreachable_store_is_exit_status_2_and_nothing_is_created() {
    let mut schema = TestSchema::new("clinone");
    for command in [
        &["runs"][..],
        &["show", "latest"],
        &["failures"],
        &["running"],
        &["reap"],
    ] {
        let err = fails(cli(&schema.name).args(command));
        assert!(err.contains("no tracing-etl tables"), "{err}");
        assert!(err.contains(&schema.name), "{err}");
        assert!(!schema.exists(), "{command:?} created the schema");
    }

    // Nothing listens on port 1.
    let err = fails(bare().args([
        "--postgres",
        "host=127.0.0.1 port=1 user=postgres dbname=test",
        "runs",
    ]));
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert!(err.to_lowercase().contains("refused"), "{err}");

    let err = fails(bare().args(["--postgres", "postgres://u:s3cret@h:notaport/db", "runs"]));
    assert!(err.contains("connection string"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");

    let err = fails(cli("").arg("runs"));
    assert!(err.contains("schema name"), "{err}");

    // `--pg-schema` without `--postgres` is a usage error.
    bare().args(["--pg-schema", "etl", "runs"]).assert().code(2);
}
