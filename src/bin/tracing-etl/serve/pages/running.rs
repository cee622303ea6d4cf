//! `/running`: pipelines, processes and steps still running, each live or abandoned, as
//! `tracing-etl running` shows them. The page reloads itself while anything runs.

use chrono::Utc;
use maud::{html, Markup};
use tracing_etl::record::EntityKind;

use super::list::run_cell;
use super::{layout, pipeline_href, table, when, Render};
use crate::liveness::Liveness;
use crate::output::elapsed;
use crate::serve::load::Running;
use crate::serve::AppState;

impl Render for Running {
    fn render(&self, _: &AppState) -> Markup {
        let now = Utc::now();
        let head = [
            "Kind",
            "Name",
            "Run",
            "Attempt",
            "Started (UTC)",
            "Age",
            "State",
            "Reason",
        ];
        layout(
            "Running",
            !self.is_empty(),
            html! {
                h1 { "Running" }
                @if self.is_empty() {
                    p.note { "Nothing is running." }
                } @else {
                    (table("running", &head, html! {
                        @for e in self {
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
                    }))
                }
            },
        )
    }
}
