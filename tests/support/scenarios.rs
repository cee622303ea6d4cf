//! Running one scenario against either store.
//!
//! [`run`] records a closure under `registry().with(layer).with(events)`, flushes the writer
//! while the subscriber is still alive (so the crate's warnings, emitted from the writer thread,
//! reach [`Events`]), shuts the writer down and reads the rows back. Against
//! [`Store::Sqlite`] the rows come from the database file reopened read-only, and are checked to
//! be exactly the latest record of every entity the layer wrote (one row per entity).
//!
//! [`both_stores!`](crate::both_stores) turns a `fn(Store)` into one test per store, and
//! [`store_properties!`](crate::store_properties) a `fn(Store, &Case)` into a property test per
//! store.

use std::collections::BTreeMap;

use tracing_etl::store::{RecordReader, RunFilter};
use tracing_etl::{
    record::EntityKey,
    writer::{WriterHandle, WriterStats},
    ExecutionRecord, ExecutionRecordStore, ExecutionRecordsLayer, InMemoryStore, SqliteStore,
    StoreError,
};
use tracing_subscriber::prelude::*;

use super::capture::Events;

/// Where a scenario's records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Memory,
    Sqlite,
}

/// What a scenario left behind.
#[derive(Debug)]
pub struct Runs {
    /// One row per pipeline run (latest record).
    pub pipelines: Vec<ExecutionRecord>,
    /// One row per process run.
    pub processes: Vec<ExecutionRecord>,
    /// One row per step run.
    pub steps: Vec<ExecutionRecord>,
    /// Every record the layer wrote, in order (start and end records).
    pub records: Vec<ExecutionRecord>,
    /// WARN events of target `tracing_etl`.
    pub warnings: Vec<String>,
    pub stats: WriterStats,
}

fn only<'a, T>(rows: &'a [T], what: &str, name: &str, is: impl Fn(&T) -> bool) -> &'a T {
    let mut found = rows.iter().filter(|r| is(r));
    let row = found
        .next()
        .unwrap_or_else(|| panic!("no {what} named {name:?}"));
    assert!(
        found.next().is_none(),
        "more than one {what} named {name:?}"
    );
    row
}

impl Runs {
    /// The one pipeline run named `name`.
    pub fn pipeline(&self, name: &str) -> &ExecutionRecord {
        only(&self.pipelines, "pipeline", name, |r| r.name == name)
    }

    /// The one process run named `name`.
    pub fn process(&self, name: &str) -> &ExecutionRecord {
        only(&self.processes, "process", name, |r| r.name == name)
    }

    /// The one step run named `name`.
    pub fn step(&self, name: &str) -> &ExecutionRecord {
        only(&self.steps, "step", name, |r| r.name == name)
    }

    /// The records (start and end) of the entity with `key`, in the order written.
    pub fn records_of(&self, key: &EntityKey) -> Vec<&ExecutionRecord> {
        self.records.iter().filter(|r| &r.key() == key).collect()
    }

    /// Number of rows over the three tables.
    pub fn entity_count(&self) -> usize {
        self.pipelines.len() + self.processes.len() + self.steps.len()
    }
}

/// Writes every record to memory (the log and the expected rows) and to SQLite.
struct Tee {
    memory: InMemoryStore,
    sqlite: SqliteStore,
}

impl ExecutionRecordStore for Tee {
    fn write_record(&mut self, record: &ExecutionRecord) -> Result<(), StoreError> {
        self.write_batch(std::slice::from_ref(record))
    }

    fn write_batch(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        self.sqlite.write_batch(records)?;
        self.memory.write_batch(records)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.sqlite.flush()
    }
}

/// What a scenario can look at while it runs.
#[derive(Debug)]
pub struct Probe {
    writer: WriterHandle,
    memory: InMemoryStore,
}

impl Probe {
    /// Flushes the writer and returns every record written so far.
    pub fn records(&self) -> Vec<ExecutionRecord> {
        self.writer.flush().expect("writer flushed");
        self.memory.records()
    }
}

/// Runs `f` with the layer writing to `store`; see the module docs.
pub fn run<R>(store: Store, f: impl FnOnce() -> R) -> (Runs, R) {
    run_with(store, |_| f())
}

