//! A burst of step spans under one pipeline into a store that sleeps on every batch, through a
//! small queue: `Backpressure::Block` loses nothing; `Backpressure::Drop` drops, and counts
//! exactly what it dropped.
//!
//! What is counted: records, the items of the queue. Every entity queues two, its start record
//! and its end record, so a burst of `n` steps in a pipeline is `2 × (n + 1)` records; with
//! `Drop`, each of the two may be dropped on its own. `WriterStats::written` counts the records
//! the store accepted, `WriterStats::dropped` those the queue turned away.
//!
//! By default the bursts are small enough for a debug build; the 1M-span bursts are ignored:
//! `cargo test --release --test writer backpressure -- --ignored`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tracing::field::Empty;
use tracing_etl::{
    record::{EntityKey, RecorderHeartbeat},
    writer::{Backpressure, WriterStats},
    ExecutionRecord, ExecutionRecordStore, ExecutionRecordsLayer, InMemoryStore, RunStatus,
    SqliteStore, StoreError,
};
use tracing_subscriber::prelude::*;

/// A real store behind a sleep on every batch.
struct Slow<S> {
    inner: S,
    per_batch: Duration,
    batches: Arc<AtomicU64>,
}

impl<S: ExecutionRecordStore> ExecutionRecordStore for Slow<S> {
    fn write_record(&mut self, record: &ExecutionRecord) -> Result<(), StoreError> {
        self.write_batch(std::slice::from_ref(record))
    }

    fn write_batch(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        std::thread::sleep(self.per_batch);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.inner.write_batch(records)
    }

    fn write_heartbeat(&mut self, heartbeat: &RecorderHeartbeat) -> Result<(), StoreError> {
        self.inner.write_heartbeat(heartbeat)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.inner.flush()
    }
}

/// `steps` step spans, one after the other, in a pipeline `burst`.
fn burst(steps: usize) {
    let _p = tracing::info_span!("burst", etl.pipeline = Empty, etl.run_id = "burst").entered();
    for _ in 0..steps {
        let _s = tracing::info_span!("step", etl.step = Empty).entered();
    }
}

/// Runs a burst of `steps` into `inner` behind a 1 ms sleep per batch, through a queue of 64.
fn run_burst<S: ExecutionRecordStore>(
    inner: S,
    steps: usize,
    backpressure: Backpressure,
    max_batch: usize,
) -> (WriterStats, u64) {
    let batches = Arc::new(AtomicU64::new(0));
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .queue_capacity(64)
        .max_batch(max_batch)
        .backpressure(backpressure)
        // Not about slow stores: a deadline a busy test machine cannot reach.
        .store_deadline(Duration::from_secs(60))
        .build(Slow {
            inner,
            per_batch: Duration::from_millis(1),
            batches: batches.clone(),
        });
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || burst(steps));
    let stats = guard.shutdown().expect("a clean shutdown");
    assert_eq!(stats.store_errors, 0);
    assert_eq!(stats.abandoned, 0);
    (stats, batches.load(Ordering::Relaxed))
}

fn records_of(steps: usize) -> u64 {
    2 * (steps as u64 + 1)
}

fn block_into_memory(steps: usize) {
    let memory = InMemoryStore::new();
    let (stats, batches) = run_burst(memory.clone(), steps, Backpressure::Block, 256);
    let total = records_of(steps);
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.written, total);
    assert!(batches > 1, "written in many batches");
    assert_eq!(memory.records().len() as u64, total, "every record stored");
    let rows = memory.step_runs();
    assert_eq!(rows.len(), steps, "one row per step");
    assert!(rows
        .iter()
        .all(|s| s.outcome.status == RunStatus::Success && s.run.run_id == "burst"));
    assert_eq!(memory.pipeline_runs()[0].outcome.status, RunStatus::Success);
}

fn count(store: &SqliteStore, sql: &str) -> u64 {
    let n: i64 = store.connection().query_row(sql, [], |r| r.get(0)).unwrap();
    n as u64
}

fn block_into_sqlite(steps: usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let (stats, _) = run_burst(
        SqliteStore::open(&path).unwrap(),
        steps,
        Backpressure::Block,
        4096,
    );
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.written, records_of(steps));
    let db = SqliteStore::open_read_only(&path).unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM step_runs"), steps as u64);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM step_runs WHERE status = 'success' AND event = 'step_end' \
             AND run_id = 'burst' AND duration_ms IS NOT NULL"
        ),
        steps as u64,
        "every step's end record"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pipeline_runs WHERE status = 'success' AND run_id = 'burst'"
        ),
        1
    );
}

fn drop_into_memory(steps: usize) {
    let memory = InMemoryStore::new();
    let (stats, _) = run_burst(memory.clone(), steps, Backpressure::Drop, 64);
    let total = records_of(steps);
    assert!(stats.dropped > 0, "the queue overflowed: {stats:?}");
    assert!(stats.written > 0);
    assert_eq!(
        stats.written + stats.dropped,
        total,
        "every record written or counted as dropped"
    );
    let records = memory.records();
    assert_eq!(
        records.len() as u64,
        stats.written,
        "what was written is stored"
    );

    // Each entity has at most one start and one end record, and its row is the latest of them.
    let mut per_entity: HashMap<EntityKey, (u32, u32)> = HashMap::new();
    for record in &records {
        let (starts, ends) = per_entity.entry(record.key()).or_default();
        if record.event().is_end() {
            *ends += 1;
        } else {
            *starts += 1;
        }
    }
    assert!(per_entity.values().all(|&(s, e)| s <= 1 && e <= 1));
    let rows = memory.step_runs();
    assert_eq!(
        rows.len() + 1,
        per_entity.len(),
        "a row per entity with a record"
    );
    for row in &rows {
        let (_, ends) = per_entity[&row.key()];
        let expected = if ends == 1 {
            RunStatus::Success
        } else {
            RunStatus::Running
        };
        assert_eq!(
            row.outcome.status, expected,
            "the end record wins when it was kept"
        );
    }
}

#[test]
fn block_loses_nothing() {
    block_into_memory(20_000);
}

#[test]
fn block_loses_nothing_in_sqlite() {
    block_into_sqlite(5_000);
}

#[test]
fn drop_counts_exactly_what_it_drops() {
    drop_into_memory(20_000);
}

#[test]
#[ignore = "1M spans: cargo test --release --test writer backpressure -- --ignored"]
fn block_loses_nothing_of_a_million_spans() {
    block_into_sqlite(1_000_000);
}

#[test]
#[ignore = "1M spans: cargo test --release --test writer backpressure -- --ignored"]
fn drop_counts_exactly_what_it_drops_of_a_million_spans() {
    drop_into_memory(1_000_000);
}
