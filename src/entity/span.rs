//! The OpenTelemetry slot of an entity (feature `otel`): the data the export keeps per entity,
//! here so that the entity does not depend on the export that fills it.

#[cfg(feature = "tracing-opentelemetry")]
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::OnceLock;

use opentelemetry::Context;

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
    pub(crate) fn context(&self) -> Option<&Context> {
        self.context.get()
    }

    pub(crate) fn set_context(&self, cx: Context) {
        let _ = self.context.set(cx);
    }

    #[cfg(feature = "tracing-opentelemetry")]
    pub(crate) fn set_start_pending(&self) {
        self.start_pending.store(true, Ordering::Release);
    }

    #[cfg(feature = "tracing-opentelemetry")]
    pub(crate) fn take_start_pending(&self) -> bool {
        self.start_pending.load(Ordering::Acquire)
            && self.start_pending.swap(false, Ordering::AcqRel)
    }

    /// Interop: sets the bits of the fields the span gave values for.
    #[cfg(feature = "tracing-opentelemetry")]
    pub(crate) fn set_given_bits(&self, given: u8) {
        self.given.store(given, Ordering::Relaxed);
    }

    /// Interop: the bits set by [`set_given_bits`](Self::set_given_bits).
    #[cfg(feature = "tracing-opentelemetry")]
    pub(crate) fn given_bits(&self) -> u8 {
        self.given.load(Ordering::Relaxed)
    }
}
