//! Helpers shared by the integration tests.

use tracing_etl::{writer::WriterStats, ExecutionRecordsLayer, InMemoryStore};
use tracing_subscriber::prelude::*;

/// Runs `f` under a registry with the layer writing to a fresh in-memory store, drops the guard
/// (flushing every record) and returns the store.
pub fn record<R>(f: impl FnOnce() -> R) -> (InMemoryStore, R) {
    let store = InMemoryStore::new();
    let (layer, guard) = ExecutionRecordsLayer::new(store.clone());
    let out = tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
    let stats: WriterStats = guard.shutdown().expect("writer shut down cleanly");
    assert_eq!(stats.dropped, 0, "no record dropped");
    (store, out)
}

pub mod capture;
pub mod child;
pub mod runtime;
#[macro_use]
pub mod scenarios;
