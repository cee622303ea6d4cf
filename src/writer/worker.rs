//! The writer thread: drains the queue in batches into the store, flushes it, and rides out
//! store outages: records the store refuses wait in a [`Backlog`] (memory, then a spill file)
//! while the writer keeps draining the queue and retries with back-off; on recovery the backlog
//! is written first, in order.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender};

use super::backlog::Backlog;
use super::{Control, Counters, Queued, WriterConfig, WriterHandle};
use crate::dispatch::RegisteredDispatch;
use crate::entity::{Entity, EntityPool};
use crate::error::{StoreError, WriterError};
use crate::record::{ExecutionRecord, RecorderHeartbeat};
use crate::store::ExecutionRecordStore;

pub(super) struct Worker<S> {
    store: S,
    config: WriterConfig,
    records: Receiver<Queued>,
    control: Receiver<Control>,
    counters: Arc<Counters>,
    warnings: RegisteredDispatch,
    recorder_id: Arc<str>,
    /// Where entities go once their records are built, for reuse by the layer.
    pool: Arc<EntityPool>,
    heartbeat: RecorderHeartbeat,
    next_beat: Instant,
    /// Records taken from the queue for the next batch, not yet built.
    pending: Vec<Queued>,
    /// Whether the store keeps one row per entity, so that a start record whose end record is
    /// in the same batch need not be written.
    collapse: bool,
    /// The next batch, built.
    batch: Vec<ExecutionRecord>,
    /// Start records left out of `batch` because their end record supersedes them: counted as
    /// written with it.
    superseded: u64,
    /// Set while the store fails: what it has not taken yet, and when to try again.
    outage: Option<Outage>,
    /// Every layer (sender) is gone.
    records_closed: bool,
    /// Records written since the store was last flushed.
    dirty: bool,
    last_flush: Instant,
    /// Flushes requested while shutdown waits for a failing store: answered with its outcome.
    waiting_flushes: Vec<Sender<Result<(), WriterError>>>,
}

impl<S> Drop for Worker<S> {
    fn drop(&mut self) {
        // No record is taken from the queue any more; those still in it, or sent before the
        // queue closes right after this, are counted as dropped (`Counters::snapshot`).
        self.counters.stopped.store(true, Ordering::Release);
    }
}

/// A store outage in progress.
struct Outage {
    backlog: Backlog,
    /// Start records left out of the backlog's batches because their end record supersedes
    /// them: counted as written when the backlog is.
    superseded: u64,
    since: Instant,
    backoff: Duration,
    next_retry: Instant,
    /// The store's latest error, as flushes waiting on the outage are told.
    last_error: Arc<StoreError>,
    /// The spill file's failure was reported (once per outage).
    spill_error_reported: bool,
}

/// What the loop does after handling a control message.
enum Next {
    Continue,
    Exit,
}

