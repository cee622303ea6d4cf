//! [`WriterConfig`]: how the writer queues, batches, retries, spills and shuts down.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{Backpressure, ErrorCallback};
use crate::error::StoreError;

/// How the writer queues, batches, retries, spills and shuts down: the settings of the thread
/// behind an [`ExecutionRecordsLayer`](crate::ExecutionRecordsLayer), given to
/// [`ExecutionRecordsLayerBuilder::with_writer_config`](crate::ExecutionRecordsLayerBuilder::with_writer_config)
/// (as `opentelemetry_sdk`'s `BatchConfig` is given to its batch span processor).
///
/// ```
/// use std::time::Duration;
/// use tracing_etl::writer::{Backpressure, WriterConfig};
/// use tracing_etl::{ExecutionRecordsLayer, InMemoryStore};
///
/// let config = WriterConfig::default()
///     .with_queue_capacity(1024)
///     .with_backpressure(Backpressure::Drop)
///     .with_flush_interval(Duration::from_millis(50));
/// let (layer, guard) = ExecutionRecordsLayer::builder()
///     .with_writer_config(config)
///     .build(InMemoryStore::new());
/// ```
#[derive(Clone)]
pub struct WriterConfig {
    pub(crate) queue_capacity: usize,
    pub(crate) max_batch: usize,
    pub(crate) backpressure: Backpressure,
    pub(crate) flush_interval: Duration,
    /// Whether `flush_interval` was set (else the store's preference, if any, replaces it).
    pub(crate) flush_interval_set: bool,
    pub(crate) retry_initial: Duration,
    pub(crate) retry_max: Duration,
    pub(crate) store_deadline: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) heartbeat_interval: Duration,
    /// Records kept in memory during a store outage before spilling.
    pub(crate) outage_buffer: usize,
    /// Where to spill during an outage; `None`: no spilling (back-pressure instead).
    pub(crate) spill_dir: Option<PathBuf>,
    pub(crate) on_error: ErrorCallback,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            queue_capacity: 16 * 1024,
            max_batch: 4 * 1024,
            backpressure: Backpressure::Block,
            flush_interval: Duration::from_millis(200),
            flush_interval_set: false,
            retry_initial: Duration::from_millis(50),
            retry_max: Duration::from_secs(5),
            store_deadline: Duration::from_secs(1),
            shutdown_timeout: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(5),
            outage_buffer: 64 * 1024,
            spill_dir: Some(default_spill_dir()),
            on_error: Arc::new(|e: &StoreError| {
                eprintln!("tracing-etl: execution record store failed (retrying): {e}");
            }),
        }
    }
}

/// The default spill directory: `tracing-etl-spill` in the system's temporary directory.
pub(crate) fn default_spill_dir() -> PathBuf {
    std::env::temp_dir().join("tracing-etl-spill")
}

impl WriterConfig {
    setters! {
        /// How many records may wait for the writer (default 16384). Each entity queues two.
        pub fn with_queue_capacity(capacity: usize) => queue_capacity = capacity.max(1);

        /// The most records written in one batch (one transaction) (default 4096).
        pub fn with_max_batch(records: usize) => max_batch = records.max(1);

        /// What to do when the queue is full (default [`Backpressure::Block`]: lose nothing).
        pub fn with_backpressure(backpressure: Backpressure) => backpressure = backpressure;
    }

