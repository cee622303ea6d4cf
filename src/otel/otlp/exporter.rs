//! The OTLP exporter as the batch processor drives it: built for the chosen protocol, polled in
//! the guard's runtime (gRPC) with the program's subscriber silenced, its errors reported once
//! and counted.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

use super::{OtlpConfig, OtlpError, OtlpProtocol, OtlpStats};

/// Builds `opentelemetry-otlp`'s exporter for `config` (inside the runtime, for gRPC).
pub(super) fn build(
    config: &OtlpConfig,
    endpoint: Option<&str>,
) -> Result<opentelemetry_otlp::SpanExporter, OtlpError> {
    let builder = opentelemetry_otlp::SpanExporter::builder();
    let result = match config.protocol {
        OtlpProtocol::Grpc => {
            let mut builder = builder.with_tonic().with_protocol(Protocol::Grpc);
            if let Some(endpoint) = endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            if let Some(timeout) = config.timeout {
                builder = builder.with_timeout(timeout);
            }
            builder.build()
        }
        OtlpProtocol::HttpProtobuf => {
            let mut builder = builder.with_http().with_protocol(Protocol::HttpBinary);
            if let Some(endpoint) = endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            if let Some(timeout) = config.timeout {
                builder = builder.with_timeout(timeout);
            }
            builder.build()
        }
    };
    result.map_err(|e| OtlpError::Exporter(e.to_string()))
}

/// Makes the current thread's default subscriber the no-op one, for good: the exporter's
/// threads must not feed their own telemetry back into the program's.
pub(super) fn silence_thread() {
    let guard = tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
    // Kept for the thread's whole life.
    std::mem::forget(guard);
}

/// Counts exports and reports the first failure.
#[derive(Debug, Default)]
pub(super) struct Counters {
    exported_spans: AtomicU64,
    failed_spans: AtomicU64,
    failed_exports: AtomicU64,
    reported: AtomicBool,
}

impl Counters {
    pub(super) fn snapshot(&self) -> OtlpStats {
        OtlpStats {
            exported_spans: self.exported_spans.load(Ordering::Relaxed),
            failed_spans: self.failed_spans.load(Ordering::Relaxed),
            failed_exports: self.failed_exports.load(Ordering::Relaxed),
        }
    }

    /// Prints `error` on stderr if nothing was reported before.
    pub(super) fn report_once(&self, destination: &str, error: &str) {
        if !self.reported.swap(true, Ordering::Relaxed) {
            eprintln!(
                "tracing-etl: cannot export spans over OTLP to {destination}: {error} \
                 (reported once; spans not exported are counted in OtlpGuard::stats)"
            );
        }
    }
}

/// Wraps the OTLP exporter for the batch processor.
#[derive(Debug)]
pub(super) struct ReportingExporter {
    inner: opentelemetry_otlp::SpanExporter,
    runtime: Option<tokio::runtime::Handle>,
    counters: Arc<Counters>,
    destination: String,
}

impl ReportingExporter {
    pub(super) fn new(
        inner: opentelemetry_otlp::SpanExporter,
        runtime: Option<tokio::runtime::Handle>,
        counters: Arc<Counters>,
        destination: String,
    ) -> Self {
        ReportingExporter {
            inner,
            runtime,
            counters,
            destination,
        }
    }
}

impl SpanExporter for ReportingExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let spans = batch.len() as u64;
        let export = InRuntime {
            future: Box::pin(self.inner.export(batch)),
            runtime: self.runtime.clone(),
        };
        async move {
            match export.await {
                Ok(()) => {
                    self.counters
                        .exported_spans
                        .fetch_add(spans, Ordering::Relaxed);
                }
                Err(error) => {
                    self.counters
                        .failed_spans
                        .fetch_add(spans, Ordering::Relaxed);
                    self.counters.failed_exports.fetch_add(1, Ordering::Relaxed);
                    self.counters
                        .report_once(&self.destination, &error.to_string());
                }
            }
            // Reported and counted here; the processor would log every failed batch again.
            Ok(())
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let _entered = self.runtime.as_ref().map(|rt| rt.enter());
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Polls `future` inside `runtime` (when there is one) with no subscriber.
struct InRuntime<'a> {
    future: Pin<Box<dyn Future<Output = OTelSdkResult> + Send + 'a>>,
    runtime: Option<tokio::runtime::Handle>,
}

impl Future for InRuntime<'_> {
    type Output = OTelSdkResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let _entered = this.runtime.as_ref().map(|rt| rt.enter());
        tracing::dispatcher::with_default(&tracing::Dispatch::none(), || {
            this.future.as_mut().poll(cx)
        })
    }
}
