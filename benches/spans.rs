//! Cost per span, side by side (rows 1–5 and 7 of BENCHMARKS.md): a bare registry, this crate's
//! layer on plain spans and on step spans (in-memory and SQLite stores), `tracing-opentelemetry`
//! with the SDK's batch processor — what a user would otherwise run —, the layer exporting its
//! entities to OpenTelemetry (standalone, and stacked with `tracing-opentelemetry`), and producer
//! threads sharing one layer.
//!
//! Each workload is a span with two fields, entered and closed, and an ERROR event every 1,000
//! spans. Every benchmark ends by checking that nothing was lost: the store holds one row per
//! step span made, and with OpenTelemetry the exporter received every span (except where the
//! SDK's batch processor drops spans by design, which is printed).
//!
//! `cargo bench --features otel,tracing-opentelemetry --bench spans`

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use support::{
    bench_under, no_drain, plain_span, span_group, step_span, CountingExporter, Made, Pace, BURST,
};
use tracing::Dispatch;
use tracing_etl::{ExecutionRecordsLayer, InMemoryStore, SqliteStore, WriterGuard};
use tracing_subscriber::layer::Identity;
use tracing_subscriber::prelude::*;

/// Rows of a SQLite table, counted in the database.
fn sqlite_rows(path: &std::path::Path, table: &str) -> u64 {
    let store = SqliteStore::open_read_only(path).expect("reopen");
    store
        .connection()
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .expect("count rows") as u64
}

/// Shuts the writer down and checks that it dropped nothing.
fn shut_down(dispatch: Dispatch, guard: WriterGuard) {
    drop(dispatch);
    let stats = guard.shutdown().expect("writer shut down");
    assert_eq!(stats.dropped, 0, "no record dropped");
    assert_eq!(stats.abandoned, 0, "no record abandoned");
}

/// Checks that the SQLite file holds a row for every step and pipeline made.
fn assert_sqlite_rows(path: &std::path::Path, made: Made) {
    assert_eq!(
        sqlite_rows(path, "step_runs"),
        made.spans,
        "every step in SQLite"
    );
    assert_eq!(
        sqlite_rows(path, "pipeline_runs"),
        made.pipelines,
        "every pipeline in SQLite"
    );
}

/// 3a. The layer, step spans, in-memory store.
fn steps_memory(c: &mut Criterion, burst: bool) {
    let store = InMemoryStore::new();
    let (layer, guard) = ExecutionRecordsLayer::new(store.clone());
    let handle = guard.handle();
    let drain = || handle.flush().expect("flush");
    let pace = if burst {
        Pace::Burst(&drain)
    } else {
        Pace::Sustained(&drain)
    };
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let id = format!("3a_steps_memory_{}", pace.name());
    let made = bench_under(c, "span", &id, &dispatch, step_span, pace);
    shut_down(dispatch, guard);
    assert_eq!(store.step_runs().len() as u64, made.spans, "every step");
    assert_eq!(store.pipeline_runs().len() as u64, made.pipelines);
}

/// 3b. The layer, step spans, SQLite on a temporary file.
fn steps_sqlite(c: &mut Criterion, burst: bool) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let (layer, guard) = ExecutionRecordsLayer::new(SqliteStore::open(&path).expect("open"));
    let handle = guard.handle();
    let drain = || handle.flush().expect("flush");
    let pace = if burst {
        Pace::Burst(&drain)
    } else {
        Pace::Sustained(&drain)
    };
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let id = format!("3b_steps_sqlite_{}", pace.name());
    let made = bench_under(c, "span", &id, &dispatch, step_span, pace);
    shut_down(dispatch, guard);
    assert_sqlite_rows(&path, made);
}

