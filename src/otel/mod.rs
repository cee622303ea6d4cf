//! OpenTelemetry export of entity spans (feature `otel`), interop with `tracing-opentelemetry`
//! (feature `tracing-opentelemetry`) and a ready OTLP setup (feature `otlp`).
//!
//! The layer keeps one [`OtelExport`]: off, a tracer of the user's (standalone export), or
//! `tracing-opentelemetry` mode. Per entity it keeps an [`EntitySpan`] in the `Entity`.
//! Nothing here runs for spans that are not entities, except the interop mode's `on_enter`
//! lookup.

mod attributes;
#[cfg(feature = "tracing-opentelemetry")]
mod interop;
#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
mod otlp;
mod tracer;

#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
pub use otlp::{otlp_from_env, OtlpConfig, OtlpError, OtlpGuard, OtlpProtocol, OtlpStats};

use std::fmt;
#[cfg(feature = "tracing-opentelemetry")]
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use opentelemetry::Context;
use tracing_core::span::{Attributes, Id};

#[cfg(feature = "tracing-opentelemetry")]
use self::attributes::Given;
use self::tracer::DynTracer;
use crate::layer::entity::Entity;
use crate::writer::WarningSink;

/// How the layer exports entity spans.
#[derive(Default)]
pub(crate) enum OtelExport {
    /// Not at all (the default).
    #[default]
    Off,
    /// Standalone: the layer starts and ends the spans with this tracer.
    Tracer(Arc<dyn DynTracer>),
    /// `tracing-opentelemetry` exports them; the layer enriches them.
    #[cfg(feature = "tracing-opentelemetry")]
    TracingOpenTelemetry(interop::Interop),
}

impl fmt::Debug for OtelExport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OtelExport::Off => f.write_str("Off"),
            OtelExport::Tracer(tracer) => f.debug_tuple("Tracer").field(tracer).finish(),
            #[cfg(feature = "tracing-opentelemetry")]
            OtelExport::TracingOpenTelemetry(_) => f.write_str("TracingOpenTelemetry"),
        }
    }
}

impl OtelExport {
    pub(crate) fn tracer<T>(tracer: T) -> Self
    where
        T: opentelemetry::trace::Tracer + Send + Sync + 'static,
        T::Span: Send + Sync + 'static,
    {
        OtelExport::Tracer(Arc::new(tracer))
    }

    /// Called for every new entity before its start record is queued. Returns whether the
    /// start record is to be queued now (else [`on_enter`](Self::on_enter) or
    /// [`on_close`](Self::on_close) says when).
    #[inline]
    pub(crate) fn on_new_span(
        &self,
        attrs: &Attributes<'_>,
        entity: &Entity,
        id: &Id,
        sink: &WarningSink,
        warn: &dyn Fn(String),
    ) -> bool {
        let _ = (attrs, id, sink, warn);
        match self {
            OtelExport::Off => true,
            OtelExport::Tracer(tracer) => {
                tracer::start(tracer.as_ref(), entity);
                true
            }
            #[cfg(feature = "tracing-opentelemetry")]
            OtelExport::TracingOpenTelemetry(interop) => {
                interop.on_new_span(attrs, entity, id, sink, warn)
            }
        }
    }

    /// Whether [`on_enter`](Self::on_enter) has anything to do.
    #[inline]
    pub(crate) fn watches_enter(&self) -> bool {
        match self {
            OtelExport::Off | OtelExport::Tracer(_) => false,
            #[cfg(feature = "tracing-opentelemetry")]
            OtelExport::TracingOpenTelemetry(_) => true,
        }
    }

    /// Called when an entity span is entered, if [`watches_enter`](Self::watches_enter).
    /// Returns whether the entity's start record is to be queued now.
    pub(crate) fn on_enter(&self, entity: &Entity, id: &Id, sink: &WarningSink) -> bool {
        let _ = (entity, id, sink);
        match self {
            OtelExport::Off | OtelExport::Tracer(_) => false,
            #[cfg(feature = "tracing-opentelemetry")]
            OtelExport::TracingOpenTelemetry(interop) => interop.on_enter(entity, id, sink),
        }
    }

    /// Called when an entity closes, after its state is final and before its end record is
    /// queued. Returns whether its start record is still to be queued (before the end record).
    pub(crate) fn on_close(&self, entity: &Entity, id: &Id, sink: &WarningSink) -> bool {
        let _ = (id, sink);
        match self {
            OtelExport::Off => false,
            OtelExport::Tracer(_) => {
                tracer::end(entity);
                false
            }
            #[cfg(feature = "tracing-opentelemetry")]
            OtelExport::TracingOpenTelemetry(interop) => interop.on_close(entity, id, sink),
        }
    }
}

/// The OpenTelemetry side of one entity.
#[derive(Debug, Default)]
pub(crate) struct EntitySpan {
    /// Standalone export: the context holding the entity's span (its children's parent).
    /// Interop: the context of `tracing-opentelemetry`'s span, from the first enter.
    context: OnceLock<Context>,
    /// Interop: the start record waits for the ids of `tracing-opentelemetry`'s span.
    #[cfg(feature = "tracing-opentelemetry")]
    start_pending: AtomicBool,
    /// Interop: the fields the span gave values for (bits of `Given`).
    #[cfg(feature = "tracing-opentelemetry")]
    given: AtomicU8,
}

impl EntitySpan {
    /// Standalone export: the entity's span. Interop: `tracing-opentelemetry`'s span of the
    /// entity, kept from its first enter.
    fn context(&self) -> Option<&Context> {
        self.context.get()
    }

    fn set_context(&self, cx: Context) {
        let _ = self.context.set(cx);
    }

    #[cfg(feature = "tracing-opentelemetry")]
    fn set_start_pending(&self) {
        self.start_pending.store(true, Ordering::Release);
    }

    #[cfg(feature = "tracing-opentelemetry")]
    fn take_start_pending(&self) -> bool {
        self.start_pending.load(Ordering::Acquire)
            && self.start_pending.swap(false, Ordering::AcqRel)
    }

    #[cfg(feature = "tracing-opentelemetry")]
    fn set_given(&self, given: Given) {
        self.given.store(given.bits(), Ordering::Relaxed);
    }

    #[cfg(feature = "tracing-opentelemetry")]
    fn given(&self) -> Given {
        Given::from_bits(self.given.load(Ordering::Relaxed))
    }
}
