//! [`WriterGuard`]: flushes the writer when dropped.

use std::fmt;
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
}

impl fmt::Debug for WriterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriterGuard")
            .field("handle", &self.handle)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

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
        }
    }

    /// A handle to flush the writer and read its counters from elsewhere.
    pub fn handle(&self) -> WriterHandle {
        self.handle.clone()
    }

    /// The writer's counters now.
    pub fn stats(&self) -> WriterStats {
        self.handle.stats()
    }

    /// Waits until every record queued so far is written and the store flushed.
    pub fn flush(&self) -> Result<(), WriterError> {
        self.handle.flush()
    }

    /// Writes everything queued, flushes and stops the writer, returning its final counters, or
    /// the error that kept records from being written.
    pub fn shutdown(mut self) -> Result<WriterStats, WriterError> {
        self.stop().map(|()| self.handle.stats())
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
    }
}
