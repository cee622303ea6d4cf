//! [`ExecutionRecordsLayerBuilder`]: every setting of a layer, its writer and its
//! OpenTelemetry export, in one place.

use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "otel")]
use opentelemetry::trace::{Tracer, TracerProvider};

use super::live::LiveEntities;
use super::{panic, ExecutionRecordsLayer};
use crate::dispatch::RegisteredDispatch;
use crate::entity::EntityPool;
use crate::error::StoreError;
#[cfg(feature = "otel")]
use crate::otel::OtelExport;
use crate::store::ExecutionRecordStore;
use crate::writer::{self, Backpressure, WriterConfig, WriterGuard};

/// Settings of an [`ExecutionRecordsLayer`], its writer and its OpenTelemetry export.
///
/// ```
/// use std::time::Duration;
/// use tracing_etl::writer::{Backpressure, WriterConfig};
/// use tracing_etl::{ExecutionRecordsLayer, InMemoryStore};
///
/// let (layer, guard) = ExecutionRecordsLayer::builder()
///     .with_writer_config(
///         WriterConfig::default()
///             .with_queue_capacity(1024)
///             .with_backpressure(Backpressure::Drop)
///             .with_flush_interval(Duration::from_millis(50)),
///     )
///     .on_store_error(|e| eprintln!("run history is not being saved: {e}"))
///     .build(InMemoryStore::new());
/// ```
#[derive(Debug, Default)]
pub struct ExecutionRecordsLayerBuilder {
    writer: WriterConfig,
    capture_panic_messages: bool,
    #[cfg(feature = "otel")]
    otel: OtelExport,
}

impl ExecutionRecordsLayerBuilder {
    /// The writer's settings (replacing any given before).
    pub fn with_writer_config(mut self, config: WriterConfig) -> Self {
        self.writer = config;
        self
    }

