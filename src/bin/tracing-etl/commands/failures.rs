//! `tracing-etl failures`: failed runs and their root cause. Exit status 1 when there are any,
//! so that cron and CI notice.
//!
//! A run's outcome is its latest attempt's: a run whose attempt 1 failed and attempt 2
//! succeeded is not a failure (`--all-attempts` lists every failed attempt). A failed process or
//! step recorded outside any pipeline span (a task spawned without its span, a filter that
//! hides the pipeline) has a run id of its own and no pipeline record: it is listed too, with
//! `-` for its pipeline.
//!
//! With `--volume-drop PCT`, successful pipeline runs whose rows out fell PCT percent or more
//! below the median of the earlier runs of their pipeline (see [`volume`](super::volume)) are
//! failures too: the load that "succeeded" with 0 rows.

use std::collections::HashMap;
use std::ops::ControlFlow;

use tracing_etl::{
    record::EntityKind,
    store::{RecordReader, RunFilter},
    ExecutionRecord, RunStatus,
};

use super::volume::{self, Baseline};
use super::{json_or_none, limit_note};
use crate::args::FailuresArgs;
use crate::error::CliError;
use crate::output::{error_summary, record_json, rows, time, Ui};

/// A failed run: its failed pipeline attempt, or, for a run id without a pipeline record, its
/// first failed step (else process).
#[derive(Debug)]
pub(crate) enum Failure {
    Pipeline(ExecutionRecord),
    Outside(ExecutionRecord),
    /// A successful pipeline run whose rows out fell below its baseline (`--volume-drop`).
    VolumeDrop(ExecutionRecord, Baseline),
}

impl Failure {
    fn record(&self) -> &ExecutionRecord {
        match self {
            Failure::Pipeline(r) | Failure::Outside(r) | Failure::VolumeDrop(r, _) => r,
        }
    }
}

pub(crate) fn run(
    store: &mut dyn RecordReader,
    args: &FailuresArgs,
    ui: &mut Ui,
) -> Result<u8, CliError> {
    let mut runs = failures(store, args)?;
    if let Some(pct) = args.volume_drop {
        runs.extend(volume_drops(store, args, pct)?);
        runs.sort_by_key(|f| std::cmp::Reverse(f.record().started_at));
        runs.truncate(args.limit as usize);
    }
    let code = u8::from(!runs.is_empty());

    if json_or_none(ui, runs.is_empty(), "no failed runs", |ui| {
        failures_json(ui, &runs)
    }) {
        return Ok(code);
    }
    let traces: Vec<Option<String>> = runs
        .iter()
        .map(|f| {
            let r = f.record();
            ui.trace_text(r.trace_id.as_deref(), r.span_id.as_deref())
        })
        .collect();
    let with_traces = traces.iter().any(Option::is_some);
    let mut header = vec![
        "RUN ID",
        "PIPELINE",
        "ATTEMPT",
        "STARTED (UTC)",
        "FAILED STEP",
        "ERROR",
    ];
    if with_traces {
        header.push("TRACE");
    }
    let mut table = ui.table(&header);
    for (f, trace) in runs.iter().zip(traces) {
        let r = f.record();
        let (pipeline, failed_step) = match f {
            Failure::Pipeline(r) => (r.name.as_str(), r.failed_step().unwrap_or("-")),
            Failure::Outside(r) if r.kind() == EntityKind::Step => ("-", r.name.as_str()),
            Failure::Outside(r) => ("-", r.failed_step().unwrap_or("-")),
            Failure::VolumeDrop(r, _) => (r.name.as_str(), "-"),
        };
        let error = match f {
            Failure::VolumeDrop(r, baseline) => volume_error(r, baseline),
            _ => error_summary(&r.outcome.error),
        };
        let mut row = vec![
            r.run.run_id.as_str().into(),
            pipeline.into(),
            ui.right(r.run.attempt),
            time(r.started_at).into(),
            failed_step.into(),
            error.into(),
        ];
        if with_traces {
            row.push(trace.unwrap_or_default().into());
        }
        table.add_row(row);
    }
    ui.print_table(&table);
    if runs.iter().any(|f| matches!(f, Failure::Outside(_))) {
        ui.note(
            "a run with pipeline \"-\" has no pipeline record: its steps were recorded outside \
             any pipeline span (tracing-etl show RUN_ID shows them)",
        );
    }
    limit_note(ui, runs.len(), args.limit, "failures");
    Ok(code)
}

/// What `failures --json` prints for `runs`.
pub(crate) fn failures_json(ui: &Ui, runs: &[Failure]) -> serde_json::Value {
    runs.iter()
        .map(|f| {
            serde_json::Value::Object(match f {
                Failure::Pipeline(r) => record_json(ui, r, false),
                Failure::Outside(r) => record_json(ui, r, true),
                Failure::VolumeDrop(r, baseline) => {
                    let mut object = record_json(ui, r, false);
                    let rows = r.rows_out().unwrap_or(0);
                    object.insert("volume_drop".into(), true.into());
                    object.insert("rows_out_median".into(), baseline.median.into());
                    object.insert("rows_out_median_runs".into(), baseline.runs.into());
                    object.insert(
                        "rows_out_drop_pct".into(),
                        baseline.drop_pct_rounded(rows).into(),
                    );
                    object
                }
            })
        })
        .collect()
}

