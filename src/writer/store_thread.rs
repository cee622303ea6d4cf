//! The store's own thread: it owns the store and makes the calls the writer asks for, one at a
//! time, answering each over a channel. The writer never waits for an answer: while a call is
//! slow it keeps taking records from the queue, and a call past its deadline is an outage.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use crate::error::StoreError;
use crate::record::{ExecutionRecord, RecorderHeartbeat};
use crate::store::ExecutionRecordStore;

/// A call the writer asks of the store.
pub(super) enum Call {
    /// `write_batch`. The writer keeps its own reference to the batch: should the store never
    /// answer, the writer can still keep the records in its spill history at shutdown.
    Write(Arc<Vec<ExecutionRecord>>),
    /// `write_heartbeat`.
    Heartbeat(RecorderHeartbeat),
    /// `flush`.
    Flush,
}

/// The writer's end: where calls go and answers come from.
pub(super) struct StoreThread {
    pub(super) calls: Sender<Call>,
    pub(super) answers: Receiver<Result<(), StoreError>>,
    pub(super) thread: JoinHandle<()>,
}

/// Starts the store's thread.
pub(super) fn spawn<S: ExecutionRecordStore>(store: S) -> std::io::Result<StoreThread> {
    // One call at a time: the writer never sends a second before the first is answered.
    let (calls, calls_rx) = crossbeam_channel::bounded(1);
    let (answers_tx, answers) = crossbeam_channel::bounded(1);
    let thread = std::thread::Builder::new()
        .name("tracing-etl-store".into())
        .spawn(move || run(store, calls_rx, answers_tx))?;
    Ok(StoreThread {
        calls,
        answers,
        thread,
    })
}

fn run<S: ExecutionRecordStore>(
    mut store: S,
    calls: Receiver<Call>,
    answers: Sender<Result<(), StoreError>>,
) {
    // Whatever the store does (a database client's own `tracing` events, …) must not be
    // recorded by the layer that feeds this writer.
    let _quiet = tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
    for call in calls {
        let (what, result) = match call {
            Call::Write(batch) => {
                let result = catch_unwind(AssertUnwindSafe(|| store.write_batch(&batch)));
                // Dropped before answering: the writer then holds the batch alone.
                drop(batch);
                ("write_batch", result)
            }
            Call::Heartbeat(beat) => (
                "write_heartbeat",
                catch_unwind(AssertUnwindSafe(|| store.write_heartbeat(&beat))),
            ),
            Call::Flush => ("flush", catch_unwind(AssertUnwindSafe(|| store.flush()))),
        };
        // A store that panics is a store that failed: the writer keeps the records and retries.
        let result = result.unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string payload".to_owned());
            let mut cut = message.len().min(1024);
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            let message = &message[..cut];
            Err(StoreError::other(format!(
                "the store panicked in {what}: {message}"
            )))
        });
        if answers.send(result).is_err() {
            break;
        }
    }
    // The store is dropped here, on its own thread, once the writer has stopped.
}
