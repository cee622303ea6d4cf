//! A filter on the registry that hides entity spans from every layer is reported, once per
//! process, on stderr (which that filter does not hide); the documented stack, which filters
//! the log output only, records and reports nothing.
//!
//! Each scenario runs in a child process: the warning is printed once per process.

use crate::support;

use support::child;
use tracing::instrument;
use tracing_etl::{ExecutionRecordsLayer, InMemoryStore};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::{fmt, prelude::*, reload, EnvFilter};

#[instrument(fields(etl.pipeline = "daily_sales"))]
fn daily_sales() {
    load();
}

#[instrument(fields(etl.step))]
fn load() {}

/// The lines of the crate's stderr warning in `stderr`.
fn warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.starts_with("tracing-etl:"))
        .collect()
}

#[test]
fn the_usual_main_with_a_global_filter_is_reported_once() {
    let out = child::run("global_filter::usual_main", &[]);
    let warnings = warnings(&out.stderr);
    assert_eq!(warnings.len(), 1, "once per process: {out:#?}");
    let warning = warnings[0];
    assert!(
        warning.contains("no span more verbose than ERROR"),
        "{warning}"
    );
    assert!(warning.contains("no run history is recorded"), "{warning}");
    assert!(warning.contains("fmt::layer().with_filter("), "{warning}");
}

/// `registry().with(EnvFilter::from_default_env()).with(fmt::layer()).with(records)` with
/// `RUST_LOG` unset (EnvFilter's default is ERROR), then the same with `warn`: nothing recorded
/// either time, and the warning printed the first time only.
#[test]
fn usual_main() {
    if !child::is_child("global_filter::usual_main") {
        return;
    }
    for filter in [EnvFilter::from_default_env(), EnvFilter::new("warn")] {
        let store = InMemoryStore::new();
        let (records, guard) = ExecutionRecordsLayer::new(store.clone());
        let subscriber = tracing_subscriber::registry()
            .with(filter)
            .with(fmt::layer().with_writer(std::io::stderr))
            .with(records);
        tracing::subscriber::with_default(subscriber, daily_sales);
        drop(guard);
        assert_eq!(store.records().len(), 0, "the filter hid every entity span");
    }
}

#[test]
fn the_documented_stack_records_and_warns_nothing() {
    let out = child::run("global_filter::documented_stack", &[]);
    assert_eq!(warnings(&out.stderr), Vec::<&str>::new(), "{out:#?}");
}

/// The documented stack (the filter on the fmt layer), in both orders: `RUST_LOG` unset hides
/// the logs, not the history.
#[test]
fn documented_stack() {
    if !child::is_child("global_filter::documented_stack") {
        return;
    }
    let store = InMemoryStore::new();
    let (records, guard) = ExecutionRecordsLayer::new(store.clone());
    let subscriber = tracing_subscriber::registry()
        .with(records)
        .with(fmt::layer().with_filter(EnvFilter::from_default_env()));
    tracing::subscriber::with_default(subscriber, daily_sales);
    drop(guard);
    assert_eq!(store.records().len(), 4, "a start and an end record each");

    // The per-layer filter beneath the records layer hides nothing from it.
    let store = InMemoryStore::new();
    let (records, guard) = ExecutionRecordsLayer::new(store.clone());
    let subscriber = tracing_subscriber::registry()
        .with(fmt::layer().with_filter(EnvFilter::from_default_env()))
        .with(records);
    tracing::subscriber::with_default(subscriber, daily_sales);
    drop(guard);
    assert_eq!(store.records().len(), 4);
}

#[test]
fn a_filter_reloaded_to_hide_entity_spans_is_reported() {
    let out = child::run("global_filter::reloaded", &[]);
    let warnings = warnings(&out.stderr);
    assert_eq!(warnings.len(), 1, "{out:#?}");
    let warning = warnings[0];
    assert!(
        warning.contains("span `load` (INFO at ") && warning.contains("global_filter.rs:"),
        "the hidden callsite is named: {warning}"
    );
    assert!(
        warning.contains("no span more verbose than WARN"),
        "{warning}"
    );
}

/// A global level filter behind a `reload` layer lets INFO through, then is reloaded to WARN.
#[test]
fn reloaded() {
    if !child::is_child("global_filter::reloaded") {
        return;
    }
    let (filter, handle) = reload::Layer::new(LevelFilter::INFO);
    let store = InMemoryStore::new();
    let (records, guard) = ExecutionRecordsLayer::new(store.clone());
    let subscriber = tracing_subscriber::registry().with(filter).with(records);
    tracing::subscriber::with_default(subscriber, || {
        daily_sales();
        handle.reload(LevelFilter::WARN).expect("reloaded");
        daily_sales();
    });
    drop(guard);
    assert_eq!(store.records().len(), 4, "only the first run is recorded");
}

#[test]
fn entity_spans_at_warn_under_a_warn_filter_are_recorded_and_the_warning_says_which() {
    let out = child::run("global_filter::warn_level_entities", &[]);
    let warnings = warnings(&out.stderr);
    assert_eq!(warnings.len(), 1, "{out:#?}");
    assert!(
        warnings[0].contains(
            "spans at INFO (the level #[instrument] and info_span! give) or more verbose"
        ),
        "{}",
        warnings[0]
    );
}

/// Below INFO, but the entity spans are at WARN: recorded.
#[test]
fn warn_level_entities() {
    #[instrument(level = "warn", fields(etl.step))]
    fn urgent() {}

    if !child::is_child("global_filter::warn_level_entities") {
        return;
    }
    let store = InMemoryStore::new();
    let (records, guard) = ExecutionRecordsLayer::new(store.clone());
    let subscriber = tracing_subscriber::registry()
        .with(LevelFilter::WARN)
        .with(records);
    tracing::subscriber::with_default(subscriber, urgent);
    drop(guard);
    assert_eq!(store.records().len(), 2);
}
