//! Exported spans nest in time as they nest in the trace: a child starts no earlier and ends
//! no later than its parent, on one thread and across threads, whatever the sub-microsecond
//! phase of their clocks.

use std::collections::HashMap;
use std::time::SystemTime;

use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing::Span;
use tracing_etl::{ExecutionRecordsLayer, InMemoryStore};
use tracing_subscriber::prelude::*;

fn export(f: impl FnOnce()) -> Vec<SpanData> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .with_tracer(provider.tracer("test"))
        .build(InMemoryStore::new());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
    guard.shutdown().unwrap();
    exporter.get_finished_spans().unwrap()
}

fn nanos(t: SystemTime) -> u128 {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos()
}

/// Checks every span against its parent; returns how many children were checked.
fn check_nesting(spans: &[SpanData]) -> usize {
    let by_id: HashMap<SpanId, &SpanData> = spans
        .iter()
        .map(|s| (s.span_context.span_id(), s))
        .collect();
    let mut checked = 0;
    for child in spans {
        let Some(parent) = by_id.get(&child.parent_span_id) else {
            continue;
        };
        let (cs, ce) = (nanos(child.start_time), nanos(child.end_time));
        let (ps, pe) = (nanos(parent.start_time), nanos(parent.end_time));
        assert!(
            cs <= ce,
            "{} ends before it starts: {cs} > {ce}",
            child.name
        );
        assert!(
            ps <= cs,
            "{} starts {} ns before its parent {}",
            child.name,
            ps - cs,
            parent.name
        );
        assert!(
            ce <= pe,
            "{} ends {} ns after its parent {}",
            child.name,
            ce - pe,
            parent.name
        );
        checked += 1;
    }
    checked
}

/// Steps that open and close back to back, each ending a few hundred nanoseconds before the
/// entity around it: where a start cut to whole microseconds and an end to the nanosecond put
/// the child's end after its parent's.
#[test]
fn nested_spans_on_one_thread_end_within_their_parents() {
    let spans = export(|| {
        for _ in 0..200 {
            let _pipeline =
                tracing::info_span!("p", etl.pipeline = tracing::field::Empty).entered();
            for _ in 0..3 {
                let _process =
                    tracing::info_span!("q", etl.process = tracing::field::Empty).entered();
                let _step = tracing::info_span!("s", etl.step = tracing::field::Empty).entered();
                let _inner = tracing::info_span!("t", etl.step = tracing::field::Empty).entered();
            }
        }
    });
    assert_eq!(spans.len(), 200 * 10);
    assert_eq!(check_nesting(&spans), 200 * 9);
}

/// Children opened and closed on other threads, whose clocks are read independently.
#[test]
fn nested_spans_across_threads_end_within_their_parents() {
    let spans = export(|| {
        let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
        for _ in 0..50 {
            let pipeline = tracing::info_span!("p", etl.pipeline = tracing::field::Empty);
            std::thread::scope(|threads| {
                for _ in 0..4 {
                    let parent = pipeline.clone();
                    let dispatch = dispatch.clone();
                    threads.spawn(move || {
                        tracing::dispatcher::with_default(&dispatch, || {
                            for _ in 0..5 {
                                let step = tracing::info_span!(
                                    parent: &parent,
                                    "s",
                                    etl.step = tracing::field::Empty
                                );
                                let _inner = step.in_scope(|| {
                                    tracing::info_span!("t", etl.step = tracing::field::Empty)
                                });
                            }
                        })
                    });
                }
            });
            drop(pipeline);
            let _ = Span::current();
        }
    });
    assert_eq!(spans.len(), 50 * (1 + 4 * 5 * 2));
    assert_eq!(check_nesting(&spans), 50 * 4 * 5 * 2);
}
