//! `tracing-etl failures`: failed pipeline runs and their root cause. Exit status 1 when there
//! are any, so that cron and CI notice.

use tracing_etl::{
    store::{RecordReader, RunFilter},
    RunStatus,
};

use super::pipelines_json;
use crate::args::FailuresArgs;
use crate::error::CliError;
use crate::output::{error_summary, time, Ui};

pub(crate) fn run(
    store: &mut dyn RecordReader,
    args: &FailuresArgs,
    ui: &mut Ui,
) -> Result<u8, CliError> {
    let limit = args.limit as usize;
    let mut filter = RunFilter::default()
        .status(RunStatus::Failed)
        .newest_first()
        .limit(limit);
    if let Some(pipeline) = &args.pipeline {
        filter = filter.name(pipeline.clone());
    }
    if let Some(since) = args.since {
        filter = filter.since(since);
    }
    let runs = store.read_pipelines(&filter)?;
    let code = u8::from(!runs.is_empty());

    if ui.json {
        let json = pipelines_json(ui, &runs);
        ui.print_json(&json);
        return Ok(code);
    }
    if runs.is_empty() {
        ui.line("no failed runs");
        return Ok(code);
    }
    let traces: Vec<Option<String>> = runs
        .iter()
        .map(|r| ui.trace_text(r.trace_id.as_deref(), r.span_id.as_deref()))
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
    for (r, trace) in runs.iter().zip(traces) {
        let mut row = vec![
            r.run.run_id.as_str().into(),
            r.name.as_str().into(),
            ui.right(r.run.attempt),
            time(r.started_at).into(),
            r.failed_step().unwrap_or("-").into(),
            error_summary(&r.outcome.error).into(),
        ];
        if with_traces {
            row.push(trace.unwrap_or_default().into());
        }
        table.add_row(row);
    }
    ui.print_table(&table);
    if runs.len() == limit {
        ui.note(format!(
            "showing the newest {limit} failures; --limit N shows more"
        ));
    }
    Ok(code)
}
