//! What the benchmarks share: the per-span workloads, a span exporter that counts, and how a
//! benchmark paces the spans it makes.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tracing::Dispatch;

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

impl CountingExporter {
    pub fn count(&self) -> u64 {
        self.spans.load(Ordering::Relaxed)
    }
}

impl SpanExporter for CountingExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.spans.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Spans per burst in [`Pace::Burst`]: 2,000 records, well inside the layer's queue (16,384)
/// and the SDK batch processor's (2,048 spans).
pub const BURST: u64 = 1000;

/// How a benchmark makes its spans. `drain` waits until the writer has written every record
/// queued so far (and the exporter exported every span), so nothing is dropped anywhere.
#[derive(Clone, Copy)]
pub enum Pace<'a> {
    /// End to end: the spans back to back, then `drain`, all timed. The time per span is that
    /// of the slower of the span's thread and the writer (or exporter): sustained throughput.
    Sustained(&'a dyn Fn()),
    /// In bursts of [`BURST`] spans (one iteration each), `drain` between bursts outside the
    /// timing. The time per
    /// span is the cost on the span's thread while the writer keeps up.
    Burst(&'a dyn Fn()),
}

impl Pace<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Pace::Sustained(_) => "sustained",
            Pace::Burst(_) => "burst",
        }
    }
}

/// Nothing to drain.
pub fn no_drain() {}

/// How many spans a benchmark made.
#[derive(Debug, Default, Clone, Copy)]
pub struct Made {
    /// Spans made by the workload.
    pub spans: u64,
    /// Pipeline spans around them (one per sample).
    pub pipelines: u64,
}

impl Made {
    /// Every span made, the pipelines included.
    pub fn all(&self) -> u64 {
        self.spans + self.pipelines
    }
}

/// A benchmark group whose iterations are [`BURST`] spans, every sample the same number of
/// iterations (flat sampling), with spans/s as the throughput.
pub fn span_group<'a>(c: &'a mut Criterion, group: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(group);
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Elements(BURST));
    g
}

/// Times [`BURST`] spans `f(i)` per iteration under `dispatch`, inside one pipeline span per
/// sample (a plain span for subscribers that do not know it), paced by `pace`. Criterion reports
/// the time per iteration and, as throughput, spans per second; the time per span is the time
/// per iteration divided by [`BURST`].
///
/// An iteration of [`BURST`] spans rather than one keeps every sample long, whatever the
/// number of iterations criterion derives from its warm-up (a disk stall there can make it
/// choose one per sample). Every sample runs the same number of iterations (flat sampling).
pub fn bench_under(
    c: &mut Criterion,
    group: &str,
    id: &str,
    dispatch: &Dispatch,
    f: fn(u64),
    pace: Pace<'_>,
) -> Made {
    let count = AtomicU64::new(0);
    let pipelines = AtomicU64::new(0);
    let mut g = span_group(c, group);
    g.bench_function(id, |b| {
        b.iter_custom(|iters| {
            tracing::dispatcher::with_default(dispatch, || {
                pipelines.fetch_add(1, Ordering::Relaxed);
                let pipeline = tracing::info_span!("bench", etl.pipeline = "bench");
                let _p = pipeline.enter();
                match pace {
                    Pace::Sustained(drain) => {
                        let n = iters * BURST;
                        let first = count.fetch_add(n, Ordering::Relaxed);
                        let start = Instant::now();
                        for i in first..first + n {
                            f(i);
                        }
                        drain();
                        start.elapsed()
                    }
                    Pace::Burst(drain) => {
                        let mut timed = Duration::ZERO;
                        for _ in 0..iters {
                            let first = count.fetch_add(BURST, Ordering::Relaxed);
                            let start = Instant::now();
                            for i in first..first + BURST {
                                f(i);
                            }
                            timed += start.elapsed();
                            drain();
                        }
                        timed
                    }
                }
            })
        });
    });
    g.finish();
    Made {
        spans: count.load(Ordering::Relaxed),
        pipelines: pipelines.load(Ordering::Relaxed),
    }
}
