//! A step whose future was dropped before it completed — a `tokio::time::timeout`, the losing
//! branch of `select!`, an aborted task, a `JoinSet` dropped early — is recorded `cancelled`
//! when its future tracks its completion (`completes` in an `#[instrument] async fn`,
//! `.instrument_tracked(span)` for a span made by hand). A cancelled step is the root cause of
//! an entity that then fails with no failed step inside it; one that ends well stays `success`.

use crate::support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::scenarios::{run, Store};
use tokio::time::error::Elapsed;
use tracing::{info_span, instrument, Instrument};
use tracing_etl::{
    completes, EtlInstrument, ExecutionRecord, ExecutionRecordsLayer, InMemoryStore, RunStatus,
};
use tracing_subscriber::prelude::*;

both_stores!(
    a_timed_out_step_is_cancelled_and_the_root_cause,
    a_timed_out_step_made_by_hand_is_cancelled,
    the_losing_branch_of_select_is_cancelled_and_the_run_succeeds,
    an_aborted_task_is_cancelled,
    a_task_aborted_before_it_ran_is_cancelled,
    tasks_of_a_join_set_dropped_early_are_cancelled,
    tracked_steps_that_complete_succeed_or_fail_as_before,
    a_step_failed_before_a_cancellation_stays_the_root_cause,
    a_failed_step_is_the_root_cause_over_an_earlier_cancellation,
    a_tracked_step_that_panics_is_failed_not_cancelled,
    a_dropped_pipeline_is_cancelled,
    an_untracked_step_dropped_unfinished_reads_success,
);

/// A future that does not complete within any test.
async fn forever() {
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn assert_cancelled(step: &ExecutionRecord) {
    assert_eq!(step.outcome.status, RunStatus::Cancelled, "{}", step.name);
    let error = &step.outcome.error;
    assert_eq!(error.type_name.as_deref(), Some("cancelled"));
    assert_eq!(
        error.message.as_deref(),
        Some("the step's future was dropped before it completed")
    );
    assert!(step.outcome.duration_ms.is_some());
}

fn assert_success(record: &ExecutionRecord) {
    assert_eq!(record.outcome.status, RunStatus::Success, "{}", record.name);
    assert_eq!(record.failed_step(), None, "{}", record.name);
    assert_eq!(record.outcome.error.message, None, "{}", record.name);
}

// The setup of the report: a process times out a step and returns the `Elapsed` error.

#[instrument(skip_all, fields(etl.pipeline = "p", etl.run_id = "r1"))]
async fn timed_out_pipeline() -> Result<(), Elapsed> {
    timed_out_process().await
}

#[instrument(skip_all, err, fields(etl.process))]
async fn timed_out_process() -> Result<(), Elapsed> {
    tokio::time::timeout(Duration::from_millis(30), extract()).await
}

#[instrument(skip_all, fields(etl.step))]
async fn extract() {
    completes(async move {
        forever().await;
    })
    .await
}

fn a_timed_out_step_is_cancelled_and_the_root_cause(store: Store) {
    let (runs, result) = run(store, || current_thread().block_on(timed_out_pipeline()));
    assert!(result.is_err());
    let step = runs.step("extract");
    assert_cancelled(step);
    let process = runs.process("timed_out_process");
    assert_eq!(process.outcome.status, RunStatus::Failed);
    assert_eq!(process.failed_step(), Some("extract"));
    assert_eq!(process.failed_step_run_id(), step.step_run_id.as_deref());
    let pipeline = runs.pipeline("p");
    assert_eq!(pipeline.outcome.status, RunStatus::Failed);
    assert_eq!(pipeline.failed_step(), Some("extract"));
    assert_eq!(pipeline.failed_step_run_id(), step.step_run_id.as_deref());
    // The pipeline's error is the one that failed it; the step says why it is the cause.
    assert_eq!(
        pipeline.outcome.error.message.as_deref(),
        Some("deadline has elapsed")
    );
    assert!(runs.warnings.is_empty(), "{:?}", runs.warnings);
}

fn a_timed_out_step_made_by_hand_is_cancelled(store: Store) {
    let (runs, ()) = run(store, || {
        current_thread().block_on(async {
            let process = info_span!("ingest", etl.process = true);
            let load =
                forever().instrument_tracked(info_span!(parent: &process, "load", etl.step = true));
            let elapsed = tokio::time::timeout(Duration::from_millis(30), load).await;
            assert!(elapsed.is_err());
        })
    });
    assert_cancelled(runs.step("load"));
    // Nothing failed the process: a cancelled step alone does not fail it.
    assert_success(runs.process("ingest"));
}

#[instrument(skip_all, fields(etl.pipeline = "race", etl.run_id = "r-select"))]
async fn race() -> &'static str {
    tokio::select! {
        won = fast() => won,
        () = slow() => "slow",
    }
}

