//! `tracing-etl show RUN_ID`: one run as a tree — the pipeline, its processes and their steps,
//! and steps directly under the pipeline — with the root cause of a failure marked. A run too
//! big for a tree is summed up; `--all` lists every step and `--json` prints every record, both
//! as the store hands the steps over, so memory does not grow with the run.
//!
//! A run id with no pipeline record (processes and steps recorded outside any pipeline span)
//! is shown too, from its processes and steps.

mod collect;
mod json;
mod print;

use std::ops::ControlFlow;
use std::time::Duration;

use chrono::Utc;
use tracing_etl::{
    record::EntityKind,
    store::{RecordReader, RunFilter},
    ExecutionRecord, RunStatus,
};

use crate::args::ShowArgs;
use crate::error::CliError;
use crate::liveness::Recorders;
use crate::output::Ui;
use collect::cut_errors;
pub(crate) use collect::Steps;
#[cfg(feature = "web")]
pub(crate) use collect::{Counts, FAILED_SHOWN};
#[cfg(feature = "web")]
pub(crate) use print::Child;
pub(crate) use print::Run;
use print::StepLines;

/// The keyword for the newest run.
const LATEST: &str = "latest";
/// Ambiguous prefixes list at most this many candidates.
const MAX_CANDIDATES: usize = 10;

pub(crate) fn run(
    store: &mut dyn RecordReader,
    args: &ShowArgs,
    ui: &mut Ui,
) -> Result<u8, CliError> {
    let (run_id, mut attempts) = resolve(store, &args.run.id)?;
    attempts.sort_by_key(|p| p.run.attempt);
    let pipeline = pick_attempt(&run_id, &attempts, args.run.attempt)?.cloned();
    let filter = run_filter(&run_id, pipeline.as_ref());
    let processes = read_processes(store, &filter)?;
    if pipeline.is_none() && processes.is_empty() && !has_steps(store, &filter)? {
        return Err(CliError::new(format!("run {run_id} has no records")));
    }

    if ui.json {
        json::print(store, &filter, &run_id, pipeline.as_ref(), &processes, ui)?;
        return Ok(0);
    }
    let liveness = match &pipeline {
        Some(p) if p.outcome.status == RunStatus::Running => {
            let recorders = Recorders::read(store, Utc::now(), Duration::from_secs(30))?;
            Some(recorders.judge(p.clone()))
        }
        _ => None,
    };
    print::header(
        ui,
        &run_id,
        pipeline.as_ref(),
        &attempt_note(pipeline.as_ref(), &attempts),
        liveness.as_ref().map(|l| (&l.liveness, l.reason.as_str())),
    );
    // Offsets count from the pipeline's start, else from the first entity's.
    let start = pipeline
        .as_ref()
        .map(|p| p.started_at)
        .or_else(|| processes.iter().map(|p| p.started_at).min());
    let root_cause_id = pipeline.as_ref().and_then(|p| p.failed_step_run_id());

    let steps = if args.all {
        let mut steps = Steps::new(root_cause_id);
        let mut lines: Option<StepLines<'_>> = None;
        let mut failure = None;
        store.for_each_record(EntityKind::Step, &filter, &mut |step| {
            let start = start.unwrap_or(step.started_at);
            let lines = lines
                .get_or_insert_with(|| StepLines::new(ui, pipeline.as_ref(), &processes, start));
            lines.print(ui, &step);
            if step.step_run_id.is_some() && step.step_run_id.as_deref() == root_cause_id {
                steps.add(step);
            }
            ui.keep_writing(&mut failure)
        })?;
        if let Some(e) = failure {
            return Err(CliError::new(format!("cannot write output: {e}")));
        }
        if lines.is_none() {
            let start = start.unwrap_or_else(Utc::now);
            StepLines::new(ui, pipeline.as_ref(), &processes, start);
        }
        steps.finish();
        steps
    } else {
        let mut steps = Steps::read(store, &filter, root_cause_id)?;
        let start = start
            .or_else(|| steps.all.iter().map(|s| s.started_at).min())
            .unwrap_or_else(Utc::now);
        if steps.too_many {
            print::summary(ui, pipeline.as_ref(), &processes, &steps, start);
        } else {
            let all = std::mem::take(&mut steps.all);
            Run::assemble(pipeline.clone(), processes.clone(), all).print(ui, start);
        }
        steps
    };

    if let Some(p) = pipeline
        .as_ref()
        .filter(|p| p.outcome.status == RunStatus::Failed)
    {
        print::cause(ui, p, steps.root_cause.as_ref(), args.full);
    }
    if let Some(p) = &pipeline {
        if let Some(trace) = ui.trace_text(p.trace_id.as_deref(), p.span_id.as_deref()) {
            ui.line(format!("trace: {trace}"));
        }
        let others: Vec<String> = attempts
            .iter()
            .filter(|a| a.run.attempt != p.run.attempt)
            .map(|a| format!("{} ({})", a.run.attempt, a.outcome.status))
            .collect();
        if !others.is_empty() {
            ui.line(format!(
                "other attempts: {} (--attempt N)",
                others.join(", ")
            ));
        }
    }
    Ok(0)
}

