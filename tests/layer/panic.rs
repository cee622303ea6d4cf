//! A step that panics is `failed` with `error_type = "panic"` and the panic message, and its
//! failure reaches its process and pipeline.

use crate::support;

use std::panic::{catch_unwind, AssertUnwindSafe};

use support::scenarios::{run, Store};
use tracing::instrument;
use tracing_etl::{
    layer::{MAX_FIELD_BYTES, TRUNCATED_MARKER},
    RunStatus,
};

both_stores!(
    a_panicking_step_fails_everything_around_it,
    a_panic_caught_in_the_process_fails_the_process,
    a_non_string_payload_is_still_a_panic,
    a_step_panicking_on_another_thread,
    a_panic_caught_inside_a_step_does_not_fail_it,
    a_resumed_panic_does_not_report_an_older_message,
    a_panic_caught_and_resumed_in_a_step_keeps_its_message,
    a_huge_panic_message_is_cut_like_every_other_text,
);

#[instrument(fields(etl.step))]
fn extract() {}

#[instrument(fields(etl.step))]
fn load() {
    panic!("row 7: amount missing");
}

fn assert_panic_message(message: Option<&str>, expected: &str) {
    // The panic's message alone: where it happened is in `error`, the full form.
    assert_eq!(message, Some(expected));
}

fn a_panicking_step_fails_everything_around_it(store: Store) {
    #[instrument(fields(etl.pipeline = "p"))]
    fn pipeline() {
        ingest();
    }

    #[instrument(fields(etl.process))]
    fn ingest() {
        extract();
        load();
    }

    let (runs, result) = run(store, || catch_unwind(pipeline));
    assert!(result.is_err(), "the panic went through");
    assert_eq!(runs.step("extract").outcome.status, RunStatus::Success);
    let step = runs.step("load");
    assert_eq!(step.outcome.status, RunStatus::Failed);
    assert_eq!(step.outcome.error.type_name.as_deref(), Some("panic"));
    assert_panic_message(
        step.outcome.error.message.as_deref(),
        "row 7: amount missing",
    );
    let error = step.outcome.error.full.as_deref().unwrap();
    assert!(
        error.starts_with("panic: row 7: amount missing (at ")
            && error.contains(concat!(file!(), ":"))
            && error.ends_with(')'),
        "the message, then where the panic happened: {error:?}"
    );
    assert!(step.outcome.duration_ms.is_some());

    let process = runs.process("ingest");
    let p = runs.pipeline("p");
    for (status, failed_step, failed_id, error_type, message) in [
        (
            process.outcome.status,
            process.failed_step(),
            process.failed_step_run_id(),
            &process.outcome.error.type_name,
            &process.outcome.error.message,
        ),
        (
            p.outcome.status,
            p.failed_step(),
            p.failed_step_run_id(),
            &p.outcome.error.type_name,
            &p.outcome.error.message,
        ),
    ] {
        assert_eq!(status, RunStatus::Failed);
        assert_eq!(failed_step, Some("load"));
        assert_eq!(failed_id, step.step_run_id.as_deref());
        assert_eq!(error_type.as_deref(), Some("panic"));
        assert_eq!(message, &step.outcome.error.message);
    }
}

fn a_panic_caught_in_the_process_fails_the_process(store: Store) {
    #[instrument(fields(etl.pipeline = "p"))]
    fn pipeline() {
        ingest();
    }

    #[instrument(fields(etl.process))]
    fn ingest() {
        assert!(catch_unwind(load).is_err());
        extract();
    }

    let (runs, ()) = run(store, pipeline);
    assert_eq!(runs.step("load").outcome.status, RunStatus::Failed);
    assert_eq!(runs.step("extract").outcome.status, RunStatus::Success);
    let process = runs.process("ingest");
    assert_eq!(process.outcome.status, RunStatus::Failed);
    assert_eq!(process.failed_step(), Some("load"));
    assert_eq!(process.outcome.error.type_name.as_deref(), Some("panic"));
    assert_panic_message(
        process.outcome.error.message.as_deref(),
        "row 7: amount missing",
    );
    assert_eq!(runs.pipeline("p").failed_step(), Some("load"));
}

fn a_non_string_payload_is_still_a_panic(store: Store) {
    #[instrument(fields(etl.step))]
    fn load() {
        std::panic::panic_any(42_u32);
    }

    let (runs, result) = run(store, || catch_unwind(load));
    assert!(result.is_err());
    let step = runs.step("load");
    assert_eq!(step.outcome.status, RunStatus::Failed);
    assert_eq!(step.outcome.error.type_name.as_deref(), Some("panic"));
    assert_panic_message(
        step.outcome.error.message.as_deref(),
        "panic with a non-string payload",
    );
}

