//! Upstream limits with runtimes that run tasks on threads of their own, and the setups that
//! work: a subscriber set with `with_default` / `set_default` is the default of one thread
//! only, and tracing-subscriber's registry releases a closed span's parent through the closing
//! thread's default dispatcher. A global subscriber (`init()`), or the default set on every
//! runtime thread (`on_thread_start`, see `tokio_tasks`), records the run in full.

use crate::support;

use std::cell::RefCell;

use support::child;
use support::scenarios::{run, Store};
use tracing::{instrument, Instrument};
use tracing_etl::{ExecutionRecordsLayer, InMemoryStore, RunStatus};
use tracing_subscriber::prelude::*;

#[instrument(skip_all, fields(etl.pipeline = "p"))]
async fn pipeline() {
    ingest().await;
}

#[instrument(skip_all, fields(etl.process))]
async fn ingest() {
    // `#[instrument]`ed async steps: their spans are made when the task first runs, on a
    // worker thread.
    let mut tasks: Vec<_> = (0..2)
        .map(|i| tokio::spawn(load(i).in_current_span()))
        .collect();
    // A step span made here and attached to a task: it opens here and closes on a worker.
    let span = tracing::info_span!("transform", etl.step = tracing::field::Empty);
    let transform = async {
        tokio::task::yield_now().await;
        tracing::error!("row 7 has no amount");
        Ok(())
    };
    tasks.push(tokio::spawn(transform.instrument(span)));
    for task in tasks {
        let _ = task.await.expect("task did not panic");
    }
}

#[instrument(err, fields(etl.step = %format!("load{i}")))]
async fn load(i: u32) -> Result<(), String> {
    tokio::task::yield_now().await;
    if i == 1 {
        return Err("partition 1 is corrupt".to_owned());
    }
    Ok(())
}

fn multi_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

/// The limit, as documented: under `with_default` alone, the worker threads do not have the
/// subscriber as their default. Spans made there reach no subscriber (the `#[instrument]`ed
/// async steps are not recorded at all), nor do events emitted there (the ERROR event of
/// `transform` is lost), and the registry cannot release the parent of a span closed there:
/// the process and the pipeline never close.
#[test]
fn with_default_alone_leaves_the_run_open_on_a_multi_thread_runtime() {
    let (runs, ()) = run(Store::Memory, || {
        multi_thread_runtime().block_on(pipeline());
    });
    assert_eq!(runs.pipeline("p").outcome.status, RunStatus::Running);
    assert_eq!(runs.process("ingest").outcome.status, RunStatus::Running);
    assert_eq!(
        runs.steps.len(),
        1,
        "only the step whose span was made here"
    );
    assert_eq!(runs.step("transform").outcome.status, RunStatus::Success);
}

thread_local! {
    static WORKER_DEFAULT: RefCell<Option<tracing::dispatcher::DefaultGuard>> =
        const { RefCell::new(None) };
}

/// The scoped alternative to a global subscriber: the default set on every worker thread as
/// it starts, as the conventions guide shows.
#[test]
fn the_subscriber_set_on_every_runtime_thread_records_the_run_in_full() {
    let (runs, ()) = run(Store::Memory, || {
        let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .on_thread_start(move || {
                let guard = tracing::dispatcher::set_default(&dispatch);
                WORKER_DEFAULT.with(|slot| *slot.borrow_mut() = Some(guard));
            })
            .on_thread_stop(|| WORKER_DEFAULT.with(|slot| drop(slot.borrow_mut().take())))
            .build()
            .unwrap();
        runtime.block_on(pipeline());
    });
    assert_eq!(runs.pipeline("p").outcome.status, RunStatus::Failed);
    assert_eq!(runs.process("ingest").outcome.status, RunStatus::Failed);
    assert_eq!(runs.step("load0").outcome.status, RunStatus::Success);
    assert_eq!(runs.step("load1").outcome.status, RunStatus::Failed);
    assert_eq!(runs.step("transform").outcome.status, RunStatus::Failed);
}

#[test]
fn a_global_subscriber_records_the_run_in_full() {
    child::run("runtime_threads::global_subscriber", &[]);
}

/// `registry().with(records).init()`, as the README does: every thread's subscriber.
#[test]
fn global_subscriber() {
    if !child::is_child("runtime_threads::global_subscriber") {
        return;
    }
    let store = InMemoryStore::new();
    let (records, guard) = ExecutionRecordsLayer::new(store.clone());
    tracing_subscriber::registry().with(records).init();
    multi_thread_runtime().block_on(pipeline());
    drop(guard);

    let pipeline = store
        .pipeline_runs()
        .into_iter()
        .last()
        .expect("a pipeline record");
    assert_eq!(pipeline.outcome.status, RunStatus::Failed);
    let process = store.process_runs().into_iter().last().unwrap();
    assert_eq!(process.outcome.status, RunStatus::Failed);
    let mut steps: Vec<_> = store
        .step_runs()
        .into_iter()
        .map(|s| (s.name, s.outcome.status))
        .collect();
    steps.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        steps,
        [
            ("load0".to_owned(), RunStatus::Success),
            ("load1".to_owned(), RunStatus::Failed),
            ("transform".to_owned(), RunStatus::Failed),
        ]
    );
}
