//! Against `JsonLinesStore`: real runs through the layer into real files, start and end lines
//! both kept, read back folded to one record per entity; reopening appends; incomplete and
//! corrupt lines; read-only opening.

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tracing::field::Empty;
use tracing::instrument;
use tracing_etl::{
    record::EventName,
    store::{ReadWarning, RecordReader, RunFilter},
    ExecutionRecord, ExecutionRecordStore, ExecutionRecordsLayer, JsonLinesStore, RunStatus,
    StoreError,
};
use tracing_subscriber::prelude::*;

/// The warnings a store's reads give its callback, as they would be printed.
pub type Warnings = Arc<Mutex<Vec<String>>>;

/// `store`, with its read warnings collected.
pub fn collecting(store: JsonLinesStore) -> (JsonLinesStore, Warnings) {
    let warnings = Warnings::default();
    let seen = warnings.clone();
    let store = store.with_read_warning_callback(move |w: &ReadWarning| {
        seen.lock().unwrap().push(w.to_string());
    });
    (store, warnings)
}

/// What `warnings` holds.
fn taken(warnings: &Warnings) -> Vec<String> {
    warnings.lock().unwrap().clone()
}

#[derive(Debug, thiserror::Error)]
#[error("disk full while loading {table}")]
struct LoadError {
    table: &'static str,
}

#[instrument(skip_all, fields(etl.pipeline = "nightly", etl.run_id = %run_id, etl.correlation_id = "batch-7", etl.attempt = 2, etl.last_attempt = false))]
fn pipeline(run_id: &str) {
    ingest();
}

#[instrument(skip_all, fields(etl.process))]
fn ingest() {
    extract();
    let _ = load();
}

#[instrument(skip_all, fields(etl.step))]
fn extract() {
    std::thread::sleep(std::time::Duration::from_millis(2));
}

#[instrument(skip_all, err, fields(etl.step))]
fn load() -> Result<(), LoadError> {
    let error = LoadError { table: "sales" };
    tracing_etl::record_error(&error);
    Err(error)
}

/// Records `pipeline(run_id)` for each run id into the store in `dir`, with a fresh store and
/// writer each time (as separate program runs would). Returns the recorder ids.
fn record(dir: &Path, run_ids: &[&str]) -> Vec<String> {
    run_ids
        .iter()
        .map(|run_id| {
            let (layer, guard) = ExecutionRecordsLayer::new(JsonLinesStore::open(dir).unwrap());
            let recorder_id = guard.handle().recorder_id().to_owned();
            tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
                pipeline(run_id)
            });
            let stats = guard.shutdown().unwrap();
            assert_eq!(stats.written, 8, "start and end records of 4 entities");
            recorder_id
        })
        .collect()
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn real_runs_read_back_field_by_field() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("history");
    let recorder_id = record(&dir, &["r1"]).remove(0);

    let (mut store, warnings) = collecting(JsonLinesStore::open_read_only(&dir).unwrap());
    let pipelines = store.read_pipelines(&RunFilter::default()).unwrap();
    let processes = store.read_processes(&RunFilter::default()).unwrap();
    let steps = store.read_steps(&RunFilter::default()).unwrap();
    assert_eq!((pipelines.len(), processes.len(), steps.len()), (1, 1, 2));
    assert!(taken(&warnings).is_empty());

    let p = &pipelines[0];
    assert_eq!(p.event(), EventName::PipelineEnd);
    assert_eq!(p.run.run_id, "r1");
    assert_eq!(p.run.correlation_id.as_deref(), Some("batch-7"));
    assert_eq!(p.run.attempt, 2);
    assert!(!p.run.last_attempt);
    assert_eq!(p.name, "nightly");
    assert_eq!(p.outcome.status, RunStatus::Failed);
    assert!(p.outcome.duration_ms.is_some());
    assert_eq!(p.failed_step(), Some("load"));
    assert_eq!(p.outcome.error.type_name.as_deref(), Some("LoadError"));
    assert_eq!(
        p.outcome.error.message.as_deref(),
        Some("disk full while loading sales")
    );
    assert_eq!(p.recorder_id.as_deref(), Some(recorder_id.as_str()));
    assert_eq!(p.trace_id, None);

    let process = &processes[0];
    assert_eq!(process.event(), EventName::ProcessEnd);
    assert_eq!(process.name, "ingest");
    assert_eq!(
        (process.run.run_id.as_str(), process.run.attempt),
        ("r1", 2)
    );
    assert_eq!(process.run.correlation_id.as_deref(), Some("batch-7"));
    assert_eq!(process.outcome.status, RunStatus::Failed);
    assert_eq!(process.failed_step_run_id(), p.failed_step_run_id());

    let [extract, load] = &steps[..] else {
        panic!("{steps:?}")
    };
    assert_eq!(extract.name, "extract");
    assert_eq!(extract.outcome.status, RunStatus::Success);
    assert!(extract.outcome.duration_ms.unwrap() >= 2);
    assert_eq!(extract.outcome.error.full, None);
    assert_eq!(load.name, "load");
    assert_eq!(load.event(), EventName::StepEnd);
    assert_eq!(load.outcome.status, RunStatus::Failed);
    assert_eq!(load.outcome.error.type_name.as_deref(), Some("LoadError"));
    assert!(load
        .outcome
        .error
        .full
        .as_deref()
        .unwrap()
        .contains("sales"));
    assert_eq!(p.failed_step_run_id(), load.step_run_id.as_deref());
    for step in &steps {
        assert_eq!(
            step.process_run_id.as_deref(),
            process.process_run_id.as_deref()
        );
        assert_eq!((step.run.run_id.as_str(), step.run.attempt), ("r1", 2));
    }
    assert!(extract.started_at <= load.started_at);

    let recorders = store.read_recorders().unwrap();
    assert_eq!(recorders.len(), 1);
    assert_eq!(recorders[0].recorder_id, recorder_id);
    assert_eq!(recorders[0].pid, std::process::id());
    assert!(recorders[0].stopped_at.is_some());
}

