//! The writer thread: drains the queue, builds the records and hands them to the store's thread
//! in batches, one call at a time, and rides out store outages.
//!
//! The writer never waits for the store. While a call is in flight it keeps taking records from
//! the queue, up to the next batch; a call past the store deadline, or one that fails, is an
//! outage: the records the store has not taken wait in a [`Backlog`] (memory, then a spill history)
//! while the writer keeps draining the queue and retries with back-off. On recovery the backlog
//! is written oldest first, a batch at a time, and between its batches the writer takes new
//! records from the queue (half as many as it writes, so the backlog shrinks), so the program
//! is never held up for more than one batch.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender};

use super::backlog::Backlog;
use super::report::{Reporter, StoreDeadlineExceeded};
use super::store_thread::{Call, StoreThread};
use super::{Control, Counters, Queued, WriterConfig, WriterHandle};
use crate::dispatch::RegisteredDispatch;
use crate::entity::{Entity, EntityPool};
use crate::error::{StoreError, WriterError};
use crate::record::{ExecutionRecord, RecorderHeartbeat};

/// The longest the writer waits for its last heartbeat when it stops with the store failing.
const LAST_BEAT_WAIT: Duration = Duration::from_secs(1);

pub(super) struct Worker {
    config: WriterConfig,
    records: Receiver<Queued>,
    /// The layer's warnings, emitted as they come (see `RecordSender`).
    layer_warnings: Receiver<String>,
    layer_warnings_closed: bool,
    control: Receiver<Control>,
    counters: Arc<Counters>,
    warnings: RegisteredDispatch,
    recorder_id: Arc<str>,
    /// Where entities go once their records are built, for reuse by the layer.
    pool: Arc<EntityPool>,
    store: Option<StoreThread>,
    /// The store's thread has ended (its store panicked past catching, or it could not answer):
    /// no more calls.
    store_gone: bool,
    /// Whether the store keeps one row per entity, so that a start record whose end record is
    /// in the same batch need not be written.
    collapse: bool,
    heartbeat: RecorderHeartbeat,
    next_beat: Instant,
    /// Records taken from the queue for the next batch, not yet built (only while no outage:
    /// in an outage records are built as they are taken and join the backlog).
    pending: Vec<Queued>,
    /// Built records the store has not taken, behind the call in flight.
    backlog: Backlog,
    /// The store call in flight.
    in_flight: Option<InFlight>,
    /// Set while the store cannot keep up: a call failed or is past its deadline, and the
    /// backlog is not written yet.
    outage: Option<Outage>,
    /// While the backlog is written after an outage: how many records may still be taken from
    /// the queue, in halves (a written record gives one, a record taken costs two).
    credit: usize,
    /// Records taken from the queue so far, and how many of those (the oldest: they are written
    /// in order) are settled: taken by the store (counting start records superseded in their
    /// batch), or lost.
    taken: u64,
    settled: u64,
    /// `settled` when the store was last flushed (or had nothing to flush).
    durable: u64,
    /// Records written since the store was last flushed.
    dirty: bool,
    last_flush: Instant,
    /// After a failed flush: when to try again, and the back-off after that.
    flush_retry: Option<Instant>,
    flush_backoff: Duration,
    reporter: Reporter,
    /// Every layer (sender) is gone.
    records_closed: bool,
    /// Every handle and the guard are gone.
    control_closed: bool,
    /// Flushes waiting for the records queued before them.
    flushes: Vec<Waiter>,
    stopping: Option<Stopping>,
    /// Vectors of batches the store has taken, kept for the next batch.
    spare: Vec<ExecutionRecord>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        // No record is taken from the queue any more; those still in it, or sent before the
        // queue closes right after this, are counted as dropped (`Counters::snapshot`).
        self.counters.stopped.store(true, Ordering::Release);
    }
}

