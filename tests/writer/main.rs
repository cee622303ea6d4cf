//! The background writer: batching, back-pressure, shutdown, durability when the process is
//! killed, and a store that goes away mid-run, stalls, fails to flush, or recovers with a
//! backlog; spill files that fail or are torn; the OpenLineage events' own writer. `faults` is the store that fails on command.

// Only `History` and `cli`, to look at a killed recorder's history with the binary.
#[cfg(feature = "cli")]
#[allow(dead_code)]
#[path = "../cli_support/mod.rs"]
mod cli_support;

// Shared with the store tests, which use all of it.
#[cfg(feature = "postgres")]
#[allow(dead_code)]
#[path = "../pg_support/mod.rs"]
mod pg_support;

// A real full disk.
#[cfg(unix)]
#[allow(dead_code)]
#[path = "../fs_support/mod.rs"]
mod fs_support;

// A real OpenLineage HTTP endpoint.
#[cfg(feature = "openlineage")]
#[path = "../lineage_support/mod.rs"]
mod lineage_support;

mod backpressure;
#[cfg(feature = "cli")]
mod crash_durability;
mod failing_flush;
#[cfg(all(unix, feature = "jsonl", feature = "postgres"))]
mod fault_figures;
mod faults;
#[cfg(feature = "jsonl")]
mod full_disk;
#[cfg(feature = "openlineage")]
mod lineage;
mod open_later;
#[cfg(feature = "postgres")]
mod postgres_outage;
mod recovery;
mod shutdown;
mod slow_store;
mod spill_files;
mod writer;
