//! Entity spans exported over OTLP (gRPC and HTTP/protobuf) to a real receiver: one span per
//! entity, nested pipeline → process → step, with the entity's name, times, `etl.*`
//! attributes, and the trace and span ids its records carry.

use crate::otlp_receiver;

use std::collections::HashMap;
use std::time::Duration;

use otlp_receiver::{OtlpReceiver, ReceivedSpan};
use tracing::instrument;
use tracing_etl::{ExecutionRecordsLayer, InMemoryStore};
use tracing_subscriber::prelude::*;

#[instrument(skip_all, fields(etl.pipeline = "daily_sales", etl.run_id = %run_id, etl.correlation_id = "corr-9", etl.attempt = 2))]
fn run(run_id: &str) {
    ingest();
    publish();
}

#[instrument(fields(etl.process))]
fn ingest() {
    extract();
    helper();
}

#[instrument(fields(etl.step))]
fn extract() {
    std::thread::sleep(Duration::from_millis(5));
}

/// Not an entity: not exported, and `load` nests under `ingest` through it.
#[instrument]
fn helper() {
    load();
}

#[instrument(fields(etl.step = "load_orders"))]
fn load() {}

#[instrument(fields(etl.step))]
fn publish() {}

fn export_through(receiver: &OtlpReceiver) -> (InMemoryStore, HashMap<String, ReceivedSpan>) {
    let otel = receiver.config().install().expect("OTLP export set up");
    let store = InMemoryStore::new();
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .with_tracer_provider(otel.tracer_provider())
        .build(store.clone());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || run("run-42"));
    guard.shutdown().unwrap();
    let stats = otel.shutdown().expect("every span exported");
    assert_eq!(stats.exported_spans, 5);
    assert_eq!(stats.failed_spans, 0);

    let spans = receiver.wait_for_spans(5, Duration::from_secs(5));
    assert_eq!(
        spans.len(),
        5,
        "one span per entity, none for `helper`: {spans:#?}"
    );
    let by_name: HashMap<_, _> = spans
        .into_iter()
        .map(|s| (s.name().to_owned(), s))
        .collect();
    assert_eq!(by_name.len(), 5, "names are unique: {by_name:#?}");
    (store, by_name)
}

fn check(receiver: OtlpReceiver) {
    let (store, spans) = export_through(&receiver);
    let span = |name: &str| &spans[name];

    // The tree.
    let pipeline = span("daily_sales");
    assert_eq!(pipeline.parent_span_id(), "");
    assert_eq!(span("ingest").parent_span_id(), pipeline.span_id());
    assert_eq!(span("extract").parent_span_id(), span("ingest").span_id());
    assert_eq!(
        span("load_orders").parent_span_id(),
        span("ingest").span_id()
    );
    assert_eq!(span("publish").parent_span_id(), pipeline.span_id());
    for s in spans.values() {
        assert_eq!(s.trace_id(), pipeline.trace_id());
        assert_eq!(s.service_name.as_deref(), Some("tracing-etl-tests"));
        assert_eq!(s.scope, "tracing-etl");
        assert_eq!(s.span.status.as_ref().map_or(0, |st| st.code), 0, "unset");
        assert_eq!(s.str_attr("etl.run_id").as_deref(), Some("run-42"));
        assert_eq!(s.str_attr("etl.correlation_id").as_deref(), Some("corr-9"));
        assert_eq!(s.int_attr("etl.attempt"), Some(2));
        assert_eq!(s.str_attr("etl.status").as_deref(), Some("success"));
        assert!(s.attr("error.type").is_none());
    }

    // Every record, start and end, names its span.
    let records = store.records();
    assert_eq!(records.len(), 10);
    for record in &records {
        let r = record;
        let (name, trace_id, span_id, started_at, duration_ms) = (
            &r.name,
            &r.trace_id,
            &r.span_id,
            r.started_at,
            r.outcome.duration_ms,
        );
        let s = span(name);
        assert_eq!(
            trace_id.as_deref(),
            Some(s.trace_id().as_str()),
            "{record:?}"
        );
        assert_eq!(span_id.as_deref(), Some(s.span_id().as_str()), "{record:?}");
        // The span to the nanosecond, the record to the microsecond.
        assert_eq!(
            i128::from(s.span.start_time_unix_nano / 1000),
            i128::from(started_at.timestamp_micros()),
            "the span starts when the record says"
        );
        if let Some(ms) = duration_ms {
            assert_eq!(s.int_attr("etl.duration_ms"), Some(ms as i64));
            let span_ms = (s.span.end_time_unix_nano - s.span.start_time_unix_nano) / 1_000_000;
            assert!(
                span_ms.abs_diff(ms) <= 1,
                "span {span_ms} ms, record {ms} ms"
            );
        }
    }
    assert!(span("extract").int_attr("etl.duration_ms").unwrap() >= 5);

    // Kinds, names and ids.
    let pipeline_record = &store.pipeline_runs()[0];
    assert_eq!(pipeline.str_attr("etl.kind").as_deref(), Some("pipeline"));
    assert_eq!(
        pipeline.str_attr("etl.pipeline").as_deref(),
        Some("daily_sales")
    );
    assert!(pipeline.attr("etl.process_run_id").is_none());
    assert_eq!(pipeline_record.run.run_id, "run-42");
    let process = &store.process_runs()[0];
    assert_eq!(
        span("ingest").str_attr("etl.kind").as_deref(),
        Some("process")
    );
    assert_eq!(
        span("ingest").str_attr("etl.process").as_deref(),
        Some("ingest")
    );
    assert_eq!(
        span("ingest").str_attr("etl.process_run_id").as_deref(),
        process.process_run_id.as_deref()
    );
    for step in store.step_runs() {
        let s = span(&step.name);
        assert_eq!(s.str_attr("etl.kind").as_deref(), Some("step"));
        assert_eq!(s.str_attr("etl.step").as_deref(), Some(step.name.as_str()));
        assert_eq!(
            s.str_attr("etl.step_run_id").as_deref(),
            step.step_run_id.as_deref()
        );
        assert_eq!(s.str_attr("etl.process_run_id"), step.process_run_id);
    }
    assert!(span("publish").attr("etl.process_run_id").is_none());
}

#[test]
fn over_grpc() {
    check(OtlpReceiver::grpc());
}

#[test]
fn over_http_protobuf() {
    check(OtlpReceiver::http());
}
