//! `/runs/{run_id}` (`?attempt=N`): one attempt of a run as a timeline, the root cause of its
//! failure, its other attempts and its trace. A run of more steps than `show` draws as a tree
//! is read as `show` sums it up, in memory that does not grow with the run: its timeline draws
//! a sample of the steps, and the page adds the counts, the failed and the slowest steps.

use chrono::Utc;
use maud::{html, Markup};
use tracing_etl::record::ErrorDetails;
use tracing_etl::{ExecutionRecord, RunStatus};

use super::run_summary::{sample_note, summary};
use super::timeline::{timeline, MAX_BARS};
use super::{layout, pipeline_page_href, run_href, status, took, trace_link, when, Render};
use crate::liveness::Liveness;
use crate::output::TraceUrl;
use crate::serve::query::percent_encode;
use crate::serve::read::RunView;
use crate::serve::AppState;

impl Render for RunView {
    fn render(&self, state: &AppState) -> Markup {
        let p = &self.pipeline;
        layout(
            &format!("Run {}", p.run.run_id),
            p.outcome.status == RunStatus::Running,
            body(self, state.trace_url.as_ref(), Links::Served),
        )
    }
}

/// What a run's page links to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Links {
    /// Served: the pipeline's page, the other attempts, the JSON.
    Served,
    /// A file on its own (`tracing-etl report`): only the trace link, which leaves the server.
    Standalone,
}

/// The run page's content.
pub(crate) fn body(view: &RunView, trace_url: Option<&TraceUrl>, links: Links) -> Markup {
    let now = Utc::now();
    let p = &view.pipeline;
    let served = links == Links::Served;
    let (svg, left_out) = timeline(&view.pipeline, &view.run, now);
    let trace = trace_url.and_then(|t| t.link(p.trace_id.as_deref(), p.span_id.as_deref()));
    let api = format!(
        "/api/v1/runs/{}?attempt={}",
        percent_encode(&p.run.run_id),
        p.run.attempt
    );
    html! {
            h1 { "Run " code { (p.run.run_id) } }
            table.facts {
                tr { th { "Pipeline" } td {
                    @if served { a href=(pipeline_page_href(&p.name)) { (p.name) } } @else { (p.name) }
                } }
                tr { th { "Attempt" } td {
                    (p.run.attempt)
                    @if view.attempts.iter().any(|a| a.run.attempt > p.run.attempt) { span.note { " (not the last)" } }
                } }
                tr { th { "Status" } td {
                    (status(p.outcome.status))
                    @if let Some(l) = &view.liveness {
                        " "
                        span class=(if l.liveness == Liveness::Abandoned { "abandoned" } else { "note" }) {
                            "(" (l.liveness.as_str()) ": " (l.reason) ")"
                        }
                    }
                } }
                tr { th { "Started (UTC)" } td { (when(p.started_at)) } }
                tr { th { "Duration" } td { (took(p, now)) } }
                @if let Some(c) = &p.run.correlation_id {
                    tr { th { "Correlation id" } td.mono { (c) } }
                }
                @if let Some(url) = &trace {
                    tr { th { "Trace" } td { (trace_link(url)) } }
                }
            }
            @if p.outcome.status == RunStatus::Failed {
                (cause(&view.pipeline, view.steps.root_cause.as_ref()))
            }
            h2 { "Timeline" }
            @if view.steps.too_many {
                (sample_note(&view.steps))
            }
            (svg)
            @if left_out > 0 {
                p.note { "The first " (MAX_BARS) " bars are drawn; " (left_out) " more are not." }
            }
            @if view.steps.too_many {
                (summary(&view.run, &view.steps, p.started_at))
            }
            @if view.attempts.len() > 1 {
                h2 { "Attempts" }
                ul.attempts {
                    @for a in &view.attempts {
                        li {
                            @if a.run.attempt == p.run.attempt {
                                strong { "attempt " (a.run.attempt) }
                            } @else if !served {
                                "attempt " (a.run.attempt)
                            } @else {
                                a href=(run_href(&a.run.run_id, Some(a.run.attempt))) { "attempt " (a.run.attempt) }
                            }
                            " " (status(a.outcome.status)) " · started " (when(a.started_at))
                        }
                    }
                }
            }
            @if served {
                p.note { "As JSON: " a href=(api) { (api) } }
            }
    }
}

/// The root cause: the failed step (`step`, kept whole as the steps streamed) and its error in
/// full, or the pipeline's own error.
fn cause(p: &ExecutionRecord, step: Option<&ExecutionRecord>) -> Markup {
    let error: &ErrorDetails = step.map_or(&p.outcome.error, |s| &s.outcome.error);
    let message = error.message.as_deref();
    // The full form only when it says more than the message.
    let full = error.full.as_deref().filter(|f| Some(*f) != message);
    html! {
        section.cause id="root-cause" {
            h2 { "Root cause" }
            dl {
                dt { "Step" }
                dd {
                    @if let Some(s) = step {
                        (s.name) " " span.note.mono { "(step_run_id " (s.step_run_id.as_deref().unwrap_or("")) ")" }
                    } @else if let Some(c) = &p.root_cause {
                        (c.step)
                    } @else {
                        span.note { "an error in the pipeline or a process" }
                    }
                }
                @if let Some(t) = &error.type_name { dt { "Error type" } dd.mono { (t) } }
                @if let Some(m) = message { dt { "Message" } dd { pre.message { (m) } } }
                @if let Some(f) = full { dt { "Full error" } dd { pre.full { (f) } } }
            }
        }
    }
}
