//! What the list pages (`/`, `/failures`, the runs of `/pipelines/{name}`) share: the handler's
//! shape (check the query, read a page on the store's thread, render), the filter form, the
//! pagination links, and the table of pipeline runs.

use axum::response::Response;
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use tracing_etl::store::RecordReader;
use tracing_etl::{ExecutionRecord, RunStatus};

use super::{pipeline_href, respond, run_href, status, took, when};
use crate::serve::error::WebError;
use crate::serve::query::{ListParams, ListQuery, DEFAULT_PER_PAGE};
use crate::serve::read::Page;
use crate::serve::AppState;

/// A list page: `params` checked, the page `read` off the store (on its blocking thread), then
/// `render`ed; a bad query or a failed read is the error page.
pub(crate) async fn list_page<T, R>(
    state: AppState,
    params: ListParams,
    read: fn(&mut dyn RecordReader, &ListQuery) -> Result<Page<T>, WebError>,
    render: R,
) -> Response
where
    T: Send + 'static,
    R: FnOnce(&AppState, &ListQuery, &Page<T>) -> Markup,
{
    let result = async {
        let query = params.check()?;
        let q = query.clone();
        let page = state.history.read(move |store| read(store, &q)).await?;
        Ok(render(&state, &query, &page))
    }
    .await;
    respond(result)
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
    html! {
        table.runs {
            thead { tr {
                th { "Run" }
                @if with_pipeline { th { "Pipeline" } }
                th { "Attempt" } th { "Status" } th { "Started (UTC)" } th { "Duration" } th { "Failed step" }
            } }
            tbody {
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
            }
        }
    }
}

/// The filter form; `with_status` for lists where the status may be chosen.
pub(crate) fn filters(query: &ListQuery, action: &str, with_status: bool) -> Markup {
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
pub(crate) fn pages(query: &ListQuery, has_next: bool, last: Option<&ExecutionRecord>) -> Markup {
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
