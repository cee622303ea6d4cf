//! [`OtlpConfig`]: where and how to send spans, from the standard `OTEL_*` variables.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::OtlpError;

/// The OTLP transport: gRPC or HTTP with protobuf bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// OTLP over gRPC (tonic), by default to `http://localhost:4317`.
    Grpc,
    /// OTLP over HTTP/1.1 with protobuf bodies, by default to `http://localhost:4318/v1/traces`.
    /// The default protocol, as the OpenTelemetry specification asks.
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
}

impl fmt::Display for OtlpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for OtlpProtocol {
    type Err = OtlpError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "grpc" => Ok(OtlpProtocol::Grpc),
            "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
            other => Err(OtlpError::InvalidProtocol(other.to_owned())),
        }
    }
}

const TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
const PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
const TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
const RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";

/// How [`OtlpConfig::install`] sets up span export over OTLP.
///
/// [`from_env`](Self::from_env) reads the standard variables; the `with_*` methods override
/// them:
///
/// | variable | what it sets |
/// |---|---|
/// | `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL` | `grpc` or `http/protobuf` (the default); anything else is an error |
/// | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | the URL spans are sent to, as is |
/// | `OTEL_EXPORTER_OTLP_ENDPOINT` | the collector's base URL: `/v1/traces` is appended for HTTP |
/// | `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, else `OTEL_EXPORTER_OTLP_TIMEOUT` | milliseconds one export may take (default 10 000) |
/// | `OTEL_SERVICE_NAME` | the `service.name` resource attribute (default: a `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, else `unknown_service:<executable>`) |
/// | `OTEL_RESOURCE_ATTRIBUTES` | more resource attributes, `key=value,key=value` (values percent-decoded) |
///
/// Headers, compression, TLS (`OTEL_EXPORTER_OTLP_HEADERS`, `…_COMPRESSION`, `…_INSECURE`,
/// `…_CERTIFICATE`, and their `TRACES_` forms) and the batch processor's `OTEL_BSP_*` are read
/// by `opentelemetry-otlp` and `opentelemetry_sdk` themselves. A variable set to an empty
/// string counts as unset.
///
/// ```
/// use tracing_etl::{OtlpConfig, OtlpProtocol};
///
/// let config = OtlpConfig::from_vars([
///     ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
///     ("OTEL_SERVICE_NAME", "daily-sales"),
/// ])?;
/// assert_eq!(config.protocol(), OtlpProtocol::HttpProtobuf);
/// assert_eq!(config.endpoint().as_deref(), Some("http://collector:4318/v1/traces"));
/// assert_eq!(config.service_name(), "daily-sales");
/// # Ok::<(), tracing_etl::OtlpError>(())
/// ```
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    pub(super) protocol: OtlpProtocol,
    /// Set by a variable or `with_endpoint`.
    pub(super) endpoint: Option<String>,
    /// Endpoint from `OTEL_EXPORTER_OTLP_ENDPOINT`, joined once the protocol is final.
    base_endpoint: Option<String>,
    pub(super) timeout: Option<Duration>,
    service_name: Option<String>,
    pub(super) resource_attributes: Vec<(String, String)>,
    pub(super) shutdown_timeout: Duration,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig::new(OtlpProtocol::HttpProtobuf)
    }
}

impl OtlpConfig {
    /// A configuration that reads no variable: `protocol` to its default endpoint.
    pub fn new(protocol: OtlpProtocol) -> Self {
        OtlpConfig {
            protocol,
            endpoint: None,
            base_endpoint: None,
            timeout: None,
            service_name: None,
            resource_attributes: Vec::new(),
            shutdown_timeout: Duration::from_secs(5),
        }
    }

