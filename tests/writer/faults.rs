//! A store that fails, stalls or slows down on command: an [`InMemoryStore`] behind switches
//! the test flips while the writer runs, and counters of the calls the writer made.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing_etl::{
    record::RecorderHeartbeat, ExecutionRecord, ExecutionRecordStore, InMemoryStore, StoreError,
};

/// The switches and counters of a [`FaultyStore`], shared with the test.
#[derive(Clone, Default)]
pub struct Faults(Arc<State>);

#[derive(Default)]
struct State {
    fail_writes: AtomicBool,
    fail_flushes: AtomicBool,
    /// The next `write_batch` sleeps this long first (once), in ms; then fails if
    /// `stall_then_fail`.
    stall_next_write_ms: AtomicU64,
    stall_then_fail: AtomicBool,
    /// Every `write_batch` sleeps this long first, in µs.
    per_batch_us: AtomicU64,
    /// The first `write_heartbeat` waits until this says so.
    first_heartbeat_gate: Mutex<Option<Receiver<()>>>,
    flushes: AtomicU64,
    failed_flushes: AtomicU64,
    /// Stalls begun and stalls over (a stall is over once its `write_batch` returns).
    stalls_begun: AtomicU64,
    stalls_over: AtomicU64,
}

impl Faults {
    /// Every `write_batch` fails (`"database is locked"`) while on, writing nothing.
    pub fn fail_writes(&self, on: bool) {
        self.0.fail_writes.store(on, Ordering::SeqCst);
    }

    /// Every `flush` fails (`"disk I/O error"`) while on.
    pub fn fail_flushes(&self, on: bool) {
        self.0.fail_flushes.store(on, Ordering::SeqCst);
    }

    /// The next `write_batch` sleeps `stall` before it writes.
    pub fn stall_next_write(&self, stall: Duration) {
        self.0
            .stall_next_write_ms
            .store(stall.as_millis() as u64, Ordering::SeqCst);
    }

    /// The next `write_batch` sleeps `stall`, then fails without writing.
    pub fn stall_next_write_then_fail(&self, stall: Duration) {
        self.0.stall_then_fail.store(true, Ordering::SeqCst);
        self.stall_next_write(stall);
    }

    /// Every `write_batch` sleeps `per_batch` first: a store of limited speed.
    pub fn per_batch(&self, per_batch: Duration) {
        self.0
            .per_batch_us
            .store(per_batch.as_micros() as u64, Ordering::SeqCst);
    }

    /// The first `write_heartbeat` (the writer's first call) waits for `gate`.
    pub fn hold_first_heartbeat(&self, gate: Receiver<()>) {
        *self.0.first_heartbeat_gate.lock().unwrap() = Some(gate);
    }

    /// Whether a stalled `write_batch` has begun and not yet returned.
    pub fn stalled_now(&self) -> bool {
        let begun = self.0.stalls_begun.load(Ordering::SeqCst);
        begun > 0 && begun > self.0.stalls_over.load(Ordering::SeqCst)
    }

    /// `flush` calls so far, and how many of them failed.
    pub fn flushes(&self) -> (u64, u64) {
        (
            self.0.flushes.load(Ordering::SeqCst),
            self.0.failed_flushes.load(Ordering::SeqCst),
        )
    }
}

/// An [`InMemoryStore`] behind [`Faults`]. With `one_row`, it says it keeps one row per entity
/// (as the SQL stores do), so that the writer leaves superseded start records out of batches.
pub struct FaultyStore {
    pub memory: InMemoryStore,
    pub faults: Faults,
    pub one_row: bool,
}

impl FaultyStore {
    pub fn new(memory: &InMemoryStore, faults: &Faults) -> Self {
        FaultyStore {
            memory: memory.clone(),
            faults: faults.clone(),
            one_row: false,
        }
    }
}

impl ExecutionRecordStore for FaultyStore {
    fn write_batch(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        let state = &self.faults.0;
        let per_batch = state.per_batch_us.load(Ordering::SeqCst);
        if per_batch > 0 {
            std::thread::sleep(Duration::from_micros(per_batch));
        }
        let stall = state.stall_next_write_ms.swap(0, Ordering::SeqCst);
        if stall > 0 {
            state.stalls_begun.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(stall));
            state.stalls_over.fetch_add(1, Ordering::SeqCst);
            if state.stall_then_fail.swap(false, Ordering::SeqCst) {
                return Err(StoreError::other("statement timeout"));
            }
        }
        if state.fail_writes.load(Ordering::SeqCst) {
            return Err(StoreError::other("database is locked"));
        }
        self.memory.write_batch(records)
    }

    fn keeps_one_row_per_entity(&self) -> bool {
        self.one_row
    }

    fn write_heartbeat(&mut self, heartbeat: &RecorderHeartbeat) -> Result<(), StoreError> {
        let gate = self.faults.0.first_heartbeat_gate.lock().unwrap().take();
        if let Some(gate) = gate {
            let _ = gate.recv();
        }
        self.memory.write_heartbeat(heartbeat)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        let state = &self.faults.0;
        state.flushes.fetch_add(1, Ordering::SeqCst);
        if state.fail_flushes.load(Ordering::SeqCst) {
            state.failed_flushes.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::other("disk I/O error"));
        }
        self.memory.flush()
    }
}

/// A pipeline with `steps` steps, one after the other: `2 × (steps + 1)` records.
pub fn pipeline(steps: usize) {
    let _p = tracing::info_span!("p", etl.pipeline = tracing::field::Empty).entered();
    for _ in 0..steps {
        let _s = tracing::info_span!("load", etl.step = tracing::field::Empty).entered();
    }
}

/// `records` are those of [`pipeline`]s, each exactly once and in the order they were emitted:
/// the pipeline's start record, then each step's start and end records, then the pipeline's
/// end record. Returns how many pipelines.
pub fn assert_in_order_once(records: &[ExecutionRecord]) -> usize {
    use tracing_etl::record::EventName;
    let mut pipelines = 0;
    let mut i = 0;
    while i < records.len() {
        assert_eq!(records[i].event(), EventName::PipelineStart, "record {i}");
        let pipeline = records[i].key();
        i += 1;
        while records[i].event() == EventName::StepStart {
            let step = records[i].key();
            assert_eq!(
                records[i + 1].event(),
                EventName::StepEnd,
                "record {}",
                i + 1
            );
            assert_eq!(
                records[i + 1].key(),
                step,
                "record {}: its step's end",
                i + 1
            );
            i += 2;
        }
        assert_eq!(records[i].event(), EventName::PipelineEnd, "record {i}");
        assert_eq!(records[i].key(), pipeline, "record {i}");
        i += 1;
        pipelines += 1;
    }
    pipelines
}

/// The spill history a writer leaves in `dir`: a JSON Lines history.
pub fn spill_history(dir: &std::path::Path, recorder_id: &str) -> std::path::PathBuf {
    dir.join(format!("spill-{recorder_id}"))
}

/// The records of a spill history, in the order the writer spilled them (its order file's),
/// each line whole.
pub fn records_in(history: &std::path::Path) -> Vec<ExecutionRecord> {
    let mut store = tracing_etl::InMemoryStore::new();
    let report = tracing_etl::writer::replay_spill_report(history, &mut store).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    store.records()
}
