//! `show` for people: the run's header, its tree (or the summary of a big run, or every step
//! as a line), and the root cause.

use chrono::{DateTime, Utc};
use comfy_table::Color;
use tracing_etl::{record::ErrorDetails, ExecutionRecord, RunStatus};

use super::collect::{Counts, Steps, SLOWEST_SHOWN, TREE_STEPS};
use crate::liveness::Liveness;
use crate::output::{
    cut, duration_ms, error_summary, human_ms, rows, status_colour, time, Line, Ui,
};
use crate::table::Cell;

/// Without `--full`, each part of the root cause's error shows at most this many lines...
const CAUSE_LINES: usize = 40;
/// ... and this many characters.
const CAUSE_CHARS: usize = 4_000;

/// A run assembled as a tree.
#[derive(Debug)]
pub(crate) struct Run {
    /// `None` for entities recorded outside any pipeline span.
    pub(crate) pipeline: Option<ExecutionRecord>,
    /// Processes and steps directly under the pipeline, by start time.
    pub(crate) children: Vec<Child>,
}

/// A process with its steps, or a step directly under the pipeline.
#[derive(Debug)]
pub(crate) enum Child {
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
    pub(crate) fn assemble(
        pipeline: Option<ExecutionRecord>,
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

    /// The tree: the pipeline (when there is one), its processes and their steps, the root
    /// cause marked.
    pub(super) fn print(&self, ui: &mut Ui, start: DateTime<Utc>) {
        let root_cause = self.pipeline.as_ref().and_then(|p| p.failed_step_run_id());
        let volume = self.records().any(has_rows);
        let mut table = ui.table(&columns(volume));
        let step_error = |id: &str| self.step(id).map(|s| &s.outcome.error);
        let entity_row = |ui: &Ui, r: &ExecutionRecord, branch: &str, kind: &str| {
            with_rows(
                entity_row(ui, r, branch, kind, start, &step_error),
                ui,
                r,
                volume,
            )
        };
        let step_row = |ui: &Ui, s: &ExecutionRecord, prefix: &str| {
            with_rows(step_row(ui, s, prefix, start, root_cause), ui, s, volume)
        };
        if let Some(p) = &self.pipeline {
            table.add_row(entity_row(ui, p, "", "pipeline"));
        }
        for (i, child) in self.children.iter().enumerate() {
            let last = i + 1 == self.children.len();
            let (branch, indent) = if last {
                ("└─ ", "   ")
            } else {
                ("├─ ", "│  ")
            };
            match child {
                Child::Process(process, steps) => {
                    table.add_row(entity_row(ui, process, branch, "process"));
                    for (j, step) in steps.iter().enumerate() {
                        let step_branch = if j + 1 == steps.len() {
                            "└─ "
                        } else {
                            "├─ "
                        };
                        let prefix = format!("{indent}{step_branch}");
                        table.add_row(step_row(ui, step, &prefix));
                    }
                }
                Child::Step(step) => {
                    table.add_row(step_row(ui, step, branch));
                }
            }
        }
        ui.print_table(&table);
        datasets(ui, self.records());
    }

    /// The pipeline, then each process and its steps, in the order of the tree.
    fn records(&self) -> impl Iterator<Item = &ExecutionRecord> + Clone {
        self.pipeline
            .iter()
            .chain(self.children.iter().flat_map(|c| {
                let (first, steps): (&ExecutionRecord, &[ExecutionRecord]) = match c {
                    Child::Process(p, steps) => (p, steps),
                    Child::Step(s) => (s, &[]),
                };
                std::iter::once(first).chain(steps)
            }))
    }

    /// The step of this run with `step_run_id`.
    pub(crate) fn step(&self, step_run_id: &str) -> Option<&ExecutionRecord> {
        let is = |s: &&ExecutionRecord| s.step_run_id.as_deref() == Some(step_run_id);
        self.children.iter().find_map(|c| match c {
            Child::Step(s) => Some(s).filter(is),
            Child::Process(_, steps) => steps.iter().find(is),
        })
    }
}

/// The header of a table of entities, with `ROWS IN` and `ROWS OUT` when `volume`.
fn columns(volume: bool) -> Vec<&'static str> {
    let mut header = vec!["ENTITY", "KIND", "STATUS", "START", "DURATION"];
    if volume {
        header.extend(["ROWS IN", "ROWS OUT"]);
    }
    header.push("ERROR");
    header
}