impl<S: ExecutionRecordStore> Worker<S> {
    pub(super) fn new(
        store: S,
        config: WriterConfig,
        records: Receiver<Queued>,
        control: Receiver<Control>,
        handle: &WriterHandle,
        warnings: RegisteredDispatch,
        pool: Arc<EntityPool>,
    ) -> Self {
        let counters = handle.counters.clone();
        let recorder_id = handle.recorder_id.clone();
        let batch = Vec::with_capacity(config.max_batch);
        let pending = Vec::with_capacity(config.max_batch);
        let collapse = store.keeps_one_row_per_entity();
        let now = chrono::Utc::now();
        let heartbeat = RecorderHeartbeat {
            recorder_id: recorder_id.to_string(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: std::process::id(),
            started_at: now,
            last_beat_at: now,
            beat_interval_ms: u64::try_from(config.heartbeat_interval.as_millis())
                .unwrap_or(u64::MAX),
            stopped_at: None,
        };
        Worker {
            store,
            config,
            records,
            control,
            counters,
            warnings,
            recorder_id,
            pool,
            heartbeat,
            next_beat: Instant::now(),
            pending,
            collapse,
            batch,
            superseded: 0,
            outage: None,
            records_closed: false,
            dirty: false,
            last_flush: Instant::now(),
            waiting_flushes: Vec::new(),
        }
    }

    pub(super) fn run(mut self) {
        // Whatever the store does (a database client's own `tracing` events, …) must not be
        // recorded by the layer that feeds this thread.
        let _quiet = tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
        let never = crossbeam_channel::never();
        loop {
            if Instant::now() >= self.next_beat {
                self.beat(false);
            }
            if self
                .outage
                .as_ref()
                .is_some_and(|o| Instant::now() >= o.next_retry)
            {
                self.retry();
            }
            // In an outage whose backlog is full, records stay in the queue: back-pressure.
            let records = if !self.records_closed
                && self.outage.as_ref().is_none_or(|o| o.backlog.has_room())
            {
                &self.records
            } else {
                &never
            };
            select! {
                recv(records) -> record => match record {
                    Ok(record) => {
                        self.accept(record);
                        self.drain_queue();
                        self.write_batch();
                    }
                    // Every layer is gone: nothing more can arrive, but the guard and handles
                    // may still flush, and the backlog of an outage still waits for the store.
                    Err(_) => self.records_closed = true,
                },
                recv(self.control) -> control => match control {
                    Ok(control) => {
                        if let Next::Exit = self.handle(control) {
                            return;
                        }
                    }
                    // Every handle and the guard are gone: drain and stop.
                    Err(_) => {
                        let _ = self.finish(None);
                        return;
                    }
                },
                default(self.time_to_wake()) => {}
            }
            if self.dirty && self.last_flush.elapsed() >= self.config.flush_interval {
                // A failed flush is reported; the data stays dirty and is flushed next time.
                let _ = self.flush_store();
            }
        }
    }

    /// Writes the heartbeat; `stopping` marks the writer stopped. A failed beat is reported,
    /// not retried: the next one will come.
    fn beat(&mut self, stopping: bool) {
        let now = chrono::Utc::now();
        self.heartbeat.last_beat_at = now;
        if stopping {
            self.heartbeat.stopped_at = Some(now);
        }
        self.next_beat = Instant::now() + self.config.heartbeat_interval;
        if let Err(error) = self.store.write_heartbeat(&self.heartbeat) {
            // During an outage the retries already report the store's state.
            if self.outage.is_none() {
                self.report(&error);
            }
        }
    }

    fn time_to_wake(&self) -> Duration {
        let now = Instant::now();
        let mut wait = self.next_beat.saturating_duration_since(now);
        if self.dirty {
            wait = wait.min(
                self.config
                    .flush_interval
                    .saturating_sub(self.last_flush.elapsed()),
            );
        }
        if let Some(outage) = &self.outage {
            wait = wait.min(outage.next_retry.saturating_duration_since(now));
        }
        wait
    }

    fn handle(&mut self, control: Control) -> Next {
        match control {
            Control::Flush(reply) => {
                let result = self.write_everything_queued(None);
                let _ = reply.send(result);
                Next::Continue
            }
            Control::Shutdown(reply) => {
                let deadline = Instant::now() + self.config.shutdown_timeout;
                let result = self.finish(Some(deadline));
                let _ = reply.send(result);
                Next::Exit
            }
        }
    }

    /// Writes and flushes everything queued now. In an outage, tries the store once more at
    /// once and, if it still fails, answers with its error (the records stay in the backlog).
    /// With a deadline, retries with back-off until then instead.
    fn write_everything_queued(&mut self, deadline: Option<Instant>) -> Result<(), WriterError> {
        loop {
            self.drain_queue();
            if self.batch.is_empty() && self.pending.is_empty() {
                break;
            }
            self.write_batch();
        }
        if self.outage.is_some() {
            self.retry();
            while let Some(outage) = &self.outage {
                match deadline {
                    Some(deadline) if Instant::now() < deadline => {
                        let wait = outage.next_retry.min(deadline);
                        // Wait, but take flush requests meanwhile: they get this outcome.
                        if let Ok(Control::Flush(reply) | Control::Shutdown(reply)) = self
                            .control
                            .recv_timeout(wait.saturating_duration_since(Instant::now()))
                        {
                            self.waiting_flushes.push(reply);
                        }
                        self.drain_queue();
                        self.write_batch();
                        self.retry();
                    }
                    _ => {
                        let error = match deadline {
                            Some(_) => WriterError::Timeout(self.config.shutdown_timeout),
                            None => WriterError::Store(outage.last_error.clone()),
                        };
                        // What waits on disk should be durable, whatever the store does.
                        if let Some(outage) = &mut self.outage {
                            let _ = outage.backlog.sync();
                        }
                        return Err(error);
                    }
                }
            }
        }
        self.flush_store()
            .map_err(|e| WriterError::Store(Arc::new(e)))
    }

    /// Writes everything still queued, marks the recorder stopped, then reports what could not
    /// be written: records the store still refuses at the deadline stay in the spill file.
    fn finish(&mut self, deadline: Option<Instant>) -> Result<(), WriterError> {
        let deadline = deadline.unwrap_or_else(|| Instant::now() + self.config.shutdown_timeout);
        let result = self.write_everything_queued(Some(deadline));
        for reply in std::mem::take(&mut self.waiting_flushes) {
            let _ = reply.send(result.clone());
        }
        self.beat(true);
        let _ = self.store.flush();
        if result.is_err() {
            // The queue may still hold records the full backlog left there.
            while let Ok(queued) = self.records.try_recv() {
                self.accept(queued);
            }
            self.write_batch();
            self.abandon();
        }
        result
    }

    /// At shutdown with the store still failing: keeps the backlog in the spill file, and
    /// counts what even that could not keep.
    fn abandon(&mut self) {
        let Some(mut outage) = self.outage.take() else {
            return;
        };
        let waiting = outage.backlog.len();
        let superseded = outage.superseded;
        match (
            outage.backlog.spill_everything(),
            outage.backlog.spill_path(),
        ) {
            (Ok(kept), Some(path)) if kept == waiting => {
                eprintln!(
                    "tracing-etl: the store is still failing at shutdown ({}): {kept} execution \
                     records are kept in {}; replay them with `tracing_etl::writer::replay_spill` once \
                     the store is back",
                    outage.last_error,
                    path.display()
                );
            }
            (result, _) => {
                if let Err(e) = result {
                    self.report(&e);
                }
                self.counters
                    .abandoned
                    .fetch_add(waiting + superseded, Ordering::Relaxed);
                eprintln!(
                    "tracing-etl: shutting down with the store still failing ({}): {waiting} \
                     execution records were not written",
                    outage.last_error
                );
            }
        }
    }

    fn accept(&mut self, queued: Queued) {
        if queued.is_record() {
            self.counters.taken.fetch_add(1, Ordering::Relaxed);
        }
        let end = matches!(queued, Queued::End(_));
        match (queued, &mut self.outage) {
            (Queued::Warning(warning), _) => self.warn(&warning),
            (queued, None) => {
                if let (Queued::End(entity), true) = (&queued, self.collapse) {
                    entity.set_end_in_batch();
                }
                self.pending.push(queued);
            }
            (Queued::Start(entity) | Queued::End(entity), Some(outage)) => {
                let record = record_of(entity, end, &self.recorder_id, &self.pool);
                if let Err(error) = Self::backlog_push(outage, record, &self.counters) {
                    self.report(&error);
                }
            }
        }
    }

    /// Builds the records taken from the queue into the batch. For a store that keeps one row
    /// per entity, a start record whose end record is in the same batch is left out: the end
    /// record supersedes it, in the same transaction.
    fn build_batch(&mut self) {
        let mut pending = std::mem::take(&mut self.pending);
        for queued in pending.drain(..) {
            match queued {
                Queued::Start(entity) if self.collapse && entity.end_in_batch() => {
                    self.superseded += 1;
                }
                Queued::Start(entity) => {
                    let record = record_of(entity, false, &self.recorder_id, &self.pool);
                    self.batch.push(record);
                }
                Queued::End(entity) => {
                    let record = record_of(entity, true, &self.recorder_id, &self.pool);
                    self.batch.push(record);
                }
                Queued::Warning(warning) => self.warn(&warning),
            }
        }
        self.pending = pending;
    }

    /// Adds a record to an outage's backlog; the spill file's first failure is returned.
    fn backlog_push(
        outage: &mut Outage,
        record: ExecutionRecord,
        counters: &Counters,
    ) -> Result<(), StoreError> {
        match outage.backlog.push(record) {
            Ok(spilled) => {
                if spilled {
                    counters.spilled.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            }
            Err(error) if !outage.spill_error_reported => {
                outage.spill_error_reported = true;
                Err(error)
            }
            Err(_) => Ok(()),
        }
    }

    fn warn(&self, message: &str) {
        match self.warnings.get().and_then(|weak| weak.upgrade()) {
            Some(dispatch) => tracing::dispatcher::with_default(&dispatch, || {
                tracing::warn!(target: "tracing_etl", "{message}");
            }),
            None => eprintln!("tracing-etl: warning: {message}"),
        }
    }

    fn drain_queue(&mut self) {
        loop {
            let room = match &self.outage {
                None => self.pending.len() < self.config.max_batch,
                Some(outage) => outage.backlog.has_room(),
            };
            if !room {
                break;
            }
            match self.records.try_recv() {
                Ok(record) => self.accept(record),
                Err(_) => break,
            }
        }
    }

    /// Writes the current batch. If the store fails, an outage begins (or goes on): the batch
    /// joins the backlog, behind what is already waiting.
    fn write_batch(&mut self) {
        self.build_batch();
        if self.batch.is_empty() {
            self.counters
                .written
                .fetch_add(std::mem::take(&mut self.superseded), Ordering::Relaxed);
            return;
        }
        if self.outage.is_none() {
            match self.store.write_batch(&self.batch) {
                Ok(()) => {
                    let written = self.batch.len() as u64 + std::mem::take(&mut self.superseded);
                    self.counters.written.fetch_add(written, Ordering::Relaxed);
                    self.batch.clear();
                    self.dirty = true;
                    return;
                }
                Err(error) => self.begin_outage(error),
            }
        }
        let mut first_error = None;
        if let Some(outage) = &mut self.outage {
            outage.superseded += std::mem::take(&mut self.superseded);
            for record in self.batch.drain(..) {
                if let Err(e) = Self::backlog_push(outage, record, &self.counters) {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(error) = first_error {
            self.report(&error);
        }
    }

    fn begin_outage(&mut self, error: StoreError) {
        self.report(&error);
        let spill_path = self
            .config
            .spill_dir
            .as_ref()
            .map(|dir| dir.join(format!("spill-{}.jsonl", self.recorder_id)));
        self.outage = Some(Outage {
            backlog: Backlog::new(self.config.outage_buffer, spill_path),
            superseded: 0,
            since: Instant::now(),
            backoff: self.config.retry_initial,
            next_retry: Instant::now() + self.config.retry_initial,
            last_error: Arc::new(error),
            spill_error_reported: false,
        });
    }

    /// Tries to write the backlog, oldest first. Ends the outage when it is empty; otherwise
    /// doubles the back-off.
    fn retry(&mut self) {
        let Some(outage) = &mut self.outage else {
            return;
        };
        let failure = loop {
            let oldest = match outage.backlog.oldest(self.config.max_batch) {
                Ok(oldest) => oldest,
                Err(error) => break error,
            };
            if oldest.is_empty() {
                break match outage.backlog.is_empty() {
                    true => {
                        let waited = outage.since.elapsed();
                        self.counters
                            .written
                            .fetch_add(outage.superseded, Ordering::Relaxed);
                        self.outage = None;
                        self.warn(&format!(
                            "execution record store recovered after {:.1}s; every record \
                             kept meanwhile is written",
                            waited.as_secs_f64()
                        ));
                        return;
                    }
                    // Unreachable in practice: records are left but none could be read.
                    false => StoreError::other("records of the backlog could not be read back"),
                };
            }
            let n = oldest.len();
            match self.store.write_batch(oldest) {
                Ok(()) => {
                    outage.backlog.consume(n);
                    self.counters.written.fetch_add(n as u64, Ordering::Relaxed);
                    self.dirty = true;
                }
                Err(error) => break error,
            }
        };
        let failure = Arc::new(failure);
        outage.last_error = failure.clone();
        outage.next_retry = Instant::now() + outage.backoff;
        outage.backoff = (outage.backoff * 2).min(self.config.retry_max);
        self.report(&failure);
    }

    fn flush_store(&mut self) -> Result<(), StoreError> {
        if !self.dirty {
            return Ok(());
        }
        match self.store.flush() {
            Ok(()) => {
                self.dirty = false;
                self.last_flush = Instant::now();
                Ok(())
            }
            Err(error) => {
                self.report(&error);
                Err(error)
            }
        }
    }

    fn report(&self, error: &StoreError) {
        self.counters.store_errors.fetch_add(1, Ordering::Relaxed);
        (self.config.on_error)(error);
    }
}

/// The start record (or with `end`, the end record) of a queued entity; the entity then goes
/// back to `pool` for reuse, so every record built from the queue gives its entity back.
fn record_of(
    entity: Arc<Entity>,
    end: bool,
    recorder_id: &str,
    pool: &EntityPool,
) -> ExecutionRecord {
    let record = if end {
        entity.end_record(recorder_id)
    } else {
        entity.start_record(recorder_id)
    };
    pool.give_back(entity);
    record
}
