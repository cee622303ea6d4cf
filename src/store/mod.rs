//! Where records go: the [`ExecutionRecordStore`] trait and the stores this crate ships.
//!
//! | store | feature | what for |
//! |---|---|---|
//! | [`SqliteStore`](crate::SqliteStore) | `sqlite` (default) | the embedded default: one file, WAL, batched transactions |
//! | [`InMemoryStore`](crate::InMemoryStore) | always | tests and embedding |

mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::InMemoryStore;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteStore, SQLITE_SCHEMA_VERSION};

use crate::error::StoreError;
use crate::record::ExecutionRecord;

/// A destination for execution records.
///
/// The background writer owns the store and is its only caller: methods are never called
/// concurrently, which is why they take `&mut self`. A store that can update keeps one row per
/// entity (an end record always wins over a start record, see
/// [`ExecutionRecord::supersedes`]); an append-only store keeps every record.
///
/// Methods must not block forever: a store talking to a server sets timeouts. An error is not
/// fatal — the writer keeps the records, reports the error and retries the same batch with
/// back-off — so a store must leave itself usable after a failed call (roll back a half-written
/// transaction, reconnect on the next call, …) and writing the same batch twice must leave the
/// same state as writing it once.
///
/// # Example
///
/// A store that prints every record (a real one would write to a database or a file):
///
/// ```
/// use tracing_etl::{ExecutionRecord, ExecutionRecordStore, StoreError};
///
/// #[derive(Debug)]
/// struct Stdout;
///
/// impl ExecutionRecordStore for Stdout {
///     fn write_record(&mut self, record: &ExecutionRecord) -> Result<(), StoreError> {
///         println!("{} {} {}", record.kind(), record.event(), record.status());
///         Ok(())
///     }
/// }
/// ```
pub trait ExecutionRecordStore: Send + 'static {
    /// Writes one record.
    fn write_record(&mut self, record: &ExecutionRecord) -> Result<(), StoreError>;

    /// Writes a batch of records, in order. Stores that can should do it in one transaction:
    /// the writer hands over everything it has queued in one call.
    ///
    /// The default calls [`write_record`](Self::write_record) for each record.
    fn write_batch(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        records.iter().try_for_each(|r| self.write_record(r))
    }

    /// Makes every record written so far durable (fsync, commit, …).
    ///
    /// The default does nothing, for stores whose writes are durable when they return.
    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl<S: ExecutionRecordStore + ?Sized> ExecutionRecordStore for Box<S> {
    fn write_record(&mut self, record: &ExecutionRecord) -> Result<(), StoreError> {
        (**self).write_record(record)
    }

    fn write_batch(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        (**self).write_batch(records)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        (**self).flush()
    }
}
