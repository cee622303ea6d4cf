//! Steps run on other OS threads belong to the run and process of their span parents.

use crate::support;

use std::sync::Barrier;

use support::scenarios::{run, Store};
use tracing::{instrument, Dispatch, Span};
use tracing_etl::RunStatus;

both_stores!(
    steps_on_scoped_threads_join_the_process,
    a_span_created_here_and_entered_on_another_thread,
    concurrent_pipelines_do_not_mix,
);

fn dispatch() -> Dispatch {
    tracing::dispatcher::get_default(Dispatch::clone)
}

fn steps_on_scoped_threads_join_the_process(store: Store) {
    #[instrument(fields(etl.pipeline = "p", etl.run_id = "r1", etl.attempt = 3))]
    fn pipeline() {
        ingest();
    }

    #[instrument(fields(etl.process))]
    fn ingest() {
        let dispatch = dispatch();
        let process = Span::current();
        let here = std::thread::current().id();
        std::thread::scope(|s| {
            // A span whose parent is given explicitly.
            let a = s.spawn(|| {
                tracing::dispatcher::with_default(&dispatch, || {
                    let span = tracing::info_span!(parent: &process, "load", etl.step = tracing::field::Empty);
                    let _e = span.enter();
                    tracing::error!("partition 2 is corrupt");
                    std::thread::current().id()
                })
            });
            // An `#[instrument]`ed step called inside the process span, entered on the thread.
            let b = s.spawn(|| {
                tracing::dispatcher::with_default(&dispatch, || {
                    process.in_scope(|| {
                        extract();
                        std::thread::current().id()
                    })
                })
            });
            assert_ne!(a.join().unwrap(), here);
            assert_ne!(b.join().unwrap(), here);
        });
    }

    #[instrument(fields(etl.step))]
    fn extract() {}

    let (runs, ()) = run(store, pipeline);
    let process = runs.process("ingest");
    for name in ["load", "extract"] {
        let step = runs.step(name);
        assert_eq!(step.run.run_id, "r1", "{name}");
        assert_eq!(step.run.attempt, 3, "{name}");
        assert_eq!(
            step.process_run_id.as_deref(),
            process.process_run_id.as_deref(),
            "{name}"
        );
    }
    assert_eq!(runs.step("extract").outcome.status, RunStatus::Success);
    assert_eq!(runs.step("load").outcome.status, RunStatus::Failed);
    assert_eq!(process.outcome.status, RunStatus::Failed);
    assert_eq!(process.failed_step(), Some("load"));
    let p = runs.pipeline("p");
    assert_eq!(p.failed_step(), Some("load"));
    assert_eq!(
        p.outcome.error.message.as_deref(),
        Some("partition 2 is corrupt")
    );
}

fn a_span_created_here_and_entered_on_another_thread(store: Store) {
    #[instrument(fields(etl.pipeline = "p", etl.run_id = "r1"))]
    fn pipeline() {
        ingest();
    }

    #[instrument(fields(etl.process))]
    fn ingest() {
        let dispatch = dispatch();
        let step = tracing::info_span!("load", etl.step = tracing::field::Empty);
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, move || {
                let _e = step.enter();
                tracing::error!("failed far away");
                // The span (its last handle) is dropped here, with the dispatcher set: the
                // registry closes a span's parents through the thread's default dispatcher.
            })
        })
        .join()
        .unwrap();
    }

    let (runs, ()) = run(store, pipeline);
    let process = runs.process("ingest");
    let load = runs.step("load");
    assert_eq!(
        load.process_run_id.as_deref(),
        process.process_run_id.as_deref()
    );
    assert_eq!(load.outcome.status, RunStatus::Failed);
    assert_eq!(process.failed_step_run_id(), load.step_run_id.as_deref());
}

fn concurrent_pipelines_do_not_mix(store: Store) {
    #[instrument(fields(etl.pipeline = %format!("p{n}"), etl.run_id = %format!("r{n}")))]
    fn pipeline(n: u32, barrier: &Barrier) {
        // Both pipelines are open at once.
        barrier.wait();
        ingest(n, barrier);
    }

    #[instrument(skip(barrier), fields(etl.process = %format!("ingest{n}")))]
    fn ingest(n: u32, barrier: &Barrier) {
        load(n);
        barrier.wait();
    }

    #[instrument(fields(etl.step = %format!("load{n}")))]
    fn load(n: u32) {
        if n == 1 {
            tracing::error!("load{n} failed");
        }
    }

    let (runs, ()) = run(store, || {
        let dispatch = dispatch();
        let barrier = Barrier::new(2);
        std::thread::scope(|s| {
            for n in [1, 2] {
                let (dispatch, barrier) = (&dispatch, &barrier);
                s.spawn(move || {
                    tracing::dispatcher::with_default(dispatch, || pipeline(n, barrier))
                });
            }
        });
    });
    for n in [1, 2] {
        let p = runs.pipeline(&format!("p{n}"));
        let process = runs.process(&format!("ingest{n}"));
        let load = runs.step(&format!("load{n}"));
        assert_eq!(p.run.run_id, format!("r{n}"));
        assert_eq!(process.run.run_id, p.run.run_id);
        assert_eq!(load.run.run_id, p.run.run_id);
        assert_eq!(
            load.process_run_id.as_deref(),
            process.process_run_id.as_deref()
        );
    }
    assert_eq!(runs.pipeline("p1").outcome.status, RunStatus::Failed);
    assert_eq!(runs.pipeline("p1").failed_step(), Some("load1"));
    assert_eq!(runs.pipeline("p2").outcome.status, RunStatus::Success);
    assert_eq!(runs.process("ingest2").outcome.status, RunStatus::Success);
}
