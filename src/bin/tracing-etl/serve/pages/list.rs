//! What the list pages (`/`, `/failures`, the runs of `/pipelines/{name}`) share: the page's
//! frame (the filter form, the pagination links), and the table of pipeline runs.

use chrono::{DateTime, Utc};
use maud::{html, Markup};
use tracing_etl::{ExecutionRecord, RunStatus};

use super::{layout, pipeline_href, run_href, status, table, took, when};
use crate::serve::load::{List, Listed};
use crate::serve::query::{ListQuery, DEFAULT_PER_PAGE};

/// What tells one list page from another.
pub(crate) struct ListPage {
    title: &'static str,
    /// The path the filter form is sent to.
    path: &'static str,
    /// Whether the status may be chosen.
    with_status: bool,
    /// What an empty page says.
    none: &'static str,
}

impl ListPage {
    /// `/`: pipeline runs.
    pub(crate) const RUNS: ListPage = ListPage {
        title: "Runs",
        path: "/",
        with_status: true,
        none: "No pipeline runs match.",
    };

    /// `/failures`: failed runs.
    pub(crate) const FAILURES: ListPage = ListPage {
        title: "Failures",
        path: "/failures",
        with_status: false,
        none: "No failed runs.",
    };

    /// The page of `list`: the title, the filter form, `rows` (or, on an empty page, the note
    /// that says so), and the links to the pages around it.
    pub(crate) fn layout<T: Listed>(&self, list: &List<T>, live: bool, rows: Markup) -> Markup {
        let List { query, page } = list;
        layout(
            self.title,
            live,
            html! {
                h1 { (self.title) }
                (filters(query, self.path, self.with_status))
                @if page.items.is_empty() {
                    p.note { (self.none) }
                } @else {
                    (rows)
                }
                (pages(query, page.has_next, page.items.last().map(Listed::record)))
            },
        )
    }
}

/// The cell that names a run and links to its attempt's page.
pub(crate) fn run_cell(r: &ExecutionRecord) -> Markup {
    html! {
        td.mono { a href=(run_href(&r.run.run_id, Some(r.run.attempt))) { (r.run.run_id) } }
    }
}

/// Pipeline runs as a table, one row per attempt (`data-run-id` on each); `with_pipeline` adds
/// the pipeline's column (linked to its runs).
pub(crate) fn runs_table(
    runs: &[ExecutionRecord],
    now: DateTime<Utc>,
    with_pipeline: bool,
) -> Markup {
    let mut head = vec!["Run"];
    if with_pipeline {
        head.push("Pipeline");
    }
    head.extend([
        "Attempt",
        "Status",
        "Started (UTC)",
        "Duration",
        "Failed step",
    ]);
    table(
        "runs",
        &head,
        html! {
            @for r in runs {
                tr data-run-id=(r.run.run_id) {
                    (run_cell(r))
                    @if with_pipeline { td { a href=(pipeline_href(&r.name)) { (r.name) } } }
                    td.num { (r.run.attempt) }
                    td { (status(r.outcome.status)) }
                    td { (when(r.started_at)) }
                    td.num { (took(r, now)) }
                    td { (r.failed_step().unwrap_or("")) }
                }
            }
        },
    )
}

/// The filter form; `with_status` for lists where the status may be chosen.
fn filters(query: &ListQuery, action: &str, with_status: bool) -> Markup {
    let since = query.since.as_ref().map(|(text, _)| text.as_str());
    html! {
        form.filters method="get" action=(action) {
            label { "Pipeline" input type="text" name="pipeline" value=[query.pipeline.as_deref()]; }
            @if with_status {
                label { "Status"
                    select name="status" {
                        option value="" selected[query.status.is_none()] { "any" }
                        @for s in RunStatus::ALL {
                            option value=(s.as_str()) selected[query.status == Some(s)] { (s.as_str()) }
                        }
                    }
                }
            }
            label { "Since (24h, 7d, 2026-11-01)" input type="text" name="since" value=[since]; }
            @if query.per_page != DEFAULT_PER_PAGE {
                input type="hidden" name="per_page" value=(query.per_page);
            }
            button type="submit" { "Filter" }
        }
    }
}

/// Links to the previous and next pages: the next one starts after `last`, the page's last
/// run; a page reached that way links back to the newest.
fn pages(query: &ListQuery, has_next: bool, last: Option<&ExecutionRecord>) -> Markup {
    html! {
        nav.pages {
            @if query.before.is_some() {
                a rel="first" href=(query.at_page(1)) { "← Newest" }
            } @else if query.page > 1 {
                a rel="prev" href=(query.at_page(query.page - 1)) { "← Newer" }
            }
            span.note { "page " (query.page) }
            @if let Some(last) = last.filter(|_| has_next) {
                a rel="next" href=(query.older_than(last)) { "Older →" }
            }
        }
    }
}
