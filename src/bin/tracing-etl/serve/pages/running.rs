//! `/running`: pipelines, processes and steps still running, each live or abandoned, as
//! `tracing-etl running` shows them. The page reloads itself while anything runs.

use axum::extract::State;
use axum::response::Response;
use chrono::Utc;
use maud::html;

use super::list::run_cell;
use super::{layout, pipeline_href, respond, when};
use crate::liveness::Liveness;
use crate::output::elapsed;
use crate::serve::read;
use crate::serve::AppState;
use tracing_etl::record::EntityKind;

pub(crate) async fn page(State(state): State<AppState>) -> Response {
    let result = async {
        let entities = state.history.read(|store| read::running(store)).await?;
        let now = Utc::now();
        Ok(layout(
            "Running",
            !entities.is_empty(),
            html! {
                h1 { "Running" }
                @if entities.is_empty() {
                    p.note { "Nothing is running." }
                } @else {
                    table.running {
                        thead { tr {
                            th { "Kind" } th { "Name" } th { "Run" } th { "Attempt" }
                            th { "Started (UTC)" } th { "Age" } th { "State" } th { "Reason" }
                        } }
                        tbody {
                            @for e in &entities {
                                @let r = &e.record;
                                tr data-run-id=(r.run.run_id) {
                                    td { (r.kind.as_str()) }
                                    td {
                                        @if r.kind == EntityKind::Pipeline {
                                            a href=(pipeline_href(&r.name)) { (r.name) }
                                        } @else { (r.name) }
                                    }
                                    (run_cell(r))
                                    td.num { (r.run.attempt) }
                                    td { (when(r.started_at)) }
                                    td.num { (elapsed(r.started_at, now)) }
                                    td class=(if e.liveness == Liveness::Abandoned { "abandoned" } else { "status-running" }) {
                                        (e.liveness.as_str())
                                    }
                                    td { (e.reason) }
                                }
                            }
                        }
                    }
                }
            },
        ))
    }
    .await;
    respond(result)
}
