//! [`WriterGuard`]: flushes the writer when dropped.

use std::thread::JoinHandle;
use std::time::Duration;

use super::{request, Control, WriterHandle, WriterStats};
use crate::error::WriterError;

/// Keeps the writer thread alive; dropping it writes every queued record, flushes the store and
/// stops the thread.
///
/// Hold it in `main` for as long as the program records (`let _guard = …`, not `let _ = …`,
/// which drops it at once). Dropping waits at most the configured shutdown timeout (30 s by
/// default) for a failing store; records still unwritten then are counted in
/// [`WriterStats::abandoned`] and reported on stderr. Records emitted after the guard is dropped
/// are counted in [`WriterStats::dropped`].
///
/// A program that ends without dropping the guard — `std::process::exit`, a global subscriber's
/// guard leaked, a `main` that returns while the guard lives in a `static` — loses the records
/// still queued (those already written stay in the store), and the recorder is not marked
/// stopped: its open entities show as abandoned once its heartbeats stop. Call
/// [`flush`](Self::flush) (or [`WriterHandle::flush`]) before such an exit. Dropping the
/// subscriber also flushes (see [`ExecutionRecordsLayer`](crate::ExecutionRecordsLayer)).
///
/// ```
/// use tracing_etl::{ExecutionRecordsLayer, InMemoryStore};
/// use tracing_subscriber::prelude::*;
///
/// let store = InMemoryStore::new();
/// let (layer, guard) = ExecutionRecordsLayer::new(store.clone());
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
///     let _step = tracing::info_span!("load", etl.step = "load").entered();
/// });
/// let stats = guard.shutdown()?; // or just `drop(guard)`
/// assert_eq!(stats.written, 2);
/// assert_eq!(store.step_runs().len(), 1);
/// # Ok::<(), tracing_etl::error::WriterError>(())
/// ```
#[must_use = "dropping the guard stops the writer: hold it for as long as the program records"]
pub struct WriterGuard {
    handle: WriterHandle,
    thread: Option<JoinHandle<()>>,
    shutdown_timeout: Duration,
    /// The guard of the writer of the OpenLineage events, when the layer sends them.
    lineage: Option<Box<WriterGuard>>,
}

debug_fields!(WriterGuard {
    handle,
    shutdown_timeout,
    lineage
});

impl WriterGuard {
    pub(super) fn new(
        handle: WriterHandle,
        thread: std::io::Result<JoinHandle<()>>,
        shutdown_timeout: Duration,
    ) -> Self {
        let thread = match thread {
            Ok(thread) => Some(thread),
            Err(e) => {
                eprintln!(
                    "tracing-etl: could not start the record writer thread ({e}); \
                     execution records will be counted as dropped"
                );
                None
            }
        };
        WriterGuard {
            handle,
            thread,
            shutdown_timeout,
            lineage: None,
        }
    }

    /// This guard, which also stops the lineage writer `lineage`.
    #[cfg(feature = "openlineage")]
    pub(crate) fn with_lineage(mut self, lineage: WriterGuard) -> Self {
        self.lineage = Some(Box::new(lineage));
        self
    }

    /// The guard of the writer of the OpenLineage events, when the layer sends them (see
    /// `ExecutionRecordsLayerBuilder::with_lineage`, feature `openlineage`): its counters
    /// count the records whose events were sent (`written`), spilled, dropped or abandoned.
    pub fn lineage(&self) -> Option<&WriterGuard> {
        self.lineage.as_deref()
    }

    /// Stops the lineage writer now (sending every event queued, within its own shutdown
    /// timeout) and returns its final counters; `None` when the layer sends no events, or they
    /// were stopped already. The history's writer keeps running.
    pub fn shutdown_lineage(&mut self) -> Option<Result<WriterStats, WriterError>> {
        self.lineage.take().map(|lineage| lineage.shutdown())
    }

    /// A handle to flush the writer and read its counters from elsewhere.
    pub fn handle(&self) -> WriterHandle {
        self.handle.clone()
    }

    /// The writer's counters now.
    pub fn stats(&self) -> WriterStats {
        self.handle.stats()
    }

    /// Waits until every record queued so far is written and the store flushed, and then the
    /// same for the lineage writer, if any (the first error is returned).
    pub fn flush(&self) -> Result<(), WriterError> {
        let history = self.handle.flush();
        let lineage = self.lineage.as_ref().map_or(Ok(()), |l| l.flush());
        history.and(lineage)
    }

    /// Writes everything queued, flushes and stops the writer, returning its final counters, or
    /// the error that kept records from being written; then the same for the lineage writer,
    /// if any, whose error is returned when the history's writer had none (its counters are
    /// [`shutdown_lineage`](Self::shutdown_lineage)'s).
    pub fn shutdown(mut self) -> Result<WriterStats, WriterError> {
        let history = self.stop().map(|()| self.handle.stats());
        let lineage = self.shutdown_lineage().unwrap_or(Ok(Default::default()));
        history.and_then(|stats| lineage.map(|_| stats))
    }

    fn stop(&mut self) -> Result<(), WriterError> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        // The worker answers within its own shutdown deadline; allow a little more for the
        // final flush before reporting a timeout.
        let result = request(
            &self.handle.control,
            Control::Shutdown,
            self.shutdown_timeout + Duration::from_secs(5),
        );
        if result.is_ok() || matches!(result, Err(WriterError::ShutDown)) {
            let _ = thread.join();
        }
        match result {
            Err(WriterError::ShutDown) => Ok(()),
            other => other,
        }
    }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("tracing-etl: record writer shutdown: {e}");
        }
        // The lineage writer's guard, dropped with this one, stops it in turn.
    }
}
