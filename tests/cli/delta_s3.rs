//! The tool on a Delta Lake history on S3 (feature `delta-s3`, the server of `s3_support`):
//! `--store delta:s3://…` configured by the `AWS_*` environment reads it and compacts it, and
//! a prefix that holds nothing is an error, not a new history.

use crate::cli_support;
use crate::s3_support::{bucket, endpoint, options, settings};

use cli_support::{bare_cli, json, nightly};
use tracing_etl::{DeltaStore, ExecutionRecordsLayer};
use tracing_subscriber::prelude::*;

#[test]
fn the_tool_reads_and_compacts_a_delta_history_on_s3() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = bucket(&endpoint, "cli");
    let url = format!("s3://{bucket}/lake");
    for i in 0..2 {
        let store = DeltaStore::open_s3(&url, &options(&endpoint)).unwrap();
        let (layer, guard) = ExecutionRecordsLayer::new(store);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let _ = nightly(&format!("s3-{i}"), 1, i == 1);
        });
        guard.shutdown().unwrap();
    }
    let cli = || {
        let mut cmd = bare_cli();
        for (key, value) in settings(&endpoint) {
            cmd.env(key, value);
        }
        cmd
    };
    let store = format!("delta:{url}");
    let runs = json(cli().args(["--store", &store, "--json", "runs"]), 0);
    let statuses: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["failed", "success"], "{runs}");

    let report = json(cli().args(["--store", &store, "--json", "compact"]), 0);
    // A file per writer in each table that has rows, merged into one.
    assert_eq!(report[0]["table"], "pipeline_runs", "{report}");
    assert_eq!(report[0]["files_before"], 2, "{report}");
    for table in report.as_array().unwrap() {
        let before = table["files_before"].as_u64().unwrap();
        assert!(before == 0 || before == 2, "{report}");
        assert_eq!(
            table["files_after"].as_u64().unwrap(),
            before.min(1),
            "{report}"
        );
    }

    let err = cli()
        .args(["--store", &format!("delta:s3://{bucket}/nothing"), "runs"])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(err).unwrap();
    assert!(err.contains("no Delta tables here"), "{err}");
}
