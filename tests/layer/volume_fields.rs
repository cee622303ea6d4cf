//! The volume fields: `etl.rows_in`, `etl.rows_out`, `etl.inputs` and `etl.outputs` given when
//! a span opens, recorded later on `Empty` fields, or through `EtlSpanExt`; bad values are not
//! recorded and give one warning each; spans that are not entities are left alone.

use crate::support;

use support::scenarios::{run, Store};
use tracing::field::Empty;
use tracing::Span;
use tracing_etl::{record::Phase, EtlSpanExt, ExecutionRecordsLayer, InMemoryStore};
use tracing_subscriber::prelude::*;

both_stores!(
    given_when_the_span_opens,
    recorded_later_and_through_the_extension,
    bad_values_are_left_out_with_one_warning_each,
    entities_without_them_have_none
);

fn given_when_the_span_opens(store: Store) {
    let (runs, ()) = run(store, || {
        let _p = tracing::info_span!("nightly", etl.pipeline = Empty, etl.rows_out = 1_204_u64)
            .entered();
        let _s = tracing::info_span!(
            "load",
            etl.step = Empty,
            etl.rows_in = 1_210,
            etl.rows_out = 1_204.0,
            etl.inputs = "s3://landing/orders,2026.csv",
            etl.outputs = ?["postgres://dw/sales.orders", "postgres://dw/sales.rejects"],
        )
        .entered();
    });
    assert!(runs.warnings.is_empty(), "{:#?}", runs.warnings);
    let step = runs.step("load");
    assert_eq!(
        (step.rows_in(), step.rows_out()),
        (Some(1_210), Some(1_204))
    );
    assert_eq!(
        step.inputs(),
        ["s3://landing/orders,2026.csv"],
        "no split at commas"
    );
    assert_eq!(
        step.outputs(),
        ["postgres://dw/sales.orders", "postgres://dw/sales.rejects"]
    );
    let pipeline = runs.pipeline("nightly");
    assert_eq!(
        (pipeline.rows_in(), pipeline.rows_out()),
        (None, Some(1_204))
    );
    // The start record has them too: they were known when the span opened.
    let start = runs
        .records
        .iter()
        .find(|r| r.name == "load" && r.phase == Phase::Start)
        .unwrap();
    assert_eq!(start.rows_in(), Some(1_210));
}

fn recorded_later_and_through_the_extension(store: Store) {
    let (runs, ()) = run(store, || {
        let p = tracing::info_span!("nightly", etl.pipeline = Empty, etl.rows_out = Empty);
        let _p = p.enter();
        {
            let s = tracing::info_span!(
                "load",
                etl.step = Empty,
                etl.rows_out = Empty,
                etl.outputs = Empty
            );
            let _s = s.enter();
            Span::current().record("etl.rows_out", 10);
            // A count recorded again replaces the one before.
            Span::current().record("etl.rows_out", 12);
            Span::current().record("etl.outputs", "postgres://dw/a");
            s.add_output("postgres://dw/b");
            s.add_output("postgres://dw/a");
            s.add_input("file:///in.csv");
            s.add_input("  ");
            s.record_rows_in(13);
        }
        p.record("etl.rows_out", 12);
        // Not an entity: nothing happens, and no warning.
        let plain = tracing::info_span!("helper");
        plain.record_rows_out(5);
        plain.add_input("x");
    });
    assert!(runs.warnings.is_empty(), "{:#?}", runs.warnings);
    let step = runs.step("load");
    assert_eq!((step.rows_in(), step.rows_out()), (Some(13), Some(12)));
    assert_eq!(step.outputs(), ["postgres://dw/a", "postgres://dw/b"]);
    assert_eq!(step.inputs(), ["file:///in.csv"]);
    assert_eq!(runs.pipeline("nightly").rows_out(), Some(12));
    assert_eq!(runs.entity_count(), 2);
}

fn bad_values_are_left_out_with_one_warning_each(store: Store) {
    let (runs, ()) = run(store, || {
        let _p = tracing::info_span!("nightly", etl.pipeline = Empty).entered();
        let s = tracing::info_span!(
            "load",
            etl.step = Empty,
            etl.rows_in = -3,
            etl.rows_out = "12",
            etl.inputs = 7,
            etl.outputs = Empty
        );
        let _s = s.enter();
        s.record("etl.outputs", "[]");
        let _t = tracing::info_span!("check", etl.step = Empty, etl.rows_out = 2.5).entered();
    });
    let step = runs.step("load");
    assert_eq!((step.rows_in(), step.rows_out()), (None, None));
    assert!(step.inputs().is_empty() && step.outputs().is_empty());
    assert_eq!(runs.step("check").rows_out(), None);
    assert_eq!(runs.warnings.len(), 5, "{:#?}", runs.warnings);
    for needle in [
        "etl.rows_in = -3 on span `load` is not a row count",
        "etl.rows_out = \"12\" on span `load` is not a row count",
        "etl.inputs = 7 on span `load` is not a dataset name",
        "etl.outputs = \"[]\" on span `load` names no dataset",
        "etl.rows_out = 2.5 on span `check` is not a row count",
    ] {
        assert!(
            runs.warnings.iter().any(|w| w.contains(needle)),
            "{needle:?} in {:#?}",
            runs.warnings
        );
    }
}

fn entities_without_them_have_none(store: Store) {
    let (runs, ()) = run(store, || {
        let _p = tracing::info_span!("nightly", etl.pipeline = Empty).entered();
        let _s = tracing::info_span!("load", etl.step = Empty).entered();
    });
    for r in &runs.records {
        assert!(r.volume.is_empty(), "{r:?}");
    }
}

/// With two records layers in one subscriber, the extension reaches both.
#[test]
fn the_extension_reaches_every_records_layer() {
    let (a, b) = (InMemoryStore::new(), InMemoryStore::new());
    let (layer_a, guard_a) = ExecutionRecordsLayer::new(a.clone());
    let (layer_b, guard_b) = ExecutionRecordsLayer::new(b.clone());
    let subscriber = tracing_subscriber::registry().with(layer_a).with(layer_b);
    tracing::subscriber::with_default(subscriber, || {
        let s = tracing::info_span!("load", etl.step = Empty);
        s.record_rows_out(3);
        s.add_output("file:///out");
    });
    guard_a.shutdown().unwrap();
    guard_b.shutdown().unwrap();
    for store in [a, b] {
        let step = &store.step_runs()[0];
        assert_eq!(step.rows_out(), Some(3));
        assert_eq!(step.outputs(), ["file:///out"]);
    }
}