/// The store call in flight.
struct InFlight {
    call: CallKind,
    /// The batch of a write; the store's thread holds it too until it answers.
    batch: Option<Arc<Vec<ExecutionRecord>>>,
    /// Start records left out of the batch because their end record supersedes them, with the
    /// position in the batch they belong before. Built after all should the batch fail, so that
    /// a batch kept for later (or in the spill history) has every record.
    superseded: Vec<(usize, Arc<Entity>)>,
    deadline: Instant,
    /// The deadline has passed (and the outage begun).
    late: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallKind {
    Write,
    Heartbeat { stopping: bool },
    Flush,
}

/// A store outage in progress.
struct Outage {
    since: Instant,
    /// The store cannot take records now: its last call failed, or the call in flight is past
    /// its deadline. Cleared when a call returns without failing: then the backlog is written,
    /// a batch at a time.
    failing: bool,
    backoff: Duration,
    next_retry: Instant,
    /// The store's latest error, as flushes waiting on the outage are told.
    last_error: Arc<StoreError>,
}

/// A flush waiting for every record queued before it.
struct Waiter {
    target: u64,
    reply: Sender<Result<(), WriterError>>,
}

/// Shutdown in progress.
struct Stopping {
    /// Every record queued before the shutdown was asked for: the writer takes no more.
    target: u64,
    deadline: Instant,
    reply: Option<Sender<Result<(), WriterError>>>,
    /// The final heartbeat (`stopped_at`) has been written, or tried.
    beaten: bool,
    /// The final flush's outcome, once it has returned.
    flushed: Option<Result<(), WriterError>>,
}

impl Worker {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        store: StoreThread,
        collapse: bool,
        config: WriterConfig,
        records: Receiver<Queued>,
        layer_warnings: Receiver<String>,
        control: Receiver<Control>,
        handle: &WriterHandle,
        warnings: RegisteredDispatch,
        pool: Arc<EntityPool>,
    ) -> Self {
        let counters = handle.counters.clone();
        let recorder_id = handle.recorder_id.clone();
        let pending = Vec::with_capacity(config.max_batch);
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
        let spill_path = config
            .spill_dir
            .as_ref()
            .map(|dir| dir.join(format!("spill-{recorder_id}")));
        Worker {
            backlog: Backlog::new(config.outage_buffer, spill_path),
            reporter: Reporter::new(config.on_error.clone(), counters.clone()),
            flush_backoff: config.retry_initial,
            config,
            records,
            layer_warnings,
            layer_warnings_closed: false,
            control,
            counters,
            warnings,
            recorder_id,
            pool,
            store: Some(store),
            store_gone: false,
            collapse,
            heartbeat,
            next_beat: Instant::now(),
            pending,
            in_flight: None,
            outage: None,
            credit: 0,
            taken: 0,
            settled: 0,
            durable: 0,
            dirty: false,
            last_flush: Instant::now(),
            flush_retry: None,
            records_closed: false,
            control_closed: false,
            flushes: Vec::new(),
            stopping: None,
            spare: Vec::new(),
        }
    }

    pub(super) fn run(mut self) {
        // Warnings are emitted from this thread: nothing it does may be recorded.
        let _quiet = tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
        let never_records = crossbeam_channel::never();
        let never_control = crossbeam_channel::never();
        let never_answers = crossbeam_channel::never();
        let never_warnings = crossbeam_channel::never();
        let result = loop {
            let now = Instant::now();
            self.counters
                .spilled
                .store(self.backlog.spilled_total(), Ordering::Relaxed);
            self.check_deadline(now);
            self.reporter.tick(now);
            self.answer_flushes();
            if let Some(result) = self.stopped(now) {
                break result;
            }
            self.next_call(now);
            let records = match self.may_take() {
                true => &self.records,
                false => &never_records,
            };
            let control = match self.control_closed {
                false => &self.control,
                true => &never_control,
            };
            let layer_warnings = match self.layer_warnings_closed {
                false => &self.layer_warnings,
                true => &never_warnings,
            };
            let answers = match (&self.store, self.store_gone) {
                (Some(store), false) => &store.answers,
                _ => &never_answers,
            };
            select! {
                recv(records) -> record => match record {
                    Ok(record) => {
                        self.accept(record);
                        self.drain_queue();
                    }
                    // Every layer is gone: nothing more can arrive, but the guard and handles
                    // may still flush, and the backlog of an outage still waits for the store.
                    Err(_) => self.records_closed = true,
                },
                recv(control) -> control => match control {
                    Ok(control) => self.handle(control),
                    // Every handle and the guard are gone: write what is queued and stop.
                    Err(_) => {
                        self.control_closed = true;
                        self.begin_stopping(None);
                    }
                },
                recv(layer_warnings) -> warning => match warning {
                    Ok(warning) => self.warn(&warning),
                    Err(_) => self.layer_warnings_closed = true,
                },
                recv(answers) -> answer => match answer {
                    Ok(result) => self.answered(result),
                    Err(_) => self.store_thread_gone(),
                },
                default(self.time_to_wake(now)) => {}
            }
        };
        self.exit(result);
    }

