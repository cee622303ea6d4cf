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
use crate::store::{ExecutionRecordStore, OpenLater};
use crate::writer::{self, Backpressure, WriterConfig, WriterGuard};

/// A builder method for each named [`WriterConfig`] method, applying it to the builder's
/// writer settings.
macro_rules! writer_shorthands {
    ($($name:ident => $with:ident($($arg:ident: $ty:ty),*);)*) => {$(
        #[doc = concat!("[`WriterConfig::", stringify!($with), "`] on this builder's writer settings.")]
        pub fn $name(mut self, $($arg: $ty),*) -> Self {
            self.writer = self.writer.$with($($arg),*);
            self
        }
    )*};
}

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
    #[cfg(feature = "openlineage")]
    lineage: Option<crate::lineage::OpenLineageConfig>,
}

impl ExecutionRecordsLayerBuilder {
    /// The writer's settings (replacing any given before).
    pub fn with_writer_config(mut self, config: WriterConfig) -> Self {
        self.writer = config;
        self
    }

    writer_shorthands! {
        queue_capacity => with_queue_capacity(capacity: usize);
        max_batch => with_max_batch(records: usize);
        backpressure => with_backpressure(backpressure: Backpressure);
        flush_interval => with_flush_interval(interval: Duration);
        retry_backoff => with_retry_backoff(initial: Duration, max: Duration);
        store_deadline => with_store_deadline(deadline: Duration);
        shutdown_timeout => with_shutdown_timeout(timeout: Duration);
        heartbeat_interval => with_heartbeat_interval(interval: Duration);
        outage_buffer => with_outage_buffer(records: usize);
        without_spill => without_spill();
    }

    /// [`WriterConfig::with_spill_dir`] on this builder's writer settings.
    pub fn spill_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.writer = self.writer.with_spill_dir(dir);
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

    #[cfg(feature = "openlineage")]
    #[cfg_attr(docsrs, doc(cfg(feature = "openlineage")))]
    /// Also sends an OpenLineage run event for every record, as `config` says (feature
    /// `openlineage`): `START` when an entity opens, `COMPLETE`, `FAIL` or `ABORT` when it
    /// closes (see [`guide::lineage`](crate::guide::lineage)).
    ///
    /// The events are built and sent by a second writer with its own queue, outage buffer and
    /// spill file (`config`'s writer settings), so that a lineage endpoint that is down never
    /// holds up the run history, nor the history store the events. The layer queues each
    /// record to both writers; the guard stops both (see [`WriterGuard::lineage`]).
    ///
    /// ```
    /// use tracing_etl::lineage::OpenLineageConfig;
    /// use tracing_etl::{ExecutionRecordsLayer, InMemoryStore};
    /// use tracing_subscriber::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let events = dir.path().join("events.jsonl");
    /// let (layer, guard) = ExecutionRecordsLayer::builder()
    ///     .with_lineage(OpenLineageConfig::file(&events).with_namespace("warehouse"))
    ///     .build(InMemoryStore::new());
    /// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
    ///     let _run = tracing::info_span!("run", etl.pipeline = "daily_sales").entered();
    ///     let _load = tracing::info_span!("load", etl.step = tracing::field::Empty).entered();
    /// });
    /// guard.shutdown()?;
    ///
    /// let text = std::fs::read_to_string(&events)?;
    /// let types: Vec<serde_json::Value> = text
    ///     .lines()
    ///     .map(|line| serde_json::from_str::<serde_json::Value>(line).map(|e| e["eventType"].clone()))
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(types, ["START", "START", "COMPLETE", "COMPLETE"]);
    /// assert!(text.contains(r#""name":"daily_sales.load""#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_lineage(mut self, config: crate::lineage::OpenLineageConfig) -> Self {
        self.lineage = Some(config);
        self
    }

    /// Starts the writer thread and returns the layer and the writer's guard, with the store
    /// opened by the writer: `open` is called on the store's thread by the first store call,
    /// and again by each later call until it succeeds. Until then the store is down, as in any
    /// outage: the program records from its first span on without waiting, the records wait in
    /// the outage buffer and the spill history, each distinct error goes to `on_store_error`, and
    /// the open is retried with the writer's back-off (`retry_backoff`); once it opens, the
    /// backlog is written oldest first and the spill history removed. An open that takes longer
    /// than the store deadline (a PostgreSQL server that does not answer) holds up nobody.
    ///
    /// This is the way to start a job that must run whatever the history's health — a disk
    /// full or a directory not there yet, a database server down or unreachable — where
    /// [`build`](Self::build) needs the store opened first, and a store that cannot be opened
    /// then means no recording at all, as with an exporter that must connect before it is
    /// installed. Errors that opening can tell at once and that retrying cannot fix (a malformed
    /// connection string, a schema written by a newer release) are reported the same way, so
    /// parse the [`StoreUrl`](crate::StoreUrl) before and watch `on_store_error`. The writer
    /// cannot ask a store that is not open whether it keeps one row per entity
    /// ([`ExecutionRecordStore::keeps_one_row_per_entity`]), so it writes every record, start
    /// records superseded in the same batch included (same result, a little more work).
    ///
    /// ```
    /// use tracing_etl::{ExecutionRecordsLayer, StoreUrl};
    ///
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let path = tmp.path().join("history.db");
    /// let url: StoreUrl = format!("sqlite:{}", path.display()).parse()?;
    /// let (layer, guard) = ExecutionRecordsLayer::builder()
    ///     .on_store_error(|e| eprintln!("run history not saved yet: {e}"))
    ///     .build_with(move || url.open());
    /// # drop(layer);
    /// # guard.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build_with<S, F>(self, open: F) -> (ExecutionRecordsLayer, WriterGuard)
    where
        S: ExecutionRecordStore,
        F: FnMut() -> Result<S, StoreError> + Send + 'static,
    {
        self.build(OpenLater::new(open))
    }

    /// Starts the writer thread for `store` and returns the layer and the writer's guard.
    pub fn build<S: ExecutionRecordStore>(self, store: S) -> (ExecutionRecordsLayer, WriterGuard) {
        if self.capture_panic_messages {
            panic::install_hook();
        }
        let warnings = RegisteredDispatch::default();
        let pool = Arc::new(EntityPool::default());
        let (sender, guard) = writer::spawn(store, self.writer, warnings.clone(), pool.clone());
        #[cfg(feature = "openlineage")]
        let (lineage, guard) = match self.lineage {
            Some(config) => {
                let transport = crate::lineage::OpenLineageTransport::new(&config);
                let (lineage, lineage_guard) =
                    writer::spawn(transport, config.writer, warnings.clone(), pool.clone());
                (Some(lineage), guard.with_lineage(lineage_guard))
            }
            None => (None, guard),
        };
        let layer = ExecutionRecordsLayer {
            sender,
            #[cfg(feature = "openlineage")]
            lineage,
            live: Arc::new(LiveEntities::default()),
            others: Default::default(),
            pool,
            warnings,
            shares_ids: Default::default(),
            #[cfg(feature = "otel")]
            otel: self.otel,
        };
        (layer, guard)
    }
}
