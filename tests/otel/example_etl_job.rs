//! `examples/etl_job` with `OTEL_EXPORTER_OTLP_ENDPOINT` set delivers its entity spans to the
//! collector (here an in-process receiver), over HTTP/protobuf and gRPC, and still records the
//! run in SQLite.
//!
//! Runs the example binary that `cargo test --all-features` builds
//! (`target/<profile>/examples/etl_job`).

use crate::otlp_receiver;

use std::path::PathBuf;
use std::process::Command;

use otlp_receiver::OtlpReceiver;
use tracing_etl::{RunStatus, SqliteStore};

fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile_dir
        .join("examples")
        .join(format!("etl_job{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: `cargo test --all-features` builds it \
         (or `cargo build --features cli,otlp --example etl_job`)",
        binary.display()
    );
    binary
}

fn run_job(receiver: &OtlpReceiver, protocol: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.db");
    let base = receiver
        .endpoint()
        .trim_end_matches("/v1/traces")
        .to_owned();
    let mut command = Command::new(example_binary());
    for (name, _) in std::env::vars() {
        if name.starts_with("OTEL_") {
            command.env_remove(name);
        }
    }
    let output = command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--run-id", "run-otlp", "--db"])
        .arg(&db)
        .arg("--output")
        .arg(dir.path().join("daily_sales.csv"))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &base)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
        .env("OTEL_SERVICE_NAME", "daily-sales-job")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Sent before the job exited: the guard flushes on drop.
    let spans = receiver.spans();
    assert_eq!(
        spans.len(),
        9,
        "1 pipeline, 3 processes, 5 steps: {spans:#?}"
    );
    let pipeline = spans.iter().find(|s| s.name() == "daily_sales").unwrap();
    assert_eq!(pipeline.service_name.as_deref(), Some("daily-sales-job"));
    assert_eq!(pipeline.str_attr("etl.run_id").as_deref(), Some("run-otlp"));
    assert!(spans.iter().all(|s| s.trace_id() == pipeline.trace_id()));
    assert!(
        stdout.contains(&format!("trace: {}", pipeline.trace_id())),
        "{stdout}"
    );

    let store = SqliteStore::open_read_only(&db).unwrap();
    let record = store.pipeline_runs().unwrap().remove(0);
    assert_eq!(record.outcome.status, RunStatus::Success);
    assert_eq!(record.trace_id, Some(pipeline.trace_id()));
    assert_eq!(record.span_id, Some(pipeline.span_id()));
}

#[test]
fn over_http_protobuf() {
    run_job(&OtlpReceiver::http(), "http/protobuf");
}

#[test]
fn over_grpc() {
    run_job(&OtlpReceiver::grpc(), "grpc");
}
