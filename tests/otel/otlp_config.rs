//! `OtlpConfig::from_vars` reads the standard `OTEL_*` variables: protocol (signal-specific
//! first), endpoint (`/v1/traces` appended to a base endpoint for HTTP only), timeout, service
//! name and resource attributes; bad values are clear errors.

use std::time::Duration;

use tracing_etl::{OtlpConfig, OtlpError, OtlpProtocol};

fn config(vars: &[(&str, &str)]) -> Result<OtlpConfig, OtlpError> {
    OtlpConfig::from_vars(vars.iter().copied())
}

#[test]
fn protocol_defaults_to_http_protobuf_and_the_traces_variable_wins() {
    assert_eq!(config(&[]).unwrap().protocol(), OtlpProtocol::HttpProtobuf);
    let grpc = config(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap();
    assert_eq!(grpc.protocol(), OtlpProtocol::Grpc);
    let both = config(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
    ])
    .unwrap();
    assert_eq!(both.protocol(), OtlpProtocol::HttpProtobuf);
    // Empty means unset.
    let empty = config(&[
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", ""),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ])
    .unwrap();
    assert_eq!(empty.protocol(), OtlpProtocol::Grpc);
}

#[test]
fn endpoints_follow_the_specification() {
    let base = |protocol: &str| {
        config(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
        ])
        .unwrap()
        .endpoint()
    };
    assert_eq!(
        base("http/protobuf").as_deref(),
        Some("http://collector:4318/v1/traces")
    );
    assert_eq!(base("grpc").as_deref(), Some("http://collector:4318/"));
    let signal = config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://collector:9999/custom",
        ),
    ])
    .unwrap();
    assert_eq!(
        signal.endpoint().as_deref(),
        Some("http://collector:9999/custom")
    );
    assert_eq!(config(&[]).unwrap().endpoint(), None);
    // A protocol chosen later still gets the right form of a base endpoint.
    let later = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317")])
        .unwrap()
        .with_protocol(OtlpProtocol::Grpc);
    assert_eq!(later.endpoint().as_deref(), Some("http://c:4317"));
}

#[test]
fn service_name_and_resource_attributes() {
    let named = config(&[
        ("OTEL_SERVICE_NAME", "daily-sales"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=other,deployment.environment=prod",
        ),
    ])
    .unwrap();
    assert_eq!(named.service_name(), "daily-sales");
    let from_attributes =
        config(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=etl%20jobs")]).unwrap();
    assert_eq!(from_attributes.service_name(), "etl jobs");
    assert!(config(&[])
        .unwrap()
        .service_name()
        .starts_with("unknown_service"));
}

#[test]
fn bad_values_are_errors_that_name_the_variable() {
    for (name, value) in [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "carrier-pigeon"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
        ("OTEL_RESOURCE_ATTRIBUTES", "team=etl,oops"),
    ] {
        let error = config(&[(name, value)]).unwrap_err();
        assert!(
            matches!(error, OtlpError::InvalidVariable { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains(name), "{error}");
    }
    let timeout = config(&[("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1500")]).unwrap();
    assert_eq!(timeout.timeout(), Some(Duration::from_millis(1500)));
    assert!("grpc".parse::<OtlpProtocol>().is_ok());
    assert!(matches!(
        "http".parse::<OtlpProtocol>(),
        Err(OtlpError::InvalidProtocol(_))
    ));
}
