//! Hostile values on `etl.*` fields and in error events. Each has a defined outcome — a default
//! and a warning, a cut with [`TRUNCATED_MARKER`], or the value kept verbatim — and none panics
//! the layer or breaks a store (against SQLite the rows are read back from the file and checked
//! to be the latest record of every entity).

#[cfg(feature = "cli")]
use crate::cli_support;
use crate::support;

use std::fmt;
use std::sync::mpsc;

use support::scenarios::{run, Runs, Store};
use tracing::field::Empty;
use tracing::Dispatch;
use tracing_etl::{
    layer::{MAX_FIELD_BYTES, TRUNCATED_MARKER},
    RunStatus,
};

both_stores!(
    wrong_types_on_etl_fields_are_defaulted_with_a_warning,
    other_types_that_are_taken,
    megabyte_strings_are_cut_with_the_marker,
    nul_characters_become_replacement_characters,
    lossy_and_failing_debug_renderings_in_errors,
    sql_is_stored_verbatim,
    a_field_given_twice_keeps_the_last_value_with_a_warning,
    key_fields_recorded_after_creation_are_ignored_with_a_warning,
    a_run_id_reused_by_two_concurrent_pipelines_shares_one_row,
    values_whose_debug_emits_events,
    values_whose_debug_or_display_panics,
);

/// A pipeline `nightly` with the given extra fields and a step `load`.
macro_rules! nightly {
    ($store:expr, $($field:tt)+) => {{
        let (runs, ()) = run($store, || {
            let _p = tracing::info_span!("nightly", $($field)+).entered();
            let _s = tracing::info_span!("load", etl.step = Empty).entered();
        });
        assert_eq!(runs.step("load").outcome.status, RunStatus::Success);
        runs
    }};
}

/// The only warning, which must contain every one of `needles`.
fn one_warning(runs: &Runs, needles: &[&str]) {
    assert_eq!(runs.warnings.len(), 1, "{:#?}", runs.warnings);
    for needle in needles {
        assert!(
            runs.warnings[0].contains(needle),
            "{needle:?} in {:?}",
            runs.warnings[0]
        );
    }
}

fn wrong_types_on_etl_fields_are_defaulted_with_a_warning(store: Store) {
    // etl.attempt: 1.
    for (runs, shown) in [
        (
            nightly!(store, etl.pipeline = Empty, etl.attempt = "abc"),
            "\"abc\"",
        ),
        (
            nightly!(store, etl.pipeline = Empty, etl.attempt = -1),
            "-1",
        ),
        (
            nightly!(store, etl.pipeline = Empty, etl.attempt = u64::MAX),
            "18446744073709551615",
        ),
        (
            nightly!(store, etl.pipeline = Empty, etl.attempt = i128::MIN),
            &i128::MIN.to_string(),
        ),
        (
            nightly!(store, etl.pipeline = Empty, etl.attempt = u128::MAX),
            &u128::MAX.to_string(),
        ),
        (
            nightly!(store, etl.pipeline = Empty, etl.attempt = 2.5),
            "2.5",
        ),
        (
            nightly!(store, etl.pipeline = Empty, etl.attempt = f64::NAN),
            "NaN",
        ),
        (
            nightly!(store, etl.pipeline = Empty, etl.attempt = true),
            "true",
        ),
    ] {
        assert_eq!(runs.pipeline("nightly").run.attempt, 1);
        assert_eq!(runs.step("load").run.attempt, 1);
        one_warning(
            &runs,
            &[&format!("etl.attempt = {shown} "), "`nightly`", "using 1"],
        );
    }
    // etl.run_id: a generated one.
    for (runs, shown) in [
        (
            nightly!(store, etl.pipeline = Empty, etl.run_id = true),
            "true",
        ),
        (
            nightly!(store, etl.pipeline = Empty, etl.run_id = ""),
            "\"\"",
        ),
        (
            nightly!(store, etl.pipeline = Empty, etl.run_id = " \t"),
            "\" \\t\"",
        ),
        (
            nightly!(store, etl.pipeline = Empty, etl.run_id = 2.5),
            "2.5",
        ),
        (
            nightly!(store, etl.pipeline = Empty, etl.run_id = f64::INFINITY),
            "inf",
        ),
    ] {
        let run_id = &runs.pipeline("nightly").run.run_id;
        assert!(uuid::Uuid::parse_str(run_id).is_ok(), "{run_id}");
        assert_eq!(&runs.step("load").run.run_id, run_id);
        one_warning(
            &runs,
            &[&format!("etl.run_id = {shown} "), "using a generated one"],
        );
    }
    // etl.last_attempt: true.
    for (runs, shown) in [
        (
            nightly!(store, etl.pipeline = Empty, etl.last_attempt = "yes"),
            "\"yes\"",
        ),
        (
            nightly!(store, etl.pipeline = Empty, etl.last_attempt = 0),
            "0",
        ),
        (
            nightly!(store, etl.pipeline = Empty, etl.last_attempt = 0.0),
            "0.0",
        ),
    ] {
        assert!(runs.pipeline("nightly").run.last_attempt);
        one_warning(
            &runs,
            &[&format!("etl.last_attempt = {shown} "), "using true"],
        );
    }
    // A name that is not text: the span's name.
    for (runs, shown) in [
        (nightly!(store, etl.pipeline = 5), "5"),
        (nightly!(store, etl.pipeline = -5), "-5"),
        (nightly!(store, etl.pipeline = 2.5), "2.5"),
        (
            nightly!(store, etl.pipeline = u128::MAX),
            &u128::MAX.to_string(),
        ),
        (nightly!(store, etl.pipeline = ""), "\"\""),
        (
            nightly!(store, etl.pipeline = "\u{3000}\n"),
            r#""\u{3000}\n""#,
        ),
    ] {
        assert_eq!(runs.pipelines.len(), 1);
        runs.pipeline("nightly");
        one_warning(
            &runs,
            &[&format!("etl.pipeline = {shown} "), "not a usable name"],
        );
    }
    // An etl.* field this crate does not know.
    let runs = nightly!(store, etl.pipeline = Empty, etl.atempt = 2);
    assert_eq!(runs.pipeline("nightly").run.attempt, 1);
    one_warning(&runs, &["unknown field `etl.atempt`", "ignored"]);
}