    // ----- what to wait for -------------------------------------------------------------

    /// Whether to take records from the queue now.
    fn may_take(&self) -> bool {
        if self.records_closed {
            return false;
        }
        if let Some(stopping) = &self.stopping {
            if self.taken >= stopping.target {
                return false;
            }
        }
        match &self.outage {
            // The next batch, while the store writes this one.
            None => self.pending.len() < self.config.max_batch,
            // The store cannot take records: into the backlog, as long as it has room.
            Some(outage) if outage.failing => self.backlog.has_room(),
            // The backlog is being written: half as many new records as written ones.
            Some(_) => self.credit >= 2 && self.backlog.has_room(),
        }
    }

    /// How long to wait for a record, a control message or the store's answer before there is
    /// something to do anyway.
    fn time_to_wake(&self, now: Instant) -> Duration {
        let mut wake = now + Duration::from_secs(60);
        let mut at = |t: Instant| wake = wake.min(t);
        match &self.in_flight {
            Some(call) if !call.late => at(call.deadline),
            Some(_) => {}
            None if self.store_gone => {}
            None => {
                let allowed = match &self.outage {
                    Some(outage) if outage.failing => outage.next_retry,
                    _ => now,
                };
                let mut want = self.next_beat;
                if let Some(due) = self.flush_due(now) {
                    want = want.min(due);
                }
                if self.has_records_to_write() {
                    want = now;
                }
                at(want.max(allowed));
            }
        }
        if let Some(due) = self.reporter.due() {
            at(due);
        }
        if let Some(stopping) = &self.stopping {
            at(stopping.deadline);
        }
        wake.saturating_duration_since(now)
    }

    fn has_records_to_write(&self) -> bool {
        !self.pending.is_empty() || !self.backlog.is_empty()
    }

    /// When the store should be flushed next, if it has anything to flush and can.
    fn flush_due(&self, now: Instant) -> Option<Instant> {
        if !self.dirty || self.outage.as_ref().is_some_and(|o| o.failing) {
            return None;
        }
        // A flush or a shutdown waiting for records the store has taken: at once.
        let wanted = self.flushes.iter().any(|w| w.target <= self.settled)
            || self
                .stopping
                .as_ref()
                .is_some_and(|s| self.settled >= s.target);
        match (wanted, self.flush_retry) {
            (_, Some(retry)) => Some(retry),
            (true, None) => Some(now),
            (false, None) => Some(self.last_flush + self.config.flush_interval),
        }
    }

    // ----- calls ------------------------------------------------------------------------