/// Whether the record gives rows in or out.
pub(super) fn has_rows(r: &ExecutionRecord) -> bool {
    r.rows_in().is_some() || r.rows_out().is_some()
}

/// `row` (whose last cell is the error) with the record's rows in and out before the error,
/// when `volume`.
fn with_rows(mut row: Vec<Cell>, ui: &Ui, r: &ExecutionRecord, volume: bool) -> Vec<Cell> {
    if volume {
        let error = row.pop().unwrap_or_else(|| "".into());
        row.push(ui.right(rows(r.rows_in())));
        row.push(ui.right(rows(r.rows_out())));
        row.push(error);
    }
    row
}

/// The datasets each entity read and wrote, one line per entity that gives any (the names are
/// text from the history: escaped as every line).
fn datasets<'r>(ui: &mut Ui, records: impl Iterator<Item = &'r ExecutionRecord>) {
    let mut first = true;
    for r in records {
        if r.inputs().is_empty() && r.outputs().is_empty() {
            continue;
        }
        if first {
            ui.line("");
            ui.line("datasets:");
            first = false;
        }
        ui.line(format!("  {} {}", r.kind(), r.name));
        // One name a line: names may hold commas and spaces.
        for (label, list) in [("in ", r.inputs()), ("out", r.outputs())] {
            for dataset in list {
                ui.line(format!("    {label}  {dataset}"));
            }
        }
    }
}

/// The first lines: which run, which attempt, its status and times.
pub(super) fn header(
    ui: &mut Ui,
    run_id: &str,
    pipeline: Option<&ExecutionRecord>,
    later_attempts: &str,
    liveness: Option<(&Liveness, &str)>,
) {
    let Some(p) = pipeline else {
        ui.line(format!("run {run_id}  (no pipeline record)"));
        ui.line(
            "these processes and steps were recorded outside any pipeline span \
             (a task spawned without its span, or a filter that hides the pipeline)",
        );
        ui.line("");
        return;
    };
    let status = match liveness {
        Some((liveness, reason)) => {
            format!("{} ({}: {reason})", p.outcome.status, liveness.as_str())
        }
        None => p.outcome.status.to_string(),
    };
    let status_colour = match liveness.map(|l| l.0) {
        Some(Liveness::Abandoned) => Color::Red,
        _ => status_colour(p.outcome.status),
    };
    ui.line(format!(
        "run {}  pipeline {}  attempt {}{later_attempts}",
        p.run.run_id, p.name, p.run.attempt,
    ));
    ui.line(ui.paint_text(status, status_colour).then(format!(
        "  started {} UTC  took {}",
        time(p.started_at),
        duration_ms(p.outcome.duration_ms)
    )));
    if let Some(correlation_id) = &p.run.correlation_id {
        ui.line(format!("correlation id {correlation_id}"));
    }
    ui.line("");
}

