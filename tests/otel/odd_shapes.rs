//! Standalone export in odd shapes, checked exactly with the SDK's in-memory exporter: a step
//! on another thread under a non-entity span nests under its nearest entity; an entity outside
//! any pipeline is a root span; non-entity spans are never exported; a panicking step is an
//! error of type `panic`; spans sampled out leave the records without ids.

use opentelemetry::trace::{SpanId, Status, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, Sampler, SdkTracerProvider, SpanData};
use tracing::instrument;
use tracing_etl::{ExecutionRecordsLayer, InMemoryStore, RunStatus};
use tracing_subscriber::prelude::*;

fn export(sampler: Sampler, f: impl FnOnce()) -> (InMemoryStore, Vec<SpanData>) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_simple_exporter(exporter.clone())
        .build();
    let store = InMemoryStore::new();
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .with_tracer(provider.tracer("test"))
        .capture_panic_messages()
        .build(store.clone());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
    guard.shutdown().unwrap();
    (store, exporter.get_finished_spans().unwrap())
}

fn find<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("span {name}"))
}

#[instrument(fields(etl.pipeline = "p"))]
fn pipeline_with_a_thread() {
    let batch = tracing::info_span!("batch");
    let parent = batch.clone();
    let dispatch = tracing::dispatcher::get_default(|d| d.clone());
    std::thread::spawn(move || {
        tracing::dispatcher::with_default(&dispatch, || {
            let _step =
                tracing::info_span!(parent: &parent, "load", etl.step = tracing::field::Empty)
                    .entered();
        })
    })
    .join()
    .unwrap();
}

#[test]
fn a_step_on_another_thread_nests_under_its_nearest_entity() {
    let (store, spans) = export(Sampler::AlwaysOn, pipeline_with_a_thread);
    assert_eq!(spans.len(), 2, "`batch` is not an entity: {spans:#?}");
    let (pipeline, step) = (find(&spans, "p"), find(&spans, "load"));
    assert_eq!(step.parent_span_id, pipeline.span_context.span_id());
    assert_eq!(pipeline.parent_span_id, SpanId::INVALID);
    assert_eq!(
        step.span_context.trace_id(),
        pipeline.span_context.trace_id()
    );
    assert_eq!(
        store.step_runs()[0].span_id,
        Some(step.span_context.span_id().to_string())
    );
}

#[test]
fn an_entity_outside_any_pipeline_is_a_root_span() {
    let (store, spans) = export(Sampler::AlwaysOn, || {
        let _outer = tracing::info_span!("not_an_entity").entered();
        let _step = tracing::info_span!("lonely", etl.step = tracing::field::Empty).entered();
    });
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].parent_span_id, SpanId::INVALID);
    let record = &store.step_runs()[0];
    assert_eq!(
        record.trace_id,
        Some(spans[0].span_context.trace_id().to_string())
    );
    let run_id = spans[0]
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "etl.run_id")
        .map(|kv| kv.value.to_string());
    assert_eq!(run_id, Some(record.run.run_id.clone()));
}

#[instrument(fields(etl.step))]
fn explode() {
    panic!("disk on fire");
}

#[test]
fn a_panicking_step_is_an_error_of_type_panic() {
    let (store, spans) = export(Sampler::AlwaysOn, || {
        let _ = std::panic::catch_unwind(explode);
    });
    let step = &store.step_runs()[0];
    assert_eq!(step.outcome.status, RunStatus::Failed);
    let span = find(&spans, "explode");
    let error_type = span
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "error.type")
        .map(|kv| kv.value.to_string());
    assert_eq!(error_type.as_deref(), Some("panic"));
    assert!(
        matches!(&span.status, Status::Error { description } if description.contains("disk on fire"))
    );
    assert_eq!(span.events.len(), 1);
    assert_eq!(span.events[0].name, "exception");
}

#[test]
fn spans_sampled_out_leave_records_without_ids() {
    let (store, spans) = export(Sampler::AlwaysOff, || {
        let _p = tracing::info_span!("p", etl.pipeline = tracing::field::Empty).entered();
        let _s = tracing::info_span!("s", etl.step = tracing::field::Empty).entered();
    });
    assert!(spans.is_empty());
    let records = store.records();
    assert_eq!(records.len(), 4);
    assert!(store
        .step_runs()
        .iter()
        .all(|r| r.trace_id.is_none() && r.span_id.is_none()));
    assert!(store.pipeline_runs().iter().all(|r| r.trace_id.is_none()));
}

#[test]
fn names_and_correlation_ids_recorded_later_are_exported() {
    let (_, spans) = export(Sampler::AlwaysOn, || {
        let pipeline = tracing::info_span!(
            "p",
            etl.pipeline = tracing::field::Empty,
            etl.correlation_id = tracing::field::Empty
        );
        pipeline.record("etl.pipeline", "daily_sales");
        pipeline.record("etl.correlation_id", "batch-42");
        let _p = pipeline.entered();
        let step = tracing::info_span!("s", etl.step = tracing::field::Empty);
        step.record("etl.step", "load_orders");
        step.in_scope(|| {});
    });
    let last = |span: &SpanData, key: &str| {
        span.attributes
            .iter()
            .rev()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    };
    let pipeline = find(&spans, "daily_sales");
    assert_eq!(
        last(pipeline, "etl.pipeline").as_deref(),
        Some("daily_sales")
    );
    assert_eq!(
        last(pipeline, "etl.correlation_id").as_deref(),
        Some("batch-42")
    );
    let step = find(&spans, "load_orders");
    assert_eq!(last(step, "etl.step").as_deref(), Some("load_orders"));
    assert_eq!(
        last(step, "etl.correlation_id").as_deref(),
        Some("batch-42"),
        "inherited once recorded"
    );
}