    /// Makes the next store call, if the store is free and there is one to make: the heartbeat
    /// when due, a flush when due, else the oldest records.
    fn next_call(&mut self, now: Instant) {
        if self.in_flight.is_some() || self.store_gone {
            return;
        }
        if let Some(outage) = &self.outage {
            if outage.failing && now < outage.next_retry {
                return;
            }
        }
        if let Some(stopping) = &self.stopping {
            if self.settled >= stopping.target && !stopping.beaten {
                self.beat(now, true);
                return;
            }
        }
        if now >= self.next_beat {
            self.beat(now, false);
            return;
        }
        if self.flush_due(now).is_some_and(|due| now >= due) {
            self.send(Call::Flush, CallKind::Flush, None, Vec::new(), now);
            return;
        }
        if let Some(stopping) = &self.stopping {
            if self.settled >= stopping.target && stopping.flushed.is_none() && !self.dirty {
                // Nothing written since the last flush: the final flush is still made, for the
                // heartbeat's sake.
                self.send(Call::Flush, CallKind::Flush, None, Vec::new(), now);
                return;
            }
        }
        if !self.backlog.is_empty() {
            match self.backlog.take_oldest(self.config.max_batch) {
                Ok(batch) if !batch.is_empty() => {
                    let n = batch.len();
                    self.send_batch(batch, Vec::new(), now);
                    if self.outage.is_some() {
                        self.credit = (self.credit + n).min(self.config.max_batch.max(2));
                    }
                }
                Ok(_) => self.failed(
                    StoreError::other("records of the backlog could not be read back"),
                    now,
                ),
                Err(error) => {
                    self.note_lost();
                    self.failed(error, now);
                }
            }
            return;
        }
        if !self.pending.is_empty() {
            let (batch, superseded) = self.build_batch();
            if batch.is_empty() {
                // Only warnings were pending.
                return;
            }
            self.send_batch(batch, superseded, now);
        }
    }

    fn beat(&mut self, now: Instant, stopping: bool) {
        let wall = chrono::Utc::now();
        self.heartbeat.last_beat_at = wall;
        if stopping {
            self.heartbeat.stopped_at = Some(wall);
        }
        self.next_beat = now + self.config.heartbeat_interval;
        let beat = self.heartbeat.clone();
        self.send(
            Call::Heartbeat(beat),
            CallKind::Heartbeat { stopping },
            None,
            Vec::new(),
            now,
        );
    }

    fn send_batch(
        &mut self,
        batch: Vec<ExecutionRecord>,
        superseded: Vec<(usize, Arc<Entity>)>,
        now: Instant,
    ) {
        let batch = Arc::new(batch);
        self.send(
            Call::Write(batch.clone()),
            CallKind::Write,
            Some(batch),
            superseded,
            now,
        );
    }

    fn send(
        &mut self,
        call: Call,
        kind: CallKind,
        batch: Option<Arc<Vec<ExecutionRecord>>>,
        superseded: Vec<(usize, Arc<Entity>)>,
        now: Instant,
    ) {
        let Some(store) = &self.store else {
            return;
        };
        // The channel holds one call and the store's thread takes it at once: never full.
        if store.calls.try_send(call).is_err() {
            self.in_flight = Some(InFlight {
                call: kind,
                batch,
                superseded,
                deadline: now,
                late: true,
            });
            self.store_thread_gone();
            return;
        }
        self.in_flight = Some(InFlight {
            call: kind,
            batch,
            superseded,
            deadline: now + self.config.store_deadline,
            late: false,
        });
    }

    /// The call in flight has passed its deadline: an outage, until it returns.
    fn check_deadline(&mut self, now: Instant) {
        let Some(call) = &mut self.in_flight else {
            return;
        };
        if call.late || now < call.deadline {
            return;
        }
        call.late = true;
        let operation = match call.call {
            CallKind::Write => {
                let n = call.batch.as_ref().map_or(0, |b| b.len()) + call.superseded.len();
                format!("writing {n} records")
            }
            CallKind::Heartbeat { .. } => "writing the heartbeat".to_owned(),
            CallKind::Flush => "flushing".to_owned(),
        };
        let error = Arc::new(StoreError::other(StoreDeadlineExceeded::new(
            operation,
            self.config.store_deadline,
        )));
        self.enter_outage(error.clone(), now);
        self.reporter.report(error.clone(), now);
        self.fail_flushes(&error, |_| true);
    }