fn other_types_that_are_taken(store: Store) {
    let cases = [
        (nightly!(store, etl.pipeline = Empty, etl.run_id = 42), "42"),
        (
            nightly!(store, etl.pipeline = Empty, etl.run_id = i128::MIN),
            "-170141183460469231731687303715884105728",
        ),
        // Above i128::MAX (a UUID as u128, say): kept exactly, not clamped.
        (
            nightly!(store, etl.pipeline = Empty, etl.run_id = u128::MAX),
            "340282366920938463463374607431768211455",
        ),
        (
            nightly!(store, etl.pipeline = Empty, etl.run_id = ?vec![1, 2]),
            "[1, 2]",
        ),
    ];
    for (runs, run_id) in cases {
        assert!(runs.warnings.is_empty(), "{:#?}", runs.warnings);
        assert_eq!(runs.pipeline("nightly").run.run_id, run_id);
        assert_eq!(runs.step("load").run.run_id, run_id);
    }
    let big = u128::MAX - 1;
    let runs_a = nightly!(store, etl.pipeline = Empty, etl.run_id = big);
    let runs_b = nightly!(store, etl.pipeline = Empty, etl.run_id = u128::MAX);
    assert_ne!(
        runs_a.pipeline("nightly").run.run_id,
        runs_b.pipeline("nightly").run.run_id
    );

    for (runs, correlation_id) in [
        (
            nightly!(store, etl.pipeline = Empty, etl.correlation_id = 42),
            "42",
        ),
        (
            nightly!(store, etl.pipeline = Empty, etl.correlation_id = 2.5),
            "2.5",
        ),
        (
            nightly!(store, etl.pipeline = Empty, etl.correlation_id = true),
            "true",
        ),
        (
            nightly!(store, etl.pipeline = Empty, etl.correlation_id = ""),
            "",
        ),
    ] {
        assert!(runs.warnings.is_empty(), "{:#?}", runs.warnings);
        assert_eq!(
            runs.step("load").run.correlation_id.as_deref(),
            Some(correlation_id)
        );
    }
    for (runs, attempt) in [
        (nightly!(store, etl.pipeline = Empty, etl.attempt = 2.0), 2),
        (
            nightly!(store, etl.pipeline = Empty, etl.attempt = 3_u128),
            3,
        ),
    ] {
        assert!(runs.warnings.is_empty(), "{:#?}", runs.warnings);
        assert_eq!(runs.step("load").run.attempt, attempt);
    }
    for (runs, last) in [
        (
            nightly!(store, etl.pipeline = Empty, etl.last_attempt = "false"),
            false,
        ),
        (
            nightly!(store, etl.pipeline = Empty, etl.last_attempt = false),
            false,
        ),
    ] {
        assert!(runs.warnings.is_empty(), "{:#?}", runs.warnings);
        assert_eq!(runs.pipeline("nightly").run.last_attempt, last);
    }
    // `true` and `false` mark a span like no value does.
    let runs = nightly!(store, etl.pipeline = false);
    assert!(runs.warnings.is_empty(), "{:#?}", runs.warnings);
    runs.pipeline("nightly");
}

