//! Spill histories under faults: one torn by a writer killed mid-line still replays every
//! complete record; a spill history that fails itself (its disk full) keeps the order of the
//! records; a backlog left in the spill history at shutdown is counted in full.

use crate::faults::{
    assert_in_order_once, pipeline, records_in, spill_history, Faults, FaultyStore,
};
#[cfg(unix)]
use crate::fs_support::Tmpfs;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tracing_etl::writer::{replay_spill_report, WriterConfig};
use tracing_etl::{
    record::EventName, writer::replay_spill, ExecutionRecord, ExecutionRecordStore,
    ExecutionRecordsLayer, InMemoryStore, StoreError,
};
use tracing_subscriber::prelude::*;

/// A store that is down.
struct Down;

impl ExecutionRecordStore for Down {
    fn write_batch(&mut self, _: &[ExecutionRecord]) -> Result<(), StoreError> {
        Err(StoreError::other("connection refused"))
    }
}

/// Records a pipeline of 3 steps while the store is down; returns the spill history left
/// behind.
fn spill_a_run(dir: &Path) -> PathBuf {
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .spill_dir(dir)
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(2))
        .shutdown_timeout(Duration::from_millis(20))
        .on_store_error(|_| {})
        .build(Down);
    let recorder_id = guard.handle().recorder_id().to_owned();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || pipeline(3));
    assert!(guard.shutdown().is_err(), "the store never came back");
    let history = spill_history(dir, &recorder_id);
    assert_eq!(lines(&history), 8);
    history
}

/// The lines of a spill history's three tables.
fn lines(history: &Path) -> usize {
    ["pipeline_runs", "process_runs", "step_runs"]
        .iter()
        .map(|table| {
            std::fs::read_to_string(history.join(format!("{table}.jsonl")))
                .unwrap()
                .lines()
                .count()
        })
        .sum()
}

/// Cuts the file `bytes` before its end, as a writer killed while writing its last line
/// leaves it.
fn tear(file: &Path, bytes: u64) {
    let len = std::fs::metadata(file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(file)
        .unwrap()
        .set_len(len - bytes)
        .unwrap();
}

#[test]
fn a_spill_file_torn_by_a_kill_replays_every_complete_record() {
    let dir = tempfile::tempdir().unwrap();
    let history = spill_a_run(dir.path());
    // The last record written, the pipeline's end.
    let file = history.join("pipeline_runs.jsonl");
    // Into the last record, and into a multi-byte character of it: the torn line is not UTF-8.
    let text = std::fs::read_to_string(&file).unwrap();
    let (before, last) = text.trim_end().rsplit_once('\n').unwrap();
    let mut torn = format!("{before}\n").into_bytes();
    torn.extend_from_slice(&last.as_bytes()[..last.len() / 2]);
    torn.push("é".as_bytes()[0]);
    std::fs::write(&file, torn).unwrap();

    let mut store = InMemoryStore::new();
    assert_eq!(replay_spill(&history, &mut store).unwrap(), 7);
    let records = store.records();
    assert_eq!(records.len(), 7);
    assert_eq!(records[0].event(), EventName::PipelineStart);
    assert_eq!(records[6].event(), EventName::StepEnd);

    let report = replay_spill_report(&history, &mut InMemoryStore::new()).unwrap();
    assert_eq!(report.records, 7);
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(
        report.warnings[0].contains(&format!("{} line 2:", file.display())),
        "{:?}",
        report.warnings
    );
}

#[test]
fn a_spill_file_cut_inside_its_last_line_replays_the_lines_before() {
    let dir = tempfile::tempdir().unwrap();
    let history = spill_a_run(dir.path());
    tear(&history.join("pipeline_runs.jsonl"), 20);
    let mut store = InMemoryStore::new();
    assert_eq!(replay_spill(&history, &mut store).unwrap(), 7);
    // The newline alone missing is no loss: the last record is whole.
    let history = spill_a_run(dir.path());
    tear(&history.join("pipeline_runs.jsonl"), 1);
    assert_eq!(
        replay_spill(&history, &mut InMemoryStore::new()).unwrap(),
        8
    );
}

#[test]
fn a_corrupt_line_inside_a_spill_file_is_still_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let history = spill_a_run(dir.path());
    let file = history.join("step_runs.jsonl");
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1] = r#"{"not":"a record"}"#;
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let error = replay_spill(&history, &mut InMemoryStore::new()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains(&format!("{} line 2", file.display())),
        "{error}"
    );
}

