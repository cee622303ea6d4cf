//! [`OtlpConfig`]: which OTLP transport to use, and the settings the program's code overrides.
//!
//! Compression and the trusted certificate are resolved by this crate when the exporter is
//! built (the `compression` and `tls` modules); everything else — endpoints, timeouts,
//! headers, the resource — is left to `opentelemetry-otlp` and `opentelemetry_sdk`, which read
//! the standard `OTEL_*` variables themselves when the exporter and the resource are built (see
//! [`OtlpConfig::install`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::env;
use super::{OtlpCompression, OtlpError};

/// The OTLP transport: gRPC or HTTP with protobuf bodies.
///
/// Each needs its Cargo feature: `otlp-grpc` for [`Grpc`](Self::Grpc), `otlp-http` for
/// [`HttpProtobuf`](Self::HttpProtobuf) (`otlp` enables both). Both variants always exist, so
/// code that names either compiles with any OTLP feature; installing a transport whose feature
/// is off is an [`OtlpError::ProtocolNotEnabled`] that names the feature.
#[cfg_attr(docsrs, doc(cfg(any(feature = "otlp-grpc", feature = "otlp-http"))))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// OTLP over gRPC (tonic), by default to `http://localhost:4317`. Needs feature
    /// `otlp-grpc`.
    Grpc,
    /// OTLP over HTTP/1.1 with protobuf bodies, by default to `http://localhost:4318/v1/traces`.
    /// Needs feature `otlp-http`. The default protocol when that feature is on, as the
    /// OpenTelemetry specification asks.
    HttpProtobuf,
}

impl OtlpProtocol {
    /// The name used in `OTEL_EXPORTER_OTLP_PROTOCOL`: `grpc` or `http/protobuf`.
    pub const fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::HttpProtobuf => "http/protobuf",
        }
    }

    /// The Cargo feature of this crate that provides the transport: `otlp-grpc` or
    /// `otlp-http`.
    pub const fn feature(self) -> &'static str {
        match self {
            OtlpProtocol::Grpc => "otlp-grpc",
            OtlpProtocol::HttpProtobuf => "otlp-http",
        }
    }

    /// Whether this build of the crate has the transport (its [`feature`](Self::feature) is
    /// on).
    pub const fn is_enabled(self) -> bool {
        match self {
            OtlpProtocol::Grpc => cfg!(feature = "otlp-grpc"),
            OtlpProtocol::HttpProtobuf => cfg!(feature = "otlp-http"),
        }
    }

    /// `http/protobuf` when `otlp-http` is on (the specification's default), else `grpc`.
    pub const fn default_enabled() -> Self {
        if cfg!(feature = "otlp-http") {
            OtlpProtocol::HttpProtobuf
        } else {
            OtlpProtocol::Grpc
        }
    }

    /// The error that says the transport is not compiled in, naming its feature.
    pub(super) fn not_enabled_error(self) -> OtlpError {
        OtlpError::ProtocolNotEnabled {
            protocol: self,
            feature: self.feature(),
        }
    }
}

named_in_variable! {
    /// `grpc` or `http/protobuf`, in any case (as `opentelemetry-otlp` reads them). A protocol
    /// whose feature is off still parses: installing it is the error.
    OtlpProtocol [Grpc, HttpProtobuf] else InvalidProtocol
}

pub(super) const TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
pub(super) const PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";