/// `text` cut as the crate cuts it: at the last character boundary at or before
/// `MAX_FIELD_BYTES`, then the marker.
fn cut(text: &str) -> String {
    let mut end = MAX_FIELD_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{TRUNCATED_MARKER}", &text[..end])
}

fn megabyte_strings_are_cut_with_the_marker(store: Store) {
    let ascii = "x".repeat(1 << 20);
    // Two-byte characters, offset by one byte: the cut falls inside a character.
    let wide = format!("a{}", "é".repeat(1 << 19));
    let (runs, ()) = run(store, || {
        let _p = tracing::info_span!(
            "nightly",
            etl.pipeline = ascii.as_str(),
            etl.run_id = wide.as_str(),
            etl.correlation_id = %ascii
        )
        .entered();
        let _s = tracing::info_span!("load", etl.step = %wide).entered();
        tracing::error!(
            error = ?ascii,
            error.message = wide.as_str(),
            error.type = ascii.as_str(),
            "{ascii}"
        );
    });
    assert!(runs.warnings.is_empty(), "{:#?}", runs.warnings);
    let p = &runs.pipelines[0];
    assert_eq!(p.name, cut(&ascii));
    assert_eq!(p.run.run_id, cut(&wide));
    assert!(cut(&wide).len() < MAX_FIELD_BYTES + TRUNCATED_MARKER.len());
    assert_eq!(p.run.correlation_id.as_deref(), Some(cut(&ascii).as_str()));
    let step = &runs.steps[0];
    assert_eq!(step.name, cut(&wide));
    assert_eq!(step.run.run_id, p.run.run_id);
    assert_eq!(step.outcome.status, RunStatus::Failed);
    // The `Debug` form of a string is quoted.
    assert_eq!(
        step.outcome.error.full.as_deref(),
        Some(cut(&format!("{ascii:?}")).as_str())
    );
    assert_eq!(
        step.outcome.error.message.as_deref(),
        Some(cut(&wide).as_str())
    );
    assert_eq!(
        step.outcome.error.type_name.as_deref(),
        Some(cut(&ascii).as_str())
    );
    assert_eq!(p.failed_step(), Some(cut(&wide).as_str()));
    assert_eq!(p.outcome.error.message, step.outcome.error.message);

    // The event's message when there is nothing else.
    let (runs, ()) = run(store, || {
        let _s = tracing::info_span!("load", etl.step = Empty).entered();
        tracing::error!("{ascii}");
    });
    assert_eq!(
        runs.step("load").outcome.error.message.as_deref(),
        Some(cut(&ascii).as_str())
    );
}

fn nul_characters_become_replacement_characters(store: Store) {
    let (runs, ()) = run(store, || {
        let _p = tracing::info_span!(
            "nightly",
            etl.pipeline = "night\0ly",
            etl.run_id = %"run\0id",
            etl.correlation_id = "\0"
        )
        .entered();
        let _s = tracing::info_span!("load", etl.step = Empty).entered();
        tracing::error!(error.message = "bad\0byte", error.type = "Nul\0Error", "x");
    });
    assert!(runs.warnings.is_empty(), "{:#?}", runs.warnings);
    let p = runs.pipeline("night\u{FFFD}ly");
    assert_eq!(p.run.run_id, "run\u{FFFD}id");
    assert_eq!(p.run.correlation_id.as_deref(), Some("\u{FFFD}"));
    let step = runs.step("load");
    assert_eq!(
        step.outcome.error.message.as_deref(),
        Some("bad\u{FFFD}byte")
    );
    assert_eq!(
        step.outcome.error.type_name.as_deref(),
        Some("Nul\u{FFFD}Error")
    );
    assert_eq!(step.outcome.error.full.as_deref(), Some("x"));
}

