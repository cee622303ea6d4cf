//! A JSON Lines history on a disk that fills up during a job and is still full when the job
//! ends: no record is counted as written unless it is in the files, the others wait in the
//! spill file, and once the disk has room the replay leaves every record there exactly once.

use crate::faults::pipeline;
use crate::fs_support::Tmpfs;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tracing_etl::record::EventName;
use tracing_etl::store::{RecordReader, RunFilter};
use tracing_etl::writer::replay_spill;
use tracing_etl::{ExecutionRecordsLayer, JsonLinesStore, RunStatus};
use tracing_subscriber::prelude::*;

const TABLES: [&str; 3] = [
    "pipeline_runs.jsonl",
    "process_runs.jsonl",
    "step_runs.jsonl",
];

/// Record lines in the history's files.
fn record_lines(history: &Path) -> u64 {
    TABLES
        .iter()
        .map(|t| match std::fs::read_to_string(history.join(t)) {
            Ok(text) => text.lines().count() as u64,
            Err(_) => 0,
        })
        .sum()
}

#[test]
fn a_disk_full_until_the_job_ends_loses_nothing_and_counts_only_what_is_in_the_files() {
    let Some(disk) = Tmpfs::mount("2m") else {
        return;
    };
    let history = disk.path().join("runs");
    let spill = tempfile::tempdir().unwrap();
    let errors = Arc::new(AtomicU64::new(0));
    let seen = errors.clone();
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .spill_dir(spill.path())
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(20))
        .shutdown_timeout(Duration::from_secs(2))
        .on_store_error(move |_| {
            seen.fetch_add(1, Ordering::Relaxed);
        })
        .build(JsonLinesStore::open(&history).unwrap());
    let handle = guard.handle();
    let spill_file = spill.path().join(format!("spill-{}", handle.recorder_id()));

    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        pipeline(5);
        handle.flush().expect("written while the disk had room");
        disk.fill();
        // Paced, so that each record reaches the store in a batch of its own.
        for _ in 0..3 {
            let _p = tracing::info_span!("p", etl.pipeline = tracing::field::Empty).entered();
            for _ in 0..50 {
                let _s = tracing::info_span!("load", etl.step = tracing::field::Empty).entered();
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    });
    assert!(guard.shutdown().is_err(), "the disk is still full");
    let stats = handle.stats();
    let total = 2 * (5 + 1) + 3 * 2 * (50 + 1);
    assert!(errors.load(Ordering::Relaxed) > 0);
    assert_eq!(stats.dropped + stats.abandoned, 0, "{stats:?}");

    // What the writer counts as written is what is in the files; the rest is in the spill file.
    let in_files = record_lines(&history);
    assert_eq!(stats.written, in_files, "{stats:?}");
    assert!(in_files < total, "the disk was full: {in_files} of {total}");

    disk.free();
    let mut store = JsonLinesStore::open(&history).unwrap();
    let replayed = replay_spill(&spill_file, &mut store).unwrap();
    assert_eq!(in_files + replayed, total, "{stats:?}, {replayed} replayed");
    drop(store);

    // Every record once: one start and one end line per entity, each read back ended.
    assert_eq!(record_lines(&history), total);
    let warnings = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut reader = JsonLinesStore::open_read_only(&history)
        .unwrap()
        .with_read_warning_callback({
            let warnings = warnings.clone();
            move |w| warnings.lock().unwrap().push(w.to_string())
        });
    let steps = reader.read_steps(&RunFilter::default()).unwrap();
    assert_eq!(steps.len(), 5 + 3 * 50);
    let pipelines = reader.read_pipelines(&RunFilter::default()).unwrap();
    assert_eq!(pipelines.len(), 4);
    for record in steps.iter().chain(&pipelines) {
        assert_eq!(record.outcome.status, RunStatus::Success, "{record:?}");
    }
    assert!(warnings.lock().unwrap().is_empty(), "{warnings:?}");
    let mut lines: HashMap<(String, EventName), u32> = HashMap::new();
    for (table, key) in TABLES
        .iter()
        .zip(["run_id", "process_run_id", "step_run_id"])
    {
        let text = std::fs::read_to_string(history.join(table)).unwrap();
        for line in text.lines() {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let id = value[key].as_str().unwrap().to_owned();
            let event: EventName = serde_json::from_value(value["event"].clone()).unwrap();
            *lines.entry((id, event)).or_default() += 1;
        }
    }
    assert!(lines.values().all(|&n| n == 1), "{lines:?}");
}