/// The summary of a run too big for a tree: the pipeline and its processes with their step
/// counts, then the first failed steps and the slowest ones.
pub(super) fn summary(
    ui: &mut Ui,
    pipeline: Option<&ExecutionRecord>,
    processes: &[ExecutionRecord],
    steps: &Steps,
    start: DateTime<Utc>,
) {
    let root = steps.root_cause.as_ref();
    let step_error = |id: &str| {
        root.filter(|r| r.step_run_id.as_deref() == Some(id))
            .map(|r| &r.outcome.error)
    };
    let volume = pipeline.into_iter().chain(processes).any(has_rows);
    let mut header = columns(volume);
    header.insert(header.len() - 1, "STEPS");
    let mut table = ui.table(&header);
    let counts = |id: Option<&str>| steps.process_counts(id);
    let mut with_counts = |ui: &Ui, r: &ExecutionRecord, branch: &str, kind: &str, c: Counts| {
        let row = entity_row(ui, r, branch, kind, start, &step_error);
        let mut row = with_rows(row, ui, r, volume);
        let error = row.pop().unwrap_or_else(|| "".into());
        row.push(c.text().into());
        row.push(error);
        table.add_row(row);
    };
    if let Some(p) = pipeline {
        with_counts(ui, p, "", "pipeline", steps.counts);
    }
    for (i, process) in processes.iter().enumerate() {
        let c = counts(process.process_run_id.as_deref());
        let branch = if i + 1 == processes.len() {
            "└─ "
        } else {
            "├─ "
        };
        with_counts(ui, process, branch, "process", c);
    }
    ui.print_table(&table);
    let outside = counts(None);
    if outside.total() > 0 {
        ui.line(format!("steps outside any process: {}", outside.text()));
    }
    ui.line("");
    ui.line(format!(
        "{} steps: {} (more than {TREE_STEPS}: a summary; --all lists every step, --json \
         prints every record)",
        steps.counts.total(),
        steps.counts.text()
    ));
    let root_cause = pipeline.and_then(|p| p.failed_step_run_id());
    let list = |ui: &mut Ui, title: String, rows: &[ExecutionRecord]| {
        if rows.is_empty() {
            return;
        }
        ui.line("");
        ui.line(title);
        let mut table = ui.table(&["STEP", "PROCESS", "STATUS", "START", "DURATION", "ERROR"]);
        for s in rows {
            let mut row = step_row(ui, s, "", start, root_cause);
            // The kind (always "step") makes way for the process.
            row[1] = process_name(processes, s).into();
            table.add_row(row);
        }
        ui.print_table(&table);
    };
    let failed = steps.counts.of(RunStatus::Failed);
    let shown = steps.failed.len();
    list(
        ui,
        if u64::try_from(shown).is_ok_and(|n| n == failed) {
            format!("failed steps ({failed}):")
        } else {
            format!("failed steps (the first {shown} of {failed} to start):")
        },
        &steps.failed,
    );
    list(
        ui,
        format!("slowest steps (at most {SLOWEST_SHOWN}):"),
        &steps.slowest,
    );
}

/// `--all`: every step as one line, printed as the store hands it over (in start order).
#[derive(Debug)]
pub(super) struct StepLines<'a> {
    processes: &'a [ExecutionRecord],
    start: DateTime<Utc>,
    root_cause: Option<&'a str>,
}

impl<'a> StepLines<'a> {
    pub(super) fn new(
        ui: &mut Ui,
        pipeline: Option<&'a ExecutionRecord>,
        processes: &'a [ExecutionRecord],
        start: DateTime<Utc>,
    ) -> Self {
        let mut table = ui.table(&["ENTITY", "KIND", "STATUS", "START", "DURATION", "ERROR"]);
        let none = |_: &str| None;
        if let Some(p) = pipeline {
            table.add_row(entity_row(ui, p, "", "pipeline", start, &none));
        }
        for process in processes {
            table.add_row(entity_row(ui, process, "", "process", start, &none));
        }
        ui.print_table(&table);
        ui.line("");
        ui.line(format!(
            "{:<30}  {:<20}  {:<7}  {:>9}  {:>9}  ERROR",
            "STEP", "PROCESS", "STATUS", "START", "DURATION"
        ));
        StepLines {
            processes,
            start,
            root_cause: pipeline.and_then(|p| p.failed_step_run_id()),
        }
    }

    /// One step's line. Widths are fixed (a streamed list cannot measure its column first):
    /// longer names push the rest of their line to the right.
    pub(super) fn print(&self, ui: &mut Ui, s: &ExecutionRecord) {
        let is_root = self.root_cause.is_some() && self.root_cause == s.step_run_id.as_deref();
        let status = format!("{:<7}", s.outcome.status.as_str());
        let line = Line::from(format!(
            "{:<30}  {:<20}  ",
            s.name,
            process_name(self.processes, s)
        ))
        .then_painted(status, status_colour(s.outcome.status))
        .then(format!(
            "  {:>9}  {:>9}  {}{}",
            offset(self.start, s.started_at),
            duration_ms(s.outcome.duration_ms),
            error_summary(&s.outcome.error),
            if is_root { "  ← root cause" } else { "" },
        ));
        ui.line(line);
    }
}