/// A tracer provider exporting through the SDK's batch processor (default settings) to an
/// exporter that counts.
fn batch_provider() -> (SdkTracerProvider, CountingExporter) {
    let exporter = CountingExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

/// Checks that the exporter received `expected` spans (in bursts nothing is dropped), or
/// prints how many it did not (back to back, the SDK's batch processor drops spans when its
/// queue of 2,048 is full: that is how it is built; the records are checked separately).
fn check_exported(what: &str, exporter: &CountingExporter, expected: u64, burst: bool) {
    let exported = exporter.count();
    if burst {
        assert_eq!(exported, expected, "{what}: every span exported");
    } else {
        println!(
            "{what}: {expected} spans made, {exported} exported, {} dropped by the SDK's batch \
             processor",
            expected.saturating_sub(exported)
        );
    }
}

/// 4. `tracing-opentelemetry`, every span exported through the SDK's batch processor.
fn tracing_opentelemetry_only(c: &mut Criterion, burst: bool) {
    let (provider, exporter) = batch_provider();
    let drain = || provider.force_flush().expect("force flush");
    let pace = if burst {
        Pace::Burst(&drain)
    } else {
        Pace::Sustained(&drain)
    };
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(otel));
    let id = format!("4_tracing_opentelemetry_{}", pace.name());
    let made = bench_under(c, "span", &id, &dispatch, step_span, pace);
    drop(dispatch);
    provider.shutdown().expect("provider shut down");
    check_exported("4 tracing-opentelemetry", &exporter, made.all(), burst);
}

/// 5a. The layer exporting entity spans itself (`with_tracer`), records to SQLite.
/// 5b. The layer stacked with `tracing-opentelemetry` (`with_tracing_opentelemetry`, the
/// records layer first), records to SQLite.
fn layer_with_otel(c: &mut Criterion, stacked: bool, burst: bool) {
    let (provider, exporter) = batch_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let store = SqliteStore::open(&path).expect("open");
    let builder = ExecutionRecordsLayer::builder();
    let (dispatch, guard) = if stacked {
        let (layer, guard) = builder.with_tracing_opentelemetry().build(store);
        let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
        let subscriber = tracing_subscriber::registry().with(layer).with(otel);
        (Dispatch::new(subscriber), guard)
    } else {
        let (layer, guard) = builder.with_tracer(provider.tracer("bench")).build(store);
        (
            Dispatch::new(tracing_subscriber::registry().with(layer)),
            guard,
        )
    };
    let handle = guard.handle();
    let drain = || {
        handle.flush().expect("flush");
        provider.force_flush().expect("force flush");
    };
    let pace = if burst {
        Pace::Burst(&drain)
    } else {
        Pace::Sustained(&drain)
    };
    let id = if stacked {
        format!("5b_otel_stacked_sqlite_{}", pace.name())
    } else {
        format!("5a_otel_standalone_sqlite_{}", pace.name())
    };
    let made = bench_under(c, "span", &id, &dispatch, step_span, pace);
    shut_down(dispatch, guard);
    provider.shutdown().expect("provider shut down");
    assert_sqlite_rows(&path, made);
    // Stacked, every span is exported once (by tracing-opentelemetry); standalone, the layer
    // exports the entities only (here every span is one).
    check_exported(&id, &exporter, made.all(), burst);
}