/// [`run`], giving `f` a [`Probe`] to look at the records while it runs.
pub fn run_with<R>(store: Store, f: impl FnOnce(&Probe) -> R) -> (Runs, R) {
    let memory = InMemoryStore::new();
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("runs.db");
    // The scenarios check panic messages too: capture them (an opt-in, process-wide hook).
    // And a store deadline a busy test machine cannot reach: the scenarios are not about slow
    // stores.
    let builder = ExecutionRecordsLayer::builder()
        .capture_panic_messages()
        .store_deadline(std::time::Duration::from_secs(60));
    let (layer, guard) = match store {
        Store::Memory => builder.build(memory.clone()),
        Store::Sqlite => builder.build(Tee {
            memory: memory.clone(),
            sqlite: SqliteStore::open(&path).expect("open the sqlite store"),
        }),
    };
    let writer = layer.writer();
    let events = Events::default();
    let subscriber = tracing_subscriber::registry()
        .with(layer)
        .with(events.clone());
    let probe = Probe {
        writer,
        memory: memory.clone(),
    };
    let out = tracing::subscriber::with_default(subscriber, || {
        let out = f(&probe);
        probe.writer.flush().expect("writer flushed");
        out
    });
    let stats = guard.shutdown().expect("writer shut down cleanly");
    assert_eq!(stats.dropped, 0, "no record dropped");
    assert_eq!(stats.store_errors, 0, "no store error");
    assert_eq!(stats.abandoned, 0, "no record abandoned");

    let mut runs = Runs {
        pipelines: memory.pipeline_runs(),
        processes: memory.process_runs(),
        steps: memory.step_runs(),
        records: memory.records(),
        warnings: events.warnings(),
        stats,
    };
    if store == Store::Sqlite {
        let mut db = SqliteStore::open_read_only(&path).expect("reopen the database read-only");
        let pipelines = db
            .read_pipelines(&RunFilter::default())
            .expect("read pipeline_runs");
        let processes = db
            .read_processes(&RunFilter::default())
            .expect("read process_runs");
        let steps = db
            .read_steps(&RunFilter::default())
            .expect("read step_runs");
        assert_eq!(
            by_key(&pipelines),
            by_key(&runs.pipelines),
            "pipeline_runs holds the latest record of every pipeline run"
        );
        assert_eq!(
            by_key(&processes),
            by_key(&runs.processes),
            "process_runs holds the latest record of every process run"
        );
        assert_eq!(
            by_key(&steps),
            by_key(&runs.steps),
            "step_runs holds the latest record of every step run"
        );
        runs.pipelines = pipelines;
        runs.processes = processes;
        runs.steps = steps;
    }
    (runs, out)
}

fn by_key(rows: &[ExecutionRecord]) -> BTreeMap<EntityKey, ExecutionRecord> {
    let mut map = BTreeMap::new();
    for record in rows.iter().cloned() {
        let key = record.key();
        assert!(
            map.insert(key.clone(), record).is_none(),
            "two rows for {key:?}"
        );
    }
    map
}

/// `both_stores!(scenario, …)`: for each `fn scenario(store: Store)`, a module `scenario` with
/// the tests `memory` and `sqlite`.
#[macro_export]
macro_rules! both_stores {
    ($($scenario:ident),+ $(,)?) => {
        $(
            mod $scenario {
                #[test]
                fn memory() {
                    super::$scenario($crate::support::scenarios::Store::Memory);
                }

                #[test]
                fn sqlite() {
                    super::$scenario($crate::support::scenarios::Store::Sqlite);
                }
            }
        )+
    };
}

/// The proptest configuration of a property run against a [`Store`]: `PROPTEST_CASES` cases
/// (default 256) divided by `divisor`, at least one.
pub fn proptest_cases(divisor: u32) -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    proptest::test_runner::Config::with_cases((cases / divisor).max(1))
}

/// `store_properties!(check, case)`: for `fn check(store: Store, case: &Case)` and a strategy
/// `fn case() -> impl Strategy<Value = Case>`, the property tests `in_memory` (every case) and
/// `in_sqlite` (one case in eight).
#[macro_export]
macro_rules! store_properties {
    ($check:ident, $strategy:ident) => {
        proptest::proptest! {
            #![proptest_config($crate::support::scenarios::proptest_cases(1))]

            #[test]
            fn in_memory(case in $strategy()) {
                $check($crate::support::scenarios::Store::Memory, &case);
            }
        }

        proptest::proptest! {
            #![proptest_config($crate::support::scenarios::proptest_cases(8))]

            #[test]
            fn in_sqlite(case in $strategy()) {
                $check($crate::support::scenarios::Store::Sqlite, &case);
            }
        }
    };
}
