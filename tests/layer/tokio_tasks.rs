//! Steps run as tasks on a multi-thread tokio runtime belong to the run and process of their
//! span parents.
//!
//! The subscriber is the worker threads' default (see `support::runtime`), as it is in a program
//! that calls `set_global_default`.

use crate::support;

use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use support::scenarios::{run, Store};
use tracing::{instrument, Instrument};
use tracing_etl::RunStatus;

both_stores!(tasks_on_worker_threads_join_the_process);

type Threads = Arc<Mutex<Vec<ThreadId>>>;

#[instrument(skip_all, fields(etl.pipeline = "p", etl.run_id = "r1", etl.correlation_id = "c1"))]
async fn pipeline(threads: Threads) {
    ingest(threads).await;
}

#[instrument(skip_all, fields(etl.process))]
async fn ingest(threads: Threads) {
    let mut tasks = Vec::new();
    // `#[instrument]`ed async steps, spawned in the process's span.
    for i in 0..4 {
        let threads = threads.clone();
        let task = load(i, threads).in_current_span();
        tasks.push(tokio::spawn(task));
    }
    // A step span made here and attached to a task with `.instrument`.
    let span = tracing::info_span!("transform", etl.step = tracing::field::Empty);
    let threads2 = threads.clone();
    let task = async move {
        tokio::task::yield_now().await;
        threads2.lock().unwrap().push(std::thread::current().id());
        Ok::<(), String>(())
    };
    tasks.push(tokio::spawn(task.instrument(span)));
    for task in tasks {
        let _ = task.await.expect("task did not panic");
    }
}

#[instrument(skip(threads), err, fields(etl.step = %format!("load{i}")))]
async fn load(i: u32, threads: Threads) -> Result<(), String> {
    tokio::task::yield_now().await;
    threads.lock().unwrap().push(std::thread::current().id());
    if i == 2 {
        return Err("partition 2 is corrupt".to_owned());
    }
    Ok(())
}

fn tasks_on_worker_threads_join_the_process(store: Store) {
    let threads = Threads::default();
    let (runs, ()) = run(store, || {
        let rt = support::runtime::multi_thread();
        rt.block_on(pipeline(threads.clone()));
    });
    let here = std::thread::current().id();
    let threads = threads.lock().unwrap();
    assert_eq!(threads.len(), 5);
    assert!(
        threads.iter().all(|t| *t != here),
        "every step ran on a worker thread"
    );

    let process = runs.process("ingest");
    assert_eq!(process.run.run_id, "r1");
    assert_eq!(runs.steps.len(), 5);
    for step in &runs.steps {
        assert_eq!(step.run.run_id, "r1", "{}", step.name);
        assert_eq!(step.run.correlation_id.as_deref(), Some("c1"));
        assert_eq!(
            step.process_run_id.as_deref(),
            process.process_run_id.as_deref(),
            "{}",
            step.name
        );
        let expected = if step.name == "load2" {
            RunStatus::Failed
        } else {
            RunStatus::Success
        };
        assert_eq!(step.outcome.status, expected, "{}", step.name);
    }
    assert_eq!(runs.step("transform").outcome.status, RunStatus::Success);
    let failed = runs.step("load2");
    assert_eq!(process.outcome.status, RunStatus::Failed);
    assert_eq!(process.failed_step_run_id(), failed.step_run_id.as_deref());
    let p = runs.pipeline("p");
    assert_eq!(p.failed_step(), Some("load2"));
    assert_eq!(
        p.outcome.error.message.as_deref(),
        Some("partition 2 is corrupt")
    );
}
