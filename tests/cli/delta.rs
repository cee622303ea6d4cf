//! The tool on a Delta Lake history: `--store delta:DIR` reads it like any store, and
//! `compact` merges each day's files, refusing stores that have none.

use crate::cli_support;

use cli_support::{bare_cli, json, nightly};
use tracing_etl::{DeltaStore, ExecutionRecordStore as _, ExecutionRecordsLayer};
use tracing_subscriber::prelude::*;

/// Records `runs` runs of `nightly` (the last failing), one writer each: a file per run.
fn record(root: &std::path::Path, runs: usize) {
    for i in 0..runs {
        let (layer, guard) = ExecutionRecordsLayer::new(DeltaStore::open(root).unwrap());
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let _ = nightly(&format!("delta-{i}"), 1, i + 1 == runs);
        });
        guard.shutdown().unwrap();
    }
}

#[test]
fn the_tool_reads_and_compacts_a_delta_history() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("lake");
    record(&root, 3);
    let store = format!("delta:{}", root.display());

    let runs = json(bare_cli().args(["--store", &store, "--json", "runs"]), 0);
    let statuses: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["failed", "success", "success"], "{runs}");

    let before = DeltaStore::open_read_only(&root)
        .unwrap()
        .data_files()
        .unwrap();
    assert!(before.iter().all(|&n| n >= 3), "{before:?}");
    let report = json(bare_cli().args(["--store", &store, "--json", "compact"]), 0);
    for (table, files) in report.as_array().unwrap().iter().zip(before) {
        assert_eq!(table["files_before"], files, "{report}");
        assert!(
            table["files_after"].as_u64().unwrap() < files as u64,
            "{report}"
        );
    }
    let after = DeltaStore::open_read_only(&root)
        .unwrap()
        .data_files()
        .unwrap();
    assert!(after.iter().all(|&n| n <= 2), "{after:?}");
    // The history reads the same.
    let again = json(bare_cli().args(["--store", &store, "--json", "runs"]), 0);
    assert_eq!(again, runs);

    // Other stores have nothing to compact; a missing root is an error, not a new history.
    let db = tmp.path().join("runs.db");
    let mut sqlite = tracing_etl::SqliteStore::open(&db).unwrap();
    sqlite.flush().unwrap();
    let err = bare_cli()
        .args(["--store", &format!("sqlite:{}", db.display()), "compact"])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(err).unwrap();
    assert!(err.contains("nothing to compact"), "{err}");
    let missing = tmp.path().join("no-lake");
    bare_cli()
        .args([
            "--store",
            &format!("delta:{}", missing.display()),
            "compact",
        ])
        .assert()
        .failure();
    assert!(!missing.exists());
}
