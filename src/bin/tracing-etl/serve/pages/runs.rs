//! `/`: pipeline runs, newest first, filtered by pipeline, status and start time, a page at a
//! time.

use axum::extract::{Query, State};
use axum::response::Response;
use chrono::Utc;
use maud::{html, Markup};
use tracing_etl::{ExecutionRecord, RunStatus};

use super::layout;
use super::list::{filters, list_page, pages, runs_table};
use crate::serve::query::{ListParams, ListQuery};
use crate::serve::read::{self, Page};
use crate::serve::AppState;

pub(crate) async fn page(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Response {
    list_page(state, params, read::runs, |_, query, page| {
        render(query, page)
    })
    .await
}

fn render(query: &ListQuery, page: &Page<ExecutionRecord>) -> Markup {
    let now = Utc::now();
    let live = page
        .items
        .iter()
        .any(|r| r.outcome.status == RunStatus::Running);
    layout(
        "Runs",
        live,
        html! {
            h1 { "Runs" }
            (filters(query, "/", true))
            @if page.items.is_empty() {
                p.note { "No pipeline runs match." }
            } @else {
                (runs_table(&page.items, now, true))
            }
            (pages(query, page.has_next, page.items.last()))
        },
    )
}
