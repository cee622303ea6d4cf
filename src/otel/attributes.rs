//! The OpenTelemetry view of an entity: its `etl.*` attributes, status and `exception` event.

use std::time::SystemTime;

use opentelemetry::trace::{SpanContext, Status};
use opentelemetry::{Array, KeyValue, StringValue, Value};

use crate::entity::{uuid_text, Entity};
use crate::record::EntityKind;

/// `error.type` when the error's type is not known (OpenTelemetry semantic conventions).
pub(crate) const OTHER_ERROR_TYPE: &str = "_OTHER";

/// Attributes with a value the user may give as a span field. With `tracing-opentelemetry`,
/// those given are already on the span (as the user wrote them) and are not added again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Given(u8);

impl Given {
    pub(crate) const NONE: Given = Given(0);
    const NAME: u8 = 1;
    const RUN_ID: u8 = 1 << 1;
    const CORRELATION_ID: u8 = 1 << 2;
    const ATTEMPT: u8 = 1 << 3;
    const ROWS_IN: u8 = 1 << 4;
    const ROWS_OUT: u8 = 1 << 5;
    const INPUTS: u8 = 1 << 6;
    const OUTPUTS: u8 = 1 << 7;

    #[cfg(feature = "tracing-opentelemetry")]
    /// The bit of an `etl.*` field name, if it is one of ours.
    pub(crate) fn bit(field: &str) -> u8 {
        match field {
            "etl.pipeline" | "etl.process" | "etl.step" => Self::NAME,
            "etl.run_id" => Self::RUN_ID,
            "etl.correlation_id" => Self::CORRELATION_ID,
            "etl.attempt" => Self::ATTEMPT,
            "etl.rows_in" => Self::ROWS_IN,
            "etl.rows_out" => Self::ROWS_OUT,
            "etl.inputs" => Self::INPUTS,
            "etl.outputs" => Self::OUTPUTS,
            _ => 0,
        }
    }

    #[cfg(feature = "tracing-opentelemetry")]
    pub(crate) fn from_bits(bits: u8) -> Given {
        Given(bits)
    }

    #[cfg(feature = "tracing-opentelemetry")]
    pub(crate) fn bits(self) -> u8 {
        self.0
    }

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// The attribute that names an entity of `kind`.
pub(crate) fn name_key(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Pipeline => "etl.pipeline",
        EntityKind::Process => "etl.process",
        EntityKind::Step => "etl.step",
    }
}

/// What the entity is: known when its span opens.
pub(crate) fn start_attributes(entity: &Entity, given: Given) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(7);
    attributes.push(KeyValue::new("etl.kind", entity.kind().as_str()));
    if !given.has(Given::NAME) {
        attributes.push(KeyValue::new(
            name_key(entity.kind()),
            entity.current_name(),
        ));
    }
    if !given.has(Given::RUN_ID) {
        attributes.push(KeyValue::new("etl.run_id", entity.run().run_id.shared()));
    }
    if let Some(correlation_id) = entity.run().correlation_id() {
        if !given.has(Given::CORRELATION_ID) {
            attributes.push(KeyValue::new("etl.correlation_id", correlation_id));
        }
    }
    if !given.has(Given::ATTEMPT) {
        attributes.push(KeyValue::new(
            "etl.attempt",
            i64::from(entity.run().attempt),
        ));
    }
    if let Some(process_run_id) = entity.process_run_id() {
        attributes.push(KeyValue::new(
            "etl.process_run_id",
            uuid_text(process_run_id),
        ));
    }
    if entity.kind() == EntityKind::Step {
        attributes.push(KeyValue::new("etl.step_run_id", uuid_text(entity.id())));
    }
    attributes
}

/// How the entity ended: attributes, and on failure the span status and `exception` event.
pub(crate) struct Outcome {
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) failure: Option<Failure>,
}

/// The error status and the `exception` event's attributes of a failed entity.
pub(crate) struct Failure {
    pub(crate) status: Status,
    pub(crate) exception: Vec<KeyValue>,
}

/// The outcome of a closed entity, from its state: with its volume (`etl.rows_in`,
/// `etl.rows_out` integers, `etl.inputs`, `etl.outputs` arrays of strings) as far as given, but
/// for the fields `given` on the span already.
pub(crate) fn outcome(entity: &Entity, given: Given) -> Outcome {
    let state = entity.state();
    let failed = state.error.is_some();
    let mut attributes = Vec::with_capacity(if failed { 5 } else { 2 });
    let volume = &state.volume;
    let rows = [
        ("etl.rows_in", Given::ROWS_IN, volume.rows_in),
        ("etl.rows_out", Given::ROWS_OUT, volume.rows_out),
    ];
    for (key, bit, rows) in rows {
        if let Some(rows) = rows.filter(|_| !given.has(bit)) {
            attributes.push(KeyValue::new(key, i64::try_from(rows).unwrap_or(i64::MAX)));
        }
    }
    let datasets = [
        ("etl.inputs", Given::INPUTS, &volume.inputs),
        ("etl.outputs", Given::OUTPUTS, &volume.outputs),
    ];
    for (key, bit, list) in datasets {
        if !list.is_empty() && !given.has(bit) {
            let list = list.iter().cloned().map(StringValue::from).collect();
            attributes.push(KeyValue::new(key, Value::Array(Array::String(list))));
        }
    }
    // `cancelled` is an error too: its status description and `error.type` say which.
    attributes.push(KeyValue::new("etl.status", entity.status(&state).as_str()));
    let duration_ms = entity
        .duration_ms()
        .map_or_else(|| entity.elapsed().as_millis(), u128::from);
    let duration_ms = i64::try_from(duration_ms).unwrap_or(i64::MAX);
    attributes.push(KeyValue::new("etl.duration_ms", duration_ms));
    let failure = state.error.as_deref().map(|error| {
        let error_type: Value = match &error.error_type {
            Some(t) => t.clone().into(),
            None => OTHER_ERROR_TYPE.into(),
        };
        attributes.push(KeyValue::new("error.type", error_type));
        if let Some(failed) = &state.failed_step {
            attributes.push(KeyValue::new("etl.failed_step", failed.step.clone()));
            attributes.push(KeyValue::new(
                "etl.failed_step_run_id",
                uuid_text(failed.step_run_id),
            ));
        }
        let mut exception = Vec::with_capacity(2);
        if let Some(t) = &error.error_type {
            exception.push(KeyValue::new("exception.type", t.clone()));
        }
        exception.push(KeyValue::new(
            "exception.message",
            error.error_message.clone(),
        ));
        Failure {
            status: Status::error(error.error_message.clone()),
            exception,
        }
    });
    Outcome {
        attributes,
        failure,
    }
}

/// Applies `outcome` to the span in `cx`, which is still open.
pub(crate) fn apply_outcome(
    span: &opentelemetry::trace::SpanRef<'_>,
    outcome: Outcome,
    at: SystemTime,
) {
    span.set_attributes(outcome.attributes);
    if let Some(failure) = outcome.failure {
        span.set_status(failure.status);
        span.add_event_with_timestamp("exception", at, failure.exception);
    }
}

/// Keeps the ids of the entity's span for its records, when the span is sampled (exported).
pub(crate) fn record_ids(entity: &Entity, span: &SpanContext) {
    if !(span.is_valid() && span.is_sampled()) {
        return;
    }
    let trace_id = u128::from_be_bytes(span.trace_id().to_bytes());
    let span_id = u64::from_be_bytes(span.span_id().to_bytes());
    let mut state = entity.state();
    state.trace_id = Some(trace_id);
    state.span_id = Some(span_id);
}
