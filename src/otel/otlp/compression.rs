//! [`OtlpCompression`]: whether export requests are gzip-compressed, from the code or from
//! `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION` / `OTEL_EXPORTER_OTLP_COMPRESSION`.
//!
//! `opentelemetry-otlp` reads these variables too, but ignores a value it does not know (and
//! one whose codec is not compiled in) with nothing but an internal log line; this crate reads
//! them first, so that a wrong value is an error, and hands the result to the exporter builder.

use super::env;
use super::OtlpError;

pub(super) const TRACES_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION";
pub(super) const COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";

/// How export requests are compressed: `none` or `gzip` (the values of
/// `OTEL_EXPORTER_OTLP_COMPRESSION`). Both transports support both.
#[cfg_attr(docsrs, doc(cfg(any(feature = "otlp-grpc", feature = "otlp-http"))))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum OtlpCompression {
    /// Uncompressed requests (the default).
    #[default]
    None,
    /// gzip: the request body (HTTP, `Content-Encoding: gzip`) or each gRPC message
    /// (`grpc-encoding: gzip`).
    Gzip,
}

impl OtlpCompression {
    /// The name used in `OTEL_EXPORTER_OTLP_COMPRESSION`: `none` or `gzip`.
    pub const fn as_str(self) -> &'static str {
        match self {
            OtlpCompression::None => "none",
            OtlpCompression::Gzip => "gzip",
        }
    }

    /// The codec for `opentelemetry-otlp`, if any.
    pub(super) fn codec(self) -> Option<opentelemetry_otlp::Compression> {
        match self {
            OtlpCompression::None => None,
            OtlpCompression::Gzip => Some(opentelemetry_otlp::Compression::Gzip),
        }
    }

    /// The compression the code set, else the one the variables name, else `None`.
    pub(super) fn resolve(configured: Option<Self>) -> Result<Self, OtlpError> {
        if let Some(compression) = configured {
            return Ok(compression);
        }
        match env::first_set(&[TRACES_COMPRESSION, COMPRESSION])? {
            None => Ok(OtlpCompression::None),
            Some((name, value)) => value
                .parse()
                .map_err(|e: OtlpError| env::invalid(name, value, e.to_string())),
        }
    }
}

named_in_variable! {
    /// `none` or `gzip`, in any case. `zstd`, which the specification allows, is not
    /// supported by this crate and is an error, like any other value.
    OtlpCompression [None, Gzip] else InvalidCompression
}
