//! A store that stops answering for longer than the store deadline — a write stalled in the
//! store, a SQLite history locked by another process — does not hold up the job: the writer
//! keeps draining the queue into its outage buffer and spill file, reports the outage, and once
//! the store answers, writes everything exactly once, in order.
//!
//! "Does not hold up the job" is checked by counting, not by the clock: the job's steps that
//! begin while the store is stalled or locked. With blocking back-pressure and a queue of 64
//! records (two a step), a job that waited for the store would begin at most about 32 steps
//! before the store answered again. The longest step is printed for the record.

use crate::faults::{
    assert_in_order_once, pipeline, records_in, spill_history, Faults, FaultyStore,
};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::field::Empty;
use tracing_etl::writer::{StoreDeadlineExceeded, WriterConfig};
use tracing_etl::{
    writer::Backpressure, ExecutionRecordsLayer, InMemoryStore, SqliteStore, WriterGuard,
};
use tracing_subscriber::prelude::*;

const DEADLINE: Duration = Duration::from_millis(200);
/// More steps than a job held up by the store could begin while it is stalled (about 32).
const NOT_HELD_UP: usize = 4 * 32;

/// A small queue and batch, blocking back-pressure: without the deadline, a stalled store
/// stops the job within 128 records.
fn config(spill: &std::path::Path, reported: &Arc<Mutex<Vec<String>>>) -> WriterConfig {
    let reported = reported.clone();
    WriterConfig::default()
        .with_queue_capacity(64)
        .with_max_batch(64)
        .with_backpressure(Backpressure::Block)
        .with_outage_buffer(1_000)
        .with_spill_dir(spill)
        .with_store_deadline(DEADLINE)
        .with_retry_backoff(Duration::from_millis(10), Duration::from_millis(50))
        .with_store_error_callback(move |e| {
            let deadline = StoreDeadlineExceeded::of(e).is_some();
            reported
                .lock()
                .unwrap()
                .push(format!("{}{e}", if deadline { "deadline: " } else { "" }));
        })
}

/// `steps` steps in a pipeline; `at_step(i)` is called before step `i`. Returns the longest a
/// step took (its start and end records queued).
fn timed_pipeline(steps: usize, mut at_step: impl FnMut(usize)) -> Duration {
    let _p = tracing::info_span!("p", etl.pipeline = Empty).entered();
    let mut longest = Duration::ZERO;
    for i in 0..steps {
        at_step(i);
        let started = Instant::now();
        drop(tracing::info_span!("load", etl.step = Empty).entered());
        longest = longest.max(started.elapsed());
    }
    longest
}

/// Flushes until the store has taken everything (it answers again once the stall is over).
fn flush_until_written(guard: &WriterGuard, limit: Duration) {
    let started = Instant::now();
    while let Err(e) = guard.flush() {
        assert!(started.elapsed() < limit, "the store never caught up: {e}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_write_stalled_past_the_deadline_does_not_hold_up_the_job() {
    const STEPS: usize = 10_000;
    const STALL: Duration = Duration::from_secs(3);
    let spill = tempfile::tempdir().unwrap();
    let memory = InMemoryStore::new();
    let faults = Faults::default();
    let reported = Arc::new(Mutex::new(Vec::new()));
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .with_writer_config(config(spill.path(), &reported))
        .build(FaultyStore::new(&memory, &faults));
    let started = Instant::now();
    let mut during_the_stall = 0;
    let longest =
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            timed_pipeline(STEPS, |i| {
                if i == 1_000 {
                    faults.stall_next_write(STALL);
                }
                during_the_stall += usize::from(faults.stalled_now());
            })
        });
    let took = started.elapsed();
    eprintln!(
        "{STEPS} steps in {took:?} with a {STALL:?} stall, {during_the_stall} of them during \
         it; the longest step took {longest:?}"
    );
    assert!(
        during_the_stall > NOT_HELD_UP,
        "only {during_the_stall} steps began during a {STALL:?} stall (deadline {DEADLINE:?})"
    );
    let during = guard.stats();

    flush_until_written(&guard, Duration::from_secs(30));
    let stats = guard.shutdown().unwrap();
    let total = 2 * (STEPS as u64 + 1);
    assert_eq!(
        (stats.written, stats.dropped, stats.abandoned),
        (total, 0, 0),
        "{stats:?}"
    );
    let records = memory.records();
    assert_eq!(records.len() as u64, total);
    assert_eq!(assert_in_order_once(&records), 1);
    let reported = reported.lock().unwrap();
    assert!(
        reported[0].starts_with("deadline: the store has not answered within 200ms (writing "),
        "{reported:?}"
    );
    if took < STALL {
        // The job ended before the store answered: its records waited in memory, then spilled.
        assert!(during.spilled > 0, "{during:?}");
    }
    assert_eq!(std::fs::read_dir(spill.path()).unwrap().count(), 0);
}

