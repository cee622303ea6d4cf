//! What the pages and the API read from the store: the same questions as the subcommands,
//! answered with the subcommands' own code.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use tracing_etl::store::{RecordReader, RunFilter};
use tracing_etl::{ExecutionRecord, RunStatus};

use super::error::WebError;
use super::query::ListQuery;
use crate::commands::show::{pick_attempt, Run, Steps};
use crate::error::CliError;
use crate::liveness::{self, Recorders, RunningEntity};

/// How long a recorder may go without a heartbeat before its runs count as abandoned (as the
/// CLI's default `--grace`).
pub(crate) const GRACE: Duration = Duration::from_secs(30);

/// One page of a list.
#[derive(Debug)]
pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    /// Whether a further page has rows.
    pub(crate) has_next: bool,
}

/// The page of `rows` (the rows up to this page's end, and one more) that `query` asks for.
fn page_of<T>(rows: Vec<T>, query: &ListQuery) -> Page<T> {
    let mut items: Vec<T> = rows.into_iter().skip(query.offset()).collect();
    let has_next = items.len() > query.per_page;
    items.truncate(query.per_page);
    Page { items, has_next }
}

/// Pipeline runs, newest first.
pub(crate) fn runs(
    store: &mut dyn RecordReader,
    query: &ListQuery,
) -> Result<Page<ExecutionRecord>, WebError> {
    let rows = store.read_pipelines(&query.filter())?;
    Ok(page_of(rows, query))
}

/// One attempt of a run, with every recorded attempt of it and, while it runs, whether its
/// recorder is alive.
#[derive(Debug)]
pub(crate) struct RunView {
    /// The attempt's pipeline record.
    pub(crate) pipeline: ExecutionRecord,
    /// Its processes and the steps drawn, as a tree: every step of a run of at most
    /// 1,000 steps (as `show` draws a tree); of a bigger one, the sample, the failed and the slowest steps of
    /// [`RunView::steps`].
    pub(crate) run: Run,
    /// Every step of the attempt summed up as it streamed from the store (its `all` emptied
    /// into [`RunView::run`]): counts, the first failed, the slowest, the root cause whole, and
    /// whether the run was too big to draw whole.
    pub(crate) steps: Steps,
    /// Every attempt's pipeline record, by attempt number.
    pub(crate) attempts: Vec<ExecutionRecord>,
    pub(crate) liveness: Option<RunningEntity>,
}

/// The run `run_id` (an exact run id), attempt `attempt` or its last one.
pub(crate) fn run(
    store: &mut dyn RecordReader,
    run_id: &str,
    attempt: Option<u32>,
) -> Result<RunView, WebError> {
    let attempts = store.read_pipelines(&RunFilter::default().run_id(run_id))?;
    if attempts.is_empty() {
        return Err(WebError::not_found(format!("no run {run_id:?} recorded")));
    }
    view(store, run_id, attempts, attempt).map_err(|e| match e {
        ViewError::NoAttempt(e) => WebError::not_found(e.to_string()),
        ViewError::Store(e) => e.into(),
    })
}

/// Why [`view`] failed: no such attempt, or the store.
pub(crate) enum ViewError {
    NoAttempt(CliError),
    Store(CliError),
}

/// The attempt `attempt` (else the last) of the run `run_id` whose pipeline records are
/// `attempts`, read with its processes, steps and, while it runs, its recorder's liveness.
pub(crate) fn view(
    store: &mut dyn RecordReader,
    run_id: &str,
    mut attempts: Vec<ExecutionRecord>,
    attempt: Option<u32>,
) -> Result<RunView, ViewError> {
    attempts.sort_by_key(|p| p.run.attempt);
    let pipeline = pick_attempt(run_id, &attempts, attempt)
        .map_err(ViewError::NoAttempt)?
        .ok_or_else(|| {
            ViewError::NoAttempt(CliError::new(format!(
                "run {run_id} has no pipeline record"
            )))
        })?
        .clone();
    let liveness = if pipeline.outcome.status == RunStatus::Running {
        let recorders = Recorders::read(store, Utc::now(), GRACE).map_err(ViewError::Store)?;
        Some(recorders.judge(pipeline.clone()))
    } else {
        None
    };
    let filter = RunFilter::default()
        .run_id(run_id)
        .attempt(pipeline.run.attempt);
    let processes = store
        .read_processes(&filter)
        .map_err(CliError::from)
        .map_err(ViewError::Store)?;
    let mut steps = Steps::read(store, &filter, pipeline.failed_step_run_id())
        .map_err(CliError::from)
        .map_err(ViewError::Store)?;
    let drawn = if steps.too_many {
        drawn_steps(&steps)
    } else {
        std::mem::take(&mut steps.all)
    };
    let run = Run::assemble(Some(pipeline.clone()), processes, drawn);
    Ok(RunView {
        pipeline,
        run,
        steps,
        attempts,
        liveness,
    })
}

