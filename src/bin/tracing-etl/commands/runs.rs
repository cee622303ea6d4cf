//! `tracing-etl runs`: pipeline runs, newest first; with their rows out where given, and with
//! `--pipeline` each run's rows out beside the median of the runs before it (see
//! [`volume`](super::volume)).

use serde_json::Value;
use tracing_etl::store::{RecordReader, RunFilter};
use tracing_etl::ExecutionRecord;

use super::volume::{self, Baseline};
use super::{json_or_none, limit_note};
use crate::args::RunsArgs;
use crate::error::CliError;
use crate::output::{duration_ms, record_json, rows, time, Ui};

pub(crate) fn run(
    store: &mut dyn RecordReader,
    args: &RunsArgs,
    ui: &mut Ui,
) -> Result<u8, CliError> {
    let mut filter = RunFilter::default()
        .newest_first()
        .limit(args.limit as usize);
    if let Some(status) = args.status {
        filter = filter.status(status.into());
    }
    if let Some(pipeline) = &args.pipeline {
        filter = filter.name(pipeline.clone());
    }
    if let Some(since) = args.since {
        filter = filter.since(since);
    }
    let runs = store.read_pipelines(&filter)?;
    let baselines = match &args.pipeline {
        Some(_) => baselines(store, &runs, args.volume_window)?,
        None => Vec::new(),
    };

    if json_or_none(ui, runs.is_empty(), "no pipeline runs match", |ui| {
        runs_json(ui, &runs, &baselines)
    }) {
        return Ok(0);
    }
    let with_rows = !baselines.is_empty() || runs.iter().any(|r| r.rows_out().is_some());
    let median_header = format!("MEDIAN (PREV {})", args.volume_window);
    let mut header = vec![
        "RUN ID",
        "PIPELINE",
        "ATTEMPT",
        "STATUS",
        "STARTED (UTC)",
        "DURATION",
    ];
    if with_rows {
        header.push("ROWS OUT");
    }
    if !baselines.is_empty() {
        header.extend([median_header.as_str(), "CHANGE"]);
    }
    header.push("FAILED STEP");
    let mut table = ui.table(&header);
    for (i, r) in runs.iter().enumerate() {
        let mut row = vec![
            r.run.run_id.as_str().into(),
            r.name.as_str().into(),
            ui.right(r.run.attempt),
            ui.status(r.outcome.status),
            time(r.started_at).into(),
            ui.right(duration_ms(r.outcome.duration_ms)),
        ];
        if with_rows {
            row.push(ui.right(rows(r.rows_out())));
        }
        if let Some(baseline) = baselines.get(i) {
            let median = baseline.map(|b| b.median);
            row.push(ui.right(rows(median)));
            row.push(ui.right(change(r.rows_out(), median)));
        }
        row.push(r.failed_step().unwrap_or("").into());
        table.add_row(row);
    }
    ui.print_table(&table);
    if !baselines.is_empty() {
        ui.note(format!(
            "MEDIAN: rows out of the successful runs among the {} runs of the pipeline before \
             each (--volume-window N)",
            args.volume_window
        ));
    }
    limit_note(ui, runs.len(), args.limit, "runs");
    Ok(0)
}

/// The change from `median` to `rows`, in percent (`+5.0%`, `-100.0%`); `-` when either is
/// unknown or the median is 0.
fn change(rows: Option<u64>, median: Option<u64>) -> String {
    match (rows, median) {
        (Some(rows), Some(median)) if median > 0 => {
            let pct = (rows as f64 - median as f64) * 100.0 / median as f64;
            format!("{pct:+.1}%")
        }
        _ => "-".to_owned(),
    }
}

/// One baseline per run of one pipeline: the median rows out of the `window` runs before it
/// (one read of the runs before each).
pub(crate) fn baselines(
    store: &mut dyn RecordReader,
    runs: &[ExecutionRecord],
    window: u32,
) -> Result<Vec<Option<Baseline>>, CliError> {
    runs.iter()
        .map(|r| volume::baseline(store, r, window))
        .collect()
}

/// `runs --json`: the runs, each with its baseline's median when `baselines` has one per run
/// (`--pipeline`), none when it is empty.
pub(crate) fn runs_json(
    ui: &Ui,
    runs: &[ExecutionRecord],
    baselines: &[Option<Baseline>],
) -> Value {
    runs.iter()
        .enumerate()
        .map(|(i, r)| {
            let mut object = record_json(ui, r, false);
            if let Some(baseline) = baselines.get(i) {
                let (median, of) = match baseline {
                    Some(b) => (Value::from(b.median), Value::from(b.runs)),
                    None => (Value::Null, Value::from(0)),
                };
                object.insert("rows_out_median".into(), median);
                object.insert("rows_out_median_runs".into(), of);
            }
            Value::Object(object)
        })
        .collect()
}