#[test]
fn files_keep_start_and_end_lines_with_the_record_field_names() {
    let tmp = tempfile::tempdir().unwrap();
    record(tmp.path(), &["r1"]);

    let steps = lines(&tmp.path().join("step_runs.jsonl"));
    let events: Vec<&str> = steps.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["step_start", "step_end", "step_start", "step_end"]);
    let start = steps[0].as_object().unwrap();
    assert_eq!(start["status"], "running");
    assert_eq!(start["duration_ms"], Value::Null);
    assert!(
        !start.contains_key("kind"),
        "the record itself, not the tagged enum"
    );
    for field in [
        "run_id",
        "step_run_id",
        "step",
        "started_at",
        "process_run_id",
        "error_type",
        "trace_id",
        "recorder_id",
    ] {
        assert!(start.contains_key(field), "{field} missing from {start:?}");
    }
    // Each line deserialises into the record type.
    let record: ExecutionRecord = serde_json::from_value(steps[3].clone()).unwrap();
    assert_eq!(record.outcome.status, RunStatus::Failed);

    let pipelines = lines(&tmp.path().join("pipeline_runs.jsonl"));
    let events: Vec<&str> = pipelines
        .iter()
        .map(|l| l["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["pipeline_start", "pipeline_end"]);
    assert_eq!(lines(&tmp.path().join("process_runs.jsonl")).len(), 2);
    // Heartbeats: at least the first beat and the stopping one, one per line.
    let beats = lines(&tmp.path().join("recorders.jsonl"));
    assert!(beats.len() >= 2, "{beats:?}");
    assert!(beats.last().unwrap()["stopped_at"].is_string());
}

#[test]
fn reopening_appends_and_never_truncates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    record(dir, &["r1"]);
    let files = [
        "pipeline_runs.jsonl",
        "process_runs.jsonl",
        "step_runs.jsonl",
        "recorders.jsonl",
    ];
    let before: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect();

    // Opening and dropping without writing changes nothing.
    drop(JsonLinesStore::open(dir).unwrap());
    for (f, old) in files.iter().zip(&before) {
        assert_eq!(&std::fs::read(dir.join(f)).unwrap(), old, "{f}");
    }

    record(dir, &["r2", "r3"]);
    for (f, old) in files.iter().zip(&before) {
        let now = std::fs::read(dir.join(f)).unwrap();
        assert!(now.len() > old.len(), "{f} did not grow");
        assert!(now.starts_with(old), "{f} was rewritten");
    }
    assert_eq!(lines(&dir.join("step_runs.jsonl")).len(), 12);

    let mut store = JsonLinesStore::open_read_only(dir).unwrap();
    let ids: Vec<String> = store
        .read_pipelines(&RunFilter::default())
        .unwrap()
        .into_iter()
        .map(|p| p.run.run_id)
        .collect();
    assert_eq!(ids, ["r1", "r2", "r3"]);
    assert_eq!(store.read_steps(&RunFilter::default()).unwrap().len(), 6);
    assert_eq!(store.read_recorders().unwrap().len(), 3);

    let run_2 = store
        .read_steps(&RunFilter::default().run_id("r2").name("load"))
        .unwrap();
    assert_eq!(run_2.len(), 1);
    assert_eq!(run_2[0].outcome.status, RunStatus::Failed);
    let newest = store
        .read_pipelines(&RunFilter::default().newest_first().limit(1))
        .unwrap();
    assert_eq!(newest[0].run.run_id, "r3");
}

