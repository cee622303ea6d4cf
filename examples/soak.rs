//! Soak run: millions of step spans through the layer into a SQLite store, printing resident
//! memory as it goes, to show that memory stays flat and no record is lost.
//!
//! ```text
//! cargo run --release --features cli --example soak -- --steps 10000000
//! ```
//!
//! It prints one line per progress interval (steps done, steps/s, resident memory; the first
//! interval is the warm-up) and ends with the number of step rows in the store, which must equal
//! the number of steps, and resident memory at warm-up, at the end and at its peak, with the
//! growth after warm-up.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use tracing_etl::{ExecutionRecordsLayer, SqliteStore};
use tracing_subscriber::prelude::*;

/// Step spans through the layer into SQLite, with resident memory over time.
#[derive(Debug, Parser)]
struct Args {
    /// How many step spans to make.
    #[arg(long, default_value_t = 10_000_000)]
    steps: u64,
    /// Steps per pipeline run.
    #[arg(long, default_value_t = 10_000)]
    steps_per_run: u64,
    /// Progress lines to print.
    #[arg(long, default_value_t = 10)]
    reports: u64,
    /// SQLite file (default: a temporary file, removed at the end).
    #[arg(long)]
    db: Option<PathBuf>,
}

/// Resident set size in bytes, from /proc (Linux); 0 elsewhere.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[tracing::instrument(skip_all, fields(etl.pipeline = "soak", etl.run_id = %run))]
fn run(run: u64, first: u64, steps: u64) {
    for i in first..first + steps {
        let span = tracing::info_span!("load", etl.step = "load", rows = i);
        let _entered = span.enter();
        if i.is_multiple_of(1000) {
            tracing::error!("bad row");
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let path = args
        .db
        .clone()
        .unwrap_or_else(|| dir.path().join("soak.db"));
    let (layer, guard) = ExecutionRecordsLayer::new(SqliteStore::open(&path)?);
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));

    let report_every = (args.steps / args.reports.max(1)).max(1);
    let per_run = args.steps_per_run.max(1);
    let start = Instant::now();
    let mut warm_rss = None;
    let mut peak_rss = 0;
    tracing::dispatcher::with_default(&dispatch, || {
        let mut done = 0;
        let mut next_report = report_every;
        while done < args.steps {
            let n = per_run.min(args.steps - done);
            run(done / per_run, done, n);
            done += n;
            if done >= next_report || done == args.steps {
                next_report += report_every;
                let rss = resident_bytes();
                peak_rss = peak_rss.max(rss);
                // Warm-up: the first report (queue filled, SQLite cache grown).
                let warm = *warm_rss.get_or_insert(rss);
                println!(
                    "{done:>12} steps  {:>10.0} steps/s  rss {:>7.1} MiB  (+{:.1} MiB since warm-up)",
                    done as f64 / start.elapsed().as_secs_f64(),
                    mib(rss),
                    mib(rss.saturating_sub(warm)),
                );
            }
        }
    });
    drop(dispatch);
    let stats = guard.shutdown()?;
    let elapsed = start.elapsed();
    // Measured before counting, which reads the file.
    let end = resident_bytes();
    peak_rss = peak_rss.max(end);
    let rows: i64 = SqliteStore::open_read_only(&path)?.connection().query_row(
        "SELECT count(*) FROM step_runs",
        [],
        |row| row.get(0),
    )?;
    let rows = u64::try_from(rows)?;
    let warm = warm_rss.unwrap_or(0);
    println!(
        "steps {}  rows {rows}  lost {}  dropped {}  elapsed {:.1} s ({:.0} steps/s)",
        args.steps,
        args.steps.saturating_sub(rows),
        stats.dropped,
        elapsed.as_secs_f64(),
        args.steps as f64 / elapsed.as_secs_f64(),
    );
    println!(
        "rss at warm-up {:.1} MiB  at end {:.1} MiB  peak {:.1} MiB  growth after warm-up {:.1} MiB \
         (to the peak {:.1} MiB)",
        mib(warm),
        mib(end),
        mib(peak_rss),
        mib(end.saturating_sub(warm)),
        mib(peak_rss.saturating_sub(warm)),
    );
    if rows != args.steps {
        return Err(format!("{} step records lost", args.steps.saturating_sub(rows)).into());
    }
    Ok(())
}
