//! The background writer: shutdown statistics, flushing, lossy back-pressure counting its
//! drops, lossless back-pressure, and a failing store retried until it recovers.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::field::Empty;
use tracing_etl::writer::WriterConfig;
use tracing_etl::{
    error::WriterError,
    record::EventName,
    writer::{replay_spill, Backpressure},
    ExecutionRecord, ExecutionRecordStore, ExecutionRecordsLayer, InMemoryStore, RunStatus,
    StoreError,
};
use tracing_subscriber::prelude::*;

/// A pipeline with `steps` steps: `1 + steps` entities, twice as many records.
fn pipeline(steps: usize) {
    let _p = tracing::info_span!("p", etl.pipeline = Empty).entered();
    for _ in 0..steps {
        let _s = tracing::info_span!("load", etl.step = Empty).entered();
    }
}

#[test]
fn shutdown_returns_the_final_counters() {
    let store = InMemoryStore::new();
    let (layer, guard) = ExecutionRecordsLayer::new(store.clone());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || pipeline(4));
    let stats = guard.shutdown().expect("clean shutdown");
    assert_eq!(stats.written, 10);
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.store_errors, 0);
    assert_eq!(stats.abandoned, 0);
    assert_eq!(store.records().len(), 10);
    assert_eq!(store.step_runs().len(), 4);
}

#[test]
fn flush_makes_closed_entities_visible_while_recording() {
    let store = InMemoryStore::new();
    let (layer, guard) = ExecutionRecordsLayer::new(store.clone());
    let handle = layer.writer();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let _p = tracing::info_span!("p", etl.pipeline = Empty).entered();
        drop(tracing::info_span!("one", etl.step = Empty).entered());

        // The layer itself, as a program holding only the subscriber would reach it.
        tracing::dispatcher::get_default(|d| {
            d.downcast_ref::<ExecutionRecordsLayer>()
                .expect("the layer is in the subscriber")
                .flush()
        })
        .expect("flushed");
        let events: Vec<EventName> = store.records().iter().map(|r| r.event()).collect();
        assert_eq!(
            events,
            [
                EventName::PipelineStart,
                EventName::StepStart,
                EventName::StepEnd
            ]
        );
        assert_eq!(store.pipeline_runs()[0].outcome.status, RunStatus::Running);

        drop(tracing::info_span!("two", etl.step = Empty).entered());
        guard.flush().expect("flushed through the guard");
        assert_eq!(store.records().len(), 5);
        drop(tracing::info_span!("three", etl.step = Empty).entered());
        handle.flush().expect("flushed through a handle");
        assert_eq!(store.records().len(), 7);
        assert_eq!(handle.stats().written, 7);
    });
    let stats = guard.shutdown().unwrap();
    assert_eq!(stats.written, 8);
    assert_eq!(store.pipeline_runs()[0].outcome.status, RunStatus::Success);
    // After shutdown the writer is gone.
    assert!(matches!(handle.flush(), Err(WriterError::ShutDown)));
}

#[test]
fn records_after_shutdown_are_counted_as_dropped() {
    let store = InMemoryStore::new();
    let (layer, guard) = ExecutionRecordsLayer::new(store.clone());
    let handle = layer.writer();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let p = tracing::info_span!("p", etl.pipeline = Empty);
        let stats = guard.shutdown().unwrap();
        assert_eq!(stats.written, 1);
        drop(p);
    });
    assert_eq!(
        handle.stats().dropped,
        1,
        "the end record had nowhere to go"
    );
    assert_eq!(store.pipeline_runs()[0].outcome.status, RunStatus::Running);
}

/// A store that blocks in `write_batch`: it says when it is entered and waits until `release`
/// is dropped.
struct GateStore {
    memory: InMemoryStore,
    entered: Sender<()>,
    release: Receiver<()>,
}

impl ExecutionRecordStore for GateStore {
    fn write_record(&mut self, record: &ExecutionRecord) -> Result<(), StoreError> {
        self.write_batch(std::slice::from_ref(record))
    }