/// A `Debug` (and `Display`) that writes the lossy decoding of invalid UTF-8.
struct Lossy;

impl fmt::Debug for Lossy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(b"Lossy(\xff\xfe bytes)"))
    }
}

/// A `Debug` and `Display` that fail half-way, as a broken implementation may.
struct Failing;

impl fmt::Debug for Failing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Failing(part")?;
        Err(fmt::Error)
    }
}

impl fmt::Display for Failing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("failed half")?;
        Err(fmt::Error)
    }
}

impl std::error::Error for Failing {}

fn lossy_and_failing_debug_renderings_in_errors(store: Store) {
    let (runs, ()) = run(store, || {
        let _p = tracing::info_span!("nightly", etl.pipeline = Empty).entered();
        {
            let _s = tracing::info_span!("lossy", etl.step = Empty).entered();
            tracing::error!(error = ?Lossy, "lossy");
        }
        {
            let _s = tracing::info_span!("failing_debug", etl.step = Empty).entered();
            tracing::error!(error = ?Failing);
        }
        {
            let _s = tracing::info_span!("failing_error", etl.step = Empty).entered();
            let error: &(dyn std::error::Error + 'static) = &Failing;
            tracing::error!(error);
        }
        {
            let _s = tracing::info_span!("failing_message", etl.step = Empty).entered();
            tracing::error!("{}", Failing);
        }
        // As a name: what was written before the failure.
        let _s = tracing::info_span!("named", etl.step = ?Failing).entered();
    });
    assert!(runs.warnings.is_empty(), "{:#?}", runs.warnings);
    let lossy = runs.step("lossy");
    assert_eq!(
        lossy.outcome.error.full.as_deref(),
        Some("Lossy(\u{FFFD}\u{FFFD} bytes)")
    );
    assert_eq!(lossy.outcome.error.type_name.as_deref(), Some("Lossy"));
    assert_eq!(
        lossy.outcome.error.message.as_deref(),
        Some("Lossy(\u{FFFD}\u{FFFD} bytes)")
    );
    let debug = runs.step("failing_debug");
    assert_eq!(debug.outcome.status, RunStatus::Failed);
    assert_eq!(debug.outcome.error.full.as_deref(), Some("Failing(part"));
    let error = runs.step("failing_error");
    assert_eq!(error.outcome.error.full.as_deref(), Some("Failing(part"));
    assert_eq!(error.outcome.error.message.as_deref(), Some("failed half"));
    let message = runs.step("failing_message");
    assert_eq!(
        message.outcome.error.message.as_deref(),
        Some("failed half")
    );
    assert_eq!(runs.step("Failing(part").outcome.status, RunStatus::Success);
    assert_eq!(runs.pipeline("nightly").failed_step(), Some("lossy"));
}

const EVIL_RUN: &str = "r'); DROP TABLE step_runs; --";
const EVIL_PIPELINE: &str = "Robert'); DROP TABLE pipeline_runs;--";
const EVIL_STEP: &str = "x' OR '1'='1";
const EVIL_ERROR: &str = "'; DELETE FROM process_runs; -- \"quoted\" `ticks` %s {}";

fn evil_run() {
    let _p = tracing::info_span!(
        "p",
        etl.pipeline = EVIL_PIPELINE,
        etl.run_id = EVIL_RUN,
        etl.correlation_id = "1; SELECT * FROM recorders"
    )
    .entered();
    let _q = tracing::info_span!("q", etl.process = "';--").entered();
    let _s = tracing::info_span!("s", etl.step = EVIL_STEP).entered();
    tracing::error!(error.message = EVIL_ERROR, error.type = "'", "x");
}

fn sql_is_stored_verbatim(store: Store) {
    let (runs, ()) = run(store, evil_run);
    let p = runs.pipeline(EVIL_PIPELINE);
    assert_eq!(p.run.run_id, EVIL_RUN);
    assert_eq!(
        p.run.correlation_id.as_deref(),
        Some("1; SELECT * FROM recorders")
    );
    assert_eq!(p.outcome.error.message.as_deref(), Some(EVIL_ERROR));
    assert_eq!(p.failed_step(), Some(EVIL_STEP));
    assert_eq!(runs.process("';--").run.run_id, EVIL_RUN);
    assert_eq!(
        runs.step(EVIL_STEP).outcome.error.type_name.as_deref(),
        Some("'")
    );
}

/// The command-line tool finds such a run by its name and id, and every table is still there.
#[cfg(feature = "cli")]
#[test]
fn sql_through_the_command_line_tool() {
    let history = cli_support::History::new();
    history.record(evil_run);
    let json = |args: &[&str]| -> serde_json::Value {
        let out = cli_support::cli(&history.path)
            .args(args)
            .arg("--json")
            .assert()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice(&out).unwrap()
    };
    let runs = json(&["runs", "--pipeline", EVIL_PIPELINE]);
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_eq!(runs[0]["run_id"], EVIL_RUN);
    assert_eq!(
        json(&["runs", "--pipeline", "' OR '1'='1"]),
        serde_json::json!([])
    );
    let shown = json(&["show", EVIL_RUN]);
    assert_eq!(shown["pipeline"], EVIL_PIPELINE);
    assert_eq!(shown["steps"][0]["step"], EVIL_STEP);
    assert_eq!(
        shown["steps"][0]["process_run_id"],
        shown["processes"][0]["process_run_id"]
    );
    assert_eq!(json(&["failures"])[0]["error_message"], EVIL_ERROR);

    let tables: i64 = history
        .reader()
        .connection()
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        tables, 4,
        "pipeline_runs, process_runs, step_runs, recorders"
    );
}

