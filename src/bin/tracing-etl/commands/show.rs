//! `tracing-etl show RUN_ID`: one run as a tree — the pipeline, its processes and their steps,
//! and steps directly under the pipeline — with the root cause of a failure marked.

use std::time::Duration;

use chrono::{DateTime, Utc};
use comfy_table::Color;
use serde_json::Value;
use tracing_etl::{
    PipelineRunRecord, ProcessRunRecord, RecordReader, RunFilter, RunStatus, StepRunRecord,
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
    attempts.sort_by_key(|p| p.attempt);
    let pipeline = match args.attempt {
        Some(n) => attempts.iter().find(|p| p.attempt == n).ok_or_else(|| {
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
        .attempt(pipeline.attempt);
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
    let liveness = if pipeline.status == RunStatus::Running {
        let recorders = Recorders::read(store, Utc::now(), Duration::from_secs(30))?;
        Some(recorders.judge(pipeline.clone().into()))
    } else {
        None
    };
    run.print(
        ui,
        liveness.as_ref().map(|l| (&l.liveness, l.reason.as_str())),
    );
    let others: Vec<_> = attempts
        .iter()
        .filter(|p| p.attempt != pipeline.attempt)
        .collect();
    if !others.is_empty() {
        let list: Vec<String> = others
            .iter()
            .map(|p| format!("{} ({})", p.attempt, p.status))
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
) -> Result<(String, Vec<PipelineRunRecord>), CliError> {
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
            .map(|p| p.run_id)
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
        if !ids.contains(&p.run_id) {
            ids.push(p.run_id);
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

fn attempt_list(attempts: &[PipelineRunRecord]) -> String {
    attempts
        .iter()
        .map(|p| p.attempt.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A run assembled as a tree.
#[derive(Debug)]
struct Run {
    pipeline: PipelineRunRecord,
    /// Processes and steps directly under the pipeline, by start time.
    children: Vec<Child>,
}

#[derive(Debug)]
enum Child {
    Process(ProcessRunRecord, Vec<StepRunRecord>),
    Step(StepRunRecord),
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
        pipeline: PipelineRunRecord,
        processes: Vec<ProcessRunRecord>,
        steps: Vec<StepRunRecord>,
    ) -> Self {
        let mut children: Vec<Child> = processes
            .into_iter()
            .map(|p| Child::Process(p, Vec::new()))
            .collect();
        for step in steps {
            let parent = step.process_run_id.as_deref().and_then(|id| {
                children.iter_mut().find_map(|c| match c {
                    Child::Process(p, steps) if p.process_run_id == id => Some(steps),
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
        let step_json = |s: &StepRunRecord| -> Value {
            record_json(ui, s, s.trace_id.as_deref(), s.span_id.as_deref()).into()
        };
        let p = &self.pipeline;
        let mut object = record_json(ui, p, p.trace_id.as_deref(), p.span_id.as_deref());
        let mut processes = Vec::new();
        let mut steps = Vec::new();
        for child in &self.children {
            match child {
                Child::Process(process, process_steps) => {
                    let mut o = record_json(
                        ui,
                        process,
                        process.trace_id.as_deref(),
                        process.span_id.as_deref(),
                    );
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
            Some((liveness, reason)) => format!("{} ({}: {reason})", p.status, liveness.as_str()),
            None => p.status.to_string(),
        };
        let status_colour = match (p.status, liveness.map(|l| l.0)) {
            (RunStatus::Success, _) => Color::Green,
            (RunStatus::Failed, _) | (_, Some(Liveness::Abandoned)) => Color::Red,
            (RunStatus::Running, _) => Color::Yellow,
        };
        ui.line(format!(
            "run {}  pipeline {}  attempt {}{}",
            p.run_id,
            p.pipeline,
            p.attempt,
            if p.last_attempt {
                ""
            } else {
                " (not the last)"
            }
        ));
        ui.line(format!(
            "{}  started {} UTC  took {}",
            ui.paint_text(&status, status_colour),
            time(p.started_at),
            duration_ms(p.duration_ms)
        ));
        if let Some(correlation_id) = &p.correlation_id {
            ui.line(format!("correlation id {correlation_id}"));
        }
        ui.line("");

        let root_cause = p.failed_step_run_id.as_deref();
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
        let own_error =
            |failed_step_run_id: &Option<String>, t: &Option<String>, m: &Option<String>| {
                let same_as_step = failed_step_run_id
                    .as_deref()
                    .and_then(|id| self.step(id))
                    .is_some_and(|s| (&s.error_type, &s.error_message) == (t, m));
                if same_as_step {
                    String::new()
                } else {
                    error_summary(t.as_deref(), m.as_deref())
                }
            };
        table.add_row(vec![
            p.pipeline.as_str().into(),
            "pipeline".into(),
            ui.status(p.status),
            ui.right(offset(p.started_at)),
            ui.right(duration_ms(p.duration_ms)),
            own_error(&p.failed_step_run_id, &p.error_type, &p.error_message).into(),
        ]);
        let step_row = |table: &mut comfy_table::Table, s: &StepRunRecord, prefix: String| {
            let is_root = root_cause == Some(s.step_run_id.as_str());
            let name = if is_root {
                ui.paint(
                    format!("{prefix}{}  ← root cause", s.step).into(),
                    Some(Color::Red),
                    true,
                )
            } else {
                format!("{prefix}{}", s.step).into()
            };
            table.add_row(vec![
                name,
                "step".into(),
                ui.status(s.status),
                ui.right(offset(s.started_at)),
                ui.right(duration_ms(s.duration_ms)),
                error_summary(s.error_type.as_deref(), s.error_message.as_deref()).into(),
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
                        format!("{branch}{}", process.process).into(),
                        "process".into(),
                        ui.status(process.status),
                        ui.right(offset(process.started_at)),
                        ui.right(duration_ms(process.duration_ms)),
                        own_error(
                            &process.failed_step_run_id,
                            &process.error_type,
                            &process.error_message,
                        )
                        .into(),
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

        if p.status == RunStatus::Failed {
            self.print_cause(ui);
        }
        if let Some(trace) = ui.trace_text(p.trace_id.as_deref(), p.span_id.as_deref()) {
            ui.line(format!("trace: {trace}"));
        }
    }

    /// The step of this run with `step_run_id`.
    fn step(&self, step_run_id: &str) -> Option<&StepRunRecord> {
        self.children.iter().find_map(|c| match c {
            Child::Step(s) => (s.step_run_id == step_run_id).then_some(s),
            Child::Process(_, steps) => steps.iter().find(|s| s.step_run_id == step_run_id),
        })
    }

    /// The root cause in full: type, message and the error as recorded.
    fn print_cause(&self, ui: &mut Ui) {
        let p = &self.pipeline;
        let step = p.failed_step_run_id.as_deref().and_then(|id| self.step(id));
        ui.line("");
        let (error_type, message, error) = match step {
            Some(s) => {
                ui.line(format!(
                    "root cause: step {} (step_run_id {})",
                    s.step, s.step_run_id
                ));
                (&s.error_type, &s.error_message, &s.error)
            }
            None => {
                match &p.failed_step {
                    Some(name) => ui.line(format!("root cause: step {name}")),
                    None => ui.line("root cause: an error in the pipeline or a process"),
                }
                (&p.error_type, &p.error_message, &p.error)
            }
        };
        // The full form only when it says more than the message.
        let error = error.as_ref().filter(|e| Some(*e) != message.as_ref());
        for (label, value) in [
            ("type", error_type.as_ref()),
            ("message", message.as_ref()),
            ("error", error),
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
