//! What the benchmarks share: the per-span workloads and a span exporter that counts.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// A span that is not an entity: two fields, entered and closed; an ERROR event every 1,000.
#[inline]
pub fn plain_span(i: u64) {
    let span = tracing::info_span!("transform", rows = i, table = "orders");
    let _entered = span.enter();
    if i.is_multiple_of(1000) {
        tracing::error!("bad row");
    }
}

/// A step span (an entity): two fields, entered and closed; an ERROR event every 1,000.
#[inline]
pub fn step_span(i: u64) {
    let span = tracing::info_span!("load", etl.step = "load", rows = i);
    let _entered = span.enter();
    if i.is_multiple_of(1000) {
        tracing::error!("bad row");
    }
}

/// An OpenTelemetry exporter that counts the spans it receives and keeps nothing, so a long
/// benchmark measures the pipeline up to the exporter, not a growing vector.
#[derive(Debug, Clone, Default)]
pub struct CountingExporter {
    pub spans: Arc<AtomicU64>,
}

impl SpanExporter for CountingExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.spans.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}
