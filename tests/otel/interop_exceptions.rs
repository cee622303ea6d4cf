//! With `tracing-opentelemetry` told to leave error status and `exception` events alone
//! (`with_error_events_to_status(false)`, `with_error_events_to_exceptions(false)`), a failed
//! step has exactly one `exception` event — this crate's, with the type — and its status
//! message.

use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing::instrument;
use tracing_etl::{ExecutionRecordsLayer, InMemoryStore};
use tracing_subscriber::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("no rows for 2026-11-28")]
struct Empty;

#[instrument(fields(etl.step))]
fn load() -> Result<(), Empty> {
    tracing_etl::record_error(&Empty);
    Err(Empty)
}

#[test]
fn one_exception_event_with_the_type() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let store = InMemoryStore::new();
    let (records, guard) = ExecutionRecordsLayer::builder()
        .with_tracing_opentelemetry()
        .build(store.clone());
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("app"))
        .with_error_events_to_status(false)
        .with_error_events_to_exceptions(false);
    let subscriber = tracing_subscriber::registry().with(records).with(otel);
    tracing::subscriber::with_default(subscriber, || load().unwrap_err());
    guard.shutdown().unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    let exceptions: Vec<_> = span
        .events
        .iter()
        .filter(|e| e.name == "exception")
        .collect();
    assert_eq!(exceptions.len(), 1, "{:#?}", span.events);
    let value = |key: &str| {
        exceptions[0]
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(value("exception.type").as_deref(), Some("Empty"));
    assert_eq!(
        value("exception.message").as_deref(),
        Some("no rows for 2026-11-28")
    );
    assert_eq!(span.status, Status::error("no rows for 2026-11-28"));
    assert_eq!(
        store.step_runs()[0].span_id,
        Some(span.span_context.span_id().to_string())
    );
}