fn a_step_panicking_on_another_thread(store: Store) {
    #[instrument(fields(etl.pipeline = "p"))]
    fn pipeline() {
        ingest();
    }

    #[instrument(fields(etl.process))]
    fn ingest() {
        let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
        let process = tracing::Span::current();
        let joined = std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || process.in_scope(load))
        })
        .join();
        assert!(joined.is_err());
    }

    let (runs, ()) = run(store, pipeline);
    let step = runs.step("load");
    assert_eq!(step.outcome.error.type_name.as_deref(), Some("panic"));
    assert_panic_message(
        step.outcome.error.message.as_deref(),
        "row 7: amount missing",
    );
    let process = runs.process("ingest");
    assert_eq!(
        step.process_run_id.as_deref(),
        process.process_run_id.as_deref()
    );
    assert_eq!(process.outcome.status, RunStatus::Failed);
    assert_eq!(process.failed_step(), Some("load"));
    assert_eq!(runs.pipeline("p").outcome.status, RunStatus::Failed);
}

fn a_panic_caught_inside_a_step_does_not_fail_it(store: Store) {
    #[instrument(fields(etl.step))]
    fn load() {
        let caught = catch_unwind(AssertUnwindSafe(|| {
            let _plain = tracing::info_span!("parse_row").entered();
            panic!("bad row, skipped");
        }));
        assert!(caught.is_err());
    }

    let (runs, ()) = run(store, load);
    let step = runs.step("load");
    assert_eq!(step.outcome.status, RunStatus::Success);
    assert_eq!(step.outcome.error.full, None);
}

fn a_resumed_panic_does_not_report_an_older_message(store: Store) {
    // `resume_unwind` (how rayon, for one, re-raises a worker's panic) runs no panic hook: the
    // message of an earlier panic on this thread must not be taken for this one's.
    #[instrument(fields(etl.step))]
    fn load() {
        std::panic::resume_unwind(Box::new("from a worker"));
    }

    let (runs, ()) = run(store, || {
        assert!(catch_unwind(|| panic!("an older, unrelated panic")).is_err());
        assert!(catch_unwind(load).is_err());
    });
    let step = runs.step("load");
    assert_eq!(step.outcome.status, RunStatus::Failed);
    assert_eq!(step.outcome.error.type_name.as_deref(), Some("panic"));
    let message = step.outcome.error.message.as_deref().unwrap();
    assert!(!message.contains("older, unrelated"), "{message:?}");
}

fn a_panic_caught_and_resumed_in_a_step_keeps_its_message(store: Store) {
    #[instrument(fields(etl.step))]
    fn load() {
        let caught = catch_unwind(|| panic!("disk full"));
        if let Err(payload) = caught {
            std::panic::resume_unwind(payload);
        }
    }

    let (runs, result) = run(store, || catch_unwind(load));
    assert!(result.is_err());
    let step = runs.step("load");
    assert_eq!(step.outcome.error.type_name.as_deref(), Some("panic"));
    assert_panic_message(step.outcome.error.message.as_deref(), "disk full");
}

fn a_huge_panic_message_is_cut_like_every_other_text(store: Store) {
    // 1 MB of text, with multi-byte characters so that the cut must find a boundary.
    #[instrument(fields(etl.pipeline = "p"))]
    fn pipeline() {
        load();
    }

    #[instrument(fields(etl.step))]
    fn load() {
        panic!("row 7: {}", "é".repeat(512 * 1024));
    }

    let (runs, result) = run(store, || catch_unwind(pipeline));
    assert!(result.is_err());
    let step = runs.step("load");
    let p = runs.pipeline("p");
    for (what, text) in [
        ("step error_message", step.outcome.error.message.as_deref()),
        ("step error", step.outcome.error.full.as_deref()),
        ("pipeline error_message", p.outcome.error.message.as_deref()),
        ("pipeline error", p.outcome.error.full.as_deref()),
    ] {
        let text = text.unwrap_or_else(|| panic!("{what} is missing"));
        assert!(
            text.len() <= MAX_FIELD_BYTES + TRUNCATED_MARKER.len(),
            "{what} is {} bytes",
            text.len()
        );
        assert!(text.contains(TRUNCATED_MARKER), "{what} says it was cut");
        assert!(
            text.len() > MAX_FIELD_BYTES / 2,
            "{what} keeps most of the limit"
        );
    }
    // What is kept: the start of the message; the full form adds where the panic happened.
    let message = step.outcome.error.message.as_deref().unwrap();
    assert!(message.starts_with("row 7: éé"), "{}", &message[..20]);
    assert!(message.ends_with(TRUNCATED_MARKER));
    let error = step.outcome.error.full.as_deref().unwrap();
    assert!(error.starts_with("panic: row 7: éé"));
    let tail: String = {
        let mut end: Vec<char> = error.chars().rev().take(60).collect();
        end.reverse();
        end.into_iter().collect()
    };
    assert!(
        tail.contains(concat!("é", "…[truncated] (at ", file!(), ":")) && tail.ends_with(')'),
        "{tail}"
    );
}
