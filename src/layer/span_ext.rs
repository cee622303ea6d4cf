//! [`EtlSpanExt`]: the volume of an entity from its [`Span`], without declaring fields.

use tracing::Span;

use super::fields::clean;
use super::ExecutionRecordsLayer;
use crate::record::Volume;

/// Rows and datasets of the entity of a [`Span`], in the manner of `tracing-opentelemetry`'s
/// `OpenTelemetrySpanExt`: the same as recording `etl.rows_in`, `etl.rows_out`, `etl.inputs` and
/// `etl.outputs` on it (see [`guide::conventions`](crate::guide::conventions)), without the
/// span having to declare those fields.
///
/// The values reach the [`ExecutionRecordsLayer`] of the span's subscriber (and the other
/// records layers of that subscriber); for a span that is not an entity, is disabled or has
/// closed, or whose subscriber has no records layer, nothing happens. Counts replace the
/// count given before; datasets add to those given before, in order, without duplicates (a
/// blank name is ignored). A count above `i64::MAX` is kept as `i64::MAX` by the stores.
///
/// ```
/// use tracing_etl::{EtlSpanExt, ExecutionRecordsLayer, InMemoryStore};
/// use tracing_subscriber::prelude::*;
///
/// let store = InMemoryStore::new();
/// let (layer, guard) = ExecutionRecordsLayer::new(store.clone());
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
///     let load = tracing::info_span!("load", etl.step = true);
///     load.add_input("s3://landing/orders.csv");
///     load.add_output("postgres://warehouse/sales.orders");
///     load.record_rows_in(1_210);
///     load.record_rows_out(1_204);
/// });
/// drop(guard);
/// let step = &store.step_runs()[0];
/// assert_eq!((step.rows_in(), step.rows_out()), (Some(1_210), Some(1_204)));
/// assert_eq!(step.outputs(), ["postgres://warehouse/sales.orders"]);
/// ```
pub trait EtlSpanExt {
    /// Records that the entity read `rows` rows (`etl.rows_in`).
    fn record_rows_in(&self, rows: u64);

    /// Records that the entity wrote `rows` rows (`etl.rows_out`).
    fn record_rows_out(&self, rows: u64);

    /// Adds `dataset` to the datasets the entity read from (`etl.inputs`).
    fn add_input(&self, dataset: impl AsRef<str>);

    /// Adds `dataset` to the datasets the entity wrote to (`etl.outputs`).
    fn add_output(&self, dataset: impl AsRef<str>);
}

impl EtlSpanExt for Span {
    fn record_rows_in(&self, rows: u64) {
        add(self, || Volume::new().with_rows_in(rows));
    }

    fn record_rows_out(&self, rows: u64) {
        add(self, || Volume::new().with_rows_out(rows));
    }

    fn add_input(&self, dataset: impl AsRef<str>) {
        let dataset = dataset.as_ref();
        if !dataset.trim().is_empty() {
            add(self, || Volume::new().with_input(clean(dataset)));
        }
    }

    fn add_output(&self, dataset: impl AsRef<str>) {
        let dataset = dataset.as_ref();
        if !dataset.trim().is_empty() {
            add(self, || Volume::new().with_output(clean(dataset)));
        }
    }
}

/// Adds the volume `given` makes to the entity of `span`, in the records layers of its
/// subscriber. Nothing is built for a span without a subscriber or without a records layer.
fn add(span: &Span, given: impl FnOnce() -> Volume) {
    span.with_subscriber(|(id, dispatch)| {
        if let Some(layer) = dispatch.downcast_ref::<ExecutionRecordsLayer>() {
            layer.add_volume(id, given());
        }
    });
}
