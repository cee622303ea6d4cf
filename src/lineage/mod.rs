//! OpenLineage run events from the same records (feature `openlineage`): a `START` event when
//! a pipeline, process or step opens and a `COMPLETE`, `FAIL` or `ABORT` event when it closes,
//! sent over HTTP (Marquez, DataHub, OpenMetadata, …) or to a file by a writer of their own.
//!
//! Turn it on with
//! [`ExecutionRecordsLayerBuilder::with_lineage`](crate::ExecutionRecordsLayerBuilder::with_lineage),
//! given an [`OpenLineageConfig`] made in code or read from the variables the OpenLineage
//! clients read ([`OpenLineageConfig::from_env`]):
//!
//! ```
//! use tracing_etl::lineage::OpenLineageConfig;
//! use tracing_etl::{ExecutionRecordsLayer, InMemoryStore};
//!
//! let mut builder = ExecutionRecordsLayer::builder();
//! if let Some(lineage) = OpenLineageConfig::from_env()? {
//!     builder = builder.with_lineage(lineage);
//! }
//! let (layer, guard) = builder.build(InMemoryStore::new());
//! # drop(layer);
//! # drop(guard);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The events are built on the lineage writer's thread from the records the layer already
//! makes, never on the span's thread. The guide, [`guide::lineage`](crate::guide::lineage),
//! says what each event holds and how to point it at Marquez.

mod config;
mod event;
mod facets;
mod transport;

pub use config::{
    LineageConfigError, OpenLineageConfig, RejectedCallback, RejectedEvent, Transport,
    DEFAULT_ENDPOINT, DEFAULT_HTTP_TIMEOUT, DEFAULT_NAMESPACE,
};
pub use event::{event_type, pipeline_run_uuid};
pub use facets::{dataset_name, PRODUCER, RUN_EVENT_SCHEMA, TRACING_ETL_FACET_SCHEMA};
pub use transport::OpenLineageTransport;