/// A store that keeps one row per entity (so the writer leaves superseded start records out
/// of its batches) and whose first heartbeat — the writer's first call — waits until the test
/// has emitted its spans, so that they all land in the first batch.
#[test]
fn a_backlog_left_in_the_spill_file_is_counted_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults::default();
    faults.fail_writes(true);
    let (release, gate) = std::sync::mpsc::channel();
    faults.hold_first_heartbeat(gate);
    let mut store = FaultyStore::new(&InMemoryStore::new(), &faults);
    store.one_row = true;
    let config = WriterConfig::default()
        .with_spill_dir(dir.path())
        .with_retry_backoff(Duration::from_millis(1), Duration::from_millis(2))
        .with_shutdown_timeout(Duration::from_millis(100))
        .with_store_deadline(Duration::from_secs(30))
        .with_store_error_callback(|_| {});
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .with_writer_config(config)
        .build(store);
    let handle = guard.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || pipeline(3));
    drop(release);
    assert!(guard.shutdown().is_err(), "the store never came back");
    let stats = handle.stats();
    let history = spill_history(dir.path(), handle.recorder_id());
    let kept = records_in(&history);
    assert_eq!(
        stats.written + stats.dropped + stats.abandoned + kept.len() as u64,
        8,
        "every record counted once: {stats:?}, {} in the spill history",
        kept.len()
    );
    assert_eq!(
        kept.len(),
        8,
        "the start records the failed batch left out are kept too"
    );
    assert_eq!(assert_in_order_once(&kept), 1);
}

/// Points the files of the writer's spill history at `/dev/full`, where every write fails with
/// "no space left on device": a spill history on a full disk.
#[cfg(unix)]
fn spill_to_a_full_disk(dir: &Path, recorder_id: &str) {
    let history = spill_history(dir, recorder_id);
    std::fs::create_dir(&history).unwrap();
    for file in [
        "pipeline_runs.jsonl",
        "process_runs.jsonl",
        "step_runs.jsonl",
        "order",
    ] {
        std::os::unix::fs::symlink("/dev/full", history.join(file)).unwrap();
    }
}

/// The spill file fails while the store is down: the records it could not take wait in
/// memory, behind those it holds, the job is held up by back-pressure (the outage buffer is
/// full), and once the store is back every record arrives once, in order.
#[cfg(unix)]
#[test]
fn a_spill_file_that_fails_keeps_the_records_in_order() {
    const STEPS: usize = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let memory = InMemoryStore::new();
    let faults = Faults::default();
    faults.fail_writes(true);
    let (spill_failed_tx, spill_failed) = std::sync::mpsc::sync_channel(1);
    let config = WriterConfig::default()
        .with_queue_capacity(16)
        .with_max_batch(64)
        .with_outage_buffer(100)
        .with_spill_dir(dir.path())
        .with_retry_backoff(Duration::from_millis(1), Duration::from_millis(4))
        .with_store_error_callback(move |e| {
            if e.to_string().contains("spill-") {
                let _ = spill_failed_tx.try_send(e.to_string());
            }
        });
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .with_writer_config(config)
        .build(FaultyStore::new(&memory, &faults));
    spill_to_a_full_disk(dir.path(), guard.handle().recorder_id());
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let job = {
        let dispatch = dispatch.clone();
        std::thread::spawn(move || tracing::dispatcher::with_default(&dispatch, || pipeline(STEPS)))
    };
    let error = spill_failed
        .recv_timeout(Duration::from_secs(30))
        .expect("the spill file's failure is reported");
    assert!(error.contains("No space left on device"), "{error}");
    faults.fail_writes(false);
    job.join().unwrap();
    guard.flush().expect("the store is back");
    drop(dispatch);
    let stats = guard.shutdown().unwrap();
    let total = 2 * (STEPS as u64 + 1);
    assert_eq!(
        (stats.written, stats.dropped, stats.abandoned),
        (total, 0, 0),
        "{stats:?}"
    );
    let records = memory.records();
    assert_eq!(records.len() as u64, total);
    assert_eq!(assert_in_order_once(&records), 1);
}