/// The steps a big run's timeline draws: the sample, the failed steps kept, the slowest and the
/// root cause, each once, in start order.
fn drawn_steps(steps: &Steps) -> Vec<ExecutionRecord> {
    let mut seen = HashSet::new();
    let mut drawn: Vec<ExecutionRecord> = steps
        .sample
        .steps
        .iter()
        .chain(&steps.failed)
        .chain(&steps.slowest)
        .chain(steps.root_cause.as_ref())
        .filter(|s| seen.insert((s.step_run_id.clone(), s.started_at)))
        .cloned()
        .collect();
    drawn.sort_by_key(|s| s.started_at);
    drawn
}

/// A failed run and, when a later attempt of it was recorded, that attempt.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) record: ExecutionRecord,
    pub(crate) latest: Option<ExecutionRecord>,
}

/// Failed runs, newest first, each with the latest attempt of its run.
pub(crate) fn failures(
    store: &mut dyn RecordReader,
    query: &ListQuery,
) -> Result<Page<Failure>, WebError> {
    let query = ListQuery {
        status: Some(RunStatus::Failed),
        ..query.clone()
    };
    let page = runs(store, &query)?;
    // Every attempt of the page's runs in one read, the latest of each kept.
    let mut latest: HashMap<String, ExecutionRecord> = HashMap::new();
    if !page.items.is_empty() {
        let mut ids: Vec<&str> = page.items.iter().map(|r| r.run.run_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        for p in store.read_pipelines(&RunFilter::default().run_ids(ids))? {
            match latest.get(&p.run.run_id) {
                Some(l) if l.run.attempt >= p.run.attempt => {}
                _ => {
                    latest.insert(p.run.run_id.clone(), p);
                }
            }
        }
    }
    let items = page
        .items
        .into_iter()
        .map(|record| {
            let latest = latest
                .get(&record.run.run_id)
                .filter(|p| p.run.attempt > record.run.attempt)
                .cloned();
            Failure { record, latest }
        })
        .collect();
    Ok(Page {
        items,
        has_next: page.has_next,
    })
}

/// Everything still running, oldest first, judged live or abandoned.
pub(crate) fn running(store: &mut dyn RecordReader) -> Result<Vec<RunningEntity>, WebError> {
    Ok(liveness::running_entities(store, Utc::now(), GRACE, None)?)
}

/// One pipeline's last runs, newest first, and the steps of each.
#[derive(Debug)]
pub(crate) struct PipelineView {
    /// The pipeline's name.
    pub(crate) name: String,
    pub(crate) runs: Vec<ExecutionRecord>,
    pub(crate) steps_by_run: Vec<Vec<ExecutionRecord>>,
}

/// How many runs the pipeline page looks back over, unless `?runs=N` says otherwise.
pub(crate) const DEFAULT_PIPELINE_RUNS: usize = 50;
/// The most runs the pipeline page looks back over (it reads the steps of each).
pub(crate) const MAX_PIPELINE_RUNS: usize = 200;

/// The last `runs` runs of pipeline `name` with their steps.
pub(crate) fn pipeline(
    store: &mut dyn RecordReader,
    name: String,
    runs: usize,
) -> Result<PipelineView, WebError> {
    let records = store.read_pipelines(
        &RunFilter::default()
            .name(name.clone())
            .newest_first()
            .limit(runs),
    )?;
    if records.is_empty() {
        return Err(WebError::not_found(format!(
            "no run of pipeline {name:?} recorded"
        )));
    }
    let mut steps_by_run = Vec::with_capacity(records.len());
    for r in &records {
        let filter = RunFilter::default()
            .run_id(r.run.run_id.clone())
            .attempt(r.run.attempt);
        steps_by_run.push(store.read_steps(&filter)?);
    }
    Ok(PipelineView {
        name,
        runs: records,
        steps_by_run,
    })
}