#[test]
fn a_run_in_progress_reads_as_running_then_as_its_end() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (layer, guard) = ExecutionRecordsLayer::new(JsonLinesStore::open(dir).unwrap());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let p = tracing::info_span!("nightly", etl.pipeline = Empty, etl.run_id = "r1");
        guard.flush().unwrap();
        // Another reader, while the program is still recording.
        let mut reader = JsonLinesStore::open_read_only(dir).unwrap();
        let rows = reader.read_pipelines(&RunFilter::default()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].outcome.status, RunStatus::Running);
        assert_eq!(rows[0].event(), EventName::PipelineStart);
        let recorders = reader.read_recorders().unwrap();
        assert!(recorders[0].is_alive(chrono::Utc::now(), std::time::Duration::from_secs(60)));

        drop(p);
        guard.flush().unwrap();
        let rows = reader.read_pipelines(&RunFilter::default()).unwrap();
        assert_eq!(rows.len(), 1, "the end record wins over the start record");
        assert_eq!(rows[0].outcome.status, RunStatus::Success);
        assert_eq!(
            reader
                .read_pipelines(&RunFilter::default().status(RunStatus::Running))
                .unwrap(),
            []
        );
    });
    drop(guard);
}

fn start_and_end(run_id: &str) -> (ExecutionRecord, ExecutionRecord) {
    let start =
        ExecutionRecord::step_start(run_id, format!("{run_id}-step"), "load", chrono::Utc::now());
    let end = start.clone().ended(RunStatus::Success, 12);
    (start, end)
}

#[test]
fn a_batch_written_twice_or_out_of_order_reads_back_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let (start, end) = start_and_end("a");
    let (start_b, end_b) = start_and_end("b");
    let batch = vec![start.clone(), end.clone(), start_b.clone()];

    let mut once = JsonLinesStore::open(tmp.path().join("once")).unwrap();
    once.write_batch(&batch).unwrap();
    let mut twice = JsonLinesStore::open(tmp.path().join("twice")).unwrap();
    twice.write_batch(&batch).unwrap();
    twice.write_batch(&batch).unwrap();
    assert_eq!(
        once.read_steps(&RunFilter::default()).unwrap(),
        twice.read_steps(&RunFilter::default()).unwrap()
    );
    assert_eq!(twice.read_steps(&RunFilter::default()).unwrap().len(), 2);

    // An end record that overtook its start record is not undone by it.
    twice.write_batch(&[end_b.clone(), start_b]).unwrap();
    let rows = twice.read_steps(&RunFilter::default()).unwrap();
    assert_eq!(rows[1].outcome.status, RunStatus::Success);
    assert_eq!(rows[1], end_b);
}

