//! `tracing-etl show RUN_ID`: one run as a tree — the pipeline, its processes and their steps,
//! and steps directly under the pipeline — with the root cause of a failure marked.

use std::time::Duration;

use chrono::{DateTime, Utc};
use comfy_table::Color;
use serde_json::Value;
use tracing_etl::{
    record::ErrorDetails,
    store::{RecordReader, RunFilter},
    ExecutionRecord, RunStatus,
};

use crate::args::ShowArgs;
use crate::error::CliError;
use crate::liveness::{Liveness, Recorders};
use crate::output::{duration_ms, error_summary, human_ms, record_json, time, Ui};

/// The keyword for the newest run.
const LATEST: &str = "latest";
/// Ambiguous prefixes list at most this many candidates.
const MAX_CANDIDATES: usize = 10;

pub(crate) fn run(
    store: &mut dyn RecordReader,
    args: &ShowArgs,
    ui: &mut Ui,
) -> Result<u8, CliError> {
    let (run_id, mut attempts) = resolve(store, &args.run)?;
    attempts.sort_by_key(|p| p.run.attempt);
    let pipeline = match args.attempt {
        Some(n) => attempts
            .iter()
            .find(|p| p.run.attempt == n)
            .ok_or_else(|| {
                CliError::new(format!(
                    "run {run_id} has no attempt {n} (recorded: {})",
                    attempt_list(&attempts)
                ))
            })?,
        None => attempts
            .last()
            .ok_or_else(|| CliError::new(format!("run {run_id} has no pipeline record")))?,
    };
    let filter = RunFilter::default()
        .run_id(run_id.clone())
        .attempt(pipeline.run.attempt);
    let run = Run::assemble(
        pipeline.clone(),
        store.read_processes(&filter)?,
        store.read_steps(&filter)?,
    );

    if ui.json {
        let json = run.to_json(ui);
        ui.print_json(&json);
        return Ok(0);
    }
    let liveness = if pipeline.outcome.status == RunStatus::Running {
        let recorders = Recorders::read(store, Utc::now(), Duration::from_secs(30))?;
        Some(recorders.judge(pipeline.clone()))
    } else {
        None
    };
    run.print(
        ui,
        liveness.as_ref().map(|l| (&l.liveness, l.reason.as_str())),
    );
    let others: Vec<_> = attempts
        .iter()
        .filter(|p| p.run.attempt != pipeline.run.attempt)
        .collect();
    if !others.is_empty() {
        let list: Vec<String> = others
            .iter()
            .map(|p| format!("{} ({})", p.run.attempt, p.outcome.status))
            .collect();
        ui.line(format!("other attempts: {} (--attempt N)", list.join(", ")));
    }
    Ok(0)
}

