//! The HTTP client of the HTTP/protobuf exporter: `reqwest`'s blocking client with this
//! crate's TLS configuration, which notes why a request could not be sent.
//!
//! `opentelemetry-otlp` replaces any error of its HTTP client with "network error"; the cause
//! (a refused connection, a certificate that does not verify, …) is kept here so that the
//! report of a failed export can say it.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

use super::exporter::Counters;
use super::tls::{self, TrustedCertificates};
use super::OtlpError;

/// `reqwest`'s blocking client, noting its errors in the export's counters.
#[derive(Debug)]
pub(super) struct ReportingHttpClient {
    inner: reqwest::blocking::Client,
    counters: Arc<Counters>,
}

impl ReportingHttpClient {
    /// A client whose requests time out after `timeout`, verifying an `https://` collector
    /// against `trusted`, else the system's roots. Must not be called inside a Tokio runtime.
    pub(super) fn new(
        timeout: Duration,
        trusted: Option<&TrustedCertificates>,
        https: bool,
        counters: Arc<Counters>,
    ) -> Result<Self, OtlpError> {
        let inner = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .tls_backend_preconfigured(tls::http_config(trusted, https)?)
            .build()
            .map_err(|e| OtlpError::Tls(format!("cannot build the HTTP client: {e}")))?;
        Ok(ReportingHttpClient { inner, counters })
    }
}

#[async_trait::async_trait]
impl HttpClient for ReportingHttpClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        self.inner.send_bytes(request).await.map_err(|error| {
            self.counters.note_cause(error_chain(&*error));
            error
        })
    }
}

/// `error` and its sources, `: `-separated, each told once.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        let text = error.to_string();
        if !parts.iter().any(|seen| seen.contains(&text)) {
            parts.push(text);
        }
        next = error.source();
    }
    parts.join(": ")
}
