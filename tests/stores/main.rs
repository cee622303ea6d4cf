//! The stores: SQLite, JSON Lines, PostgreSQL and Delta Lake, each on its own and through one conformance
//! suite, written by the layer and read back.
//!
//! The PostgreSQL tests need a server (`TRACING_ETL_TEST_PG`, see `pg_support`); each works in
//! a schema of its own.

#[cfg(feature = "postgres")]
#[path = "../pg_support/mod.rs"]
mod pg_support;

// A real full disk, for the conformance suite.
#[cfg(all(feature = "jsonl", feature = "postgres"))]
#[allow(dead_code)]
#[path = "../fs_support/mod.rs"]
mod fs_support;

#[cfg(all(feature = "jsonl", feature = "postgres"))]
mod conformance;
#[cfg(feature = "delta")]
mod delta;
#[cfg(feature = "delta-s3")]
mod delta_s3;
#[cfg(feature = "jsonl")]
mod jsonl;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(all(feature = "jsonl", feature = "postgres"))]
mod record_reader;
#[cfg(feature = "delta-s3")]
#[path = "../s3_support/mod.rs"]
mod s3_support;
mod sqlite;
