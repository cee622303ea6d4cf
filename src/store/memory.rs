//! [`InMemoryStore`]: records kept in memory, for tests and embedding.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::StoreError;
use crate::record::{EntityKey, EntityKind, ExecutionRecord, RecorderHeartbeat};
use crate::store::{ExecutionRecordStore, RecordReader, RecordVisit};

/// A store that keeps records in memory.
///
/// Cloning is cheap and clones share their rows: give one clone to the layer and read from
/// another.
///
/// ```
/// use tracing_etl::{ExecutionRecordsLayer, InMemoryStore, RunStatus};
/// use tracing_subscriber::prelude::*;
///
/// #[tracing::instrument(fields(etl.pipeline = "daily_sales"))]
/// fn run() {
///     load();
/// }
///
/// #[tracing::instrument(fields(etl.step))]
/// fn load() {}
///
/// let store = InMemoryStore::new();
/// let (layer, guard) = ExecutionRecordsLayer::new(store.clone());
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), run);
/// drop(guard); // flushes every queued record
///
/// assert_eq!(store.pipeline_runs()[0].name, "daily_sales");
/// assert_eq!(store.step_runs()[0].outcome.status, RunStatus::Success);
/// assert_eq!(store.records().len(), 4); // a start and an end record each
/// ```
#[derive(Debug, Clone, Default)]
pub struct InMemoryStore {
    inner: Arc<Mutex<Rows>>,
}

#[derive(Debug, Default)]
struct Rows {
    /// Every record written, in order.
    log: Vec<ExecutionRecord>,
    /// Latest record per entity, in the order entities were first seen.
    latest: Vec<ExecutionRecord>,
    index: HashMap<EntityKey, usize>,
    /// Latest heartbeat per recorder, in the order recorders were first seen.
    recorders: Vec<RecorderHeartbeat>,
}

impl Rows {
    fn push(&mut self, record: &ExecutionRecord) {
        match self.index.entry(record.key()) {
            Entry::Occupied(entry) => {
                let i = *entry.get();
                if record.supersedes(&self.latest[i]) {
                    self.latest[i] = record.clone();
                }
            }
            Entry::Vacant(entry) => {
                entry.insert(self.latest.len());
                self.latest.push(record.clone());
            }
        }
        self.log.push(record.clone());
    }
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn rows(&self) -> MutexGuard<'_, Rows> {
        // A panic while holding the lock cannot leave `Rows` half-updated in a way that matters
        // to readers, so a poisoned lock is still read.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every record written, in the order written (start and end records both).
    pub fn records(&self) -> Vec<ExecutionRecord> {
        self.rows().log.clone()
    }

    /// The latest record of every pipeline run, one per `(run_id, attempt)`, in the order the
    /// runs were first seen.
    pub fn pipeline_runs(&self) -> Vec<ExecutionRecord> {
        self.latest(EntityKind::Pipeline)
    }

    /// The latest record of every process run, one per `process_run_id`.
    pub fn process_runs(&self) -> Vec<ExecutionRecord> {
        self.latest(EntityKind::Process)
    }

    /// The latest record of every step run, one per `step_run_id`.
    pub fn step_runs(&self) -> Vec<ExecutionRecord> {
        self.latest(EntityKind::Step)
    }

    /// The latest record of every entity of `kind`, in the order the entities were first seen.
    pub fn latest(&self, kind: EntityKind) -> Vec<ExecutionRecord> {
        self.rows()
            .latest
            .iter()
            .filter(|r| r.kind == kind)
            .cloned()
            .collect()
    }

    /// The latest heartbeat of every writer that recorded into this store.
    pub fn recorders(&self) -> Vec<RecorderHeartbeat> {
        self.rows().recorders.clone()
    }

    /// Forgets every record.
    pub fn clear(&self) {
        *self.rows() = Rows::default();
    }
}

impl RecordReader for InMemoryStore {
    fn visit_records(&mut self, read: RecordVisit<'_>) -> Result<(), StoreError> {
        let mut rows = self.latest(read.kind);
        rows.retain(|r| read.filter.matches_record(r));
        read.filter
            .order_and_limit(&mut rows, |r| (r.started_at, &r.run.run_id, r.run.attempt));
        read.visit_all(rows);
        Ok(())
    }

    fn read_recorders(&mut self) -> Result<Vec<RecorderHeartbeat>, StoreError> {
        Ok(self.recorders())
    }
}

impl ExecutionRecordStore for InMemoryStore {
    fn write_heartbeat(&mut self, heartbeat: &RecorderHeartbeat) -> Result<(), StoreError> {
        let mut rows = self.rows();
        match rows
            .recorders
            .iter_mut()
            .find(|r| r.recorder_id == heartbeat.recorder_id)
        {
            Some(existing) => *existing = heartbeat.clone(),
            None => rows.recorders.push(heartbeat.clone()),
        }
        Ok(())
    }

    fn write_record(&mut self, record: &ExecutionRecord) -> Result<(), StoreError> {
        self.rows().push(record);
        Ok(())
    }

    fn write_batch(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        let mut rows = self.rows();
        records.iter().for_each(|r| rows.push(r));
        Ok(())
    }
}
