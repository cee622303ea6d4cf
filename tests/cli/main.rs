//! The `tracing-etl` command-line tool: run histories recorded through the real layer, then the
//! binary run against them (`runs`, `show`, `failures`, `running`, `reap`, `replay`), on every
//! store it reads, and its errors on bad input.

#[path = "../cli_support/mod.rs"]
mod cli_support;

// Shared with the store tests, which use all of it.
#[cfg(feature = "postgres")]
#[allow(dead_code)]
#[path = "../pg_support/mod.rs"]
mod pg_support;

mod big_runs;
mod corrupt_store;
#[cfg(feature = "delta")]
mod delta;
#[cfg(feature = "delta-s3")]
mod delta_s3;
mod errors;
mod failures;
#[cfg(feature = "postgres")]
mod history_0_1;
mod history_files;
#[cfg(feature = "postgres")]
mod history_schema_4;
mod hostile;
mod jsonl;
mod local_recorders;
#[cfg(feature = "postgres")]
mod postgres;
mod reap;
mod replay;
mod running;
mod runs;
#[cfg(feature = "delta-s3")]
#[path = "../s3_support/mod.rs"]
mod s3_support;
mod show;
#[cfg(feature = "postgres")]
mod store_url;
