//! The per-span workload of the benchmarks, run a fixed number of times, for instruction-count
//! profiling with callgrind (load-independent, unlike wall-clock timings):
//!
//! ```text
//! cargo build --profile bench --features otel,tracing-opentelemetry --example span_cost
//! valgrind --tool=callgrind --separate-threads=yes \
//!     --toggle-collect='span_cost::run' \
//!     --toggle-collect='tracing_etl::writer::worker::Worker*::run' \
//!     target/release/examples/span_cost sqlite 20000
//! ```
//!
//! Modes: `registry` (bare registry), `noop` (the registry with a layer that does nothing),
//! `plain` (the layer, non-entity spans), `memory` and
//! `sqlite` (the layer, step spans), `otel` (the layer exporting through the SDK's batch
//! processor), `stacked` (the layer with `tracing-opentelemetry`), `tracing-otel`
//! (`tracing-opentelemetry` alone), and, built with `--features openlineage` as well, `lineage`
//! (step spans into an `InMemoryStore` with OpenLineage events written to a file, so that each
//! record also goes to the lineage writer's queue). Instructions per span: run with two counts (10,000 and
//! 20,000) and divide the difference of the main thread's totals by the difference of the
//! counts; the writer thread's totals (a file of their own with `--separate-threads=yes`) give
//! the cost per entity written. The toggles leave out setup and the final check.
//!
//! The spans run in bursts of 1,000, as in the benchmarks' burst pacing: after each, the example
//! waits, outside the counted part, for the writer (and the SDK's exporter) to catch up, so that
//! the counts show a program whose store keeps up (the writer gives entities back for reuse as
//! it goes). The queue is made large enough that the producer never waits inside a burst, so
//! the counts do not include spinning on a full queue.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tracing_etl::store::{RecordReader, RunFilter};
use tracing_etl::{ExecutionRecordsLayer, InMemoryStore, SqliteStore};
use tracing_subscriber::prelude::*;

/// The store deadline: under valgrind a store call takes many times longer than the default
/// second, and a call past its deadline would be an outage.
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(600);

#[derive(Debug, Clone, Default)]
struct NullExporter;