/// How [`OtlpConfig::install`] sets up span export over OTLP.
///
/// This crate reads the transport, the compression and the trusted certificate; the
/// OpenTelemetry crates read every other standard variable themselves when `install` builds the
/// exporter and the resource. The `with_*` methods override the variables.
///
/// | variable | read by | what it sets |
/// |---|---|---|
/// | `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL` | this crate ([`from_env`](Self::from_env)) | `grpc` or `http/protobuf` (default: `http/protobuf` if feature `otlp-http` is on, else `grpc`); anything else is an error, and so is a protocol whose feature is off |
/// | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | `opentelemetry-otlp` | the URL spans are sent to, as is |
/// | `OTEL_EXPORTER_OTLP_ENDPOINT` | `opentelemetry-otlp` | the collector's base URL: `/v1/traces` is appended for HTTP, nothing for gRPC (default `http://localhost:4318` / `http://localhost:4317`) |
/// | `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, else `OTEL_EXPORTER_OTLP_TIMEOUT` | `opentelemetry-otlp` | milliseconds one export may take (default 10 000; a value that is not a number is ignored) |
/// | `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, else `OTEL_EXPORTER_OTLP_HEADERS` | `opentelemetry-otlp` | `key=value,…` request headers (gRPC metadata), values percent-decoded |
/// | `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION`, else `OTEL_EXPORTER_OTLP_COMPRESSION` | this crate ([`install`](Self::install)) | `gzip` or `none` (the default), any case; anything else (`zstd` included) is an [`OtlpError::InvalidVariable`] |
/// | `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE`, else `OTEL_EXPORTER_OTLP_CERTIFICATE` | this crate ([`install`](Self::install)) | a PEM file of the certificates (a private CA) that verify a TLS collector, instead of the system's roots; a file that cannot be read or holds no certificate is an [`OtlpError::Certificate`] |
/// | `OTEL_EXPORTER_OTLP_TRACES_INSECURE`, else `OTEL_EXPORTER_OTLP_INSECURE` | `opentelemetry-otlp` | gRPC only: `true` makes an endpoint without a scheme `http://` (else `https://`) |
/// | `OTEL_SERVICE_NAME` | `opentelemetry_sdk` (and this crate, see below) | the `service.name` resource attribute |
/// | `OTEL_RESOURCE_ATTRIBUTES` | `opentelemetry_sdk` (values decoded by this crate) | more resource attributes, `key=value,key=value`; `service.name` here applies when `OTEL_SERVICE_NAME` is unset (default `unknown_service:<executable>`) |
/// | `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` | `opentelemetry_sdk` | the batch span processor's queue (2048 spans), delay (5000 ms) and batch size (512) |
/// | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | `opentelemetry_sdk` | which entity spans are sampled, so exported (default: all) |
/// | `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, `OTEL_SPAN_EVENT_COUNT_LIMIT`, `OTEL_SPAN_LINK_COUNT_LIMIT` | `opentelemetry_sdk` | limits per span (default 128 each) |
///
/// A variable set to an empty string counts as unset. Two corrections are made to what
/// `opentelemetry_sdk` 0.33's `Resource::builder()` does, as the specification asks: values in
/// `OTEL_RESOURCE_ATTRIBUTES` are percent-decoded (the SDK keeps `%2C` as is, so a value could
/// not hold a comma), and `OTEL_SERVICE_NAME` wins over a `service.name` in
/// `OTEL_RESOURCE_ATTRIBUTES` (the SDK's detector for that variable runs last and would
/// override it).
///
/// ```
/// use std::time::Duration;
/// use tracing_etl::{otel::{OtlpConfig, OtlpProtocol}};
///
/// // The transport from OTEL_EXPORTER_OTLP_PROTOCOL, the rest from the variables too, except
/// // for what the code sets.
/// let config = OtlpConfig::from_env()?
///     .with_service_name("daily-sales")
///     .with_timeout(Duration::from_secs(3));
/// assert_eq!(config.service_name(), Some("daily-sales"));
/// # Ok::<(), tracing_etl::otel::OtlpError>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(any(feature = "otlp-grpc", feature = "otlp-http"))))]
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    pub(super) protocol: OtlpProtocol,
    pub(super) endpoint: Option<String>,
    pub(super) timeout: Option<Duration>,
    pub(super) service_name: Option<String>,
    pub(super) resource_attributes: Vec<(String, String)>,
    pub(super) shutdown_timeout: Duration,
    pub(super) compression: Option<OtlpCompression>,
    pub(super) certificate: Option<PathBuf>,
}

impl Default for OtlpConfig {
    /// [`OtlpConfig::new`] with [`OtlpProtocol::default_enabled`].
    fn default() -> Self {
        OtlpConfig::new(OtlpProtocol::default_enabled())
    }
}

impl OtlpConfig {
    /// A configuration for `protocol`, whatever `OTEL_EXPORTER_OTLP_PROTOCOL` says. The
    /// other variables still apply where the `with_*` methods set nothing (see the table
    /// above).
    pub fn new(protocol: OtlpProtocol) -> Self {
        OtlpConfig {
            protocol,
            endpoint: None,
            timeout: None,
            service_name: None,
            resource_attributes: Vec::new(),
            shutdown_timeout: Duration::from_secs(5),
            compression: None,
            certificate: None,
        }
    }

