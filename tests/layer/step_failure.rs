//! How a step fails: ERROR events inside it (from `#[instrument(err)]`, `tracing::error!` or
//! `tracing_etl::record_error`) and the `error` / `error_type` / `error_message` they give.

use crate::support;

use std::fmt;

use support::scenarios::{run, Store};
use tracing::instrument;
use tracing_etl::RunStatus;

/// An error whose `Debug` and `Display` differ, with a source.
#[derive(Debug)]
struct BadRow {
    row: usize,
    cause: std::num::ParseIntError,
}

impl fmt::Display for BadRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {} has a bad amount", self.row)
    }
}

impl std::error::Error for BadRow {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

fn bad_row(row: usize) -> BadRow {
    BadRow {
        row,
        cause: "12x".parse::<u32>().unwrap_err(),
    }
}

#[instrument(skip_all, fields(etl.pipeline = "p"))]
fn pipeline(step: impl FnOnce()) {
    step();
}

both_stores!(
    err_attribute_records_display,
    err_debug_attribute_records_debug,
    error_macro_with_message_only,
    error_macro_with_error_value,
    error_macro_with_explicit_fields,
    error_macro_with_exception_fields,
    record_error_gives_type_debug_and_display,
    first_error_event_of_a_step_is_its_error,
    error_in_non_entity_span_under_step_fails_it,
    warn_and_info_events_fail_nothing,
    error_outside_any_entity_fails_nothing,
);

fn err_attribute_records_display(store: Store) {
    #[instrument(skip_all, err, fields(etl.step))]
    fn load() -> Result<(), BadRow> {
        Err(bad_row(7))
    }

    let (runs, ()) = run(store, || pipeline(|| assert!(load().is_err())));
    let step = runs.step("load");
    assert_eq!(step.outcome.status, RunStatus::Failed);
    // `err` records `error = %e`: the Display form is all there is.
    assert_eq!(
        step.outcome.error.full.as_deref(),
        Some("row 7 has a bad amount")
    );
    assert_eq!(
        step.outcome.error.message.as_deref(),
        Some("row 7 has a bad amount")
    );
    assert_eq!(
        step.outcome.error.type_name, None,
        "a sentence gives no type name"
    );
    assert!(step.outcome.duration_ms.is_some());
}

fn err_debug_attribute_records_debug(store: Store) {
    #[instrument(skip_all, err(Debug), fields(etl.step))]
    fn parse() -> Result<u32, std::num::ParseIntError> {
        "12x".parse()
    }

    let (runs, ()) = run(store, || pipeline(|| assert!(parse().is_err())));
    let step = runs.step("parse");
    assert_eq!(step.outcome.status, RunStatus::Failed);
    let debug = "ParseIntError { kind: InvalidDigit }";
    assert_eq!(step.outcome.error.full.as_deref(), Some(debug));
    // No `error.message` and no Display: the `error` field is the message.
    assert_eq!(step.outcome.error.message.as_deref(), Some(debug));
    assert_eq!(
        step.outcome.error.type_name.as_deref(),
        Some("ParseIntError")
    );
}

fn error_macro_with_message_only(store: Store) {
    #[instrument(fields(etl.step))]
    fn load() {
        tracing::error!("the warehouse refused the connection");
    }

    let (runs, ()) = run(store, || pipeline(load));
    let step = runs.step("load");
    assert_eq!(step.outcome.status, RunStatus::Failed);
    let msg = "the warehouse refused the connection";
    assert_eq!(step.outcome.error.full.as_deref(), Some(msg));
    assert_eq!(step.outcome.error.message.as_deref(), Some(msg));
    assert_eq!(step.outcome.error.type_name, None);
}

fn error_macro_with_error_value(store: Store) {
    #[instrument(fields(etl.step))]
    fn load() {
        let e = bad_row(3);
        tracing::error!(
            error = &e as &(dyn std::error::Error + 'static),
            "load failed"
        );
    }

    let (runs, ()) = run(store, || pipeline(load));
    let step = runs.step("load");
    assert_eq!(step.outcome.status, RunStatus::Failed);
    // The full form is `Debug`, the message `Display` with the source chain, the type from
    // the `Debug` rendering.
    assert_eq!(
        step.outcome.error.full.as_deref(),
        Some(format!("{:?}", bad_row(3)).as_str())
    );
    assert_eq!(
        step.outcome.error.message.as_deref(),
        Some("row 3 has a bad amount: invalid digit found in string")
    );
    assert_eq!(step.outcome.error.type_name.as_deref(), Some("BadRow"));
}

fn error_macro_with_explicit_fields(store: Store) {
    #[instrument(fields(etl.step))]
    fn load() {
        tracing::error!(
            error = "Timeout { after: 30s }",
            error.type = "WarehouseTimeout",
            error.message = "the warehouse did not answer in 30 s",
            "load gave up"
        );
    }

    let (runs, ()) = run(store, || pipeline(load));
    let step = runs.step("load");
    assert_eq!(
        step.outcome.error.full.as_deref(),
        Some("Timeout { after: 30s }")
    );
    assert_eq!(
        step.outcome.error.type_name.as_deref(),
        Some("WarehouseTimeout")
    );
    assert_eq!(
        step.outcome.error.message.as_deref(),
        Some("the warehouse did not answer in 30 s")
    );
}

fn error_macro_with_exception_fields(store: Store) {
    #[instrument(fields(etl.step))]
    fn load() {
        tracing::error!(
            exception.type = "IoError",
            exception.message = "disk full",
            "could not write the output"
        );
    }

    let (runs, ()) = run(store, || pipeline(load));
    let step = runs.step("load");
    assert_eq!(step.outcome.status, RunStatus::Failed);
    assert_eq!(step.outcome.error.type_name.as_deref(), Some("IoError"));
    assert_eq!(step.outcome.error.message.as_deref(), Some("disk full"));
    // No `error` field: the full form falls back to the event's message.
    assert_eq!(
        step.outcome.error.full.as_deref(),
        Some("could not write the output")
    );
}

fn record_error_gives_type_debug_and_display(store: Store) {
    #[instrument(fields(etl.step))]
    fn load() {
        tracing_etl::record_error(&bad_row(9));
    }

    let (runs, ()) = run(store, || pipeline(load));
    let step = runs.step("load");
    assert_eq!(step.outcome.status, RunStatus::Failed);
    assert_eq!(step.outcome.error.type_name.as_deref(), Some("BadRow"));
    assert_eq!(
        step.outcome.error.message.as_deref(),
        Some("row 9 has a bad amount")
    );
    assert_eq!(
        step.outcome.error.full.as_deref(),
        Some(format!("{:?}", bad_row(9)).as_str())
    );
    let pipeline = runs.pipeline("p");
    assert_eq!(pipeline.outcome.error.type_name.as_deref(), Some("BadRow"));
}

fn first_error_event_of_a_step_is_its_error(store: Store) {
    #[instrument(fields(etl.step))]
    fn load() {
        tracing::error!(error.type = "First", "first");
        tracing::error!(error.type = "Second", "second");
    }

    let (runs, ()) = run(store, || pipeline(load));
    let step = runs.step("load");
    assert_eq!(step.outcome.error.message.as_deref(), Some("first"));
    assert_eq!(step.outcome.error.type_name.as_deref(), Some("First"));
    assert_eq!(
        runs.pipeline("p").outcome.error.message.as_deref(),
        Some("first")
    );
}

fn error_in_non_entity_span_under_step_fails_it(store: Store) {
    #[instrument]
    fn helper() {
        let _inner = tracing::info_span!("deeper").entered();
        tracing::error!("helper failed");
    }

    #[instrument(fields(etl.step))]
    fn load() {
        helper();
    }

    let (runs, ()) = run(store, || pipeline(load));
    let step = runs.step("load");
    assert_eq!(step.outcome.status, RunStatus::Failed);
    assert_eq!(step.outcome.error.message.as_deref(), Some("helper failed"));
    assert_eq!(runs.entity_count(), 2, "helper and deeper are no entities");
}

fn warn_and_info_events_fail_nothing(store: Store) {
    #[instrument(fields(etl.step))]
    fn load() {
        tracing::warn!(error = "not really", "a warning");
        tracing::info!("some info");
        tracing::debug!("debugging");
        tracing::trace!("tracing");
    }

    let (runs, ()) = run(store, || pipeline(load));
    let step = runs.step("load");
    assert_eq!(step.outcome.status, RunStatus::Success);
    assert_eq!(step.outcome.error.full, None);
    assert_eq!(step.outcome.error.type_name, None);
    assert_eq!(step.outcome.error.message, None);
    assert_eq!(runs.pipeline("p").outcome.status, RunStatus::Success);
}

fn error_outside_any_entity_fails_nothing(store: Store) {
    #[instrument(fields(etl.step))]
    fn load() {}

    let (runs, ()) = run(store, || {
        tracing::error!("before the pipeline");
        {
            let _plain = tracing::info_span!("setup").entered();
            tracing::error!("in a plain span");
        }
        pipeline(load);
        tracing::error!("after the pipeline");
    });
    assert_eq!(runs.step("load").outcome.status, RunStatus::Success);
    assert_eq!(runs.pipeline("p").outcome.status, RunStatus::Success);
    assert_eq!(runs.entity_count(), 2);
}