#[instrument(skip_all, fields(etl.step))]
async fn fast() -> &'static str {
    completes(async move {
        tokio::task::yield_now().await;
        "fast"
    })
    .await
}

#[instrument(skip_all, fields(etl.step))]
async fn slow() {
    completes(forever()).await
}

fn the_losing_branch_of_select_is_cancelled_and_the_run_succeeds(store: Store) {
    let (runs, won) = run(store, || current_thread().block_on(race()));
    assert_eq!(won, "fast");
    assert_success(runs.step("fast"));
    assert_cancelled(runs.step("slow"));
    assert_success(runs.pipeline("race"));
}

fn an_aborted_task_is_cancelled(store: Store) {
    let (runs, ()) = run(store, || {
        let rt = support::runtime::multi_thread();
        rt.block_on(async {
            let pipeline = info_span!("p", etl.pipeline = true, etl.run_id = "r-abort");
            let (started, ready) = tokio::sync::oneshot::channel();
            let task = tokio::spawn(
                async move {
                    let _ = started.send(());
                    forever().await;
                }
                .instrument_tracked(info_span!(parent: &pipeline, "load", etl.step = true)),
            );
            ready.await.unwrap();
            task.abort();
            assert!(task.await.unwrap_err().is_cancelled());
        });
    });
    assert_cancelled(runs.step("load"));
    assert_success(runs.pipeline("p"));
}

fn a_task_aborted_before_it_ran_is_cancelled(store: Store) {
    let (runs, ()) = run(store, || {
        current_thread().block_on(async {
            let ran = Arc::new(AtomicBool::new(false));
            let flag = ran.clone();
            let task = tokio::spawn(
                async move { flag.store(true, Ordering::Relaxed) }
                    .instrument_tracked(info_span!("load", etl.step = true)),
            );
            // On a current-thread runtime the task cannot run before this thread yields.
            task.abort();
            assert!(task.await.unwrap_err().is_cancelled());
            assert!(!ran.load(Ordering::Relaxed), "the task ran");
        })
    });
    assert_cancelled(runs.step("load"));
}

#[instrument(skip_all, fields(etl.pipeline = "fan_out", etl.run_id = "r-joinset"))]
async fn fan_out() -> Result<(), String> {
    let mut set = tokio::task::JoinSet::new();
    set.spawn(part(0).instrument_tracked(info_span!("part0", etl.step = true)));
    for i in 1..4 {
        set.spawn(part(i).instrument_tracked(info_span!("part", etl.step = %format!("part{i}"))));
    }
    // The first to finish decides; the set is dropped with the others unfinished.
    let first = set.join_next().await.expect("a task").expect("no panic");
    drop(set);
    first
}

async fn part(i: u32) -> Result<(), String> {
    if i == 0 {
        return Err("part 0 is corrupt".to_owned());
    }
    forever().await;
    Ok(())
}

fn tasks_of_a_join_set_dropped_early_are_cancelled(store: Store) {
    let (runs, result) = run(store, || {
        let rt = support::runtime::multi_thread();
        rt.block_on(fan_out())
    });
    assert_eq!(result, Err("part 0 is corrupt".to_owned()));
    assert_eq!(runs.steps.len(), 4);
    // `part0` completed (with an `Err` that it did not report as an error event itself).
    assert_success(runs.step("part0"));
    for i in 1..4 {
        assert_cancelled(runs.step(&format!("part{i}")));
    }
    // Nothing failed the pipeline: its steps' cancellations leave it a success.
    assert_success(runs.pipeline("fan_out"));
}

#[instrument(skip_all, err, fields(etl.step))]
async fn checked(fail: bool) -> Result<u32, String> {
    completes(async move {
        tokio::task::yield_now().await;
        if fail {
            Err("row 3 is short".to_owned())
        } else {
            Ok(3)
        }
    })
    .await
}

fn tracked_steps_that_complete_succeed_or_fail_as_before(store: Store) {
    let (runs, ()) = run(store, || {
        current_thread().block_on(async {
            let p = info_span!("p", etl.pipeline = true, etl.run_id = "r-done");
            let done =
                async { 7 }.instrument_tracked(info_span!(parent: &p, "count", etl.step = true));
            assert_eq!(done.await, 7);
            let span = info_span!(parent: &p, "checks", etl.process = true);
            assert_eq!(checked(false).instrument(span).await, Ok(3));
        })
    });
    assert_success(runs.step("count"));
    assert_success(runs.step("checked"));
    assert_success(runs.pipeline("p"));

    let (runs, ()) = run(store, || {
        current_thread().block_on(async {
            let _p = info_span!("p", etl.pipeline = true, etl.run_id = "r-fail").entered();
            assert!(checked(true).await.is_err());
        })
    });
    let step = runs.step("checked");
    assert_eq!(step.outcome.status, RunStatus::Failed);
    assert_eq!(
        step.outcome.error.message.as_deref(),
        Some("row 3 is short")
    );
    assert_eq!(runs.pipeline("p").failed_step(), Some("checked"));
}

