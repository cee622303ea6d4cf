//! The background writer: records leave the span's thread through a bounded queue and are
//! written in batches by a dedicated thread, in the manner of `tracing_appender::non_blocking`.
//!
//! The layer only ever pushes a record into the queue. The writer thread takes the records
//! from it, builds them and hands them in batches to the store's own thread, which makes every
//! store call; so the writer keeps draining the queue while a call is slow, and a call past the
//! store deadline is an outage (the records wait in memory, then in a spill history). Dropping the
//! [`WriterGuard`] flushes every queued record.

mod backlog;
mod config;
mod guard;
mod replay;
mod report;
mod spill;
mod store_thread;
mod worker;

#[cfg(feature = "openlineage")]
pub(crate) use config::default_spill_dir;
pub use config::WriterConfig;
pub use guard::WriterGuard;
pub use replay::{remove_spill, replay_spill, replay_spill_report, SpillReplay};
pub use report::{RepeatedStoreError, StoreDeadlineExceeded};

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};

use crate::dispatch::RegisteredDispatch;
use crate::entity::{Entity, EntityPool};
use crate::error::{StoreError, WriterError};
use crate::store::ExecutionRecordStore;

/// What travels through the queue. Records of entities are built on the writer thread from the
/// entity's state, so the span's thread only moves an `Arc`.
#[derive(Debug)]
pub(crate) enum Queued {
    /// The start record of an entity.
    Start(Arc<Entity>),
    /// The end record of an entity (it has been closed).
    End(Arc<Entity>),
    /// A warning about the instrumentation, emitted as a `tracing` WARN event from the writer
    /// thread (events emitted inside a subscriber callback are discarded by `tracing`).
    Warning(String),
}

impl Queued {
    /// Whether this is a record (counted in [`WriterStats`]) rather than a warning.
    pub(super) fn is_record(&self) -> bool {
        !matches!(self, Queued::Warning(_))
    }
}

/// What the layer does when the queue to the writer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backpressure {
    /// Wait until the writer has made room (the default): no record is ever dropped. A store
    /// slower than the program slows it down; a store that stops answering holds it up for at
    /// most the store deadline ([`WriterConfig::with_store_deadline`]), after which the records
    /// wait in the outage buffer and the spill history.
    #[default]
    Block,
    /// Drop the record and count it ([`WriterStats::dropped`]): the program never waits.
    Drop,
}

/// A callback told about the store's errors: each distinct error at once, its repeats as one
/// [`RepeatedStoreError`] (see [`WriterConfig::with_store_error_callback`]).
pub type ErrorCallback = Arc<dyn Fn(&StoreError) + Send + Sync + 'static>;

/// Counters of the writer, read with [`WriterHandle::stats`] or [`WriterGuard::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriterStats {
    /// Records the store accepted.
    pub written: u64,
    /// Records dropped because the queue was full ([`Backpressure::Drop`]) or because they were
    /// emitted after the writer shut down (including records that reached the queue while the
    /// writer was stopping, after its last look at it). Once the program has stopped emitting,
    /// every record emitted is counted exactly once: `written + dropped + abandoned`, plus, when
    /// the store was still down at shutdown, the records left in the spill history.
    pub dropped: u64,
    /// Failed store operations (each retry of a failing batch counts once, and so does a call
    /// that passed the store deadline), however many of them the error callback was told about
    /// one by one.
    pub store_errors: u64,
    /// Records given up on: still unwritten when shutdown timed out and not kept in the spill
    /// file either (a batch the store had not answered for by then may still reach it), or
    /// lost from a spill history changed under the writer.
    pub abandoned: u64,
    /// Records written to the spill history during store outages (each counted once, whether or
    /// not the store took it later).
    pub spilled: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    store_errors: AtomicU64,
    abandoned: AtomicU64,
    spilled: AtomicU64,
    /// Records the layer put in the queue.
    queued: AtomicU64,
    /// Records the writer took out of the queue (final once `stopped` is set).
    taken: AtomicU64,
    /// Set by the writer when it stops taking records: whatever was queued and not taken then
    /// (or is queued in the instant before the queue closes) is lost, and counted as dropped.
    stopped: AtomicBool,
}

