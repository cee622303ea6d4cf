//! TLS for OTLP export (rustls with the *ring* provider, for both transports): the server is
//! verified against the certificates of `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE` /
//! `OTEL_EXPORTER_OTLP_CERTIFICATE` (or [`OtlpConfig::with_certificate`]) when one is given,
//! else against the system's root certificates.
//!
//! `opentelemetry-otlp` reads neither variable, and for an `https://` gRPC endpoint it sets up
//! TLS with no root certificate at all; this crate builds the TLS configuration itself.
//!
//! [`OtlpConfig::with_certificate`]: super::OtlpConfig::with_certificate

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::env;
use super::OtlpError;

pub(super) const TRACES_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE";
pub(super) const CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";

/// The trusted certificates of a PEM file, read and checked when the exporter is built.
#[derive(Debug)]
pub(super) struct TrustedCertificates {
    /// The file's text, as tonic takes it.
    #[cfg_attr(not(feature = "otlp-grpc"), allow(dead_code))]
    pem: Vec<u8>,
    /// Its certificates, as rustls takes them.
    #[cfg_attr(not(feature = "otlp-http"), allow(dead_code))]
    certificates: Vec<CertificateDer<'static>>,
}

impl TrustedCertificates {
    /// The file the code named, else the one the variables name, if any, read and parsed.
    pub(super) fn resolve(configured: Option<&Path>) -> Result<Option<Self>, OtlpError> {
        let path = match configured {
            Some(path) => path.to_owned(),
            None => match env::first_set(&[TRACES_CERTIFICATE, CERTIFICATE])? {
                Some((_, value)) => PathBuf::from(value),
                None => return Ok(None),
            },
        };
        Self::read(&path).map(Some)
    }

    /// Reads the PEM file at `path`: it must hold at least one certificate, and nothing that
    /// fails to parse.
    fn read(path: &Path) -> Result<Self, OtlpError> {
        let error = |reason: String| OtlpError::Certificate {
            path: path.to_owned(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| error(e.to_string()))?;
        let certificates = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| error(format!("not a PEM certificate file: {e}")))?;
        if certificates.is_empty() {
            return Err(error(
                "no certificate in it (expected PEM `BEGIN CERTIFICATE` blocks)".to_owned(),
            ));
        }
        let mut roots = rustls::RootCertStore::empty();
        for certificate in &certificates {
            roots
                .add(certificate.clone())
                .map_err(|e| error(format!("not a usable CA certificate: {e}")))?;
        }
        Ok(TrustedCertificates { pem, certificates })
    }
}

/// The system's root certificates (`rustls-native-certs`: the platform's store, or the files
/// `SSL_CERT_FILE` / `SSL_CERT_DIR` name); none found is an error that says what to do.
fn system_roots() -> Result<Vec<CertificateDer<'static>>, OtlpError> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        let mut reason = format!(
            "no root certificate found on this system to verify the collector with; \
             install the system's CA certificates, or set {CERTIFICATE} to the CA's PEM file"
        );
        if let Some(first) = found.errors.first() {
            reason.push_str(&format!(" ({first})"));
        }
        return Err(OtlpError::Tls(reason));
    }
    Ok(found.certs)
}

/// Whether a gRPC endpoint is reached over TLS: `https://`, or no scheme unless
/// `OTEL_EXPORTER_OTLP_*INSECURE` is `true` (as `opentelemetry-otlp` decides).
#[cfg(feature = "otlp-grpc")]
pub(super) fn grpc_uses_tls(endpoint: &str) -> bool {
    match endpoint.split_once("://") {
        Some((scheme, _)) if !scheme.contains(['/', '?', '#']) => {
            scheme.eq_ignore_ascii_case("https")
        }
        _ => {
            let insecure = std::env::var("OTEL_EXPORTER_OTLP_TRACES_INSECURE")
                .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_INSECURE"))
                .is_ok_and(|v| v.eq_ignore_ascii_case("true"));
            !insecure
        }
    }
}

/// The TLS configuration of the gRPC channel: the trusted certificates if given (used only
/// for a TLS endpoint, but checked in any case), else the system's roots for a TLS endpoint,
/// else none.
#[cfg(feature = "otlp-grpc")]
pub(super) fn grpc_config(
    trusted: Option<&TrustedCertificates>,
    uses_tls: bool,
) -> Result<Option<opentelemetry_otlp::tonic_types::transport::ClientTlsConfig>, OtlpError> {
    use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig};
    match trusted {
        Some(trusted) => Ok(Some(
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&trusted.pem)),
        )),
        None if uses_tls => {
            // Checked here for the error message; tonic loads them again itself.
            system_roots()?;
            Ok(Some(ClientTlsConfig::new().with_native_roots()))
        }
        None => Ok(None),
    }
}

/// The rustls configuration of the HTTP client: the trusted certificates if given, else the
/// system's roots for an `https://` endpoint, else no root (a plain `http://` endpoint never
/// uses it).
#[cfg(feature = "otlp-http")]
pub(super) fn http_config(
    trusted: Option<&TrustedCertificates>,
    https: bool,
) -> Result<rustls::ClientConfig, OtlpError> {
    let certificates = match trusted {
        Some(trusted) => trusted.certificates.clone(),
        None if https => system_roots()?,
        None => Vec::new(),
    };
    let mut roots = rustls::RootCertStore::empty();
    // System stores can hold certificates rustls cannot use; those are skipped.
    roots.add_parsable_certificates(certificates);
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| OtlpError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}
