//! Standalone export: the layer starts and ends an OpenTelemetry span per entity with a tracer
//! of the user's (boxed behind [`DynTracer`], so the layer stays non-generic).

use std::borrow::Cow;
use std::fmt;

use opentelemetry::trace::{SpanBuilder, SpanKind, TraceContextExt, Tracer};
use opentelemetry::{Context, InstrumentationScope, KeyValue};

use super::attributes::{self, Given};
use crate::entity::{system_time, Entity};

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
/// any other, of the current OpenTelemetry context), with the entity's start time — to the
/// nanosecond, and never before its parent's start (a child on another thread derives its time
/// from that thread's clock anchor, which may be a few nanoseconds off this one's).
pub(super) fn start(tracer: &dyn DynTracer, entity: &Entity) {
    let parent_entity = entity.parent().filter(|p| p.otel().context().is_some());
    let parent = match parent_entity.and_then(|p| p.otel().context()) {
        Some(cx) => Cow::Borrowed(cx),
        None => Cow::Owned(Context::current()),
    };
    let parent_start = parent_entity.and_then(|p| p.otel().start_ns());
    let start_ns = entity.started_ns().max(parent_start.unwrap_or(i64::MIN));
    let builder = SpanBuilder::from_name(entity.name().clone())
        .with_kind(SpanKind::Internal)
        .with_start_time(system_time(start_ns))
        .with_attributes(attributes::start_attributes(entity, Given::NONE));
    let cx = tracer.start(builder, &parent);
    attributes::record_ids(entity, cx.span().span_context());
    entity.otel().set_start_ns(start_ns);
    entity.otel().set_context(cx);
}

/// Ends the entity's span with its outcome, at its start plus the monotonic time it was open —
/// never before its start nor before the end of a child's span, and noted in its parent for
/// the parent's end.
pub(super) fn end(entity: &Entity) {
    let Some(cx) = entity.otel().context() else {
        return;
    };
    let end_ns = entity
        .ended_ns()
        .max(entity.otel().start_ns().unwrap_or(i64::MIN))
        .max(entity.otel().children_end_ns().unwrap_or(i64::MIN));
    if let Some(parent) = entity.parent() {
        parent.otel().note_child_end(end_ns);
    }
    let at = system_time(end_ns);
    let span = cx.span();
    // Recorded after the span started: exported again, the later value last.
    let name = entity.current_name();
    if name != *entity.name() {
        span.set_attribute(KeyValue::new(
            attributes::name_key(entity.kind()),
            name.clone(),
        ));
        span.update_name(name);
    }
    if entity.starts_its_run() && entity.run().correlation_id_recorded() {
        if let Some(correlation_id) = entity.run().correlation_id() {
            span.set_attribute(KeyValue::new("etl.correlation_id", correlation_id));
        }
    }
    attributes::apply_outcome(&span, attributes::outcome(entity, Given::NONE), at);
    span.end_with_timestamp(at);
}
