//! After an outage, the writer writes its backlog a batch at a time and takes new records from
//! the queue between batches: a job still running while tens of thousands of records are
//! written back is held up for one batch at most, not for the whole backlog.
//!
//! The test counts instead of timing: with a blocking queue of 64 records, a writer that wrote
//! the whole backlog before it took from the queue again would let the job finish at most
//! about 64 steps before the backlog is written. Wall-clock figures are printed, not asserted.

use crate::faults::{assert_in_order_once, pipeline, Faults, FaultyStore};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::field::Empty;
use tracing_etl::writer::WriterConfig;
use tracing_etl::{writer::Backpressure, ExecutionRecordsLayer, InMemoryStore};
use tracing_subscriber::prelude::*;

#[test]
fn recovery_writes_the_backlog_in_slices_without_freezing_the_job() {
    const OUTAGE_STEPS: usize = 20_000;
    let spill = tempfile::tempdir().unwrap();
    let memory = InMemoryStore::new();
    let faults = Faults::default();
    // A store of limited speed: 3 ms a batch of at most 256 records.
    faults.per_batch(Duration::from_millis(3));
    faults.fail_writes(true);
    let config = WriterConfig::default()
        .with_queue_capacity(64)
        .with_max_batch(256)
        .with_backpressure(Backpressure::Block)
        .with_outage_buffer(1_000)
        .with_spill_dir(spill.path())
        .with_retry_backoff(Duration::from_millis(5), Duration::from_millis(20))
        .with_store_error_callback(|_| {});
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .with_writer_config(config)
        .build(FaultyStore::new(&memory, &faults));
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));

    // The outage: a whole run kept in memory and the spill file.
    tracing::dispatcher::with_default(&dispatch, || pipeline(OUTAGE_STEPS));
    let backlog = 2 * (OUTAGE_STEPS as u64 + 1);
    assert_eq!(guard.stats().written, 0);
    assert!(guard.stats().spilled > 0);

    // A job running through the recovery, counting the steps it finished while the backlog
    // was still being written.
    let stop = Arc::new(AtomicBool::new(false));
    let counting = Arc::new(AtomicBool::new(false));
    let during_recovery = Arc::new(AtomicU64::new(0));
    let longest_us = Arc::new(AtomicU64::new(0));
    let job = {
        let (dispatch, stop, longest_us) = (dispatch.clone(), stop.clone(), longest_us.clone());
        let (counting, during_recovery) = (counting.clone(), during_recovery.clone());
        let writer = guard.handle();
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                let _p = tracing::info_span!("p", etl.pipeline = Empty).entered();
                let mut steps = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    drop(tracing::info_span!("load", etl.step = Empty).entered());
                    let us = started.elapsed().as_micros() as u64;
                    longest_us.fetch_max(us, Ordering::SeqCst);
                    steps += 1;
                    if counting.load(Ordering::SeqCst) && writer.stats().written < backlog {
                        during_recovery.fetch_add(1, Ordering::SeqCst);
                    }
                }
                steps
            })
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    longest_us.store(0, Ordering::SeqCst);
    let recovered = Instant::now();
    counting.store(true, Ordering::SeqCst);
    faults.fail_writes(false);
    // Until the whole backlog is written (records are written in order: the outage's first).
    while guard.stats().written < backlog {
        assert!(
            recovered.elapsed() < Duration::from_secs(120),
            "{:?}",
            guard.stats()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let backlog_written_in = recovered.elapsed();
    stop.store(true, Ordering::SeqCst);
    let job_steps = job.join().unwrap();
    // Read once the job has stopped: a step held up by the recovery ends after it.
    let longest = Duration::from_micros(longest_us.load(Ordering::SeqCst));
    let during_recovery = during_recovery.load(Ordering::SeqCst);
    eprintln!(
        "{backlog} records written back in {backlog_written_in:?}; the job finished \
         {during_recovery} of its {job_steps} steps meanwhile, the longest took {longest:?}"
    );
    // Each step queues two records; a writer deaf to its queue until the backlog is written
    // lets through one queue's worth (64 records) and then holds the job.
    assert!(
        during_recovery > 4 * 64,
        "the job finished only {during_recovery} steps while {backlog} records were written \
         back: it was held behind the backlog"
    );

    drop(dispatch);
    let stats = guard.shutdown().unwrap();
    let total = backlog + 2 * (job_steps as u64 + 1);
    assert_eq!(
        (stats.written, stats.dropped, stats.abandoned),
        (total, 0, 0),
        "{stats:?}"
    );
    let records = memory.records();
    assert_eq!(records.len() as u64, total);
    assert_eq!(assert_in_order_once(&records), 2);
    assert_eq!(std::fs::read_dir(spill.path()).unwrap().count(), 0);
}
