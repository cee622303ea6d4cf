//! A ready OTLP span export for `main` (features `otlp-grpc` and `otlp-http`, both in `otlp`):
//! [`otlp_from_env`] / [`OtlpConfig`] build the `opentelemetry-otlp` exporter, a batch span
//! processor and a tracer provider, and return the [`OtlpGuard`] that flushes and shuts them
//! down on drop.
//!
//! This crate picks the transport (from `OTEL_EXPORTER_OTLP_PROTOCOL` or the code), the
//! compression and the TLS configuration (rustls, the system's roots or
//! `OTEL_EXPORTER_OTLP_CERTIFICATE`), and applies the code's overrides; the exporter builders
//! of `opentelemetry-otlp` and the resource detectors of `opentelemetry_sdk` read every other
//! `OTEL_*` variable themselves.
//!
//! The batch processor of `opentelemetry_sdk` 0.33 exports on a thread of its own, polling the
//! exporter's future with a plain executor. The gRPC (tonic) exporter needs a Tokio runtime —
//! its channel spawns a connection task when it is built and relies on Tokio's I/O and timers —
//! so for gRPC the guard owns a small runtime (one worker thread) that the exporter is built in
//! and that every export is polled in; it is independent of any runtime the program runs. The
//! HTTP exporter uses `reqwest`'s blocking client, which must not run inside a runtime and
//! needs none.

#[macro_use]
mod env;

mod compression;
mod config;
mod exporter;
#[cfg(feature = "otlp-http")]
mod http_client;
mod resource;
mod tls;

pub use compression::OtlpCompression;
pub use config::{OtlpConfig, OtlpProtocol};

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};

use self::exporter::{Counters, ExportRuntime, ReportingExporter};

/// What went wrong setting up or shutting down OTLP export.
#[cfg_attr(docsrs, doc(cfg(any(feature = "otlp-grpc", feature = "otlp-http"))))]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtlpError {
    /// An `OTEL_EXPORTER_OTLP_*` variable this crate reads (protocol, compression,
    /// certificate) has a value it does not accept (or one that is not UTF-8).
    #[error("{name}={value:?}: {reason}")]
    InvalidVariable {
        /// The variable.
        name: String,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A protocol name other than `grpc` and `http/protobuf`.
    #[error("unsupported OTLP protocol {0:?}: expected `grpc` or `http/protobuf`")]
    InvalidProtocol(String),
    /// The protocol asked for (by a variable or the code) is not compiled in.
    #[error(
        "OTLP over {protocol} needs the `{feature}` feature of tracing-etl, which is not enabled"
    )]
    ProtocolNotEnabled {
        /// The protocol asked for.
        protocol: OtlpProtocol,
        /// The feature that provides it.
        feature: &'static str,
    },
    /// A compression name other than `none` and `gzip`.
    #[error("unsupported OTLP compression {0:?}: expected `gzip` or `none`")]
    InvalidCompression(String),
    /// The trusted certificate file (`OTEL_EXPORTER_OTLP_CERTIFICATE`, say) cannot be read or
    /// holds no usable certificate.
    #[error("cannot use the OTLP CA certificate file {}: {reason}", path.display())]
    Certificate {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// TLS cannot be set up: no system root certificate to verify an `https://` collector
    /// with, typically.
    #[error("cannot set up TLS for OTLP export: {0}")]
    Tls(String),
    /// The runtime or thread the exporter needs could not be started.
    #[error("cannot start the OTLP exporter's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// `opentelemetry-otlp` refused the configuration (an invalid endpoint, say, in the code
    /// or in the variable the message names).
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
    /// Shutting the tracer provider down failed (timed out, typically).
    #[error("OTLP export did not shut down cleanly: {0}")]
    Shutdown(String),
}

/// Counters of an OTLP export, read with [`OtlpGuard::stats`].
#[cfg_attr(docsrs, doc(cfg(any(feature = "otlp-grpc", feature = "otlp-http"))))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtlpStats {
    /// Spans the collector accepted.
    pub exported_spans: u64,
    /// Spans in exports that failed (lost).
    pub failed_spans: u64,
    /// Exports (batches) that failed.
    pub failed_exports: u64,
}

/// Sets up OTLP span export as the standard `OTEL_*` variables say
/// (`OtlpConfig::from_env()?.install()`; see [`OtlpConfig`] for the variables).
///
/// ```no_run
/// use tracing_etl::{ExecutionRecordsLayer, SqliteStore};
/// use tracing_subscriber::prelude::*;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let otel = tracing_etl::otlp_from_env()?; // flushes and shuts down on drop
/// let (records, _guard) = ExecutionRecordsLayer::builder()
///     .with_tracer_provider(otel.tracer_provider())
///     .build(SqliteStore::open("tracing-etl.db")?);
/// tracing_subscriber::registry().with(records).init();
/// // … run the pipeline …
/// # Ok(())
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(any(feature = "otlp-grpc", feature = "otlp-http"))))]
pub fn otlp_from_env() -> Result<OtlpGuard, OtlpError> {
    OtlpConfig::from_env()?.install()
}