impl Counters {
    fn snapshot(&self) -> WriterStats {
        let stranded = if self.stopped.load(Ordering::Acquire) {
            let taken = self.taken.load(Ordering::Relaxed);
            self.queued.load(Ordering::Relaxed).saturating_sub(taken)
        } else {
            0
        };
        WriterStats {
            written: self.written.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed) + stranded,
            store_errors: self.store_errors.load(Ordering::Relaxed),
            abandoned: self.abandoned.load(Ordering::Relaxed),
            spilled: self.spilled.load(Ordering::Relaxed),
        }
    }
}

/// A request to the writer thread, with the channel it answers on.
pub(crate) enum Control {
    Flush(Sender<Result<(), WriterError>>),
    Shutdown(Sender<Result<(), WriterError>>),
}

/// A cheap, cloneable handle on the writer: flush it and read its counters.
#[derive(Clone)]
pub struct WriterHandle {
    recorder_id: Arc<str>,
    control: Sender<Control>,
    counters: Arc<Counters>,
    flush_timeout: Duration,
}

debug_fields!(WriterHandle { recorder_id, stats() });

impl WriterHandle {
    /// Waits until every record queued before this call is written and the store flushed, for
    /// at most the writer's shutdown timeout.
    pub fn flush(&self) -> Result<(), WriterError> {
        self.flush_timeout(self.flush_timeout)
    }

    /// [`flush`](Self::flush) with an explicit timeout.
    pub fn flush_timeout(&self, timeout: Duration) -> Result<(), WriterError> {
        request(&self.control, Control::Flush, timeout)
    }

    /// The writer's counters now.
    pub fn stats(&self) -> WriterStats {
        self.counters.snapshot()
    }

    /// The id this writer stamps on its records (`recorder_id`) and heartbeats.
    pub fn recorder_id(&self) -> &str {
        &self.recorder_id
    }
}

fn request(
    control: &Sender<Control>,
    make: fn(Sender<Result<(), WriterError>>) -> Control,
    timeout: Duration,
) -> Result<(), WriterError> {
    let (reply, answer) = crossbeam_channel::bounded(1);
    control
        .send(make(reply))
        .map_err(|_| WriterError::ShutDown)?;
    match answer.recv_timeout(timeout) {
        Ok(result) => result,
        Err(crossbeam_channel::RecvTimeoutError::Timeout) => Err(WriterError::Timeout(timeout)),
        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Err(WriterError::ShutDown),
    }
}

/// The layer's end of the queue.
#[derive(Clone)]
pub(crate) struct RecordSender {
    records: Sender<Queued>,
    /// Warnings travel beside the records, not among them: the queue counts records only (a
    /// flush waits for the records queued before it), and a warning never waits for room.
    warnings: Sender<String>,
    backpressure: Backpressure,
    handle: WriterHandle,
    /// The writer thread, which must never wait for itself.
    writer_thread: Option<std::thread::ThreadId>,
}

impl fmt::Debug for RecordSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordSender")
            .field("backpressure", &self.backpressure)
            .field("handle", &self.handle)
            .finish()
    }
}

