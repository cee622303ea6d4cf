//! The OpenTelemetry slot of an entity (feature `otel`): the data the export keeps per entity,
//! here so that the entity does not depend on the export that fills it.

#[cfg(feature = "tracing-opentelemetry")]
use std::sync::atomic::{AtomicBool, AtomicU8};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;

use opentelemetry::Context;

/// No time noted yet in an `AtomicI64` of nanoseconds since the epoch.
const NO_TIME: i64 = i64::MIN;

/// The OpenTelemetry side of one entity.
#[derive(Debug)]
pub(crate) struct EntitySpan {
    /// Standalone export: the context holding the entity's span (its children's parent).
    /// Interop: the context of `tracing-opentelemetry`'s span, from the first enter.
    context: OnceLock<Context>,
    /// Standalone export: the start time given to the span, in nanoseconds since the epoch.
    start_ns: AtomicI64,
    /// Standalone export: the latest end time given to a child's span.
    children_end_ns: AtomicI64,
    /// Interop: the start record waits for the ids of `tracing-opentelemetry`'s span.
    #[cfg(feature = "tracing-opentelemetry")]
    start_pending: AtomicBool,
    /// Interop: the fields the span gave values for (bits of `Given`).
    #[cfg(feature = "tracing-opentelemetry")]
    given: AtomicU8,
}

impl Default for EntitySpan {
    fn default() -> Self {
        EntitySpan {
            context: OnceLock::new(),
            start_ns: AtomicI64::new(NO_TIME),
            children_end_ns: AtomicI64::new(NO_TIME),
            #[cfg(feature = "tracing-opentelemetry")]
            start_pending: AtomicBool::new(false),
            #[cfg(feature = "tracing-opentelemetry")]
            given: AtomicU8::new(0),
        }
    }
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

    /// Standalone export: notes the start time given to the entity's span.
    pub(crate) fn set_start_ns(&self, ns: i64) {
        self.start_ns.store(ns, Ordering::Release);
    }

    /// The start time given to the entity's span, if it was started.
    pub(crate) fn start_ns(&self) -> Option<i64> {
        Some(self.start_ns.load(Ordering::Acquire)).filter(|&ns| ns != NO_TIME)
    }

    /// Notes the end time given to the span of a child (a parent ends after its children: the
    /// registry closes a span only once its children have closed).
    pub(crate) fn note_child_end(&self, ns: i64) {
        self.children_end_ns.fetch_max(ns, Ordering::AcqRel);
    }

    /// The latest end time given to a child's span, if any.
    pub(crate) fn children_end_ns(&self) -> Option<i64> {
        Some(self.children_end_ns.load(Ordering::Acquire)).filter(|&ns| ns != NO_TIME)
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
