//! The standard `OTEL_*` variables, as the exporter sees them: spans arrive at the endpoint the
//! variables name, over the protocol they name, with the headers they name and under the
//! resource they describe; the timeout they give bounds an export; the code's overrides win;
//! a protocol this crate cannot use is an error that names the variable.
//!
//! Every test sets the process's environment, so each holds [`ENV`] while it runs (the test
//! harness runs them on several threads); so do the tests of the other modules that set it,
//! through [`with_env`].

use crate::otlp_receiver;

use std::ffi::OsString;
use std::net::TcpListener;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use otlp_receiver::{OtlpReceiver, ReceivedSpan};
use tracing::instrument;
use tracing_etl::{
    otel::{OtlpConfig, OtlpError, OtlpGuard, OtlpProtocol, OtlpStats},
    otlp_from_env, ExecutionRecordsLayer, InMemoryStore,
};
use tracing_subscriber::prelude::*;

/// Held by every test while the environment is theirs.
static ENV: Mutex<()> = Mutex::new(());

/// Runs `f` with exactly `vars` among the `OTEL_*` variables (every other one removed), and
/// puts the environment back afterwards, even if `f` panics.
pub(crate) fn with_env<T>(vars: &[(&str, &str)], f: impl FnOnce() -> T) -> T {
    struct Restore(Vec<(OsString, OsString)>);
    impl Drop for Restore {
        fn drop(&mut self) {
            remove_otel_vars();
            for (name, value) in &self.0 {
                std::env::set_var(name, value);
            }
        }
    }
    fn remove_otel_vars() {
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("OTEL_") {
                std::env::remove_var(name);
            }
        }
    }

    let _lock = ENV.lock().unwrap_or_else(PoisonError::into_inner);
    let saved = std::env::vars_os()
        .filter(|(name, _)| name.to_string_lossy().starts_with("OTEL_"))
        .collect();
    let _restore = Restore(saved);
    remove_otel_vars();
    for (name, value) in vars {
        std::env::set_var(name, value);
    }
    f()
}

#[instrument(skip_all, fields(etl.pipeline = "daily_sales"))]
fn run() {
    step();
}

#[instrument(fields(etl.step))]
fn step() {}

/// Runs the two-span pipeline through `otel` and shuts export down: the final counters.
pub(crate) fn run_through(otel: OtlpGuard) -> OtlpStats {
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .with_tracer_provider(otel.tracer_provider())
        .build(InMemoryStore::new());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), run);
    guard.shutdown().unwrap();
    otel.shutdown().expect("shut down")
}

/// `run_through` what the variables set up, expecting both spans delivered.
fn export_from_env() {
    let stats = run_through(otlp_from_env().expect("OTLP export set up"));
    assert_eq!(stats.exported_spans, 2, "{stats:?}");
}

/// Both spans, as `receiver` got them.
fn received(receiver: &OtlpReceiver) -> Vec<ReceivedSpan> {
    let spans = receiver.spans();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    spans
}

/// A local port nobody listens on.
fn dead_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

#[test]
fn the_general_variables_name_protocol_and_base_endpoint() {
    // gRPC: the base endpoint is the endpoint.
    let grpc = OtlpReceiver::grpc();
    with_env(
        &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &grpc.base_endpoint()),
        ],
        export_from_env,
    );
    received(&grpc);

    // HTTP: `/v1/traces` is appended (the receiver answers nowhere else), with or without a
    // trailing slash.
    for suffix in ["", "/"] {
        let http = OtlpReceiver::http();
        let base = format!("{}{suffix}", http.base_endpoint());
        with_env(
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &base),
            ],
            export_from_env,
        );
        received(&http);
    }
}

#[test]
fn the_protocol_defaults_to_http_protobuf_and_is_read_in_any_case() {
    let http = OtlpReceiver::http();
    with_env(
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &http.base_endpoint())],
        || {
            assert_eq!(
                OtlpConfig::from_env().unwrap().protocol(),
                OtlpProtocol::HttpProtobuf
            );
            export_from_env();
        },
    );
    received(&http);

    let grpc = OtlpReceiver::grpc();
    with_env(
        &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "GRPC"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &grpc.base_endpoint()),
        ],
        export_from_env,
    );
    received(&grpc);
}

#[test]
fn the_traces_variables_win_and_their_endpoint_is_used_as_is() {
    let http = OtlpReceiver::http_at("/custom/spans");
    with_env(
        &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &dead_endpoint()),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &http.endpoint()),
        ],
        export_from_env,
    );
    received(&http);

    let grpc = OtlpReceiver::grpc();
    with_env(
        &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &dead_endpoint()),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &grpc.endpoint()),
        ],
        export_from_env,
    );
    received(&grpc);
}

#[test]
fn an_empty_variable_counts_as_unset() {
    let grpc = OtlpReceiver::grpc();
    with_env(
        &[
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", ""),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &grpc.base_endpoint()),
            ("OTEL_SERVICE_NAME", ""),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes"),
        ],
        export_from_env,
    );
    let spans = received(&grpc);
    assert_eq!(spans[0].service_name.as_deref(), Some("from-attributes"));
}

#[test]
fn requests_carry_the_headers_the_variables_name() {
    for grpc in [false, true] {
        let receiver = if grpc {
            OtlpReceiver::grpc()
        } else {
            OtlpReceiver::http()
        };
        with_env(
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", receiver.protocol().as_str()),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.base_endpoint()),
                ("OTEL_EXPORTER_OTLP_HEADERS", "x-ignored=general"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                    "x-team=etl, authorization=Bearer%20abc",
                ),
            ],
            export_from_env,
        );
        received(&receiver);
        for headers in receiver.headers() {
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(header("x-team"), Some("etl"), "{headers:?}");
            assert_eq!(header("authorization"), Some("Bearer abc"), "{headers:?}");
            assert_eq!(header("x-ignored"), None, "{headers:?}");
        }
    }
}