    /// The store's thread answered the call in flight.
    fn answered(&mut self, result: Result<(), StoreError>) {
        let now = Instant::now();
        let Some(call) = self.in_flight.take() else {
            return;
        };
        match (call.call, result) {
            (CallKind::Write, Ok(())) => {
                let batch = call.batch.expect("a write has its batch");
                let n = batch.len() + call.superseded.len();
                self.settled += n as u64;
                self.counters.written.fetch_add(n as u64, Ordering::Relaxed);
                self.backlog.confirm(batch.len());
                self.dirty = true;
                for (_, entity) in call.superseded {
                    self.pool.give_back(entity);
                }
                if let Ok(mut spare) = Arc::try_unwrap(batch) {
                    spare.clear();
                    self.spare = spare;
                }
                if let Some(outage) = &mut self.outage {
                    outage.failing = false;
                    outage.backoff = self.config.retry_initial;
                }
                self.maybe_recovered(now);
            }
            (CallKind::Write, Err(error)) => {
                let records = self.unsent(call.batch, call.superseded);
                let error = Arc::new(error);
                self.enter_outage(error.clone(), now);
                // The oldest records again, ahead of everything taken since.
                self.backlog.restore(records);
                self.failed_arc(error, now);
            }
            (CallKind::Heartbeat { stopping }, result) => {
                if stopping {
                    if let Some(s) = &mut self.stopping {
                        s.beaten = true;
                    }
                }
                match result {
                    Ok(()) => {
                        if let Some(outage) = &mut self.outage {
                            outage.failing = false;
                        }
                        self.maybe_recovered(now);
                    }
                    // A failed beat is reported, not retried: the next one will come. During an
                    // outage it is one more failed try, already reported by the writes.
                    Err(error) => match &mut self.outage {
                        None => self.reporter.report(Arc::new(error), now),
                        Some(outage) => {
                            outage.failing = true;
                            outage.next_retry = now + outage.backoff;
                        }
                    },
                }
            }
            (CallKind::Flush, Ok(())) => {
                self.dirty = false;
                self.durable = self.settled;
                self.last_flush = now;
                self.flush_retry = None;
                self.flush_backoff = self.config.retry_initial;
                if let Some(stopping) = &mut self.stopping {
                    if self.settled >= stopping.target && stopping.beaten {
                        stopping.flushed = Some(Ok(()));
                    }
                }
                if let Some(outage) = &mut self.outage {
                    outage.failing = false;
                }
                self.maybe_recovered(now);
            }
            (CallKind::Flush, Err(error)) => {
                // Tried again after a back-off, doubling like the writes'.
                self.flush_retry = Some(now + self.flush_backoff);
                self.flush_backoff = (self.flush_backoff * 2).min(self.config.retry_max);
                let error = Arc::new(error);
                self.reporter.report(error.clone(), now);
                let settled = self.settled;
                self.fail_flushes(&error, |w| w.target <= settled);
                if let Some(stopping) = &mut self.stopping {
                    if self.settled >= stopping.target && stopping.beaten {
                        stopping.flushed = Some(Err(WriterError::Store(error)));
                    }
                }
                if let Some(outage) = &mut self.outage {
                    outage.failing = false;
                }
                self.maybe_recovered(now);
            }
        }
    }

    /// The records of a batch the store did not take, in order, with the start records it left
    /// out built after all.
    fn unsent(
        &self,
        batch: Option<Arc<Vec<ExecutionRecord>>>,
        superseded: Vec<(usize, Arc<Entity>)>,
    ) -> Vec<ExecutionRecord> {
        let batch = batch.map_or_else(Vec::new, |batch| {
            Arc::try_unwrap(batch).unwrap_or_else(|shared| (*shared).clone())
        });
        if superseded.is_empty() {
            return batch;
        }
        let mut records = Vec::with_capacity(batch.len() + superseded.len());
        let mut superseded = superseded.into_iter().peekable();
        for (i, record) in batch.into_iter().enumerate() {
            while let Some((_, entity)) = superseded.next_if(|(at, _)| *at <= i) {
                records.push(record_of(entity, false, &self.recorder_id, &self.pool));
            }
            records.push(record);
        }
        for (_, entity) in superseded {
            records.push(record_of(entity, false, &self.recorder_id, &self.pool));
        }
        records
    }