impl OtlpConfig {
    /// Builds the OTLP exporter and a tracer provider that exports through a batch span
    /// processor, and returns the guard that owns them.
    ///
    /// Spans are exported from a background thread, so a slow or unreachable collector never
    /// holds up the program; the first failed export is reported on stderr (once), and lost
    /// spans are counted in [`OtlpGuard::stats`]. Nothing is sent until spans end: an endpoint
    /// nobody listens on is not an error here.
    ///
    /// What the configuration leaves unset is read from the `OTEL_*` variables by
    /// `opentelemetry-otlp` and `opentelemetry_sdk` here (see [`OtlpConfig`]). Fails with
    /// [`OtlpError::ProtocolNotEnabled`] if the protocol's feature is off.
    pub fn install(self) -> Result<OtlpGuard, OtlpError> {
        if !self.protocol.is_enabled() {
            return Err(self.protocol.not_enabled_error());
        }
        let runtime = ExportRuntime::start(self.protocol)?;
        let counters = Arc::new(Counters::default());
        let handle = runtime.handle();
        // Built on a thread of its own: inside our runtime for gRPC, and never inside a
        // runtime the caller may be running (the blocking HTTP client forbids it).
        let inner = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let _entered = handle.enter();
                    exporter::build(&self, &counters)
                })
                .join()
        })
        .map_err(|_| OtlpError::Exporter("building the exporter panicked".to_owned()))??;

        let destination = exporter::destination(&self);
        let exporter = ReportingExporter::new(inner, handle, counters.clone(), destination.clone());
        let provider = SdkTracerProvider::builder()
            .with_resource(resource::build(&self))
            .with_span_processor(BatchSpanProcessor::builder(exporter).build())
            .build();
        Ok(OtlpGuard {
            provider,
            closed: false,
            runtime,
            counters,
            destination,
            shutdown_timeout: self.shutdown_timeout,
        })
    }
}

/// Owns the OTLP tracer provider (and, for gRPC, the runtime its exporter runs on); dropping it
/// exports the spans still queued and shuts export down.
///
/// Hold it in `main` next to the [`WriterGuard`](crate::WriterGuard), for as long as the
/// program runs pipelines. Dropping waits at most the configured shutdown timeout (5 s by
/// default); if export failed or timed out, a single line on stderr says so.
#[cfg_attr(docsrs, doc(cfg(any(feature = "otlp-grpc", feature = "otlp-http"))))]
#[must_use = "dropping the guard shuts OTLP export down: hold it for as long as the program runs"]
pub struct OtlpGuard {
    provider: SdkTracerProvider,
    closed: bool,
    runtime: ExportRuntime,
    counters: Arc<Counters>,
    destination: String,
    shutdown_timeout: Duration,
}

debug_fields!(OtlpGuard { destination, stats(), shutdown_timeout });

impl OtlpGuard {
    /// The tracer provider to give to
    /// [`ExecutionRecordsLayerBuilder::with_tracer_provider`](crate::ExecutionRecordsLayerBuilder::with_tracer_provider)
    /// (or to `tracing-opentelemetry`, or to set as the global provider).
    pub fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.provider
    }

    /// The export's counters now.
    pub fn stats(&self) -> OtlpStats {
        self.counters.snapshot()
    }

    /// Exports every span ended so far, waiting at most 5 s (the batch processor's limit).
    pub fn flush(&self) -> Result<(), OtlpError> {
        self.provider
            .force_flush()
            .map_err(|e| OtlpError::Shutdown(e.to_string()))
    }

    /// Exports the spans still queued and shuts export down; returns the final counters.
    pub fn shutdown(mut self) -> Result<OtlpStats, OtlpError> {
        self.close()
    }

    fn close(&mut self) -> Result<OtlpStats, OtlpError> {
        if std::mem::replace(&mut self.closed, true) {
            return Ok(self.stats());
        }
        let result = self.provider.shutdown_with_timeout(self.shutdown_timeout);
        self.runtime.shutdown();
        match result {
            Ok(()) => Ok(self.stats()),
            Err(e) => {
                let error = OtlpError::Shutdown(e.to_string());
                self.counters
                    .report_once(&self.destination, &error.to_string());
                Err(error)
            }
        }
    }
}

impl Drop for OtlpGuard {
    fn drop(&mut self) {
        // `close` reported any failure already.
        let _ = self.close();
    }
}
