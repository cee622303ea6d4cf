//! `/failures`: failed runs, newest first, grouped by pipeline and error type, each with the
//! outcome of its run's latest attempt (a run that recovered on retry says so).

use std::collections::BTreeMap;

use maud::{html, Markup};
use tracing_etl::RunStatus;

use super::list::{run_cell, ListPage};
use super::{pipeline_href, pipeline_page_href, run_href, status, table, trace_link, when, Render};
use crate::output::error_summary;
use crate::serve::load::List;
use crate::serve::read::Failure;
use crate::serve::AppState;

impl Render for List<Failure> {
    fn render(&self, state: &AppState) -> Markup {
        let failures = &self.page.items;
        let mut groups: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for f in failures {
            let error_type = f.record.outcome.error.type_name.as_deref().unwrap_or("-");
            *groups
                .entry((f.record.name.as_str(), error_type))
                .or_default() += 1;
        }
        let live = failures.iter().any(|f| {
            f.latest
                .as_ref()
                .is_some_and(|l| l.outcome.status == RunStatus::Running)
        });
        let mut head = vec![
            "Run",
            "Pipeline",
            "Attempt",
            "Started (UTC)",
            "Failed step",
            "Error",
            "Latest attempt",
        ];
        if state.trace_url.is_some() {
            head.push("Trace");
        }
        let rows = html! {
            h2 { "By pipeline and error type" span.note { " (this page)" } }
            (table("groups", &["Pipeline", "Error type", "Failed runs"], html! {
                @for ((pipeline, error_type), count) in &groups {
                    tr {
                        td { a href=(pipeline_page_href(pipeline)) { (pipeline) } }
                        td.mono { (error_type) }
                        td.num { (count) }
                    }
                }
            }))
            h2 { "Failed runs" }
            (table("failures", &head, html! {
                @for f in failures {
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
            }))
        };
        ListPage::FAILURES.layout(self, live, rows)
    }
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
