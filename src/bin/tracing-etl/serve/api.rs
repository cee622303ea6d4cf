//! `/api/v1/…`: the pages' data as JSON, in the shapes the subcommands' `--json` prints (the
//! same code builds them).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tracing_etl::store::RecordReader;
use tracing_etl::ExecutionRecord;

use super::error::WebError;
use super::load::{List, Load, Running};
use super::query::ListParams;
use super::read::{PipelineView, RunView};
use super::trends::{step_trends, success_rate};
use super::AppState;
use crate::args::FailuresArgs;
use crate::args::{ColorChoice, OutputArgs};
use crate::commands::running::entities_json;
use crate::commands::{failures, runs, show, volume};
use crate::error::CliError;
use crate::output::Ui;

/// The `Ui` that `--json` output is built with, with the server's trace link template.
fn json_ui(state: &AppState) -> Ui {
    Ui::new(&OutputArgs {
        json: true,
        color: ColorChoice::Never,
        trace_url: state.trace_url.clone(),
    })
}

/// A page's data as the JSON of its `/api/v1/…` route.
pub(crate) trait Answer: Load {
    /// The JSON, built with `ui`; `store` reads what the page does not show.
    fn answer(self, store: &mut dyn RecordReader, ui: &mut Ui) -> Result<Value, WebError>;
}

/// `GET /api/v1/…`: the data read as for the page, as JSON; a bad request or a failed read is
/// `{"error": "…"}` with its status.
pub(crate) async fn json<T: Answer>(
    State(state): State<AppState>,
    request: T::Request,
) -> Response {
    let mut ui = json_ui(&state);
    let answer = state
        .history
        .read(move |store| T::read(store, request)?.answer(store, &mut ui))
        .await;
    match answer {
        Ok(value) => Json(value).into_response(),
        Err(e) => error(e),
    }
}

/// `{"error": "…"}` with the error's status.
pub(crate) fn error(e: WebError) -> Response {
    (e.status, Json(json!({ "error": e.message }))).into_response()
}

/// `GET /api/v1/runs`: as `tracing-etl runs --json`, a page at a time.
impl Answer for List<ExecutionRecord> {
    fn answer(self, store: &mut dyn RecordReader, ui: &mut Ui) -> Result<Value, WebError> {
        let runs = &self.page.items;
        let baselines = match &self.query.pipeline {
            Some(_) => runs::baselines(store, runs, volume::DEFAULT_WINDOW)?,
            None => Vec::new(),
        };
        Ok(runs::runs_json(ui, runs, &baselines))
    }
}

/// `GET /api/v1/runs/{run_id}`: as `tracing-etl show RUN_ID --json`.
impl Answer for RunView {
    fn answer(self, store: &mut dyn RecordReader, ui: &mut Ui) -> Result<Value, WebError> {
        let p = &self.pipeline;
        show::write_json(store, &p.run.run_id, Some(p), ui)?;
        // The very text `show --json` prints, as a value.
        serde_json::from_str(&ui.take_output())
            .map_err(|e| WebError::from(CliError::new(format!("show's JSON did not parse: {e}"))))
    }
}

/// `GET /api/v1/failures`: as `tracing-etl failures --json` (runs whose latest attempt failed,
/// and failures outside any pipeline), `per_page` at a time. Not the failed attempts that
/// `/failures` lists: what the subcommand finds.
pub(crate) struct Failures(Vec<failures::Failure>);

impl Load for Failures {
    type Request = Query<ListParams>;

    fn read(store: &mut dyn RecordReader, request: Self::Request) -> Result<Self, WebError> {
        let query = request.check()?;
        let args = FailuresArgs {
            since: query.since.as_ref().map(|(_, t)| *t),
            pipeline: query.pipeline.clone(),
            limit: u32::try_from(query.offset() + query.per_page).unwrap_or(u32::MAX),
            all_attempts: false,
            volume_drop: None,
            volume_window: volume::DEFAULT_WINDOW,
        };
        let runs = failures::failures(store, &args)?;
        Ok(Failures(runs.into_iter().skip(query.offset()).collect()))
    }
}

impl Answer for Failures {
    fn answer(self, _: &mut dyn RecordReader, ui: &mut Ui) -> Result<Value, WebError> {
        Ok(failures::failures_json(ui, &self.0))
    }
}

/// `GET /api/v1/pipelines/{name}`: what the pipeline's page shows, over the same runs
/// (`?runs=N`): `{"pipeline", "runs" (as `runs --json`, newest first), "success_rate" (of the
/// finished runs, `null` when none finished), "steps" (per step name: `name`, `count`,
/// `failed`, `median_ms`, `p95_ms`, `older_median_ms`, `newer_median_ms`, and `slowdown`, the
/// newer median over the older when the step got slower, else `null`)}`. No subcommand prints
/// this, so the shape is the page's own (see docs/web.md).
impl Answer for PipelineView {
    fn answer(self, store: &mut dyn RecordReader, ui: &mut Ui) -> Result<Value, WebError> {
        let baselines = runs::baselines(store, &self.runs, volume::DEFAULT_WINDOW)?;
        let steps: Vec<Value> = step_trends(&self.steps_by_run)
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "count": t.count,
                    "failed": t.failed,
                    "median_ms": t.median_ms,
                    "p95_ms": t.p95_ms,
                    "older_median_ms": t.older_median_ms,
                    "newer_median_ms": t.newer_median_ms,
                    "slowdown": t.slowdown(),
                })
            })
            .collect();
        Ok(json!({
            "pipeline": self.name,
            "runs": runs::runs_json(ui, &self.runs, &baselines),
            "success_rate": success_rate(&self.runs),
            "steps": steps,
        }))
    }
}

/// `GET /api/v1/running`: as `tracing-etl running --json`.
impl Answer for Running {
    fn answer(self, _: &mut dyn RecordReader, ui: &mut Ui) -> Result<Value, WebError> {
        Ok(entities_json(ui, &self))
    }
}

/// Any other path under `/api/`.
pub(crate) async fn not_found() -> Response {
    error(WebError {
        status: StatusCode::NOT_FOUND,
        message: "no such API route: see /api/v1/runs, /api/v1/runs/{run_id}, \
                  /api/v1/failures, /api/v1/pipelines/{name}, /api/v1/running"
            .into(),
    })
}
