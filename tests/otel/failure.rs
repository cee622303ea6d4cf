//! A failed run exported over OTLP: the failed step, its process and the pipeline carry
//! `error.type`, the `Error` status with the message and an `exception` event; processes and
//! the pipeline name the failed step. An error of unknown type is `error.type = "_OTHER"`. A
//! cancelled step is `etl.status = "cancelled"`, with `error.type = "cancelled"` and the
//! `Error` status saying it was dropped.

use crate::otlp_receiver;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use otlp_receiver::{attr, OtlpReceiver, ReceivedSpan};
use tracing::instrument;
use tracing_etl::{EtlInstrument, ExecutionRecordsLayer, InMemoryStore, RunStatus};
use tracing_subscriber::prelude::*;

const STATUS_ERROR: i32 = 2;

#[derive(Debug, thiserror::Error)]
#[error("line {0}: amount is not a number")]
struct BadAmount(usize);

#[instrument(skip_all, fields(etl.pipeline = "daily_sales"))]
fn run() -> Result<(), BadAmount> {
    ingest()
}

#[instrument(skip_all, fields(etl.process))]
fn ingest() -> Result<(), BadAmount> {
    extract();
    validate()
}

#[instrument(fields(etl.step))]
fn extract() {}

#[instrument(fields(etl.step))]
fn validate() -> Result<(), BadAmount> {
    let error = BadAmount(58);
    tracing_etl::record_error(&error);
    Err(error)
}

#[instrument(fields(etl.pipeline = "untyped"))]
fn untyped() {
    step_with_plain_error();
}

#[instrument(fields(etl.step))]
fn step_with_plain_error() {
    tracing::error!("the source file vanished");
}

fn received(receiver: &OtlpReceiver, f: impl FnOnce()) -> (InMemoryStore, Vec<ReceivedSpan>) {
    let otel = receiver.config().install().unwrap();
    let store = InMemoryStore::new();
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .with_tracer_provider(otel.tracer_provider())
        .build(store.clone());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
    guard.shutdown().unwrap();
    otel.shutdown().unwrap();
    (store, receiver.spans())
}

fn exception(span: &ReceivedSpan) -> (Option<Value>, Option<Value>) {
    let events: Vec<_> = span
        .span
        .events
        .iter()
        .filter(|e| e.name == "exception")
        .collect();
    assert_eq!(events.len(), 1, "one exception event on {}", span.name());
    (
        attr(&events[0].attributes, "exception.type"),
        attr(&events[0].attributes, "exception.message"),
    )
}

#[test]
fn failed_entities_carry_the_error() {
    let receiver = OtlpReceiver::http();
    let (store, spans) = received(&receiver, || {
        let _ = run();
    });
    assert_eq!(spans.len(), 4, "{spans:#?}");
    let span = |name: &str| spans.iter().find(|s| s.name() == name).unwrap();

    let step = &store
        .step_runs()
        .into_iter()
        .find(|s| s.name == "validate")
        .unwrap();
    assert_eq!(step.outcome.status, RunStatus::Failed);
    let message = "line 58: amount is not a number";
    assert_eq!(step.outcome.error.message.as_deref(), Some(message));

    for name in ["validate", "ingest", "daily_sales"] {
        let s = span(name);
        assert_eq!(
            s.str_attr("etl.status").as_deref(),
            Some("failed"),
            "{name}"
        );
        assert_eq!(
            s.str_attr("error.type").as_deref(),
            Some("BadAmount"),
            "{name}"
        );
        let status = s.span.status.as_ref().expect("a status");
        assert_eq!(status.code, STATUS_ERROR, "{name}");
        assert_eq!(status.message, message, "{name}");
        assert_eq!(
            exception(s),
            (
                Some(Value::StringValue("BadAmount".into())),
                Some(Value::StringValue(message.into()))
            ),
            "{name}"
        );
    }
    for name in ["ingest", "daily_sales"] {
        let s = span(name);
        assert_eq!(s.str_attr("etl.failed_step").as_deref(), Some("validate"));
        assert_eq!(
            s.str_attr("etl.failed_step_run_id").as_deref(),
            step.step_run_id.as_deref()
        );
    }
    assert!(span("validate").attr("etl.failed_step").is_none());

    let extract = span("extract");
    assert_eq!(extract.str_attr("etl.status").as_deref(), Some("success"));
    assert!(extract.span.events.is_empty());
    assert!(extract.attr("error.type").is_none());
    assert_eq!(extract.span.status.as_ref().map_or(0, |s| s.code), 0);
}

#[test]
fn an_error_of_unknown_type_is_other() {
    let receiver = OtlpReceiver::grpc();
    let (store, spans) = received(&receiver, untyped);
    assert_eq!(store.step_runs()[0].outcome.error.type_name, None);
    assert_eq!(spans.len(), 2);
    for s in &spans {
        assert_eq!(
            s.str_attr("error.type").as_deref(),
            Some("_OTHER"),
            "{}",
            s.name()
        );
        // No type to tell: the event has the message only.
        assert_eq!(
            exception(s),
            (
                None,
                Some(Value::StringValue("the source file vanished".into()))
            )
        );
        assert_eq!(s.span.status.as_ref().unwrap().code, STATUS_ERROR);
    }
}

#[test]
fn a_cancelled_step_is_an_error_span_and_its_pipeline_succeeds() {
    let receiver = OtlpReceiver::http();
    let (store, spans) = received(&receiver, || {
        let _run = tracing::info_span!("p", etl.pipeline = true, etl.run_id = "r1").entered();
        let step = tracing::info_span!("load", etl.step = true);
        drop(std::future::pending::<()>().instrument_tracked(step));
    });
    assert_eq!(store.step_runs()[0].outcome.status, RunStatus::Cancelled);
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let span = |name: &str| spans.iter().find(|s| s.name() == name).unwrap();
    let step = span("load");
    assert_eq!(step.str_attr("etl.status").as_deref(), Some("cancelled"));
    assert_eq!(step.str_attr("error.type").as_deref(), Some("cancelled"));
    let status = step.span.status.as_ref().expect("a status");
    assert_eq!(status.code, STATUS_ERROR);
    let message = "the step's future was dropped before it completed";
    assert_eq!(status.message, message);
    assert_eq!(
        exception(step),
        (
            Some(Value::StringValue("cancelled".into())),
            Some(Value::StringValue(message.into()))
        )
    );
    let pipeline = span("p");
    assert_eq!(pipeline.str_attr("etl.status").as_deref(), Some("success"));
    assert_eq!(pipeline.span.status.as_ref().map_or(0, |s| s.code), 0);
}