fn a_field_given_twice_keeps_the_last_value_with_a_warning(store: Store) {
    let (runs, ()) = run(store, || {
        let _p = tracing::info_span!(
            "p",
            etl.pipeline = "first",
            etl.pipeline = "second",
            etl.run_id = "r1",
            etl.run_id = "r2",
            etl.attempt = Empty,
            etl.attempt = 3
        )
        .entered();
    });
    let p = runs.pipeline("second");
    assert_eq!((p.run.run_id.as_str(), p.run.attempt), ("r2", 3));
    assert_eq!(
        runs.warnings,
        [
            "field `etl.pipeline` is given more than once on span `p`; the last value is used",
            "field `etl.run_id` is given more than once on span `p`; the last value is used",
        ],
        "an empty value is no value"
    );
}

fn key_fields_recorded_after_creation_are_ignored_with_a_warning(store: Store) {
    let (runs, ()) = run(store, || {
        let p = tracing::info_span!(
            "p",
            etl.pipeline = "nightly",
            etl.run_id = "r1",
            etl.attempt = Empty,
            rows = Empty
        );
        p.record("etl.attempt", 2);
        p.record("etl.run_id", "other");
        p.record("rows", 10);
        let _p = p.entered();
        let s = tracing::info_span!("load", etl.step = Empty);
        // Names are not keys: the last one recorded is the step's.
        s.record("etl.step", "renamed");
        s.record("etl.step", "again");
    });
    let p = runs.pipeline("nightly");
    assert_eq!((p.run.run_id.as_str(), p.run.attempt), ("r1", 1));
    assert_eq!(runs.step("again").run.run_id, "r1");
    let warnings = &runs.warnings;
    assert_eq!(
        warnings.len(),
        2,
        "one per Span::record of a key field: {warnings:#?}"
    );
    for warning in warnings {
        assert!(
            warning.starts_with(
                "etl.run_id/etl.attempt recorded on span `p` after it was created are ignored"
            ),
            "{warning}"
        );
    }
}

