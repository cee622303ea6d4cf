//! The three error fields keep the seed's meaning whatever the error's shape: `error` the full
//! form, `error_type` the type's name (or none when it is not known, never a made-up one),
//! `error_message` the human message.

use crate::support;

use std::error::Error;
use std::num::ParseIntError;

use support::scenarios::{run, Store};
use tracing::instrument;
use tracing_etl::RunStatus;

both_stores!(
    record_error_on_a_boxed_trait_object_names_the_type_behind_it,
    record_error_on_a_boxed_message_has_no_type,
    record_error_on_anyhow_as_ref,
    err_debug_with_an_anyhow_report_keeps_the_report_in_error_only,
    err_debug_with_a_derived_debug,
    an_error_event_without_an_error_field,
);

/// `(error, error_type, error_message)` of the one step named `step`.
fn error_fields(runs: &support::scenarios::Runs, step: &str) -> [Option<String>; 3] {
    let step = runs.step(step);
    assert_eq!(step.status(), RunStatus::Failed);
    [
        step.outcome.error.full.clone(),
        step.outcome.error.type_name.clone(),
        step.outcome.error.message.clone(),
    ]
}

fn parse_error() -> ParseIntError {
    "twelve".parse::<u32>().unwrap_err()
}

fn record_error_on_a_boxed_trait_object_names_the_type_behind_it(store: Store) {
    #[instrument(fields(etl.step))]
    fn load() {
        let boxed: Box<dyn Error + Send + Sync> = Box::new(parse_error());
        tracing_etl::record_error(&*boxed);
    }

    let (runs, ()) = run(store, load);
    let [error, error_type, error_message] = error_fields(&runs, "load");
    assert_eq!(
        error.as_deref(),
        Some("ParseIntError { kind: InvalidDigit }")
    );
    // Not "Sync", the last word of `dyn Error + Send + Sync`: the type its `Debug` form names.
    assert_eq!(error_type.as_deref(), Some("ParseIntError"));
    assert_eq!(
        error_message.as_deref(),
        Some("invalid digit found in string")
    );
}

fn record_error_on_a_boxed_message_has_no_type(store: Store) {
    #[instrument(fields(etl.step))]
    fn load() {
        let boxed: Box<dyn Error + Send + Sync> = "disk full".into();
        tracing_etl::record_error(&*boxed);
        let unsendable: Box<dyn Error> = "disk full".into();
        tracing_etl::record_error(unsendable.as_ref());
    }

    let (runs, ()) = run(store, load);
    let [error, error_type, error_message] = error_fields(&runs, "load");
    assert_eq!(error.as_deref(), Some("\"disk full\""));
    assert_eq!(error_type, None, "a message has no type to name");
    assert_eq!(error_message.as_deref(), Some("disk full"));
}

fn record_error_on_anyhow_as_ref(store: Store) {
    #[instrument(fields(etl.step))]
    fn from_a_typed_error() {
        let error = anyhow::Error::from(parse_error());
        let error: &(dyn Error + Send + Sync) = error.as_ref();
        tracing_etl::record_error(error);
    }

    #[instrument(fields(etl.step))]
    fn from_a_message() {
        let error = anyhow::anyhow!("no rows for 2026-11-28");
        tracing_etl::record_error::<dyn Error>(error.as_ref());
    }

    let (runs, ()) = run(store, || {
        from_a_typed_error();
        from_a_message();
    });
    let [_, error_type, error_message] = error_fields(&runs, "from_a_typed_error");
    assert_eq!(error_type.as_deref(), Some("ParseIntError"));
    assert_eq!(
        error_message.as_deref(),
        Some("invalid digit found in string")
    );
    let [_, error_type, error_message] = error_fields(&runs, "from_a_message");
    assert_eq!(error_type, None);
    assert_eq!(error_message.as_deref(), Some("no rows for 2026-11-28"));
}

fn err_debug_with_an_anyhow_report_keeps_the_report_in_error_only(store: Store) {
    #[instrument(err(Debug), fields(etl.step))]
    fn load() -> anyhow::Result<u32> {
        let n = anyhow::Context::context("twelve".parse::<u32>(), "loading orders")?;
        Ok(n)
    }

    let (runs, result) = run(store, load);
    let report = format!("{:?}", result.unwrap_err());
    assert!(report.contains("\n\nCaused by:"), "{report}");
    let [error, error_type, error_message] = error_fields(&runs, "load");
    // The whole report, causes (and a backtrace, when one is captured) included.
    assert_eq!(error.as_deref(), Some(report.as_str()));
    // The report's first paragraph: the error's message.
    assert_eq!(error_message.as_deref(), Some("loading orders"));
    assert_eq!(error_type, None, "a sentence names no type");
}

fn err_debug_with_a_derived_debug(store: Store) {
    #[instrument(err(Debug), fields(etl.step))]
    fn load() -> Result<u32, ParseIntError> {
        "twelve".parse()
    }

    let (runs, result) = run(store, load);
    assert!(result.is_err());
    let [error, error_type, error_message] = error_fields(&runs, "load");
    assert_eq!(
        error.as_deref(),
        Some("ParseIntError { kind: InvalidDigit }")
    );
    assert_eq!(error_type.as_deref(), Some("ParseIntError"));
    // `err(Debug)` records nothing else: the `Debug` form is all the message there is.
    assert_eq!(error_message, error);
}

fn an_error_event_without_an_error_field(store: Store) {
    #[instrument(fields(etl.step))]
    fn load() {
        tracing::error!(rows = 3, "disk full");
    }

    let (runs, ()) = run(store, load);
    let [error, error_type, error_message] = error_fields(&runs, "load");
    // The message is all that was said: it is both the full form and the message.
    assert_eq!(error.as_deref(), Some("disk full"));
    assert_eq!(error_message.as_deref(), Some("disk full"));
    assert_eq!(error_type, None);
}
