//! A bad `etl.attempt` is no crash: the attempt is 1 and a WARN event with target `tracing_etl`
//! says why. Integers from 1 to `u32::MAX`, also as text, are accepted.

use crate::support;

use support::scenarios::{run, Runs, Store};
use tracing::field::Empty;
use tracing_etl::RunStatus;

/// Runs a pipeline `nightly` with a step, with `etl.attempt = $value`.
macro_rules! with_attempt {
    ($store:expr, $value:expr) => {{
        let (runs, ()) = run($store, || {
            let _p = tracing::info_span!("nightly", etl.pipeline = Empty, etl.attempt = $value)
                .entered();
            let _s = tracing::info_span!("load", etl.step = Empty).entered();
        });
        runs
    }};
}

fn assert_attempt(runs: &Runs, attempt: u32) {
    assert_eq!(runs.pipeline("nightly").run.attempt, attempt);
    assert_eq!(runs.step("load").run.attempt, attempt);
    assert_eq!(runs.pipeline("nightly").outcome.status, RunStatus::Success);
}

fn assert_defaulted_with_warning(runs: &Runs, shown: &str) {
    assert_attempt(runs, 1);
    assert_eq!(runs.warnings.len(), 1, "{:#?}", runs.warnings);
    let warning = &runs.warnings[0];
    for needle in ["etl.attempt", shown, "nightly", "using 1"] {
        assert!(warning.contains(needle), "{needle:?} in {warning:?}");
    }
}

both_stores!(
    bad_values_default_to_1_with_a_warning,
    good_values_are_taken
);

fn bad_values_default_to_1_with_a_warning(store: Store) {
    assert_defaulted_with_warning(&with_attempt!(store, "abc"), "\"abc\"");
    assert_defaulted_with_warning(&with_attempt!(store, ""), "\"\"");
    assert_defaulted_with_warning(&with_attempt!(store, "2.5"), "2.5");
    assert_defaulted_with_warning(&with_attempt!(store, 0), "0");
    assert_defaulted_with_warning(&with_attempt!(store, -1), "-1");
    assert_defaulted_with_warning(&with_attempt!(store, i64::MIN), &i64::MIN.to_string());
    assert_defaulted_with_warning(&with_attempt!(store, "-3"), "\"-3\"");
    assert_defaulted_with_warning(&with_attempt!(store, u64::MAX), &u64::MAX.to_string());
    let too_big = u64::from(u32::MAX) + 1;
    assert_defaulted_with_warning(&with_attempt!(store, too_big), &too_big.to_string());
    assert_defaulted_with_warning(&with_attempt!(store, true), "true");
    assert_defaulted_with_warning(&with_attempt!(store, false), "false");
}

fn good_values_are_taken(store: Store) {
    for (runs, attempt) in [
        (with_attempt!(store, 3), 3),
        (with_attempt!(store, 1_u8), 1),
        (with_attempt!(store, "3"), 3),
        (with_attempt!(store, " 12 "), 12),
        (with_attempt!(store, tracing::field::display(5)), 5),
        (with_attempt!(store, u32::MAX), u32::MAX),
        (with_attempt!(store, u128::from(u32::MAX)), u32::MAX),
    ] {
        assert!(runs.warnings.is_empty(), "{:#?}", runs.warnings);
        assert_attempt(&runs, attempt);
    }
}
