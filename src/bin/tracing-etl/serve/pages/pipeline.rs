//! `/pipelines/{name}`: one pipeline's last runs — a duration chart, the success rate, each
//! step's median and p95 duration, and the steps that got slower.

use chrono::Utc;
use maud::{html, Markup};
use tracing_etl::{ExecutionRecord, RunStatus};

use super::list::runs_table;
use super::{layout, pipeline_href, run_href, table, took, Render};
use crate::output::{duration_ms, human_ms};
use crate::serve::read::PipelineView;
use crate::serve::trends::{step_trends, success_rate};
use crate::serve::AppState;

impl Render for PipelineView {
    fn render(&self, _: &AppState) -> Markup {
        let (name, runs) = (&self.name, &self.runs);
        let now = Utc::now();
        let trends = step_trends(&self.steps_by_run);
        let slower: Vec<_> = trends
            .iter()
            .filter_map(|t| t.slowdown().map(|ratio| (t, ratio)))
            .collect();
        let live = runs.iter().any(|r| r.outcome.status == RunStatus::Running);
        let head = [
            "Step",
            "Runs",
            "Failed",
            "Median",
            "p95",
            "Older half median",
            "Newer half median",
        ];
        layout(
            &format!("Pipeline {name}"),
            live,
            html! {
                h1 { "Pipeline " (name) }
                p {
                    @if runs.len() == 1 { "The last run. " } @else { "The last " (runs.len()) " runs. " }
                    @match success_rate(runs) {
                        Some(rate) => { "Success rate: " strong.success-rate { (format!("{:.0}%", rate * 100.0)) } " of the finished runs. " }
                        None => { "None has finished yet. " }
                    }
                    a href=(pipeline_href(name)) { "All its runs" }
                }
                h2 { "Duration" }
                (chart(runs, now))
                h2 { "Steps" }
                @if trends.is_empty() {
                    p.note { "No steps recorded." }
                } @else {
                    (table("steps", &head, html! {
                        @for t in &trends {
                            tr data-step=(t.name) {
                                td { (t.name) }
                                td.num { (t.count) }
                                td.num { (t.failed) }
                                td.num { (human_ms(t.median_ms)) }
                                td.num { (human_ms(t.p95_ms)) }
                                td.num { (duration_ms(t.older_median_ms)) }
                                td.num { (duration_ms(t.newer_median_ms)) }
                            }
                        }
                    }))
                }
                h2 { "Slower steps" }
                @if slower.is_empty() {
                    p.note { "No step got slower (median of the newer half of the runs at least 20% and 10 ms above the older half's)." }
                } @else {
                    ul.slower {
                        @for (t, ratio) in &slower {
                            li {
                                strong { (t.name) } ": median "
                                (duration_ms(t.older_median_ms)) " → " (duration_ms(t.newer_median_ms))
                                " (" (format!("×{ratio:.1}")) ")"
                            }
                        }
                    }
                }
                h2 { "Runs" }
                (runs_table(runs, now, false))
            },
        )
    }
}

/// The runs' durations as bars, oldest on the left, coloured by status; each bar links to its
/// run.
fn chart(runs: &[ExecutionRecord], now: chrono::DateTime<Utc>) -> Markup {
    const WIDTH: f64 = 1000.0;
    const HEIGHT: f64 = 160.0;
    const TOP: f64 = 18.0;
    let ms = |r: &ExecutionRecord| match r.outcome.status {
        RunStatus::Running => {
            u64::try_from(now.signed_duration_since(r.started_at).num_milliseconds()).unwrap_or(0)
        }
        _ => r.outcome.duration_ms.unwrap_or(0),
    };
    let longest = runs.iter().map(ms).max().unwrap_or(0).max(1);
    let slot = WIDTH / runs.len().max(1) as f64;
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" role="img"
            viewBox=(format!("0 0 {WIDTH} {}", HEIGHT + TOP)) width=(WIDTH) height=(HEIGHT + TOP) {
            text.axis x="2" y="12" { "longest: " (human_ms(longest)) }
            @for (i, r) in runs.iter().rev().enumerate() {
                @let h = (HEIGHT * ms(r) as f64 / longest as f64).max(2.0);
                a href=(run_href(&r.run.run_id, Some(r.run.attempt))) {
                    rect class=(format!("bar-{}", r.outcome.status.as_str()))
                        x=(i as f64 * slot + slot * 0.1) y=(TOP + HEIGHT - h)
                        width=((slot * 0.8).max(1.0)) height=(h)
                        data-run-id=(r.run.run_id) data-status=(r.outcome.status.as_str()) {
                        title { (r.run.run_id) " (attempt " (r.run.attempt) "): " (r.outcome.status.as_str()) ", " (took(r, now)) }
                    }
                }
            }
        }
    }
}