    /// The records of the call in flight, for the spill history at shutdown, without taking them
    /// from the store's thread (which may still write them).
    fn in_flight_records(&self) -> Vec<ExecutionRecord> {
        let Some(call) = &self.in_flight else {
            return Vec::new();
        };
        let Some(batch) = &call.batch else {
            return Vec::new();
        };
        let mut records = Vec::with_capacity(batch.len() + call.superseded.len());
        let mut superseded = call.superseded.iter().peekable();
        for (i, record) in batch.iter().enumerate() {
            while let Some((_, entity)) = superseded.next_if(|(at, _)| *at <= i) {
                records.push(entity.start_record(&self.recorder_id));
            }
            records.push(record.clone());
        }
        for (_, entity) in superseded {
            records.push(entity.start_record(&self.recorder_id));
        }
        records
    }

    /// A store call failed, or the backlog could not be read back: the outage goes on, and the
    /// next try comes after the back-off.
    fn failed(&mut self, error: StoreError, now: Instant) {
        let error = Arc::new(error);
        self.enter_outage(error.clone(), now);
        self.failed_arc(error, now);
    }

    fn failed_arc(&mut self, error: Arc<StoreError>, now: Instant) {
        if let Some(outage) = &mut self.outage {
            outage.failing = true;
            outage.last_error = error.clone();
            outage.next_retry = now + outage.backoff;
            outage.backoff = (outage.backoff * 2).min(self.config.retry_max);
        }
        self.reporter.report(error.clone(), now);
        self.fail_flushes(&error, |_| true);
    }

    /// Begins an outage, or notes its latest error. What was taken for the next batch joins
    /// the backlog, behind what is already waiting.
    fn enter_outage(&mut self, error: Arc<StoreError>, now: Instant) {
        match &mut self.outage {
            Some(outage) => {
                outage.failing = true;
                outage.last_error = error;
            }
            None => {
                self.outage = Some(Outage {
                    since: now,
                    failing: true,
                    backoff: self.config.retry_initial,
                    next_retry: now,
                    last_error: error,
                });
                self.credit = 0;
                let pending = std::mem::take(&mut self.pending);
                for queued in pending {
                    self.push_built(queued);
                }
            }
        }
    }

    /// Ends the outage once the store answers and the backlog is written.
    fn maybe_recovered(&mut self, now: Instant) {
        let recovered = self.outage.as_ref().is_some_and(|o| !o.failing)
            && self.in_flight.is_none()
            && self.backlog.is_empty();
        if !recovered {
            return;
        }
        let outage = self.outage.take().expect("checked");
        self.reporter.settle(now);
        self.warn(&format!(
            "execution record store recovered after {:.1}s; every record kept meanwhile is \
             written",
            outage.since.elapsed().as_secs_f64()
        ));
    }

    /// The store's thread is gone (it can no longer answer): every call from now on fails.
    fn store_thread_gone(&mut self) {
        if self.store_gone {
            return;
        }
        self.store_gone = true;
        let now = Instant::now();
        let error = Arc::new(StoreError::other(
            "the store's thread has stopped; records are kept until shutdown",
        ));
        if let Some(call) = self.in_flight.take() {
            if call.call == CallKind::Write {
                let records = self.unsent(call.batch, call.superseded);
                self.enter_outage(error.clone(), now);
                self.backlog.restore(records);
            }
        }
        self.enter_outage(error.clone(), now);
        self.failed_arc(error, now);
    }

    // ----- records ----------------------------------------------------------------------

    fn accept(&mut self, queued: Queued) {
        if queued.is_record() {
            self.taken += 1;
            self.counters.taken.fetch_add(1, Ordering::Relaxed);
        }
        match (queued, &self.outage) {
            (Queued::Warning(warning), _) => self.warn(&warning),
            (queued, None) => {
                if let (Queued::End(entity), true) = (&queued, self.collapse) {
                    entity.set_end_in_batch();
                }
                self.pending.push(queued);
            }
            (queued, Some(outage)) => {
                if !outage.failing {
                    self.credit = self.credit.saturating_sub(2);
                }
                self.push_built(queued);
            }
        }
    }

    /// Builds the record and adds it to the backlog.
    fn push_built(&mut self, queued: Queued) {
        let record = match queued {
            Queued::Start(entity) => record_of(entity, false, &self.recorder_id, &self.pool),
            Queued::End(entity) => record_of(entity, true, &self.recorder_id, &self.pool),
            Queued::Warning(warning) => return self.warn(&warning),
        };
        if let Err(error) = self.backlog.push(record) {
            self.reporter.report(Arc::new(error), Instant::now());
        }
    }