#[test]
fn a_write_that_fails_after_its_deadline_is_written_again_in_order() {
    const STEPS: usize = 3_000;
    let spill = tempfile::tempdir().unwrap();
    let memory = InMemoryStore::new();
    let faults = Faults::default();
    let reported = Arc::new(Mutex::new(Vec::new()));
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .with_writer_config(config(spill.path(), &reported))
        .build(FaultyStore::new(&memory, &faults));
    let mut during_the_stall = 0;
    let longest =
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            timed_pipeline(STEPS, |i| {
                if i == 100 {
                    faults.stall_next_write_then_fail(Duration::from_secs(1));
                }
                during_the_stall += usize::from(faults.stalled_now());
            })
        });
    eprintln!("{during_the_stall} steps began during the stall; the longest took {longest:?}");
    assert!(
        during_the_stall > NOT_HELD_UP,
        "only {during_the_stall} steps began during the stall"
    );
    flush_until_written(&guard, Duration::from_secs(30));
    let stats = guard.shutdown().unwrap();
    let total = 2 * (STEPS as u64 + 1);
    assert_eq!(
        (stats.written, stats.dropped, stats.abandoned),
        (total, 0, 0),
        "{stats:?}"
    );
    let records = memory.records();
    assert_eq!(assert_in_order_once(&records), 1);
    let reported = reported.lock().unwrap();
    assert!(
        reported.iter().any(|r| r.starts_with("deadline: ")),
        "{reported:?}"
    );
    assert!(
        reported.iter().any(|r| r == "statement timeout"),
        "{reported:?}"
    );
}

/// Another process holds the SQLite history's write lock (`BEGIN IMMEDIATE`) for 3 s, longer
/// than the deadline and shorter than the store's busy timeout (5 s): its writes wait for the
/// lock, then succeed.
#[test]
fn a_sqlite_history_locked_by_another_process_does_not_hold_up_the_job() {
    const STEPS: usize = 5_000;
    const HOLD: Duration = Duration::from_secs(3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let reported = Arc::new(Mutex::new(Vec::new()));
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .with_writer_config(config(&dir.path().join("spill"), &reported))
        .build(SqliteStore::open(&path).unwrap());
    let subscriber = tracing_subscriber::registry().with(layer);
    let (locked_tx, locked) = mpsc::channel();
    let released = Arc::new(AtomicBool::new(false));
    let (longest, while_locked) = tracing::subscriber::with_default(subscriber, || {
        pipeline(100);
        guard.flush().unwrap();
        let locker = {
            let (path, released) = (path.clone(), released.clone());
            std::thread::spawn(move || {
                let other = SqliteStore::open(&path).unwrap();
                other.connection().execute_batch("BEGIN IMMEDIATE").unwrap();
                locked_tx.send(()).unwrap();
                std::thread::sleep(HOLD);
                released.store(true, Ordering::SeqCst);
                other.connection().execute_batch("COMMIT").unwrap();
            })
        };
        locked.recv().unwrap();
        let mut while_locked = 0;
        let longest = timed_pipeline(STEPS, |_| {
            while_locked += usize::from(!released.load(Ordering::SeqCst));
        });
        locker.join().unwrap();
        (longest, while_locked)
    });
    eprintln!(
        "{while_locked} steps began while the history was locked for {HOLD:?}; the longest \
         took {longest:?}"
    );
    assert!(
        while_locked > NOT_HELD_UP,
        "only {while_locked} steps began while the history was locked"
    );
    flush_until_written(&guard, Duration::from_secs(30));
    let stats = guard.shutdown().unwrap();
    let total = 2 * (STEPS as u64 + 1 + 100 + 1);
    assert_eq!(
        (stats.written, stats.dropped, stats.abandoned),
        (total, 0, 0),
        "{stats:?}"
    );
    assert!(
        reported.lock().unwrap()[0].starts_with("deadline: "),
        "{:?}",
        reported.lock().unwrap()
    );
    let db = SqliteStore::open_read_only(&path).unwrap();
    let steps: i64 = db
        .connection()
        .query_row(
            "SELECT count(*) FROM step_runs WHERE status = 'success' AND event = 'step_end'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(steps as usize, STEPS + 100);
}

/// A store still stuck in a call when the shutdown timeout passes: shutdown returns on time,
/// and every record — those of the batch the store holds included — is in the spill file.
#[test]
fn a_store_stuck_at_shutdown_leaves_every_record_in_the_spill_file() {
    let spill = tempfile::tempdir().unwrap();
    let memory = InMemoryStore::new();
    let faults = Faults::default();
    let reported = Arc::new(Mutex::new(Vec::new()));
    let config = config(spill.path(), &reported).with_shutdown_timeout(Duration::from_millis(300));
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .with_writer_config(config)
        .build(FaultyStore::new(&memory, &faults));
    let handle = guard.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        faults.stall_next_write(Duration::from_secs(10));
        pipeline(200);
    });
    let started = Instant::now();
    let result = guard.shutdown();
    let took = started.elapsed();
    eprintln!("shutdown with the store stuck took {took:?}");
    assert!(result.is_err(), "{result:?}");
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    let stats = handle.stats();
    assert_eq!(
        (stats.written, stats.dropped, stats.abandoned),
        (0, 0, 0),
        "{stats:?}"
    );
    let kept = records_in(&spill_history(spill.path(), handle.recorder_id()));
    assert_eq!(kept.len(), 2 * 201);
    assert_eq!(assert_in_order_once(&kept), 1);
}
