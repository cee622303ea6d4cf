//! `/api/v1/…`: the pages' data as JSON, in the shapes the subcommands' `--json` prints (the
//! same code builds them).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::error::WebError;
use super::query::{ListParams, PipelineParams, RunParams};
use super::trends::{step_trends, success_rate};
use super::{read, AppState};
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

fn answer(result: Result<serde_json::Value, WebError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(e) => error(e),
    }
}

/// `{"error": "…"}` with the error's status.
pub(crate) fn error(e: WebError) -> Response {
    (e.status, Json(json!({ "error": e.message }))).into_response()
}

/// `GET /api/v1/runs`: as `tracing-etl runs --json`, a page at a time.
pub(crate) async fn runs(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Response {
    let result = async {
        let query = params.check()?;
        let (page, baselines) = state
            .history
            .read(move |store| {
                let page = read::runs(store, &query)?;
                let baselines = match &query.pipeline {
                    Some(_) => runs::baselines(store, &page.items, volume::DEFAULT_WINDOW)?,
                    None => Vec::new(),
                };
                Ok((page, baselines))
            })
            .await?;
        Ok(runs::runs_json(&json_ui(&state), &page.items, &baselines))
    }
    .await;
    answer(result)
}

/// `GET /api/v1/runs/{run_id}`: as `tracing-etl show RUN_ID --json`.
pub(crate) async fn run(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
    Query(params): Query<RunParams>,
) -> Response {
    let result = async {
        let attempt = params.attempt()?;
        let mut ui = json_ui(&state);
        let text = state
            .history
            .read(move |store| {
                let view = read::run(store, &run_id, attempt)?;
                show::write_json(store, &run_id, Some(&view.pipeline), &mut ui)?;
                Ok(ui.take_output())
            })
            .await?;
        // The very text `show --json` prints, as a value.
        serde_json::from_str(&text)
            .map_err(|e| WebError::from(CliError::new(format!("show's JSON did not parse: {e}"))))
    }
    .await;
    answer(result)
}

/// `GET /api/v1/failures`: as `tracing-etl failures --json` (runs whose latest attempt failed,
/// and failures outside any pipeline), `per_page` at a time.
pub(crate) async fn failures(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Response {
    let result = async {
        let query = params.check()?;
        let args = FailuresArgs {
            since: query.since.as_ref().map(|(_, t)| *t),
            pipeline: query.pipeline.clone(),
            limit: u32::try_from(query.offset() + query.per_page).unwrap_or(u32::MAX),
            all_attempts: false,
            volume_drop: None,
            volume_window: crate::commands::volume::DEFAULT_WINDOW,
        };
        let runs = state
            .history
            .read(move |store| Ok(failures::failures(store, &args)?))
            .await?;
        let page: Vec<_> = runs.into_iter().skip(query.offset()).collect();
        Ok(failures::failures_json(&json_ui(&state), &page))
    }
    .await;
    answer(result)
}

/// `GET /api/v1/pipelines/{name}`: what the pipeline's page shows, over the same runs
/// (`?runs=N`): `{"pipeline", "runs" (as `runs --json`, newest first), "success_rate" (of the
/// finished runs, `null` when none finished), "steps" (per step name: `name`, `count`,
/// `failed`, `median_ms`, `p95_ms`, `older_median_ms`, `newer_median_ms`, and `slowdown`, the
/// newer median over the older when the step got slower, else `null`)}`. No subcommand prints
/// this, so the shape is the page's own (see docs/web.md).
pub(crate) async fn pipeline(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<PipelineParams>,
) -> Response {
    let result = async {
        let runs = params.runs()?;
        let pipeline = name.clone();
        let (view, baselines) = state
            .history
            .read(move |store| {
                let view = read::pipeline(store, &pipeline, runs)?;
                let baselines = runs::baselines(store, &view.runs, volume::DEFAULT_WINDOW)?;
                Ok((view, baselines))
            })
            .await?;
        let steps: Vec<serde_json::Value> = step_trends(&view.steps_by_run)
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
            "pipeline": name,
            "runs": runs::runs_json(&json_ui(&state), &view.runs, &baselines),
            "success_rate": success_rate(&view.runs),
            "steps": steps,
        }))
    }
    .await;
    answer(result)
}

/// `GET /api/v1/running`: as `tracing-etl running --json`.
pub(crate) async fn running(State(state): State<AppState>) -> Response {
    let result = async {
        let entities = state.history.read(|store| read::running(store)).await?;
        Ok(entities_json(&json_ui(&state), &entities))
    }
    .await;
    answer(result)
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