fn per_span(c: &mut Criterion) {
    // 1. The floor: a bare registry, a fresh one for every sample. A registry without layers
    // never removes closed spans (tokio-rs/tracing#900): one kept for the whole run grows by
    // millions of spans, and its samples swing with the page faults of that growth.
    let mut g = span_group(c, "span");
    g.bench_function("1_registry", |b| {
        b.iter_custom(|iters| {
            let bare = Dispatch::new(tracing_subscriber::registry());
            let timed = tracing::dispatcher::with_default(&bare, || {
                let pipeline = tracing::info_span!("bench", etl.pipeline = "bench");
                let _p = pipeline.enter();
                let start = Instant::now();
                for i in 0..iters * BURST {
                    plain_span(i);
                }
                start.elapsed()
            });
            drop(bare);
            timed
        });
    });
    g.finish();

    // 1b. The registry with a layer that does nothing. A registry without layers never removes
    // closed spans (tokio-rs/tracing#900), so row 1 skips that work (and grows); with any layer
    // the registry frees each span as it closes. The floor of every layered subscriber.
    let noop = Dispatch::new(tracing_subscriber::registry().with(Identity::new()));
    bench_under(
        c,
        "span",
        "1b_registry_noop_layer",
        &noop,
        plain_span,
        Pace::Sustained(&no_drain),
    );

    // 2. The layer, plain spans: next to nothing.
    let store = InMemoryStore::new();
    let (layer, guard) = ExecutionRecordsLayer::new(store.clone());
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let made = bench_under(
        c,
        "span",
        "2_layer_plain_spans",
        &dispatch,
        plain_span,
        Pace::Sustained(&no_drain),
    );
    shut_down(dispatch, guard);
    assert!(store.step_runs().is_empty(), "plain spans make no records");
    assert_eq!(store.pipeline_runs().len() as u64, made.pipelines);

    for burst in [false, true] {
        steps_memory(c, burst);
        steps_sqlite(c, burst);
        tracing_opentelemetry_only(c, burst);
        layer_with_otel(c, false, burst);
        layer_with_otel(c, true, burst);
    }
}

/// Row 7: producer threads sharing one layer (SQLite store), in bursts of [`BURST`] spans per thread
/// started together, the writer drained between bursts: does the queue serialise them? The time
/// per span is the wall time of a round divided by the spans made in it by all threads.
fn threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("threads");
    for threads in [1u64, 2] {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bench.db");
        let (layer, guard) = ExecutionRecordsLayer::new(SqliteStore::open(&path).expect("open"));
        let handle = guard.handle();
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
        let spans = AtomicU64::new(0);
        let pipelines = AtomicU64::new(0);
        g.bench_with_input(
            BenchmarkId::new("layer_steps_sqlite_burst", threads),
            &threads,
            |b, &n| {
                b.iter_custom(|iters| {
                    let rounds = iters.div_ceil(BURST * n).max(1);
                    let barrier = Barrier::new(n as usize);
                    let mut timed = Duration::ZERO;
                    std::thread::scope(|s| {
                        let workers: Vec<_> = (0..n)
                            .map(|t| {
                                let (barrier, dispatch, spans) = (&barrier, &dispatch, &spans);
                                let (handle, pipelines) = (&handle, &pipelines);
                                s.spawn(move || {
                                    tracing::dispatcher::with_default(dispatch, || {
                                        pipelines.fetch_add(1, Ordering::Relaxed);
                                        let pipeline =
                                            tracing::info_span!("bench", etl.pipeline = "bench");
                                        let _p = pipeline.enter();
                                        let mut timed = Duration::ZERO;
                                        for _ in 0..rounds {
                                            barrier.wait();
                                            let start = Instant::now();
                                            let first = spans.fetch_add(BURST, Ordering::Relaxed);
                                            for i in first..first + BURST {
                                                step_span(i);
                                            }
                                            barrier.wait();
                                            timed += start.elapsed();
                                            if t == 0 {
                                                handle.flush().expect("flush");
                                            }
                                        }
                                        timed
                                    })
                                })
                            })
                            .collect();
                        // The leader's rounds: from the common start to the last thread's end.
                        for (t, w) in workers.into_iter().enumerate() {
                            let d = w.join().expect("producer thread");
                            if t == 0 {
                                timed = d;
                            }
                        }
                    });
                    // Per span across all producers, scaled to the iterations asked for.
                    timed.mul_f64(iters as f64 / (rounds * BURST * n) as f64)
                })
            },
        );
        shut_down(dispatch, guard);
        let made = Made {
            spans: spans.load(Ordering::Relaxed),
            pipelines: pipelines.load(Ordering::Relaxed),
        };
        assert_sqlite_rows(&path, made);
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = per_span, threads
}
criterion_main!(benches);
