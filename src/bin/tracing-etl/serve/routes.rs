//! The paths: pages, the JSON API and the static files, behind the token check and with the
//! security headers on every response (errors included).

use axum::middleware;
use axum::routing::get;
use axum::Router;

use super::assets::{self, LIVE_PATH, STYLE_PATH};
use super::error::WebError;
use super::{api, auth, headers, pages, AppState};

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::runs::page))
        .route("/runs/{run_id}", get(pages::run::page))
        .route("/failures", get(pages::failures::page))
        .route("/running", get(pages::running::page))
        .route("/pipelines/{name}", get(pages::pipeline::page))
        .route("/api/v1/runs", get(api::runs))
        .route("/api/v1/runs/{run_id}", get(api::run))
        .route("/api/v1/failures", get(api::failures))
        .route("/api/v1/pipelines/{name}", get(api::pipeline))
        .route("/api/v1/running", get(api::running))
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