#[test]
fn flush_fsyncs_and_records_survive_reopening() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("new").join("nested");
    let mut store = JsonLinesStore::open(&dir).unwrap();
    assert_eq!(store.dir(), dir);
    // Nothing written yet: a flush is a no-op that succeeds.
    store.flush().unwrap();

    let records: Vec<ExecutionRecord> = (0..5000)
        .flat_map(|i| {
            let (start, end) = start_and_end(&format!("run-{i:05}"));
            [start, end]
        })
        .collect();
    store.write_batch(&records[..4000]).unwrap();
    store.flush().unwrap();
    store.write_batch(&records[4000..]).unwrap();
    store.flush().unwrap();
    store.flush().unwrap();
    drop(store);

    let text = std::fs::read_to_string(dir.join("step_runs.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 10_000);
    assert!(text.ends_with('\n'));
    let mut reader = JsonLinesStore::open_read_only(&dir).unwrap();
    let steps = reader.read_steps(&RunFilter::default()).unwrap();
    assert_eq!(steps.len(), 5000);
    assert!(steps.iter().all(|s| s.outcome.status == RunStatus::Success));
}

#[test]
fn dropping_the_store_writes_what_it_buffered() {
    let tmp = tempfile::tempdir().unwrap();
    let (start, end) = start_and_end("a");
    let mut store = JsonLinesStore::open(tmp.path()).unwrap();
    store.write_batch(&[start, end]).unwrap();
    drop(store);
    let mut reader = JsonLinesStore::open_read_only(tmp.path()).unwrap();
    assert_eq!(reader.read_steps(&RunFilter::default()).unwrap().len(), 1);
}

/// Appends half of a real line, without its newline: what a crash in the middle of a write
/// leaves.
fn tear(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let line = text.lines().next().unwrap();
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    std::io::Write::write_all(&mut file, &line.as_bytes()[..line.len() / 2]).unwrap();
}

#[test]
fn an_incomplete_last_line_is_a_warning_and_the_next_writer_starts_a_new_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    record(dir, &["r1"]);
    let steps_path = dir.join("step_runs.jsonl");
    tear(&steps_path);

    let (mut reader, collected) = collecting(JsonLinesStore::open_read_only(dir).unwrap());
    let steps = reader.read_steps(&RunFilter::default()).unwrap();
    assert_eq!(steps.len(), 2);
    assert!(steps.iter().all(|s| s.event() == EventName::StepEnd));
    let warnings = taken(&collected);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("step_runs.jsonl line 5"),
        "{warnings:?}"
    );
    // Reading again does not repeat the warning; other tables have none.
    reader.read_steps(&RunFilter::default()).unwrap();
    reader.read_pipelines(&RunFilter::default()).unwrap();
    assert_eq!(taken(&collected), warnings);

    // The next program run appends on a fresh line.
    let torn_len = std::fs::metadata(&steps_path).unwrap().len();
    record(dir, &["r2"]);
    let bytes = std::fs::read(&steps_path).unwrap();
    assert_eq!(bytes[torn_len as usize], b'\n');
    let text = String::from_utf8(bytes).unwrap();
    let after: Vec<&str> = text.lines().skip(5).collect();
    assert_eq!(after.len(), 4);
    for line in after {
        serde_json::from_str::<ExecutionRecord>(line).unwrap();
    }

    // The incomplete line, now followed by others, is still skipped with a warning.
    let (mut reader, collected) = collecting(JsonLinesStore::open_read_only(dir).unwrap());
    let steps = reader.read_steps(&RunFilter::default()).unwrap();
    assert_eq!(steps.len(), 4);
    assert_eq!(
        reader.read_pipelines(&RunFilter::default()).unwrap().len(),
        2
    );
    let warnings = taken(&collected);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("step_runs.jsonl line 5") && warnings[0].contains("interrupted write"),
        "{warnings:?}"
    );
}

#[test]
fn a_line_cut_at_any_byte_then_sealed_by_a_later_write_is_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("step_runs.jsonl");
    let (mut start, end) = start_and_end("a");
    start.outcome.error.message = Some("naïve \"quotes\" and 💥\n".into());
    let line = serde_json::to_string(&start).unwrap();
    let next = serde_json::to_string(&end).unwrap();
    for cut in 1..line.len() {
        let mut bytes = line.as_bytes()[..cut].to_vec();
        std::fs::write(&path, &bytes).unwrap();
        // What a writer opening the store after the crash does.
        let (_, other) = start_and_end("b");
        let mut store = JsonLinesStore::open(tmp.path()).unwrap();
        store.write_batch(&[other]).unwrap();
        drop(store);
        bytes.push(b'\n');
        assert!(std::fs::read(&path).unwrap().starts_with(&bytes));
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut file, format!("{next}\n").as_bytes()).unwrap();

        let (mut reader, warnings) =
            collecting(JsonLinesStore::open_read_only(tmp.path()).unwrap());
        let steps = reader
            .read_steps(&RunFilter::default())
            .unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(steps.len(), 2, "cut at {cut}");
        assert_eq!(taken(&warnings).len(), 1, "cut at {cut}");
    }
}

