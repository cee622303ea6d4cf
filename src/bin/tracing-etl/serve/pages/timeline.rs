//! A run as an SVG timeline: one bar per process and step on the run's time axis, each step
//! under its process, coloured by status; a running bar reaches to now (and grows as the page
//! reloads). Bars carry `data-process-run-id` / `data-step-run-id`.

use chrono::{DateTime, Utc};
use maud::{html, Markup};
use tracing_etl::record::EntityKind;
use tracing_etl::{ExecutionRecord, RunStatus};

use crate::commands::show::{Child, Run};
use crate::output::{duration_ms, human_ms};

/// The most bars drawn; past it the page says how many were left out.
pub(crate) const MAX_BARS: usize = 2_000;

const WIDTH: f64 = 1000.0;
const LABEL_WIDTH: f64 = 240.0;
const RIGHT_MARGIN: f64 = 10.0;
const ROW: f64 = 22.0;
const BAR: f64 = 14.0;
const AXIS: f64 = 24.0;
const TICKS: u32 = 4;

/// One row of the timeline.
struct Row<'a> {
    record: &'a ExecutionRecord,
    depth: u8,
}

/// When a record ended, for drawing: its start plus its duration, or now while it runs.
fn end(record: &ExecutionRecord, now: DateTime<Utc>) -> DateTime<Utc> {
    match (record.outcome.status, record.outcome.duration_ms) {
        (RunStatus::Running, _) => now.max(record.started_at),
        (_, Some(ms)) => {
            record.started_at
                + chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX / 2))
        }
        (_, None) => record.started_at,
    }
}

/// The timeline of `run`, and how many bars were left out.
pub(crate) fn timeline(
    pipeline: &ExecutionRecord,
    run: &Run,
    now: DateTime<Utc>,
) -> (Markup, usize) {
    let mut rows = vec![Row {
        record: pipeline,
        depth: 0,
    }];
    let mut total = 0usize;
    for child in &run.children {
        match child {
            Child::Process(process, steps) => {
                total += 1 + steps.len();
                rows.push(Row {
                    record: process,
                    depth: 1,
                });
                rows.extend(steps.iter().map(|s| Row {
                    record: s,
                    depth: 2,
                }));
            }
            Child::Step(step) => {
                total += 1;
                rows.push(Row {
                    record: step,
                    depth: 1,
                });
            }
        }
    }
    let left_out = total.saturating_sub(MAX_BARS);
    rows.truncate(MAX_BARS + 1);

    let start = pipeline.started_at;
    let finish = rows
        .iter()
        .map(|r| end(r.record, now))
        .max()
        .unwrap_or(start);
    let span_ms = finish
        .signed_duration_since(start)
        .num_milliseconds()
        .max(1) as f64;
    let scale = (WIDTH - LABEL_WIDTH - RIGHT_MARGIN) / span_ms;
    let x_of = |t: DateTime<Utc>| {
        let ms = t.signed_duration_since(start).num_milliseconds().max(0) as f64;
        LABEL_WIDTH + ms * scale
    };
    let root_cause = pipeline.failed_step_run_id();
    let height = AXIS + ROW * rows.len() as f64 + 4.0;

    let svg = html! {
        svg.timeline xmlns="http://www.w3.org/2000/svg" role="img"
            viewBox=(format!("0 0 {WIDTH} {height}")) width=(WIDTH) height=(height) {
            @for i in 0..=TICKS {
                @let x = LABEL_WIDTH + (WIDTH - LABEL_WIDTH - RIGHT_MARGIN) * f64::from(i) / f64::from(TICKS);
                @let at = (span_ms * f64::from(i) / f64::from(TICKS)) as u64;
                // Closed: in SVG, a `<line>` without its end tag would hold what follows.
                line.tick x1=(x) x2=(x) y1=(AXIS - 6.0) y2=(height) {}
                text.axis x=(x) y="14" text-anchor=(if i == TICKS { "end" } else if i == 0 { "start" } else { "middle" }) {
                    "+" (human_ms(at))
                }
            }
            @for (i, row) in rows.iter().enumerate() {
                @let r = row.record;
                @let y = AXIS + ROW * i as f64;
                @let x = x_of(r.started_at);
                @let w = (x_of(end(r, now)) - x).max(2.0);
                @let is_root = root_cause.is_some() && root_cause == r.step_run_id.as_deref();
                @let (process_id, step_id, run_id) = match r.kind {
                    EntityKind::Process => (r.process_run_id.as_deref().or(Some("")), None, None),
                    EntityKind::Step => (None, r.step_run_id.as_deref().or(Some("")), None),
                    EntityKind::Pipeline => (None, None, Some(r.run.run_id.as_str())),
                };
                text x=(8.0 + 14.0 * f64::from(row.depth)) y=(y + BAR - 2.0) {
                    (label(&r.name))
                }
                rect class=(bar_class(r, is_root)) x=(x) y=(y) width=(w) height=(BAR)
                    data-run-id=[run_id] data-process-run-id=[process_id]
                    data-step-run-id=[step_id] data-status=(r.outcome.status.as_str())
                    data-duration-ms=(end(r, now).signed_duration_since(r.started_at).num_milliseconds()) {
                    title { (tooltip(r)) }
                }
            }
        }
    };
    (svg, left_out)
}

/// `bar-STATUS KIND`, and `root-cause` on the step that failed the run.
fn bar_class(r: &ExecutionRecord, is_root: bool) -> String {
    let mut class = format!("bar-{} {}", r.outcome.status.as_str(), r.kind.as_str());
    if is_root {
        class.push_str(" root-cause");
    }
    class
}

/// A name cut to fit the label column.
fn label(name: &str) -> String {
    const MAX: usize = 32;
    if name.chars().count() > MAX {
        let cut: String = name.chars().take(MAX - 1).collect();
        format!("{cut}…")
    } else {
        name.to_owned()
    }
}

fn tooltip(r: &ExecutionRecord) -> String {
    format!(
        "{} {}: {}, {}",
        r.kind.as_str(),
        r.name,
        r.outcome.status.as_str(),
        duration_ms(r.outcome.duration_ms)
    )
}
