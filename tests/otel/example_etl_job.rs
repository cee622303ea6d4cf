//! `examples/etl_job` with `OTEL_EXPORTER_OTLP_ENDPOINT` set delivers its entity spans to the
//! collector (here an in-process receiver), over HTTP/protobuf and gRPC, plain or over TLS with
//! a private CA and gzip, and still records the run in SQLite; a collector whose certificate
//! does not verify is reported, with the reason, and the job still succeeds.
//!
//! Runs the example binary that `cargo test --all-features` builds
//! (`target/<profile>/examples/etl_job`).

use crate::otlp_receiver;

use std::path::PathBuf;
use std::process::{Command, Output};

use otlp_receiver::OtlpReceiver;

use crate::test_ca::TestCa;
use tracing_etl::store::{RecordReader, RunFilter};
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

/// Runs the job against `receiver` with `protocol`, the variables `env` and the arguments
/// `args` too; its output and the directory its database (`runs.db`) is in.
fn job(
    receiver: &OtlpReceiver,
    protocol: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
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
        .arg(dir.path().join("runs.db"))
        .arg("--output")
        .arg(dir.path().join("daily_sales.csv"))
        .args(args)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &base)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
        .env("OTEL_SERVICE_NAME", "daily-sales-job")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (output, dir)
}

fn run_job(receiver: &OtlpReceiver, protocol: &str, env: &[(&str, &str)]) {
    let (output, dir) = job(receiver, protocol, env, &[]);
    let db = dir.path().join("runs.db");
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

    let mut store = SqliteStore::open_read_only(&db).unwrap();
    let record = store
        .read_pipelines(&RunFilter::default())
        .unwrap()
        .remove(0);
    assert_eq!(record.outcome.status, RunStatus::Success);
    assert_eq!(record.trace_id, Some(pipeline.trace_id()));
    assert_eq!(record.span_id, Some(pipeline.span_id()));
}

#[test]
fn over_http_protobuf() {
    run_job(&OtlpReceiver::http(), "http/protobuf", &[]);
}

#[test]
fn over_grpc() {
    run_job(&OtlpReceiver::grpc(), "grpc", &[]);
}

/// As a hosted backend is reached: `https://`, a CA of its own, gzip.
#[test]
fn over_tls_with_a_private_ca_and_gzip() {
    let ca = TestCa::new();
    let env = [
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            ca.ca_file().to_str().unwrap(),
        ),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
    ];
    for (receiver, protocol, header) in [
        (
            OtlpReceiver::http_tls(&ca),
            "http/protobuf",
            "content-encoding",
        ),
        (OtlpReceiver::grpc_tls(&ca), "grpc", "grpc-encoding"),
    ] {
        assert!(receiver.endpoint().starts_with("https://"));
        run_job(&receiver, protocol, &env);
        let requests = receiver.headers();
        assert!(
            requests
                .iter()
                .all(|headers| headers.iter().any(|(k, v)| k == header && v == "gzip")),
            "{protocol}: {requests:?}"
        );
    }
}

#[test]
fn a_collector_certificate_that_does_not_verify_is_reported_with_the_reason() {
    let ca = TestCa::new();
    let other = TestCa::new();
    let env = [(
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
        other.ca_file().to_str().unwrap(),
    )];
    for (receiver, protocol) in [
        (OtlpReceiver::http_tls(&ca), "http/protobuf"),
        (OtlpReceiver::grpc_tls(&ca), "grpc"),
    ] {
        let (output, _dir) = job(&receiver, protocol, &env, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        // The job itself is fine.
        assert!(output.status.success(), "{protocol}: {stderr}");
        assert!(receiver.spans().is_empty());
        assert!(
            stderr.contains("cannot export spans over OTLP")
                && stderr.contains("invalid peer certificate"),
            "{protocol}: {stderr}"
        );
    }
}

/// The failed run's trace, as the README describes it: with the bad input only `extract` runs,
/// `validate` fails in it, and the error marks `validate`, `extract` and the pipeline.
#[test]
fn the_failed_run_s_trace_holds_extract_only() {
    let receiver = OtlpReceiver::http();
    let (output, _dir) = job(
        &receiver,
        "http/protobuf",
        &[],
        &["--input", "examples/data/orders_bad.csv"],
    );
    assert_eq!(output.status.code(), Some(1), "the run failed");
    let spans = receiver.spans();
    let mut names: Vec<_> = spans.iter().map(|s| s.name().to_owned()).collect();
    names.sort();
    assert_eq!(names, ["daily_sales", "extract", "read_csv", "validate"]);
    let span = |name: &str| spans.iter().find(|s| s.name() == name).unwrap();
    assert_eq!(
        span("extract").parent_span_id(),
        span("daily_sales").span_id()
    );
    for step in ["read_csv", "validate"] {
        assert_eq!(span(step).parent_span_id(), span("extract").span_id());
    }
    for (name, failed) in [
        ("daily_sales", true),
        ("extract", true),
        ("read_csv", false),
        ("validate", true),
    ] {
        let s = span(name);
        let error = s.span.status.as_ref().is_some_and(|st| st.code == 2);
        assert_eq!(error, failed, "{name}: {:?}", s.span.status);
        let exceptions = s
            .span
            .events
            .iter()
            .filter(|e| e.name == "exception")
            .count();
        assert_eq!(exceptions, usize::from(failed), "{name}");
    }
}
