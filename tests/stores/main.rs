//! The stores: SQLite, JSON Lines and PostgreSQL, each on its own and through one conformance
//! suite, written by the layer and read back.
//!
//! The PostgreSQL tests need a server (`TRACING_ETL_TEST_PG`, see `pg_support`); each works in
//! a schema of its own.

#[cfg(feature = "postgres")]
#[path = "../pg_support/mod.rs"]
mod pg_support;

#[cfg(all(feature = "jsonl", feature = "postgres"))]
mod conformance;
#[cfg(feature = "jsonl")]
mod jsonl;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(all(feature = "jsonl", feature = "postgres"))]
mod record_reader;
mod sqlite;
