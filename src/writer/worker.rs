//! The writer thread: drains the queue in batches into the store, retries with back-off, flushes.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender};

use super::{Control, Counters, Queued, WarningSink, WriterConfig};
use crate::error::{StoreError, WriterError};
use crate::record::{ExecutionRecord, RecorderHeartbeat};
use crate::store::ExecutionRecordStore;

pub(super) struct Worker<S> {
    store: S,
    config: WriterConfig,
    records: Receiver<Queued>,
    control: Receiver<Control>,
    counters: Arc<Counters>,
    warnings: WarningSink,
    recorder_id: Arc<str>,
    heartbeat: RecorderHeartbeat,
    next_beat: Instant,
    /// Records taken from the queue for the next batch, not yet built.
    pending: Vec<Queued>,
    /// Whether the store keeps one row per entity, so that a start record whose end record is
    /// in the same batch need not be written.
    collapse: bool,
    /// The next batch, built.
    batch: Vec<ExecutionRecord>,
    /// Start records left out of `batch` because their end record supersedes them: written
    /// (as far as the counters go) with it.
    superseded: u64,
    /// Records written since the store was last flushed.
    dirty: bool,
    last_flush: Instant,
    /// A shutdown requested while a failing batch was being retried: its reply and deadline.
    pending_shutdown: Option<(Sender<Result<(), WriterError>>, Instant)>,
    /// Flushes requested while a failing batch was being retried, whose retry then succeeded:
    /// answered once everything queued is written.
    pending_flushes: Vec<Sender<Result<(), WriterError>>>,
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
        counters: Arc<Counters>,
        warnings: WarningSink,
        recorder_id: Arc<str>,
    ) -> Self {
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
            heartbeat,
            next_beat: Instant::now(),
            pending,
            collapse,
            batch,
            superseded: 0,
            dirty: false,
            last_flush: Instant::now(),
            pending_shutdown: None,
            pending_flushes: Vec::new(),
        }
    }

    pub(super) fn run(mut self) {
        // Whatever the store does (a database client's own `tracing` events, …) must not be
        // recorded by the layer that feeds this thread.
        let _quiet = tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
        loop {
            if Instant::now() >= self.next_beat {
                self.beat(false);
            }
            let wait = self
                .time_to_flush()
                .min(self.next_beat.saturating_duration_since(Instant::now()));
            select! {
                recv(self.records) -> record => match record {
                    Ok(record) => {
                        self.accept(record);
                        self.drain_queue();
                        self.write_batch(None);
                    }
                    // Every sender is gone: nothing more can arrive.
                    Err(_) => {
                        // `finish` reports what it could not write.
                        let _ = self.finish(None);
                        return;
                    }
                },
                recv(self.control) -> control => match control {
                    Ok(control) => {
                        if let Next::Exit = self.handle(control) {
                            return;
                        }
                    }
                    // Every handle and the guard are gone: drain and stop.
                    Err(_) => {
                        // `finish` reports what it could not write.
                        let _ = self.finish(None);
                        return;
                    }
                },
                default(wait) => {}
            }
            if let Some((reply, deadline)) = self.pending_shutdown.take() {
                let result = self.finish(Some(deadline));
                let _ = reply.send(result);
                return;
            }
            if !self.pending_flushes.is_empty() {
                let result = self.write_everything_queued(None);
                for reply in std::mem::take(&mut self.pending_flushes) {
                    let _ = reply.send(match &result {
                        Ok(()) => Ok(()),
                        Err(e) => Err(WriterError::Store(StoreError::other(e.to_string()))),
                    });
                }
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
            self.report(&error);
        }
    }

    fn time_to_flush(&self) -> Duration {
        if self.dirty {
            self.config
                .flush_interval
                .saturating_sub(self.last_flush.elapsed())
        } else {
            // Nothing to flush: wake only for work.
            Duration::from_secs(3600)
        }
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

    /// Writes and flushes everything queued now. With a deadline, gives up retrying then.
    fn write_everything_queued(&mut self, deadline: Option<Instant>) -> Result<(), WriterError> {
        loop {
            self.drain_queue();
            if self.batch.is_empty() && self.pending.is_empty() {
                break;
            }
            if !self.write_batch(deadline) {
                return Err(WriterError::Timeout(self.config.shutdown_timeout));
            }
        }
        self.flush_store().map_err(WriterError::Store)
    }

    /// Writes everything still queued, marks the recorder stopped, then reports what could not
    /// be written.
    fn finish(&mut self, deadline: Option<Instant>) -> Result<(), WriterError> {
        let deadline = deadline.unwrap_or_else(|| Instant::now() + self.config.shutdown_timeout);
        let result = self.write_everything_queued(Some(deadline));
        self.beat(true);
        let _ = self.store.flush();
        if result.is_err() {
            let mut lost = (self.batch.len() + self.pending.len()) as u64 + self.superseded;
            self.batch.clear();
            self.pending.clear();
            self.superseded = 0;
            while self.records.try_recv().is_ok() {
                lost += 1;
            }
            self.counters.abandoned.fetch_add(lost, Ordering::Relaxed);
            if lost > 0 {
                eprintln!(
                    "tracing-etl: shutting down with the store still failing: {lost} execution \
                     records were not written"
                );
            }
        }
        result
    }

    fn accept(&mut self, queued: Queued) {
        match queued {
            Queued::Warning(warning) => self.warn(&warning),
            Queued::End(entity) => {
                if self.collapse {
                    entity.set_end_in_batch();
                }
                self.pending.push(Queued::End(entity));
            }
            start @ Queued::Start(_) => self.pending.push(start),
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
                Queued::Start(entity) => self.batch.push(entity.start_record(&self.recorder_id)),
                Queued::End(entity) => self.batch.push(entity.end_record(&self.recorder_id)),
                Queued::Warning(warning) => self.warn(&warning),
            }
        }
        self.pending = pending;
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
        while self.batch.len() + self.pending.len() < self.config.max_batch {
            match self.records.try_recv() {
                Ok(record) => self.accept(record),
                Err(_) => break,
            }
        }
    }

    /// Writes the current batch, retrying with back-off until it succeeds or the deadline (the
    /// given one, or that of a shutdown requested meanwhile) passes. A flush requested while
    /// retrying makes the writer retry at once: if that fails too, the flush is answered with
    /// the store's error; if it succeeds, the flush is answered once everything queued is
    /// written. Returns whether the batch was written.
    fn write_batch(&mut self, mut deadline: Option<Instant>) -> bool {
        self.build_batch();
        if self.batch.is_empty() {
            self.superseded = 0;
            return true;
        }
        let mut backoff = self.config.retry_initial;
        // Flushes waiting for the outcome of the next attempt.
        let mut flushes: Vec<Sender<Result<(), WriterError>>> = Vec::new();
        loop {
            let error = match self.store.write_batch(&self.batch) {
                Ok(()) => {
                    self.counters
                        .written
                        .fetch_add(self.batch.len() as u64 + self.superseded, Ordering::Relaxed);
                    self.batch.clear();
                    self.superseded = 0;
                    self.dirty = true;
                    self.pending_flushes.append(&mut flushes);
                    return true;
                }
                Err(error) => error,
            };
            self.report(&error);
            for reply in flushes.drain(..) {
                let _ = reply.send(Err(WriterError::Store(StoreError::other(
                    error.to_string(),
                ))));
            }
            let now = Instant::now();
            if let Some((_, shutdown_at)) = &self.pending_shutdown {
                deadline = Some(deadline.map_or(*shutdown_at, |d| d.min(*shutdown_at)));
            }
            let wait = match deadline {
                Some(deadline) if now >= deadline => return false,
                Some(deadline) => backoff.min(deadline - now),
                None => backoff,
            };
            // Sleep, but stay responsive to control messages.
            match self.control.recv_timeout(wait) {
                Ok(Control::Flush(reply)) => {
                    // The store may have recovered: try again now rather than answer with
                    // this (possibly stale) error.
                    flushes.push(reply);
                    continue;
                }
                Ok(Control::Shutdown(reply)) => {
                    let shutdown_at = Instant::now() + self.config.shutdown_timeout;
                    self.pending_shutdown = Some((reply, shutdown_at));
                }
                Err(_) => {}
            }
            backoff = (backoff * 2).min(self.config.retry_max);
        }
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