    /// The configuration the process's `OTEL_*` variables describe (see the table above).
    pub fn from_env() -> Result<Self, OtlpError> {
        let vars = std::env::vars_os()
            .filter(|(name, _)| name.to_str().is_some_and(|n| n.starts_with("OTEL_")))
            .map(|(name, value)| {
                let name = name.to_string_lossy().into_owned();
                match value.into_string() {
                    Ok(value) => Ok((name, value)),
                    Err(_) => Err(OtlpError::InvalidVariable {
                        name,
                        value: String::new(),
                        reason: "not valid UTF-8".to_owned(),
                    }),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_vars(vars)
    }

    /// The configuration these variables describe, as [`from_env`](Self::from_env) reads them
    /// from the environment. Variables not named above are ignored.
    pub fn from_vars<I, K, V>(vars: I) -> Result<Self, OtlpError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut get = std::collections::HashMap::new();
        for (name, value) in vars {
            let value = value.as_ref().trim();
            if !value.is_empty() {
                get.insert(name.as_ref().to_owned(), value.to_owned());
            }
        }
        let var = |name: &str| get.get(name).map(String::as_str);

        let protocol = match var(TRACES_PROTOCOL)
            .map(|v| (TRACES_PROTOCOL, v))
            .or_else(|| var(PROTOCOL).map(|v| (PROTOCOL, v)))
        {
            None => OtlpProtocol::HttpProtobuf,
            Some((name, value)) => value.parse().map_err(|_| OtlpError::InvalidVariable {
                name: name.to_owned(),
                value: value.to_owned(),
                reason: "expected `grpc` or `http/protobuf`".to_owned(),
            })?,
        };
        let mut config = OtlpConfig::new(protocol);
        config.endpoint = var(TRACES_ENDPOINT).map(str::to_owned);
        if config.endpoint.is_none() {
            config.base_endpoint = var(ENDPOINT).map(str::to_owned);
        }
        if let Some((name, value)) = var(TRACES_TIMEOUT)
            .map(|v| (TRACES_TIMEOUT, v))
            .or_else(|| var(TIMEOUT).map(|v| (TIMEOUT, v)))
        {
            let ms: u64 = value.parse().map_err(|_| OtlpError::InvalidVariable {
                name: name.to_owned(),
                value: value.to_owned(),
                reason: "expected a whole number of milliseconds".to_owned(),
            })?;
            config.timeout = Some(Duration::from_millis(ms));
        }
        if let Some(attributes) = var(RESOURCE_ATTRIBUTES) {
            config.resource_attributes = parse_resource_attributes(attributes)?;
        }
        config.service_name = var(SERVICE_NAME).map(str::to_owned);
        Ok(config)
    }

    /// Sends to `endpoint`, used as is (for HTTP, the full URL, usually ending in
    /// `/v1/traces`).
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self.base_endpoint = None;
        self
    }

    /// Uses `protocol`.
    pub fn with_protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// How long one export may take (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The `service.name` resource attribute.
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Adds a resource attribute (a later one with the same key wins).
    pub fn with_resource_attribute(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.resource_attributes.push((key.into(), value.into()));
        self
    }

    /// How long dropping the [`OtlpGuard`](super::OtlpGuard) waits for the last spans to be
    /// exported (default 5 s). Spans still unexported then are lost, and counted.
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The transport.
    pub fn protocol(&self) -> OtlpProtocol {
        self.protocol
    }

    /// The URL spans go to, if a variable or [`with_endpoint`](Self::with_endpoint) set it
    /// (else `opentelemetry-otlp`'s default for the protocol: `http://localhost:4317` or
    /// `http://localhost:4318/v1/traces`).
    pub fn endpoint(&self) -> Option<String> {
        if let Some(endpoint) = &self.endpoint {
            return Some(endpoint.clone());
        }
        let base = self.base_endpoint.as_deref()?;
        Some(match self.protocol {
            OtlpProtocol::Grpc => base.to_owned(),
            OtlpProtocol::HttpProtobuf => format!("{}/v1/traces", base.trim_end_matches('/')),
        })
    }

    /// How long one export may take, if set (else 10 s, or what `opentelemetry-otlp` reads).
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The `service.name` spans are reported under.
    pub fn service_name(&self) -> String {
        if let Some(name) = &self.service_name {
            return name.clone();
        }
        if let Some((_, name)) = self
            .resource_attributes
            .iter()
            .rev()
            .find(|(key, _)| key == "service.name")
        {
            return name.clone();
        }
        let exe = std::env::current_exe().ok();
        match exe
            .as_deref()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
        {
            Some(name) => format!("unknown_service:{name}"),
            None => "unknown_service".to_owned(),
        }
    }
}

/// `key=value,key=value`, values percent-decoded, as the specification defines it. A bad entry
/// makes the whole variable an error (the specification says to discard it; an error says why).
fn parse_resource_attributes(text: &str) -> Result<Vec<(String, String)>, OtlpError> {
    let invalid = |reason: &str| OtlpError::InvalidVariable {
        name: RESOURCE_ATTRIBUTES.to_owned(),
        value: text.to_owned(),
        reason: reason.to_owned(),
    };
    let mut attributes = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (key, value) = entry
            .split_once('=')
            .ok_or_else(|| invalid("expected key=value pairs separated by commas"))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(invalid("an attribute has an empty key"));
        }
        let value = percent_decode(value.trim()).ok_or_else(|| invalid("bad percent-encoding"))?;
        attributes.push((key.to_owned(), value));
    }
    Ok(attributes)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_attributes_are_split_and_decoded() {
        let attributes = parse_resource_attributes("a=1, b = x%2Cy ,c=%E2%9C%93").unwrap();
        assert_eq!(
            attributes,
            [
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "x,y".to_owned()),
                ("c".to_owned(), "✓".to_owned())
            ]
        );
        assert!(parse_resource_attributes("a=1,nonsense").is_err());
        assert!(parse_resource_attributes("a=%zz").is_err());
    }
}