/// Two pipelines open at once with the same `(run_id, attempt)` are two entities with the same
/// key: stores that upsert keep one row for both (the end record written last wins), append-only
/// stores keep all four records; their processes and steps keep rows of their own, all with that
/// run id. No warning: run ids are the program's to choose.
fn a_run_id_reused_by_two_concurrent_pipelines_shares_one_row(store: Store) {
    let (runs, ()) = run(store, || {
        let dispatch = tracing::dispatcher::get_default(Dispatch::clone);
        let (a_closed, b_may_close) = mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                tracing::dispatcher::with_default(&dispatch, || {
                    let _p = tracing::info_span!("a", etl.pipeline = Empty, etl.run_id = "dup")
                        .entered();
                    let _s = tracing::info_span!("load_a", etl.step = Empty).entered();
                    tracing::error!("a failed");
                });
                a_closed.send(()).unwrap();
            });
            let dispatch = &dispatch;
            s.spawn(move || {
                tracing::dispatcher::with_default(dispatch, || {
                    let _p = tracing::info_span!("b", etl.pipeline = Empty, etl.run_id = "dup")
                        .entered();
                    let _s = tracing::info_span!("load_b", etl.step = Empty).entered();
                    b_may_close.recv().unwrap();
                });
            });
        });
    });
    assert!(runs.warnings.is_empty(), "{:#?}", runs.warnings);
    assert_eq!(runs.pipelines.len(), 1, "one row for (dup, 1)");
    let row = &runs.pipelines[0];
    assert_eq!(row.name, "b", "the end record written last");
    assert_eq!(row.outcome.status, RunStatus::Success);
    let pipeline_records = runs
        .records
        .iter()
        .filter(|r| r.kind() == tracing_etl::record::EntityKind::Pipeline)
        .count();
    assert_eq!(pipeline_records, 4, "every record was written");
    assert_eq!(runs.step("load_a").outcome.status, RunStatus::Failed);
    assert_eq!(runs.step("load_b").outcome.status, RunStatus::Success);
    assert!(runs.steps.iter().all(|s| s.run.run_id == "dup"));
}

/// A value whose `Debug` emits an ERROR event while the layer formats it.
struct Chatty;

impl fmt::Debug for Chatty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        tracing::error!(error.type = "Nested", "nested");
        f.write_str("Chatty")
    }
}

/// Formatting a value runs the program's code inside the layer's callbacks. Events it emits
/// there are discarded by `tracing` (a subscriber is not re-entered from its own callbacks): no
/// deadlock, no panic, and the event being recorded is the failure.
fn values_whose_debug_emits_events(store: Store) {
    let (runs, ()) = run(store, || {
        let _p = tracing::info_span!("nightly", etl.pipeline = Empty).entered();
        {
            let _s = tracing::info_span!("load", etl.step = Empty).entered();
            tracing::error!(error = ?Chatty, "outer");
        }
        // While the step span is being created, its parent is the current span.
        let _s = tracing::info_span!("named", etl.step = ?Chatty).entered();
    });
    let load = runs.step("load");
    assert_eq!(load.outcome.error.full.as_deref(), Some("Chatty"));
    assert_eq!(load.outcome.error.type_name.as_deref(), Some("Chatty"));
    assert_eq!(runs.step("Chatty").outcome.status, RunStatus::Success);
    let p = runs.pipeline("nightly");
    assert_eq!(p.outcome.status, RunStatus::Failed);
    assert_eq!(p.failed_step(), Some("load"));
}

/// A value whose `Debug` and `Display` write a little, then panic.
struct Panicky;

impl fmt::Debug for Panicky {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Panicky(")?;
        panic!("Debug of Panicky");
    }
}

impl fmt::Display for Panicky {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("half a message")?;
        panic!("Display of Panicky");
    }
}

impl std::error::Error for Panicky {}

/// The program's `Debug`/`Display` panicking while the layer formats it does not unwind through
/// the layer: the value is what it wrote, then `<formatting panicked>`.
fn values_whose_debug_or_display_panics(store: Store) {
    let (runs, ()) = run(store, || {
        let _p = tracing::info_span!("nightly", etl.pipeline = Empty).entered();
        {
            let _s = tracing::info_span!("debug_error", etl.step = Empty).entered();
            tracing::error!(error = ?Panicky);
        }
        {
            let _s = tracing::info_span!("dyn_error", etl.step = Empty).entered();
            let error: &(dyn std::error::Error + 'static) = &Panicky;
            tracing::error!(error);
        }
        // As a name.
        let _s = tracing::info_span!("named", etl.step = ?Panicky).entered();
    });
    let debug = runs.step("debug_error");
    assert_eq!(debug.outcome.status, RunStatus::Failed);
    assert_eq!(
        debug.outcome.error.full.as_deref(),
        Some("Panicky(<formatting panicked>")
    );
    let error = runs.step("dyn_error");
    assert_eq!(error.outcome.status, RunStatus::Failed);
    assert_eq!(
        error.outcome.error.message.as_deref(),
        Some("half a message<formatting panicked>")
    );
    assert_eq!(
        runs.step("Panicky(<formatting panicked>").outcome.status,
        RunStatus::Success
    );
    assert_eq!(runs.pipeline("nightly").outcome.status, RunStatus::Failed);
}