#[instrument(skip_all, err, fields(etl.process))]
async fn fail_then_cancel() -> Result<(), String> {
    let failed = checked(true).await;
    let _ = tokio::time::timeout(Duration::from_millis(10), slow()).await;
    failed.map(|_| ())
}

fn a_step_failed_before_a_cancellation_stays_the_root_cause(store: Store) {
    let (runs, result) = run(store, || current_thread().block_on(fail_then_cancel()));
    assert!(result.is_err());
    assert_cancelled(runs.step("slow"));
    let process = runs.process("fail_then_cancel");
    assert_eq!(process.failed_step(), Some("checked"));
    assert_eq!(
        process.outcome.error.message.as_deref(),
        Some("row 3 is short")
    );
}

#[instrument(skip_all, fields(etl.process))]
async fn cancel_then_fail() -> Result<(), String> {
    let _ = tokio::time::timeout(Duration::from_millis(10), slow()).await;
    checked(true).await.map(|_| ())
}

fn a_failed_step_is_the_root_cause_over_an_earlier_cancellation(store: Store) {
    let (runs, result) = run(store, || current_thread().block_on(cancel_then_fail()));
    assert!(result.is_err());
    assert_cancelled(runs.step("slow"));
    let process = runs.process("cancel_then_fail");
    assert_eq!(process.outcome.status, RunStatus::Failed);
    assert_eq!(process.failed_step(), Some("checked"));
    assert_eq!(
        process.failed_step_run_id(),
        runs.step("checked").step_run_id.as_deref()
    );
}

#[instrument(skip_all, fields(etl.step))]
async fn explode() {
    completes(async move {
        tokio::task::yield_now().await;
        panic!("row 9 exploded");
    })
    .await
}

fn a_tracked_step_that_panics_is_failed_not_cancelled(store: Store) {
    let (runs, ()) = run(store, || {
        current_thread().block_on(async {
            let joined = tokio::spawn(explode()).await;
            assert!(joined.unwrap_err().is_panic());
        })
    });
    let step = runs.step("explode");
    assert_eq!(step.outcome.status, RunStatus::Failed);
    assert_eq!(step.outcome.error.type_name.as_deref(), Some("panic"));
    assert_eq!(
        step.outcome.error.message.as_deref(),
        Some("row 9 exploded")
    );
}

fn a_dropped_pipeline_is_cancelled(store: Store) {
    let (runs, ()) = run(store, || {
        current_thread().block_on(async {
            let nightly = async {
                let _ = checked(false).await;
                forever().await;
            }
            .instrument_tracked(info_span!(
                "nightly",
                etl.pipeline = true,
                etl.run_id = "r-drop"
            ));
            let _ = tokio::time::timeout(Duration::from_millis(20), nightly).await;
        })
    });
    let pipeline = runs.pipeline("nightly");
    assert_eq!(pipeline.outcome.status, RunStatus::Cancelled);
    assert_eq!(
        pipeline.outcome.error.type_name.as_deref(),
        Some("cancelled")
    );
    assert_eq!(
        pipeline.outcome.error.message.as_deref(),
        Some("the pipeline's future was dropped before it completed")
    );
    assert_eq!(pipeline.failed_step(), None);
    assert_success(runs.step("checked"));
}

#[instrument(skip_all, fields(etl.step))]
async fn untracked() {
    forever().await
}

/// Without the completion marker a layer cannot tell a dropped future from a completed one
/// (`Instrumented` enters its span to drop the future): the step reads `success`, as the
/// conventions guide says.
fn an_untracked_step_dropped_unfinished_reads_success(store: Store) {
    let (runs, ()) = run(store, || {
        current_thread().block_on(async {
            let _ = tokio::time::timeout(Duration::from_millis(10), untracked()).await;
        })
    });
    assert_success(runs.step("untracked"));
}

/// Two records layers in one subscriber both hear of the completion marks.
#[test]
fn every_records_layer_records_the_cancellation() {
    let first = InMemoryStore::new();
    let second = InMemoryStore::new();
    let (layer1, guard1) = ExecutionRecordsLayer::new(first.clone());
    let (layer2, guard2) = ExecutionRecordsLayer::new(second.clone());
    let subscriber = tracing_subscriber::registry().with(layer1).with(layer2);
    let won = tracing::subscriber::with_default(subscriber, || current_thread().block_on(race()));
    assert_eq!(won, "fast");
    drop((guard1, guard2));
    for store in [first, second] {
        let steps = store.step_runs();
        let slow = steps.iter().find(|s| s.name == "slow").unwrap();
        let fast = steps.iter().find(|s| s.name == "fast").unwrap();
        assert_cancelled(slow);
        assert_success(fast);
    }
}
