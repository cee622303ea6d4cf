//! OpenTelemetry: entity spans exported by the layer itself (to the SDK's in-memory exporter or
//! over OTLP to a real receiver), stacked with `tracing-opentelemetry`, the `OTEL_*`
//! configuration, and the example job sending its spans to a collector.

#[cfg(feature = "otlp")]
mod otlp_receiver;

mod collector_config;
#[cfg(feature = "otlp")]
mod collector_down;
#[cfg(all(feature = "cli", feature = "otlp"))]
mod example_etl_job;
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
mod span_times;