/// The newest failed runs, at most `--limit`, newest first.
pub(crate) fn failures(
    store: &mut dyn RecordReader,
    args: &FailuresArgs,
) -> Result<Vec<Failure>, CliError> {
    let limit = args.limit as usize;
    let mut filter = RunFilter::default()
        .status(RunStatus::Failed)
        .newest_first();
    if let Some(since) = args.since {
        filter = filter.since(since);
    }
    let mut runs = Vec::new();
    let mut pipeline_filter = filter.clone();
    if let Some(pipeline) = &args.pipeline {
        pipeline_filter = pipeline_filter.name(pipeline.clone());
    }
    if args.all_attempts {
        pipeline_filter = pipeline_filter.limit(limit);
    }
    let failed = store.read_pipelines(&pipeline_filter)?;
    let mut latest: HashMap<String, Option<u32>> = HashMap::new();
    'chunks: for chunk in failed.chunks(LOOKUP_BATCH) {
        if !args.all_attempts {
            latest_failed_attempts(store, chunk, &mut latest)?;
        }
        for p in chunk {
            if runs.len() == limit {
                break 'chunks;
            }
            if !args.all_attempts
                && latest.get(&p.run.run_id).copied().flatten() != Some(p.run.attempt)
            {
                continue;
            }
            runs.push(Failure::Pipeline(p.clone()));
        }
    }
    if args.pipeline.is_none() {
        runs.extend(outside_pipelines(store, &filter, limit)?);
        runs.sort_by_key(|f| std::cmp::Reverse(f.record().started_at));
        runs.truncate(limit);
    }
    Ok(runs)
}

/// The failed runs whose latest attempt is looked up in one read.
const LOOKUP_BATCH: usize = 200;

/// What the ERROR column says of a volume drop.
fn volume_error(r: &ExecutionRecord, baseline: &Baseline) -> String {
    let rows_out = r.rows_out().unwrap_or(0);
    format!(
        "volume drop: {} rows out, {:.1}% below the median {} of the {} runs before",
        rows(Some(rows_out)),
        baseline.drop_pct(rows_out),
        rows(Some(baseline.median)),
        baseline.runs
    )
}

/// Successful pipeline runs (of `--pipeline`, since `--since`, among the newest `--limit`)
/// whose rows out fell `pct` percent or more below their baseline, newest first.
fn volume_drops(
    store: &mut dyn RecordReader,
    args: &FailuresArgs,
    pct: f64,
) -> Result<Vec<Failure>, CliError> {
    let mut filter = RunFilter::default()
        .status(RunStatus::Success)
        .newest_first()
        .limit(args.limit as usize);
    if let Some(since) = args.since {
        filter = filter.since(since);
    }
    if let Some(pipeline) = &args.pipeline {
        filter = filter.name(pipeline.clone());
    }
    let mut drops = Vec::new();
    for run in store.read_pipelines(&filter)? {
        let Some(rows_out) = run.rows_out() else {
            continue;
        };
        if let Some(baseline) = volume::baseline(store, &run, args.volume_window)? {
            if baseline.median > 0 && baseline.drop_pct(rows_out) >= pct {
                drops.push(Failure::VolumeDrop(run, baseline));
            }
        }
    }
    Ok(drops)
}

/// Adds to `latest`, for each run of `failed` not in it yet, its latest attempt when that
/// failed (`None` when it did not: it succeeded, or is still running), read in one query.
fn latest_failed_attempts(
    store: &mut dyn RecordReader,
    failed: &[ExecutionRecord],
    latest: &mut HashMap<String, Option<u32>>,
) -> Result<(), CliError> {
    let mut ids: Vec<&str> = failed
        .iter()
        .map(|p| p.run.run_id.as_str())
        .filter(|id| !latest.contains_key(*id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    let mut newest: HashMap<String, (u32, RunStatus)> = HashMap::new();
    for a in store.read_pipelines(&RunFilter::default().run_ids(ids.iter().copied()))? {
        let entry = newest
            .entry(a.run.run_id)
            .or_insert((a.run.attempt, a.outcome.status));
        if a.run.attempt >= entry.0 {
            *entry = (a.run.attempt, a.outcome.status);
        }
    }
    for id in ids {
        let failed = newest
            .get(id)
            .filter(|(_, status)| *status == RunStatus::Failed)
            .map(|(attempt, _)| *attempt);
        latest.insert(id.to_owned(), failed);
    }
    Ok(())
}

/// Failed runs without a pipeline record: for each run id, its first failed step, else its
/// first failed process. At most `limit` runs, the newest.
fn outside_pipelines(
    store: &mut dyn RecordReader,
    filter: &RunFilter,
    limit: usize,
) -> Result<Vec<Failure>, CliError> {
    // Newest first: the record kept per run is the last one seen, its first failure.
    let mut first: HashMap<String, ExecutionRecord> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for kind in [EntityKind::Step, EntityKind::Process] {
        let mut seen_now: Vec<ExecutionRecord> = Vec::new();
        store.for_each_record(kind, filter, &mut |r| {
            seen_now.push(r);
            ControlFlow::Continue(())
        })?;
        let mut has_pipeline: HashMap<String, bool> = HashMap::new();
        for r in seen_now {
            let run_id = r.run.run_id.clone();
            if kind == EntityKind::Process
                && first
                    .get(&run_id)
                    .is_some_and(|s| s.kind() == EntityKind::Step)
            {
                continue;
            }
            let known = match has_pipeline.get(&run_id) {
                Some(known) => *known,
                None => {
                    let known = !store
                        .read_pipelines(&RunFilter::default().run_id(run_id.clone()).limit(1))?
                        .is_empty();
                    has_pipeline.insert(run_id.clone(), known);
                    known
                }
            };
            if known {
                continue;
            }
            if !first.contains_key(&run_id) {
                order.push(run_id.clone());
            }
            first.insert(run_id, r);
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|run_id| first.remove(&run_id))
        .map(Failure::Outside)
        .take(limit)
        .collect())
}
