//! Layer order with `tracing-opentelemetry`: records first is the supported order (start
//! records wait for the first enter, or the close, and carry the ids); the other order is
//! detected, warned about once, and records still carry the ids.

use std::sync::{Arc, Mutex};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing::field::Empty;
use tracing_etl::{ExecutionRecordsLayer, InMemoryStore};
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::Layer;

/// Collects the WARN events of `tracing_etl`.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == "tracing_etl"
            && *event.metadata().level() == tracing::Level::WARN
        {
            let mut message = String::new();
            event.record(
                &mut |field: &tracing::field::Field, value: &dyn std::fmt::Debug| {
                    if field.name() == "message" {
                        message = format!("{value:?}");
                    }
                },
            );
            self.0.lock().unwrap().push(message);
        }
    }
}

fn provider() -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

fn has(span: &SpanData, key: &str) -> bool {
    span.attributes.iter().any(|kv| kv.key.as_str() == key)
}

fn pipeline() {
    let run = tracing::info_span!("run", etl.pipeline = "p");
    // Created now, entered later: its start record waits for the enter.
    let step = tracing::info_span!(parent: &run, "step", etl.step = Empty);
    run.in_scope(|| step.in_scope(|| {}));
    // Never entered: start and end record at close.
    let _never = tracing::info_span!(parent: &run, "never_entered", etl.step = Empty);
}

#[test]
fn records_first_gets_ids_into_start_records() {
    let (provider, exporter) = provider();
    let store = InMemoryStore::new();
    let warnings = Warnings::default();
    let (records, guard) = ExecutionRecordsLayer::builder()
        .with_tracing_opentelemetry()
        .build(store.clone());
    let subscriber = tracing_subscriber::registry()
        .with(records)
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("app")))
        .with(warnings.clone());
    tracing::subscriber::with_default(subscriber, || {
        // The second time, the layer knows the order from the first and no longer asks
        // tracing-opentelemetry about new spans: the outcome is the same.
        pipeline();
        pipeline();
        guard.flush().unwrap();
    });
    guard.shutdown().unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 6);
    let records = store.records();
    assert_eq!(records.len(), 12, "{records:#?}");
    let steps = store.step_runs();
    assert_eq!(steps.len(), 4);
    for step in steps {
        let span = spans
            .iter()
            .find(|s| step.span_id == Some(s.span_context.span_id().to_string()))
            .unwrap_or_else(|| panic!("the span of {step:?}"));
        assert_eq!(span.name, step.name);
        assert!(has(span, "etl.status"));
    }
    assert!(store.records().iter().all(|r| r.trace_id.is_some()));
    assert!(warnings.0.lock().unwrap().is_empty());
}

#[test]
fn the_other_order_is_warned_about_once() {
    let (provider, exporter) = provider();
    let store = InMemoryStore::new();
    let warnings = Warnings::default();
    let (records, guard) = ExecutionRecordsLayer::builder()
        .with_tracing_opentelemetry()
        .build(store.clone());
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("app")))
        .with(records)
        .with(warnings.clone());
    tracing::subscriber::with_default(subscriber, || {
        pipeline();
        // Warnings are emitted by the writer thread, to this subscriber while it exists.
        guard.flush().unwrap();
    });
    guard.shutdown().unwrap();

    let warnings = warnings.0.lock().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("registry().with(records).with(tracing_opentelemetry_layer)"));
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 3);
    for step in store.step_runs() {
        let span = spans.iter().find(|s| s.name == step.name).unwrap();
        assert_eq!(step.span_id, Some(span.span_context.span_id().to_string()));
        assert!(has(span, "etl.kind"), "what is known at start is there");
        assert!(!has(span, "etl.status"), "the outcome comes too late");
    }
}

/// A name recorded after the span opened is the exported span's name, and its attribute is
/// `tracing-opentelemetry`'s (the value recorded), not added a second time.
#[test]
fn a_name_recorded_later_names_the_span_once() {
    let (provider, exporter) = provider();
    let (records, guard) = ExecutionRecordsLayer::builder()
        .with_tracing_opentelemetry()
        .build(InMemoryStore::new());
    let subscriber = tracing_subscriber::registry()
        .with(records)
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::with_default(subscriber, || {
        let step = tracing::info_span!("copy", etl.step = Empty);
        step.record("etl.step", "copy_orders");
        step.in_scope(|| {});
    });
    guard.shutdown().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "copy_orders");
    let names: Vec<_> = spans[0]
        .attributes
        .iter()
        .filter(|kv| kv.key.as_str() == "etl.step")
        .map(|kv| kv.value.to_string())
        .collect();
    assert_eq!(names, ["copy_orders"]);
}
