//! Durable, queryable ETL run history and OpenTelemetry traces from the same `tracing` spans.
//!
//! ETL code is ordinary Rust annotated with `#[tracing::instrument]`. The
//! [`ExecutionRecordsLayer`] recognises pipeline, process and step spans and writes a record of
//! each run — when it started, how long it took, whether it failed and why — to an
//! [`ExecutionRecordStore`] ([`SqliteStore`] by default), off the program's threads.
//!
//! # Span conventions
//!
//! | field on the span | meaning |
//! |---|---|
//! | `etl.pipeline` | marks a pipeline span. Its value, when given, is the pipeline name; else the span's name (the function name under `#[instrument]`). |
//! | `etl.process` | marks a process span, named likewise. |
//! | `etl.step` | marks a step span, named likewise. |
//! | `etl.run_id` | on a pipeline span: the run id. Absent → a fresh UUID v7. |
//! | `etl.correlation_id` | on a pipeline span: optional correlation id. |
//! | `etl.attempt` | on a pipeline span: attempt number, integer ≥ 1, default 1 (a bad value: 1 and a warning). |
//! | `etl.last_attempt` | on a pipeline span: bool, default true. |
//!
//! Processes and steps inherit the run (`run_id`, `correlation_id`, `attempt`) from their nearest
//! pipeline ancestor and `process_run_id` from their nearest process ancestor, following span
//! parentage — so steps run on other threads or tokio tasks, with their spans' parents set as
//! usual, belong to the right run. An entity outside any pipeline gets a run of its own.
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
//! # Failures
//!
//! - An ERROR-level event inside a step span (or inside a non-entity span under it) fails the
//!   step; `#[instrument(err)]` emits exactly such an event. The first error event of a step is
//!   its error: `error` (the `error` field as recorded), `error_message` (an `error.message` /
//!   `exception.message` field, else the `error` field, else the event's message) and
//!   `error_type` (an `error.type` / `exception.type` field, else the type name at the start of
//!   a `Debug` rendering). [`record_error`] records all three at once.
//! - A failure fails every enclosing entity: processes and the pipeline carry the first failed
//!   step (`failed_step`, `failed_step_run_id`) and its error — the root cause. An ERROR event
//!   directly in a process or pipeline span fails it (and its ancestors) with no failed step.
//! - A span that closes while its thread is panicking is `failed` with `error_type = "panic"`
//!   and the panic message (captured by a chained panic hook the builder installs).
//!
//! # Odd shapes
//!
//! - A step in a step, a process in a process: each is recorded; a failure inside the inner one
//!   fails the outer one too. Steps take `process_run_id` from the nearest process.
//! - A pipeline in a pipeline starts a run of its own; entities inside it belong to it, and its
//!   failure fails the outer pipeline as well.
//! - A span that never closes keeps its start record (`running`) only.
//! - A span cloned and closed late ends when its last handle is dropped.
//! - `etl.*` values recorded with `Span::record` after the span was created are ignored with a
//!   warning. Run fields (`etl.run_id`, `etl.correlation_id`, `etl.attempt`,
//!   `etl.last_attempt`) on a process or step inside a pipeline are ignored with a warning (they
//!   are inherited); a process or step outside any pipeline is the root of its own run and takes
//!   them from its own fields.
//!   Warnings are `tracing` WARN events with target `tracing_etl`, emitted from the writer thread.
//! - Text values longer than [`MAX_FIELD_BYTES`] are cut and end with [`TRUNCATED_MARKER`]; NUL
//!   characters become U+FFFD. A `Debug` or `Display` that panics while the layer formats it is
//!   caught: the value is what it wrote, followed by `<formatting panicked>`.
//! - A value of the wrong type is replaced by the default, with a warning: a number (integer or
//!   float) as a name, a bool, a float or an empty text as `etl.run_id` (integers are taken), a
//!   non-integer or out-of-range `etl.attempt`, a non-bool `etl.last_attempt`. A field given
//!   twice in a span's fields keeps its last value, with a warning.
//! - Two pipelines open at once with the same `etl.run_id` and attempt share their key: stores
//!   that update keep one row for both (the end record written last), append-only stores keep
//!   every record; their processes and steps have rows of their own. Give each run its own id.
//! - Events emitted by a value's `Debug` or `Display` while the layer formats it are discarded
//!   by `tracing` (subscribers are not re-entered from their own callbacks).
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `sqlite` | yes | [`SqliteStore`] (bundled SQLite) |
//! | `jsonl` | yes | [`JsonLinesStore`] (append-only JSON Lines files) |
//! | `cli` | yes | the `tracing-etl` command-line tool |
//! | `postgres` | no | `PostgresStore`, a shared store on a PostgreSQL server (TLS through rustls) |
//! | `otel` | no | export of entity spans to OpenTelemetry |
//! | `otlp` | no | `otel` plus a ready OTLP exporter set up from `OTEL_*` variables |
//! | `tracing-opentelemetry` | no | `otel` for programs that export with `tracing-opentelemetry` |
//!
//! # The writer
//!
//! The layer never does I/O on the program's threads: records go through a bounded queue to a
//! writer thread that writes them in batches, one transaction each ([`WriterGuard`] flushes and
//! stops it when dropped; [`Backpressure`] says what a full queue does). A failing store is
//! retried with back-off and reported to
//! [`on_store_error`](ExecutionRecordsLayerBuilder::on_store_error); during a long outage the
//! records wait in memory and then in a spill file
//! ([`spill_dir`](ExecutionRecordsLayerBuilder::spill_dir)), and are written in order once the
//! store is back — or, when it is still down at shutdown, left in the file for
//! [`replay_spill`].
//!
//! # OpenTelemetry
//!
//! With `otel`, `ExecutionRecordsLayer::builder().with_tracer(tracer)` (or
//! `.with_tracer_provider(&provider)`) exports every entity as an OpenTelemetry span with its
//! `etl.*` attributes, error status and `exception` event, and records carry the span's
//! `trace_id` and `span_id`. With `otlp`, `otlp_from_env()` sets up the OTLP exporter from the
//! standard `OTEL_*` variables. With `tracing-opentelemetry`,
//! `.with_tracing_opentelemetry()` enriches the entity spans that a `tracing-opentelemetry`
//! layer exports instead; add the records layer **first**:
//! `registry().with(records).with(tracing_opentelemetry_layer)` (the layer added first is the
//! inner one, whose callbacks run first).
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod error;
mod layer;
#[cfg(feature = "otel")]
mod otel;
mod record;
mod store;
mod writer;

pub use error::{StoreError, WriterError};
pub use layer::{
    record_error, ExecutionRecordsLayer, ExecutionRecordsLayerBuilder, MAX_FIELD_BYTES,
    TRUNCATED_MARKER,
};
#[cfg(feature = "otlp")]
pub use otel::{otlp_from_env, OtlpConfig, OtlpError, OtlpGuard, OtlpProtocol, OtlpStats};
pub use record::{
    EntityKey, EntityKind, ErrorDetails, EventName, ExecutionRecord, Outcome, Phase,
    RecorderHeartbeat, RootCause, RunContext, RunStatus, UnknownName,
};
#[cfg(feature = "jsonl")]
pub use store::JsonLinesStore;
pub use store::{ExecutionRecordStore, InMemoryStore, RecordReader, RunFilter};
#[cfg(feature = "postgres")]
pub use store::{
    PostgresStore, PostgresStoreBuilder, DEFAULT_APPLICATION_NAME, POSTGRES_SCHEMA_VERSION,
};
#[cfg(feature = "sqlite")]
pub use store::{SqliteStore, SQLITE_SCHEMA_VERSION};
pub use writer::{
    replay_spill, Backpressure, ErrorCallback, WriterGuard, WriterHandle, WriterStats,
};