#[test]
fn the_resource_carries_the_service_name_and_attributes_the_variables_give() {
    let receiver = OtlpReceiver::http();
    with_env(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.base_endpoint()),
            ("OTEL_SERVICE_NAME", "daily-sales"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=loses, deployment.environment=prod,team=etl%2Cops%3Dnight,odd=50%",
            ),
        ],
        export_from_env,
    );
    for span in received(&receiver) {
        // `OTEL_SERVICE_NAME` wins over a `service.name` in the attributes.
        assert_eq!(span.service_name.as_deref(), Some("daily-sales"));
        assert_eq!(
            span.resource_str("deployment.environment").as_deref(),
            Some("prod")
        );
        // Values are percent-decoded; one that is not valid percent-encoding stays as is.
        assert_eq!(span.resource_str("team").as_deref(), Some("etl,ops=night"));
        assert_eq!(span.resource_str("odd").as_deref(), Some("50%"));
        assert_eq!(
            span.resource_str("telemetry.sdk.name").as_deref(),
            Some("opentelemetry")
        );
    }

    // Without `OTEL_SERVICE_NAME`, the attributes' `service.name`, decoded.
    let receiver = OtlpReceiver::http();
    with_env(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.base_endpoint()),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=etl%20jobs"),
        ],
        export_from_env,
    );
    assert_eq!(
        received(&receiver)[0].service_name.as_deref(),
        Some("etl jobs")
    );

    // Neither: the SDK's default.
    let receiver = OtlpReceiver::http();
    with_env(
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.base_endpoint())],
        export_from_env,
    );
    let name = received(&receiver)[0].service_name.clone().unwrap();
    let exe = std::env::current_exe().unwrap();
    let exe = exe.file_name().unwrap().to_string_lossy();
    assert_eq!(name, format!("unknown_service:{exe}"));
}

#[test]
fn the_code_overrides_the_variables() {
    let receiver = OtlpReceiver::http();
    let stats = with_env(
        &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &dead_endpoint()),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &dead_endpoint()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1"),
            ("OTEL_SERVICE_NAME", "from-env"),
            ("OTEL_RESOURCE_ATTRIBUTES", "team=env,site=env"),
        ],
        || {
            let config = OtlpConfig::from_env()
                .unwrap()
                .with_protocol(OtlpProtocol::HttpProtobuf)
                .with_endpoint(receiver.endpoint())
                .with_timeout(Duration::from_secs(5))
                .with_service_name("from-code")
                .with_resource_attribute("team", "code");
            assert_eq!(config.endpoint(), Some(receiver.endpoint().as_str()));
            assert_eq!(config.timeout(), Some(Duration::from_secs(5)));
            assert_eq!(config.service_name(), Some("from-code"));
            run_through(config.install().unwrap())
        },
    );
    assert_eq!(stats.exported_spans, 2, "a 1 ms timeout would have failed");
    for span in received(&receiver) {
        assert_eq!(span.service_name.as_deref(), Some("from-code"));
        assert_eq!(span.resource_str("team").as_deref(), Some("code"));
        assert_eq!(span.resource_str("site").as_deref(), Some("env"));
    }
}

#[test]
fn the_timeout_variable_bounds_an_export() {
    // Takes connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    for protocol in [OtlpProtocol::HttpProtobuf, OtlpProtocol::Grpc] {
        let started = Instant::now();
        let stats = with_env(
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.as_str()),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
                ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "300"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "60000"),
            ],
            || {
                // Long enough for the default 10 s timeout to show.
                let config = OtlpConfig::from_env()
                    .unwrap()
                    .with_shutdown_timeout(Duration::from_secs(30));
                run_through(config.install().unwrap())
            },
        );
        let took = started.elapsed();
        assert_eq!(stats.failed_spans, 2, "{protocol}: {stats:?}");
        assert_eq!(stats.exported_spans, 0, "{protocol}: {stats:?}");
        assert!(took < Duration::from_secs(5), "{protocol}: took {took:?}");
    }
}

#[test]
fn a_protocol_this_crate_cannot_use_is_an_error_naming_the_variable() {
    for (name, value) in [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "carrier-pigeon"),
    ] {
        let error = with_env(&[(name, value)], || otlp_from_env().unwrap_err());
        assert!(
            matches!(&error, OtlpError::InvalidVariable { name: n, value: v, .. } if n == name && v == value),
            "{error:?}"
        );
        assert!(error.to_string().contains(name), "{error}");
    }
    assert_eq!(
        " Http/Protobuf ".parse::<OtlpProtocol>().unwrap(),
        OtlpProtocol::HttpProtobuf
    );
    assert!(matches!(
        "http".parse::<OtlpProtocol>(),
        Err(OtlpError::InvalidProtocol(_))
    ));
    // This test binary has both transports.
    for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
        assert!(protocol.is_enabled(), "{protocol}");
    }
    assert_eq!(OtlpProtocol::Grpc.feature(), "otlp-grpc");
    assert_eq!(OtlpProtocol::HttpProtobuf.feature(), "otlp-http");
}

#[test]
fn an_invalid_endpoint_is_an_error_naming_its_variable() {
    for protocol in ["grpc", "http/protobuf"] {
        let error = with_env(
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://bad host:4318"),
            ],
            || otlp_from_env().unwrap_err(),
        );
        assert!(matches!(error, OtlpError::Exporter(_)), "{error:?}");
        assert!(
            error
                .to_string()
                .contains("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            "{protocol}: {error}"
        );
    }
}