    fn write_batch(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        let _ = self.entered.send(());
        let _ = self.release.recv();
        self.memory.write_batch(records)
    }
}

#[test]
fn lossy_backpressure_drops_and_counts_instead_of_waiting() {
    let memory = InMemoryStore::new();
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    // The writer takes the next batch (one record) from the queue while the store writes, and
    // the store is not given up on for a minute.
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .with_writer_config(
            WriterConfig::default()
                .with_queue_capacity(1)
                .with_max_batch(1)
                .with_backpressure(Backpressure::Drop)
                .with_store_deadline(Duration::from_secs(60)),
        )
        .build(GateStore {
            memory: memory.clone(),
            entered: entered_tx,
            release: release_rx,
        });
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));

    // The pipeline's start record reaches the store, which then blocks.
    let p = tracing::dispatcher::with_default(&dispatch, || {
        tracing::info_span!("p", etl.pipeline = Empty)
    });
    entered.recv_timeout(Duration::from_secs(10)).unwrap();

    // 10 steps (20 records) and the pipeline's end: one fits in the queue and one in the next
    // batch (unless the writer had not taken it yet when the last one was sent), the rest is
    // dropped, without waiting for the store (on a thread, so that waiting would fail the test
    // instead of hanging it).
    let (done_tx, done) = mpsc::channel();
    let d = dispatch.clone();
    let emitter = std::thread::spawn(move || {
        tracing::dispatcher::with_default(&d, || {
            p.in_scope(|| {
                for _ in 0..10 {
                    let _s = tracing::info_span!("load", etl.step = Empty).entered();
                }
            });
            drop(p);
        });
        done_tx.send(()).unwrap();
    });
    done.recv_timeout(Duration::from_secs(10))
        .expect("the program never waits for the store");
    emitter.join().unwrap();
    let dropped = guard.stats().dropped;
    assert!(dropped == 19 || dropped == 20, "{dropped}");

    drop(release);
    let stats = guard.shutdown().unwrap();
    assert_eq!(stats.dropped, dropped);
    assert_eq!(stats.written, 22 - dropped);
    assert_eq!(
        stats.written + stats.dropped,
        22,
        "every record accounted for"
    );
    assert_eq!(memory.records().len() as u64, stats.written);
}

/// A store that sleeps in every `write_batch`.
struct SlowStore(InMemoryStore);

impl ExecutionRecordStore for SlowStore {
    fn write_record(&mut self, record: &ExecutionRecord) -> Result<(), StoreError> {
        self.write_batch(std::slice::from_ref(record))
    }

    fn write_batch(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        std::thread::sleep(Duration::from_millis(1));
        self.0.write_batch(records)
    }
}

#[test]
fn blocking_backpressure_loses_nothing() {
    let memory = InMemoryStore::new();
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .queue_capacity(1)
        .max_batch(2)
        .build(SlowStore(memory.clone()));
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || pipeline(49));
    let stats = guard.shutdown().unwrap();
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.written, 100);
    assert_eq!(memory.records().len(), 100);
    assert_eq!(memory.step_runs().len(), 49);
}

/// A store that fails while `failing` is set, writing nothing then.
struct FlakyStore {
    memory: InMemoryStore,
    failing: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
}

impl ExecutionRecordStore for FlakyStore {
    fn write_record(&mut self, record: &ExecutionRecord) -> Result<(), StoreError> {
        self.write_batch(std::slice::from_ref(record))
    }

    fn write_batch(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::other("database is locked"));
        }
        self.memory.write_batch(records)
    }
}