    /// A configuration for the protocol that `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`, names (default
    /// [`OtlpProtocol::default_enabled`]).
    ///
    /// Only the protocol is read here: `opentelemetry-otlp` resolves the transport only when
    /// its builder is left to choose, where an unknown value or one whose transport is not
    /// compiled in silently falls back to another. Reading it here makes either an error
    /// ([`OtlpError::InvalidVariable`] now, [`OtlpError::ProtocolNotEnabled`] from
    /// [`install`](Self::install)), and lets `install` start the runtime gRPC needs.
    pub fn from_env() -> Result<Self, OtlpError> {
        match env::first_set(&[TRACES_PROTOCOL, PROTOCOL])? {
            Some((name, value)) => {
                let protocol = value
                    .parse()
                    .map_err(|_| env::invalid(name, value, "expected `grpc` or `http/protobuf`"))?;
                Ok(OtlpConfig::new(protocol))
            }
            None => Ok(OtlpConfig::default()),
        }
    }

    setters! {
        /// Sends to `endpoint`, used as is (for HTTP, the full URL, usually ending in
        /// `/v1/traces`), whatever `OTEL_EXPORTER_OTLP_*ENDPOINT` say.
        pub fn with_endpoint(endpoint: impl Into<String>) => endpoint = Some(endpoint.into());

        /// Uses `protocol`.
        pub fn with_protocol(protocol: OtlpProtocol) => protocol = protocol;

        /// How long one export may take, whatever `OTEL_EXPORTER_OTLP_*TIMEOUT` say (default
        /// 10 s).
        pub fn with_timeout(timeout: Duration) => timeout = Some(timeout);

        /// The `service.name` resource attribute, whatever `OTEL_SERVICE_NAME` and
        /// `OTEL_RESOURCE_ATTRIBUTES` say.
        pub fn with_service_name(name: impl Into<String>) => service_name = Some(name.into());
    }

    /// Adds a resource attribute, over one of the same key in `OTEL_RESOURCE_ATTRIBUTES` (a
    /// later call with the same key wins; [`with_service_name`](Self::with_service_name) wins
    /// over a `service.name` given here).
    pub fn with_resource_attribute(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.resource_attributes.push((key.into(), value.into()));
        self
    }

    setters! {
        /// How long dropping the [`OtlpGuard`](super::OtlpGuard) waits for the last spans to be
        /// exported (default 5 s). Spans still unexported then are lost, and counted.
        pub fn with_shutdown_timeout(timeout: Duration) => shutdown_timeout = timeout;

        /// Compresses export requests with `compression`, whatever
        /// `OTEL_EXPORTER_OTLP_*COMPRESSION` say (default: none).
        pub fn with_compression(compression: OtlpCompression) => compression = Some(compression);

        /// Verifies the collector's TLS certificate against the certificates of the PEM file at
        /// `path` (a private CA, say) instead of the system's root certificates, whatever
        /// `OTEL_EXPORTER_OTLP_*CERTIFICATE` say. The file is read by
        /// [`install`](Self::install): one that cannot be read, or that holds no certificate, is
        /// an [`OtlpError::Certificate`] there.
        pub fn with_certificate(path: impl Into<PathBuf>) => certificate = Some(path.into());
    }

    /// The transport.
    pub fn protocol(&self) -> OtlpProtocol {
        self.protocol
    }

    /// The endpoint [`with_endpoint`](Self::with_endpoint) set, if any (else
    /// `opentelemetry-otlp` takes it from the variables, or its default for the protocol).
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// The timeout [`with_timeout`](Self::with_timeout) set, if any (else
    /// `opentelemetry-otlp` takes it from the variables, or 10 s).
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The compression [`with_compression`](Self::with_compression) set, if any (else the
    /// variables name it, or none).
    pub fn compression(&self) -> Option<OtlpCompression> {
        self.compression
    }

    /// The certificate file [`with_certificate`](Self::with_certificate) set, if any (else the
    /// variables name it, or the system's roots are used).
    pub fn certificate(&self) -> Option<&Path> {
        self.certificate.as_deref()
    }

    /// The name [`with_service_name`](Self::with_service_name) set, if any (else the
    /// variables name the service, or `unknown_service:<executable>`).
    pub fn service_name(&self) -> Option<&str> {
        self.service_name.as_deref()
    }
}