    /// [`WriterConfig::with_queue_capacity`] on this builder's writer settings.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.writer = self.writer.with_queue_capacity(capacity);
        self
    }

    /// [`WriterConfig::with_max_batch`] on this builder's writer settings.
    pub fn max_batch(mut self, records: usize) -> Self {
        self.writer = self.writer.with_max_batch(records);
        self
    }

    /// [`WriterConfig::with_backpressure`] on this builder's writer settings.
    pub fn backpressure(mut self, backpressure: Backpressure) -> Self {
        self.writer = self.writer.with_backpressure(backpressure);
        self
    }

    /// [`WriterConfig::with_flush_interval`] on this builder's writer settings.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.writer = self.writer.with_flush_interval(interval);
        self
    }

    /// [`WriterConfig::with_retry_backoff`] on this builder's writer settings.
    pub fn retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.writer = self.writer.with_retry_backoff(initial, max);
        self
    }

    /// [`WriterConfig::with_shutdown_timeout`] on this builder's writer settings.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.writer = self.writer.with_shutdown_timeout(timeout);
        self
    }

    /// [`WriterConfig::with_heartbeat_interval`] on this builder's writer settings.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.writer = self.writer.with_heartbeat_interval(interval);
        self
    }

    /// [`WriterConfig::with_outage_buffer`] on this builder's writer settings.
    pub fn outage_buffer(mut self, records: usize) -> Self {
        self.writer = self.writer.with_outage_buffer(records);
        self
    }

    /// [`WriterConfig::with_spill_dir`] on this builder's writer settings.
    pub fn spill_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.writer = self.writer.with_spill_dir(dir);
        self
    }

    /// [`WriterConfig::without_spill`] on this builder's writer settings.
    pub fn without_spill(mut self) -> Self {
        self.writer = self.writer.without_spill();
        self
    }

    /// [`WriterConfig::with_store_error_callback`] on this builder's writer settings.
    pub fn on_store_error(
        mut self,
        callback: impl Fn(&StoreError) + Send + Sync + 'static,
    ) -> Self {
        self.writer = self.writer.with_store_error_callback(callback);
        self
    }

    /// Captures the message of a panic for the record of the step it fails, by installing a
    /// panic hook, once per process, chained in front of the hook already installed (a
    /// process-wide change, hence opt-in). The record's `error_message` is then the panic's
    /// message, and its `error` that message and where the panic happened
    /// (`panic: row 7: amount missing (at src/load.rs:42:9)`).
    ///
    /// Without it, a span that closes while its thread panics is still recorded `failed` with
    /// `error_type = "panic"`; its `error_message` then says that the message was not
    /// captured.
    pub fn capture_panic_messages(mut self) -> Self {
        self.capture_panic_messages = true;
        self
    }

    /// Does nothing: no panic hook is installed unless
    /// [`capture_panic_messages`](Self::capture_panic_messages) asks for one.
    #[deprecated(note = "no panic hook is installed by default; see `capture_panic_messages`")]
    pub fn without_panic_hook(mut self) -> Self {
        self.capture_panic_messages = false;
        self
    }

    #[cfg(feature = "otel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
    /// Exports every pipeline, process and step as an OpenTelemetry span started with `tracer`
    /// (feature `otel`).
    ///
    /// Spans nest as the entities do (pipeline → process → step; a step under other spans
    /// nests under its nearest entity), carry the entity's name, start and end times and its
    /// `etl.*` attributes, and on failure `error.type`, an `Error` status with the error
    /// message and an `exception` event. Records get the span's `trace_id` and `span_id` when
    /// the span is sampled. An entity outside any other is a child of the current
    /// OpenTelemetry context (usually none: a new trace).
    ///
    /// Do not combine with a `tracing-opentelemetry` layer that exports the same spans: see
    /// `with_tracing_opentelemetry` (feature `tracing-opentelemetry`) for that setup.
    ///
    /// ```
    /// use opentelemetry::trace::TracerProvider as _;
    /// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    /// use tracing_etl::{ExecutionRecordsLayer, InMemoryStore};
    /// use tracing_subscriber::prelude::*;
    ///
    /// let exporter = InMemorySpanExporter::default();
    /// let provider = SdkTracerProvider::builder()
    ///     .with_simple_exporter(exporter.clone())
    ///     .build();
    /// let store = InMemoryStore::new();
    /// let (layer, guard) = ExecutionRecordsLayer::builder()
    ///     .with_tracer(provider.tracer("etl"))
    ///     .build(store.clone());
    /// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
    ///     let _run = tracing::info_span!("run", etl.pipeline = "daily_sales").entered();
    ///     let _load = tracing::info_span!("load", etl.step = tracing::field::Empty).entered();
    /// });
    /// drop(guard);
    ///
    /// let spans = exporter.get_finished_spans().unwrap();
    /// let names: Vec<_> = spans.iter().map(|s| s.name.as_ref()).collect();
    /// assert_eq!(names, ["load", "daily_sales"]);
    /// assert_eq!(spans[0].parent_span_id, spans[1].span_context.span_id());
    /// let record = &store.step_runs()[0];
    /// assert_eq!(record.trace_id, Some(spans[0].span_context.trace_id().to_string()));
    /// ```
    pub fn with_tracer<T>(mut self, tracer: T) -> Self
    where
        T: Tracer + Send + Sync + 'static,
        T::Span: Send + Sync + 'static,
    {
        self.otel = OtelExport::tracer(tracer);
        self
    }

    #[cfg(feature = "otel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
    /// [`with_tracer`](Self::with_tracer) with a tracer of `provider`, scoped `tracing-etl`
    /// with this crate's version (feature `otel`).
    pub fn with_tracer_provider<P>(self, provider: &P) -> Self
    where
        P: TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as Tracer>::Span: Send + Sync + 'static,
    {
        self.with_tracer(provider.tracer_with_scope(crate::otel::scope()))
    }

    #[cfg(feature = "tracing-opentelemetry")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing-opentelemetry")))]
    /// Enriches the entity spans that a `tracing-opentelemetry` layer in the same subscriber
    /// exports, instead of exporting spans of its own (feature `tracing-opentelemetry`).
    ///
    /// Register this layer **before** the `tracing-opentelemetry` layer, i.e. closer to the
    /// registry: `registry().with(records).with(otel)`. In `tracing-subscriber` the layer added
    /// first is the inner one and its callbacks run first, so this layer sees each entity span
    /// close while `tracing-opentelemetry`'s span is still open. Then:
    ///
    /// - every entity span is exported once, by `tracing-opentelemetry`, with the same
    ///   `etl.*` attributes as in standalone export (those the span itself gives as fields, such
    ///   as `etl.run_id = "…"`, are exported by `tracing-opentelemetry` as given and not added
    ///   twice), the entity's name, and on failure `error.type`, the `Error` status and an
    ///   `exception` event with `exception.type` and `exception.message`;
    /// - records carry the `trace_id` and `span_id` of those spans. The start record of an
    ///   entity is queued when its span is first entered (or closes, if never entered), once
    ///   `tracing-opentelemetry` has created the span.
    ///
    /// `tracing-opentelemetry` adds its own `exception` event and `Error` status for an ERROR
    /// event with an `error` field; the span keeps the greater of the two statuses
    /// (OpenTelemetry's rule). `.with_error_events_to_status(false)` and
    /// `.with_error_events_to_exceptions(false)` on its layer leave status and `exception` to
    /// this layer alone.
    ///
    /// An entity span that `tracing-opentelemetry` does not see (one its per-layer filter
    /// drops, say) is not exported, and its records have no ids.
    ///
    /// The other order (`registry().with(otel).with(records)`) is detected: records still get
    /// the ids, but the spans end before this layer sees them close, so they lack
    /// `etl.status`, `etl.duration_ms` and the error; a warning says so once.
    ///
    /// ```
    /// use opentelemetry::trace::TracerProvider as _;
    /// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    /// use tracing_etl::{ExecutionRecordsLayer, InMemoryStore};
    /// use tracing_subscriber::prelude::*;
    ///
    /// let exporter = InMemorySpanExporter::default();
    /// let provider = SdkTracerProvider::builder()
    ///     .with_simple_exporter(exporter.clone())
    ///     .build();
    /// let store = InMemoryStore::new();
    /// let (records, guard) = ExecutionRecordsLayer::builder()
    ///     .with_tracing_opentelemetry()
    ///     .build(store.clone());
    /// let subscriber = tracing_subscriber::registry()
    ///     .with(records) // first: the inner layer
    ///     .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("app")));
    /// tracing::subscriber::with_default(subscriber, || {
    ///     let _run = tracing::info_span!("run", etl.pipeline = "daily_sales").entered();
    ///     let _other = tracing::info_span!("helper").entered(); // exported, not an entity
    /// });
    /// drop(guard);
    ///
    /// let spans = exporter.get_finished_spans().unwrap();
    /// assert_eq!(spans.len(), 2); // each span once
    /// let run = spans.iter().find(|s| s.name == "daily_sales").unwrap();
    /// assert!(run.attributes.iter().any(|kv| kv.key.as_str() == "etl.status"));
    /// let record = &store.pipeline_runs()[0];
    /// assert_eq!(record.span_id, Some(run.span_context.span_id().to_string()));
    /// ```
    pub fn with_tracing_opentelemetry(mut self) -> Self {
        self.otel = OtelExport::tracing_opentelemetry();
        self
    }

    /// Starts the writer thread for `store` and returns the layer and the writer's guard.
    pub fn build<S: ExecutionRecordStore>(self, store: S) -> (ExecutionRecordsLayer, WriterGuard) {
        if self.capture_panic_messages {
            panic::install_hook();
        }
        let warnings = RegisteredDispatch::default();
        let pool = Arc::new(EntityPool::default());
        let (sender, guard) = writer::spawn(store, self.writer, warnings.clone(), pool.clone());
        let layer = ExecutionRecordsLayer {
            sender,
            live: LiveEntities::default(),
            pool,
            warnings,
            shares_ids: Default::default(),
            #[cfg(feature = "otel")]
            otel: self.otel,
        };
        (layer, guard)
    }
}
