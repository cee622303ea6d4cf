//! Shutting down: the guard dropped while other threads still emit spans.
//!
//! `SHUTDOWN_ROUNDS` (default 20) sets how many times the racy shutdown is repeated:
//! `SHUTDOWN_ROUNDS=2000 cargo test --release --test shutdown`.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use tracing::field::Empty;
use tracing::Dispatch;
use tracing_etl::{Backpressure, EntityKey, ExecutionRecord, ExecutionRecordsLayer, InMemoryStore};
use tracing_subscriber::prelude::*;

/// Runs `f` on a thread and fails the test if it does not return within `limit`.
fn within<R: Send + 'static>(limit: Duration, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("did not finish within {limit:?}: a hang"))
}

/// At most one start and one end record per entity, in the order written.
fn assert_at_most_one_start_and_end(records: &[ExecutionRecord]) {
    let mut seen: HashMap<EntityKey, (u32, u32)> = HashMap::new();
    for record in records {
        let (starts, ends) = seen.entry(record.key()).or_default();
        if record.event().is_end() {
            *ends += 1;
        } else {
            *starts += 1;
        }
    }
    for (key, (starts, ends)) in seen {
        assert!(
            starts <= 1 && ends <= 1,
            "{key:?}: {starts} starts, {ends} ends"
        );
    }
}

fn rounds() -> usize {
    std::env::var("SHUTDOWN_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20)
}

/// Three threads emit pipelines with a step each, in a loop, while the guard is dropped. Nobody
/// panics or hangs (a producer blocked on the full queue is released when the writer stops), and
/// every record is accounted for: `written + dropped == 2 × entities`, `written` of them in the
/// store. That includes records that reach the queue in the instant the writer stops.
#[test]
fn the_guard_dropped_while_threads_emit_spans() {
    for round in 0..rounds() {
        let backpressure = if round % 2 == 0 {
            Backpressure::Block
        } else {
            Backpressure::Drop
        };
        let (stats, entities, records) = within(Duration::from_secs(60), move || {
            let store = InMemoryStore::new();
            let (layer, guard) = ExecutionRecordsLayer::builder()
                .queue_capacity(64)
                .backpressure(backpressure)
                .build(store.clone());
            let handle = guard.handle();
            let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
            let stop = AtomicBool::new(false);
            let entities = AtomicU64::new(0);
            std::thread::scope(|s| {
                for _ in 0..3 {
                    s.spawn(|| {
                        tracing::dispatcher::with_default(&dispatch, || {
                            while !stop.load(Ordering::Relaxed) {
                                let _p = tracing::info_span!("p", etl.pipeline = Empty).entered();
                                let _s = tracing::info_span!("load", etl.step = Empty).entered();
                                entities.fetch_add(2, Ordering::Relaxed);
                            }
                        })
                    });
                }
                // Timing itself is under test: stop the writer mid-stream.
                std::thread::sleep(Duration::from_millis(2));
                guard.shutdown().expect("a clean shutdown");
                std::thread::sleep(Duration::from_millis(1));
                stop.store(true, Ordering::Relaxed);
            });
            (
                handle.stats(),
                entities.load(Ordering::Relaxed),
                store.records(),
            )
        });
        assert!(entities > 0);
        assert_eq!(stats.written, records.len() as u64, "round {round}");
        assert_eq!(
            stats.written + stats.dropped,
            2 * entities,
            "round {round} ({backpressure:?}): every record written or counted as dropped: \
             {stats:?}"
        );
        assert_eq!(stats.abandoned, 0);
        assert_at_most_one_start_and_end(&records);
    }
}
