//! Against `DeltaStore` on S3 (feature `delta-s3`): an S3-compatible server on this machine
//! (see `s3_support`) holds the tables the layer writes, read back, compacted and found again
//! by a new store; and a root whose endpoint cannot be reached is an error, not a panic.

use std::collections::HashMap;

use tracing::instrument;
use tracing_etl::{
    store::RecordReader, DeltaStore, ExecutionRecordStore, ExecutionRecordsLayer, RunStatus,
    StoreError, StoreUrl,
};
use tracing_subscriber::prelude::*;

use crate::s3_support::{bucket, endpoint, options};

#[derive(Debug, thiserror::Error)]
#[error("disk full while loading {table}")]
struct LoadError {
    table: &'static str,
}

#[instrument(skip_all, fields(etl.pipeline = "nightly", etl.run_id = %run_id))]
fn pipeline(run_id: &str, fail: bool) {
    extract();
    if fail {
        let _ = load();
    }
}

#[instrument(skip_all, fields(etl.step))]
fn extract() {}

#[instrument(skip_all, err, fields(etl.step))]
fn load() -> Result<(), LoadError> {
    Err(LoadError { table: "sales" })
}

#[test]
fn the_layer_writes_to_s3_and_a_new_store_reads_it_back() {
    let Some(endpoint) = endpoint() else { return };
    let options = options(&endpoint);
    let url = format!("s3://{}/lake", bucket(&endpoint, "roundtrip"));

    let store = DeltaStore::open_s3(&url, &options).unwrap();
    assert_eq!(store.location(), format!("{url}/"));
    assert_eq!(store.root(), None);
    let (layer, guard) = ExecutionRecordsLayer::new(store);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..3 {
            pipeline(&format!("run-{i}"), i == 2);
        }
    });
    guard.shutdown().expect("writer shut down");

    let mut reader = DeltaStore::open_s3_read_only(&url, &options).unwrap();
    let runs = reader.read_pipelines(&Default::default()).unwrap();
    assert_eq!(runs.len(), 3, "{runs:#?}");
    let failed: Vec<_> = runs
        .iter()
        .filter(|r| r.outcome.status == RunStatus::Failed)
        .collect();
    assert_eq!(failed.len(), 1, "{runs:#?}");
    assert_eq!(failed[0].run.run_id, "run-2");
    assert_eq!(
        failed[0].outcome.error.message.as_deref(),
        Some("disk full while loading sales")
    );
    let steps = reader.read_steps(&Default::default()).unwrap();
    assert_eq!(steps.len(), 4, "{steps:#?}");
    assert!(steps.iter().all(|s| s.event().as_str().ends_with("_end")));
    // The writer's heartbeats are objects beside the tables.
    let recorders = reader.read_recorders().unwrap();
    assert_eq!(recorders.len(), 1, "{recorders:#?}");
    assert!(reader.write_batch(&[]).is_err(), "read-only");

    // A second writer appends, then compaction merges the two commits' files of each table.
    let mut second = DeltaStore::open_s3(&url, &options).unwrap();
    let more: Vec<_> = runs
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.run.run_id = format!("{}-again", r.run.run_id);
            r
        })
        .collect();
    second.write_batch(&more).unwrap();
    second.flush().unwrap();
    let before = second.data_files().unwrap();
    assert_eq!(before[0], 2, "one file per flush and day: {before:?}");
    let report = second.compact().unwrap();
    assert_eq!((report[0].files_before, report[0].files_after), (2, 1));
    assert_eq!(second.data_files().unwrap()[0], 1);
    assert_eq!(second.read_pipelines(&Default::default()).unwrap().len(), 6);
}

#[test]
fn the_store_url_opens_an_s3_root_and_a_prefix_with_nothing_is_not_a_store() {
    let Some(endpoint) = endpoint() else { return };
    let options = options(&endpoint);
    let bucket = bucket(&endpoint, "empty");

    let err = DeltaStore::open_s3_read_only(&format!("s3://{bucket}/nothing"), &options)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no Delta tables here"), "{err}");

    // The store URL takes the same options from the environment (set for this process: the
    // other tests pass theirs explicitly).
    for (key, value) in &options {
        std::env::set_var(key, value);
    }
    let url: StoreUrl = format!("delta:s3://{bucket}/lake").parse().unwrap();
    let mut store = url.open().unwrap();
    store.flush().unwrap();
    drop(store);
    let mut reader = DeltaStore::open_s3_read_only(&format!("s3://{bucket}/lake"), &options)
        .expect("the tables exist now");
    assert_eq!(reader.data_files().unwrap(), [0, 0, 0]);
    assert!(reader
        .read_pipelines(&Default::default())
        .unwrap()
        .is_empty());
}

/// Options for an endpoint on a closed loopback port, with no credentials and the instance
/// metadata service pointed at the same closed port (no request leaves this machine), and no
/// retries.
fn unreachable_options() -> HashMap<String, String> {
    [
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("AWS_METADATA_ENDPOINT", "http://127.0.0.1:9"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ALLOW_HTTP", "true"),
        ("max_retries", "0"),
        ("retry_timeout", "1s"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[test]
fn an_unreachable_endpoint_without_credentials_is_an_error_not_a_panic() {
    let options = unreachable_options();
    let err = DeltaStore::open_s3("s3://bucket/lake", &options).unwrap_err();
    assert!(matches!(err, StoreError::Delta { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("s3://bucket/lake/"), "{message}");
    let err = DeltaStore::open_s3_read_only("s3://bucket/lake", &options).unwrap_err();
    assert!(err.to_string().contains("s3://bucket/lake/"), "{err}");

    for (url, reason) in [
        ("s3:///lake", "bucket is missing"),
        ("gs://bucket/lake", "starts with s3://"),
        ("s3://bucket/lake?region=x", "no ?query"),
        ("not a url", "not a URL"),
    ] {
        let err = DeltaStore::open_s3(url, &options).unwrap_err().to_string();
        assert!(err.contains(reason), "{url}: {err}");
    }
}