#[test]
fn a_failing_store_is_retried_reported_and_recovers_losing_nothing() {
    let memory = InMemoryStore::new();
    let failing = Arc::new(AtomicBool::new(true));
    let calls = Arc::new(AtomicUsize::new(0));
    let reported = Arc::new(Mutex::new(Vec::<String>::new()));
    let (first_error_tx, first_error) = mpsc::sync_channel(1);
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(4))
        // Not what this test is about: on a busy machine a write can take longer than the
        // default second, and the flush would then be told of the deadline instead.
        .store_deadline(Duration::from_secs(60))
        .on_store_error({
            let reported = reported.clone();
            move |e| {
                reported.lock().unwrap().push(e.to_string());
                let _ = first_error_tx.try_send(());
            }
        })
        .build(FlakyStore {
            memory: memory.clone(),
            failing: failing.clone(),
            calls: calls.clone(),
        });
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        pipeline(3);
    });

    // The writer is retrying: a flush now reports the store's error.
    first_error.recv_timeout(Duration::from_secs(10)).unwrap();
    match guard.flush() {
        Err(WriterError::Store(e)) => assert!(
            e.to_string().contains("database is locked"),
            "expected the store's error, got {e}"
        ),
        other => panic!("expected the store's error, got {other:?}"),
    }
    assert!(memory.records().is_empty());
    // Keep failing for a few more retries.
    while calls.load(Ordering::SeqCst) < 4 {
        std::thread::yield_now();
    }

    failing.store(false, Ordering::SeqCst);
    guard.flush().expect("the store recovered");
    let stats = guard.shutdown().unwrap();
    // The error once, then its repeats as one count when the store recovered: every failure
    // counted, none reported twice.
    let reported = reported.lock().unwrap();
    assert!(stats.store_errors >= 4, "{stats:?}");
    assert_eq!(reported.len(), 2, "{reported:?}");
    assert_eq!(reported[0], "database is locked");
    let repeats = format!(
        "database is locked (repeated {} times in the last ",
        stats.store_errors - 1
    );
    assert!(reported[1].starts_with(&repeats), "{reported:?}");
    assert_eq!(stats.written, 8);
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.abandoned, 0);
    // Every record, once, in order.
    let records = memory.records();
    assert_eq!(records.len(), 8);
    assert_eq!(records[0].event(), EventName::PipelineStart);
    assert_eq!(records[7].event(), EventName::PipelineEnd);
    assert_eq!(memory.step_runs().len(), 3);
}

#[test]
fn a_store_failing_past_the_shutdown_timeout_abandons_and_counts() {
    let memory = InMemoryStore::new();
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .without_spill()
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(4))
        .shutdown_timeout(Duration::from_millis(50))
        .on_store_error(|_| {})
        .build(FlakyStore {
            memory: memory.clone(),
            failing: Arc::new(AtomicBool::new(true)),
            calls: Arc::new(AtomicUsize::new(0)),
        });
    let handle = guard.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        pipeline(2);
    });
    let result = guard.shutdown();
    assert!(matches!(result, Err(WriterError::Timeout(_))), "{result:?}");
    let stats = handle.stats();
    assert_eq!(stats.written, 0);
    assert_eq!(stats.abandoned, 6, "every record is accounted for");
    assert!(stats.store_errors >= 1);
    assert!(memory.records().is_empty());
}

#[test]
fn a_store_failing_past_the_shutdown_timeout_leaves_its_records_in_the_spill_file() {
    let spill = tempfile::tempdir().unwrap();
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .outage_buffer(2)
        .spill_dir(spill.path())
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(4))
        .shutdown_timeout(Duration::from_millis(50))
        .on_store_error(|_| {})
        .build(FlakyStore {
            memory: InMemoryStore::new(),
            failing: Arc::new(AtomicBool::new(true)),
            calls: Arc::new(AtomicUsize::new(0)),
        });
    let handle = guard.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        pipeline(2);
    });
    let result = guard.shutdown();
    assert!(matches!(result, Err(WriterError::Timeout(_))), "{result:?}");
    let stats = handle.stats();
    assert_eq!(stats.written, 0);
    assert_eq!(
        stats.abandoned, 0,
        "nothing lost: the spill file keeps it all"
    );

    let files: Vec<_> = std::fs::read_dir(spill.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(name, format!("spill-{}", handle.recorder_id()));
    assert!(files[0].is_dir(), "a JSON Lines history");

    // Replayed once the store is back: every record, in order.
    let mut recovered = InMemoryStore::new();
    assert_eq!(replay_spill(&files[0], &mut recovered).unwrap(), 6);
    let records = recovered.records();
    assert_eq!(records.len(), 6);
    assert_eq!(records[0].event(), EventName::PipelineStart);
    assert_eq!(records[5].event(), EventName::PipelineEnd);
    assert!(recovered
        .step_runs()
        .iter()
        .all(|s| s.outcome.status == RunStatus::Success));
}

