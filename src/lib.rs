//! Durable, queryable ETL run history and OpenTelemetry traces from the same `tracing` spans.
//!
//! ETL code is ordinary Rust annotated with `#[tracing::instrument]`. The
//! [`ExecutionRecordsLayer`] recognises pipeline, process and step spans by their `etl.*` fields
//! and writes a record of each run — when it started, how long it took, whether it failed and
//! which step was the root cause — to an [`ExecutionRecordStore`], through a background
//! thread: the program's own threads do no I/O for it. The same spans can be exported as
//! OpenTelemetry spans, and the `tracing-etl` command-line tool reads the history back.
//!
//! ```
//! use tracing::instrument;
//! use tracing_etl::{ExecutionRecordsLayer, InMemoryStore, RunStatus};
//! use tracing_subscriber::prelude::*;
//!
//! #[instrument(skip_all, fields(etl.pipeline = "daily_sales", etl.run_id = %run_id))]
//! fn run(run_id: &str) -> Result<(), std::num::ParseIntError> {
//!     let rows = ingest()?;
//!     publish(rows);
//!     Ok(())
//! }
//!
//! #[instrument(skip_all, fields(etl.process))] // named "ingest"
//! fn ingest() -> Result<Vec<u32>, std::num::ParseIntError> {
//!     extract()
//! }
//!
//! #[instrument(skip_all, err, fields(etl.step))] // `err`: an ERROR event on `Err`
//! fn extract() -> Result<Vec<u32>, std::num::ParseIntError> {
//!     ["1", "2", "3"].iter().map(|s| s.parse()).collect()
//! }
//!
//! #[instrument(skip_all, fields(etl.step))]
//! fn publish(rows: Vec<u32>) {}
//!
//! let store = InMemoryStore::new();
//! let (layer, guard) = ExecutionRecordsLayer::new(store.clone());
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::with_default(subscriber, || run("2026-11-28")).unwrap();
//! drop(guard); // every record is in the store now
//!
//! assert_eq!(store.pipeline_runs()[0].outcome.status, RunStatus::Success);
//! assert_eq!(store.process_runs()[0].name, "ingest");
//! assert_eq!(store.step_runs().len(), 2);
//! ```
//!
//! The guides, in the [`guide`] module, are the rest of the manual:
//!
//! - [`guide::conventions`]: the `etl.*` span fields, how runs are inherited, futures that may
//!   be dropped (cancelled steps), odd shapes;
//! - [`guide::failures`]: what fails an entity, the root cause, the error fields;
//! - [`guide::guarantees`]: the writer and its settings, store outages, durability, crashes;
//! - [`guide::stores`]: the stores and every field of the records;
//! - [`guide::opentelemetry`]: export to OpenTelemetry, OTLP, `tracing-opentelemetry`;
//! - [`guide::cli`]: the `tracing-etl` command-line tool.
//!
//! The stores other than SQLite, the OpenTelemetry export and the command-line tool are Cargo
//! features, listed in the README.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

#[macro_use]
mod macros;

pub mod completion;
mod dispatch;
mod entity;
pub mod error;
pub mod guide;
pub mod layer;
#[cfg(feature = "openlineage")]
#[cfg_attr(docsrs, doc(cfg(feature = "openlineage")))]
pub mod lineage;
#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub mod otel;
pub mod record;
pub mod store;
pub mod writer;

// The types a program names; everything else is in its module.
pub use completion::{completes, EtlInstrument};
pub use error::StoreError;
pub use layer::{record_error, EtlSpanExt, ExecutionRecordsLayer, ExecutionRecordsLayerBuilder};
#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "otlp-grpc", feature = "otlp-http"))))]
pub use otel::otlp_from_env;
pub use record::{ExecutionRecord, RunStatus};
#[cfg(feature = "delta")]
#[cfg_attr(docsrs, doc(cfg(feature = "delta")))]
pub use store::DeltaStore;
#[cfg(feature = "jsonl")]
#[cfg_attr(docsrs, doc(cfg(feature = "jsonl")))]
pub use store::JsonLinesStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use store::PostgresStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use store::SqliteStore;
pub use store::{ExecutionRecordStore, InMemoryStore, StoreUrl};
pub use writer::WriterGuard;
