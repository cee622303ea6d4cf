//! `tracing-etl runs`: pipeline runs, newest first.

use tracing_etl::store::{RecordReader, RunFilter};

use super::pipelines_json;
use crate::args::RunsArgs;
use crate::error::CliError;
use crate::output::{duration_ms, time, Ui};

pub(crate) fn run(
    store: &mut dyn RecordReader,
    args: &RunsArgs,
    ui: &mut Ui,
) -> Result<u8, CliError> {
    let limit = args.limit as usize;
    let mut filter = RunFilter::default().newest_first().limit(limit);
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

    if ui.json {
        let json = pipelines_json(ui, &runs);
        ui.print_json(&json);
        return Ok(0);
    }
    if runs.is_empty() {
        ui.line("no pipeline runs match");
        return Ok(0);
    }
    let mut table = ui.table(&[
        "RUN ID",
        "PIPELINE",
        "ATTEMPT",
        "STATUS",
        "STARTED (UTC)",
        "DURATION",
        "FAILED STEP",
    ]);
    for r in &runs {
        table.add_row(vec![
            r.run.run_id.as_str().into(),
            r.name.as_str().into(),
            ui.right(r.run.attempt),
            ui.status(r.outcome.status),
            time(r.started_at).into(),
            ui.right(duration_ms(r.outcome.duration_ms)),
            r.failed_step().unwrap_or("").into(),
        ]);
    }
    ui.print_table(&table);
    if runs.len() == limit {
        ui.note(format!(
            "showing the newest {limit} runs; --limit N shows more"
        ));
    }
    Ok(0)
}
