//! OTLP to a collector behind TLS with a private CA, gzip-compressed, over both transports:
//! the CA given by the code or by `OTEL_EXPORTER_OTLP_CERTIFICATE`, the system's roots
//! otherwise (here `SSL_CERT_FILE`), compression by the code or
//! `OTEL_EXPORTER_OTLP_COMPRESSION`; a certificate the collector's does not chain to loses the
//! spans and counts them; a certificate file or a compression that cannot be used, or no root
//! certificate at all for an `https://` collector, is an error when export is set up.

use crate::otlp_config::{run_through, with_env};
use crate::otlp_receiver::OtlpReceiver;
use crate::test_ca::TestCa;

use std::time::Duration;

use tracing_etl::otel::{OtlpCompression, OtlpConfig, OtlpError, OtlpProtocol};
use tracing_etl::otlp_from_env;

const PROTOCOLS: [OtlpProtocol; 2] = [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf];

fn tls_receiver(protocol: OtlpProtocol, ca: &TestCa) -> OtlpReceiver {
    match protocol {
        OtlpProtocol::Grpc => OtlpReceiver::grpc_tls(ca),
        _ => OtlpReceiver::http_tls(ca),
    }
}

/// The header that says a request is gzip-compressed, for `protocol`.
fn gzip_header(protocol: OtlpProtocol) -> &'static str {
    match protocol {
        OtlpProtocol::Grpc => "grpc-encoding",
        _ => "content-encoding",
    }
}

/// Whether every request `receiver` got was gzip-compressed.
fn all_gzipped(receiver: &OtlpReceiver) -> bool {
    let header = gzip_header(receiver.protocol());
    let requests = receiver.headers();
    !requests.is_empty()
        && requests
            .iter()
            .all(|headers| headers.iter().any(|(k, v)| k == header && v == "gzip"))
}

/// Both spans arrived at `receiver`.
fn assert_received(receiver: &OtlpReceiver) {
    let spans = receiver.wait_for_spans(2, Duration::from_secs(5));
    assert_eq!(spans.len(), 2, "{}: {spans:#?}", receiver.protocol());
}

#[test]
fn spans_reach_a_tls_collector_trusted_through_the_code_gzipped_or_not() {
    let ca = TestCa::new();
    for protocol in PROTOCOLS {
        for compression in [OtlpCompression::None, OtlpCompression::Gzip] {
            let receiver = tls_receiver(protocol, &ca);
            assert!(receiver.endpoint().starts_with("https://"));
            let config = receiver
                .config()
                .with_certificate(ca.ca_file())
                .with_compression(compression);
            let stats = with_env(&[], || run_through(config.install().expect("set up")));
            assert_eq!(
                stats.exported_spans, 2,
                "{protocol} {compression}: {stats:?}"
            );
            assert_received(&receiver);
            assert_eq!(
                all_gzipped(&receiver),
                compression == OtlpCompression::Gzip,
                "{protocol} {compression}: {:?}",
                receiver.headers()
            );
        }
    }
}

#[test]
fn the_certificate_and_compression_variables_are_honoured() {
    let ca = TestCa::new();
    for protocol in PROTOCOLS {
        let receiver = tls_receiver(protocol, &ca);
        let ca_file = ca.ca_file().to_str().unwrap();
        with_env(
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.as_str()),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.base_endpoint()),
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca_file),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ],
            || {
                let stats = run_through(otlp_from_env().expect("set up"));
                assert_eq!(stats.exported_spans, 2, "{protocol}: {stats:?}");
            },
        );
        assert_received(&receiver);
        assert!(
            all_gzipped(&receiver),
            "{protocol}: {:?}",
            receiver.headers()
        );

        // The traces variables win over the general ones.
        let receiver = tls_receiver(protocol, &ca);
        with_env(
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.as_str()),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.base_endpoint()),
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"),
                ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", ca_file),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
                ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"),
            ],
            || {
                let stats = run_through(otlp_from_env().expect("set up"));
                assert_eq!(stats.exported_spans, 2, "{protocol}: {stats:?}");
            },
        );
        assert_received(&receiver);
        assert!(
            !all_gzipped(&receiver),
            "{protocol}: {:?}",
            receiver.headers()
        );
    }
}

