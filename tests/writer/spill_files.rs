//! Spill files under faults: one torn by a writer killed mid-line still replays every complete
//! record; a spill file that fails itself (its disk full) keeps the order of the records; a
//! backlog left in the spill file at shutdown is counted in full.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::field::Empty;
use tracing_etl::writer::replay_spill_report;
use tracing_etl::{
    replay_spill, EventName, ExecutionRecord, ExecutionRecordStore, ExecutionRecordsLayer,
    InMemoryStore, StoreError,
};
use tracing_subscriber::prelude::*;

/// A store that is down.
struct Down;

impl ExecutionRecordStore for Down {
    fn write_batch(&mut self, _: &[ExecutionRecord]) -> Result<(), StoreError> {
        Err(StoreError::other("connection refused"))
    }
}

/// A pipeline with `steps` steps: `2 × (steps + 1)` records.
fn pipeline(steps: usize) {
    let _p = tracing::info_span!("p", etl.pipeline = Empty).entered();
    for _ in 0..steps {
        let _s = tracing::info_span!("load", etl.step = Empty).entered();
    }
}

/// Records a pipeline of 3 steps while the store is down; returns the spill file left behind.
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
    let file = dir.join(format!("spill-{recorder_id}.jsonl"));
    assert_eq!(lines(&file), 8);
    file
}

fn lines(file: &Path) -> usize {
    std::fs::read_to_string(file).unwrap().lines().count()
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
    let file = spill_a_run(dir.path());
    // Into the last record, and into a multi-byte character of it: the torn line is not UTF-8.
    let text = std::fs::read_to_string(&file).unwrap();
    let (before, last) = text.trim_end().rsplit_once('\n').unwrap();
    let mut torn = format!("{before}\n").into_bytes();
    torn.extend_from_slice(&last.as_bytes()[..last.len() / 2]);
    torn.push("é".as_bytes()[0]);
    std::fs::write(&file, torn).unwrap();

    let mut store = InMemoryStore::new();
    assert_eq!(replay_spill(&file, &mut store).unwrap(), 7);
    let records = store.records();
    assert_eq!(records.len(), 7);
    assert_eq!(records[0].event(), EventName::PipelineStart);
    assert_eq!(records[6].event(), EventName::StepEnd);

    let report = replay_spill_report(&file, &mut InMemoryStore::new()).unwrap();
    assert_eq!(report.records, 7);
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(
        report.warnings[0].contains(&format!("{}:8:", file.display())),
        "{:?}",
        report.warnings
    );
}

#[test]
fn a_spill_file_cut_inside_its_last_line_replays_the_lines_before() {
    let dir = tempfile::tempdir().unwrap();
    let file = spill_a_run(dir.path());
    tear(&file, 20);
    let mut store = InMemoryStore::new();
    assert_eq!(replay_spill(&file, &mut store).unwrap(), 7);
    // The newline alone missing is no loss: the last record is whole.
    let file = spill_a_run(dir.path());
    tear(&file, 1);
    assert_eq!(replay_spill(&file, &mut InMemoryStore::new()).unwrap(), 8);
}

#[test]
fn a_corrupt_line_inside_a_spill_file_is_still_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = spill_a_run(dir.path());
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[3] = r#"{"kind":"step","not":"a record"}"#;
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let error = replay_spill(&file, &mut InMemoryStore::new()).unwrap_err();
    assert!(
        error.to_string().contains(&format!("{}:4", file.display())),
        "{error}"
    );
}