    /// The longest time written records wait before the store is flushed (default 200 ms): for
    /// [`SqliteStore`](crate::SqliteStore), a WAL checkpoint, which syncs to disk.
    ///
    /// The durability window. The writer writes records as soon as they reach it, in batches of
    /// whatever is queued (at most [`max_batch`](Self::with_max_batch), one transaction each), so:
    /// - against the process being killed (`kill -9`, a crash, `std::process::exit`), a record
    ///   is safe once its batch is committed; a kill loses only what was still in the queue or
    ///   in the batch being written — normally the last few milliseconds, at most
    ///   `queue_capacity + max_batch` records when the store is slower than the program;
    /// - against a power loss or an OS crash, a record is safe once the store has been flushed
    ///   after it was written: at most `flush_interval` after the commit.
    ///
    /// [`WriterHandle::flush`](super::WriterHandle::flush) (or the guard's) does both at once, on demand.
    ///
    /// Unset, a store may ask for another interval
    /// ([`ExecutionRecordStore::preferred_flush_interval`](crate::ExecutionRecordStore::preferred_flush_interval)):
    /// `DeltaStore` asks for 30 s, since each of its flushes is a commit that adds files.
    pub fn with_flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self.flush_interval_set = true;
        self
    }

    /// Back-off between retries of a failing store: starts at `initial`, doubles up to `max`
    /// (defaults 50 ms and 5 s). Writes and flushes back off alike: a flush that fails is tried
    /// again after the back-off, not at once.
    pub fn with_retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.retry_initial = initial;
        self.retry_max = max.max(initial);
        self
    }

    setters! {
        /// How long one store call (a batch, a heartbeat, a flush) may take before the writer
        /// treats the store as down (default 1 s, at least 1 ms).
        ///
        /// Store calls run on a thread of their own, so the writer keeps taking records from the
        /// queue while one is slow: the program waits for a store only while the queue and the
        /// next batch are full, and no longer than this deadline. Once it passes, the call is an
        /// outage: the error callback is told (with a
        /// [`StoreDeadlineExceeded`](super::StoreDeadlineExceeded)), and the records wait in the
        /// outage buffer, then the spill history, as when the store fails. The call itself is not
        /// abandoned (no store call can be interrupted): when it returns, its outcome counts, and
        /// the writer carries on, oldest records first. It never makes a second call while one is
        /// in flight, so no batch is written twice at once, nor out of order.
        pub fn with_store_deadline(deadline: Duration)
            => store_deadline = deadline.max(Duration::from_millis(1));

        /// How long dropping the guard (or [`WriterHandle::flush`](super::WriterHandle::flush))
        /// waits for a failing store before giving up on the records it still holds (default
        /// 30 s).
        pub fn with_shutdown_timeout(timeout: Duration) => shutdown_timeout = timeout;

        /// How often the writer records its heartbeat in the store (default 5 s). Readers call a
        /// `running` entity abandoned when its writer has stopped or missed three beats.
        pub fn with_heartbeat_interval(interval: Duration)
            => heartbeat_interval = interval.max(Duration::from_millis(10));

        /// How many records the writer keeps in memory while the store fails (default 65536),
        /// before it spills the newer ones to its spill history (see
        /// [`spill_dir`](Self::with_spill_dir)). The writer keeps draining the queue meanwhile, so
        /// the program is not blocked by an outage; on recovery everything is written in order,
        /// oldest first.
        pub fn with_outage_buffer(records: usize) => outage_buffer = records.max(1);

        /// The directory of the spill history, a JSON Lines history of the records a failing
        /// store has not taken yet (default: `tracing-etl-spill` in the system's temporary
        /// directory). The history, the directory `spill-<recorder_id>`, is removed once the
        /// store has taken everything; if the store is still failing at shutdown it is kept and
        /// its path reported, for [`replay_spill`](crate::writer::replay_spill).
        pub fn with_spill_dir(dir: impl Into<std::path::PathBuf>) => spill_dir = Some(dir.into());
    }

    /// Never spill: during an outage, once [`outage_buffer`](Self::with_outage_buffer) records wait
    /// in memory, the writer stops taking records from the queue and the layer's
    /// [`Backpressure`] applies (blocking, or dropping and counting).
    pub fn without_spill(mut self) -> Self {
        self.spill_dir = None;
        self
    }

    /// Called on the writer thread with the store's errors (the default prints them to stderr).
    /// The writer keeps the records and retries.
    ///
    /// Each distinct error is passed at once; an error that repeats (the same text: a store
    /// still down, a flush still failing) is not passed again but counted, and its repeats are
    /// passed as one [`RepeatedStoreError`](super::RepeatedStoreError) (displayed as the error
    /// followed by `(repeated 57 times in the last 10.0 s)`) at most every 10 s, and when the
    /// error changes, the store recovers or the writer stops.
    /// [`WriterStats::store_errors`](super::WriterStats::store_errors) counts every failed
    /// operation.
    pub fn with_store_error_callback(
        mut self,
        callback: impl Fn(&StoreError) + Send + Sync + 'static,
    ) -> Self {
        self.on_error = Arc::new(callback);
        self
    }
}

debug_fields!(WriterConfig {
    queue_capacity,
    max_batch,
    backpressure,
    flush_interval,
    retry_initial,
    retry_max,
    store_deadline,
    shutdown_timeout,
    heartbeat_interval,
    outage_buffer,
    spill_dir
});
