//! Every entity gets a start record (`*_start`, `running`) when its span opens and an end record
//! (`*_end`) when it closes, in that order, nested like the spans.

use crate::support;

use support::scenarios::{run, Store};
use tracing::instrument;
use tracing_etl::{
    record::EntityKind,
    store::{RecordReader, RunFilter},
    ExecutionRecord, ExecutionRecordStore, InMemoryStore, RunStatus, SqliteStore,
};

both_stores!(
    a_start_then_an_end_record_per_entity,
    a_span_entered_many_times_is_one_entity
);

#[instrument(fields(etl.pipeline = "p", etl.run_id = "r1"))]
fn pipeline() {
    ingest();
    publish();
}

#[instrument(fields(etl.process))]
fn ingest() {
    extract();
    let _ = load();
}

#[instrument(fields(etl.step))]
fn extract() {}

#[instrument(err, fields(etl.step))]
fn load() -> Result<(), String> {
    Err("no space left".into())
}

#[instrument(fields(etl.step))]
fn publish() {}

/// Index of the start and the end record of the entity `name` in the log.
fn positions(records: &[ExecutionRecord], name: &str) -> (usize, usize) {
    let named = |r: &ExecutionRecord| r.name == name;
    let found: Vec<usize> = (0..records.len()).filter(|&i| named(&records[i])).collect();
    assert_eq!(found.len(), 2, "{name}: one start and one end record");
    let (start, end) = (&records[found[0]], &records[found[1]]);
    assert!(!start.event().is_end(), "{name}: start first");
    assert!(end.event().is_end(), "{name}: then end");
    assert_eq!(start.kind(), end.kind());
    assert_eq!(start.key(), end.key());
    (found[0], found[1])
}

fn a_start_then_an_end_record_per_entity(store: Store) {
    let (runs, ()) = run(store, pipeline);
    assert_eq!(runs.records.len(), 10);
    let names = ["p", "ingest", "extract", "load", "publish"];
    for name in names {
        positions(&runs.records, name);
    }
    // Children open after and close before their parents.
    for (parent, child) in [
        ("p", "ingest"),
        ("p", "publish"),
        ("ingest", "extract"),
        ("ingest", "load"),
    ] {
        let (ps, pe) = positions(&runs.records, parent);
        let (cs, ce) = positions(&runs.records, child);
        assert!(ps < cs && ce < pe, "{child} inside {parent}");
    }
    for record in &runs.records {
        let json = serde_json::to_value(record).unwrap();
        if record.event().is_end() {
            assert!(json["duration_ms"].is_u64(), "{json}");
            let failed = ["p", "ingest", "load"].iter().any(|n| {
                [&json["pipeline"], &json["process"], &json["step"]]
                    .iter()
                    .any(|v| v.as_str() == Some(n))
            });
            let expected = if failed { "failed" } else { "success" };
            assert_eq!(json["status"], expected, "{json}");
        } else {
            // A start record knows nothing of how the entity ends.
            assert_eq!(record.status(), RunStatus::Running);
            assert_eq!(json["status"], "running");
            for field in [
                "duration_ms",
                "error",
                "error_type",
                "error_message",
                "failed_step",
                "failed_step_run_id",
            ] {
                assert!(json[field].is_null(), "{field} in {json}");
            }
        }
        assert_eq!(record.run_id(), "r1");
    }
    // The stores keep the end record of each.
    assert!(runs.pipelines.iter().all(|r| r.event().is_end()));
    assert!(runs.processes.iter().all(|r| r.event().is_end()));
    assert!(runs.steps.iter().all(|r| r.event().is_end()));
    assert_eq!(runs.entity_count(), 5);
}

fn a_span_entered_many_times_is_one_entity(store: Store) {
    let (runs, ()) = run(store, || {
        let p = tracing::info_span!("p", etl.pipeline = tracing::field::Empty);
        for _ in 0..3 {
            p.in_scope(|| {
                let _s = tracing::info_span!("load", etl.step = tracing::field::Empty).entered();
            });
        }
    });
    assert_eq!(runs.pipelines.len(), 1);
    assert_eq!(runs.steps.len(), 3);
    positions(&runs.records, "p");
    assert_eq!(runs.records.len(), 8);
}

/// Whatever order a store receives an entity's records in, and however often (a retried
/// batch), its row is the end record once that has been written: a start record never replaces
/// it.
#[test]
fn an_end_record_is_never_replaced_by_a_start_record() {
    let (recorded, ()) = run(Store::Memory, pipeline);
    let ends: Vec<ExecutionRecord> = recorded
        .records
        .iter()
        .filter(|r| r.event().is_end())
        .cloned()
        .collect();
    let starts: Vec<ExecutionRecord> = recorded
        .records
        .iter()
        .filter(|r| !r.event().is_end())
        .cloned()
        .collect();
    let rows = |reader: &mut dyn RecordReader| -> Vec<ExecutionRecord> {
        let filter = RunFilter::default();
        let mut rows: Vec<ExecutionRecord> = Vec::new();
        for kind in EntityKind::ALL {
            rows.extend(reader.read_records(kind, &filter).unwrap());
        }
        rows.sort_by_key(ExecutionRecord::key);
        rows
    };
    let mut expected = ends.clone();
    expected.sort_by_key(ExecutionRecord::key);

    let dir = tempfile::tempdir().unwrap();
    let mut sqlite = SqliteStore::open(dir.path().join("runs.db")).unwrap();
    let mut memory = InMemoryStore::new();
    for store in [
        &mut sqlite as &mut dyn ExecutionRecordStore,
        &mut memory as &mut dyn ExecutionRecordStore,
    ] {
        // Ends first, then the starts, then everything again in order.
        store.write_batch(&ends).unwrap();
        store.write_batch(&starts).unwrap();
        store.write_batch(&recorded.records).unwrap();
        store.write_batch(&recorded.records).unwrap();
    }
    assert_eq!(rows(&mut sqlite), expected);
    assert_eq!(rows(&mut memory), expected);
}