/// The spill file fails and the store is still down at shutdown: everything is kept in a new
/// spill file (the disk of the old one full), in order.
#[cfg(unix)]
#[test]
fn a_spill_file_that_fails_is_replaced_at_shutdown_in_order() {
    const STEPS: usize = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults::default();
    faults.fail_writes(true);
    let config = WriterConfig::default()
        // The whole run fits in the queue and the outage buffer: the job is not held up.
        .with_queue_capacity(4_000)
        .with_max_batch(64)
        .with_outage_buffer(100)
        .with_spill_dir(dir.path())
        .with_retry_backoff(Duration::from_millis(1), Duration::from_millis(4))
        .with_shutdown_timeout(Duration::from_millis(300))
        .with_store_error_callback(|_| {});
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .with_writer_config(config)
        .build(FaultyStore::new(&InMemoryStore::new(), &faults));
    let handle = guard.handle();
    spill_to_a_full_disk(dir.path(), handle.recorder_id());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        pipeline(STEPS)
    });
    assert!(guard.shutdown().is_err(), "the store never came back");
    let stats = handle.stats();
    let history = spill_history(dir.path(), handle.recorder_id());
    assert!(
        !history.join("step_runs.jsonl").is_symlink(),
        "a new history in the spill directory"
    );
    let kept = records_in(&history);
    let total = 2 * (STEPS as u64 + 1);
    assert_eq!(
        (stats.written, stats.dropped, stats.abandoned),
        (0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(kept.len() as u64, total);
    assert_eq!(assert_in_order_once(&kept), 1);
}

/// The command of the test below, which needs root to mount a tmpfs.
#[cfg(unix)]
const TMPFS_TEST: &str =
    "sudo -E cargo test --all-features --test writer spill_files::on_a_full_tmpfs -- --ignored";

/// A spill directory on a 1 MiB tmpfs, mostly full: the spill file works, then fills it and fails
/// mid-outage; the records after it wait in memory. The store stays down until shutdown, when
/// a file elsewhere on the disk has been removed: the new spill file holds every record, in
/// order. Then the same with the store back before shutdown: every record written once, in
/// order.
#[cfg(unix)]
#[test]
#[ignore = "needs root to mount a tmpfs; see TMPFS_TEST"]
fn on_a_full_tmpfs_the_spill_file_keeps_the_order() {
    let _ = TMPFS_TEST;
    for recover in [false, true] {
        let mount = Tmpfs::mount("1m").expect(TMPFS_TEST);
        // Room for a fraction of the spill file (about 400 KB): the rest fails. Once the
        // ballast is gone there is room for a new spill file next to the old one.
        mount.fill_with(768 * 1024);

        const STEPS: usize = 500;
        let memory = InMemoryStore::new();
        let faults = Faults::default();
        faults.fail_writes(true);
        let spill_failed = Arc::new(AtomicBool::new(false));
        let config = WriterConfig::default()
            .with_queue_capacity(8_000)
            .with_max_batch(64)
            .with_outage_buffer(100)
            .with_spill_dir(mount.path())
            .with_retry_backoff(Duration::from_millis(1), Duration::from_millis(4))
            .with_shutdown_timeout(Duration::from_millis(300))
            .with_store_error_callback({
                let spill_failed = spill_failed.clone();
                move |e| {
                    if e.to_string().contains("spill-") {
                        spill_failed.store(true, Ordering::SeqCst);
                    }
                }
            });
        let (layer, guard) = ExecutionRecordsLayer::builder()
            .with_writer_config(config)
            .build(FaultyStore::new(&memory, &faults));
        let handle = guard.handle();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            pipeline(STEPS)
        });
        let started = std::time::Instant::now();
        while !spill_failed.load(Ordering::SeqCst) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the spill file never failed"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            handle.stats().spilled > 0,
            "the spill file took records before it failed"
        );
        mount.free();
        let total = 2 * (STEPS as u64 + 1);
        if recover {
            faults.fail_writes(false);
            guard.flush().expect("the store is back");
            let stats = guard.shutdown().unwrap();
            assert_eq!(
                (stats.written, stats.dropped, stats.abandoned),
                (total, 0, 0)
            );
            assert_eq!(assert_in_order_once(&memory.records()), 1);
        } else {
            assert!(guard.shutdown().is_err());
            let stats = handle.stats();
            let history = spill_history(mount.path(), handle.recorder_id());
            let kept = records_in(&history);
            assert_eq!((stats.written, stats.dropped, stats.abandoned), (0, 0, 0));
            assert_eq!(kept.len() as u64, total);
            assert_eq!(assert_in_order_once(&kept), 1);
        }
    }
}
