//! `/failures`: failed runs, newest first, grouped by pipeline and error type, each with the
//! outcome of its run's latest attempt (a run that recovered on retry says so).

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::response::Response;
use maud::{html, Markup};
use tracing_etl::RunStatus;

use super::list::{filters, list_page, pages, run_cell};
use super::{layout, pipeline_href, pipeline_page_href, run_href, status, trace_link, when};
use crate::output::error_summary;
use crate::serve::query::{ListParams, ListQuery};
use crate::serve::read::{self, Failure, Page};
use crate::serve::AppState;

pub(crate) async fn page(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Response {
    list_page(state, params, read::failures, render).await
}

fn render(state: &AppState, query: &ListQuery, page: &Page<Failure>) -> Markup {
    let mut groups: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for f in &page.items {
        let error_type = f.record.outcome.error.type_name.as_deref().unwrap_or("-");
        *groups
            .entry((f.record.name.as_str(), error_type))
            .or_default() += 1;
    }
    let live = page.items.iter().any(|f| {
        f.latest
            .as_ref()
            .is_some_and(|l| l.outcome.status == RunStatus::Running)
    });
    layout(
        "Failures",
        live,
        html! {
            h1 { "Failures" }
            (filters(query, "/failures", false))
            @if page.items.is_empty() {
                p.note { "No failed runs." }
            } @else {
                h2 { "By pipeline and error type" span.note { " (this page)" } }
                table.groups {
                    thead { tr { th { "Pipeline" } th { "Error type" } th { "Failed runs" } } }
                    tbody {
                        @for ((pipeline, error_type), count) in &groups {
                            tr {
                                td { a href=(pipeline_page_href(pipeline)) { (pipeline) } }
                                td.mono { (error_type) }
                                td.num { (count) }
                            }
                        }
                    }
                }
                h2 { "Failed runs" }
                table.failures {
                    thead { tr {
                        th { "Run" } th { "Pipeline" } th { "Attempt" } th { "Started (UTC)" }
                        th { "Failed step" } th { "Error" } th { "Latest attempt" }
                        @if state.trace_url.is_some() { th { "Trace" } }
                    } }
                    tbody {
                        @for f in &page.items {
                            @let r = &f.record;
                            tr data-run-id=(r.run.run_id) {
                                (run_cell(r))
                                td { a href=(pipeline_href(&r.name)) { (r.name) } }
                                td.num { (r.run.attempt) }
                                td { (when(r.started_at)) }
                                td { (r.failed_step().unwrap_or("-")) }
                                td { (error_summary(&r.outcome.error)) }
                                td { (latest(f)) }
                                @if let Some(t) = &state.trace_url {
                                    td { @if let Some(url) = t.link(r.trace_id.as_deref(), r.span_id.as_deref()) { (trace_link(&url)) } }
                                }
                            }
                        }
                    }
                }
            }
            (pages(query, page.has_next, page.items.last().map(|f| &f.record)))
        },
    )
}

/// What became of the run: the latest attempt, when it is a later one.
fn latest(f: &Failure) -> Markup {
    match &f.latest {
        None => html! { span.note { "no retry recorded" } },
        Some(l) => html! {
            a href=(run_href(&l.run.run_id, Some(l.run.attempt))) { "attempt " (l.run.attempt) }
            " " (status(l.outcome.status))
            @if l.outcome.status == RunStatus::Success { " " strong.recovered { "recovered on retry" } }
        },
    }
}