#[test]
fn an_unreadable_last_line_is_a_warning_emitted_as_a_tracing_event() {
    let tmp = tempfile::tempdir().unwrap();
    record(tmp.path(), &["r1"]);
    let path = tmp.path().join("pipeline_runs.jsonl");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"event\": \"pipeline_end\"}\n");
    std::fs::write(&path, text).unwrap();

    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = events.clone();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_writer(move || Capture(sink.clone()))
            .with_ansi(false),
    );
    let mut reader = JsonLinesStore::open_read_only(tmp.path()).unwrap();
    let runs = tracing::subscriber::with_default(subscriber, || {
        reader.read_pipelines(&RunFilter::default())
    })
    .unwrap();
    assert_eq!(runs.len(), 1);
    let logged = events.lock().unwrap().concat();
    assert!(logged.contains("WARN tracing_etl"), "{logged}");
    assert!(logged.contains("pipeline_runs.jsonl line 3"), "{logged}");
    assert!(logged.contains("missing field"), "{logged}");

    // With a callback, the warning goes to it instead.
    events.lock().unwrap().clear();
    let sink = events.clone();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_writer(move || Capture(sink.clone()))
            .with_ansi(false),
    );
    let (mut reader, warnings) = collecting(JsonLinesStore::open_read_only(tmp.path()).unwrap());
    tracing::subscriber::with_default(subscriber, || reader.read_pipelines(&RunFilter::default()))
        .unwrap();
    let warnings = taken(&warnings);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("pipeline_runs.jsonl line 3") && warnings[0].contains("missing field"),
        "{warnings:?}"
    );
    assert!(events.lock().unwrap().is_empty(), "no tracing event");
}

struct Capture(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(buf).into_owned());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_corrupt_line_in_the_middle_is_an_error_naming_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    record(tmp.path(), &["r1"]);
    let path = tmp.path().join("step_runs.jsonl");
    let original = std::fs::read_to_string(&path).unwrap();

    for (bad, expected) in [
        ("<html>not a record</html>", "expected value"),
        ("{\"event\": \"step_start\", \"run_id\": 5}", "invalid type"),
        ("{\"event\": \"step_sideways\"}", "unknown event name"),
    ] {
        let mut lines: Vec<&str> = original.lines().collect();
        lines.insert(2, bad);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();

        let mut reader = JsonLinesStore::open_read_only(tmp.path()).unwrap();
        let err = reader.read_steps(&RunFilter::default()).unwrap_err();
        assert!(matches!(err, StoreError::InvalidData { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("step_runs.jsonl line 3"), "{text}");
        assert!(text.contains(expected), "{text}");
        // Filters do not hide it, and other tables still read.
        assert!(reader
            .read_steps(&RunFilter::default().run_id("elsewhere"))
            .is_err());
        assert_eq!(
            reader.read_pipelines(&RunFilter::default()).unwrap().len(),
            1
        );
    }
}

#[test]
fn read_only_opening_creates_nothing_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let err = JsonLinesStore::open_read_only(&missing).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    assert!(!missing.exists());

    let file = tmp.path().join("file.jsonl");
    std::fs::write(&file, "").unwrap();
    let err = JsonLinesStore::open_read_only(&file).unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");

    // An empty directory is an empty store, and stays empty.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let mut store = JsonLinesStore::open_read_only(&empty).unwrap();
    assert!(store
        .read_pipelines(&RunFilter::default())
        .unwrap()
        .is_empty());
    assert!(store.read_recorders().unwrap().is_empty());
    let (start, _) = start_and_end("a");
    let err = store.write_batch(&[start]).unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
    assert!(store.flush().is_err());
    drop(store);
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}
