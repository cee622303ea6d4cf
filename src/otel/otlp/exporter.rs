//! The OTLP exporter as the batch processor drives it: built for the chosen protocol, polled in
//! the guard's runtime (gRPC) with the program's subscriber silenced, its errors reported once
//! and counted.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

use super::compression::OtlpCompression;
#[cfg(feature = "otlp-http")]
use super::http_client::ReportingHttpClient;
#[cfg(feature = "otlp-grpc")]
use super::tls;
use super::tls::TrustedCertificates;
use super::{OtlpConfig, OtlpError, OtlpProtocol, OtlpStats};

/// `builder` (of either transport) with the endpoint and timeout `config` sets; left unset,
/// the builder reads them from the `OTEL_EXPORTER_OTLP_*` variables.
#[cfg_attr(
    not(any(feature = "otlp-grpc", feature = "otlp-http")),
    allow(dead_code)
)]
fn with_endpoint_and_timeout<B: WithExportConfig>(builder: B, config: &OtlpConfig) -> B {
    let builder = match &config.endpoint {
        Some(endpoint) => builder.with_endpoint(endpoint),
        None => builder,
    };
    match config.timeout {
        Some(timeout) => builder.with_timeout(timeout),
        None => builder,
    }
}

/// Builds `opentelemetry-otlp`'s exporter for `config` (inside the runtime, for gRPC). What
/// `config` leaves unset the exporter builder reads from the `OTEL_EXPORTER_OTLP_*` variables,
/// except compression and TLS, which this crate resolves (see [`OtlpCompression`] and
/// [`tls`](super::tls)).
pub(super) fn build(
    config: &OtlpConfig,
    counters: &Arc<Counters>,
) -> Result<opentelemetry_otlp::SpanExporter, OtlpError> {
    #[cfg(feature = "otlp-http")]
    let counters = counters.clone();
    #[cfg(not(feature = "otlp-http"))]
    let _ = counters;
    let compression = OtlpCompression::resolve(config.compression)?;
    let trusted = TrustedCertificates::resolve(config.certificate.as_deref())?;
    let builder = opentelemetry_otlp::SpanExporter::builder();
    let result = match config.protocol {
        #[cfg(feature = "otlp-grpc")]
        OtlpProtocol::Grpc => {
            use opentelemetry_otlp::WithTonicConfig;
            let endpoint = endpoint(config).map_or(GRPC_DEFAULT_ENDPOINT.to_owned(), |e| e.0);
            let mut builder = with_endpoint_and_timeout(
                builder
                    .with_tonic()
                    .with_protocol(opentelemetry_otlp::Protocol::Grpc),
                config,
            );
            if let Some(codec) = compression.codec() {
                builder = builder.with_compression(codec);
            }
            if let Some(tls) = tls::grpc_config(trusted.as_ref(), tls::grpc_uses_tls(&endpoint))? {
                builder = builder.with_tls_config(tls);
            }
            builder.build()
        }
        #[cfg(feature = "otlp-http")]
        OtlpProtocol::HttpProtobuf => {
            use opentelemetry_otlp::WithHttpConfig;
            let https = endpoint(config).is_some_and(|(e, _)| {
                e.get(..8)
                    .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
            });
            let client =
                ReportingHttpClient::new(http_timeout(config), trusted.as_ref(), https, counters)?;
            // The protocol set explicitly: left unset, the HTTP builder would take it from
            // `OTEL_EXPORTER_OTLP_PROTOCOL` too (and refuse `grpc`).
            let mut builder = with_endpoint_and_timeout(
                builder
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_http_client(client),
                config,
            );
            if let Some(codec) = compression.codec() {
                builder = builder.with_compression(codec);
            }
            builder.build()
        }
        #[allow(unreachable_patterns)] // with every transport compiled in
        not_enabled => return Err(not_enabled.not_enabled_error()),
    };
    result.map_err(|e| OtlpError::Exporter(e.to_string()))
}

#[cfg(feature = "otlp-grpc")]
const GRPC_DEFAULT_ENDPOINT: &str = "http://localhost:4317";

/// The endpoint the exporter builder picks, and the variable it comes from (`None` for the
/// code's): the code's, else the traces variable's, else the general one's (a base endpoint,
/// to which the HTTP exporter appends `/v1/traces`); `None` for the builder's default.
fn endpoint(config: &OtlpConfig) -> Option<(String, Option<&'static str>)> {
    let from_env = |name: &'static str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .map(|v| (v, Some(name)))
    };
    config
        .endpoint
        .clone()
        .map(|e| (e, None))
        .or_else(|| from_env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        .or_else(|| from_env("OTEL_EXPORTER_OTLP_ENDPOINT"))
}

/// The HTTP client's request timeout, as `opentelemetry-otlp` resolves the export timeout
/// (it gives its own client this timeout, and none to a client it is given): the code's, else
/// `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, else `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds; a
/// value that is not a number is ignored), else 10 s.
#[cfg(feature = "otlp-http")]
fn http_timeout(config: &OtlpConfig) -> Duration {
    let from_env = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis)
    };
    config
        .timeout
        .or_else(|| from_env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"))
        .or_else(|| from_env("OTEL_EXPORTER_OTLP_TIMEOUT"))
        .unwrap_or(Duration::from_secs(10))
}

