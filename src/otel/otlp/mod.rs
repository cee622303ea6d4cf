//! A ready OTLP span export for `main` (feature `otlp`): [`otlp_from_env`] / [`OtlpConfig`]
//! build the `opentelemetry-otlp` exporter, a batch span processor and a tracer provider, and
//! return the [`OtlpGuard`] that flushes and shuts them down on drop.
//!
//! The batch processor of `opentelemetry_sdk` 0.33 exports on a thread of its own, polling the
//! exporter's future with a plain executor. The gRPC (tonic) exporter needs a Tokio runtime —
//! its channel spawns a connection task when it is built and relies on Tokio's I/O and timers —
//! so for gRPC the guard owns a small runtime (one worker thread) that the exporter is built in
//! and that every export is polled in; it is independent of any runtime the program runs. The
//! HTTP exporter uses `reqwest`'s blocking client, which must not run inside a runtime and
//! needs none.

mod config;
mod exporter;

pub use config::{OtlpConfig, OtlpProtocol};

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::resource::{Resource, TelemetryResourceDetector};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};

use self::exporter::{Counters, ReportingExporter};

/// What went wrong setting up or shutting down OTLP export.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtlpError {
    /// An `OTEL_*` variable has a value this crate cannot use.
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
    /// The runtime or thread the exporter needs could not be started.
    #[error("cannot start the OTLP exporter's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// `opentelemetry-otlp` refused the configuration (an invalid endpoint, say).
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
    /// Shutting the tracer provider down failed (timed out, typically).
    #[error("OTLP export did not shut down cleanly: {0}")]
    Shutdown(String),
}

/// Counters of an OTLP export, read with [`OtlpGuard::stats`].
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
    pub fn install(self) -> Result<OtlpGuard, OtlpError> {
        let runtime = match self.protocol {
            OtlpProtocol::Grpc => Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("tracing-etl-otlp")
                    .enable_all()
                    // The exporter's own `tracing` events (tonic, hyper, h2) must not be traced
                    // by the program's subscriber (and exported, and traced …).
                    .on_thread_start(exporter::silence_thread)
                    .build()
                    .map_err(OtlpError::Runtime)?,
            ),
            OtlpProtocol::HttpProtobuf => None,
        };
        let endpoint = self.endpoint();
        // Built on a thread of its own: inside our runtime for gRPC, and never inside a
        // runtime the caller may be running (the blocking HTTP client forbids it).
        let inner = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let _entered = runtime.as_ref().map(|rt| rt.enter());
                    exporter::build(&self, endpoint.as_deref())
                })
                .join()
        })
        .map_err(|_| OtlpError::Exporter("building the exporter panicked".to_owned()))??;

        let counters = Arc::new(Counters::default());
        let destination = format!(
            "{} ({})",
            endpoint.as_deref().unwrap_or("the default endpoint"),
            self.protocol
        );
        let exporter = ReportingExporter::new(
            inner,
            runtime.as_ref().map(|rt| rt.handle().clone()),
            counters.clone(),
            destination.clone(),
        );
        let provider = SdkTracerProvider::builder()
            .with_resource(self.resource())
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

    fn resource(&self) -> Resource {
        Resource::builder_empty()
            .with_detector(Box::new(TelemetryResourceDetector))
            .with_attributes(
                self.resource_attributes
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            )
            .with_service_name(self.service_name())
            .build()
    }
}

/// Owns the OTLP tracer provider (and, for gRPC, the runtime its exporter runs on); dropping it
/// exports the spans still queued and shuts export down.
///
/// Hold it in `main` next to the [`WriterGuard`](crate::WriterGuard), for as long as the
/// program runs pipelines. Dropping waits at most the configured shutdown timeout (5 s by
/// default); if export failed or timed out, a single line on stderr says so.
#[must_use = "dropping the guard shuts OTLP export down: hold it for as long as the program runs"]
pub struct OtlpGuard {
    provider: SdkTracerProvider,
    closed: bool,
    runtime: Option<tokio::runtime::Runtime>,
    counters: Arc<Counters>,
    destination: String,
    shutdown_timeout: Duration,
}

impl fmt::Debug for OtlpGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpGuard")
            .field("destination", &self.destination)
            .field("stats", &self.stats())
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

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
        if let Some(runtime) = self.runtime.take() {
            // Never blocks, so the guard may be dropped anywhere, even inside a runtime.
            runtime.shutdown_background();
        }
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
