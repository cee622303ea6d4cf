//! The volume of an entity on its exported span, over real OTLP: `etl.rows_in` and
//! `etl.rows_out` as integers, `etl.inputs` and `etl.outputs` as arrays of strings, given as
//! span fields or through `EtlSpanExt`; none on entities that give none. Stacked with
//! `tracing-opentelemetry`, no attribute comes twice.

use crate::otlp_receiver;

use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use otlp_receiver::{OtlpReceiver, ReceivedSpan};
use tracing::field::Empty;
use tracing_etl::{EtlSpanExt, ExecutionRecordsLayer, InMemoryStore};
use tracing_subscriber::prelude::*;

/// A pipeline giving its rows out, a step giving everything, a step giving nothing.
fn job() {
    let p = tracing::info_span!("daily_sales", etl.pipeline = Empty, etl.rows_out = 1_204);
    let _p = p.enter();
    {
        let load = tracing::info_span!(
            "load",
            etl.step = Empty,
            etl.inputs = "s3://landing/orders.csv",
            etl.rows_in = Empty
        );
        let _load = load.enter();
        load.record("etl.rows_in", 1_210);
        load.record_rows_out(1_204);
        load.add_output("postgres://warehouse/sales.orders");
        load.add_output("postgres://warehouse/sales.rejects");
    }
    let _notify = tracing::info_span!("notify", etl.step = Empty).entered();
}

fn strings(span: &ReceivedSpan, key: &str) -> Option<Vec<String>> {
    match span.attr(key)? {
        Value::ArrayValue(array) => Some(
            array
                .values
                .into_iter()
                .map(|v| match v.value {
                    Some(Value::StringValue(s)) => s,
                    other => panic!("{key} holds {other:?}"),
                })
                .collect(),
        ),
        other => panic!("{key} is not an array: {other:?}"),
    }
}

fn check(spans: &[ReceivedSpan]) {
    let span = |name: &str| spans.iter().find(|s| s.name() == name).unwrap();
    let load = span("load");
    assert_eq!(load.int_attr("etl.rows_in"), Some(1_210));
    assert_eq!(load.int_attr("etl.rows_out"), Some(1_204));
    assert_eq!(
        strings(load, "etl.outputs").unwrap(),
        [
            "postgres://warehouse/sales.orders",
            "postgres://warehouse/sales.rejects"
        ]
    );
    assert_eq!(span("daily_sales").int_attr("etl.rows_out"), Some(1_204));
    assert!(span("daily_sales").attr("etl.rows_in").is_none());
    let notify = span("notify");
    for key in ["etl.rows_in", "etl.rows_out", "etl.inputs", "etl.outputs"] {
        assert!(notify.attr(key).is_none(), "{key} on notify");
    }
}

#[test]
fn exported_by_the_layer() {
    let receiver = OtlpReceiver::grpc();
    let otel = receiver.config().install().unwrap();
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .with_tracer_provider(otel.tracer_provider())
        .build(InMemoryStore::new());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), job);
    guard.shutdown().unwrap();
    otel.shutdown().unwrap();
    let spans = receiver.wait_for_spans(3, Duration::from_secs(5));
    assert_eq!(spans.len(), 3, "{spans:#?}");
    check(&spans);
    let load = spans.iter().find(|s| s.name() == "load").unwrap();
    assert_eq!(
        strings(load, "etl.inputs").unwrap(),
        ["s3://landing/orders.csv"]
    );
}

#[cfg(feature = "tracing-opentelemetry")]
#[test]
fn stacked_with_tracing_opentelemetry_none_twice() {
    use opentelemetry::trace::TracerProvider as _;

    let receiver = OtlpReceiver::grpc();
    let otel = receiver.config().install().unwrap();
    let (records, guard) = ExecutionRecordsLayer::builder()
        .with_tracing_opentelemetry()
        .build(InMemoryStore::new());
    let subscriber = tracing_subscriber::registry()
        .with(records)
        .with(tracing_opentelemetry::layer().with_tracer(otel.tracer_provider().tracer("app")));
    tracing::subscriber::with_default(subscriber, job);
    guard.shutdown().unwrap();
    otel.shutdown().unwrap();
    let spans = receiver.wait_for_spans(3, Duration::from_secs(5));
    check(&spans);
    for s in &spans {
        for key in ["etl.rows_in", "etl.rows_out", "etl.inputs", "etl.outputs"] {
            assert!(s.attr_count(key) <= 1, "{key} twice on {}", s.name());
        }
    }
    // Given as a field, `etl.inputs` is on the span as `tracing-opentelemetry` exports it.
    let load = spans.iter().find(|s| s.name() == "load").unwrap();
    assert_eq!(
        load.str_attr("etl.inputs").as_deref(),
        Some("s3://landing/orders.csv")
    );
}
