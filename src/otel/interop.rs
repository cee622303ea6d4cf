//! Interop with `tracing-opentelemetry`: its layer exports every span, entity spans included;
//! this layer adds the `etl.*` attributes, status and `exception` event to the entity spans and
//! takes their ids for the records.
//!
//! `tracing-opentelemetry` keeps its span in the `tracing` span's extensions under a private
//! type; the public way in is `tracing_opentelemetry::get_otel_context(id, dispatch)`, which
//! starts the OpenTelemetry span if it has not started yet and returns its context.
//!
//! Callback order decides what can be done when. In `registry().with(a).with(b)`, `a` is the
//! inner layer and each of its callbacks runs before `b`'s. With this layer inner (the
//! supported order), its `on_close` runs while the OpenTelemetry span is still open, so the
//! outcome can be added before `tracing-opentelemetry` ends and exports it — but its
//! `on_new_span` runs before `tracing-opentelemetry` has created its data, so the start record
//! waits for the first enter (or the close) of the span, when the ids are known.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context;
use tracing_core::dispatcher::WeakDispatch;
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id};
use tracing_core::Dispatch;

use super::attributes::{self, Given};
use crate::entity::Entity;
use crate::writer::{Queued, RecordSender};

/// State of the interop mode.
#[derive(Debug, Default)]
pub(crate) struct Interop {
    warned_order: AtomicBool,
    /// This layer is known to be the inner one (the supported order; the order is fixed for a
    /// subscriber): a span that `tracing-opentelemetry` had not seen when this layer saw it
    /// open had been seen by it once entered or closed. New spans then no longer ask
    /// `tracing-opentelemetry` whether it has seen them.
    records_inner: AtomicBool,
    /// Where the layer is, from its registration on.
    registered: OnceLock<Registered>,
}

/// The subscriber the layer is registered with, where `tracing-opentelemetry` keeps its spans
/// (weak, so that the layer does not keep it alive), and the layer's writer, which takes its
/// warnings.
#[derive(Debug)]
struct Registered {
    dispatch: WeakDispatch,
    warnings: RecordSender,
}

/// Which of our fields the span gives a value for (`tracing-opentelemetry` exports those).
struct GivenVisitor(u8);

impl Visit for GivenVisitor {
    fn record_debug(&mut self, field: &Field, _: &dyn std::fmt::Debug) {
        self.0 |= Given::bit(field.name());
    }
    fn record_str(&mut self, field: &Field, _: &str) {
        self.0 |= Given::bit(field.name());
    }
    fn record_i64(&mut self, field: &Field, _: i64) {
        self.0 |= Given::bit(field.name());
    }
    fn record_u64(&mut self, field: &Field, _: u64) {
        self.0 |= Given::bit(field.name());
    }
    fn record_bool(&mut self, field: &Field, _: bool) {
        self.0 |= Given::bit(field.name());
    }
}

impl Interop {
    /// Notes the subscriber the layer is registered with (the first one, as the layer does) and
    /// the layer's writer.
    pub(super) fn on_register_dispatch(&self, dispatch: &Dispatch, sender: &RecordSender) {
        let _ = self.registered.set(Registered {
            dispatch: dispatch.downgrade(),
            warnings: sender.clone(),
        });
    }

    /// The `tracing-opentelemetry` context of span `id`, if a `tracing-opentelemetry` layer in
    /// the layer's subscriber tracks it.
    fn context(&self, id: &Id) -> Option<Context> {
        let dispatch = self.registered.get()?.dispatch.upgrade()?;
        tracing_opentelemetry::get_otel_context(id, &dispatch)
    }

    /// Warns through the layer's writer, as the layer does.
    fn warn(&self, message: &str) {
        if let Some(registered) = self.registered.get() {
            registered
                .warnings
                .send(Queued::Warning(message.to_owned()));
        }
    }

    /// Returns whether the start record can be queued now.
    pub(super) fn on_new_span(&self, attrs: &Attributes<'_>, entity: &Entity, id: &Id) -> bool {
        let mut given = GivenVisitor(0);
        attrs.record(&mut given);
        let given = Given::from_bits(given.0);
        entity.otel().set_given_bits(given.bits());
        if self.records_inner.load(Ordering::Relaxed) {
            entity.otel().set_start_pending();
            return false;
        }
        match self.context(id) {
            // `tracing-opentelemetry` has seen the span already: it is the inner layer, and it
            // will have ended the span before this layer's `on_close`.
            Some(cx) => {
                if !self.warned_order.swap(true, Ordering::Relaxed) {
                    self.warn(
                        "the tracing-opentelemetry layer is registered before \
                         ExecutionRecordsLayer, so entity spans are exported without \
                         etl.status, etl.duration_ms and their error: register \
                         ExecutionRecordsLayer first, as in \
                         registry().with(records).with(tracing_opentelemetry_layer)",
                    );
                }
                let span = cx.span();
                attributes::record_ids(entity, span.span_context());
                span.update_name(entity.name().clone());
                span.set_attributes(attributes::start_attributes(entity, given));
                true
            }
            None => {
                entity.otel().set_start_pending();
                false
            }
        }
    }

    /// Values recorded on the span later are exported by `tracing-opentelemetry` as recorded:
    /// they are not added again.
    pub(super) fn on_record(&self, entity: &Entity, values: &tracing_core::span::Record<'_>) {
        let mut given = GivenVisitor(0);
        values.record(&mut given);
        if given.0 != 0 {
            let otel = entity.otel();
            otel.set_given_bits(otel.given_bits() | given.0);
        }
    }

    /// Returns whether the start record, held back until now, can be queued.
    pub(super) fn on_enter(&self, entity: &Entity, id: &Id) -> bool {
        if !entity.otel().take_start_pending() {
            return false;
        }
        if let Some(cx) = self.context(id) {
            self.records_inner.store(true, Ordering::Relaxed);
            attributes::record_ids(entity, cx.span().span_context());
            // Kept for the close: the same span, without asking again.
            entity.otel().set_context(cx);
        }
        true
    }

    /// Adds the entity's attributes and outcome to its span before `tracing-opentelemetry`
    /// ends it. Returns whether the start record is still to be queued.
    pub(super) fn on_close(&self, entity: &Entity, id: &Id) -> bool {
        let start_pending = entity.otel().take_start_pending();
        let cx = match entity.otel().context() {
            Some(cx) => cx.clone(),
            None => match self.context(id) {
                Some(cx) => {
                    if start_pending {
                        self.records_inner.store(true, Ordering::Relaxed);
                    }
                    cx
                }
                None => return start_pending,
            },
        };
        let span = cx.span();
        attributes::record_ids(entity, span.span_context());
        if !span.is_recording() {
            return start_pending;
        }
        span.update_name(entity.current_name());
        span.set_attributes(attributes::start_attributes(
            entity,
            Given::from_bits(entity.otel().given_bits()),
        ));
        let at = std::time::SystemTime::now();
        let given = Given::from_bits(entity.otel().given_bits());
        attributes::apply_outcome(&span, attributes::outcome(entity, given), at);
        start_pending
    }
}
