//! What the page of a run too big to draw whole shows besides its sampled timeline: counts of
//! every step by status (in all and per process), the first failed steps and the slowest.

use chrono::{DateTime, Utc};
use maud::{html, Markup};
use tracing_etl::{ExecutionRecord, RunStatus};

use super::{status, when};
use crate::commands::show::{Child, Counts, Run, Steps, FAILED_SHOWN};
use crate::output::{duration_ms, error_summary, human_ms};

/// What the sampled timeline draws, said over it.
pub(crate) fn sample_note(steps: &Steps) -> Markup {
    let total = steps.counts.total();
    html! {
        p.note.sampled {
            "This run has " (total) " steps: the timeline draws a sample of them — "
            (every(steps.sample.stride)) " in start order (" (steps.sample.steps.len())
            " steps) — and, in full, the first " (steps.failed.len()) " failed steps, the "
            (steps.slowest.len()) " slowest and the root cause, each under its process. The counts and lists below are of every step."
        }
    }
}

/// `every step`, `every 2nd step`, `every 1024th step`: the stride in words.
fn every(n: u64) -> String {
    match n {
        1 => "every step".to_owned(),
        _ => {
            let suffix = match (n % 10, n % 100) {
                (_, 11..=13) => "th",
                (1, _) => "st",
                (2, _) => "nd",
                (3, _) => "rd",
                _ => "th",
            };
            format!("every {n}{suffix} step")
        }
    }
}

/// The counts and the lists of failed and slowest steps.
pub(crate) fn summary(run: &Run, steps: &Steps, start: DateTime<Utc>) -> Markup {
    let failed = steps.counts.of(RunStatus::Failed);
    html! {
        section.summary id="step-summary" {
            h2 { "Steps" }
            table.counts {
                thead { tr { th { "Process" } th { "Steps" } (count_heads()) } }
                tbody {
                    tr.total { td { strong { "all" } } (count_cells(&steps.counts)) }
                    @for child in &run.children {
                        @if let Child::Process(p, _) = child {
                            @let c = steps.process_counts(p.process_run_id.as_deref());
                            tr data-process-run-id=(p.process_run_id.as_deref().unwrap_or("")) {
                                td { (p.name) } (count_cells(&c))
                            }
                        }
                    }
                    @let outside = steps.process_counts(None);
                    @if outside.total() > 0 {
                        tr { td.note { "outside any process" } (count_cells(&outside)) }
                    }
                }
            }
            @if !steps.failed.is_empty() {
                h2 { "Failed steps"
                    @if failed > steps.failed.len() as u64 {
                        span.note { " (the first " (FAILED_SHOWN) " of " (failed) " to start)" }
                    }
                }
                (step_table("failed-steps", &steps.failed, start))
            }
            @if !steps.slowest.is_empty() {
                h2 { "Slowest steps" }
                (step_table("slowest-steps", &steps.slowest, start))
            }
        }
    }
}

fn count_heads() -> Markup {
    html! { @for s in RunStatus::ALL { th.num { (s.as_str()) } } }
}

fn count_cells(c: &Counts) -> Markup {
    html! {
        td.num { (c.total()) }
        @for s in RunStatus::ALL { td.num { (c.of(s)) } }
    }
}

fn step_table(id: &str, rows: &[ExecutionRecord], start: DateTime<Utc>) -> Markup {
    html! {
        table.steps id=(id) {
            thead { tr {
                th { "Step" } th { "Step run id" } th { "Status" } th { "Started (UTC)" }
                th { "At" } th { "Duration" } th { "Error" }
            } }
            tbody {
                @for s in rows {
                    tr data-step-run-id=(s.step_run_id.as_deref().unwrap_or("")) {
                        td { (s.name) }
                        td.mono { (s.step_run_id.as_deref().unwrap_or("")) }
                        td { (status(s.outcome.status)) }
                        td { (when(s.started_at)) }
                        td.num { "+" (human_ms(offset_ms(start, s.started_at))) }
                        td.num { (duration_ms(s.outcome.duration_ms)) }
                        td { (error_summary(&s.outcome.error)) }
                    }
                }
            }
        }
    }
}

fn offset_ms(start: DateTime<Utc>, at: DateTime<Utc>) -> u64 {
    u64::try_from(at.signed_duration_since(start).num_milliseconds()).unwrap_or(0)
}
