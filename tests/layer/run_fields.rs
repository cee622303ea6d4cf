//! `etl.run_id`, `etl.correlation_id`, `etl.attempt`, `etl.last_attempt` on a pipeline span, as
//! processes and steps inherit them; misplaced or unusable values are warned about.

use crate::support;

use support::scenarios::{run, Runs, Store};
use tracing::field::Empty;
use tracing::instrument;
use tracing_etl::RunStatus;

both_stores!(
    run_fields_reach_every_entity_of_the_run,
    run_fields_in_other_value_forms,
    run_fields_on_a_step_inside_a_pipeline_are_ignored,
    run_fields_on_an_entity_outside_a_pipeline_are_its_run,
    an_empty_run_id_is_replaced_by_a_generated_one,
    an_unusable_last_attempt_is_true,
    unknown_etl_fields_are_warned_about,
);

fn assert_one_warning(runs: &Runs, needles: &[&str]) {
    assert_eq!(runs.warnings.len(), 1, "{:#?}", runs.warnings);
    for needle in needles {
        assert!(
            runs.warnings[0].contains(needle),
            "{needle:?} in {:?}",
            runs.warnings[0]
        );
    }
}

fn run_fields_reach_every_entity_of_the_run(store: Store) {
    #[instrument(skip_all, fields(
        etl.pipeline = "nightly",
        etl.run_id = %run_id,
        etl.correlation_id = %correlation_id,
        etl.attempt = attempt,
        etl.last_attempt = false,
    ))]
    fn pipeline(run_id: &str, correlation_id: &str, attempt: u32) {
        ingest();
    }

    #[instrument(fields(etl.process))]
    fn ingest() {
        load();
    }

    #[instrument(fields(etl.step))]
    fn load() {}

    let (runs, ()) = run(store, || pipeline("2026-11-28", "req-9", 4));
    assert!(runs.warnings.is_empty(), "{:#?}", runs.warnings);
    let p = runs.pipeline("nightly");
    assert_eq!(p.run.run_id, "2026-11-28");
    assert_eq!(p.run.correlation_id.as_deref(), Some("req-9"));
    assert_eq!(p.run.attempt, 4);
    assert!(!p.run.last_attempt);
    let process = runs.process("ingest");
    let step = runs.step("load");
    assert_eq!(
        (
            process.run.run_id.as_str(),
            process.run.correlation_id.as_deref(),
            process.run.attempt
        ),
        ("2026-11-28", Some("req-9"), 4)
    );
    assert_eq!(
        (
            step.run.run_id.as_str(),
            step.run.correlation_id.as_deref(),
            step.run.attempt
        ),
        ("2026-11-28", Some("req-9"), 4)
    );
}

fn run_fields_in_other_value_forms(store: Store) {
    let (runs, ()) = run(store, || {
        let _p = tracing::info_span!(
            "nightly",
            etl.pipeline = Empty,
            etl.run_id = 42_u64,
            etl.correlation_id = 7_i64,
            etl.attempt = "3",
            etl.last_attempt = "false",
        )
        .entered();
    });
    assert!(runs.warnings.is_empty(), "{:#?}", runs.warnings);
    let p = runs.pipeline("nightly");
    assert_eq!(p.run.run_id, "42");
    assert_eq!(p.run.correlation_id.as_deref(), Some("7"));
    assert_eq!(p.run.attempt, 3);
    assert!(!p.run.last_attempt);
    assert_eq!(p.outcome.status, RunStatus::Success);
}

fn run_fields_on_a_step_inside_a_pipeline_are_ignored(store: Store) {
    #[instrument(fields(etl.pipeline = "nightly", etl.run_id = "r1"))]
    fn pipeline() {
        load();
    }

    #[instrument(fields(etl.step, etl.run_id = "other", etl.attempt = 9))]
    fn load() {}

    let (runs, ()) = run(store, pipeline);
    let step = runs.step("load");
    assert_eq!(step.run.run_id, "r1");
    assert_eq!(step.run.attempt, 1);
    assert_eq!(step.outcome.status, RunStatus::Success);
    assert_one_warning(&runs, &["load", "ignored", "inherits"]);
}

fn run_fields_on_an_entity_outside_a_pipeline_are_its_run(store: Store) {
    #[instrument(fields(etl.process, etl.run_id = "solo", etl.attempt = 2))]
    fn backfill() {
        load();
    }

    #[instrument(fields(etl.step))]
    fn load() {}

    let (runs, ()) = run(store, backfill);
    assert!(runs.warnings.is_empty(), "{:#?}", runs.warnings);
    let process = runs.process("backfill");
    assert_eq!(
        (process.run.run_id.as_str(), process.run.attempt),
        ("solo", 2)
    );
    let step = runs.step("load");
    assert_eq!((step.run.run_id.as_str(), step.run.attempt), ("solo", 2));
}

fn an_empty_run_id_is_replaced_by_a_generated_one(store: Store) {
    let (runs, ()) = run(store, || {
        let _p = tracing::info_span!("nightly", etl.pipeline = Empty, etl.run_id = " ").entered();
    });
    let p = runs.pipeline("nightly");
    let id = uuid::Uuid::parse_str(&p.run.run_id).expect("a generated run id");
    assert_eq!(id.get_version_num(), 7);
    assert_one_warning(&runs, &["etl.run_id", "nightly"]);
}

fn an_unusable_last_attempt_is_true(store: Store) {
    let (runs, ()) = run(store, || {
        let _p =
            tracing::info_span!("nightly", etl.pipeline = Empty, etl.last_attempt = 0).entered();
    });
    assert!(runs.pipeline("nightly").run.last_attempt);
    assert_one_warning(&runs, &["etl.last_attempt", "nightly"]);
}

fn unknown_etl_fields_are_warned_about(store: Store) {
    let (runs, ()) = run(store, || {
        let _p = tracing::info_span!("nightly", etl.pipeline = Empty, etl.runid = "typo").entered();
    });
    assert_eq!(runs.pipeline("nightly").outcome.status, RunStatus::Success);
    assert_one_warning(&runs, &["etl.runid", "nightly"]);
}