/// Runs `f` with the certificates of `file` as the system's roots (rustls-native-certs reads
/// `SSL_CERT_FILE` and `SSL_CERT_DIR`, here an empty directory, instead of the platform's
/// store), and no `OTEL_*` variable; puts both variables back afterwards.
fn with_system_roots<T>(file: &std::path::Path, f: impl FnOnce() -> T) -> T {
    const VARS: [&str; 2] = ["SSL_CERT_FILE", "SSL_CERT_DIR"];
    struct Restore(Vec<(&'static str, Option<std::ffi::OsString>)>);
    impl Drop for Restore {
        fn drop(&mut self) {
            for (name, value) in &self.0 {
                match value {
                    Some(value) => std::env::set_var(name, value),
                    None => std::env::remove_var(name),
                }
            }
        }
    }
    let no_dir = tempfile::tempdir().unwrap();
    with_env(&[], || {
        let _restore = Restore(VARS.iter().map(|v| (*v, std::env::var_os(v))).collect());
        std::env::set_var("SSL_CERT_FILE", file);
        std::env::set_var("SSL_CERT_DIR", no_dir.path());
        f()
    })
}

#[test]
fn without_a_certificate_the_system_roots_verify_the_collector() {
    let ca = TestCa::new();
    for protocol in PROTOCOLS {
        // The system's roots do not include the test CA: the spans are lost, and counted (or,
        // on a system without any root certificate, setting up fails).
        let receiver = tls_receiver(protocol, &ca);
        let config = receiver.config();
        match with_env(&[], || config.install()) {
            Ok(otel) => {
                let stats = with_env(&[], || run_through(otel));
                assert_eq!(stats.exported_spans, 0, "{protocol}: {stats:?}");
                assert_eq!(stats.failed_spans, 2, "{protocol}: {stats:?}");
            }
            Err(error) => assert!(matches!(error, OtlpError::Tls(_)), "{error:?}"),
        }
        assert!(receiver.spans().is_empty());

        // The system's roots are the test CA: now it verifies.
        let receiver = tls_receiver(protocol, &ca);
        let config = receiver.config();
        let stats = with_system_roots(ca.ca_file(), || {
            run_through(config.install().expect("set up"))
        });
        assert_eq!(stats.exported_spans, 2, "{protocol}: {stats:?}");
        assert_received(&receiver);
    }
}

#[test]
fn no_root_certificate_for_an_https_collector_is_an_error_when_setting_up() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    for protocol in PROTOCOLS {
        let error = with_system_roots(&empty, || {
            OtlpConfig::new(protocol)
                .with_endpoint("https://127.0.0.1:1")
                .install()
                .unwrap_err()
        });
        assert!(matches!(error, OtlpError::Tls(_)), "{protocol}: {error:?}");
        assert!(
            error.to_string().contains("OTEL_EXPORTER_OTLP_CERTIFICATE"),
            "says what to do: {error}"
        );
        // A plain endpoint needs none.
        let otel = with_system_roots(&empty, || {
            OtlpConfig::new(protocol)
                .with_endpoint("http://127.0.0.1:1")
                .install()
        });
        assert!(otel.is_ok(), "{protocol}: {otel:?}");
    }
}

#[test]
fn a_certificate_the_collector_does_not_chain_to_loses_the_spans_and_counts_them() {
    let ca = TestCa::new();
    let other = TestCa::new();
    for protocol in PROTOCOLS {
        let receiver = tls_receiver(protocol, &ca);
        let config = receiver
            .config()
            .with_certificate(other.ca_file())
            .with_shutdown_timeout(Duration::from_secs(30));
        let stats = with_env(&[], || run_through(config.install().expect("set up")));
        assert_eq!(stats.exported_spans, 0, "{protocol}: {stats:?}");
        assert_eq!(stats.failed_spans, 2, "{protocol}: {stats:?}");
        assert_eq!(stats.failed_exports, 1, "{protocol}: {stats:?}");
        assert!(receiver.spans().is_empty());
    }
}

#[test]
fn a_certificate_file_that_cannot_be_used_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let truncated = dir.path().join("truncated.pem");
    std::fs::write(
        &truncated,
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    for protocol in PROTOCOLS {
        for file in [&missing, &garbage, &truncated] {
            // From the code …
            let error = with_env(&[], || {
                OtlpConfig::new(protocol)
                    .with_endpoint("https://127.0.0.1:1")
                    .with_certificate(file)
                    .install()
                    .unwrap_err()
            });
            assert!(
                matches!(&error, OtlpError::Certificate { path, .. } if path == file),
                "{protocol} {}: {error:?}",
                file.display()
            );
            assert!(
                error.to_string().contains(&*file.to_string_lossy()),
                "{error}"
            );
            // … and from the variable, for a plain `http://` endpoint too.
            let error = with_env(
                &[
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.as_str()),
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1"),
                    ("OTEL_EXPORTER_OTLP_CERTIFICATE", file.to_str().unwrap()),
                ],
                || otlp_from_env().unwrap_err(),
            );
            assert!(
                matches!(&error, OtlpError::Certificate { path, .. } if path == file),
                "{protocol} {}: {error:?}",
                file.display()
            );
        }
    }
}

#[test]
fn a_compression_this_crate_cannot_use_is_an_error_naming_the_variable() {
    for protocol in PROTOCOLS {
        for (name, value) in [
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zstd"),
        ] {
            let error = with_env(
                &[
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.as_str()),
                    (name, value),
                ],
                || otlp_from_env().unwrap_err(),
            );
            assert!(
                matches!(&error, OtlpError::InvalidVariable { name: n, value: v, .. } if n == name && v == value),
                "{protocol}: {error:?}"
            );
            assert!(error.to_string().contains("gzip"), "{error}");
        }
    }
    assert_eq!(
        " GZIP ".parse::<OtlpCompression>().unwrap(),
        OtlpCompression::Gzip
    );
    assert_eq!(
        "none".parse::<OtlpCompression>().unwrap(),
        OtlpCompression::None
    );
}
