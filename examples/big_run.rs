//! Makes one pipeline run of many steps (a million by default) through the layer, for
//! measuring `tracing-etl show` on a huge run: a process `load` whose steps succeed but one in
//! every 100,000, which fails; and, with `--long-error-mib N`, a run `long-1` whose root-cause
//! step failed with an error message of N MiB on one line (written straight to the store, as an
//! older release or another writer could have left it: the layer cuts texts at 64 KiB).
//!
//! ```text
//! cargo run --release --features sqlite,jsonl,postgres,cli --example big_run -- \
//!     --store sqlite:/tmp/big.db --steps 1000000 --long-error-mib 10
//! target/release/tracing-etl --store sqlite:/tmp/big.db show big-1
//! target/release/tracing-etl --store sqlite:/tmp/big.db show long-1
//! ```
//!
//! The big run's id is `big-1`. The store is a store URL (`sqlite:PATH`, `jsonl:DIR`,
//! `postgres://…?schema=NAME`); it must not hold those runs already.

#[path = "support/store.rs"]
mod support;

use std::time::Instant;

use clap::Parser;
use support::open;
use tracing_etl::{
    record::{ErrorDetails, RootCause},
    store::StoreUrl,
    ExecutionRecord, ExecutionRecordsLayer, RunStatus,
};
use tracing_subscriber::prelude::*;

/// One pipeline run with many steps.
#[derive(Debug, Parser)]
struct Args {
    /// Where to record: sqlite:PATH, jsonl:DIR or postgres://…?schema=NAME.
    #[arg(long)]
    store: StoreUrl,
    /// How many steps.
    #[arg(long, default_value_t = 1_000_000)]
    steps: u64,
    /// Add a failed step whose error message is this many MiB on one line.
    #[arg(long)]
    long_error_mib: Option<usize>,
}

#[tracing::instrument(skip_all, fields(etl.pipeline = "big", etl.run_id = "big-1"))]
fn pipeline(steps: u64) -> Result<(), String> {
    load(steps)
}

#[tracing::instrument(skip_all, fields(etl.process = "load"))]
fn load(steps: u64) -> Result<(), String> {
    let mut failed = None;
    for i in 0..steps {
        let span = tracing::info_span!("chunk", etl.step = "chunk", rows = i);
        let _entered = span.enter();
        if i % 100_000 == 99_999 {
            tracing::error!(error.type = "BadChunk", "chunk {i}: checksum mismatch");
            failed.get_or_insert(i);
        }
    }
    match failed {
        Some(i) => Err(format!("chunk {i} failed")),
        None => Ok(()),
    }
}

fn main() {
    let args = Args::parse();
    let started = Instant::now();
    let (layer, guard) = ExecutionRecordsLayer::new(open(&args.store));
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let result = tracing::dispatcher::with_default(&dispatch, || pipeline(args.steps));
    let stats = guard.shutdown().expect("shutdown");
    eprintln!(
        "{} steps recorded in {:.1?} ({result:?}), {} records written",
        args.steps,
        started.elapsed(),
        stats.written
    );
    if let Some(mib) = args.long_error_mib {
        write_long_error(&args.store, mib);
        eprintln!("run long-1: a failed step with a {mib} MiB error message");
    }
}

/// Run `long-1`: a failed pipeline whose root cause, step `huge`, failed with a message of `mib`
/// MiB on one line.
fn write_long_error(url: &StoreUrl, mib: usize) {
    let now = chrono::Utc::now();
    let mut error = ErrorDetails::default();
    error.message = Some("x".repeat(mib * 1024 * 1024));
    error.type_name = Some("Huge".into());
    let mut step = ExecutionRecord::step_start("long-1", "long-1-step", "huge", now)
        .ended(RunStatus::Failed, 1);
    step.outcome.error = error.clone();
    let mut pipeline = ExecutionRecord::pipeline_start("long-1", "long", now)
        .with_root_cause(RootCause::new("long-1-step", "huge"))
        .ended(RunStatus::Failed, 2);
    pipeline.outcome.error = error;
    let mut store = open(url);
    store
        .write_batch(&[pipeline, step])
        .expect("write the long error");
    store.flush().expect("flush");
}
