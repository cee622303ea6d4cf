//! Standalone export: the layer starts and ends an OpenTelemetry span per entity with a tracer
//! of the user's (boxed behind [`DynTracer`], so the layer stays non-generic).

use std::borrow::Cow;
use std::fmt;

use opentelemetry::trace::{SpanBuilder, SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, InstrumentationScope};

use super::attributes::{self, Given};
use super::OtelExport;
use crate::layer::entity::Entity;
use crate::layer::ExecutionRecordsLayerBuilder;

/// The object-safe part of [`Tracer`] the layer needs.
pub(crate) trait DynTracer: Send + Sync {
    /// Starts a span from `builder` as a child of `parent`; returns the context holding it.
    fn start(&self, builder: SpanBuilder, parent: &Context) -> Context;

    /// The tracer's type name, for `Debug`.
    fn type_name(&self) -> &'static str;
}

impl<T> DynTracer for T
where
    T: Tracer + Send + Sync,
    T::Span: Send + Sync + 'static,
{
    fn start(&self, builder: SpanBuilder, parent: &Context) -> Context {
        parent.with_span(builder.start_with_context(self, parent))
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
}

impl fmt::Debug for dyn DynTracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.type_name())
    }
}

/// The instrumentation scope of the spans this crate starts.
pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(env!("CARGO_PKG_NAME"))
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// Starts the entity's span: a child of its nearest entity's span (or, for an entity outside
/// any other, of the current OpenTelemetry context), with the entity's start time.
pub(super) fn start(tracer: &dyn DynTracer, entity: &Entity) {
    let parent = entity.parent.as_ref().and_then(|p| p.otel.context());
    let parent = match parent {
        Some(cx) => Cow::Borrowed(cx),
        None => Cow::Owned(Context::current()),
    };
    let builder = SpanBuilder::from_name(entity.name.clone())
        .with_kind(SpanKind::Internal)
        .with_start_time(entity.started_at_system())
        .with_attributes(attributes::start_attributes(entity, Given::NONE));
    let cx = tracer.start(builder, &parent);
    attributes::record_ids(entity, cx.span().span_context());
    entity.otel.set_context(cx);
}

/// Ends the entity's span with its outcome.
pub(super) fn end(entity: &Entity) {
    let Some(cx) = entity.otel.context() else {
        return;
    };
    let at = attributes::end_time(entity);
    let span = cx.span();
    attributes::apply_outcome(&span, attributes::outcome(entity), at);
    span.end_with_timestamp(at);
}

impl ExecutionRecordsLayerBuilder {
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

    /// [`with_tracer`](Self::with_tracer) with a tracer of `provider`, scoped `tracing-etl`
    /// with this crate's version (feature `otel`).
    pub fn with_tracer_provider<P>(self, provider: &P) -> Self
    where
        P: TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as Tracer>::Span: Send + Sync + 'static,
    {
        self.with_tracer(provider.tracer_with_scope(scope()))
    }
}
