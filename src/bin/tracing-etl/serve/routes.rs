//! The paths: pages, the JSON API and the static files, behind the token check and with the
//! security headers on every response (errors included). A page and its JSON route read the
//! same data (its [`Load`](super::load::Load)).

use axum::middleware;
use axum::routing::get;
use axum::Router;
use tracing_etl::ExecutionRecord;

use super::api::{self, json, Failures};
use super::assets::{self, LIVE_PATH, STYLE_PATH};
use super::error::WebError;
use super::load::{List, Running};
use super::pages::{self, page};
use super::read::{Failure, PipelineView, RunView};
use super::{auth, headers, AppState};

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(page::<List<ExecutionRecord>>))
        .route("/runs/{run_id}", get(page::<RunView>))
        .route("/failures", get(page::<List<Failure>>))
        .route("/running", get(page::<Running>))
        .route("/pipelines/{name}", get(page::<PipelineView>))
        .route("/api/v1/runs", get(json::<List<ExecutionRecord>>))
        .route("/api/v1/runs/{run_id}", get(json::<RunView>))
        .route("/api/v1/failures", get(json::<Failures>))
        .route("/api/v1/pipelines/{name}", get(json::<PipelineView>))
        .route("/api/v1/running", get(json::<Running>))
        .route("/api/{*rest}", get(api::not_found))
        .route(STYLE_PATH, get(assets::style))
        .route(LIVE_PATH, get(assets::live))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(middleware::from_fn(headers::security_headers))
        .with_state(state)
}

async fn not_found() -> axum::response::Response {
    pages::error_page(WebError::not_found("no such page"))
}