/// Where spans go, for messages: the endpoint the exporter builder picks and where it comes
/// from, as given (a base endpoint is shown without the `/v1/traces` the HTTP exporter
/// appends).
pub(super) fn destination(config: &OtlpConfig) -> String {
    let endpoint = match endpoint(config) {
        Some((endpoint, Some(name))) => format!("{endpoint} (from {name})"),
        Some((endpoint, None)) => endpoint,
        None => "the default endpoint".to_owned(),
    };
    format!("{endpoint} over {}", config.protocol)
}

/// The Tokio runtime the gRPC exporter is built in and polled in; none for HTTP (whose
/// blocking client must not run inside a runtime, and needs none).
#[derive(Debug)]
pub(super) struct ExportRuntime {
    #[cfg(feature = "otlp-grpc")]
    runtime: Option<tokio::runtime::Runtime>,
}

impl ExportRuntime {
    /// Starts the runtime `protocol` needs.
    pub(super) fn start(protocol: OtlpProtocol) -> Result<Self, OtlpError> {
        #[cfg(feature = "otlp-grpc")]
        {
            let runtime = match protocol {
                OtlpProtocol::Grpc => Some(
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(1)
                        .thread_name("tracing-etl-otlp")
                        .enable_all()
                        // The exporter's own `tracing` events (tonic, hyper, h2) must not be
                        // traced by the program's subscriber (and exported, and traced …).
                        .on_thread_start(silence_thread)
                        .build()
                        .map_err(OtlpError::Runtime)?,
                ),
                _ => None,
            };
            Ok(ExportRuntime { runtime })
        }
        #[cfg(not(feature = "otlp-grpc"))]
        {
            let _ = protocol;
            Ok(ExportRuntime {})
        }
    }

    pub(super) fn handle(&self) -> RuntimeHandle {
        RuntimeHandle {
            #[cfg(feature = "otlp-grpc")]
            handle: self.runtime.as_ref().map(|rt| rt.handle().clone()),
        }
    }

    /// Stops the runtime without waiting, so the guard may be dropped anywhere, even inside a
    /// runtime.
    pub(super) fn shutdown(&mut self) {
        #[cfg(feature = "otlp-grpc")]
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A handle on the [`ExportRuntime`], if there is one.
#[derive(Debug, Clone)]
pub(super) struct RuntimeHandle {
    #[cfg(feature = "otlp-grpc")]
    handle: Option<tokio::runtime::Handle>,
}

impl RuntimeHandle {
    /// Enters the runtime (if any) until the returned guard is dropped.
    pub(super) fn enter(&self) -> impl Sized + '_ {
        #[cfg(feature = "otlp-grpc")]
        {
            self.handle.as_ref().map(|rt| rt.enter())
        }
    }
}

/// Makes the current thread's default subscriber the no-op one, for good: the exporter's
/// threads must not feed their own telemetry back into the program's.
#[cfg(feature = "otlp-grpc")]
fn silence_thread() {
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
    /// Why the last request could not be sent, if the client says more than the exporter.
    cause: Mutex<Option<String>>,
}

impl Counters {
    pub(super) fn snapshot(&self) -> OtlpStats {
        OtlpStats {
            exported_spans: self.exported_spans.load(Ordering::Relaxed),
            failed_spans: self.failed_spans.load(Ordering::Relaxed),
            failed_exports: self.failed_exports.load(Ordering::Relaxed),
        }
    }

    /// Notes why a request could not be sent, for the report of the export that failed.
    #[cfg_attr(not(feature = "otlp-http"), allow(dead_code))]
    pub(super) fn note_cause(&self, cause: String) {
        *self.cause.lock().unwrap_or_else(PoisonError::into_inner) = Some(cause);
    }

    /// The cause noted since the last call, if any.
    fn take_cause(&self) -> Option<String> {
        self.cause
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
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
    runtime: RuntimeHandle,
    counters: Arc<Counters>,
    destination: String,
}

impl ReportingExporter {
    pub(super) fn new(
        inner: opentelemetry_otlp::SpanExporter,
        runtime: RuntimeHandle,
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
                    // A request that failed before a retry succeeded explains nothing later.
                    self.counters.take_cause();
                    self.counters
                        .exported_spans
                        .fetch_add(spans, Ordering::Relaxed);
                }
                Err(error) => {
                    let error = match self.counters.take_cause() {
                        Some(cause) => format!("{error} ({cause})"),
                        None => error.to_string(),
                    };
                    self.counters
                        .failed_spans
                        .fetch_add(spans, Ordering::Relaxed);
                    self.counters.failed_exports.fetch_add(1, Ordering::Relaxed);
                    self.counters.report_once(&self.destination, &error);
                }
            }
            // Reported and counted here; the processor would log every failed batch again.
            Ok(())
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let _entered = self.runtime.enter();
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
    runtime: RuntimeHandle,
}

impl Future for InRuntime<'_> {
    type Output = OTelSdkResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let _entered = this.runtime.enter();
        tracing::dispatcher::with_default(&tracing::Dispatch::none(), || {
            this.future.as_mut().poll(cx)
        })
    }
}
