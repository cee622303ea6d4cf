//! A store the writer opens itself, on its store thread, retrying until it opens: what
//! [`ExecutionRecordsLayerBuilder::build_with`](crate::ExecutionRecordsLayerBuilder::build_with)
//! records into.

use std::fmt;

use crate::error::StoreError;
use crate::record::{ExecutionRecord, RecorderHeartbeat};
use crate::store::ExecutionRecordStore;

/// A store not opened yet: every call first tries `open` until it succeeds; a failed open is
/// that call's error, so the writer handles it as an outage (records buffered, then spilled,
/// the error reported, the call retried with back-off).
pub(crate) struct OpenLater<S, F> {
    open: F,
    store: Option<S>,
}

impl<S, F> OpenLater<S, F>
where
    F: FnMut() -> Result<S, StoreError>,
{
    pub(crate) fn new(open: F) -> Self {
        OpenLater { open, store: None }
    }

    fn store(&mut self) -> Result<&mut S, StoreError> {
        if self.store.is_none() {
            self.store = Some((self.open)()?);
        }
        Ok(self.store.as_mut().expect("opened just above"))
    }
}

impl<S, F> fmt::Debug for OpenLater<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenLater")
            .field("opened", &self.store.is_some())
            .finish()
    }
}

impl<S, F> ExecutionRecordStore for OpenLater<S, F>
where
    S: ExecutionRecordStore,
    F: FnMut() -> Result<S, StoreError> + Send + 'static,
{
    fn write_batch(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        self.store()?.write_batch(records)
    }

    fn write_record(&mut self, record: &ExecutionRecord) -> Result<(), StoreError> {
        self.store()?.write_record(record)
    }

    /// `false`: the writer asks when it starts, before the store is open, so every record is
    /// written (a store that keeps one row per entity ends up in the same state).
    fn keeps_one_row_per_entity(&self) -> bool {
        false
    }

    fn write_heartbeat(&mut self, heartbeat: &RecorderHeartbeat) -> Result<(), StoreError> {
        self.store()?.write_heartbeat(heartbeat)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.store()?.flush()
    }
}
