//! No collector listening: the job is not held up, every execution record is written complete,
//! and the lost spans are counted, for both transports.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use tracing::instrument;
use tracing_etl::{
    otel::{OtlpConfig, OtlpProtocol},
    ExecutionRecordsLayer, InMemoryStore, RunStatus,
};
use tracing_subscriber::prelude::*;

const STEPS: usize = 300;

#[instrument(skip_all, fields(etl.pipeline = "daily_sales"))]
fn run() {
    for i in 0..STEPS {
        step(i);
    }
}

#[instrument(skip_all, fields(etl.step))]
fn step(_i: usize) {}

/// A local port nobody listens on.
fn dead_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn run_against_nothing(protocol: OtlpProtocol, endpoint: String) {
    let otel = OtlpConfig::new(protocol)
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(10))
        .with_shutdown_timeout(Duration::from_secs(5))
        .install()
        .expect("setting up does not need the collector");
    let store = InMemoryStore::new();
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .with_tracer_provider(otel.tracer_provider())
        .build(store.clone());

    let started = Instant::now();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), run);
    let job = started.elapsed();
    let stats = guard.shutdown().unwrap();
    // A job waiting for even one export would take the export timeout (10 s).
    assert!(job < Duration::from_secs(5), "the job took {job:?}");

    let shutdown = Instant::now();
    // Failed exports are reported (once) and counted, not errors of the shutdown.
    let otel_stats = otel.shutdown().expect("shut down");
    assert!(
        shutdown.elapsed() < Duration::from_secs(8),
        "shutdown took {:?}",
        shutdown.elapsed()
    );
    assert_eq!(otel_stats.exported_spans, 0);
    assert_eq!(otel_stats.failed_spans as usize, STEPS + 1);
    assert!(otel_stats.failed_exports >= 1);

    assert_eq!(stats.written as usize, 2 * (STEPS + 1));
    assert_eq!(stats.dropped, 0);
    let steps = store.step_runs();
    assert_eq!(steps.len(), STEPS);
    assert!(steps
        .iter()
        .all(|s| s.outcome.status == RunStatus::Success && s.outcome.duration_ms.is_some()));
    let pipeline = &store.pipeline_runs()[0];
    assert_eq!(pipeline.outcome.status, RunStatus::Success);
    // The spans were started (and would have been exported): their ids are recorded.
    assert!(pipeline.trace_id.is_some());
    assert!(steps.iter().all(|s| s.trace_id == pipeline.trace_id));
}

#[test]
fn over_grpc() {
    run_against_nothing(
        OtlpProtocol::Grpc,
        format!("http://127.0.0.1:{}", dead_port()),
    );
}

#[test]
fn over_http() {
    run_against_nothing(
        OtlpProtocol::HttpProtobuf,
        format!("http://127.0.0.1:{}/v1/traces", dead_port()),
    );
}
