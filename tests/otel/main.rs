//! OpenTelemetry: entity spans exported by the layer itself (to the SDK's in-memory exporter or
//! over OTLP to a real receiver), stacked with `tracing-opentelemetry`, the `OTEL_*`
//! configuration, and the example job sending its spans to a collector and its OpenLineage
//! events to a file and an endpoint, read by the official OpenLineage client.

#[cfg(feature = "otlp")]
mod otlp_receiver;
// A real OpenLineage HTTP endpoint.
#[cfg(all(feature = "cli", feature = "otlp", feature = "openlineage"))]
// Shared with the writer tests, which use more of it.
#[allow(dead_code)]
#[path = "../lineage_support/mod.rs"]
mod lineage_support;
#[cfg(feature = "otlp")]
mod test_ca;

mod collector_config;
#[cfg(feature = "otlp")]
mod collector_down;
#[cfg(all(feature = "cli", feature = "otlp"))]
mod example_etl_job;
#[cfg(all(feature = "cli", feature = "otlp", feature = "openlineage"))]
mod example_lineage;
#[cfg(feature = "otlp")]
mod failure;
#[cfg(all(feature = "otlp", feature = "tracing-opentelemetry"))]
mod interop;
#[cfg(feature = "tracing-opentelemetry")]
mod interop_exceptions;
#[cfg(feature = "tracing-opentelemetry")]
mod interop_order;
mod odd_shapes;
#[cfg(feature = "otlp")]
mod otlp_config;
#[cfg(feature = "otlp")]
mod otlp_export;
#[cfg(feature = "otlp")]
mod otlp_tls;
#[cfg(feature = "otlp")]
mod otlp_volume;
mod span_times;