impl RecordSender {
    /// Queues a record; never does I/O. Blocks only in [`Backpressure::Block`] mode while the
    /// queue is full. A warning that cannot be queued is not counted: only records are.
    pub(crate) fn send(&self, item: Queued) {
        let item = match item {
            Queued::Warning(warning) => {
                let _ = self.warnings.send(warning);
                return;
            }
            record => record,
        };
        let is_record = item.is_record();
        let sent = match self.backpressure {
            Backpressure::Block => self.records.send(item).is_ok(),
            Backpressure::Drop => match self.records.try_send(item) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
            },
        };
        if !is_record {
            return;
        }
        let counter = if sent {
            &self.handle.counters.queued
        } else {
            &self.handle.counters.dropped
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn handle(&self) -> &WriterHandle {
        &self.handle
    }

    /// Waits until every record queued so far is written, unless called on the writer thread
    /// itself (where it would wait for itself) or the writer has stopped. Errors are left to the
    /// guard to report.
    pub(crate) fn flush_quietly(&self) {
        if self.writer_thread == Some(std::thread::current().id()) {
            return;
        }
        let _ = self.handle.flush();
    }
}

/// Starts the writer thread and the store's thread for `store`.
pub(crate) fn spawn<S: ExecutionRecordStore>(
    store: S,
    config: WriterConfig,
    warnings: RegisteredDispatch,
    pool: Arc<EntityPool>,
) -> (RecordSender, WriterGuard) {
    let (records_tx, records_rx) = crossbeam_channel::bounded(config.queue_capacity.max(1));
    let (control_tx, control_rx) = crossbeam_channel::unbounded();
    let (warnings_tx, warnings_rx) = crossbeam_channel::unbounded();
    let handle = WriterHandle {
        recorder_id: uuid::Uuid::now_v7().hyphenated().to_string().into(),
        control: control_tx,
        counters: Arc::new(Counters::default()),
        flush_timeout: config.shutdown_timeout,
    };
    let backpressure = config.backpressure;
    let shutdown_timeout = config.shutdown_timeout;
    let collapse = store.keeps_one_row_per_entity();
    let mut config = config;
    if !config.flush_interval_set {
        if let Some(interval) = store.preferred_flush_interval() {
            config.flush_interval = interval;
        }
    }
    let thread = store_thread::spawn(store).and_then(|store| {
        let worker = worker::Worker::new(
            store,
            collapse,
            config,
            records_rx,
            warnings_rx,
            control_rx,
            &handle,
            warnings,
            pool,
        );
        std::thread::Builder::new()
            .name("tracing-etl-writer".into())
            .spawn(move || worker.run())
    });
    let writer_thread = thread.as_ref().ok().map(|t| t.thread().id());
    let guard = WriterGuard::new(handle.clone(), thread, shutdown_timeout);
    let sender = RecordSender {
        records: records_tx,
        warnings: warnings_tx,
        backpressure,
        handle,
        writer_thread,
    };
    (sender, guard)
}

#[cfg(test)]
mod tests {
    //! The writer on its own, without a subscriber: entities made as the layer makes them,
    //! queued as the layer queues them, records read back from the store.

    use std::borrow::Cow;

    use super::*;
    use crate::entity::{Opening, Run, RunId};
    use crate::record::{EntityKind, EventName, RunStatus};
    use crate::store::InMemoryStore;

    #[test]
    fn queued_entities_become_start_and_end_records_in_order() {
        let store = InMemoryStore::new();
        let pool = Arc::new(EntityPool::default());
        let (sender, guard) = spawn(
            store.clone(),
            WriterConfig::default(),
            RegisteredDispatch::default(),
            pool.clone(),
        );
        let run = Arc::new(Run::new(RunId::given("run-1".to_owned()), None, 1, true));
        let pipeline = pool.open(
            EntityKind::Pipeline,
            Cow::Borrowed("p"),
            run.clone(),
            None,
            Opening::now(),
        );
        sender.send(Queued::Start(pipeline.clone()));
        let step = pool.open(
            EntityKind::Step,
            Cow::Borrowed("s"),
            run,
            Some(pipeline.clone()),
            Opening::now(),
        );
        sender.send(Queued::Start(step.clone()));
        step.close();
        sender.send(Queued::End(step));
        pipeline.close();
        sender.send(Queued::End(pipeline));
        let stats = guard.shutdown().expect("the writer shuts down");
        assert_eq!(stats.written, 4);

        let events: Vec<EventName> = store.records().iter().map(|r| r.event()).collect();
        assert_eq!(
            events,
            [
                EventName::PipelineStart,
                EventName::StepStart,
                EventName::StepEnd,
                EventName::PipelineEnd
            ]
        );
        let records = store.records();
        assert!(records.iter().all(|r| r.run_id() == "run-1"));
        assert_eq!(records[2].status(), RunStatus::Success);
        assert_eq!(records[2].name, "s");
    }
}
