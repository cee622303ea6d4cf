//! A store that cannot be opened when the job starts (`build_with`): the job records from its
//! first span without waiting, the records wait in memory and the spill file, and once the
//! store opens every record is written exactly once, in order.

use crate::faults::{assert_in_order_once, pipeline};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing_etl::store::{RecordReader, RunFilter};
use tracing_etl::{ExecutionRecordsLayer, RunStatus, SqliteStore};
use tracing_subscriber::prelude::*;

#[test]
fn a_sqlite_history_whose_directory_appears_later_gets_every_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("not-yet");
    let path = dir.join("history.db");
    let spill = tempfile::tempdir().unwrap();
    let errors = Arc::new(AtomicU64::new(0));
    let opens = Arc::new(AtomicU64::new(0));
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .spill_dir(spill.path())
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(20))
        .on_store_error({
            let errors = errors.clone();
            move |_| {
                errors.fetch_add(1, Ordering::SeqCst);
            }
        })
        .build_with({
            let (path, opens) = (path.clone(), opens.clone());
            move || {
                opens.fetch_add(1, Ordering::SeqCst);
                SqliteStore::open(&path)
            }
        });
    let handle = guard.handle();
    let started = Instant::now();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        pipeline(20);
        pipeline(20);
    });
    let job = started.elapsed();
    let total = 2 * 2 * (20 + 1);

    // Nothing written yet; the error reported, the open retried.
    let deadline = Instant::now() + Duration::from_secs(30);
    while opens.load(Ordering::SeqCst) < 3 {
        assert!(Instant::now() < deadline, "{:?}", handle.stats());
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats = handle.stats();
    assert_eq!(stats.written, 0, "{stats:?}");
    assert!(stats.store_errors > 0 && errors.load(Ordering::SeqCst) > 0);
    assert!(handle.flush().is_err(), "the store cannot be opened yet");
    assert!(!path.exists());
    let tries = opens.load(Ordering::SeqCst);
    assert!(tries > 1, "the open is retried: {tries}");

    std::fs::create_dir(&dir).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while handle.flush().is_err() {
        assert!(Instant::now() < deadline, "the store never opened");
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = guard.shutdown().unwrap();
    assert_eq!(
        (stats.written, stats.dropped, stats.abandoned),
        (total, 0, 0)
    );
    assert_eq!(
        std::fs::read_dir(spill.path()).unwrap().count(),
        0,
        "the spill file is removed once the store took it"
    );
    eprintln!(
        "job took {job:?} with the store down; {tries} opens tried before the directory existed"
    );

    let mut reader = SqliteStore::open_read_only(&path).unwrap();
    let pipelines = reader.read_pipelines(&RunFilter::default()).unwrap();
    assert_eq!(pipelines.len(), 2);
    let steps = reader.read_steps(&RunFilter::default()).unwrap();
    assert_eq!(steps.len(), 40);
    for record in pipelines.iter().chain(&steps) {
        assert_eq!(record.outcome.status, RunStatus::Success, "{record:?}");
    }
}

#[test]
fn a_store_that_opens_at_the_fourth_try_gets_every_record_once_in_order() {
    let memory = tracing_etl::InMemoryStore::new();
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(5))
        .on_store_error(|_| {})
        .build_with({
            let (memory, tries) = (memory.clone(), AtomicU64::new(0));
            move || match tries.fetch_add(1, Ordering::SeqCst) {
                0..=2 => Err(tracing_etl::StoreError::other("connection refused")),
                _ => Ok(memory.clone()),
            }
        });
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || pipeline(30));
    let deadline = Instant::now() + Duration::from_secs(30);
    while guard.flush().is_err() {
        assert!(Instant::now() < deadline, "the store never opened");
    }
    guard.shutdown().unwrap();
    assert_eq!(assert_in_order_once(&memory.records()), 1);
}