/// The name of the step's process, `-` for none (or one the store does not have).
fn process_name<'a>(processes: &'a [ExecutionRecord], step: &ExecutionRecord) -> &'a str {
    step.process_run_id
        .as_deref()
        .and_then(|id| {
            processes
                .iter()
                .find(|p| p.process_run_id.as_deref() == Some(id))
        })
        .map_or("-", |p| p.name.as_str())
}

/// `+1.2s` from the run's start (`-` before it).
fn offset(start: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let ms = t.signed_duration_since(start).num_milliseconds();
    if ms < 0 {
        format!("-{}", human_ms(ms.unsigned_abs()))
    } else {
        format!("+{}", human_ms(ms.unsigned_abs()))
    }
}

/// The row of a pipeline or process. Processes and the pipeline carry their first failed step's
/// error: it shows on that step only (`step_error` finds it), and on them only when it is their
/// own (no failed step, or another error, such as a reaped entity's "abandoned").
fn entity_row<'e>(
    ui: &Ui,
    r: &ExecutionRecord,
    branch: &str,
    kind: &str,
    start: DateTime<Utc>,
    step_error: &dyn Fn(&str) -> Option<&'e ErrorDetails>,
) -> Vec<Cell> {
    let e = &r.outcome.error;
    let same_as_step = r
        .failed_step_run_id()
        .and_then(step_error)
        .is_some_and(|s| error_summary(s) == error_summary(e));
    let error = if same_as_step {
        String::new()
    } else {
        error_summary(e)
    };
    vec![
        format!("{branch}{}", r.name).into(),
        kind.into(),
        ui.status(r.outcome.status),
        ui.right(offset(start, r.started_at)),
        ui.right(duration_ms(r.outcome.duration_ms)),
        error.into(),
    ]
}

fn step_row(
    ui: &Ui,
    s: &ExecutionRecord,
    prefix: &str,
    start: DateTime<Utc>,
    root_cause: Option<&str>,
) -> Vec<Cell> {
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
    vec![
        name,
        "step".into(),
        ui.status(s.outcome.status),
        ui.right(offset(start, s.started_at)),
        ui.right(duration_ms(s.outcome.duration_ms)),
        error_summary(&s.outcome.error).into(),
    ]
}

/// The root cause: type, message and the error as recorded, cut to [`CAUSE_LINES`] lines and
/// [`CAUSE_CHARS`] characters each unless `full`.
pub(super) fn cause(
    ui: &mut Ui,
    pipeline: &ExecutionRecord,
    step: Option<&ExecutionRecord>,
    full: bool,
) {
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
            match &pipeline.root_cause {
                Some(cause) => ui.line(format!("root cause: step {}", cause.step)),
                None => ui.line("root cause: an error in the pipeline or a process"),
            }
            &pipeline.outcome.error
        }
    };
    let message = error.message.as_ref();
    // The full form only when it says more than the message.
    let full_form = error.full.as_ref().filter(|e| Some(*e) != message);
    for (label, value) in [
        ("type", error.type_name.as_ref()),
        ("message", message),
        ("error", full_form),
    ] {
        let Some(value) = value else { continue };
        let (shown, cut_off) = if full {
            (value.as_str(), false)
        } else {
            let text = cut(value, CAUSE_CHARS);
            let text = match text.match_indices('\n').nth(CAUSE_LINES - 1) {
                Some((at, _)) => &text[..at],
                None => text,
            };
            (text, text.len() < value.len())
        };
        let mut lines = shown.lines();
        ui.line(format!("  {label:<8} {}", lines.next().unwrap_or("")));
        for more in lines {
            ui.line(format!("  {:<8} {more}", ""));
        }
        if cut_off {
            ui.line(format!(
                "  {:<8} … cut: {} characters, {} lines in all (--full or --json shows all)",
                "",
                value.chars().count(),
                value.lines().count()
            ));
        }
    }
}