/// The run that `arg` names — an exact run id, `latest`, or the one run id it is a prefix of —
/// with its recorded attempts.
fn resolve(
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

/// A run assembled as a tree.
#[derive(Debug)]
struct Run {
    pipeline: ExecutionRecord,
    /// Processes and steps directly under the pipeline, by start time.
    children: Vec<Child>,
}

#[derive(Debug)]
enum Child {
    Process(ExecutionRecord, Vec<ExecutionRecord>),
    Step(ExecutionRecord),
}

impl Child {
    fn started_at(&self) -> DateTime<Utc> {
        match self {
            Child::Process(p, _) => p.started_at,
            Child::Step(s) => s.started_at,
        }
    }
}

impl Run {
    /// Steps go under their process; a step in no process (or in one the store does not have)
    /// goes under the pipeline.
    fn assemble(
        pipeline: ExecutionRecord,
        processes: Vec<ExecutionRecord>,
        steps: Vec<ExecutionRecord>,
    ) -> Self {
        let mut children: Vec<Child> = processes
            .into_iter()
            .map(|p| Child::Process(p, Vec::new()))
            .collect();
        for step in steps {
            let parent = step.process_run_id.as_deref().and_then(|id| {
                children.iter_mut().find_map(|c| match c {
                    Child::Process(p, steps) if p.process_run_id.as_deref() == Some(id) => {
                        Some(steps)
                    }
                    _ => None,
                })
            });
            match parent {
                Some(steps) => steps.push(step),
                None => children.push(Child::Step(step)),
            }
        }
        for child in &mut children {
            if let Child::Process(_, steps) = child {
                steps.sort_by_key(|s| s.started_at);
            }
        }
        children.sort_by_key(Child::started_at);
        Run { pipeline, children }
    }

    fn to_json(&self, ui: &Ui) -> Value {
        let step_json = |s: &ExecutionRecord| -> Value { record_json(ui, s, false).into() };
        let mut object = record_json(ui, &self.pipeline, false);
        let mut processes = Vec::new();
        let mut steps = Vec::new();
        for child in &self.children {
            match child {
                Child::Process(process, process_steps) => {
                    let mut o = record_json(ui, process, false);
                    o.insert(
                        "steps".into(),
                        Value::Array(process_steps.iter().map(step_json).collect()),
                    );
                    processes.push(Value::Object(o));
                }
                Child::Step(step) => steps.push(step_json(step)),
            }
        }
        object.insert("processes".into(), Value::Array(processes));
        object.insert("steps".into(), Value::Array(steps));
        Value::Object(object)
    }

    fn print(&self, ui: &mut Ui, liveness: Option<(&Liveness, &str)>) {
        let p = &self.pipeline;
        let status = match liveness {
            Some((liveness, reason)) => {
                format!("{} ({}: {reason})", p.outcome.status, liveness.as_str())
            }
            None => p.outcome.status.to_string(),
        };
        let status_colour = match (p.outcome.status, liveness.map(|l| l.0)) {
            (RunStatus::Success, _) => Color::Green,
            (RunStatus::Failed, _) | (_, Some(Liveness::Abandoned)) => Color::Red,
            (RunStatus::Running, _) => Color::Yellow,
        };
        ui.line(format!(
            "run {}  pipeline {}  attempt {}{}",
            p.run.run_id,
            p.name,
            p.run.attempt,
            if p.run.last_attempt {
                ""
            } else {
                " (not the last)"
            }
        ));
        ui.line(format!(
            "{}  started {} UTC  took {}",
            ui.paint_text(&status, status_colour),
            time(p.started_at),
            duration_ms(p.outcome.duration_ms)
        ));
        if let Some(correlation_id) = &p.run.correlation_id {
            ui.line(format!("correlation id {correlation_id}"));
        }
        ui.line("");

        let root_cause = p.failed_step_run_id();
        let mut table = ui.table(&["ENTITY", "KIND", "STATUS", "START", "DURATION", "ERROR"]);
        let start = p.started_at;
        let offset = |t: DateTime<Utc>| {
            let ms = t.signed_duration_since(start).num_milliseconds();
            if ms < 0 {
                format!("-{}", human_ms(ms.unsigned_abs()))
            } else {
                format!("+{}", human_ms(ms.unsigned_abs()))
            }
        };
        // Processes and the pipeline carry their first failed step's error: show it on that
        // step only, and on them only when it is their own (no failed step, or another error,
        // such as a reaped entity's "abandoned").
        let own_error = |r: &ExecutionRecord| {
            let e = &r.outcome.error;
            let same_as_step = r
                .failed_step_run_id()
                .and_then(|id| self.step(id))
                .is_some_and(|s| {
                    let s = &s.outcome.error;
                    (&s.type_name, &s.message) == (&e.type_name, &e.message)
                });
            if same_as_step {
                String::new()
            } else {
                error_summary(e)
            }
        };
        table.add_row(vec![
            p.name.as_str().into(),
            "pipeline".into(),
            ui.status(p.outcome.status),
            ui.right(offset(p.started_at)),
            ui.right(duration_ms(p.outcome.duration_ms)),
            own_error(p).into(),
        ]);
        let step_row = |table: &mut comfy_table::Table, s: &ExecutionRecord, prefix: String| {
            let is_root = root_cause.is_some() && root_cause == s.step_run_id.as_deref();
            let name = if is_root {
                ui.paint(
                    format!("{prefix}{}  ← root cause", s.name).into(),
                    Some(Color::Red),
                    true,
                )
            } else {
                format!("{prefix}{}", s.name).into()
            };
            table.add_row(vec![
                name,
                "step".into(),
                ui.status(s.outcome.status),
                ui.right(offset(s.started_at)),
                ui.right(duration_ms(s.outcome.duration_ms)),
                error_summary(&s.outcome.error).into(),
            ]);
        };
        for (i, child) in self.children.iter().enumerate() {
            let last = i + 1 == self.children.len();
            let (branch, indent) = if last {
                ("└─ ", "   ")
            } else {
                ("├─ ", "│  ")
            };
            match child {
                Child::Process(process, steps) => {
                    table.add_row(vec![
                        format!("{branch}{}", process.name).into(),
                        "process".into(),
                        ui.status(process.outcome.status),
                        ui.right(offset(process.started_at)),
                        ui.right(duration_ms(process.outcome.duration_ms)),
                        own_error(process).into(),
                    ]);
                    for (j, step) in steps.iter().enumerate() {
                        let step_branch = if j + 1 == steps.len() {
                            "└─ "
                        } else {
                            "├─ "
                        };
                        step_row(&mut table, step, format!("{indent}{step_branch}"));
                    }
                }
                Child::Step(step) => step_row(&mut table, step, branch.to_owned()),
            }
        }
        ui.print_table(&table);

        if p.outcome.status == RunStatus::Failed {
            self.print_cause(ui);
        }
        if let Some(trace) = ui.trace_text(p.trace_id.as_deref(), p.span_id.as_deref()) {
            ui.line(format!("trace: {trace}"));
        }
    }

    /// The step of this run with `step_run_id`.
    fn step(&self, step_run_id: &str) -> Option<&ExecutionRecord> {
        let is = |s: &&ExecutionRecord| s.step_run_id.as_deref() == Some(step_run_id);
        self.children.iter().find_map(|c| match c {
            Child::Step(s) => Some(s).filter(is),
            Child::Process(_, steps) => steps.iter().find(is),
        })
    }

    /// The root cause in full: type, message and the error as recorded.
    fn print_cause(&self, ui: &mut Ui) {
        let p = &self.pipeline;
        let step = p.failed_step_run_id().and_then(|id| self.step(id));
        ui.line("");
        let error: &ErrorDetails = match step {
            Some(s) => {
                ui.line(format!(
                    "root cause: step {} (step_run_id {})",
                    s.name,
                    s.step_run_id.as_deref().unwrap_or_default()
                ));
                &s.outcome.error
            }
            None => {
                match &p.root_cause {
                    Some(cause) => ui.line(format!("root cause: step {}", cause.step)),
                    None => ui.line("root cause: an error in the pipeline or a process"),
                }
                &p.outcome.error
            }
        };
        let message = error.message.as_ref();
        // The full form only when it says more than the message.
        let full = error.full.as_ref().filter(|e| Some(*e) != message);
        for (label, value) in [
            ("type", error.type_name.as_ref()),
            ("message", message),
            ("error", full),
        ] {
            if let Some(value) = value {
                let mut lines = value.lines();
                ui.line(format!("  {label:<8} {}", lines.next().unwrap_or("")));
                for more in lines {
                    ui.line(format!("  {:<8} {more}", ""));
                }
            }
        }
    }
}