impl SpanExporter for NullExporter {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

fn plain_span(i: u64) {
    let span = tracing::info_span!("transform", rows = i, table = "orders");
    let _entered = span.enter();
    if i.is_multiple_of(1000) {
        tracing::error!("bad row");
    }
}

fn step_span(i: u64) {
    let span = tracing::info_span!("load", etl.step = "load", rows = i);
    let _entered = span.enter();
    if i.is_multiple_of(1000) {
        tracing::error!("bad row");
    }
}

fn provider(spans: u64) -> SdkTracerProvider {
    // A queue that holds every span: the SDK drops spans when its queue is full.
    let config = BatchConfigBuilder::default()
        .with_max_queue_size(usize::try_from(spans + 16).unwrap_or(usize::MAX))
        .build();
    let processor = BatchSpanProcessor::builder(NullExporter)
        .with_batch_config(config)
        .build();
    SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build()
}

/// Spans `from..to`, the part of the work that is counted.
#[inline(never)]
fn run(from: u64, to: u64, f: fn(u64)) {
    for i in from..to {
        f(i);
    }
}

/// `n` spans under one pipeline span, in bursts of 1,000 like the benchmarks' burst pacing:
/// after each, `settle` waits for the writer (and the exporter) to catch up, outside the
/// counted part.
fn drive(dispatch: &tracing::Dispatch, n: u64, f: fn(u64), settle: &dyn Fn()) {
    tracing::dispatcher::with_default(dispatch, || {
        let pipeline = tracing::info_span!("bench", etl.pipeline = "bench");
        let _p = pipeline.enter();
        let mut from = 0;
        while from < n {
            let to = (from + 1000).min(n);
            run(from, to, f);
            settle();
            from = to;
        }
    });
}

/// Waits for the writer and the SDK's batch processor.
fn settle(guard: &tracing_etl::WriterGuard, provider: &SdkTracerProvider) {
    guard.flush().expect("flush");
    provider.force_flush().expect("force_flush");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "sqlite".to_owned());
    let n: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let queue = usize::try_from(2 * n + 16).unwrap_or(usize::MAX);
    let dir = tempfile::tempdir()?;
    match mode.as_str() {
        "registry" => drive(
            &tracing::Dispatch::new(tracing_subscriber::registry()),
            n,
            plain_span,
            &|| {},
        ),
        "noop" => drive(
            &tracing::Dispatch::new(
                tracing_subscriber::registry().with(tracing_subscriber::layer::Identity::new()),
            ),
            n,
            plain_span,
            &|| {},
        ),
        "plain" | "memory" => {
            let store = InMemoryStore::new();
            let (layer, guard) = ExecutionRecordsLayer::builder()
                .queue_capacity(queue)
                .store_deadline(DEADLINE)
                .build(store.clone());
            let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
            let f = if mode == "plain" {
                plain_span
            } else {
                step_span
            };
            drive(&dispatch, n, f, &|| guard.flush().expect("flush"));
            drop(dispatch);
            guard.shutdown()?;
            let expected = if mode == "plain" { 0 } else { n };
            assert_eq!(store.step_runs().len() as u64, expected);
        }
        #[cfg(feature = "openlineage")]
        "lineage" => {
            let store = InMemoryStore::new();
            let events = dir.path().join("events.jsonl");
            let (layer, guard) = ExecutionRecordsLayer::builder()
                .queue_capacity(queue)
                .store_deadline(DEADLINE)
                .with_lineage(
                    tracing_etl::lineage::OpenLineageConfig::file(&events).with_writer_config(
                        tracing_etl::writer::WriterConfig::default()
                            .with_queue_capacity(queue)
                            .with_store_deadline(DEADLINE),
                    ),
                )
                .build(store.clone());
            let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
            drive(&dispatch, n, step_span, &|| guard.flush().expect("flush"));
            drop(dispatch);
            guard.shutdown()?;
            assert_eq!(store.step_runs().len() as u64, n);
            // A START and a COMPLETE per step and for the pipeline.
            let lines = std::fs::read_to_string(&events)?.lines().count() as u64;
            assert_eq!(lines, 2 * n + 2);
        }
        "sqlite" => {
            let path = dir.path().join("cost.db");
            let (layer, guard) = ExecutionRecordsLayer::builder()
                .queue_capacity(queue)
                .store_deadline(DEADLINE)
                .build(SqliteStore::open(&path)?);
            let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
            drive(&dispatch, n, step_span, &|| guard.flush().expect("flush"));
            drop(dispatch);
            guard.shutdown()?;
            let rows = SqliteStore::open_read_only(&path)?
                .read_steps(&RunFilter::default())?
                .len() as u64;
            assert_eq!(rows, n);
        }
        "otel" | "stacked" => {
            let provider = provider(n);
            let store = InMemoryStore::new();
            let builder = ExecutionRecordsLayer::builder()
                .queue_capacity(queue)
                .store_deadline(DEADLINE);
            let dispatch = if mode == "otel" {
                let (layer, guard) = builder
                    .with_tracer(provider.tracer("bench"))
                    .build(store.clone());
                let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
                drive(&dispatch, n, step_span, &|| settle(&guard, &provider));
                (dispatch, guard)
            } else {
                let (layer, guard) = builder.with_tracing_opentelemetry().build(store.clone());
                let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
                let dispatch =
                    tracing::Dispatch::new(tracing_subscriber::registry().with(layer).with(otel));
                drive(&dispatch, n, step_span, &|| settle(&guard, &provider));
                (dispatch, guard)
            };
            drop(dispatch.0);
            dispatch.1.shutdown()?;
            provider.shutdown()?;
            assert_eq!(store.step_runs().len() as u64, n);
        }
        "tracing-otel" => {
            let provider = provider(n);
            let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
            let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(otel));
            drive(&dispatch, n, step_span, &|| {
                provider.force_flush().expect("force_flush")
            });
            drop(dispatch);
            provider.shutdown()?;
        }
        other => return Err(format!("unknown mode {other}").into()),
    }
    Ok(())
}
