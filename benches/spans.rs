//! Cost per span, side by side: a bare registry, this crate's layer on plain spans and on step
//! spans (in-memory and SQLite stores), and `tracing-opentelemetry` with the SDK's batch
//! processor — what a user would otherwise run.
//!
//! `cargo bench --bench spans`

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use support::{plain_span, step_span, CountingExporter};
use tracing::Dispatch;
use tracing_etl::{ExecutionRecordsLayer, InMemoryStore, SqliteStore};
use tracing_subscriber::prelude::*;

/// Runs `f(i)` for every iteration under `dispatch`, inside one pipeline span (which is a plain
/// span for subscribers that do not know it).
fn bench_under(c: &mut Criterion, group: &str, id: &str, dispatch: &Dispatch, f: fn(u64)) -> u64 {
    let count = AtomicU64::new(0);
    let mut g = c.benchmark_group(group);
    g.bench_function(id, |b| {
        tracing::dispatcher::with_default(dispatch, || {
            let pipeline = tracing::info_span!("bench", etl.pipeline = "bench");
            let _p = pipeline.enter();
            b.iter(|| {
                let i = count.fetch_add(1, Ordering::Relaxed);
                f(i);
            });
        });
    });
    g.finish();
    count.load(Ordering::Relaxed)
}

fn per_span(c: &mut Criterion) {
    // 1. The floor.
    let bare = Dispatch::new(tracing_subscriber::registry());
    bench_under(c, "span", "1_registry", &bare, plain_span);

    // 2. The layer, plain spans: next to nothing.
    let store = InMemoryStore::new();
    let (layer, guard) = ExecutionRecordsLayer::new(store.clone());
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    bench_under(c, "span", "2_layer_plain_spans", &dispatch, plain_span);
    drop(dispatch);
    guard.shutdown().expect("writer shut down");
    assert!(store.step_runs().is_empty(), "plain spans make no records");
    let pipelines = store.pipeline_runs().len();

    // 3a. The layer, step spans, in-memory store.
    let store = InMemoryStore::new();
    let (layer, guard) = ExecutionRecordsLayer::new(store.clone());
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let steps = bench_under(c, "span", "3a_layer_steps_memory", &dispatch, step_span);
    drop(dispatch);
    let stats = guard.shutdown().expect("writer shut down");
    assert_eq!(stats.dropped, 0);
    assert_eq!(store.step_runs().len() as u64, steps, "every step recorded");
    drop(store);

    // 3b. The layer, step spans, SQLite on a temporary file.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let (layer, guard) = ExecutionRecordsLayer::new(SqliteStore::open(&path).expect("open"));
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let steps = bench_under(c, "span", "3b_layer_steps_sqlite", &dispatch, step_span);
    drop(dispatch);
    let stats = guard.shutdown().expect("writer shut down");
    assert_eq!(stats.dropped, 0);
    let rows = SqliteStore::open_read_only(&path)
        .expect("reopen")
        .step_runs()
        .expect("read")
        .len() as u64;
    assert_eq!(rows, steps, "every step recorded in SQLite");

    // 4. tracing-opentelemetry, every span exported through the SDK's batch processor.
    let exporter = CountingExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter.clone())
        .build();
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(otel));
    bench_under(c, "span", "4_tracing_opentelemetry", &dispatch, step_span);
    drop(dispatch);
    provider.shutdown().expect("provider shut down");
    let _ = pipelines;
}

/// 7. Producer threads sharing one layer: does the queue serialise them?
fn threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("threads");
    for threads in [1u64, 2] {
        let store = InMemoryStore::new();
        let (layer, guard) = ExecutionRecordsLayer::new(store.clone());
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
        let total = AtomicU64::new(0);
        g.bench_with_input(
            BenchmarkId::new("layer_steps", threads),
            &threads,
            |b, &n| {
                b.iter_custom(|iters| {
                    let per_thread = iters / n;
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for _ in 0..n {
                            s.spawn(|| {
                                tracing::dispatcher::with_default(&dispatch, || {
                                    let pipeline =
                                        tracing::info_span!("bench", etl.pipeline = "bench");
                                    let _p = pipeline.enter();
                                    for i in 0..per_thread {
                                        step_span(i);
                                    }
                                })
                            });
                        }
                    });
                    total.fetch_add(per_thread * n, Ordering::Relaxed);
                    // Time per span across all producers: wall time / spans made.
                    start
                        .elapsed()
                        .mul_f64(iters as f64 / (per_thread * n).max(1) as f64)
                })
            },
        );
        drop(dispatch);
        guard.shutdown().expect("writer shut down");
        assert_eq!(
            store.step_runs().len() as u64,
            total.load(Ordering::Relaxed),
            "every step recorded"
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = per_span, threads
}
criterion_main!(benches);
