//! OpenTelemetry export of entity spans (feature `otel`), interop with `tracing-opentelemetry`
//! (feature `tracing-opentelemetry`) and a ready OTLP setup (features `otlp-grpc`, `otlp-http`):
//! `otlp_from_env` and `OtlpConfig`.
//!
//! The export is set up on the layer's builder (`with_tracer`, `with_tracer_provider`,
//! `with_tracing_opentelemetry`); see the OpenTelemetry guide, [`crate::guide::opentelemetry`].
//!
//! Inside, the layer keeps one `OtelExport`: off, a tracer of the user's (standalone export),
//! or `tracing-opentelemetry` mode. Per entity it reads and sets the entity's `EntitySpan`.
//! Nothing here runs for spans that are not entities, except the interop mode's `on_enter`
//! lookup.

mod attributes;
#[cfg(feature = "tracing-opentelemetry")]
mod interop;
#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
mod otlp;
mod tracer;

#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
pub use otlp::{
    otlp_from_env, OtlpCompression, OtlpConfig, OtlpError, OtlpGuard, OtlpProtocol, OtlpStats,
};

use std::fmt;
use std::sync::Arc;

use tracing_core::span::{Attributes, Id};
use tracing_core::Dispatch;

pub(crate) use self::tracer::scope;
use self::tracer::DynTracer;
use crate::entity::Entity;
use crate::writer::RecordSender;

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

    /// `tracing-opentelemetry` mode.
    #[cfg(feature = "tracing-opentelemetry")]
    pub(crate) fn tracing_opentelemetry() -> Self {
        OtelExport::TracingOpenTelemetry(interop::Interop::default())
    }

    /// Called when the layer is registered with `dispatch`; `sender` is the layer's writer,
    /// which takes the export's warnings.
    pub(crate) fn on_register_dispatch(&self, dispatch: &Dispatch, sender: &RecordSender) {
        let _ = (dispatch, sender);
        match self {
            OtelExport::Off | OtelExport::Tracer(_) => {}
            #[cfg(feature = "tracing-opentelemetry")]
            OtelExport::TracingOpenTelemetry(interop) => {
                interop.on_register_dispatch(dispatch, sender)
            }
        }
    }

    /// Called for every new entity before its start record is queued. Returns whether the
    /// start record is to be queued now (else [`on_enter`](Self::on_enter) or
    /// [`on_close`](Self::on_close) says when).
    #[inline]
    pub(crate) fn on_new_span(&self, attrs: &Attributes<'_>, entity: &Entity, id: &Id) -> bool {
        let _ = (attrs, id);
        match self {
            OtelExport::Off => true,
            OtelExport::Tracer(tracer) => {
                tracer::start(tracer.as_ref(), entity);
                true
            }
            #[cfg(feature = "tracing-opentelemetry")]
            OtelExport::TracingOpenTelemetry(interop) => interop.on_new_span(attrs, entity, id),
        }
    }

    /// Called when values are recorded on an open entity span (after the layer took what it
    /// honours).
    pub(crate) fn on_record(&self, entity: &Entity, values: &tracing_core::span::Record<'_>) {
        let _ = (entity, values);
        match self {
            OtelExport::Off | OtelExport::Tracer(_) => {}
            #[cfg(feature = "tracing-opentelemetry")]
            OtelExport::TracingOpenTelemetry(interop) => interop.on_record(entity, values),
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
    pub(crate) fn on_enter(&self, entity: &Entity, id: &Id) -> bool {
        let _ = (entity, id);
        match self {
            OtelExport::Off | OtelExport::Tracer(_) => false,
            #[cfg(feature = "tracing-opentelemetry")]
            OtelExport::TracingOpenTelemetry(interop) => interop.on_enter(entity, id),
        }
    }

    /// Called when an entity closes, after its state is final and before its end record is
    /// queued. Returns whether its start record is still to be queued (before the end record).
    pub(crate) fn on_close(&self, entity: &Entity, id: &Id) -> bool {
        let _ = id;
        match self {
            OtelExport::Off => false,
            OtelExport::Tracer(_) => {
                tracer::end(entity);
                false
            }
            #[cfg(feature = "tracing-opentelemetry")]
            OtelExport::TracingOpenTelemetry(interop) => interop.on_close(entity, id),
        }
    }
}