#[test]
fn an_outage_longer_than_the_queue_spills_without_blocking_and_recovers_in_order() {
    const STEPS: usize = 2_000;
    let spill = tempfile::tempdir().unwrap();
    let memory = InMemoryStore::new();
    let failing = Arc::new(AtomicBool::new(true));
    let reported = Arc::new(AtomicUsize::new(0));
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .queue_capacity(16)
        .max_batch(64)
        .outage_buffer(100)
        .spill_dir(spill.path())
        .retry_backoff(Duration::from_millis(5), Duration::from_millis(20))
        .on_store_error({
            let reported = reported.clone();
            move |_| {
                reported.fetch_add(1, Ordering::SeqCst);
            }
        })
        .build(FlakyStore {
            memory: memory.clone(),
            failing: failing.clone(),
            calls: Arc::new(AtomicUsize::new(0)),
        });
    // The whole run happens during the outage, through a 16-record queue: it finishes only
    // because the writer keeps draining the queue into memory and then the spill file.
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        pipeline(STEPS);
    });
    let during = guard.stats();
    assert_eq!(during.written, 0);
    assert!(during.spilled > 0, "{during:?}");
    assert!(
        reported.load(Ordering::SeqCst) >= 1,
        "the outage is reported"
    );
    assert!(memory.records().is_empty());

    failing.store(false, Ordering::SeqCst);
    guard.flush().expect("the store recovered");
    let stats = guard.shutdown().unwrap();
    let total = 2 * (STEPS as u64 + 1);
    assert_eq!(stats.written, total);
    assert_eq!(stats.dropped + stats.abandoned, 0);
    // Every record exactly once, in the order it was emitted.
    let records = memory.records();
    assert_eq!(records.len() as u64, total);
    assert_eq!(records[0].event(), EventName::PipelineStart);
    assert_eq!(records[records.len() - 1].event(), EventName::PipelineEnd);
    let steps = memory.step_runs();
    assert_eq!(steps.len(), STEPS);
    assert!(steps.iter().all(|s| s.event() == EventName::StepEnd));
    let mut seen = std::collections::HashSet::new();
    for r in &records {
        assert!(seen.insert((r.key(), r.event())), "duplicate record {r:?}");
    }
    // The spill file is gone once the store took everything.
    assert_eq!(std::fs::read_dir(spill.path()).unwrap().count(), 0);
}

/// A store that panics once.
struct PanicsOnce {
    memory: InMemoryStore,
    panicked: bool,
}

impl ExecutionRecordStore for PanicsOnce {
    fn write_batch(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        if !std::mem::replace(&mut self.panicked, true) {
            panic!("store bug");
        }
        self.memory.write_batch(records)
    }
}

#[test]
fn a_store_that_panics_is_a_store_that_failed() {
    let memory = InMemoryStore::new();
    let reported = Arc::new(Mutex::new(Vec::<String>::new()));
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(4))
        // One failure, the panic: a slow write on a busy machine must not count as another.
        .store_deadline(Duration::from_secs(60))
        .on_store_error({
            let reported = reported.clone();
            move |e| reported.lock().unwrap().push(e.to_string())
        })
        .build(PanicsOnce {
            memory: memory.clone(),
            panicked: false,
        });
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        pipeline(3);
    });
    let stats = guard.shutdown().expect("retried after the panic");
    assert_eq!((stats.written, stats.store_errors), (8, 1));
    assert_eq!(
        *reported.lock().unwrap(),
        ["the store panicked in write_batch: store bug"]
    );
    assert_eq!(memory.records().len(), 8);
}