    fn drain_queue(&mut self) {
        while self.may_take() {
            match self.records.try_recv() {
                Ok(record) => self.accept(record),
                Err(_) => break,
            }
        }
    }

    /// Builds the records taken from the queue into a batch. For a store that keeps one row
    /// per entity, a start record whose end record is in the same batch is left out: the end
    /// record supersedes it, in the same transaction.
    fn build_batch(&mut self) -> (Vec<ExecutionRecord>, Vec<(usize, Arc<Entity>)>) {
        let mut batch = std::mem::take(&mut self.spare);
        batch.reserve(self.pending.len());
        let mut superseded = Vec::new();
        let mut pending = std::mem::take(&mut self.pending);
        for queued in pending.drain(..) {
            match queued {
                Queued::Start(entity) if self.collapse && entity.end_in_batch() => {
                    superseded.push((batch.len(), entity));
                }
                Queued::Start(entity) => {
                    batch.push(record_of(entity, false, &self.recorder_id, &self.pool));
                }
                Queued::End(entity) => {
                    batch.push(record_of(entity, true, &self.recorder_id, &self.pool));
                }
                Queued::Warning(warning) => self.warn(&warning),
            }
        }
        self.pending = pending;
        (batch, superseded)
    }

    /// Spill lines that could not be read back are records lost: counted as abandoned.
    fn note_lost(&mut self) {
        let lost = self.backlog.take_lost();
        if lost > 0 {
            self.counters.abandoned.fetch_add(lost, Ordering::Relaxed);
            self.settled += lost;
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

    // ----- flushes and shutdown ---------------------------------------------------------

    fn handle(&mut self, control: Control) {
        // Every record sent before the request is in the queue now.
        let target = self.taken + self.records.len() as u64;
        match control {
            Control::Flush(reply) => {
                self.flushes.push(Waiter { target, reply });
                let late = self.in_flight.as_ref().is_some_and(|call| call.late);
                let idle = self.in_flight.is_none();
                let gone = self.store_gone;
                if let Some(outage) = &mut self.outage {
                    if late || gone {
                        // A store past its deadline, or gone: the flush is told at once.
                        let error = outage.last_error.clone();
                        self.fail_flushes(&error, |_| true);
                    } else if outage.failing && idle {
                        // A failing store is tried once more at once.
                        outage.next_retry = Instant::now();
                    }
                }
            }
            Control::Shutdown(reply) => self.begin_stopping(Some(reply)),
        }
    }

    fn begin_stopping(&mut self, reply: Option<Sender<Result<(), WriterError>>>) {
        if let Some(stopping) = &mut self.stopping {
            if let (None, Some(reply)) = (&stopping.reply, reply) {
                stopping.reply = Some(reply);
            }
            return;
        }
        let target = self.taken + self.records.len() as u64;
        self.stopping = Some(Stopping {
            target,
            deadline: Instant::now() + self.config.shutdown_timeout,
            reply,
            beaten: false,
            flushed: None,
        });
    }

    /// Answers the flushes whose records are written and flushed. The layer's warnings queued
    /// so far are emitted first: a warning sent before the flush was asked for (they travel
    /// beside the records, not among them) has reached the subscriber when the flush returns.
    fn answer_flushes(&mut self) {
        if !self.dirty {
            self.durable = self.settled;
        }
        let durable = self.durable;
        if self.flushes.iter().any(|waiter| waiter.target <= durable) {
            while let Ok(warning) = self.layer_warnings.try_recv() {
                self.warn(&warning);
            }
        }
        self.flushes.retain(|waiter| {
            if waiter.target <= durable {
                let _ = waiter.reply.send(Ok(()));
                false
            } else {
                true
            }
        });
    }

    /// Answers with `error` the flushes for which `failed` holds. What waits in the spill history
    /// is made durable first, whatever the store does.
    fn fail_flushes(&mut self, error: &Arc<StoreError>, failed: impl Fn(&Waiter) -> bool) {
        if !self.flushes.iter().any(&failed) {
            return;
        }
        if let Err(e) = self.backlog.sync() {
            self.reporter.report(Arc::new(e), Instant::now());
        }
        self.flushes.retain(|waiter| {
            if failed(waiter) {
                let _ = waiter.reply.send(Err(WriterError::Store(error.clone())));
                false
            } else {
                true
            }
        });
    }

    /// Whether shutdown is over, with its outcome: everything written, the last heartbeat and
    /// flush made; or the deadline passed.
    fn stopped(&mut self, now: Instant) -> Option<Result<(), WriterError>> {
        let stopping = self.stopping.as_mut()?;
        if self.store_gone {
            return Some(self.give_up());
        }
        if self.settled >= stopping.target && stopping.beaten && self.in_flight.is_none() {
            if let Some(result) = stopping.flushed.take() {
                return Some(result);
            }
        }
        if now < stopping.deadline {
            return None;
        }
        Some(self.give_up())
    }

    /// The shutdown deadline has passed with records unwritten: they go to the spill history.
    fn give_up(&mut self) -> Result<(), WriterError> {
        let timeout = Err(WriterError::Timeout(self.config.shutdown_timeout));
        let target = self.stopping.as_ref().map_or(self.taken, |s| s.target);
        // Every record queued before the shutdown, whatever the backlog's room.
        while self.taken < target {
            match self.records.try_recv() {
                Ok(queued) => {
                    if queued.is_record() {
                        self.taken += 1;
                        self.counters.taken.fetch_add(1, Ordering::Relaxed);
                    }
                    self.push_built(queued);
                }
                Err(_) => break,
            }
        }
        let pending = std::mem::take(&mut self.pending);
        for queued in pending {
            self.push_built(queued);
        }
        let first = self.in_flight_records();
        let waiting = first.len() as u64 + self.backlog.len();
        if waiting == 0 {
            // Written, but the last heartbeat or flush did not return in time.
            return timeout;
        }
        let why = match &self.outage {
            Some(outage) => format!(
                "the store is still failing at shutdown ({})",
                outage.last_error
            ),
            None => "the store did not take every record before the shutdown timeout".to_owned(),
        };
        match (
            self.backlog.spill_everything(&first),
            self.backlog.spill_path(),
        ) {
            (Ok(kept), Some(path)) if kept == waiting => {
                eprintln!(
                    "tracing-etl: {why}: {kept} execution records are kept in {}; replay them \
                     with `tracing_etl::writer::replay_spill` (or `tracing-etl replay`) once the store \
                     is back",
                    path.display()
                );
            }
            (result, _) => {
                if let Err(e) = result {
                    self.reporter.report(Arc::new(e), Instant::now());
                }
                self.counters
                    .abandoned
                    .fetch_add(waiting, Ordering::Relaxed);
                eprintln!("tracing-etl: {why}: {waiting} execution records were not written");
            }
        }
        // The last heartbeat, if the store is free to take it.
        if self.in_flight.is_none() && !self.store_gone {
            let now = Instant::now();
            self.beat(now, true);
            let wait = self.config.store_deadline.min(LAST_BEAT_WAIT);
            if let Some(store) = &self.store {
                if store.answers.recv_timeout(wait).is_ok() {
                    self.in_flight = None;
                }
            }
        }
        timeout
    }

    fn exit(&mut self, result: Result<(), WriterError>) {
        while let Ok(warning) = self.layer_warnings.try_recv() {
            self.warn(&warning);
        }
        for waiter in self.flushes.drain(..) {
            let _ = waiter.reply.send(result.clone());
        }
        self.reporter.settle(Instant::now());
        // The store's thread ends once its channel closes; wait for it (the store is dropped
        // there) unless it is still in a call that did not return.
        if let Some(store) = self.store.take() {
            let StoreThread {
                calls,
                answers,
                thread,
            } = store;
            drop(calls);
            drop(answers);
            if self.in_flight.is_none() {
                let _ = thread.join();
            }
        }
        if let Some(reply) = self.stopping.as_mut().and_then(|s| s.reply.take()) {
            let _ = reply.send(result);
        }
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