/// The attempt `attempt` of a run among its `attempts` (sorted by attempt number), by default
/// the last one; `None` for a run recorded without a pipeline record.
pub(crate) fn pick_attempt<'a>(
    run_id: &str,
    attempts: &'a [ExecutionRecord],
    attempt: Option<u32>,
) -> Result<Option<&'a ExecutionRecord>, CliError> {
    match attempt {
        Some(n) => match attempts.iter().find(|p| p.run.attempt == n) {
            Some(p) => Ok(Some(p)),
            None => Err(CliError::new(format!(
                "run {run_id} has no attempt {n} (recorded: {})",
                attempt_list(attempts)
            ))),
        },
        None => Ok(attempts.last()),
    }
}

/// The rows of run `run_id`: of the attempt of `pipeline` when there is one.
fn run_filter(run_id: &str, pipeline: Option<&ExecutionRecord>) -> RunFilter {
    let filter = RunFilter::default().run_id(run_id);
    match pipeline {
        Some(p) => filter.attempt(p.run.attempt),
        None => filter,
    }
}

/// The run's processes, their error texts cut for the terminal.
fn read_processes(
    store: &mut dyn RecordReader,
    filter: &RunFilter,
) -> Result<Vec<ExecutionRecord>, CliError> {
    Ok(store
        .read_processes(filter)?
        .into_iter()
        .map(cut_errors)
        .collect())
}

/// What `show RUN --json` prints for the attempt of `pipeline` of run `run_id` (or for the
/// entities of a run id without a pipeline record), written into `ui`.
#[cfg(feature = "web")]
pub(crate) fn write_json(
    store: &mut dyn RecordReader,
    run_id: &str,
    pipeline: Option<&ExecutionRecord>,
    ui: &mut Ui,
) -> Result<(), CliError> {
    let filter = run_filter(run_id, pipeline);
    let processes = read_processes(store, &filter)?;
    json::print(store, &filter, run_id, pipeline, &processes, ui)
}

/// What the header says of the attempt shown beside the others: a later one recorded, or,
/// for the latest, a failure the job said it would retry (`etl.last_attempt = false`). The
/// store decides what is latest; the flag only speaks for the future.
fn attempt_note(pipeline: Option<&ExecutionRecord>, attempts: &[ExecutionRecord]) -> String {
    let Some(p) = pipeline else {
        return String::new();
    };
    let later: Vec<String> = attempts
        .iter()
        .filter(|a| a.run.attempt > p.run.attempt)
        .map(|a| a.run.attempt.to_string())
        .collect();
    if !later.is_empty() {
        format!(
            " (not the last: attempt {} recorded later)",
            later.join(", ")
        )
    } else if !p.run.last_attempt && p.outcome.status == RunStatus::Failed {
        " (the latest recorded; the job planned another attempt)".to_owned()
    } else {
        String::new()
    }
}

/// Whether the run has any step.
fn has_steps(store: &mut dyn RecordReader, filter: &RunFilter) -> Result<bool, CliError> {
    let mut any = false;
    store.for_each_record(EntityKind::Step, &filter.clone().limit(1), &mut |_| {
        any = true;
        ControlFlow::Break(())
    })?;
    Ok(any)
}

/// The run that `arg` names — an exact run id, `latest`, or the one run id it is a prefix of —
/// with its recorded attempts (none for a run id recorded only by processes or steps outside a
/// pipeline span).
pub(crate) fn resolve(
    store: &mut dyn RecordReader,
    arg: &str,
) -> Result<(String, Vec<ExecutionRecord>), CliError> {
    if arg.is_empty() {
        return Err(CliError::new("the run id is empty"));
    }
    let exact = store.read_pipelines(&RunFilter::default().run_id(arg))?;
    if !exact.is_empty() {
        return Ok((arg.to_owned(), exact));
    }
    let exact_outside = RunFilter::default().run_id(arg).limit(1);
    if !store.read_processes(&exact_outside)?.is_empty() || has_steps(store, &exact_outside)? {
        return Ok((arg.to_owned(), Vec::new()));
    }
    let run_id = resolve_other(store, arg)?;
    let attempts = store.read_pipelines(&RunFilter::default().run_id(run_id.clone()))?;
    Ok((run_id, attempts))
}

/// The run id that `arg`, not a recorded run id, names: `latest`, or a prefix of one run id.
fn resolve_other(store: &mut dyn RecordReader, arg: &str) -> Result<String, CliError> {
    if arg == LATEST {
        return store
            .read_pipelines(&RunFilter::default().newest_first().limit(1))?
            .pop()
            .map(|p| p.run.run_id)
            .ok_or_else(|| CliError::new("no pipeline runs recorded yet"));
    }
    let matches = store.read_pipelines(
        &RunFilter::default()
            .run_id_prefix(arg)
            .newest_first()
            .limit(1000),
    )?;
    let mut ids: Vec<String> = Vec::new();
    for p in matches {
        if !ids.contains(&p.run.run_id) {
            ids.push(p.run.run_id);
        }
    }
    match ids.len() {
        0 => Err(CliError::new(format!("no run id starts with {arg:?}"))),
        1 => Ok(ids.remove(0)),
        n => {
            let more = if n > MAX_CANDIDATES {
                format!(", and {} more", n - MAX_CANDIDATES)
            } else {
                String::new()
            };
            ids.truncate(MAX_CANDIDATES);
            Err(CliError::new(format!(
                "run id prefix {arg:?} is ambiguous, it matches {n} runs: {}{more}",
                ids.join(", ")
            )))
        }
    }
}

fn attempt_list(attempts: &[ExecutionRecord]) -> String {
    attempts
        .iter()
        .map(|p| p.run.attempt.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
