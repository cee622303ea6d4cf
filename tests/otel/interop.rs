//! Stacked with `tracing-opentelemetry` (records layer first, then the `tracing-opentelemetry`
//! layer): every span is exported once, by `tracing-opentelemetry`, over real OTLP; entity
//! spans carry the `etl.*` attributes (none twice) and the error; every record, start and end,
//! carries the ids of its exported span.

use crate::otlp_receiver;

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use otlp_receiver::{attr, OtlpReceiver};
use tracing::instrument;
use tracing_etl::{ExecutionRecordsLayer, InMemoryStore};
use tracing_subscriber::prelude::*;

#[instrument(skip_all, fields(etl.pipeline = "daily_sales", etl.run_id = "run-7"))]
fn run() -> Result<(), std::num::ParseIntError> {
    ingest()
}

#[instrument(skip_all, fields(etl.process))]
fn ingest() -> Result<(), std::num::ParseIntError> {
    helper();
    parse()
}

/// Not an entity: exported by `tracing-opentelemetry` only.
#[instrument]
fn helper() {
    load();
}

#[instrument(fields(etl.step))]
fn load() {
    tracing::info!("loaded");
}

#[instrument(err, fields(etl.step = "parse_amounts"))]
fn parse() -> Result<(), std::num::ParseIntError> {
    "12x".parse::<u32>().map(|_| ())
}

#[test]
fn entity_spans_are_exported_once_with_etl_attributes() {
    let receiver = OtlpReceiver::grpc();
    let otel = receiver.config().install().unwrap();
    let store = InMemoryStore::new();
    let (records, guard) = ExecutionRecordsLayer::builder()
        .with_tracing_opentelemetry()
        .build(store.clone());
    let subscriber = tracing_subscriber::registry()
        .with(records)
        .with(tracing_opentelemetry::layer().with_tracer(otel.tracer_provider().tracer("app")));
    tracing::subscriber::with_default(subscriber, || run().unwrap_err());
    guard.shutdown().unwrap();
    otel.shutdown().unwrap();

    let spans = receiver.wait_for_spans(5, Duration::from_secs(5));
    let mut count: HashMap<String, usize> = HashMap::new();
    for s in &spans {
        *count.entry(s.name().to_owned()).or_default() += 1;
    }
    let expected: HashMap<String, usize> =
        ["daily_sales", "ingest", "helper", "load", "parse_amounts"]
            .into_iter()
            .map(|n| (n.to_owned(), 1))
            .collect();
    assert_eq!(count, expected, "every span exactly once");
    let span = |name: &str| spans.iter().find(|s| s.name() == name).unwrap();

    for name in ["daily_sales", "ingest", "load", "parse_amounts"] {
        let s = span(name);
        assert_eq!(s.scope, "app", "exported by tracing-opentelemetry's tracer");
        for key in [
            "etl.kind",
            "etl.run_id",
            "etl.attempt",
            "etl.status",
            "etl.duration_ms",
        ] {
            assert_eq!(
                s.attr_count(key),
                1,
                "{key} on {name}: {:#?}",
                s.span.attributes
            );
        }
        assert_eq!(s.str_attr("etl.run_id").as_deref(), Some("run-7"));
        let status = if name == "load" { "success" } else { "failed" };
        assert_eq!(s.str_attr("etl.status").as_deref(), Some(status));
    }
    assert_eq!(span("daily_sales").attr_count("etl.pipeline"), 1);
    assert_eq!(span("parse_amounts").attr_count("etl.step"), 1);
    assert_eq!(
        span("parse_amounts").str_attr("etl.step").as_deref(),
        Some("parse_amounts")
    );
    assert!(span("helper").attr("etl.kind").is_none());
    assert_eq!(span("load").parent_span_id(), span("helper").span_id());
    assert_eq!(span("helper").parent_span_id(), span("ingest").span_id());

    // The failure, as in standalone export.
    let message = "invalid digit found in string";
    for name in ["daily_sales", "ingest", "parse_amounts"] {
        let s = span(name);
        assert_eq!(s.str_attr("error.type").as_deref(), Some("_OTHER"));
        let status = s.span.status.as_ref().unwrap();
        assert_eq!(status.code, 2, "{name}");
        assert_eq!(status.message, message, "{name}");
        let ours = s
            .span
            .events
            .iter()
            .filter(|e| e.name == "exception")
            .find(|e| {
                attr(&e.attributes, "exception.message") == Some(Value::StringValue(message.into()))
            });
        assert!(ours.is_some(), "{name}: {:#?}", s.span.events);
    }
    let step = store
        .step_runs()
        .into_iter()
        .find(|s| s.name == "parse_amounts")
        .unwrap();
    assert_eq!(
        span("ingest").str_attr("etl.failed_step_run_id"),
        step.step_run_id
    );

    // Records name the spans tracing-opentelemetry exported.
    let records = store.records();
    assert_eq!(records.len(), 8, "start and end of 4 entities");
    for record in records {
        let (name, trace_id, span_id) = (&record.name, &record.trace_id, &record.span_id);
        let s = span(name);
        assert_eq!(
            trace_id.as_deref(),
            Some(s.trace_id().as_str()),
            "{record:?}"
        );
        assert_eq!(span_id.as_deref(), Some(s.span_id().as_str()), "{record:?}");
    }
}
